#pragma once
// A test-and-set lock for critical sections a few instructions long (a vector
// push or pop, a counter update), where spinning costs less than a mutex
// round trip. A waiter spins, then yields after 64 tries. Satisfies
// Lockable, for std::lock_guard.
#include <atomic>

namespace fugue {

class SpinLock {
 public:
  void lock() noexcept;
  void unlock() noexcept { busy_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> busy_{false};
};

}  // namespace fugue
