"""The web's certificate from files (io/certificates.py), without a socket: what a client
sees is read from a TLS handshake over memory buffers (``ssl.MemoryBIO``) against the live
context. A renewal is taken on the next check; a broken pair (bad PEM, a key that is not the
certificate's, a missing file) is refused with one error line and the old certificate still
completes handshakes; a later good pair is taken. A file that does not load at start is one
line naming it."""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from tests.support.certs import Issued, TestCa

from callroster.errors import ConfigError
from callroster.io.certificates import Reload, ServerCertificate


def served_serial(server: ssl.SSLContext, ca: TestCa) -> int:
    """The serial number of the certificate a new client connection is shown."""
    client = ssl.create_default_context(cafile=str(ca.cert_file))
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    from_client, from_server = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(to_client, to_server, server_hostname="127.0.0.1")
    server_side = server.wrap_bio(from_client, from_server, server_side=True)
    for _ in range(10):
        for side in (client_side, server_side):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        from_client.write(to_server.read())
        to_client.write(from_server.read())
        if client_side.version() and server_side.version():
            break
    peer = client_side.getpeercert(binary_form=True)
    assert peer is not None
    return x509.load_der_x509_certificate(peer).serial_number


def replace(issued: Issued, cert_file: Path, key_file: Path) -> None:
    """Put a new pair in place as a renewal tool does: written beside, then renamed."""
    for source, target in ((issued.cert_file, cert_file), (issued.key_file, key_file)):
        (target.parent / f".{target.name}.new").write_bytes(source.read_bytes())
        os.replace(target.parent / f".{target.name}.new", target)


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return TestCa(tmp_path / "ca")


@pytest.fixture
def live(tmp_path: Path, ca: TestCa) -> tuple[ServerCertificate, Issued]:
    first = ca.issue(tmp_path / "first", "web")
    folder = tmp_path / "etc"
    folder.mkdir()
    replace(first, folder / "web.crt", folder / "web.key")
    return ServerCertificate(folder / "web.crt", folder / "web.key"), first


def test_the_context_serves_the_files_certificate_over_tls_1_2_at_least(
    live: tuple[ServerCertificate, Issued], ca: TestCa
) -> None:
    certificate, first = live
    assert certificate.context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert served_serial(certificate.context, ca) == first.certificate.serial_number
    assert certificate.loaded.serial == first.certificate.serial_number
    assert certificate.reload_if_changed() is Reload.UNCHANGED


def test_a_renewal_is_served_by_the_next_check(
    live: tuple[ServerCertificate, Issued], ca: TestCa, tmp_path: Path
) -> None:
    certificate, first = live
    renewed = ca.issue(tmp_path / "renewed", "web")
    replace(renewed, certificate.cert_file, certificate.key_file)
    assert served_serial(certificate.context, ca) == first.certificate.serial_number
    assert certificate.reload_if_changed() is Reload.RELOADED
    assert served_serial(certificate.context, ca) == renewed.certificate.serial_number
    assert certificate.reload_if_changed() is Reload.UNCHANGED


def test_a_file_written_in_place_is_seen_too(
    live: tuple[ServerCertificate, Issued], ca: TestCa, tmp_path: Path
) -> None:
    """Same inode (and, for two P-256 certificates, often the same size): the modification
    time tells."""
    certificate, _ = live
    renewed = ca.issue(tmp_path / "renewed", "web")
    certificate.key_file.write_bytes(renewed.key_file.read_bytes())
    certificate.cert_file.write_bytes(renewed.cert_file.read_bytes())
    assert certificate.reload_if_changed() is Reload.RELOADED
    assert served_serial(certificate.context, ca) == renewed.certificate.serial_number


