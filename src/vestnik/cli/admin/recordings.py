"""A session's recordings (``record: true``) on the command line: the ``recording`` list of
``vestnik admin session show`` and ``vestnik admin session recording ID --output FILE``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vestnik.cli.common import (
    CliError,
    SubParsers,
    command_parser,
    emit,
    load_cli_config,
    positive_int,
    reading,
    record_id,
)
from vestnik.store import sessions as store
from vestnik.store.db import Connection
from vestnik.store.recordings import find_recording, recording_url, session_recordings


def register(actions: SubParsers) -> None:
    p = command_parser(
        actions,
        "recording",
        help="write a session's recording (WAV: channel 1 the callee, 2 ours) to a file",
        handler=session_recording,
    )
    p.add_argument("session_id", metavar="ID", type=record_id)
    p.add_argument(
        "--attempt", type=positive_int, metavar="N", help="the recording of attempt N "
        "(default: the last recording)",
    )  # fmt: skip
    p.add_argument(
        "--output", "-o", required=True, metavar="FILE", help="where to write it ('-': stdout)"
    )


def recording_list(conn: Connection, args: argparse.Namespace, session_id: int) -> list[Any]:
    """``session show``'s ``recording``: each recording's id, attempt, duration, size and
    download URL (``[server] public_url`` + path; the path alone when that is unset)."""
    rows = session_recordings(conn, session_id)
    if not rows:
        return []
    public_url = load_cli_config(args).server.public_url
    return [
        {
            "id": r["id"],
            "attempt": r["attempt"],
            "duration_ms": r["duration_ms"],
            "size": r["size"],
            "url": recording_url(public_url, session_id, r["id"]),
        }
        for r in rows
    ]


def recording_text(listed: list[dict[str, Any]]) -> str:
    """``session show``'s text for :func:`recording_list`: one line per recording."""
    return "; ".join(
        f"{r['id']} (attempt {r['attempt']}, {r['duration_ms'] / 1000:.1f} s, {r['size']} bytes) "
        f"{r['url']}"
        for r in listed
    )


def session_recording(args: argparse.Namespace) -> None:
    with reading(args) as conn:
        found = find_recording(conn, args.session_id, attempt=args.attempt)
        exists = found is not None or store.get_session(conn, args.session_id) is not None
    if not exists:
        raise CliError(f"call session {args.session_id} not found")
    if found is None:
        which = f" of attempt {args.attempt}" if args.attempt else ""
        raise CliError(f"call session {args.session_id} has no recording{which}")
    wav = bytes(found["wav"])
    if args.output == "-":
        sys.stdout.buffer.write(wav)
        sys.stdout.buffer.flush()
        return
    try:
        Path(args.output).write_bytes(wav)
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    data = {
        "call_session_id": args.session_id,
        "recording_id": found["id"],
        "attempt": found["attempt"],
        "duration_ms": found["duration_ms"],
        "size": len(wav),
        "output": args.output,
    }
    text = (
        f"recording {found['id']} of call session {args.session_id} (attempt "
        f"{found['attempt']}, {found['duration_ms'] / 1000:.1f} s) written to {args.output} "
        f"({len(wav)} bytes)"
    )
    emit(args, data, text)
