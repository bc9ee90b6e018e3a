"""The demo account a fresh install starts with: "Demo LLP", an administrator, a host and a
conference. Idempotent: found again by the administrator's email (through its blind index),
and its tokens reused while they still work (kept in ``<data>/demo.json``, mode 0600)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from callroster.accounts.actor import Role, operator_cli
from callroster.config import Settings
from callroster.store.store import Store

DEMO_ACCOUNT = "Demo LLP"
DEMO_ADMIN_EMAIL = "admin@demo-llp.example"
DEMO_HOST_EMAIL = "host@demo-llp.example"
DEMO_DIAL_IN = "2000"


@dataclass(frozen=True)
class DemoDetails:
    account_id: str
    conference_id: str
    conference_title: str
    pin: str
    host_pin: str
    dial_in_number: str
    dial_in_uri: str
    direct_uri: str
    web_url: str
    host_token: str
    admin_token: str
    host_email: str = DEMO_HOST_EMAIL
    admin_email: str = DEMO_ADMIN_EMAIL
    password: str = ""  # the demo users' password, made at random once (in demo.json)


def _tokens_file(settings: Settings) -> Path:
    return settings.data / "demo.json"


def _read_tokens(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _write_tokens(path: Path, tokens: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(tokens, handle)


def ensure_demo(store: Store, settings: Settings) -> DemoDetails:
    actor = operator_cli("seed the demo account")
    admins = store.accounts.find_user_ids_by_email(DEMO_ADMIN_EMAIL)
    if admins:
        admin_id = admins[0]
        account_id, _ = store.accounts.user_account_and_role(admin_id)
        host_id = store.accounts.find_user_ids_by_email(DEMO_HOST_EMAIL)[0]
    else:
        account_id = store.accounts.create_account(actor, DEMO_ACCOUNT, settings.region)
        admin_id = store.accounts.create_user(
            actor, account_id, Role.ADMINISTRATOR, "Dana Admin", email=DEMO_ADMIN_EMAIL
        )
        host_id = store.accounts.create_user(
            actor,
            account_id,
            Role.HOST,
            "Harriet Host",
            email=DEMO_HOST_EMAIL,
            phone="+44 20 7946 0001",
        )
    conferences = store.conferences.conferences_of_host(host_id)
    if conferences:
        conference_id = conferences[0]
    else:
        number_id = store.conferences.ensure_dial_in_number(DEMO_DIAL_IN, "GB", "sip")
        conference_id = store.conferences.create_conference(
            actor, host_id, "Demo conference", dial_in_number_ids=(number_id,)
        )
    conference = store.conferences.get_conference(actor, conference_id)

    path = _tokens_file(settings)
    tokens = _read_tokens(path)
    host_ok = (
        p := store.tokens.authenticate(tokens.get("host_token", ""))
    ) and p.user_id == host_id
    admin_ok = (q := store.tokens.authenticate(tokens.get("admin_token", ""))) and (
        q.user_id == admin_id
    )
    if not host_ok:
        tokens["host_token"] = store.tokens.issue(
            actor, account_id, host_id, {"roster:read", "legs:control"}, "demo host"
        )
    if not admin_ok:
        tokens["admin_token"] = store.tokens.issue(
            actor, account_id, admin_id, {"admin"}, "demo administrator"
        )
    password_new = not tokens.get("password")
    if password_new:
        # A random password, not a default one: it is in demo.json (0600) and the banner.
        tokens["password"] = secrets.token_urlsafe(12)
        for user_id in (host_id, admin_id):
            store.users.set_password(actor, user_id, tokens["password"])
    if not (host_ok and admin_ok) or password_new:
        _write_tokens(path, tokens)

    sip_host = settings.sip_hostport
    # The demo's own SIP number while its account may use it, though the operator's numbers
    # (the number plan) are shown too.
    numbers = conference.dial_in_numbers
    number = DEMO_DIAL_IN if DEMO_DIAL_IN in numbers or not numbers else numbers[0]
    return DemoDetails(
        account_id=account_id,
        conference_id=conference_id,
        conference_title=conference.title,
        pin=conference.pin,
        host_pin=conference.host_pin or "",
        dial_in_number=number,
        dial_in_uri=f"sip:{number}@{sip_host}",
        direct_uri=f"sip:{conference.pin}@{sip_host}",
        web_url=f"{settings.web_base_url}/c/{conference.web_link}",
        host_token=tokens["host_token"],
        admin_token=tokens["admin_token"],
        password=tokens["password"],
    )


def as_json(details: DemoDetails) -> str:
    return json.dumps(asdict(details), indent=2)


def banner(details: DemoDetails, settings: Settings) -> str:
    return "\n".join(
        [
            f"Callroster is running: web {settings.web_listening}, "
            f"SIP udp+tcp {settings.sip_listening}{settings.sip_tls_listening}",
            "",
            f'Demo conference "{details.conference_title}" ({DEMO_ACCOUNT}):',
            f"  Dial in:     {details.dial_in_uri}  then PIN {details.pin} #",
            f"  Direct:      {details.direct_uri}",
            f"  Host PIN:    {details.host_pin}  (joins as host: *5 lock, *7 mute all, *6 mute)",
            f"  Web page:    {details.web_url}",
            f"  Host token:  {details.host_token}",
            f"  Admin token: {details.admin_token}",
            f"  Sign in:     {settings.web_base_url}/login  as {details.host_email} (host) or",
            f"               {details.admin_email} (administrator, sets up a second factor),",
            f"               password {details.password}",
            "  (also in `callroster demo --json`)",
            "",
            "Press Ctrl-C to stop.",
        ]
    )
