"""A phone's home network behind a real NAT, built from Linux network namespaces for one test.

Shape (one namespace plays both the home router and the phone on it)::

    host (the bridge)                    namespace cr-phone-<hex> ("the router")
    10.X.Y.1/30 on crph-<hex>  ==veth==  crpp-<hex> 10.X.Y.2/30   (its WAN side)
                                         lo         192.168.Z.2/32 (the phone's private address)
                                         nftables:  postrouting  masquerade random
                                                    prerouting   drop what the host sends
                                                                 straight to 192.168.Z.2

A phone run inside with :meth:`NatNetwork.command` binds 192.168.Z.2 and advertises it in its
Contact and SDP, as a phone behind a home router does. Its packets leave with the source
rewritten to 10.X.Y.2 and a random port (``masquerade random``: the mapped port differs from
the bound one, so port translation is exercised as well as address translation); replies to
the mapped address and port are translated back by connection tracking. The host routes
192.168.Z.2 to the namespace, and the namespace drops (and counts, :meth:`dropped`) anything
that arrives addressed to it: the private address is unreachable from outside, as it is on
the Internet, and nothing the bridge sends to it can leave this machine by the default route.

Names (namespace, links) carry a random suffix and the address blocks are picked, under a lock
(``/run/callroster-netns.lock``), among the ones no interface or route of the host's overlaps,
so two pytest sessions can each build one at once. Everything goes on leaving (also when the
body raises): the processes still running in the namespace (only ones the test started there)
are stopped by pid, then the veth pair (with its addresses and routes) and the namespace (with
its nftables table) are deleted.

Where namespaces are refused (not root, no CAP_NET_ADMIN, a kernel without them) the test is
skipped, with the reason the system gave.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import random
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.peers import require

_LOCK = Path("/run/callroster-netns.lock")
_COUNTER = "to_private"
_TABLE = "callroster_nat"


@dataclass(frozen=True)
class NatNetwork:
    """One built network; see the module docstring for its shape."""

    namespace: str
    host_link: str
    phone_link: str
    host_address: str  # the host's end of the veth: where the bridge listens
    wan_address: str  # the router's public side: what the bridge sees the phone come from
    private_address: str  # what the phone binds and advertises

    def command(self, *args: str) -> list[str]:
        """``args`` as a command line that runs inside the namespace (behind the NAT)."""
        return ["ip", "netns", "exec", self.namespace, *args]

    def dropped(self) -> int:
        """Packets that reached the router addressed to the private address (and were
        dropped, as a real NAT drops them): what was sent to the phone's Contact or SDP
        address instead of to where its packets came from."""
        out = _run(*self.command("nft", "list", "counter", "ip", _TABLE, _COUNTER))
        match = re.search(r"packets (\d+)", out)
        assert match is not None, out
        return int(match.group(1))

    def translations(self) -> list[tuple[tuple[str, int], tuple[str, int]]]:
        """What the router's NAT has mapped so far, from its connection tracking table:
        ``((private address, port), (public address, port))`` for each UDP or TCP flow the
        phone started."""
        out = _run(*self.command("cat", "/proc/net/nf_conntrack"), check=False)
        mapped = []
        for line in out.splitlines():
            fields = re.findall(r"\b(src|dst|sport|dport)=(\S+)", line)
            if len(fields) < 8 or fields[0] != ("src", self.private_address):
                continue
            (_, src), _, (_, sport), _, _, (_, public), _, (_, public_port) = fields[:8]
            mapped.append(((src, int(sport)), (public, int(public_port))))
        return mapped


def _run(*args: str, check: bool = True) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=10)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network an interface or a route of the host's covers (the default route
    aside): a block for the test must overlap none of them."""
    text = _run("ip", "-4", "-o", "addr", "show") + _run(
        "ip", "-4", "route", "show", "table", "all"
    )
    found = []
    for token in text.split():
        with contextlib.suppress(ValueError):
            network = ipaddress.IPv4Network(token, strict=False)
            if network.prefixlen > 0:
                found.append(network)
    return found


