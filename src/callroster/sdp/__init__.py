"""SDP (RFC 8866) for the bridge: parsing, serialising and offer/answer (RFC 3264) for audio.

Pure on purpose, like :mod:`callroster.sip`: values in, values out, no sockets, clocks or
randomness. Session ids and versions come from the caller.
"""
