# The metrics classes shared with the runtime (MetricsHandler records into
# ProductionMetrics from C without a Python call).
from libc.stdint cimport int64_t
from libcpp.memory cimport shared_ptr, unique_ptr

from fugue_ppl.monitoring._cmetrics cimport CInferenceMetrics, CLatencyHistogram


cdef class LatencyHistogram:
    # Shared with the ProductionMetrics that owns it, if any.
    cdef shared_ptr[CLatencyHistogram] c


cdef class ProductionMetrics:
    cdef unique_ptr[CInferenceMetrics] c
    cdef readonly LatencyHistogram latency
    # Monitors attached to the latency: Python objects with update(x).
    cdef list _monitors
    cdef bint _has_monitors
    cdef object _lock
    cdef double _spt

    cdef int record_run(self, int64_t start_tick, int64_t end_tick, object error) except -1
    cdef int _record(self, double seconds, int64_t end_tick, object error) except -1
