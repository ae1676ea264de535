"""The tests' SIPp peer survives losing its chosen port to another process before it binds."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.support.sipp as sipp_support
from tests.support.processes import LOOPBACK, free_port
from tests.support.sipp import SippUas


def test_a_port_taken_before_sipp_binds_it_is_chosen_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind((LOOPBACK, 0))
    port = int(taken.getsockname()[1])

    def ports() -> Iterator[int]:
        yield port  # what another process grabbed after free_port() saw it free
        while True:
            yield free_port()

    chosen = ports()
    monkeypatch.setattr(sipp_support, "free_port", lambda **_: next(chosen))
    try:
        sipp = SippUas.launch(sipp_support.TRUNK_SCENARIO, tmp_path, calls=None, timeout=None)
        try:
            assert sipp.port != port
            assert sipp.process is not None and sipp.process.alive()
        finally:
            sipp.stop()
    finally:
        taken.close()


def test_a_port_the_caller_chose_is_not_changed(tmp_path: Path) -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind((LOOPBACK, 0))
    port = int(taken.getsockname()[1])
    try:
        with pytest.raises(RuntimeError, match="exited with"):
            SippUas.launch(sipp_support.TRUNK_SCENARIO, tmp_path, port=port)
    finally:
        taken.close()
