"""REGISTER through the SIP edge: vestnik (SipTelephony over UDP) → the edge (Kamailio,
generated configuration) → a Kamailio registrar over TLS or TCP that takes INVITEs only from a
registered binding, relaying them to a SIPp callee over UDP.

The binding must name the edge's carrier-facing side (not vestnik's private UDP address), and
the INVITE must reach the registrar from the connection that binding was made over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.support.certs import TestCa
from tests.support.processes import async_wait_until, require_binary
from tests.support.registrar import KamailioRegistrar, RegisterSeen
from tests.support.sipp import SippUas, requires_sipp
from tests.support.telephony import RecordingObserver, ready, tone
from vestnik.calls import ContactKind, FinishReason
from vestnik.calls.ports import CallResult, DialSpec
from vestnik.config import Config, TrunkConfig
from vestnik.telephony.edge import Edge, config_via_edge
from vestnik.telephony.sip.adapter import SipTelephony
from vestnik.telephony.sip.registration import RegisterTiming

pytestmark = [requires_sipp, pytest.mark.sip]

USER = "vestnik"
PASSWORD = "s3cret"
DOMAIN = "vestnik.test"
CALLER = "74993720692"
CALLEE = "79161234567"

Started = tuple[Edge, SipTelephony]
Factory = Callable[[TrunkConfig], Awaitable[Started]]


async def call(telephony: SipTelephony) -> CallResult:
    dial = DialSpec(1, CALLER, CALLEE, ContactKind.PHONE, 8.0, "")
    handle = telephony.place_call(dial, ready(tone(0.2, level=0)), RecordingObserver())
    return await asyncio.wait_for(handle.result(), 30)


@pytest.fixture
async def through_edge(tmp_path: Path) -> AsyncIterator[Factory]:
    """``await through_edge(trunk)`` → (edge, telephony): the edge started for ``trunk`` and a
    registering SipTelephony that sends that trunk's requests to it."""
    started: list[Started] = []

    async def make(trunk: TrunkConfig) -> Started:
        config = Config()
        config.data_dir = str(tmp_path / "var")
        config.rtp.pacer_process = False
        config.sip.bind_host = "127.0.0.1"
        config.sip.port = 0
        config.trunk = trunk
        config.rtp.port_min, config.rtp.port_max = 44100, 44198
        edge = Edge(config)
        await edge.start()
        telephony = SipTelephony(config_via_edge(config, edge.hops))
        telephony.register_timing = RegisterTiming(first_retry=0.5, max_retry=8.0)
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


def accepted(registrar: KamailioRegistrar) -> list[RegisterSeen]:
    """The REGISTERs that carried credentials (each exchange's second)."""
    return [r for r in registrar.registers() if r.auth_user == USER and r.expires != "0"]


def registered(telephony: SipTelephony) -> bool | None:
    return telephony.trunks.by_name["trunk"].registered


@pytest.mark.parametrize("transport", ["tls", "tcp"])
async def test_registers_through_the_edge_then_calls_then_unregisters(
    tmp_path: Path, through_edge: Factory, transport: str
) -> None:
    require_binary("kamailio", "kamailio")
    ca = TestCa(tmp_path / "ca")
    with (
        SippUas.trunk(tmp_path / "sipp") as callee,
        KamailioRegistrar((callee.host, callee.port), USER, PASSWORD, domain=DOMAIN,
                          max_expires=4, tls=ca.issue("registrar", ips=["127.0.0.1"]),
                          workdir=tmp_path / "kam") as registrar,
    ):  # fmt: skip
        host, port = registrar.stream_address(transport)
        trunk = TrunkConfig(
            host=host, port=port, transport=transport, tls_ca_file=str(ca.cert),
            from_domain=DOMAIN, username=USER, password=PASSWORD, register=True,
            register_expires=300,
        )  # fmt: skip
        edge, telephony = await through_edge(trunk)
        await async_wait_until(lambda: registered(telephony) is True, 15, "registered")

        # The binding names the edge's carrier-facing listener, not vestnik's UDP socket.
        assert edge.listen is not None
        edge_port = edge.listen.tls_port if transport == "tls" else edge.listen.tcp_port
        binding = (
            f"sip:{USER}@127.0.0.1:{edge_port};transport={transport}"
            f";vx=127.0.0.1~{telephony.sip_port}"
        )
        assert registrar.contacts() == [binding], registrar.log()
        seen = registrar.registers()
        assert {r.source for r in seen} != {f"127.0.0.1:{telephony.sip_port}"}
        assert all(binding in r.contact for r in seen), seen
        # The granted time (4 s, not the 300 asked for) is read from our contact in the 200 OK,
        # which the edge turns back into vestnik's own: refreshes every 2 s keep the binding.
        await async_wait_until(lambda: len(accepted(registrar)) >= 3, 10, "two refreshes")
        assert registrar.contacts() == [binding]
        assert registered(telephony) is True

        result = await call(telephony)
        assert result.finish_reason == FinishReason.SUCCESS_FINISH, (result, registrar.log())
        assert callee.calls_by_contact()[CALLEE] == 1
        assert "REFUSED INVITE" not in registrar.log()

        await telephony.stop()
        assert registrar.contacts() == []
        assert registrar.registers()[-1].expires == "0"
        assert registered(telephony) is False
