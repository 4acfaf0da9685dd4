# C++ declarations: the fast monotonic clock (the CPU's invariant time-stamp
# counter, calibrated against steady_clock, or steady_clock itself).
from libc.stdint cimport int64_t
from libcpp cimport bool as cbool


cdef extern from "fugue/clock.hpp" namespace "fugue" nogil:
    int64_t ticks() noexcept
    double seconds_per_tick() noexcept
    cbool ticks_use_tsc() noexcept
