"""Digest authentication: the RFC examples, parsing variants, and fuzzed challenges."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callroster.sip.digest import (
    Challenge,
    Credentials,
    DigestError,
    authorization,
    choose_challenge,
    parse_challenge,
)

# RFC 2617 3.5
RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
# RFC 7616 3.9.1 (the password has a lower-case "of" there, unlike RFC 2617's)
RFC7616_COMMON = (
    'realm="http-auth@example.org", qop="auth, auth-int", '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_USER = Credentials("Mufasa", "Circle of Life")
PARAM = re.compile(r'([a-z]+)=("(?:[^"\\]|\\.)*"|[^,\s]+)')


def params(header: str) -> dict[str, str]:
    """The parameters of an Authorization value (quoted values unquoted, not unescaped)."""
    assert header.startswith("Digest ")
    return {
        name: value[1:-1] if value.startswith('"') else value
        for name, value in PARAM.findall(header.removeprefix("Digest "))
    }


def expected_response(
    algorithm: str,
    user: Credentials,
    realm: str,
    nonce: str,
    method: str,
    uri: str,
    *,
    qop: str | None,
    cnonce: str = "",
    nc: str = "00000001",
    body: bytes = b"",
) -> str:
    """RFC 7616 3.4.1 written out plainly, as the test's own computation."""
    name = "sha256" if algorithm.startswith("SHA-256") else "md5"

    def h(text: str | bytes) -> str:
        return hashlib.new(name, text.encode() if isinstance(text, str) else text).hexdigest()

    ha1 = h(f"{user.username}:{realm}:{user.password}")
    if algorithm.endswith("-sess"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}:{h(body)}") if qop == "auth-int" else h(f"{method}:{uri}")
    if qop is None:
        return h(f"{ha1}:{nonce}:{ha2}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


# -- the RFC examples -----------------------------------------------------------------------


def test_rfc2617_example() -> None:
    challenge = parse_challenge(RFC2617_CHALLENGE, proxy=False)
    value = authorization(
        challenge, Credentials("Mufasa", "Circle Of Life"), "GET", "/dir/index.html", "0a4f113b"
    )
    assert value == (
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
        'response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", '
        'qop=auth, nc=00000001, opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, response: str) -> None:
    challenge = parse_challenge(f"Digest {RFC7616_COMMON}, algorithm={algorithm}", proxy=False)
    value = authorization(challenge, RFC7616_USER, "GET", "/dir/index.html", RFC7616_CNONCE)
    assert params(value)["response"] == response
    assert f"algorithm={algorithm}," in value and "qop=auth," in value


def test_sha256_is_chosen_over_md5_whatever_the_order() -> None:
    md5 = f"Digest {RFC7616_COMMON}, algorithm=MD5"
    sha = f"Digest {RFC7616_COMMON}, algorithm=SHA-256"
    for values in ([md5, sha], [sha, md5], [f"{md5}, {sha}"]):
        chosen = choose_challenge(values, proxy=False)
        assert chosen.algorithm == "SHA-256"
        value = authorization(chosen, RFC7616_USER, "GET", "/dir/index.html", RFC7616_CNONCE)
        assert params(value)["response"].startswith("753927fa")


def test_equal_strength_keeps_the_servers_order() -> None:
    first = 'Digest realm="a", nonce="1", algorithm=MD5-sess, qop="auth"'
    second = 'Digest realm="b", nonce="2"'
    assert choose_challenge([first, second], proxy=True).realm == "a"


def test_choose_skips_what_it_cannot_answer() -> None:
    values = [
        'Basic realm="x"',
        'Digest realm="x", nonce="n", algorithm=SHA-512-256, qop="auth"',
        'Digest realm="y" nonce="broken',
        'Bearer abc==, Digest realm="z", nonce="n2", qop=auth',
    ]
    chosen = choose_challenge(values, proxy=True)
    assert (chosen.realm, chosen.nonce, chosen.proxy) == ("z", "n2", True)
    with pytest.raises(DigestError, match="Basic"):
        choose_challenge(values[:1], proxy=False)
    with pytest.raises(DigestError):
        choose_challenge([], proxy=False)


# -- the algorithms and qop forms -----------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"])
@pytest.mark.parametrize("qop", ["auth", "auth-int", None])
def test_every_algorithm_and_qop_matches_the_plain_computation(
    algorithm: str, qop: str | None
) -> None:
    if qop is None and algorithm.endswith("-sess"):
        return  # cannot be answered; see test_sess_without_qop_is_refused
    offer = "" if qop is None else f', qop="{qop}"'
    challenge = parse_challenge(
        f'Digest realm="r", nonce="n0", algorithm={algorithm}{offer}', False
    )
    user = Credentials("alice", "pässword")
    body = b"v=0\r\n"
    value = authorization(challenge, user, "INVITE", "sip:bob@x", "c1", nc=2, body=body)
    got = params(value)
    assert got["response"] == expected_response(
        algorithm,
        user,
        "r",
        "n0",
        "INVITE",
        "sip:bob@x",
        qop=qop,
        cnonce="c1",
        nc="00000002",
        body=body,
    )
    if qop is None:
        assert "cnonce" not in got and "qop" not in got and "nc" not in got
    else:
        assert (got["qop"], got["nc"], got["cnonce"]) == (qop, "00000002", "c1")


def test_auth_is_preferred_when_auth_int_is_offered_too() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="n", qop="auth-int,auth"', False)
    assert "qop=auth," in authorization(challenge, Credentials("u", "p"), "INVITE", "sip:x", "c")


def test_rfc2069_style_without_qop() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="n"', proxy=False)
    assert challenge.qop == () and challenge.algorithm == "MD5"
    value = authorization(challenge, Credentials("u", "p"), "INVITE", "sip:x", "unused")
    assert value == (
        'Digest username="u", realm="r", nonce="n", uri="sip:x", '
        f'response="{expected_response("MD5", Credentials("u", "p"), "r", "n", "INVITE", "sip:x", qop=None)}", '  # noqa: E501
        "algorithm=MD5"
    )


def test_nonce_count_is_eight_hex_digits() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="n", qop="auth"', proxy=False)
    assert "nc=000000ff" in authorization(challenge, Credentials("u", "p"), "A", "sip:x", "c", 255)
    with pytest.raises(DigestError):
        authorization(challenge, Credentials("u", "p"), "A", "sip:x", "c", 0)


def test_quoted_values_are_escaped_and_control_characters_refused() -> None:
    challenge = parse_challenge(r'Digest realm="a \"b\" \\ c", nonce="n"', proxy=False)
    assert challenge.realm == 'a "b" \\ c'
    value = authorization(challenge, Credentials('x"y', "p"), "INVITE", "sip:x", "c")
    assert r'username="x\"y"' in value and r'realm="a \"b\" \\ c"' in value
    with pytest.raises(DigestError):
        authorization(challenge, Credentials("x\r\nEvil: 1", "p"), "INVITE", "sip:x", "c")


def test_credentials_never_show_the_password() -> None:
    credentials = Credentials("trunk-user", "s3cret-password")
    assert "s3cret" not in repr(credentials) and "s3cret" not in str(credentials)
    assert "trunk-user" in repr(credentials)


# -- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        'Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth", opaque="o", stale=true',
        'digest REALM="r",NONCE="n",ALGORITHM=sha-256,QOP="AUTH",OPAQUE="o",STALE=TRUE',
        'DIGEST realm = "r" , nonce = "n" , algorithm = "SHA-256" , qop = auth , opaque = "o" ,'
        " stale = True",
        'Digest realm=r, nonce=n, algorithm=SHA-256, qop=auth, opaque=o, stale="true"',
        'Digest\trealm="r",\r\n nonce="n", , domain="sip:a sip:b", algorithm=SHA-256,'
        ' qop="auth", x-carrier=whatever, opaque="o", stale=true,',
        'Digest realm="r" nonce="n" algorithm=SHA-256 qop="auth" opaque="o" stale=true',
    ],
)
def test_parsing_variants(value: str) -> None:
    assert parse_challenge(value, proxy=True) == Challenge(
        "r", "n", "o", "SHA-256", ("auth",), stale=True, proxy=True
    )


