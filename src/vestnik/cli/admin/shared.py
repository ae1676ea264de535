"""What the admin object modules share: parser helpers, the list command, input checks.

An input check raises :class:`CliError` (printed, exit 1) before any transaction opens, so a
refused command changes nothing.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable
from typing import Any

from vestnik.calls.numbers import with_sip_scheme
from vestnik.cli.common import CliError, SubParsers, emit, format_table, reading, with_iso_times
from vestnik.config import Config
from vestnik.store.accounts import resolve_account
from vestnik.store.admin_numbers import SIP_URI_LENGTH
from vestnik.store.db import Connection

# sip:user@host[:port][;params] — the user part is required: an employee is a person.
_SIP_USER = r"^sips?:[^@\s;]+@"
_SIP_TAIL = r"(:\d{1,5})?(;\S*)?$"
_SIP_URI = re.compile(
    f"{_SIP_USER}[A-Za-z0-9.\\-]+{_SIP_TAIL}"  # host name or IPv4 address
    f"|{_SIP_USER}\\[[0-9A-Fa-f:.]+\\]{_SIP_TAIL}"  # [IPv6 address]
)


def object_actions(
    objects: SubParsers, name: str, help: str, description: str | None = None
) -> SubParsers:
    """The ``vestnik admin NAME`` parser; returns where its actions are added."""
    parser = objects.add_parser(name, help=help, description=description or help)
    return parser.add_subparsers(dest="action", metavar="ACTION", required=True)


def account_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account", metavar="ACCOUNT", help="account id or name")


def already(was: bool) -> str:
    return " (it already was)" if was else ""


def list_for_account(
    args: argparse.Namespace,
    fetch: Callable[[Connection, int], Iterable[dict[str, Any]]],
    columns: list[str],
    time_columns: tuple[str, ...] = ("created_at",),
) -> None:
    """The ``list ACCOUNT`` commands: rows of one account, as a table or JSON."""
    with reading(args) as conn:
        account_id = resolve_account(conn, args.account)
        rows = [with_iso_times(r, time_columns) for r in fetch(conn, account_id)]
    emit(args, rows, lambda: format_table(rows, columns))


def delete_audio(config: Config, rows: Iterable[dict[str, Any]]) -> None:
    """Delete the audio files of removed media rows (after their transaction committed)."""
    from vestnik.media.audiofile import delete_media_files

    for row in rows:
        delete_media_files(config.data_path, row)


# --- input checks --------------------------------------------------------------------------


def e164_number(text: str) -> str:
    """A phone number in E.164 (``+`` optional) → its digits, as stored and as the API sends."""
    # Imported here: phonenumbers' geocoder data takes a noticeable part of a second to load.
    from vestnik.calls.numbers import MAX_EXTENSION_DIGITS, normalize_e164, valid_e164

    digits = normalize_e164(text.strip())
    # Shorter digit strings are internal extensions, not E.164 numbers.
    if digits is None or len(digits) <= MAX_EXTENSION_DIGITS:
        raise CliError(f"{text!r} is not a phone number in E.164 form (e.g. 74993720692)")
    if not valid_e164(digits):
        raise CliError(f"{text!r} is not a valid phone number")
    return digits


def text_value(text: str, limit: int | None, what: str) -> str:
    """Stripped ``text`` of at most ``limit`` characters: not empty, no control characters."""
    value = text.strip()
    if not value:
        raise CliError(f"{what} must not be empty")
    if any(ch < " " or ch == "\x7f" for ch in value):
        raise CliError(f"{what} must not contain control characters")
    if limit is not None and len(value) > limit:
        raise CliError(f"{what} is longer than {limit} characters")
    return value


def sip_uri(text: str) -> str:
    uri = with_sip_scheme(text.strip())
    if not _SIP_URI.match(uri):
        raise CliError(f"{text!r} is not a SIP URI of the form sip:user@host[:port]")
    return text_value(uri, SIP_URI_LENGTH, "SIP URI")
