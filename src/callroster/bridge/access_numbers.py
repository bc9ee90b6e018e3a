"""The access numbers the bridge answered lately, so that a call to one is routed without a
trip to the database. Pure: the caller gives ``now``.

A flood of calls to the access number (issue 12, finding 7) made every INVITE wait for a
database thread to say the number is one: under load, most of the calls the PIN prompt's
share counted were still being looked up, and a call being looked up cannot make room for
another. Only numbers found to be access numbers are kept (with whether they require SRTP),
never what else was dialled: a PIN dialled directly is never kept here. An answer is used for
:data:`MAX_AGE` seconds, so a number the operator removes stops answering that soon. A change
of its SRTP policy may take twice as long: the directory keeps the policy it read for as long
again (``bridge/directory.py``, ``SRTP_ON_NUMBER_MAX_AGE``).
"""

from __future__ import annotations

MAX_AGE = 5.0
MAX_NUMBERS = 1000  # an operator's access numbers are few; never unbounded


class AccessNumbers:
    def __init__(self, max_age: float = MAX_AGE, max_numbers: int = MAX_NUMBERS) -> None:
        self._max_age = max_age
        self._max_numbers = max_numbers
        self._seen: dict[str, tuple[float, bool]] = {}  # number -> (when found, SRTP required)

    def srtp_required(self, number: str, now: float) -> bool | None:
        """Whether ``number``, an access number found less than ``max_age`` ago, requires
        SRTP; None when it is not known as one (look it up)."""
        seen = self._seen.get(number)
        if seen is None or not 0 <= now - seen[0] < self._max_age:
            return None
        return seen[1]

    def found(self, number: str, srtp_required: bool, now: float) -> None:
        """``number`` was just found to be an access number."""
        if len(self._seen) >= self._max_numbers and number not in self._seen:
            self._seen.clear()
        self._seen[number] = (now, srtp_required)
