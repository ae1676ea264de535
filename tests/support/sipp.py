"""The one SIPp launcher of the tests and of ``bench/`` (Debian package ``sip-tester``).

``SippUas`` runs a callee scenario in the background on a free loopback port: the trunk the
service tests dial (``SippUas.trunk``), or a UAS that checks what vestnik's SIP stack sends
(``SippUas.launch``). ``run_sipp`` runs a caller (UAC) to completion. Every scenario lives in
``tests/support/scenarios/``; ``sipp_scenario`` fills the ``@NAME@`` placeholders of a copy
(SIPp 3.6 expands no ``-key`` value inside ``play_pcap_audio`` and similar actions, and checks
response codes when it loads the scenario). A missing ``sipp`` skips the test with the package
to install.

    with SippUas.trunk(tmp_path / "sipp") as sipp:
        ...  # dial 127.0.0.1:<sipp.port>; sipp.calls_by_contact() counts what arrived
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import pytest

from tests.support.processes import (
    LOOPBACK,
    Peer,
    PeerProcess,
    free_port,
    require_binary,
    udp_port_owned_by,
    wait_until,
)

SCENARIOS = Path(__file__).parent / "scenarios"
# The trunk of the service tests: 180, a 300 ms ring, 200 with PCMA and telephone-event on
# SIPp's own media port, then it waits for the caller's BYE.
TRUNK_SCENARIO = "uas_ring_then_answer.xml"
READY_TIMEOUT = 10.0
BIND_TRIES = 4

requires_sipp = pytest.mark.skipif(
    shutil.which("sipp") is None, reason="sipp (Debian package sip-tester) is not installed"
)

_BLOCK = re.compile(r"^-{20,}.*$", re.MULTILINE)
_STAMP = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d)[ \t](\d\d:\d\d:\d\d\.\d+)", re.MULTILINE)
_CALL_ID = re.compile(r"^(?:Call-ID|i)\s*:\s*(\S+)", re.MULTILINE | re.IGNORECASE)
_RURI_USER = re.compile(r"^INVITE sip:([^@;>\s]+)@")


def sipp_scenario(name: str, workdir: Path, *, prefix: str = "", **values: object) -> Path:
    """A copy of ``scenarios/<name>`` (as ``workdir/<prefix><name>``) with ``@KEY@``
    placeholders filled from ``values`` (keys are upper-cased); a placeholder left unfilled is
    an error."""
    text = (SCENARIOS / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key.upper()}@", str(value))
    leftover = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if leftover:
        raise ValueError(f"unfilled placeholders in {name}: {leftover}")
    path = workdir / f"{prefix}{name}"
    path.write_text(text)
    return path


def run_sipp(
    args: Sequence[str], *, timeout: float = 30.0, workdir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``sipp`` to completion (bounded); ``-bg`` is not used, the caller gets the exit code.

    SIPp exits 0 when every call succeeded, 1 when at least one failed.
    """
    binary = require_binary("sipp", "sip-tester")
    return subprocess.run(
        [binary, *args],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class SippUas(Peer):
    """``sipp -sf <scenario>`` listening on 127.0.0.1:<free port>, in its own process group.

    ``calls`` (``-m``) and ``timeout`` (``-timeout``) bound the run (``None``: until stopped);
    ``variables`` go to ``-set``; ``template`` fills ``@NAME@`` text in a copy of the scenario
    (for what SIPp checks at load time, such as response codes); ``extra`` are more arguments;
    ``port`` is the SIP port (default: a free one; a peer restarted on its old port is back at
    the same address).
    The errors go to ``errors``, and with ``trace`` (off for load runs) the messages to
    ``trace``: ``log()`` reads both.
    """

    name = "sipp"

    def __init__(
        self,
        scenario: str,
        workdir: Path,
        *,
        calls: int | None = 1,
        timeout: float | None = 30.0,
        variables: Mapping[str, object] | None = None,
        template: Mapping[str, object] | None = None,
        extra: Sequence[str] = (),
        trace: bool = True,
        port: int | None = None,
    ) -> None:
        super().__init__(workdir)
        self.binary = require_binary("sipp", "sip-tester")
        self.host = LOOPBACK
        self.returncode: int | None = None
        self._chosen_port = port
        self._options: dict[str, Any] = {
            "scenario": scenario, "calls": calls, "timeout": timeout, "variables": variables,
            "template": template, "extra": extra, "trace": trace,
        }  # fmt: skip
        self._prepare(port or free_port())

    def _prepare(self, port: int) -> None:
        """The ports, file names and command line for one start on ``port``."""
        o = self._options
        self.port = port
        self.media_port = free_port(tcp_too=False)
        while self.media_port == self.port:
            self.media_port = free_port(tcp_too=False)
        self.scenario = (
            sipp_scenario(o["scenario"], self.workdir, prefix=f"{port}-", **o["template"])
            if o["template"]
            else SCENARIOS / o["scenario"]
        )
        self.trace = self.workdir / f"sipp-{port}-messages.log"
        self.errors = self.workdir / f"sipp-{port}-errors.log"
        self.argv = [
            self.binary, "-sf", str(self.scenario), "-i", LOOPBACK, "-p", str(port),
            "-mi", LOOPBACK, "-mp", str(self.media_port), "-nostdin", "-max_socket", "2000",
        ]  # fmt: skip
        if o["calls"] is not None:
            self.argv += ["-m", str(o["calls"])]
        if o["timeout"] is not None:
            self.argv += ["-timeout", f"{int(o['timeout'])}s"]
        if o["trace"]:
            self.argv += ["-trace_msg", "-message_file", str(self.trace)]
        self.argv += ["-trace_err", "-error_file", str(self.errors)]
        for name, value in (o["variables"] or {}).items():
            self.argv += ["-set", name, str(value)]
        self.argv += list(o["extra"])

    @classmethod
    def trunk(cls, workdir: Path) -> Self:
        """The trunk the service tests dial: answers every call, runs until stopped."""
        return cls(TRUNK_SCENARIO, workdir, calls=None, timeout=None)

    @classmethod
    def launch(cls, scenario: str, workdir: Path, **options: Any) -> Self:
        """A started ``SippUas(scenario, workdir, **options)`` (``wait()`` or ``stop()`` it)."""
        sipp = cls(scenario, workdir, **options)
        try:
            sipp.start()
        except BaseException:
            sipp.stop()
            raise
        return sipp

    def start(self) -> None:
        # A port free a moment ago can be taken by another process before SIPp binds it (CI
        # saw errno 98 once in ~1,900 tests): a port we chose is chosen again, a few times.
        for tries_left in reversed(range(BIND_TRIES)):
            self.process = PeerProcess(f"sipp-{self.port}", self.argv, self.workdir)
            process = self.process

            def listening(process: PeerProcess = process) -> bool:
                process.check_alive()
                return udp_port_owned_by(process.pid, self.port)

            try:
                wait_until(listening, READY_TIMEOUT, "SIPp to listen")
                return
            except RuntimeError:
                taken = "errno = 98" in process.log()
                if not taken or tries_left == 0 or self._chosen_port is not None:
                    raise
                process.stop()
                self._prepare(free_port())

    def wait(self, timeout: float = 15.0) -> int:
        """SIPp's exit code (0 when every call followed the scenario); stops it on timeout."""
        if self.process is not None:
            try:
                self.returncode = self.process.proc.wait(timeout)
            finally:
                self.stop()
        assert self.returncode is not None, "SIPp was not started"
        return self.returncode

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.returncode = self.process.proc.returncode
            self.process = None

    def output(self) -> str:
        """What SIPp printed (its screen and its complaints)."""
        path = self.workdir / f"sipp-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log(self) -> str:
        """The message trace, then the error log."""
        text = self.trace.read_text(errors="replace") if self.trace.exists() else ""
        if self.errors.exists():
            text += "\n--- errors ---\n" + self.errors.read_text(errors="replace")
        return text

    def received(self, method: str) -> int:
        """How many ``method`` requests SIPp received (from its message trace)."""
        lines = self.log().splitlines()
        return sum(
            1
            for i, line in enumerate(lines)
            if line.startswith(f"{method} ") and i > 0 and "received" in lines[i - 2]
        )

    def invites(self) -> Counter[tuple[str, str]]:
        """(Request-URI user, Call-ID) → how many INVITEs SIPp received (retransmits count)."""
        if not self.trace.exists():
            return Counter()
        seen: Counter[tuple[str, str]] = Counter()
        for block in _BLOCK.split(self.trace.read_text(errors="replace")):
            if "message received" not in block:
                continue
            message = block.split("bytes :", 1)[-1].lstrip()
            user = _RURI_USER.match(message)
            call_id = _CALL_ID.search(message)
            if user and call_id:
                seen[(user.group(1), call_id.group(1))] += 1
        return seen

    def calls_by_contact(self) -> Counter[str]:
        """Request-URI user → distinct calls (Call-IDs) SIPp was offered."""
        return Counter(user for user, _ in self.invites())

    def invite_times(self) -> dict[str, list[float]]:
        """Request-URI user → when each distinct call's first INVITE arrived, in order (UNIX
        seconds, from the message trace's local time stamps)."""
        text = self.trace.read_text(errors="replace") if self.trace.exists() else ""
        marks = list(_STAMP.finditer(text))
        first: dict[tuple[str, str], float] = {}
        for i, mark in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            block = text[mark.end() : end]
            if "message received" not in block:
                continue
            message = block.split("bytes :", 1)[-1].lstrip()
            user, call_id = _RURI_USER.match(message), _CALL_ID.search(message)
            if user and call_id:
                at = datetime.fromisoformat(f"{mark.group(1)}T{mark.group(2)}").timestamp()
                first.setdefault((user.group(1), call_id.group(1)), at)
        times: dict[str, list[float]] = {}
        for (user, _), at in sorted(first.items(), key=lambda item: item[1]):
            times.setdefault(user, []).append(at)
        return times
