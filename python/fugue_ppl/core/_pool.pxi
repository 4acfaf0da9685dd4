# The trace pool: bounded, thread-safe reuse of C++ traces.

class PoolStats(namedtuple("PoolStats", ["hits", "misses", "returns", "drops", "size"])):
    """Counters of a :class:`TracePool`.

    Attributes
    ----------
    hits, misses : int
        Acquisitions served from the pool / that built a new trace.
    returns, drops : int
        Releases taken back / destroyed because the pool was full.
    size : int
        Idle traces in the pool now.
    hit_ratio : float
        ``hits / (hits + misses)`` (0.0 before any acquisition).
    """

    __slots__ = ()

    @property
    def hit_ratio(self):
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def to_dict(self):
        d = self._asdict()
        d["hit_ratio"] = self.hit_ratio
        return d


#: The most traces a :class:`TracePool` holds (its ``max_size`` and ``min_size`` limit).
MAX_POOL_SIZE = 1 << 20


cdef size_t _size_arg(object x, str name, Py_ssize_t low=0) except? 0:
    return check_int(x, name, "TracePool", low=low, high=MAX_POOL_SIZE)


cdef class TracePool:
    """A bounded, thread-safe pool of reusable traces.

    A pooled run (:class:`PooledPriorHandler`) takes an idle trace from the
    pool and reuses its buffers, so a model of fixed shape makes no heap
    allocation per run after warm-up.

    Parameters
    ----------
    max_size : int
        Most idle traces kept (>= 1); a release beyond it destroys the trace.
    min_size : int, optional
        Traces pre-built at construction and kept by :meth:`shrink`
        (default 0; at most ``max_size``).

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> pool = fp.TracePool(max_size=8)
    >>> handler = fp.PooledPriorHandler(rng=0, pool=pool)
    >>> for _ in range(3):
    ...     value, trace = fp.run(handler, lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
    ...     trace.release()
    >>> pool.stats.hits, pool.stats.misses
    (2, 1)
    """

    def __init__(self, max_size=64, min_size=None):
        if self.c.get() != NULL:
            raise _already_initialised(self)
        cdef size_t mx = _size_arg(max_size, "max_size", 1)
        cdef size_t mn = 0 if min_size is None else _size_arg(min_size, "min_size")
        if mn > mx:
            raise invalid("TracePool", "min_size", min_size,
                          f"must be <= max_size ({safe_repr(max_size)})")
        self.c.reset(new CTracePool(mx, mn))

    @property
    def max_size(self):
        return self.c.get().max_size()

    @property
    def min_size(self):
        return self.c.get().min_size()

    @property
    def stats(self):
        """A :class:`PoolStats` snapshot."""
        cdef CPoolStats s = self.c.get().stats()
        return PoolStats(s.hits, s.misses, s.returns, s.drops, s.size)

    def __len__(self):
        return self.c.get().stats().size

    def release(self, Trace trace not None):
        """Give ``trace`` back to this pool.

        Raises
        ------
        ValueError
            ``trace`` did not come from this pool.
        FugueError
            ``trace`` was already released.
        """
        if trace._pool is not self:
            raise ValueError("TracePool.release: this trace did not come from this pool")
        trace.release()

    def shrink(self):
        """Destroy idle traces beyond ``min_size``; return how many."""
        return self.c.get().shrink_to(self.c.get().min_size())

    def shrink_to(self, n):
        """Destroy idle traces beyond ``n``; return how many."""
        return self.c.get().shrink_to(_size_arg(n, "n"))

    def clear(self):
        """Destroy every idle trace; return how many."""
        return self.c.get().shrink_to(0)

    def __reduce__(self):
        raise TypeError("TracePool does not pickle: it holds traces that runs and results of "
                        "this process may be using; build a TracePool(max_size=..., "
                        "min_size=...) where it is needed (a PooledPriorHandler pickles with a "
                        "new empty pool of its pool's sizes)")

    def __repr__(self):
        s = self.stats
        return (f"TracePool(max_size={self.max_size}, min_size={self.min_size}, size={s.size}, "
                f"hits={s.hits}, misses={s.misses}, hit_ratio={s.hit_ratio:.3f})")
