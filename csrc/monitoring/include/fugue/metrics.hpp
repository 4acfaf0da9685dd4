#pragma once
// Counters of a model in production: inferences (with their latencies),
// errors by kind, timeouts, fallbacks and throughput over a sliding window.
// Thread-safe; the per-inference path is lock-free. Counters saturate at
// 2^64 - 1 (they never wrap).
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "fugue/clock.hpp"
#include "fugue/histogram.hpp"
#include "fugue/saturating.hpp"

namespace fugue {

// The counters at one moment.
struct MetricsCounts {
  uint64_t inferences;
  uint64_t errors;
  uint64_t timeouts;
  uint64_t fallbacks;
  uint64_t invalid;  // requests refused before inference (bad arguments)
  std::map<std::string, uint64_t> errors_by_kind;
};

class InferenceMetrics {
 public:
  static constexpr int kWindowSlots = 128;
  static constexpr int kMaxWindowSeconds = 120;

  // Throws std::invalid_argument unless 1 <= window_seconds <=
  // kMaxWindowSeconds (whole seconds), or when `latency` is null.
  InferenceMetrics(std::shared_ptr<LatencyHistogram> latency, int window_seconds);

  // One inference ended at tick `end_tick` after `seconds`. Never throws.
  void record(double seconds, int64_t end_tick) noexcept {
    latency_->record(seconds);
    const int64_t sec = static_cast<int64_t>(static_cast<double>(end_tick) * spt_);
    if (sec != last_sec_.load(std::memory_order_relaxed)) new_second(sec);
  }
  // One inference ended with an error of `kind` (also call record()).
  // Throws std::bad_alloc.
  void record_error(const std::string& kind);
  // One timeout. Never throws.
  void add_timeout() noexcept { saturating_add(timeouts_, 1, std::memory_order_release); }
  // n fallback values served. Never throws.
  void add_fallback(uint64_t n) noexcept { saturating_add(fallbacks_, n); }
  // One request refused before inference: its arguments were invalid (not an
  // inference, not an error of the model). Never throws.
  void add_invalid() noexcept { saturating_add(invalid_, 1); }

  uint64_t inferences() const noexcept { return latency_->count(); }
  uint64_t errors() const noexcept { return errors_.load(std::memory_order_relaxed); }
  uint64_t timeouts() const noexcept { return timeouts_.load(std::memory_order_relaxed); }
  uint64_t fallbacks() const noexcept { return fallbacks_.load(std::memory_order_relaxed); }
  uint64_t invalid() const noexcept { return invalid_.load(std::memory_order_relaxed); }
  // Errors by kind (a copy). Throws std::bad_alloc.
  std::map<std::string, uint64_t> errors_by_kind() const;
  // Every counter, read in the reverse of the order an inference records
  // them (timeouts, kinds, errors, then inferences), so that in the result
  // timeouts <= errors, the kinds sum to at most errors and errors <=
  // inferences, however many threads are recording. Throws std::bad_alloc.
  MetricsCounts counts() const;

  // Seconds since construction (or the last reset). Never throws.
  double uptime() const noexcept;
  // Inferences per second over the last `window_seconds` whole seconds (or
  // the uptime, when shorter). Never throws.
  double window_rate() const noexcept;
  int window_seconds() const noexcept { return window_; }

  LatencyHistogram& latency() noexcept { return *latency_; }
  const std::shared_ptr<LatencyHistogram>& latency_ptr() const noexcept { return latency_; }

  // Zeroes every counter and the histogram; restarts the uptime. Never throws.
  void reset() noexcept;

 private:
  void new_second(int64_t sec) noexcept;

  std::shared_ptr<LatencyHistogram> latency_;
  const int window_;
  const double spt_;
  std::atomic<int64_t> start_tick_;
  std::atomic<uint64_t> errors_{0}, timeouts_{0}, fallbacks_{0}, invalid_{0};
  // The throughput window: for each second in which an inference ended, the
  // cumulative inference count at its first inference. The per-inference
  // cost is one relaxed load and a compare; a new second takes the mutex.
  struct Sample {
    int64_t sec;
    uint64_t count;
  };
  std::atomic<int64_t> last_sec_{-1};
  mutable std::mutex window_mu_;
  Sample ring_[kWindowSlots];
  int ring_head_ = 0;  // next write position
  int ring_size_ = 0;
  mutable std::mutex kinds_mu_;
  std::map<std::string, uint64_t> kinds_;
};

}  // namespace fugue
