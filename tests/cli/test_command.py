"""The installed ``vestnik`` console script, run as a real process; plug-in loading."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.cli import CliRunner
from vestnik.cli.main import build_parser, main
from vestnik.config import load_config

VESTNIK = Path(sys.executable).with_name("vestnik")
SERVE_START_SECONDS = 20.0


def vestnik(
    *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VESTNIK), *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESTNIK_")}
    env["VESTNIK_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_console_script_is_installed() -> None:
    assert VESTNIK.exists(), f"{VESTNIK} missing: pip install -e . first"
    run = vestnik("--help")
    assert run.returncode == 0
    for command in ("admin", "serve", "config"):
        assert command in run.stdout
    version = vestnik("--version")
    assert version.returncode == 0 and version.stdout.startswith("vestnik 0.")


def test_admin_round_trip_in_a_real_process(db_url: str, tmp_path: Path) -> None:
    env = clean_env(tmp_path, VESTNIK_DATABASE_URL=db_url)
    created = vestnik("admin", "account", "create", "acme", "--json", env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    account = json.loads(created.stdout)
    key = vestnik("admin", "key", "create", "acme", "--json", env=env, cwd=tmp_path)
    assert key.returncode == 0, key.stderr
    assert json.loads(key.stdout)["account_id"] == account["id"]
    shown = vestnik("admin", "account", "show", str(account["id"]), "--json", env=env)
    assert json.loads(shown.stdout)["keys"][0]["id"] == json.loads(key.stdout)["key_id"]


def test_user_errors_exit_1_without_traceback(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    run = vestnik("admin", "account", "show", "nobody", env=env, cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr == "vestnik: error: account 'nobody' not found\n"
    assert run.stdout == ""
    usage = vestnik("admin", "account", "set", "x", "--day-limit", "-5", env=env, cwd=tmp_path)
    assert usage.returncode == 2 and "must not be negative" in usage.stderr
    assert "Traceback" not in usage.stderr


def test_config_file_errors(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    missing = vestnik("--config", str(tmp_path / "none.toml"), "config", "show", env=env)
    assert missing.returncode == 1 and "not found" in missing.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport = 1\n")
    run = vestnik("config", "show", "--config", str(broken), env=env)
    assert run.returncode == 1 and "cannot read config" in run.stderr
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[server]\nprot = 8080\n")
    run = vestnik("admin", "account", "list", "--config", str(unknown), env=env)
    assert run.returncode == 1 and "unknown config key server.prot" in run.stderr
    bad_env = clean_env(tmp_path, VESTNIK_SIP_PORT="fifty")
    run = vestnik("config", "show", env=bad_env, cwd=tmp_path)
    assert run.returncode == 1 and "VESTNIK_SIP_PORT" in run.stderr
    assert "Traceback" not in run.stderr


def test_config_show_merges_file_and_environment_and_hides_secrets(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "vestnik.toml"
    config.write_text(
        textwrap.dedent(
            """
            [trunk]
            host = "sip.example.net"
            password = "hunter2"
            [database]
            url = "postgresql+psycopg://vestnik:topsecret@db.example/vestnik"
            """
        )
    )
    monkeypatch.setenv("VESTNIK_TRUNK_PORT", "5099")
    monkeypatch.delenv("VESTNIK_DATABASE_URL")
    run = cli("config", "show", "--json")  # ./vestnik.toml is found in the working directory
    assert run.status == 0, run.err
    data = run.json
    assert data["trunk"]["host"] == "sip.example.net"
    assert data["trunk"]["port"] == 5099
    assert data["trunk"]["password"] == "********"
    assert "topsecret" not in run.out and "hunter2" not in run.out
    text = cli("config", "show").out
    trunk = text.split("[trunk]\n", 1)[1].split("\n\n", 1)[0]
    assert 'host = "sip.example.net"\nport = 5099' in trunk
    assert "hunter2" not in text
    assert text.startswith("# database in use: postgresql+psycopg://vestnik:***@db.example/")


def test_config_show_output_is_a_config_file_for_the_same_settings(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VESTNIK_TRUNK_HOST", "sip.example.net")
    monkeypatch.setenv("VESTNIK_LIMITS_METHOD_WEIGHTS", '{ "start.informer_call" = 4 }')
    monkeypatch.setenv("VESTNIK_TTS_VOICE", 'ru "quoted" \\ voice')
    expected = load_config(None)  # file lookup finds nothing in tmp_path; environment only
    # Secrets are not shown: a password in the database URL comes back masked (put back by hand).
    expected.database.url = make_url(expected.database.url).render_as_string(hide_password=True)
    shown = tmp_path / "shown.toml"
    shown.write_text(cli("config", "show").out, encoding="utf-8")
    reloaded = load_config(shown, environ={})
    assert reloaded == expected
    assert reloaded.trunk.host == "sip.example.net"
    assert reloaded.limits.method_weights == {"start.informer_call": 4}
    assert reloaded.tts.voice == 'ru "quoted" \\ voice'


def test_config_show_with_several_trunks_hides_their_passwords_and_reloads(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "vestnik.toml"
    config.write_text(
        '[[trunks]]\nname = "a"\nhost = "10.0.0.1"\npassword = "hunter2"\n'
        '[[trunks]]\nname = "b"\nhost = "10.0.0.2"\npriority = 2\n'
    )
    run = cli("config", "show", "--json")
    assert run.status == 0, run.err
    assert [t["name"] for t in run.json["trunks"]] == ["a", "b"]
    assert run.json["trunks"][0]["password"] == "********" and "trunk" not in run.json
    text = cli("config", "show").out
    assert "hunter2" not in text and "[[trunks]]" in text and "\n[trunk]\n" not in text
    shown = tmp_path / "shown.toml"
    shown.write_text(text, encoding="utf-8")
    reloaded = load_config(shown, environ={})
    assert [(t.name, t.host, t.priority) for t in reloaded.trunk_list] == [
        ("a", "10.0.0.1", 1), ("b", "10.0.0.2", 2),
    ]  # fmt: skip


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("dialer", ["true", "false"])
def test_serve_answers_json_rpc_and_stops_on_sigterm(
    sqlite_url: str, tmp_path: Path, dialer: str
) -> None:
    port = free_port()
    sip = free_udp_port()
    rtp = free_udp_port() & ~1
    while abs(rtp - sip) < 12:
        rtp = free_udp_port() & ~1
    env = clean_env(
        tmp_path,
        VESTNIK_DATABASE_URL=sqlite_url,
        VESTNIK_DIALER_ENABLED=dialer,
        VESTNIK_TRUNK_HOST="127.0.0.1",
        VESTNIK_SIP_PORT=str(sip),
        VESTNIK_RTP_PORT_MIN=str(rtp),
        VESTNIK_RTP_PORT_MAX=str(rtp + 9),
    )
    proc = subprocess.Popen(
        [str(VESTNIK), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        reply = None
        deadline = time.monotonic() + SERVE_START_SECONDS
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                reply = httpx.post(
                    f"http://127.0.0.1:{port}/v4.0",
                    json={"jsonrpc": "2.0", "id": 7, "method": "no.such_method", "params": {}},
                    timeout=2,
                )
                break
            except httpx.TransportError:
                time.sleep(0.1)
        if reply is None:
            proc.kill()
            _out, err = proc.communicate()
            raise AssertionError(f"serve did not answer (exit {proc.returncode}):\n{err}")
        assert reply.status_code == 200
        body = reply.json()
        assert body["id"] == 7 and body["error"]["data"]["mnemonic"] == "method_not_found"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


def test_serve_on_a_busy_port_is_a_clean_error(sqlite_url: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = clean_env(tmp_path, VESTNIK_DATABASE_URL=sqlite_url, VESTNIK_DIALER_ENABLED="false")
        run = vestnik("serve", "--port", str(port), env=env, cwd=tmp_path)
    assert run.returncode == 1
    assert "cannot listen" in run.stderr and "Traceback" not in run.stderr


def test_serve_without_a_trunk_names_the_setting(sqlite_url: str, tmp_path: Path) -> None:
    env = clean_env(tmp_path, VESTNIK_DATABASE_URL=sqlite_url, VESTNIK_SERVER_PORT="0")
    run = vestnik("serve", env=env, cwd=tmp_path)
    assert run.returncode == 1
    assert "no trunk configured" in run.stderr and "VESTNIK_TRUNK_HOST" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "VESTNIK_TRUNK_TRANSPORT",
            "ws",
            "trunk.transport must be one of udp, tcp, tls (got 'ws')",
        ),
        ("VESTNIK_TRUNK_CODECS", "G729", "trunk.codecs must be one of PCMA, PCMU (got 'G729')"),
    ],
)
def test_unsupported_values_are_refused_by_config_show_and_serve(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    env = clean_env(tmp_path, VESTNIK_TRUNK_HOST="127.0.0.1", **{name: value})
    for argv in (("config", "show"), ("serve",)):
        run = vestnik(*argv, env=env, cwd=tmp_path)
        assert run.returncode == 1, argv
        assert f"vestnik: error: {message}" in run.stderr
        assert "Traceback" not in run.stderr


def test_an_unknown_variable_is_a_warning_naming_the_closest(tmp_path: Path) -> None:
    env = clean_env(tmp_path, VESTNIK_TRUNK_HOTS="sip.example.net")
    run = vestnik("config", "show", "--json", env=env, cwd=tmp_path)
    assert run.returncode == 0
    assert json.loads(run.stdout)["trunk"]["host"] == ""
    assert run.stderr == (
        "vestnik: warning: environment variable VESTNIK_TRUNK_HOTS is not a vestnik setting "
        "(ignored); did you mean VESTNIK_TRUNK_HOST?\n"
    )


def test_serve_warns_of_settings_that_do_not_fit_together(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        tmp_path,
        VESTNIK_DATABASE_URL=sqlite_url,
        VESTNIK_TRUNK_HOST="192.0.2.10",  # another machine (no call is placed)
        VESTNIK_SIP_PORT=str(free_udp_port()),
        VESTNIK_RTP_PORT_MIN="31000",
        VESTNIK_RTP_PORT_MAX="31009",
        VESTNIK_DIALER_MAX_CONCURRENT_CALLS="100",
    )
    proc = subprocess.Popen(
        [str(VESTNIK), "serve", "--host", "0.0.0.0", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVE_START_SECONDS
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert (
        "the trunk 192.0.2.10 is on another machine but sip.bind_host 127.0.0.1 and "
        "rtp.bind_host 127.0.0.1 is a loopback address" in err
    )
    assert "(31000..31009) has 5 even ports, fewer than dialer.max_concurrent_calls (100)" in err


# --- plug-ins ------------------------------------------------------------------------------

PLUGIN = """
from vestnik.cli.common import command_parser, emit


