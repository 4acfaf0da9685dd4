#pragma once
// EWMA control chart with time-varying control limits.
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "fugue/monitor.hpp"

namespace fugue {

struct EwmaConfig {
  double lam = 0.2;     // smoothing weight, in (0, 1]
  double L = 2.962;     // limit width in standard deviations of z, > 0
  double mu0 = 0;       // centre (when has_mu0)
  double sigma = 1;     // process standard deviation (when has_sigma), > 0
  bool has_mu0 = false;
  bool has_sigma = false;
  uint64_t warmup = 0;  // warm-up length when mu0 or sigma is estimated (>= 2)
  bool reset_on_alarm = false;
};

struct EwmaSnapshot {
  double z, lcl, ucl;  // the statistic and its current limits (NaN during warm-up)
  double mu0, sigma;   // the baseline (NaN while being estimated)
  uint64_t t;          // observations since the chart (re)started, warm-up excluded
  uint64_t count;      // observations, warm-up included
  uint64_t alarm_count;
  uint64_t warmup_seen;  // warm-up observations so far
  bool in_warmup;
};

// z_t = lam x_t + (1 - lam) z_{t-1}, z_0 = mu0, alarm when z_t leaves
// mu0 +- L sigma sqrt(lam / (2 - lam) (1 - (1 - lam)^(2t))).
// Thread-safe: every public method takes the object's mutex.
class Ewma {
 public:
  // Throws std::invalid_argument naming the parameter when one is invalid.
  explicit Ewma(const EwmaConfig& cfg);
  Ewma(const Ewma&) = delete;
  Ewma& operator=(const Ewma&) = delete;

  // Adds one observation. With wait == false returns Busy instead of
  // blocking when another thread holds the monitor. Never throws.
  UpdateStatus update(double x, Signal& out, bool wait) noexcept;
  // Adds x[0..n). Returns -1, or the index of the first non-finite value,
  // in which case the state is left as it was. Throws std::bad_alloc
  // (growing out.alarms).
  int64_t update_many(const double* x, std::size_t n, BatchOutput& out);
  // Restarts the statistic (z = mu0, t = 0); keeps counts and the baseline. Never throws.
  void restart() noexcept;
  // Back to the state after construction (an estimated baseline is forgotten). Never throws.
  void reset() noexcept;
  EwmaSnapshot snapshot() const noexcept;
  const EwmaConfig& config() const noexcept { return cfg_; }

 private:
  struct State {
    Baseline base;
    double mu0 = 0, sigma = 0;
    double z = 0;
    double lcl = kMonitorNaN, ucl = kMonitorNaN;
    double half_width_inf = 0;  // L sigma sqrt(lam / (2 - lam))
    uint64_t t = 0, count = 0, alarm_count = 0;
    bool steady = false;  // 1 - (1 - lam)^(2t) rounds to 1: the limits are constant
  };

  void begin_chart(State& s) const noexcept;
  void step(State& s, double x, Signal& sig) const noexcept;
  template <bool kFull>
  int64_t run(State& s, const double* x, std::size_t n, BatchOutput& out) const;

  const EwmaConfig cfg_;
  const double c_;  // 1 - lam
  mutable std::mutex mu_;
  State st_;
};

}  // namespace fugue
