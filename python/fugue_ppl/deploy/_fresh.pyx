# cython: boundscheck=False, wraparound=False
"""The parameter cache's read path, compiled: a cached read is a dict lookup,
a read of the core's fast monotonic clock and a comparison, with no lock and
no Python-level call.

:class:`FreshIndex` holds ``(name, version) -> (version, expires)`` for the
fresh entries of a :class:`~fugue_ppl.deploy._cache.ParamCache`, which keeps
it in step with its ``TTLCache`` (stores, evictions, expiries, invalidations)
under its lock; readers take no lock (a dict lookup is atomic under the GIL).
Expiry times are on :func:`monotonic` unless the cache was given another
clock (tests move one by hand), which is then called instead.
"""

from fugue_ppl.core._cclock cimport seconds_per_tick, ticks

__all__ = ["FreshIndex", "monotonic"]

cdef double _SPT = seconds_per_tick()    # (calibrated at import, not in a first read)


def monotonic():
    """Seconds on the core's fast monotonic clock (the invariant TSC, else steady_clock)."""
    return ticks() * _SPT


cdef class FreshIndex:
    """``key -> (value, expires)``, read without a lock (see the module's description).

    Parameters
    ----------
    timer : callable, optional
        The clock of the expiry times (:func:`monotonic` when None).

    Attributes
    ----------
    entries : dict
        The fresh entries, written by the owning cache under its lock.
    hits, misses : int
        Reads that found a fresh entry, and those that did not.
    on_miss : callable or None
        ``on_miss(name, version)`` answers a :meth:`params` that found no
        fresh entry (the registry's read through the store).
    """

    cdef readonly dict entries
    cdef readonly object timer
    cdef bint _fast
    cdef public long long hits
    cdef public long long misses
    cdef public object on_miss

    def __init__(self, timer=None):
        self.entries = {}
        self._fast = timer is None or timer is monotonic
        self.timer = monotonic if timer is None else timer
        self.hits = 0
        self.misses = 0
        self.on_miss = None

    cdef inline double _now(self) except? -1.0:
        if self._fast:
            return ticks() * _SPT
        return float(self.timer())

    cpdef object get(self, object key):
        """The fresh value of ``key``, or None (TypeError for an unhashable key)."""
        entry = self.entries.get(key)
        if entry is not None and <double>(<tuple>entry)[1] > self._now():
            self.hits += 1
            return (<tuple>entry)[0]
        self.misses += 1
        return None

    def params(self, name, version):
        """The ``params`` of the fresh value of ``(name, version)``; on a miss (or an
        unhashable argument), what ``on_miss(name, version)`` returns (None without
        one)."""
        try:
            entry = self.entries.get((name, version))
        except TypeError:
            entry = None
        if entry is not None and <double>(<tuple>entry)[1] > self._now():
            self.hits += 1
            return (<tuple>entry)[0].params
        self.misses += 1
        return None if self.on_miss is None else self.on_miss(name, version)
