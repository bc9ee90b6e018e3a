"""A dialog written down, so that a process that did not survive can still end it.

When the bridge is killed (``kill -9``, a crash, the machine's power) its calls live on at the
far end: the phones hear dead air until their user gives up, as no BYE ever comes. To end
them after a restart, the bridge keeps a :class:`DialogSnapshot` of each call on the
conference in the store (encrypted: the parties' URIs and addresses identify people) and, on
start, sends each a BYE built from it by :func:`orphan_bye` with
:meth:`~callroster.sip.dialog.Dialog.create_request`, as the dead process would have.

What a BYE needs (RFC 3261 12.2.1.1 and 15.1.1): Call-ID, both tags, both parties, the
remote target, the route set, a CSeq above every one we used, and where to send it (the
next hop, which for a peer behind a NAT is where its requests came from, not its Contact).

Limits: the snapshot is taken when the call joins the conference; a target refresh or a NAT
rebinding after that is not in it (the BYE then goes where the call began).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from callroster.sip.dialog import Dialog, DialogState, Role
from callroster.sip.message import Request
from callroster.sip.transaction import Transport
from callroster.sip.uri import parse_name_addr

#: How far above the last CSeq a snapshot saw the orphan's BYE goes. Requests we sent after
#: the snapshot (a session refresh every half interval, 15 minutes by default) number far
#: fewer; a peer only needs the number to grow (RFC 3261 12.2.2), not to grow by one.
CSEQ_MARGIN = 1000


@dataclass(frozen=True)
class DialogSnapshot:
    """What is needed to end a dialog from outside the process that held it."""

    call_id: str
    role: Role
    local_tag: str
    remote_tag: str
    local_party: str  # our From (UAC) or the INVITE's To (UAS), without the tag
    remote_party: str
    remote_target: str
    route_set: tuple[str, ...]
    local_cseq: int  # the last CSeq we used in the dialog (0: none yet)
    transport: Transport
    destination: tuple[str, int]  # the next hop, as the dialog had it

    @classmethod
    def of(cls, dialog: Dialog, transport: Transport) -> DialogSnapshot:
        """The snapshot of ``dialog``, reached over ``transport``."""
        host, port, hop_transport = dialog.next_hop(transport)
        return cls(
            call_id=dialog.call_id,
            role=dialog.role,
            local_tag=dialog.local_tag,
            remote_tag=dialog.remote_tag,
            local_party=str(dialog.local_party),
            remote_party=str(dialog.remote_party),
            remote_target=dialog.remote_target,
            route_set=dialog.route_set,
            local_cseq=dialog.local_cseq,
            transport=hop_transport,
            destination=(host, port),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "call_id": self.call_id,
                "role": self.role,
                "local_tag": self.local_tag,
                "remote_tag": self.remote_tag,
                "local_party": self.local_party,
                "remote_party": self.remote_party,
                "remote_target": self.remote_target,
                "route_set": list(self.route_set),
                "local_cseq": self.local_cseq,
                "transport": self.transport,
                "destination": list(self.destination),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> DialogSnapshot:
        """Raises:
        ValueError: not a snapshot (a field missing or of the wrong kind)."""
        try:
            data: Mapping[str, Any] = json.loads(text)
            host, port = data["destination"]
            role, transport = data["role"], data["transport"]
            if role not in ("uac", "uas") or transport not in ("udp", "tcp", "tls"):
                raise ValueError(f"role {role!r} or transport {transport!r}")
            return cls(
                call_id=str(data["call_id"]),
                role=role,
                local_tag=str(data["local_tag"]),
                remote_tag=str(data["remote_tag"]),
                local_party=str(data["local_party"]),
                remote_party=str(data["remote_party"]),
                remote_target=str(data["remote_target"]),
                route_set=tuple(str(route) for route in data["route_set"]),
                local_cseq=int(data["local_cseq"]),
                transport=transport,
                destination=(str(host), int(port)),
            )
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a dialog snapshot: {exc}") from exc


def orphan_bye(
    snapshot: DialogSnapshot, via: str, extra_headers: Iterable[tuple[str, str]] = ()
) -> Request:
    """The BYE that ends the dialog of ``snapshot`` (RFC 3261 15.1.1), with a CSeq
    :data:`CSEQ_MARGIN` above the last one the snapshot saw.

    Args:
        snapshot: the dialog as it was written down.
        via: our Via with a fresh branch.
        extra_headers: appended (User-Agent).
    """
    dialog = Dialog(
        role=snapshot.role,
        call_id=snapshot.call_id,
        local_tag=snapshot.local_tag,
        remote_tag=snapshot.remote_tag,
        local_party=parse_name_addr(snapshot.local_party),
        remote_party=parse_name_addr(snapshot.remote_party),
        remote_target=snapshot.remote_target,
        route_set=snapshot.route_set,
        local_cseq=snapshot.local_cseq + CSEQ_MARGIN - 1,
        remote_cseq=None,
        state=DialogState.CONFIRMED,
    )
    return dialog.create_request("BYE", via, extra_headers=extra_headers)
