"""How a CRM webhook leaves: connections only to addresses the destination policy allowed,
looked up once, when the connection is opened.

httpx hands a request to httpcore's connection pool, and the pool asks its network backend to
open a TCP connection to the URL's host. ``GuardedBackend`` is that backend. It asks
``DestinationPolicy.addresses`` for the host (a literal address, or a name resolved once and
every answer checked), and connects to those addresses themselves, one after another, never
to the name: a resolver that answers differently a moment later (DNS rebinding) is not asked
again. TLS then runs over that connection with the URL's host name for SNI and the
certificate check, as it would have. The certificate is checked against the system's
certificate authorities (``tls_context``), and those of the operator's ``crm_ca_file``
for a CRM with a private CA; a failed check ends the attempt, never retried without TLS or
without the check. A connection kept alive is reused only for the same
scheme, host and port, so only to an address that was checked when it was opened.

httpx 0.28 takes no network backend for its own transport, so ``GuardedTransport`` is a small
httpx transport over an httpcore pool of its own, mapping requests, responses and errors as
httpx's does; both libraries' extension points used here are public. The client built on it
(``guarded_client``) follows no redirect and uses no proxy from the environment: a proxy
would resolve the name itself.

Errors: a refused host raises ``ForbiddenDestinationError`` (a ``ValueError``) out of the
request; network and protocol failures are httpx's own exceptions, as with its transport.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpcore
import httpx

from callroster.crm.destination import DestinationPolicy, ForbiddenDestinationError
from callroster.tls_failure import tls_failure

__all__ = [
    "GuardedBackend",
    "GuardedTransport",
    "guarded_client",
    "describe_tls_failure",
    "tls_context",
]

# httpcore's errors and the httpx errors they are raised as, most specific first.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """How a webhook's TLS is checked: the system's certificate authorities (OpenSSL's
    default paths, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``), plus ``ca_file``'s (PEM) when
    given; the host name always checked; TLS 1.2 at least.

    Raises:
        OSError, ssl.SSLError: ``ca_file`` cannot be read or holds no certificate.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context


def describe_tls_failure(error: BaseException) -> str | None:
    """What went wrong with TLS, if that is why ``error`` (an httpx error) happened: one
    line, naming neither the URL nor the host; None when TLS is not the cause."""
    failure = tls_failure(error)
    if failure is None:
        return None
    if failure.kind == "wrong_name":
        return "TLS: the CRM's certificate is not for the webhook URL's host"
    if failure.kind == "untrusted":
        return f"TLS: the CRM's certificate is not trusted ({failure.detail})"
    return f"TLS: the handshake with the CRM failed ({failure.detail})"


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except tuple(core for core, _ in _ERRORS) as exc:
        mapped = next(ours for core, ours in _ERRORS if isinstance(exc, core))
        raise mapped(str(exc)) from exc


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that connects only to the addresses ``policy`` allows for a host.

    Args:
        policy: the rule and the resolver (``DestinationPolicy``).
        network: the backend that opens the connections (httpcore's anyio backend).
    """

    def __init__(
        self, policy: DestinationPolicy, network: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._policy = policy
        self._network = network or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A connection to the first of the host's checked addresses that answers.

        Raises:
            ForbiddenDestinationError: the host is, or resolves to, an address refused.
            httpcore.ConnectError: no checked address could be reached.
        """
        # The look-up blocks (getaddrinfo): off the event loop, abandoned on cancellation.
        addresses = await asyncio.to_thread(self._policy.addresses, host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._network.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # addresses is never empty
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise ForbiddenDestinationError("a CRM webhook never goes to a local socket")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    """httpcore's response body as httpx reads it, with httpcore's errors mapped."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _as_httpx_errors():
                await close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose connections go only where ``policy`` allows (see the module
    docstring).

    Args:
        policy: the rule and the resolver.
        ssl_context: how TLS is checked; by default ``tls_context()`` (the system's
            certificate authorities; the URL's host name checked).
        network: the backend that opens connections once an address is checked.
    """

    def __init__(
        self,
        policy: DestinationPolicy,
        *,
        ssl_context: ssl.SSLContext | None = None,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or tls_context(),
            network_backend=GuardedBackend(policy, network),
            max_connections=20,
            keepalive_expiry=5.0,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def guarded_client(
    policy: DestinationPolicy,
    timeout: float,
    *,
    ssl_context: ssl.SSLContext | None = None,
    network: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncClient:
    """An httpx client for webhooks: connections only where ``policy`` allows, no redirect
    followed, no proxy taken from the environment."""
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, ssl_context=ssl_context, network=network),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
    )
