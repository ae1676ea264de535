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
import ipaddress
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "VESTNIK_"


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
    host: str = "127.0.0.1"
    port: int = 5080
    # Optional outbound proxy "host:port"; INVITEs go there, Request-URI stays on the trunk.
    outbound_proxy: str = ""
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
    drain_timeout_seconds: float = 30.0
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
class Config:
    data_dir: str = "./var"
    log_level: str = "info"
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
) -> Config:
    """Read the TOML file (if any), then apply ``VESTNIK_*`` overrides."""
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
    check_config(config)
    return config


def _build(cls: type[Any], raw: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in raw.items():
        if key not in names:
            raise ConfigError(f"unknown config key {where}{key}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}{key} must be a table")
            kwargs[key] = _build(typing.cast(type, hint), value, f"{where}{key}.")
        else:
            kwargs[key] = _coerce(hint, value, f"{where}{key}")
    return cls(**kwargs)


def _apply_env(config: Config, env: Mapping[str, str]) -> None:
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            section = getattr(config, f.name)
            section_hints = typing.get_type_hints(type(section))
            for sf in dataclasses.fields(section):
                name = f"{ENV_PREFIX}{f.name}_{sf.name}".upper()
                if name in env:
                    setattr(section, sf.name, _coerce_env(section_hints[sf.name], env[name], name))
        else:
            name = f"{ENV_PREFIX}{f.name}".upper()
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
NUMBER_FORMATS = ("plain", "plus")
DB_CALLS_MODES = ("auto", "inline", "thread")


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
    if config.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
    if config.database.timeout <= 0:
        raise ConfigError(f"database.timeout must be positive, got {config.database.timeout}")
    if config.server.db_calls not in DB_CALLS_MODES:
        raise ConfigError(f"server.db_calls must be one of {', '.join(DB_CALLS_MODES)}")
    for name in ("caller_format", "callee_format"):
        if getattr(config.trunk, name) not in NUMBER_FORMATS:
            raise ConfigError(f"trunk.{name} must be one of {', '.join(NUMBER_FORMATS)}")
    for network in config.limits.ip_allowlist:
        try:
            ipaddress.ip_network(network.strip(), strict=False)
        except ValueError:
            raise ConfigError(f"limits.ip_allowlist: {network!r} is not an IP network") from None
