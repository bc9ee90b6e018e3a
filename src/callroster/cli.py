"""The ``callroster`` command. Every known failure is one line on stderr and an exit code
(see ``callroster.errors``), never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import click
import typer

from callroster.accounts import demo
from callroster.accounts.actor import operator_cli
from callroster.config import REGIONS, Settings, load_settings
from callroster.errors import CallrosterError, ConfigError, MasterKeyError
from callroster.store import audit_anchor
from callroster.store import migrate as migrations
from callroster.store.audit_anchor import AnchorFile
from callroster.store.database import open_engine
from callroster.store.errors import DuplicateError
from callroster.store.numbers import KIND_NAMES, NumberView
from callroster.store.onboarding import PAST, AccountAction, AccountSummary
from callroster.store.store import Store, open_ring_source, open_store
from callroster.store.trunks import TrunkView

app = typer.Typer(
    help="Callroster: an audio conference bridge that shows who is on the call.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Master key and data keys.", no_args_is_help=True)
account_app = typer.Typer(help="Operator actions on customer accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
trunk_app = typer.Typer(help="SIP trunks that dial-out calls leave through.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(account_app, name="account")
app.add_typer(audit_app, name="audit")
operator_token_app = typer.Typer(
    help="Bearer tokens for the operator API (shown once, stored hashed).", no_args_is_help=True
)
app.add_typer(trunk_app, name="trunk")
number_app = typer.Typer(
    help="The number plan: the access numbers people dial (E.164).", no_args_is_help=True
)
app.add_typer(number_app, name="number")
app.add_typer(operator_token_app, name="operator-token")
# The privacy engine's commands (inventory, retention, erasures) are in cli_privacy.py.
privacy_app = typer.Typer(
    help="The personal data the service keeps, and erasures.", no_args_is_help=True
)
retention_app = typer.Typer(
    help="Retention: what is past its time is hidden, then purged.", no_args_is_help=True
)
app.add_typer(privacy_app, name="privacy")
app.add_typer(retention_app, name="retention")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML configuration file", exists=False)
]
DataOption = Annotated[Path | None, typer.Option("--data", help="Data folder (default ./var)")]


def _settings(config: Path | None, data: Path | None = None, **overrides: object) -> Settings:
    return load_settings(config, data=data, **overrides)


@contextlib.contextmanager
def _store(config: Path | None, data: Path | None) -> Iterator[Store]:
    """The store the settings name, closed when the command is done."""
    store = open_store(_settings(config, data))
    try:
        yield store
    finally:
        store.close()


@app.command()
def serve(
    config: ConfigOption = None,
    data: DataOption = None,
    sip_port: Annotated[int | None, typer.Option(help="SIP port, UDP and TCP")] = None,
    http_port: Annotated[int | None, typer.Option(help="Web port")] = None,
    with_demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Seed the demo and print how to join")
    ] = False,
) -> None:
    """Run the service: SIP (UDP and TCP) and the web server."""
    from callroster.app import Sockets, web_certificate
    from callroster.app import serve as run_service
    from callroster.logs import configure_logging
    from callroster.store.erasure import replay_erasures

    settings = _settings(config, data, sip_port=sip_port, http_port=http_port)
    configure_logging(settings.log_format, settings.log_level)  # JSON lines unless told text
    certificate = web_certificate(settings)  # HTTPS: a file that does not load fails here
    sockets = Sockets(settings)  # a taken port fails here, before anything is written
    try:
        store = open_store(settings)
        # A restored backup is erased again before it serves (store/erasure.py).
        replayed = replay_erasures(
            store, operator_cli("serve: erasures replayed before serving"), everything=False
        )
    except CallrosterError:
        sockets.close()
        raise
    if replayed.total:
        print(f"erasures replayed before serving: {replayed.total} rows", flush=True)
    # Report the ports really bound (port 0 means "any free port", used by tests).
    settings = settings.model_copy(
        update={
            "http_port": sockets.http[0].getsockname()[1],
            "sip_port": sockets.sip_udp.getsockname()[1],
        }
        | ({"http_redirect_port": sockets.redirect[0].getsockname()[1]} if sockets.redirect else {})
        | ({"sip_tls_port": sockets.sip_tls[0].getsockname()[1]} if sockets.sip_tls else {})
    )
    message = (
        demo.banner(demo.ensure_demo(store, settings), settings)
        if with_demo
        else f"Callroster is running: web {settings.web_listening}, "
        f"SIP udp+tcp {settings.sip_listening}{settings.sip_tls_listening}. "
        "Press Ctrl-C to stop."
    )

    def ready() -> None:
        print(message, flush=True)

    try:
        _install_event_loop()
        asyncio.run(run_service(store, settings, sockets, on_ready=ready, certificate=certificate))
    finally:
        sockets.close()
        store.close()


def _install_event_loop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a pinned dependency
        pass


@app.command("demo")
def demo_command(
    config: ConfigOption = None,
    data: DataOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create (or reuse) the demo account, host and conference, and print how to join."""
    settings = _settings(config, data)
    store = open_store(settings)
    try:
        details = demo.ensure_demo(store, settings)
    finally:
        store.close()
    print(demo.as_json(details) if as_json else demo.banner(details, settings).rsplit("\n", 2)[0])


