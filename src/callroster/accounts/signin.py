"""Signing in: password, lock-out, second factor. Web routes call these and only render.

No user enumeration: an unknown email and a wrong password get the same message, the same
status and comparable time (argon2 runs against a dummy hash), and the lock-out counts an
unknown email's failures exactly as a registered one's. Failures are counted per email (5 in
15 minutes lock it for 15 minutes) and per source address (20 in 15 minutes), and a second
factor's failures per user (5 in 15 minutes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from callroster.accounts import session_policy
from callroster.accounts.actor import Actor, Role
from callroster.store.sessions import SessionView
from callroster.store.store import Store

WRONG_PASSWORD = "The email or password is not right."
WRONG_CODE = "That code is not right."
SUSPENDED = "This account is suspended. Ask your administrator."


class NextStep(StrEnum):
    """What a session still needs before it may be used."""

    DONE = "done"
    SECOND_FACTOR = "second_factor"  # enter a TOTP code or a recovery code
    ENROL = "enrol"  # an administrator who has no second factor yet must add one


def next_step(view: SessionView) -> NextStep:
    if view.complete:
        return NextStep.DONE
    return NextStep.SECOND_FACTOR if view.second_factor_enrolled else NextStep.ENROL


@dataclass(frozen=True)
class SignedIn:
    token: str
    next_step: NextStep
    stay_signed_in: bool


@dataclass(frozen=True)
class Refused:
    message: str
    status: int  # 401 wrong, 403 suspended, 429 locked out
    retry_after_s: int | None = None


def _email_key(store: Store, email: str) -> bytes:
    # Any text typed counts, valid email or not, registered or not.
    return store.keys.blind_index().of("signin.email", email.strip().lower())


def _source_key(store: Store, source: str) -> bytes:
    return store.keys.blind_index().of("signin.source", source)


def _factor_key(store: Store, user_id: str) -> bytes:
    return store.keys.blind_index().of("signin.second_factor", user_id)


def _locked(store: Store, until: dt.datetime) -> Refused:
    now = store.clock()
    return Refused(
        session_policy.too_many_attempts(until, now),
        429,
        retry_after_s=session_policy.minutes_left(until, now) * 60,
    )


def _anonymous(source: str, reason: str) -> Actor:
    return Actor("anonymous", Role.GUEST, None, source, reason)


def sign_in(
    store: Store, email: str, password: str, *, stay_signed_in: bool, source: str, reason: str
) -> SignedIn | Refused:
    """Check an email and password and open a session, or say why not."""
    email_key, source_key = _email_key(store, email), _source_key(store, source)
    limits = [
        session_policy.Limit(email_key, session_policy.FAILURES_PER_EMAIL),
        session_policy.Limit(source_key, session_policy.FAILURES_PER_SOURCE),
    ]
    until = store.sign_in_failures.locked_until(limits)
    if until is not None:
        store.audit.log(_anonymous(source, reason), "signin.locked", "signin", None)
        return _locked(store, until)

    check = store.accounts.check_sign_in(email, password)
    if check.user_id is None or check.role is None or not check.password_ok:
        store.sign_in_failures.record([email_key, source_key])
        subject = f"user:{check.user_id}" if check.user_id else "signin"
        store.audit.log(_anonymous(source, reason), "signin.failure", subject, check.account_id)
        until = store.sign_in_failures.locked_until(limits)
        if until is not None:
            store.audit.log(_anonymous(source, reason), "signin.lockout", subject, check.account_id)
            return _locked(store, until)
        return Refused(WRONG_PASSWORD, 401)

    actor = Actor(check.user_id, check.role, check.account_id, source, reason)
    if check.suspended:
        store.audit.log(actor, "signin.suspended", f"user:{check.user_id}", check.account_id)
        return Refused(SUSPENDED, 403)
    store.sign_in_failures.clear(email_key)
    required = check.role == Role.ADMINISTRATOR or check.second_factor_enrolled
    token = store.web_sessions.create(
        actor, check.user_id, stay_signed_in=stay_signed_in, second_factor_done=not required
    )
    if not required:
        step = NextStep.DONE
    else:
        step = NextStep.SECOND_FACTOR if check.second_factor_enrolled else NextStep.ENROL
    return SignedIn(token, step, stay_signed_in)


def actor_of(view: SessionView, source: str, reason: str) -> Actor:
    return Actor(view.user_id, view.role, view.account_id, source, reason)


def second_factor(
    store: Store, view: SessionView, token: str, code: str, *, source: str, reason: str
) -> SignedIn | Refused:
    """Finish signing in with a TOTP code or a recovery code."""
    key = _factor_key(store, view.user_id)
    limits = [session_policy.Limit(key, session_policy.FAILURES_PER_SECOND_FACTOR)]
    actor = actor_of(view, source, reason)
    until = store.sign_in_failures.locked_until(limits)
    if until is not None:
        store.audit.log(actor, "second_factor.locked", f"user:{view.user_id}", view.account_id)
        return _locked(store, until)
    method = store.second_factor.verify(actor, view.user_id, code.strip()[:64])
    if method is None:
        store.sign_in_failures.record([key])
        until = store.sign_in_failures.locked_until(limits)
        if until is not None:
            store.audit.log(actor, "second_factor.lockout", f"user:{view.user_id}", view.account_id)
            return _locked(store, until)
        return Refused(WRONG_CODE, 401)
    store.sign_in_failures.clear(key)
    new_token = store.web_sessions.complete_second_factor(token)
    if new_token is None:  # the session ended meanwhile
        return Refused("Your session has ended. Sign in again.", 401)
    return SignedIn(new_token, NextStep.DONE, view.stay_signed_in)


@dataclass(frozen=True)
class Enrolled:
    signed_in: SignedIn
    recovery_codes: list[str]


def confirm_enrolment(
    store: Store, view: SessionView, token: str, code: str, *, source: str, reason: str
) -> Enrolled | Refused:
    """Confirm a new TOTP secret with a code from the app: the session is then complete and
    the recovery codes are returned, to be shown once."""
    key = _factor_key(store, view.user_id)
    limits = [session_policy.Limit(key, session_policy.FAILURES_PER_SECOND_FACTOR)]
    actor = actor_of(view, source, reason)
    until = store.sign_in_failures.locked_until(limits)
    if until is not None:
        return _locked(store, until)
    codes = store.second_factor.confirm_enrolment(actor, view.user_id, code.strip()[:64])
    if codes is None:
        store.sign_in_failures.record([key])
        until = store.sign_in_failures.locked_until(limits)
        if until is not None:
            return _locked(store, until)
        return Refused(WRONG_CODE + " Check that your device's clock is right.", 401)
    store.sign_in_failures.clear(key)
    new_token = store.web_sessions.complete_second_factor(token)
    if new_token is None:
        return Refused("Your session has ended. Sign in again.", 401)
    return Enrolled(SignedIn(new_token, NextStep.DONE, view.stay_signed_in), codes)


def sign_out(store: Store, view: SessionView, token: str, *, source: str, reason: str) -> None:
    store.web_sessions.end(actor_of(view, source, reason), token)
