"""One chromium per test module (for the modules that use the sync ``chromium()``), instead of
one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support import browser


@pytest.fixture(scope="module", autouse=True)
def _one_chromium_per_module(request: pytest.FixtureRequest) -> Iterator[None]:
    if getattr(request.module, "chromium", None) is not browser.chromium:
        yield  # this module drives the async API (async_chromium) or no browser at all
        return
    with browser.shared_chromium():
        yield
