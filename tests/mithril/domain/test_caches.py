from __future__ import annotations

import threading

import pytest

from flow_notebook.providers.mithril.domain.caches import DiskTtlCache, TtlCache


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_value_is_returned_until_it_expires():
    clock = FakeClock()
    cache = TtlCache(ttl_seconds=10, max_entries=4, clock=clock)
    cache.set("a", 1)
    clock.now += 9.9
    assert cache.get("a") == 1
    clock.now += 0.1
    assert cache.get("a") is None
    assert cache.get("a", default="gone") == "gone"


def test_least_recently_used_entry_is_evicted_when_full():
    cache = TtlCache(ttl_seconds=60, max_entries=2, clock=FakeClock())
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1  # touch a, so b is now the oldest
    cache.set("c", 3)
    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert cache.get("c") == 3
    assert len(cache) == 2


def test_invalidate_and_clear_remove_entries():
    cache = TtlCache(ttl_seconds=60, max_entries=4)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.invalidate("a")
    assert cache.get("a") is None
    assert cache.get("b") == 2
    cache.clear()
    assert len(cache) == 0


def test_get_or_load_caches_the_loaded_value_and_reloads_after_expiry():
    clock = FakeClock()
    cache = TtlCache(ttl_seconds=5, max_entries=4, clock=clock)
    calls = []

    def loader():
        calls.append(1)
        return len(calls)

    assert cache.get_or_load("k", loader) == 1
    assert cache.get_or_load("k", loader) == 1
    clock.now += 5
    assert cache.get_or_load("k", loader) == 2


def test_get_or_load_calls_loader_once_for_concurrent_callers():
    cache = TtlCache(ttl_seconds=60, max_entries=4)
    release = threading.Event()
    calls = []

    def slow_loader():
        calls.append(1)
        release.wait(5)
        return "value"

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_load("k", slow_loader)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    # Give the threads a moment to pile up on the in-flight load, then release it.
    threading.Event().wait(0.05)
    release.set()
    for thread in threads:
        thread.join(5)
    assert results == ["value"] * 8
    assert calls == [1]


def test_failed_load_is_not_cached_and_reaches_the_caller():
    cache = TtlCache(ttl_seconds=60, max_entries=4)

    def failing():
        raise RuntimeError("api down")

    with pytest.raises(RuntimeError, match="api down"):
        cache.get_or_load("k", failing)
    assert cache.get_or_load("k", lambda: "ok") == "ok"


def test_disk_cache_survives_a_new_instance_like_a_new_kernel(tmp_path):
    first = DiskTtlCache(tmp_path / "cache", ttl_seconds=60)
    first.get_or_load("catalogue", lambda: [{"fid": "it_1", "num_gpus": 8}])
    first.close()
    second = DiskTtlCache(tmp_path / "cache", ttl_seconds=60)
    try:
        loaded = second.get_or_load("catalogue", lambda: pytest.fail("refetched"))
        assert loaded == [{"fid": "it_1", "num_gpus": 8}]
    finally:
        second.close()


def test_disk_cache_entry_expires_after_ttl(tmp_path):
    clock = FakeClock(now=1_700_000_000.0)
    cache = DiskTtlCache(tmp_path / "cache", ttl_seconds=30, clock=clock)
    try:
        cache.set("k", {"a": 1})
        clock.now += 29
        assert cache.get("k") == {"a": 1}
        clock.now += 1
        assert cache.get("k") is None
        assert cache.get_or_load("k", lambda: {"a": 2}) == {"a": 2}
    finally:
        cache.close()


def test_disk_cache_rejects_values_that_are_not_json(tmp_path):
    cache = DiskTtlCache(tmp_path / "cache", ttl_seconds=30)
    try:
        with pytest.raises(TypeError):
            cache.set("k", object())
        cache.set("k", [1, 2])
        cache.invalidate("k")
        assert cache.get("k") is None
    finally:
        cache.close()
