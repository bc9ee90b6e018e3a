"""Invitations to a conference: the text, the HTML, the ``.ics`` (pure), the address list a
host gives, and the sender that emails them from the store's outbox."""
