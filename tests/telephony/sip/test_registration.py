"""REGISTER against Kamailio as a registrar that takes calls only from registered contacts.

Real SIP on loopback: Kamailio challenges every REGISTER (digest, qop=auth), keeps the bindings
in memory and relays an INVITE to a SIPp callee only when it comes from one of them; the test
reads what Kamailio received from its log and what it holds with ``kamcmd ul.dump``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.support.processes import async_wait_until
from tests.support.registrar import KamailioRegistrar, RegisterSeen
from tests.support.sipp import SippUas, requires_sipp
from tests.support.telephony import RecordingObserver, ready, tone
from vestnik.calls import ContactKind, FinishReason
from vestnik.calls.ports import CallResult, DialSpec
from vestnik.config import Config
from vestnik.telephony.sip.adapter import SipTelephony
from vestnik.telephony.sip.registration import RegisterTiming, refresh_delay

pytestmark = [requires_sipp, pytest.mark.sip]

USER = "vestnik"
PASSWORD = "s3cret"
DOMAIN = "vestnik.test"
CALLER = "74993720692"
CALLEE = "79161234567"

Factory = Callable[..., Awaitable[SipTelephony]]


async def call(telephony: SipTelephony) -> CallResult:
    dial = DialSpec(1, CALLER, CALLEE, ContactKind.PHONE, 5.0, "")
    handle = telephony.place_call(dial, ready(tone(0.2, level=0)), RecordingObserver())
    return await asyncio.wait_for(handle.result(), 15)


@pytest.fixture
async def telephony_for() -> AsyncIterator[Factory]:
    """``await telephony_for((host, port), **trunk)`` -> a started SipTelephony registering
    there (back-off shortened to 0.5 s, doubling)."""
    started: list[SipTelephony] = []

    async def make(
        trunk: tuple[str, int], rtp_base: int = 43000, advertised: str = "", **keys: object
    ) -> SipTelephony:
        config = Config()
        config.rtp.pacer_process = False
        config.sip.bind_host = "127.0.0.1"
        config.sip.port = 0
        config.sip.advertised_host = advertised
        config.rtp.port_min, config.rtp.port_max = rtp_base, rtp_base + 98
        config.trunk.host, config.trunk.port = trunk
        config.trunk.from_domain = DOMAIN
        config.trunk.username = USER
        config.trunk.password = PASSWORD
        config.trunk.register = True
        for key, value in keys.items():
            setattr(config.trunk, key, value)
        telephony = SipTelephony(config)
        telephony.register_timing = RegisterTiming(first_retry=0.5, max_retry=8.0)
        await telephony.start()
        started.append(telephony)
        return telephony

    yield make
    for telephony in started:
        await telephony.stop()


def registered(telephony: SipTelephony) -> bool | None:
    return telephony.trunks.by_name["trunk"].registered


def exchanges(seen: list[RegisterSeen]) -> list[RegisterSeen]:
    """The REGISTERs that start an exchange (the first, without credentials)."""
    return [r for r in seen if r.auth_user in ("", "<null>")]


def contact_of(telephony: SipTelephony) -> str:
    return f"sip:{USER}@127.0.0.1:{telephony.sip_port}"


async def test_registers_then_calls_then_unregisters_on_stop(
    tmp_path: Path, telephony_for: Factory
) -> None:
    with (
        SippUas.trunk(tmp_path / "sipp") as callee,
        KamailioRegistrar((callee.host, callee.port), USER, PASSWORD, domain=DOMAIN,
                          workdir=tmp_path / "kam") as registrar,
    ):  # fmt: skip
        telephony = await telephony_for(registrar.address, register_expires=300)
        await async_wait_until(lambda: registered(telephony) is True, 10, "registered")
        assert registrar.contacts() == [contact_of(telephony)]

        first, answered = registrar.registers()[:2]
        assert first.auth_user == "<null>" and answered.auth_user == USER  # 401, then digest
        for seen in (first, answered):
            assert seen.to_uri == seen.from_uri == f"sip:{USER}@{DOMAIN}"
            assert seen.ruri == f"sip:{DOMAIN}"
            assert seen.expires == "300"
            assert contact_of(telephony) in seen.contact
            assert seen.source == f"127.0.0.1:{telephony.sip_port}"
        assert answered.call_id == first.call_id and answered.cseq > first.cseq

        result = await call(telephony)
        assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
        assert callee.calls_by_contact()[CALLEE] == 1

        await telephony.stop()
        assert registrar.contacts() == []
        last = registrar.registers()[-1]
        assert last.expires == "0" and last.call_id == first.call_id
        assert registered(telephony) is False


async def test_a_process_that_did_not_register_is_refused(
    tmp_path: Path, telephony_for: Factory
) -> None:
    """The registrar's check is real: the same call without a registration gets 403."""
    with (
        SippUas.trunk(tmp_path / "sipp") as callee,
        KamailioRegistrar((callee.host, callee.port), USER, PASSWORD, domain=DOMAIN,
                          workdir=tmp_path / "kam") as registrar,
    ):  # fmt: skip
        telephony = await telephony_for(registrar.address, register=False)
        result = await call(telephony)
        assert (result.sip_code, result.sip_reason) == (403, "Not registered"), result
        assert registrar.registers() == []
        assert registered(telephony) is None
        assert callee.calls_by_contact()[CALLEE] == 0


