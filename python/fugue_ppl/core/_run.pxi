# run(handler, model, *args): the C++ Run on this stack frame, the handler's
# spec, the run's stream (derived from its key on this stack frame, or the
# caller's generator under its lock for the length of the run), and the
# wrappers' hooks (the effect hook through the run's RunContext, the observer
# at the end).


_RUN_DOC = """Run ``model(*args, **kwargs)`` under ``handler``.

Parameters
----------
handler : Handler
model : callable
    A plain Python function calling :func:`sample`, :func:`observe` and
    :func:`factor`.
*args, **kwargs
    Passed to ``model``.
deadline : float, optional
    Seconds the run may take: a run that ends past it raises
    :class:`~fugue_ppl.errors.InferenceTimeout`, whatever it computed, and a
    long run is stopped mid-model (the clock is read every eighth effect).
seed : int, optional
    The run's key (>= 0): the run draws the stream of
    ``numpy.random.default_rng([s, seed])`` for a handler seeded with ``s``
    (a SeedSequence: ``seed`` appended to its spawn key), so the same key
    gives the same trace in any thread and any process. Default: the
    handler's run counter (0, 1, 2, ...), which an explicit key leaves
    alone. A handler drawing from a Generator refuses it.

Returns
-------
value : object
    What ``model`` returned.
trace : Trace

Examples
--------
>>> import fugue_ppl as fp
>>> def sensor(reading):
...     temp = fp.sample("temperature", fp.Normal(20.0, 5.0))
...     fp.observe("sensor", fp.Normal(temp, 1.0), reading)
...     return temp
>>> temp, trace = fp.run(fp.PriorHandler(rng=42), sensor, 22.0)
>>> trace["temperature"] == temp, list(trace)
(True, ['temperature', 'sensor'])
>>> h = fp.PriorHandler(rng=42)
>>> fp.run(h, sensor, 22.0, seed=7) == fp.run(h, sensor, 22.0, seed=7)
True
"""


cdef object _run_fastcall(PyObject* self, PyObject** args, Py_ssize_t nargs, PyObject* kwnames):
    # run() with the METH_FASTCALL calling convention: the model is called
    # with the caller's argument vector, building no tuple and no dict.
    cdef Py_ssize_t nk = 0, k
    cdef object deadline = None
    cdef object seed = None
    cdef dict kwargs = None
    if nargs < 2:
        raise TypeError(f"run() takes a handler and a model, got {nargs} positional "
                        "argument(s)")
    if kwnames != NULL:
        names = <object>kwnames
        nk = PyTuple_GET_SIZE(names)
        for k in range(nk):
            name = <object>PyTuple_GET_ITEM(names, k)
            if name == "deadline":
                deadline = <object>args[nargs + k]
            elif name == "seed":
                seed = <object>args[nargs + k]
            else:
                if kwargs is None:
                    kwargs = {}
                kwargs[name] = <object>args[nargs + k]
    handler = <object>args[0]
    if not isinstance(handler, Handler):
        raise TypeError(f"run: handler must be a fugue_ppl Handler, got {type(handler).__name__}")
    return run_impl(<Handler>handler, <object>args[1], args + 2, nargs - 2, kwargs, deadline, 0,
                    seed)


run = fastcall_builtin(_run_fastcall,
                       "run(handler, model, /, *args, deadline=None, seed=None, **kwargs)",
                       _RUN_DOC, "fugue_ppl.core._runtime")


cdef tuple run_impl(Handler handler, object model, PyObject** args, Py_ssize_t nargs,
                    dict kwargs, object deadline, int64_t start_tick=0, object seed=None):
    if not callable(model):
        raise TypeError(f"run: model must be callable, got {type(model).__name__}")
    cdef int64_t d = 0
    if deadline is not None:
        d = deadline_ticks(check_duration(deadline, "deadline", "run"), seconds_per_tick())
    if seed is not None:
        seed = check_seed(handler, seed, "run")
    cdef Trace t = Trace.__new__(Trace)
    value = run_core(handler, model, args, nargs, kwargs, d, start_tick, &t._t, t, seed)
    return (value, t)


