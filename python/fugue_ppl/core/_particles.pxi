# Particle runs: run_particles(handler, model, n) runs the model once for n
# particles. The C++ Run on the stack points at the run's ParticleRun (its
# per-particle log-weights); the effects see it and take their particle
# forms here: sample draws one value per particle in C++ (GIL released) from
# the run's stream and returns them as a read-only ParticleArray, observe
# and factor add one log-weight per particle. A ParticleArray refuses to
# become one Python value (truth value, float(), int(), index): that marks
# the run as branching, which raises BranchOnSample or, on request, runs the
# particles one by one (each an ordinary run) instead. Given a base
# (run_particles's base=: values for every sampled site), the run is in
# score mode: sample takes the site's n values from the base instead of
# drawing them and adds their log-probabilities to the log-prior in C++ the
# same way (one by one, the particles run as ordinary runs in score mode).

cdef Py_ssize_t _max_particles = 10_000_000
cdef Py_ssize_t _MAX_PARTICLES_LIMIT = 1 << 40
cdef tuple _ON_BRANCH = ("raise", "per_particle")


def max_particles():
    """The most particles :func:`run_particles` accepts (for the whole process)."""
    return _max_particles


def set_max_particles(max_n):
    """Set the most particles :func:`run_particles` accepts; returns the old limit.

    A larger ``n`` is refused before anything is allocated (each sampled
    site holds ``n`` values, each particle three float64 log-weights).
    """
    global _max_particles
    n = check_int(max_n, "max_n", "set_max_particles", low=1, high=_MAX_PARTICLES_LIMIT)
    old = _max_particles
    _max_particles = n
    return old


# ---------------------------------------------------------------- per-particle values

cdef CRun* _particle_run() noexcept:
    # The calling thread's innermost particle run (through ordinary runs
    # nested in it), or NULL.
    cdef CRun* r = current_run()
    while r != NULL and r.particles == NULL:
        r = r.outer
    return r


cdef int _refuse_scalar(str what) except -1:
    # One Python value asked of per-particle values inside a particle run:
    # marks the run as branching and raises.
    cdef CRun* r = _particle_run()
    if r == NULL:
        return 0
    r.particles.branched = True
    last = (<_ParticleState>r.particles.binding).last
    where = f" (after the model's effect at {last!r})" if last is not None else ""
    raise BranchOnSample(
        f"{what} of per-particle values was asked for{where}: a particle run's sampled "
        "values hold one value per particle, so the model cannot branch on them or turn "
        "them into one Python number. Use numpy's functions (np.exp, np.where) on them, "
        "or run_particles(..., on_branch='per_particle') to run each particle on its own")


cdef object _ndarray_bool = np.ndarray.__bool__
cdef object _ndarray_float = np.ndarray.__float__
cdef object _ndarray_int = np.ndarray.__int__
cdef object _ndarray_index = np.ndarray.__index__
cdef object _ndarray_complex = np.ndarray.__complex__


class ParticleArray(np.ndarray):
    """The value of a sampled site in a particle run: one value per particle.

    A read-only ``numpy.ndarray`` (float64, int64 or bool, as the
    distribution draws), so arithmetic and numpy's element-wise functions
    work on every particle at once (their results are ParticleArrays too)
    and distributions accept it as a per-particle parameter. Inside a
    particle run it has no single truth value or Python number: ``bool()``,
    ``float()``, ``int()``, ``complex()`` and ``operator.index()`` raise
    :class:`~fugue_ppl.errors.BranchOnSample` and mark the run as branching
    (even when the model catches the error). Outside one it is an ordinary
    array. (numpy's reductions, ``np.mean(x)``, combine the particles: a
    model written for one trace has no use for them on a sampled value.)
    """

    __slots__ = ()

    def __bool__(self):
        _refuse_scalar("The truth value")
        return _ndarray_bool(self)

    def __float__(self):
        _refuse_scalar("A float")
        return _ndarray_float(self)

    def __int__(self):
        _refuse_scalar("An int")
        return _ndarray_int(self)

    def __index__(self):
        _refuse_scalar("An index")
        return _ndarray_index(self)

    def __complex__(self):
        _refuse_scalar("A complex number")
        return _ndarray_complex(self)


