"""The type of every name a person sets through the API or a page: a leg's name, their own
display name, a person an administrator adds, the name typed to join from a browser or to be
phoned. Each goes through ``privacy.normalise.person_name`` (NFC, no control, bidi or
zero-width characters), so a refused name is a 422 that says which character is wrong."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from callroster.privacy.normalise import person_name


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


PersonName = Annotated[str, AfterValidator(person_name)]
# A name that may be left out: empty or blank is the same as none.
OptionalPersonName = Annotated[PersonName | None, BeforeValidator(_blank_is_none)]
