"""Spoken replies: offline recognition of what a callee says (``collect_speech``)."""
