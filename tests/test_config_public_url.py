"""``public_url``: the base of every link when a reverse proxy or a port mapping stands in
front of the web port (links otherwise name ``scheme://public_host:http_port``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callroster.config import load_settings
from callroster.errors import ConfigError


def test_links_name_the_public_url_behind_a_proxy(tmp_path: Path) -> None:
    plain = load_settings(data=tmp_path, public_host="conference.example.net")
    assert plain.web_base_url == "http://conference.example.net:8000"  # the control
    proxied = load_settings(
        data=tmp_path,
        public_host="conference.example.net",
        public_url="https://conference.example.net/",
    )
    assert proxied.web_base_url == "https://conference.example.net"
    with_port = load_settings(data=tmp_path, public_url="https://[2001:db8::1]:8443")
    assert with_port.web_base_url == "https://[2001:db8::1]:8443"


@pytest.mark.parametrize(
    "bad",
    [
        "conference.example.net",  # no scheme
        "ftp://conference.example.net",
        "https://",
        "https://conference.example.net/app",  # links are paths appended to an origin
        "https://conference.example.net/?next=x",
        "https://user@conference.example.net",
        "https://conference.example.net:99999",
    ],
)
def test_anything_but_an_origin_is_one_line_naming_the_setting(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="public_url"):
        load_settings(data=tmp_path, public_url=bad)
