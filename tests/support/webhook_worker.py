"""Run a WebhookWorker in its own process, for the kill -9 test: ``webhook_worker.py URL``."""

from __future__ import annotations

import asyncio
import sys

from vestnik.config import Config
from vestnik.events.delivery import WebhookWorker
from vestnik.store import create_db_engine


async def main(url: str) -> None:
    config = Config()
    config.webhooks.timeout_seconds = 1.0
    config.webhooks.backoff_base_seconds = 0.05
    config.webhooks.backoff_max_seconds = 0.2
    config.webhooks.poll_interval_seconds = 0.02
    engine = create_db_engine(url)
    worker = WebhookWorker(config, engine)
    print("ready", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
