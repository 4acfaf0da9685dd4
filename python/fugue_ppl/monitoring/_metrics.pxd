# The metrics classes shared with the serving layer (ModelRunner records
# into ProductionMetrics from C, through the same method MetricsHandler uses).
from libc.stdint cimport int64_t, uint64_t
from libcpp.memory cimport shared_ptr, unique_ptr

from fugue_ppl.monitoring._cmetrics cimport CInferenceMetrics, CLatencyHistogram


cdef class LatencyHistogram:
    # Shared with the ProductionMetrics that owns it, if any.
    cdef shared_ptr[CLatencyHistogram] c


cdef class ProductionMetrics:
    cdef unique_ptr[CInferenceMetrics] c
    cdef readonly LatencyHistogram latency
    # Monitors attached to the latency (_Monitor records), replaced (never
    # mutated) under _lock.
    cdef tuple _monitors
    cdef bint _has_monitors
    cdef object _lock
    cdef double _spt

    # Records one call: started and ended at these ticks(), failed with
    # `error` (None: succeeded), with `fallbacks` values substituted.
    cdef int record_call(self, int64_t start_tick, int64_t end_tick, object error,
                         uint64_t fallbacks) except -1
    cdef int _record(self, double seconds, int64_t end_tick, object error,
                     uint64_t fallbacks) except -1
    # Counts fallback values served outside a recorded call.
    cdef int add_fallbacks(self, uint64_t n) except -1
    # Counts a request refused for invalid arguments (not an inference).
    cdef int add_invalid(self) except -1
    cdef int _notify(self, double seconds) except -1


# record_call for a call that succeeded, inlined into the caller (a runner's
# every call): the same counts, without the calls and the error argument.
cdef inline int record_success(ProductionMetrics m, double seconds, int64_t end_tick,
                               uint64_t fallbacks) except -1:
    m.c.get().record(seconds, end_tick)
    if fallbacks:
        m.c.get().add_fallback(fallbacks)
    if m._has_monitors:
        m._notify(seconds)
    return 0
