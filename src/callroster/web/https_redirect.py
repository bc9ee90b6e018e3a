"""The plain-HTTP port beside HTTPS (``http_redirect_port``): every request is answered 308
to the same path and query over HTTPS, and nothing else is behind it (no app, no session, no
body read).

The host the redirect names is one of ``Settings.redirect_hosts`` (``public_host``, or the
addresses the service listens on): the request's ``Host`` header only chooses among them (a
visitor who typed ``127.0.0.1`` or ``[::1]`` stays there), and a Host that names anything
else gets the first of them. A redirect is never built from what a client wrote: the path is
the request's own, and the authority is ours, so this port is no open redirect.

308 (not 301) keeps the method and the body for a client that repeats them: a POST stays a
POST. The answer closes the connection; a request body is not read (uvicorn then drops the
connection), and the server in front of it (``app.redirect_server_config``) caps a request's
head at 8 KiB.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from starlette.types import Receive, Scope, Send

# What a path may hold unescaped (RFC 3986 pchar and "/"), and "%" of what was escaped.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def host_of(header: str) -> str:
    """The host of a Host header, without its port, lower-cased (``[::1]:80`` is ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def location(hosts: Sequence[str], https_port: int, host_header: str, target: str) -> str:
    """Where a request for ``target`` (its path and query, as sent) that named
    ``host_header`` is sent: the same target on one of ``hosts``, over HTTPS."""
    wanted = host_of(host_header)
    host = next((h for h in hosts if h.lower() == wanted), hosts[0])
    authority = f"[{host}]" if ":" in host else host
    if https_port != 443:
        authority += f":{https_port}"
    return f"https://{authority}{target}"


class RedirectToHttps:
    """ASGI app: the 308 of the module docstring for every HTTP request."""

    def __init__(self, hosts: Sequence[str], https_port: int) -> None:
        if not hosts:
            raise ValueError("a redirect needs a host to name")
        self.hosts = tuple(hosts)
        self.https_port = https_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = "/" + quote(raw_path.decode("latin-1").lstrip("/"), safe=_PATH_SAFE)
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{quote(query, safe=_QUERY_SAFE)}" if query else "")
        url = location(self.hosts, self.https_port, host, target)
        body = f"Moved to {url}\n".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [
                    (b"location", url.encode()),
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    (b"referrer-policy", b"no-referrer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
