"""The sippy event loop, run in a thread of its own.

sippy's dispatcher ``ED2`` is a process-wide singleton and none of sippy's objects are
thread-safe: every UA, transaction manager and timer must be touched only on the loop's thread.
``SippyLoop`` starts that thread once per process and offers ``call`` (run a function there,
fire and forget) and ``call_sync`` (run it there and wait for the result). Results travel back
to asyncio with ``loop.call_soon_threadsafe`` (see ``SipEndpoint``/``SipCall``).

sippy prints exceptions raised inside cross-thread callbacks and carries on; callers must
therefore resolve whatever they wait for on every path (``call`` logs and swallows errors, and
``call_sync`` re-raises them in the caller).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, ClassVar

# Importing sippy's dispatcher creates ED2 (bound to the importing thread; _run re-binds it).
from sippy.Core.EventDispatcher import ED2

log = logging.getLogger(__name__)

# ED2 wakes this often to run timers and calls from other threads (its cross-thread wake-up
# signal goes to the thread that imported sippy, not to this one): 200 Hz keeps the added
# latency of every SIP event under 5 ms for about 1 % of a core when idle.
LOOP_HZ = 200.0


class SippyLoop:
    """The one thread that runs ``ED2.loop()``. Use ``SippyLoop.instance()``."""

    _instance: ClassVar[SippyLoop | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sippy-loop", daemon=True)
        self._thread.start()
        if not self._ready.wait(5.0):
            raise RuntimeError("sippy event loop did not start")

    @classmethod
    def instance(cls) -> SippyLoop:
        with cls._instance_lock:
            if cls._instance is None or not cls._instance._thread.is_alive():
                cls._instance = cls()
            return cls._instance

    def _run(self) -> None:
        # ED2 remembers the thread that created it and complains when timers are armed from
        # another one: this thread is the one that runs it from now on.
        ED2.my_ident = threading.get_ident()
        self._ready.set()
        while True:
            try:
                ED2.loop(freq=LOOP_HZ)
            except Exception:  # the loop must outlive any callback
                log.exception("sippy event loop raised; continuing")

    def in_loop(self) -> bool:
        return threading.get_ident() == self._thread.ident

    def call(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` on the sippy thread soon; errors are logged, not raised.

        Always queued, even from the sippy thread itself: sippy delivers a 200 OK to the UA
        before its transaction layer sends the ACK, so acting inside that callback (a BYE)
        would overtake the ACK.
        """
        ED2.callFromThread(_logged, func, *args)

    def call_sync(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` on the sippy thread and return its result (or raise its error)."""
        if self.in_loop():
            return func(*args)
        return ED2.callFromThreadSync(func, *args)


def _logged(func: Callable[..., Any], *args: Any) -> None:
    try:
        func(*args)
    except Exception:
        log.exception("error in sippy-thread callback %r", func)
