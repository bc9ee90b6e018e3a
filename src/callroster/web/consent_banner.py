"""The consent banner every page shows until a browser has chosen (``web/common.py``'s layout
puts it under the header), and the category form it shares with ``/cookies/settings``.

Plain HTML forms that POST to ``/consent`` (``web/consent.py``): no script, which the pages'
policy would not run inline anyway. "Accept all" and "Reject all" are the same kind of button,
side by side, in one form; "Choose" opens (``<details>``, keyboard-operable without script) a
form with a box for each category that can be chosen. The banner is a region named by its
heading, so assistive technology lists it with the page's landmarks.
"""

from __future__ import annotations

from html import escape

from callroster.privacy.consent import (
    BANNER_TEXT,
    BANNER_TITLE,
    CHOOSABLE,
    DESCRIPTIONS,
    Category,
)

ACTION = "/consent"
SETTINGS = "/cookies/settings"


def _hidden(here: str, origin: str) -> str:
    return (
        f'<input type="hidden" name="next" value="{escape(here)}">'
        f'<input type="hidden" name="from" value="{origin}">'
    )


def category_boxes(prefix: str, chosen: frozenset[Category]) -> str:
    """A checkbox for each category that can be chosen (ticked if in ``chosen``), each with
    its description, and the categories that cannot: strictly necessary (always on) and
    targeting (not used)."""
    boxes = "".join(
        f'<p class="check"><input type="checkbox" id="{prefix}-{c.key}" name="{c.key}"'
        f'{" checked" if c in chosen else ""} aria-describedby="{prefix}-{c.key}-about">'
        f'<label for="{prefix}-{c.key}">{escape(c.value)}</label></p>'
        f'<p class="note consent-about" id="{prefix}-{c.key}-about">'
        f"{escape(DESCRIPTIONS[c])}</p>"
        for c in CHOOSABLE
    )
    fixed = "".join(
        f'<p class="note consent-fixed" id="{prefix}-{c.key}"><strong>{escape(c.value)}:'
        f"</strong> {escape(DESCRIPTIONS[c])}</p>"
        for c in (Category.STRICTLY_NECESSARY, Category.TARGETING)
    )
    return boxes + fixed


def both_buttons(here: str, origin: str) -> str:
    """ "Accept all" and "Reject all": one form, the same button twice, side by side."""
    return f"""<form method="post" action="{ACTION}" class="consent-buttons">
{_hidden(here, origin)}
<button type="submit" name="choice" value="all" class="consent-choice">Accept all</button>
<button type="submit" name="choice" value="none" class="consent-choice">Reject all</button>
</form>"""


def choose_form(here: str, origin: str, chosen: frozenset[Category], prefix: str) -> str:
    """The form choosing category by category."""
    return f"""<form method="post" action="{ACTION}" class="consent-choose">
{_hidden(here, origin)}
<fieldset><legend>Optional cookies and page timing</legend>
{category_boxes(prefix, chosen)}
</fieldset>
<button type="submit" name="choice" value="chosen" class="secondary">Save my choice</button>
</form>"""


def banner(here: str) -> str:
    """The banner, whose forms come back to ``here`` (a local path)."""
    return f"""<section class="consent" id="consent-banner" aria-labelledby="consent-title">
<h2 id="consent-title">{escape(BANNER_TITLE)}</h2>
<p>{escape(BANNER_TEXT)} <a href="/cookies">What each cookie does</a></p>
{both_buttons(here, "banner")}
<details class="consent-details"><summary>Choose</summary>
{choose_form(here, "banner", frozenset(), "banner")}
</details>
</section>
"""
