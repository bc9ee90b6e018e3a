"""Random sequences of datagrams (valid, mutated, garbage), commands and timer firings: the
endpoint never raises, and its state stays bounded and drains once time moves on."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.sip.peers import (
    ANSWER_SDP,
    SENDONLY_SDP,
    TARGET,
    SippUac,
    advance,
    bridge,
    pair,
    pump,
    reply,
)

from callroster.sip.endpoint import MAX_STREAMS, Credentials, Outgoing, SipEndpoint
from callroster.sip.message import Request, SipError, parse_message, serialise
from callroster.sip.transaction import Transport

FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
LIMITS = {"max_calls": 3, "max_transactions": 12}
METHODS = ["INVITE", "ACK", "BYE", "CANCEL", "INFO", "UPDATE", "OPTIONS", "REGISTER", "PRACK"]
EXTRAS: list[list[tuple[str, str]]] = [
    [],
    [("Supported", "timer"), ("Session-Expires", "90;refresher=uas")],
    [("Supported", "timer"), ("Session-Expires", "90")],
    [("Session-Expires", "30")],
    [("Record-Route", "<sip:proxy.example.net;lr>")],
    [("Record-Route", "<sip:strict.example.net>")],
    [("Require", "100rel")],
    [("Allow", "INVITE, UPDATE")],
]
Mutation = tuple[str, int, bytes]


@dataclass(frozen=True)
class PeerRequest:
    """A sipp-shaped request from one of four callers."""

    number: int
    method: str
    to_tag: int  # -2: none, -1: a wrong one, n: the n-th tag the endpoint chose
    cseq: int
    branch: int
    transport: Transport
    extra: int
    mutation: Mutation


@dataclass(frozen=True)
class DialogRequest:
    """The peer's next request in a dialog one of our responses set up."""

    index: int
    method: str
    cseq_step: int
    extra: int
    mutation: Mutation


@dataclass(frozen=True)
class Reply:
    """A peer's response to one of our requests."""

    index: int
    status: int


@dataclass(frozen=True)
class Echo:
    """One of our own datagrams, perhaps mutated, fed back in."""

    index: int
    mutation: Mutation


@dataclass(frozen=True)
class Garbage:
    data: bytes
    transport: Transport


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class Answer:
    index: int
    status: int


@dataclass(frozen=True)
class Hangup:
    index: int


@dataclass(frozen=True)
class Dial:
    transport: Transport


Step = PeerRequest | DialogRequest | Reply | Echo | Garbage | Wait | Answer | Hangup | Dial

mutations = st.tuples(
    st.sampled_from(["none"] * 6 + ["truncate", "flip", "insert"]),
    st.integers(0, 2000),
    st.binary(min_size=1, max_size=12)
    | st.sampled_from([b";", b",", b"\r\n", b" ", b"<", b"\x00"]),
)
extras = st.sampled_from([0, 0, 0, *range(len(EXTRAS))])
transports: st.SearchStrategy[Transport] = st.sampled_from(["udp", "udp", "tcp", "tls"])
steps: st.SearchStrategy[Step] = st.one_of(
    st.builds(
        PeerRequest,
        st.integers(1, 4),
        st.sampled_from(METHODS),
        st.integers(-2, 7),
        st.integers(0, 4),
        st.integers(0, 3),
        transports,
        extras,
        mutations,
    ),
    st.builds(  # a clean new call
        PeerRequest,
        st.integers(1, 4),
        st.just("INVITE"),
        st.just(-2),
        st.integers(0, 4),
        st.integers(0, 3),
        transports,
        st.sampled_from([0, 1, 2, 4]),
        st.just(("none", 0, b"")),
    ),
    st.builds(
        DialogRequest,
        st.integers(0, 7),
        st.sampled_from(["ACK", "ACK", "BYE", "INFO", "INVITE", "UPDATE", "CANCEL", "OPTIONS"]),
        st.integers(-1, 2),
        extras,
        mutations,
    ),
    st.builds(Reply, st.integers(0, 7), st.sampled_from([100, 180, 200, 200, 401, 407, 481, 491])),
    st.builds(Echo, st.integers(0, 15), mutations),
    st.builds(Garbage, st.binary(max_size=200), transports),
    st.builds(Wait, st.floats(0, 40, allow_nan=False)),
    st.builds(Answer, st.integers(0, 5), st.sampled_from([180, 183, 200, 200, 486])),
    st.builds(Hangup, st.integers(0, 5)),
    st.builds(Dial, transports),
)


def mutate(data: bytes, mutation: Mutation) -> bytes:
    kind, at, stuff = mutation
    at = at % (len(data) + 1)
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        return data[:at] + stuff[:1] + data[at + 1 :]
    if kind == "insert":
        return data[:at] + stuff + data[at:]
    return data


def recent(items: list[Outgoing], item: Outgoing, keep: int) -> list[Outgoing]:
    return (items + [item])[-keep:]


@dataclass
class World:
    """The endpoint under test and what the fake peers remember of it."""

    endpoint: SipEndpoint
    now: float = 0.0
    sent: list[Outgoing] = field(default_factory=list)  # everything, for Echo
    requests: list[Outgoing] = field(default_factory=list)  # our requests, for Reply
    answers: list[Outgoing] = field(default_factory=list)  # tagged INVITE responses
    tags: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # Call-IDs the events named

    def drain(self) -> None:
        for out in self.endpoint.datagrams():
            self.sent = recent(self.sent, out, 16)
            try:
                message = parse_message(out.data)
            except SipError:
                continue
            if isinstance(message, Request):
                if message.method != "ACK":
                    self.requests = recent(self.requests, out, 8)
                continue
            tag = (message.get("To") or "").partition(";tag=")[2]
            if tag and (message.get("CSeq") or "").endswith("INVITE"):
                self.answers = recent(self.answers, out, 8)
                self.tags = [t for t in self.tags if t != tag][-7:] + [tag]
        for event in self.endpoint.events():
            if event.call_id not in self.calls:
                self.calls = (self.calls + [event.call_id])[-6:]

    def deliver(self, data: bytes, source: tuple[str, int], transport: Transport) -> None:
        self.endpoint.receive(data, source, transport, self.now)


