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

Ewma::Ewma(const EwmaConfig& cfg) : cfg_(cfg), c_(1.0 - cfg.lam) {
  if (!(cfg.lam > 0.0 && cfg.lam <= 1.0)) throw std::invalid_argument("EWMA: lam must be in (0, 1]");
  if (!(cfg.L > 0.0) || !std::isfinite(cfg.L)) throw std::invalid_argument("EWMA: L must be > 0 and finite");
  if (cfg.has_mu0 && !std::isfinite(cfg.mu0)) throw std::invalid_argument("EWMA: mu0 must be finite");
  if (cfg.has_sigma && (!(cfg.sigma > 0.0) || !std::isfinite(cfg.sigma)))
    throw std::invalid_argument("EWMA: sigma must be > 0 and finite");
  Baseline& b = st_.base;
  b.mu0 = cfg.mu0;
  b.sigma = cfg.sigma;
  b.estimate_mu = !cfg.has_mu0;
  b.estimate_sigma = !cfg.has_sigma;
  b.moving_range = false;
  b.warmup = cfg.warmup;
  if (b.needs_warmup() && cfg.warmup < 2) throw std::invalid_argument("EWMA: warmup must be >= 2");
  reset();
}

void Ewma::begin_chart(State& s) const noexcept {
  s.z = s.mu0;
  s.t = 0;
  s.steady = false;
  s.lcl = s.ucl = s.mu0;  // t = 0: zero width
  s.half_width_inf = cfg_.L * s.sigma * std::sqrt(cfg_.lam / (2.0 - cfg_.lam));
}

void Ewma::step(State& s, double x, Signal& sig) const noexcept {
  ++s.count;
  sig = Signal{};
  sig.x = x;
  sig.count = s.count;
  if (!s.base.ready) {
    sig.warmup = true;
    if (s.base.add(x, s.mu0, s.sigma)) begin_chart(s);
    return;
  }
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
  if (s.z > s.ucl || s.z < s.lcl) {
    sig.alarm = true;
    sig.direction = s.z > s.ucl ? 1 : -1;
    sig.rules = s.z > s.ucl ? kRuleUpper : kRuleLower;
    ++s.alarm_count;
    if (cfg_.reset_on_alarm) begin_chart(s);
  }
}

template <bool kFull>
int64_t Ewma::run(State& s, const double* x, std::size_t n, BatchOutput& out) const {
  std::size_t i = 0;
  while (i < n) {
    if (!s.base.ready || !s.steady) {
      // Warm-up and the transient of the limits: one observation at a time.
      const double xi = x[i];
      if (!std::isfinite(xi)) return static_cast<int64_t>(i);
      Signal sig;
      step(s, xi, sig);
      if (kFull) {
        out.values[i] = sig.value;
        out.lcl[i] = sig.lcl;
        out.ucl[i] = sig.ucl;
      }
      if (sig.alarm) out.alarms.push_back(static_cast<int64_t>(i));
      if (i + 1 == n) out.last = sig;
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
      sig.alarm = true;
      sig.direction = z > hi ? 1 : -1;
      sig.rules = z > hi ? kRuleUpper : kRuleLower;
      ++s.alarm_count;
      out.alarms.push_back(static_cast<int64_t>(i));
      if (cfg_.reset_on_alarm) begin_chart(s);
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

UpdateStatus Ewma::update(double x, Signal& out, bool wait) noexcept {
  if (!std::isfinite(x)) return UpdateStatus::NonFinite;
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  if (wait) {
    lock.lock();
  } else if (!lock.try_lock()) {
    return UpdateStatus::Busy;
  }
  step(st_, x, out);
  return UpdateStatus::Updated;
}

int64_t Ewma::update_many(const double* x, std::size_t n, BatchOutput& out) {
  std::lock_guard<std::mutex> lock(mu_);
  State s = st_;  // work on a copy: all or nothing, and kept in registers
  const std::size_t a0 = out.alarms.size();
  const bool full = out.values != nullptr && out.lcl != nullptr && out.ucl != nullptr;
  const int64_t bad = full ? run<true>(s, x, n, out) : run<false>(s, x, n, out);
  if (bad >= 0) {
    out.alarms.resize(a0);
    out.last = Signal{};
    return bad;
  }
  st_ = s;
  return -1;
}

void Ewma::restart() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  if (st_.base.ready) begin_chart(st_);
}

void Ewma::reset() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  st_.count = st_.alarm_count = 0;
  st_.base.restart();
  if (st_.base.ready) {
    st_.mu0 = cfg_.mu0;
    st_.sigma = cfg_.sigma;
    begin_chart(st_);
  } else {
    st_.mu0 = st_.sigma = st_.z = kMonitorNaN;
    st_.lcl = st_.ucl = kMonitorNaN;
    st_.t = 0;
    st_.steady = false;
  }
}

EwmaSnapshot Ewma::snapshot() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  EwmaSnapshot r;
  r.z = st_.z;
  r.lcl = st_.lcl;
  r.ucl = st_.ucl;
  r.mu0 = st_.mu0;
  r.sigma = st_.sigma;
  r.t = st_.t;
  r.count = st_.count;
  r.alarm_count = st_.alarm_count;
  r.warmup_seen = st_.base.seen();
  r.in_warmup = !st_.base.ready;
  return r;
}

}  // namespace fugue
