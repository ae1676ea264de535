"""Run SIPp as a callee (UAS) for a test: free port, scenario from tests/sipp, bounded time."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"
SIPP = shutil.which("sipp")

requires_sipp = pytest.mark.skipif(
    SIPP is None, reason="sipp (Debian package sip-tester) is not installed"
)


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
        return False


class SippUas:
    """``sipp -sf <scenario>`` listening on 127.0.0.1:<free port> for ``calls`` calls."""

    def __init__(
        self,
        scenario: str,
        workdir: Path,
        calls: int = 1,
        variables: dict[str, str | int] | None = None,
        extra: list[str] | None = None,
        timeout: float = 30.0,
        template: dict[str, str | int] | None = None,
    ) -> None:
        """``variables`` go to ``-set``; ``template`` replaces ``@NAME@`` text in a copy of the
        scenario (for what SIPp checks at load time, such as response codes)."""
        assert SIPP is not None
        self.host = "127.0.0.1"
        self.port = free_udp_port(self.host)
        self.workdir = workdir
        scenario_path = SCENARIOS / scenario
        if template:
            text = scenario_path.read_text()
            for name, value in template.items():
                text = text.replace(f"@{name}@", str(value))
            scenario_path = workdir / f"{self.port}-{scenario}"
            scenario_path.write_text(text)
        self.messages = workdir / f"sipp-{self.port}-messages.log"
        self.errors = workdir / f"sipp-{self.port}-errors.log"
        args = [
            SIPP, "-sf", str(scenario_path), "-i", self.host, "-p", str(self.port),
            "-m", str(calls), "-nostdin", "-timeout", f"{int(timeout)}s",
            "-trace_msg", "-message_file", str(self.messages),
            "-trace_err", "-error_file", str(self.errors),
        ]  # fmt: skip
        for name, value in (variables or {}).items():
            args += ["-set", name, str(value)]
        args += extra or []
        self.process = subprocess.Popen(
            args,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 5
        while not _port_taken(self.host, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sipp did not start: {self.stderr()}")
            time.sleep(0.02)

    def stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read().decode(errors="replace")

    def wait(self, timeout: float = 15.0) -> int:
        """SIPp's exit code: 0 when every call followed the scenario."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        text = self.messages.read_text(errors="replace") if self.messages.exists() else ""
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
