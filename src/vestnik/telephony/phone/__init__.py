"""The test phone (``vestnik phone``, the demo's callee): ``TestPhone`` answers, records and
logs DTMF; ``PhoneSettings`` says how, ``PhoneCall`` is what it saw of one call.

``uas`` (the phone: a SIP UAS on its endpoint), ``call`` (one incoming call), ``media`` (its
RTP receiver) and ``records`` (settings and results).
"""

from vestnik.telephony.phone.records import Digit, HungUpBy, PhoneCall, PhoneMode, PhoneSettings
from vestnik.telephony.phone.uas import TestPhone

__all__ = ["Digit", "HungUpBy", "PhoneCall", "PhoneMode", "PhoneSettings", "TestPhone"]
