"""``vestnik serve``: run the service (Call API, dialer, webhook workers) in one process."""

from __future__ import annotations

import argparse

from vestnik.cli.common import CliError, SubParsers, command_parser, load_cli_config, port_number
from vestnik.config import Config


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


def serve(args: argparse.Namespace) -> int | None:
    config = load_cli_config(args)
    if args.host is not None:
        config.server.host = args.host
    if args.port is not None:
        config.server.port = args.port
    try:
        from vestnik import service
    except ModuleNotFoundError as exc:
        if exc.name != "vestnik.service":
            raise
        return _serve_api_only(config)
    service_error = getattr(service, "ServiceError", None)
    try:
        service.run(config)
    except Exception as exc:
        if service_error is not None and isinstance(exc, service_error):
            raise CliError(str(exc)) from None
        raise
    return None


def _serve_api_only(config: Config) -> None:
    """Before the composition root existed: the API alone on uvicorn (no dialer)."""
    import uvicorn

    from vestnik.api import create_app  # type: ignore[attr-defined]
    from vestnik.cli.common import open_engine

    engine = open_engine(config)
    try:
        app = create_app(config, engine)
        uvicorn.run(
            app, host=config.server.host, port=config.server.port, log_level=config.log_level
        )
    finally:
        engine.dispose()