def test_defaults() -> None:
    assert parse_challenge('Digest nonce="n", realm=""', proxy=False) == Challenge("", "n")


def test_an_unquoted_qop_list() -> None:
    challenge = parse_challenge('Digest realm="r", qop=auth,auth-int, nonce="n"', proxy=False)
    assert challenge.qop == ("auth", "auth-int") and challenge.nonce == "n"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('Basic realm="r"', "not Digest"),
        ('Digest nonce="n"', "no realm"),
        ('Digest realm="r"', "no nonce"),
        ('Digest realm="r", nonce=""', "no nonce"),
        ('Digest realm="r", nonce="n", algorithm=SHA-512-256', "algorithm"),
        ('Digest realm="r", nonce="n", algorithm=AKAv1-MD5', "algorithm"),
        ('Digest realm="r", nonce="n", algorithm=MD5-sess', "without qop"),
        ('Digest realm="r", nonce="n", qop="auth-conf"', "qop"),
        ('Digest realm="r", nonce="n", realm="s"', "twice"),
        ('Digest realm="r", nonce="n', "unclosed"),
        ('realm="r", nonce="n"', "before the scheme"),
        ('Digest realm="r", nonce="n", Digest realm="s", nonce="m"', "2 challenges"),
        ("", "0 challenges"),
        ('Digest realm="r"; nonce="n"', "unexpected"),
    ],
)
def test_what_is_refused(value: str, reason: str) -> None:
    with pytest.raises(DigestError, match=reason):
        parse_challenge(value, proxy=False)


