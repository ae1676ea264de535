"""``vestnik serve`` as a child process (its own process group) for crash and scale tests."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.support.processes import free_port_range, wait_until
from tests.support.sipp import SippUas


def serve_env(
    tmp_path: Path, url: str, sipp: SippUas, http_port: int, sip_port: int, **extra: str
) -> dict[str, str]:
    """Environment for one service process: its own HTTP, SIP and RTP ports, SIPp as trunk."""
    rtp_min, rtp_max = free_port_range(40)
    env = dict(
        os.environ,
        VESTNIK_DATABASE_URL=url,
        VESTNIK_DATA_DIR=str(tmp_path / "data"),
        VESTNIK_LOG_LEVEL="info",
        VESTNIK_SERVER_PORT=str(http_port),
        VESTNIK_SIP_PORT=str(sip_port),
        VESTNIK_RTP_PORT_MIN=str(rtp_min),
        VESTNIK_RTP_PORT_MAX=str(rtp_max),
        VESTNIK_TRUNK_HOST="127.0.0.1",
        VESTNIK_TRUNK_PORT=str(sipp.port),
        VESTNIK_TRUNK_CALLS_PER_SECOND="0",
        VESTNIK_TRUNK_OPTIONS_INTERVAL="0",  # SIPp trunk scenarios answer calls, not OPTIONS
        VESTNIK_DIALER_SHUTDOWN_GRACE="10",
    )
    env.update(extra)
    return env


class ServeProcess:
    def __init__(self, env: dict[str, str], log: Path, port: int, args: Sequence[str] = ()) -> None:
        vestnik = shutil.which("vestnik", path=str(Path(sys.executable).parent))
        argv = (
            [vestnik, "serve"] if vestnik else [sys.executable, "-m", "vestnik.cli.main", "serve"]
        ) + list(args)
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vestnik serve exited: {self.log.read_text()[-3000:]}")
            try:
                return httpx.get(self.url + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 30, "vestnik serve to answer /health", interval=0.1)

    def worker_pids(self) -> dict[int, int]:
        """``serve --workers``: worker index → pid of its latest start, from the log."""
        found = re.findall(r"worker (\d+) \(pid (\d+)\) serving", self.log.read_text())
        return {int(index): int(pid) for index, pid in found}

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