async def test_407_challenge_is_answered_with_proxy_authorization(
    tmp_path: Path, telephony_for: Factory
) -> None:
    with (
        SippUas.trunk(tmp_path / "sipp") as callee,
        KamailioRegistrar((callee.host, callee.port), USER, PASSWORD, domain=DOMAIN,
                          challenge="proxy", workdir=tmp_path / "kam") as registrar,
    ):  # fmt: skip
        telephony = await telephony_for(registrar.address)
        await async_wait_until(lambda: registered(telephony) is True, 10, "registered")
        assert registrar.contacts() == [contact_of(telephony)]
        await telephony.stop()
        assert registrar.contacts() == []


async def test_registers_through_the_outbound_proxy(tmp_path: Path, telephony_for: Factory) -> None:
    """The trunk's own address is unroutable (TEST-NET-1): everything goes to the proxy."""
    with (
        SippUas.trunk(tmp_path / "sipp") as callee,
        KamailioRegistrar((callee.host, callee.port), USER, PASSWORD, domain=DOMAIN,
                          workdir=tmp_path / "kam") as registrar,
    ):  # fmt: skip
        proxy = "{}:{}".format(*registrar.address)
        telephony = await telephony_for(("192.0.2.1", 5060), outbound_proxy=proxy)
        await async_wait_until(lambda: registered(telephony) is True, 10, "registered")
        assert registrar.registers()[0].ruri == f"sip:{DOMAIN}"
        assert (await call(telephony)).finish_reason == FinishReason.SUCCESS_FINISH
        await telephony.stop()
        assert registrar.contacts() == []


async def test_the_contact_is_the_advertised_address(
    tmp_path: Path, telephony_for: Factory
) -> None:
    """``sip.advertised_host`` (NAT): the Contact carries it, and Kamailio binds it (it answers
    to where the datagram came from, Via ``received``)."""
    with (
        SippUas.trunk(tmp_path / "sipp") as callee,
        KamailioRegistrar((callee.host, callee.port), USER, PASSWORD, domain=DOMAIN,
                          workdir=tmp_path / "kam") as registrar,
    ):  # fmt: skip
        telephony = await telephony_for(registrar.address, advertised="127.0.0.2")
        await async_wait_until(lambda: registered(telephony) is True, 10, "registered")
        advertised = f"sip:{USER}@127.0.0.2:{telephony.sip_port}"
        assert registrar.contacts() == [advertised]
        assert registrar.registers()[0].source == f"127.0.0.1:{telephony.sip_port}"
        await telephony.stop()
        assert registrar.contacts() == []


async def test_wrong_password_is_not_registered_and_retries_back_off(
    tmp_path: Path, telephony_for: Factory
) -> None:
    with (
        SippUas.trunk(tmp_path / "sipp") as callee,
        KamailioRegistrar((callee.host, callee.port), USER, PASSWORD, domain=DOMAIN,
                          workdir=tmp_path / "kam") as registrar,
    ):  # fmt: skip
        telephony = await telephony_for(registrar.address, password="wrong")
        await async_wait_until(
            lambda: len(exchanges(registrar.registers())) >= 4, 10, "four REGISTER attempts"
        )
        status = telephony.trunks.by_name["trunk"]
        assert status.registered is False
        assert not telephony.trunks.usable("trunk")
        assert status.last_error is not None
        assert "authentication failed" in status.last_error
        assert "401 Unauthorized" in status.last_error
        assert registrar.contacts() == []

        starts = [r.at for r in exchanges(registrar.registers())]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        # 0.5 s, 1 s, 2 s: each wait doubles (loopback round trips add a few ms).
        assert 0.4 < gaps[0] < 1.0, gaps
        for shorter, longer in itertools.pairwise(gaps):
            assert 1.5 < longer / shorter < 2.6, gaps


