"""The configuration loader, and docs/configuration.md kept in step with config/settings.py."""

from __future__ import annotations

import dataclasses
import re
import tempfile
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vestnik.cli.config_cmd import toml_value
from vestnik.config import Config, ConfigError, LimitsConfig, load_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vestnik.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- loader --------------------------------------------------------------------------------


def test_defaults_without_file_or_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, environ={})
    assert config == Config()
    assert config.database_url == f"sqlite:///{(tmp_path / 'var' / 'vestnik.db').resolve()}"


def test_toml_file_sets_values_of_every_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        data_dir = "/srv/vestnik"
        [trunk]
        host = "sip.example.net"
        port = 5070
        codecs = ["PCMU"]
        calls_per_second = 10
        [dialer]
        enabled = false
        [limits]
        method_weights = { "start.informer_call" = 3 }
        [database]
        url = "postgresql+psycopg://vestnik@127.0.0.1/vestnik"
        """.replace("\n        ", "\n"),
    )
    config = load_config(path, environ={})
    assert config.data_dir == "/srv/vestnik"
    assert (config.trunk.host, config.trunk.port, config.trunk.codecs) == (
        "sip.example.net",
        5070,
        ["PCMU"],
    )
    assert config.trunk.calls_per_second == 10.0
    assert isinstance(config.trunk.calls_per_second, float)
    assert config.dialer.enabled is False
    assert config.limits.method_weights == {"start.informer_call": 3}
    assert config.database_url == "postgresql+psycopg://vestnik@127.0.0.1/vestnik"
    # Untouched keys keep their defaults.
    assert config.sip.port == Config().sip.port


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[trunk]\nhost = "from-file"\nport = 5070\n[sip]\nport = 5062\n')
    env = {
        "VESTNIK_TRUNK_HOST": "10.0.0.5",
        "VESTNIK_TRUNK_PORT": "5090",
        "VESTNIK_TRUNK_USERNAME": "shop",
        "VESTNIK_TRUNK_PASSWORD": "pa ss",
        "VESTNIK_SIP_PORT": "5064",
        "VESTNIK_RTP_PORT_MIN": "30000",
        "VESTNIK_RTP_PORT_MAX": "30999",
        "VESTNIK_DATA_DIR": "/tmp/elsewhere",
        "VESTNIK_DIALER_ENABLED": "off",
        "VESTNIK_TRUNK_CODECS": "PCMU, PCMA",
        "VESTNIK_TRUNK_CALLS_PER_SECOND": "2.5",
        "VESTNIK_LIMITS_METHOD_WEIGHTS": '{ "list.calls" = 0 }',
        "VESTNIK_TTS_ACCOUNT_ENGINES": '{ shop = "espeak", "my bank" = "festival" }',
    }
    config = load_config(path, environ=env)
    assert config.tts.account_engines == {"shop": "espeak", "my bank": "festival"}
    assert (config.trunk.host, config.trunk.port) == ("10.0.0.5", 5090)
    assert (config.trunk.username, config.trunk.password) == ("shop", "pa ss")
    assert config.sip.port == 5064
    assert (config.rtp.port_min, config.rtp.port_max) == (30000, 30999)
    assert config.data_dir == "/tmp/elsewhere"
    assert config.dialer.enabled is False
    assert config.trunk.codecs == ["PCMU", "PCMA"]
    assert config.trunk.calls_per_second == 2.5
    assert config.limits.method_weights == {"list.calls": 0}


def test_config_file_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "[server]\nport = 1001\n")
    named = tmp_path / "named.toml"
    named.write_text("[server]\nport = 1002\n")
    explicit = tmp_path / "explicit.toml"
    explicit.write_text("[server]\nport = 1003\n")
    assert load_config(None, environ={}).server.port == 1001  # ./vestnik.toml
    assert load_config(None, environ={"VESTNIK_CONFIG": str(named)}).server.port == 1002
    assert load_config(explicit, environ={"VESTNIK_CONFIG": str(named)}).server.port == 1003


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nonsense = 1\n", "unknown config key nonsense"),
        ("[trunk]\nhots = 'x'\n", "unknown config key trunk.hots"),
        ("[nosuchsection]\nx = 1\n", "unknown config key nosuchsection"),
        ("trunk = 5\n", "trunk must be a table"),
        ("[trunk]\nport = '5060'\n", "trunk.port must be an integer"),
        ("[trunk]\nport = 5060.5\n", "trunk.port must be an integer"),
        ("[trunk]\nport = true\n", "trunk.port must be an integer"),
        ("[trunk]\nhost = 1\n", "trunk.host must be a string"),
        ("[trunk]\ncalls_per_second = 'fast'\n", "trunk.calls_per_second must be a number"),
        ("[trunk]\ncodecs = 'PCMA'\n", "trunk.codecs must be a list"),
        ("[trunk]\ncodecs = [1]\n", "trunk.codecs"),
        ("[dialer]\nenabled = 'yes'\n", "dialer.enabled must be a boolean"),
        ("[limits]\nmethod_weights = 3\n", "limits.method_weights must be a table"),
        ("[limits]\nmethod_weights = { a = 'x' }\n", "limits.method_weights"),
        ("[tts]\naccount_engines = { a = 1 }\n", "tts.account_engines must be a table of strings"),
        ("[tts]\naccount_engines = { a = 'say' }\n", "tts.account_engines.a must be one of"),
        ("[server\n", "cannot read config"),
    ],
)
def test_bad_file_values_raise_config_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, text), environ={})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VESTNIK_SIP_PORT", "fifty"),
        ("VESTNIK_RTP_PORT_MIN", "1.5"),
        ("VESTNIK_TRUNK_CALLS_PER_SECOND", "many"),
        ("VESTNIK_DIALER_ENABLED", "perhaps"),
        ("VESTNIK_LIMITS_METHOD_WEIGHTS", "{ broken"),
        ("VESTNIK_LIMITS_METHOD_WEIGHTS", '{ a = "x" }'),
    ],
)
def test_bad_environment_values_raise_config_error(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config(None, environ={name: value, "VESTNIK_CONFIG": ""})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VESTNIK_SIP_PORT": "70000"}, "sip.port must be a port number 0..65535"),
        ({"VESTNIK_TRUNK_PORT": "70000"}, "trunk.port must be a port number 1..65535"),
        ({"VESTNIK_RTP_PORT_MIN": "5000", "VESTNIK_RTP_PORT_MAX": "4000"}, "is above"),
        ({"VESTNIK_DIALER_LEASE_SECONDS": "-1"}, "dialer.lease_seconds must not be negative"),
        ({"VESTNIK_DIALER_SLOT_WAIT_SECONDS": "nan"}, "must be a finite number"),
        ({"VESTNIK_WEBHOOKS_TIMEOUT_SECONDS": "inf"}, "must be a finite number"),
        ({"VESTNIK_LIMITS_METHOD_WEIGHTS": '{ "login.user" = -2 }'}, "limits.method_weights"),
        ({"VESTNIK_LOG_LEVEL": "loud"}, "log.level must be one of"),
        ({"VESTNIK_TRUNK_CALLER_FORMAT": "+"}, "trunk.caller_format must be one of"),
        ({"VESTNIK_SERVER_DB_CALLS": "fork"}, "server.db_calls must be one of"),
        ({"VESTNIK_DATABASE_TIMEOUT": "0"}, "database.timeout must be positive"),
        ({"VESTNIK_DIALER_MAX_RECORDING_SECONDS": "0"}, "max_recording_seconds must be above 0"),
        ({"VESTNIK_SERVER_PUBLIC_URL": "calls.example.ru"}, "must be an http:// or https:// URL"),
        ({"VESTNIK_SERVER_PUBLIC_URL": "ftp://calls.example.ru"}, "must be an http:// or https"),
        ({"VESTNIK_SERVER_PUBLIC_URL": "https://h.ru/?a=1"}, "must have no user, query or"),
        ({"VESTNIK_SERVER_PUBLIC_URL": "https://u:p@h.ru/"}, "must have no user, query or"),
        ({"VESTNIK_SERVER_PUBLIC_URL": "https://h.ru:99999/"}, "server.public_url has a bad port"),
        ({"VESTNIK_LIMITS_IP_ALLOWLIST": "10.0.0.0/8,nowhere"}, "'nowhere' is not an IP"),
        # What this version does not implement is refused at load, not at the first call.
        (
            {"VESTNIK_TRUNK_TRANSPORT": "sctp"},
            "trunk.transport must be one of udp, tcp, tls (got 'sctp')",
        ),
        ({"VESTNIK_TRUNK_CODECS": "PCMA,G729"}, "trunk.codecs must be one of PCMA, PCMU"),
        ({"VESTNIK_TRUNK_CODECS": ""}, "trunk.codecs must list at least one of PCMA, PCMU"),
        ({"VESTNIK_TTS_ENGINE": "rhvoice"}, "tts.engine must be one of auto, espeak, festival"),
        (
            {"VESTNIK_TTS_ACCOUNT_ENGINES": '{ shop = "rhvoice" }'},
            "tts.account_engines.shop must be one of auto, espeak, festival, piper",
        ),
        ({"VESTNIK_TTS_ACCOUNT_ENGINES": "{ shop = 1 }"}, "must be a table of strings"),
        ({"VESTNIK_TTS_FESTIVAL_PROCESSES": "0"}, "tts.festival_processes must be at least 1"),
        ({"VESTNIK_TTS_FESTIVAL_VOICE": "a b"}, "tts.festival_voice must be a festival voice"),
        ({"VESTNIK_LOG_FORMAT": "xml"}, "log.format must be one of text, json"),
        ({"VESTNIK_RTP_PORT_MIN": "30001", "VESTNIK_RTP_PORT_MAX": "30001"}, "no even port"),
        (
            {"VESTNIK_SERVER_TRUSTED_PROXIES": "10.0.0.0/8,proxy"},
            "server.trusted_proxies: 'proxy' is not an IP network",
        ),
        ({"VESTNIK_SERVER_HEADER_TIMEOUT": "0"}, "server.header_timeout must be above 0"),
        ({"VESTNIK_AMD_TOTAL_ANALYSIS_MS": "0"}, "amd.total_analysis_ms must be 1000..30000"),
        ({"VESTNIK_AMD_MAX_GREETING_WAIT_MS": "500"}, "amd.max_greeting_wait_ms must be"),
        ({"VESTNIK_AMD_GREETING_MS": "5"}, "amd.greeting_ms must be at least 20"),
        ({"VESTNIK_AMD_MAX_WORDS": "0"}, "amd.max_words must be at least 1"),
        ({"VESTNIK_AMD_SILENCE_THRESHOLD": "40000"}, "amd.silence_threshold must be 1..32767"),
        ({"VESTNIK_SPEECH_END_SILENCE_MS": "100"}, "speech.end_silence_ms must be from 200"),
        ({"VESTNIK_SPEECH_BARGE_IN_MS": "6000"}, "speech.barge_in_ms must be from 0 to 5000"),
        ({"VESTNIK_SPEECH_BARGE_IN_AFTER_MS": "70000"}, "speech.barge_in_after_ms must be from"),
        ({"VESTNIK_AMD_MIN_WORD_LENGTH_MS": "6000"}, "must be below amd.max_word_length_ms"),
    ],
)
def test_unusable_values_raise_config_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, environ={**env, "VESTNIK_CONFIG": ""})


def test_usable_edge_values_are_accepted() -> None:
    env = {
        "VESTNIK_SERVER_PORT": "0",  # any free port
        "VESTNIK_SIP_PORT": "0",
        "VESTNIK_RTP_PORT_MIN": "30000",
        "VESTNIK_RTP_PORT_MAX": "30000",
        "VESTNIK_TRUNK_CALLS_PER_SECOND": "0",  # unlimited
        "VESTNIK_LOG_LEVEL": "WARNING",
        "VESTNIK_LIMITS_IP_ALLOWLIST": "",
        "VESTNIK_SERVER_TRUSTED_PROXIES": "127.0.0.1, ::1/128",
        "VESTNIK_SERVER_MIN_BODY_RATE": "0",  # no body bound
        "VESTNIK_CONFIG": "",
    }
    config = load_config(None, environ=env)
    assert (config.server.port, config.sip.port, config.rtp.port_max) == (0, 0, 30000)
    assert config.limits.ip_allowlist == []
    assert config.server.trusted_proxies == ["127.0.0.1", "::1/128"]
    assert config.server.min_body_rate == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('log_level = "info"\n', "config key log_level was renamed to log.level"),
        (
            "[dialer]\ndrain_timeout_seconds = 5\n",
            "config key dialer.drain_timeout_seconds was renamed to dialer.shutdown_grace",
        ),
    ],
)
def test_renamed_keys_name_their_new_name(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, text), environ={})


def test_defaults_name_no_trunk_and_the_standard_sip_port() -> None:
    trunk = Config().trunk
    assert (trunk.host, trunk.port, trunk.sip_port) == ("", 0, 5060)


def test_unknown_variables_warn_with_the_closest_name() -> None:
    warnings: list[str] = []
    env = {
        "VESTNIK_CONFIG": "",
        "VESTNIK_TRUNK_HOTS": "sip.example.net",  # a typo
        "VESTNIK_DIALER_DRAIN_TIMEOUT_SECONDS": "5",  # an old name
        "VESTNIK_ZZZ": "1",  # nothing close
        "VESTNIK_TEST_PG_URL": "postgresql://x",  # known, not a setting
        "VESTNIK_SIP_PORT": "5062",
        "PATH": "/bin",
    }
    config = load_config(None, environ=env, warn=warnings.append)
    assert config.trunk.host == "" and config.sip.port == 5062
    assert warnings == [
        "environment variable VESTNIK_DIALER_DRAIN_TIMEOUT_SECONDS is not a vestnik setting "
        "(ignored); it was renamed to VESTNIK_DIALER_SHUTDOWN_GRACE",
        "environment variable VESTNIK_TRUNK_HOTS is not a vestnik setting (ignored); "
        "did you mean VESTNIK_TRUNK_HOST?",
        "environment variable VESTNIK_ZZZ is not a vestnik setting (ignored)",
    ]


def test_unknown_variables_reach_the_log_by_default(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="vestnik.config"):
        load_config(None, environ={"VESTNIK_CONFIG": "", "VESTNIK_SIP_PROT": "5062"})
    assert "did you mean VESTNIK_SIP_PORT?" in caplog.text


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.toml", environ={})


# --- docs/configuration.md -----------------------------------------------------------------

ROW = re.compile(r"^\|\s*`([a-z_]+)`\s*\|(.*)\|\s*$")
SECTION = re.compile(r"^###\s+`\[([a-z_]+)\]`")
TOP_LEVEL = "(top level)"


def documented_keys() -> dict[tuple[str, str], list[str]]:
    """(section, key) → the other cells of its row; top-level keys have section ''."""
    keys: dict[tuple[str, str], list[str]] = {}
    section: str | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = None
        if line.startswith("### "):
            match = SECTION.match(line)
            section = match.group(1) if match else ("" if TOP_LEVEL in line else None)
            continue
        match = ROW.match(line)
        if match and section is not None:
            cells = [c.strip() for c in match.group(2).split("|")]
            keys[(section, match.group(1))] = cells
    return keys


def config_keys() -> dict[tuple[str, str], tuple[Any, Any]]:
    """(section, key) → (type hint, default) for every setting in config/settings.py."""
    out: dict[tuple[str, str], tuple[Any, Any]] = {}
    hints = typing.get_type_hints(Config)
    defaults = Config()
    for f in dataclasses.fields(Config):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            section_hints = typing.get_type_hints(hint)
            for sf in dataclasses.fields(hint):
                value = getattr(getattr(defaults, f.name), sf.name)
                out[(f.name, sf.name)] = (section_hints[sf.name], value)
        elif f.name != "trunks":  # [[trunks]] tables have [trunk]'s keys
            out[("", f.name)] = (hint, getattr(defaults, f.name))
    return out


def env_name(section: str, key: str) -> str:
    return f"VESTNIK_{section}_{key}".upper() if section else f"VESTNIK_{key}".upper()


def type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is list:
        return "list of strings"
    if origin is dict:
        return "table of strings" if typing.get_args(hint)[1] is str else "table of integers"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}[hint]


def test_every_config_key_is_documented_with_type_default_and_env_name() -> None:
    documented = documented_keys()
    actual = config_keys()
    missing = sorted(f"{s or TOP_LEVEL}.{k}" for s, k in set(actual) - set(documented))
    stale = sorted(f"{s or TOP_LEVEL}.{k}" for s, k in set(documented) - set(actual))
    assert not missing, f"docs/configuration.md lacks: {', '.join(missing)}"
    assert not stale, f"docs/configuration.md documents keys config/settings.py lacks: {stale}"
    for (section, key), (hint, default) in actual.items():
        kind, default_cell, env_cell, meaning = documented[(section, key)][:4]
        where = f"{section or TOP_LEVEL}.{key}"
        assert kind == type_name(hint), f"{where}: type {kind!r}, expected {type_name(hint)!r}"
        assert default_cell == f"`{toml_value(default)}`", f"{where}: default {default_cell}"
        assert env_cell == f"`{env_name(section, key)}`", f"{where}: env {env_cell}"
        assert len(meaning) > 10, f"{where}: say what it means"


def test_documented_example_file_loads_and_differs_from_defaults() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert blocks, "docs/configuration.md has no ```toml example"
    for block in blocks:
        raw = tomllib.loads(block)
        assert raw
    example = Path(__file__).parent / "_example.toml"
    try:
        example.write_text(blocks[0], encoding="utf-8")
        config = load_config(example, environ={})
    finally:
        example.unlink(missing_ok=True)
    assert config != Config()


def test_env_names_in_the_doc_work(tmp_path: Path) -> None:
    """Each documented variable really overrides its key."""
    for (section, key), cells in documented_keys().items():
        name = cells[2].strip("`")
        hint, _default = config_keys()[(section, key)]
        sample = SAMPLES.get(f"{section}.{key}") or {
            str: "x", int: "7", float: "7.5", bool: "true"
        }.get(hint)  # fmt: skip
        if sample is None:
            continue
        needs = NEEDS.get(f"{section}.{key}", {})
        environ = {name: sample, "VESTNIK_CONFIG": str(_empty(tmp_path)), **needs}
        config = load_config(None, environ=environ)
        target = getattr(config, section) if section else config
        assert str(getattr(target, key)).lower() == sample.lower(), name


# Keys that are refused without another one.
NEEDS = {"trunk.register": {"VESTNIK_TRUNK_USERNAME": "x"}}

# Keys whose values are checked beyond their type get a valid, non-default sample.
SAMPLES = {
    "log.level": "debug",
    "console.lockout_max_seconds": "7200",
    "console.secure_cookie": "always",
    "console.timezone": "Europe/Moscow",
    "log.format": "json",
    "trunk.caller_format": "plus",
    "trunk.callee_format": "plus",
    "rtp.port_max": "40000",
    "server.db_calls": "thread",
    "server.public_url": "https://calls.example.ru",
    "trunk.transport": "udp",  # the only one (the default): still proves the name is read
    "trunk.caller_id": "pai",
    "trunk.outbound_proxy": "proxy.example:5070",
    "trunk.tls_ca_file": "/etc/hostname",  # must exist
    "trunk.name": "carrier-a",
    "tts.engine": "piper",
    "amd.initial_silence_ms": "2000",
    "amd.greeting_ms": "1800",
    "amd.after_greeting_silence_ms": "900",
    "amd.total_analysis_ms": "4000",
    "amd.min_word_length_ms": "120",
    "amd.max_word_length_ms": "4000",
    "amd.greeting_end_silence_ms": "1200",
    "amd.max_greeting_wait_ms": "15000",
    "speech.end_silence_ms": "900",
}


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path


def test_limits_defaults_are_what_new_accounts_get() -> None:
    # docs/admin.md promises these; a change here must update the docs.
    limits = LimitsConfig()
    assert limits.ip_allowlist == ["127.0.0.0/8", "::1/128"]
    assert 0 < limits.minute_limit <= limits.day_limit


# --- any file: a Config or a ConfigError, nothing else --------------------------------------

SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(max_size=20),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=10), SCALARS, max_size=3),
)
_KEYS = config_keys()


@pytest.mark.parametrize(("section", "key"), sorted(_KEYS), ids=lambda v: v or "top")
@settings(max_examples=25, deadline=None)
@given(value=st.one_of(VALUES, st.lists(VALUES, max_size=2)))
def test_any_value_of_any_key_gives_a_config_or_a_config_error(
    section: str, key: str, value: Any
) -> None:
    line = f"{key} = {toml_value(value)}\n"
    text = f"[{section}]\n{line}" if section else line
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vestnik.toml"
        path.write_text(text, encoding="utf-8")
        try:
            config = load_config(path, environ={})
        except ConfigError:
            return
    assert isinstance(config, Config)


# --- [[trunks]] --------------------------------------------------------------------------

TWO_TRUNKS = """
[[trunks]]
name = "carrier-a"
host = "10.0.0.1"
prefixes = ["7495", "7499"]
caller_id = "pai"

