"""Webhook request signatures: HMAC-SHA256 over ``"<timestamp>.<body>"``.

A receiver recomputes the HMAC with the endpoint's secret over the timestamp header, a dot and
the raw request body, compares it in constant time with the ``v1=`` value, and refuses
timestamps too far from its clock (replay protection). ``docs/events.md`` has the snippet.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

HEADER_TIMESTAMP = "X-Vestnik-Timestamp"
HEADER_SIGNATURE = "X-Vestnik-Signature"
HEADER_EVENT_ID = "X-Vestnik-Event-Id"
HEADER_EVENT_TYPE = "X-Vestnik-Event"
HEADER_DELIVERY_ID = "X-Vestnik-Delivery-Id"
HEADER_ATTEMPT = "X-Vestnik-Attempt"
SIGNATURE_VERSION = "v1"
# A receiver should refuse older (or future) timestamps than this.
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``b"<timestamp>." + body`` keyed with ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        HEADER_TIMESTAMP: str(ts),
        HEADER_SIGNATURE: f"{SIGNATURE_VERSION}={signature(secret, ts, body)}",
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when ``headers`` carry a valid, fresh signature of ``body`` (receiver side).

    ``headers`` lookups are case-insensitive if the mapping is (Starlette's and httpx's are);
    the signature header may list several ``v1=`` values separated by commas (secret rotation).
    """
    ts_text = headers.get(HEADER_TIMESTAMP) or headers.get(HEADER_TIMESTAMP.lower())
    sig_text = headers.get(HEADER_SIGNATURE) or headers.get(HEADER_SIGNATURE.lower())
    if not ts_text or not sig_text or not ts_text.isdigit():
        return False
    ts = int(ts_text)
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    expected = signature(secret, ts, body)
    for part in sig_text.split(","):
        version, _, value = part.strip().partition("=")
        if version == SIGNATURE_VERSION and hmac.compare_digest(value, expected):
            return True
    return False
