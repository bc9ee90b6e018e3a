"""An operator's decision on a data-subject request, carried out (issue 15): the page and the
API both call ``decide``. A refusal needs a reason; an approved rectification is applied by
``store.privacy_requests``; an approved erasure is carried out by the erasure
(``store.erasure.erase_person``), its counts (never personal data) kept as the outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from callroster.accounts.actor import Actor
from callroster.privacy.subject_requests import Channel, RequestKind
from callroster.store.erasure import erase_person

if TYPE_CHECKING:
    from callroster.store.store import Store


def decide(store: Store, actor: Actor, request_id: str, *, approve: bool, why: str = "") -> None:
    """Approve or refuse the open request ``request_id``.

    Raises:
        NotFoundError: no such request waiting for a decision.
        ValueError: a refusal without a reason.
        AccessDeniedError: ``actor`` is not the operator.
    """
    requests = store.privacy_requests
    if not approve:
        requests.refuse(actor, request_id, why)
        return
    decided = requests.approve(actor, request_id)
    if decided.kind is RequestKind.ERASURE and decided.address is not None:
        address = decided.address
        email = address.value if address.channel is Channel.EMAIL else None
        number = address.value if address.channel is Channel.PHONE else None
        report = erase_person(store, actor, email=email, number=number)
        counts = ", ".join(f"{table} {rows}" for table, rows in sorted(report.counts.items()))
        requests.finish(actor, request_id, f"erased: {counts or 'nothing held'}")
