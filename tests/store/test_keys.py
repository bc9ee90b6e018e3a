"""Master key handling: generated on a fresh install, never replaced under existing data,
rotated without stopping a running service."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import SecretStr

from callroster.accounts.actor import Role, operator_cli
from callroster.config import Settings
from callroster.errors import MasterKeyError
from callroster.privacy.keys import read_key_ring
from callroster.store.store import Store, open_store

OPERATOR = operator_cli("test")


def test_fresh_install_generates_a_private_master_key(store: Store, settings: Settings) -> None:
    path = settings.resolved_master_key_file
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    assert len(read_key_ring(path).key_ids) == 1


def test_missing_key_with_existing_data_is_an_error_not_a_new_key(
    store: Store, settings: Settings
) -> None:
    store.accounts.create_account(OPERATOR, "Keyed LLP", "london")
    store.close()
    settings.resolved_master_key_file.unlink()
    with pytest.raises(MasterKeyError, match="does not exist"):
        open_store(settings)
    assert not settings.resolved_master_key_file.exists()


def test_a_different_key_is_refused(store: Store, settings: Settings) -> None:
    store.accounts.create_account(OPERATOR, "Keyed LLP", "london")
    store.close()
    other = "k9:" + base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(MasterKeyError, match="does not hold"):
        open_store(settings.model_copy(update={"master_key": SecretStr(other)}))


def test_rotation_while_a_service_keeps_running(store: Store, settings: Settings) -> None:
    account_id = store.accounts.create_account(OPERATOR, "Rotating LLP", "london")
    user_id = store.accounts.create_user(
        OPERATOR, account_id, Role.HOST, "Ann Other", phone="+44 7700 900777"
    )
    running = store  # stands for the service, which stays up throughout
    old_ids = read_key_ring(settings.resolved_master_key_file).key_ids

    operator = open_store(settings)  # the `callroster keys rotate` process
    new_id, rewrapped = operator.keys.rotate_master_key()
    operator.close()

    assert rewrapped == 2  # the account's data key and the blind-index key
    assert read_key_ring(settings.resolved_master_key_file).key_ids == [new_id]
    assert new_id not in old_ids
    assert running.keys.master_key_ids_in_use() == {new_id}
    # The running service still reads old data and wraps new keys under the new master key.
    assert running.accounts.get_user(OPERATOR, user_id).phone == "+447700900777"
    running.accounts.create_account(OPERATOR, "Joined later LLP", "miami")
    assert running.keys.master_key_ids_in_use() == {new_id}
    # A restart with the rotated key file opens everything.
    restarted = open_store(settings)
    try:
        assert restarted.accounts.get_user(OPERATOR, user_id).name == "Ann Other"
        assert restarted.accounts.find_user_ids_by_phone("07700 900777") == [user_id]
    finally:
        restarted.close()


def test_rotation_refused_when_the_key_comes_from_the_environment(settings: Settings) -> None:
    ring_text = "env1:" + base64.b64encode(os.urandom(32)).decode()
    store = open_store(settings.model_copy(update={"master_key": SecretStr(ring_text)}))
    try:
        with pytest.raises(MasterKeyError, match="environment"):
            store.keys.rotate_master_key()
    finally:
        store.close()
