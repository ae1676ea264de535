"""The SIP edge against real peers: vestnik (SipTelephony over UDP) → the edge (Kamailio,
generated configuration) → a carrier Kamailio over TLS or TCP → a SIPp callee over UDP.

The CA and the carrier's certificates are made at test time (openssl); SIPp points its SDP
at a socket the test owns, so the DTMF and the audio are read there.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.certs import Issued, TestCa
from tests.support.processes import async_wait_until, require_binary
from tests.support.rtp_receiver import RtpReceiver
from tests.support.sipp import SippUas, requires_sipp
from tests.support.telephony import RecordingObserver, ready, tone
from tests.support.tls_carrier import TlsCarrier
from vestnik.calls import ContactKind, FinishReason
from vestnik.calls.ports import CallResult, DialSpec
from vestnik.config import Config, TrunkConfig
from vestnik.telephony.edge import Edge, EdgeError, config_via_edge
from vestnik.telephony.edge.process import options_ok
from vestnik.telephony.rtp import g711
from vestnik.telephony.rtp.packets import PT_PCMA
from vestnik.telephony.sip.adapter import SipTelephony

pytestmark = [requires_sipp, pytest.mark.sip]

CALLER = "74993720692"
CALLEE = "79161234567"


def dial(timeout: float = 8.0, dtmf: str = "") -> DialSpec:
    return DialSpec(1, CALLER, CALLEE, ContactKind.PHONE, timeout, dtmf)


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    require_binary("kamailio", "kamailio")
    return TestCa(tmp_path / "ca")


@pytest.fixture
async def receiver() -> AsyncIterator[RtpReceiver]:
    r = RtpReceiver()
    yield r
    r.close()


EdgeFactory = Callable[..., Any]


@pytest.fixture
async def through_edge(tmp_path: Path) -> AsyncIterator[EdgeFactory]:
    """``await through_edge(trunk)`` → (edge, telephony): the edge started for ``trunk`` and a
    SipTelephony that sends that trunk's calls to it."""
    started: list[tuple[Edge, SipTelephony]] = []

    async def make(trunk: TrunkConfig) -> tuple[Edge, SipTelephony]:
        config = Config()
        config.data_dir = str(tmp_path / "var")
        config.sip.bind_host = "127.0.0.1"
        config.sip.port = 0
        config.trunk = trunk
        config.rtp.port_min, config.rtp.port_max = 44000, 44998
        edge = Edge(config)
        await edge.start()
        telephony = SipTelephony(config_via_edge(config, edge.hops))
        try:
            await telephony.start()
        except BaseException:
            await edge.stop()
            raise
        started.append((edge, telephony))
        return edge, telephony

    yield make
    for edge, telephony in started:
        await telephony.stop()
        await edge.stop()


def carrier_cert(ca: TestCa) -> Issued:
    return ca.issue("carrier", dns=["carrier.test"], ips=["127.0.0.1"])


def answering_callee(tmp_path: Path, receiver: RtpReceiver) -> SippUas:
    media = {"media_ip": receiver.host, "media_port": receiver.port, "pt": PT_PCMA}
    return SippUas.launch(
        "uas_answer_set_media.xml", tmp_path / "sipp", variables={**media, "codec": "PCMA"}
    )


def tls_trunk(carrier: TlsCarrier, transport: str = "tls", **keys: Any) -> TrunkConfig:
    host, port = carrier.address(transport)
    return TrunkConfig(host=host, port=port, transport=transport, **keys)


async def place(telephony: SipTelephony, dtmf: str = "", seconds: float = 1.0) -> CallResult:
    handle = telephony.place_call(dial(dtmf=dtmf), ready(tone(seconds)), RecordingObserver())
    return await asyncio.wait_for(handle.result(), 30)


def assert_heard(receiver: RtpReceiver, seconds: float) -> None:
    receiver.wait_quiet(0.2, 3)
    heard = receiver.audio(PT_PCMA)
    expected = g711.alaw_decode(g711.alaw_encode(tone(seconds)))
    start = int(np.flatnonzero(np.abs(heard) > 1000)[0])
    assert np.array_equal(heard[start - 1 : start - 1 + len(expected)], expected)


async def test_call_over_tls_verified_against_the_trunk_ca(
    tmp_path: Path, ca: TestCa, receiver: RtpReceiver, through_edge: EdgeFactory
) -> None:
    callee = answering_callee(tmp_path, receiver)
    with TlsCarrier((callee.host, callee.port), carrier_cert(ca),
                    workdir=tmp_path / "carrier") as carrier:  # fmt: skip
        _, telephony = await through_edge(tls_trunk(carrier, tls_ca_file=str(ca.cert)))
        result = await place(telephony, dtmf="1#")
        assert await asyncio.to_thread(callee.wait, 15.0) == 0, callee.log()
        assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
        assert (result.sip_code, result.sip_reason) == (200, "OK")
        assert carrier.relayed("tls") == 1, carrier.log()
        assert callee.received("BYE") == 1
        assert [key for key, _, _ in receiver.key_presses(101)] == ["1", "#"]
        assert_heard(receiver, 1.0)


