"""Configuration: one TOML file plus ``VESTNIK_*`` environment overrides.

``settings`` holds every setting (a dataclass per section), ``loading`` reads the file and the
environment, ``checks`` refuses what the service cannot use. ``docs/configuration.md`` documents
every key; keep the two in step.
"""

from vestnik.config.checks import (
    CODECS,
    DB_CALLS_MODES,
    LOG_FORMATS,
    LOG_LEVELS,
    NUMBER_FORMATS,
    TRANSPORTS,
    TTS_ENGINES,
    check_config,
    deployment_warnings,
    rtp_port_count,
)
from vestnik.config.loading import (
    ENV_PREFIX,
    OTHER_VARIABLES,
    RENAMED_KEYS,
    load_config,
    setting_keys,
    unknown_variables,
    variable_for,
)
from vestnik.config.settings import (
    AmdConfig,
    Config,
    ConfigError,
    ConsoleConfig,
    DatabaseConfig,
    DialerConfig,
    EdgeConfig,
    LimitsConfig,
    LogConfig,
    MediaConfig,
    RtpConfig,
    ServerConfig,
    SipConfig,
    SpeechConfig,
    TrunkConfig,
    TtsConfig,
    WebhooksConfig,
)

__all__ = [
    "CODECS",
    "DB_CALLS_MODES",
    "ENV_PREFIX",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "NUMBER_FORMATS",
    "OTHER_VARIABLES",
    "RENAMED_KEYS",
    "TRANSPORTS",
    "TTS_ENGINES",
    "AmdConfig",
    "Config",
    "ConfigError",
    "ConsoleConfig",
    "DatabaseConfig",
    "DialerConfig",
    "EdgeConfig",
    "LimitsConfig",
    "LogConfig",
    "MediaConfig",
    "RtpConfig",
    "ServerConfig",
    "SipConfig",
    "SpeechConfig",
    "TrunkConfig",
    "TtsConfig",
    "WebhooksConfig",
    "check_config",
    "deployment_warnings",
    "load_config",
    "rtp_port_count",
    "setting_keys",
    "unknown_variables",
    "variable_for",
]
