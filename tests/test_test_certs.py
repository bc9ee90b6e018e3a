import socket
import ssl
import threading
from pathlib import Path

from tests.support.certs import TestCa


def test_a_server_certificate_verifies_against_its_ca_and_not_another(tmp_path: Path) -> None:
    ca = TestCa(tmp_path / "ca")
    other = TestCa(tmp_path / "other", "Other CA")
    issued = ca.issue(tmp_path / "srv", "server")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(issued.cert_file, issued.key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

    threading.Thread(target=serve, daemon=True).start()
    good = ssl.create_default_context(cafile=str(ca.cert_file))
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with good.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            tls.sendall(b"x")
    wrong = ssl.create_default_context(cafile=str(other.cert_file))
    with socket.create_connection(("127.0.0.1", port)) as raw:
        try:
            wrong.wrap_socket(raw, server_hostname="127.0.0.1")
        except ssl.SSLCertVerificationError:
            pass
        else:
            raise AssertionError("a certificate from another CA was accepted")
    assert len(issued.spki_sha256_base64) == 44
