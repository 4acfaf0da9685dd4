#include "fugue/trace_pool.hpp"

#include <algorithm>
#include <stdexcept>

namespace fugue {

TracePool::TracePool(std::size_t max_size, std::size_t min_size)
    : max_size_(max_size), min_size_(min_size) {
  if (max_size < 1) throw std::invalid_argument("max_size must be >= 1");
  if (min_size > max_size) throw std::invalid_argument("min_size must be <= max_size");
  idle_.reserve(std::min<std::size_t>(max_size, 1024));  // grows (rarely) beyond
  for (std::size_t k = 0; k < min_size; ++k) idle_.push_back(std::make_unique<Trace>());
}

std::unique_ptr<Trace> TracePool::acquire() {
  {
    std::lock_guard<SpinLock> lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Trace> t = std::move(idle_.back());
      idle_.pop_back();
      ++hits_;
      return t;
    }
    ++misses_;
  }
  return std::make_unique<Trace>();
}

void TracePool::release(std::unique_ptr<Trace> t) noexcept {
  if (!t) return;
  t->clear();
  std::unique_ptr<Trace> doomed;
  {
    std::lock_guard<SpinLock> lock(mu_);
    if (idle_.size() < max_size_) {
      try {
        idle_.push_back(std::move(t));
      } catch (...) {
        ++drops_;
        return;  // t (moved-from or not) is destroyed
      }
      ++returns_;
      return;
    }
    ++drops_;
    doomed = std::move(t);
  }
  // destroyed outside the lock
}

std::size_t TracePool::shrink_to(std::size_t n) noexcept {
  std::lock_guard<SpinLock> lock(mu_);
  std::size_t dropped = 0;
  while (idle_.size() > n) {
    idle_.pop_back();
    ++dropped;
  }
  return dropped;
}

PoolStats TracePool::stats() const noexcept {
  std::lock_guard<SpinLock> lock(mu_);
  return PoolStats{hits_, misses_, returns_, drops_, static_cast<uint64_t>(idle_.size())};
}

}  // namespace fugue