[[trunks]]
name = "carrier-b"
host = "10.0.0.2"
port = 5080
priority = 2
accounts = ["acme"]
"""


def test_several_trunks(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TWO_TRUNKS), environ={})
    a, b = config.trunk_list
    assert (a.name, a.host, a.sip_port, a.priority, a.prefixes, a.caller_id) == (
        "carrier-a", "10.0.0.1", 5060, 1, ["7495", "7499"], "pai",
    )  # fmt: skip
    assert (b.name, b.sip_port, b.priority, b.accounts) == ("carrier-b", 5080, 2, ["acme"])
    # The shorthand alone is one trunk named "trunk"; no host: none.
    one = load_config(write(tmp_path, '[trunk]\nhost = "10.0.0.9"\n'), environ={})
    assert [(t.name, t.host) for t in one.trunk_list] == [("trunk", "10.0.0.9")]
    assert load_config(None, environ={"VESTNIK_CONFIG": str(_empty(tmp_path))}).trunk_list == []


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (TWO_TRUNKS + '[trunk]\nhost = "x"\n', {}, "both set ([trunk] host)"),
        (TWO_TRUNKS, {"VESTNIK_TRUNK_HOST": "x"}, "both set (VESTNIK_TRUNK_HOST)"),
        ('[[trunks]]\nhost = "x"\n', {}, "trunks[0].name is missing"),
        ('[[trunks]]\nname = "a"\n', {}, "trunks[0].host must not be empty"),
        ('[[trunks]]\nname = "a"\nhost = "x"\n[[trunks]]\nname = "a"\nhost = "y"\n', {},
         "trunks[1].name 'a' is used by an earlier trunk"),
        ('[[trunks]]\nname = "a"\nhost = "x"\nprefixes = ["+7"]\n', {},
         "trunks[0].prefixes must be digits"),
        ('[[trunks]]\nname = "a"\nhost = "x"\ncaller_id = "rpid"\n', {},
         "trunks[0].caller_id must be one of from, pai"),
        ('[[trunks]]\nname = "a"\nhost = "x"\npriority = -1\n', {},
         "trunks[0].priority must not be negative"),
        ('[[trunks]]\nname = "a"\nhost = "x"\nhots = "y"\n', {},
         "unknown config key trunks[0].hots"),
        ("trunks = 5\n", {}, "trunks must be an array of tables"),
        ('[[trunks]]\nname = "a"\nhost = "x"\nregister = true\n', {},
         "trunks[0].username must be set when register = true"),
        ('[trunk]\ndomain = "x"\n', {}, "trunk.domain was renamed to trunk.from_domain"),
    ],
)  # fmt: skip
def test_bad_trunks_are_refused_naming_the_key(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text), environ=env)
    assert message in str(error.value)
