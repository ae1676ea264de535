"""The dialer: the call-session queue's consumer. ``ports`` holds its contracts.

``Dialer`` is loaded on first use, so adapters that import only ``vestnik.dialer.ports``
(telephony, media) do not pull in the dialer and its storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vestnik.dialer.dialer import Dialer, default_dialer_id

__all__ = ["Dialer", "default_dialer_id"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from vestnik.dialer import dialer

        return getattr(dialer, name)
    raise AttributeError(f"module 'vestnik.dialer' has no attribute {name!r}")
