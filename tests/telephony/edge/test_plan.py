"""Which trunks go through the edge, and where their UDP goes."""

from __future__ import annotations

import pytest

from vestnik.calls import ContactKind
from vestnik.config import Config, TrunkConfig
from vestnik.telephony.edge.plan import (
    EDGE_LOCAL_HOST,
    config_via_edge,
    edge_trunks,
    hops_for,
    uses_edge,
)
from vestnik.telephony.sip.addressing import next_hop, target_for


def trunks() -> list[TrunkConfig]:
    return [
        TrunkConfig(name="plain", host="198.51.100.1"),
        TrunkConfig(name="secure", host="sip.carrier.example", transport="tls"),
        TrunkConfig(name="stream", host="198.51.100.2", port=5080, transport="tcp",
                    outbound_proxy="198.51.100.3:5090"),
    ]  # fmt: skip


def test_only_tcp_and_tls_trunks_use_the_edge() -> None:
    assert [uses_edge(t) for t in trunks()] == [False, True, True]
    chosen = edge_trunks(trunks(), [40001, 40002])
    assert [(t.name, t.transport, t.local_port) for t in chosen] == [
        ("secure", "tls", 40001),
        ("stream", "tcp", 40002),
    ]
    # tls: 5061 by default; an outbound proxy is where the edge connects.
    assert chosen[0].destination == ("sip.carrier.example", 5061)
    assert chosen[1].destination == ("198.51.100.3", 5090)
    assert chosen[0].ruri_port == 5061 and chosen[0].expected_name == "sip.carrier.example"


def test_next_hop_is_the_edge_listener_for_stream_trunks_only() -> None:
    plain, secure, stream = trunks()
    hops = hops_for(edge_trunks(trunks(), [40001, 40002]))
    assert hops.next_hop(plain) == next_hop(plain) == ("198.51.100.1", 5060)
    assert hops.next_hop(secure) == (EDGE_LOCAL_HOST, 40001)
    assert hops.next_hop(stream) == (EDGE_LOCAL_HOST, 40002)
    with pytest.raises(LookupError, match="has no listener"):
        hops_for([]).next_hop(secure)


def test_the_udp_view_keeps_the_carrier_in_the_uris() -> None:
    _, secure, _ = trunks()
    hops = hops_for(edge_trunks(trunks(), [40001, 40002]))
    view = hops.via_edge(secure)
    assert (view.transport, view.outbound_proxy) == ("udp", "")
    assert next_hop(view) == (EDGE_LOCAL_HOST, 40001)
    target = target_for(view, "79161234567", ContactKind.PHONE)
    # The edge puts the carrier's port back (trunk without from_domain).
    assert (target.host, target.to_host, target.next_hop) == (
        "sip.carrier.example", "sip.carrier.example", (EDGE_LOCAL_HOST, 40001),
    )  # fmt: skip
    assert view.domain == "sip.carrier.example"


def test_config_via_edge_replaces_only_stream_trunks() -> None:
    config = Config()
    config.trunks = trunks()
    hops = hops_for(edge_trunks(trunks(), [40001, 40002]))
    viewed = config_via_edge(config, hops)
    assert [t.transport for t in viewed.trunks] == ["udp", "udp", "udp"]
    assert viewed.trunks[0] == config.trunks[0]
    assert [t.transport for t in config.trunks] == ["udp", "tls", "tcp"]  # unchanged
