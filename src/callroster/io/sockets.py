"""Binding listening sockets up front, so a taken port is one clear error before anything
starts, and tests can ask for port 0 and read back the port they got."""

from __future__ import annotations

import errno
import socket

from callroster.errors import PortInUseError


def bind_socket(host: str, port: int, kind: socket.SocketKind, what: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind)
    if family == socket.AF_INET6:
        # IPv6 only: "::" must not also take IPv4, which may be bound on its own (dual stack).
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if kind == socket.SOCK_STREAM:
        # Lets a restart bind while old connections sit in TIME_WAIT; does not allow two
        # listeners on Linux.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(512)
    except OSError as exc:
        sock.close()
        proto = "tcp" if kind == socket.SOCK_STREAM else "udp"
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"{what} port {port}/{proto} on {host} is already in use; stop the other "
                "program or choose another port"
            ) from exc
        raise PortInUseError(
            f"cannot listen on {host}:{port}/{proto} for {what}: {exc.strerror}"
        ) from exc
    sock.setblocking(False)
    return sock
