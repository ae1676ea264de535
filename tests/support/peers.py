"""Real SIP peers for tests: baresip (a callee that records) and Kamailio (a trunk with auth).

Each launcher writes its configuration into a temporary directory, binds loopback ports that
were free a moment ago, waits a bounded time for the peer to be ready and kills the process
group it started on exit. A missing binary skips the test with the package to install.

    with Kamailio(target=("127.0.0.1", 5070), users={"vestnik": "secret"}) as trunk, \
         Baresip(users=["79161234567"], sip_port=5070) as callee:
        ...  # dial sip:79161234567@127.0.0.1:<trunk.port> with digest user vestnik
        closed = callee.wait_event("CALL_CLOSED")
        pcm = read_wav_8k(callee.recording_for(closed))
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
import wave
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.processes import (
    LOOPBACK,
    Peer,
    PeerProcess,
    free_port,
    free_port_range,
    require_binary,
    wait_until,
)

READY_TIMEOUT = 10.0
SILENCE_SECONDS = 300


# --- baresip -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BaresipEvent:
    type: str  # CALL_INCOMING, CALL_ESTABLISHED, CALL_DTMF_START, CALL_CLOSED, ...
    param: str
    peer_uri: str
    account: str
    at: float  # time.time() when we read it
    raw: Mapping[str, Any] = field(default_factory=dict)


class Baresip(Peer):
    """baresip 1.0 as an auto-answering callee that dumps what it hears to WAV.

    One account per user in ``users`` (baresip answers 404 to any other Request-URI user);
    a mapping gives each user its own codec list (what that account will answer with).
    The ``sndfile`` filter writes ``dump-<YYYY-MM-DD-HH-MM-SS>-dec.wav`` (received, decoded)
    and ``…-enc.wav`` (sent) into ``record_dir``; names have one-second resolution, so two
    calls answered in the same second share a file: space calls at least a second apart.
    ``ctrl_tcp`` streams JSON events, collected in ``events``.
    """

    name = "baresip"

    def __init__(
        self,
        users: Iterable[str] | Mapping[str, Sequence[str]] = ("callee",),
        *,
        codecs: Sequence[str] = ("PCMA", "PCMU"),
        sip_port: int | None = None,
        workdir: Path | None = None,
        answer: bool = True,
    ) -> None:
        super().__init__(workdir)
        # Each user may have its own codec list (a mapping), else ``codecs``.
        self.users: dict[str, list[str]] = (
            {user: list(c) for user, c in users.items()}
            if isinstance(users, Mapping)
            else {user: list(codecs) for user in users}
        )
        self.sip_port = sip_port or free_port()
        self.ctrl_port = free_port()
        self.answer = answer
        self.record_dir = self.workdir / "rec"
        self.events: list[BaresipEvent] = []
        self._events_changed = threading.Condition()
        self._ctrl: socket.socket | None = None
        self._reader: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return LOOPBACK, self.sip_port

    def start(self) -> None:
        binary = require_binary("baresip", "baresip-core")
        self.write_config()
        self.process = PeerProcess(self.name, [binary, "-f", str(self.workdir)], self.workdir)
        process = self.process

        def ready() -> bool:
            process.check_alive()
            return "baresip is ready" in process.log()

        wait_until(ready, READY_TIMEOUT, "baresip to start")
        self._connect_ctrl()

    def write_config(self) -> None:
        """``config``, ``accounts``, ``contacts`` and the silent source in ``workdir``."""
        self.record_dir.mkdir(exist_ok=True)
        # aufile ends the call when its file runs out: give it more silence than any test call.
        silence = self.workdir / "silence.wav"
        with wave.open(str(silence), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\0\0" * 8000 * SILENCE_SECONDS)
        rtp_low, rtp_high = free_port_range(64)
        config = {
            "poll_method": "epoll",
            "sip_listen": f"{LOOPBACK}:{self.sip_port}",
            "sip_trans_def": "udp",
            # Without this baresip puts the host's outward address in its SDP.
            "net_interface": LOOPBACK,
            "call_local_timeout": "120",
            "call_max_calls": "16",
            # No sound card: a silent file as the microphone, a bridge nobody reads as speaker.
            "audio_player": "aubridge,nil",
            "audio_alert": "aubridge,nil",
            "audio_source": f"aufile,{silence}",
            "audio_level": "no",
            "audio_buffer": "20-160",
            "rtp_ports": f"{rtp_low}-{rtp_high}",
            "rtp_timeout": "0",
            # Decode each packet on arrival: the recording shows the stream as it came.
            "jitter_buffer_delay": "0-0",
            "module_path": "/usr/lib/baresip/modules",
            "ctrl_tcp_listen": f"{LOOPBACK}:{self.ctrl_port}",
            "snd_path": str(self.record_dir),
        }
        lines = [f"{key}\t\t{value}" for key, value in config.items()]
        lines += [f"module\t\t{m}.so" for m in ("g711", "aufile", "aubridge", "sndfile")]
        lines += [f"module_app\t\t{m}.so" for m in ("account", "ctrl_tcp")]
        (self.workdir / "config").write_text("\n".join(lines) + "\n")
        answermode = "auto" if self.answer else "manual"
        accounts = [
            f"<sip:{user}@{LOOPBACK}>;answermode={answermode};regint=0;"
            f"audio_codecs={','.join(codecs)}"
            for user, codecs in self.users.items()
        ]
        (self.workdir / "accounts").write_text("\n".join(accounts) + "\n")
        (self.workdir / "contacts").write_text("")

    def _connect_ctrl(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                self._ctrl = socket.create_connection((LOOPBACK, self.ctrl_port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._ctrl.settimeout(None)
        self._reader = threading.Thread(target=self._read_events, args=(self._ctrl,), daemon=True)
        self._reader.start()

    def _read_events(self, ctrl: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                chunk = ctrl.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            # ctrl_tcp frames every message as a netstring: b"<length>:<json>,".
            while b":" in buffer:
                head, _, rest = buffer.partition(b":")
                length = int(head)
                if len(rest) < length + 1:
                    break
                payload, buffer = rest[:length], rest[length + 1 :]
                self._on_message(json.loads(payload))

    def _on_message(self, message: Mapping[str, Any]) -> None:
        if not message.get("event"):
            return
        event = BaresipEvent(
            type=str(message.get("type", "")),
            param=str(message.get("param", "")),
            peer_uri=str(message.get("peeruri", "")),
            account=str(message.get("accountaor", "")),
            at=time.time(),
            raw=dict(message),
        )
        with self._events_changed:
            self.events.append(event)
            self._events_changed.notify_all()

    def command(self, command: str, params: str = "") -> None:
        """Send a ctrl_tcp command (e.g. ``hangup``); the reply arrives as a message."""
        assert self._ctrl is not None
        body = json.dumps(
            {"command": command, "params": params, "token": uuid.uuid4().hex}
        ).encode()
        self._ctrl.sendall(b"%d:%s," % (len(body), body))

    def wait_event(
        self,
        type: str,
        timeout: float = 10.0,
        *,
        after: float = 0.0,
        where: Callable[[BaresipEvent], bool] | None = None,
    ) -> BaresipEvent:
        """The first event of ``type`` read at or after ``after`` (bounded wait)."""
        deadline = time.monotonic() + timeout
        with self._events_changed:
            while True:
                for event in self.events:
                    if event.type == type and event.at >= after and (where is None or where(event)):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [e.type for e in self.events]
                    raise TimeoutError(f"no {type} from baresip in {timeout} s (saw {seen})")
                self._events_changed.wait(remaining)

    def events_of(
        self, type: str, *, after: float = 0.0, until: float = float("inf")
    ) -> list[BaresipEvent]:
        with self._events_changed:
            return [e for e in self.events if e.type == type and after <= e.at <= until]

    def dtmf_digits(self, *, after: float = 0.0, until: float = float("inf")) -> str:
        return "".join(e.param for e in self.events_of("CALL_DTMF_START", after=after, until=until))

    def recordings(self) -> list[Path]:
        """Received-audio dumps, oldest first."""
        return sorted(self.record_dir.glob("dump-*-dec.wav"))

    def recording_for(self, established: BaresipEvent, timeout: float = 5.0) -> Path:
        """The received-audio WAV of the call that was established at ``established.at``.

        The file is named by the second the media started; it is complete once the call closed.
        """
        stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.localtime(established.at))
        earlier = time.strftime("%Y-%m-%d-%H-%M-%S", time.localtime(established.at - 1))
        found: list[Path] = []

        def present() -> bool:
            found[:] = [p for p in self.recordings() if stamp in p.name or earlier in p.name]
            return bool(found)

        wait_until(present, timeout, f"a baresip recording near {stamp}")
        return found[-1]

    def stop(self) -> None:
        if self._ctrl is not None:
            with contextlib.suppress(OSError):
                self._ctrl.close()
            self._ctrl = None
        super().stop()


# --- Kamailio ----------------------------------------------------------------------------


KAMAILIO_CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
disable_tcp=yes
auto_aliases=no
listen=udp:{host}:{port}
alias="{host}:{port}"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"

modparam("rr", "enable_full_lr", 1)
modparam("auth", "nonce_expire", 60)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("OPTIONS")) {{ sl_send_reply("200", "OK"); exit; }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (!is_method("INVITE")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    $var(pass) = "";
{password_lookup}
    if ($var(pass) == "" || !pv_auth_check("{realm}", "$var(pass)", "0", "0")) {{
        xlog("L_INFO", "challenge $rm from $fu (user '$au')\\n");
        auth_challenge("{realm}", "1");
        exit;
    }}
    consume_credentials();
    record_route();
    $du = "sip:{target_host}:{target_port}";
    xlog("L_INFO", "relay $rm $ru from $au to $du\\n");
    if (!t_relay()) {{ sl_reply_error(); }}
    exit;
}}
"""


