"""What lets a call into a conference: which one, whose, and as whom. The store's answer to
a PIN (``store.conferences.PinMatch``) is one; a click-to-call's private room is another.
The bridge asks only for these fields, so it never depends on the store's types."""

from __future__ import annotations

from typing import Protocol


class Admission(Protocol):
    @property
    def conference_id(self) -> str: ...

    @property
    def account_id(self) -> str: ...

    @property
    def as_host(self) -> bool: ...

    @property
    def locked(self) -> bool:
        """Whether the conference is locked by default (before anyone is on it)."""
        ...

    @property
    def talk_sensitivity(self) -> float: ...