def peer_request(world: World, step: PeerRequest) -> None:
    peer = SippUac(step.number, transport=step.transport.upper())
    if step.to_tag == -1:
        peer.to_tag = "wrong"
    elif step.to_tag >= 0 and world.tags:
        peer.to_tag = world.tags[step.to_tag % len(world.tags)]
    body = SENDONLY_SDP if step.method in ("INVITE", "INFO") else b""
    request = peer.request(
        step.method,
        cseq=step.cseq,
        branch=f"z9hG4bK-{step.number}-{step.branch}",
        body=body,
        content_type="application/sdp" if body else None,
        extra=EXTRAS[step.extra],
    )
    world.deliver(mutate(serialise(request), step.mutation), peer.source, step.transport)


def dialog_request(world: World, step: DialogRequest) -> None:
    if not world.answers:
        return
    out = world.answers[step.index % len(world.answers)]
    response = parse_message(out.data)
    number = int((response.get("CSeq") or "0").split()[0])
    if step.method not in ("ACK", "CANCEL"):
        number = max(number + step.cseq_step, 0)
    body = SENDONLY_SDP if step.method in ("INVITE", "UPDATE") else b""
    via = (response.get("Via") or "").split(";")[0]
    headers = [
        ("Via", f"{via};branch=z9hG4bK-d{len(world.sent)}-{world.now}"),
        *((name, response.get(name) or "") for name in ("From", "To", "Call-ID")),
        ("CSeq", f"{number} {step.method}"),
        ("Contact", "<sip:sipp@127.0.1.1:5061>"),
        ("Max-Forwards", "70"),
        *EXTRAS[step.extra],
    ]
    if body:
        headers.append(("Content-Type", "application/sdp"))
    request = Request(step.method, "sip:service@127.0.0.1:5060", headers, body)
    world.deliver(mutate(serialise(request), step.mutation), out.destination, out.transport)


def apply(world: World, step: Step) -> None:
    ep = world.endpoint
    call_id = "none"
    if isinstance(step, Answer | Hangup) and world.calls:
        call_id = world.calls[step.index % len(world.calls)]
    match step:
        case PeerRequest():
            peer_request(world, step)
        case DialogRequest():
            dialog_request(world, step)
        case Reply(index, status) if world.requests:
            out = world.requests[index % len(world.requests)]
            extra = [("Contact", "<sip:bob@127.0.0.2:5070>"), ("Allow", "UPDATE")]
            if status in (401, 407):  # a digest challenge, now and then a stale one
                nonce, stale = len(world.sent), ", stale=true" if index % 2 else ""
                header = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
                extra.append((header, f'Digest realm="r{index % 2}", nonce="n{nonce}"{stale}'))
            world.deliver(
                reply(out.data, status, "Reason", extra_headers=extra),
                out.destination,
                out.transport,
            )
        case Echo(index, mutation) if world.sent:
            out = world.sent[index % len(world.sent)]
            world.deliver(mutate(out.data, mutation), out.destination, out.transport)
        case Garbage(data, transport):
            world.deliver(data, ("198.51.100.7", 5060), transport)
        case Wait(seconds):
            world.now += seconds
            ep.handle_timer(world.now)
        case Answer(_, status):
            ep.answer(call_id, status, "Reason", body=ANSWER_SDP, content_type="application/sdp")
        case Hangup():
            ep.hangup(call_id, world.now)
        case Dial(transport) if ep.counts["calls"] < LIMITS["max_calls"]:
            ep.dial(
                TARGET,
                ("127.0.0.2", 5070),
                transport,
                world.now,
                body=ANSWER_SDP,
                credentials=Credentials("trunk", "secret"),
            )
    world.drain()


def check_bounds(ep: SipEndpoint) -> None:
    # next_timer() is cached between state changes; it must equal a fresh scan.
    assert ep.next_timer() == ep._scan_timers()
    counts = ep.counts
    assert counts["calls"] <= LIMITS["max_calls"]
    assert counts["server_transactions"] <= LIMITS["max_transactions"]
    assert counts["client_transactions"] <= LIMITS["max_transactions"]
    assert counts["streams"] <= MAX_STREAMS


@FUZZ
@given(st.lists(steps, max_size=40))
def test_random_traffic_never_raises_and_state_stays_bounded(script: list[Step]) -> None:
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
        world.now = max(deadline, world.now)
        ep.handle_timer(world.now)
        ep.datagrams(), ep.events()
    assert ep.next_timer() is None
    assert ep.counts["server_transactions"] == 0 and ep.counts["client_transactions"] == 0


@FUZZ
@given(
    st.lists(st.booleans(), max_size=60),
    st.lists(
        st.sampled_from(["ring", "answer", "reject", "hangup_a", "hangup_b", "wait"]), max_size=8
    ),
    st.sampled_from(["udp", "tcp", "tls"]),
)
def test_random_loss_between_two_endpoints_leaves_no_state(
    losses: list[bool], actions: list[str], transport: Transport
) -> None:
    a, b = pair(session_expires=90)
    pattern = iter(losses)

    def drop(out: Outgoing) -> bool:
        return next(pattern, False)

    now = 0.0
    call_id = a.dial(TARGET, ("127.0.0.2", 5070), transport, now, body=ANSWER_SDP)
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
