from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callroster.privacy.contact_import import ContactRow, ImportError_, parse_csv, parse_vcard


def test_csv_with_header_and_spellings() -> None:
    rows = parse_csv(
        "name,phone,email\nAda Lovelace,020 7946 0123,ADA@x.example\nGrace,+1 415 555 0100,\n"
    )
    assert rows == [
        ContactRow("Ada Lovelace", "+442079460123", "ada@x.example"),
        ContactRow("Grace", "+14155550100", None),
    ]


def test_csv_problems_name_their_lines_and_nothing_is_kept() -> None:
    with pytest.raises(ImportError_) as caught:
        parse_csv("Ada,020 7946 0123\n,020 7946 0124\nBob,12\nCarl,,\n")
    assert [p.split(":")[0] for p in caught.value.problems] == ["line 2", "line 3", "line 4"]


def test_vcard_folded_lines_and_first_tel() -> None:
    text = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Katherine\r\n  Johnson\r\n"
        "TEL;TYPE=CELL:+44 7700 900123\r\nTEL:+44 7700 900999\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\nFN:Dorothy\nEMAIL:dorothy@nasa.example\nEND:VCARD\n"
    )
    assert parse_vcard(text) == [
        ContactRow("Katherine Johnson", "+447700900123", None),
        ContactRow("Dorothy", None, "dorothy@nasa.example"),
    ]


def test_unfinished_vcard_is_refused() -> None:
    with pytest.raises(ImportError_, match="no END:VCARD"):
        parse_vcard("BEGIN:VCARD\nFN:X\nTEL:+447700900123\n")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_rows_or_a_clear_error(text: str) -> None:
    for parse in (parse_csv, parse_vcard):
        try:
            parse(text)
        except ImportError_ as exc:
            assert exc.problems
