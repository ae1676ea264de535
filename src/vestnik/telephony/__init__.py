"""The telephony adapter: SIP trunk client (sippy) + RTP pacer, implementing the dialer's
``Telephony`` port. ``from vestnik.telephony import SipTelephony``.

Imported lazily: loading sippy creates its process-wide event dispatcher, and modules such as
``vestnik.telephony.phone`` should not pay for that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vestnik.telephony.sip_telephony import SipCall, SipTelephony, TelephonyError

__all__ = ["SipCall", "SipTelephony", "TelephonyError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from vestnik.telephony import sip_telephony

        return getattr(sip_telephony, name)
    raise AttributeError(f"module 'vestnik.telephony' has no attribute {name!r}")