def register(commands):
    command_parser(commands, "hello", help="say hello", handler=hello)


def register_admin(objects):
    actions = objects.add_parser("widget", help="widgets").add_subparsers(
        dest="action", required=True
    )
    command_parser(actions, "count", help="count widgets", handler=count)


def hello(args):
    emit(args, {"hello": True}, "hello")


def count(args):
    emit(args, {"widgets": 3}, "3 widgets")
    return 4
"""


def test_plug_in_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "vestnik_test_plugin.py").write_text(PLUGIN)
    (tmp_path / "vestnik_test_broken.py").write_text("import vestnik_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = ("vestnik.cli.admin", "vestnik_test_absent", "vestnik_test_plugin")
    monkeypatch.setattr("vestnik.cli.main.COMMAND_MODULES", names)
    parser = build_parser(names)
    args = parser.parse_args(["admin", "widget", "count", "--json"])
    assert args.handler(args) == 4
    assert json.loads(capsys.readouterr().out) == {"widgets": 3}
    assert main(["hello"]) == 0
    assert capsys.readouterr().out == "hello\n"
    assert main(["admin", "widget", "count"]) == 4
    # A plug-in whose own import fails is a bug to show, not a module to skip.
    with pytest.raises(ModuleNotFoundError, match="vestnik_no_such_dependency"):
        build_parser(("vestnik_test_broken",))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VESTNIK_DATABASE_URL": "nonsense"}, "is not a SQLAlchemy URL"),
        ({"VESTNIK_DATABASE_URL": "mysql://u:pw@127.0.0.1/x"}, "driver is not installed"),
        ({"VESTNIK_DATABASE_URL": "foo://127.0.0.1/x"}, "foo"),
        ({"VESTNIK_DATA_DIR": "/proc/vestnik-cannot-be-here"}, "/proc/vestnik-cannot-be-here"),
    ],
)
@pytest.mark.parametrize("command", [["admin", "account", "list"], ["serve"]])
def test_unusable_database_settings_are_clean_errors(
    env: dict[str, str],
    message: str,
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("VESTNIK_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VESTNIK_DIALER_ENABLED", "false")
    monkeypatch.setenv("VESTNIK_SERVER_PORT", str(free_port()))
    assert main(command) == 1
    err = capsys.readouterr().err
    assert err.startswith("vestnik: error: ") and message in err
    assert "pw" not in err


def test_a_closed_output_pipe_is_quiet(tmp_path: Path) -> None:
    """``vestnik admin account list | head -0``: no traceback, no error message."""
    proc = subprocess.Popen(
        [str(VESTNIK), "admin", "account", "list", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(tmp_path),
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the process (≥ 0.3 s to start) writes anything
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=30) == 1
    assert err == b""
