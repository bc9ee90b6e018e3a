"""Every name a person sets goes through one rule (``privacy.normalise.person_name``, typed
``api.names.PersonName``): NFC, spaces collapsed, and no control, bidi or zero-width
characters, which make a name read backwards or two names look alike (issue 12, finding 10).
The rule itself, then each route that takes a name, in-process against the real app: a bad
character is refused 422 with a message that names its code point (and never echoes the name);
ordinary names in many scripts are accepted and stored as typed (in NFC)."""

from __future__ import annotations

import unicodedata

import pytest
from fastapi.testclient import TestClient

from callroster.accounts import demo
from callroster.app import create_app
from callroster.config import Settings
from callroster.privacy.normalise import InvalidValueError, person_name
from callroster.store.store import Store

BAD = {
    "NUL": "\x00",
    "escape": "\x1b",
    "line feed": "\n",
    "delete": "\x7f",
    "LRE": "\u202a",
    "RLE": "\u202b",
    "PDF": "\u202c",
    "LRO": "\u202d",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "RLI": "\u2067",
    "FSI": "\u2068",
    "PDI": "\u2069",
    "zero width space": "\u200b",
    "ZWNJ": "\u200c",
    "ZWJ": "\u200d",
    "word joiner": "\u2060",
    "BOM": "\ufeff",
    "line separator": "\u2028",
}
GOOD = [
    "Zoë Brontë",
    "Siobhán Ó Súilleabháin",
    "Nguyễn Văn An",
    "Łukasz Żółć",
    "Ελένη Παπαδοπούλου",
    "Дмитрий Иванов",
    "محمد عبد الله",
    "דוד לוי",
    "李小龙",
    "佐藤 健",
    "김민준",
    "श्रीनिवास रामानुजन",
    "தமிழ்செல்வி",
    "สมชาย ใจดี",
    "Ama Ọ̀ṣun",
    "O'Brien-Smith Jr.",
]


@pytest.mark.parametrize("char", BAD.values(), ids=BAD.keys())
def test_each_bad_character_is_refused_by_its_code_point(char: str) -> None:
    for name in (f"Bob{char}Smith", f"{char}Bob", f"Bob{char}"):
        with pytest.raises(InvalidValueError) as refused:
            person_name(name)
        assert f"U+{ord(char):04X}" in str(refused.value)
        assert "Bob" not in str(refused.value)


@pytest.mark.parametrize("name", GOOD)
def test_ordinary_names_in_many_scripts_are_accepted(name: str) -> None:
    assert person_name(name) == unicodedata.normalize("NFC", name)
    assert person_name(unicodedata.normalize("NFD", name)) == unicodedata.normalize("NFC", name)


def test_spaces_are_collapsed_and_an_empty_name_refused() -> None:
    assert person_name("  Ann \u00a0  Lee  ") == "Ann Lee"
    for empty in ("", "   ", "\u3000"):
        with pytest.raises(InvalidValueError):
            person_name(empty)


@pytest.fixture
def client(store: Store, settings: Settings) -> TestClient:
    return TestClient(create_app(store, settings))


@pytest.fixture
def details(store: Store, settings: Settings) -> demo.DemoDetails:
    return demo.ensure_demo(store, settings)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _refused(answer_json: object, char: str) -> None:
    text = str(answer_json)
    assert f"U+{ord(char):04X}" in text and "Mallory" not in text, text


def test_every_route_that_takes_a_name_refuses_bad_ones_and_keeps_good_ones(
    client: TestClient, details: demo.DemoDetails
) -> None:
    admin = _bearer(details.admin_token)
    host = _bearer(details.host_token)
    guest = _bearer(details.web_url.rsplit("/", 1)[1])
    conference = f"/api/v1/conferences/{details.conference_id}"
    added = client.post(
        "/api/v1/account/users", headers=admin, json={"role": "host", "name": "Priya Partner"}
    )
    assert added.status_code == 201, added.text
    person = f"/api/v1/account/users/{added.json()['id']}"
    for label, char in BAD.items():
        name = f"Mallory{char}Evil"
        routes = [
            ("post", "/api/v1/account/users", admin, {"role": "host", "name": name}),
            ("patch", person, admin, {"name": name}),
            ("patch", "/api/v1/me", host, {"name": name}),
            ("patch", f"{conference}/legs/any-leg", host, {"name": name}),
            ("post", f"{conference}/web-legs", guest, {"name": name, "sdp": "v=0"}),
            ("post", f"{conference}/legs", guest, {"number": "+442079460201", "name": name}),
        ]
        for method, path, headers, body in routes:
            answer = client.request(method, path, headers=headers, json=body)
            assert answer.status_code == 422, (label, path, answer.text)
            _refused(answer.json(), char)
    for name in GOOD:
        nfd = unicodedata.normalize("NFD", name)
        nfc = unicodedata.normalize("NFC", name)
        mine = client.patch("/api/v1/me", headers=host, json={"name": nfd})
        assert mine.status_code == 200 and mine.json()["name"] == nfc, mine.text
        theirs = client.patch(person, headers=admin, json={"name": nfd})
        assert theirs.status_code == 200 and theirs.json()["name"] == nfc, theirs.text
