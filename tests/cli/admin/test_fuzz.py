"""Random command lines never crash `vestnik`: exit 0, 1 (with a message) or 2 (usage)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support.cli import CliRunner

COMMANDS = [
    ["admin", "account", "create"],
    ["admin", "account", "set"],
    ["admin", "account", "show"],
    ["admin", "user", "create"],
    ["admin", "user", "set"],
    ["admin", "key", "create"],
    ["admin", "key", "block"],
    ["admin", "number", "add"],
    ["admin", "employee", "add"],
    ["admin", "blacklist", "add"],
    ["admin", "blacklist", "remove"],
    ["admin", "session", "show"],
    ["admin", "session", "list"],
    ["admin", "media", "add"],
    ["admin", "numbering-plan", "import"],
    ["admin", "account", "deactivate"],
    ["admin", "account", "activate"],
    ["admin", "account", "remove"],
    ["admin", "user", "remove"],
    ["admin", "key", "remove"],
    ["admin", "number", "disable"],
    ["admin", "number", "enable"],
    ["admin", "number", "remove"],
    ["admin", "employee", "remove"],
    ["admin", "media", "list"],
    ["admin", "media", "remove"],
    ["admin", "session", "release"],
]
OPTIONS = [
    "--json", "--active", "--inactive", "--name", "--informer-call", "--number-management",
    "--minute-limit", "--day-limit", "--tts-max-length", "--max-concurrent-calls", "--ip-allow",
    "--ip-allowlist", "--mobile", "--long-distance", "--international", "--home-region",
    "--home-country", "--method-weight", "--expires", "--region", "--comment", "--account",
    "--state", "--limit", "--password", "--finish-reason", "--external-id", "--contact",
    "--release-calls", "--all",
]  # fmt: skip
WORDS = ["acme", "1", "0", "-1", "on", "off", "74993720692", "+79161234567", "sip:a@b", "", "=",
         "2099-01-01", "10.0.0.0/8", "start.informer_call=2", "queued"]  # fmt: skip
# Any text a shell can pass (no NUL), plus the words and options commands expect.
ARGS = st.lists(
    st.one_of(
        st.sampled_from(OPTIONS),
        st.sampled_from(WORDS),
        st.text(st.characters(blacklist_characters="\x00"), max_size=30),
    ),
    max_size=6,
)


@pytest.fixture
def acme(cli: CliRunner) -> CliRunner:
    assert cli("admin", "account", "create", "acme").status == 0
    return cli


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(command=st.sampled_from(COMMANDS), args=ARGS)
# Lone surrogates: what Python makes of argv bytes that are not UTF-8 (CI found these crash
# the database driver and the error message itself).
@example(command=["admin", "account", "create"], args=["\ud800"])
@example(command=["admin", "media", "add"], args=["acme", "\udcff"])
def test_random_command_lines(acme: CliRunner, command: list[str], args: list[str]) -> None:
    run = acme(*command, *args)
    assert run.status in (0, 1, 2), (command, args, run)
    assert "Traceback" not in run.err
    if run.status == 1:
        assert run.err.startswith("vestnik: error: "), run.err
