"""A caller whose voice is timed to the millisecond, and a Live Call Status page that notes
when it shows the caller speaking: the machinery of the speaking-indicator test and benchmark.

- :class:`Talker` binds a UDP port on 127.0.0.1 (20000-32000, like the other peers) and,
  from a thread, sends G.711 µ-law RTP from it every 20 ms on an absolute grid: low-level
  noise first (so the bridge's adaptive noise floor settles), then talk spurts of a 1 kHz tone
  separated by noise. It stamps ``time.time()`` just before sending the first tone packet of
  each spurt and the first noise packet after it.
- :func:`sipp_call` places the call with sipp (``tests/interop/scenarios/talker.xml``): the
  PIN in the request URI, the talker's port in the SDP, no RTP from sipp. sipp writes the
  bridge's media address from its 200 OK to a log file, where :meth:`SippCall.bridge_media`
  reads it. The call stays up for the plan's length, then sipp hangs up.
- :func:`open_roster` opens the conference page with a script that stamps
  ``performance.timeOrigin + performance.now()`` (the same wall clock) when a roster WebSocket
  message changes a leg's talking state, and, through a MutationObserver, when the leg's list
  item (``#leg-<id>``) gains or loses the ``talking`` class.
- :class:`Listener` is an optional second caller that stamps when the talker's tone reaches
  it: the bridge mixes only legs it has found talking, so that is when talk was detected.
- :func:`run_talk` puts them together; :func:`spurt_results` pairs each spurt with what the
  page showed.
"""

from __future__ import annotations

import json
import math
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from playwright.sync_api import Browser, Page
from tests.support.peers import free_udp_port, sipp_command
from tests.support.service import RunningService

from callroster.media.talk import level_dbfs
from callroster.rtp import g711

SCENARIO = "talker"
CALLER = "+447700900777"
LISTENER = "+447700900778"
RATE = 8000
FRAME_SAMPLES = 160
PTIME = FRAME_SAMPLES / RATE  # 20 ms
_RTP_HEADER = struct.Struct("!BBHII")
_PCMU = 0


@dataclass(frozen=True)
class Plan:
    """What the talker says: ``settle_s`` of noise, then ``spurts`` times (``talk_s`` of tone,
    ``pause_s`` of noise). Levels are RMS in dBFS as the bridge's talk detector measures them
    (a full-scale sine is -3 dBFS)."""

    spurts: int = 3
    settle_s: float = 3.0
    talk_s: float = 1.5
    pause_s: float = 2.0
    noise_dbfs: float = -50.0
    tone_dbfs: float = -12.0
    tone_hz: float = 1000.0

    @property
    def settle_frames(self) -> int:
        return round(self.settle_s / PTIME)

    @property
    def talk_frames(self) -> int:
        return round(self.talk_s / PTIME)

    @property
    def pause_frames(self) -> int:
        return round(self.pause_s / PTIME)

    @property
    def frames(self) -> int:
        return self.settle_frames + self.spurts * (self.talk_frames + self.pause_frames)

    @property
    def duration_s(self) -> float:
        return self.frames * PTIME

    def is_tone(self, frame: int) -> bool:
        if frame < self.settle_frames:
            return False
        return (frame - self.settle_frames) % (self.talk_frames + self.pause_frames) < (
            self.talk_frames
        )


@dataclass
class Spurt:
    """One talk spurt as sent: ``time.time()`` just before the first tone packet went out,
    and just before the first noise packet after the last one."""

    started: float
    ended: float | None = None


@dataclass
class SendStats:
    packets: int = 0
    received: int = 0  # packets the bridge sent us meanwhile (drained and dropped)
    late_ms: list[float] = field(default_factory=list)  # how late each send ran its slot
    sent_at: list[float] = field(default_factory=list)  # time.time() of each send


def _noise_frames(plan: Plan, count: int = 50, seed: int = 7) -> list[bytes]:
    rms = 32768.0 * 10 ** (plan.noise_dbfs / 20)
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        samples = np.clip(rng.normal(0.0, rms, FRAME_SAMPLES), -32768, 32767)
        frames.append(g711.encode("PCMU", samples.astype(np.int16)))
    return frames


