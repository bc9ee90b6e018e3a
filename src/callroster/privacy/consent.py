"""Consent to the cookie policy (issue 16): its four categories, the version and text a
browser is shown, the compliance cookie that carries a browser's choice, and the one decision
every request needs: which optional categories are in force, and whether to ask.

**Categories.** The International Chamber of Commerce's four, as the cookie policy names
them. Strictly necessary cookies need no consent; performance, functionality and targeting
do. Callroster sets no targeting cookie at all.

**Version and text.** ``POLICY_VERSION`` names the text shown (``BANNER_TEXT`` and each
category's ``DESCRIPTIONS``); ``TEXT_SHA256`` is its hash, which each consent record keeps.
``PINNED`` holds the hash each version was published with: a change to the text without a
new version fails ``tests/privacy/test_consent.py``. A cookie of another version asks again;
the old records stay.

**The compliance cookie** (``callroster_consent``): ``v1.<version>.<categories>.<method>.<id>``,
e.g. ``v1.2026-12-07.pf.b.3f2c…``: ``p``/``f``/``t`` for the optional categories accepted
(``-``: none), ``b``/``s``/``g``/``d`` for banner, settings, Global Privacy Control or
Do-Not-Track, and the consent record's id. ``parse_cookie`` is total: anything else, however
long or strange, is no consent.

**Signals.** ``Sec-GPC: 1`` or ``DNT: 1`` mean "reject all optional", without asking, and
win over an older choice in the cookie (better than the policy, which ignores DNT).

Pure: no clock, no store, no HTTP.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
from dataclasses import dataclass

POLICY_VERSION = "2026-12-07"
CONSENT_COOKIE = "callroster_consent"
CONSENT_LIFETIME = dt.timedelta(days=30)  # the policy's "Lasts for 1 month"
COOKIE_FORMAT = "v1"
COOKIE_LIMIT = 128  # characters of a compliance cookie's value; anything longer is no consent
HEADER_LIMIT = 16  # characters of a Sec-GPC or DNT header read


class Category(enum.Enum):
    """The cookie policy's four categories, in its order; the value is the name shown."""

    STRICTLY_NECESSARY = "Strictly necessary"
    PERFORMANCE = "Performance"
    FUNCTIONALITY = "Functionality"
    TARGETING = "Targeting or advertising"

    @property
    def key(self) -> str:
        """The category's name in forms and consent records (``performance``)."""
        return self.name.lower()


OPTIONAL = (Category.PERFORMANCE, Category.FUNCTIONALITY, Category.TARGETING)
CHOOSABLE = (Category.PERFORMANCE, Category.FUNCTIONALITY)  # targeting: none is set
_LETTERS = {Category.PERFORMANCE: "p", Category.FUNCTIONALITY: "f", Category.TARGETING: "t"}
_BY_LETTER = {letter: category for category, letter in _LETTERS.items()}
METHOD_LETTERS = {"banner": "b", "settings": "s", "gpc": "g", "dnt": "d"}
_METHOD_BY_LETTER = {letter: method for method, letter in METHOD_LETTERS.items()}
SIGNAL_NAMES = {"gpc": "Global Privacy Control", "dnt": "Do Not Track"}

BANNER_TITLE = "Cookies on this site"
BANNER_TEXT = (
    "Callroster uses strictly necessary cookies to keep you signed in and to protect its "
    "forms; they need no consent. With your consent it also measures how long its pages take "
    "to load (anonymous, with no cookie), and remembers the country whose dial-in numbers you "
    "chose (one cookie, for one year). It uses no targeting or advertising cookies. Your choice "
    "is kept for one month, in a cookie of its own and as a record of your consent; you can "
    "change it at any time from \u201cCookie settings\u201d at the foot of every page."
)
DESCRIPTIONS = {
    Category.STRICTLY_NECESSARY: (
        "Keep you signed in, protect forms from other sites and remember this choice. "
        "Always on: the service cannot work without them."
    ),
    Category.PERFORMANCE: (
        "Measure how long each page takes to load, counted only as a total for each kind "
        "of page: anonymous, and with no cookie."
    ),
    Category.FUNCTIONALITY: (
        "Remember the country whose dial-in numbers you chose, for one year, so that they "
        "come first next time."
    ),
    Category.TARGETING: "Not used: Callroster sets none.",
}


def shown_text() -> str:
    """Everything a browser is shown to consent to, as one text: what ``TEXT_SHA256``
    hashes and the consent records name."""
    parts = [POLICY_VERSION, BANNER_TITLE, BANNER_TEXT]
    parts += [f"{category.value}: {DESCRIPTIONS[category]}" for category in Category]
    return "\n".join(parts)


