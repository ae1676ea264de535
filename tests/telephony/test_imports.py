"""The dependency rules of telephony, read from its code."""

from __future__ import annotations

from tests.support.imports import forbidden_imports

OTHER_MIDDLE_PACKAGES = ("vestnik.api", "vestnik.dialer", "vestnik.events", "vestnik.media")


def test_telephony_meets_the_others_only_in_calls() -> None:
    forbidden = (*OTHER_MIDDLE_PACKAGES, "vestnik.cli", "vestnik.service", "sqlalchemy")
    assert forbidden_imports("vestnik/telephony", forbidden) == {}


def test_rtp_needs_no_sip() -> None:
    """The pacer's child process imports ``telephony.rtp`` only: no sippy in it."""
    assert forbidden_imports("vestnik/telephony/rtp", ("sippy", "vestnik.telephony.sip")) == {}
