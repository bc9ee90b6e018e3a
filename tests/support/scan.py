"""Scanning a text (a metrics exposition, log lines) for a secret a test planted."""

from __future__ import annotations

import re


def holds(text: str, secret: str) -> bool:
    """Whether ``text`` holds ``secret``. A secret of digits only (a PIN, the access number
    2000) counts as a number of its own, not as digits inside another: a timestamp such as
    1765020003.2 or a sample value 12000.0 is not the number 2000; ``"2000"`` or ``=2000``
    is."""
    if secret.isdigit():
        return re.search(rf"(?<![0-9.]){secret}(?![0-9.])", text) is not None
    return secret in text