cdef object run_core(Handler handler, object model, PyObject** args, Py_ssize_t nargs,
                     dict kwargs, int64_t deadline, int64_t start_tick, CTraceHandle* th,
                     Trace owner=None, object seed=None, int64_t* end_tick=NULL):
    # end_tick, when given, receives the clock read that checked the end of a
    # run with a deadline (else it is left alone).
    cdef const RunSpec* spec = &handler._spec
    cdef CRun r
    cdef RunContext ctx
    cdef CPcg64 stream        # the run's own stream, when the handler derives one
    cdef bint locked = False
    cdef int64_t t0 = 0
    if spec.bg == NULL and spec.streams == NULL and spec.mode != HandlerMode.Score \
            and spec.mode != HandlerMode.SafeScore:
        raise TypeError(f"run: {type(handler).__name__} has no random generator: a handler "
                        "subclass must call the base class's __init__")
    if spec.base == NULL and spec.mode != HandlerMode.Prior:
        raise TypeError(f"run: {type(handler).__name__} has no base trace: a handler "
                        "subclass must call the base class's __init__")
    if spec.pool != NULL:
        th.acquire(deref((<TracePool>spec.pool).c.get()))
        if owner is not None:
            owner._pool = <TracePool>spec.pool    # keeps the pool alive as long as the trace
    else:
        th.own(new CTrace())
    r.mode = spec.mode
    r.trace = th.get()
    if spec.streams != NULL:
        if seed is None:
            spec.streams.seed_next(stream)
        else:
            _seed_stream(spec.streams, stream, seed)
        r.bg = stream.bitgen()
    else:
        r.bg = spec.bg
    r.base = spec.base
    r.check_finite = spec.check_finite
    if handler._effects is not None:
        ctx.effects = <PyObject*>handler._effects
        ctx.substituted = 0
        r.binding = &ctx
    _set_deadline(&r, deadline, start_tick)
    if handler._observer is not None:
        t0 = ticks()   # the latency includes waiting for the handler's generator
    if spec.bg != NULL and not _holds(r.outer, r.bg):
        (<_Sampling>spec.sampler)._acquire()
        locked = True
    set_current_run(&r)
    if handler._observer is None:
        value = _call_model(&r, spec, locked, model, args, nargs, kwargs)
        if r.deadline_tick != 0:
            _check_end(&r, end_tick)
        return value
    try:
        value = _call_model(&r, spec, locked, model, args, nargs, kwargs)
        if r.deadline_tick != 0:
            _check_end(&r, end_tick)
    except BaseException as exc:
        (<HandlerWrapper>handler._observer)._run_ended(
            t0, ticks(), exc, ctx.substituted if r.binding != NULL else 0)
        raise
    (<HandlerWrapper>handler._observer)._run_ended(
        t0, ticks(), None, ctx.substituted if r.binding != NULL else 0)
    return value


cdef inline void _set_deadline(CRun* r, int64_t deadline, int64_t start_tick) noexcept:
    # The run's place among the thread's runs and its deadline: `deadline`
    # ticks (0: none) from start_tick (0: now), saturated; a nested run never
    # outlives the enclosing run's deadline.
    r.outer = current_run()
    if deadline > 0:
        r.start_tick = start_tick if start_tick != 0 else ticks()
        r.deadline_tick = (r.start_tick + deadline
                           if deadline < <int64_t>0x7FFFFFFFFFFFFFFF - r.start_tick
                           else <int64_t>0x7FFFFFFFFFFFFFFF)
    if r.outer != NULL and r.outer.deadline_tick != 0 and (
            r.deadline_tick == 0 or r.outer.deadline_tick < r.deadline_tick):
        r.deadline_tick = r.outer.deadline_tick
        r.start_tick = r.outer.start_tick


cdef int _check_end(CRun* r, int64_t* end_tick) except -1:
    # A run that ends past its deadline is late, whatever it computed.
    cdef int64_t t = ticks()
    if end_tick != NULL:
        end_tick[0] = t
    if t > r.deadline_tick:
        elapsed = (t - r.start_tick) * seconds_per_tick()
        budget = (r.deadline_tick - r.start_tick) * seconds_per_tick()
        raise InferenceTimeout(f"the run took {elapsed:.6g} s, past its deadline of "
                               f"{budget:.6g} s")
    return 0


cdef object _call_model(CRun* r, const RunSpec* spec, bint locked, object model,
                        PyObject** args, Py_ssize_t nargs, dict kwargs):
    # Calls the model with `r` current; restores the outer run and releases
    # the caller's generator's lock however the model ends.
    cdef Py_ssize_t k
    try:
        if kwargs is not None:
            return model(*[<object>args[k] for k in range(nargs)], **kwargs)
        return PyObject_Vectorcall(model, args, <size_t>nargs, NULL)
    finally:
        set_current_run(r.outer)
        if locked:
            (<_Sampling>spec.sampler)._release()