@app.command()
def migrate(
    config: ConfigOption = None,
    data: DataOption = None,
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
    down: Annotated[bool, typer.Option("--down", help="Downgrade to the revision")] = False,
) -> None:
    """Bring the database schema up (or down) to a revision."""
    settings = _settings(config, data)
    engine = open_engine(settings.resolved_database_url)
    try:
        # The master key, where there is one: migrations that encrypt existing data need it.
        try:
            ring = open_ring_source(settings, create=False).ring()
        except MasterKeyError:
            ring = None
        if down:
            migrations.downgrade(engine, revision if revision != "head" else "base", key_ring=ring)
        else:
            migrations.upgrade(engine, revision, key_ring=ring)
        print(f"database at revision {migrations.current_revision(engine) or 'base'}")
    finally:
        engine.dispose()


@keys_app.command("rotate")
def keys_rotate(config: ConfigOption = None, data: DataOption = None) -> None:
    """Re-wrap every data key under a new master key; a running service keeps working."""
    settings = _settings(config, data)
    store = open_store(settings)
    try:
        key_id, count = store.keys.rotate_master_key()
    finally:
        store.close()
    print(f"master key rotated to {key_id}; {count} data key(s) re-wrapped; old key retired")


@account_app.command("shred")
def account_shred(
    account_id: str,
    config: ConfigOption = None,
    data: DataOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
) -> None:
    """Destroy an account's data key: all its personal data becomes unreadable, for good."""
    if not yes and not _confirmed(f"Destroy every piece of personal data of account {account_id}?"):
        print(f"callroster: aborted: account {account_id} was not shredded", file=sys.stderr)
        raise typer.Exit(1)
    settings = _settings(config, data)
    store = open_store(settings)
    try:
        store.accounts.shred_account(operator_cli("erasure by key destruction"), account_id)
    finally:
        store.close()
    print(f"account {account_id}: data key destroyed")


def _confirmed(question: str) -> bool:
    """Ask on the terminal; no answer (end of input, no terminal) is no."""
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:  # end of input: finish the prompt's line, then take it as no
        print(flush=True)
        return False


RegionOption = Annotated[
    str, typer.Option("--region", help="The account's home region: " + ", ".join(REGIONS))
]


