"""Sign-in sessions, lock-out counting and the second factor in the store, on SQLite and
PostgreSQL, with a clock moved by hand: 14 idle minutes keep a session, 16 end it; "stay
signed in" lasts one day; the token, the TOTP secret and recovery codes are never stored in
clear; recovery codes and TOTP codes work once."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from tests.conftest import FakeClock
from tests.store.raw_bytes import assert_found_when_planted, clear_forms, raw_views

from callroster.accounts import session_policy, totp
from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.config import Settings
from callroster.store.models import RecoveryCode, SignInSession, User
from callroster.store.sessions import (
    PREFIX,
    SecondFactorMethod,
    TotpState,
    csrf_matches,
    csrf_token_for,
    session_id_of,
)
from callroster.store.store import Store

OPERATOR = operator_cli("test")
PASSWORD = "correct horse battery"


def _user(store: Store, role: Role = Role.HOST, email: str = "hana@firm.example") -> Actor:
    account_id = store.accounts.create_account(OPERATOR, "Firm LLP", "london")
    user_id = store.accounts.create_user(
        OPERATOR, account_id, role, "Hana Host", email=email, password=PASSWORD
    )
    return Actor(user_id, role, account_id, "192.0.2.10", "POST /login")


def test_idle_limit_slides_with_activity_and_ends_after_15_minutes(
    store: Store, clock: FakeClock
) -> None:
    actor = _user(store)
    token = store.web_sessions.create(
        actor, actor.actor_id, stay_signed_in=False, second_factor_done=True
    )
    assert token.startswith(PREFIX)
    view = store.web_sessions.authenticate(token)
    assert view is not None and (view.user_id, view.role) == (actor.actor_id, Role.HOST)
    assert view.source == "192.0.2.10" and view.complete

    clock.advance(minutes=14)
    assert store.web_sessions.authenticate(token) is not None  # slides last_seen_at
    clock.advance(minutes=14)
    assert store.web_sessions.authenticate(token) is not None
    clock.advance(minutes=16)
    assert store.web_sessions.authenticate(token) is None
    clock.advance(minutes=-16)  # an expired session was deleted: it does not come back
    assert store.web_sessions.authenticate(token) is None

    # Without touching, the idle time is not reset.
    token = store.web_sessions.create(
        actor, actor.actor_id, stay_signed_in=False, second_factor_done=True
    )
    clock.advance(minutes=10)
    assert store.web_sessions.authenticate(token, touch=False) is not None
    clock.advance(minutes=6)
    assert store.web_sessions.authenticate(token) is None


def test_ordinary_sessions_end_12_hours_after_sign_in_however_active(
    store: Store, clock: FakeClock
) -> None:
    actor = _user(store)
    token = store.web_sessions.create(
        actor, actor.actor_id, stay_signed_in=False, second_factor_done=True
    )
    for _ in range(12 * 6 - 1):
        clock.advance(minutes=10)
        assert store.web_sessions.authenticate(token) is not None
    clock.advance(minutes=10)
    assert store.web_sessions.authenticate(token) is None


def test_stay_signed_in_lasts_one_day_from_sign_in(store: Store, clock: FakeClock) -> None:
    actor = _user(store)
    token = store.web_sessions.create(
        actor, actor.actor_id, stay_signed_in=True, second_factor_done=True
    )
    view = store.web_sessions.authenticate(token)
    assert view is not None and view.expires_at == clock.now + dt.timedelta(days=1)
    clock.advance(hours=5)  # idle for hours: still signed in
    assert store.web_sessions.authenticate(token) is not None
    clock.advance(hours=18, minutes=59)
    assert store.web_sessions.authenticate(token) is not None
    clock.advance(minutes=1)
    assert store.web_sessions.authenticate(token) is None


def _nowhere_in_clear(
    settings: Settings, request: pytest.FixtureRequest, needles: list[str]
) -> None:
    views = raw_views(settings, request)
    for needle in needles:
        for form in clear_forms(needle):
            assert not any(form in view for view in views), needle
    # The positive control: the same search finds each of them once it is there.
    assert_found_when_planted(settings, request, *needles)


def test_the_token_is_not_stored_only_its_digest(
    store: Store, settings: Settings, request: pytest.FixtureRequest
) -> None:
    actor = _user(store)
    token = store.web_sessions.create(
        actor, actor.actor_id, stay_signed_in=False, second_factor_done=True
    )
    with store.sessions() as session:
        row = session.scalars(select(SignInSession)).one()
    assert row.id == session_id_of(token) and token not in row.id
    csrf = csrf_token_for(token)
    assert csrf_matches(token, csrf) and not csrf_matches(token, csrf[:-1] + "x")
    assert not csrf_matches(token, None) and not csrf_matches(token, "")
    store.close()
    _nowhere_in_clear(settings, request, [token, token.removeprefix(PREFIX), csrf])


def test_sign_out_and_suspension_end_the_session(store: Store) -> None:
    actor = _user(store)
    token = store.web_sessions.create(
        actor, actor.actor_id, stay_signed_in=True, second_factor_done=True
    )
    store.web_sessions.end(actor, token)
    assert store.web_sessions.authenticate(token) is None
    assert [e.action for e in store.audit.entries(actor.account_id, limit=2)] == [
        "signout",
        "signin",
    ]

    token = store.web_sessions.create(
        actor, actor.actor_id, stay_signed_in=True, second_factor_done=True
    )
    with store.sessions.begin() as session:
        session.get_one(User, actor.actor_id).suspended_at = store.clock()
    assert store.web_sessions.authenticate(token) is None
    assert store.web_sessions.authenticate("crs_forged") is None
    assert store.web_sessions.authenticate("cr_not-a-session") is None


def test_completing_the_second_factor_gives_a_new_token(store: Store) -> None:
    actor = _user(store, Role.ADMINISTRATOR, "ada@firm.example")
    token = store.web_sessions.create(
        actor, actor.actor_id, stay_signed_in=False, second_factor_done=False
    )
    view = store.web_sessions.authenticate(token)
    assert view is not None and view.second_factor_required and not view.complete
    new_token = store.web_sessions.complete_second_factor(token)
    assert new_token is not None and new_token != token
    assert store.web_sessions.authenticate(token) is None
    done = store.web_sessions.authenticate(new_token)
    assert done is not None and done.complete and done.created_at == view.created_at


def test_lock_out_counts_failures_within_15_minutes(store: Store, clock: FakeClock) -> None:
    email = store.keys.blind_index().of("signin.email", "who@firm.example")
    source = store.keys.blind_index().of("signin.source", "192.0.2.10")
    limits = [session_policy.Limit(email, 5), session_policy.Limit(source, 20)]
    failures = store.sign_in_failures
    for _ in range(4):
        failures.record([email, source])
        clock.advance(minutes=3)
        assert failures.locked_until(limits) is None
    failures.record([email, source])  # the 5th within 15 minutes (at minute 12)
    fifth = clock.now
    assert failures.locked_until(limits) == fifth + dt.timedelta(minutes=15)
    clock.advance(minutes=14, seconds=59)
    assert failures.locked_until(limits) is not None
    clock.advance(seconds=1)
    assert failures.locked_until(limits) is None
    failures.record([email, source])  # one more after the lock: not locked again
    assert failures.locked_until(limits) is None

    # Five failures spread over more than 15 minutes never lock.
    other = store.keys.blind_index().of("signin.email", "slow@firm.example")
    for _ in range(10):
        failures.record([other])
        clock.advance(minutes=4)
    assert failures.locked_until([session_policy.Limit(other, 5)]) is None

    # A success clears an email's count.
    for _ in range(4):
        failures.record([email])
    failures.clear(email)
    failures.record([email])
    assert failures.locked_until([session_policy.Limit(email, 5)]) is None


def test_lock_out_policy_minutes() -> None:
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    assert session_policy.too_many_attempts(now + dt.timedelta(minutes=15), now) == (
        "Too many attempts. Try again in 15 minutes."
    )
    assert session_policy.too_many_attempts(now + dt.timedelta(seconds=61), now) == (
        "Too many attempts. Try again in 2 minutes."
    )
    assert session_policy.too_many_attempts(now + dt.timedelta(seconds=60), now) == (
        "Too many attempts. Try again in 1 minute."
    )
    # Under a minute (a delay), in seconds, rounded up.
    assert session_policy.too_many_attempts(now + dt.timedelta(seconds=4.2), now) == (
        "Too many attempts. Try again in 5 seconds."
    )
    assert session_policy.too_many_attempts(now + dt.timedelta(seconds=0.5), now) == (
        "Too many attempts. Try again in 1 second."
    )
    assert session_policy.seconds_left(now + dt.timedelta(minutes=15), now) == 900


def test_the_delay_doubles_after_5_failures_up_to_its_cap() -> None:
    start = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    cap = dt.timedelta(seconds=60)
    failures: list[dt.datetime] = []
    waits: list[float | None] = []
    for n in range(12):
        failures.append(start + dt.timedelta(seconds=n))
        now = failures[-1]
        until = session_policy.delayed_until(failures, now, 5, cap)
        waits.append(None if until is None else (until - now).total_seconds())
    assert waits == [None, None, None, None, 1, 2, 4, 8, 16, 32, 60, 60]
    # Failures older than 15 minutes no longer count: the delay fades by itself.
    later = failures[-1] + session_policy.LOCK_WINDOW + dt.timedelta(seconds=11)
    assert session_policy.delayed_until(failures, later, 5, cap) is None
    # Thousands of failures cannot overflow the wait.
    many = [start] * 5000
    assert session_policy.delayed_until(many, start, 5, cap) == start + cap


def test_the_delay_on_the_store_clock_and_forgetting_a_failure(
    store: Store, clock: FakeClock
) -> None:
    email = store.keys.blind_index().of("signin.email", "who@firm.example")
    delays = [session_policy.Delay(email, 5, dt.timedelta(seconds=60))]
    failures = store.sign_in_failures
    for _ in range(4):
        failures.record([email])
    assert failures.delayed_until(delays) is None
    ids = failures.record([email])  # the 5th: the next attempt waits a second
    assert failures.delayed_until(delays) == clock.now + dt.timedelta(seconds=1)
    failures.forget(ids)  # counted in advance, then the password was right
    assert failures.delayed_until(delays) is None
    failures.record([email])
    clock.advance(seconds=1)
    assert failures.delayed_until(delays) is None
    failures.record([email])  # the 6th: two seconds
    clock.advance(seconds=1)
    assert failures.delayed_until(delays) == clock.now + dt.timedelta(seconds=1)


def test_totp_enrolment_codes_and_single_use_recovery_codes(
    store: Store, clock: FakeClock, settings: Settings, request: pytest.FixtureRequest
) -> None:
    actor = _user(store, Role.ADMINISTRATOR, "ada@firm.example")
    user_id = actor.actor_id
    assert store.second_factor.state(user_id) is None
    enrolment = store.second_factor.begin_enrolment(actor, user_id)
    assert enrolment.uri.startswith("otpauth://totp/Callroster:ada%40firm.example?secret=")
    assert store.second_factor.begin_enrolment(actor, user_id) == enrolment  # same on reload
    assert store.second_factor.state(user_id) == TotpState.PENDING

    right = totp.code_at(enrolment.secret, clock.now)
    wrong = "000000" if right != "000000" else "111111"
    assert store.second_factor.confirm_enrolment(actor, user_id, wrong) is None
    codes = store.second_factor.confirm_enrolment(actor, user_id, right)
    assert codes is not None and len(codes) == 10 and len(set(codes)) == 10
    assert store.second_factor.state(user_id) == TotpState.ENROLLED
    with pytest.raises(ValueError, match="already enrolled"):
        store.second_factor.begin_enrolment(actor, user_id)

    # The code used to enrol cannot be used again; the next step's can, once.
    same = totp.code_at(enrolment.secret, clock.now)
    assert store.second_factor.verify(actor, user_id, same) is None
    clock.advance(seconds=30)
    code = totp.code_at(enrolment.secret, clock.now)
    assert store.second_factor.verify(actor, user_id, code) == SecondFactorMethod.TOTP
    assert store.second_factor.verify(actor, user_id, code) is None
    # A phone whose clock is 30 seconds behind is still accepted.
    clock.advance(seconds=60)
    late = totp.code_at(enrolment.secret, clock.now - dt.timedelta(seconds=30))
    assert store.second_factor.verify(actor, user_id, late) == SecondFactorMethod.TOTP

    # Recovery codes: each once, typed in any case, with or without dashes.
    typed = codes[0].upper().replace("-", " ")
    assert store.second_factor.verify(actor, user_id, typed) == SecondFactorMethod.RECOVERY_CODE
    assert store.second_factor.verify(actor, user_id, codes[0]) is None
    assert store.second_factor.recovery_codes_left(user_id) == 9
    assert store.second_factor.verify(actor, user_id, "not-a-code") is None
    with store.sessions() as session:
        hashes = list(session.scalars(select(RecoveryCode.code_hash)))
    assert totp.recovery_code_hash(codes[1]) in hashes

    actions = [e.action for e in reversed(store.audit.entries(actor.account_id, limit=20))]
    assert actions[-11:] == [
        "second_factor.enrol_begin",
        "second_factor.enrol_begin",
        "second_factor.failure",
        "second_factor.enrol",
        "second_factor.failure",
        "second_factor.verify",
        "second_factor.failure",
        "second_factor.verify",
        "second_factor.recovery_code_use",
        "second_factor.failure",
        "second_factor.failure",
    ]
    store.close()
    # Neither the secret nor any recovery code is in the database files in clear.
    _nowhere_in_clear(settings, request, [enrolment.secret, *codes])


def test_sign_in_check_runs_argon2_for_unknown_emails(store: Store) -> None:
    actor = _user(store)
    ok = store.accounts.check_sign_in(" Hana@Firm.example ", PASSWORD)
    assert (ok.user_id, ok.password_ok, ok.suspended) == (actor.actor_id, True, False)
    wrong = store.accounts.check_sign_in("hana@firm.example", "wrong password!")
    assert wrong.user_id == actor.actor_id and not wrong.password_ok
    for email in ("nobody@firm.example", "not an email"):
        unknown = store.accounts.check_sign_in(email, PASSWORD)
        assert unknown.user_id is None and not unknown.password_ok


def _guesses_per_hour(delay: session_policy.Delay, hours: int) -> tuple[int, int]:
    """A guesser who tries again the moment the delay allows, for ``hours``: the guesses in
    the first hour and in the last."""
    start = now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    failures: list[dt.datetime] = []
    while now < start + dt.timedelta(hours=hours):
        until = session_policy.delayed_until(failures, now, delay.after, delay.cap, delay.window)
        if until is not None and until > now:
            now = until
            continue
        failures.append(now)
        now += dt.timedelta(milliseconds=1)
    last_hour = start + dt.timedelta(hours=hours - 1)
    return (
        sum(t < start + dt.timedelta(hours=1) for t in failures),
        sum(t >= last_hour for t in failures),
    )


def test_how_fast_a_guesser_can_go_at_the_delays_caps() -> None:
    email = session_policy.Delay(
        b"e", session_policy.FAILURES_BEFORE_EMAIL_DELAY, session_policy.EMAIL_DELAY_CAP
    )
    assert _guesses_per_hour(email, 6) == (69, 60)  # one a minute, from however many places
    code = session_policy.Delay(
        b"c",
        session_policy.FAILURES_BEFORE_SECOND_FACTOR_DELAY,
        session_policy.SECOND_FACTOR_DELAY_CAP,
        session_policy.SECOND_FACTOR_DELAY_WINDOW,
    )
    assert _guesses_per_hour(code, 6) == (24, 13)  # the 15-minute lock allowed 20 an hour
    # Counted over 15 minutes only, a 300 s wait would not hold: too few failures stay
    # counted, the wait falls back and lets bursts through, 40 an hour.
    short = session_policy.Delay(b"c", code.after, code.cap)
    assert _guesses_per_hour(short, 6) == (51, 40)
