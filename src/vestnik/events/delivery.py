"""The webhook delivery worker: at least once, in order per session, signed, bounded.

State lives in the database only, so a restart (or ``kill -9``) loses nothing:

* **Fan-out and claim** (:mod:`vestnik.store.deliveries`). A delivery is due when it is
  ``pending``, its time has come, and no earlier event of the same session is still pending for
  the same endpoint (event N+1 of a session never overtakes event N). Claiming bumps
  ``attempts`` and pushes ``next_attempt_at`` past the time the delivery may wait for a slot
  plus its request timeout: that is the lease. A process that dies mid-request leaves the
  delivery to be claimed again when the lease runs out. Claims are batched (a few times the
  concurrency is claimed ahead), because each claim is a transaction.
* **Send.** HTTP POST (:mod:`vestnik.events.http`), the whole exchange bounded by
  ``timeout_seconds``, signed (see :mod:`vestnik.events.signing`), carrying the event id for
  de-duplication.
* **Record.** Outcomes are written in small batches, fenced on ``attempts`` so a stale
  worker cannot overwrite a newer attempt. 2xx = delivered; anything else is retried with
  exponential backoff and jitter until the retry horizon (counted from the first attempt, or
  the replay) would be passed, then the delivery is parked. ``created_at`` of a delivery row is
  reset to its first attempt for this reason.

Slow or dead endpoints cannot hold up others: each endpoint has at most
``per_endpoint_concurrency`` requests in flight per process, the process at most ``concurrency``,
and saturated endpoints are left out of the claim query.

A database that is unavailable makes the loops back off (``store.health.Backoff``: from the
poll interval, doubling, up to 5 s; one log line when it goes, one when it is back); outcomes
that could not be written are kept and written when it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from typing import Any

from vestnik import metrics
from vestnik.config import Config, WebhooksConfig
from vestnik.events.http import HttpError, PostClient
from vestnik.events.signing import (
    HEADER_ATTEMPT,
    HEADER_DELIVERY_ID,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    signature_headers,
)
from vestnik.events.templates import render_template
from vestnik.store.db import Engine, now, transaction
from vestnik.store.deliveries import (
    Attempt,
    Delivery,
    DeliveryState,
    claim_due,
    dispatch_pending,
    record_attempts,
)
from vestnik.store.health import Backoff, is_unavailable
from vestnik.threads import run_in_thread

log = logging.getLogger(__name__)

USER_AGENT = "vestnik-webhooks/1"
# The lease outlives the request timeout by this much (time to record the outcome).
LEASE_MARGIN_SECONDS = 5.0
# Outcomes are written when this many are waiting, or every poll interval.
RESULT_BATCH = 200
CLAIM_BATCH = 200
# Deliveries claimed ahead of free request slots, as a multiple of the concurrency limits.
PREFETCH_FACTOR = 4
# Only this much of a response body is read (then the connection is dropped).
MAX_RESPONSE_BYTES = 65_536
MAX_ERROR_TEXT = 500


@dataclass(frozen=True)
class Outcome:
    delivery: Delivery
    ok: bool
    status: int | None
    error: str | None
    at: float


def request_body(delivery: Delivery) -> tuple[bytes, str]:
    """The body and its content type: the payload as JSON, or the endpoint's template."""
    variables = {**delivery.payload, "event_id": delivery.event_id}
    if delivery.body_template is None:
        return json.dumps(variables, ensure_ascii=False).encode(), "application/json"
    text = render_template(delivery.body_template, variables)
    try:
        json.loads(text)
        content_type = "application/json"
    except ValueError:
        content_type = "text/plain; charset=utf-8"
    return text.encode(), content_type


def backoff_delay(attempt: int, cfg: WebhooksConfig, rng: random.Random | None = None) -> float:
    """Delay before attempt ``attempt + 1``: exponential, capped, with "equal jitter"."""
    doubling: int = 2 ** max(0, attempt - 1)  # a non-negative exponent: a whole number
    base = min(cfg.backoff_max_seconds, cfg.backoff_base_seconds * doubling)
    return base / 2 + (rng or random).uniform(0, base / 2)


