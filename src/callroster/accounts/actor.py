"""Who is acting, from where, and why: carried into every access to personal data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    ADMINISTRATOR = "administrator"
    HOST = "host"
    DELEGATE = "delegate"
    GUEST = "guest"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """The principal behind a request. ``account_id`` is None only for operator and system."""

    actor_id: str
    role: Role
    account_id: str | None
    source: str
    reason: str

    @property
    def label(self) -> str:
        return f"{self.role.value}:{self.actor_id}"

    def may_access_account(self, account_id: str) -> bool:
        if self.role in (Role.OPERATOR, Role.SYSTEM):
            return True
        return self.account_id == account_id


def operator_cli(reason: str) -> Actor:
    """The operator at the server's command line (the only operator there is today)."""
    return Actor("cli", Role.OPERATOR, None, "cli", reason)


def system(reason: str) -> Actor:
    return Actor("callroster", Role.SYSTEM, None, "internal", reason)
