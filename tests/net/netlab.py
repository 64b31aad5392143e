"""A small internet in Linux network namespaces, built and torn down by the tests (as root).

::

    dc (server, coturn) --- edge (1:1 NAT: PUBLIC <-> 10.1.0.2) --- wan (router)
                                                                   |  |  |
                            home (10.3.0.2: a "public" client) ----+  |  |
     hlan (192.168.5.2) --- hnat (MASQUERADE, drops new inbound) -----+  |
                            blocked (10.6.0.2: every outgoing UDP dropped)

The wan router has no route to dc's private network: from outside, the server is reachable
at PUBLIC only. Every address exists only inside these namespaces; nothing leaves the
machine. Names carry a random prefix, so parallel runs never meet, and ``close`` deletes
every namespace (their links and nftables rules go with them), also after a failure.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

PUBLIC = "10.9.0.10"
"""The server's public address (the outside of the cloud NAT)."""
SERVER_PRIVATE = "10.1.0.2"


def run(*argv: str, input_text: str | None = None) -> None:
    done = subprocess.run(argv, input=input_text, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


@dataclass
class NetLab:
    prefix: str = field(default_factory=lambda: "dl" + secrets.token_hex(3))
    namespaces: list[str] = field(default_factory=list)

    def ns(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def exec_argv(self, role: str, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside namespace ``role``."""
        return ["ip", "netns", "exec", self.ns(role), *argv]

    def _in(self, role: str, *argv: str, input_text: str | None = None) -> None:
        run(*self.exec_argv(role, argv), input_text=input_text)

    def _namespace(self, role: str) -> None:
        run("ip", "netns", "add", self.ns(role))
        self.namespaces.append(self.ns(role))
        self._in(role, "ip", "link", "set", "lo", "up")

    def namespace(self, role: str) -> None:
        """A new namespace ``role`` with its loopback up (deleted by ``close``)."""
        self._namespace(role)

    def link(self, a: str, a_addr: str, b: str, b_addr: str) -> tuple[str, str]:
        """A veth pair between namespaces ``a`` and ``b``; its (a, b) interface names."""
        return self._link(a, a_addr, b, b_addr)

    def run_in(self, role: str, *argv: str) -> None:
        self._in(role, *argv)

    def _link(self, a: str, a_addr: str, b: str, b_addr: str) -> tuple[str, str]:
        """A veth pair between namespaces ``a`` and ``b`` (addresses with their /prefix)."""
        a_if, b_if = f"{self.prefix}{a[:3]}{b[:3]}"[:15], f"{self.prefix}{b[:3]}{a[:3]}"[:15]
        run(
            "ip", "link", "add", a_if, "netns", self.ns(a),
            "type", "veth", "peer", "name", b_if, "netns", self.ns(b),
        )  # fmt: skip
        for role, name, address in ((a, a_if, a_addr), (b, b_if, b_addr)):
            self._in(role, "ip", "addr", "add", address, "dev", name)
            self._in(role, "ip", "link", "set", name, "up")
        return a_if, b_if

    def _nft(self, role: str, ruleset: str) -> None:
        self._in(role, "nft", "-f", "-", input_text=ruleset)

    def build(self) -> NetLab:
        for role in ("dc", "edge", "wan", "home", "hnat", "hlan", "blocked"):
            self._namespace(role)
        self._link("dc", f"{SERVER_PRIVATE}/24", "edge", "10.1.0.1/24")
        self._link("edge", "10.2.0.2/24", "wan", "10.2.0.1/24")
        self._link("home", "10.3.0.2/24", "wan", "10.3.0.1/24")
        self._link("hnat", "10.4.0.2/24", "wan", "10.4.0.1/24")
        self._link("hlan", "192.168.5.2/24", "hnat", "192.168.5.1/24")
        self._link("blocked", "10.6.0.2/24", "wan", "10.6.0.1/24")
        for role, gateway in (
            ("dc", "10.1.0.1"),
            ("edge", "10.2.0.1"),
            ("home", "10.3.0.1"),
            ("hnat", "10.4.0.1"),
            ("hlan", "192.168.5.1"),
            ("blocked", "10.6.0.1"),
        ):
            self._in(role, "ip", "route", "add", "default", "via", gateway)
        self._in("wan", "ip", "route", "add", f"{PUBLIC}/32", "via", "10.2.0.2")
        for router in ("edge", "wan", "hnat"):
            self._in(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self._nft(
            "edge",
            "table ip cloudnat {\n"
            " chain pre { type nat hook prerouting priority dstnat;"
            f" ip daddr {PUBLIC} dnat to {SERVER_PRIVATE}; }}\n"
            " chain post { type nat hook postrouting priority srcnat;"
            f" ip saddr {SERVER_PRIVATE} snat to {PUBLIC}; }}\n"
            "}\n",
        )
        wan_if = f"{self.prefix}hnawan"[:15]
        self._nft(
            "hnat",
            "table ip homenat {\n"
            f' chain post {{ type nat hook postrouting priority srcnat; oifname "{wan_if}"'
            " masquerade; }\n"
            " chain inbound { type filter hook forward priority filter;"
            f' iifname "{wan_if}" ct state new drop; }}\n'
            "}\n",
        )
        self._nft(
            "blocked",
            "table inet noudp {\n"
            ' chain out { type filter hook output priority filter; oifname != "lo"'
            " meta l4proto udp drop; }\n"
            "}\n",
        )
        return self

    def close(self) -> None:
        """Delete every namespace this lab made (processes inside must be stopped first)."""
        errors = []
        for name in reversed(self.namespaces):
            done = subprocess.run(
                ["ip", "netns", "del", name], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                errors.append(f"{name}: {done.stderr.strip()}")
        self.namespaces.clear()
        if errors:
            raise RuntimeError("could not remove namespaces: " + "; ".join(errors))
