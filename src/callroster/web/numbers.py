"""Dial-in numbers as a guest sees them: their own country's first, chosen from the browser's
language (``Accept-Language: fr-FR`` → France) or from the page's country picker
(``?country=FR``, which wins); the full list on a page of its own (``/c/<link>/numbers``).

Pure functions of the conference's numbers and the request's headers: the routes are in
``web/pages.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

import phonenumbers

from callroster.store.numbers import NumberView
from callroster.web.common import dial_in

MAX_LANGUAGES = 12  # of an Accept-Language header, the first this many are read
# The country chosen, remembered for a year with functionality consent (web/cookies.py).
REGION_COOKIE = "callroster_region"
REGION_LIFETIME = dt.timedelta(days=365)


def country_name(code: str) -> str:
    """A country's name for a picker: phonenumbers knows no names, so the code and its
    calling code (``FR (+33)``)."""
    calling = phonenumbers.country_code_for_region(code)
    return f"{code} (+{calling})" if calling else code


def guest_country(accept_language: str | None, chosen: str | None) -> str | None:
    """The guest's country: the picker's choice if it is a region phonenumbers knows, else
    the region of the browser's most preferred language that names one (``en-GB``), else
    None."""
    if chosen and chosen.strip().upper() in phonenumbers.SUPPORTED_REGIONS:
        return chosen.strip().upper()
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:MAX_LANGUAGES]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        subtags = tag.replace("_", "-").split("-")
        region = next(
            (s.upper() for s in subtags[1:] if len(s) == 2 and s.isalpha()),
            None,
        )
        if region in phonenumbers.SUPPORTED_REGIONS and quality > 0:
            ranked.append((-quality, position, region))
    return min(ranked)[2] if ranked else None


def ordered(numbers: Sequence[NumberView], country: str | None) -> list[NumberView]:
    """The guest's country's numbers first (toll before toll-free), then the others as the
    plan orders them (by country)."""
    return sorted(numbers, key=lambda n: n.country != country)


def _item(number: NumberView, sip_host: str) -> str:
    about = " · ".join(
        part for part in (country_name(number.country), number.kind_name, number.label) if part
    )
    return f'{dial_in(number.number, sip_host)} <span class="about">{escape(about)}</span>'


def dial_in_list(
    numbers: Sequence[NumberView], country: str | None, sip_host: str, link: str
) -> str:
    """The room page's dial-in entries (``<dt>``/``<dd>``): the guest's country's numbers
    (or, with none there, every number), the country picker and a link to the full list."""
    mine = [n for n in numbers if n.country == country] or list(numbers)
    items = "\n".join(
        f'<dt>Dial in</dt><dd class="copy-row dial-in-number">{_item(n, sip_host)}</dd>'
        for n in ordered(mine, country)
    )
    if len({n.country for n in numbers}) < 2:
        return items
    every = (
        f'<a id="all-numbers" href="/c/{escape(link)}/numbers">'
        f"Every access number ({len(numbers)})</a>"
    )
    return f"""{items}
<dt>Elsewhere</dt><dd>{picker(numbers, country, f"/c/{link}")}
{every}</dd>"""


def picker(numbers: Sequence[NumberView], country: str | None, action: str) -> str:
    """A form choosing the country whose numbers come first (a plain GET to ``action``, the
    page itself: no script)."""
    countries = sorted({n.country for n in numbers})
    options = "".join(
        f'<option value="{escape(c)}"{" selected" if c == country else ""}>'
        f"{escape(country_name(c))}</option>"
        for c in countries
    )
    return f"""<form method="get" action="{escape(action)}" class="country-picker">
<label for="country">Your country</label> <select id="country" name="country">{options}</select>
<button type="submit" class="secondary">Show its numbers</button></form>"""


def full_list(numbers: Sequence[NumberView], country: str | None, sip_host: str, link: str) -> str:
    """The body of ``/c/<link>/numbers``: every number, the guest's country first."""
    if not numbers:
        return "<p>This conference has no dial-in number: join from the browser.</p>"
    rows = "\n".join(
        f'<li class="copy-row dial-in-number">{_item(n, sip_host)}</li>'
        for n in ordered(numbers, country)
    )
    return f"""{picker(numbers, country, f"/c/{link}/numbers")}
<ol id="numbers">{rows}</ol>
<p><a href="/c/{escape(link)}">Back to the conference</a></p>"""
