#include "fugue/metrics.hpp"

#include <stdexcept>

namespace fugue {

InferenceMetrics::InferenceMetrics(std::shared_ptr<LatencyHistogram> latency, int window_seconds)
    : latency_(std::move(latency)), window_(window_seconds), spt_(seconds_per_tick()), start_tick_(ticks()) {
  if (!latency_) throw std::invalid_argument("latency histogram must not be null");
  if (window_seconds < 1 || window_seconds > 120)
    throw std::invalid_argument("window_seconds must be in [1, 120]");
  for (auto& s : slots_) s.store(0, std::memory_order_relaxed);
}

void InferenceMetrics::count_window(int64_t tick) noexcept {
  const uint64_t sec = static_cast<uint64_t>(static_cast<double>(tick) * spt_) & 0xFFFFFFFFull;
  std::atomic<uint64_t>& slot = slots_[sec % kWindowSlots];
  uint64_t cur = slot.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t next = (cur >> 32) == sec ? cur + 1 : ((sec << 32) | 1u);
    if (slot.compare_exchange_weak(cur, next, std::memory_order_relaxed)) return;
  }
}

void InferenceMetrics::record_error(const std::string& kind) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(kinds_mu_);
  ++kinds_[kind];
}

std::map<std::string, uint64_t> InferenceMetrics::errors_by_kind() const {
  std::lock_guard<std::mutex> lock(kinds_mu_);
  return kinds_;
}

double InferenceMetrics::uptime() const noexcept {
  return static_cast<double>(ticks() - start_tick_.load(std::memory_order_relaxed)) * spt_;
}

double InferenceMetrics::window_rate() const noexcept {
  const int64_t now = ticks();
  const uint64_t now_sec = static_cast<uint64_t>(static_cast<double>(now) * spt_) & 0xFFFFFFFFull;
  uint64_t n = 0;
  for (int k = 0; k < window_; ++k) {
    const uint64_t sec = (now_sec - static_cast<uint64_t>(k)) & 0xFFFFFFFFull;
    const uint64_t v = slots_[sec % kWindowSlots].load(std::memory_order_relaxed);
    if ((v >> 32) == sec) n += v & 0xFFFFFFFFull;
  }
  // The window is the last `window_` seconds, the current partial one
  // included; never longer than the uptime.
  const double frac = static_cast<double>(now) * spt_ - static_cast<double>(
      static_cast<uint64_t>(static_cast<double>(now) * spt_));
  double span = static_cast<double>(window_ - 1) + frac;
  const double up = uptime();
  if (up < span) span = up;
  return span > 0.0 ? static_cast<double>(n) / span : 0.0;
}

void InferenceMetrics::reset() noexcept {
  latency_->reset();
  errors_.store(0, std::memory_order_relaxed);
  timeouts_.store(0, std::memory_order_relaxed);
  fallbacks_.store(0, std::memory_order_relaxed);
  for (auto& s : slots_) s.store(0, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(kinds_mu_);
    kinds_.clear();
  }
  start_tick_.store(ticks(), std::memory_order_relaxed);
}

}  // namespace fugue
