"""The dialer: the call-session queue's consumer (its contracts are in ``vestnik.calls.ports``)."""

from vestnik.dialer.dialer import Dialer, default_dialer_id

__all__ = ["Dialer", "default_dialer_id"]
