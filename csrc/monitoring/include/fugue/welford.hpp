#pragma once
// Running mean and variance (Welford), mergeable (Chan, Golub & LeVeque).
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace fugue {

// The moments of a stream, without a lock: a plain value type.
//
// Values are accumulated relative to a shift (the first value seen), so a
// stream far from zero (1e9 + small noise) keeps the precision of its
// spread: x - shift is exact there (Sterbenz), and the running mean of the
// shifted values is small.
struct Moments {
  uint64_t n = 0;     // values seen
  double shift = 0;   // the first value seen (0 while n == 0)
  double mean_s = 0;  // mean of (x - shift)
  double m2 = 0;      // sum of squared deviations from the mean

  // Adds one value (Welford's update). The caller ensures x is finite. Never throws.
  void add(double x) noexcept;
  // Adds the moments of another stream (Chan et al.'s pairwise combination). Never throws.
  void merge(const Moments& o) noexcept;
  // The mean (NaN when n == 0). Never throws.
  double mean() const noexcept;
  // The variance with `ddof` delta degrees of freedom (NaN when n <= ddof). Never throws.
  double variance(int ddof) const noexcept;
};

// Moments of x[0..n), two-pass per cache-sized block and combined across
// blocks, so the loop runs at memory speed. Returns -1, or the index of the
// first non-finite value (then `out` is unspecified). Never throws.
int64_t block_moments(const double* x, std::size_t n, Moments& out) noexcept;

// Index of the first non-finite value in x[0..n), or -1. Never throws.
int64_t first_non_finite(const double* x, std::size_t n) noexcept;

// A running mean / variance that may be updated and merged from several
// threads: every public method takes the object's mutex.
class Welford {
 public:
  Welford() = default;
  Welford(const Welford&) = delete;
  Welford& operator=(const Welford&) = delete;

  // Adds one value; returns false (state unchanged) when x is not finite. Never throws.
  bool update(double x) noexcept;
  // Adds x[0..n) (computed outside the lock, combined under it). Returns -1,
  // or the index of the first non-finite value, in which case nothing is
  // added. Never throws.
  int64_t update_many(const double* x, std::size_t n) noexcept;
  // Adds the moments of `other` (which may be this object). Never throws.
  void merge(const Welford& other) noexcept;
  // Adds moments computed elsewhere. Never throws.
  void merge_moments(const Moments& m) noexcept;
  // A copy of the state. Never throws.
  Moments state() const noexcept;
  // Replaces the state. Never throws.
  void set_state(const Moments& m) noexcept;
  // Forgets every value. Never throws.
  void reset() noexcept;

 private:
  mutable std::mutex mu_;
  Moments m_;
};

}  // namespace fugue
