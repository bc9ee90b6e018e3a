// "We call you" (guests) and "add a guest by phone" (the host): the call phones a number and
// whoever answers joins by pressing 1. The roster shows the leg ringing, then on the call.
"use strict";
(async () => {
  const main = document.querySelector("main");
  const conferenceId = main.dataset.conference;
  // roster.js works out whether the host (by token, or signed in) has this page open.
  const who = await window.callrosterWho;
  const isHost = who.isHost;
  const form = document.getElementById("call-form");
  const nameInput = document.getElementById("call-name");
  const number = document.getElementById("call-number");
  const country = document.getElementById("call-country");
  const button = document.getElementById("call-button");
  const note = document.getElementById("call-status");

  if (isHost) {
    document.getElementById("call-me").textContent = "Add a guest by phone";
    document.getElementById("call-name-label").textContent = "Their name, as everyone will see it";
    button.textContent = "Call them";
  } else {
    nameInput.required = true;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    note.textContent = "Calling…";
    try {
      const response = await fetch(`/api/v1/conferences/${conferenceId}/legs`, {
        method: "POST",
        headers: { ...who.headers(), "Content-Type": "application/json" },
        body: JSON.stringify({
          number: number.value, country: country.value, name: nameInput.value.trim() || null,
        }),
      });
      const body = await response.json();
      if (response.ok) {
        note.textContent = isHost
          ? `Calling ${body.number}. They join when they answer and press 1.`
          : `Calling you on ${body.number}. Answer, then press 1 to join.`;
      } else if (response.status === 429) {
        const minutes = Math.ceil(Number(response.headers.get("Retry-After") || 60) / 60);
        note.textContent = `Too many calls from this page. Try again in ${minutes} minutes.`;
      } else {
        const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
        note.textContent = detail || "The call could not be made.";
      }
    } catch (error) {
      note.textContent = `Could not reach the service (${error.message}).`;
    } finally {
      button.disabled = false;
    }
  });
})();
