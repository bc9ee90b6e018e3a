"""A leg on a conference, for store tests: a withheld dial-in caller unless told otherwise."""

from __future__ import annotations

from callroster.accounts.actor import Actor, operator_cli
from callroster.store.store import Store


def add_leg(
    store: Store,
    conference_id: str,
    *,
    name: str | None = None,
    name_source: str | None = None,
    number: str | None = None,
    withheld: bool = True,
    joined_via: str = "dial_in",
    leg_id: str | None = None,
    actor: Actor | None = None,
) -> str:
    return store.conferences.add_leg(
        actor or operator_cli("test"),
        conference_id,
        joined_via=joined_via,
        name=name,
        name_source=name_source,
        number=number,
        withheld=withheld,
        leg_id=leg_id,
    )
