"""When a session's next attempt may start: the retry rule, with the calling window.

Pure functions of the stored options and a time (UNIX seconds). The store calls them in the
transaction that ends an attempt (``store.attempts``) and in the claim (a session whose window
is closed now waits for its opening). The window's own rules (open at an instant, its next
opening, DST) are ``calls.window``'s.
"""

from __future__ import annotations

from vestnik.calls.model import FinishReason
from vestnik.calls.options import CallingWindow, CallOptions
from vestnik.calls.window import next_opening


def window_opening(window: CallingWindow | None, at: float) -> float:
    """``at`` when the window is open then (or there is none), else its next opening, read in
    the zone resolved for the session (``calls.window``: else Europe/Moscow)."""
    return at if window is None else next_opening(window, at)


def next_attempt_at(
    options: CallOptions | None,
    reason: FinishReason,
    attempts_made: int,
    end: float,
    *,
    released: bool = False,
) -> float | None:
    """When the next attempt of a session starts, or None: the session ends now.

    Retried only when the session runs with a ``retry`` whose ``on`` lists ``reason``, fewer
    than ``attempts`` attempts were made, and no ``release.call`` asked to end it. The next
    INVITE is ``interval`` seconds after the end of this attempt, moved to the next opening of
    the calling window when the window is closed then.
    """
    if options is None or options.retry is None or released:
        return None
    retry = options.retry
    if reason not in retry.on or attempts_made >= retry.attempts:
        return None
    return window_opening(options.calling_window, end + retry.interval)
