"""Telephony: SIP (``sip``: the trunk client on sippy, ``sip.adapter.SipTelephony`` implements
the dialer's ``Telephony`` port), RTP (``rtp``: packets, G.711, SDP, DTMF, ports, the pacer)
and the test phone (``phone``). It meets the other packages only in ``vestnik.calls``."""