TEXT_SHA256 = hashlib.sha256(shown_text().encode()).hexdigest()
# The hash of the text each version was published with. Changing the text above changes the
# hash: publish it as a new version (a new POLICY_VERSION and a new line here), so that every
# browser is asked again and the records say which text each consent was given to.
PINNED = {
    "2026-12-07": "6f6d8ab6a532dc83aec6860cc5144f2e032341050dbde15fbc29ebd2b5aad679",
}

_VERSION = re.compile(r"^[0-9A-Za-z-]{1,40}$")
_RECORD_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")


@dataclass(frozen=True)
class Consent:
    """A choice as a compliance cookie carries it."""

    optional: frozenset[Category]
    version: str
    method: str  # "banner", "settings", "gpc" or "dnt"
    record_id: str

    def cookie_value(self) -> str:
        """This consent as the compliance cookie's value."""
        letters = "".join(_LETTERS[c] for c in OPTIONAL if c in self.optional) or "-"
        method = METHOD_LETTERS[self.method]
        return f"{COOKIE_FORMAT}.{self.version}.{letters}.{method}.{self.record_id}"


def parse_cookie(value: str | None) -> Consent | None:
    """The consent a compliance cookie's value carries, of any version; None for anything
    that is not one (absent, too long, another format, an unknown letter, a letter twice)."""
    if not value or len(value) > COOKIE_LIMIT:
        return None
    parts = value.split(".")
    if len(parts) != 5 or parts[0] != COOKIE_FORMAT:
        return None
    _, version, letters, method_letter, record_id = parts
    if not _VERSION.match(version) or not _RECORD_ID.match(record_id):
        return None
    method = _METHOD_BY_LETTER.get(method_letter)
    if method is None:
        return None
    if not letters:
        return None
    if letters == "-":
        optional: frozenset[Category] = frozenset()
    else:
        chosen = [_BY_LETTER.get(letter) for letter in letters]
        if None in chosen or len(set(letters)) != len(letters):
            return None
        optional = frozenset(c for c in chosen if c is not None)
    return Consent(optional, version, method, record_id)


def privacy_signal(sec_gpc: str | None, dnt: str | None) -> str | None:
    """``"gpc"`` when the browser sends ``Sec-GPC: 1``, else ``"dnt"`` for ``DNT: 1``, else
    None (any other value, or none, is no signal)."""
    if (sec_gpc or "")[:HEADER_LIMIT].strip() == "1":
        return "gpc"
    if (dnt or "")[:HEADER_LIMIT].strip() == "1":
        return "dnt"
    return None


@dataclass(frozen=True)
class Decision:
    """What one request's consent is.

    Attributes:
        optional: the optional categories in force for this request.
        ask: whether to show the banner (no choice of this version, and no signal).
        record: the method to record a consent by now (``"gpc"``/``"dnt"``: the browser
            sends a signal its cookie does not yet reflect), or None.
        signal: the privacy signal the browser sends, if any.
        current: the browser's choice, when its cookie is of this version.
        previous_id: the record id the browser's cookie names, of any version (what a new
            record replaces).
    """

    optional: frozenset[Category]
    ask: bool
    record: str | None
    signal: str | None
    current: Consent | None
    previous_id: str | None

    def allows(self, category: Category) -> bool:
        return category == Category.STRICTLY_NECESSARY or category in self.optional


def decide(
    cookie: str | None, sec_gpc: str | None, dnt: str | None, version: str = POLICY_VERSION
) -> Decision:
    """The consent in force for a request with this compliance cookie and these headers.

    A signal (GPC, DNT) is "reject all optional": in force at once, whatever the cookie says;
    recorded when the cookie does not say so already. Without a signal, the cookie's choice
    if it is of ``version``; otherwise nothing optional, and ask."""
    parsed = parse_cookie(cookie)
    current = parsed if parsed is not None and parsed.version == version else None
    previous_id = parsed.record_id if parsed is not None else None
    signal = privacy_signal(sec_gpc, dnt)
    if signal is not None:
        settled = current is not None and not current.optional
        return Decision(
            frozenset(), False, None if settled else signal, signal, current, previous_id
        )
    if current is None:
        return Decision(frozenset(), True, None, None, None, previous_id)
    return Decision(current.optional, False, None, None, current, previous_id)


def chosen(fields: dict[str, str]) -> frozenset[Category]:
    """The optional categories a consent form accepts: ``choice=all`` every one that is
    used, ``choice=none`` none, otherwise the ticked boxes (``performance=on``) among the
    ones that can be chosen."""
    choice = fields.get("choice", "")
    if choice == "all":
        return frozenset(CHOOSABLE)
    if choice == "none":
        return frozenset()
    return frozenset(c for c in CHOOSABLE if fields.get(c.key) == "on")
