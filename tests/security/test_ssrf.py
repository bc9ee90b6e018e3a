"""Issue 12, finding 8: server-side request forgery through the CRM webhook, replayed against
a real ``callroster serve``.

An account's administrator could point the webhook at this machine (``http://127.0.0.1:…``,
``[::1]``, ``localhost``) and, over https, at the cloud's metadata service and private
addresses, however spelt (``169.254.169.254``, ``[::ffff:a9fe:a9fe]``, ``0x7f000001``,
``10.0.0.1``); the service then POSTed each click-to-call log there. Now:

- each such URL is refused when it is set (422, saying why), and nothing is stored;
- a loopback URL that is in the database anyway (stored before this rule) is refused when
  the service connects: a real click-to-call ends (its host's phone is busy: sipp as the
  carrier), its log goes to the webhook, and the service logs the refusal, while the loopback
  listeners those URLs name count every connection: none arrives;
- the positive control: with the operator's ``crm_allow_private_targets`` on, the same kind
  of loopback URL is accepted and a loopback CRM receives the signed log (link-local stays
  refused even then).

Every listener is on loopback; the outside addresses are only ever refused.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli import runner as cli_runner
from tests.support.peers import free_udp_port, require
from tests.support.service import RunningService, clean_env, running_service
from tests.support.trap import Trap, trapping
from tests.support.waiting import wait_until_sync

from callroster.accounts.actor import operator_cli
from callroster.config import load_settings
from callroster.crm.signing import verify
from callroster.store.store import open_store

pytestmark = pytest.mark.interop
PATH = "/api/v1/account/crm-webhook"
SCENARIOS = Path(__file__).parents[1] / "interop" / "scenarios"
TARGET = "020 7946 0999"  # whom the host asked to be connected to (never dialled: host busy)


def _request(
    service: RunningService, method: str, path: str, token: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{service.base_url}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def _attacks(v4: Trap, v6: Trap) -> list[tuple[str, str]]:
    """The finding's URLs, each with the reason it must be refused. The loopback ones name
    the listeners (which count any arrival); the others are outside addresses, refused
    before anything could be sent."""
    return [
        (f"http://{v4.authority}/hooks/calls", "is a loopback address"),
        (f"http://{v6.authority}/hooks/calls", "is a loopback address"),
        (f"http://localhost:{v4.port}/hooks/calls", "is a loopback address"),
        (f"https://{v4.authority}/hooks/calls", "is a loopback address"),
        (f"https://[::ffff:127.0.0.1]:{v4.port}/hooks/calls", "is a loopback address"),
        (f"https://0x7f000001:{v4.port}/hooks/calls", "loopback address (this machine), written"),
        (f"https://2130706433:{v4.port}/hooks/calls", "loopback address (this machine), written"),
        (f"https://017700000001:{v4.port}/hooks", "loopback address (this machine), written"),
        (f"https://127.1:{v4.port}/hooks/calls", "loopback address (this machine), written"),
        ("https://169.254.169.254/latest/meta-data/iam/", "is a link-local address"),
        ("https://[::ffff:a9fe:a9fe]/latest/meta-data/", "is a link-local address"),
        ("https://[fe80::a9fe:a9fe]/latest/meta-data/", "is a link-local address"),
        ("https://10.0.0.1/hooks/calls", "is a private address"),
        ("https://192.168.1.10/hooks/calls", "is a private address"),
        ("https://[fd00::10]/hooks/calls", "is a private address"),
        ("https://100.100.100.200/latest/meta-data/", "is a shared address"),
        ("https://0.0.0.0/hooks/calls", "is an unspecified address"),
        ("https://224.0.0.251/hooks/calls", "is a multicast address"),
        ("https://255.255.255.255/hooks/calls", "is the broadcast address"),
    ]


@contextmanager
def busy_carrier(workdir: Path) -> Iterator[int]:
    """sipp as the carrier behind the trunk: it answers the call to the host's phone 486
    Busy Here, so the click-to-call ends at once and its log is sent."""
    port = free_udp_port()
    scenario = (SCENARIOS / "uas_reject.xml").read_text()
    (workdir / "busy.xml").write_text(
        scenario.replace("@STATUS@", "486").replace("@REASON@", "Busy Here")
    )
    carrier = subprocess.Popen(
        [require("sipp"), "-sf", str(workdir / "busy.xml"), "-i", "127.0.0.1"]
        + ["-p", str(port), "-m", "1", "-nostdin", "-timeout", "60s"],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        if carrier.poll() is None:
            carrier.kill()
        carrier.wait()


def _click_to_call(
    service: RunningService,
    demo: dict[str, Any],
    workdir: Path,
    logged: Callable[[str], bool],
) -> str:
    """The demo host asks to be connected to a number; their phone (behind the operator's
    trunk) is busy, so the call ends at once. Returns the call's id, the event id of its log,
    once ``logged(call_id)`` says the log was dealt with."""
    with busy_carrier(workdir) as carrier_port:
        added = cli_runner().run(
            [
                *["trunk", "add", "carrier", "--uri", f"sip:127.0.0.1:{carrier_port}"],
                *["--prefix", "+44", "--data", str(service.data)],
            ],
            clean_env(),
        )
        assert added.returncode == 0, added.stderr
        status, started = _request(
            service, "POST", "/api/v1/calls", demo["host_token"], {"number": TARGET}
        )
        assert status == 202, started
        call_id: str = started["call_id"]
        # The host's leg is refused (busy), the call ends and its log is posted.
        wait_until_sync(lambda: logged(call_id), 30, "the call's log to be dealt with")
    return call_id


def test_webhooks_to_loopback_metadata_and_private_addresses_are_refused(
    tmp_path: Path,
) -> None:
    with (
        trapping("127.0.0.1") as v4,
        trapping("::1") as v6,
        running_service(tmp_path / "data") as service,
    ):
        demo = service.demo()
        admin = demo["admin_token"]
        for url, why in _attacks(v4, v6):
            status, answer = _request(service, "PUT", PATH, admin, {"url": url})
            assert status == 422, (url, answer)
            assert why in answer["detail"], (url, answer)
        assert _request(service, "GET", PATH, admin) == (200, {"url": None, "has_secret": False})

        # A loopback URL already in the database (set before this rule, behind the API's
        # back): the service refuses it when it connects.
        store = open_store(load_settings(data=service.data))
        try:
            store.accounts.set_crm_webhook(
                operator_cli("stored before the rule"),
                demo["account_id"],
                f"http://{v4.authority}/hooks/calls",
                None,
            )
        finally:
            store.close()

        def refusal(call_id: str) -> str:
            return (
                f"CRM webhook {call_id} not delivered after 1 attempt(s): refused: the webhook "
                "URL's host is a loopback address (this machine)"
            )

        def dealt_with(call_id: str) -> bool:
            log = service.process.stderr_path.read_text()
            return refusal(call_id) in log or v4.reached > 0

        call_id = _click_to_call(service, demo, tmp_path, dealt_with)
        assert (v4.reached, v6.reached) == (0, 0)
        assert refusal(call_id) in service.process.stderr_path.read_text()
        # The positive control: the listeners were there to be reached.
        v4.prove_reachable()
        v6.prove_reachable()


@dataclass
class Crm:
    """A CRM on loopback: records each POST (headers, body) and answers 200."""

    port: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@contextmanager
def loopback_crm() -> Iterator[Crm]:
    crm = Crm()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            crm.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    crm.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield crm
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_with_private_targets_allowed_a_loopback_crm_receives_the_signed_log(
    tmp_path: Path,
) -> None:
    """The positive control of the test above: the operator allows private targets."""
    allowed = {"crm_allow_private_targets": "true"}
    with loopback_crm() as crm, running_service(tmp_path / "data", settings=allowed) as service:
        demo = service.demo()
        admin = demo["admin_token"]
        # Link-local (the cloud's metadata service) stays refused even so.
        for url in ("https://169.254.169.254/latest/", "https://[::ffff:a9fe:a9fe]/"):
            status, answer = _request(service, "PUT", PATH, admin, {"url": url})
            assert status == 422 and "link-local" in answer["detail"], answer
        status, answer = _request(
            service, "PUT", PATH, admin, {"url": f"http://127.0.0.1:{crm.port}/hooks/calls"}
        )
        assert status == 200, answer
        secret = answer["secret"]
        call_id = _click_to_call(service, demo, tmp_path, lambda _call_id: bool(crm.requests))
    [(headers, body)] = crm.requests
    assert verify(secret.encode(), headers["callroster-signature"], body, now=time.time())
    assert headers["idempotency-key"] == call_id
    log = json.loads(body)
    assert (log["call_id"], log["failed_leg"]) == (call_id, "host")
