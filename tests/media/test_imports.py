"""The dependency rules of media, read from its code."""

from __future__ import annotations

from tests.support.imports import forbidden_imports

OTHER_MIDDLE_PACKAGES = ("vestnik.api", "vestnik.dialer", "vestnik.events", "vestnik.telephony")


def test_media_meets_the_others_only_in_calls_and_store() -> None:
    forbidden = (*OTHER_MIDDLE_PACKAGES, "vestnik.cli", "vestnik.service", "sqlalchemy")
    assert forbidden_imports("vestnik/media", forbidden) == {}
