"""Values of the right type that the service still cannot use are refused here, naming the
key; settings that are valid alone but do not fit together are warned about at start."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vestnik.config.settings import (
    AmdConfig,
    Config,
    ConfigError,
    ConsoleConfig,
    RtpConfig,
    SpeechConfig,
    TrunkConfig,
    TtsConfig,
)

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
LOG_FORMATS = ("text", "json")
NUMBER_FORMATS = ("plain", "plus")
DB_CALLS_MODES = ("auto", "inline", "thread", "async")
# What this version implements: anything else is refused at load, not at the first call.
TRANSPORTS = ("udp", "tcp", "tls")
CALLER_ID_MODES = ("from", "pai")
_DIGITS = re.compile(r"^[0-9]+$")
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]+)(:[0-9]{1,5})?$")
CODECS = ("PCMA", "PCMU")
TTS_ENGINES = ("auto", "espeak", "festival", "piper")


def rtp_port_count(rtp: RtpConfig) -> int:
    """Calls the RTP range can carry at once: one even port each (RTCP takes the odd one)."""
    first = rtp.port_min + rtp.port_min % 2
    return max(0, (rtp.port_max - first) // 2 + 1)


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)} (got {value!r})")


def _numbers(prefix: str, section: Any) -> None:
    """Every number of a section finite and not negative."""
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


def check_public_url(url: str) -> None:
    """``server.public_url``: empty, or an absolute http(s) URL without query or fragment."""
    if not url:
        return
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ConfigError(f"server.public_url has a bad port: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"server.public_url must be an http:// or https:// URL, got {url!r}")
    if parts.query or parts.fragment or parts.username is not None:
        raise ConfigError(f"server.public_url must have no user, query or fragment, got {url!r}")


def check_trunk(trunk: TrunkConfig, prefix: str) -> None:
    """One trunk's keys (``prefix``: ``trunk.`` or ``trunks[0].``)."""
    _numbers(prefix, trunk)
    if not trunk.name.strip():
        raise ConfigError(f"{prefix}name must not be empty")
    if trunk.port > 65535:
        raise ConfigError(f"{prefix}port must be a port number 1..65535 (0: the transport's "
                          f"default), got {trunk.port}")  # fmt: skip
    _one_of(f"{prefix}transport", trunk.transport.lower(), TRANSPORTS)
    if not trunk.codecs:
        raise ConfigError(f"{prefix}codecs must list at least one of {', '.join(CODECS)}")
    for codec in trunk.codecs:
        _one_of(f"{prefix}codecs", codec.upper(), CODECS)
    for name in ("caller_format", "callee_format"):
        _one_of(f"{prefix}{name}", getattr(trunk, name), NUMBER_FORMATS)
    _one_of(f"{prefix}caller_id", trunk.caller_id, CALLER_ID_MODES)
    if trunk.outbound_proxy and not _HOST_PORT.match(trunk.outbound_proxy.strip()):
        raise ConfigError(f"{prefix}outbound_proxy must be host or host:port, got "
                          f"{trunk.outbound_proxy!r}")  # fmt: skip
    for number in trunk.prefixes:
        if not _DIGITS.match(number):
            raise ConfigError(f"{prefix}prefixes must be digits, got {number!r}")
    if trunk.register and not trunk.username:
        raise ConfigError(f"{prefix}username must be set when register = true (the "
                          "registration is for sip:username@from_domain)")  # fmt: skip
    if trunk.register and trunk.register_expires < 60:
        raise ConfigError(f"{prefix}register_expires must be at least 60 s, got "
                          f"{trunk.register_expires}")  # fmt: skip
    if trunk.tls_ca_file and not Path(trunk.tls_ca_file).is_file():
        raise ConfigError(f"{prefix}tls_ca_file: no such file {trunk.tls_ca_file!r}")


def check_tts(tts: TtsConfig) -> None:
    """``[tts]``: known engines (an engine's package is looked for when it is first used)."""
    _one_of("tts.engine", tts.engine, TTS_ENGINES)
    for account, engine in tts.account_engines.items():
        _one_of(f"tts.account_engines.{account}", engine, TTS_ENGINES)
    if tts.festival_processes < 1:
        raise ConfigError(
            f"tts.festival_processes must be at least 1, got {tts.festival_processes}"
        )
    if not re.fullmatch(r"[A-Za-z0-9_]+", tts.festival_voice):
        raise ConfigError(
            f"tts.festival_voice must be a festival voice name, got {tts.festival_voice!r}"
        )


def check_console(console: ConsoleConfig) -> None:
    """``[console]``: positive durations and counts, a known cookie mode."""
    for name in ("idle_minutes", "max_hours", "lockout_after", "lockout_seconds"):
        if getattr(console, name) < 1:
            raise ConfigError(f"console.{name} must be at least 1, got {getattr(console, name)}")
    if console.lockout_max_seconds < console.lockout_seconds:
        raise ConfigError(
            f"console.lockout_max_seconds ({console.lockout_max_seconds}) must be at least "
            f"console.lockout_seconds ({console.lockout_seconds})"
        )
    try:
        ZoneInfo(console.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"console.timezone {console.timezone!r} is not an IANA time zone (e.g. Europe/Moscow)"
        ) from None
    if console.secure_cookie not in ("auto", "always", "never"):
        raise ConfigError(f"console.secure_cookie must be auto, always or never, got "
                          f"{console.secure_cookie!r}")  # fmt: skip


