"""HTTPS on a real ``callroster serve`` (tls_cert_file, tls_key_file, http_redirect_port) on
127.0.0.1, with a certificate of the test's own authority (tests/support/certs.py):

- a client that trusts the authority gets 200 with HSTS; one that does not is refused (the
  control that verification happened), and plain HTTP on the HTTPS port gets no answer;
- a client that speaks TLS 1.1 at most is refused; the same client completes a TLS 1.1
  handshake with a server that allows it (the control that it really offers TLS 1.1), and one
  capped at TLS 1.2 is served;
- the plain-HTTP port answers 308 to the same path over HTTPS, which then answers 200, and an
  attacker's Host header does not become the redirect's host;
- certificate files replaced while it runs (a renewal) are served to a new connection within
  the reload interval; a broken certificate file keeps the old one serving, says so in one
  error line, and a good file after it is taken.

Waiting is on the condition (the serial a new connection is shown, the log line), never a
fixed sleep.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from tests.support.certs import Issued, TestCa
from tests.support.service import RunningService, running_service
from tests.support.waiting import until_sync, wait_until_sync

RELOAD_SECONDS = 1.0
HSTS = "max-age=31536000; includeSubDomains"


@dataclass
class Https:
    service: RunningService
    ca: TestCa
    cert_file: Path
    key_file: Path
    folder: Path

    def trusting(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca.cert_file))

    def served_serial(self) -> int:
        """The serial number of the certificate a new connection is shown."""
        with (
            socket.create_connection(("127.0.0.1", self.service.http_port), timeout=5) as raw,
            self.trusting().wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).serial_number

    def put(self, cert_pem: bytes, key_pem: bytes | None = None) -> None:
        """Write the files as a renewal tool does: beside them, then renamed over them."""
        pairs = [(self.cert_file, cert_pem)] + ([(self.key_file, key_pem)] if key_pem else [])
        for target, data in pairs:
            beside = target.with_name(f".{target.name}.new")
            beside.write_bytes(data)
            os.replace(beside, target)

    def log(self) -> str:
        return self.service.process.stderr_path.read_text()


def _install(issued: Issued, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "fullchain.pem", folder / "privkey.pem"
    cert_file.write_bytes(issued.cert_file.read_bytes())
    key_file.write_bytes(issued.key_file.read_bytes())
    return cert_file, key_file


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Https]:
    folder = tmp_path_factory.mktemp("https")
    ca = TestCa(folder / "ca")
    cert_file, key_file = _install(ca.issue(folder / "first", "web"), folder / "etc")
    settings = {
        "tls_cert_file": str(cert_file),
        "tls_key_file": str(key_file),
        "http_redirect_port": "0",
        "tls_reload_seconds": str(RELOAD_SECONDS),
    }
    with running_service(folder / "data", demo=False, settings=settings) as service:
        assert service.scheme == "https" and service.redirect_port is not None, service.banner
        yield Https(service, ca, cert_file, key_file, folder)


def test_a_client_trusting_the_authority_gets_200_with_hsts(https: Https) -> None:
    with httpx.Client(verify=https.trusting()) as client:
        answer = client.get(f"{https.service.base_url}/healthz")
        page = client.get(f"{https.service.base_url}/login")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    assert answer.headers["strict-transport-security"] == HSTS
    assert page.status_code == 200 and page.headers["strict-transport-security"] == HSTS
    # The control: a client that does not trust the test's authority is refused.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{https.service.base_url}/healthz", verify=ssl.create_default_context())
    # Plain HTTP on the HTTPS port gets no HTTP answer at all.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{https.service.http_port}/healthz", timeout=5)


def _tls_client(highest: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that offers TLS up to ``highest`` (the old versions allowed on its side)."""
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    client.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 allows TLS 1.1 only at level 0
    client.minimum_version = ssl.TLSVersion.TLSv1
    client.maximum_version = highest
    return client


