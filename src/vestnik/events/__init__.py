"""Webhooks: signed, retried delivery of recorded call events, and endpoint administration.

Events themselves (types, payload) are in ``vestnik.calls.events``; the outbox that records them
with each state change is ``vestnik.store.outbox``; endpoints, fan-out and deliveries are
stored by ``vestnik.store.webhooks`` and ``vestnik.store.deliveries``.
"""
