"""The retention table as policy: how long each class is kept, from when, where.

Pure: every function takes ``now``; nothing here reads a clock or the store. The store turns
the cutoffs into SQL (``store/retention.py``) for two uses that therefore always agree: the
read paths hide what is past its cutoff at once, and the purge (``store/purge.py``) deletes
exactly what is hidden.

The rules (the product brief's retention table), for an account in a country without an
override:

- **call records** (``call_records``): 6 calendar months from the end of the call, purged on
  a monthly cycle. The cycle's cutoff is the first of the current UTC month minus the period:
  a record that ended at ``E`` is hidden and purged from the first instant of the first month
  that begins at or after ``E + 6 months`` (the 1st, 00:00 UTC). So a record is kept at least
  6 months and less than 7 (its rows go at the next purge run, at most one
  ``retention_interval_seconds`` later; they are hidden already). A call still in progress
  (no end) counts from its start.
- **service data** (``service_data``: legs, the names and numbers of who was on past calls;
  no roster history is stored beyond legs): 12 calendar months from the leg's join time,
  the date of that conference call. No cycle: at 12 months to the second, hidden at once.
- **account data** (``account_data``): 12 calendar months from the account's termination
  (``accounts.terminated_at``); an account that is not terminated never expires.

Calendar months are subtracted with the day clamped to the month's end (31 August minus 6
months is 28 or 29 February).

Per-country overrides replace a class's period for accounts whose country is given. An
account's country is the country of its home region (``REGION_COUNTRIES``: the jurisdiction
where its data is stored, C12), since accounts record a region and no other country.

A legal hold (by conference, host or account) takes what it covers out of the policy: held
data is neither hidden nor purged until the hold is released.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from callroster.privacy.retention_classes import RetentionClass

# The classes this policy applies (the others have their own clean-ups or none yet).
ENFORCED = (
    RetentionClass.CALL_RECORDS,
    RetentionClass.SERVICE_DATA,
    RetentionClass.ACCOUNT_DATA,
)

# The country of each home region (config.REGIONS): where an account's data is kept.
REGION_COUNTRIES: Mapping[str, str] = {
    "chicago": "US",
    "miami": "US",
    "london": "GB",
    "hong-kong": "HK",
    "sydney": "AU",
    "johannesburg": "ZA",
}

_PERIOD = re.compile(r"^\s*(\d{1,5})\s*(day|days|d|month|months|m)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    """A retention period: whole calendar months or whole days (one of them)."""

    months: int = 0
    days: int = 0

    def __post_init__(self) -> None:
        if self.months < 0 or self.days < 0 or (self.months and self.days):
            raise ValueError("a period is a number of months or a number of days")

    @classmethod
    def parse(cls, value: int | str) -> Period:
        """``180`` (days), ``"180 days"``, ``"6 months"``, ``"6m"``, ``"30d"``."""
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a period")
        if isinstance(value, int):
            if not 1 <= value <= 36_500:
                raise ValueError(f"{value} days is not between 1 and 36500")
            return cls(days=value)
        match = _PERIOD.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a period (say '6 months' or '180 days')")
        number, unit = int(match[1]), match[2].lower()
        if number < 1:
            raise ValueError(f"{value!r}: a period is at least one day or month")
        return cls(months=number) if unit.startswith("m") else cls(days=number)

    def before(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` minus this period (calendar months, the day clamped)."""
        if self.days:
            return moment - dt.timedelta(days=self.days)
        month0 = moment.year * 12 + moment.month - 1 - self.months
        year, month = divmod(month0, 12)
        day = min(moment.day, calendar.monthrange(year, month + 1)[1])
        return moment.replace(year=year, month=month + 1, day=day)

    def __str__(self) -> str:
        return f"{self.months} months" if self.months else f"{self.days} days"


