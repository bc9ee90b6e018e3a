"""An account's own contact list: used for name resolution on that account's conferences only."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from callroster.accounts.actor import Actor
from callroster.privacy import normalise
from callroster.store.accounts import authorise
from callroster.store.models import Contact
from callroster.store.repository import CONTACT_EMAIL, CONTACT_PHONE, Repository, affected


class ContactRepository(Repository):
    def add(
        self,
        actor: Actor,
        account_id: str,
        name: str,
        *,
        phone: str | None = None,
        email: str | None = None,
        region: str = "GB",
    ) -> str:
        authorise(actor, account_id)
        index = self._keys.blind_index()
        cipher = self._keys.cipher(account_id)
        e164 = normalise.phone_e164(phone, region) if phone else None
        mail = normalise.email(email) if email else None
        phone_enc, phone_index = CONTACT_PHONE.seal_optional(cipher, index, e164)
        email_enc, email_index = CONTACT_EMAIL.seal_optional(cipher, index, mail)
        contact_id = str(uuid.uuid4())
        with self._sessions.begin() as session:
            session.add(
                Contact(
                    id=contact_id,
                    account_id=account_id,
                    name_enc=cipher.encrypt("contacts.name", name),
                    phone_enc=phone_enc,
                    phone_index=phone_index,
                    email_enc=email_enc,
                    email_index=email_index,
                    created_at=self._clock(),
                )
            )
            self._audit.record(
                session, actor, "contact.create", f"contact:{contact_id}", account_id
            )
        return contact_id

    def name_for_number(
        self, actor: Actor, account_id: str, phone: str, region: str = "GB"
    ) -> str | None:
        """The contact name for a number, searching only ``account_id``'s own list."""
        authorise(actor, account_id)
        try:
            e164 = normalise.phone_e164(phone, region)
        except normalise.InvalidValueError:
            return None
        digest = self._index_of(CONTACT_PHONE, e164)
        with self._sessions.begin() as session:
            row = session.scalar(
                select(Contact)
                .where(Contact.account_id == account_id, Contact.phone_index == digest)
                .limit(1)
            )
            if row is None:
                return None
            self._audit.record(session, actor, "contact.match", f"contact:{row.id}", account_id)
            return self._keys.cipher(account_id).decrypt("contacts.name", row.name_enc)

    def delete_all_in(self, session: Session, account_id: str) -> int:
        """Delete the account's whole contact list inside the caller's transaction; returns
        how many."""
        return affected(session, delete(Contact).where(Contact.account_id == account_id))
