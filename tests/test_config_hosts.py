"""Addresses printed for people and phones: an IPv6 host is bracketed in URIs (RFC 3261
19.1.1, RFC 3986 3.2.2), an IPv4 host or a name is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from callroster.config import load_settings
from callroster.errors import ConfigError


@pytest.mark.parametrize(
    ("bind", "public", "sip", "web"),
    [
        ("127.0.0.1", None, "127.0.0.1:5094", "http://127.0.0.1:8094"),
        ("::1", None, "[::1]:5094", "http://[::1]:8094"),
        ("::1", "bridge.example", "bridge.example:5094", "http://bridge.example:8094"),
    ],
)
def test_uris_bracket_ipv6_hosts(
    tmp_path: Path, bind: str, public: str | None, sip: str, web: str
) -> None:
    settings = load_settings(
        data=tmp_path, bind=bind, public_host=public, sip_port=5094, http_port=8094
    )
    assert (settings.sip_hostport, settings.web_base_url) == (sip, web)


def test_bind_may_list_an_ipv4_and_an_ipv6_address(tmp_path: Path) -> None:
    settings = load_settings(data=tmp_path, bind="127.0.0.1, ::1", sip_port=5094, http_port=8094)
    assert settings.bind_addresses == ["127.0.0.1", "::1"]
    assert settings.sip_listening == "127.0.0.1:5094 and [::1]:5094"
    assert settings.web_base_url == "http://127.0.0.1:8094"  # links name the first


@pytest.mark.parametrize(
    ("bind", "why"),
    [("127.0.0.1,127.0.0.2", "two IPv4"), ("::1,::2", "two IPv6"), ("127.0.0.1,localhost", "not")],
)
def test_bind_refuses_two_of_a_family_and_names(tmp_path: Path, bind: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        load_settings(data=tmp_path, bind=bind)