DEFAULT_PERIODS: Mapping[RetentionClass, Period] = {
    RetentionClass.CALL_RECORDS: Period(months=6),
    RetentionClass.SERVICE_DATA: Period(months=12),
    RetentionClass.ACCOUNT_DATA: Period(months=12),
}


def cycle_start(now: dt.datetime) -> dt.datetime:
    """The monthly purge cycle now is in: the first of the current UTC month, midnight."""
    utc = now.astimezone(dt.UTC)
    return utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def country_of_region(region: str) -> str | None:
    return REGION_COUNTRIES.get(region)


def parse_overrides(
    raw: Mapping[str, Mapping[str, int | str]],
) -> dict[str, dict[RetentionClass, Period]]:
    """Validate ``{country: {class: period}}`` (ISO 3166 alpha-2, a class this policy
    enforces, a period ``Period.parse`` takes); raises ValueError naming what is wrong."""
    parsed: dict[str, dict[RetentionClass, Period]] = {}
    for country, classes in raw.items():
        code = country.strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", code):
            raise ValueError(f"retention override for {country!r}: not a two-letter country")
        if not isinstance(classes, Mapping):
            raise ValueError(f"retention override for {code}: give class = period pairs")
        for name, value in classes.items():
            try:
                cls = RetentionClass(name)
            except ValueError:
                raise ValueError(
                    f"retention override for {code}: unknown class {name!r}; one of "
                    + ", ".join(c.value for c in ENFORCED)
                ) from None
            if cls not in ENFORCED:
                raise ValueError(f"retention override for {code}: {name} is not purged here")
            try:
                parsed.setdefault(code, {})[cls] = Period.parse(value)
            except ValueError as exc:
                raise ValueError(f"retention override for {code} {name}: {exc}") from None
    return parsed


@dataclass(frozen=True)
class Holds:
    """The legal holds touching one account: the whole account, some hosts, some
    conferences."""

    account: bool = False
    hosts: frozenset[str] = frozenset()
    conferences: frozenset[str] = frozenset()

    @property
    def any(self) -> bool:
        return self.account or bool(self.hosts) or bool(self.conferences)

    def covers(self, conference_id: str | None, host_id: str | None) -> bool:
        """Whether data of this conference (hosted by this host) is held."""
        return (
            self.account
            or (conference_id is not None and conference_id in self.conferences)
            or (host_id is not None and host_id in self.hosts)
        )


@dataclass(frozen=True)
class RetentionPolicy:
    """The periods, and the countries that override them."""

    periods: Mapping[RetentionClass, Period] = field(default_factory=lambda: DEFAULT_PERIODS)
    overrides: Mapping[str, Mapping[RetentionClass, Period]] = field(default_factory=dict)

    @classmethod
    def from_overrides(cls, raw: Mapping[str, Mapping[str, int | str]]) -> RetentionPolicy:
        return cls(overrides=parse_overrides(raw))

    def period(self, cls: RetentionClass, country: str | None) -> Period:
        """The period of ``cls`` for an account in ``country`` (None: the default)."""
        override = self.overrides.get(country or "", {}).get(cls)
        return override or self.periods[cls]

    def cutoff(self, cls: RetentionClass, now: dt.datetime, country: str | None) -> dt.datetime:
        """What started (ended, joined, terminated) at or before this instant is past its
        time: its age has reached the period.

        Call records are cut at the monthly cycle (the first of this month minus the
        period); the other classes at ``now`` minus the period.
        """
        anchor = cycle_start(now) if cls is RetentionClass.CALL_RECORDS else now
        return self.period(cls, country).before(anchor)

    def expired(
        self,
        cls: RetentionClass,
        started: dt.datetime | None,
        now: dt.datetime,
        country: str | None,
        held: bool = False,
    ) -> bool:
        """Whether one item of ``cls`` whose clock started at ``started`` is past its time
        (``None``, e.g. an account not terminated, never is; held data never is)."""
        if held or started is None:
            return False
        return started <= self.cutoff(cls, now, country)
