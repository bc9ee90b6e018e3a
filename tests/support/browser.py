"""Debian's chromium, driven by Playwright (no browser download: ``executable_path``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from playwright.async_api import Browser as AsyncBrowser
from playwright.async_api import async_playwright
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


_shared: Browser | None = None


@contextmanager
def chromium() -> Iterator[Browser]:
    """A chromium for one test. Inside ``shared_chromium`` (tests/browser/conftest.py holds
    one open for each test module), it is that module's browser, and the pages the test opened
    (each ``new_page`` is a fresh context: its own cookies and storage) close when it ends."""
    if _shared is not None:
        before = set(_shared.contexts)
        try:
            yield _shared
        finally:
            for context in _shared.contexts:
                if context not in before:
                    context.close()
        return
    with _launched() as browser:
        yield browser


@contextmanager
def shared_chromium() -> Iterator[Browser]:
    """One chromium that ``chromium()`` hands to every test while this is open: launching
    one takes about a second."""
    global _shared
    with _launched() as browser:
        _shared = browser
        try:
            yield browser
        finally:
            _shared = None


@contextmanager
def _launched() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise RuntimeError("chromium is not installed; run `make test`, which installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@asynccontextmanager
async def async_chromium(extra_args: Sequence[str] = ()) -> AsyncIterator[AsyncBrowser]:
    """The same browser for asyncio tests (which also drive asyncio peers such as baresip).
    ``extra_args`` adds flags, e.g. ``--use-file-for-fake-audio-capture=tone.wav``."""
    if not CHROMIUM.exists():
        raise RuntimeError("chromium is not installed; run `make test`, which installs it")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*FLAGS, *extra_args]
        )
        try:
            yield browser
        finally:
            await browser.close()
