"""An account's CRM webhook in the store: the URL and the signing secret encrypted under the
account's data key, a generated secret returned once, administrators (and the platform) only,
every access audited by account id without the URL or the secret."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.store.raw_bytes import assert_found_when_planted, clear_forms, raw_views

from callroster.accounts.actor import Actor, Role, operator_cli, system
from callroster.config import Settings
from callroster.crm.webhook import WebhookTarget
from callroster.errors import DataKeyDestroyedError, NotFoundError
from callroster.privacy.keys import DecryptionError
from callroster.store.errors import AccessDeniedError
from callroster.store.models import CrmWebhook
from callroster.store.store import Store

OPERATOR = operator_cli("test")
CALL_LOGGER = system("click-to-call log")
TOKEN = "crmtok-4b9e1d70c3a2f8"
URL = f"https://crm.example/hooks/callroster?token={TOKEN}"
SECRET = "Sextant-Obelisk-Marmalade-9042"


def _account(store: Store, name: str = "Halvorsen Partners") -> tuple[str, Actor]:
    account_id = store.accounts.create_account(OPERATOR, name, "london")
    admin_id = store.accounts.create_user(OPERATOR, account_id, Role.ADMINISTRATOR, "Ada Admin")
    return account_id, Actor(admin_id, Role.ADMINISTRATOR, account_id, "192.0.2.7", "test")


def test_set_read_replace_and_clear(store: Store) -> None:
    account_id, admin = _account(store)
    assert store.accounts.crm_webhook(admin, account_id) is None

    assert store.accounts.set_crm_webhook(admin, account_id, URL, SECRET) is None
    assert store.accounts.crm_webhook(admin, account_id) == WebhookTarget(URL, SECRET.encode())
    # The bridge, logging a call, reads it as the system.
    assert store.accounts.crm_webhook(CALL_LOGGER, account_id) == WebhookTarget(
        URL, SECRET.encode()
    )

    # No secret given: one is made, returned (to be shown once) and stored.
    generated = store.accounts.set_crm_webhook(admin, account_id, "https://crm.example/h", None)
    assert generated is not None and len(generated) >= 43 and generated != SECRET
    target = store.accounts.crm_webhook(admin, account_id)
    assert target == WebhookTarget("https://crm.example/h", generated.encode())
    again = store.accounts.set_crm_webhook(admin, account_id, "https://crm.example/h", None)
    assert again is not None and again != generated
    with store.sessions() as session:
        assert len(session.scalars(select(CrmWebhook)).all()) == 1

    store.accounts.set_crm_webhook(admin, account_id, None, None)
    assert store.accounts.crm_webhook(admin, account_id) is None
    store.accounts.set_crm_webhook(admin, account_id, None, None)  # clearing twice is fine


def test_bad_input_is_refused_without_repeating_it_and_nothing_is_written(store: Store) -> None:
    account_id, admin = _account(store)
    store.accounts.set_crm_webhook(admin, account_id, URL, SECRET)
    cases: list[tuple[str | None, str | None, str]] = [
        (f"ftp://crm.example/{TOKEN}", SECRET, "must start with http:// or https://"),
        (f"crm.example/{TOKEN}", SECRET, "must start with http:// or https://"),
        (f"https:///{TOKEN}", SECRET, "has no host"),
        (f"https://crm.example/{TOKEN} x", SECRET, "spaces or control characters"),
        ("https://crm.example/" + "a" * 2100, SECRET, "longer than 2048"),
        (URL, "too-short", "16 to 256 characters"),
        (URL, SECRET + "\n", "spaces or control characters"),
        (None, SECRET, "a signing secret needs a webhook URL"),
    ]
    for url, secret, message in cases:
        with pytest.raises(ValueError, match=message) as raised:
            store.accounts.set_crm_webhook(admin, account_id, url, secret)
        assert TOKEN not in str(raised.value) and SECRET not in str(raised.value)
    assert store.accounts.crm_webhook(admin, account_id) == WebhookTarget(URL, SECRET.encode())
    with pytest.raises(NotFoundError):
        store.accounts.set_crm_webhook(OPERATOR, "no-such-account", URL, SECRET)
    with pytest.raises(NotFoundError):
        store.accounts.crm_webhook(OPERATOR, "no-such-account")


@pytest.mark.parametrize("role", [Role.HOST, Role.DELEGATE, Role.GUEST])
def test_only_administrators_of_the_account_and_the_platform(store: Store, role: Role) -> None:
    account_id, admin = _account(store)
    other_id, other_admin = _account(store, "Other LLP")
    store.accounts.set_crm_webhook(admin, account_id, URL, SECRET)
    colleague = Actor("u2", role, account_id, "192.0.2.8", "test")
    for actor in (colleague, other_admin):
        with pytest.raises(AccessDeniedError):
            store.accounts.set_crm_webhook(actor, account_id, "https://evil.example/", None)
        with pytest.raises(AccessDeniedError):
            store.accounts.set_crm_webhook(actor, account_id, None, None)
        with pytest.raises(AccessDeniedError):
            store.accounts.crm_webhook(actor, account_id)
    assert store.accounts.crm_webhook(OPERATOR, account_id) == WebhookTarget(URL, SECRET.encode())
    assert store.accounts.crm_webhook(other_admin, other_id) is None
    store.accounts.set_crm_webhook(OPERATOR, account_id, None, None)
    assert store.accounts.crm_webhook(admin, account_id) is None


def test_every_access_is_audited_by_account_without_url_or_secret(store: Store) -> None:
    account_id, admin = _account(store)
    generated = store.accounts.set_crm_webhook(admin, account_id, URL, None)
    assert generated is not None
    store.accounts.crm_webhook(CALL_LOGGER, account_id)
    store.accounts.set_crm_webhook(admin, account_id, None, None)
    entries = list(reversed(store.audit.entries(account_id, limit=3)))
    assert [(e.actor, e.action, e.subject) for e in entries] == [
        (admin.label, "crm_webhook.set", f"account:{account_id}"),
        ("system:callroster", "crm_webhook.read", f"account:{account_id}"),
        (admin.label, "crm_webhook.clear", f"account:{account_id}"),
    ]
    for entry in store.audit.entries():
        text = " ".join((entry.actor, entry.action, entry.subject, entry.source, entry.reason))
        assert TOKEN not in text and "crm.example" not in text and generated not in text
    assert store.audit.verify() is None


def test_url_and_secret_are_not_in_the_database_in_clear(
    store: Store, settings: Settings, request: pytest.FixtureRequest
) -> None:
    account_id, admin = _account(store)
    generated = store.accounts.set_crm_webhook(admin, account_id, URL, None)
    assert generated is not None
    with store.sessions() as session:
        row = session.get_one(CrmWebhook, account_id)
    store.close()  # the last connection closing checkpoints SQLite's WAL into the file
    views = raw_views(settings, request)
    for raw in views:
        for form in clear_forms(URL) + clear_forms(TOKEN) + clear_forms(generated):
            assert form not in raw
    # The ciphertext is what is there (so the search above looked in the right place).
    for blob in (row.url_enc, row.secret_enc):
        assert any(blob.hex().encode() in raw or blob in raw for raw in views)
    # The positive control: the same search finds the URL, token and secret once there.
    assert_found_when_planted(settings, request, URL, TOKEN, generated)


def test_cleared_ciphertext_does_not_linger(
    store: Store, settings: Settings, request: pytest.FixtureRequest
) -> None:
    account_id, admin = _account(store)
    store.accounts.set_crm_webhook(admin, account_id, URL, SECRET)
    with store.sessions() as session:
        row = session.get_one(CrmWebhook, account_id)
    store.accounts.set_crm_webhook(admin, account_id, None, None)
    store.close()
    for raw in raw_views(settings, request):
        for blob in (row.url_enc, row.secret_enc):
            for form in clear_forms(blob):
                assert form not in raw
    # The positive control: the same search finds the ciphertexts once they are there.
    assert_found_when_planted(settings, request, row.url_enc, row.secret_enc)


def test_ciphertext_moved_to_another_account_does_not_decrypt(store: Store) -> None:
    account_id, admin = _account(store)
    other_id, other_admin = _account(store, "Other LLP")
    store.accounts.set_crm_webhook(admin, account_id, URL, SECRET)
    store.accounts.set_crm_webhook(other_admin, other_id, "https://other.example/", SECRET)
    with store.sessions.begin() as session:
        source = session.get_one(CrmWebhook, account_id)
        target = session.get_one(CrmWebhook, other_id)
        target.url_enc = source.url_enc
    with pytest.raises(DecryptionError):
        store.accounts.crm_webhook(other_admin, other_id)
    with store.sessions.begin() as session:  # and the URL's ciphertext is not the secret's
        row = session.get_one(CrmWebhook, account_id)
        row.secret_enc = row.url_enc
    with pytest.raises(DecryptionError):
        store.accounts.crm_webhook(admin, account_id)


def test_a_shredded_account_s_webhook_is_unreadable(store: Store) -> None:
    account_id, admin = _account(store)
    store.accounts.set_crm_webhook(admin, account_id, URL, SECRET)
    store.accounts.shred_account(OPERATOR, account_id)
    with pytest.raises(DataKeyDestroyedError):
        store.accounts.crm_webhook(CALL_LOGGER, account_id)
