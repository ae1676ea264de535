from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.rtp_receiver import RtpReceiver


@pytest.fixture
def receiver() -> Iterator[RtpReceiver]:
    r = RtpReceiver()
    yield r
    r.close()