def _pick_blocks(
    in_use: list[ipaddress.IPv4Network], rng: random.Random
) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]:
    """A /30 in 10.200-249.*.* and a 192.168.Z.0/24 that overlap nothing in use."""
    for _ in range(100):
        wan = ipaddress.IPv4Network(
            f"10.{rng.randrange(200, 250)}.{rng.randrange(256)}.{rng.randrange(0, 256, 4)}/30"
        )
        lan = ipaddress.IPv4Network(f"192.168.{rng.randrange(100, 255)}.0/24")
        if not any(block.overlaps(used) for block in (wan, lan) for used in in_use):
            return wan, lan
    raise RuntimeError("no free 10.x.y.0/30 and 192.168.z.0/24 for a NAT test network")


def _skip_unless_namespaces_allowed(name: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CAP_NET_ADMIN); this run is not root")
    done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"the kernel refused a network namespace: {done.stderr.strip()}")


def _ruleset(network: NatNetwork) -> str:
    """The router's nftables table. The drop sits at the raw priority, before connection
    tracking translates replies back: it sees only packets sent to the private address
    itself, never the replies addressed to the mapped public address and port."""
    wan, private = f'"{network.phone_link}"', network.private_address
    return f"""
table ip {_TABLE} {{
    counter {_COUNTER} {{ }}
    chain unsolicited {{
        type filter hook prerouting priority raw; policy accept;
        iifname {wan} ip daddr {private} counter name {_COUNTER} drop
    }}
    chain nat {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname {wan} ip saddr {private} masquerade random
    }}
}}
"""


def _stop_processes(namespace: str) -> None:
    """Stops what still runs in the namespace (only processes the test started there), each
    by its pid: TERM, then KILL after 3 s."""
    pids = [int(p) for p in _run("ip", "netns", "pids", namespace, check=False).split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 3
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _tear_down(network: NatNetwork) -> None:
    _stop_processes(network.namespace)
    # Deleting either end of a veth deletes both, with their addresses and routes.
    subprocess.run(["ip", "link", "del", network.host_link], capture_output=True)
    _run("ip", "netns", "del", network.namespace)
    leftover = _run("ip", "-o", "link", "show", network.host_link, check=False)
    assert not leftover, f"the veth {network.host_link} outlived its namespace"


@contextlib.contextmanager
def nat_network() -> Iterator[NatNetwork]:
    """Builds the NAT'd phone network, yields it, and tears it all down on the way out."""
    require("nft")
    suffix = secrets.token_hex(3)
    namespace = f"cr-phone-{suffix}"
    _skip_unless_namespaces_allowed(namespace)
    network: NatNetwork | None = None
    try:
        with open(_LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # picking and claiming the blocks, one at a time
            wan, lan = _pick_blocks(_networks_in_use(), random.SystemRandom())
            network = NatNetwork(
                namespace=namespace,
                host_link=f"crph-{suffix}",
                phone_link=f"crpp-{suffix}",
                host_address=str(wan[1]),
                wan_address=str(wan[2]),
                private_address=str(lan[2]),
            )
            _build(network)
        yield network
    finally:
        if network is not None:
            _tear_down(network)
        else:
            _run("ip", "netns", "del", namespace, check=False)


def _build(network: NatNetwork) -> None:
    ns, host, phone = network.namespace, network.host_link, network.phone_link
    _run("ip", "link", "add", host, "type", "veth", "peer", "name", phone, "netns", ns)
    _run("ip", "addr", "add", f"{network.host_address}/30", "dev", host)
    _run("ip", "link", "set", host, "up")
    _run("ip", "-n", ns, "link", "set", "lo", "up")
    _run("ip", "-n", ns, "addr", "add", f"{network.private_address}/32", "dev", "lo")
    _run("ip", "-n", ns, "addr", "add", f"{network.wan_address}/30", "dev", phone)
    _run("ip", "-n", ns, "link", "set", phone, "up")
    _run("ip", "-n", ns, "route", "add", "default", "via", network.host_address)
    # The private address is unreachable from outside: routed to the router (which drops
    # what comes addressed to it), never to the world by the host's default route.
    _run("ip", "route", "add", f"{network.private_address}/32", "via", network.wan_address)
    done = subprocess.run(
        network.command("nft", "-f", "-"), input=_ruleset(network), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"nft refused the NAT ruleset: {done.stderr.strip()}")
