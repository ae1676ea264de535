"""Separate machines simulated with network namespaces (``ip netns``), for the cluster tests.

``SimulatedNetwork`` makes one namespace per machine, each with a veth to a bridge that lives
in a namespace of its own, and one veth from the test's (root) namespace to that bridge so the
test reaches every machine by its address. Everything is named ``vx<pid>…`` and lives in
``10.211.<n>.0/24`` (a /24 no route of this host uses): a crashed run's leftovers are found by
that prefix and removed when their pid is gone (``remove_leftovers``). On the machines run
``PrivatePostgres`` (a throw-away PostgreSQL cluster of Debian's binaries, as user
``postgres``, trust auth for the subnet), ``NetnsSippUas`` (the SIPp trunk) and ``NodeProcess``
(``vestnik serve``), each in its own process group. Needs root and iproute2.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import LOOPBACK, PeerProcess, require_binary, wait_until
from tests.support.serve import ServeProcess
from tests.support.sipp import TRUNK_SCENARIO, SippUas

PREFIX = "vx"
SUBNET = "10.211"
_OWNED = re.compile(rf"^{PREFIX}(\d+)(?:-|h$)")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def in_namespace(namespace: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside ``namespace`` (``ip netns exec`` execs it: same pid, same env)."""
    return ["ip", "netns", "exec", namespace, *argv]


