// Live Call Status: the roster of this conference, kept live over a WebSocket.
// The host's token comes in the URL fragment (#token=cr_...), which browsers never send to
// the server; guests use the conference link. Either goes in Authorization only, never in
// a URL (see liveUrl). Names from the private address book stay in
// this browser (localStorage) and are never sent anywhere.
"use strict";

// What a lasting problem with a leg's audio means to the people on the call
// (bridge/media_health.py says when each is shown).
const MEDIA_PROBLEMS = {
  cannot_send: "audio cannot reach this caller",
  media_from_elsewhere: "no audio: network problem",
  nothing_received: "no audio from this caller",
};

const main = document.querySelector("main");
const conferenceId = main.dataset.conference;
const link = main.dataset.link;
const hostToken = new URLSearchParams(location.hash.slice(1)).get("token");
// A bearer credential (the host's token from the fragment, or the guest's link), or null
// when the host is signed in: then the session cookie goes with every request, and what
// changes something carries the page's CSRF token.
let credential = hostToken || link;
let isHost = Boolean(hostToken);
let csrf = null;

// Is whoever has this page open the host (or a delegate, or an administrator), signed in?
// The other scripts wait for the answer: window.callrosterWho resolves to
// { isHost, headers() }, the headers their API requests need.
function authHeaders() {
  return credential ? { Authorization: `Bearer ${credential}` } : { "X-CSRF-Token": csrf };
}
async function whoAmI() {
  if (!hostToken) {
    try {
      const session = await fetch("/api/v1/session");
      if (session.ok) {
        const token = (await session.json()).csrf_token;
        const mine = await fetch(`/api/v1/conferences/${conferenceId}`);
        if (mine.ok) { isHost = true; credential = null; csrf = token; }
      }
    } catch { /* not signed in: a guest */ }
  }
  return { isHost, headers: authHeaders };
}
window.callrosterWho = whoAmI();
const list = document.getElementById("legs");
const status = document.getElementById("status");
const legs = new Map();
let lastSeq = null;

const book = {
  load() { try { return JSON.parse(localStorage.getItem("callroster-book") || "{}"); } catch { return {}; } },
  save(entries) { localStorage.setItem("callroster-book", JSON.stringify(entries)); },
  name(number) { return number ? this.load()[number] : undefined; },
  set(number, name) { const e = this.load(); if (name) e[number] = name; else delete e[number]; this.save(e); },
  importVcard(text) {
    const e = this.load();
    for (const card of text.split(/BEGIN:VCARD/i).slice(1)) {
      const fn = /^FN[^:]*:(.+)$/im.exec(card);
      for (const tel of card.matchAll(/^TEL[^:]*:(.+)$/gim)) {
        const number = tel[1].replace(/[^+\d]/g, "");
        if (fn && number) e[number] = fn[1].trim();
      }
    }
    this.save(e);
  },
};

function api(path, method, body) {
  return fetch(`/api/v1/conferences/${conferenceId}${path}`, {
    method,
    headers: { ...authHeaders(), "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  }).then((r) => {
    if (!r.ok) {
      r.json().then((e) => say(Array.isArray(e.detail) ? e.detail.map((d) => d.msg).join("; ") : e.detail || r.statusText));
    }
    return r;
  });
}

function say(text) { status.textContent = text; }

function button(label, action, extra = {}) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", action);
  Object.assign(b.dataset, extra);
  return b;
}

function shownName(leg) {
  const named = book.name(leg.number) || leg.name;
  return named || (leg.number && leg.number !== "withheld" ? leg.number : "Caller");
}

// One list item per leg, built once; render() then changes its parts in place, so a live
// update never takes away the host's keyboard focus or a name being typed (rename inline).
function itemFor(leg) {
  const existing = document.getElementById(`leg-${leg.id}`);
  if (existing) return existing;
  const item = document.createElement("li");
  item.id = `leg-${leg.id}`;
  item.className = "leg joining";
  item.innerHTML = '<div class="who"><span class="speaking" aria-hidden="true"></span><span class="name"></span>'
    + ' <span class="badge local" title="From your own address book, on this device only" hidden>yours</span>'
    + ' <span class="badge ringing" hidden>ringing</span></div>'
    + '<div class="number"></div><div class="badges"></div><div class="controls"></div>';
  const id = leg.id;
  const current = () => legs.get(id);
  const controls = item.querySelector(".controls");
  controls.append(button("Name for me", () => {
    const { number } = current();
    const name = prompt("Your own name for this number (kept on this device only)", book.name(number) || "");
    if (name !== null) { book.set(number, name.trim()); render(current()); }
  }, { action: "local-name" }));
  if (isHost) {
    const url = `/legs/${id}`;
    controls.append(
      button("Mute", () => api(`${url}/${current().muted ? "unmute" : "mute"}`, "POST"), { action: "mute" }),
      button("Hold", () => api(`${url}/${current().status === "on_hold" ? "unhold" : "hold"}`, "POST"), { action: "hold" }),
      button("Rename", () => startRename(id), { action: "rename" }),
      button("Drop", () => { if (confirm(`Drop ${shownName(current())} from the call?`)) api(`${url}/drop`, "POST"); }, { action: "drop" }),
    );
  }
  list.append(item);
  requestAnimationFrame(() => item.classList.remove("joining"));
  return item;
}

