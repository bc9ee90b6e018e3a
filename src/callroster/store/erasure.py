"""Erasure of one person everywhere they are kept for no other reason, and its journal.

``erase_person(store, actor, *, email=None, number=None) -> ErasureReport``: found by email
and by every spelling of their number through the blind index, across accounts. Being
written for issue 15; the signature is stable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from callroster.accounts.actor import Actor
from callroster.privacy.erasure import ErasureReport, ErasureSubject

if TYPE_CHECKING:
    from callroster.store.store import Store

__all__ = ["ErasureReport", "ErasureSubject", "erase_person"]


def erase_person(
    store: Store, actor: Actor, *, email: str | None = None, number: str | None = None
) -> ErasureReport:
    """Erase one person everywhere, by email and/or phone number (any spelling; a national
    number is read as GB's). Idempotent: erasing again changes nothing and journals nothing
    new.

    Raises:
        ValueError: neither an email nor a number, or one that cannot be normalised.
        AccessDeniedError: ``actor`` is not the operator or the system.
    """
    ErasureSubject.of(email=email, number=number)
    raise NotImplementedError("erasure is being written (issue 15)")
