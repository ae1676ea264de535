"""The dialer's message renderer: TTS text or a stored media file → shared 8 kHz PCM.

Lookups go memory → disk → work. Identical messages share one read-only numpy array: every
array handed out is registered in a weak map (so any message still playing is reused) and the
most recent ones are also held by a bounded LRU (so a popular message stays warm between calls).
Concurrent renders of the same message wait on one computation. Synthesis, file reads and
database lookups run in worker threads; the event loop only does dictionary work. A media
file's audio comes from this node's cache file or from the database
(:mod:`vestnik.media.shared_audio`), so any node plays any account's file.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from vestnik.calls import MessageType
from vestnik.calls.audio import Pcm
from vestnik.calls.ports import MessageSpec, RenderError
from vestnik.config import Config
from vestnik.media.level import SilentAudioError, conform
from vestnik.media.shared_audio import load_media_audio
from vestnik.media.tts import TtsEngine, TtsError, create_tts_engine, engine_name
from vestnik.media.tts.cache import TtsCache, cache_key
from vestnik.media.tts.normalize import normalize_text
from vestnik.store.accounts import account_name
from vestnik.store.db import DatabaseError, Engine
from vestnik.store.media import TYPE_SYSTEM, media_pcm
from vestnik.threads import run_in_thread

log = logging.getLogger(__name__)

TTS_CACHE_SUBDIR = "tts-cache"
NORMALIZED_TEXT_MEMO = 4096
TTS_KEY_MEMO = 4096


@functools.lru_cache(maxsize=NORMALIZED_TEXT_MEMO)
def _normalized(text: str, language: str) -> str:
    return normalize_text(text, language)


class _SharedBuffers:
    """key → read-only array; weak for arrays in use, strong for the ``capacity`` most recent."""

    def __init__(self, capacity: int) -> None:
        self._weak: weakref.WeakValueDictionary[str, np.ndarray] = weakref.WeakValueDictionary()
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._capacity = capacity

    def get(self, key: str) -> Pcm | None:
        arr = self._weak.get(key)
        if arr is not None:
            self._remember(key, arr)
        return arr

    def put(self, key: str, arr: Pcm) -> Pcm:
        existing = self._weak.get(key)
        if existing is not None:
            return existing
        arr.flags.writeable = False
        self._weak[key] = arr
        self._remember(key, arr)
        return arr

    def _remember(self, key: str, arr: Pcm) -> None:
        if self._capacity <= 0:
            return
        self._recent[key] = arr
        self._recent.move_to_end(key)
        while len(self._recent) > self._capacity:
            self._recent.popitem(last=False)

    def __len__(self) -> int:
        return len(self._weak)


class AudioRenderer:
    """Implements :class:`vestnik.calls.ports.MessageRenderer`.

    A TTS message is spoken by its account's engine: ``config.tts.account_engines`` by the
    account's name, else ``config.tts.engine``; each engine is loaded in a worker thread at its
    first message. ``tts`` overrides them all (tests, or a caller sharing one engine).
    """

    def __init__(self, config: Config, engine: Engine, *, tts: TtsEngine | None = None) -> None:
        self._config = config
        self._db = engine
        self._data_dir = config.data_path
        self._tts_override = tts
        # engine name ("espeak", "festival" …) → loaded engine; ``auto`` resolved here, so a
        # missing festival is warned about when the service starts.
        self._tts: dict[str, TtsEngine] = {}
        self._default_engine = engine_name(config.tts.engine, config.tts.festival_voice)
        self._account_engine: dict[int, str] = {}  # account id → engine name, learnt
        self._tts_lock = threading.Lock()
        self._disk = TtsCache(
            self._data_dir / TTS_CACHE_SUBDIR, config.tts.cache_max_mb * 1024 * 1024
        )
        self._buffers = _SharedBuffers(config.tts.memory_cache_items)
        self._inflight: dict[str, asyncio.Future[Pcm]] = {}
        # Per engine: text → (normalised text, cache key); hits skip normalising and hashing.
        self._tts_keys: dict[str, OrderedDict[str, tuple[str, str]]] = {}
        # media id → owning account (None for system files), learnt when first loaded.
        self._media_owner: dict[int, int | None] = {}

    @property
    def disk_cache(self) -> TtsCache:
        return self._disk

    def tts_engine(self, name: str | None = None) -> TtsEngine:
        """The engine ``name`` (default: ``[tts] engine``), loaded on first use (blocking: call
        from a worker thread)."""
        if self._tts_override is not None:
            return self._tts_override
        name = engine_name(name or self._default_engine, self._config.tts.festival_voice)
        with self._tts_lock:
            engine = self._tts.get(name)
            if engine is None:
                engine = self._tts[name] = create_tts_engine(self._config.tts, name)
            return engine

    def engine_of(self, account_id: int) -> str:
        """The engine name of an account's messages (blocking: reads the account's name)."""
        table = self._config.tts.account_engines
        if not table or self._tts_override is not None:
            return self._default_engine
        with self._db.connect() as conn:
            name = account_name(conn, account_id)
        engine = table.get(name or "", self._default_engine)
        return engine_name(engine, self._config.tts.festival_voice)

    async def render(self, message: MessageSpec) -> Pcm:
        try:
            if message.type == MessageType.TTS:
                return await self._render_tts(message.value, message.account_id)
            if message.type == MessageType.MEDIA:
                return await self._render_media(message.value, message.account_id)
        except RenderError:
            raise
        except (TtsError, OSError, DatabaseError) as exc:
            raise RenderError(f"{message.type} message: {exc}") from exc
        except Exception as exc:  # the port promises RenderError: a bug here is one too
            log.exception("rendering a %s message failed", message.type)
            raise RenderError(f"{message.type} message: internal error {exc!r}") from exc
        raise RenderError(f"unknown message type {message.type!r}")

    async def _shared(
        self, key: str, compute: Callable[[], Pcm], flight_key: str | None = None
    ) -> Pcm:
        """The array for ``key``: from memory, or computed once in a worker thread.

        Renders with the same ``flight_key`` (default: ``key``) in progress at the same time
        wait for one computation.
        """
        arr = self._buffers.get(key)
        if arr is not None:
            return arr
        flight_key = flight_key or key
        future = self._inflight.get(flight_key)
        if future is None:
            future = asyncio.ensure_future(self._compute(key, compute))
            self._inflight[flight_key] = future
            future.add_done_callback(lambda _f: self._inflight.pop(flight_key, None))
        # shield: one caller giving up (its call was released) must not cancel the others'.
        return await asyncio.shield(future)

    async def _compute(self, key: str, compute: Callable[[], Pcm]) -> Pcm:
        arr = await run_in_thread(compute)
        return self._buffers.put(key, arr)

    async def _render_tts(self, text: str, account_id: int) -> Pcm:
        name = self._account_engine.get(account_id)
        if name is None:
            if self._config.tts.account_engines:
                name = await run_in_thread(self.engine_of, account_id)
            else:
                name = self._default_engine
            self._account_engine[account_id] = name
        tts = self._tts_override or self._tts.get(name)
        if tts is None:
            tts = await run_in_thread(self.tts_engine, name)
        memo = self._tts_keys.get(name)
        if memo is None:
            memo = self._tts_keys[name] = OrderedDict()
        known = memo.get(text)
        if known is None:
            spoken = _normalized(text, tts.language)
            known = (spoken, cache_key(tts.name, tts.version, tts.voice, tts.params, spoken))
            memo[text] = known
            while len(memo) > TTS_KEY_MEMO:
                memo.popitem(last=False)
        spoken, digest = known
        return await self._shared("tts:" + digest, lambda: self._synthesize(tts, digest, spoken))

    def _synthesize(self, tts: TtsEngine, key: str, spoken: str) -> Pcm:
        cached = self._disk.get(key)
        if cached is not None:
            return cached
        if not spoken.strip():
            raise RenderError("the TTS text has nothing to say")
        speech = tts.synthesize(spoken)
        try:
            pcm = conform(speech.samples, speech.sample_rate)
        except SilentAudioError as exc:
            raise RenderError(f"{tts.name} produced no audio for the text") from exc
        self._disk.put(key, pcm)
        return pcm

    async def _render_media(self, value: str, account_id: int) -> Pcm:
        try:
            media_id = int(value)
        except ValueError as exc:
            raise RenderError(f"media file id {value!r} is not a number") from exc
        key = f"media:{media_id}"
        if media_id in self._media_owner:
            owner = self._media_owner[media_id]
            if owner is not None and owner != account_id:
                raise RenderError(f"media file {media_id} not found")
        else:
            # Owner unknown: the memory entry cannot exist yet; a render in flight for another
            # account must not hand us its result unchecked, hence the per-account flight key.
            flight = f"{key}@{account_id}"
            return await self._shared(key, lambda: self._load_media(media_id, account_id), flight)
        return await self._shared(key, lambda: self._load_media(media_id, account_id))

    def _load_media(self, media_id: int, account_id: int) -> Pcm:
        with self._db.connect() as conn:
            row = media_pcm(conn, media_id)
        if row is None or (row.type != TYPE_SYSTEM and row.account_id != account_id):
            # Someone else's file is "not found" too: never reveal other accounts' ids.
            raise RenderError(f"media file {media_id} not found")
        # This node's cache file, or the database's copy (then cached): any node plays it.
        pcm = load_media_audio(self._db, self._data_dir, media_id, row)
        if pcm.size == 0:
            raise RenderError(f"media file {media_id}: its audio is empty")
        self._media_owner[media_id] = None if row.type == TYPE_SYSTEM else row.account_id
        return pcm
