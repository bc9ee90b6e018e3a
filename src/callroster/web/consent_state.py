"""The consent of the request being answered, for the page layout and the routes:
``web/consent_middleware.py`` sets it for each HTTP request (a context variable: an async
route sees it, and so does a sync one, which Starlette runs in a worker thread with a copy of
the request's context); ``current()`` reads it. Outside a request (a page rendered by a test
on its own) there is none: no banner, nothing optional.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

from starlette.types import Scope

from callroster.api.request_timing import UNMATCHED, route_template
from callroster.privacy.consent import Category, Decision


@dataclass(frozen=True)
class ConsentState:
    """One request's consent.

    Attributes:
        decision: what is in force, and whether to ask (``privacy.consent.decide``).
        here: the path and query asked for, where the banner's forms return to.
        scope: the request's ASGI scope, where routing leaves the route that answered.
    """

    decision: Decision
    here: str
    scope: Scope

    def allows(self, category: Category) -> bool:
        return self.decision.allows(category)

    def page(self) -> str | None:
        """The template of the route answering (``/c/{link}``), never the path itself; it
        becomes one of the ``timed_pages`` a page timing may name."""
        template = route_template(self.scope)
        if template == UNMATCHED:
            return None
        _TIMED_PAGES.add(template)
        return template


_CURRENT: ContextVar[ConsentState | None] = ContextVar("callroster_consent", default=None)
# The route templates of the pages rendered with the timing script: as many as the app has
# routes at most, whatever browsers send.
_TIMED_PAGES: set[str] = set()


def timed_pages() -> frozenset[str]:
    """The route templates a page timing may name: those of pages rendered with its script."""
    return frozenset(_TIMED_PAGES)


def current() -> ConsentState | None:
    """The consent of the request being answered, or None outside one."""
    return _CURRENT.get()


def allows(category: Category) -> bool:
    """Whether the request being answered has consent for ``category`` (strictly necessary:
    always; outside a request: only strictly necessary)."""
    state = _CURRENT.get()
    return category == Category.STRICTLY_NECESSARY or (state is not None and state.allows(category))


def enter(state: ConsentState) -> Token[ConsentState | None]:
    """Make ``state`` the current request's; returns the token ``leave`` takes."""
    return _CURRENT.set(state)


def leave(token: Token[ConsentState | None]) -> None:
    _CURRENT.reset(token)
