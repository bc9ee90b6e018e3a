"""A browser's offer is outside input: whatever arrives, answering it either works or fails
with WebPeerError (the API's 422), never another exception (a 500) and never a leaked
connection."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.web_client import WebClient

from callroster.bridge.web_peer import WebPeer, WebPeerError


async def _real_offer() -> str:
    client = WebClient(1000.0)
    try:
        return await client.offer()
    finally:
        await client.close()


REAL_OFFER = asyncio.run(_real_offer())
LINES = REAL_OFFER.split("\r\n")


async def _answer(offer: str) -> str | None:
    closed: list[bool] = []
    peer = WebPeer(lambda packet: None, lambda: closed.append(True))
    try:
        return await peer.answer(offer)
    except WebPeerError:
        return None
    finally:
        peer.close()
        await asyncio.sleep(0)
        assert closed == [True]


def test_the_real_offer_is_answered_with_pcmu_only() -> None:
    answer = asyncio.run(_answer(REAL_OFFER))
    assert answer is not None
    [media] = [line for line in answer.split("\r\n") if line.startswith("m=")]
    assert media.startswith("m=audio ") and media.endswith(" 0")  # PCMU, nothing else
    assert "a=rtpmap:0 PCMU/8000" in answer and "a=candidate:" in answer


@st.composite
def mangled_offers(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "replace", "garble", "duplicate"]))
        if action == "drop":
            del lines[index]
        elif action == "replace":
            lines[index] = draw(st.text(max_size=40))
        elif action == "garble":
            line = lines[index]
            at = draw(st.integers(0, max(0, len(line) - 1)))
            lines[index] = line[:at] + draw(st.text(max_size=5)) + line[at + 1 :]
        else:
            lines.insert(index, lines[index])
        if not lines:
            lines = [""]
    return "\r\n".join(lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled_offers())
def test_a_mangled_offer_is_answered_or_refused_cleanly(offer: str) -> None:
    asyncio.run(_answer(offer))


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_answered_or_refused_cleanly(offer: str) -> None:
    asyncio.run(_answer(offer))