class Kamailio(Peer):
    """Kamailio 5.6 as an operator trunk: INVITE → 407 (qop=auth) → relayed with Record-Route.

    ``users`` is the fixed list of digest credentials; authenticated INVITEs go to ``target``
    with the Request-URI unchanged (so the callee sees the dialled number as the user).
    """

    name = "kamailio"

    def __init__(
        self,
        target: tuple[str, int],
        users: Mapping[str, str],
        *,
        realm: str = "vestnik.test",
        port: int | None = None,
        workdir: Path | None = None,
    ) -> None:
        super().__init__(workdir)
        for user, password in users.items():
            if not user.isalnum() or '"' in password or "\\" in password:
                raise ValueError("Kamailio test users: alphanumeric names, no quotes in passwords")
        self.target = target
        self.users = dict(users)
        self.realm = realm
        self.port = port or free_port()

    @property
    def address(self) -> tuple[str, int]:
        return LOOPBACK, self.port

    def write_config(self) -> Path:
        lookup = "\n".join(
            f'    if ($au == "{user}") {{ $var(pass) = "{password}"; }}'
            for user, password in self.users.items()
        )
        config = KAMAILIO_CONFIG.format(
            host=LOOPBACK,
            port=self.port,
            realm=self.realm,
            password_lookup=lookup,
            target_host=self.target[0],
            target_port=self.target[1],
        )
        path = self.workdir / "kamailio.cfg"
        path.write_text(config)
        return path

    def start(self) -> None:
        binary = require_binary("kamailio", "kamailio")
        path = self.write_config()
        argv = [
            binary, "-DD", "-E", "-f", str(path), "-m", "32", "-M", "4",
            "-P", str(self.workdir / "kamailio.pid"), "-Y", str(self.workdir),
        ]  # fmt: skip
        self.process = PeerProcess(self.name, argv, self.workdir)
        wait_until(self._answers_options, READY_TIMEOUT, "Kamailio to answer OPTIONS", 0.1)

    def _answers_options(self) -> bool:
        assert self.process is not None
        self.process.check_alive()
        return sip_options_ok(self.address)


