"""The SIP edge: a supervised Kamailio that carries ``tcp``/``tls`` trunks (UDP to vestnik,
TCP/TLS to the carrier). docs/telephony.md, "TCP and TLS", says why and how."""

from vestnik.telephony.edge.plan import (
    EdgeHops,
    EdgeTrunk,
    config_via_edge,
    uses_edge,
)
from vestnik.telephony.edge.process import Edge, EdgeError

__all__ = ["Edge", "EdgeError", "EdgeHops", "EdgeTrunk", "config_via_edge", "uses_edge"]
