"""Callers joining the demo conference of a bridge under test: a baresip phone dials the
access number and keys the PIN, as a person would."""

from __future__ import annotations

from pathlib import Path

from tests.support import audio
from tests.support.bridge import BridgeHarness
from tests.support.peers import Baresip
from tests.support.waiting import wait_until

from callroster.conference.events import LegJoined
from callroster.media.prompt_library import prompt_frames

FRAME_SECONDS = 0.02


def prompt_seconds(*names: str) -> float:
    """How long the bridge takes to play these prompts (in real time, one 20 ms frame per
    tick): what a test waits for a caller to hear them out, as a person would."""
    return sum(len(prompt_frames(name)) for name in names) * FRAME_SECONDS


def _joined(harness: BridgeHarness) -> int:
    return sum(isinstance(event, LegJoined) for event in harness.events)


async def phone_joins(
    harness: BridgeHarness,
    workdir: Path,
    source: Path,
    seconds: float,
    name: str = "bob",
    *,
    key_pin: bool = True,
) -> Baresip:
    """baresip dials the access number, keys the PIN with RFC 4733 key presses while the
    prompt plays (digits barge in), and is on the call (its ``LegJoined`` published) when
    this returns. It plays ``source`` as its microphone and hangs up after ``seconds``.

    Without ``key_pin`` it dials the PIN itself as the number (the direct dial-in), for tests
    where how a listener got in is beside the point: keying eight digits takes 4 s."""
    phone = Baresip(workdir, source, name=name)
    before = _joined(harness)
    number = harness.demo.dial_in_number if key_pin else harness.demo.pin
    await phone.dial(f"sip:{number}@127.0.0.1:{harness.sip_port}", seconds)
    if key_pin:
        await phone.media_up()
        await phone.keys(harness.demo.pin + "#")
    await wait_until(lambda: _joined(harness) > before, 10, "the phone to join the call")
    return phone


async def listener_joins(
    harness: BridgeHarness, workdir: Path, seconds: float, *, key_pin: bool = True
) -> Baresip:
    """A phone that only listens (its microphone is silence) joins the call."""
    return await phone_joins(
        harness, workdir, audio.silence_file(workdir), seconds, key_pin=key_pin
    )
