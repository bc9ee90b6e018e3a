"""Conference media: the N-1 mixer, talk detection and the tones legs hear.

Pure, vectorised numpy on 20 ms frames of 8 kHz int16 PCM; no sockets, clocks or event loop.
"""
