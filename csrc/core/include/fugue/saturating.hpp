#pragma once
// Saturating arithmetic for unsigned 64-bit counters: a counter that would
// pass its maximum stays at the maximum instead of wrapping to a small value.
#include <atomic>
#include <cstdint>
#include <limits>

namespace fugue {

constexpr uint64_t kCounterMax = std::numeric_limits<uint64_t>::max();

// a + b, or kCounterMax when the sum does not fit. Never throws.
constexpr uint64_t saturating_add(uint64_t a, uint64_t b) noexcept {
  return a > kCounterMax - b ? kCounterMax : a + b;
}

// Atomically adds n to c, stopping at kCounterMax; `order` applies to the
// add (release: a reader that acquires c sees what preceded it). One locked
// add, then a store of the maximum when the add wrapped: a reader racing the
// add that reaches the maximum may see the wrapped value for that instant, and
// every later add leaves the maximum. Lock-free; never throws.
inline void saturating_add(std::atomic<uint64_t>& c, uint64_t n,
                           std::memory_order order = std::memory_order_relaxed) noexcept {
  if (n == 0) return;
  const uint64_t old = c.fetch_add(n, order);
  if (old > kCounterMax - n) c.store(kCounterMax, std::memory_order_release);
}

}  // namespace fugue
