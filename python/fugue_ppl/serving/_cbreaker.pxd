# C++ declarations: the circuit breaker (fugue/breaker.hpp).
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.memory cimport shared_ptr


cdef extern from "fugue/breaker.hpp" namespace "fugue" nogil:
    cdef enum class BreakerStateC "fugue::BreakerState" (uint8_t):
        Healthy
        Degraded
        Failed
        Recovery

    cdef enum class WindowType "fugue::WindowType" (uint8_t):
        Count
        Time

    cdef struct CBreakerConfig "fugue::BreakerConfig":
        double failure_threshold      # tau2: -> Failed when the window's rate exceeds it
        double degraded_threshold     # tau1: Healthy -> Degraded when the rate exceeds it
        double recovery_threshold     # tau0: Degraded -> Healthy at or below it
        WindowType window_type
        double window_size            # calls (Count) or seconds (Time)
        uint64_t minimum_calls        # outcomes in the window before the rate counts
        double slow_call_duration     # seconds (inf: off)
        double open_duration          # seconds in Failed before Recovery
        double backoff_factor         # open duration multiplier per Recovery -> Failed
        double max_open_duration      # cap of the grown open duration (inf: none)
        uint32_t half_open_permits    # trial calls admitted in Recovery
        double recovery_success_rate  # sigma: trial successes / permits that heal

    # Filled in by a call that changed the state; untouched otherwise.
    cdef struct CTransition "fugue::Transition":
        cbool changed
        BreakerStateC from_ "from"
        BreakerStateC to

    cdef struct CBreakerSnapshot "fugue::BreakerSnapshot":
        BreakerStateC state
        cbool forced                  # forced open until reset()
        uint64_t window_calls
        uint64_t window_failures      # slow successes included
        uint64_t window_slow
        uint64_t permitted
        uint64_t rejected
        uint64_t successes            # not slow
        uint64_t failures             # slow successes included
        uint64_t slow
        uint64_t ignored
        uint64_t transitions[4][4]    # [from][to]
        double open_duration          # seconds of the current or last open period
        double retry_after
        uint32_t backoff_level
        uint32_t trial_admitted
        uint32_t trial_successes
        uint32_t trial_failures
        int64_t now_ns

    cdef cppclass CManualClock "fugue::ManualClock":
        CManualClock(int64_t) noexcept
        int64_t now_ns() noexcept
        void advance_ns(int64_t) noexcept

    cdef cppclass CCircuitBreaker "fugue::CircuitBreaker":
        CCircuitBreaker(const CBreakerConfig&, shared_ptr[CManualClock]) except +
        cbool allow(CTransition&) noexcept
        void record_success(double, CTransition&) noexcept
        void record_failure(double, CTransition&) noexcept
        cbool admit_closed() noexcept
        void record_admitted(cbool, double, CTransition&) noexcept
        void record_ignored() noexcept
        void record_admitted_ignored() noexcept
        void force_open(double, CTransition&) noexcept
        void reset(CTransition&) noexcept
        BreakerStateC state() noexcept
        double retry_after() noexcept
        CBreakerSnapshot snapshot() noexcept
        const CBreakerConfig& config() noexcept
        int64_t now_ns() noexcept
