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
// store (release: a reader that acquires c sees what preceded the add).
// Lock-free; never throws.
inline void saturating_add(std::atomic<uint64_t>& c, uint64_t n,
                           std::memory_order order = std::memory_order_relaxed) noexcept {
  if (n == 0) return;
  uint64_t cur = c.load(std::memory_order_relaxed);
  while (cur != kCounterMax &&
         !c.compare_exchange_weak(cur, saturating_add(cur, n), order, std::memory_order_relaxed)) {
  }
}

}  // namespace fugue
