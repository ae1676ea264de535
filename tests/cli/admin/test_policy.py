"""``vestnik admin account set``'s call policy through the real CLI, on SQLite and PostgreSQL:
set part by part, shown by ``account show``, refused with the API's reasons, cleared."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.support.admin_cli import assert_refused, make_account, rows
from tests.support.cli import CliRunner
from vestnik.calls.policy import RETRY_ON, WHOLE_SECONDS_FROM_TO, retryable_names
from vestnik.store.schema import accounts


def _policy(db: Engine) -> object:
    return rows(db, accounts)[0]["call_policy"]


def test_policy_set_shown_and_cleared(cli: CliRunner, db: Engine) -> None:
    make_account(cli)
    shown = cli("admin", "account", "show", "acme", "--json").json
    assert shown["call_policy"] is None
    assert shown["call_policy_clear"] == "vestnik admin account set acme --clear-policy"
    run = cli(
        "admin", "account", "set", "acme", "--json", "--retry-attempts", "3",
        "--retry-interval", "600", "--retry-on", "subscriber_busy, timeout",
        "--calling-window", "09:00-21:00", "--detect-machine", "on",
    )  # fmt: skip
    assert run.status == 0, run.err
    expected = {
        "retry": {"attempts": 3, "interval": 600, "on": ["subscriber_busy", "timeout"]},
        "calling_window": {"from": "09:00", "till": "21:00", "timezone": "contact"},
        "detect_machine": True,
    }
    assert run.json["call_policy"] == expected
    assert _policy(db) == {"source": "account", **expected}
    # One part at a time; the others stay.
    run = cli("admin", "account", "set", "acme", "--json", "--retry-interval", "60",
              "--calling-timezone", "Asia/Novosibirsk", "--record", "on")  # fmt: skip
    assert run.status == 0, run.err
    policy = run.json["call_policy"]
    assert policy["retry"] == {"attempts": 3, "interval": 60, "on": ["subscriber_busy", "timeout"]}
    assert policy["calling_window"]["timezone"] == "Asia/Novosibirsk"
    assert policy["record"] is True and policy["detect_machine"] is True
    shown = cli("admin", "account", "show", "acme", "--json").json
    assert shown["call_policy"] == policy
    text = cli("admin", "account", "show", "acme").out
    assert "call_policy" in text and "Asia/Novosibirsk" in text and "--clear-policy" in text
    # Remove parts: the retry, the window, the switches.
    run = cli("admin", "account", "set", "acme", "--json", "--retry-attempts", "0",
              "--calling-window", "", "--detect-machine", "off")  # fmt: skip
    assert run.status == 0, run.err
    assert run.json["call_policy"] == {"record": True}
    run = cli("admin", "account", "set", "acme", "--json", "--clear-policy")
    assert run.status == 0 and run.json["call_policy"] is None
    assert _policy(db) is None
    # Switching the last part off leaves no policy either.
    assert cli("admin", "account", "set", "acme", "--record", "on").status == 0
    assert cli("admin", "account", "set", "acme", "--record", "off").status == 0
    assert _policy(db) is None


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["--retry-attempts", "11"], ["--retry-attempts", "retry.attempts",
                                     "must be a whole number from 1 to 10"]),
        (["--retry-attempts", "3", "--retry-interval", "5"],
         ["--retry-interval", "retry.interval", WHOLE_SECONDS_FROM_TO.format(10, 86400)]),
        (["--retry-attempts", "3"], ["--retry-interval", "retry.interval is required"]),
        (["--retry-interval", "60"], ["--retry-attempts", "retry.attempts is required"]),
        (["--retry-attempts", "3", "--retry-interval", "60", "--retry-on", "success_finish"],
         ["--retry-on", RETRY_ON.format(retryable_names())]),
        (["--retry-attempts", "0", "--retry-on", "timeout"], ["removes the retry"]),
        (["--calling-window", "09:00"], ["expected HH:MM-HH:MM"]),
        (["--calling-window", "9-21"], ["--calling-window", "calling_window.from",
                                        "HH:MM, 00:00 to 23:59"]),
        (["--calling-window", "10:00-10:00"], ["calling_window.till", "must differ"]),
        (["--calling-window", "09:00-21:00", "--calling-timezone", "Mars/Olympus"],
         ["--calling-timezone", "IANA time zone"]),
        (["--calling-timezone", "contact"], ["needs a window"]),
        (["--clear-policy", "--record", "on"], ["give no other policy option"]),
    ],
)  # fmt: skip
def test_refusals_use_the_apis_reasons_and_change_nothing(
    cli: CliRunner, db: Engine, argv: list[str], fragments: list[str]
) -> None:
    make_account(cli)
    before = rows(db, accounts)
    assert_refused(cli("admin", "account", "set", "acme", "--minute-limit", "9", *argv),
                   *fragments)  # fmt: skip
    assert rows(db, accounts) == before


@pytest.mark.parametrize("argv", [["--retry-attempts", "many"], ["--record", "maybe"]])
def test_bad_arguments_are_usage_errors(cli: CliRunner, db: Engine, argv: list[str]) -> None:
    make_account(cli)
    run = cli("admin", "account", "set", "acme", *argv)
    assert run.status == 2 and "usage:" in run.err
    assert _policy(db) is None
