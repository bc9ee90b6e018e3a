"""The privacy engine's commands: ``callroster privacy ...`` (the inventory of personal data,
erasures) and ``callroster retention ...`` (the purge). Registered on the groups that
cli.py makes; the shared options and helpers (settings, store, confirmation) are cli.py's."""

from __future__ import annotations

from callroster.cli import privacy_app, retention_app

__all__ = ["privacy_app", "retention_app"]
