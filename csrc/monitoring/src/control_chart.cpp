#include "fugue/control_chart.hpp"

#include <cmath>
#include <stdexcept>

// No fused multiply-add contraction: the scalar and the array paths round
// alike, and as the closed forms evaluated elsewhere (Python, the tests) do.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace fugue {

namespace {
// Set bits of a small mask (no std::popcount in C++17).
inline int popcount8(uint32_t v) noexcept {
  v = v - ((v >> 1) & 0x55u);
  v = (v & 0x33u) + ((v >> 2) & 0x33u);
  return static_cast<int>((v + (v >> 4)) & 0x0Fu);
}

// Mean of a subgroup; false when a value is not finite.
inline bool subgroup_mean(const double* x, std::size_t n, double& mean) noexcept {
  double s = 0.0;
  bool ok = true;
  for (std::size_t j = 0; j < n; ++j) {
    ok &= static_cast<bool>(std::isfinite(x[j]));
    s += x[j];
  }
  mean = s / static_cast<double>(n);
  return ok && std::isfinite(mean);
}
}  // namespace

ShewhartChart::ShewhartChart(const ShewhartConfig& cfg)
    : LockedChart(cfg), sqrt_n_(std::sqrt(static_cast<double>(cfg.n))) {
  if (cfg.n < 1) throw std::invalid_argument("ShewhartChart: n must be >= 1");
  check_baseline("ShewhartChart");
  if ((cfg.rules & kWesternElectricAll) == 0 || (cfg.rules & ~kWesternElectricAll) != 0)
    throw std::invalid_argument("ShewhartChart: rules must be a non-empty subset of WE1..WE4");
  start("ShewhartChart", /*moving_range=*/true);
}

void ShewhartChart::begin_chart(State& s, double mu, double sig) const noexcept {
  // `sig` is the given sigma of one observation, or the estimated spread of one point.
  s.mu = mu;
  if (s.base.estimate_sigma) {
    s.sp = sig;
    s.sigma = sig * sqrt_n_;
  } else {
    s.sigma = sig;
    s.sp = sig / sqrt_n_;
  }
  s.u1 = mu + s.sp;
  s.u2 = mu + 2.0 * s.sp;
  s.u3 = mu + 3.0 * s.sp;
  s.l1 = mu - s.sp;
  s.l2 = mu - 2.0 * s.sp;
  s.l3 = mu - 3.0 * s.sp;
  clear_history(s);
}

void ShewhartChart::clear_history(State& s) noexcept {
  s.h_up1 = s.h_dn1 = s.h_up2 = s.h_dn2 = s.h_above = s.h_below = 0;
}

void ShewhartChart::restart_chart(State& s) const noexcept { clear_history(s); }

// Shifts the point into the rule history and returns the rules it fires
// (enabled or not). Branch-free: zone membership is close to random in control.
inline uint32_t ShewhartChart::rules_of(State& s, double p) noexcept {
  const uint32_t up1 = p > s.u1, up2 = p > s.u2, up3 = p > s.u3;
  const uint32_t dn1 = p < s.l1, dn2 = p < s.l2, dn3 = p < s.l3;
  s.h_up1 = ((s.h_up1 << 1) | up1) & 0x1Fu;
  s.h_dn1 = ((s.h_dn1 << 1) | dn1) & 0x1Fu;
  s.h_up2 = ((s.h_up2 << 1) | up2) & 0x07u;
  s.h_dn2 = ((s.h_dn2 << 1) | dn2) & 0x07u;
  s.h_above = ((s.h_above << 1) | static_cast<uint32_t>(p > s.mu)) & 0xFFu;
  s.h_below = ((s.h_below << 1) | static_cast<uint32_t>(p < s.mu)) & 0xFFu;
  const uint32_t we1 = up3 | dn3;
  const uint32_t we2 = (up2 & static_cast<uint32_t>(popcount8(s.h_up2) >= 2)) |
                       (dn2 & static_cast<uint32_t>(popcount8(s.h_dn2) >= 2));
  const uint32_t we3 = (up1 & static_cast<uint32_t>(popcount8(s.h_up1) >= 4)) |
                       (dn1 & static_cast<uint32_t>(popcount8(s.h_dn1) >= 4));
  const uint32_t we4 = static_cast<uint32_t>(s.h_above == 0xFFu) |
                       static_cast<uint32_t>(s.h_below == 0xFFu);
  return we1 * kRuleWE1 | we2 * kRuleWE2 | we3 * kRuleWE3 | we4 * kRuleWE4;
}

