#pragma once
// A log-linear (HDR-style) latency histogram: each power of two of the range
// is split into 2^sub_bits equal sub-buckets, so any quantile inside the
// range is reported within 1 / 2^(sub_bits+1) relative error (0.39% with the
// default 7 bits). Recording is lock-free and loses no sample under
// concurrent writers. Counts saturate at 2^64 - 1 (they never wrap).
#include <atomic>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fugue/saturating.hpp"

namespace fugue {

class LatencyHistogram {
 public:
  // Covers [lowest, highest] seconds. Throws std::invalid_argument unless
  // 0 < lowest < highest (both finite) and 1 <= sub_bits <= 12.
  explicit LatencyHistogram(double lowest = 1e-6, double highest = 3600.0, int sub_bits = 7);

  // Records one value (seconds). NaN is ignored; negatives count as 0; values
  // (+inf included)
  // below `lowest` or above `highest` land in the under/overflow buckets (they
  // still count, and still move min, max and sum). Never throws.
  void record(double seconds) noexcept {
    if (!(seconds == seconds)) return;
    if (seconds < 0.0) seconds = 0.0;
    saturating_add(counts_[index_of(seconds)], 1);
    add_sum(seconds);
    update_min(seconds);
    update_max(seconds);
  }

  // Records n values. Never throws.
  void record_many(const double* xs, std::size_t n) noexcept;

  // Number of values recorded (at most 2^64 - 1). Never throws.
  uint64_t count() const noexcept;
  // Sum, min and max of the recorded values (min/max NaN when empty). Never throws.
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  double min() const noexcept;
  double max() const noexcept;

  // The q-quantile (0 <= q <= 1): the order statistic of rank ceil(q n)
  // (rank 1 for q = 0), reported as its bucket's midpoint clamped to
  // [min, max]. NaN when empty. Never throws.
  double quantile(double q) const noexcept;

  // Values <= x, at bucket resolution (the bucket holding x counts when its
  // midpoint is <= x). Never throws.
  uint64_t count_le(double x) const noexcept;
  // count_le of each of xs[0..n) into out, in one pass over the buckets when
  // xs is non-decreasing (each x not in order costs a pass of its own).
  // Never throws.
  void count_le_many(const double* xs, std::size_t n, uint64_t* out) const noexcept;

  // Adds `other`'s counts (saturating). Throws std::invalid_argument when the two
  // histograms' ranges or resolutions differ.
  void merge(const LatencyHistogram& other);

  // Forgets every value. Not atomic with respect to concurrent records.
  // Never throws.
  void reset() noexcept;

  double lowest() const noexcept { return lowest_; }
  double highest() const noexcept { return highest_; }
  int sub_bits() const noexcept { return sub_bits_; }
  std::size_t bucket_count() const noexcept { return n_buckets_; }
  // Bounds of bucket i: [lower, upper). Never throws.
  double bucket_lower(std::size_t i) const noexcept;
  double bucket_upper(std::size_t i) const noexcept;
  uint64_t bucket_value(std::size_t i) const noexcept {
    return counts_[i].load(std::memory_order_relaxed);
  }

 private:
  // Inline: record() is on every inference's path.
  std::size_t index_of(double seconds) const noexcept {
    const double v = seconds * inv_lowest_;
    if (!(v >= 1.0)) return 0;
    if (!(v < top_)) return n_buckets_ - 1;  // beyond the last group, +inf included
    // v is a normal double in [1, 2^groups): its exponent is the group and the
    // top sub_bits of its mantissa are the sub-bucket (exactly what
    // floor((v / 2^g - 1) 2^sub_bits) gives, without the arithmetic).
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    const std::size_t g = static_cast<std::size_t>((bits >> 52) - 1023);
    const std::size_t sub =
        static_cast<std::size_t>((bits >> (52 - sub_bits_)) & ((1u << sub_bits_) - 1));
    return 1 + (g << sub_bits_) + sub;
  }
  void add_sum(double x) noexcept {
    double cur = sum_.load(std::memory_order_relaxed);
    while (!sum_.compare_exchange_weak(cur, cur + x, std::memory_order_relaxed)) {
    }
  }
  void update_min(double x) noexcept {
    double cur = min_.load(std::memory_order_relaxed);
    while (x < cur && !min_.compare_exchange_weak(cur, x, std::memory_order_relaxed)) {
    }
  }
  void update_max(double x) noexcept {
    double cur = max_.load(std::memory_order_relaxed);
    while (x > cur && !max_.compare_exchange_weak(cur, x, std::memory_order_relaxed)) {
    }
  }

  double lowest_, highest_, inv_lowest_;
  double top_;  // 2^groups_: scaled values at or above it overflow
  int sub_bits_;
  int groups_;
  std::size_t n_buckets_;  // 1 underflow + groups * 2^sub_bits + 1 overflow
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
  std::atomic<double> min_;
  std::atomic<double> max_;
};

}  // namespace fugue
