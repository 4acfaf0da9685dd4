# C++ declarations: the latency histogram and inference metrics.
from libc.stdint cimport int64_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.map cimport map as cmap
from libcpp.memory cimport shared_ptr
from libcpp.string cimport string


cdef extern from "fugue/histogram.hpp" namespace "fugue" nogil:
    cdef cppclass CLatencyHistogram "fugue::LatencyHistogram":
        CLatencyHistogram(double, double, int) except +
        void record(double) noexcept
        void record_many(const double*, size_t) noexcept
        uint64_t count() noexcept
        double sum() noexcept
        double min() noexcept
        double max() noexcept
        double quantile(double) noexcept
        uint64_t count_le(double) noexcept
        void count_le_many(const double*, size_t, uint64_t*) noexcept
        void merge(const CLatencyHistogram&) except +
        void reset() noexcept
        double lowest() noexcept
        double highest() noexcept
        int sub_bits() noexcept
        size_t bucket_count() noexcept
        double bucket_lower(size_t) noexcept
        double bucket_upper(size_t) noexcept
        uint64_t bucket_value(size_t) noexcept


cdef extern from "fugue/metrics.hpp" namespace "fugue" nogil:
    cdef struct CMetricsCounts "fugue::MetricsCounts":
        uint64_t inferences
        uint64_t errors
        uint64_t timeouts
        uint64_t fallbacks
        uint64_t invalid
        cmap[string, uint64_t] errors_by_kind

    int kMaxWindowSeconds "fugue::InferenceMetrics::kMaxWindowSeconds"

    cdef cppclass CInferenceMetrics "fugue::InferenceMetrics":
        CInferenceMetrics(shared_ptr[CLatencyHistogram], int) except +
        void record(double, int64_t) noexcept
        void record_error(const string&) except +
        void add_timeout() noexcept
        void add_fallback(uint64_t) noexcept
        void add_invalid() noexcept
        uint64_t inferences() noexcept
        uint64_t errors() noexcept
        uint64_t timeouts() noexcept
        uint64_t fallbacks() noexcept
        uint64_t invalid() noexcept
        cmap[string, uint64_t] errors_by_kind() except +
        CMetricsCounts counts() except +
        double uptime() noexcept
        double window_rate() noexcept
        int window_seconds() noexcept
        void reset() noexcept