// Why a phoned guest never joined, in words; the leg stays on the list a while to say so.
const NOT_JOINED = {
  busy: "the line was busy", no_answer: "no answer", declined: "they declined",
  failed: "the call failed", cancelled: "the call was cancelled",
};
const NOTICE_MS = 10000;

function render(leg) {
  if (leg.status === "left") {
    const item = document.getElementById(`leg-${leg.id}`);
    if (!item || item.classList.contains("leaving")) return;
    const why = item.dataset.ringing === "yes" ? NOT_JOINED[leg.left_reason] : undefined;
    if (why && !item.classList.contains("not-joined")) {
      item.classList.add("not-joined");
      item.classList.remove("talking");
      item.querySelector(".badges").innerHTML = "";
      const badge = document.createElement("span");
      badge.className = "badge failed";
      badge.textContent = `Did not join: ${why}`;
      item.querySelector(".badges").append(badge);
      item.querySelector(".controls").hidden = true;
      say(`${shownName(leg)} did not join: ${why}.`);
      setTimeout(() => { item.classList.add("leaving"); setTimeout(() => item.remove(), 400); }, NOTICE_MS);
    } else if (!why) {
      item.classList.add("leaving");
      setTimeout(() => item.remove(), 400);
    }
    return;
  }
  const item = itemFor(leg);
  item.dataset.ringing = leg.status === "joining" ? "yes" : "no";
  item.querySelector(".badge.ringing").hidden = leg.status !== "joining";
  const local = book.name(leg.number);
  const named = local || leg.name;
  item.classList.toggle("talking", leg.talking);
  // While the name is being edited the editor stands in for it and is left alone.
  item.querySelector(".name").textContent = shownName(leg);
  item.querySelector(".badge.local").hidden = !local;
  // Beneath the name: the number, or "withheld"; nothing again when the number is the name.
  const number = item.querySelector(".number");
  number.textContent = leg.number === "withheld" ? "withheld" : (named ? leg.number || "" : "");
  // A number only the caller claims (From, or an untrusted peer's P-Asserted-Identity) is
  // marked: anyone can send any number.
  if (leg.number && leg.number !== "withheld" && !leg.number_verified) {
    const unverified = document.createElement("span");
    unverified.className = "badge unverified";
    unverified.title = "Caller ID not verified: the caller could have sent any number";
    unverified.textContent = "unverified";
    number.append(number.textContent ? " " : "", unverified);
  }
  const badges = item.querySelector(".badges");
  badges.innerHTML = "";
  if (leg.talking) badges.insertAdjacentHTML("beforeend", '<span class="badge talk">speaking</span>');
  if (leg.muted) badges.insertAdjacentHTML("beforeend", '<span class="badge muted">muted</span>');
  if (leg.status === "on_hold") badges.insertAdjacentHTML("beforeend", '<span class="badge held">on hold</span>');
  if (leg.media_problem && leg.status !== "left") {
    const problem = document.createElement("span");
    problem.className = "badge media-problem";
    problem.dataset.problem = leg.media_problem;
    problem.textContent = MEDIA_PROBLEMS[leg.media_problem] || "audio problem";
    badges.append(problem);
  }
  item.querySelector('[data-action="local-name"]').hidden = !(leg.number && leg.number !== "withheld");
  if (isHost) {
    item.querySelector('[data-action="mute"]').textContent = leg.muted ? "Unmute" : "Mute";
    item.querySelector('[data-action="hold"]').textContent = leg.status === "on_hold" ? "Resume" : "Hold";
  }
}

