"""Cost of privacy in the store: field encryption, blind index, and encrypted user writes and
look-ups on SQLite."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from callroster.accounts.actor import Role, operator_cli
from callroster.config import load_settings
from callroster.privacy.keys import BlindIndex, FieldCipher, new_data_key
from callroster.store.store import open_store


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1)


def run() -> dict[str, float]:
    figures: dict[str, float] = {}
    cipher = FieldCipher("bench", new_data_key())
    index = BlindIndex(new_data_key())
    n = 50_000
    start = time.perf_counter()
    blobs = [cipher.encrypt("users.phone", f"+4477009{i:05d}") for i in range(n)]
    figures["field_encrypt_per_s"] = _rate(n, time.perf_counter() - start)
    start = time.perf_counter()
    for blob in blobs:
        cipher.decrypt("users.phone", blob)
    figures["field_decrypt_per_s"] = _rate(n, time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(n):
        index.of("phone", f"+4477009{i:05d}")
    figures["blind_index_per_s"] = _rate(n, time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as folder:
        store = open_store(load_settings(data=Path(folder)))
        actor = operator_cli("bench")
        account = store.accounts.create_account(actor, "Bench LLP", "london")
        users = 500
        start = time.perf_counter()
        for i in range(users):
            store.accounts.create_user(
                actor, account, Role.HOST, f"Host {i}", phone=f"+44 7700 9{i:05d}"
            )
        figures["sqlite_user_insert_per_s"] = _rate(users, time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(users):
            assert store.accounts.find_user_ids_by_phone(f"07700 9{i:05d}")
        figures["sqlite_lookup_by_phone_per_s"] = _rate(users, time.perf_counter() - start)
        store.close()
    return figures
