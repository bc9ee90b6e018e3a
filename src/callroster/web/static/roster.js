// Live Call Status: the roster of this conference, kept live over a WebSocket.
// The host's token comes in the URL fragment (#token=cr_...), which browsers never send to
// the server; guests use the conference link. Names from the private address book stay in
// this browser (localStorage) and are never sent anywhere.
"use strict";

const main = document.querySelector("main");
const conferenceId = main.dataset.conference;
const link = main.dataset.link;
const hostToken = new URLSearchParams(location.hash.slice(1)).get("token");
const credential = hostToken || link;
const isHost = Boolean(hostToken);
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
    headers: { Authorization: `Bearer ${credential}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  }).then((r) => { if (!r.ok) r.json().then((e) => say(e.detail || r.statusText)); return r; });
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

function render(leg) {
  let item = document.getElementById(`leg-${leg.id}`);
  if (leg.status === "left") {
    if (item) { item.classList.add("leaving"); setTimeout(() => item.remove(), 400); }
    return;
  }
  if (!item) {
    item = document.createElement("li");
    item.id = `leg-${leg.id}`;
    item.className = "leg joining";
    list.append(item);
    requestAnimationFrame(() => item.classList.remove("joining"));
  }
  const local = book.name(leg.number);
  const named = local || leg.name;
  const shown = named || (leg.number && leg.number !== "withheld" ? leg.number : "Caller");
  item.classList.toggle("talking", leg.talking);
  item.innerHTML = "";
  const who = document.createElement("div");
  who.className = "who";
  who.innerHTML = `<span class="speaking" aria-hidden="true"></span><span class="name"></span>`;
  who.querySelector(".name").textContent = shown;
  if (local) who.insertAdjacentHTML("beforeend", ' <span class="badge local" title="From your own address book, on this device only">yours</span>');
  const number = document.createElement("div");
  number.className = "number";
  // Beneath the name: the number, or "withheld"; nothing again when the number is the name.
  number.textContent = leg.number === "withheld" ? "withheld" : (named ? leg.number || "" : "");
  item.append(who, number);
  const badges = document.createElement("div");
  if (leg.talking) badges.insertAdjacentHTML("beforeend", '<span class="badge talk">speaking</span>');
  if (leg.muted) badges.insertAdjacentHTML("beforeend", '<span class="badge muted">muted</span>');
  if (leg.status === "on_hold") badges.insertAdjacentHTML("beforeend", '<span class="badge held">on hold</span>');
  item.append(badges);
  const controls = document.createElement("div");
  controls.className = "controls";
  if (leg.number && leg.number !== "withheld") {
    controls.append(button("Name for me", () => {
      const name = prompt("Your own name for this number (kept on this device only)", local || "");
      if (name !== null) { book.set(leg.number, name.trim()); render(legs.get(leg.id)); }
    }, { action: "local-name" }));
  }
  if (isHost) {
    const url = `/legs/${leg.id}`;
    controls.append(
      button(leg.muted ? "Unmute" : "Mute", () => api(`${url}/${leg.muted ? "unmute" : "mute"}`, "POST"), { action: "mute" }),
      button(leg.status === "on_hold" ? "Resume" : "Hold", () => api(`${url}/${leg.status === "on_hold" ? "unhold" : "hold"}`, "POST"), { action: "hold" }),
      button("Rename", () => {
        const name = prompt("Name shown to everyone on the call", leg.name || "");
        if (name !== null) api(url, "PATCH", { name });
      }, { action: "rename" }),
      button("Drop", () => { if (confirm(`Drop ${shown} from the call?`)) api(`${url}/drop`, "POST"); }, { action: "drop" }),
    );
  }
  item.append(controls);
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
    list.innerHTML = "";
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

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const since = lastSeq === null ? "" : `&since=${lastSeq}`;
  const ws = new WebSocket(`${scheme}://${location.host}/api/v1/conferences/${conferenceId}/live?token=${encodeURIComponent(credential)}${since}`);
  ws.onopen = () => say("Live");
  // Each message is an array of roster messages, oldest first: the snapshot, or one or more
  // changes (several at once when this page fell behind).
  ws.onmessage = (event) => { for (const message of JSON.parse(event.data)) handle(message); };
  ws.onclose = () => { say("Reconnecting…"); setTimeout(connect, 1000); };
}

if (isHost) {
  const bar = document.getElementById("host-controls");
  bar.hidden = false;
  document.getElementById("lock").addEventListener("click", () => api(main.dataset.locked === "yes" ? "/unlock" : "/lock", "POST"));
  document.getElementById("mute-all").addEventListener("click", () => api("/mute-all", "POST"));
}
document.getElementById("vcard").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (file) { book.importVcard(await file.text()); legs.forEach(render); say("Address book imported (on this device only)"); }
});
connect();
