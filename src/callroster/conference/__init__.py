"""Conference state: the one owner of who is on a call and what they may do. Pure."""
