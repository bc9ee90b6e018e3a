"""The bridge: SIP calls, their media, PIN entry and conferences, tied together."""
