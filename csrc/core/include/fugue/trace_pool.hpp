#pragma once
// A bounded, thread-safe pool of reusable traces.
#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <mutex>
#include <vector>

#include "fugue/spin_lock.hpp"
#include "fugue/trace.hpp"

namespace fugue {

struct PoolStats {
  uint64_t hits;     // acquisitions served from the pool
  uint64_t misses;   // acquisitions that built a new trace
  uint64_t returns;  // traces taken back into the pool
  uint64_t drops;    // traces released while the pool was full (destroyed)
  uint64_t size;     // idle traces now in the pool
};

class TracePool {
 public:
  // Throws std::invalid_argument unless 0 <= min_size <= max_size and
  // max_size >= 1; pre-fills min_size traces (std::bad_alloc).
  TracePool(std::size_t max_size, std::size_t min_size);

  // A cleared trace: an idle one when available (a hit), else a new one (a
  // miss). Throws std::bad_alloc.
  std::unique_ptr<Trace> acquire();

  // Takes `t` back (cleared) when below max_size, else destroys it (a drop).
  // Never throws; a null `t` is ignored.
  void release(std::unique_ptr<Trace> t) noexcept;

  // Destroys idle traces beyond `n`; returns how many. Never throws.
  std::size_t shrink_to(std::size_t n) noexcept;

  PoolStats stats() const noexcept;
  std::size_t max_size() const noexcept { return max_size_; }
  std::size_t min_size() const noexcept { return min_size_; }

 private:
  const std::size_t max_size_;
  const std::size_t min_size_;
  mutable SpinLock mu_;
  std::vector<std::unique_ptr<Trace>> idle_;
  uint64_t hits_ = 0, misses_ = 0, returns_ = 0, drops_ = 0;
};

// Owns one trace; when the trace came from a pool, gives it back on reset or
// destruction instead of freeing it. The pool must outlive the handle.
class TraceHandle {
 public:
  TraceHandle() = default;
  ~TraceHandle() { reset(); }
  TraceHandle(const TraceHandle&) = delete;
  TraceHandle& operator=(const TraceHandle&) = delete;

  // Takes ownership of `t` (not pooled), releasing what was held. Never throws.
  void own(Trace* t) noexcept { reset(); trace_.reset(t); }
  // Holds a trace acquired from `pool`, releasing what was held. Throws std::bad_alloc.
  void acquire(TracePool& pool) { reset(); trace_ = pool.acquire(); pool_ = &pool; }
  // Gives the trace back to its pool, or destroys it. Never throws.
  void reset() noexcept {
    if (pool_ != nullptr) { pool_->release(std::move(trace_)); pool_ = nullptr; }
    trace_.reset();
  }
  Trace* get() const noexcept { return trace_.get(); }
  // Exchanges what the two handles hold. Never throws.
  void swap(TraceHandle& other) noexcept {
    trace_.swap(other.trace_);
    std::swap(pool_, other.pool_);
  }

 private:
  std::unique_ptr<Trace> trace_;
  TracePool* pool_ = nullptr;
};

}  // namespace fugue
