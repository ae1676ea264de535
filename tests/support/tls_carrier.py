"""A carrier that speaks SIP over TLS and TCP: Kamailio 5.6 with the tls module (Debian
``kamailio-tls-modules``), relaying every call it receives to a callee over UDP with
Record-Route. The edge tests and the TLS benchmark connect vestnik's edge to it.

    ca = TestCa(tmp_path / "ca")
    with TlsCarrier(target=callee.address, server=ca.issue("c", ips=["127.0.0.1"])) as carrier:
        ...  # a tls trunk at carrier.address("tls"), a tcp trunk at carrier.address("tcp")
"""

from __future__ import annotations

from pathlib import Path

from tests.support.certs import Issued
from tests.support.peers import sip_options_ok
from tests.support.processes import (
    LOOPBACK,
    Peer,
    PeerProcess,
    free_port,
    require_binary,
    wait_until,
)

READY_TIMEOUT = 10.0
MODULE_DIR_GLOB = "/usr/lib/*/kamailio/modules/tls.so"

# The carrier side of docs/telephony.md's "TCP and TLS" guide, as tested.
CARRIER_CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children={children}
tcp_children={children}
auto_aliases=no
enable_tls=yes
tcp_connection_lifetime=3605
listen=udp:{host}:{udp_port}
listen=tcp:{host}:{tcp_port}
listen=tls:{host}:{tls_port}

loadmodule "tls.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
modparam("tls", "config", "{tls_cfg}")
modparam("rr", "enable_full_lr", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("OPTIONS")) {{
        xlog("L_INFO", "carrier: $rm over $proto from $si:$sp\n");
        sl_send_reply("200", "OK");
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (!is_method("INVITE")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    xlog("L_INFO", "carrier: $rm $ru over $proto from $si:$sp\\n");
    record_route();
    $du = "sip:{target_host}:{target_port}";
    if (!t_relay()) {{ sl_reply_error(); }}
    exit;
}}
"""

CARRIER_TLS = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = {cert}
private_key = {key}

[client:default]
verify_certificate = no
require_certificate = no
"""


class TlsCarrier(Peer):
    """Kamailio listening on UDP, TCP and TLS (``server`` is its certificate), relaying
    INVITEs to ``target`` over UDP."""

    name = "kamailio-tls"

    def __init__(
        self,
        target: tuple[str, int],
        server: Issued,
        *,
        workdir: Path | None = None,
        children: int = 2,
    ) -> None:
        super().__init__(workdir)
        self.target = target
        self.server = server
        self.children = children
        self.ports = {"udp": free_port(), "tcp": free_port(), "tls": free_port()}

    def address(self, transport: str = "tls") -> tuple[str, int]:
        return LOOPBACK, self.ports[transport]

    def write_config(self) -> Path:
        tls_cfg = self.workdir / "tls.cfg"
        tls_cfg.write_text(CARRIER_TLS.format(cert=self.server.cert, key=self.server.key))
        config = CARRIER_CONFIG.format(
            host=LOOPBACK, children=self.children, udp_port=self.ports["udp"],
            tcp_port=self.ports["tcp"], tls_port=self.ports["tls"], tls_cfg=tls_cfg,
            target_host=self.target[0], target_port=self.target[1],
        )  # fmt: skip
        path = self.workdir / "kamailio.cfg"
        path.write_text(config)
        return path

    def start(self) -> None:
        binary = require_binary("kamailio", "kamailio")
        if not list(Path("/").glob(MODULE_DIR_GLOB.lstrip("/"))):
            require_binary("kamailio-tls-module-missing", "kamailio-tls-modules")
        path = self.write_config()
        argv = [
            binary, "-DD", "-E", "-f", str(path), "-m", "64", "-M", "8",
            "-P", str(self.workdir / "kamailio.pid"), "-Y", str(self.workdir),
        ]  # fmt: skip
        self.process = PeerProcess(self.name, argv, self.workdir)
        wait_until(self._ready, READY_TIMEOUT, "the TLS carrier Kamailio to answer", 0.1)

    def _ready(self) -> bool:
        assert self.process is not None
        self.process.check_alive()
        return sip_options_ok(self.address("udp"))

    def relayed(self, transport: str) -> int:
        """INVITEs the carrier received over ``transport`` (from its log)."""
        return self.received_over(transport, "INVITE")

    def received_over(self, transport: str, method: str) -> int:
        """``method`` requests (INVITE, OPTIONS) received over ``transport`` (from its log)."""
        return sum(
            1
            for line in self.log().splitlines()
            if f"carrier: {method} " in line and f" over {transport} from " in line
        )
