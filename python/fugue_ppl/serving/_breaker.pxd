# The circuit breaker classes shared with the runtime: a Cython caller (a
# ModelRunner, RobustHandler) cimports CircuitBreaker and calls its c_* methods
# (one C call each, listeners included) instead of the Python methods:
#
#     from fugue_ppl.serving._breaker cimport CircuitBreaker
#     if not breaker.c_allow():
#         raise breaker.open_error()
#     ...run the model...
#     breaker.c_record_success(seconds)      # or c_record_failure / c_record_ignored
#
# Calling `breaker.c.get()` directly works too (same C++ object) but then the
# caller must hand any CTransition with `changed` set to `breaker.c_notify(t)`,
# or the listeners miss that transition.
from libcpp.memory cimport shared_ptr

from fugue_ppl.serving._cbreaker cimport CCircuitBreaker, CManualClock, CTransition


cdef enum:
    OUTCOME_SUCCESS = 0
    OUTCOME_FAILURE = 1
    OUTCOME_IGNORED = 2


cdef class ManualClock:
    cdef shared_ptr[CManualClock] c
    cdef bint _ready                  # __init__ ran (a second one is refused)


cdef class CircuitBreaker:
    # Shared so that a runner can keep the C++ breaker alive on its own.
    cdef shared_ptr[CCircuitBreaker] c
    cdef readonly object config       # its BreakerConfig
    cdef readonly ManualClock clock   # None: the process's monotonic clock
    cdef readonly str name
    cdef readonly tuple record_exceptions   # exceptions counted as failures
    cdef readonly tuple ignore_exceptions   # exceptions counted neither way
    cdef tuple _listeners             # replaced (never mutated) under _lock
    cdef object _lock
    cdef object __weakref__

    # allow() / record_*() for Cython callers: listeners of a transition the
    # call caused are called before returning (outside the C++ lock).
    cdef bint c_allow(self) except -1
    cdef int c_record_success(self, double seconds) except -1   # seconds < 0: unknown
    cdef int c_record_failure(self, double seconds) except -1
    cdef int c_record_ignored(self) except -1
    # The outcome of a call admitted by `c.get().admit_closed()` (lock-free,
    # closed breakers only), counting its permit too.
    cdef int c_record_admitted(self, bint failed, double seconds) except -1
    # What a call that raised `exc` counts as: OUTCOME_SUCCESS, _FAILURE or _IGNORED.
    cdef int c_classify(self, object exc) except -1
    # Calls the listeners (and logs) for a transition with `changed` set.
    cdef int c_notify(self, const CTransition& t) except -1
