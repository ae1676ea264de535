"""Listening to the callee: RTP in, DTMF replies, answering-machine detection, recordings."""
