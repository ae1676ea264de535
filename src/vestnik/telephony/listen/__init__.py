"""Listening to the callee: ``receiver`` (the callee's RTP on the asyncio loop: 20 ms frames and
RFC 4733 key presses), ``dtmf`` (in-band DTMF on the decoded audio), ``collector`` (the rules of
a ``collect_dtmf`` reply), ``flow`` (what a listening call does between the answer and the
hang-up), ``amd`` (human or answering machine) and ``recorder`` (the call's two channels)."""
