"""Media on the wire: RTP and RFC 4733 packets, G.711, SDP, DTMF tones, the RTP port range and
the pacer that sends it all. No SIP here: the pacer's child process imports this package."""
