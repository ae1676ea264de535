"""The SIP edge as a supervised child process: Kamailio with a generated configuration.

``Edge(config)`` finds the binary (a clear error naming the Debian package when it or the tls
module is missing), picks its ports, makes a self-signed certificate if none is configured,
writes and checks the configuration, starts Kamailio and waits until it answers, restarts it
when it dies (back-off 1 s doubling to 30 s) and stops it on :meth:`stop`. Everything Kamailio
prints goes to ``<data_dir>/edge/edge.log``; its errors (and our name-check refusals) also go
to vestnik's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import deque
from pathlib import Path

from vestnik.config import Config
from vestnik.telephony.edge.kamailio import EdgeListen, kamailio_cfg, tls_cfg
from vestnik.telephony.edge.plan import (
    EDGE_LOCAL_HOST,
    EdgeHops,
    EdgeTrunk,
    edge_trunks,
    hops_for,
    uses_edge,
)
from vestnik.threads import run_in_thread

log = logging.getLogger(__name__)

READY_SECONDS = 15.0
STOP_SECONDS = 5.0
MAX_BACKOFF = 30.0
STABLE_SECONDS = 60.0
PACKAGES = "kamailio (and kamailio-tls-modules for tls trunks)"


class EdgeError(RuntimeError):
    """The edge cannot be set up or started; the message says what to do."""


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((EDGE_LOCAL_HOST, 0))
        return int(sock.getsockname()[1])


def _free_tcp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None and "/" not in name and os.access(f"/usr/sbin/{name}", os.X_OK):
        path = f"/usr/sbin/{name}"
    if path is None:
        raise EdgeError(
            f"tcp/tls trunks go through a SIP edge, and its binary {name!r} ([edge] binary) "
            f"was not found: install the Debian package {PACKAGES}"
        )
    return path


def options_ok(address: tuple[str, int], timeout: float = 0.3) -> bool:
    """Does ``address`` answer a SIP OPTIONS over UDP with a 200?"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((EDGE_LOCAL_HOST, 0))
        port = sock.getsockname()[1]
        tag = uuid.uuid4().hex
        message = (
            f"OPTIONS sip:{address[0]}:{address[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {EDGE_LOCAL_HOST}:{port};branch=z9hG4bK{tag};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:probe@{EDGE_LOCAL_HOST}>;tag={tag[:8]}\r\n"
            f"To: <sip:{address[0]}:{address[1]}>\r\nCall-ID: {tag}@{EDGE_LOCAL_HOST}\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        try:
            sock.sendto(message.encode(), address)
            sock.settimeout(timeout)
            data = sock.recv(65536)
        except OSError:
            return False
    return data.startswith(b"SIP/2.0 200")


class Edge:
    """The Kamailio in front of the ``tcp``/``tls`` trunks of ``config``."""

    def __init__(self, config: Config, workdir: Path | None = None) -> None:
        self.config = config
        self.workdir = workdir or config.data_path / "edge"
        self.trunk_configs = [t for t in config.trunk_list if uses_edge(t)]
        self.trunks: list[EdgeTrunk] = []
        self.hops = EdgeHops({})
        self.listen: EdgeListen | None = None  # its sockets, once prepared
        self.restarts = 0
        self.recent: deque[str] = deque(maxlen=200)
        self._argv: list[str] = []
        self._health: tuple[str, int] = (EDGE_LOCAL_HOST, 0)
        self._process: subprocess.Popen[bytes] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def needed(self) -> bool:
        return bool(self.trunk_configs)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # --- set-up (blocking) -------------------------------------------------------------

    def prepare(self) -> None:
        """Find the binary, choose ports, write and check the configuration."""
        binary = find_binary(self.config.edge.binary)
        self.workdir.mkdir(parents=True, exist_ok=True)
        edge = self.config.edge
        bind = edge.bind_host or self.config.sip.bind_host
        transports = {t.transport.lower() for t in self.trunk_configs}
        has_tls = "tls" in transports
        cert, key = self._certificate(bind) if has_tls else ("", "")
        listen = EdgeListen(
            health_port=_free_udp_port(),
            bind_host=bind,
            advertised_host=edge.advertised_host or self.config.sip.advertised_host,
            tcp_port=(edge.tcp_port or _free_tcp_port(bind)) if "tcp" in transports else None,
            tls_port=(edge.tls_port or _free_tcp_port(bind)) if has_tls else None,
            certificate=cert,
            private_key=key,
        )
        self.listen = listen
        ports = [_free_udp_port() for _ in self.trunk_configs]
        self.trunks = edge_trunks(self.trunk_configs, ports)
        self.hops = hops_for(self.trunks)
        self._health = (EDGE_LOCAL_HOST, listen.health_port)
        tls_path = self.workdir / "tls.cfg" if has_tls else None
        if tls_path is not None:
            own = bool(edge.tls_certificate)
            tls_path.write_text(tls_cfg(listen, self.trunks, client_cert=own))
        cfg_path = self.workdir / "kamailio.cfg"
        cfg_path.write_text(kamailio_cfg(listen, self.trunks, tls_path))
        self._check(binary, cfg_path)
        self._argv = [
            binary, "-DD", "-E", "-f", str(cfg_path), "-m", str(edge.shared_memory_mb),
            "-M", "16", "-P", str(self.workdir / "kamailio.pid"), "-Y", str(self.workdir),
        ]  # fmt: skip

    def _certificate(self, bind: str) -> tuple[str, str]:
        edge = self.config.edge
        if edge.tls_certificate:
            return edge.tls_certificate, edge.tls_private_key or edge.tls_certificate
        cert, key = self.workdir / "edge-cert.pem", self.workdir / "edge-key.pem"
        if cert.is_file() and key.is_file():
            return str(cert), str(key)
        openssl = shutil.which("openssl")
        if openssl is None:
            raise EdgeError(
                "the SIP edge needs a TLS certificate: set [edge] tls_certificate or install "
                "the Debian package openssl to make a self-signed one"
            )
        name = edge.advertised_host or self.config.sip.advertised_host or bind
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        key.chmod(0o600)
        return str(cert), str(key)

    def _check(self, binary: str, cfg_path: Path) -> None:
        done = subprocess.run(
            [binary, "-c", "-f", str(cfg_path)], capture_output=True, text=True, timeout=60
        )
        output = done.stdout + done.stderr
        if done.returncode == 0:
            return
        if "tls.so" in output or "<tls>" in output or "tls module" in output:
            raise EdgeError("tls trunks need Kamailio's tls module: install the Debian package "
                            "kamailio-tls-modules")  # fmt: skip
        errors = [line for line in output.splitlines() if "ERROR" in line or "CRIT" in line]
        raise EdgeError(f"the generated edge configuration {cfg_path} was refused by "
                        f"{binary}: {' | '.join(errors[-5:]) or output[-500:]}")  # fmt: skip

    # --- the process ----------------------------------------------------------------------

    def _spawn(self) -> None:
        with open(self.workdir / "edge.log", "ab") as log_file:
            log_file.write(f"--- vestnik: starting {' '.join(self._argv)}\n".encode())
        process = subprocess.Popen(
            self._argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.workdir,
        )  # fmt: skip
        self._process = process
        reader = threading.Thread(target=self._read_log, args=(process,), name="edge-log")
        reader.daemon = True
        reader.start()

    def _read_log(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with open(self.workdir / "edge.log", "ab", buffering=0) as log_file:
            for raw in process.stdout:
                log_file.write(raw)
                line = raw.decode(errors="replace").rstrip()
                self.recent.append(line)
                if "vestnik-edge:" in line or " ERROR:" in line or "CRITICAL:" in line:
                    log.warning("edge: %s", line)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while not options_ok(self._health):
            process = self._process
            if process is not None and process.poll() is not None:
                raise EdgeError(f"the SIP edge exited at start (code {process.returncode}): "
                                + " | ".join(list(self.recent)[-5:]))  # fmt: skip
            if time.monotonic() > deadline:
                raise EdgeError(f"the SIP edge did not answer within {READY_SECONDS:g} s "
                                f"(log: {self.workdir / 'edge.log'})")  # fmt: skip
            time.sleep(0.1)

    def _start_blocking(self) -> None:
        self._spawn()
        try:
            self._wait_ready()
        except BaseException:
            self._kill()
            raise

    def _kill(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_SECONDS)

    async def start(self) -> None:
        """Set up, start and wait until the edge answers; then supervise it."""
        self._stopping = False
        await run_in_thread(self.prepare)
        await run_in_thread(self._start_blocking)
        log.info("SIP edge started (pid %s) for %s", self.pid,
                 ", ".join(f"{t.name} ({t.transport}) via udp {EDGE_LOCAL_HOST}:{t.local_port}"
                           for t in self.trunks))  # fmt: skip
        self._supervisor = asyncio.create_task(self._supervise(), name="sip-edge")

    async def _supervise(self) -> None:
        backoff = 1.0
        while not self._stopping:
            process = self._process
            assert process is not None
            started = time.monotonic()
            code = await run_in_thread(process.wait)
            if self._stopping:
                return
            if time.monotonic() - started > STABLE_SECONDS:
                backoff = 1.0
            log.error("the SIP edge exited (code %s); restarting in %g s; last lines: %s",
                      code, backoff, " | ".join(list(self.recent)[-5:]))  # fmt: skip
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            if self._stopping:
                return
            try:
                await run_in_thread(self._start_blocking)
                self.restarts += 1
                log.info("SIP edge restarted (pid %s)", self.pid)
            except Exception as exc:
                log.error("the SIP edge did not restart: %s", exc)

    async def stop(self) -> None:
        """Stop supervising and end the process group. Idempotent."""
        self._stopping = True
        await run_in_thread(self._kill)
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
