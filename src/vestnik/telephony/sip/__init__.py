"""SIP on sippy: the sippy thread (``loop``), the bound socket (``endpoint``), our fixes to
sippy (``fixes``), addressing, one call's sippy side (``leg``) and asyncio side (``call``), and
the dialer's ``Telephony`` port (``adapter.SipTelephony``)."""
