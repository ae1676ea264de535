"""The one way off the event loop: ``await run_in_thread(fn, *args)``.

Blocking work started from the event loop (database transactions of the API and the webhook
worker, password hashing, file decoding, TTS synthesis, binding sockets) runs in anyio's worker
threads: the pool Starlette uses too, at most 40 threads at once (anyio's default limiter), so
a burst waits for a thread instead of starting hundreds. A cancelled caller does not wait for
its thread (as with ``asyncio.to_thread``): the work runs to its end, bounded by its own
timeouts (``[database] timeout`` for the database).

The threads that are not from this pool, each for a reason, are listed in docs/architecture.md
("Threads and processes").
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ParamSpec, TypeVar

import anyio.to_thread

P = ParamSpec("P")
T = TypeVar("T")


async def run_in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker thread; its result or exception."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), abandon_on_cancel=True)


__all__ = ["run_in_thread"]