void ShewhartChart::record_alarm(State& s, uint32_t r) const noexcept {
  ++s.alarm_count;
  for (int k = 0; k < 4; ++k) s.rule_counts[k] += (r >> k) & 1u;
  if (cfg_.reset_on_alarm) clear_history(s);
}

inline void ShewhartChart::fill_signal(const State& s, double p, uint32_t r, Signal& sig) noexcept {
  sig = Signal{};
  sig.x = sig.value = p;
  sig.lcl = s.l3;
  sig.ucl = s.u3;
  sig.count = s.count;
  if (r != 0) {
    sig.alarm = true;
    sig.rules = static_cast<uint8_t>(r);
    sig.direction = p > s.mu ? 1 : -1;
  }
}

void ShewhartChart::chart_step(State& s, double p, Signal& sig) const noexcept {
  s.last = p;
  const uint32_t r = rules_of(s, p) & cfg_.rules;
  fill_signal(s, p, r, sig);
  if (r != 0) record_alarm(s, r);
}

template <bool kFull, class Points>
int64_t ShewhartChart::run_points(State& s, std::size_t n, const Points& points,
                                  BatchOutput& out) const {
  const uint32_t enabled = cfg_.rules;
  for (std::size_t i = 0; i < n; ++i) {
    double p;
    if (!points(i, p)) return static_cast<int64_t>(i);
    if (!s.base.ready) {  // warm-up
      step_into<kFull>(s, p, i, n, out);
      continue;
    }
    ++s.count;
    s.last = p;
    const uint32_t r = rules_of(s, p) & enabled;
    if (kFull) {
      out.values[i] = p;
      out.lcl[i] = s.l3;
      out.ucl[i] = s.u3;
    }
    if (i + 1 == n) fill_signal(s, p, r, out.last);
    if (r != 0) {
      out.alarms.push_back(static_cast<int64_t>(i));
      record_alarm(s, r);
    }
  }
  return -1;
}

template <bool kFull>
int64_t ShewhartChart::run(State& s, const double* x, std::size_t n, BatchOutput& out) const {
  return run_points<kFull>(s, n, [x](std::size_t i, double& p) {
    p = x[i];
    return static_cast<bool>(std::isfinite(p));
  }, out);
}

int64_t ShewhartChart::update_many_subgroups(const double* x, std::size_t m, std::size_t cols,
                                             BatchOutput& out) {
  if (cols != cfg_.n) throw std::invalid_argument("ShewhartChart: subgroups must have n columns");
  const auto means = [x, cols](std::size_t i, double& p) {
    return subgroup_mean(x + i * cols, cols, p);
  };
  return transact(out, [&](State& s, auto full) {
    return run_points<decltype(full)::value>(s, m, means, out);
  });
}

UpdateStatus ShewhartChart::update_subgroup(const double* x, std::size_t n, Signal& out,
                                            bool wait) noexcept {
  if (n != cfg_.n) return UpdateStatus::BadSize;
  double p;
  if (!subgroup_mean(x, n, p)) return UpdateStatus::NonFinite;
  return locked_step(p, out, wait);
}

ShewhartSnapshot ShewhartChart::snapshot() const noexcept {
  const State s = state();
  ShewhartSnapshot r;
  r.center = s.mu;
  r.lcl = s.l3;
  r.ucl = s.u3;
  r.sigma = s.sigma;
  r.sigma_point = s.sp;
  r.last = s.last;
  for (int k = 0; k < 4; ++k) r.rule_counts[k] = s.rule_counts[k];
  fill_counts(s, r);
  return r;
}

template class LockedChart<ShewhartChart, ShewhartConfig, ShewhartState>;

}  // namespace fugue
