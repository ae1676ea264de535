"""The generated Kamailio configuration: Kamailio itself accepts it (``kamailio -c``), and
it says what docs/telephony.md promises."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.processes import require_binary
from vestnik.config import TrunkConfig
from vestnik.telephony.edge.kamailio import EdgeListen, kamailio_cfg, tls_cfg
from vestnik.telephony.edge.plan import edge_trunks


def listen(tmp_path: Path) -> EdgeListen:
    cert = tmp_path / "cert.pem"
    cert.write_text("")
    return EdgeListen(30000, "127.0.0.1", "203.0.113.5", 30001, 30002, str(cert), str(cert))


def sample() -> list[TrunkConfig]:
    return [
        TrunkConfig(name="a", host="sip.carrier.example", transport="tls"),
        TrunkConfig(name="b", host="192.0.2.7", transport="tls", tls_verify=False,
                    tls_ca_file="/etc/carrier-ca.pem"),
        TrunkConfig(name="c", host="192.0.2.8", port=5070, transport="tcp",
                    from_domain="carrier.example"),
    ]  # fmt: skip


def test_routes_listeners_and_checks(tmp_path: Path) -> None:
    trunks = edge_trunks(sample(), [31001, 31002, 31003])
    text = kamailio_cfg(listen(tmp_path), trunks, tmp_path / "tls.cfg")
    for line in ("listen=udp:127.0.0.1:31001", "listen=udp:127.0.0.1:31003",
                 "listen=tls:127.0.0.1:30002 advertise 203.0.113.5:30002",
                 'if ($Rp == 31002) { route(TRUNK_2); }',
                 '$du = "sip:sip.carrier.example:5061;transport=tls";',
                 '$du = "sip:192.0.2.8:5070;transport=tcp";',
                 '$xavp(tls[0]=>server_name) = "sip.carrier.example";',
                 'if ($rd == "sip.carrier.example") { $rp = 5061; }'):  # fmt: skip
        assert line in text, line
    # Names checked for the verifying tls trunk only; c has a from_domain: R-URI untouched.
    assert text.count("does not name sip.carrier.example") == 2  # log line and 503 reason
    assert "does not name 192.0.2.7; cancelling" not in text
    assert 'if ($rd == "192.0.2.8")' not in text
    # REGISTER: the Contact names the edge's advertised listener of the trunk's transport, and
    # the 200 OK's contacts are turned back into vestnik's.
    assert text.count('"@203.0.113.5:30002;transport=tls;vx="') == 2  # trunks a and b
    assert text.count('"@203.0.113.5:30001;transport=tcp;vx="') == 1
    assert "subst('/@203.0.113.5:30002;transport=tls;vx=([^~;>]+)~([0-9]+)/@\\1:\\2/g');" in text
    profiles = tls_cfg(listen(tmp_path), trunks, client_cert=False)
    assert (
        "server_id = a\nserver_name = sip.carrier.example\nmethod = TLSv1.2+\n"
        "verify_certificate = yes\nrequire_certificate = yes\nca_path = /etc/ssl/certs" in profiles
    )
    assert (
        "server_id = b\nserver_name = 192.0.2.7\nmethod = TLSv1.2+\n"
        "verify_certificate = no" in profiles
    )


def test_kamailio_accepts_the_generated_configuration(tmp_path: Path) -> None:
    binary = require_binary("kamailio", "kamailio")
    trunks = edge_trunks(sample(), [31001, 31002, 31003])
    tls_path = tmp_path / "tls.cfg"
    tls_path.write_text(tls_cfg(listen(tmp_path), trunks, client_cert=False))
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(kamailio_cfg(listen(tmp_path), trunks, tls_path))
    done = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_values_that_would_break_the_configuration_are_refused(tmp_path: Path) -> None:
    trunks = edge_trunks([TrunkConfig(name='x"y', host="h", transport="tcp")], [31001])
    with pytest.raises(ValueError, match="unsafe character"):
        kamailio_cfg(listen(tmp_path), trunks, None)
