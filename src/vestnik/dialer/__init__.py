"""The dialer: the call-session queue's consumer. ``ports`` holds its contracts."""

from vestnik.dialer.dialer import Dialer, default_dialer_id

__all__ = ["Dialer", "default_dialer_id"]