// Rename inline (host): the name becomes a labelled text field in place. Enter or Save
// publishes it to everyone on the call; Escape or Cancel puts the name back.
function startRename(id) {
  const item = document.getElementById(`leg-${id}`);
  const leg = legs.get(id);
  if (!item || !leg) return;
  const open = item.querySelector("form.rename");
  if (open) { open.elements.name.focus(); return; }
  const form = document.createElement("form");
  form.className = "rename";
  const label = document.createElement("label");
  label.htmlFor = `rename-${id}`;
  label.textContent = "Name shown to everyone on the call";
  const input = document.createElement("input");
  input.id = `rename-${id}`;
  input.name = "name";
  input.maxLength = 80;
  input.autocomplete = "off";
  input.value = leg.name || "";
  const save = document.createElement("button");
  save.type = "submit";
  save.textContent = "Save";
  save.dataset.action = "save-name";
  form.append(label, input, save, button("Cancel", () => stopRename(id), { action: "cancel-name" }));
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); stopRename(id); }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    form.setAttribute("aria-busy", "true");
    try {
      const response = await api(`/legs/${id}`, "PATCH", { name: input.value.trim() });
      if (response.ok) {
        const saved = await response.json();
        const current = legs.get(id);
        if (current) Object.assign(current, { name: saved.name, name_source: saved.name_source });
        stopRename(id);
        return;
      }
    } catch {
      say("The name was not saved: no connection. Try again.");
    }
    form.removeAttribute("aria-busy");
    input.focus();
  });
  item.querySelector(".name").hidden = true;
  item.querySelector(".who").append(form);
  item.classList.add("editing");
  input.focus();
  input.select();
}

function stopRename(id) {
  const item = document.getElementById(`leg-${id}`);
  if (!item) return;
  const form = item.querySelector("form.rename");
  if (form) form.remove();
  item.classList.remove("editing");
  item.querySelector(".name").hidden = false;
  const leg = legs.get(id);
  if (leg) render(leg);
  const rename = item.querySelector('[data-action="rename"]');
  if (rename) rename.focus();
}

function setConference(state) {
  document.getElementById("locked").hidden = !state.locked;
  document.getElementById("recording").hidden = !state.recording;
  const lock = document.getElementById("lock");
  if (lock) lock.textContent = state.locked ? "Unlock" : "Lock";
  main.dataset.locked = state.locked ? "yes" : "no";
}

function handle(message) {
  if (message.type === "snapshot") {
    // Items are updated in place (an editor open on one survives); legs no longer there go.
    const present = new Set(message.legs.map((leg) => `leg-${leg.id}`));
    for (const item of [...list.children]) if (!present.has(item.id)) item.remove();
    legs.clear();
    for (const leg of message.legs) { legs.set(leg.id, leg); render(leg); }
    setConference(message);
  } else if (message.leg) {
    legs.set(message.leg.id, message.leg);
    render(message.leg);
  } else if (message.event === "locked") {
    setConference({ locked: message.locked, recording: false });
  }
  lastSeq = message.seq;
  document.getElementById("count").textContent = [...legs.values()].filter((l) => l.status !== "left").length;
}

// The WebSocket's address. A browser cannot set headers on a WebSocket, and a URL ends up in
// access logs, so the credential never goes in it: it is sent in Authorization to get a
// ticket that opens the WebSocket once, within 30 s. Signed in, the cookie opens it (it is
// sent, and accepted, from this site only). Throws with the reason when there is no ticket.
async function liveUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = new URLSearchParams();
  if (credential) {
    const answer = await fetch(`/api/v1/conferences/${conferenceId}/live/tickets`, {
      method: "POST", headers: authHeaders(), cache: "no-store",
    });
    if (!answer.ok) {
      const detail = await answer.json().then((e) => e.detail, () => answer.statusText);
      throw Object.assign(new Error(detail), { status: answer.status });
    }
    query.set("ticket", (await answer.json()).ticket);
  }
  if (lastSeq !== null) query.set("since", lastSeq);
  return `${scheme}://${location.host}/api/v1/conferences/${conferenceId}/live?${query}`;
}

async function connect() {
  let url;
  try {
    url = await liveUrl();
  } catch (error) {
    // A link or token that is not (or no longer) valid will not become valid by retrying.
    if ([401, 403, 404].includes(error.status)) { say(`Not connected: ${error.message}`); return; }
    say("Reconnecting…");
    setTimeout(connect, 1000);
    return;
  }
  const ws = new WebSocket(url);
  ws.onopen = () => say("Live");
  // Each message is an array of roster messages, oldest first: the snapshot, or one or more
  // changes (several at once when this page fell behind).
  ws.onmessage = (event) => { for (const message of JSON.parse(event.data)) handle(message); };
  ws.onclose = () => { say("Reconnecting…"); setTimeout(connect, 1000); };
}

window.callrosterWho.then(() => {
  if (isHost) {
    const bar = document.getElementById("host-controls");
    bar.hidden = false;
    document.getElementById("lock").addEventListener("click", () => api(main.dataset.locked === "yes" ? "/unlock" : "/lock", "POST"));
    document.getElementById("mute-all").addEventListener("click", () => api("/mute-all", "POST"));
  }
  connect();
});
document.getElementById("vcard").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (file) { book.importVcard(await file.text()); legs.forEach(render); say("Address book imported (on this device only)"); }
});
