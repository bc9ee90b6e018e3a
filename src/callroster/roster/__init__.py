"""Live Call Status: who is on each call, kept from the conference's events. Pure."""
