"""The registry's parameter cache on its own, with a clock the test moves:
freshness, bounds, eviction and expiry kept in step with the lock-free index,
revisions that never go back, last known values."""

from dataclasses import dataclass

from fugue_ppl.deploy._cache import ParamCache


@dataclass(frozen=True)
class V:
    revision: int


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_fresh_within_the_ttl_stale_after_it():
    clock = Clock()
    cache = ParamCache(4, 10.0, clock)
    cache.put("a", V(1))
    assert cache.get("a") == V(1)
    clock.now += 9.9
    assert cache.get("a") == V(1)
    clock.now += 0.2
    assert cache.get("a") is None and cache.last_known("a") == V(1)
    assert (cache.hits, cache.misses) == (2, 1)
    assert len(cache) == 0 and cache._index == {}         # the expiry reached the index


def test_bounded_and_the_index_follows_evictions():
    clock = Clock()
    cache = ParamCache(3, 60.0, clock)
    for i, key in enumerate("abcde"):
        clock.now += 1
        cache.put(key, V(i))
    assert len(cache) == 3 and set(cache._index) == {"c", "d", "e"}
    assert [cache.get(k) for k in "abcde"] == [None, None, V(2), V(3), V(4)]
    assert len(cache._known) == 3


def test_a_lower_revision_never_replaces_a_higher_one():
    cache = ParamCache(4, 60.0, Clock())
    cache.put("a", V(3))
    cache.put("a", V(2))                  # a slow read racing a write
    assert cache.get("a") == V(3)
    cache.put("a", V(3))
    cache.put("a", V(4))
    assert cache.get("a") == V(4)


def test_invalidation_keeps_the_last_known_value():
    cache = ParamCache(4, 60.0, Clock())
    cache.put("a", V(1))
    cache.put("b", V(1))
    cache.invalidate("a")
    assert cache.get("a") is None and cache.get("b") == V(1)
    cache.invalidate()
    assert cache.get("b") is None and cache._index == {}
    assert cache.last_known("a") == V(1) and cache.last_known("b") == V(1)
