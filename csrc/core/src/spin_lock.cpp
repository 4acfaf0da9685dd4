#include "fugue/spin_lock.hpp"

#include <thread>

namespace fugue {

void SpinLock::lock() noexcept {
  for (int spins = 0; busy_.exchange(true, std::memory_order_acquire); ++spins) {
    if (spins > 64) std::this_thread::yield();
  }
}

}  // namespace fugue
