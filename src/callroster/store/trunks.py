"""SIP trunks: where calls to the public telephone network leave (dial-out).

A trunk is the operator's, not a customer account's, so only operator and system actors may
add, list, remove or route through one, and every such call is audit-logged with the trunk's
id (never its password). The password is encrypted under the platform's trunk-secrets key
(``KeyStore.trunk_secrets``), which the master key wraps and ``keys rotate`` re-wraps. It
leaves the store only in a ``TrunkRoute``, for the bridge to answer a digest challenge, and
never appears in a ``TrunkView``, a repr, a log line or an error message.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from callroster.accounts.actor import Actor, Role
from callroster.errors import NotFoundError
from callroster.privacy import normalise
from callroster.sip.message import BadRequest
from callroster.sip.uri import parse_uri
from callroster.store.errors import AccessDeniedError, DuplicateError
from callroster.store.models import CallRecord, Trunk
from callroster.store.repository import Repository

DEFAULT_PORT = 5060
DEFAULT_TLS_PORT = 5061
TRANSPORTS = ("udp", "tcp", "tls")
TRUNK_ROLES = (Role.OPERATOR, Role.SYSTEM)
URI_FORM = "sip:HOST[:PORT][;transport=udp|tcp|tls] or sips:HOST[:PORT]"
MAX_SECRET_LENGTH = 256

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PREFIX = re.compile(r"\+[1-9][0-9]{0,14}")
_PORT = re.compile(r":([0-9]+)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Country calling codes as strings ("1", "44", "800"): a prefix must start with one, or be
# the start of one ("+4" serves every +4x country).
_COUNTRY_CODES = frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@dataclass(frozen=True)
class TrunkView:
    """A trunk as the operator sees it. Carries no password, only whether one is set."""

    id: str
    name: str
    uri: str  # canonical: sip:HOST:PORT;transport=udp|tcp, or sips:HOST:PORT (TLS)
    host: str
    port: int
    transport: str
    username: str | None
    has_password: bool
    prefixes: tuple[str, ...]
    caller_id: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class TrunkRoute:
    """The trunk a number leaves through, with its credentials: for the bridge only.

    ``password`` is left out of the repr (and so of ``str``, logs and tracebacks' locals
    printed through repr).
    """

    trunk_id: str
    name: str
    uri: str
    host: str
    port: int
    transport: str
    username: str | None
    password: str | None = field(repr=False)
    caller_id: str | None
    matched_prefix: str | None  # None: the trunk serves every number


def trunk_uri(host: str, port: int, transport: str) -> str:
    """The canonical URI of a trunk (IPv6 hosts in brackets); ``sips:`` for TLS."""
    shown = f"[{host}]" if ":" in host else host
    if transport == "tls":
        return f"sips:{shown}:{port}"
    return f"sip:{shown}:{port};transport={transport}"


def parse_trunk_uri(uri: str) -> tuple[str, int, str]:
    """Host, port and transport of a trunk's URI.

    Args:
        uri: ``sip:carrier.example:5060;transport=tcp``, ``sip:127.0.0.1:5080``,
            ``sip:[2001:db8::1]``, ``sips:carrier.example`` (TLS, the carrier's certificate
            verified: ``sip:...;transport=tls`` is the same). The port defaults to 5060
            (5061 for TLS) and the transport to udp (tls for sips:).

    Raises:
        ValueError: the URI is not of that form; the message says what is wrong and never
            repeats a user part (which could hold a password).
    """
    text = uri.strip()
    scheme, colon, rest = text.partition(":")
    if "@" in text:
        raise ValueError(
            "a trunk URI names a host only, with no user part: "
            "give the username and password separately"
        )
    if not colon or not rest:
        raise ValueError(f"trunk URI {text!r} is not a SIP URI: write {URI_FORM}")
    if scheme.lower() not in ("sip", "sips"):
        raise ValueError(f"trunk URI {text!r} is not a SIP URI: write {URI_FORM}")
    hostport = rest.split(";", 1)[0].split("?", 1)[0]
    port_text = _PORT.search(hostport)
    if port_text and not 1 <= int(port_text.group(1)) <= 65535:
        raise ValueError(f"trunk port {int(port_text.group(1))} is out of range (1 to 65535)")
    try:
        parsed = parse_uri(text)
    except BadRequest:
        raise ValueError(f"trunk URI {text!r} is not a SIP URI: write {URI_FORM}") from None
    if not parsed.host:
        raise ValueError(f"trunk URI {text!r} has no host: write {URI_FORM}")
    if parsed.headers:
        raise ValueError("a trunk URI takes no headers (the part after '?')")
    unknown = sorted(set(parsed.params) - {"transport"})
    if unknown:
        raise ValueError(
            f"trunk URI parameter ;{unknown[0]} is not understood (only ;transport=udp|tcp|tls is)"
        )
    secure = parsed.scheme == "sips"
    transport = (parsed.params.get("transport") or ("tls" if secure else "udp")).lower()
    if transport not in TRANSPORTS:
        raise ValueError(f"trunk transport {transport!r} is not supported: udp, tcp or tls")
    if secure and transport != "tls":
        raise ValueError(f"a sips: trunk is reached over TLS only, not {transport}")
    default_port = DEFAULT_TLS_PORT if transport == "tls" else DEFAULT_PORT
    return parsed.host.lower(), parsed.port or default_port, transport


def normalise_prefix(raw: str) -> str:
    """An E.164 prefix: ``+`` and 1 to 15 digits starting a country calling code.

    Spaces, dots and hyphens are dropped (``"+44 20"`` is ``"+4420"``).

    Raises:
        ValueError: with a message naming the prefix and what is wrong with it.
    """
    text = re.sub(r"[\s.\-]", "", raw)
    if not _PREFIX.fullmatch(text):
        raise ValueError(
            f"trunk prefix {raw!r} is not an E.164 prefix: '+' then 1 to 15 digits, like +44"
        )
    digits = text[1:]
    starts_with_code = any(digits[:n] in _COUNTRY_CODES for n in (1, 2, 3))
    starts_a_code = any(code.startswith(digits) for code in _COUNTRY_CODES)
    if not (starts_with_code or starts_a_code):
        raise ValueError(f"trunk prefix {raw!r} does not begin with a country calling code")
    return text


def normalise_caller_id(raw: str) -> str:
    """A caller ID in E.164 (``+442079460123``); it must carry its country code.

    Raises:
        ValueError: it is not a possible international number.
    """
    if not raw.strip().startswith("+"):
        raise ValueError(f"caller ID {raw!r} must be in E.164 form: '+', country code, number")
    try:
        return normalise.phone_e164(raw, "ZZ")
    except normalise.InvalidValueError:
        raise ValueError(f"caller ID {raw!r} is not a possible E.164 number") from None


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"trunk name {name!r} must be 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _check_credentials(username: str | None, password: str | None) -> None:
    # Messages about the password say what is wrong with it, never what it is.
    if username is not None and (not username or len(username) > 128 or _CONTROL.search(username)):
        raise ValueError("trunk username must be 1 to 128 characters with no control characters")
    if password is None:
        return
    if username is None:
        raise ValueError("a trunk password needs a username (digest authentication uses both)")
    if not password or len(password) > MAX_SECRET_LENGTH or _CONTROL.search(password):
        raise ValueError(
            f"trunk password must be 1 to {MAX_SECRET_LENGTH} characters with no control characters"
        )


def _password_field(trunk_id: str) -> str:
    # The trunk's id is part of the associated data: a ciphertext copied to another trunk's
    # row does not decrypt.
    return f"trunks.password:{trunk_id}"


def _authorise_trunks(actor: Actor) -> None:
    if actor.role not in TRUNK_ROLES:
        raise AccessDeniedError(f"{actor.label} may not manage SIP trunks (operators only)")


def _match_length(prefixes: Iterable[str], e164: str) -> tuple[int, str | None] | None:
    """How well a trunk's prefixes match: (length of the longest match, that prefix); a trunk
    without prefixes matches with length 0; None when it does not serve the number."""
    listed = list(prefixes)
    if not listed:
        return 0, None
    best = max((p for p in listed if e164.startswith(p)), key=len, default=None)
    return (len(best), best) if best is not None else None


class TrunkRepository(Repository):
    def add(
        self,
        actor: Actor,
        name: str,
        uri: str,
        username: str | None = None,
        password: str | None = None,
        prefixes: Iterable[str] = (),
        caller_id: str | None = None,
    ) -> TrunkView:
        """Add a trunk.

        Raises:
            AccessDeniedError: the actor is not an operator or the system.
            ValueError: a bad name, URI, credential, prefix or caller ID (one clear message).
            DuplicateError: a trunk of that name exists.
        """
        _authorise_trunks(actor)
        _check_name(name)
        host, port, transport = parse_trunk_uri(uri)
        _check_credentials(username, password)
        normalised: list[str] = []
        for raw in prefixes:
            prefix = normalise_prefix(raw)
            if prefix not in normalised:
                normalised.append(prefix)
        normalised.sort()
        caller = normalise_caller_id(caller_id) if caller_id is not None else None
        # Made (on first use) before our transaction: on SQLite that takes the write lock.
        cipher = self._keys.trunk_secrets() if password is not None else None
        trunk_id = str(uuid.uuid4())
        row = Trunk(
            id=trunk_id,
            name=name,
            host=host,
            port=port,
            transport=transport,
            username=username,
            password_enc=(
                cipher.encrypt(_password_field(trunk_id), password)
                if cipher is not None and password is not None
                else None
            ),
            caller_id=caller,
            prefixes=normalised,
            created_at=self._clock(),
        )
        try:
            with self._sessions.begin() as session:
                if session.scalar(select(Trunk.id).where(Trunk.name == name)) is not None:
                    raise DuplicateError(f"a trunk named {name!r} already exists")
                session.add(row)
                session.flush()
                self._audit.record(session, actor, "trunk.add", f"trunk:{trunk_id}", None)
        except IntegrityError:
            # Another writer took the name between our check and our insert. The driver's
            # message lists the row's values: not repeated.
            raise DuplicateError(f"a trunk named {name!r} already exists") from None
        return _view(row)

    def list(self, actor: Actor) -> list[TrunkView]:
        """Every trunk, by name. Raises AccessDeniedError for non-operators."""
        _authorise_trunks(actor)
        with self._sessions.begin() as session:
            rows = list(session.scalars(select(Trunk).order_by(Trunk.name)))
            self._audit.record(session, actor, "trunk.list", "trunks", None)
            return [_view(row) for row in rows]

    def remove(self, actor: Actor, name: str) -> None:
        """Remove a trunk. Call records that went through it keep everything but its id.

        Raises:
            AccessDeniedError: the actor is not an operator or the system.
            NotFoundError: no trunk has that name.
        """
        _authorise_trunks(actor)
        with self._sessions.begin() as session:
            row = session.scalar(select(Trunk).where(Trunk.name == name))
            if row is None:
                raise NotFoundError(f"no trunk named {name!r}")
            session.execute(
                update(CallRecord).where(CallRecord.trunk_id == row.id).values(trunk_id=None)
            )
            session.delete(row)
            self._audit.record(session, actor, "trunk.remove", f"trunk:{row.id}", None)

    def route(self, actor: Actor, number: str, region: str = "GB") -> TrunkRoute | None:
        """The trunk a number leaves through, with its decrypted credentials.

        The trunk whose longest prefix starts the number's E.164 form wins; a trunk without
        prefixes serves every number, after any trunk whose prefix matches. Ties go to the
        trunk added first. The audit entry names the trunk chosen, never the number.

        Args:
            actor: an operator or the system (the bridge placing a call).
            number: the number to call, E.164 or national in ``region``.
            region: ISO country for a number without ``+``.

        Returns:
            The route, or None when no trunk serves the number.

        Raises:
            AccessDeniedError: the actor is not an operator or the system.
            ValueError: the number is not a phone number.
        """
        _authorise_trunks(actor)
        e164 = normalise.phone_e164(number, region)
        with self._sessions.begin() as session:
            rows = list(session.scalars(select(Trunk).order_by(Trunk.created_at, Trunk.name)))
            best: tuple[int, str | None, Trunk] | None = None
            for row in rows:
                match = _match_length(row.prefixes, e164)
                if match is not None and (best is None or match[0] > best[0]):
                    best = (match[0], match[1], row)
            subject = f"trunk:{best[2].id}" if best is not None else "trunk:none"
            self._audit.record(session, actor, "trunk.route", subject, None)
            if best is None:
                return None
            _, prefix, chosen = best
            password = None
            if chosen.password_enc is not None:
                password = self._keys.trunk_secrets().decrypt(
                    _password_field(chosen.id), chosen.password_enc
                )
            return TrunkRoute(
                trunk_id=chosen.id,
                name=chosen.name,
                uri=trunk_uri(chosen.host, chosen.port, chosen.transport),
                host=chosen.host,
                port=chosen.port,
                transport=chosen.transport,
                username=chosen.username,
                password=password,
                caller_id=chosen.caller_id,
                matched_prefix=prefix,
            )


def _view(row: Trunk) -> TrunkView:
    return TrunkView(
        id=row.id,
        name=row.name,
        uri=trunk_uri(row.host, row.port, row.transport),
        host=row.host,
        port=row.port,
        transport=row.transport,
        username=row.username,
        has_password=row.password_enc is not None,
        prefixes=tuple(row.prefixes),
        caller_id=row.caller_id,
        created_at=row.created_at,
    )