def test_digest_error_is_a_value_error() -> None:
    assert issubclass(DigestError, ValueError)


# -- fuzzing --------------------------------------------------------------------------------

FRAGMENTS = st.sampled_from(
    [
        "Digest",
        "digest ",
        "Basic ",
        " ",
        ",",
        "=",
        '"',
        "\\",
        "\t",
        "\r\n ",
        "realm",
        "nonce",
        "qop",
        "algorithm",
        "opaque",
        "stale",
        "auth",
        "auth-int",
        "MD5",
        "md5-SESS",
        "SHA-256",
        "sha-256-sess",
        "true",
        '"r"',
        '"n"',
        "abc==",
        "é",
        "\x00",
    ]
)
FUZZ = settings(max_examples=200, deadline=None, database=None)


@FUZZ
@given(st.lists(FRAGMENTS, max_size=30).map("".join), st.booleans())
def test_fuzzed_challenges_raise_only_digest_error(value: str, proxy: bool) -> None:
    parsers: list[Callable[[], Challenge]] = [
        partial(parse_challenge, value, proxy),
        partial(choose_challenge, [value], proxy),
    ]
    for parse in parsers:
        try:
            challenge = parse()
        except DigestError:
            continue
        assert challenge.proxy is proxy and challenge.nonce
        # whatever parses can be answered, or refused with DigestError (control characters)
        try:
            authorization(challenge, Credentials("u", "p"), "INVITE", "sip:x", "c")
        except DigestError:
            pass


@FUZZ
@given(st.text(max_size=200), st.booleans())
def test_random_text_raises_only_digest_error(value: str, proxy: bool) -> None:
    try:
        parse_challenge(value, proxy)
    except DigestError:
        pass
    try:
        choose_challenge([value, value[::-1]], proxy)
    except DigestError:
        pass


SAFE = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1, max_size=12)


@st.composite
def rendered_challenges(draw: st.DrawFn) -> tuple[str, Challenge]:
    """A well-formed challenge rendered with random case, spacing, quoting and extras."""
    realm, nonce = draw(SAFE), draw(SAFE)
    algorithm = draw(st.sampled_from(["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"]))
    qop = draw(st.sampled_from([("auth",), ("auth", "auth-int"), ("auth-int",)]))
    opaque = draw(st.none() | SAFE)
    stale = draw(st.booleans())

    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def case(text: str) -> str:
        return "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in text)

    pairs = [
        ("realm", quote(realm)),
        ("nonce", quote(nonce)),
        ("algorithm", case(algorithm)),
        ("qop", quote(",".join(qop))),
        ("stale", case(str(stale))),
        ("x-extra", draw(st.sampled_from(["token", '"a, b=c"', "abc=="]))),
    ]
    if opaque is not None:
        pairs.append(("opaque", quote(opaque)))
    pairs = draw(st.permutations(pairs))
    space = st.sampled_from(["", " ", "\t", "  "])
    rendered = case("Digest") + " "
    rendered += ",".join(
        f"{draw(space)}{case(name)}{draw(space)}={draw(space)}{value}{draw(space)}"
        for name, value in pairs
    )
    return rendered, Challenge(realm, nonce, opaque, algorithm, qop, stale)


@FUZZ
@given(rendered_challenges())
def test_well_formed_challenges_parse_however_rendered(case: tuple[str, Challenge]) -> None:
    rendered, expected = case
    assert parse_challenge(rendered, proxy=False) == expected
