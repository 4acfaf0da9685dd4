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

    @property
    def rng_seed(self):
        """The int or SeedSequence the runs' streams derive from (None: nothing is
        drawn, or a Generator is)."""
        return None

    def __repr__(self):
        return f"{type(self).__name__}()"


cdef class _Sampling(Handler):
    # A handler that draws. Seeded with an int or a SeedSequence (None: one of
    # fresh entropy, made here), it gives each run its own stream, derived in
    # C++ from the run's key (_streams.pxi): runs take no lock and proceed in
    # parallel. A Generator (or BitGenerator) of the caller's is the stream
    # itself and may be used elsewhere, so each run holds numpy's own lock.
    cdef object _gen                     # the caller's Generator, or None
    cdef object _seed                    # the int or SeedSequence streams derive from
    cdef object _acquire
    cdef object _release
    cdef unique_ptr[CStreamSource] _streams
    cdef object __weakref__              # (for the fork hook's registry)

    cdef int _set_rng(self, object rng) except -1:
        base = _stream_base(rng, type(self).__name__)
        self._spec.sampler = <PyObject*>self
        if base is None:
            self._gen = as_generator(rng)
            self._spec.bg = bitgen_of(self._gen)
            lock = self._gen.bit_generator.lock
            self._acquire = lock.acquire
            self._release = lock.release
            _generator_handlers.add(self)
        else:
            self._seed = base[0]
            self._streams.reset(new CStreamSource(base[1], base[2], base[3], base[4]))
            self._spec.streams = self._streams.get()
        return 0

    @property
    def rng_seed(self):
        """The int or SeedSequence each run's stream derives from.

        The run with key ``k`` (its ``seed=``, else the handler's run counter)
        draws the stream of ``numpy.random.default_rng([rng_seed, k])``, or
        for a SeedSequence, of ``SeedSequence(rng_seed.entropy,
        spawn_key=rng_seed.spawn_key + (k,), pool_size=rng_seed.pool_size)``.
        With ``rng=None`` it is the SeedSequence of fresh entropy made at
        construction (log its ``entropy`` to reproduce the runs). None when
        the handler draws from a Generator.
        """
        return self._seed


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
        Source of randomness (SPEC 7). A seed ``s`` (an int or a
        SeedSequence; None: a SeedSequence of fresh entropy) gives each run
        its own stream, that of ``numpy.random.default_rng([s, k])`` for
        the run's key ``k`` (a SeedSequence: ``k`` appended to its spawn
        key): the run's ``seed=`` when given, else the handler's run
        counter (0, 1, 2, ...) taken at the run's start. The same key gives
        the same trace in any thread and any process, and runs proceed in
        parallel, taking no lock (see :attr:`rng_seed`). A Generator of
        yours is the stream itself: runs draw from it in order, each
        holding numpy's lock for its length (do not call that Generator
        from inside the model).
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

    @property
    def rng_seed(self):
        return self.inner.rng_seed

    def __repr__(self):
        return f"{type(self).__name__}({self.inner!r})"
