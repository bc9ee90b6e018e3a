"""SIP (RFC 3261) for the bridge: pure message handling first, transports built on top."""
