"""The errors repositories raise, where the store's code has always imported them from.

They belong to the one hierarchy drawn in ``callroster.errors``; routes translate them to
HTTP statuses in ``callroster.api.errors``.
"""

from __future__ import annotations

from callroster.errors import (
    AccessDeniedError,
    DataKeyDestroyedError,
    DuplicateError,
    NotFoundError,
)

__all__ = ["AccessDeniedError", "DataKeyDestroyedError", "DuplicateError", "NotFoundError"]
