"""A session in the dialer's hand, and the set of them that the dialer's parts share."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum

from vestnik.calls.audio import Pcm
from vestnik.calls.ports import CallHandle
from vestnik.calls.session import CallSession


class Interrupt(StrEnum):
    """Why a session stopped waiting for its slot."""

    RELEASED = "released"  # release.call
    STOPPING = "stopping"  # dialer stopping: give the session back to the queue
    LEASE_LOST = "lease_lost"  # another dialer settled it: hands off


@dataclass(eq=False)
class Call:
    """A session in hand."""

    session: CallSession
    deadline: float  # loop time by which the call must have a slot
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)
    interrupt: Interrupt | None = None
    render: asyncio.Task[Pcm] | None = None
    handle: CallHandle | None = None
    dialing: bool = False  # the dialing transition is committed: never give it back
    cut: bool = False  # hung up by our own shutdown
    overrun: bool = False  # hung up for lasting longer than max_call_seconds
    finished: bool = False
    sip_call_id: str | None = None
    route: tuple[str, ...] = ()  # the trunks to try, in order (dialer.routing)
    writes: asyncio.Future[None] | None = None  # tail of the ordered progress writes
    task: asyncio.Task[None] | None = None

    @property
    def id(self) -> int:
        return self.session.id

    @property
    def account_id(self) -> int:
        return self.session.account_id

    def stop_waiting(self, why: Interrupt) -> None:
        if self.interrupt is None:
            self.interrupt = why
        self.interrupted.set()

    def hang_up(self, why: Interrupt) -> None:
        """Stop waiting for a slot, or end the call if it is placed."""
        self.stop_waiting(why)
        if self.handle is not None:
            self.handle.release()


@dataclass(eq=False)
class InHand:
    """The sessions a dialer holds (waiting for a slot or on a call), by id.

    ``wake`` makes the claim loop look again at once (a session ended, new work, stop).
    """

    calls: dict[int, Call] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: bool = False

    def live(self, session_id: int) -> Call | None:
        """The call of ``session_id`` if it is in hand and not finished yet."""
        call = self.calls.get(session_id)
        return None if call is None or call.finished else call
