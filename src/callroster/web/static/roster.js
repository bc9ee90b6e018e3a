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
// { isHost, headers(), signedInCsrf }: the headers their API requests need, and the CSRF
// token of a session when someone is signed in at all (null when not).
function authHeaders() {
  return credential ? { Authorization: `Bearer ${credential}` } : { "X-CSRF-Token": csrf };
}
async function whoAmI() {
  let signedInCsrf = null;
  if (!hostToken) {
    try {
      const session = await fetch("/api/v1/session");
      if (session.ok) {
        const token = (await session.json()).csrf_token;
        signedInCsrf = token || null;
        const mine = await fetch(`/api/v1/conferences/${conferenceId}`);
        if (mine.ok) { isHost = true; credential = null; csrf = token; }
      }
    } catch { /* not signed in: a guest */ }
  }
  if (isHost) sayWhoYouAre();
  return { isHost, headers: authHeaders, signedInCsrf };
}

// A host sees who they are signed in as, and the way back to their conferences.
async function sayWhoYouAre() {
  const banner = document.getElementById("signed-in-as");
  let text = "You have the host's link: you can run this call.";
  if (!hostToken) {
    try {
      const me = await fetch("/api/v1/me");
      if (me.ok) text = `Signed in as ${(await me.json()).name}: you can run this call.`;
    } catch { /* keep the plain words */ }
  }
  banner.textContent = `${text} `;
  if (!hostToken) {
    const back = document.createElement("a");
    back.href = "/me";
    back.textContent = "Back to My conferences";
    banner.append(back);
  }
  banner.hidden = false;
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
      r.json().then((e) => say(Array.isArray(e.detail)
        ? (e.detail.some((d) => String(d.loc.at(-1)) === "name") ? "A name is 1 to 80 letters, digits or spaces." : "That was not accepted: check what you typed.")
        : `That did not work: ${e.detail || r.statusText}.`), () => say("That did not work: try again."));
    }
    return r;
  });
}

function say(text) { status.textContent = text; }

// What a control on the whole call did, in words beside its buttons.
function feedback(text) {
  const where = document.getElementById("host-feedback");
  where.textContent = text;
}

// How long a leg has been on the call, "4:05" or "1:02:07", from its joined_at.
function onFor(leg) {
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(leg.joined_at)) / 1000));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}
const VIA = { dial_in: "Phone", web: "Browser", dial_out: "Called out" };
const VIA_TITLE = {
  dial_in: "Dialled in by phone", web: "Joined from a web browser", dial_out: "The call phoned them",
};

function button(label, action, extra = {}, kind = "secondary") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = kind;
  b.textContent = label;
  b.addEventListener("click", action);
  Object.assign(b.dataset, extra);
  return b;
}

// Callers with neither a name nor a number shown are told apart by the order they came in:
// "Caller 1", "Caller 2", never three identical cards.
const callerNumbers = new Map();
function shownName(leg) {
  const named = book.name(leg.number) || leg.name;
  if (named) return named;
  if (leg.number && leg.number !== "withheld") return leg.number;
  if (!callerNumbers.has(leg.id)) callerNumbers.set(leg.id, callerNumbers.size + 1);
  return `Caller ${callerNumbers.get(leg.id)}`;
}