cdef object _ParticleArrayType = ParticleArray
cdef object _DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_))
cdef int[3] _TYPENUMS = [NPY_DOUBLE, NPY_INT64, NPY_BOOL]   # by ValueKind
cdef size_t[3] _ITEMSIZES = [8, 8, 1]


cdef inline object _zeros(npy_intp n):
    return _new_array(<PyTypeObject*>np.ndarray, n, NPY_DOUBLE, sizeof(double), True)


cdef inline double* _doubles(object a) noexcept:
    return <double*>PyArray_DATA(<PyArrayObject*>a)


cdef inline object _plain_view(object a):
    # A ParticleArray as a plain (read-only) ndarray view.
    return PyArray_View(<PyArrayObject*>a, NULL, <PyTypeObject*>np.ndarray)


# ---------------------------------------------------------------- the run's state

@cython.final
cdef class _ParticleState:
    # A particle run's weights and sites (CRun.particles points at c, whose
    # binding points back here).
    cdef CParticleRun c
    cdef object log_prior            # float64 arrays of n values (c's pointers)
    cdef object log_likelihood
    cdef object log_factors
    cdef dict sites                  # address -> ParticleArray, in execution order
    cdef dict observed               # address -> the observed value (a scalar or an array)
    cdef object last                 # the address of the last effect (for messages)
    cdef dict base                   # score mode: address -> its n given values; None: draw
    cdef dict present                # score mode: address -> mask, for sites some particles lack

    cdef int _init(self, Py_ssize_t n) except -1:
        self.log_prior = _zeros(n)
        self.log_likelihood = _zeros(n)
        self.log_factors = _zeros(n)
        self.c.n = <size_t>n
        self.c.log_prior = _doubles(self.log_prior)
        self.c.log_likelihood = _doubles(self.log_likelihood)
        self.c.log_factors = _doubles(self.log_factors)
        self.c.branched = False
        self.c.binding = <void*>self
        self.sites = {}
        self.observed = {}
        self.last = None
        self.base = None
        self.present = None
        return 0


cdef CParticleParams _SHARED_PARAMS      # no per-particle parameter (all pointers NULL)


cdef inline const CParticleParams* _params_of(Distribution dist):
    return &_SHARED_PARAMS if dist._pp is None else &dist._pp.c


cdef object _site(_ParticleState st, CRun* r, object a, str effect, object dist):
    # The canonical address string of a particle effect at `a` (checked as
    # any address), after the deadline; AddressConflict when it was used.
    if r.deadline_tick != 0 and ticks() > r.deadline_tick:
        raise_effect_error(Status.DeadlineExceeded, effect, a, dist)
    name = _names[_addr_id(a)]
    if name in st.sites or name in st.observed:
        raise AddressConflict(f"{effect}({name!r}): address {name!r} was already used in "
                              "this run", name)
    if dist is not None and (<Distribution>dist)._pp is not None \
            and (<Distribution>dist)._pp.n != st.c.n:
        pname = next(iter((<Distribution>dist)._pp.arrays))
        raise InvalidParameters(dist.name, pname, (<Distribution>dist)._pp.arrays[pname],
                                f"must be a scalar or hold one value per particle: {st.c.n} "
                                f"values, not {(<Distribution>dist)._pp.n}", 104)
    return name


