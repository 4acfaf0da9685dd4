# Handlers: what sample / observe / factor mean in a run. Each handler type
# holds its own objects (generator, base trace, pool) and fills the RunSpec
# that run_core hands to the C++ run; wrappers (HandlerWrapper subclasses in
# the layers above) copy their inner handler's spec and plug into runs through
# the hooks declared in _runtime.pxd.
#
# Pickling: a handler pickles as its configuration and its random state
# (_rebuild_handler): a seeded one as its seed and run counter, one over a
# Generator as that Generator (numpy pickles its state), a pooled one with a
# new empty pool of the same sizes, a Replay / Score one with its base trace.

cdef class Handler:
    """Base class of the handlers: decides what an effect means in a run.

    Use one of :class:`PriorHandler`, :class:`PooledPriorHandler`,
    :class:`ReplayHandler`, :class:`SafeReplayHandler`,
    :class:`ScoreGivenTrace`, :class:`SafeScoreGivenTrace`, or a wrapper
    (``MetricsHandler``, ``RobustHandler``).

    Notes
    -----
    Handlers pickle (to send them to worker processes) as their
    configuration and their random state:

    * a handler seeded with ``s`` pickles as ``s`` and its run counter: the
      copy's next counter-keyed run has the key the original's next run
      would have had. Since a key gives the same stream in any process, a
      copy draws exactly the streams the original draws for the same keys,
      in this process or another: copies sent to several workers repeat each
      other's counter-keyed draws. Give each run its key (``run(...,
      seed=k)``) or each copy its own seed (``SeedSequence.spawn``) where
      they must differ. (In a process made by ``fork``, the counter-keyed
      streams of every handler, copies included, continue from a fresh
      spawn key, as after any fork; keyed runs are unaffected.) With
      ``rng=None`` the seed is the SeedSequence of fresh entropy made at
      construction, so copies draw the original's streams too;
    * a handler over a Generator pickles that Generator as numpy does (its
      bit generator's state): the copy continues the draws the original
      would make next, from its own Generator;
    * a :class:`PooledPriorHandler` gets a new, empty pool of the same
      ``max_size`` and ``min_size`` (a :class:`TracePool` itself does not
      pickle);
    * Replay and Score handlers keep their base trace;
    * wrappers pickle their inner handler and their settings: a
      ``RobustHandler`` its fallbacks (not its ``error_counts``), a
      ``MetricsHandler`` a new ``ProductionMetrics`` of the same window and
      latency range (counts start at zero).
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

    def __reduce__(self):
        # (the concrete handlers and wrappers define their own)
        raise TypeError(f"{type(self).__name__} does not pickle: only fugue-ppl's handlers "
                        "and wrappers do (PriorHandler, PooledPriorHandler, ReplayHandler, "
                        "SafeReplayHandler, ScoreGivenTrace, SafeScoreGivenTrace, "
                        "RobustHandler, MetricsHandler, and Python subclasses of them)")

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

    cdef tuple _rng_state(self):
        # (rng, run counter): what a copy is rebuilt from (_rebuild_handler).
        if self._gen is not None:
            return (self._gen, 0)
        return (self._seed, self._streams.get().counter())


cdef object _instance_dict(object handler):
    # The attributes a Python subclass added (None for our own classes).
    return getattr(handler, "__dict__", None) or None


def _rebuild_handler(cls, base_cls, args, counter):
    """Unpickle a handler: a new ``cls`` initialised as ``base_cls(*args)`` (one of
    fugue-ppl's handlers), its run counter set to ``counter``."""
    cdef Handler h = cls.__new__(cls)
    base_cls.__init__(h, *args)
    if counter:
        (<_Sampling>h)._streams.get().set_counter(<uint64_t>counter)
    return h


def _rebuild_pooled_handler(cls, rng, max_size, min_size, counter):
    """Unpickle a :class:`PooledPriorHandler`: a new empty pool of the same sizes."""
    return _rebuild_handler(cls, PooledPriorHandler, (rng, TracePool(max_size, min_size)),
                            counter)


def _rng_state(handler):
    """``(rng, counter)`` of a handler (or of the drawing handler a wrapper wraps): the
    Generator it draws from and 0, or the seed its streams derive from and its run
    counter; ``(None, 0)`` for a handler that draws nothing. For the layers above
    (a ModelRunner pickles its handler's random state)."""
    while isinstance(handler, HandlerWrapper):
        handler = (<HandlerWrapper>handler).inner
    if isinstance(handler, _Sampling):
        return (<_Sampling>handler)._rng_state()
    if not isinstance(handler, Handler):
        raise TypeError(f"_rng_state: handler must be a Handler, got {type(handler).__name__}")
    return (None, 0)


def _set_run_counter(handler, counter):
    """Set the run counter of a seeded handler (or of the one a wrapper wraps) that has
    not run yet: its next counter-keyed run gets the key ``counter``."""
    while isinstance(handler, HandlerWrapper):
        handler = (<HandlerWrapper>handler).inner
    counter = check_int(counter, "counter", "_set_run_counter", low=0, high=2**64 - 1)
    if not isinstance(handler, _Sampling) or (<_Sampling>handler)._streams.get() == NULL:
        if counter:
            raise TypeError("_set_run_counter: the handler has no seeded streams")
        return
    (<_Sampling>handler)._streams.get().set_counter(<uint64_t>counter)


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

    def __reduce__(self):
        rng, counter = self._rng_state()
        return (_rebuild_handler, (type(self), PriorHandler, (rng,), counter),
                _instance_dict(self))


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

    def __reduce__(self):
        # The pool's idle traces and counters are this process's: a copy gets
        # a new, empty pool of the same sizes (two handlers sharing a pool get
        # one each).
        rng, counter = self._rng_state()
        return (_rebuild_pooled_handler, (type(self), rng, self._pool.max_size,
                                          self._pool.min_size, counter), _instance_dict(self))


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

    def __reduce__(self):
        rng, counter = self._rng_state()
        return (_rebuild_handler, (type(self), ReplayHandler, (self._base, rng), counter),
                _instance_dict(self))


cdef class SafeReplayHandler(_Replaying):
    """:class:`ReplayHandler` that never raises for a trace problem.

    A type clash draws a fresh value, a duplicate address keeps the first
    choice; either adds ``-inf`` to ``log_prior`` and issues a
    :class:`~fugue_ppl.errors.FugueWarning`.
    """

    def __init__(self, base, rng=None):
        self._init(HandlerMode.SafeReplay, base, rng)

    def __reduce__(self):
        rng, counter = self._rng_state()
        return (_rebuild_handler, (type(self), SafeReplayHandler, (self._base, rng), counter),
                _instance_dict(self))


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

    def __reduce__(self):
        return (_rebuild_handler, (type(self), ScoreGivenTrace, (self._base,), 0),
                _instance_dict(self))


cdef class SafeScoreGivenTrace(_Scoring):
    """:class:`ScoreGivenTrace` that never raises for a trace problem.

    A missing address or a type clash yields the type's zero value with
    log-probability ``-inf`` and a :class:`~fugue_ppl.errors.FugueWarning`.
    """

    def __init__(self, base):
        self._init(HandlerMode.SafeScore, base)

    def __reduce__(self):
        return (_rebuild_handler, (type(self), SafeScoreGivenTrace, (self._base,), 0),
                _instance_dict(self))


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
