"""``vestnik demo``: one real informer call on this machine, end to end (see docs/demo.md).

It needs nothing but the Python package: a fresh data directory with an SQLite database, a
demo account (user, API key, virtual number), the test phone on loopback as the "operator
trunk", and the whole service (Call API, dialer, SIP, RTP) in this process. The call is placed
the way a client would place it, ``start.informer_call`` over HTTP; then the demo prints the
session's final record, the digits the phone received (with times) and where the phone's
recording is. Exit status: 0 when the session ended ``success_finish``, 3 when it ended any
other way, 1 when the demo could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vestnik.cli.common import CliError, SubParsers, command_parser, port_number
from vestnik.config import Config
from vestnik.store.db import Engine, connection, open_database, transaction
from vestnik.threads import run_in_thread

if TYPE_CHECKING:
    from vestnik.telephony.phone import PhoneCall, TestPhone

EXIT_CALL_FAILED = 3

DEMO_ACCOUNT = "demo"
DEMO_LOGIN = "demo"
DEMO_NUMBER = "74993720692"  # the virtual number calls come from
DEMO_CONTACT = "79161234567"  # the number dialled (the test phone answers any number)
DEMO_TEXT = (
    "Здравствуйте! Это демонстрационный звонок сервиса Вестник. "
    "Ваш заказ номер 1042 на сумму 1500 рублей готов к выдаче сегодня до 18:30."
)
DEMO_DTMF = "1.2#"
# Bounds: the call itself takes ~10 s; first-run TTS initialisation a little more.
DEFAULT_TIMEOUT = 60.0


def register(commands: SubParsers) -> None:
    p = command_parser(
        commands,
        "demo",
        help="place one real informer call to a test phone on this machine and show the result",
        handler=run_demo,
        json_output=True,
        description=(
            "Starts vestnik on a fresh SQLite database with a demo account, starts the test\n"
            "phone on loopback as the trunk, places an informer call through the JSON-RPC API\n"
            "and prints the session's final record, the DTMF digits the phone received and\n"
            "where its recording is. Exit status 0: the call succeeded (success_finish);\n"
            "3: it ended otherwise; 1: the demo could not run."
        ),
    )
    p.add_argument(
        "--keep-running",
        action="store_true",
        help="after the call keep the service and the phone up for more calls (Ctrl-C stops)",
    )
    p.add_argument("--text", default=DEMO_TEXT, help="the TTS message (default: a Russian one)")
    p.add_argument(
        "--dtmf", default=DEMO_DTMF, help=f"the dtmf_string to send first (default {DEMO_DTMF})"
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        help="use this directory for the database and recordings (default: a new temp dir)",
    )
    p.add_argument(
        "--port",
        type=port_number,
        help="HTTP port of the Call API (default: any free port)",
    )
    p.add_argument(
        "--phone-port", type=port_number, help="SIP port of the test phone (default: any free)"
    )
    p.add_argument(
        "--phone-mode",
        choices=("answer", "busy", "noanswer"),
        default="answer",
        help="how the test phone treats the call (default answer): see the other outcomes",
    )
    p.add_argument(
        "--phone-hangup-after",
        type=float,
        metavar="SECONDS",
        help="the phone hangs up this long after answering (subscriber_disconnects)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up waiting for the call after this long (default {DEFAULT_TIMEOUT:.0f})",
    )


@dataclass
class DemoSetup:
    data_dir: Path
    access_token: str
    password: str
    account_id: int


def run_demo(args: argparse.Namespace) -> int:
    if not 1 <= args.timeout <= 3600:
        raise CliError("--timeout must be between 1 and 3600 seconds")
    if args.phone_hangup_after is not None and not 0 <= args.phone_hangup_after <= 3600:
        raise CliError("--phone-hangup-after must be between 0 and 3600 seconds")
    if args.data_dir is not None:
        data_dir = args.data_dir.resolve()
        if (data_dir / "vestnik.db").exists():
            raise CliError(f"{data_dir} already holds a vestnik database: use a new directory")
        data_dir.mkdir(parents=True, exist_ok=True)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="vestnik-demo-"))
    return asyncio.run(_demo(args, data_dir))


def _config(data_dir: Path, http_port: int, phone_port: int) -> Config:
    # Built from defaults, not from ./vestnik.toml or VESTNIK_* variables: the demo must not
    # dial a real trunk that happens to be configured here.
    config = Config(data_dir=str(data_dir))
    config.log.level = "warning"
    config.server.host = "127.0.0.1"
    config.server.port = http_port
    config.sip.bind_host = "127.0.0.1"
    config.sip.port = 0
    config.rtp.bind_host = "127.0.0.1"
    config.trunk.host = "127.0.0.1"
    config.trunk.port = phone_port
    config.trunk.username = config.trunk.password = ""
    return config


def _provision(engine: Engine, config: Config) -> DemoSetup:
    from vestnik.auth import TokenKind
    from vestnik.store.accounts import create_account
    from vestnik.store.admin_numbers import add_number
    from vestnik.store.admin_users import create_user, issue_token

    password = secrets.token_urlsafe(12)
    with transaction(engine) as conn:
        account_id = create_account(conn, DEMO_ACCOUNT, config.limits)
        create_user(conn, account_id, DEMO_LOGIN, password)
        add_number(conn, account_id, DEMO_NUMBER, None)
        key = issue_token(conn, account_id, TokenKind.PERMANENT)
    return DemoSetup(config.data_path, key.access_token, password, account_id)


def _informer_call(token: str, text: str, dtmf: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "access_token": token,
        "virtual_phone_number": DEMO_NUMBER,
        "contact": DEMO_CONTACT,
        "contact_message": {"type": "tts", "value": text},
    }
    if dtmf:
        params["dtmf_string"] = dtmf
    return {"jsonrpc": "2.0", "id": 1, "method": "start.informer_call", "params": params}


async def _demo(args: argparse.Namespace, data_dir: Path) -> int:
    say = _printer(quiet=bool(args.json))
    # Set once the demo call is reported: later calls (--keep-running) are printed as they end.
    announce = threading.Event()
    phone, phone_port = _start_phone(args, data_dir, say, announce)
    try:
        config = _config(data_dir, args.port or 0, phone_port)
        with open_database(config.database_url) as engine:
            setup = _provision(engine, config)
            say(f"data directory: {data_dir} (SQLite database, TTS cache, phone recordings)")
            say(f"test phone:     {phone.uri} (answers, records, logs DTMF)")
            return await _serve_demo(args, config, engine, setup, phone, say, announce)
    finally:
        phone.stop()


def _printer(*, quiet: bool) -> Callable[[str], None]:
    """What the demo says as it goes (nothing under --json: the document is the output)."""

    def say(text: str) -> None:
        if not quiet:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    return say


def _start_phone(
    args: argparse.Namespace, data_dir: Path, say: Callable[[str], None], announce: threading.Event
) -> tuple[TestPhone, int]:
    """The test phone, listening (and its SIP port); it reports calls once ``announce`` is set."""
    from vestnik.telephony.phone import PhoneMode, PhoneSettings, TestPhone

    def on_call(call: PhoneCall) -> None:
        if announce.is_set():
            say(f"\nphone: {_describe_call(call)}")

    phone = TestPhone(
        PhoneSettings(
            host="127.0.0.1",
            port=args.phone_port or 0,
            mode=PhoneMode(args.phone_mode),
            record_dir=data_dir / "phone",
            hangup_after=args.phone_hangup_after,
        ),
        on_call=on_call,
    )
    try:
        _host, port = phone.start()
    except OSError as exc:
        raise CliError(f"the test phone cannot listen: {exc}") from exc
    return phone, port


async def _serve_demo(
    args: argparse.Namespace,
    config: Config,
    engine: Engine,
    setup: DemoSetup,
    phone: TestPhone,
    say: Callable[[str], None],
    announce: threading.Event,
) -> int:
    """Run the service, place the demo call, report it; then keep serving if asked."""
    from vestnik.cli.admin.inprocess import run_admin
    from vestnik.service import Service, ServiceError

    service = Service(config, engine=engine, admin=run_admin)
    try:
        try:
            await service.start()
        except ServiceError as exc:
            raise CliError(str(exc)) from exc
        base = f"http://127.0.0.1:{service.http_port}"
        say(f"vestnik:        {base}/v4.0 (trunk = the test phone)")
        session_id = await _place_call(base, setup.access_token, args, say)
        row = await _wait_final(engine, session_id, args.timeout)
        call = await _phone_call(phone, row)
        _report(args, setup, session_id, row, call, base)
        if args.keep_running:
            announce.set()
            _print_ready(say, base, setup)
            watcher = asyncio.create_task(_watch_sessions(engine, session_id, say))
            try:
                await _wait_for_signal()
            finally:
                watcher.cancel()
        succeeded = row is not None and row["finish_reason"] == "success_finish"
        return 0 if succeeded else EXIT_CALL_FAILED
    finally:
        await service.stop()


async def _place_call(
    base: str, token: str, args: argparse.Namespace, say: Callable[[str], None]
) -> int:
    """``start.informer_call`` over HTTP, as a client places it; returns call_session_id."""
    import httpx

    request = _informer_call(token, args.text, args.dtmf)
    say(f"\ncalling {DEMO_CONTACT} from {DEMO_NUMBER}: dtmf {args.dtmf!r}, then TTS:")
    say(f"  «{args.text}»")
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        reply = (await http.post("/v4.0", json=request)).json()
    if "result" not in reply:
        raise CliError(f"start.informer_call was refused: {json.dumps(reply, ensure_ascii=False)}")
    session_id = int(reply["result"]["data"]["call_session_id"])
    say(f"call_session_id {session_id} accepted; waiting for the call to end…")
    return session_id


async def _wait_final(engine: Engine, session_id: int, timeout: float) -> dict[str, Any] | None:
    """The session row once it is final (or as it is when ``timeout`` runs out)."""
    from vestnik.calls import FINAL_STATES
    from vestnik.store.sessions import get_session

    deadline = time.monotonic() + timeout

    def read() -> dict[str, Any] | None:
        with connection(engine) as conn:
            return get_session(conn, session_id)

    while True:
        row = await run_in_thread(read)
        if row is not None and row["state"] in FINAL_STATES:
            return row
        if time.monotonic() > deadline:
            return row
        await asyncio.sleep(0.1)


async def _phone_call(phone: TestPhone, row: dict[str, Any] | None) -> PhoneCall | None:
    """The phone's record of the session's call (it finishes a moment after the call ends)."""
    if row is None or not row.get("dial_at"):
        return None  # never dialled: nothing reached the phone
    try:
        return await run_in_thread(phone.wait_call, 5.0)
    except TimeoutError:
        return None


def _describe_call(call: PhoneCall) -> str:
    digits = ", ".join(f"{d.digit} at {d.at:.2f} s" for d in call.digits) or "none"
    return (
        f"call from {call.from_user} to {call.to_user}: SIP {call.final_code}, "
        f"{call.duration:.1f} s, hung up by {call.hung_up_by}; digits: {digits}; "
        f"recording: {call.wav or '-'}"
    )


def _report(
    args: argparse.Namespace,
    setup: DemoSetup,
    session_id: int,
    row: dict[str, Any] | None,
    call: PhoneCall | None,
    base: str,
) -> None:
    from vestnik.cli.admin.sessions import session_fields, session_json

    session = session_json(row) if row is not None else None
    if args.json:
        document = {
            "data_dir": str(setup.data_dir),
            "api_url": f"{base}/v4.0",
            "call_session_id": session_id,
            "session": session,
            "phone_call": call.to_dict() if call is not None else None,
            "text": args.text,
            "dtmf_string": args.dtmf,
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")
        return
    out = sys.stdout
    out.write("\n== call session (as `vestnik admin session show` prints it) ==\n")
    if session is None:
        out.write("(not found)\n")
    else:
        out.write(session_fields(session) + "\n")
        if session["state"] != "finished":
            out.write(f"!! the session did not finish within {args.timeout:.0f} s\n")
    out.write("\n== what the test phone got ==\n")
    if call is None:
        out.write("(no call reached the phone)\n")
    else:
        out.write(f"call id:    {call.call_id}\n")
        out.write(f"from / to:  {call.from_user} → {call.to_user}\n")
        out.write(f"answered:   SIP {call.final_code}" + ("\n" if call.answered_at else " (no)\n"))
        if call.codec:
            out.write(f"codec:      {call.codec}  (telephone-event: {call.telephone_event})\n")
        out.write(f"duration:   {call.duration:.2f} s, hung up by {call.hung_up_by}\n")
        if call.digits:
            for digit in call.digits:
                out.write(
                    f"digit {digit.digit!r}: {digit.at:6.2f} s after answer "
                    f"({digit.duration * 1000:.0f} ms, {digit.method})\n"
                )
        else:
            out.write("digits:     none\n")
        out.write(f"recording:  {call.wav or '-'} ({call.audio_seconds:.1f} s of audio)\n")
    reason = session and session.get("finish_reason")
    verdict = "SUCCESS" if reason == "success_finish" else "FAILED"
    out.write(f"\n{verdict}: finish_reason {reason or '-'}\n")
    out.flush()


def _print_ready(say: Callable[[str], None], base: str, setup: DemoSetup) -> None:
    body = json.dumps(
        _informer_call(setup.access_token, "Проверка связи.", "1"), ensure_ascii=False
    )
    say("\nThe service and the test phone keep running. Place another call:\n")
    say(f"curl -s {base}/v4.0 -H 'Content-Type: application/json' -d '{body}'\n")
    say(f"(user {DEMO_LOGIN} / password {setup.password} for login.user; Ctrl-C stops)")


async def _watch_sessions(engine: Engine, last_reported: int, say: Callable[[str], None]) -> None:
    """Print each later session once it is final (--keep-running)."""
    from vestnik.calls import FINAL_STATES
    from vestnik.store.admin_sessions import sessions_after_or_in

    pending: set[int] = set()

    def poll() -> list[dict[str, Any]]:
        nonlocal last_reported
        with connection(engine) as conn:
            rows = sessions_after_or_in(conn, last_reported, pending)
        for row in rows:
            pending.add(int(row["id"]))
            last_reported = max(last_reported, int(row["id"]))
        done = [r for r in rows if r["state"] in FINAL_STATES]
        pending.difference_update(r["id"] for r in done)
        return done

    while True:
        for row in await run_in_thread(poll):
            say(
                f"session {row['id']}: {row['finish_reason']} (SIP {row['sip_code'] or '-'} "
                f"{row['sip_reason'] or ''}) contact {row['contact']}"
            )
        await asyncio.sleep(0.5)


async def _wait_for_signal() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
