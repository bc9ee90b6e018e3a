// Joining the call from this browser: type your name, allow the microphone, and you are on
// the call over WebRTC, heard by the phones and hearing them. The name is shown to everyone.
// The host's token (URL fragment) joins as host; guests use the conference link.
"use strict";
(() => {
  const main = document.querySelector("main");
  const conferenceId = main.dataset.conference;
  const hostToken = new URLSearchParams(location.hash.slice(1)).get("token");
  const credential = hostToken || main.dataset.link;
  const form = document.getElementById("join-form");
  const nameInput = document.getElementById("join-name");
  const joinButton = document.getElementById("join-button");
  const inCall = document.getElementById("in-call");
  const micButton = document.getElementById("mic");
  const leaveButton = document.getElementById("leave");
  const note = document.getElementById("join-status");
  // A public profile: sent only with the consent box ticked, and only this browser (by the
  // leg's own key) can stop showing it or show it again.
  const profileInput = document.getElementById("join-profile");
  const consentBox = document.getElementById("join-profile-consent");
  const hideProfile = document.getElementById("profile-hide");
  const showProfile = document.getElementById("profile-show");
  const player = document.getElementById("call-audio");
  let pc = null;
  let leg = null;
  let microphone = null;

  const say = (text) => { note.textContent = text; };
  const legUrl = () => `/api/v1/conferences/${conferenceId}/web-legs/${leg.leg_id}`;

  // What the server refused, in words: never the validator's own text.
  function problem(body, fallback) {
    const detail = body && body.detail;
    if (Array.isArray(detail)) {
      if (detail.some((d) => String(d.loc.at(-1)) === "name")) {
        return "A name is 1 to 80 letters, digits or spaces: check the name you typed.";
      }
      return detail.some((d) => ["profile_url", "url"].includes(String(d.loc.at(-1))))
        ? "A public profile is an https:// address of at most 300 characters."
        : fallback;
    }
    return detail || fallback;
  }

  function gathered(connection, ms = 5000) {
    // The service takes the offer with its candidates in one go (no trickle).
    return new Promise((resolve) => {
      if (connection.iceGatheringState === "complete") return resolve();
      const done = () => { if (connection.iceGatheringState === "complete") resolve(); };
      connection.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, ms);
    });
  }

  function finish(message) {
    if (pc) pc.close();
    if (microphone) microphone.getTracks().forEach((t) => t.stop());
    pc = null; leg = null; microphone = null;
    player.srcObject = null;
    inCall.hidden = true;
    form.hidden = false;
    joinButton.disabled = false;
    micButton.setAttribute("aria-pressed", "false");
    micButton.textContent = "Mute me";
    hideProfile.hidden = true;
    showProfile.hidden = true;
    say(message);
  }

  // Which of the two profile buttons the page offers: "Stop showing" while it is shown,
  // "Show" when there is an address to show and it is not.
  function offerProfile(shown) {
    hideProfile.hidden = !shown;
    showProfile.hidden = shown || !profileInput.value.trim();
  }

  // Signed in: say which profile goes with the join when none is typed here.
  window.callrosterWho.then((who) => {
    if (!who.signedInCsrf) return;
    document.getElementById("join-profile-note").textContent +=
      " You are signed in: if you chose on your account page to show your public profile, it is shown beside your name unless you give one here.";
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!name) { say("Type the name the others should see first."); nameInput.focus(); return; }
    joinButton.disabled = true;
    say("Asking for your microphone…");
    try {
      microphone = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      finish(`Without a microphone you cannot join from this browser (${error.message}). Join by phone below.`);
      return;
    }
    say("Connecting…");
    // Without the tick the address is not even sent.
    const profileUrl = profileInput.value.trim();
    const profileOffer = consentBox.checked && profileUrl
      ? { profile_url: profileUrl, show_profile: true } : {};
    pc = new RTCPeerConnection();
    microphone.getAudioTracks().forEach((track) => pc.addTrack(track, microphone));
    pc.addEventListener("track", (e) => { player.srcObject = e.streams[0] || new MediaStream([e.track]); });
    pc.addEventListener("connectionstatechange", () => {
      if (!pc) return;
      if (pc.connectionState === "connected") say(`You are on the call as ${name}.`);
      if (pc.connectionState === "failed") finish("The connection to the call failed. Try again, or join by phone.");
      if (pc.connectionState === "closed") finish("You are no longer on the call.");
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    // A host signed in on this page joins as who they are (the session); anyone else signed
    // in joins by the link as a guest, with the session's CSRF token beside it so that the
    // public profile they chose to show on their account page is shown.
    const who = await window.callrosterWho;
    const asWho = who.isHost && !hostToken ? who.headers()
      : { Authorization: `Bearer ${credential}`, ...(who.signedInCsrf ? { "X-CSRF-Token": who.signedInCsrf } : {}) };
    let response;
    let body;
    try {
      response = await fetch(`/api/v1/conferences/${conferenceId}/web-legs`, {
        method: "POST",
        headers: { ...asWho, "Content-Type": "application/json" },
        body: JSON.stringify({ name, sdp: pc.localDescription.sdp, ...profileOffer }),
      });
      body = await response.json();
    } catch (error) {
      finish(`Could not reach the service (${error.message}).`);
      return;
    }
    if (!response.ok) { finish(problem(body, "Could not join the call.")); return; }
    leg = body;
    main.dataset.webLeg = leg.leg_id;
    await pc.setRemoteDescription({ type: "answer", sdp: leg.sdp });
    // The service ends the call (the host dropped us) by closing DTLS.
    const dtls = pc.getSenders()[0] && pc.getSenders()[0].transport;
    if (dtls) dtls.addEventListener("statechange", () => {
      if (pc && dtls.state === "closed") finish("You are no longer on the call.");
    });
    form.hidden = true;
    inCall.hidden = false;
    // The account's profile may be the one shown: the buttons then offer to stop it and
    // show it again.
    if (leg.profile_url && !profileInput.value.trim()) profileInput.value = leg.profile_url;
    offerProfile(Boolean(leg.profile_url));
    micButton.focus();
  });

  async function setProfile(show) {
    if (!leg) return;
    const response = await fetch(`${legUrl()}/profile`, {
      method: show ? "PUT" : "DELETE",
      headers: { "X-Leg-Key": leg.key, "Content-Type": "application/json" },
      body: show ? JSON.stringify({ url: profileInput.value.trim() }) : undefined,
    });
    if (!response.ok) { say(problem(await response.json(), "Could not change your profile link.")); return; }
    offerProfile(show);
    say(show ? "Your profile link is shown to everyone on this call." : "Your profile link is no longer shown.");
    (show ? hideProfile : showProfile).focus();
  }
  hideProfile.addEventListener("click", () => setProfile(false));
  showProfile.addEventListener("click", () => setProfile(true));

  micButton.addEventListener("click", async () => {
    if (!leg) return;
    const mute = micButton.getAttribute("aria-pressed") !== "true";
    const response = await fetch(`${legUrl()}/${mute ? "mute" : "unmute"}`, {
      method: "POST", headers: { "X-Leg-Key": leg.key },
    });
    if (!response.ok) { say(problem(await response.json(), "Could not change your microphone.")); return; }
    // Muted is muted on this device too: the microphone's audio is not even sent.
    microphone.getAudioTracks().forEach((t) => { t.enabled = !mute; });
    micButton.setAttribute("aria-pressed", String(mute));
    micButton.textContent = mute ? "Unmute me" : "Mute me";
    say(mute ? "You are muted." : `You are on the call as ${nameInput.value.trim()}.`);
  });

  function leave() {
    if (!leg) return;
    fetch(legUrl(), { method: "DELETE", headers: { "X-Leg-Key": leg.key }, keepalive: true });
    finish("You have left the call.");
  }
  leaveButton.addEventListener("click", leave);
  window.addEventListener("pagehide", leave);
})();
