"""RTP media for the bridge (RFC 3550): packets, G.711, RFC 4733 telephone events, jitter buffer.

Pure on purpose, like :mod:`callroster.sip`: bytes and caller-supplied times in, values out. No
sockets, clocks or randomness, so every module here can be driven by a fake clock and fuzzed.
"""
