"""Errors raised by repositories; routes translate them to HTTP statuses."""

from __future__ import annotations


class AccessDeniedError(Exception):
    """The actor may not read or change this account's data."""


class DuplicateError(Exception):
    """A unique value (email, PIN, link) is already taken."""