@account_app.command("create")
def account_create(
    name: Annotated[str, typer.Argument(help="The customer's name, unique among accounts")],
    region: RegionOption,
    admin_email: Annotated[
        str, typer.Option("--admin-email", help="Email of the account's first administrator")
    ],
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Create a customer account and print its first administrator's one-time set-up link
    (they choose a password, then a second factor). Nothing is created if anything is wrong."""
    settings = _settings(config, data)
    store = open_store(settings)
    try:
        created = store.onboarding.create_account(
            operator_cli("account create"), name, region, admin_email
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        store.close()
    print(f"account {created.account_id} created ({region})")
    print(
        "set-up link for its first administrator (works once, until "
        f"{created.setup_expires_at:%Y-%m-%d %H:%M} UTC; it is not shown again):"
    )
    print(f"{settings.web_base_url}/setup/{created.setup_token}")


@account_app.command("setup-link")
def account_setup_link(
    account: Annotated[str, typer.Argument(help="The account's id or name")],
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """A new set-up link for an account whose administrator has not set up yet (the old
    link stops working)."""
    settings = _settings(config, data)
    store = open_store(settings)
    try:
        created = store.onboarding.new_setup_link(operator_cli("account setup-link"), account)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        store.close()
    print(
        f"new set-up link for account {created.account_id} (works once, until "
        f"{created.setup_expires_at:%Y-%m-%d %H:%M} UTC; it is not shown again):"
    )
    print(f"{settings.web_base_url}/setup/{created.setup_token}")


@account_app.command("list")
def account_list(config: ConfigOption = None, data: DataOption = None) -> None:
    """Show the accounts: id, name, region, status, hosts, conferences held this month."""
    with _store(config, data) as store:
        accounts = store.onboarding.list_accounts(operator_cli("account list"))
    if not accounts:
        print("no accounts")
        return
    print(_account_table(accounts))


def _account_table(accounts: list[AccountSummary]) -> str:
    header = ("ID", "NAME", "REGION", "STATUS", "HOSTS", "CONFERENCES THIS MONTH")
    rows = [header] + [
        (
            a.id,
            a.name if a.name is not None else "(shredded)",
            a.region,
            a.status.value,
            str(a.hosts),
            str(a.conferences_this_month),
        )
        for a in accounts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _change_account(
    account: str, action: AccountAction, config: Path | None, data: Path | None
) -> None:
    with _store(config, data) as store:
        try:
            account_id = store.onboarding.change_status(
                operator_cli(f"account {action.value}"), account, action
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    print(f"account {account_id} {PAST[action]}")


AccountArgument = Annotated[str, typer.Argument(help="The account's id or name")]


@account_app.command("suspend")
def account_suspend(
    account: AccountArgument, config: ConfigOption = None, data: DataOption = None
) -> None:
    """Suspend an account: its users are signed out and cannot sign in, its conferences take
    no calls, until it is resumed."""
    _change_account(account, AccountAction.SUSPEND, config, data)


@account_app.command("resume")
def account_resume(
    account: AccountArgument, config: ConfigOption = None, data: DataOption = None
) -> None:
    """Resume a suspended account."""
    _change_account(account, AccountAction.RESUME, config, data)


@account_app.command("terminate")
def account_terminate(
    account: AccountArgument,
    config: ConfigOption = None,
    data: DataOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
) -> None:
    """Terminate an account for good: as suspended, and its retention period starts now."""
    if not yes and not _confirmed(f"Terminate account {account} for good?"):
        print(f"callroster: aborted: account {account} was not terminated", file=sys.stderr)
        raise typer.Exit(1)
    _change_account(account, AccountAction.TERMINATE, config, data)


@audit_app.command("verify")
def audit_verify(config: ConfigOption = None, data: DataOption = None) -> None:
    """Check the audit log's hash chain, and its head against the anchor kept outside the
    database; exit 1 naming the first bad entry. An intact log is anchored at its head."""
    settings = _settings(config, data)
    store = open_store(settings)
    anchor_file = AnchorFile(settings.resolved_audit_anchor_file)
    try:
        problem = audit_anchor.advance(store.audit, anchor_file, full=True)
        head = store.audit.head()
    except ValueError as exc:  # an anchor file that is not one
        raise ConfigError(str(exc)) from None
    finally:
        store.close()
    if problem is not None:
        print(f"audit log entry {problem.seq} {problem.what}", file=sys.stderr)
        raise typer.Exit(1)
    print(f"audit log intact ({head.seq if head else 0} entries, anchored)")


@trunk_app.command("add")
def trunk_add(
    name: Annotated[str, typer.Argument(help="A name for the trunk: letters, digits, . _ -")],
    uri: Annotated[
        str,
        typer.Option(
            "--uri",
            help="sip:HOST[:PORT][;transport=udp|tcp] (port 5060, udp), or sips:HOST[:PORT] "
            "for TLS (port 5061, the carrier's certificate verified)",
        ),
    ],
    username: Annotated[
        str | None, typer.Option("--username", help="Digest user name the trunk expects")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="Digest password (other users can see a command line: prefer --password-stdin)",
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
    prefix: Annotated[
        list[str] | None,
        typer.Option("--prefix", help="E.164 prefix the trunk serves, e.g. +44 (repeatable)"),
    ] = None,
    caller_id: Annotated[
        str | None, typer.Option("--caller-id", help="Caller ID in E.164, e.g. +442079460000")
    ] = None,
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Add a SIP trunk. Without --prefix it serves every number no other trunk's prefix does."""
    if password_stdin:
        if password is not None:
            raise ConfigError("give the password with --password or --password-stdin, not both")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ConfigError("no password on standard input")
    settings = _settings(config, data)
    store = open_store(settings)
    try:
        view = store.trunks.add(
            operator_cli("trunk add"),
            name,
            uri,
            username=username,
            password=password,
            prefixes=prefix or (),
            caller_id=caller_id,
        )
    except (ValueError, DuplicateError) as exc:
        raise ConfigError(str(exc)) from None
    finally:
        store.close()
    secret = "with a password" if view.has_password else "without a password"
    print(f"trunk {view.name} added: {view.uri}, {secret}")


@trunk_app.command("list")
def trunk_list(config: ConfigOption = None, data: DataOption = None) -> None:
    """Show the trunks (never their passwords: only whether one is set)."""
    with _store(config, data) as store:
        trunks = store.trunks.list(operator_cli("trunk list"))
    if not trunks:
        print("no trunks")
        return
    print(_trunk_table(trunks))


def _trunk_table(trunks: list[TrunkView]) -> str:
    header = ("NAME", "URI", "TRANSPORT", "USERNAME", "PASSWORD", "PREFIXES", "CALLER ID")
    rows = [header] + [
        (
            t.name,
            t.uri,
            t.transport,
            t.username or "-",
            "set" if t.has_password else "-",
            ",".join(t.prefixes) or "all",
            t.caller_id or "-",
        )
        for t in trunks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


@trunk_app.command("remove")
def trunk_remove(
    name: Annotated[str, typer.Argument(help="The trunk's name")],
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Remove a SIP trunk. Call records that went through it are kept."""
    with _store(config, data) as store:
        store.trunks.remove(operator_cli("trunk remove"), name)
    print(f"trunk {name} removed")


@operator_token_app.command("create")
def operator_token_create(
    label: Annotated[str, typer.Argument(help="Who or what the token is for")],
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Create an operator API token and print it once: it cannot be shown again."""
    with _store(config, data) as store:
        try:
            token_id, token = store.operator_tokens.issue(
                operator_cli("operator-token create"), label
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    print(f"operator token {token_id[:8]} created; keep it now, it is not shown again:")
    print(token)


@operator_token_app.command("list")
def operator_token_list(config: ConfigOption = None, data: DataOption = None) -> None:
    """Show the operator tokens: id, label, when made, last used and revoked (never a token)."""
    with _store(config, data) as store:
        tokens = store.operator_tokens.list(operator_cli("operator-token list"))
    if not tokens:
        print("no operator tokens")
        return
    for t in tokens:
        used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never used"
        state = f"revoked {t.revoked_at.isoformat(timespec='seconds')}" if t.revoked_at else "live"
        print(f"{t.id[:8]}  {t.label}  created {t.created_at:%Y-%m-%d}  {used}  {state}")


@operator_token_app.command("revoke")
def operator_token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id, or its first 8 characters")],
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Revoke an operator token: it opens nothing from now on."""
    with _store(config, data) as store:
        store.operator_tokens.revoke(operator_cli("operator-token revoke"), token_id)
    print(f"operator token {token_id} revoked")


def _one_line(text: str) -> str:
    return " ".join(text.split())


@number_app.command("add")
def number_add(
    number: Annotated[str, typer.Argument(help="The number in E.164, e.g. +442079460000")],
    country: Annotated[
        str | None, typer.Option("--country", help="ISO country, checked against the number")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="toll or toll_free (by default, from the number)"),
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="The region that serves it, e.g. london")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="How pages name it")] = None,
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Add an access number: a SIP INVITE to sip:<number>@<this bridge> reaches the PIN
    prompt, and the accounts' conferences show it (unless limited to others)."""
    with _store(config, data) as store:
        try:
            view = store.numbers.add(
                operator_cli("number add"),
                number,
                country=country,
                kind=kind,
                region=region,
                label=label,
            )
        except (ValueError, DuplicateError) as exc:
            raise ConfigError(str(exc)) from None
    print(f"number {view.number} added ({view.country}, {view.kind_name})")


@number_app.command("list")
def number_list(config: ConfigOption = None, data: DataOption = None) -> None:
    """Show the number plan, by country, with how many accounts are limited to each."""
    actor = operator_cli("number list")
    with _store(config, data) as store:
        numbers = store.numbers.list_numbers(actor)
        uses = store.numbers.uses(actor)
    if not numbers:
        print("no numbers")
        return
    print(_number_table(numbers, uses))


def _number_table(numbers: list[NumberView], uses: dict[str, tuple[str, ...]]) -> str:
    header = ("NUMBER", "COUNTRY", "KIND", "REGION", "LABEL", "ACCOUNTS LIMITED TO IT")
    rows = [header] + [
        (
            n.number,
            n.country,
            KIND_NAMES.get(n.kind, n.kind),
            n.region or "-",
            n.label or "-",
            str(len(uses.get(n.id, ()))),
        )
        for n in numbers
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


@number_app.command("remove")
def number_remove(
    number: Annotated[str, typer.Argument(help="The number, as listed")],
    force: Annotated[
        bool, typer.Option("--force", help="Also take it from the accounts limited to it")
    ] = False,
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Remove an access number. Refused while accounts are limited to it, unless --force."""
    with _store(config, data) as store:
        used = store.numbers.remove(operator_cli("number remove"), number, force=force)
    taken = f", taken from {len(used.account_ids)} account(s)" if used.account_ids else ""
    print(f"number {used.number} removed{taken}")


@number_app.command("limit")
def number_limit(
    account_id: Annotated[str, typer.Argument(help="The account's id")],
    numbers: Annotated[
        list[str] | None, typer.Argument(help="The numbers it may use (none: every number)")
    ] = None,
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Limit an account's conferences to some numbers, or with none lift the limit."""
    with _store(config, data) as store:
        given = store.numbers.limit_account(operator_cli("number limit"), account_id, numbers or [])
    if given:
        print(f"account {account_id} limited to {', '.join(given)}")
    else:
        print(f"account {account_id} uses every number")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command, turning known errors into one line and an exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Everything we create (database, WAL, keys, demo tokens) is for this user's eyes only.
    os.umask(0o077)
    try:
        # Without standalone mode click returns a command's exit code instead of exiting.
        result = app(args=argv, standalone_mode=False, prog_name="callroster")
    except CallrosterError as exc:
        print(f"callroster: error: {exc}", file=sys.stderr)
        return exc.exit_code
    # Typer raises its own Abort, Exit and usage errors, not click's (typer 0.29 carries its
    # own copy of click): both kinds are caught, so none ends in a traceback.
    except (click.exceptions.Abort, typer.Abort):
        print("callroster: aborted", file=sys.stderr)
        return 1
    except (click.exceptions.ClickException, typer.TyperException) as exc:
        print(f"callroster: error: {_one_line(exc.format_message())}", file=sys.stderr)
        return exc.exit_code
    except (click.exceptions.Exit, typer.Exit) as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0


# Registers the privacy and retention commands on the groups above, and the consent group
# (cli_consent.py); each imports this module.
from callroster import cli_consent, cli_privacy  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    # Run as ``python -m callroster.cli`` this module is ``__main__``, a second copy beside the
    # ``callroster.cli`` that cli_privacy.py registered its commands on: run that one's.
    from callroster.cli import main as registered_main

    sys.exit(registered_main())
