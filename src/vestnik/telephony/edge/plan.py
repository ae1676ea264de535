"""What the SIP edge must do, decided from the configuration: which trunks go through it,
where each one's vestnik-facing UDP listener is, and where the edge sends their requests.

The edge (a Kamailio, docs/telephony.md "TCP and TLS") speaks UDP to vestnik and TCP or TLS
to the carrier. Every ``tcp``/``tls`` trunk gets a UDP listener of its own on loopback; vestnik
sends that trunk's requests (INVITE, REGISTER, OPTIONS) there, and the edge relays them to the
trunk (or its outbound proxy) over the trunk's transport. The routing code asks
:meth:`EdgeHops.next_hop` (or uses :meth:`EdgeHops.via_edge`) instead of the trunk's address.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vestnik.config import Config, TrunkConfig
from vestnik.telephony.sip.addressing import next_hop as direct_next_hop

STREAM_TRANSPORTS = ("tcp", "tls")
EDGE_LOCAL_HOST = "127.0.0.1"


def uses_edge(trunk: TrunkConfig) -> bool:
    """Does this trunk's traffic go through the edge (TCP or TLS towards the carrier)?"""
    return trunk.transport.lower() in STREAM_TRANSPORTS


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class EdgeTrunk:
    """One trunk as the edge sees it."""

    name: str
    transport: str  # tcp | tls
    destination: tuple[str, int]  # the carrier, or its outbound proxy
    local_port: int  # the vestnik-facing UDP listener on EDGE_LOCAL_HOST
    verify: bool  # tls: verify the carrier's certificate (chain and name)
    ca_file: str  # tls: CA bundle; empty: the system store
    host: str  # the trunk's host (the Request-URI host when there is no from_domain)
    ruri_port: int | None  # the Request-URI port to restore (no from_domain), else None

    @property
    def expected_name(self) -> str:
        """The name the carrier's certificate must carry: the host we connect to."""
        return self.destination[0].strip("[]")


def edge_trunk(trunk: TrunkConfig, local_port: int) -> EdgeTrunk:
    return EdgeTrunk(
        name=trunk.name,
        transport=trunk.transport.lower(),
        destination=direct_next_hop(trunk),
        local_port=local_port,
        verify=trunk.tls_verify,
        ca_file=trunk.tls_ca_file,
        host=trunk.host,
        ruri_port=None if trunk.from_domain else trunk.sip_port,
    )


@dataclass(frozen=True)
class EdgeHops:
    """Where vestnik sends each edge trunk's requests: trunk name → the edge's UDP listener."""

    hops: Mapping[str, tuple[str, int]]

    def next_hop(self, trunk: TrunkConfig) -> tuple[str, int]:
        """The address the UDP datagrams of ``trunk`` go to: the edge's listener for a
        ``tcp``/``tls`` trunk, else the trunk itself (or its outbound proxy)."""
        if not uses_edge(trunk):
            return direct_next_hop(trunk)
        try:
            return self.hops[trunk.name]
        except KeyError:
            raise LookupError(
                f"trunk {trunk.name!r} uses {trunk.transport} but the SIP edge has no listener "
                "for it (is the edge running?)"
            ) from None

    def via_edge(self, trunk: TrunkConfig) -> TrunkConfig:
        """The trunk as today's UDP SIP code must use it: sent over UDP to the edge's
        listener (``host``/``port``), with the carrier's domain kept in the URIs
        (``from_domain``; the edge puts the carrier's port back in the Request-URI when the
        trunk had no ``from_domain``). Not an outbound proxy: sippy's outbound-proxy mode
        rewrites in-dialog Request-URIs, and the edge record-routes. A UDP trunk is returned
        unchanged."""
        if not uses_edge(trunk):
            return trunk
        host, port = self.next_hop(trunk)
        return dataclasses.replace(
            trunk, transport="udp", host=host, port=port, outbound_proxy="",
            from_domain=trunk.domain,
        )  # fmt: skip


def edge_trunks(trunks: Sequence[TrunkConfig], ports: Sequence[int]) -> list[EdgeTrunk]:
    """The ``tcp``/``tls`` trunks among ``trunks``, each with the next port of ``ports``."""
    chosen = [t for t in trunks if uses_edge(t)]
    if len(ports) < len(chosen):
        raise ValueError(f"{len(chosen)} edge trunks need as many ports, got {len(ports)}")
    return [edge_trunk(t, port) for t, port in zip(chosen, ports, strict=False)]


def hops_for(trunks: Sequence[EdgeTrunk]) -> EdgeHops:
    return EdgeHops({t.name: (EDGE_LOCAL_HOST, t.local_port) for t in trunks})


def config_via_edge(config: Config, hops: EdgeHops) -> Config:
    """``config`` with every ``tcp``/``tls`` trunk replaced by its UDP view through the edge
    (:meth:`EdgeHops.via_edge`): what the UDP SIP code is given."""
    trunk = hops.via_edge(config.trunk) if config.trunk.host else config.trunk
    return dataclasses.replace(
        config, trunk=trunk, trunks=[hops.via_edge(t) for t in config.trunks]
    )
