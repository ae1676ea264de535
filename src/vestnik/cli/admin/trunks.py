"""``vestnik admin trunk …``: the trunks as the running service last stored them."""

from __future__ import annotations

import argparse
from typing import Any

from vestnik.cli.admin.shared import object_actions
from vestnik.cli.common import (
    SubParsers,
    command_parser,
    database,
    emit,
    format_table,
    with_iso_times,
)
from vestnik.store.db import connection
from vestnik.store.trunks import stored_status

COLUMNS = ["name", "transport", "host", "port", "registered", "state", "last_error"]


def register(objects: SubParsers) -> None:
    actions = object_actions(objects, "trunk", "the SIP trunks: state, registration")
    command_parser(
        actions,
        "list",
        help="each trunk as the running service last stored it (state from its OPTIONS "
        "probes, registration, last error); trunks it never stored are 'unknown'",
        handler=trunk_list,
    )


def trunk_list(args: argparse.Namespace) -> None:
    with database(args) as (config, engine), connection(engine) as conn:
        stored = stored_status(conn)
    rows: list[dict[str, Any]] = []
    for trunk in config.trunk_list:
        row = stored.pop(trunk.name, None)
        if row is None:
            registered = False if trunk.register else None
            rows.append(_row(trunk.name, trunk.transport, trunk.host, trunk.sip_port,
                             registered, "unknown", None, None, None))  # fmt: skip
        else:
            rows.append(_stored(row))
    rows += [_stored(row) for row in stored.values()]  # stored, no longer configured here
    emit(args, rows, lambda: format_table(rows, [*COLUMNS, "dialer"]))


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    return _row(row["trunk"], row["transport"], row["host"], row["port"], row["registered"],
                row["state"], row["last_error"], row["dialer"], row["updated_at"])  # fmt: skip


def _row(
    name: str,
    transport: str,
    host: str,
    port: int,
    registered: bool | None,
    state: str,
    last_error: str | None,
    dialer: str | None,
    updated_at: float | None,
) -> dict[str, Any]:
    """One trunk: the issue's fields, then the dialer process that stored it and when (None:
    never; the JSON only, as ``updated_at`` and ``updated_at_iso``)."""
    return with_iso_times({
        "name": name, "transport": transport, "host": host, "port": port,
        "registered": registered, "state": state, "last_error": last_error, "dialer": dialer,
        "updated_at": updated_at,
    }, ("updated_at",))  # fmt: skip