cdef object _particle_sample(CRun* r, object a, Distribution dist):
    cdef _ParticleState st = <_ParticleState>r.particles.binding
    cdef npy_intp n = <npy_intp>st.c.n
    cdef const CParticleParams* pp = _params_of(dist)
    cdef void* data
    name = _site(st, r, a, "sample", dist)
    if st.base is not None:
        return _particle_score(st, name, dist)
    cdef int kind = <int>value_kind(dist.c.kind)
    out = _new_array(<PyTypeObject*>_ParticleArrayType, n, _TYPENUMS[kind], _ITEMSIZES[kind],
                     False)
    data = PyArray_DATA(<PyArrayObject*>out)
    with nogil:
        sample_particles(dist.c, pp[0], r.bg, data, st.c.log_prior, <size_t>n)
    PyArray_CLEARFLAGS(<PyArrayObject*>out, NPY_ARRAY_WRITEABLE)
    st.sites[name] = out
    st.last = name
    return out


cdef bint _holds_kind(object dtype, ValueKind kind):
    # Whether an array of `dtype` holds values of `kind` (as a trace's value
    # must have the kind its site's distribution draws): floats for a float
    # site, integers that fit in int64 for an int site, bools for a bool site.
    if kind == ValueKind.Float:
        return dtype.kind == "f"
    if kind == ValueKind.Int:
        return dtype.kind in "iu" and np.can_cast(dtype, np.int64, "safe")
    return dtype.kind == "b"


cdef object _particle_score(_ParticleState st, str name, Distribution dist):
    # Score mode: the site's n values from the base, their log-probabilities
    # added to the log-prior.
    cdef npy_intp n = <npy_intp>st.c.n
    cdef const CParticleParams* pp = _params_of(dist)
    cdef ValueKind kind = value_kind(dist.c.kind)
    cdef void* data
    given = st.base.get(name)
    if given is None:
        raise UnexpectedModelStructure(
            f"sample({name!r}): the base holds no values at address {name!r}: every site the "
            f"model samples needs one value per particle (the base's sites: "
            f"{safe_repr(list(st.base))})", name)
    mask = st.present.get(name)
    if mask is not None:
        raise UnexpectedModelStructure(
            f"sample({name!r}): particle {int(np.argmin(mask))} of the base holds no value at "
            f"{name!r} (the base's particles ran one by one and not all reached it); "
            "run_particles(..., on_branch='per_particle') scores each particle on its own", name)
    if not _holds_kind(given.dtype, kind):
        raise TypeMismatch(
            f"sample({name!r}): the base's values at {name!r} are {given.dtype}, not "
            f"{dist.dtype} values as {dist.name} draws", name)
    out = _new_array(<PyTypeObject*>_ParticleArrayType, n, _TYPENUMS[<int>kind],
                     _ITEMSIZES[<int>kind], False)
    np.copyto(out, given, casting="unsafe")     # (the kinds agree, integers fit)
    data = PyArray_DATA(<PyArrayObject*>out)
    with nogil:
        score_particles(dist.c, pp[0], data, st.c.log_prior, <size_t>n)
    PyArray_CLEARFLAGS(<PyArrayObject*>out, NPY_ARRAY_WRITEABLE)
    st.sites[name] = out
    st.last = name
    return out


cdef object _unused_base_error(dict base, object sampled):
    # UnexpectedModelStructure naming the first of the base's sites the
    # model did not sample, or None.
    for name in base:
        if name not in sampled:
            return UnexpectedModelStructure(
                f"run_particles: the base holds values at {name!r}, an address the model did "
                "not sample: a base gives values for exactly the sites the model samples (is "
                "it from another model?)", name)
    return None


cdef str _what(object a):
    if isinstance(a, np.ndarray):
        return f"an array of dtype {a.dtype}"
    return type(a).__name__


