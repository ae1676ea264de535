"""``GET /metrics``: this process's metrics (:mod:`vestnik.metrics`), whether its database
answers (``vestnik_database_up``), and gauges counted from the database at scrape time.

The database gauges (sessions by state and finish reason, active calls, deliveries waiting or
parked) are left out while the database is unavailable (``vestnik_database_up`` is 0 then),
so a scrape never waits for a database that does not answer. ``docs/metrics.md`` lists every
metric.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vestnik.calls import CallState
from vestnik.metrics import process_metrics
from vestnik.store.db import Engine
from vestnik.store.gauges import WAITING_DELIVERY_STATES, read_gauges
from vestnik.store.health import DATABASE
from vestnik.threads import run_in_thread

log = logging.getLogger("vestnik.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_ACTIVE_CALL_STATES = (CallState.DIALING.value, CallState.RINGING.value, CallState.ANSWERED.value)


class _DatabaseUpCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "vestnik_database_up",
            "1 while this process's database work succeeds, 0 from a failure because the "
            "database was unavailable until it answers again.",
            value=1.0 if DATABASE.up else 0.0,
        )


_HEALTH = CollectorRegistry(auto_describe=True)
_HEALTH.register(_DatabaseUpCollector())


class DatabaseCollector(Collector):
    """Gauges counted from the database at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauges = read_gauges(self.engine)
        sessions = GaugeMetricFamily(
            "vestnik_call_sessions",
            "Call sessions by state and finish_reason ('' while not finished).",
            labels=["state", "finish_reason"],
        )
        active = 0
        for state, reason, count in gauges.sessions:
            sessions.add_metric([state, reason or ""], count)
            if state in _ACTIVE_CALL_STATES:
                active += count
        yield sessions
        yield GaugeMetricFamily(
            "vestnik_active_calls", "Sessions being dialled, ringing or answered now.", active
        )
        waiting = GaugeMetricFamily(
            "vestnik_webhook_deliveries_waiting",
            "Webhook deliveries not delivered: pending (to send or retry) and parked.",
            labels=["state"],
        )
        for state in WAITING_DELIVERY_STATES:
            waiting.add_metric([state], gauges.waiting_deliveries.get(state, (0, None))[0])
        yield waiting
        first = gauges.waiting_deliveries.get("pending", (0, None))[1]
        yield GaugeMetricFamily(
            "vestnik_webhook_oldest_pending_seconds",
            "Age of the oldest pending webhook delivery (0 when none).",
            0.0 if first is None else max(0.0, time.time() - first),
        )


def render_metrics(engine: Engine | None) -> bytes:
    """The exposition text: this process's metrics, ``vestnik_database_up``, and the database
    gauges (left out while the database is unavailable; each read is bounded by
    ``[database] timeout``)."""
    gauges = _database_gauges(engine) if engine is not None and DATABASE.up else b""
    return process_metrics() + generate_latest(_HEALTH) + gauges


def _database_gauges(engine: Engine) -> bytes:
    db_registry = CollectorRegistry(auto_describe=False)
    db_registry.register(DatabaseCollector(engine))
    started = time.monotonic()
    try:
        text = generate_latest(db_registry)
    except Exception as exc:
        if not DATABASE.failed("metrics", exc, started):
            log.exception("reading the database gauges failed")
        return b""
    DATABASE.ok("metrics", started)
    return text


def metrics_routes(engine: Engine | None) -> list[Route]:
    """``GET /metrics`` for the service's Starlette app (``extra_routes``)."""

    async def metrics_endpoint(_request: Request) -> Response:
        # The database count runs in a thread: a scrape never blocks the event loop.
        body = await run_in_thread(render_metrics, engine)
        return Response(body, media_type=CONTENT_TYPE)

    return [Route("/metrics", metrics_endpoint, methods=["GET"])]