@pytest.mark.parametrize(
    ("breakage", "said"),
    [
        ("garbage certificate", "no PEM certificate in it"),
        ("garbage key", "no PEM private key in it"),
        ("certificate before its key", "is not the key of the certificate"),
        ("missing key", "No such file or directory"),
    ],
)
def test_a_broken_pair_keeps_the_old_certificate_serving_and_says_why_once(
    live: tuple[ServerCertificate, Issued],
    ca: TestCa,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    breakage: str,
    said: str,
) -> None:
    certificate, first = live
    renewed = ca.issue(tmp_path / "renewed", "web")
    if breakage == "garbage certificate":
        certificate.cert_file.write_text(
            "-----BEGIN CERTIFICATE-----\nno\n-----END CERTIFICATE-----\n"
        )
    elif breakage == "garbage key":
        certificate.key_file.write_text("not a key\n")
    elif breakage == "certificate before its key":
        certificate.cert_file.write_bytes(renewed.cert_file.read_bytes())
    else:
        certificate.key_file.unlink()
    with caplog.at_level(logging.INFO, logger="callroster.io.certificates"):
        assert certificate.reload_if_changed() is Reload.REFUSED
        assert certificate.reload_if_changed() is Reload.UNCHANGED  # said once, not every check
    [line] = [r for r in caplog.records if r.name == "callroster.io.certificates"]
    assert line.levelno == logging.ERROR
    assert said in line.getMessage() and "the old one still serves" in line.getMessage()
    # The old certificate still completes handshakes (a failed load_cert_chain on the live
    # context would have left it with no key: every handshake would fail).
    assert served_serial(certificate.context, ca) == first.certificate.serial_number
    assert certificate.loaded.serial == first.certificate.serial_number
    # Then the renewal tool finishes: the good pair is taken.
    replace(renewed, certificate.cert_file, certificate.key_file)
    assert certificate.reload_if_changed() is Reload.RELOADED
    assert served_serial(certificate.context, ca) == renewed.certificate.serial_number


def test_the_positive_control_a_failed_load_on_a_live_context_breaks_it(
    live: tuple[ServerCertificate, Issued], ca: TestCa, tmp_path: Path
) -> None:
    """Why the pair is tried on a scratch context first: OpenSSL keeps the new certificate
    without a key, and the next handshake fails."""
    certificate, _ = live
    other = ca.issue(tmp_path / "other", "web")
    with pytest.raises(ssl.SSLError, match="KEY_VALUES_MISMATCH"):
        certificate.context.load_cert_chain(other.cert_file, certificate.key_file)
    with pytest.raises(ssl.SSLError):
        served_serial(certificate.context, ca)


@pytest.mark.parametrize(
    ("cert", "key", "said"),
    [
        ("missing", "good", "tls_cert_file {cert}: No such file or directory"),
        ("good", "garbage", "tls_key_file {key}: no PEM private key in it"),
        ("key", "good", "tls_cert_file {cert}: no PEM certificate in it"),
        ("good", "other", "tls_key_file is not the key of the certificate in tls_cert_file"),
    ],
)
def test_files_that_do_not_load_at_start_are_one_line(
    tmp_path: Path, ca: TestCa, cert: str, key: str, said: str
) -> None:
    good = ca.issue(tmp_path / "good", "web")
    other = ca.issue(tmp_path / "other", "web")
    (tmp_path / "garbage").write_text("garbage\n")
    files = {
        "good": None,
        "missing": tmp_path / "missing",
        "garbage": tmp_path / "garbage",
        "key": good.key_file,
        "other": other.key_file,
    }
    cert_file = files[cert] or good.cert_file
    key_file = files[key] or good.key_file
    with pytest.raises(ConfigError) as refused:
        ServerCertificate(cert_file, key_file)
    assert str(refused.value) == said.format(cert=cert_file, key=key_file)
    assert "\n" not in str(refused.value)


def test_without_memory_files_the_pair_still_loads(
    tmp_path: Path, ca: TestCa, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where ``memfd_create`` is refused (a seccomp filter), a private temporary file is used."""
    issued = ca.issue(tmp_path / "web", "web")

    def refused(*_: object) -> int:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "memfd_create", refused)
    certificate = ServerCertificate(issued.cert_file, issued.key_file)
    assert served_serial(certificate.context, ca) == issued.certificate.serial_number
