"""Issue 12, finding 10: a re-INVITE that moves a call's media was taken from any address.

The tags that name a dialog (Call-ID, From and To tags) travel in clear. Whoever learnt them
could send, from anywhere, a re-INVITE whose offer points the call's audio at themselves, and
the bridge would send them everything the conference says. Against a real
``callroster serve``, from raw UDP sockets on loopback: a caller at 127.0.0.1 joins the demo
conference; a stranger at 127.0.0.2 sends that call a re-INVITE with the right tags and an
offer naming its own port. It must get 403 with a ``Warning``, receive no audio, and the
caller must go on receiving it. The positive control: the same re-INVITE from the caller's
own address does move the audio, so the refusal is what stopped the stranger.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.support.service import RunningService, running_service

from callroster.sip.message import Response, parse_message

STRANGER = "127.0.0.2"
LISTEN = 1.5  # seconds of audio counted at each end (75 packets at 20 ms)


def sdp(host: str, port: int) -> bytes:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    ).encode()


class Dialog:
    """The caller's side of one call, as raw SIP over UDP."""

    def __init__(self, service: RunningService, pin: str) -> None:
        self.target = ("127.0.0.1", service.sip_port)
        self.uri = f"sip:{pin}@127.0.0.1:{service.sip_port}"
        self.call_id = f"{secrets.token_hex(8)}@127.0.0.1"
        self.from_tag = secrets.token_hex(4)
        self.to_tag = ""
        self.cseq = 1

    def request(self, method: str, via: tuple[str, int], body: bytes = b"", cseq: int = 0) -> bytes:
        host, port = via
        to_tag = f";tag={self.to_tag}" if self.to_tag else ""
        lines = [
            f"{method} {self.uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {host}:{port};rport;branch=z9hG4bK{secrets.token_hex(6)}",
            "Max-Forwards: 70",
            f"From: <sip:caller@127.0.0.1>;tag={self.from_tag}",
            f"To: <{self.uri}>{to_tag}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq or self.cseq} {method}",
            f"Contact: <sip:caller@{host}:{port}>",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def final_answer(sock: socket.socket, timeout: float = 10.0) -> Response:
    sock.settimeout(timeout)
    while True:
        message = parse_message(sock.recv(65535))
        if isinstance(message, Response) and message.status >= 200:
            return message


def packets_within(sockets: list[socket.socket], seconds: float) -> list[int]:
    """How many datagrams each socket receives in ``seconds``."""
    counts = [0] * len(sockets)
    for sock in sockets:
        sock.setblocking(False)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for index, sock in enumerate(sockets):
            try:
                while sock.recv(2048):
                    counts[index] += 1
            except BlockingIOError:
                pass
        time.sleep(0.005)
    return counts


def udp(stack: ExitStack, host: str) -> socket.socket:
    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    sock.bind((host, 0))
    return sock


@contextmanager
def joined_call(
    service: RunningService, stack: ExitStack
) -> Iterator[tuple[Dialog, socket.socket, socket.socket]]:
    """A caller at 127.0.0.1 that dialled the demo's PIN directly and hears the conference:
    its dialog, SIP socket and RTP socket."""
    dialog = Dialog(service, service.demo()["pin"])
    sip, rtp = udp(stack, "127.0.0.1"), udp(stack, "127.0.0.1")
    sip.sendto(
        dialog.request("INVITE", sip.getsockname(), sdp("127.0.0.1", rtp.getsockname()[1])),
        dialog.target,
    )
    ok = final_answer(sip)
    assert ok.status == 200, ok.status
    dialog.to_tag = (ok.get("To") or "").split(";tag=")[1]
    sip.sendto(dialog.request("ACK", sip.getsockname(), cseq=1), dialog.target)
    assert packets_within([rtp], 1.0)[0] > 0  # the conference's audio (or its prompt) flows
    yield dialog, sip, rtp


def test_a_stranger_with_the_calls_tags_cannot_move_its_audio(tmp_path: Path) -> None:
    with running_service(tmp_path / "data") as service, ExitStack() as stack:
        with joined_call(service, stack) as (dialog, sip, rtp):
            stranger_sip, stranger_rtp = udp(stack, STRANGER), udp(stack, STRANGER)
            dialog.cseq += 1
            offer = sdp(STRANGER, stranger_rtp.getsockname()[1])
            stranger_sip.sendto(
                dialog.request("INVITE", stranger_sip.getsockname(), offer), dialog.target
            )
            refused = final_answer(stranger_sip)
            assert refused.status == 403
            assert "Not from this call's peer" in (refused.get("Warning") or "")
            caller_heard, stranger_heard = packets_within([rtp, stranger_rtp], LISTEN)
            assert stranger_heard == 0
            assert caller_heard >= 0.8 * LISTEN / 0.02, caller_heard

            # Positive control: the caller, from its own address, moves its audio the same way.
            moved = udp(stack, "127.0.0.1")
            dialog.cseq += 1
            offer = sdp("127.0.0.1", moved.getsockname()[1])
            sip.sendto(dialog.request("INVITE", sip.getsockname(), offer), dialog.target)
            ok = final_answer(sip)
            assert ok.status == 200
            sip.sendto(dialog.request("ACK", sip.getsockname(), cseq=dialog.cseq), dialog.target)
            packets_within([rtp, moved], 0.3)  # what was already on its way to the old port
            old_port, new_port = packets_within([rtp, moved], LISTEN)
            assert new_port >= 0.8 * LISTEN / 0.02 and old_port == 0, (old_port, new_port)
            sip.sendto(
                dialog.request("BYE", sip.getsockname(), cseq=dialog.cseq + 1), dialog.target
            )
