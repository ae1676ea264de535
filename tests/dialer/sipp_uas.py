"""SIPp as the trunk: a UAS scenario on loopback whose received INVITEs we can count."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tests.support.peers import (
    LOOPBACK,
    PeerProcess,
    _Peer,
    _udp_free,
    free_port,
    require_binary,
    wait_until,
)

SCENARIOS = Path(__file__).parent / "scenarios"
_BLOCK = re.compile(r"^-{20,}.*$", re.MULTILINE)
_CALL_ID = re.compile(r"^(?:Call-ID|i)\s*:\s*(\S+)", re.MULTILINE | re.IGNORECASE)
_RURI_USER = re.compile(r"^INVITE sip:([^@;>\s]+)@")


class SippUas(_Peer):
    """``sipp -sf <scenario>`` listening on a free loopback port, messages traced to a file."""

    name = "sipp"

    def __init__(self, workdir: Path, scenario: str = "uas_answer.xml") -> None:
        super().__init__(workdir)
        self.binary = require_binary("sipp", "sip-tester")
        self.scenario = SCENARIOS / scenario
        self.port = free_port()
        self.media_port = free_port(tcp_too=False)
        self.trace = workdir / "sipp-messages.log"

    def start(self) -> None:
        self.process = PeerProcess(
            "sipp",
            [
                self.binary, "-sf", str(self.scenario), "-i", LOOPBACK, "-p", str(self.port),
                "-mi", LOOPBACK, "-mp", str(self.media_port), "-nostdin", "-trace_msg",
                "-message_file", str(self.trace), "-max_socket", "2000",
            ],
            self.workdir,
        )  # fmt: skip
        wait_until(lambda: not _udp_free(self.port), 10, "SIPp to listen")

    def invites(self) -> Counter[tuple[str, str]]:
        """(Request-URI user, Call-ID) → how many INVITEs SIPp received (retransmits count)."""
        if not self.trace.exists():
            return Counter()
        seen: Counter[tuple[str, str]] = Counter()
        for block in _BLOCK.split(self.trace.read_text(errors="replace")):
            if "message received" not in block:
                continue
            message = block.split("bytes :", 1)[-1].lstrip()
            user = _RURI_USER.match(message)
            call_id = _CALL_ID.search(message)
            if user and call_id:
                seen[(user.group(1), call_id.group(1))] += 1
        return seen

    def calls_by_contact(self) -> Counter[str]:
        """Request-URI user → distinct calls (Call-IDs) SIPp was offered."""
        return Counter(user for user, _ in self.invites())
