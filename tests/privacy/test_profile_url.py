"""The profile address check: only a plain https address of a named site passes, in one
normalised form; anything else is refused with a reason, never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callroster.privacy.profile_url import (
    MAX_LENGTH,
    ProfileUrlError,
    check_profile_url,
    profile_host,
)


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("https://www.linkedin.com/in/ada", "https://www.linkedin.com/in/ada"),
        ("  HTTPS://Example.ORG/u/Ada  ", "https://example.org/u/Ada"),
        ("https://example.org", "https://example.org/"),
        ("https://example.org/p?id=7&x=1", "https://example.org/p?id=7&x=1"),
        ("https://bücher.example/ä", "https://xn--bcher-kva.example/%C3%A4"),
        ("https://example.org/100%", "https://example.org/100%25"),
        ("https://example.org/a%20b", "https://example.org/a%20b"),
        ("https://example.org./x", "https://example.org/x"),
        ("https://example.org/\n", "https://example.org/"),  # trimmed, as in a form
    ],
)
def test_a_plain_https_address_is_kept_in_one_form(typed: str, shown: str) -> None:
    assert check_profile_url(typed) == shown


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("", "type the address"),
        ("javascript:alert(1)", "https://"),
        ("JaVaScRiPt:alert(1)//https://x.org", "https://"),
        ("data:text/html,<script>alert(1)</script>", "https://"),
        ("http://example.org/ada", "https://"),
        ("//example.org/ada", "https://"),
        ("https://", "names a site"),
        ("https:///path", "names a site"),
        ("https://user:pw@example.org/", "user name"),
        ("https://example.org@evil.example/", "user name"),
        ("https://evil.example\\@example.org/", "backslash"),
        ("https://example.org/#javascript:alert(1)", "fragment"),
        ("https://example.org/a#", "fragment"),
        ("https://example.org:8443/", "port"),
        ("https://example.org:/", "port"),
        ("https://127.0.0.1/", "network address"),
        ("https://[::1]/", "network address"),
        ("https://1.2.3.4.5/", "network address"),
        ("https://localhost/", "not a valid name"),
        ("https://exa mple.org/", "spaces"),
        ("https://example.org/\u202eevil", "control"),
        ("https://-bad-.example/", "not a valid name"),
        ("https://" + "a" * 64 + ".example/", "not a valid name"),
        ("https://example.org/" + "a" * MAX_LENGTH, "at most 300"),
    ],
)
def test_anything_else_is_refused_with_a_reason(typed: str, why: str) -> None:
    with pytest.raises(ProfileUrlError, match=why):
        check_profile_url(typed)


def test_the_normalised_address_fits_the_limit_too() -> None:
    # 250 characters typed, but each "ä" becomes six once percent-encoded.
    with pytest.raises(ProfileUrlError, match="at most 300"):
        check_profile_url("https://example.org/" + "ä" * 100)


def test_the_roster_shows_the_site_s_name() -> None:
    assert profile_host("https://www.linkedin.com/in/ada") == "linkedin.com"
    assert profile_host("https://xn--bcher-kva.example/") == "xn--bcher-kva.example"


_URLISH = st.one_of(
    st.text(max_size=400),
    st.builds(
        lambda scheme, rest: scheme + rest,
        st.sampled_from(["https://", "HTTPS://", "https:", "javascript:", "data:", ""]),
        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=320),
    ),
)


@settings(max_examples=3000, deadline=None)
@given(_URLISH)
def test_fuzz_never_raises_anything_but_its_own_error(typed: str) -> None:
    try:
        shown = check_profile_url(typed)
    except ProfileUrlError:
        return
    assert shown.startswith("https://") and len(shown) <= MAX_LENGTH
    assert "#" not in shown and "\\" not in shown and "@" not in shown.split("/")[2]
    assert shown.isascii() and not any(c.isspace() for c in shown)
    assert check_profile_url(shown) == shown  # its own output passes unchanged
