# The runtime's classes and entry point shared with other compiled modules
# (the ModelRunner runs models through run_impl without Python overhead).
from cpython.object cimport PyObject
from libc.stdint cimport int64_t
from libcpp.memory cimport unique_ptr

from fugue_ppl.core._cdist cimport ValueKind, bitgen_t
from fugue_ppl.core._cruntime cimport (
    CChoice, CRunLock, CTrace, CTraceHandle, CTracePool, HandlerMode,
)
from fugue_ppl.monitoring._metrics cimport ProductionMetrics


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


cdef class Handler:
    cdef HandlerMode mode
    # The generator (Prior / Replay): numpy's Generator and its bitgen_t; a
    # caller's Generator is guarded by numpy's lock (_acquire/_release), a
    # private one by _mu.
    cdef object _gen
    cdef bitgen_t* _bg
    cdef object _acquire
    cdef object _release
    cdef unique_ptr[CRunLock] _mu
    # Replay / Score: the base trace. Pooled: the pool.
    cdef Trace _base
    cdef TracePool _pool
    # Wrappers (MetricsHandler, RobustHandler): the wrapped handler.
    cdef Handler _inner
    # MetricsHandler: where runs are recorded.
    cdef ProductionMetrics _metrics
    # RobustHandler.
    cdef bint _is_robust
    cdef bint _ready                   # __init__ ran (a second one is refused)

    cdef int _claim(self) except -1
    cdef int _set_rng(self, object rng) except -1
    cdef int _set_base(self, object base) except -1


cdef tuple run_impl(Handler handler, object model, PyObject** args, Py_ssize_t nargs,
                    dict kwargs, object deadline, int64_t start_tick=*)
# run(handler, model, *args[:nargs], deadline=deadline, **kwargs) -> (value, trace);
# the deadline counts from start_tick (a ticks() value) when it is not 0.
cdef object run_core(Handler handler, object model, PyObject** args, Py_ssize_t nargs,
                     dict kwargs, double deadline, int64_t start_tick, CTraceHandle* th,
                     Trace owner=*)
# The same, unchecked: `model` is callable, `deadline` is seconds (<= 0: none)
# and `th` an empty handle that gets the run's trace, from the innermost
# handler's pool when it has one; the pool must stay alive as long as `th`
# holds the trace: `owner` (the Trace holding `th`, if any) gets a reference
# to it, else the caller keeps one. Returns the value.
