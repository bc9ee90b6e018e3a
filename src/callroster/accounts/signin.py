"""Signing in: password, lock-out, second factor. Web routes call these and only render.

No user enumeration: an unknown email and a wrong password get the same message, the same
status and comparable time (argon2 runs against a dummy hash), and every count below counts an
unknown email's failures exactly as a registered one's.

Guessing is slowed so that nobody can lock another person out (``session_policy``):

- an email from one source address: 5 failures in 15 minutes lock that email out from that
  address only, for 15 minutes;
- a source address: 20 failures in 15 minutes, whatever the emails, lock it out;
- an email from anywhere: never locked, but after 5 failures in 15 minutes each further
  attempt must wait 1, 2, 4 ... seconds after the latest failure, at most 60. An attempt too
  soon is refused (429, ``Retry-After``) without checking the password and without being
  counted, so the owner, from their own address, gets in after at most a minute however many
  addresses guess at their email;
- a browser that has signed in to that email within 30 days (its device cookie, an HMAC of
  the email and the day, see ``device_cookie``) is not delayed, so guessers cannot make the
  owner race them for each slot once the delay is at its cap; the cookie is locked out after
  5 failures in 15 minutes instead, should it be stolen;
- a second factor: the same, per user and address (5 lock) and per user (a delay up to
  300 s, its failures counted over an hour).

The source address is the one the web layer derives (``trusted_proxies`` honoured). An
attempt is counted as a failure before its password is checked, and the count taken back if
it was right; checking the counts and counting happen under one lock, so a burst of parallel
attempts cannot all pass the check before any is counted (within one process: several
processes share the counts through the store, but could each let one attempt through at once).
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import threading
from collections.abc import Sequence
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
    device: str | None = None  # a new device cookie for the email signed in to


@dataclass(frozen=True)
class Refused:
    message: str
    status: int  # 401 wrong, 403 suspended, 429 locked out
    retry_after_s: int | None = None


# Checking the counts and counting an attempt happen together, or parallel attempts would
# all pass the check before any was counted.
_COUNTING = threading.Lock()


def _normal_email(email: str) -> str:
    # Any text typed counts, valid email or not, registered or not.
    return email.strip().lower()


def _email_key(store: Store, email: str) -> bytes:
    return store.keys.blind_index().of("signin.email", _normal_email(email))


def _source_key(store: Store, source: str) -> bytes:
    return store.keys.blind_index().of("signin.source", source)


def _email_source_key(store: Store, email: str, source: str) -> bytes:
    return store.keys.blind_index().of("signin.email_source", f"{_normal_email(email)}\0{source}")


def _factor_key(store: Store, user_id: str) -> bytes:
    return store.keys.blind_index().of("signin.second_factor", user_id)


def _factor_source_key(store: Store, user_id: str, source: str) -> bytes:
    return store.keys.blind_index().of("signin.second_factor_source", f"{user_id}\0{source}")


def device_cookie(store: Store, email: str) -> str:
    """A device cookie for ``email``, issued now: ``day.mac``, where ``mac`` is an HMAC (the
    blind-index key) of the normalised email and the day. Nothing is stored."""
    day = store.clock().date().toordinal()
    return f"{day}.{_device_mac(store, email, day)}"


def _device_mac(store: Store, email: str, day: int) -> str:
    mac = store.keys.blind_index().of("signin.device_cookie", f"{_normal_email(email)}\0{day}")
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _known_device(store: Store, email: str, cookie: str | None) -> bool:
    """Whether ``cookie`` is a device cookie for ``email`` issued within ``DEVICE_LIFETIME``."""
    day_text, _, mac = (cookie or "")[:100].partition(".")
    if not day_text.isdigit() or not mac:
        return False
    day = int(day_text)
    age = store.clock().date().toordinal() - day
    if not 0 <= age <= session_policy.DEVICE_LIFETIME.days:
        return False
    return hmac.compare_digest(_device_mac(store, email, day).encode(), mac.encode())


def _too_many(store: Store, until: dt.datetime) -> Refused:
    now = store.clock()
    return Refused(
        session_policy.too_many_attempts(until, now),
        429,
        retry_after_s=session_policy.seconds_left(until, now),
    )


@dataclass(frozen=True)
class _Rules:
    """What one kind of attempt is counted against."""

    limits: Sequence[session_policy.Limit]
    delays: Sequence[session_policy.Delay]
    # Like limits, but reaching one does not lock: the next attempt goes by other rules.
    fallbacks: Sequence[session_policy.Limit] = ()
    also_counted: Sequence[bytes] = ()  # failures counted here, though no rule checks them
    forgiven: Sequence[bytes] = ()  # counts a success clears: the owner's own slips

    @property
    def keys(self) -> list[bytes]:
        limits = [*self.limits, *self.fallbacks]
        checked = [limit.key for limit in limits] + [delay.key for delay in self.delays]
        return checked + list(self.also_counted)


@dataclass(frozen=True)
class _TooSoon:
    until: dt.datetime
    locked: bool  # a lock (``Limit``) rather than a delay


def _admit(store: Store, rules: _Rules) -> _TooSoon | list[int]:
    """Refuse an attempt a rule holds back, or count it as a failure in advance; the ids of
    the failures counted, to ``forget`` if it turns out right."""
    failures = store.sign_in_failures
    with _COUNTING:
        until = failures.locked_until([*rules.limits, *rules.fallbacks])
        if until is not None:
            return _TooSoon(until, locked=True)
        until = failures.delayed_until(rules.delays)
        if until is not None:
            return _TooSoon(until, locked=False)
        return failures.record(rules.keys)


def _sign_in_rules(store: Store, email: str, source: str, device: str | None) -> _Rules:
    email_source = _email_source_key(store, email, source)
    limits = [
        session_policy.Limit(email_source, session_policy.FAILURES_PER_EMAIL_AND_SOURCE),
        session_policy.Limit(_source_key(store, source), session_policy.FAILURES_PER_SOURCE),
    ]
    email_key = _email_key(store, email)
    if device is not None and _known_device(store, email, device):
        # A browser that signed in before: its own lock instead of the email's delay; its
        # failures still count towards the email's delay for everyone else. Once locked (it
        # was stolen, or its owner forgot), it is an ordinary browser again: delayed, never
        # locked out.
        device_key = store.keys.blind_index().of("signin.device", device)
        device_limit = session_policy.Limit(device_key, session_policy.FAILURES_PER_DEVICE)
        if store.sign_in_failures.locked_until([device_limit]) is None:
            return _Rules(
                limits,
                delays=[],
                fallbacks=[device_limit],
                also_counted=[email_key],
                forgiven=[email_source, device_key],
            )
    delay = session_policy.Delay(
        email_key, session_policy.FAILURES_BEFORE_EMAIL_DELAY, session_policy.EMAIL_DELAY_CAP
    )
    return _Rules(limits, delays=[delay], forgiven=[email_source])


def _second_factor_rules(store: Store, user_id: str, source: str) -> _Rules:
    user_source = _factor_source_key(store, user_id, source)
    return _Rules(
        limits=[session_policy.Limit(user_source, session_policy.FAILURES_PER_SECOND_FACTOR)],
        forgiven=[user_source],
        delays=[
            session_policy.Delay(
                _factor_key(store, user_id),
                session_policy.FAILURES_BEFORE_SECOND_FACTOR_DELAY,
                session_policy.SECOND_FACTOR_DELAY_CAP,
                session_policy.SECOND_FACTOR_DELAY_WINDOW,
            )
        ],
    )


def _anonymous(source: str, reason: str) -> Actor:
    return Actor("anonymous", Role.GUEST, None, source, reason)


def sign_in(
    store: Store,
    email: str,
    password: str,
    *,
    stay_signed_in: bool,
    source: str,
    reason: str,
    device: str | None = None,
) -> SignedIn | Refused:
    """Check an email and password and open a session, or say why not. ``device`` is the
    browser's device cookie, if it has one; a session comes with a new one for ``email``."""
    rules = _sign_in_rules(store, email, source, device)
    admitted = _admit(store, rules)
    if isinstance(admitted, _TooSoon):
        action = "signin.locked" if admitted.locked else "signin.delayed"
        store.audit.log(_anonymous(source, reason), action, "signin", None)
        return _too_many(store, admitted.until)

    check = store.accounts.check_sign_in(email, password)
    if check.user_id is None or check.role is None or not check.password_ok:
        subject = f"user:{check.user_id}" if check.user_id else "signin"
        store.audit.log(_anonymous(source, reason), "signin.failure", subject, check.account_id)
        until = store.sign_in_failures.locked_until(rules.limits)
        if until is not None:
            store.audit.log(_anonymous(source, reason), "signin.lockout", subject, check.account_id)
            return _too_many(store, until)
        return Refused(WRONG_PASSWORD, 401)

    store.sign_in_failures.forget(admitted)  # the password was right: no failure
    actor = Actor(check.user_id, check.role, check.account_id, source, reason)
    if check.suspended:
        store.audit.log(actor, "signin.suspended", f"user:{check.user_id}", check.account_id)
        return Refused(SUSPENDED, 403)
    # The owner's own slips from this address (and this browser) are forgiven; the email's
    # count from everywhere is not: it fades in 15 minutes, so a guesser gets no fresh
    # undelayed attempts each time the owner signs in.
    for key in rules.forgiven:
        store.sign_in_failures.clear(key)
    required = check.role == Role.ADMINISTRATOR or check.second_factor_enrolled
    token = store.web_sessions.create(
        actor, check.user_id, stay_signed_in=stay_signed_in, second_factor_done=not required
    )
    if not required:
        step = NextStep.DONE
    else:
        step = NextStep.SECOND_FACTOR if check.second_factor_enrolled else NextStep.ENROL
    return SignedIn(token, step, stay_signed_in, device_cookie(store, email))


