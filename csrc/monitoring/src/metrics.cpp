#include "fugue/metrics.hpp"

#include <stdexcept>

namespace fugue {

InferenceMetrics::InferenceMetrics(std::shared_ptr<LatencyHistogram> latency, int window_seconds)
    : latency_(std::move(latency)), window_(window_seconds), spt_(seconds_per_tick()), start_tick_(ticks()) {
  if (!latency_) throw std::invalid_argument("latency histogram must not be null");
  if (window_seconds < 1 || window_seconds > kMaxWindowSeconds)
    throw std::invalid_argument("window_seconds out of range");
}

void InferenceMetrics::new_second(int64_t sec) noexcept {
  std::lock_guard<std::mutex> lock(window_mu_);
  if (last_sec_.load(std::memory_order_relaxed) == sec) return;
  ring_[ring_head_] = Sample{sec, latency_->count()};
  ring_head_ = (ring_head_ + 1) % kWindowSlots;
  if (ring_size_ < kWindowSlots) ++ring_size_;
  last_sec_.store(sec, std::memory_order_relaxed);
}

void InferenceMetrics::record_error(const std::string& kind) {
  saturating_add(errors_, 1, std::memory_order_release);  // after record(): see counts()
  std::lock_guard<std::mutex> lock(kinds_mu_);
  uint64_t& n = kinds_[kind];
  n = saturating_add(n, 1);
}

std::map<std::string, uint64_t> InferenceMetrics::errors_by_kind() const {
  std::lock_guard<std::mutex> lock(kinds_mu_);
  return kinds_;
}

MetricsCounts InferenceMetrics::counts() const {
  MetricsCounts c;
  c.timeouts = timeouts_.load(std::memory_order_acquire);
  c.errors_by_kind = errors_by_kind();
  c.errors = errors_.load(std::memory_order_acquire);
  c.fallbacks = fallbacks_.load(std::memory_order_acquire);
  c.invalid = invalid_.load(std::memory_order_acquire);
  c.inferences = inferences();
  return c;
}

double InferenceMetrics::uptime() const noexcept {
  return static_cast<double>(ticks() - start_tick_.load(std::memory_order_relaxed)) * spt_;
}

double InferenceMetrics::window_rate() const noexcept {
  const double now = static_cast<double>(ticks()) * spt_;
  const int64_t now_sec = static_cast<int64_t>(now);
  const int64_t first = now_sec - window_ + 1;  // oldest second inside the window
  uint64_t base = 0;
  bool any = false;
  {
    std::lock_guard<std::mutex> lock(window_mu_);
    // Walk from the newest sample back to the oldest one inside the window.
    for (int k = 1; k <= ring_size_; ++k) {
      const Sample& s = ring_[(ring_head_ - k + kWindowSlots) % kWindowSlots];
      if (s.sec < first) break;
      base = s.count;
      any = true;
    }
  }
  if (!any) return 0.0;
  // The oldest sample's count includes its own inference. A count below it
  // means the histogram was reset on its own: nothing to count then.
  const uint64_t cur = inferences();
  const uint64_t n = cur >= base ? saturating_add(cur - base, 1) : 0;
  // The last `window_` seconds, the current partial one included; never
  // longer than the uptime.
  double span = static_cast<double>(window_ - 1) + (now - static_cast<double>(now_sec));
  const double up = uptime();
  if (up < span) span = up;
  return span > 0.0 ? static_cast<double>(n) / span : 0.0;
}

void InferenceMetrics::reset() noexcept {
  latency_->reset();
  errors_.store(0, std::memory_order_relaxed);
  timeouts_.store(0, std::memory_order_relaxed);
  fallbacks_.store(0, std::memory_order_relaxed);
  invalid_.store(0, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(window_mu_);
    ring_head_ = ring_size_ = 0;
    last_sec_.store(-1, std::memory_order_relaxed);
  }
  {
    std::lock_guard<std::mutex> lock(kinds_mu_);
    kinds_.clear();
  }
  start_tick_.store(ticks(), std::memory_order_relaxed);
}

}  // namespace fugue
