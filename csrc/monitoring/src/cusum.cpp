#include "fugue/cusum.hpp"

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

Cusum::Cusum(const CusumConfig& cfg) : LockedChart(cfg) {
  if (!(cfg.k >= 0.0) || !std::isfinite(cfg.k)) throw std::invalid_argument("CUSUM: k must be >= 0 and finite");
  if (!(cfg.h > 0.0) || !std::isfinite(cfg.h)) throw std::invalid_argument("CUSUM: h must be > 0 and finite");
  check_baseline("CUSUM");
  start("CUSUM", /*moving_range=*/false);
}

void Cusum::begin_chart(CusumState& s, double mu0, double sigma) const noexcept {
  s.mu0 = mu0;
  s.sigma = sigma;
  s.K = cfg_.k * sigma;
  s.H = cfg_.h * sigma;
  s.hi_ref = mu0 + s.K;
  s.lo_ref = mu0 - s.K;
  s.cp = s.cm = 0.0;
}

void Cusum::restart_chart(CusumState& s) const noexcept { s.cp = s.cm = 0.0; }

namespace {
inline void fill_alarm(Signal& sig, double cp, double cm, double H) noexcept {
  sig.alarm = true;
  sig.rules = static_cast<uint8_t>((cp > H ? kRuleUpper : 0) | (cm > H ? kRuleLower : 0));
  sig.direction = cp >= cm ? 1 : -1;
}
}  // namespace

void Cusum::chart_step(CusumState& s, double x, Signal& sig) const noexcept {
  s.cp = positive_part(s.cp + (x - s.hi_ref));
  s.cm = positive_part(s.cm + (s.lo_ref - x));
  sig.value = s.cp >= s.cm ? s.cp : -s.cm;
  sig.lcl = -s.H;
  sig.ucl = s.H;
  if (s.cp > s.H || s.cm > s.H) {
    fill_alarm(sig, s.cp, s.cm, s.H);
    ++s.alarm_count;
    if (cfg_.reset_on_alarm) restart_chart(s);
  }
}

template <bool kFull>
int64_t Cusum::run(CusumState& s, const double* x, std::size_t n, BatchOutput& out) const {
  std::size_t i = 0;
  // Warm-up: one observation at a time.
  while (i < n && !s.base.ready) {
    if (!std::isfinite(x[i])) return static_cast<int64_t>(i);
    step_into<kFull>(s, x[i], i, n, out);
    ++i;
  }
  if (i == n) return -1;
  const double hr = s.hi_ref, lr = s.lo_ref, H = s.H;
  double cp = s.cp, cm = s.cm;
  const std::size_t i0 = i;
  const bool reset = cfg_.reset_on_alarm;
  uint64_t alarms = 0;
  bool last_alarm = false;
  double last_cp = 0, last_cm = 0;
  for (; i < n; ++i) {
    const double xi = x[i];
    if (!std::isfinite(xi)) return static_cast<int64_t>(i);
    cp = positive_part(cp + (xi - hr));
    cm = positive_part(cm + (lr - xi));
    if (kFull) {
      out.values[i] = cp >= cm ? cp : -cm;
      out.lcl[i] = -H;
      out.ucl[i] = H;
    }
    if (cp > H || cm > H) {
      out.alarms.push_back(static_cast<int64_t>(i));
      ++alarms;
      if (i + 1 == n) {
        last_alarm = true;
        last_cp = cp;
        last_cm = cm;
      }
      if (reset) cp = cm = 0.0;
    }
  }
  s.count += static_cast<uint64_t>(n - i0);
  s.alarm_count += alarms;
  s.cp = cp;
  s.cm = cm;
  Signal sig;
  sig.x = x[n - 1];
  sig.lcl = -H;
  sig.ucl = H;
  sig.count = s.count;
  if (last_alarm) {
    fill_alarm(sig, last_cp, last_cm, H);
    sig.value = last_cp >= last_cm ? last_cp : -last_cm;
  } else {
    sig.value = cp >= cm ? cp : -cm;
  }
  out.last = sig;
  return -1;
}

CusumSnapshot Cusum::snapshot() const noexcept {
  const CusumState s = state();
  CusumSnapshot r;
  r.upper = s.cp;
  r.lower = s.cm;
  r.mu0 = s.mu0;
  r.sigma = s.sigma;
  r.K = s.K;
  r.H = s.H;
  fill_counts(s, r);
  return r;
}

template class LockedChart<Cusum, CusumConfig, CusumState>;

}  // namespace fugue
