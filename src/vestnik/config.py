"""Configuration: one TOML file plus ``VESTNIK_*`` environment overrides.

Every setting lives in a section dataclass below. The TOML file has the same sections
(``[trunk]``, ``[sip]`` …) and keys. Any key can be overridden from the environment as
``VESTNIK_<SECTION>_<KEY>`` in upper case (``VESTNIK_TRUNK_HOST``, ``VESTNIK_SIP_PORT``,
``VESTNIK_RTP_PORT_MIN``); top-level keys are ``VESTNIK_<KEY>`` (``VESTNIK_DATA_DIR``).
The file is found at ``--config``, else ``$VESTNIK_CONFIG``, else ``./vestnik.toml`` if present.
``docs/configuration.md`` documents every key; keep the two in step.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import logging
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "VESTNIK_"
# VESTNIK_* variables that are not settings: the config file's path, and what the scripts and
# the test suite read (docs/configuration.md). Any other unknown one draws a warning.
OTHER_VARIABLES = frozenset(
    {"VESTNIK_CONFIG", "VESTNIK_EXTRAS", "VESTNIK_CI", "VESTNIK_TEST_PG_URL"}
)
# Keys that changed name: the old name is refused with the new one in the message.
RENAMED_KEYS = {
    "dialer.drain_timeout_seconds": "dialer.shutdown_grace",
    "log_level": "log.level",
}

log = logging.getLogger("vestnik.config")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # Requests larger than this are refused before parsing (bytes).
    max_body_bytes: int = 1_048_576
    # Largest media upload accepted over HTTP (bytes).
    max_upload_bytes: int = 20_971_520
    # Where API requests run their database work: "thread" (a worker thread each; database
    # waits never stall the event loop), "inline" (on the event loop: less CPU per request),
    # "auto" (inline for SQLite, thread for PostgreSQL).
    db_calls: str = "auto"
    # Peers (CIDRs) whose X-Forwarded-For header names the client; empty: the TCP peer is the
    # client, always.
    trusted_proxies: list[str] = field(default_factory=list)
    # A request's headers must be complete this many seconds after its first byte (or after
    # the connection opens); slower connections are closed.
    header_timeout: float = 10.0
    # A request body must keep arriving at this many bytes per second on average, after a
    # grace of header_timeout; slower connections are closed (0: no bound).
    min_body_rate: float = 500.0


@dataclass
class DatabaseConfig:
    # Empty: SQLite file ``vestnik.db`` in ``data_dir``. Otherwise any SQLAlchemy URL,
    # e.g. ``postgresql+psycopg://user@127.0.0.1/vestnik``.
    url: str = ""
    # Bound on waiting for the database (seconds): connecting, a statement, a pool checkout,
    # the SQLite lock; an API request whose database does not answer gets internal_error.
    timeout: float = 10.0


@dataclass
class TrunkConfig:
    # The SIP peer (carrier, PBX or SBC) that receives our INVITEs. Empty: none configured, and
    # ``serve`` refuses to start the dialer (an API-only process needs none).
    host: str = ""
    port: int = 5060
    # Optional outbound proxy "host:port"; INVITEs go there, Request-URI stays on the trunk.
    outbound_proxy: str = ""
    # Known: udp (see TRANSPORTS).
    transport: str = "udp"
    username: str = ""
    password: str = ""
    # Domain for From (and the Request-URI host when empty: the trunk host).
    domain: str = ""
    # "plus": +74993720692, "plain": 74993720692.
    caller_format: str = "plain"
    callee_format: str = "plain"
    # Preferred audio codecs, in order. Known: PCMA, PCMU.
    codecs: list[str] = field(default_factory=lambda: ["PCMA", "PCMU"])
    # Offer RFC 4733 telephone-event (DTMF as RTP events); off, or when the answer lacks it,
    # DTMF is sent in-band as dual tones.
    telephone_event: bool = True
    # New calls per second towards this trunk (0 = unlimited).
    calls_per_second: float = 50.0


@dataclass
class SipConfig:
    bind_host: str = "127.0.0.1"
    port: int = 5060
    # Address put in Contact/Via; empty = bind_host.
    advertised_host: str = ""


@dataclass
class RtpConfig:
    port_min: int = 20000
    port_max: int = 39999
    bind_host: str = "127.0.0.1"
    # Address put in SDP c=; empty = bind_host.
    advertised_host: str = ""
    # Run the RTP pacer in a child process of its own, so garbage collection and SIP work in
    # the main process cannot delay packets (false: a thread of the main process).
    pacer_process: bool = True
    # Ask for SCHED_RR real-time scheduling for the pacer thread (needs CAP_SYS_NICE or root;
    # without it a warning is logged and the pacer runs at normal priority).
    realtime_priority: bool = False


@dataclass
class DialerConfig:
    enabled: bool = True
    max_concurrent_calls: int = 2000
    # How long a session may wait for a free slot before max_out_call_reached.
    slot_wait_seconds: float = 60.0
    lease_seconds: float = 30.0
    poll_interval_seconds: float = 0.05
    shutdown_grace: float = 30.0
    # Stable identity of this dialer (lease owner prefix); empty = "<hostname>:<sip port>".
    # A restarted dialer with the same id finishes its previous run's calls at once.
    id: str = ""
    # Claimed sessions that may wait for a call slot at once (beyond max_concurrent_calls).
    max_waiting_sessions: int = 200
    # Safety net: a call still up this long after its INVITE is hung up (internal_error).
    max_call_seconds: float = 1800.0
    dtmf_tone_ms: int = 100
    dtmf_gap_ms: int = 100


@dataclass
class TtsConfig:
    # Known: espeak, piper (see TTS_ENGINES).
    engine: str = "espeak"
    voice: str = "ru"
    # piper: path to the .onnx voice model (its .onnx.json beside it).
    piper_model: str = ""
    cache_max_mb: int = 512
    # Rendered messages kept in memory (shared by identical calls), in addition to those in use.
    memory_cache_items: int = 256


@dataclass
class MediaConfig:
    # Audio files (admin ``media add`` and uploads): refused when longer or larger than this.
    max_duration_seconds: float = 600.0
    max_file_bytes: int = 20_971_520


@dataclass
class LimitsConfig:
    """Defaults copied onto a new account; each account can be changed afterwards."""

    minute_limit: int = 3000
    day_limit: int = 300_000
    tts_max_length: int = 4000
    max_concurrent_calls: int = 200
    ip_allowlist: list[str] = field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    # Points per method; methods not listed weigh ``default_weight``.
    default_weight: int = 1
    method_weights: dict[str, int] = field(
        default_factory=lambda: {"start.informer_call": 1, "login.user": 1}
    )


@dataclass
class WebhooksConfig:
    timeout_seconds: float = 5.0
    # Retries back off exponentially up to this horizon, then the delivery is parked.
    retry_horizon_seconds: float = 86_400.0
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 600.0
    concurrency: int = 64
    # In-flight requests per endpoint in one process: a slow endpoint cannot take every slot.
    per_endpoint_concurrency: int = 8
    # How often the dispatcher and the delivery worker look for new work.
    poll_interval_seconds: float = 0.05


@dataclass
class LogConfig:
    # critical, error, warning, info or debug.
    level: str = "info"
    # "text": one readable line per record; "json": one JSON object per line (log shippers).
    format: str = "text"


@dataclass
class Config:
    data_dir: str = "./var"
    log: LogConfig = field(default_factory=LogConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    trunk: TrunkConfig = field(default_factory=TrunkConfig)
    sip: SipConfig = field(default_factory=SipConfig)
    rtp: RtpConfig = field(default_factory=RtpConfig)
    dialer: DialerConfig = field(default_factory=DialerConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_path / 'vestnik.db').resolve()}"


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Config:
    """Read the TOML file (if any), then apply ``VESTNIK_*`` overrides, then check the values.

    ``warn`` receives what is suspicious but not fatal (an unknown ``VESTNIK_*`` variable);
    by default it goes to the ``vestnik.config`` logger.
    """
    env = os.environ if environ is None else environ
    if path is None:
        path = env.get(ENV_PREFIX + "CONFIG") or None
        if path is None and Path("vestnik.toml").exists():
            path = "vestnik.toml"
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
    config = _build(Config, raw, "")
    _apply_env(config, env)
    for message in unknown_variables(env):
        (warn or log.warning)(message)
    check_config(config)
    return config


def _build(cls: type[Any], raw: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in raw.items():
        if key not in names:
            renamed = RENAMED_KEYS.get(f"{where}{key}")
            if renamed is not None:
                raise ConfigError(f"config key {where}{key} was renamed to {renamed}")
            raise ConfigError(f"unknown config key {where}{key}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}{key} must be a table")
            kwargs[key] = _build(typing.cast(type, hint), value, f"{where}{key}.")
        else:
            kwargs[key] = _coerce(hint, value, f"{where}{key}")
    return cls(**kwargs)


def variable_for(key: str) -> str:
    """The environment variable of a key: ``trunk.host`` → ``VESTNIK_TRUNK_HOST``."""
    return (ENV_PREFIX + key.replace(".", "_")).upper()


def setting_keys() -> list[str]:
    """Every settings key, dotted (``data_dir``, ``trunk.host`` …)."""
    keys: list[str] = []
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        if dataclasses.is_dataclass(hints[f.name]):
            keys += [f"{f.name}.{sf.name}" for sf in dataclasses.fields(hints[f.name])]
        else:
            keys.append(f.name)
    return keys


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """A warning for each ``VESTNIK_*`` variable that is no setting, naming the closest one."""
    known = {variable_for(key) for key in setting_keys()} | OTHER_VARIABLES
    renamed = {variable_for(old): variable_for(new) for old, new in RENAMED_KEYS.items()}
    warnings = []
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        if name in renamed:
            hint = f"; it was renamed to {renamed[name]}"
        else:
            # Compared without the common prefix, which would make any two names look alike.
            suffixes = sorted(k.removeprefix(ENV_PREFIX) for k in known)
            close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), suffixes, n=1)
            hint = f"; did you mean {ENV_PREFIX}{close[0]}?" if close else ""
        warnings.append(f"environment variable {name} is not a vestnik setting (ignored){hint}")
    return warnings


def _apply_env(config: Config, env: Mapping[str, str]) -> None:
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            section = getattr(config, f.name)
            section_hints = typing.get_type_hints(type(section))
            for sf in dataclasses.fields(section):
                name = variable_for(f"{f.name}.{sf.name}")
                if name in env:
                    setattr(section, sf.name, _coerce_env(section_hints[sf.name], env[name], name))
        else:
            name = variable_for(f.name)
            if name in env:
                setattr(config, f.name, _coerce_env(hint, env[name], name))


def _coerce_env(hint: Any, text: str, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        return [item.strip() for item in text.split(",") if item.strip()]
    if origin is dict:
        try:
            return _coerce(hint, tomllib.loads(f"v = {text}")["v"], name)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{name} must be an inline TOML table") from exc
    if hint is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be a boolean, got {text!r}")
    if hint is int or hint is float:
        try:
            return hint(text)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a number, got {text!r}") from exc
    return text


def _coerce(hint: Any, value: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be a list of strings")
        return list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a table")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            raise ConfigError(f"{name} must be a table of integers")
        return {str(k): v for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be a boolean")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a number")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string")
        return value
    return value


LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
LOG_FORMATS = ("text", "json")
NUMBER_FORMATS = ("plain", "plus")
DB_CALLS_MODES = ("auto", "inline", "thread")
# What this version implements: anything else is refused at load, not at the first call.
TRANSPORTS = ("udp",)
CODECS = ("PCMA", "PCMU")
TTS_ENGINES = ("espeak", "piper")


def rtp_port_count(rtp: RtpConfig) -> int:
    """Calls the RTP range can carry at once: one even port each (RTCP takes the odd one)."""
    first = rtp.port_min + rtp.port_min % 2
    return max(0, (rtp.port_max - first) // 2 + 1)


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)} (got {value!r})")


def check_config(config: Config) -> None:
    """Refuse values of the right type that the service cannot use, naming the key."""
    sections: list[tuple[str, Any]] = [("", config)]
    sections += [
        (f"{f.name}.", getattr(config, f.name))
        for f in dataclasses.fields(config)
        if dataclasses.is_dataclass(getattr(config, f.name))
    ]
    for prefix, section in sections:
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            values = value.values() if isinstance(value, dict) else [value]
            for item in values:
                if isinstance(item, bool) or not isinstance(item, int | float):
                    continue
                if item != item or item in (float("inf"), float("-inf")):
                    raise ConfigError(f"{prefix}{f.name} must be a finite number")
                if item < 0:
                    raise ConfigError(f"{prefix}{f.name} must not be negative, got {item}")
    # 0 = any free port (tests, several processes); the trunk and RTP need real ports.
    for name, port, lowest in (
        ("server.port", config.server.port, 0),
        ("sip.port", config.sip.port, 0),
        ("trunk.port", config.trunk.port, 1),
        ("rtp.port_min", config.rtp.port_min, 1),
        ("rtp.port_max", config.rtp.port_max, 1),
    ):
        if not lowest <= port <= 65535:
            raise ConfigError(f"{name} must be a port number {lowest}..65535, got {port}")
    if config.rtp.port_min > config.rtp.port_max:
        raise ConfigError(
            f"rtp.port_min ({config.rtp.port_min}) is above rtp.port_max ({config.rtp.port_max})"
        )
    if rtp_port_count(config.rtp) == 0:
        raise ConfigError(
            f"rtp.port_min..rtp.port_max ({config.rtp.port_min}..{config.rtp.port_max}) has no "
            "even port (each call takes one)"
        )
    _one_of("log.level", config.log.level.lower(), LOG_LEVELS)
    _one_of("log.format", config.log.format, LOG_FORMATS)
    _one_of("trunk.transport", config.trunk.transport.lower(), TRANSPORTS)
    if not config.trunk.codecs:
        raise ConfigError(f"trunk.codecs must list at least one of {', '.join(CODECS)}")
    for codec in config.trunk.codecs:
        _one_of("trunk.codecs", codec.upper(), CODECS)
    _one_of("tts.engine", config.tts.engine, TTS_ENGINES)
    _one_of("server.db_calls", config.server.db_calls, DB_CALLS_MODES)
    if config.database.timeout <= 0:
        raise ConfigError(f"database.timeout must be positive, got {config.database.timeout}")
    for name in ("caller_format", "callee_format"):
        _one_of(f"trunk.{name}", getattr(config.trunk, name), NUMBER_FORMATS)
    for key, networks in (
        ("limits.ip_allowlist", config.limits.ip_allowlist),
        ("server.trusted_proxies", config.server.trusted_proxies),
    ):
        for network in networks:
            try:
                ipaddress.ip_network(network.strip(), strict=False)
            except ValueError:
                raise ConfigError(f"{key}: {network!r} is not an IP network") from None
    if config.server.header_timeout <= 0:
        raise ConfigError("server.header_timeout must be above 0")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: taken to be another machine


def deployment_warnings(config: Config) -> list[str]:
    """Settings that are valid alone but do not fit together (``serve`` logs them at start)."""
    warnings = []
    trunk = config.trunk.host
    if trunk and not _is_loopback(trunk):
        local = []
        for section in (config.sip, config.rtp):
            name = "sip" if section is config.sip else "rtp"
            if _is_loopback(section.bind_host):
                local.append(f"{name}.bind_host {section.bind_host}")
            elif _is_loopback(section.advertised_host):
                local.append(f"{name}.advertised_host {section.advertised_host}")
        if local:
            warnings.append(
                f"the trunk {trunk} is on another machine but {' and '.join(local)} is a "
                "loopback address, which it cannot reach: set [sip] and [rtp] bind_host (or "
                "advertised_host) to an address the trunk can reach"
            )
    ports = rtp_port_count(config.rtp)
    if config.dialer.enabled and ports < config.dialer.max_concurrent_calls:
        warnings.append(
            f"rtp.port_min..rtp.port_max ({config.rtp.port_min}..{config.rtp.port_max}) has "
            f"{ports} even ports, fewer than dialer.max_concurrent_calls "
            f"({config.dialer.max_concurrent_calls}): at most {ports} calls at once; "
            "further calls wait for a port"
        )
    return warnings
