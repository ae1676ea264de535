"""What the telephony knows of each trunk at run time: is it up, is it registered.

``TrunkStates`` is fed by the OPTIONS probes (up / down) and the registration agent
(registered or not) and read by the call routing: a trunk that is down, or that must be
registered and is not, is skipped (docs/telephony.md, "Trunks"). A trunk never probed is
``unknown`` and is used. All methods run on the asyncio loop thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from vestnik.config import TrunkConfig


class TrunkState(StrEnum):
    UNKNOWN = "unknown"  # not probed yet, or probes off
    UP = "up"  # answered its last OPTIONS (any SIP response)
    DOWN = "down"  # its last OPTIONS went unanswered


@dataclass
class TrunkStatus:
    config: TrunkConfig
    state: TrunkState = TrunkState.UNKNOWN
    registered: bool | None = None  # None: the trunk does not register
    last_error: str | None = None

    @property
    def usable(self) -> bool:
        if self.state is TrunkState.DOWN:
            return False
        return not self.config.register or bool(self.registered)


class TrunkStates:
    """Every configured trunk's status, by name, in configuration order."""

    def __init__(self, trunks: Sequence[TrunkConfig]) -> None:
        self.by_name: dict[str, TrunkStatus] = {
            t.name: TrunkStatus(t, registered=False if t.register else None) for t in trunks
        }
        # Called with the status after every change (to store it, to export metrics).
        self.listeners: list[Callable[[TrunkStatus], None]] = []

    def __iter__(self) -> Iterator[TrunkStatus]:
        return iter(self.by_name.values())

    def usable(self, name: str) -> bool:
        status = self.by_name.get(name)
        return status is not None and status.usable

    def set_state(self, name: str, state: TrunkState, error: str | None = None) -> None:
        status = self.by_name[name]
        changed = status.state is not state or (error is not None and error != status.last_error)
        status.state = state
        if error is not None:
            status.last_error = error
        if changed:
            self._changed(status)

    def set_registered(self, name: str, registered: bool, error: str | None = None) -> None:
        status = self.by_name[name]
        changed = status.registered is not registered or (
            error is not None and error != status.last_error
        )
        if registered and not status.registered:
            status.last_error = None  # the failure it described is over
        status.registered = registered
        if error is not None:
            status.last_error = error
        if changed:
            self._changed(status)

    def _changed(self, status: TrunkStatus) -> None:
        for listener in list(self.listeners):
            listener(status)
