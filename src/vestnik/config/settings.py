"""Every setting, as one dataclass per section of the TOML file (``[server]``, ``[trunk]`` …).

``docs/configuration.md`` documents every key (a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # Processes of ``vestnik serve`` sharing the HTTP port, each with its own SIP port, RTP
    # slice and dialer id (docs/configuration.md, "Several processes"); 1: one process, no
    # supervisor; 0: one per core. More than one needs PostgreSQL.
    workers: int = 1
    # Requests larger than this are refused before parsing (bytes).
    max_body_bytes: int = 1_048_576
    # Largest media upload accepted over HTTP (bytes).
    max_upload_bytes: int = 20_971_520
    # Where API requests run their database work: "thread" (a worker thread each; database
    # waits never stall the event loop), "inline" (on the event loop: less CPU per request),
    # "async" (PostgreSQL: start.informer_call on the event loop over asyncpg, the rest in
    # threads; SQLite: inline), "auto" (inline for SQLite, async for PostgreSQL).
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
    # The address clients reach this server at ("https://calls.example.ru"), for the links
    # the service hands out (recordings); empty: the links are paths ("/system/media/...").
    public_url: str = ""


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
    """One SIP peer (carrier, PBX or SBC) that receives our INVITEs: a ``[[trunks]]`` table,
    or the one-trunk shorthand ``[trunk]`` (``VESTNIK_TRUNK_*``). docs/configuration.md and
    docs/telephony.md ("Trunks") say what each key does."""

    # Unique; each [[trunks]] table must name itself, the [trunk] shorthand is "trunk".
    name: str = "trunk"
    # Empty (the shorthand): no trunk, and ``serve`` refuses to start the dialer.
    host: str = ""
    # 0: the transport's default, 5060 (udp, tcp) or 5061 (tls).
    port: int = 0
    # udp | tcp | tls.
    transport: str = "udp"
    username: str = ""
    password: str = ""
    # Keep a registration at the trunk (REGISTER with digest); routing skips the trunk while
    # it is not registered.
    register: bool = False
    register_expires: int = 300
    # Optional outbound proxy "host:port"; INVITEs go there, Request-URI stays on the trunk.
    outbound_proxy: str = ""
    # Domain of From (and of the Request-URI, and of REGISTER's To/From); empty: ``host``.
    from_domain: str = ""
    # "from": the caller number in From only; "pai": also P-Asserted-Identity.
    caller_id: str = "from"
    # New calls per second towards this trunk, all processes together (0 = no limit).
    calls_per_second: float = 0.0
    # Calls up at once on this trunk, all processes together (0 = no limit).
    max_concurrent_calls: int = 0
    # Matching trunks are tried in this order, lowest first.
    priority: int = 1
    # Account names whose calls may use this trunk (empty: all).
    accounts: list[str] = field(default_factory=list)
    # Contact number prefixes (digits) this trunk takes (empty: all).
    prefixes: list[str] = field(default_factory=list)
    # Seconds between OPTIONS probes (0: no probes; the trunk is taken to be up).
    options_interval: float = 30.0
    # TLS: CA bundle to verify the trunk's certificate (empty: the system store).
    tls_ca_file: str = ""
    tls_verify: bool = True
    # "plus": +74993720692, "plain": 74993720692.
    caller_format: str = "plain"
    callee_format: str = "plain"
    # Preferred audio codecs, in order. Known: PCMA, PCMU.
    codecs: list[str] = field(default_factory=lambda: ["PCMA", "PCMU"])
    # Offer RFC 4733 telephone-event (DTMF as RTP events); off, or when the answer lacks it,
    # DTMF is sent in-band as dual tones.
    telephone_event: bool = True

    @property
    def sip_port(self) -> int:
        return self.port or (5061 if self.transport == "tls" else 5060)

    @property
    def domain(self) -> str:
        return self.from_domain or self.host


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
    # ``record``: a call's recording stops this many seconds after the answer.
    max_recording_seconds: float = 600.0


@dataclass
class TtsConfig:
    """Message synthesis (docs/media.md, "TTS engines")."""

    # Every account's engine unless account_engines names another: auto, espeak, festival,
    # piper (TTS_ENGINES). auto: festival when installed, else espeak (with a start warning).
    engine: str = "auto"
    # espeak-ng voice.
    voice: str = "ru"
    # festival voice (Debian festvox-ru) and how many festival processes synthesise at once.
    festival_voice: str = "msu_ru_nsh_clunits"
    festival_processes: int = 1
    # piper: path to the .onnx voice model (its .onnx.json beside it).
    piper_model: str = ""
    # Account name → engine, for the accounts that speak with another engine than ``engine``.
    account_engines: dict[str, str] = field(default_factory=dict)
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
class EdgeConfig:
    """The SIP edge (a Kamailio that vestnik configures and supervises) that carries the
    calls of ``tcp`` and ``tls`` trunks: UDP towards vestnik, TCP/TLS towards the carrier.
    Started only when a trunk uses ``tcp`` or ``tls`` (docs/telephony.md, "TCP and TLS")."""

    # The Kamailio binary (Debian package ``kamailio``; TLS needs ``kamailio-tls-modules``).
    binary: str = "kamailio"
    # Carrier-facing address of the TCP/TLS listeners; empty: ``sip.bind_host``.
    bind_host: str = ""
    # Address written in Via/Record-Route towards the carrier (NAT); empty: ``sip.advertised_host``.
    advertised_host: str = ""
    # Carrier-facing ports; 0: a free port chosen at start (set fixed ports in production).
    tcp_port: int = 0
    tls_port: int = 0
    # Our certificate and key (PEM) for the TLS listener, also shown to carriers that ask for a
    # client certificate; empty: a self-signed pair made at start in ``data_dir``/edge.
    tls_certificate: str = ""
    tls_private_key: str = ""
    # Kamailio's shared memory (MB): ~64 carries 1000 concurrent calls.
    shared_memory_mb: int = 128


@dataclass
class AmdConfig:
    """Answering-machine detection (``detect_machine``), after Asterisk's AMD(): the same
    parameters, in milliseconds, with defaults tuned on our labelled set (docs/telephony.md,
    "Answering-machine detection"; docs/benchmarks.md has the measurement)."""

    # Silence before the first word longer than this: no one speaks (verdict unknown).
    initial_silence_ms: int = 2500
    # Voice in the greeting longer than this: a machine (a person says "Алло?" and waits).
    greeting_ms: int = 1500
    # Silence after the first words longer than this: a person waiting for an answer.
    after_greeting_silence_ms: int = 800
    # Undecided after this much audio: unknown (the call stops listening).
    total_analysis_ms: int = 5000
    # Voice shorter than this is no word.
    min_word_length_ms: int = 100
    # Silence at least this long ends a word.
    between_words_silence_ms: int = 50
    # This many words before a pause: a machine.
    max_words: int = 4
    # One word longer than this: a machine (or a tone).
    max_word_length_ms: int = 5000
    # A 20 ms frame is silence below this mean absolute amplitude (Asterisk's 256 of 32767).
    silence_threshold: int = 256
    # ... or below the background level times this (steady noise counts as silence).
    noise_ratio: float = 2.0
    # A machine's greeting is over after this much silence (when no beep was heard) ...
    greeting_end_silence_ms: int = 1500
    # ... or this much silence after its beep.
    beep_silence_ms: int = 200
    # The message starts after this much of the machine's audio at the latest.
    max_greeting_wait_ms: int = 20000


@dataclass
class ConsoleConfig:
    """The operator console at ``/console/`` (docs/console.md)."""

    # false: no console (``/console/`` answers 404).
    enabled: bool = True
    # A console login lapses after this many minutes without a request ...
    idle_minutes: int = 60
    # ... and after this many hours in any case.
    max_hours: int = 12
    # From this many consecutive failed logins of one login name on, it is locked ...
    lockout_after: int = 5
    # ... for this many seconds, doubled for each further failure, at most lockout_max_seconds.
    lockout_seconds: int = 30
    lockout_max_seconds: int = 3600
    # The session cookie's Secure flag: "auto" (when the request came over HTTPS, also as a
    # trusted proxy's X-Forwarded-Proto says), "always", "never".
    secure_cookie: str = "auto"
    # The time zone the console shows times in (an IANA name, e.g. "Europe/Moscow").
    timezone: str = "UTC"


@dataclass
class SpeechConfig:
    """Spoken replies (``collect_speech``): offline recognition, needs ``vestnik[speech]``
    (docs/speech.md)."""

    # false: ``collect_speech`` is refused even when the extra is installed.
    enabled: bool = True
    # Recognitions running at once (each a worker thread of the model) ...
    workers: int = 1
    # ... and replies waiting for one; a reply beyond both is reported as not recognised.
    queue: int = 8
    # Threads the model uses for one recognition.
    cpu_threads: int = 1
    # Where the packaged model is assembled on first use ("": <data_dir>/speech-model).
    model_dir: str = ""
    # A reply is cut after this many seconds of speech.
    max_reply_seconds: float = 8.0
    # A reply waiting longer than this for recognition is reported as not recognised.
    recognition_timeout_seconds: float = 10.0
    # Silence (no voice) after speech that ends a reply.
    end_silence_ms: int = 700
    # Speech this long over the message cuts it (barge-in); 0: the reply is heard only after.
    barge_in_ms: int = 300
    # Speech that starts this soon after the message does is the callee's "Алло?": no barge-in.
    barge_in_after_ms: int = 1500


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
    # The one-trunk shorthand; ``trunks`` ([[trunks]] tables) for several. Not both.
    trunk: TrunkConfig = field(default_factory=TrunkConfig)
    trunks: list[TrunkConfig] = field(default_factory=list)
    sip: SipConfig = field(default_factory=SipConfig)
    rtp: RtpConfig = field(default_factory=RtpConfig)
    dialer: DialerConfig = field(default_factory=DialerConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    amd: AmdConfig = field(default_factory=AmdConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)

    @property
    def trunk_list(self) -> list[TrunkConfig]:
        """The configured trunks: ``[[trunks]]``, else the ``[trunk]`` shorthand if it names a
        host, else none."""
        if self.trunks:
            return self.trunks
        return [self.trunk] if self.trunk.host else []

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_path / 'vestnik.db').resolve()}"