def require_netns() -> None:
    """Skip (a failure in CI) unless this process may create network namespaces."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns); run the cluster test as root")
    require_binary("ip", "iproute2")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_processes(namespace: str) -> None:
    pids = _ip("netns", "pids", namespace, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _ip("netns", "pids", namespace, check=False).stdout.split():
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)


def remove_leftovers() -> list[str]:
    """Remove namespaces, host veths and PostgreSQL dirs of earlier runs whose pid is gone."""
    removed = []
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        owner = _OWNED.match(name)
        if owner and not _pid_alive(int(owner.group(1))):
            _kill_namespace_processes(name)
            _ip("netns", "del", name, check=False)
            removed.append(name)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        owner = _OWNED.match(name)
        if owner and not _pid_alive(int(owner.group(1))):
            _ip("link", "del", name, check=False)
            removed.append(name)
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{PREFIX}*-pg-*")):
        owner = re.match(rf"{PREFIX}(\d+)-pg-", os.path.basename(path))
        if owner and not _pid_alive(int(owner.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _free_subnet() -> str:
    """A ``10.211.<n>`` /24 that no address or route of this host mentions yet."""
    used = _ip("addr", check=False).stdout + _ip("route", check=False).stdout
    start = os.getpid() % 250
    for step in range(250):
        prefix = f"{SUBNET}.{(start + step) % 250 + 1}"
        if f"{prefix}." not in used and f"{SUBNET}.0.0/16" not in used:
            return prefix
    raise RuntimeError(f"no free /24 in {SUBNET}.0.0/16")


@dataclass(frozen=True)
class Machine:
    """One simulated machine: its namespace and its address on the shared bridge."""

    name: str
    namespace: str
    address: str

    def argv(self, argv: Sequence[str]) -> list[str]:
        return in_namespace(self.namespace, argv)

    def listening(self, proto: str, port: int) -> bool:
        """Whether a socket of ``proto`` (``udp``/``tcp``) listens on ``port`` here."""
        flag = "-Hlun" if proto == "udp" else "-Hltn"
        result = subprocess.run(
            self.argv(["ss", flag, f"sport = :{port}"]),
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        return bool(result.stdout.strip())


class SimulatedNetwork:
    """A bridge in a namespace of its own, machines on it, and the test host's veth to it.

    Machine ``i`` (from 2) gets ``10.211.<n>.<i>``; the test host has ``.1``. ``close()``
    kills every process left in the machines, then deletes the namespaces and the host veth.
    """

    def __init__(self) -> None:
        self.tag = f"{PREFIX}{os.getpid()}"
        self.bridge_ns = f"{self.tag}-br"
        self.host_link = f"{self.tag}h"
        self.machines: dict[str, Machine] = {}
        self.prefix = ""
        self.host_address = ""

    def open(self) -> None:
        remove_leftovers()
        self.prefix = _free_subnet()
        self.host_address = f"{self.prefix}.1"
        try:
            _ip("netns", "add", self.bridge_ns)
        except RuntimeError as exc:
            pytest.skip(f"cannot create a network namespace here: {exc}")
        _ip("-n", self.bridge_ns, "link", "set", "lo", "up")
        _ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.bridge_ns, "link", "set", "br0", "up")
        _ip("link", "add", "name", self.host_link, "type", "veth",
            "peer", "name", "port-host", "netns", self.bridge_ns)  # fmt: skip
        _ip("-n", self.bridge_ns, "link", "set", "dev", "port-host", "master", "br0", "up")
        _ip("addr", "add", f"{self.host_address}/24", "dev", self.host_link)
        _ip("link", "set", self.host_link, "up")

    def add(self, name: str) -> Machine:
        """A new machine ``name`` (≤ 10 characters: it names the bridge port) on the bridge."""
        machine = Machine(name, f"{self.tag}-{name}", f"{self.prefix}.{len(self.machines) + 2}")
        _ip("netns", "add", machine.namespace)
        self.machines[name] = machine
        ns = machine.namespace
        _ip("-n", ns, "link", "set", "lo", "up")
        port = f"port-{name}"
        _ip("-n", self.bridge_ns, "link", "add", "name", port, "type", "veth",
            "peer", "name", "eth0", "netns", ns)  # fmt: skip
        _ip("-n", self.bridge_ns, "link", "set", "dev", port, "master", "br0", "up")
        _ip("-n", ns, "addr", "add", f"{machine.address}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        return machine

    def close(self) -> None:
        for machine in self.machines.values():
            _kill_namespace_processes(machine.namespace)
            _ip("netns", "del", machine.namespace, check=False)
        _ip("link", "del", self.host_link, check=False)
        _kill_namespace_processes(self.bridge_ns)
        _ip("netns", "del", self.bridge_ns, check=False)

    def leftovers(self) -> list[str]:
        """Names of this run still present (empty after ``close``)."""
        names = [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line]
        links = _ip("-o", "link", "show").stdout
        found = [n for n in names if n.startswith(f"{self.tag}-")]
        return found + ([self.host_link] if f" {self.host_link}@" in links else [])


def _stop_group(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """``sig`` to the child's process group, then SIGKILL if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on ``machine``: initdb in a temp dir, run as ``postgres``.

    Debian's newest ``/usr/lib/postgresql/*/bin``; listens on the machine's address only,
    trust auth for the simulated subnet; the machine's main PostgreSQL is not touched.
    """

    PORT = 5432

    def __init__(self, machine: Machine, subnet: str, tag: str) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        if not bins:
            pytest.skip("PostgreSQL server binaries are missing (Debian package postgresql)")
        self.bin = Path(bins[-1])
        self.machine = machine
        self.subnet = subnet
        self.datadir = Path(tempfile.mkdtemp(prefix=f"{tag}-pg-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"postgresql+psycopg://postgres@{machine.address}:{self.PORT}/postgres"

    def start(self) -> None:
        shutil.chown(self.datadir, "postgres", "postgres")
        data = self.datadir / "data"
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / "initdb"), "-D", str(data),
             "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"],
            capture_output=True, check=True, timeout=120,
        )  # fmt: skip
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {self.subnet}.0/24 trust\n")
        argv = [
            "runuser", "-u", "postgres", "--", str(self.bin / "postgres"), "-D", str(data),
            "-p", str(self.PORT), "-k", str(self.datadir),
            "-c", f"listen_addresses={self.machine.address}", "-c", "max_connections=200",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "shared_buffers=32MB",
        ]  # fmt: skip
        with open(self.datadir / "postgres.log", "ab") as log:
            self.proc = subprocess.Popen(
                self.machine.argv(argv), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        wait_until(self._ready, 30, "the private PostgreSQL to accept connections", 0.1)

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"postgres exited: {self.log()[-3000:]}")
        ready = subprocess.run(
            [str(self.bin / "pg_isready"), "-q", "-h", self.machine.address, "-p", str(self.PORT)],
            timeout=10, check=False,
        )  # fmt: skip
        return ready.returncode == 0

    def log(self) -> str:
        path = self.datadir / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc, signal.SIGINT, 10)  # SIGINT: PostgreSQL's fast shutdown
            self.proc = None
        shutil.rmtree(self.datadir, ignore_errors=True)


class NetnsSippUas(SippUas):
    """The SIPp trunk (``SippUas.trunk``) on ``machine``'s address, inside its namespace."""

    def __init__(self, machine: Machine, workdir: Path, port: int = 5060) -> None:
        super().__init__(TRUNK_SCENARIO, workdir, calls=None, timeout=None, port=port)
        self.machine = machine
        self.host = machine.address
        self.argv = machine.argv([machine.address if a == LOOPBACK else a for a in self.argv])

    def start(self) -> None:
        # Not SippUas.start: it probes this namespace's loopback, not where SIPp listens.
        self.process = PeerProcess(f"sipp-{self.port}", self.argv, self.workdir)
        process = self.process

        def listening() -> bool:
            process.check_alive()
            return self.machine.listening("udp", self.port)

        wait_until(listening, 10, "SIPp to listen in its namespace")


class NodeProcess(ServeProcess):
    """``vestnik serve`` inside ``machine``'s namespace, in its own process group."""

    def __init__(self, machine: Machine, env: dict[str, str], log: Path, port: int) -> None:
        vestnik = shutil.which("vestnik", path=str(Path(sys.executable).parent))
        argv = (
            [vestnik, "serve"] if vestnik else [sys.executable, "-m", "vestnik.cli.main", "serve"]
        )
        self.log = log
        self.url = f"http://{machine.address}:{port}"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                machine.argv(argv), env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
