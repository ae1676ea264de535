"""The rules of a ``collect_dtmf`` reply (no I/O: the call feeds it key presses and ends it).

Keys count from the answer on: during the DTMF string and the message (barge-in: the first key
stops the message) and for ``timeout`` seconds after the message ends. The reply is complete
once ``max_digits`` keys are in, or when ``finish_on`` is pressed (that key is not part of the
reply); otherwise the call ends ``timeout`` seconds after the message, with what was pressed
("" when nothing). The timer itself is the call's (``flow``); this class keeps the keys.
"""

from __future__ import annotations

from vestnik.calls.options import CollectDtmf


class DtmfCollector:
    def __init__(self, spec: CollectDtmf) -> None:
        self.spec = spec
        self.digits = ""
        self.pressed = False  # any key, ``finish_on`` included
        self.done = False
        self.ended_by: str | None = None  # "max_digits" | "finish_on" | "timeout"

    def press(self, key: str) -> bool:
        """Count one key press; True when the reply is complete (later keys are ignored)."""
        if self.done:
            return True
        self.pressed = True
        if self.spec.finish_on and key == self.spec.finish_on:
            self.done, self.ended_by = True, "finish_on"
        else:
            self.digits += key
            if len(self.digits) >= self.spec.max_digits:
                self.done, self.ended_by = True, "max_digits"
        return self.done

    def time_out(self) -> None:
        """``timeout`` seconds passed after the message: the reply is what was pressed."""
        if not self.done:
            self.done, self.ended_by = True, "timeout"

    @property
    def reply(self) -> str:
        return self.digits
