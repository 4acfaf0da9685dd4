# C++ declarations: addresses, traces, the trace pool and the handlers' run state.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.memory cimport unique_ptr
from libcpp.string cimport string
from libcpp.vector cimport vector

from fugue_ppl.core._cdist cimport CDist, CValue, ValueKind, bitgen_t
from fugue_ppl.core._cparticles cimport CParticleRun


cdef extern from "fugue/address.hpp" namespace "fugue" nogil:
    ctypedef uint32_t AddrId

    cdef cppclass CAddressTable "fugue::AddressTable":
        @staticmethod
        CAddressTable& global_ "global"() noexcept
        AddrId intern(string) except +
        AddrId find(string) noexcept
        string name(AddrId) except +
        cbool acquire(AddrId) noexcept
        void release(AddrId) noexcept
        uint32_t references(AddrId) noexcept
        cbool pin(AddrId) noexcept
        cbool pinned(AddrId) noexcept
        size_t sweep(vector[AddrId]&) except +
        size_t size() noexcept
        size_t capacity() noexcept
        size_t pinned_count() noexcept
    size_t kMaxPinned "fugue::AddressTable::kMaxPinned"

    cdef AddrId kNoAddr "fugue::AddressTable::kNoAddr"


cdef extern from "fugue/trace.hpp" namespace "fugue" nogil:
    cpdef enum class ChoiceKind "fugue::ChoiceKind" (uint8_t):
        Sample
        Observe

    cdef enum ChoiceFlags "fugue::ChoiceFlags":
        kFlagNone "fugue::kFlagNone"
        kFlagFallback "fugue::kFlagFallback"

    cdef struct CChoice "fugue::Choice":
        AddrId addr
        ChoiceKind kind
        uint8_t flags
        CValue value
        double log_prob

    cdef cppclass CTrace "fugue::Trace":
        CTrace() except +
        CTrace(const CTrace&) except +
        void clear() noexcept
        cbool add(const CChoice&) except +
        const CChoice* find(AddrId) noexcept
        size_t size() noexcept
        const CChoice& at(size_t) noexcept
        double log_prior() noexcept
        double log_likelihood() noexcept
        double log_factors() noexcept
        double total_log_weight() noexcept
        void add_log_prior(double) noexcept
        void add_log_likelihood(double) noexcept
        void add_log_factor(double) noexcept
        void set_accumulators(double, double, double) noexcept
        cbool operator==(const CTrace&) noexcept
        size_t count_flagged(uint8_t) noexcept
        @staticmethod
        uint64_t buffer_allocations() noexcept


cdef extern from "fugue/trace_pool.hpp" namespace "fugue" nogil:
    cdef struct CPoolStats "fugue::PoolStats":
        uint64_t hits
        uint64_t misses
        uint64_t returns
        uint64_t drops
        uint64_t size

    cdef cppclass CTracePool "fugue::TracePool":
        CTracePool(size_t, size_t) except +
        unique_ptr[CTrace] acquire() except +
        void release(unique_ptr[CTrace]) noexcept
        size_t shrink_to(size_t) noexcept
        CPoolStats stats() noexcept
        size_t max_size() noexcept
        size_t min_size() noexcept

    cdef cppclass CTraceHandle "fugue::TraceHandle":
        CTraceHandle() noexcept
        void own(CTrace*) noexcept
        void acquire(CTracePool&) except +
        void reset() noexcept
        CTrace* get() noexcept
        void swap(CTraceHandle&) noexcept


cdef extern from "fugue/handlers.hpp" namespace "fugue" nogil:
    cdef enum class HandlerMode "fugue::HandlerMode" (uint8_t):
        Prior
        Replay
        Score
        SafeReplay
        SafeScore

    cdef enum class Status "fugue::Status" (uint8_t):
        Ok
        AddressConflict
        MissingAddress
        TypeMismatch
        NonFiniteObservation
        NonFiniteFactor
        DeadlineExceeded
        NonFiniteSample
        Warned

    cdef struct CEffectResult "fugue::EffectResult":
        CValue value
        Status status

    cdef cppclass CRun "fugue::Run":
        HandlerMode mode
        CTrace* trace
        const CTrace* base
        bitgen_t* bg
        CRun* outer
        int64_t deadline_tick
        int64_t start_tick
        cbool check_finite
        void* binding
        CParticleRun* particles   # a particle run's weights (NULL: a run of one trace)
        cbool add_fallback(AddrId, const CValue&, double) except +
        void add_unscorable_observation(AddrId, const CValue&) except +
        CEffectResult on_sample(AddrId, const CDist&) except +
        Status on_observe(AddrId, const CDist&, CValue) except +
        Status on_factor(double) noexcept

    CRun* current_run() noexcept
    void set_current_run(CRun*) noexcept
    CValue coerce(const CValue&, ValueKind) noexcept