def attempt_of(outcome: Outcome, cfg: WebhooksConfig, rng: random.Random | None = None) -> Attempt:
    """What an attempt leads to: delivered on 2xx; otherwise retried after a back-off, or
    parked once the retry would pass the horizon (counted from the first attempt)."""
    if outcome.ok:
        state, next_at, delivered_at = DeliveryState.DELIVERED, outcome.at, outcome.at
    else:
        next_at = outcome.at + backoff_delay(outcome.delivery.attempt, cfg, rng)
        delivered_at = None
        past_horizon = next_at > outcome.delivery.created_at + cfg.retry_horizon_seconds
        state = DeliveryState.PARKED if past_horizon else DeliveryState.PENDING
    return Attempt(
        delivery_id=outcome.delivery.id,
        attempt=outcome.delivery.attempt,
        state=state,
        next_attempt_at=next_at,
        status=outcome.status,
        error=outcome.error,
        delivered_at=delivered_at,
    )


def _report(outcome: Outcome, state: DeliveryState) -> None:
    """Metrics and, for a parked delivery, a warning: once its attempt is recorded."""
    if outcome.ok:
        lag = outcome.at - outcome.delivery.event_created_at
        metrics.observe_webhook_outcome("delivered", lag_seconds=lag)
    else:
        metrics.observe_webhook_outcome("parked" if state is DeliveryState.PARKED else "failed")
    if state is DeliveryState.PARKED:
        log.warning(
            "webhook delivery %s (event %s → %s) parked after %s attempts: %s",
            outcome.delivery.id,
            outcome.delivery.event_id,
            outcome.delivery.url,
            outcome.delivery.attempt,
            outcome.error,
        )