async def test_a_certificate_from_another_ca_refuses_the_call(
    tmp_path: Path, ca: TestCa, through_edge: EdgeFactory
) -> None:
    other = TestCa(tmp_path / "other", name="someone else's CA")
    callee = SippUas.launch("uas_ring.xml", tmp_path / "sipp", calls=None, timeout=None)
    with TlsCarrier((callee.host, callee.port), carrier_cert(ca),
                    workdir=tmp_path / "carrier") as carrier:  # fmt: skip
        edge, telephony = await through_edge(tls_trunk(carrier, tls_ca_file=str(other.cert)))
        result = await place(telephony)
        callee.stop()
        assert result.finish_reason == FinishReason.NO_SUCCESS_SUBSCRIBER_CALL, result
        assert result.sip_code == 503
        assert "no answer from trunk trunk over TLS" in (result.detail or ""), result
        assert "certificate" in (result.detail or "")
        assert carrier.relayed("tls") == 0
        assert any("certificate verify failed" in line for line in edge.recent)


async def test_a_certificate_for_another_name_refuses_the_call(
    tmp_path: Path, ca: TestCa, through_edge: EdgeFactory
) -> None:
    callee = SippUas.launch("uas_ring.xml", tmp_path / "sipp", calls=None, timeout=None)
    wrong = ca.issue("wrong", dns=["other.test"])
    with TlsCarrier((callee.host, callee.port), wrong, workdir=tmp_path / "carrier") as carrier:
        edge, telephony = await through_edge(tls_trunk(carrier, tls_ca_file=str(ca.cert)))
        result = await place(telephony)
        callee.stop()
        assert result.finish_reason == FinishReason.NO_SUCCESS_SUBSCRIBER_CALL, result
        assert result.sip_code == 503
        assert result.sip_reason == "TLS certificate of trunk trunk does not name 127.0.0.1"
        assert any("does not name 127.0.0.1" in line for line in edge.recent)


async def test_tls_verify_false_connects_to_any_certificate(
    tmp_path: Path, ca: TestCa, receiver: RtpReceiver, through_edge: EdgeFactory
) -> None:
    callee = answering_callee(tmp_path, receiver)
    wrong = ca.issue("wrong", dns=["other.test"])
    with TlsCarrier((callee.host, callee.port), wrong, workdir=tmp_path / "carrier") as carrier:
        _, telephony = await through_edge(tls_trunk(carrier, tls_verify=False))
        result = await place(telephony, seconds=0.5)
        assert await asyncio.to_thread(callee.wait, 15.0) == 0, callee.log()
        assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
        assert carrier.relayed("tls") == 1
        assert_heard(receiver, 0.5)


async def test_call_over_tcp(
    tmp_path: Path, ca: TestCa, receiver: RtpReceiver, through_edge: EdgeFactory
) -> None:
    callee = answering_callee(tmp_path, receiver)
    with TlsCarrier((callee.host, callee.port), carrier_cert(ca),
                    workdir=tmp_path / "carrier") as carrier:  # fmt: skip
        _, telephony = await through_edge(tls_trunk(carrier, transport="tcp"))
        result = await place(telephony, dtmf="5", seconds=0.5)
        assert await asyncio.to_thread(callee.wait, 15.0) == 0, callee.log()
        assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
        assert carrier.relayed("tcp") == 1, carrier.log()
        assert [key for key, _, _ in receiver.key_presses(101)] == ["5"]
        assert_heard(receiver, 0.5)


async def test_the_edge_is_restarted_when_it_dies_and_stopped_on_stop(
    tmp_path: Path, ca: TestCa, receiver: RtpReceiver, through_edge: EdgeFactory
) -> None:
    callee = answering_callee(tmp_path, receiver)
    with TlsCarrier((callee.host, callee.port), carrier_cert(ca),
                    workdir=tmp_path / "carrier") as carrier:  # fmt: skip
        edge, telephony = await through_edge(tls_trunk(carrier, tls_ca_file=str(ca.cert)))
        first = edge.pid
        assert first is not None
        os.killpg(first, signal.SIGKILL)
        await async_wait_until(lambda: edge.restarts == 1, 15, "the edge to restart")
        assert edge.pid != first
        result = await place(telephony, seconds=0.5)
        assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
        assert (edge.workdir / "edge.log").read_text().count("--- vestnik: starting") == 2
        second = edge.pid
        assert second is not None
        await edge.stop()
        with pytest.raises(ProcessLookupError):
            os.killpg(second, 0)


