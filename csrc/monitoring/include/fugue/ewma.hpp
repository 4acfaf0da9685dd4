#pragma once
// EWMA control chart with time-varying control limits.
#include <cstddef>
#include <cstdint>

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

// The state of an Ewma: a plain value (update_many works on a copy).
struct EwmaState : ChartState {
  double mu0 = kMonitorNaN, sigma = kMonitorNaN;  // the baseline (NaN while being estimated)
  double z = kMonitorNaN;
  double lcl = kMonitorNaN, ucl = kMonitorNaN;
  double half_width_inf = 0;  // L sigma sqrt(lam / (2 - lam))
  uint64_t t = 0;
  bool steady = false;  // 1 - (1 - lam)^(2t) rounds to 1: the limits are constant
};

// z_t = lam x_t + (1 - lam) z_{t-1}, z_0 = mu0, alarm when z_t leaves
// mu0 +- L sigma sqrt(lam / (2 - lam) (1 - (1 - lam)^(2t))).
// update, update_many, reset and config: see LockedChart; restart() restarts
// the statistic (z = mu0, t = 0), keeping counts and the baseline.
// Thread-safe: every public method takes the object's mutex.
class Ewma : public LockedChart<Ewma, EwmaConfig, EwmaState> {
 public:
  // Throws std::invalid_argument naming the parameter when one is invalid.
  explicit Ewma(const EwmaConfig& cfg);
  EwmaSnapshot snapshot() const noexcept;

 private:
  friend LockedChart;

  void begin_chart(EwmaState& s, double mu0, double sigma) const noexcept;
  void restart_chart(EwmaState& s) const noexcept;
  void chart_step(EwmaState& s, double x, Signal& sig) const noexcept;
  void raise_alarm(EwmaState& s, Signal& sig, double z, double ucl) const noexcept;
  template <bool kFull>
  int64_t run(EwmaState& s, const double* x, std::size_t n, BatchOutput& out) const;

  const double c_;  // 1 - lam
};

extern template class LockedChart<Ewma, EwmaConfig, EwmaState>;

}  // namespace fugue
