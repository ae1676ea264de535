"""``vestnik phone``: run the test phone alone (see docs/demo.md).

It listens until interrupted and prints one JSON line per finished call on stdout (call id,
from, to, digits with times, WAV path, duration, who hung up); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from vestnik.cli.common import CliError, SubParsers, command_parser, non_negative_int

CODEC_CHOICES = ("PCMA", "PCMU", "any")
# The default [trunk] port: `vestnik phone` and `vestnik serve` find each other unconfigured.
PHONE_DEFAULT_PORT = 5080


def register(commands: SubParsers) -> None:
    p = command_parser(
        commands,
        "phone",
        help="run the test phone: a SIP callee on loopback that answers, records, logs DTMF",
        handler=run_phone,
        json_output=False,
        description=(
            "A small SIP phone for trying vestnik without an operator: it answers (or is busy,\n"
            "or rings forever), records what it hears to WAV and logs the DTMF it gets.\n"
            "One JSON line per finished call is printed on stdout."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=non_negative_int,
        default=PHONE_DEFAULT_PORT,
        help=f"SIP UDP port (default {PHONE_DEFAULT_PORT}, where [trunk] port points by default;"
        " 0: any)",
    )
    p.add_argument(
        "--mode",
        choices=("answer", "busy", "noanswer"),
        default="answer",
        help="answer (200), busy (486) or noanswer (180 until CANCEL); default answer",
    )
    p.add_argument(
        "--codec",
        type=str.upper,
        choices=[c.upper() for c in CODEC_CHOICES],
        default="ANY",
        help="accept only this codec (PCMA or PCMU); default any (PCMA preferred)",
    )
    p.add_argument(
        "--no-telephone-event",
        action="store_true",
        help="leave telephone-event out of the answer: the caller must send in-band tones",
    )
    p.add_argument(
        "--record-dir",
        type=Path,
        default=Path("phone-recordings"),
        help="where to write one WAV per call (default ./phone-recordings)",
    )
    p.add_argument(
        "--hangup-after",
        type=_seconds,
        metavar="SECONDS",
        help="hang up (BYE) this long after answering, e.g. in the middle of the message",
    )
    p.add_argument(
        "--answer-delay",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="ring this long before answering (default 0)",
    )
    p.add_argument(
        "--results",
        type=Path,
        metavar="FILE",
        help="also append each call's JSON line to FILE",
    )
    p.add_argument(
        "--calls",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="exit after N finished calls (default 0: run until interrupted)",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds, got {text}")
    return value


def run_phone(args: argparse.Namespace) -> int:
    from vestnik.telephony.phone import PhoneCall, PhoneMode, PhoneSettings, TestPhone

    codecs = ("PCMA", "PCMU") if args.codec == "ANY" else (args.codec,)
    settings = PhoneSettings(
        host=args.host,
        port=args.port,
        mode=PhoneMode(args.mode),
        codecs=codecs,
        telephone_event=not args.no_telephone_event,
        record_dir=args.record_dir,
        hangup_after=args.hangup_after,
        answer_delay=args.answer_delay,
        results_path=args.results,
    )
    done = threading.Event()
    finished = 0

    def on_call(call: PhoneCall) -> None:
        nonlocal finished
        sys.stdout.write(call.to_json() + "\n")
        sys.stdout.flush()
        digits = ", ".join(f"{d.digit}@{d.at:.2f}s" for d in call.digits) or "none"
        _say(
            f"call {call.call_id} from {call.from_user} to {call.to_user}: {call.final_code}, "
            f"{call.duration:.1f} s, hung up by {call.hung_up_by}, digits {digits}, "
            f"recording {call.wav or '-'}"
        )
        finished += 1
        if args.calls and finished >= args.calls:
            done.set()

    phone = TestPhone(settings, on_call=on_call)
    try:
        host, port = phone.start()
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc}") from exc

    def stop(signum: int, frame: Any) -> None:
        done.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    _say(
        f"test phone listening on sip:{host}:{port} (UDP), mode {args.mode}, codecs "
        f"{'/'.join(codecs)}, recordings in {args.record_dir.resolve()}; Ctrl-C to stop"
    )
    try:
        while not done.wait(0.5):
            pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        phone.stop()
    return 0


def _say(text: str) -> None:
    sys.stderr.write(f"phone: {text}\n")
    sys.stderr.flush()
