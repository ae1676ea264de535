"""``vestnik serve``: run the service (Call API, dialer, webhook workers) in one process, or in
N worker processes under a supervisor (``--workers``, ``[server] workers``)."""

from __future__ import annotations

import argparse
import sys

from vestnik.cli.common import (
    EXIT_USAGE,
    CliError,
    SubParsers,
    command_parser,
    load_cli_config,
    non_negative_int,
    port_number,
)
from vestnik.config import Config, ConfigError
from vestnik.config.workers import check_workers, worker_count
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
    p.add_argument(
        "--workers",
        type=non_negative_int,
        nargs="?",
        const=0,
        metavar="N",
        help="run N worker processes sharing the HTTP port, each with its own SIP port and RTP "
        "slice (PostgreSQL only); no N: one per core (default: [server] workers)",
    )


def serve(args: argparse.Namespace) -> int | None:
    from vestnik import service
    from vestnik.cli.admin.inprocess import run_admin

    config = load_cli_config(args)
    if args.host is not None:
        config.server.host = args.host
    if args.port is not None:
        config.server.port = args.port
    check_database_url(config.database_url)
    count = worker_count(config.server.workers if args.workers is None else args.workers)
    try:
        if count > 1:
            return _serve_workers(config, count)
        service.run(config, admin=run_admin)  # blocks until SIGTERM / SIGINT
    except service.ServiceError as exc:
        raise CliError(str(exc)) from None
    return None


def _serve_workers(config: Config, count: int) -> int:
    """``count`` worker processes under a supervisor; a count the configuration cannot carry
    (SQLite, too few ports) is refused with exit status 2."""
    try:
        check_workers(config, count)
    except ConfigError as exc:
        sys.stderr.write(f"vestnik: error: serve --workers {count}: {exc}\n")
        return EXIT_USAGE
    from vestnik.cli.workers import serve_workers

    return serve_workers(config, count)
