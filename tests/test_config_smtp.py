"""The mail server settings: one line naming a bad one; the From address's default; no mail
server, no sending."""

from __future__ import annotations

from pathlib import Path

import pytest

from callroster.config import load_settings
from callroster.errors import ConfigError
from callroster.invitations.sender import MailServer


def test_a_security_mode_not_known_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^bad setting smtp_security: "):
        load_settings(data=tmp_path, smtp_security="ssl")


def test_the_mail_server_from_the_settings(tmp_path: Path) -> None:
    assert MailServer.of(load_settings(data=tmp_path)) is None  # none set: nothing is emailed
    settings = load_settings(
        data=tmp_path,
        smtp_host="mail.example.net",
        smtp_port=465,
        smtp_security="tls",
        smtp_username="callroster",
        smtp_password="Lantern-Oxbow-Quill-4",
        public_host="meet.example.net",
    )
    server = MailServer.of(settings)
    assert server is not None
    assert (server.host, server.port, server.security, server.username, server.password) == (
        "mail.example.net",
        465,
        "tls",
        "callroster",
        "Lantern-Oxbow-Quill-4",
    )
    assert server.sender == "invitations@meet.example.net"
    assert "Lantern" not in repr(settings) and "Lantern" not in repr(server)
    given = load_settings(data=tmp_path, smtp_host="m", smtp_from="Meetings <m@example.org>")
    assert given.invitation_sender == "Meetings <m@example.org>"
