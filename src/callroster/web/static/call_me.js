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


  // An error said at its field (an id'd message after the input, announced), or cleared.
  function fieldError(input, text) {
    let where = document.getElementById(`${input.id}-error`);
    if (!text) {
      if (where) where.remove();
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
      return;
    }
    if (!where) {
      where = document.createElement("span");
      where.id = `${input.id}-error`;
      where.className = "field-error";
      where.setAttribute("role", "alert");
      input.after(where);
    }
    where.textContent = text;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", where.id);
  }
  // What the server refused, in words for this form: never the validator's own text.
  const FIELD_WORDS = {
    number: [number, "That is not a phone number we can call. Type it as you would dial it, and check the country."],
    country: [country, "Choose the country of the number."],
    name: [nameInput, "A name is 1 to 80 letters, digits or spaces."],
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    note.textContent = "Calling…";
    fieldError(number, null);
    fieldError(nameInput, null);
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
        // The validator's refusals get this form's words; the service's own reasons (for
        // a number: "calls to premium-rate numbers are not allowed") are said as they are.
        const fields = Array.isArray(body.detail) ? body.detail.map((d) => String(d.loc.at(-1))) : [];
        const said = typeof body.detail === "string" ? body.detail : "";
        const known = fields.filter((f) => FIELD_WORDS[f]);
        for (const field of known) fieldError(...FIELD_WORDS[field]);
        if (!known.length && /number/i.test(said)) {
          fieldError(number, `${said.charAt(0).toUpperCase()}${said.slice(1)}.`);
          known.push("number");
        }
        if (known.length) {
          note.textContent = "";
          FIELD_WORDS[known[0]][0].focus();
        } else {
          note.textContent = said ? `The call could not be made: ${said}.` : "The call could not be made.";
        }
      }
    } catch (error) {
      note.textContent = `Could not reach the service (${error.message}).`;
    } finally {
      button.disabled = false;
    }
  });
})();
