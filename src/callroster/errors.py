"""Errors a user or operator can act on.

Every error here carries a one-line message meant for a person, and the CLI turns it into
that line on stderr and a distinct exit code, never a traceback::

    CallrosterError                 exit 1
    ├── ConfigError                 exit 2   bad or contradictory configuration
    ├── MasterKeyError              exit 3   master key missing, unreadable or wrong
    ├── StoreUnavailableError       exit 4   database cannot be reached or opened
    ├── PortInUseError              exit 5   a listening port is taken
    └── NotFoundError               exit 6   a named thing does not exist
"""

from __future__ import annotations


class CallrosterError(Exception):
    """Base of the errors shown to a person as one line."""

    exit_code = 1


class ConfigError(CallrosterError):
    exit_code = 2


class MasterKeyError(CallrosterError):
    exit_code = 3


class StoreUnavailableError(CallrosterError):
    exit_code = 4


class PortInUseError(CallrosterError):
    exit_code = 5


class NotFoundError(CallrosterError):
    exit_code = 6


class DataKeyDestroyedError(CallrosterError):
    """The account's data key was destroyed: its personal data is unreadable by design."""

    exit_code = 7
