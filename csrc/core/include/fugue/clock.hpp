#pragma once
// A fast monotonic tick counter for latency measurement: the CPU's time-stamp
// counter on x86-64 when the CPU declares it invariant (constant rate, never
// stops), else std::chrono::steady_clock nanoseconds.
#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64)
#include <x86intrin.h>
#define FUGUE_HAVE_TSC 1
#else
#define FUGUE_HAVE_TSC 0
#endif

namespace fugue {

namespace detail {
// Set once at load time by clock.cpp (read-only afterwards).
extern const bool g_use_tsc;
int64_t steady_ns() noexcept;
}  // namespace detail

// The current tick count. Never throws.
inline int64_t ticks() noexcept {
#if FUGUE_HAVE_TSC
  if (detail::g_use_tsc) return static_cast<int64_t>(__rdtsc());
#endif
  return detail::steady_ns();
}

// Seconds per tick, calibrated against steady_clock on first use (a few
// milliseconds, once per process). Never throws.
double seconds_per_tick() noexcept;

// Whether ticks() reads the time-stamp counter. Never throws.
inline bool ticks_use_tsc() noexcept { return detail::g_use_tsc; }

}  // namespace fugue
