"""Webhooks: endpoints, fan-out of recorded call events, and signed, retried delivery.

Events themselves (types, payload) are in ``vestnik.calls.events``; the outbox that records them
with each state change is ``vestnik.store.outbox``.
"""
