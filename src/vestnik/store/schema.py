"""Tables (SQLAlchemy Core). Migrations in ``store/migrations`` must match this file.

Times are stored as UNIX seconds (float, UTC): cheap to compare and index on SQLite and
PostgreSQL alike; the API renders them as ISO 8601.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from vestnik.calls.events import CALL_SOURCE

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# An integer primary key that SQLite never reuses (AUTOINCREMENT) and PostgreSQL serves from
# a sequence: call_session_id must be unique and increasing for ever.
_ID: dict[str, Any] = {"primary_key": True, "autoincrement": True}
_SQLITE_AUTOINCREMENT: dict[str, Any] = {"sqlite_autoincrement": True}

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, **_ID),
    Column("name", String(200), nullable=False, unique=True),
    Column("is_active", Boolean, nullable=False, default=True),
    # Components (vendor concept): gate methods / features.
    Column("informer_call_enabled", Boolean, nullable=False, default=True),
    Column("number_management_enabled", Boolean, nullable=False, default=False),
    # JSON list of CIDR strings; empty list = no address may use the API.
    Column("ip_allowlist", JSON, nullable=False),
    # Call-direction security rules.
    Column("allow_mobile", Boolean, nullable=False, default=True),
    Column("allow_long_distance", Boolean, nullable=False, default=True),
    Column("allow_international", Boolean, nullable=False, default=False),
    # Home region of the account: calls to other regions are "long distance".
    Column("home_region", String(200), nullable=True),
    Column("home_country", String(2), nullable=False, default="RU"),
    Column("minute_limit", Integer, nullable=False),
    Column("day_limit", Integer, nullable=False),
    Column("tts_max_length", Integer, nullable=False),
    Column("max_concurrent_calls", Integer, nullable=False),
    # {method: weight}; methods not listed weigh the configured default.
    Column("method_weights", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    # Options for sessions whose request sends none of them (calls.options: retry,
    # calling_window, detect_machine, record, as CallOptions.to_json); NULL: no policy.
    Column("call_policy", JSON(none_as_null=True), nullable=True),
    **_SQLITE_AUTOINCREMENT,
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, **_ID),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("login", String(200), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("created_at", Float, nullable=False),
    **_SQLITE_AUTOINCREMENT,
)

# Both kinds of access token: 1-hour session tokens from login.user and permanent API keys.
# Only a SHA-256 of the token is kept.
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", Integer, **_ID),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # "session" | "permanent"
    Column("expires_at", Float, nullable=True),
    Column("is_blocked", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    **_SQLITE_AUTOINCREMENT,
)

virtual_numbers = Table(
    "virtual_numbers",
    metadata,
    Column("id", Integer, **_ID),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("number", String(32), nullable=False, unique=True),  # E.164 digits, no "+"
    Column("region", String(200), nullable=True),
    Column("status", String(16), nullable=False, default="active"),
    Column("created_at", Float, nullable=False),
    **_SQLITE_AUTOINCREMENT,
)

# fixed_for_numa / regional_fixed_for_numa: the caller number a contact got first, kept.
numa_caller_numbers = Table(
    "numa_caller_numbers",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("contact", String(255), primary_key=True),
    Column("rule", String(32), primary_key=True),
    Column("number", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
)

employees = Table(
    "employees",
    metadata,
    Column("id", Integer, **_ID),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("sip_uri", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("account_id", "sip_uri", name="uq_employees_account_uri"),
    **_SQLITE_AUTOINCREMENT,
)

blacklist = Table(
    "blacklist",
    metadata,
    Column("id", Integer, **_ID),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("number", String(255), nullable=False),
    Column("comment", Text, nullable=True),
    # The login of the user whose session token added it; NULL for API keys and the CLI.
    Column("added_by", String(200), nullable=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("account_id", "number", name="uq_blacklist_account_number"),
    **_SQLITE_AUTOINCREMENT,
)

media_files = Table(
    "media_files",
    metadata,
    Column("id", Integer, **_ID),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=True, index=True),
    Column("type", String(16), nullable=False),  # "system" | "user"
    Column("name", String(255), nullable=False),
    Column("original_filename", String(255), nullable=True),
    Column("format", String(32), nullable=True),
    Column("size", BigInteger, nullable=False),  # bytes of the original
    Column("duration_ms", Integer, nullable=False),
    Column("original_path", Text, nullable=True),
    Column("pcm_path", Text, nullable=False),  # 8 kHz mono s16le, level-normalised
    Column("created_at", Float, nullable=False),
    # Set by ``vestnik admin media remove``: the row stays for the sessions that name it.
    Column("removed_at", Float, nullable=True),
    **_SQLITE_AUTOINCREMENT,
)

# The message audio of a media file, as the renderer plays it (8 kHz mono s16le, level-
# normalised): every node on the database plays it from here; the ``pcm_path`` files under
# each node's ``<data_dir>/media/`` are that node's cache of it. ``pcm_bytes`` and
# ``pcm_sha256`` let a node check its cache without reading ``pcm``.
media_audio = Table(
    "media_audio",
    metadata,
    Column(
        "media_file_id",
        Integer,
        ForeignKey("media_files.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("pcm_bytes", BigInteger, nullable=False),
    Column("pcm_sha256", String(64), nullable=False),
    Column("pcm", LargeBinary, nullable=False),
)

# National numbering-plan registry: ranges of full numbers (country code included).
numbering_plan = Table(
    "numbering_plan",
    metadata,
    Column("id", Integer, **_ID),
    Column("number_from", BigInteger, nullable=False),
    Column("number_to", BigInteger, nullable=False),
    Column("operator", String(255), nullable=True),
    Column("region", String(255), nullable=True),
    Index("ix_numbering_plan_from", "number_from"),
    **_SQLITE_AUTOINCREMENT,
)

limit_counters = Table(
    "limit_counters",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id"), primary_key=True),
    Column("period", String(8), primary_key=True),  # "minute" | "day"
    Column("window_start", BigInteger, primary_key=True),  # UNIX seconds of the window
    Column("used", Integer, nullable=False),
)

call_sessions = Table(
    "call_sessions",
    metadata,
    Column("id", Integer, **_ID),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("access_token_id", Integer, nullable=True),
    Column("source", String(32), nullable=False, default=CALL_SOURCE),
    # The JSON-RPC id, JSON-encoded (it may be a string or a number).
    Column("request_id", String(255), nullable=True),
    Column("external_id", String(255), nullable=True),
    Column("virtual_phone_number", String(32), nullable=False),  # as requested
    Column("usage_rule", String(32), nullable=False),
    Column("caller_number", String(32), nullable=False),  # the number actually used
    Column("contact", String(255), nullable=False),
    Column("contact_kind", String(8), nullable=False),  # "phone" | "sip"
    Column("contact_region", String(255), nullable=True),
    Column("contact_country", String(2), nullable=True),  # ISO 3166 alpha-2 of a phone contact
    Column("direction", String(8), nullable=False),
    Column("dtmf_string", String(255), nullable=True),
    Column("dialing_timeout", Float, nullable=False),
    Column("message_type", String(8), nullable=False),
    Column("message_value", Text, nullable=False),
    Column("media_file_id", Integer, nullable=True),
    Column("state", String(16), nullable=False),
    Column("finish_reason", String(64), nullable=True),
    Column("finish_detail", Text, nullable=True),
    Column("sip_code", Integer, nullable=True),
    Column("sip_reason", String(255), nullable=True),
    Column("sip_call_id", String(255), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("dial_at", Float, nullable=True),
    Column("ring_at", Float, nullable=True),
    Column("answer_at", Float, nullable=True),
    Column("end_at", Float, nullable=True),
    # release.call on a session that is being dialled: the dialer sees it and hangs up.
    Column("release_requested", Boolean, nullable=False, default=False),
    # Work-queue lease: which dialer owns the session and until when.
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", Float, nullable=True),
    Column("dial_attempts", Integer, nullable=False, default=0),
    # The trunk that carried the call (the last one tried); NULL when no INVITE went out.
    Column("trunk", String(255), nullable=True),
    # Every INVITE of the call, in order: [{"trunk", "sip_code", "sip_reason"}, ...];
    # NULL until the dialer finishes the session.
    Column("attempts", JSON(none_as_null=True), nullable=True),
    # vestnik's options the session runs with (calls.options.CallOptions.to_json); NULL: none.
    Column("options", JSON(none_as_null=True), nullable=True),
    # Queued and not to be dialled before this time (a calling window, a retry's interval).
    Column("scheduled_at", Float, nullable=True),
    Column("attempt_count", Integer, nullable=False, server_default="0"),
    Column("attempt_log", JSON(none_as_null=True), nullable=True),  # every ended attempt
    Column("dtmf_reply", String(64), nullable=True),
    Column("answered_by", String(8), nullable=True),  # human | machine | unknown
    # collect_speech: the recognised reply ("" none) and the intent it matched (NULL: none).
    Column("speech_reply", Text, nullable=True),
    Column("speech_intent", String(32), nullable=True),
    Index("ix_call_sessions_state_id", "state", "id"),
    # The claim: due scheduled sessions by time, then the unscheduled by id (store.sessions).
    Index("ix_call_sessions_state_scheduled", "state", "scheduled_at", "id"),
    Index("ix_call_sessions_account_created", "account_id", "created_at"),
    Index("ix_call_sessions_account_state", "account_id", "state"),
    **_SQLITE_AUTOINCREMENT,
)

# The audio of a call (``record``): one WAV per attempt that was answered, kept in the
# database so that any node serves it (8 kHz 16-bit; channel 1 the callee, channel 2 ours).
call_recordings = Table(
    "call_recordings",
    metadata,
    Column("id", Integer, **_ID),
    Column("call_session_id", Integer, ForeignKey("call_sessions.id"), nullable=False, index=True),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("wav", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    **_SQLITE_AUTOINCREMENT,
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, **_ID),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),  # list of event types
    Column("secret", String(255), nullable=False),
    Column("body_template", Text, nullable=True),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("created_at", Float, nullable=False),
    **_SQLITE_AUTOINCREMENT,
)

# Written in the same transaction as the session's state change (transactional outbox).
call_events = Table(
    "call_events",
    metadata,
    Column("id", Integer, **_ID),
    Column("account_id", Integer, ForeignKey("accounts.id"), nullable=False),
    Column("call_session_id", Integer, ForeignKey("call_sessions.id"), nullable=False),
    Column("event_type", String(32), nullable=False),  # call_started|call_answered|call_finished
    Column("payload", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    # Fan-out to webhooks done (deliveries created).
    Column("dispatched", Boolean, nullable=False, default=False),
    Index("ix_call_events_dispatched_id", "dispatched", "id"),
    Index("ix_call_events_session", "call_session_id"),
    **_SQLITE_AUTOINCREMENT,
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, **_ID),
    Column("event_id", Integer, ForeignKey("call_events.id"), nullable=False),
    Column("webhook_id", Integer, ForeignKey("webhooks.id"), nullable=False),
    Column("call_session_id", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | parked
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("event_id", "webhook_id", name="uq_webhook_deliveries_event_hook"),
    Index("ix_webhook_deliveries_state_next", "state", "next_attempt_at"),
    # Per-session ordering: "is an earlier event of this session still pending for this hook?"
    Index("ix_webhook_deliveries_hook_session", "webhook_id", "call_session_id", "event_id"),
    **_SQLITE_AUTOINCREMENT,
)


# What each dialer process last knew of each trunk (``vestnik admin trunk list``): written
# by the telephony's trunk listener, one row per trunk and dialer id.
trunk_status = Table(
    "trunk_status",
    metadata,
    Column("trunk", String(200), primary_key=True),
    Column("dialer", String(64), primary_key=True),  # the dialer id ([dialer] id)
    Column("transport", String(8), nullable=False),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("registered", Boolean, nullable=True),  # NULL: the trunk does not register
    Column("state", String(8), nullable=False),  # up | down | unknown
    Column("last_error", Text, nullable=True),
    Column("updated_at", Float, nullable=False),
)

# A trunk's calls_per_second for every process together: the earliest instant the next
# INVITE may leave (a shared schedule, advanced by 1/rate per call).
trunk_rates = Table(
    "trunk_rates",
    metadata,
    Column("trunk", String(200), primary_key=True),
    Column("next_call_at", Float, nullable=False),
)

# A trunk's max_concurrent_calls for every process together: the calls each dialer run
# (lease owner) has up on the trunk, counted while its lease runs (a dead run's lapse).
trunk_places = Table(
    "trunk_places",
    metadata,
    Column("trunk", String(200), primary_key=True),
    Column("owner", String(64), primary_key=True),
    Column("calls", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# The console's people who see every account (account users log in with their ``users`` row).
operators = Table(
    "operators",
    metadata,
    Column("id", Integer, **_ID),
    Column("login", String(200), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_blocked", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    **_SQLITE_AUTOINCREMENT,
)

# A console login: the cookie's SHA-256, who (an operator or an account user: no foreign key,
# the lookup joins, so removing either ends the session without touching this table first),
# the CSRF token of its forms, and when it lapses (idle and absolute).
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("operator_id", Integer, nullable=True, index=True),
    Column("user_id", Integer, nullable=True, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# Consecutive failed console logins per login name, and the lockout they caused.
console_logins = Table(
    "console_logins",
    metadata,
    Column("login", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("locked_until", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
)


def text_length(column: Column[Any]) -> int | None:
    """The most characters a text column holds (None: no limit)."""
    return getattr(column.type, "length", None)
