"""Random sequences of datagrams (valid, mutated, garbage), commands and timer firings: the
endpoint never raises, and its state stays bounded and drains once time moves on."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.sip.sipp import ANSWER_SDP, SENDONLY_SDP, SippUac, bridge, reply
from tests.sip.test_uac import TARGET, advance, pair, pump

from callroster.sip.endpoint import MAX_STREAMS, Outgoing, SipEndpoint
from callroster.sip.message import Request, SipError, parse_message, serialise

FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
LIMITS = {"max_calls": 3, "max_transactions": 12}
METHODS = ["INVITE", "ACK", "BYE", "CANCEL", "INFO", "UPDATE", "OPTIONS", "REGISTER", "PRACK"]
EXTRAS = [
    [],
    [("Supported", "timer"), ("Session-Expires", "90;refresher=uas")],
    [("Supported", "timer"), ("Session-Expires", "90")],
    [("Session-Expires", "30")],
    [("Record-Route", "<sip:proxy.example.net;lr>")],
    [("Record-Route", "<sip:strict.example.net>")],
    [("Require", "100rel")],
    [("Allow", "INVITE, UPDATE")],
]


@dataclass
class World:
    endpoint: SipEndpoint
    now: float = 0.0
    sent: list[Outgoing] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # To tags the endpoint chose, for the peer

    def drain(self) -> None:
        out = self.endpoint.datagrams()
        self.sent = (self.sent + out)[-16:]
        self.endpoint.events()
        for datagram in out:
            head = datagram.data.split(b"\r\n\r\n", 1)[0]
            for line in head.split(b"\r\n"):
                if line.startswith(b"To:") and b";tag=" in line:
                    tag = line.split(b";tag=")[1].decode(errors="replace")
                    if tag not in self.tags:
                        self.tags = (self.tags + [tag])[-8:]


def mutate(data: bytes, mutation: tuple[str, int, bytes]) -> bytes:
    kind, at, stuff = mutation
    at = at % (len(data) + 1)
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        return data[:at] + stuff[:1] + data[at + 1 :]
    if kind == "insert":
        return data[:at] + stuff + data[at:]
    return data


mutations = st.tuples(
    st.sampled_from(["none"] * 6 + ["truncate", "flip", "insert"]),
    st.integers(0, 2000),
    st.binary(min_size=1, max_size=12)
    | st.sampled_from([b";", b",", b"\r\n", b" ", b"<", b"\x00"]),
)
peer_messages = st.tuples(
    st.just("peer"),
    st.integers(1, 4),  # call number
    st.sampled_from(METHODS),
    st.integers(-2, 7),  # To tag: none, a wrong one, or one the endpoint chose
    st.integers(0, 4),  # CSeq
    st.integers(0, 3),  # branch
    st.sampled_from(["UDP", "UDP", "TCP"]),
    st.sampled_from([0, 0, 0, *range(len(EXTRAS))]),
    mutations,
)
steps = st.one_of(
    peer_messages,
    st.tuples(st.just("timer"), st.floats(0, 40, allow_nan=False)),
    st.tuples(st.just("answer"), st.integers(1, 4), st.sampled_from([180, 183, 200, 200, 486])),
    st.tuples(st.just("hangup"), st.integers(1, 4)),
    st.tuples(st.just("dial"), st.sampled_from(["udp", "tcp"])),
    st.tuples(
        st.just("reply"), st.integers(0, 15), st.sampled_from([100, 180, 200, 200, 481, 491])
    ),
    st.tuples(st.just("echo"), st.integers(0, 15), mutations),
    st.tuples(st.just("garbage"), st.binary(max_size=200), st.sampled_from(["udp", "tcp"])),
)


def message_for(world: World, step: tuple[object, ...]) -> tuple[bytes, tuple[str, int], str]:
    _, number, method, tag, cseq, branch, transport, extra, mutation = step
    peer = SippUac(number, transport=str(transport))  # type: ignore[arg-type]
    assert isinstance(tag, int)
    if tag == -1:
        peer.to_tag = "wrong"
    elif tag >= 0 and world.tags:
        peer.to_tag = world.tags[tag % len(world.tags)]
    body, content_type = b"", None
    if method in ("INVITE", "INFO"):
        body, content_type = SENDONLY_SDP, "application/sdp"
    request = peer.request(
        str(method),
        cseq=int(cseq),  # type: ignore[call-overload]
        branch=f"z9hG4bK-{number}-{branch}",
        body=body,
        content_type=content_type,
        extra=EXTRAS[extra],  # type: ignore[index]
    )
    data = mutate(serialise(request), mutation)  # type: ignore[arg-type]
    return data, peer.source, "tcp" if transport == "TCP" else "udp"


def apply(world: World, step: tuple[object, ...]) -> None:
    ep, kind = world.endpoint, step[0]
    call_id = f"{step[1]}-3862@127.0.1.1" if kind in ("answer", "hangup") else ""
    if kind == "peer":
        data, source, transport = message_for(world, step)
        ep.receive(data, source, transport, world.now)  # type: ignore[arg-type]
    elif kind == "timer":
        world.now += float(step[1])  # type: ignore[arg-type]
        ep.handle_timer(world.now)
    elif kind == "answer":
        ep.answer(call_id, int(step[2]), "Reason", body=ANSWER_SDP, content_type="application/sdp")  # type: ignore[call-overload]
    elif kind == "hangup":
        ep.hangup(call_id, world.now)
    elif kind == "dial":
        if ep.counts["calls"] < LIMITS["max_calls"]:
            ep.dial(TARGET, ("127.0.0.2", 5070), step[1], world.now, body=ANSWER_SDP)  # type: ignore[arg-type]
    elif kind == "reply" and world.sent:
        out = world.sent[int(step[1]) % len(world.sent)]  # type: ignore[call-overload]
        try:
            request = parse_message(out.data)
        except SipError:
            return
        if isinstance(request, Request) and request.method != "ACK":
            extra = [("Contact", "<sip:bob@127.0.0.2:5070>"), ("Allow", "UPDATE")]
            data = reply(out.data, int(step[2]), "Reason", extra_headers=extra)  # type: ignore[call-overload]
            ep.receive(data, out.destination, out.transport, world.now)
    elif kind == "echo" and world.sent:
        out = world.sent[int(step[1]) % len(world.sent)]  # type: ignore[call-overload]
        ep.receive(mutate(out.data, step[2]), out.destination, out.transport, world.now)  # type: ignore[arg-type]
    elif kind == "garbage":
        ep.receive(step[1], ("198.51.100.7", 5060), step[2], world.now)  # type: ignore[arg-type]
    world.drain()


def check_bounds(ep: SipEndpoint) -> None:
    counts = ep.counts
    assert counts["calls"] <= LIMITS["max_calls"]
    assert counts["server_transactions"] <= LIMITS["max_transactions"]
    assert counts["client_transactions"] <= LIMITS["max_transactions"]
    assert counts["streams"] <= MAX_STREAMS


@FUZZ
@given(st.lists(steps, max_size=40))
def test_random_traffic_never_raises_and_state_stays_bounded(
    script: list[tuple[object, ...]],
) -> None:
    world = World(bridge(**LIMITS))
    for step in script:
        apply(world, step)
        check_bounds(world.endpoint)
    # Left alone, every transaction ends and every timer stops.
    ep = world.endpoint
    for _ in range(10_000):
        deadline = ep.next_timer()
        if deadline is None:
            break
        ep.handle_timer(max(deadline, world.now))
        world.now = max(deadline, world.now)
        ep.datagrams(), ep.events()
    assert ep.next_timer() is None
    assert ep.counts["server_transactions"] == 0 and ep.counts["client_transactions"] == 0


@FUZZ
@given(
    st.lists(st.booleans(), max_size=60),
    st.lists(
        st.sampled_from(["ring", "answer", "reject", "hangup_a", "hangup_b", "wait"]), max_size=8
    ),
    st.sampled_from(["udp", "tcp"]),
)
def test_random_loss_between_two_endpoints_leaves_no_state(
    losses: list[bool], actions: list[str], transport: str
) -> None:
    a, b = pair(session_expires=90)
    pattern = iter(losses)

    def drop(out: Outgoing) -> bool:
        return next(pattern, False)

    now = 0.0
    call_id = a.dial(TARGET, ("127.0.0.2", 5070), transport, now, body=ANSWER_SDP)  # type: ignore[arg-type]
    for action in actions:
        pump(a, b, now, drop)
        if action == "ring":
            b.answer(call_id, 180, "Ringing", now=now)
        elif action == "answer":
            b.answer(call_id, 200, "OK", body=ANSWER_SDP, content_type="application/sdp", now=now)
        elif action == "reject":
            b.answer(call_id, 486, "Busy Here", now=now)
        elif action == "hangup_a":
            a.hangup(call_id, now)
        elif action == "hangup_b":
            b.hangup(call_id, now)
        now += 7.0
        advance(a, b, now, drop)
    a.hangup(call_id, now)
    b.hangup(call_id, now)
    advance(a, b, now + 1000.0, drop)
    for ep in (a, b):
        assert ep.counts == {
            "calls": 0,
            "server_transactions": 0,
            "client_transactions": 0,
            "streams": 0,
        }
        assert ep.next_timer() is None