// One list item per leg, built once; render() then changes its parts in place, so a live
// update never takes away the host's keyboard focus or a name being typed (rename inline).
function itemFor(leg) {
  const existing = document.getElementById(`leg-${leg.id}`);
  if (existing) return existing;
  const item = document.createElement("li");
  item.id = `leg-${leg.id}`;
  item.className = "leg joining";
  item.innerHTML = '<div class="who"><span class="speaking" aria-hidden="true"></span>'
    + `<span class="name" id="name-${leg.id}"></span>`
    + ' <span class="profile"></span>'
    + ' <span class="badge host" hidden>host</span>'
    + ' <span class="badge local" title="From your own address book, on this device only" hidden>yours</span>'
    + ' <span class="badge ringing" hidden>ringing</span></div>'
    + '<div class="line"><span class="number"></span><span class="via"></span>'
    + '<span class="security"></span>'
    + '<span class="on-for" title="Time on the call"></span></div>'
    + `<div class="badges"></div><div class="controls" role="group" aria-labelledby="name-${leg.id}"></div>`;
  const id = leg.id;
  const current = () => legs.get(id);
  const controls = item.querySelector(".controls");
  if (isHost) {
    const url = `/legs/${id}`;
    controls.append(
      button("Mute", () => api(`${url}/${current().muted ? "unmute" : "mute"}`, "POST"), { action: "mute" }),
      button("Hold", () => api(`${url}/${current().status === "on_hold" ? "unhold" : "hold"}`, "POST"), { action: "hold" }),
      button("Rename for everyone", () => startRename(id), { action: "rename" }),
    );
  }
  controls.append(button("Name on this device", () => {
    const { number } = current();
    const name = prompt("Your own name for this number (kept on this device only)", book.name(number) || "");
    if (name !== null) { book.set(number, name.trim()); render(current()); }
  }, { action: "local-name" }, "link"));
  if (isHost) {
    const drop = button("Drop from call", () => {
      if (confirm(`Drop ${shownName(current())} from the call? They are cut off at once.`)) api(`/legs/${id}/drop`, "POST");
    }, { action: "drop" }, "danger drop");
    controls.append(drop);
  }
  list.append(item);
  requestAnimationFrame(() => item.classList.remove("joining"));
  return item;
}

// Why a phoned guest never joined, in words; the leg stays on the list a while to say so.
const NOT_JOINED = {
  busy: "the line was busy", no_answer: "no answer", declined: "they declined",
  failed: "the call failed", cancelled: "the call was cancelled",
  certificate_refused: "the call failed: the phone line's security certificate was not valid",
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
  renderProfile(item.querySelector(".profile"), leg.profile_url);
  item.querySelector(".badge.host").hidden = leg.role !== "host";
  item.classList.toggle("host", leg.role === "host");
  const via = item.querySelector(".via");
  via.textContent = VIA[leg.joined_via] || "";
  via.title = VIA_TITLE[leg.joined_via] || "";
  item.querySelector(".on-for").textContent = leg.status === "joining" ? "" : `on for ${onFor(leg)}`;
  // Beneath the name: the number, or "withheld"; nothing again when the number is the name.
  const number = item.querySelector(".number");
  number.textContent = leg.number === "withheld" ? "number withheld" : (named ? leg.number || "" : "");
  // A number only the caller claims (From, or an untrusted peer's P-Asserted-Identity) is
  // marked: anyone can send any number.
  if (leg.number && leg.number !== "withheld" && !leg.number_verified) {
    const unverified = document.createElement("span");
    unverified.className = "badge unverified";
    unverified.title = "Caller ID not verified: the caller could have sent any number";
    unverified.textContent = "unverified";
    number.append(number.textContent ? " " : "", unverified);
  }
  // The padlock: signalling and audio both encrypted (SIP over TLS with SRTP, or a browser
  // that joined over HTTPS); anything else says so in words.
  const security = item.querySelector(".security");
  security.classList.toggle("encrypted", Boolean(leg.encrypted));
  security.title = leg.encrypted
    ? "Signalling and audio encrypted all the way to the bridge"
    : "Not encrypted: this connection's signalling or audio can be read on the way";
  security.innerHTML = leg.encrypted
    ? '<span aria-hidden="true">\u{1F512}</span> encrypted' : "not encrypted";
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

// A public profile its person consented to show: a link beside the name, its text the
// site's name ("linkedin.com"). Built with DOM calls only, and only for an https address (the
// server checked it; this page does not trust that). Gone at once when consent is withdrawn.
function renderProfile(where, url) {
  if ((where.dataset.url || null) === (url || null)) return;
  where.replaceChildren();
  delete where.dataset.url;
  let address = null;
  try { address = url ? new URL(url) : null; } catch { address = null; }
  if (!address || address.protocol !== "https:" || address.username || address.password) return;
  const link = document.createElement("a");
  link.className = "profile-link";
  link.setAttribute("href", address.href);
  link.setAttribute("rel", "noopener noreferrer nofollow ugc");
  link.setAttribute("target", "_blank");
  link.textContent = address.hostname.replace(/^www\./, "");
  link.setAttribute("title", "Public profile, shown with this person's consent");
  where.append(link);
  where.dataset.url = url;
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
  input.value = leg.name || book.name(leg.number) || "";
  input.placeholder = "For example: Priya, Acme";
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
  document.getElementById("unlocked").hidden = state.locked;
  document.getElementById("recording").hidden = !state.recording;
  const lock = document.getElementById("lock");
  if (lock) lock.textContent = state.locked ? "Unlock the call" : "Lock the call";
  main.dataset.locked = state.locked ? "yes" : "no";
}

// The count in the heading, and an empty room said plainly; whether everyone on the call
// is encrypted, which hosts of confidential calls can point to.
function showCount() {
  const count = [...legs.values()].filter((l) => l.status !== "left").length;
  document.getElementById("count").textContent = count;
  document.getElementById("empty-room").hidden = count !== 0;
  const on = [...legs.values()].filter((l) => l.status !== "left" && l.status !== "joining");
  const clear = on.filter((l) => !l.encrypted).length;
  const banner = document.getElementById("encryption");
  banner.hidden = on.length === 0;
  banner.classList.toggle("secure", on.length > 0 && clear === 0);
  banner.innerHTML = clear === 0
    ? '<span aria-hidden="true">\u{1F512}</span> Every connection to this call is encrypted'
    : `${clear} of ${on.length} connection${on.length === 1 ? "" : "s"} not encrypted`;
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
    setConference({ locked: message.locked, recording: !document.getElementById("recording").hidden });
  }
  lastSeq = message.seq;
  showCount();
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
  ws.onopen = () => say("Live: this list changes as people join and leave.");
  // Each message is an array of roster messages, oldest first: the snapshot, or one or more
  // changes (several at once when this page fell behind).
  ws.onmessage = (event) => { for (const message of JSON.parse(event.data)) handle(message); };
  ws.onclose = () => { say("Reconnecting…"); setTimeout(connect, 1000); };
}

