#pragma once
// Tabular (two-sided) CUSUM.
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "fugue/monitor.hpp"

namespace fugue {

struct CusumConfig {
  double k = 0.5;       // reference value, in units of sigma (>= 0)
  double h = 5.0;       // decision interval, in units of sigma (> 0)
  double mu0 = 0;       // target (when has_mu0)
  double sigma = 1;     // process standard deviation (when has_sigma), > 0
  bool has_mu0 = false;
  bool has_sigma = false;
  uint64_t warmup = 0;  // warm-up length when mu0 or sigma is estimated (>= 2)
  bool reset_on_alarm = false;
};

struct CusumSnapshot {
  double upper, lower;   // C+ and C- (NaN during warm-up)
  double mu0, sigma;     // the baseline (NaN while being estimated)
  double K, H;           // k sigma and h sigma
  uint64_t count, alarm_count, warmup_seen;
  bool in_warmup;
};

// C+_t = max(0, C+_{t-1} + (x_t - (mu0 + K))), C-_t = max(0, C-_{t-1} + ((mu0 - K) - x_t)),
// C+_0 = C-_0 = 0, K = k sigma; alarm when C+ > H or C- > H, H = h sigma.
// Signal::value is C+ when C+ >= C-, else -C-, charted against [-H, H].
// Thread-safe: every public method takes the object's mutex.
class Cusum {
 public:
  // Throws std::invalid_argument naming the parameter when one is invalid.
  explicit Cusum(const CusumConfig& cfg);
  Cusum(const Cusum&) = delete;
  Cusum& operator=(const Cusum&) = delete;

  // Adds one observation (see Ewma::update). Never throws.
  UpdateStatus update(double x, Signal& out, bool wait) noexcept;
  // Adds x[0..n) (see Ewma::update_many). Throws std::bad_alloc.
  int64_t update_many(const double* x, std::size_t n, BatchOutput& out);
  // Restarts the sums (C+ = C- = 0); keeps counts and the baseline. Never throws.
  void restart() noexcept;
  // Back to the state after construction. Never throws.
  void reset() noexcept;
  CusumSnapshot snapshot() const noexcept;
  const CusumConfig& config() const noexcept { return cfg_; }

 private:
  struct State {
    Baseline base;
    double mu0 = 0, sigma = 0;
    double K = 0, H = 0, hi_ref = 0, lo_ref = 0;  // k sigma, h sigma, mu0 + K, mu0 - K
    double cp = 0, cm = 0;
    uint64_t count = 0, alarm_count = 0;
  };

  void begin_chart(State& s) const noexcept;
  void step(State& s, double x, Signal& sig) const noexcept;
  template <bool kFull>
  int64_t run(State& s, const double* x, std::size_t n, BatchOutput& out) const;

  const CusumConfig cfg_;
  mutable std::mutex mu_;
  State st_;
};

}  // namespace fugue