cdef tuple _base_of(object base, Py_ssize_t n):
    # run_particles's base, checked before the run, as ({address: array of n
    # values}, {address: mask} for the sites some particles lack).
    cdef size_t k
    cdef const double* x
    cdef dict masks = {}
    cdef dict out = {}
    if isinstance(base, Particles):
        items = base.values.items()
        if base.per_particle:
            for name in base.sites:
                m = base.present(name)
                if not m.all():
                    masks[name] = m
    elif isinstance(base, Mapping):
        items = base.items()
    else:
        raise type_error("run_particles", "base", base,
                         "None, a Particles or a mapping of addresses to arrays of values")
    for name, v in items:
        if not isinstance(name, str):
            raise type_error("run_particles", "base", name, "a mapping keyed by addresses (str)")
        a = v if isinstance(v, (str, bytes)) else np.asarray(v)
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
            raise TypeMismatch(f"run_particles: the base's values at {name!r} must be an array "
                               f"of numbers or bools, got {_what(a)}", name)
        if a.ndim != 1 or a.shape[0] != n:
            raise invalid("run_particles", f"base[{name!r}]", v, f"must hold one value per "
                          f"particle: {n} values, not shape {a.shape}")
        if a.dtype.kind == "f":
            a = np.ascontiguousarray(a, dtype=np.float64)
            x = _doubles(a)
            with nogil:
                k = first_non_finite(x, <size_t>n, False)
            if k != kNoParticle:
                raise invalid("run_particles", f"base[{name!r}]", v, f"must hold finite "
                              f"values: particle {k} holds {float(a[k])!r}")
        out[_names[_addr_id(name)]] = a
    return out, masks


cdef int _particle_observe(CRun* r, object a, Distribution dist, object value) except -1:
    cdef _ParticleState st = <_ParticleState>r.particles.binding
    cdef size_t n = st.c.n
    cdef size_t k
    cdef const CParticleParams* pp = _params_of(dist)
    cdef const double* xv
    cdef const int64_t* xi
    cdef double x
    cdef int64_t xint
    cdef CValue v
    name = _site(st, r, a, "observe", dist)
    if PyArray_Check(value) and PyArray_NDIM(<PyArrayObject*>value) >= 1:
        arr = <object>value
        if arr.ndim != 1 or <size_t>arr.shape[0] != n:
            raise invalid(f"observe({name!r})", "value", value,
                          f"must be a scalar or hold one value per particle: {n} values, "
                          f"not shape {arr.shape}")
        if arr.dtype.kind in "biu" and arr.dtype != np.uint64:
            arr = np.ascontiguousarray(arr, dtype=np.int64)
            xi = <const int64_t*>PyArray_DATA(<PyArrayObject*>arr)
            with nogil:
                observe_particles_i64(dist.c, pp[0], xi, 1, st.c.log_likelihood, n)
        elif arr.dtype.kind in "fu":
            arr = np.ascontiguousarray(arr, dtype=np.float64)
            xv = <const double*>PyArray_DATA(<PyArrayObject*>arr)
            with nogil:
                k = first_non_finite(xv, n, False)
            if k != kNoParticle:
                raise InvalidObservation(f"observe({name!r}): the observed value of particle "
                                         f"{k} is NaN or infinite ({xv[k]!r})", name)
            with nogil:
                observe_particles(dist.c, pp[0], xv, 1, st.c.log_likelihood, n)
        else:
            raise TypeMismatch(f"observe({name!r}): the observed values must be numbers or "
                               f"bools, got an array of dtype {arr.dtype}", name)
    else:
        try:
            _unbox(value, &v)
        except TypeError:
            raise TypeMismatch(f"observe({name!r}): the observed value must be a number or a "
                               f"bool, got {type(value).__name__}", name) from None
        v = coerce(v, value_kind(dist.c.kind))
        if v.kind == ValueKind.Float and not isfinite(v.f):
            raise InvalidObservation(f"observe({name!r}): the observed value is NaN, infinite "
                                     "or beyond the range of a float", name)
        if v.kind == ValueKind.Int:
            xint = v.i
            with nogil:
                observe_particles_i64(dist.c, pp[0], &xint, 0, st.c.log_likelihood, n)
        else:
            x = v.as_double()
            with nogil:
                observe_particles(dist.c, pp[0], &x, 0, st.c.log_likelihood, n)
    st.observed[name] = value
    st.last = name
    return 0


