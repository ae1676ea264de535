"""Serve the API alone (no dialer) on one database: for benchmarks and tests.

    python -m vestnik.api.devserver DATABASE_URL [--host 127.0.0.1] [--port 8080]

The service proper (``vestnik serve``) runs the API and the dialer together.
"""

from __future__ import annotations

import argparse
import gc

import uvicorn

from vestnik.api.app import create_app
from vestnik.api.server import uvicorn_config
from vestnik.config import load_config
from vestnik.store import create_db_engine, migrate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    config = load_config()
    engine = create_db_engine(args.database_url)
    migrate(engine)
    app = create_app(config, engine)
    # Everything loaded so far (libraries, phonenumbers' tables) lives for the whole process:
    # keep it out of the cyclic GC, whose full passes over it cost ~40 ms each.
    gc.collect()
    gc.freeze()
    options = {"host": args.host, "port": args.port, "log_level": args.log_level}
    server = uvicorn.Server(uvicorn_config(app, config, lifespan="off", **options))
    server.run()  # exits with status 3 when it cannot start (as uvicorn.run)


if __name__ == "__main__":
    main()