def sip_options_ok(address: tuple[str, int], timeout: float = 0.3) -> bool:
    """Does ``address`` answer a SIP OPTIONS over UDP with any final response?"""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((LOOPBACK, 0))
        local_port = sock.getsockname()[1]
        branch = "z9hG4bK" + uuid.uuid4().hex
        message = (
            f"OPTIONS sip:{address[0]}:{address[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOOPBACK}:{local_port};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:probe@{LOOPBACK}>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:{address[0]}:{address[1]}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}@{LOOPBACK}\r\n"
            f"CSeq: 1 OPTIONS\r\n"
            f"Content-Length: 0\r\n\r\n"
        )
        sock.sendto(message.encode(), address)
        sock.settimeout(timeout)
        data, _ = sock.recvfrom(65536)
        return data.startswith(b"SIP/2.0 ") and not data.startswith(b"SIP/2.0 1")
    except OSError:
        return False
    finally:
        sock.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Write the baresip and Kamailio configurations the tests use, to run them by hand.

    .venv/bin/python -m tests.support.peers OUTDIR [--callee 79161234567] ...   # repo root
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--callee", action="append", help="number baresip answers (repeatable)")
    parser.add_argument("--baresip-port", type=int, default=5090)
    parser.add_argument("--kamailio-port", type=int, default=5070)
    parser.add_argument("--user", default="vestnik", help="trunk digest user")
    parser.add_argument("--password", default="secret", help="trunk digest password")
    args = parser.parse_args(argv)
    baresip = Baresip(
        args.callee or ["79161234567"],
        sip_port=args.baresip_port,
        workdir=args.outdir / "baresip",
    )
    baresip.write_config()
    kamailio = Kamailio(
        baresip.address,
        {args.user: args.password},
        port=args.kamailio_port,
        workdir=args.outdir / "kamailio",
    )
    cfg = kamailio.write_config()
    print(f"baresip -f {baresip.workdir}   # recordings in {baresip.record_dir}")
    print(f"kamailio -DD -E -f {cfg} -m 32 -M 4")
    print(
        f"VESTNIK_TRUNK_HOST={LOOPBACK} VESTNIK_TRUNK_PORT={kamailio.port} "
        f"VESTNIK_TRUNK_USERNAME={args.user} VESTNIK_TRUNK_PASSWORD={args.password} "
        "vestnik serve"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