def _tone_frame(plan: Plan) -> bytes:
    """One 20 ms frame of the tone; 1 kHz has a whole number of periods in 160 samples, so
    repeating the frame keeps the phase continuous."""
    amplitude = 32768.0 * math.sqrt(2) * 10 ** (plan.tone_dbfs / 20)
    t = np.arange(FRAME_SAMPLES) / RATE
    samples = np.round(amplitude * np.sin(2 * np.pi * plan.tone_hz * t))
    return g711.encode("PCMU", np.clip(samples, -32768, 32767).astype(np.int16))


def _bound_socket() -> socket.socket:
    """A UDP socket on 127.0.0.1, on a port in 20000-32000 (see ``free_udp_port``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(20):
        try:
            sock.bind(("127.0.0.1", free_udp_port()))
            return sock
        except OSError:
            continue
    sock.close()
    raise RuntimeError("no free UDP port below the ephemeral range")


class Talker:
    """The caller's media: a bound UDP socket and a thread sending the plan's RTP from it."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.sock = _bound_socket()
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self.spurts: list[Spurt] = []
        self.stats = SendStats()
        self.finished_at: float | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, remote: tuple[str, int], delay_s: float = 0.0) -> None:
        """Start sending to ``remote`` after ``delay_s`` (to place the 20 ms grid anywhere
        against the bridge's own media clock)."""
        self._thread = threading.Thread(target=self._run, args=(remote, delay_s), daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the talker did not finish in time")
        if self.error is not None:
            raise AssertionError(f"the talker failed: {self.error!r}") from self.error

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.sock.close()

    def _run(self, remote: tuple[str, int], delay_s: float) -> None:
        try:
            if delay_s > 0:
                time.sleep(delay_s)
            self._send_all(remote)
        except BaseException as exc:  # noqa: BLE001 - reported by wait()
            self.error = exc

    def _send_all(self, remote: tuple[str, int]) -> None:
        plan = self.plan
        noise = _noise_frames(plan)
        tone = _tone_frame(plan)
        ssrc = int.from_bytes(np.random.default_rng().bytes(4), "big")
        sequence = int(np.random.default_rng().integers(0, 1 << 15))
        timestamp = int(np.random.default_rng().integers(0, 1 << 30))
        start = time.perf_counter()
        was_tone = False
        for k in range(plan.frames):
            if self._stop.is_set():
                return
            due = start + k * PTIME
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            tone_now = plan.is_tone(k)
            header = _RTP_HEADER.pack(
                0x80,
                _PCMU,
                (sequence + k) & 0xFFFF,
                (timestamp + k * FRAME_SAMPLES) & 0xFFFFFFFF,
                ssrc,
            )
            packet = header + (tone if tone_now else noise[k % len(noise)])
            now = time.time()
            self.sock.sendto(packet, remote)
            self.stats.late_ms.append((time.perf_counter() - due) * 1000)
            self.stats.sent_at.append(now)
            self.stats.packets += 1
            if tone_now and not was_tone:
                self.spurts.append(Spurt(started=now))
            elif was_tone and not tone_now:
                self.spurts[-1].ended = now
            was_tone = tone_now
            self._drain()
        self.finished_at = time.time()

    def _drain(self) -> None:
        while True:
            try:
                self.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            self.stats.received += 1


class Listener:
    """A second caller that only listens: a bound UDP socket and a thread stamping
    ``time.time()`` on every RTP packet the bridge sends it that is louder than
    ``threshold_dbfs``. The bridge mixes only legs it has found talking, so the talker's tone
    reaches the listener from the media tick on which talk was detected: the bridge's share of
    the latency, without the roster's."""

    def __init__(self, threshold_dbfs: float = -30.0) -> None:
        self.threshold_dbfs = threshold_dbfs
        self.sock = _bound_socket()
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.loud: list[float] = []
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.time()
            self.received += 1
            # Version 2, no CSRCs or extension (the bridge's own packets): a 12-byte header.
            if len(data) > 12 and data[1] & 0x7F == _PCMU:
                level = level_dbfs(g711.decode("PCMU", data[12:]))
                if level > self.threshold_dbfs:
                    self.loud.append(now)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@dataclass
class SippCall:
    process: subprocess.Popen[bytes]
    log: Path
    errors: Path

    def bridge_media(self, timeout: float = 15.0) -> tuple[str, int]:
        """The bridge's media address and port from its SDP answer, as sipp logged them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.exists():
                for line in self.log.read_text(errors="replace").splitlines():
                    parts = line.split()
                    if len(parts) == 3 and parts[0] == "bridge-media":
                        return parts[1], int(parts[2])
            if self.process.poll() is not None:
                break
            time.sleep(0.01)
        raise AssertionError(f"no SDP answer from the bridge: {self.diagnostics()}")

    def finish(self, timeout: float) -> int:
        """Wait for sipp to hang up (BYE, 200) and exit; its exit status."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"sipp did not finish the call: {self.diagnostics()}") from None

    def diagnostics(self) -> str:
        text = [f"sipp exit status {self.process.poll()}"]
        for path in (self.errors, self.errors.with_suffix(".stderr")):
            if path.exists():
                text.append(path.read_text(errors="replace")[-2000:])
        return "\n".join(text)


@contextmanager
def sipp_call(
    service: RunningService,
    pin: str,
    workdir: Path,
    talker_port: int,
    duration_s: float,
    caller: str = CALLER,
    scenario: str = SCENARIO,
    ptime: int = 20,
    *,
    host: str = "127.0.0.1",
    local_ip: str = "127.0.0.1",
    talker_host: str = "127.0.0.1",
) -> Iterator[SippCall]:
    """One sipp call to the conference of ``pin`` that advertises ``talker_port`` and stays up
    ``duration_s``; stopped by its pid if it is still running when the block ends. The
    ``talker_delayed_offer`` scenario makes the same call with the offer from the bridge.
    ``ptime`` is the packet time its SDP asks for (the ``talker`` scenario). sipp calls
    ``host`` (``[::1]`` for IPv6) from ``local_ip``; its SDP names ``talker_host``."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "talker-media.log"
    log.unlink(missing_ok=True)
    args = sipp_command(
        scenario,
        service.sip_port,
        pin,
        workdir,
        keys={
            "caller": caller,
            "talker_port": str(talker_port),
            "ptime": str(ptime),
            "talker_host": talker_host,
            "talker_family": "IP6" if ":" in talker_host else "IP4",
        },
        host=host,
        local_ip=local_ip,
        duration_ms=int(duration_s * 1000),
        timeout=duration_s + 30,
    )
    args += ["-trace_logs", "-log_file", str(log)]
    errors = workdir / f"{scenario}-errors.log"
    with open(errors.with_suffix(".stderr"), "wb") as stderr:
        process = subprocess.Popen(
            args, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        yield SippCall(process, log, errors)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# Stamps, on the page's wall clock, every change of a leg's talking state: as the roster's
# WebSocket message arrives (before the page's own handler runs), and as the leg's list item
# gains or loses the class. Installed before the page's scripts run.
PAGE_RECORDER = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.talkMessages = [];
  window.talkClasses = [];
  const messageState = new Map();
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        const t = now();
        let parsed;
        try { parsed = JSON.parse(event.data); } catch { return; }
        // One roster message, or a batch of them (an array, oldest first).
        for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
          const legs = message.leg ? [message.leg] : (message.legs || []);
          for (const leg of legs) {
            if ((messageState.get(leg.id) || false) !== leg.talking) {
              messageState.set(leg.id, leg.talking);
              window.talkMessages.push({ leg: leg.id, talking: leg.talking, t });
            }
          }
        }
      });
    }
  };
  const classState = new Map();
  const scan = () => {
    const t = now();
    for (const item of document.querySelectorAll('#legs li[id^="leg-"]')) {
      const id = item.id.slice(4);
      const on = item.classList.contains("talking");
      if ((classState.get(id) || false) !== on) {
        classState.set(id, on);
        window.talkClasses.push({ leg: id, talking: on, t });
      }
    }
  };
  const observe = () => {
    new MutationObserver(scan).observe(document.getElementById("legs"), {
      subtree: true, childList: true, attributes: true, attributeFilter: ["class"],
    });
    scan();
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", observe);
  else observe();
})();
"""


@dataclass(frozen=True)
class Change:
    leg: str
    talking: bool
    t: float  # seconds since the epoch, the page's clock


def open_roster(browser: Browser, url: str) -> Page:
    """The conference page at ``url``, live, recording talking changes (PAGE_RECORDER)."""
    page = browser.new_page()
    page.add_init_script(PAGE_RECORDER)
    page.goto(url)
    page.get_by_role("status").filter(has_text="Live").wait_for(timeout=10_000)
    return page


def page_changes(page: Page) -> tuple[list[Change], list[Change]]:
    """(WebSocket messages, class changes) recorded so far."""
    messages, classes = page.evaluate("[window.talkMessages, window.talkClasses]")

    def changes(raw: list[dict[str, Any]]) -> list[Change]:
        return [Change(str(c["leg"]), bool(c["talking"]), float(c["t"]) / 1000) for c in raw]

    return changes(messages), changes(classes)


def clock_offset(page: Page, tries: int = 10) -> tuple[float, float]:
    """The page's clock minus ``time.time()``, in seconds, with its uncertainty (half the
    quickest round trip): both should read the same wall clock."""
    best: tuple[float, float] | None = None
    for _ in range(tries):
        before = time.time()
        seen = page.evaluate("performance.timeOrigin + performance.now()") / 1000
        after = time.time()
        estimate = (seen - (before + after) / 2, (after - before) / 2)
        if best is None or estimate[1] < best[1]:
            best = estimate
    assert best is not None
    return best


def leg_id(
    service: RunningService, demo: dict[str, Any], number: str, timeout: float = 10.0
) -> str:
    """The id of the leg calling from ``number`` (host API), once it has joined."""
    request = urllib.request.Request(
        f"{service.base_url}/api/v1/conferences/{demo['conference_id']}/legs",
        headers={"Authorization": f"Bearer {demo['host_token']}"},
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=5) as response:
            for leg in json.load(response)["legs"]:
                if leg.get("number") == number and leg.get("status") != "left":
                    return str(leg["id"])
        time.sleep(0.05)
    raise AssertionError(f"no leg from {number} joined")


@dataclass
class TalkRun:
    plan: Plan
    leg: str
    spurts: list[Spurt]
    messages: list[Change]  # this leg's talking changes as the WebSocket delivered them
    classes: list[Change]  # this leg's talking changes on the list item
    heard: list[float] | None  # when the listener got loud packets (None: no listener)
    clock_offset_s: float
    clock_uncertainty_s: float
    send: SendStats
    sipp_status: int


def run_talk(
    service: RunningService,
    demo: dict[str, Any],
    page: Page,
    workdir: Path,
    plan: Plan,
    *,
    caller: str = CALLER,
    phase_s: float = 0.0,
    listen: bool = False,
) -> TalkRun:
    """One call that follows ``plan`` while ``page`` (from :func:`open_roster`) watches; the
    talker starts ``phase_s`` after the bridge answers. With ``listen``, a second caller
    (:class:`Listener`) joins first and stays for the whole call."""
    with ExitStack() as stack:
        listener: Listener | None = None
        listening: SippCall | None = None
        if listen:
            listener = Listener()
            stack.callback(listener.close)
            listening = stack.enter_context(
                sipp_call(
                    service,
                    demo["pin"],
                    workdir / "listener",
                    listener.port,
                    plan.duration_s + 4.0,
                    LISTENER,
                )
            )
            listening.bridge_media()
            leg_id(service, demo, LISTENER)
        talker = Talker(plan)
        stack.callback(talker.close)
        call = stack.enter_context(
            sipp_call(
                service, demo["pin"], workdir / "talker", talker.port, plan.duration_s + 2.0, caller
            )
        )
        remote = call.bridge_media()
        talker.start(remote, phase_s)
        leg = leg_id(service, demo, caller)
        talker.wait(plan.duration_s + 30)
        # The last spurt's indicator goes dark about half a second after it ends.
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            _, classes = page_changes(page)
            mine = [c for c in classes if c.leg == leg]
            if mine and not mine[-1].talking:
                break
            time.sleep(0.1)
        messages, classes = page_changes(page)
        offset, uncertainty = clock_offset(page)
        status = call.finish(timeout=30)
        if listening is not None:
            status = status or listening.finish(timeout=30)
    return TalkRun(
        plan=plan,
        leg=leg,
        spurts=talker.spurts,
        messages=[m for m in messages if m.leg == leg],
        classes=[c for c in classes if c.leg == leg],
        heard=None if listener is None else list(listener.loud),
        clock_offset_s=offset,
        clock_uncertainty_s=uncertainty,
        send=talker.stats,
        sipp_status=status,
    )


@dataclass
class SpurtResult:
    """What the page showed for one spurt, in seconds after the spurt started (lit) or ended
    (dark); None when it did not happen before the next spurt started."""

    lit_after: float | None
    dark_after: float | None
    message_lit_after: float | None  # the WebSocket message that lit it
    message_dark_after: float | None
    extra_lights: int  # further times it lit before the next spurt (flicker, noise)
    heard_after: float | None = None  # the listener got the first loud packet (bridge side)
    # The sender's own worst lateness from 3 s before the spurt until 0.5 s into it: a stall
    # here (a busy machine) sends a burst, which makes the bridge's jitter buffer wait longer.
    sender_late_ms: float = 0.0


@dataclass
class Analysis:
    spurts: list[SpurtResult]
    lit_before_first_spurt: int  # times it lit during the first silence: false positives


def _first(changes: list[Change], talking: bool, after: float, before: float) -> float | None:
    for change in changes:
        if change.talking == talking and after <= change.t < before:
            return change.t
    return None


def spurt_results(run: TalkRun) -> Analysis:
    results = []
    starts = [s.started for s in run.spurts]
    for i, spurt in enumerate(run.spurts):
        window_end = starts[i + 1] if i + 1 < len(starts) else math.inf
        ended = spurt.ended if spurt.ended is not None else math.inf
        lit = _first(run.classes, True, spurt.started, window_end)
        dark = _first(run.classes, False, max(ended, lit or spurt.started), window_end)
        message_lit = _first(run.messages, True, spurt.started, window_end)
        message_dark = _first(run.messages, False, max(ended, message_lit or 0), window_end)
        lights = [c for c in run.classes if c.talking and spurt.started <= c.t < window_end]
        heard = next(
            (t for t in run.heard or () if spurt.started <= t < min(ended, window_end)), None
        )
        results.append(
            SpurtResult(
                lit_after=None if lit is None else lit - spurt.started,
                dark_after=None if dark is None or ended == math.inf else dark - ended,
                message_lit_after=None if message_lit is None else message_lit - spurt.started,
                message_dark_after=(
                    None if message_dark is None or ended == math.inf else message_dark - ended
                ),
                extra_lights=max(0, len(lights) - 1),
                heard_after=None if heard is None else heard - spurt.started,
                sender_late_ms=max(
                    (
                        late
                        for late, at in zip(run.send.late_ms, run.send.sent_at, strict=True)
                        if spurt.started - 3.0 <= at <= spurt.started + 0.5
                    ),
                    default=0.0,
                ),
            )
        )
    first = starts[0] if starts else math.inf
    early = [c for c in run.classes if c.talking and c.t < first]
    return Analysis(results, len(early))