cdef int _particle_factor_array(CRun* r, object w) except -1:
    cdef _ParticleState st = <_ParticleState>r.particles.binding
    cdef size_t n = st.c.n
    cdef size_t k
    cdef const double* xv
    if r.deadline_tick != 0 and ticks() > r.deadline_tick:
        raise_effect_error(Status.DeadlineExceeded, "factor", None, None)
    if w.ndim != 1 or <size_t>w.shape[0] != n:
        raise invalid("factor()", "log_weight", w, f"must be a real number or hold one value "
                      f"per particle: {n} values, not shape {w.shape}")
    if w.dtype.kind not in "iuf":
        raise TypeError(f"factor: log_weight must be a real number or an array of real "
                        f"numbers, got an array of dtype {w.dtype}")
    w = np.ascontiguousarray(w, dtype=np.float64)
    xv = <const double*>PyArray_DATA(<PyArrayObject*>w)
    with nogil:
        k = first_non_finite(xv, n, True)
    if k != kNoParticle:
        raise InvalidObservation(f"factor(): the log-weight of particle {k} must not be NaN or "
                                 f"+inf, got {xv[k]!r}", None)
    with nogil:
        add_particles(st.c.log_factors, xv, 1, n)
    return 0


cdef int _particle_factor(CRun* r, double w) except -1:
    cdef _ParticleState st = <_ParticleState>r.particles.binding
    if r.deadline_tick != 0 and ticks() > r.deadline_tick:
        raise_effect_error(Status.DeadlineExceeded, "factor", None, None)
    if w != w or w == INFINITY:
        raise_effect_error(Status.NonFiniteFactor, "factor", None, None)
    with nogil:
        add_particles(st.c.log_factors, &w, 0, st.c.n)
    return 0


# ---------------------------------------------------------------- run_particles

_RUN_PARTICLES_DOC = """Run ``model(*args, **kwargs)`` once for ``n`` particles under ``handler``.

Every ``sample`` draws ``n`` values in C++ (one per particle, particle 0
first, from the run's stream) and returns them as a :class:`ParticleArray`;
every ``observe`` and ``factor`` adds one log-weight per particle. A model
written for one trace runs unchanged: arithmetic on sampled values works
element-wise, and distributions take per-particle arrays as parameters
(checked for every particle; an array of another length is refused naming
the parameter). The draws are those of the run's stream (the handler's
stream contract: key ``seed``, else the handler's run counter) taken site by
site: ``n`` values at the first site, then ``n`` at the next, each site's
exactly what the numpy ``Generator`` of that stream gives for an array of
``n`` values with the same parameters.

Given ``base`` (values for the sampled sites, e.g. the particles of a guide
model run over the same ``n`` particles), the run is in *score mode*: each
``sample`` draws nothing, takes the site's ``n`` values from ``base`` and
adds their log-probabilities under the model's distribution (with its
per-particle parameters) to the log-prior, as a draw's would be; the
observations and factors add their log-weights as in any run. The result's
``log_prior + log_likelihood + log_factors`` is then the model's joint
log-density at the base's values (what importance sampling with a guide
weighs against the guide's log-density). The base must cover exactly the
sites the model samples, with values of the kind each site's distribution
draws.

Parameters
----------
handler : Handler
    A handler drawing from the prior (``PriorHandler``, ``PooledPriorHandler``,
    or a ``MetricsHandler`` around one).
model : callable
n : int
    The number of particles, 1 to :func:`max_particles`.
*args, **kwargs
    Passed to ``model``.
deadline : float, optional
    Seconds the run may take; checked at every effect.
seed : int, optional
    The run's key, as for :func:`run`.
base : Particles or mapping of str to array, optional
    Score mode: ``{address: n values}`` for every site the model samples
    (a :class:`Particles` gives its ``values``): floats (any float dtype)
    for a float site, integers (fitting int64) for an int site, bools for a
    bool site; float values must be finite.
on_branch : {"raise", "per_particle"}
    What to do when the model asks for one value of per-particle values
    (``if valid:``, ``float(x)``): raise
    :class:`~fugue_ppl.errors.BranchOnSample` (the default), or run the
    ``n`` particles one by one as ordinary runs, drawing in turn from the
    run's stream (started afresh); the result says so
    (``Particles.per_particle``) and ``value`` is then the list of the ``n``
    runs' values. In score mode each particle is then scored on its own at
    its values in ``base`` (a ``base`` from a per-particle run may lack a
    site for some particles: those particles' runs must not sample it).

Returns
-------
value : object
    What ``model`` returned (with per-particle arrays in it).
particles : Particles
    The values of each sampled site and each particle's log-weights.

Raises
------
BranchOnSample
    The model branched on a sampled value (``on_branch="raise"``).
InvalidArgument
    ``n`` is below 1 or above :func:`max_particles` (before anything is
    allocated), or ``on_branch`` is unknown; a ``base`` array does not hold
    ``n`` values, or a float one holds NaN or an infinity (naming the
    address and the particle).
UnexpectedModelStructure
    Score mode: the model samples a site ``base`` has no values for, or
    ``base`` has values at an address the model does not sample (naming
    the address).
TypeMismatch
    Score mode: ``base``'s values at a site are not of the kind the site's
    distribution draws (bools for a float site, floats for an int site),
    or not numbers at all (naming the address).
InvalidParameters
    A distribution parameter holds a bad value for some particle, or an
    array of another length than ``n``.
InvalidObservation
    An observed value or a factor is NaN or infinite (naming the particle).
TypeError
    ``handler`` does not draw from the prior, or answers failed effects
    (``RobustHandler``); ``base`` is not a Particles or a mapping keyed by
    str.

Examples
--------
>>> import fugue_ppl as fp
>>> from fugue_ppl.models import sensor, sensor_posterior
>>> value, particles = fp.run_particles(fp.PriorHandler(rng=7), sensor, 100_000, 22.0)
>>> particles.sites
('temperature', 'valid')
>>> mean, sd = sensor_posterior(22.0)
>>> abs(particles.mean("temperature") - mean) < 0.05
True

Score mode: the model's log-densities at given values.

>>> import numpy as np
>>> def model():
...     fp.sample("mu", fp.Normal(0.0, 1.0))
>>> _, scored = fp.run_particles(fp.PriorHandler(rng=7), model, 3,
...                              base={"mu": np.array([0.0, 1.0, 2.0])})
>>> np.round(scored.log_prior, 4)
array([-0.9189, -1.4189, -2.9189])
"""


