"""What a delivery attempt leads to: delivered, retried after a back-off, or parked."""

from __future__ import annotations

import random

import pytest

from vestnik.config import WebhooksConfig
from vestnik.events.delivery import Outcome, attempt_of, backoff_delay
from vestnik.store.deliveries import Delivery, DeliveryState

CFG = WebhooksConfig(backoff_base_seconds=1.0, backoff_max_seconds=8.0, retry_horizon_seconds=60)
FIRST_ATTEMPT_AT = 1000.0


def _outcome(attempt: int, at: float, ok: bool) -> Outcome:
    delivery = Delivery(
        id=5, event_id=9, webhook_id=2, attempt=attempt, created_at=FIRST_ATTEMPT_AT,
        event_created_at=FIRST_ATTEMPT_AT - 1, event_type="call_finished", payload={},
        url="http://127.0.0.1:9/hook", secret="s" * 16, body_template=None,
    )  # fmt: skip
    status, error = (200, None) if ok else (503, "HTTP 503")
    return Outcome(delivery, ok=ok, status=status, error=error, at=at)


def test_a_2xx_is_delivered_at_once() -> None:
    attempt = attempt_of(_outcome(3, 1010.0, ok=True), CFG)
    assert (attempt.delivery_id, attempt.attempt, attempt.state) == (5, 3, DeliveryState.DELIVERED)
    assert attempt.delivered_at == attempt.next_attempt_at == 1010.0
    assert attempt.status == 200 and attempt.error is None


@pytest.mark.parametrize("attempt", [1, 2, 3, 6])
def test_a_failure_is_retried_after_a_jittered_capped_backoff(attempt: int) -> None:
    result = attempt_of(_outcome(attempt, 1010.0, ok=False), CFG, random.Random(attempt))
    base = min(8.0, 2.0 ** (attempt - 1))
    assert result.state is DeliveryState.PENDING and result.delivered_at is None
    assert 1010.0 + base / 2 <= result.next_attempt_at <= 1010.0 + base
    expected = backoff_delay(attempt, CFG, random.Random(attempt))  # the same draw
    assert result.next_attempt_at == pytest.approx(1010.0 + expected)
    assert (result.status, result.error) == (503, "HTTP 503")


def test_a_failure_whose_retry_would_pass_the_horizon_is_parked() -> None:
    near_the_end = FIRST_ATTEMPT_AT + 60 - 0.1
    assert attempt_of(_outcome(9, near_the_end, ok=False), CFG).state is DeliveryState.PARKED
    assert attempt_of(_outcome(9, FIRST_ATTEMPT_AT + 10, ok=False), CFG).state is (
        DeliveryState.PENDING
    )
