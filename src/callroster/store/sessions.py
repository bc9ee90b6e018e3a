"""Sign-in sessions, failed sign-ins (for lock-out) and the TOTP second factor.

A session token (``crs_<random>``) lives only in the browser's cookie; the store keeps its
SHA-256 as the session's id, so a leaked database opens no session. The CSRF token of a
session is derived from the session token (HMAC), so it is never stored either. TOTP secrets
are encrypted under the account's data key like any personal field; recovery codes are kept
as SHA-256 digests and each works once. Every sign-in, sign-out, failure, lock-out,
enrolment and recovery-code use is audit-logged by ids, never with the password, code or
token.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from callroster.accounts import session_policy, totp
from callroster.accounts.actor import Actor, Role
from callroster.store.audit import AuditLog
from callroster.store.models import Account, RecoveryCode, SignInFailure, SignInSession, User
from callroster.store.repository import USER_EMAIL, Repository, affected

PREFIX = "crs_"
_CSRF_CONTEXT = b"callroster csrf v1"
# Failed sign-in attempts are kept this long, then deleted (the privacy page says so).
FAILURES_KEPT = dt.timedelta(hours=1)


def session_id_of(token: str) -> str:
    """The stored id of a session: the SHA-256 of its token, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(token: str) -> str:
    """The CSRF token of the session ``token`` opens: only someone holding the session's
    cookie (and so the page the server rendered) can know it."""
    digest = hmac.new(token.encode(), _CSRF_CONTEXT, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_matches(token: str, candidate: str | None) -> bool:
    return bool(candidate) and hmac.compare_digest(
        csrf_token_for(token).encode(), (candidate or "").encode()
    )


class TotpState(StrEnum):
    PENDING = "pending"
    ENROLLED = "enrolled"


@dataclass(frozen=True)
class SessionView:
    """A live session. Never carries the token."""

    id: str
    user_id: str
    account_id: str
    role: Role
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    stay_signed_in: bool
    source: str
    second_factor_done: bool
    second_factor_enrolled: bool

    @property
    def second_factor_required(self) -> bool:
        """Administrators must use a second factor; anyone who enrolled one does."""
        return self.role == Role.ADMINISTRATOR or self.second_factor_enrolled

    @property
    def complete(self) -> bool:
        """Whether the session may be used for anything beyond finishing sign-in."""
        return self.second_factor_done or not self.second_factor_required


class SessionRepository:
    def __init__(
        self, sessions: sessionmaker[Session], audit: AuditLog, clock: Callable[[], dt.datetime]
    ) -> None:
        self._sessions = sessions
        self._audit = audit
        self._clock = clock

    def create(
        self, actor: Actor, user_id: str, *, stay_signed_in: bool, second_factor_done: bool
    ) -> str:
        """Open a session for ``user_id`` (whose password was just checked) and return its
        token; it cannot be shown again. Audit-logged as ``signin``."""
        token = PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        with self._sessions.begin() as session:
            user = session.get_one(User, user_id)
            session.execute(delete(SignInSession).where(SignInSession.expires_at <= now))
            session.add(
                SignInSession(
                    id=session_id_of(token),
                    user_id=user_id,
                    account_id=user.account_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=session_policy.expires_at(now, stay_signed_in=stay_signed_in),
                    stay_signed_in=stay_signed_in,
                    source=actor.source[:64],
                    second_factor_done=second_factor_done,
                )
            )
            self._audit.record(session, actor, "signin", f"user:{user_id}", user.account_id)
        return token

    def authenticate(self, token: str, *, touch: bool = True) -> SessionView | None:
        """The session ``token`` opens, or None when there is none, it has expired (then it
        is deleted), its user is suspended or its account is not active (suspended,
        terminated: ``store.onboarding``). ``touch`` slides its idle limit to now."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        now = self._clock()
        with self._sessions.begin() as session:
            row = session.get(SignInSession, session_id_of(token))
            if row is None:
                return None
            user = session.get(User, row.user_id)
            alive = session_policy.session_alive(
                now,
                last_seen_at=row.last_seen_at,
                expires_at=row.expires_at,
                stay_signed_in=row.stay_signed_in,
            )
            account = session.get(Account, row.account_id)
            inactive = account is None or account.status != "active"
            if user is None or user.suspended_at is not None or inactive or not alive:
                session.delete(row)
                return None
            if touch:
                row.last_seen_at = max(row.last_seen_at, now)
            return _view(row, user)

    def complete_second_factor(self, token: str) -> str | None:
        """Mark the session's second factor done and give it a new token (the old one stops
        working), so a token seen before the second factor never opens the full session."""
        new_token = PREFIX + secrets.token_urlsafe(32)
        with self._sessions.begin() as session:
            row = session.get(SignInSession, session_id_of(token))
            if row is None:
                return None
            fresh = SignInSession(
                id=session_id_of(new_token),
                user_id=row.user_id,
                account_id=row.account_id,
                created_at=row.created_at,
                last_seen_at=self._clock(),
                expires_at=row.expires_at,
                stay_signed_in=row.stay_signed_in,
                source=row.source,
                second_factor_done=True,
            )
            session.delete(row)
            session.flush()
            session.add(fresh)
        return new_token

    def end(self, actor: Actor, token: str) -> None:
        """Sign out: the session is deleted. Audit-logged as ``signout``."""
        with self._sessions.begin() as session:
            row = session.get(SignInSession, session_id_of(token))
            if row is None:
                return
            session.delete(row)
            self._audit.record(session, actor, "signout", f"user:{row.user_id}", row.account_id)

    def end_all_for_user(self, actor: Actor, user_id: str) -> int:
        """End every session of a user; returns how many."""
        with self._sessions.begin() as session:
            account_id = session.scalar(
                select(SignInSession.account_id).where(SignInSession.user_id == user_id).limit(1)
            )
            ended = self.end_all_in(session, user_id)
            if ended and account_id is not None:
                self._audit.record(session, actor, "signout.all", f"user:{user_id}", account_id)
            return ended

    def end_all_in(self, session: Session, user_id: str) -> int:
        """End every session of a user inside the caller's transaction (a suspension, a
        removal or a new password ends them with it; the caller audit-logs why). Returns how
        many ended."""
        return affected(session, delete(SignInSession).where(SignInSession.user_id == user_id))


def _view(row: SignInSession, user: User) -> SessionView:
    return SessionView(
        id=row.id,
        user_id=row.user_id,
        account_id=row.account_id,
        role=Role(user.role),
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        stay_signed_in=row.stay_signed_in,
        source=row.source,
        second_factor_done=row.second_factor_done,
        second_factor_enrolled=user.totp_state == TotpState.ENROLLED,
    )


class SignInFailureRepository:
    """Failed attempts by key (a blind index of an email, a source address, an email from an
    address, a user's second factor...), to lock out or slow down guessing
    (``session_policy``)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], dt.datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def locked_until(self, limits: Sequence[session_policy.Limit]) -> dt.datetime | None:
        """The latest end of a lock-out still in force for any of ``limits``, or None."""
        now = self._clock()
        since = now - session_policy.LOCK_WINDOW - session_policy.LOCK_DURATION
        ends: list[dt.datetime] = []
        with self._sessions() as session:
            for limit in limits:
                times = list(
                    session.scalars(
                        select(SignInFailure.at).where(
                            SignInFailure.key == limit.key, SignInFailure.at > since
                        )
                    )
                )
                until = session_policy.locked_until(times, limit.failures)
                if until is not None and until > now:
                    ends.append(until)
        return max(ends, default=None)

    def delayed_until(self, delays: Sequence[session_policy.Delay]) -> dt.datetime | None:
        """The latest time before which ``delays`` refuse another attempt, or None."""
        now = self._clock()
        ends: list[dt.datetime] = []
        with self._sessions() as session:
            for delay in delays:
                since = now - min(delay.window, FAILURES_KEPT)
                times = list(
                    session.scalars(
                        select(SignInFailure.at).where(
                            SignInFailure.key == delay.key, SignInFailure.at > since
                        )
                    )
                )
                until = session_policy.delayed_until(
                    times, now, delay.after, delay.cap, delay.window
                )
                if until is not None and until > now:
                    ends.append(until)
        return max(ends, default=None)

    def record(self, keys: Sequence[bytes]) -> list[int]:
        """Count a failure against each key, now; the rows' ids, for ``forget``."""
        now = self._clock()
        with self._sessions.begin() as session:
            session.execute(delete(SignInFailure).where(SignInFailure.at < now - FAILURES_KEPT))
            rows = [SignInFailure(key=key, at=now) for key in keys]
            session.add_all(rows)
            session.flush()
            return [row.id for row in rows]

    def forget(self, ids: Sequence[int]) -> None:
        """Take back failures ``record`` counted before the attempt was checked, once it
        turned out right."""
        with self._sessions.begin() as session:
            session.execute(delete(SignInFailure).where(SignInFailure.id.in_(list(ids))))

    def clear(self, key: bytes) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(SignInFailure).where(SignInFailure.key == key))


