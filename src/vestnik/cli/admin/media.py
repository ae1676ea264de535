"""``vestnik admin media …`` (audio files) and ``… numbering-plan import`` (the registry)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vestnik.cli.admin.shared import (
    account_argument,
    already,
    delete_audio,
    list_for_account,
    object_actions,
)
from vestnik.cli.common import (
    CliError,
    SubParsers,
    command_parser,
    database,
    emit,
    format_fields,
    record_id,
    transaction,
    with_iso_times,
)
from vestnik.store import media as media_store
from vestnik.store.accounts import resolve_account
from vestnik.store.db import Connection
from vestnik.store.db import transaction as engine_transaction
from vestnik.store.numbering import NumberingPlanError, import_csv


def register(objects: SubParsers) -> None:
    _register_media(objects)
    _register_numbering_plan(objects)


def _register_media(objects: SubParsers) -> None:
    actions = object_actions(objects, "media", "audio files for message type 'media'")
    p = command_parser(
        actions, "add", help="upload an audio file (WAV, MP3, OGG, FLAC)", handler=media_add
    )
    account_argument(p)
    p.add_argument("file", metavar="FILE")
    p.add_argument("--name", metavar="NAME", help="display name (default: the file name)")
    p = command_parser(
        actions, "list", help="an account's audio files and the system ones", handler=media_list
    )
    account_argument(p)
    p.add_argument("--all", dest="include_removed", action="store_true", help="removed files too")
    p = command_parser(
        actions,
        "remove",
        help="remove a file of the account: new calls cannot use it, past sessions keep its id",
        handler=media_remove,
    )
    account_argument(p)
    p.add_argument("media_id", metavar="ID", type=record_id, help="media_file_id")


def _register_numbering_plan(objects: SubParsers) -> None:
    actions = object_actions(objects, "numbering-plan", "the national numbering-plan registry")
    p = command_parser(
        actions, "import", help="load ranges from a CSV file", handler=numbering_plan_import
    )
    p.add_argument("file", metavar="FILE")


def existing_file(name: str) -> Path:
    path = Path(name)
    if not path.is_file():
        raise CliError(f"{name}: no such file")
    return path


# --- media ---------------------------------------------------------------------------------


def media_add(args: argparse.Namespace) -> None:
    from vestnik.media.audiofile import MediaError, MediaLimits, import_media_file

    path = existing_file(args.file)
    with database(args) as (config, engine), engine_transaction(engine) as conn:
        account_id = resolve_account(conn, args.account)
        try:
            media_id = import_media_file(
                conn,
                account_id,
                path,
                args.name,
                config.data_path,
                limits=MediaLimits.from_config(config.media),
            )
        except MediaError as exc:
            raise CliError(f"{args.file}: {exc}") from None
        row = media_store.get_media_file(conn, media_id)
        data = {"media_file_id": media_id, **with_iso_times(row, ["created_at"])}
    del data["id"]
    emit(args, data, lambda: format_fields(data, skip=("created_at", "removed_at")))


def media_list(args: argparse.Namespace) -> None:
    def fetch(conn: Connection, account_id: int) -> list[dict[str, Any]]:
        rows = media_store.list_media_files(conn, account_id, include_removed=args.include_removed)
        return [{"media_file_id": r["id"], **r} for r in rows]

    columns = ["id", "type", "name", "format", "duration_ms", "original_filename"]
    if args.include_removed:
        columns.append("removed_at_iso")
    list_for_account(args, fetch, columns, ("created_at", "removed_at"))


def media_remove(args: argparse.Namespace) -> None:
    with database(args) as (config, engine):
        with engine_transaction(engine) as conn:
            account_id = resolve_account(conn, args.account)
            removal = media_store.remove_media_file(conn, account_id, args.media_id)
        # Sessions accepted before the removal still play the file: its audio stays for them.
        files_deleted = removal.unfinished_sessions == 0
        if files_deleted:
            delete_audio(config, [removal.file])
    row = removal.file
    data = {
        "media_file_id": row["id"],
        "account_id": account_id,
        "name": row["name"],
        **with_iso_times({"removed_at": row["removed_at"]}, ["removed_at"]),
        "was_removed": removal.was_removed,
        "unfinished_sessions": removal.unfinished_sessions,
        "files_deleted": files_deleted,
    }
    emit(args, data, lambda: _media_removed_text(data, args.account))


def _media_removed_text(data: dict[str, Any], account: str) -> str:
    head = (
        f"media file {data['media_file_id']} ({data['name']}) removed from account "
        f"{data['account_id']}{already(data['was_removed'])}"
    )
    if data["files_deleted"]:
        return f"{head}; its audio files are deleted"
    return (
        f"{head}; its audio files are kept for {data['unfinished_sessions']} queued or "
        "in-progress sessions that will still play it: run "
        f"'vestnik admin media remove {account} {data['media_file_id']}' again once they "
        "have finished to delete them"
    )


# --- the numbering plan --------------------------------------------------------------------


def numbering_plan_import(args: argparse.Namespace) -> None:
    path = existing_file(args.file)
    with transaction(args) as conn:
        try:
            count = import_csv(conn, path)
        except NumberingPlanError as exc:
            raise CliError(f"{args.file}: {exc}") from None
    emit(args, {"imported": count, "file": str(path)}, f"{count} ranges imported from {path}")