// Time on the call ticks once a second.
setInterval(() => {
  for (const leg of legs.values()) {
    const item = document.getElementById(`leg-${leg.id}`);
    if (item && leg.status !== "left" && leg.status !== "joining") item.querySelector(".on-for").textContent = `on for ${onFor(leg)}`;
  }
}, 1000);

window.callrosterWho.then(() => {
  if (isHost) {
    const bar = document.getElementById("host-controls");
    bar.hidden = false;
    const lock = document.getElementById("lock");
    lock.addEventListener("click", async () => {
      const locking = main.dataset.locked !== "yes";
      lock.setAttribute("aria-busy", "true");
      const answer = await api(locking ? "/lock" : "/unlock", "POST").catch(() => null);
      lock.removeAttribute("aria-busy");
      if (answer && answer.ok) {
        setConference({ locked: locking, recording: !document.getElementById("recording").hidden });
        feedback(locking ? "Locked: nobody new can join." : "Unlocked: anyone with the PIN or link can join.");
      } else feedback("That did not work: try again.");
    });
    const muteAll = document.getElementById("mute-all");
    muteAll.addEventListener("click", async () => {
      muteAll.setAttribute("aria-busy", "true");
      const answer = await api("/mute-all", "POST").catch(() => null);
      muteAll.removeAttribute("aria-busy");
      feedback(answer && answer.ok ? "Everyone but the hosts is muted. Each can be unmuted below." : "That did not work: try again.");
    });
  }
  connect();
});
document.getElementById("vcard").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (file) { book.importVcard(await file.text()); legs.forEach(render); say("Address book imported (on this device only)"); }
});
