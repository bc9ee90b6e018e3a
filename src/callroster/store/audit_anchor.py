"""The audit log's anchor: the newest entry's number and hash, kept in a file outside the
database (``<data>/audit.anchor``, or the ``audit_anchor_file`` setting; put it on storage the
database's administrators cannot write, such as a write-once bucket's mount, for the
strongest guarantee).

Someone who can write to the database can cut off the newest entries, or rewrite the log and
recompute every later hash, and the chain alone still checks out. Against the anchor it does
not: the anchored entry must still be there, with the same hash. ``advance`` moves the anchor
to the head only after the entries since the last anchor check out, so a tampered log is
never anchored. The running service advances it every minute; ``callroster audit verify``
checks against it and then advances it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from callroster.store.audit import Anchor, AuditLog, AuditProblem

log = logging.getLogger(__name__)
ANCHOR_SECONDS = 60.0


class AnchorFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> Anchor | None:
        """The anchor, or None when there is none yet.

        Raises:
            ValueError: the file is there but is not an anchor (which is itself a sign of
                tampering, or of a wrong path).
        """
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        seq, _, digest = text.strip().partition(" ")
        try:
            anchor = Anchor(int(seq), bytes.fromhex(digest))
        except ValueError:
            raise ValueError(f"{self.path} is not an audit anchor") from None
        if anchor.seq < 1 or len(anchor.entry_hash) != 32:
            raise ValueError(f"{self.path} is not an audit anchor")
        return anchor

    def write(self, anchor: Anchor) -> None:
        """Replace the anchor atomically (readable by this user only)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{anchor.seq} {anchor.entry_hash.hex()}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


def advance(audit: AuditLog, anchor_file: AnchorFile, *, full: bool = False) -> AuditProblem | None:
    """Check the log against the anchor and, if it is intact, anchor its head.

    Args:
        full: Walk the whole chain (``audit verify``); otherwise only the entries since the
            anchor (the service, every minute).

    Returns:
        The first problem (the anchor then stays where it was), or None.
    """
    anchor = anchor_file.read()
    problem = audit.verify(anchor, since=None if full else anchor)
    if problem is not None:
        log.error("audit log: entry %d %s", problem.seq, problem.what)
        return problem
    head = audit.head()
    if head is not None and head != anchor:
        anchor_file.write(head)
    return None
