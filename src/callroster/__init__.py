"""Callroster: an audio conference bridge that shows who is on the call, by name."""

__version__ = "0.1.0"
