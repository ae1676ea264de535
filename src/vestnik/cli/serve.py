"""``vestnik serve``: run the service (Call API, dialer, webhook workers) in one process."""

from __future__ import annotations

import argparse

from vestnik.cli.common import CliError, SubParsers, command_parser, load_cli_config, port_number
from vestnik.store.db import check_database_url


def register(commands: SubParsers) -> None:
    p = command_parser(
        commands,
        "serve",
        help="run the service: the Call API, the dialer and the webhook workers",
        handler=serve,
        json_output=False,
    )
    p.add_argument("--host", metavar="HOST", help="listen address (default: [server] host)")
    p.add_argument(
        "--port", type=port_number, metavar="PORT", help="listen port (default: [server] port)"
    )


def serve(args: argparse.Namespace) -> None:
    from vestnik import service

    config = load_cli_config(args)
    if args.host is not None:
        config.server.host = args.host
    if args.port is not None:
        config.server.port = args.port
    check_database_url(config.database_url)
    try:
        service.run(config)  # blocks until SIGTERM / SIGINT
    except service.ServiceError as exc:
        raise CliError(str(exc)) from None
