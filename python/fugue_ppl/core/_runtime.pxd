# The runtime's classes and entry points shared with the compiled modules of
# the layers above: they subclass HandlerWrapper (MetricsHandler,
# RobustHandler) and run models through run_core (ModelRunner).
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint32_t
from libcpp.memory cimport unique_ptr

from fugue_ppl.core._cdist cimport CValue, ValueKind, bitgen_t
from fugue_ppl.core._cruntime cimport (
    AddrId, CChoice, CEffectResult, CRun, CTrace, CTraceHandle, CTracePool,
    HandlerMode, Status,
)
from fugue_ppl.core._cstreams cimport CStreamSource
from fugue_ppl.core._distributions cimport Distribution


cdef class TracePool:
    cdef unique_ptr[CTracePool] c


cdef class Trace:
    # The C++ trace; a pooled one goes back to its pool when the handle is
    # reset or destroyed (the pool is kept alive by _pool).
    cdef CTraceHandle _t
    cdef TracePool _pool
    # Methods that run Python code while they read the C++ trace borrow it:
    # a release() meanwhile (from a finalizer or another thread) only marks
    # it, and the last borrower gives it back.
    cdef int _borrows
    cdef bint _release_pending

    cdef CTrace* _get(self) except NULL
    cdef CTrace* _borrow(self) except NULL
    cdef void _unborrow(self) noexcept
    cdef int _give_back(self) except -1
    cdef const CChoice* _lookup(self, object address) except? NULL
    cdef object _typed(self, object address, ValueKind want)


# What a handler gives the C++ run, fixed when the handler is built (a
# wrapper copies its inner handler's). The borrowed objects are kept alive by
# the handler chain.
cdef struct RunSpec:
    HandlerMode mode
    CStreamSource* streams    # derives each run's stream (NULL: a caller's generator, or none)
    bitgen_t* bg              # the caller's generator (NULL: streams, or nothing is drawn)
    PyObject* sampler         # the _Sampling handler owning streams / bg (takes numpy's lock)
    const CTrace* base        # the base trace of a Replay / Score handler
    PyObject* pool            # the TracePool traces come from (NULL: a new trace per run)
    bint check_finite         # report a non-finite draw to the effect hook


# The binding's state of one run (CRun.binding).
cdef struct RunContext:
    PyObject* effects         # the HandlerWrapper answering failed effects, or NULL
    uint32_t substituted      # values it substituted in this run


cdef class Handler:
    cdef RunSpec _spec
    cdef bint _ready                   # __init__ ran (a second one is refused)
    # Wrappers in the chain that plug into runs (None when there is none): the
    # one answering failed effects and the one told of every run's outcome.
    cdef Handler _effects              # a HandlerWrapper
    cdef Handler _observer             # a HandlerWrapper

    cdef int _claim(self) except -1


cdef class HandlerWrapper(Handler):
    # A handler around another: runs are the inner handler's; a subclass
    # plugs in by overriding the hooks and registering itself in _wrap.
    cdef readonly Handler inner

    cdef int _wrap(self, object inner, bint effects, bint observer) except -1
    # A sample effect failed (or drew a non-finite value with check_finite):
    # return the value the model gets, or raise.
    cdef object _sample_failed(self, CRun* r, CEffectResult res, AddrId aid, object addr,
                               Distribution dist)
    # An observation could not be scored: record it, or raise.
    cdef int _observe_failed(self, CRun* r, Status st, AddrId aid, object addr, object dist,
                             CValue v) except -1
    # A run ended (error is None on success); t0, t1 are ticks().
    cdef int _run_ended(self, int64_t t0, int64_t t1, object error,
                        uint32_t substituted) except -1


cdef tuple run_impl(Handler handler, object model, PyObject** args, Py_ssize_t nargs,
                    dict kwargs, object deadline, int64_t start_tick=*, object seed=*)
# run(handler, model, *args[:nargs], deadline=deadline, seed=seed, **kwargs) ->
# (value, trace); the deadline counts from start_tick (a ticks() value) when it
# is not 0.
cdef object run_core(Handler handler, object model, PyObject** args, Py_ssize_t nargs,
                     dict kwargs, int64_t deadline, int64_t start_tick, CTraceHandle* th,
                     Trace owner=*, object seed=*, int64_t* end_tick=*)
# The same, unchecked: `model` is callable, `deadline` is clock ticks
# (deadline_ticks of the seconds; 0: none),
# `seed` None (the run's key is the handler's next counter value) or what
# check_seed returned, and `th` an empty handle that gets the run's trace, from
# the handler's pool when it has one; the pool must stay alive as long as `th`
# holds the trace: `owner` (the Trace holding `th`, if any) gets a reference to
# it, else the caller keeps one. A run with a deadline that ends past it
# raises InferenceTimeout; `end_tick`, when not NULL, gets the clock read that
# checked it. Returns the value.
cdef object check_seed(Handler handler, object seed, str owner)


# A deadline of `seconds` (> 0, checked) as clock ticks for run_core: at least 1,
# and beyond ~100 years INT64_MAX (no deadline at all in effect).
cdef inline int64_t deadline_ticks(double seconds, double seconds_per_tick) noexcept:
    if seconds >= 3.0e9:
        return <int64_t>0x7FFFFFFFFFFFFFFF
    cdef int64_t t = <int64_t>(seconds / seconds_per_tick)
    return t if t > 0 else 1
# A run's `seed=` (not None) as the int key run_core takes: TypeError unless an
# integer (bools and floats are not), InvalidArgument naming `seed` when
# negative or when the handler draws from a caller's Generator (which cannot
# honour a key). Changes nothing.

cdef int raise_effect_error(Status st, str effect, object address, object dist) except -1
# Raises the error of a failed effect (or warns, for a safe handler's status).
cdef str effect_error_kind(Status st)
# The name of the error class raise_effect_error raises for `st`.
cdef int unbox_value(object x, CValue* out) except -1
# A Python number or bool as a CValue; TypeError for anything else.