def _handshake(client: ssl.SSLContext, port: int) -> str:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return str(tls.version())


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_a_tls_1_1_client_is_refused(https: Https, tmp_path: Path) -> None:
    old = _tls_client(ssl.TLSVersion.TLSv1_1)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(old, https.service.http_port)
    assert _handshake(_tls_client(ssl.TLSVersion.TLSv1_2), https.service.http_port) == "TLSv1.2"
    assert _handshake(https.trusting(), https.service.http_port) == "TLSv1.3"
    # The control: the same client completes TLS 1.1 with a server that allows it.
    lenient = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    lenient.set_ciphers("DEFAULT:@SECLEVEL=0")
    lenient.minimum_version = ssl.TLSVersion.TLSv1
    lenient.load_cert_chain(https.cert_file, https.key_file)
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def accept_one() -> None:
            conn, _ = listener.accept()
            with conn, lenient.wrap_socket(conn, server_side=True):
                pass

        server = threading.Thread(target=accept_one, daemon=True)
        server.start()
        assert _handshake(old, listener.getsockname()[1]) == "TLSv1.1"
        server.join(timeout=5)


def test_the_plain_http_port_redirects_to_the_same_path_over_https(https: Https) -> None:
    plain = f"http://127.0.0.1:{https.service.redirect_port}"
    target = f"https://127.0.0.1:{https.service.http_port}"
    for method in ("GET", "POST"):
        answer = httpx.request(method, f"{plain}/login?next=%2Fme", content=b"x" * 100)
        assert answer.status_code == 308
        assert answer.headers["location"] == f"{target}/login?next=%2Fme"
        assert "strict-transport-security" not in answer.headers  # never over plain HTTP
    evil = httpx.get(f"{plain}/healthz", headers={"Host": "evil.example"})
    assert evil.headers["location"] == f"{target}/healthz"
    with httpx.Client(verify=https.trusting(), follow_redirects=True) as client:
        followed = client.get(f"{plain}/healthz")
    assert followed.status_code == 200 and str(followed.url) == f"{target}/healthz"
    # A head that goes on past the cap (8 KiB) is refused without waiting for its end.
    with socket.create_connection(("127.0.0.1", https.service.redirect_port), timeout=5) as raw:
        raw.sendall(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 16_384)
        assert raw.recv(4096).startswith(b"HTTP/1.1 400 ")


def test_a_renewal_is_served_within_the_interval_and_a_broken_file_keeps_the_old(
    https: Https,
) -> None:
    before = https.served_serial()
    renewed = https.ca.issue(https.folder / "renewed", "web")
    new_serial = renewed.certificate.serial_number
    assert before != new_serial
    with (
        socket.create_connection(("127.0.0.1", https.service.http_port), timeout=5) as raw,
        https.trusting().wrap_socket(raw, server_hostname="127.0.0.1") as open_before,
    ):
        https.put(renewed.cert_file.read_bytes(), renewed.key_file.read_bytes())
        replaced = time.monotonic()
        assert until_sync(lambda: https.served_serial() == new_serial, RELOAD_SECONDS + 5, 0.02)
        took = time.monotonic() - replaced
        assert took <= RELOAD_SECONDS + 0.5, f"the renewal was served after {took:.2f} s"
        # A connection opened before the renewal goes on, with the certificate it was shown.
        open_before.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert open_before.recv(4096).startswith(b"HTTP/1.1 200 ")
        der = open_before.getpeercert(binary_form=True)
        assert der is not None and x509.load_der_x509_certificate(der).serial_number == before
    with httpx.Client(verify=https.trusting()) as client:
        assert client.get(f"{https.service.base_url}/healthz").status_code == 200

    # A broken certificate file: the old one goes on serving, and one line says why.
    https.put(b"-----BEGIN CERTIFICATE-----\ntruncated\n")
    wait_until_sync(lambda: "not reloaded" in https.log(), RELOAD_SECONDS + 5, "the error line")
    [line] = [x for x in https.log().splitlines() if "not reloaded" in x]
    assert '"level": "error"' in line and "no PEM certificate in it" in line, line
    assert f"{new_serial:x}" in line  # names what still serves
    assert https.served_serial() == new_serial
    # Then the good file: taken.
    again = https.ca.issue(https.folder / "again", "web")
    https.put(again.cert_file.read_bytes(), again.key_file.read_bytes())
    assert until_sync(
        lambda: https.served_serial() == again.certificate.serial_number, RELOAD_SECONDS + 5
    )
    assert https.log().count("not reloaded") == 1  # one line for the one broken file