def run_particles(handler, model, n, *args, deadline=None, seed=None, on_branch="raise",
                  base=None, **kwargs):
    if not isinstance(handler, Handler):
        raise TypeError(f"run_particles: handler must be a fugue_ppl Handler, got "
                        f"{type(handler).__name__}")
    if not callable(model):
        raise TypeError(f"run_particles: model must be callable, got {type(model).__name__}")
    cdef Py_ssize_t count
    try:
        count = check_int(n, "n", "run_particles", low=1, high=_max_particles)
    except InvalidArgument as e:
        if isinstance(e.value, int) and e.value > _max_particles:
            raise invalid("run_particles", "n", n, f"must be <= {_max_particles} (the particle "
                          "limit, fp.set_max_particles)") from None
        raise
    if on_branch not in _ON_BRANCH:
        raise invalid("run_particles", "on_branch", on_branch,
                      "must be 'raise' or 'per_particle'")
    cdef Handler h = <Handler>handler
    if h._spec.mode != HandlerMode.Prior:
        raise TypeError(f"run_particles: {type(handler).__name__} does not draw from the prior; "
                        "particle runs need a PriorHandler or a PooledPriorHandler")
    if h._effects is not None:
        raise TypeError(f"run_particles: {type(h._effects).__name__} answers failed effects of "
                        "one trace and has no particle form; run its inner handler")
    cdef int64_t d = 0
    if deadline is not None:
        d = deadline_ticks(check_duration(deadline, "deadline", "run_particles"),
                           seconds_per_tick())
    if seed is not None:
        seed = check_seed(h, seed, "run_particles")
    given = None if base is None else _base_of(base, count)
    return _run_particles(h, model, count, args, kwargs, d, seed, on_branch == "per_particle",
                          given)


