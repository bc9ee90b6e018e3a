"""RTP: packets, payload codecs and the media path between SIP legs and the mixer."""
