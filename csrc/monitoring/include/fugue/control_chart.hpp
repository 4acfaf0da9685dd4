#pragma once
// Shewhart control chart (individuals or X-bar) with the Western Electric rules.
#include <cstddef>
#include <cstdint>

#include "fugue/monitor.hpp"

namespace fugue {

// All four Western Electric rules.
constexpr uint8_t kWesternElectricAll = kRuleWE1 | kRuleWE2 | kRuleWE3 | kRuleWE4;

struct ShewhartConfig {
  uint64_t n = 1;        // subgroup size (1: individuals chart), >= 1
  double mu0 = 0;        // centre line (when has_mu0)
  double sigma = 1;      // standard deviation of one observation (when has_sigma), > 0
  bool has_mu0 = false;
  bool has_sigma = false;
  uint64_t warmup = 0;   // warm-up length in points when mu0 or sigma is estimated (>= 2)
  uint8_t rules = kWesternElectricAll;  // a non-empty subset of WE1..WE4
  bool reset_on_alarm = false;
};

struct ShewhartSnapshot {
  double center, lcl, ucl;     // mu0 and mu0 -+ 3 sigma / sqrt(n) (NaN during warm-up)
  double sigma, sigma_point;   // sigma of one observation; of one point (sigma / sqrt(n))
  double last;                 // the last charted point (NaN before the first, and during warm-up)
  uint64_t count, alarm_count, warmup_seen;
  uint64_t rule_counts[4];     // alarms in which WE1..WE4 fired
  bool in_warmup;
};

// The state of a ShewhartChart: a plain value (update_many works on a copy).
struct ShewhartState : ChartState {
  double mu = kMonitorNaN, sigma = kMonitorNaN, sp = kMonitorNaN;  // centre, sigma, sigma / sqrt(n)
  double u1 = kMonitorNaN, u2 = kMonitorNaN, u3 = kMonitorNaN;     // mu + 1, 2, 3 sp
  double l1 = kMonitorNaN, l2 = kMonitorNaN, l3 = kMonitorNaN;     // mu - 1, 2, 3 sp
  double last = kMonitorNaN;
  uint32_t h_up1 = 0, h_dn1 = 0, h_up2 = 0, h_dn2 = 0, h_above = 0, h_below = 0;
  uint64_t rule_counts[4] = {0, 0, 0, 0};
};

// A point (an individual value, or the mean of a subgroup of n) is charted
// against mu0 +- 3 sigma / sqrt(n) and the Western Electric rules:
//   WE1  the point is beyond 3 sigma;
//   WE2  it is beyond 2 sigma and so are 2 of the last 3 points (same side);
//   WE3  it is beyond 1 sigma and so are 4 of the last 5 points (same side);
//   WE4  the last 8 points are all strictly on one side of the centre line.
// (WE2 and WE3 fire on the point that completes the pattern, which is
// itself in the zone; WE4 fires on every point of a run of 8 or more.)
// Without a given sigma, the warm-up estimates the spread of the points as
// their average moving range / 1.128 (sigma = that * sqrt(n)).
// update (one point), update_many (points), reset and config: see
// LockedChart; restart() clears the rule history, keeping counts and the baseline.
// Thread-safe: every public method takes the object's mutex.
class ShewhartChart : public LockedChart<ShewhartChart, ShewhartConfig, ShewhartState> {
 public:
  // Throws std::invalid_argument naming the parameter when one is invalid.
  explicit ShewhartChart(const ShewhartConfig& cfg);

  // Adds the subgroup x[0..n) as one point, its mean. Returns BadSize when
  // n is not the configured subgroup size, NonFinite when a value is NaN or
  // infinite (state unchanged either way). Never throws.
  UpdateStatus update_subgroup(const double* x, std::size_t n, Signal& out, bool wait) noexcept;
  // Adds m subgroups, the rows of the row-major m x cols array x (cols
  // must equal the subgroup size: else throws std::invalid_argument).
  // Returns -1, or the index of the first row holding a non-finite value
  // (state unchanged). Throws std::bad_alloc.
  int64_t update_many_subgroups(const double* x, std::size_t m, std::size_t cols, BatchOutput& out);
  ShewhartSnapshot snapshot() const noexcept;

 private:
  friend LockedChart;
  using State = ShewhartState;

  void begin_chart(State& s, double mu, double sig) const noexcept;
  void restart_chart(State& s) const noexcept;
  void chart_step(State& s, double p, Signal& sig) const noexcept;
  static void clear_history(State& s) noexcept;
  static uint32_t rules_of(State& s, double p) noexcept;
  static void fill_signal(const State& s, double p, uint32_t r, Signal& sig) noexcept;
  void record_alarm(State& s, uint32_t r) const noexcept;
  template <bool kFull>
  int64_t run(State& s, const double* x, std::size_t n, BatchOutput& out) const;
  template <bool kFull, class Points>
  int64_t run_points(State& s, std::size_t n, const Points& points, BatchOutput& out) const;

  const double sqrt_n_;
};

extern template class LockedChart<ShewhartChart, ShewhartConfig, ShewhartState>;

}  // namespace fugue
