"""A server's TLS certificate from two PEM files, served from one ``ssl.SSLContext`` and
re-read when the files change: a renewal (certbot, an ACME client, an operator's copy) is
served without a restart.

``ServerCertificate(cert_file, key_file)`` reads both files, checks them (a certificate in
the one, an unencrypted private key in the other, the key the certificate's) and loads them
into ``context``: TLS 1.2 at least, Python's server defaults otherwise (ciphers, no
compression, no renegotiation). A file that does not load is a ``ConfigError`` with one line
saying which file and why: ``serve`` refuses to start.

``reload_if_changed()`` compares each file's inode, size and modification time with what was
loaded; on a change it reads the files once, checks the pair on a scratch context, and only
then loads the same bytes into the live one. New connections get the new certificate;
connections already open keep theirs. A broken pair (bad PEM, a key that does not match, a
certificate written before its key) is refused with one error line, and the old certificate
keeps serving: OpenSSL's ``load_cert_chain`` on the live context would otherwise leave it
with a certificate and no key, and every handshake would fail. The file's state is noted
before it is read, so a write that lands while it is being read is seen at the next check,
and a later good pair is taken. ``watch(every)`` calls it every ``every`` seconds; it runs
on the event loop's thread (a check is a ``stat`` of two files; a load about a millisecond),
so the live context is never changed while a handshake on that thread reads it.

The bytes reach OpenSSL through an anonymous in-memory file (``memfd_create``), as
``load_cert_chain`` takes only paths: the private key is not copied to a disk.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from callroster.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileStamp:
    """What tells one version of a file from the next without reading it."""

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp | None:
        """The file's stamp, or None when it cannot be read (missing, being replaced)."""
        try:
            stat = path.stat()
        except OSError:
            return None
        return cls(stat.st_ino, stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class Loaded:
    """The certificate being served: its serial number and when it expires."""

    serial: int
    not_after: datetime.datetime

    def __str__(self) -> str:
        return f"serial {self.serial:x}, valid until {self.not_after:%Y-%m-%d %H:%M} UTC"


class Reload(Enum):
    """What a check of the files did."""

    UNCHANGED = "unchanged"
    RELOADED = "reloaded"
    REFUSED = "refused"  # the new files did not load; the old certificate still serves


def server_context() -> ssl.SSLContext:
    """A server context without a certificate: TLS 1.2 at least, defaults otherwise."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class ServerCertificate:
    """The live context of one server (see the module docstring)."""

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        what: str = "web",
        names: tuple[str, str] = ("tls_cert_file", "tls_key_file"),
    ) -> None:
        """``names``: the settings the two files come from, as errors name them."""
        self.cert_file, self.key_file, self.what = cert_file, key_file, what
        self.names = names
        self.context = server_context()
        self._stamps = self._stamp()
        self.loaded = _load(self.context, *_read(cert_file, key_file, names), names)

    def _stamp(self) -> tuple[FileStamp | None, FileStamp | None]:
        return FileStamp.of(self.cert_file), FileStamp.of(self.key_file)

    def reload_if_changed(self) -> Reload:
        """Load the files again if either changed since the last check."""
        stamps = self._stamp()
        if stamps == self._stamps:
            return Reload.UNCHANGED
        self._stamps = stamps  # noted before reading: a write during the read shows next time
        try:
            cert_pem, key_pem = _read(self.cert_file, self.key_file, self.names)
            _load(server_context(), cert_pem, key_pem, self.names)  # a broken pair stops here
            loaded = _load(self.context, cert_pem, key_pem, self.names)
        except ConfigError as exc:
            log.error(
                "%s certificate not reloaded, the old one still serves (%s): %s",
                self.what,
                self.loaded,
                exc,
            )
            return Reload.REFUSED
        self.loaded = loaded
        log.info("%s certificate reloaded from %s: %s", self.what, self.cert_file, loaded)
        return Reload.RELOADED

    async def watch(self, every: float) -> None:
        """Check the files every ``every`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(every)
            self.reload_if_changed()


def _read(cert_file: Path, key_file: Path, names: tuple[str, str]) -> tuple[bytes, bytes]:
    """Both files' bytes, each checked for what it must hold."""
    cert_name, key_name = names
    cert_pem = _read_file(cert_file, cert_name)
    key_pem = _read_file(key_file, key_name)
    try:
        x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise ConfigError(f"{cert_name} {cert_file}: no PEM certificate in it") from None
    try:
        load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise ConfigError(
            f"{key_name} {key_file}: the key is encrypted; give it without a password"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{key_name} {key_file}: no PEM private key in it") from None
    return cert_pem, key_pem


def _read_file(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{setting} {path}: {exc.strerror or exc}") from None


def _load(
    context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes, names: tuple[str, str]
) -> Loaded:
    """Load the pair into ``context``; what is now served."""
    cert_name, key_name = names
    with _in_memory(cert_pem) as cert_path, _in_memory(key_pem) as key_path:
        try:
            context.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as exc:
            if exc.reason == "KEY_VALUES_MISMATCH":
                raise ConfigError(
                    f"{key_name} is not the key of the certificate in {cert_name}"
                ) from None
            raise ConfigError(f"{cert_name} and {key_name} do not load: {exc}") from None
    leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    return Loaded(leaf.serial_number, leaf.not_valid_after_utc)


@contextmanager
def _in_memory(data: bytes) -> Iterator[str]:
    """A path OpenSSL can open that holds ``data``: an anonymous memory file where the system
    has them (Linux; ``memfd_create`` is in systemd's ``@system-service`` filter), else a
    file only this user may read, in a folder of its own, deleted at once."""
    try:
        fd = os.memfd_create("callroster-tls", os.MFD_CLOEXEC)
    except (AttributeError, OSError):  # not Linux, or filtered out
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "pem"
            path.touch(mode=0o600)
            path.write_bytes(data)
            yield str(path)
        return
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)