class WebhookWorker:
    """Dispatches call events and delivers them to webhooks until :meth:`stop`.

    ``await worker.run()`` in the service's event loop (the database work runs in threads, so
    the loop is never blocked by it); ``await worker.stop()`` waits for requests in flight
    (each bounded by the timeout) and records their outcomes.
    """

    def __init__(self, config: Config, engine: Engine) -> None:
        self.config = config
        self.cfg = config.webhooks
        self.engine = engine
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()  # claim: new deliveries may be due
        self._dispatch_wake = asyncio.Event()  # dispatch: new events were recorded
        self._slot_freed = asyncio.Event()
        # Claimed and not finished (queued for a slot or in flight), per endpoint and in all.
        self._claimed: dict[int, int] = defaultdict(int)
        self._claimed_total = 0
        self._sending = asyncio.Semaphore(self.cfg.concurrency)
        self._endpoint_slots: dict[int, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._outcomes: list[Outcome] = []
        self._outcomes_ready = asyncio.Event()
        self._running = False
        self._rng = random.Random()

    @property
    def claim_cap(self) -> int:
        return self.cfg.concurrency * PREFETCH_FACTOR

    @property
    def endpoint_claim_cap(self) -> int:
        return self.cfg.per_endpoint_concurrency * PREFETCH_FACTOR

    @property
    def lease_seconds(self) -> float:
        # A claimed delivery may wait for PREFETCH_FACTOR - 1 rounds of its endpoint's slots,
        # each at most one timeout, before its own request.
        return self.cfg.timeout_seconds * (PREFETCH_FACTOR + 1) + LEASE_MARGIN_SECONDS

    def notify(self) -> None:
        """New events were recorded: look for work now rather than at the next poll."""
        self._dispatch_wake.set()

    async def run(self) -> None:
        if self._running:
            raise RuntimeError("WebhookWorker is already running")
        self._running = True
        self._stopping.clear()
        client = PostClient(USER_AGENT, MAX_RESPONSE_BYTES)
        try:
            loops = [
                asyncio.create_task(self._dispatch_loop(), name="webhook-dispatch"),
                asyncio.create_task(self._claim_loop(client), name="webhook-claim"),
                asyncio.create_task(self._record_loop(), name="webhook-record"),
            ]
            try:
                await self._stopping.wait()
            finally:
                for task in loops[:2]:
                    task.cancel()
                await asyncio.gather(*loops[:2], return_exceptions=True)
                if self._tasks:
                    await asyncio.wait(self._tasks, timeout=self.cfg.timeout_seconds + 1)
                for task in list(self._tasks):
                    # Still queued for a slot: its lease runs out and it is claimed again.
                    task.cancel()
                loops[2].cancel()
                await asyncio.gather(loops[2], return_exceptions=True)
                await self._final_flush()
        finally:
            await client.aclose()
            self._running = False

    async def stop(self) -> None:
        self._stopping.set()
        while self._running:
            await asyncio.sleep(0.01)

    # -- loops ---------------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        backoff = Backoff("webhook dispatch", self.cfg.poll_interval_seconds)
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                handled = await run_in_thread(dispatch_pending, self.engine, now())
            except Exception as exc:
                await self._pause(backoff.failed(exc, started))
                continue
            backoff.ok(started)
            if handled:
                self._wake.set()  # new deliveries for the claim loop
                continue
            await self._sleep(self._dispatch_wake.wait())
            self._dispatch_wake.clear()

    async def _claim_loop(self, client: PostClient) -> None:
        # Claims are batched: each is a database transaction, so claiming one delivery per
        # freed slot would cap throughput at the transaction rate. An endpoint is refilled
        # when half its prefetch is free; the process when a quarter of its cap is.
        min_batch = max(1, min(CLAIM_BATCH, self.claim_cap // 4))
        backoff = Backoff("webhook claim", self.cfg.poll_interval_seconds)
        while not self._stopping.is_set():
            free_total = self.claim_cap - self._claimed_total
            if free_total < min_batch and self._claimed_total:
                self._slot_freed.clear()
                await self._sleep(self._slot_freed.wait())
                continue
            per_cap = self.endpoint_claim_cap
            free_slots = {
                hook: per_cap - n if per_cap - n >= max(1, per_cap // 2) else 0
                for hook, n in self._claimed.items()
            }
            limit = min(free_total, CLAIM_BATCH)
            self._wake.clear()
            self._slot_freed.clear()
            started = time.monotonic()
            try:
                claimed = await run_in_thread(self._claim, limit, free_slots)
            except Exception as exc:
                await self._pause(backoff.failed(exc, started))
                continue
            backoff.ok(started)
            for delivery in claimed:
                self._start(client, delivery)
            if len(claimed) < limit:
                # Nothing more claimable now: wait for new deliveries, an endpoint with room,
                # or the next poll (retries come due by the clock).
                await self._sleep(self._wait_any(self._wake, self._slot_freed))

    def _claim(self, limit: int, free_slots: dict[int, int]) -> list[Delivery]:
        with transaction(self.engine) as conn:
            return claim_due(
                conn, now(), limit, self.lease_seconds, free_slots, self.endpoint_claim_cap
            )

    def _start(self, client: PostClient, delivery: Delivery) -> None:
        self._claimed[delivery.webhook_id] += 1
        self._claimed_total += 1
        task = asyncio.create_task(self._deliver_in_slot(client, delivery))
        self._tasks.add(task)
        task.add_done_callback(partial(self._finished, delivery=delivery))

    def _finished(self, task: asyncio.Task[None], delivery: Delivery) -> None:
        self._tasks.discard(task)
        hook = delivery.webhook_id
        self._claimed[hook] -= 1
        left = self._claimed[hook]
        if not left:
            del self._claimed[hook]
            self._endpoint_slots.pop(hook, None)
        self._claimed_total -= 1
        per_cap = self.endpoint_claim_cap
        # Wake the claim loop only when a claim can take a worthwhile batch.
        if self.endpoint_claim_cap - left >= max(1, per_cap // 2) or (
            self.claim_cap - self._claimed_total >= max(1, self.claim_cap // 4)
        ):
            self._slot_freed.set()

    async def _deliver_in_slot(self, client: PostClient, delivery: Delivery) -> None:
        # Endpoint slot first, then a process slot: a saturated endpoint's queue never holds
        # process slots that other endpoints could use.
        slots = self._endpoint_slots.get(delivery.webhook_id)
        if slots is None:
            slots = asyncio.Semaphore(self.cfg.per_endpoint_concurrency)
            self._endpoint_slots[delivery.webhook_id] = slots
        async with slots, self._sending:
            await self._deliver(client, delivery)

    async def _deliver(self, client: PostClient, delivery: Delivery) -> None:
        status: int | None = None
        error: str | None = None
        try:
            body, content_type = request_body(delivery)
            headers = {
                "Content-Type": content_type,
                HEADER_EVENT_ID: str(delivery.event_id),
                HEADER_EVENT_TYPE: delivery.event_type,
                HEADER_DELIVERY_ID: str(delivery.id),
                HEADER_ATTEMPT: str(delivery.attempt),
                **signature_headers(delivery.secret, body),
            }
            async with asyncio.timeout(self.cfg.timeout_seconds):
                status = await client.post(delivery.url, body, headers)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except TimeoutError:
            error = f"timed out after {self.cfg.timeout_seconds:g} s"
        except HttpError as exc:
            error = str(exc)
        except Exception as exc:  # never lose the outcome: an unknown error is a failed attempt
            log.exception("webhook delivery %s failed unexpectedly", delivery.id)
            error = f"{type(exc).__name__}: {exc}"
        outcome = Outcome(
            delivery,
            ok=error is None,
            status=status,
            error=None if error is None else error[:MAX_ERROR_TEXT],
            at=now(),
        )
        self._outcomes.append(outcome)
        if len(self._outcomes) >= RESULT_BATCH:
            self._outcomes_ready.set()

    async def _record_loop(self) -> None:
        backoff = Backoff("webhook record", self.cfg.poll_interval_seconds)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.cfg.poll_interval_seconds):
                    await self._outcomes_ready.wait()
            self._outcomes_ready.clear()
            started = time.monotonic()
            try:
                wrote = await self._flush()
            except Exception as exc:
                await asyncio.sleep(backoff.failed(exc, started))
                continue
            if wrote:
                backoff.ok(started)

    async def _final_flush(self) -> None:
        """At stop: what cannot be written now is left to the leases (retried later)."""
        try:
            await self._flush()
        except Exception as exc:
            if not is_unavailable(exc):
                log.exception("recording %d webhook outcomes failed", len(self._outcomes))
            log.warning(
                "%d webhook outcomes not recorded; those deliveries are retried after their lease",
                len(self._outcomes),
            )

    async def _flush(self) -> bool:
        """Write the waiting outcomes (True if there were any); on failure they stay waiting
        and the error is raised."""
        if not self._outcomes:
            return False
        batch, self._outcomes = self._outcomes, []
        attempts = [attempt_of(outcome, self.cfg, self._rng) for outcome in batch]
        try:
            await run_in_thread(self._record, attempts)
        except BaseException:
            self._outcomes[:0] = batch
            raise
        for outcome, attempt in zip(batch, attempts, strict=True):
            _report(outcome, attempt.state)
        self._wake.set()  # later events of the same sessions may be due now
        return True

    def _record(self, attempts: list[Attempt]) -> None:
        with transaction(self.engine) as conn:
            record_attempts(conn, attempts)

    # -- helpers -------------------------------------------------------------------------

    async def _sleep(self, waiter: Any) -> None:
        """Await ``waiter`` but no longer than one poll interval (or until stop)."""
        task = asyncio.ensure_future(waiter)
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait(
                {task, stop},
                timeout=self.cfg.poll_interval_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for t in (task, stop):
                if not t.done():
                    t.cancel()

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` (back-off), or until stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    @staticmethod
    async def _wait_any(*events: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