run_particles.__doc__ = _RUN_PARTICLES_DOC


cdef tuple _run_particles(Handler handler, object model, Py_ssize_t n, tuple args, dict kwargs,
                          int64_t deadline, object seed, bint per_particle, tuple given):
    cdef const RunSpec* spec = &handler._spec
    cdef CRun r
    cdef CPcg64 stream
    cdef uint64_t key = 0
    cdef bint locked = False
    cdef int64_t t0 = 0
    cdef _ParticleState st
    if spec.bg == NULL and spec.streams == NULL:
        raise TypeError(f"run_particles: {type(handler).__name__} has no random generator: a "
                        "handler subclass must call the base class's __init__")
    st = _ParticleState.__new__(_ParticleState)
    st._init(n)
    if given is not None:
        st.base, st.present = given
    if handler._observer is not None:
        t0 = ticks()
    if spec.streams != NULL:
        if seed is None:
            key = spec.streams.seed_next(stream)
            seed = key
        else:
            _seed_stream(spec.streams, stream, seed)
        r.bg = stream.bitgen()
    else:
        r.bg = spec.bg
    r.mode = HandlerMode.Prior
    r.trace = NULL
    r.particles = &st.c
    _set_deadline(&r, deadline, 0)
    if spec.bg != NULL and not _holds(r.outer, r.bg):
        (<_Sampling>spec.sampler)._acquire()
        locked = True
    try:
        if per_particle and st.present:
            # A base from runs one by one, some particles lacking some
            # sites: the particles are scored one by one too.
            st.c.branched = True
            value = result = None
        else:
            try:
                value, result = _particles_call(&r, st, model, args, kwargs)
            except BaseException as exc:
                if not st.c.branched:
                    raise
                if not per_particle:
                    if isinstance(exc, BranchOnSample):
                        raise
                    raise _branched_error(st) from exc
                value = result = None
        if st.c.branched:
            if not per_particle:
                raise _branched_error(st)
            if spec.streams != NULL:
                _seed_stream(spec.streams, stream, seed)   # the run's stream, from its start
            value, result = _per_particle_runs(&r, st, model, n, args, kwargs)
    except BaseException as exc:
        if locked:
            (<_Sampling>spec.sampler)._release()
            locked = False
        if handler._observer is not None:
            (<HandlerWrapper>handler._observer)._run_ended(t0, ticks(), exc, 0)
        raise
    if locked:
        (<_Sampling>spec.sampler)._release()
    if handler._observer is not None:
        (<HandlerWrapper>handler._observer)._run_ended(t0, ticks(), None, 0)
    return (value, result)


cdef size_t _count_samples(const CTrace* t) noexcept:
    cdef size_t k, count = 0
    for k in range(t.size()):
        if t.at(k).kind == ChoiceKind.Sample:
            count += 1
    return count


cdef object _branched_error(_ParticleState st):
    where = f" (after the model's effect at {st.last!r})" if st.last is not None else ""
    return BranchOnSample(
        f"run_particles: the model asked for one value of per-particle values{where} and "
        "went on (it caught BranchOnSample): its structure depends on a sampled value, so "
        "one run cannot stand for all particles; run_particles(..., "
        "on_branch='per_particle') runs each particle on its own")


cdef tuple _particles_call(CRun* r, _ParticleState st, object model, tuple args,
                           dict kwargs):
    # Calls the model once with the particle run current.
    set_current_run(r)
    try:
        value = model(*args, **kwargs) if kwargs else model(*args)
    finally:
        set_current_run(r.outer)
    if st.base is not None and len(st.sites) != len(st.base):
        raise _unused_base_error(st.base, st.sites)
    values = {name: _plain_view(arr) for name, arr in st.sites.items()}
    for w in (st.log_prior, st.log_likelihood, st.log_factors):
        PyArray_CLEARFLAGS(<PyArrayObject*>w, NPY_ARRAY_WRITEABLE)
    return value, Particles._of_run(values, st.log_prior, st.log_likelihood, st.log_factors,
                                    st.observed)


