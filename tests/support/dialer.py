"""Dialer test support: configs (a SIPp trunk's too), waiting, and the two named fault injectors.

``NeverDialTelephony`` fails the test if the dialer tries to place a call (for paths that
must end before an INVITE). ``ExplodingTelephony`` raises from ``place_call``: a fault a real
SIP stack does not produce on demand, used to prove the session still ends final.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path

from tests.support.processes import free_port_range
from tests.support.sipp import SippUas
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import CallHandle, CallObserver, DialSpec, MessageSpec, RenderError
from vestnik.config import Config

SHORT = "Проверка."  # about a second of speech (0.55 s espeak-ng, 0.88 s festival)
# About 3.3 s spoken by espeak-ng, 4.9 s by festival (the default Russian engine).
MEDIUM = "Проверка связи. Это тестовое сообщение сервиса Вестник."


def trunk_config(tmp_path: Path, url: str, sipp: SippUas) -> Config:
    config = Config(data_dir=str(tmp_path / "data"))
    config.log.level = "warning"
    config.database.url = url
    config.server.port = 0
    config.sip.port = 0
    config.rtp.port_min, config.rtp.port_max = free_port_range(40)
    config.trunk.host, config.trunk.port = "127.0.0.1", sipp.port
    config.trunk.calls_per_second = 0
    config.trunk.options_interval = 0  # SIPp trunk scenarios answer calls, not OPTIONS
    config.dialer.poll_interval_seconds = 0.02
    config.dialer.lease_seconds = 5.0
    config.dialer.slot_wait_seconds = 10.0
    config.dialer.shutdown_grace = 10.0
    return config


def dialer_config(tmp_path: Path, url: str, **dialer: object) -> Config:
    config = Config(data_dir=str(tmp_path / "data"))
    config.database.url = url
    config.dialer.poll_interval_seconds = 0.02
    config.dialer.lease_seconds = 3.0
    config.dialer.slot_wait_seconds = 0.5
    config.dialer.shutdown_grace = 2.0
    config.trunk.calls_per_second = 0
    for key, value in dialer.items():
        setattr(config.dialer, key, value)
    return config


class NeverDialTelephony:
    """Fault detector: any ``place_call`` is a test failure (recorded, then raised)."""

    max_calls: int | None = None

    def __init__(self) -> None:
        self.dialled: list[int] = []

    def place_call(
        self, dial: DialSpec, audio: Awaitable[Pcm], observer: CallObserver
    ) -> CallHandle:
        self.dialled.append(dial.session_id)
        raise AssertionError(f"session {dial.session_id} must not be dialled")

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class ExplodingTelephony(NeverDialTelephony):
    """Fault injector: ``place_call`` raises as a broken adapter would."""

    def place_call(
        self, dial: DialSpec, audio: Awaitable[Pcm], observer: CallObserver
    ) -> CallHandle:
        self.dialled.append(dial.session_id)
        raise RuntimeError("injected telephony failure")


class LateFailingRenderer:
    """Fault injector: the render fails after ``delay`` seconds, i.e. after the answer.

    Real renders fail fast (missing file, engine error); this one lets us prove that a call
    that is already up is hung up and finished ``internal_error`` when its audio never comes.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def render(self, message: MessageSpec) -> Pcm:
        await asyncio.sleep(self.delay)
        raise RenderError(f"injected render failure for {message.type} message")
