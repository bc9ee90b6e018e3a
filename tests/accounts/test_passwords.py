"""Passwords are hashed with argon2id at argon2-cffi's tuned cost (the other in-process tests
use the lowest cost, tests/conftest.py; this one keeps the service's own)."""

from __future__ import annotations

import pytest
from argon2 import Type
from argon2.profiles import RFC_9106_LOW_MEMORY

from callroster.accounts import passwords

pytestmark = pytest.mark.real_password_cost


def test_the_service_hashes_with_argon2id_at_64_mib_and_three_passes() -> None:
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    params = dict(part.split("=") for part in stored.split("$")[3].split(","))
    assert int(params["m"]) >= RFC_9106_LOW_MEMORY.memory_cost == 65536
    assert int(params["t"]) >= 3
    assert passwords._hasher.type is Type.ID
    assert passwords.verify_password(stored, "correct horse battery")
    assert not passwords.verify_password(stored, "correct horse battery!")


def test_a_hash_made_at_the_lowest_cost_still_verifies_and_is_seen_as_weak() -> None:
    """What the quick hashing of the other tests leaves in their stores still signs in; the
    service's hasher says such a hash needs rehashing (the control for the test above)."""
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse")
    assert passwords.verify_password(weak, "correct horse")
    assert passwords._hasher.check_needs_rehash(weak)
