"""``vestnik admin account set``'s call-policy options, and how ``account show`` shows it.

The policy (``accounts.call_policy``) holds vestnik's options for the account's sessions whose
request sends none of ``retry``, ``calling_window``, ``detect_machine``, ``record``. Each
option changes one part of the stored policy and leaves the others; the result is checked by
the same rules as a request's parameters (:func:`vestnik.calls.policy.read_options`), so the
reasons are the API's words:

* ``--retry-attempts N`` (1-10; ``0`` removes the retry), ``--retry-interval S`` (10-86400),
  ``--retry-on R1,R2`` (a new retry needs both the attempts and the interval);
* ``--calling-window HH:MM-HH:MM`` (``''`` removes the window), ``--calling-timezone
  contact|Area/City`` (default ``contact``);
* ``--detect-machine on|off``, ``--record on|off``;
* ``--clear-policy``: no policy at all (not together with the options above).
"""

from __future__ import annotations

import argparse
from typing import Any

from vestnik.calls.options import CallOptions
from vestnik.calls.policy import OptionError, read_options
from vestnik.cli.common import CliError, on_off
from vestnik.store import accounts as store
from vestnik.store.db import Connection

# The policy's fields and the options that set them (an error names the option).
OPTION_OF = {
    "retry": "--retry-attempts",
    "retry.attempts": "--retry-attempts",
    "retry.interval": "--retry-interval",
    "retry.on": "--retry-on",
    "calling_window": "--calling-window",
    "calling_window.from": "--calling-window",
    "calling_window.till": "--calling-window",
    "calling_window.timezone": "--calling-timezone",
    "detect_machine": "--detect-machine",
    "record": "--record",
}
_DESTS = (
    "retry_attempts", "retry_interval", "retry_on", "calling_window", "calling_timezone",
    "detect_machine", "record",
)  # fmt: skip


def clear_hint(account: str) -> str:
    """The documented way to clear an account's policy."""
    return f"vestnik admin account set {account} --clear-policy"


def whole_number(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "call policy",
        "vestnik's options for sessions whose request sends none of retry, calling_window, "
        "detect_machine, record (a request that sends any of them replaces the whole policy)",
    )
    group.add_argument(
        "--retry-attempts",
        type=whole_number,
        metavar="N",
        help="attempts in all, the first included (1-10; 0 removes the retry)",
    )
    group.add_argument(
        "--retry-interval",
        type=whole_number,
        metavar="S",
        help="seconds from a failed attempt's end to the next (10-86400)",
    )
    group.add_argument(
        "--retry-on",
        metavar="R1,R2",
        help="the finish reasons retried (default: subscriber_busy, "
        "subscriber_not_responsible, no_success_subscriber_call)",
    )
    group.add_argument(
        "--calling-window",
        metavar="HH:MM-HH:MM",
        help="when calls may be placed, till exclusive ('' removes the window)",
    )
    group.add_argument(
        "--calling-timezone",
        metavar="contact|Area/City",
        help="the window's zone: the contact's (default) or an IANA name",
    )
    group.add_argument(
        "--detect-machine",
        type=on_off,
        metavar="on|off",
        help="tell a human from an answering machine",
    )
    group.add_argument("--record", type=on_off, metavar="on|off", help="record the calls")
    group.add_argument(
        "--clear-policy",
        action="store_true",
        help="remove the whole policy (sessions run as the request says)",
    )


def policy_requested(args: argparse.Namespace) -> bool:
    return bool(args.clear_policy) or any(getattr(args, d) is not None for d in _DESTS)


def _merged(current: CallOptions | None, args: argparse.Namespace) -> dict[str, Any]:
    """The stored policy in the request's form, with the options' changes applied."""
    data: dict[str, Any] = current.to_json() if current is not None else {}
    data.pop("source", None)
    data.get("calling_window", {}).pop("zone", None)
    if args.retry_attempts == 0:
        if args.retry_interval is not None or args.retry_on is not None:
            raise CliError("--retry-attempts 0 removes the retry: give no other --retry-*")
        data.pop("retry", None)
    elif any(v is not None for v in (args.retry_attempts, args.retry_interval, args.retry_on)):
        retry = data.setdefault("retry", {})
        for key, value in (("attempts", args.retry_attempts), ("interval", args.retry_interval)):
            if value is not None:
                retry[key] = value
        if args.retry_on is not None:
            retry["on"] = [item.strip() for item in args.retry_on.split(",") if item.strip()]
    if args.calling_window is not None:
        _window(data, args.calling_window)
    if args.calling_timezone is not None:
        if "calling_window" not in data:
            raise CliError("--calling-timezone needs a window: give --calling-window HH:MM-HH:MM")
        data["calling_window"]["timezone"] = args.calling_timezone.strip()
    for key in ("detect_machine", "record"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    return data


def _window(data: dict[str, Any], text: str) -> None:
    if not text.strip():
        data.pop("calling_window", None)
        return
    start, dash, till = text.strip().partition("-")
    if not dash:
        raise CliError(f"--calling-window {text!r}: expected HH:MM-HH:MM, e.g. 09:00-21:00")
    window = data.setdefault("calling_window", {})
    window.update({"from": start.strip(), "till": till.strip()})


def policy_change(conn: Connection, account_id: int, args: argparse.Namespace) -> None:
    """Apply the policy options of ``account set`` (checked before anything is written)."""
    if args.clear_policy:
        if any(getattr(args, d) is not None for d in _DESTS):
            raise CliError("--clear-policy removes the whole policy: give no other policy option")
        store.set_call_policy(conn, account_id, None)
        return
    merged = _merged(store.get_call_policy(conn, account_id), args)
    try:
        policy = read_options(merged, source="account")
    except OptionError as exc:
        option = OPTION_OF.get(exc.field, exc.field)
        raise CliError(f"{option}: {exc.field} {exc.reason} (sent: {exc.value!r})") from None
    store.set_call_policy(conn, account_id, policy)


def shown_policy(account: dict[str, Any]) -> dict[str, Any]:
    """``call_policy`` as ``account show`` gives it (None: no policy), and how to clear it."""
    policy = account.get("call_policy")
    if policy:
        policy = {k: v for k, v in policy.items() if k != "source"}
    return {"call_policy": policy or None, "call_policy_clear": clear_hint(str(account["name"]))}


def policy_text(policy: dict[str, Any] | None) -> str:
    """One line for the text output: ``retry 3 × 600 s on subscriber_busy; window …``."""
    if not policy:
        return "none (sessions run as their request says)"
    parts = []
    retry = policy.get("retry")
    if retry:
        on = ",".join(retry["on"])
        parts.append(f"retry {retry['attempts']} attempts, {retry['interval']} s apart, on {on}")
    window = policy.get("calling_window")
    if window:
        parts.append(f"calling window {window['from']}-{window['till']} ({window['timezone']})")
    for key in ("detect_machine", "record"):
        if policy.get(key):
            parts.append(key.replace("_", " "))
    return "; ".join(parts)
