"""The registry's parameter cache: bounded, least recently used, with a TTL.

A fresh entry (younger than the TTL) is served without asking the store; a
write in this process replaces its entries at once, other processes' writes
reach it when the TTL expires (or at once, through the store's
invalidations). The last value read of each key is also kept (bounded the
same way) for when the store is unavailable: serving the last known
parameters beats failing every request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from fugue_ppl._extras import require
from fugue_ppl.deploy._fresh import FreshIndex, monotonic

__all__ = ["ParamCache"]


def _indexed_cache(cachetools):
    """A ``TTLCache`` that mirrors its entries into a plain dict ``index`` of
    ``key -> (value, expires)`` as they are stored, evicted or expired."""

    class IndexedTTLCache(cachetools.TTLCache):
        def __init__(self, maxsize, ttl, timer, index):
            super().__init__(maxsize, ttl, timer)
            self.index: dict = index

        def __setitem__(self, key, value):
            super().__setitem__(key, value)
            self.index[key] = (value, self.timer() + self.ttl)

        def __delitem__(self, key):
            super().__delitem__(key)
            self.index.pop(key, None)

        def expire(self, time=None):
            expired = super().expire(time)
            for key, _ in expired:
                self.index.pop(key, None)
            return expired

        def clear(self):
            super().clear()
            self.index.clear()

    return IndexedTTLCache


class ParamCache:
    """A thread-safe ``cachetools.TTLCache`` of versions, plus their last known values.

    Writes (stores, invalidations, evictions, expiries) go through the
    ``TTLCache`` under a lock; a read of a fresh entry takes no lock: it
    looks the key up in a plain dict the ``TTLCache`` keeps in step with its
    entries (:class:`~fugue_ppl.deploy._fresh.FreshIndex`, compiled: a hit
    costs a dict lookup and a read of the fast clock). Recency, for
    eviction, is that of the entry's last store (each key is stored again
    at least once per TTL while it is read).

    Values carry a ``revision``: a value never replaces one with a higher
    revision (so a slow read racing a write cannot bring an old version back).

    Parameters
    ----------
    maxsize : int
        Most entries kept.
    ttl : float
        Seconds an entry stays fresh.
    timer : callable, optional
        The clock (the core's fast monotonic clock,
        :func:`~fugue_ppl.deploy._fresh.monotonic`).
    """

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float] = monotonic):
        cachetools = require("deploy", "cachetools", feature="the registry's parameter cache")
        self._reader = FreshIndex(timer)
        self._index = self._reader.entries
        self._fresh = _indexed_cache(cachetools)(maxsize, ttl, timer, self._index)
        self._known = cachetools.LRUCache(maxsize)
        self._lock = threading.Lock()
        #: The fresh value of a key, or None (lock-free; TypeError for an unhashable key).
        self.get: Callable[[Hashable], Any | None] = self._reader.get
        #: The ``params`` of the fresh value of ``(name, version)`` (lock-free); on a miss,
        #: what ``on_miss(name, version)`` returns (see :meth:`on_params_miss`), else None.
        self.params: Callable[[Any, Any], Any | None] = self._reader.params

    def on_params_miss(self, on_miss: Callable[[Any, Any], Any] | None) -> None:
        """Let :attr:`params` answer a miss with ``on_miss(name, version)``."""
        self._reader.on_miss = on_miss

    @property
    def hits(self) -> int:
        """Reads that found a fresh entry."""
        return self._reader.hits

    @property
    def misses(self) -> int:
        """Reads that did not."""
        return self._reader.misses
    def last_known(self, key: Hashable) -> Any | None:
        """The last value stored for ``key``, however old, or None."""
        with self._lock:
            return self._known.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value`` unless a value of a higher revision is stored."""
        with self._lock:
            old = self._known.get(key)
            if old is not None and old.revision > value.revision:
                return
            self._fresh[key] = value
            self._known[key] = value

    def invalidate(self, key: Hashable | None = None) -> None:
        """Make ``key`` (every key when None) stale; its last known value stays."""
        with self._lock:
            if key is None:
                self._fresh.clear()
            else:
                self._fresh.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            self._fresh.expire()
            return len(self._fresh)