async def test_refreshes_before_the_granted_time_runs_out(
    tmp_path: Path, telephony_for: Factory
) -> None:
    """Kamailio grants 4 s of the 60 asked for: vestnik refreshes every 2 s (halfway), and
    the binding never lapses."""
    with (
        SippUas.trunk(tmp_path / "sipp") as callee,
        KamailioRegistrar((callee.host, callee.port), USER, PASSWORD, domain=DOMAIN,
                          max_expires=4, workdir=tmp_path / "kam") as registrar,
    ):  # fmt: skip
        telephony = await telephony_for(registrar.address, register_expires=60)
        await async_wait_until(lambda: registered(telephony) is True, 10, "registered")
        for _ in range(6):  # 6 s: longer than the 4 s granted
            await asyncio.sleep(1.0)
            assert registered(telephony) is True
            assert registrar.contacts() == [contact_of(telephony)]
        starts = exchanges(registrar.registers())
        assert len(starts) >= 3, starts
        assert all(r.expires == "60" for r in starts)
        assert len({r.call_id for r in starts}) == 1
        assert [r.cseq for r in starts] == sorted({r.cseq for r in starts})
        gaps = [b.at - a.at for a, b in itertools.pairwise(starts)]
        assert all(1.8 < gap < 3.0 for gap in gaps), gaps
        result = await call(telephony)
        assert result.finish_reason == FinishReason.SUCCESS_FINISH, result
        await telephony.stop()


async def test_each_process_registers_its_own_contact(
    tmp_path: Path, telephony_for: Factory
) -> None:
    """Two dialers on one account: two bindings, both can call, stopping one removes only
    its own."""
    with (
        SippUas.trunk(tmp_path / "sipp") as callee,
        KamailioRegistrar((callee.host, callee.port), USER, PASSWORD, domain=DOMAIN,
                          workdir=tmp_path / "kam") as registrar,
    ):  # fmt: skip
        one = await telephony_for(registrar.address)
        two = await telephony_for(registrar.address, rtp_base=43200)
        await async_wait_until(
            lambda: registered(one) is True and registered(two) is True, 10, "both registered"
        )
        assert sorted(registrar.contacts()) == sorted([contact_of(one), contact_of(two)])
        for telephony in (one, two):
            result = await call(telephony)
            assert result.finish_reason == FinishReason.SUCCESS_FINISH, result

        await one.stop()
        assert registrar.contacts() == [contact_of(two)]
        assert (await call(two)).finish_reason == FinishReason.SUCCESS_FINISH
        await two.stop()
        assert registrar.contacts() == []


def test_refresh_and_back_off_timings() -> None:
    assert refresh_delay(300) == 260  # 40 s before it ends
    assert refresh_delay(3600) == 3560
    assert refresh_delay(60) == 30  # short ones: halfway
    assert refresh_delay(4) == 2
    timing = RegisterTiming()
    assert [timing.retry_delay(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]


async def test_an_unanswered_register_is_retried(telephony_for: Factory) -> None:
    """A registrar that never answers: after sippy's 32 s the trunk says so, and a new REGISTER
    (a new transaction: another branch) follows after the back-off."""
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", 0))
    hole.setblocking(False)
    branches: list[tuple[float, str]] = []

    def drain() -> bool:
        with contextlib.suppress(BlockingIOError):
            while True:
                data = hole.recv(65536).decode(errors="replace")
                found = re.search(r"branch=([^;\s]+)", data)
                if data.startswith("REGISTER ") and found:
                    branches.append((time.monotonic(), found.group(1)))
        return False

    try:
        telephony = await telephony_for(hole.getsockname())
        status = telephony.trunks.by_name["trunk"]
        await async_wait_until(lambda: drain() or status.last_error is not None, 40, "timer F")
        failed_at = time.monotonic()
        assert status.registered is False
        assert status.last_error == (
            f"no response from the registrar 127.0.0.1:{hole.getsockname()[1]} within 32 s"
        )
        await async_wait_until(
            lambda: drain() or len({b for _, b in branches}) >= 2, 3, "a second REGISTER"
        )
        first = [t for t, b in branches if b == branches[0][1]]
        assert len(first) >= 5  # sippy retransmitted the first one (timer E)
        retry_at = next(t for t, b in branches if b != branches[0][1])
        assert 0.3 < retry_at - failed_at < 1.5
    finally:
        hole.close()
