"""``vestnik admin db …``: the database itself."""

from __future__ import annotations

import argparse

from vestnik.cli.admin.shared import object_actions
from vestnik.cli.common import SubParsers, command_parser, database, emit
from vestnik.store.db import masked_url, schema_revision


def register(objects: SubParsers) -> None:
    actions = object_actions(objects, "db", "the database itself")
    command_parser(
        actions, "migrate", help="bring the schema to the newest version", handler=db_migrate
    )


def db_migrate(args: argparse.Namespace) -> None:
    with database(args) as (config, engine):  # opening it migrates the schema
        revision = schema_revision(engine)
    url = masked_url(config.database_url)
    data = {"database": url, "revision": revision}
    emit(args, data, f"{url} is at schema revision {revision}")