cdef tuple _per_particle_runs(CRun* pr, _ParticleState st, object model, Py_ssize_t n,
                              tuple args, dict kwargs):
    # The fall-back: n ordinary runs of the model, one per particle, drawing
    # in turn from the particle run's stream (in score mode: each scoring
    # the particle's values in the base, as ScoreGivenTrace scores a trace).
    # Sites a particle did not visit are absent from its row (Particles.present).
    cdef CRun r
    cdef CTrace* t
    cdef const CChoice* c
    cdef Py_ssize_t i
    cdef size_t k
    cdef double* lp
    cdef double* ll
    cdef double* lf
    cdef Trace holder = Trace.__new__(Trace)
    holder._t.own(new CTrace())
    t = holder._t.get()
    cdef Trace base_holder = None
    cdef CTrace* bt = NULL
    cdef CChoice bc
    cdef list base_columns = None     # [(address, values as a list, mask or None)]
    cdef size_t given = 0
    if st.base is not None:
        base_holder = Trace.__new__(Trace)
        base_holder._t.own(new CTrace())
        bt = base_holder._t.get()
        base_columns = [(name, a.tolist(), st.present.get(name)) for name, a in st.base.items()]
        bc.kind = ChoiceKind.Sample
        bc.flags = 0
        bc.log_prob = 0.0
    log_prior = _zeros(n)
    log_likelihood = _zeros(n)
    log_factors = _zeros(n)
    lp = _doubles(log_prior)
    ll = _doubles(log_likelihood)
    lf = _doubles(log_factors)
    cdef dict columns = {}      # address -> [values list, present list]
    cdef dict observed = {}
    cdef list returned = []
    for i in range(n):
        t.clear()
        r.mode = HandlerMode.Prior
        r.base = NULL
        if bt != NULL:
            bt.clear()
            for name, column, mask in base_columns:
                if mask is None or mask[i]:
                    _unbox(column[i], &bc.value)
                    bc.addr = _addr_id(name)     # recorded at once: nothing runs in between
                    bt.add(bc)
            given = bt.size()
            r.mode = HandlerMode.Score
            r.base = bt
        r.trace = t
        r.bg = pr.bg
        r.binding = NULL
        r.particles = NULL
        r.check_finite = False
        r.outer = pr.outer
        r.deadline_tick = pr.deadline_tick
        r.start_tick = pr.start_tick
        set_current_run(&r)
        try:
            returned.append(model(*args, **kwargs) if kwargs else model(*args))
        finally:
            set_current_run(r.outer)
        lp[i] = t.log_prior()
        ll[i] = t.log_likelihood()
        lf[i] = t.log_factors()
        if bt != NULL and _count_samples(t) != given:
            raise _unused_base_error({name: None for name, _, mask in base_columns
                                      if mask is None or mask[i]},
                                     {_name(t.at(k).addr) for k in range(t.size())
                                      if t.at(k).kind == ChoiceKind.Sample})
        for k in range(t.size()):
            c = &t.at(k)
            name = _name(c.addr)
            if c.kind == ChoiceKind.Observe:
                observed.setdefault(name, box_value(c.value))
                continue
            col = columns.get(name)
            if col is None:
                col = columns[name] = ([], [], <int>c.value.kind)
            (<list>col[0]).append(box_value(c.value))
            (<list>col[1]).append(i)
    values = {}
    masks = {}
    for name, col in columns.items():
        arr = np.zeros(n, dtype=_DTYPES[<int>col[2]])
        idx = np.asarray(col[1], dtype=np.intp)
        arr[idx] = col[0]
        values[name] = arr
        if len(col[1]) != n:
            present = np.zeros(n, dtype=np.bool_)
            present[idx] = True
            masks[name] = present
    return returned, Particles(values, log_prior, log_likelihood, log_factors,
                               observed=observed, present=masks, per_particle=True)