def check_speech(speech: SpeechConfig) -> None:
    """``[speech]``: a pool that can run, bounded waits and replies."""
    for name in ("workers", "cpu_threads"):
        if getattr(speech, name) < 1:
            raise ConfigError(f"speech.{name} must be at least 1, got {getattr(speech, name)}")
    if speech.queue < 0:
        raise ConfigError(f"speech.queue must be 0 or more, got {speech.queue}")
    if not 1 <= speech.max_reply_seconds <= 30:
        raise ConfigError(f"speech.max_reply_seconds must be from 1 to 30, got "
                          f"{speech.max_reply_seconds}")  # fmt: skip
    if not 0.5 <= speech.recognition_timeout_seconds <= 120:
        raise ConfigError(f"speech.recognition_timeout_seconds must be from 0.5 to 120, got "
                          f"{speech.recognition_timeout_seconds}")  # fmt: skip
    for name, low, high in (
        ("end_silence_ms", 200, 5000),
        ("barge_in_ms", 0, 5000),
        ("barge_in_after_ms", 0, 60000),
    ):
        if not low <= getattr(speech, name) <= high:
            raise ConfigError(f"speech.{name} must be from {low} to {high}, got "
                              f"{getattr(speech, name)}")  # fmt: skip


def check_amd(amd: AmdConfig) -> None:
    """``[amd]``: durations that let each rule fire, a threshold on the 16-bit scale."""
    for name in (
        "greeting_ms",
        "after_greeting_silence_ms",
        "initial_silence_ms",
        "min_word_length_ms",
        "max_word_length_ms",
        "greeting_end_silence_ms",
    ):
        if getattr(amd, name) < 20:
            raise ConfigError(f"amd.{name} must be at least 20 (one frame), got "
                              f"{getattr(amd, name)}")  # fmt: skip
    if not 1000 <= amd.total_analysis_ms <= 30000:
        raise ConfigError(f"amd.total_analysis_ms must be 1000..30000, got {amd.total_analysis_ms}")
    if not 1000 <= amd.max_greeting_wait_ms <= 120000:
        raise ConfigError(
            f"amd.max_greeting_wait_ms must be 1000..120000, got {amd.max_greeting_wait_ms}"
        )
    if amd.max_words < 1:
        raise ConfigError(f"amd.max_words must be at least 1, got {amd.max_words}")
    if not 1 <= amd.silence_threshold <= 32767:
        raise ConfigError(f"amd.silence_threshold must be 1..32767, got {amd.silence_threshold}")
    if amd.min_word_length_ms >= amd.max_word_length_ms:
        raise ConfigError(f"amd.min_word_length_ms ({amd.min_word_length_ms}) must be below "
                          f"amd.max_word_length_ms ({amd.max_word_length_ms})")  # fmt: skip


def check_config(config: Config) -> None:
    """Refuse values of the right type that the service cannot use, naming the key."""
    _numbers("", config)
    for f in dataclasses.fields(config):
        if dataclasses.is_dataclass(getattr(config, f.name)):
            _numbers(f"{f.name}.", getattr(config, f.name))
    # 0 = any free port (tests, several processes); RTP needs real ports.
    for name, port, lowest in (
        ("server.port", config.server.port, 0),
        ("sip.port", config.sip.port, 0),
        ("rtp.port_min", config.rtp.port_min, 1),
        ("rtp.port_max", config.rtp.port_max, 1),
    ):
        if not lowest <= port <= 65535:
            raise ConfigError(f"{name} must be a port number {lowest}..65535, got {port}")
    check_trunk(config.trunk, "trunk.")
    names: set[str] = set()
    for i, trunk in enumerate(config.trunks):
        check_trunk(trunk, f"trunks[{i}].")
        if trunk.name in names:
            raise ConfigError(f"trunks[{i}].name {trunk.name!r} is used by an earlier trunk")
        names.add(trunk.name)
        if not trunk.host:
            raise ConfigError(f"trunks[{i}].host must not be empty")
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
    check_tts(config.tts)
    _one_of("server.db_calls", config.server.db_calls, DB_CALLS_MODES)
    if config.database.timeout <= 0:
        raise ConfigError(f"database.timeout must be positive, got {config.database.timeout}")
    if config.dialer.max_recording_seconds <= 0:
        raise ConfigError("dialer.max_recording_seconds must be above 0")
    check_public_url(config.server.public_url)
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
    check_amd(config.amd)
    check_console(config.console)
    check_speech(config.speech)


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
    remote = [t.host for t in config.trunk_list if not _is_loopback(t.host)]
    trunk = remote[0] if remote else ""
    if trunk:
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
