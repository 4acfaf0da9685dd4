#include "fugue/histogram.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace fugue {
namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

LatencyHistogram::LatencyHistogram(double lowest, double highest, int sub_bits)
    : lowest_(lowest), highest_(highest), sub_bits_(sub_bits), min_(kInf), max_(-kInf) {
  if (!(std::isfinite(lowest) && lowest > 0.0))
    throw std::invalid_argument("lowest must be finite and > 0");
  if (!(std::isfinite(highest) && highest > lowest))
    throw std::invalid_argument("highest must be finite and > lowest");
  if (sub_bits < 1 || sub_bits > 12) throw std::invalid_argument("sub_bits must be in [1, 12]");
  inv_lowest_ = 1.0 / lowest;
  groups_ = static_cast<int>(std::ceil(std::log2(highest / lowest)));
  if (groups_ < 1) groups_ = 1;
  if (groups_ > 1000) throw std::invalid_argument("highest / lowest is too large");
  n_buckets_ = 2 + (static_cast<std::size_t>(groups_) << sub_bits);
  top_ = std::ldexp(1.0, groups_);
  counts_.reset(new std::atomic<uint64_t>[n_buckets_]);
  for (std::size_t i = 0; i < n_buckets_; ++i) counts_[i].store(0, std::memory_order_relaxed);
}

double LatencyHistogram::bucket_lower(std::size_t i) const noexcept {
  if (i == 0) return 0.0;
  if (i >= n_buckets_ - 1) return std::ldexp(lowest_, groups_);
  const std::size_t k = i - 1;
  const int g = static_cast<int>(k >> sub_bits_);
  const double sub = static_cast<double>(k & ((1u << sub_bits_) - 1));
  return std::ldexp(lowest_, g) * (1.0 + sub / static_cast<double>(1u << sub_bits_));
}

double LatencyHistogram::bucket_upper(std::size_t i) const noexcept {
  return i >= n_buckets_ - 1 ? kInf : bucket_lower(i + 1);
}

void LatencyHistogram::record_many(const double* xs, std::size_t n) noexcept {
  for (std::size_t k = 0; k < n; ++k) record(xs[k]);
}

uint64_t LatencyHistogram::count() const noexcept {
  uint64_t n = 0;
  for (std::size_t i = 0; i < n_buckets_; ++i)
    n = saturating_add(n, counts_[i].load(std::memory_order_relaxed));
  return n;
}

double LatencyHistogram::min() const noexcept {
  const double m = min_.load(std::memory_order_relaxed);
  return m == kInf ? kNaN : m;
}

double LatencyHistogram::max() const noexcept {
  const double m = max_.load(std::memory_order_relaxed);
  return m == -kInf ? kNaN : m;
}

double LatencyHistogram::quantile(double q) const noexcept {
  if (!(q >= 0.0 && q <= 1.0)) return kNaN;
  const uint64_t n = count();
  if (n == 0) return kNaN;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n)));
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  uint64_t acc = 0;
  std::size_t i = 0;
  for (; i < n_buckets_; ++i) {
    acc = saturating_add(acc, counts_[i].load(std::memory_order_relaxed));
    if (acc >= rank) break;
  }
  const double lo = min(), hi = max();
  double v;
  if (i == 0) {
    v = lo;  // underflow: the best we know
  } else if (i >= n_buckets_ - 1) {
    v = hi;  // overflow
  } else {
    v = 0.5 * (bucket_lower(i) + bucket_upper(i));
  }
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return v;
}

uint64_t LatencyHistogram::count_le(double x) const noexcept {
  if (!(x == x)) return 0;
  uint64_t acc = 0;
  for (std::size_t i = 0; i < n_buckets_; ++i) {
    const double lo = bucket_lower(i), up = bucket_upper(i);
    if (lo > x) break;
    const double mid = std::isinf(up) ? lo : 0.5 * (lo + up);
    if (up <= x || mid <= x) acc = saturating_add(acc, counts_[i].load(std::memory_order_relaxed));
  }
  return acc;
}

void LatencyHistogram::count_le_many(const double* xs, std::size_t n,
                                     uint64_t* out) const noexcept {
  // A bucket counts toward x when its midpoint (its lower bound for the last,
  // unbounded one) is <= x, as in count_le; the midpoints increase with the
  // bucket, so the counts at increasing xs are prefix sums.
  std::size_t i = 0;
  uint64_t acc = 0;
  double last = -kInf;
  for (std::size_t k = 0; k < n; ++k) {
    const double x = xs[k];
    if (!(x >= last)) {  // NaN, or out of order
      out[k] = count_le(x);
      continue;
    }
    last = x;
    for (; i < n_buckets_; ++i) {
      const double lo = bucket_lower(i), up = bucket_upper(i);
      const double mid = std::isinf(up) ? lo : 0.5 * (lo + up);
      if (!(mid <= x)) break;
      acc = saturating_add(acc, counts_[i].load(std::memory_order_relaxed));
    }
    out[k] = acc;
  }
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  if (other.lowest_ != lowest_ || other.highest_ != highest_ || other.sub_bits_ != sub_bits_)
    throw std::invalid_argument("histograms with different ranges or resolutions cannot be merged");
  if (&other == this) {
    for (std::size_t i = 0; i < n_buckets_; ++i) {
      saturating_add(counts_[i], counts_[i].load(std::memory_order_relaxed));
    }
    add_sum(sum());
    return;
  }
  for (std::size_t i = 0; i < n_buckets_; ++i)
    saturating_add(counts_[i], other.counts_[i].load(std::memory_order_relaxed));
  add_sum(other.sum());
  const double omin = other.min_.load(std::memory_order_relaxed);
  const double omax = other.max_.load(std::memory_order_relaxed);
  if (omin != kInf) update_min(omin);
  if (omax != -kInf) update_max(omax);
}

void LatencyHistogram::reset() noexcept {
  for (std::size_t i = 0; i < n_buckets_; ++i) counts_[i].store(0, std::memory_order_relaxed);
  sum_.store(0.0, std::memory_order_relaxed);
  min_.store(kInf, std::memory_order_relaxed);
  max_.store(-kInf, std::memory_order_relaxed);
}

}  // namespace fugue
