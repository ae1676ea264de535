"""The service with a tls trunk: ``serve`` starts the SIP edge, a call goes through it to a
TLS carrier (Kamailio) and a SIPp callee, and stopping the service stops the edge."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.support.certs import TestCa
from tests.support.processes import async_wait_until, require_binary
from tests.support.rtp_receiver import RtpReceiver
from tests.support.sessions import informer_call, provision, session
from tests.support.sipp import SippUas, requires_sipp
from tests.support.tls_carrier import TlsCarrier
from vestnik.config import Config, TrunkConfig
from vestnik.service import Service, ServiceError
from vestnik.store import create_db_engine

pytestmark = [requires_sipp, pytest.mark.sip]


def _config(tmp_path: Path, url: str, trunk: TrunkConfig) -> Config:
    config = Config(data_dir=str(tmp_path / "data"))
    config.database.url = url
    config.server.port = 0
    config.log.level = "warning"
    config.dialer.poll_interval_seconds = 0.02
    config.dialer.shutdown_grace = 1.0
    config.sip.port = 0
    config.rtp.port_min, config.rtp.port_max = 45000, 45998
    config.trunk = trunk
    return config


async def test_a_call_over_a_tls_trunk_goes_through_the_edge(
    tmp_path: Path, sqlite_url: str
) -> None:
    require_binary("kamailio", "kamailio")
    ca = TestCa(tmp_path / "ca")
    receiver = RtpReceiver()
    media = {"media_ip": receiver.host, "media_port": receiver.port, "pt": 8, "codec": "PCMA"}
    callee = SippUas.launch("uas_answer_set_media.xml", tmp_path / "sipp", variables=media)
    server = ca.issue("carrier", ips=["127.0.0.1"])
    with TlsCarrier((callee.host, callee.port), server, workdir=tmp_path / "carrier") as carrier:
        host, port = carrier.address("tls")
        trunk = TrunkConfig(host=host, port=port, transport="tls", tls_ca_file=str(ca.cert))
        engine = create_db_engine(sqlite_url)
        token = provision(engine)
        service = Service(_config(tmp_path, sqlite_url, trunk))
        await service.start()
        try:
            assert service.edge is not None and service.edge.pid is not None
            pid = service.edge.pid
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}") as h:
                reply = (await h.post("/v4.0", json=informer_call(token, "79260000001"))).json()
            sid = reply["result"]["data"]["call_session_id"]
            await async_wait_until(lambda: session(engine, sid)["state"] == "finished", 30)
            assert session(engine, sid)["finish_reason"] == "success_finish", session(engine, sid)
            assert carrier.relayed("tls") == 1
        finally:
            await service.stop()
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
        engine.dispose()
    receiver.close()
    callee.stop()


async def test_a_missing_kamailio_is_a_clear_error(tmp_path: Path, sqlite_url: str) -> None:
    trunk = TrunkConfig(host="127.0.0.1", transport="tcp")
    config = _config(tmp_path, sqlite_url, trunk)
    config.edge.binary = "no-such-kamailio"
    with pytest.raises(ServiceError, match="install the Debian package kamailio"):
        await Service(config).start()
