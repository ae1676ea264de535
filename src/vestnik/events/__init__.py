"""Call events: the outbox, notification payloads and webhook delivery."""

from vestnik.events.model import CALL_SOURCE, EventType, iso, notification_payload
from vestnik.events.outbox import record_event

__all__ = ["CALL_SOURCE", "EventType", "iso", "notification_payload", "record_event"]
