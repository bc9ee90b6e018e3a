"""Trusted proxies (issue 12, finding 9): nobody's ``X-Forwarded-For`` is believed unless the
operator names the proxy. Empty by default, and then uvicorn reads no forwarding header at
all; addresses and networks only (no ``*``, no host names); what is named is what uvicorn
trusts. The real service's behaviour: tests/security/test_forwarded_for.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from callroster.app import web_server_config
from callroster.config import load_settings
from callroster.errors import ConfigError


def test_by_default_no_forwarding_header_is_read(tmp_path: Path) -> None:
    settings = load_settings(data=tmp_path)
    assert settings.trusted_proxy_list == []
    config = web_server_config(FastAPI(), settings)
    assert config.proxy_headers is False
    config.load()
    assert not isinstance(config.loaded_app, ProxyHeadersMiddleware)


def test_the_proxies_named_are_the_ones_trusted(tmp_path: Path) -> None:
    settings = load_settings(data=tmp_path, trusted_proxies=" 127.0.0.1, 10.1.0.0/16 ,::1 ")
    assert settings.trusted_proxy_list == ["127.0.0.1", "10.1.0.0/16", "::1"]
    config = web_server_config(FastAPI(), settings)
    assert config.proxy_headers is True
    assert config.forwarded_allow_ips == ["127.0.0.1", "10.1.0.0/16", "::1"]
    config.load()
    assert isinstance(config.loaded_app, ProxyHeadersMiddleware)


def test_the_environment_sets_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, "CALLROSTER_TRUSTED_PROXIES", "192.0.2.10")
    assert load_settings(data=tmp_path).trusted_proxy_list == ["192.0.2.10"]


@pytest.mark.parametrize("value", ["*", "proxy.example", "10.0.0.0/33", "127.0.0.1,nope"])
def test_anything_but_addresses_and_networks_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="trusted_proxies"):
        load_settings(data=tmp_path, trusted_proxies=value)
