"""Listening to the callee: DTMF replies, answering-machine detection, recordings."""