def actor_of(view: SessionView, source: str, reason: str) -> Actor:
    return Actor(view.user_id, view.role, view.account_id, source, reason)


def second_factor(
    store: Store, view: SessionView, token: str, code: str, *, source: str, reason: str
) -> SignedIn | Refused:
    """Finish signing in with a TOTP code or a recovery code."""
    rules = _second_factor_rules(store, view.user_id, source)
    actor = actor_of(view, source, reason)
    admitted = _admit(store, rules)
    if isinstance(admitted, _TooSoon):
        action = "second_factor.locked" if admitted.locked else "second_factor.delayed"
        store.audit.log(actor, action, f"user:{view.user_id}", view.account_id)
        return _too_many(store, admitted.until)
    method = store.second_factor.verify(actor, view.user_id, code.strip()[:64])
    if method is None:
        until = store.sign_in_failures.locked_until(rules.limits)
        if until is not None:
            store.audit.log(actor, "second_factor.lockout", f"user:{view.user_id}", view.account_id)
            return _too_many(store, until)
        return Refused(WRONG_CODE, 401)
    store.sign_in_failures.forget(admitted)
    for key in rules.forgiven:
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
    rules = _second_factor_rules(store, view.user_id, source)
    actor = actor_of(view, source, reason)
    admitted = _admit(store, rules)
    if isinstance(admitted, _TooSoon):
        return _too_many(store, admitted.until)
    codes = store.second_factor.confirm_enrolment(actor, view.user_id, code.strip()[:64])
    if codes is None:
        until = store.sign_in_failures.locked_until(rules.limits)
        if until is not None:
            return _too_many(store, until)
        return Refused(WRONG_CODE + " Check that your device's clock is right.", 401)
    store.sign_in_failures.forget(admitted)
    for key in rules.forgiven:
        store.sign_in_failures.clear(key)
    new_token = store.web_sessions.complete_second_factor(token)
    if new_token is None:
        return Refused("Your session has ended. Sign in again.", 401)
    return Enrolled(SignedIn(new_token, NextStep.DONE, view.stay_signed_in), codes)


def sign_out(store: Store, view: SessionView, token: str, *, source: str, reason: str) -> None:
    store.web_sessions.end(actor_of(view, source, reason), token)
