# Handlers: what sample / observe / factor mean in a run. Each handler type
# holds its own objects (generator, base trace, pool) and fills the RunSpec
# that run_core hands to the C++ run; wrappers (HandlerWrapper subclasses in
# the layers above) copy their inner handler's spec and plug into runs through
# the hooks declared in _runtime.pxd.

cdef class Handler:
    """Base class of the handlers: decides what an effect means in a run.

    Use one of :class:`PriorHandler`, :class:`PooledPriorHandler`,
    :class:`ReplayHandler`, :class:`SafeReplayHandler`,
    :class:`ScoreGivenTrace`, :class:`SafeScoreGivenTrace`, or a wrapper
    (``MetricsHandler``, ``RobustHandler``).
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("Handler is abstract; use PriorHandler, ReplayHandler, ...")

    cdef int _claim(self) except -1:
        # Each handler is initialised once: a run in progress points into
        # its generator, base trace and pool.
        if self._ready:
            raise _already_initialised(self)
        self._ready = True
        return 0

    @property
    def base(self):
        """The base trace (Replay / Score handlers), else None."""
        return None

    def __repr__(self):
        return f"{type(self).__name__}()"


cdef class _Sampling(Handler):
    # A handler that draws: owns its generator. A Generator (or BitGenerator)
    # of the caller's may be used elsewhere, so each run holds numpy's own
    # lock; a generator seeded here is private and a C++ run lock guards it,
    # at a fraction of the cost.
    cdef object _gen
    cdef object _acquire
    cdef object _release
    cdef unique_ptr[CRunLock] _mu

    cdef int _set_rng(self, object rng) except -1:
        self._gen = as_generator(rng)
        self._spec.bg = bitgen_of(self._gen)
        self._spec.sampler = <PyObject*>self
        if isinstance(rng, (np.random.Generator, np.random.BitGenerator)):
            lock = self._gen.bit_generator.lock
            self._acquire = lock.acquire
            self._release = lock.release
        else:
            self._mu.reset(new CRunLock())
            self._spec.lock = self._mu.get()
        return 0


cdef Trace _own_base(object owner, object base):
    # The base trace a handler keeps: a pooled trace can be released by its
    # owner, so the handler holds its own copy of it.
    if not isinstance(base, Trace):
        raise TypeError(f"{type(owner).__name__}: base must be a Trace, got "
                        f"{type(base).__name__}")
    if (<Trace>base)._pool is not None:
        return (<Trace>base).copy()
    (<Trace>base)._get()
    return <Trace>base


cdef class PriorHandler(_Sampling):
    """Draw every ``sample`` from its distribution.

    Parameters
    ----------
    rng : None, int, SeedSequence or Generator
        Source of randomness (SPEC 7). The same seed gives the same trace.
        A Generator of yours is locked (numpy's own lock) for the length of
        each run, as numpy locks it for a fill: do not call that Generator
        from inside the model. A seed gives the handler a private generator.
    """

    def __init__(self, rng=None):
        self._claim()
        self._spec.mode = HandlerMode.Prior
        self._set_rng(rng)


cdef class PooledPriorHandler(PriorHandler):
    """:class:`PriorHandler` that records into traces taken from a pool.

    Parameters
    ----------
    rng : None, int, SeedSequence or Generator
    pool : TracePool, optional
        Default: a new ``TracePool(max_size=64)``.
    """

    cdef TracePool _pool

    def __init__(self, rng=None, pool=None):
        self._claim()
        self._spec.mode = HandlerMode.Prior
        self._set_rng(rng)
        if pool is None:
            pool = TracePool(64)
        if not isinstance(pool, TracePool):
            raise TypeError(f"PooledPriorHandler: pool must be a TracePool, got "
                            f"{type(pool).__name__}")
        self._pool = pool
        self._spec.pool = <PyObject*>pool

    @property
    def pool(self):
        return self._pool


cdef class _Replaying(_Sampling):
    cdef Trace _base

    cdef int _init(self, HandlerMode mode, object base, object rng) except -1:
        self._claim()
        self._spec.mode = mode
        self._base = _own_base(self, base)
        self._spec.base = self._base._get()
        self._set_rng(rng)
        return 0

    @property
    def base(self):
        return self._base


cdef class ReplayHandler(_Replaying):
    """Reuse the values of ``base`` where it has the address; draw elsewhere.

    Log-probabilities are recomputed under the model's current distributions.
    A pooled ``base`` is copied, so releasing it does not affect the handler.

    Raises (during a run)
    ---------------------
    TypeMismatch
        The base value's type differs from the distribution's (code 600).
    AddressConflict
        An address is used twice (code 301).
    """

    def __init__(self, base, rng=None):
        self._init(HandlerMode.Replay, base, rng)


cdef class SafeReplayHandler(_Replaying):
    """:class:`ReplayHandler` that never raises for a trace problem.

    A type clash draws a fresh value, a duplicate address keeps the first
    choice; either adds ``-inf`` to ``log_prior`` and issues a
    :class:`~fugue_ppl.errors.FugueWarning`.
    """

    def __init__(self, base, rng=None):
        self._init(HandlerMode.SafeReplay, base, rng)


cdef class _Scoring(Handler):
    cdef Trace _base

    cdef int _init(self, HandlerMode mode, object base) except -1:
        self._claim()
        self._spec.mode = mode
        self._base = _own_base(self, base)
        self._spec.base = self._base._get()
        return 0

    @property
    def base(self):
        return self._base


cdef class ScoreGivenTrace(_Scoring):
    """Take every sampled value from ``base`` and score it.

    A pooled ``base`` is copied, so releasing it does not affect the handler.

    Raises (during a run)
    ---------------------
    UnexpectedModelStructure
        ``base`` has no value at a sampled address (code 302).
    TypeMismatch
        The base value's type differs from the distribution's (code 600).
    """

    def __init__(self, base):
        self._init(HandlerMode.Score, base)


cdef class SafeScoreGivenTrace(_Scoring):
    """:class:`ScoreGivenTrace` that never raises for a trace problem.

    A missing address or a type clash yields the type's zero value with
    log-probability ``-inf`` and a :class:`~fugue_ppl.errors.FugueWarning`.
    """

    def __init__(self, base):
        self._init(HandlerMode.SafeScore, base)


cdef class HandlerWrapper(Handler):
    """Base class of the handlers that wrap another (``MetricsHandler``,
    ``RobustHandler``): runs are the inner handler's, and the wrapper is told
    of failed effects or of each run's outcome."""

    def __init__(self, *args, **kwargs):
        raise TypeError("HandlerWrapper is abstract; use MetricsHandler or RobustHandler")

    cdef int _wrap(self, object inner, bint effects, bint observer) except -1:
        # Takes the inner handler's spec and hooks, and registers this wrapper
        # for the hooks it serves (at most one of each kind in a chain).
        cdef Handler h
        name = type(self).__name__
        if not isinstance(inner, Handler):
            raise TypeError(f"{name}: inner must be a Handler, got {type(inner).__name__}")
        h = <Handler>inner
        if not h._ready:
            raise TypeError(f"{name}: inner is not initialised (a handler subclass must call "
                            "the base class's __init__)")
        taken = h._effects if effects and h._effects is not None else (
            h._observer if observer and h._observer is not None else None)
        if taken is not None:
            raise TypeError(f"{name}: inner is already a {type(taken).__name__} (or wraps one); "
                            "wrap the handler once")
        self.inner = h
        self._spec = h._spec
        self._effects = self if effects else h._effects
        self._observer = self if observer else h._observer
        return 0

    cdef object _sample_failed(self, CRun* r, CEffectResult res, AddrId aid, object addr,
                               Distribution dist):
        raise_effect_error(res.status, "sample", addr, dist)
        return box_value(res.value)

    cdef int _observe_failed(self, CRun* r, Status st, AddrId aid, object addr, object dist,
                             CValue v) except -1:
        return raise_effect_error(st, "observe", addr, dist)

    cdef int _run_ended(self, int64_t t0, int64_t t1, object error,
                        uint32_t substituted) except -1:
        return 0

    @property
    def base(self):
        return self.inner.base

    def __repr__(self):
        return f"{type(self).__name__}({self.inner!r})"
