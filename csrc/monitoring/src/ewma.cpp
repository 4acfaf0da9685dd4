#include "fugue/ewma.hpp"

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

Ewma::Ewma(const EwmaConfig& cfg) : LockedChart(cfg), c_(1.0 - cfg.lam) {
  if (!(cfg.lam > 0.0 && cfg.lam <= 1.0)) throw std::invalid_argument("EWMA: lam must be in (0, 1]");
  if (!(cfg.L > 0.0) || !std::isfinite(cfg.L)) throw std::invalid_argument("EWMA: L must be > 0 and finite");
  check_baseline("EWMA");
  start("EWMA", /*moving_range=*/false);
}

void Ewma::begin_chart(EwmaState& s, double mu0, double sigma) const noexcept {
  s.mu0 = mu0;
  s.sigma = sigma;
  s.z = mu0;
  s.t = 0;
  s.steady = false;
  s.lcl = s.ucl = mu0;  // t = 0: zero width
  s.half_width_inf = cfg_.L * sigma * std::sqrt(cfg_.lam / (2.0 - cfg_.lam));
}

void Ewma::restart_chart(EwmaState& s) const noexcept { begin_chart(s, s.mu0, s.sigma); }

void Ewma::raise_alarm(EwmaState& s, Signal& sig, double z, double ucl) const noexcept {
  sig.alarm = true;
  sig.direction = z > ucl ? 1 : -1;
  sig.rules = z > ucl ? kRuleUpper : kRuleLower;
  ++s.alarm_count;
  if (cfg_.reset_on_alarm) restart_chart(s);
}

void Ewma::chart_step(EwmaState& s, double x, Signal& sig) const noexcept {
  ++s.t;
  s.z = cfg_.lam * x + c_ * s.z;
  if (!s.steady) {
    const double f = 1.0 - std::pow(c_, 2.0 * static_cast<double>(s.t));
    const double w = cfg_.L * s.sigma * std::sqrt(cfg_.lam / (2.0 - cfg_.lam) * f);
    s.lcl = s.mu0 - w;
    s.ucl = s.mu0 + w;
    s.steady = (f == 1.0);  // (1 - lam)^(2t) only shrinks: 1 - it stays 1.0
  }
  sig.value = s.z;
  sig.lcl = s.lcl;
  sig.ucl = s.ucl;
  if (s.z > s.ucl || s.z < s.lcl) raise_alarm(s, sig, s.z, s.ucl);
}

template <bool kFull>
int64_t Ewma::run(EwmaState& s, const double* x, std::size_t n, BatchOutput& out) const {
  std::size_t i = 0;
  while (i < n) {
    if (!s.base.ready || !s.steady) {
      // Warm-up and the transient of the limits: one observation at a time.
      if (!std::isfinite(x[i])) return static_cast<int64_t>(i);
      step_into<kFull>(s, x[i], i, n, out);
      ++i;
      continue;
    }
    // Constant limits: the tight loop, until the end or an alarm.
    const double lam = cfg_.lam, c = c_, lo = s.lcl, hi = s.ucl;
    double z = s.z;
    const std::size_t start = i;
    bool alarm = false;
    for (; i < n; ++i) {
      const double xi = x[i];
      if (!std::isfinite(xi)) return static_cast<int64_t>(i);
      z = lam * xi + c * z;
      if (kFull) {
        out.values[i] = z;
        out.lcl[i] = lo;
        out.ucl[i] = hi;
      }
      if (z > hi || z < lo) {
        alarm = true;
        break;
      }
    }
    const uint64_t done = static_cast<uint64_t>(i - start) + (alarm ? 1u : 0u);
    s.count += done;
    s.t += done;
    s.z = z;
    Signal sig;
    if (alarm) {
      out.alarms.push_back(static_cast<int64_t>(i));
      raise_alarm(s, sig, z, hi);
      ++i;
    }
    if (i == n && done > 0) {
      sig.x = x[n - 1];
      sig.value = z;
      sig.lcl = lo;
      sig.ucl = hi;
      sig.count = s.count;
      out.last = sig;
    }
  }
  return -1;
}

EwmaSnapshot Ewma::snapshot() const noexcept {
  const EwmaState s = state();
  EwmaSnapshot r;
  r.z = s.z;
  r.lcl = s.lcl;
  r.ucl = s.ucl;
  r.mu0 = s.mu0;
  r.sigma = s.sigma;
  r.t = s.t;
  fill_counts(s, r);
  return r;
}

template class LockedChart<Ewma, EwmaConfig, EwmaState>;

}  // namespace fugue
