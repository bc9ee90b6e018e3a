"""Where an account's click-to-call logs go: its CRM's webhook URL and signing secret.

Pure, so the store can build one without pulling in the HTTP client. The URL may embed a
token of the CRM's (in its path, query or user part), so error messages never repeat it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
MAX_URL_LENGTH = 2048
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 256

_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")  # controls and spaces: never in a URL sent as is


def check_url(url: str) -> str:
    """The URL, if it is an absolute https URL with a host (http only to a loopback host);
    ValueError otherwise.

    The message names what is wrong, never the URL itself.
    """
    if not isinstance(url, str) or not url:
        raise ValueError("the webhook URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the webhook URL is longer than {MAX_URL_LENGTH} characters")
    if _FORBIDDEN.search(url):
        raise ValueError("the webhook URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError:
        raise ValueError("the webhook URL cannot be parsed") from None
    if parts.scheme.lower() not in SCHEMES:
        raise ValueError("the webhook URL must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("the webhook URL has no host")
    if parts.scheme.lower() == "http" and not _loopback(parts.hostname):
        raise ValueError(
            "call logs carry numbers and notes: the webhook URL must be https:// "
            "(http:// only to this machine, for testing)"
        )
    return url


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secret(secret: str) -> str:
    """The signing secret, if it is 16 to 256 printable characters; ValueError otherwise.

    The message never repeats the secret.
    """
    if not isinstance(secret, str) or not (MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH):
        raise ValueError(
            f"the signing secret must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters"
        )
    if _FORBIDDEN.search(secret):
        raise ValueError("the signing secret contains spaces or control characters")
    return secret


@dataclass(frozen=True)
class WebhookTarget:
    """A CRM webhook: the URL to POST to and the secret its requests are signed with.

    The secret is left out of the repr (and so of ``str``, logs and error reports). The
    secret's bytes are what ``signing.sign`` keys the HMAC with: for a secret stored as text,
    its UTF-8 encoding.

    Raises:
        ValueError: the URL is not an http or https URL, or the secret is empty.
    """

    url: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_url(self.url)
        if not self.secret:
            raise ValueError("a webhook needs a signing secret")