async def test_the_carrier_closing_its_tls_connection_does_not_break_the_next_call(
    tmp_path: Path, ca: TestCa, receiver: RtpReceiver, through_edge: EdgeFactory
) -> None:
    media = {"media_ip": receiver.host, "media_port": receiver.port, "pt": PT_PCMA}
    callee = SippUas.launch("uas_answer_set_media.xml", tmp_path / "sipp", calls=2,
                            variables={**media, "codec": "PCMA"})  # fmt: skip
    cert = carrier_cert(ca)
    carrier = TlsCarrier((callee.host, callee.port), cert, workdir=tmp_path / "carrier")
    with carrier:
        _, telephony = await through_edge(tls_trunk(carrier, tls_ca_file=str(ca.cert)))
        first = await place(telephony, seconds=0.3)
        assert first.finish_reason == FinishReason.SUCCESS_FINISH, first
        await async_wait_until(lambda: callee.received("BYE") == 1, 10, "the first BYE")
        # The carrier goes away (its TLS connections are closed) and comes back.
        carrier.stop()
        carrier.start()
        second = await place(telephony, seconds=0.3)
        assert second.finish_reason == FinishReason.SUCCESS_FINISH, second
        assert carrier.relayed("tls") == 1  # the new carrier process's log
        assert await asyncio.to_thread(callee.wait, 15.0) == 0, callee.log()


def test_a_missing_binary_names_the_debian_package(tmp_path: Path) -> None:
    config = Config()
    config.data_dir = str(tmp_path)
    config.trunk = TrunkConfig(host="127.0.0.1", transport="tls")
    config.edge.binary = "kamailio-not-installed"
    with pytest.raises(EdgeError, match="install the Debian package kamailio"):
        Edge(config).prepare()


async def test_a_dns_name_is_checked_against_the_certificate_names(
    tmp_path: Path, ca: TestCa, receiver: RtpReceiver, through_edge: EdgeFactory
) -> None:
    callee = answering_callee(tmp_path, receiver)
    named = ca.issue("named", dns=["LOCALHOST", "other.test"], cn="carrier")
    with TlsCarrier((callee.host, callee.port), named, workdir=tmp_path / "carrier") as carrier:
        _, port = carrier.address("tls")
        trunk = TrunkConfig(host="localhost", port=port, transport="tls", tls_ca_file=str(ca.cert))
        _, telephony = await through_edge(trunk)
        result = await place(telephony, seconds=0.3)
        assert await asyncio.to_thread(callee.wait, 15.0) == 0, callee.log()
        assert result.finish_reason == FinishReason.SUCCESS_FINISH, result


def test_a_missing_tls_module_names_the_debian_package(tmp_path: Path) -> None:
    """The real Kamailio, run with a module directory that lacks tls.so (as on a machine
    without kamailio-tls-modules)."""
    binary = require_binary("kamailio", "kamailio")
    modules = next(Path("/usr/lib").glob("*/kamailio/modules"))
    without_tls = tmp_path / "modules"
    without_tls.mkdir()
    for module in modules.glob("*.so"):
        if module.name != "tls.so":
            (without_tls / module.name).symlink_to(module)
    wrapper = tmp_path / "kamailio-without-tls"
    wrapper.write_text(f'#!/bin/sh\nexec {binary} -L {without_tls} "$@"\n')
    wrapper.chmod(0o755)
    config = Config()
    config.data_dir = str(tmp_path / "var")
    config.trunk = TrunkConfig(host="127.0.0.1", transport="tls")
    config.edge.binary = str(wrapper)
    with pytest.raises(EdgeError, match="install the Debian package kamailio-tls-modules"):
        Edge(config).prepare()


async def test_options_and_other_requests_of_a_tls_trunk_cross_the_edge(
    tmp_path: Path, ca: TestCa, through_edge: EdgeFactory
) -> None:
    """What the health probes and the registration agent send to the trunk's next hop goes
    over TLS to the carrier too (the carrier answers OPTIONS itself)."""
    callee = SippUas.launch("uas_ring.xml", tmp_path / "sipp", calls=None, timeout=None)
    with TlsCarrier((callee.host, callee.port), carrier_cert(ca),
                    workdir=tmp_path / "carrier") as carrier:  # fmt: skip
        trunk = tls_trunk(carrier, tls_ca_file=str(ca.cert))
        edge, _ = await through_edge(trunk)
        assert await asyncio.to_thread(options_ok, edge.hops.next_hop(trunk), 3.0)
        assert carrier.received_over("tls", "OPTIONS") == 1, carrier.log()
    callee.stop()


async def test_the_carrier_restarting_during_a_call_does_not_lose_its_bye(
    tmp_path: Path, ca: TestCa, receiver: RtpReceiver, through_edge: EdgeFactory
) -> None:
    """The TLS connection the call was set up on goes away mid-call; vestnik's BYE still
    reaches the callee (the edge opens a new connection, verified with the trunk's profile)."""
    callee = answering_callee(tmp_path, receiver)
    with TlsCarrier((callee.host, callee.port), carrier_cert(ca),
                    workdir=tmp_path / "carrier") as carrier:  # fmt: skip
        _, telephony = await through_edge(tls_trunk(carrier, tls_ca_file=str(ca.cert)))
        observer = RecordingObserver()
        handle = telephony.place_call(dial(), ready(tone(3.0)), observer)
        await async_wait_until(lambda: "answered" in observer.names, 10, "the answer")
        carrier.stop()
        carrier.start()
        result = await asyncio.wait_for(handle.result(), 30)
        assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
        assert await asyncio.to_thread(callee.wait, 15.0) == 0, callee.log()
        assert callee.received("BYE") == 1
