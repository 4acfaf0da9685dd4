#include "fugue/clock.hpp"

#include <chrono>

#if FUGUE_HAVE_TSC
#include <cpuid.h>
#endif

namespace fugue {
namespace detail {

namespace {
bool detect_invariant_tsc() noexcept {
#if FUGUE_HAVE_TSC
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0x80000000u, nullptr) < 0x80000007u) return false;
  __get_cpuid(0x80000007u, &a, &b, &c, &d);
  return (d & (1u << 8)) != 0;  // invariant TSC
#else
  return false;
#endif
}
}  // namespace

const bool g_use_tsc = detect_invariant_tsc();

int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace detail

double seconds_per_tick() noexcept {
  static const double spt = [] {
    if (!detail::g_use_tsc) return 1e-9;
    // Calibrate over ~5 ms of steady_clock time.
    const int64_t n0 = detail::steady_ns();
    const int64_t t0 = ticks();
    int64_t n1;
    do {
      n1 = detail::steady_ns();
    } while (n1 - n0 < 5000000);
    const int64_t t1 = ticks();
    return (t1 > t0) ? static_cast<double>(n1 - n0) * 1e-9 / static_cast<double>(t1 - t0) : 1e-9;
  }();
  return spt;
}

}  // namespace fugue
