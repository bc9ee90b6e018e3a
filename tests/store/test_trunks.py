"""SIP trunks: validated on the way in, routed by longest prefix, operators only, audited, and
the password encrypted at rest under a platform key that `keys rotate` re-wraps."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.store.raw_bytes import assert_found_when_planted, clear_forms, raw_views

from callroster.accounts.actor import Actor, Role, operator_cli, system
from callroster.config import Settings
from callroster.errors import NotFoundError
from callroster.privacy.keys import DecryptionError
from callroster.store.errors import AccessDeniedError, DuplicateError
from callroster.store.keys import TRUNK_SECRETS_PURPOSE
from callroster.store.models import PlatformKey, Trunk
from callroster.store.store import Store, open_store
from callroster.store.trunks import TrunkView, parse_trunk_uri

OPERATOR = operator_cli("test")
BRIDGE = system("dial-out")
PASSWORD = "Tr0mb0ne-Quasar-7731"


def _carrier(store: Store, name: str = "carrier", **overrides: object) -> TrunkView:
    arguments: dict[str, object] = {
        "uri": "sip:carrier.example:5080;transport=tcp",
        "username": "bridge01",
        "password": PASSWORD,
        "prefixes": ["+44", "+1"],
        "caller_id": "+44 20 7946 0000",
    }
    arguments.update(overrides)
    return store.trunks.add(OPERATOR, name, **arguments)  # type: ignore[arg-type]


def test_add_list_and_remove(store: Store) -> None:
    view = _carrier(store)
    assert (view.name, view.uri, view.host, view.port, view.transport) == (
        "carrier",
        "sip:carrier.example:5080;transport=tcp",
        "carrier.example",
        5080,
        "tcp",
    )
    assert (view.username, view.has_password, view.prefixes, view.caller_id) == (
        "bridge01",
        True,
        ("+1", "+44"),
        "+442079460000",
    )
    # A view carries no password at all, not even masked.
    assert not hasattr(view, "password") and PASSWORD not in repr(view)
    plain = store.trunks.add(OPERATOR, "lab-pbx", "sip:127.0.0.1")
    assert (plain.uri, plain.username, plain.has_password, plain.prefixes) == (
        "sip:127.0.0.1:5060;transport=udp",
        None,
        False,
        (),
    )
    assert store.trunks.list(OPERATOR) == [view, plain]
    store.trunks.remove(OPERATOR, "carrier")
    assert [t.name for t in store.trunks.list(OPERATOR)] == ["lab-pbx"]
    with pytest.raises(NotFoundError, match="no trunk named 'carrier'"):
        store.trunks.remove(OPERATOR, "carrier")


def test_a_name_is_taken_once(store: Store) -> None:
    _carrier(store)
    with pytest.raises(DuplicateError, match="'carrier' already exists"):
        _carrier(store)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sip:carrier.example:5060;transport=tcp", ("carrier.example", 5060, "tcp")),
        ("sip:127.0.0.1:5080", ("127.0.0.1", 5080, "udp")),
        ("sip:Carrier.Example", ("carrier.example", 5060, "udp")),
        ("sip:[2001:db8::1]:5070;transport=UDP", ("2001:db8::1", 5070, "udp")),
        # TLS: the carrier's certificate is verified (5061 by default)
        ("sips:carrier.example", ("carrier.example", 5061, "tls")),
        ("sip:carrier.example;transport=tls", ("carrier.example", 5061, "tls")),
        ("sips:carrier.example:5071;transport=tls", ("carrier.example", 5071, "tls")),
    ],
)
def test_uri_forms(uri: str, expected: tuple[str, int, str]) -> None:
    assert parse_trunk_uri(uri) == expected


BAD_INPUT: list[tuple[dict[str, object], str]] = [
    ({"uri": "http://carrier.example"}, "is not a SIP URI: write sip:HOST[:PORT]"),
    ({"uri": "carrier.example"}, "is not a SIP URI"),
    ({"uri": "sip:"}, "is not a SIP URI"),
    ({"uri": "sip:carrier.example:0"}, "trunk port 0 is out of range (1 to 65535)"),
    ({"uri": "sip:carrier.example:70000"}, "trunk port 70000 is out of range"),
    ({"uri": "sip:carrier.example;transport=sctp"}, "transport 'sctp' is not supported"),
    ({"uri": "sips:carrier.example;transport=tcp"}, "a sips: trunk is reached over TLS only"),
    ({"uri": "sip:carrier.example;lr"}, "parameter ;lr is not understood"),
    ({"uri": "sip:carrier.example?subject=x"}, "takes no headers"),
    ({"uri": f"sip:bridge01:{PASSWORD}@carrier.example"}, "no user part"),
    ({"prefixes": ["44"]}, "trunk prefix '44' is not an E.164 prefix"),
    ({"prefixes": ["+44", "+0"]}, "trunk prefix '+0' is not an E.164 prefix"),
    ({"prefixes": ["+999"]}, "'+999' does not begin with a country calling code"),
    ({"caller_id": "020 7946 0000"}, "must be in E.164 form"),
    ({"caller_id": "+44"}, "caller ID '+44' is not a possible E.164 number"),
    ({"username": None}, "a trunk password needs a username"),
    ({"password": "tab\there"}, "trunk password must be 1 to 256 characters"),
    ({"password": ""}, "trunk password must be 1 to 256 characters"),
    ({"name": "two words"}, "trunk name 'two words' must be 1 to 64 letters"),
]


def test_bad_input_is_refused_with_a_clear_message_and_nothing_is_written(store: Store) -> None:
    for case, message in BAD_INPUT:
        overrides = dict(case)
        name = str(overrides.pop("name", "carrier"))
        with pytest.raises(ValueError) as raised:
            _carrier(store, name, **overrides)
        assert message in str(raised.value), (overrides, str(raised.value))
        assert PASSWORD not in str(raised.value)
    assert store.trunks.list(OPERATOR) == []
    assert [e.action for e in store.audit.entries()] == ["trunk.list"]


def test_longest_prefix_wins_and_a_trunk_without_prefixes_serves_the_rest(store: Store) -> None:
    store.trunks.add(OPERATOR, "uk", "sip:uk.example", prefixes=["+44"])
    store.trunks.add(OPERATOR, "london", "sip:london.example", prefixes=["+4420", "+3531"])
    store.trunks.add(OPERATOR, "americas", "sip:nanp.example", prefixes=["+1"])
    store.trunks.add(OPERATOR, "uk-backup", "sip:uk2.example", prefixes=["+44"])  # a tie

    def routed(number: str) -> tuple[str, str | None] | None:
        route = store.trunks.route(BRIDGE, number)
        return (route.name, route.matched_prefix) if route else None

    assert routed("+442079460123") == ("london", "+4420")
    assert routed("020 7946 0123") == ("london", "+4420")  # national, read as GB
    assert routed("+447700900123") == ("uk", "+44")  # the tie goes to the first added
    assert routed("+14155550100") == ("americas", "+1")
    assert routed("+33142685300") is None  # nobody serves France yet
    store.trunks.add(OPERATOR, "everything", "sip:wholesale.example")
    assert routed("+33142685300") == ("everything", None)
    assert routed("+442079460123") == ("london", "+4420")  # a prefix still beats no prefix
    with pytest.raises(ValueError, match="not a phone number"):
        store.trunks.route(BRIDGE, "not a number")


def test_route_carries_the_credentials_but_never_shows_the_password(store: Store) -> None:
    _carrier(store)
    store.trunks.add(OPERATOR, "open", "sip:open.example", prefixes=["+33"])
    route = store.trunks.route(BRIDGE, "+447700900123")
    assert route is not None
    assert (route.host, route.port, route.transport) == ("carrier.example", 5080, "tcp")
    assert (route.username, route.password, route.caller_id) == (
        "bridge01",
        PASSWORD,
        "+442079460000",
    )
    assert PASSWORD not in repr(route) and PASSWORD not in str(route)
    unauthenticated = store.trunks.route(OPERATOR, "+33142685300")
    assert unauthenticated is not None
    assert (unauthenticated.username, unauthenticated.password) == (None, None)


def test_the_password_is_not_in_the_database_in_clear(
    store: Store, settings: Settings, request: pytest.FixtureRequest
) -> None:
    view = _carrier(store)
    with store.sessions() as session:
        row = session.get_one(Trunk, view.id)
        key = session.get_one(PlatformKey, TRUNK_SECRETS_PURPOSE)
    assert row.password_enc is not None and PASSWORD.encode() not in row.password_enc
    assert key.wrapped_key  # the trunk-secrets key exists only wrapped
    store.close()
    views = raw_views(settings, request)
    for raw in views:
        for form in clear_forms(PASSWORD):
            assert form not in raw
    # The ciphertext is what is there (so the search above looked in the right place).
    assert any(row.password_enc.hex().encode() in raw or row.password_enc in raw for raw in views)
    # The positive control: the same search finds the password once it is there.
    assert_found_when_planted(settings, request, PASSWORD)


def test_a_password_moved_to_another_trunk_does_not_decrypt(store: Store) -> None:
    carrier = _carrier(store)
    other = _carrier(store, "other", prefixes=["+33"])
    with store.sessions.begin() as session:
        source = session.get_one(Trunk, carrier.id)
        session.get_one(Trunk, other.id).password_enc = source.password_enc
    assert store.trunks.route(BRIDGE, "+447700900123") is not None
    with pytest.raises(DecryptionError):
        store.trunks.route(BRIDGE, "+33142685300")


def test_keys_rotate_leaves_trunk_passwords_readable(store: Store, settings: Settings) -> None:
    _carrier(store)
    running = store  # the service, up throughout

    operator = open_store(settings)  # the `callroster keys rotate` process
    try:
        new_id, rewrapped = operator.keys.rotate_master_key()
    finally:
        operator.close()

    assert rewrapped == 1  # the trunk-secrets key (nothing else exists yet)
    with running.sessions() as session:
        assert session.get_one(PlatformKey, TRUNK_SECRETS_PURPOSE).master_key_id == new_id
    route = running.trunks.route(BRIDGE, "+447700900123")
    assert route is not None and route.password == PASSWORD
    restarted = open_store(settings)  # nothing cached: unwraps under the new master key
    try:
        route = restarted.trunks.route(BRIDGE, "+447700900123")
        assert route is not None and route.password == PASSWORD
        # A trunk added after the rotation uses the same, re-wrapped key.
        restarted.trunks.add(
            OPERATOR, "later", "sip:later.example", username="u", password="s3cond"
        )
        later = restarted.trunks.route(BRIDGE, "+33142685300")
        assert later is not None and later.password == "s3cond"
        assert restarted.keys.master_key_ids_in_use() == {new_id}
    finally:
        restarted.close()


@pytest.mark.parametrize("role", [Role.ADMINISTRATOR, Role.HOST, Role.DELEGATE, Role.GUEST])
def test_only_operators_and_the_system_may_touch_trunks(store: Store, role: Role) -> None:
    _carrier(store)
    account_id = store.accounts.create_account(OPERATOR, "Customer LLP", "london")
    customer = Actor("u1", role, account_id, "192.0.2.9", "test")
    with pytest.raises(AccessDeniedError, match="may not manage SIP trunks"):
        store.trunks.add(customer, "mine", "sip:mine.example")
    with pytest.raises(AccessDeniedError):
        store.trunks.list(customer)
    with pytest.raises(AccessDeniedError):
        store.trunks.route(customer, "+447700900123")
    with pytest.raises(AccessDeniedError):
        store.trunks.remove(customer, "carrier")
    assert [t.name for t in store.trunks.list(BRIDGE)] == ["carrier"]


def test_every_call_is_audited_by_trunk_id_without_the_password(store: Store) -> None:
    view = _carrier(store)
    store.trunks.list(OPERATOR)
    store.trunks.route(BRIDGE, "+447700900123")
    store.trunks.route(BRIDGE, "+33142685300")
    store.trunks.remove(OPERATOR, "carrier")
    entries = list(reversed(store.audit.entries()))
    assert [(e.actor, e.action, e.subject, e.account_id) for e in entries] == [
        ("operator:cli", "trunk.add", f"trunk:{view.id}", None),
        ("operator:cli", "trunk.list", "trunks", None),
        ("system:callroster", "trunk.route", f"trunk:{view.id}", None),
        ("system:callroster", "trunk.route", "trunk:none", None),
        ("operator:cli", "trunk.remove", f"trunk:{view.id}", None),
    ]
    for entry in entries:
        text = " ".join((entry.actor, entry.action, entry.subject, entry.source, entry.reason))
        assert PASSWORD not in text and "7700900123" not in text
    assert store.audit.verify() is None


def test_the_trunk_secrets_key_is_made_only_when_a_password_is_stored(store: Store) -> None:
    def purposes() -> list[str]:
        with store.sessions() as session:
            return list(session.scalars(select(PlatformKey.purpose)))

    store.trunks.add(OPERATOR, "open", "sip:open.example")
    assert TRUNK_SECRETS_PURPOSE not in purposes()
    _carrier(store)
    _carrier(store, "second", prefixes=["+33"])
    assert purposes().count(TRUNK_SECRETS_PURPOSE) == 1
