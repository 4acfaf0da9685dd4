# C++ declarations: the statistical process control monitors (Welford, EWMA,
# Shewhart, CUSUM) and what they share (signals, batch output, warm-up).
from libc.stdint cimport int8_t, int64_t, uint8_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.vector cimport vector


cdef extern from "fugue/welford.hpp" namespace "fugue" nogil:
    cdef cppclass CMoments "fugue::Moments":
        uint64_t n       # values seen
        double shift     # the first value seen (values are accumulated relative to it)
        double mean_s    # mean of (x - shift)
        double m2        # sum of squared deviations from the mean
        CMoments() noexcept
        void add(double) noexcept
        void merge(const CMoments&) noexcept
        double mean() noexcept
        double variance(int ddof) noexcept

    int64_t block_moments(const double* x, size_t n, CMoments& out) noexcept
    int64_t first_non_finite(const double* x, size_t n) noexcept

    cdef cppclass CWelford "fugue::Welford":
        CWelford() except +
        cbool update(double) noexcept
        int64_t update_many(const double*, size_t) noexcept
        void merge(const CWelford&) noexcept
        void merge_moments(const CMoments&) noexcept
        CMoments state() noexcept
        void set_state(const CMoments&) noexcept
        void reset() noexcept


cdef extern from "fugue/monitor.hpp" namespace "fugue" nogil:
    cdef enum RuleBits "fugue::RuleBits":
        kRuleWE1 "fugue::kRuleWE1"
        kRuleWE2 "fugue::kRuleWE2"
        kRuleWE3 "fugue::kRuleWE3"
        kRuleWE4 "fugue::kRuleWE4"
        kRuleUpper "fugue::kRuleUpper"
        kRuleLower "fugue::kRuleLower"

    cdef struct CSignal "fugue::Signal":
        double x          # the observation (a subgroup's mean for an X-bar chart)
        double value      # the charted statistic (NaN during warm-up)
        double lcl        # lower control limit (NaN during warm-up)
        double ucl        # upper control limit (NaN during warm-up)
        uint64_t count    # observations so far, this one included
        uint8_t rules     # RuleBits that fired
        int8_t direction  # +1 upward alarm, -1 downward, 0 none
        cbool alarm
        cbool warmup      # the baseline was still being estimated

    cdef cppclass CBatchOutput "fugue::BatchOutput":
        double* values    # optional (null): the statistic of every observation
        double* lcl       # optional (null): the lower limit of every observation
        double* ucl       # optional (null): the upper limit of every observation
        vector[int64_t] alarms  # indices of the observations that raised an alarm
        CSignal last      # the last observation's signal (count == 0: none)
        CBatchOutput() except +

    cpdef enum class UpdateStatus "fugue::UpdateStatus" (uint8_t):
        Updated
        Busy
        NonFinite
        BadSize

    # The methods the three charts share (a CRTP base: Derived is the chart,
    # State its opaque state).
    cdef cppclass CLockedChart "fugue::LockedChart"[Derived, Config, State]:
        UpdateStatus update(double, CSignal&, cbool wait) noexcept
        int64_t update_many(const double*, size_t, CBatchOutput&) except +
        void restart() noexcept
        void reset() noexcept
        const Config& config() noexcept


cdef extern from "fugue/ewma.hpp" namespace "fugue" nogil:
    cdef struct CEwmaConfig "fugue::EwmaConfig":
        double lam            # smoothing weight, in (0, 1]
        double L              # limit width in standard deviations of z, > 0
        double mu0            # centre (when has_mu0)
        double sigma          # sd of one observation (when has_sigma), > 0
        cbool has_mu0
        cbool has_sigma
        uint64_t warmup       # warm-up length when mu0 or sigma is estimated (>= 2)
        cbool reset_on_alarm  # restart z and t after every alarm

    cdef struct CEwmaSnapshot "fugue::EwmaSnapshot":
        double z, lcl, ucl, mu0, sigma  # NaN while the baseline is being estimated
        uint64_t t                      # observations since the chart (re)started
        uint64_t count, alarm_count, warmup_seen
        cbool in_warmup

    cdef cppclass CEwmaState "fugue::EwmaState":
        pass

    cdef cppclass CEwma "fugue::Ewma"
    cdef cppclass CEwma "fugue::Ewma"(CLockedChart[CEwma, CEwmaConfig, CEwmaState]):
        CEwma(const CEwmaConfig&) except +
        CEwmaSnapshot snapshot() noexcept


cdef extern from "fugue/cusum.hpp" namespace "fugue" nogil:
    cdef struct CCusumConfig "fugue::CusumConfig":
        double k              # reference value in units of sigma, >= 0
        double h              # decision interval in units of sigma, > 0
        double mu0            # target (when has_mu0)
        double sigma          # sd of one observation (when has_sigma), > 0
        cbool has_mu0
        cbool has_sigma
        uint64_t warmup       # warm-up length when mu0 or sigma is estimated (>= 2)
        cbool reset_on_alarm  # C+ = C- = 0 after every alarm

    cdef struct CCusumSnapshot "fugue::CusumSnapshot":
        double upper, lower, mu0, sigma, K, H  # C+, C-, baseline, k sigma, h sigma
        uint64_t count, alarm_count, warmup_seen
        cbool in_warmup

    cdef cppclass CCusumState "fugue::CusumState":
        pass

    cdef cppclass CCusum "fugue::Cusum"
    cdef cppclass CCusum "fugue::Cusum"(CLockedChart[CCusum, CCusumConfig, CCusumState]):
        CCusum(const CCusumConfig&) except +
        CCusumSnapshot snapshot() noexcept


cdef extern from "fugue/control_chart.hpp" namespace "fugue" nogil:
    const uint8_t kWesternElectricAll "fugue::kWesternElectricAll"

    cdef struct CShewhartConfig "fugue::ShewhartConfig":
        uint64_t n            # subgroup size (1: individuals chart), >= 1
        double mu0            # centre line (when has_mu0)
        double sigma          # sd of one observation (when has_sigma), > 0
        cbool has_mu0
        cbool has_sigma
        uint64_t warmup       # warm-up length in points when mu0 or sigma is estimated (>= 2)
        uint8_t rules         # RuleBits: a non-empty subset of WE1..WE4
        cbool reset_on_alarm  # clear the rule history after every alarm

    cdef struct CShewhartSnapshot "fugue::ShewhartSnapshot":
        double center, lcl, ucl       # mu0, mu0 -+ 3 sigma / sqrt(n)
        double sigma, sigma_point     # sd of one observation; of one point
        double last                   # the last charted point
        uint64_t count, alarm_count, warmup_seen
        uint64_t rule_counts[4]
        cbool in_warmup

    cdef cppclass CShewhartState "fugue::ShewhartState":
        pass

    cdef cppclass CShewhartChart "fugue::ShewhartChart"
    cdef cppclass CShewhartChart "fugue::ShewhartChart"(
            CLockedChart[CShewhartChart, CShewhartConfig, CShewhartState]):
        CShewhartChart(const CShewhartConfig&) except +
        UpdateStatus update_subgroup(const double*, size_t, CSignal&, cbool wait) noexcept
        int64_t update_many_subgroups(const double*, size_t, size_t, CBatchOutput&) except +
        CShewhartSnapshot snapshot() noexcept
