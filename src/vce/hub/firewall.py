"""The sandbox network and the host firewall that confines it.

A container on a Docker ``--internal`` network has no route out, but it still reaches every
port the *host* listens on at the bridge's address or on 0.0.0.0. So, besides creating the
network internal and without inter-container traffic, we install iptables rules in our own
chains:

* ``INPUT`` from the sandbox bridge: only replies and new TCP connections to the hub API and
  the airlock on the gateway address; everything else is rejected.
* ``FORWARD`` from the sandbox bridge: nothing (no egress, no other sandbox, no other network).

``python -m vce.hub.firewall install|remove|show`` is what ``make run`` / ``make stop`` call;
installing is idempotent (our chains are flushed and refilled).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass

from vce.hub.config import Settings, load_settings

IN_CHAIN_PREFIX = "VCE-IN-"
FWD_CHAIN_PREFIX = "VCE-FWD-"


@dataclass(frozen=True)
class SandboxNetwork:
    """Everything the rules depend on."""

    name: str
    subnet: str
    gateway: str
    allowed_ports: tuple[int, ...]

    @property
    def bridge(self) -> str:
        """Linux interface name of the network's bridge (at most 15 characters)."""
        return self.name[:15]

    @property
    def in_chain(self) -> str:
        """Our INPUT sub-chain (iptables chain names are limited to 28 characters)."""
        return (IN_CHAIN_PREFIX + self.name)[:28]

    @property
    def fwd_chain(self) -> str:
        """Our FORWARD sub-chain."""
        return (FWD_CHAIN_PREFIX + self.name)[:28]

    @classmethod
    def from_settings(cls, s: Settings) -> SandboxNetwork:
        """Describe the network ``make run`` uses: hub API and airlock ports allowed."""
        return cls(
            name=s["network"]["name"],
            subnet=s["network"]["subnet"],
            gateway=s.gateway,
            allowed_ports=(s["hub"]["hub_port"], s["airlock"]["port"]),
        )


def chain_rules(net: SandboxNetwork) -> dict[str, list[list[str]]]:
    """Return the contents of our two chains, as iptables argument lists.

    >>> n = SandboxNetwork("vce-sandbox", "10.9.0.0/24", "10.9.0.1", (8081, 8090))
    >>> [" ".join(r) for r in chain_rules(n)["VCE-IN-vce-sandbox"]][1]
    '-p tcp -d 10.9.0.1 --dport 8081 -m conntrack --ctstate NEW -j ACCEPT'
    """
    inbound = [["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]]
    for port in net.allowed_ports:
        match = ["-p", "tcp", "-d", net.gateway, "--dport", str(port)]
        inbound.append([*match, "-m", "conntrack", "--ctstate", "NEW", "-j", "ACCEPT"])
    inbound.append(["-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"])
    inbound.append(["-j", "REJECT", "--reject-with", "icmp-port-unreachable"])
    forward = [["-j", "DROP"]]
    return {net.in_chain: inbound, net.fwd_chain: forward}


def jump_rules(net: SandboxNetwork) -> list[tuple[str, list[str]]]:
    """(built-in chain, rule) pairs that send the bridge's traffic into our chains."""
    return [
        ("INPUT", ["-i", net.bridge, "-j", net.in_chain]),
        ("FORWARD", ["-i", net.bridge, "-j", net.fwd_chain]),
    ]


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("iptables")
    if exe is None:
        raise RuntimeError("iptables is missing: apt-get install iptables (needs root)")
    return subprocess.run([exe, "-w", *args], capture_output=True, text=True, check=check)


def install(net: SandboxNetwork) -> None:
    """Create or refill our chains and make sure the jumps sit at the top (idempotent)."""
    for chain, rules in chain_rules(net).items():
        if _iptables("-n", "-L", chain, check=False).returncode != 0:
            _iptables("-N", chain)
        _iptables("-F", chain)
        for rule in rules:
            _iptables("-A", chain, *rule)
    for builtin, rule in jump_rules(net):
        while _iptables("-C", builtin, *rule, check=False).returncode == 0:
            _iptables("-D", builtin, *rule)
        _iptables("-I", builtin, "1", *rule)


def remove(net: SandboxNetwork) -> None:
    """Remove the jumps and our chains (no error when they are already gone)."""
    for builtin, rule in jump_rules(net):
        while _iptables("-C", builtin, *rule, check=False).returncode == 0:
            _iptables("-D", builtin, *rule)
    for chain in chain_rules(net):
        if _iptables("-n", "-L", chain, check=False).returncode == 0:
            _iptables("-F", chain)
            _iptables("-X", chain)


def installed(net: SandboxNetwork) -> bool:
    """Whether the INPUT jump is in place."""
    builtin, rule = jump_rules(net)[0]
    return _iptables("-C", builtin, *rule, check=False).returncode == 0


def ensure_network(net: SandboxNetwork) -> None:
    """Create the internal, no-inter-container-traffic Docker network if it is missing."""
    import docker

    client = docker.from_env()
    try:
        found = client.networks.list(names=[net.name])
        if any(n.name == net.name for n in found):
            return
        ipam = docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet=net.subnet, gateway=net.gateway)]
        )
        client.networks.create(
            net.name,
            driver="bridge",
            internal=True,
            ipam=ipam,
            options={
                "com.docker.network.bridge.name": net.bridge,
                "com.docker.network.bridge.enable_icc": "false",
                "com.docker.network.bridge.enable_ip_masquerade": "false",
            },
            labels={"vce.network": "sandbox"},
        )
    finally:
        client.close()


def remove_network(net: SandboxNetwork) -> None:
    """Remove the network (after its containers are gone)."""
    import docker

    client = docker.from_env()
    try:
        for n in client.networks.list(names=[net.name]):
            if n.name == net.name:
                n.remove()
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m vce.hub.firewall install|remove|show [--network]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["install", "remove", "show"])
    parser.add_argument(
        "--network", action="store_true", help="also create (install) or remove the network"
    )
    args = parser.parse_args(argv)
    net = SandboxNetwork.from_settings(load_settings())
    if args.action == "show":
        for chain, rules in chain_rules(net).items():
            for rule in rules:
                print("iptables -A", chain, " ".join(rule))
        for builtin, rule in jump_rules(net):
            print("iptables -I", builtin, "1", " ".join(rule))
        return 0
    if args.action == "install":
        if args.network:
            ensure_network(net)
        install(net)
        ports = ",".join(map(str, net.allowed_ports))
        print(f"firewall: sandbox network {net.name} may reach only {net.gateway} ports {ports}")
    else:
        remove(net)
        if args.network:
            remove_network(net)
        print(f"firewall: rules for {net.name} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
