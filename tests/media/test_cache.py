"""The on-disk TTS cache: keys, atomic entries, LRU eviction under the size bound."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vestnik.media.tts.cache import TtsCache, cache_key


def pcm(n: int, value: int = 1000) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


def test_key_covers_every_input() -> None:
    base = ("espeak-ng", "1.52.0", "ru", {"rate": 175}, "текст")
    keys = {
        cache_key(*base),
        cache_key("piper", *base[1:]),
        cache_key(base[0], "1.53.0", *base[2:]),
        cache_key(*base[:2], "en", *base[3:]),
        cache_key(*base[:3], {"rate": 180}, base[4]),
        cache_key(*base[:4], "текст!"),
    }
    assert len(keys) == 6
    assert cache_key(*base) == cache_key(*base)


def test_round_trip_and_no_temp_files(tmp_path: Path) -> None:
    cache = TtsCache(tmp_path / "c", 1 << 20)
    assert cache.get("k") is None
    data = (np.arange(-500, 500) * 30).astype(np.int16)
    cache.put("k", data)
    assert np.array_equal(cache.get("k"), data)
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["k.pcm"]


def test_eviction_keeps_the_bound_and_the_recently_used(tmp_path: Path) -> None:
    cache = TtsCache(tmp_path, 100_000)  # ~ 50,000 samples
    for i in range(4):
        cache.put(f"k{i}", pcm(10_000))  # 20 kB each
        os.utime(tmp_path / f"k{i}.pcm", (1000 + i, 1000 + i))
    cache.get("k0")  # a hit makes k0 the most recent
    cache.put("k4", pcm(10_000))
    cache.put("k5", pcm(10_000))
    assert cache.size_bytes() <= 100_000
    present = {p.stem for p in tmp_path.glob("*.pcm")}
    assert "k0" in present and "k5" in present
    assert "k1" not in present  # the least recently used went first


def test_entry_larger_than_the_bound_is_not_stored(tmp_path: Path) -> None:
    cache = TtsCache(tmp_path, 1000)
    cache.put("big", pcm(1000))
    assert cache.get("big") is None


def test_torn_file_is_never_returned(tmp_path: Path) -> None:
    cache = TtsCache(tmp_path, 1 << 20)
    (tmp_path / "odd.pcm").write_bytes(b"\x01\x02\x03")
    assert cache.get("odd") is None
