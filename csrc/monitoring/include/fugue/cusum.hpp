#pragma once
// Tabular (two-sided) CUSUM.
#include <cstddef>
#include <cstdint>

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

// The state of a Cusum: a plain value (update_many works on a copy).
struct CusumState : ChartState {
  double mu0 = kMonitorNaN, sigma = kMonitorNaN;  // the baseline (NaN while being estimated)
  double K = kMonitorNaN, H = kMonitorNaN;        // k sigma, h sigma
  double hi_ref = kMonitorNaN, lo_ref = kMonitorNaN;  // mu0 + K, mu0 - K
  double cp = kMonitorNaN, cm = kMonitorNaN;
};

// C+_t = max(0, C+_{t-1} + (x_t - (mu0 + K))), C-_t = max(0, C-_{t-1} + ((mu0 - K) - x_t)),
// C+_0 = C-_0 = 0, K = k sigma; alarm when C+ > H or C- > H, H = h sigma.
// Signal::value is C+ when C+ >= C-, else -C-, charted against [-H, H].
// update, update_many, reset and config: see LockedChart; restart() restarts
// the sums (C+ = C- = 0), keeping counts and the baseline.
// Thread-safe: every public method takes the object's mutex.
class Cusum : public LockedChart<Cusum, CusumConfig, CusumState> {
 public:
  // Throws std::invalid_argument naming the parameter when one is invalid.
  explicit Cusum(const CusumConfig& cfg);
  CusumSnapshot snapshot() const noexcept;

 private:
  friend LockedChart;

  void begin_chart(CusumState& s, double mu0, double sigma) const noexcept;
  void restart_chart(CusumState& s) const noexcept;
  void chart_step(CusumState& s, double x, Signal& sig) const noexcept;
  template <bool kFull>
  int64_t run(CusumState& s, const double* x, std::size_t n, BatchOutput& out) const;
};

extern template class LockedChart<Cusum, CusumConfig, CusumState>;

}  // namespace fugue
