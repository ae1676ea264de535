"""Call events: the outbox, notification payloads and webhook delivery."""

from vestnik.events.model import (
    CALL_SOURCE,
    TEMPLATE_VARIABLES,
    EventType,
    iso,
    notification_payload,
    render_template,
)
from vestnik.events.outbox import record_event

__all__ = [
    "CALL_SOURCE",
    "TEMPLATE_VARIABLES",
    "EventType",
    "iso",
    "notification_payload",
    "record_event",
    "render_template",
]