@dataclass(frozen=True)
class Enrolment:
    """A TOTP secret waiting to be confirmed, for its owner's eyes only."""

    secret: str
    uri: str


class SecondFactorMethod(StrEnum):
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"


class SecondFactorRepository(Repository):
    def state(self, user_id: str) -> TotpState | None:
        with self._sessions() as session:
            state = session.scalar(select(User.totp_state).where(User.id == user_id))
        return TotpState(state) if state else None

    def begin_enrolment(self, actor: Actor, user_id: str) -> Enrolment:
        """A secret for ``user_id`` to add to an authenticator app: the pending one if there
        is one (so reloading the page shows the same secret), else a new one.

        Raises:
            ValueError: the user has already enrolled.
        """
        with self._sessions.begin() as session:
            user = session.get_one(User, user_id)
            if user.totp_state == TotpState.ENROLLED:
                raise ValueError("a second factor is already enrolled")
            cipher = self._keys.cipher(user.account_id)
            if user.totp_state == TotpState.PENDING and user.totp_secret_enc is not None:
                secret = cipher.decrypt("users.totp_secret", user.totp_secret_enc)
            else:
                secret = totp.new_secret()
                user.totp_secret_enc = cipher.encrypt("users.totp_secret", secret)
                user.totp_state = TotpState.PENDING.value
                user.totp_last_step = None
            label = USER_EMAIL.open_optional(cipher, user.email_enc) or user.id
            self._audit.record(
                session, actor, "second_factor.enrol_begin", f"user:{user_id}", user.account_id
            )
        return Enrolment(secret, totp.provisioning_uri(secret, label))

    def confirm_enrolment(self, actor: Actor, user_id: str, code: str) -> list[str] | None:
        """Finish enrolment with a code from the app: returns the recovery codes (to show
        once), or None when the code is not right (nothing changes).

        Raises:
            ValueError: there is no pending enrolment.
        """
        now = self._clock()
        with self._sessions.begin() as session:
            user = session.get_one(User, user_id)
            if user.totp_state != TotpState.PENDING or user.totp_secret_enc is None:
                raise ValueError("no second factor enrolment is pending")
            secret = self._keys.cipher(user.account_id).decrypt(
                "users.totp_secret", user.totp_secret_enc
            )
            step = totp.verify(secret, code, now, user.totp_last_step)
            if step is None:
                self._audit.record(
                    session, actor, "second_factor.failure", f"user:{user_id}", user.account_id
                )
                return None
            user.totp_state = TotpState.ENROLLED.value
            user.totp_enrolled_at = now
            user.totp_last_step = step
            codes = self._replace_recovery_codes(session, user_id, now)
            self._audit.record(
                session, actor, "second_factor.enrol", f"user:{user_id}", user.account_id
            )
        return codes

    def _replace_recovery_codes(
        self, session: Session, user_id: str, now: dt.datetime
    ) -> list[str]:
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        codes = totp.new_recovery_codes()
        for code in codes:
            session.add(
                RecoveryCode(
                    id=str(uuid.uuid4()),
                    user_id=user_id,
                    code_hash=totp.recovery_code_hash(code),
                    created_at=now,
                )
            )
        return codes

    def verify(self, actor: Actor, user_id: str, code: str) -> SecondFactorMethod | None:
        """Check a TOTP code or a recovery code of an enrolled user. A recovery code is used
        up; a TOTP code's step cannot be used again. Every outcome is audit-logged."""
        now = self._clock()
        with self._sessions.begin() as session:
            user = session.get_one(User, user_id)
            method: SecondFactorMethod | None = None
            if user.totp_state == TotpState.ENROLLED and user.totp_secret_enc is not None:
                if totp.looks_like_totp(code):
                    secret = self._keys.cipher(user.account_id).decrypt(
                        "users.totp_secret", user.totp_secret_enc
                    )
                    step = totp.verify(secret, code, now, user.totp_last_step)
                    if step is not None:
                        user.totp_last_step = step
                        method = SecondFactorMethod.TOTP
                else:
                    row = session.scalar(
                        select(RecoveryCode).where(
                            RecoveryCode.user_id == user_id,
                            RecoveryCode.code_hash == totp.recovery_code_hash(code),
                            RecoveryCode.used_at.is_(None),
                        )
                    )
                    if row is not None:
                        row.used_at = now
                        method = SecondFactorMethod.RECOVERY_CODE
            action = {
                None: "second_factor.failure",
                SecondFactorMethod.TOTP: "second_factor.verify",
                SecondFactorMethod.RECOVERY_CODE: "second_factor.recovery_code_use",
            }[method]
            self._audit.record(session, actor, action, f"user:{user_id}", user.account_id)
        return method

    def recovery_codes_left(self, user_id: str) -> int:
        with self._sessions() as session:
            return len(
                session.scalars(
                    select(RecoveryCode.id).where(
                        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
                    )
                ).all()
            )
