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

Cusum::Cusum(const CusumConfig& cfg) : cfg_(cfg) {
  if (!(cfg.k >= 0.0) || !std::isfinite(cfg.k)) throw std::invalid_argument("CUSUM: k must be >= 0 and finite");
  if (!(cfg.h > 0.0) || !std::isfinite(cfg.h)) throw std::invalid_argument("CUSUM: h must be > 0 and finite");
  if (cfg.has_mu0 && !std::isfinite(cfg.mu0)) throw std::invalid_argument("CUSUM: mu0 must be finite");
  if (cfg.has_sigma && (!(cfg.sigma > 0.0) || !std::isfinite(cfg.sigma)))
    throw std::invalid_argument("CUSUM: sigma must be > 0 and finite");
  Baseline& b = st_.base;
  b.mu0 = cfg.mu0;
  b.sigma = cfg.sigma;
  b.estimate_mu = !cfg.has_mu0;
  b.estimate_sigma = !cfg.has_sigma;
  b.moving_range = false;
  b.warmup = cfg.warmup;
  if (b.needs_warmup() && cfg.warmup < 2) throw std::invalid_argument("CUSUM: warmup must be >= 2");
  reset();
}

void Cusum::begin_chart(State& s) const noexcept {
  s.K = cfg_.k * s.sigma;
  s.H = cfg_.h * s.sigma;
  s.hi_ref = s.mu0 + s.K;
  s.lo_ref = s.mu0 - s.K;
  s.cp = s.cm = 0.0;
}

namespace {
inline void fill_alarm(Signal& sig, double cp, double cm, double H) noexcept {
  sig.alarm = true;
  sig.rules = static_cast<uint8_t>((cp > H ? kRuleUpper : 0) | (cm > H ? kRuleLower : 0));
  sig.direction = cp >= cm ? 1 : -1;
}
}  // namespace

void Cusum::step(State& s, double x, Signal& sig) const noexcept {
  ++s.count;
  sig = Signal{};
  sig.x = x;
  sig.count = s.count;
  if (!s.base.ready) {
    sig.warmup = true;
    if (s.base.add(x, s.mu0, s.sigma)) begin_chart(s);
    return;
  }
  s.cp = positive_part(s.cp + (x - s.hi_ref));
  s.cm = positive_part(s.cm + (s.lo_ref - x));
  sig.value = s.cp >= s.cm ? s.cp : -s.cm;
  sig.lcl = -s.H;
  sig.ucl = s.H;
  if (s.cp > s.H || s.cm > s.H) {
    fill_alarm(sig, s.cp, s.cm, s.H);
    ++s.alarm_count;
    if (cfg_.reset_on_alarm) s.cp = s.cm = 0.0;
  }
}

template <bool kFull>
int64_t Cusum::run(State& s, const double* x, std::size_t n, BatchOutput& out) const {
  std::size_t i = 0;
  // Warm-up: one observation at a time.
  while (i < n && !s.base.ready) {
    const double xi = x[i];
    if (!std::isfinite(xi)) return static_cast<int64_t>(i);
    Signal sig;
    step(s, xi, sig);
    if (kFull) {
      out.values[i] = sig.value;
      out.lcl[i] = sig.lcl;
      out.ucl[i] = sig.ucl;
    }
    if (i + 1 == n) out.last = sig;
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

UpdateStatus Cusum::update(double x, Signal& out, bool wait) noexcept {
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

int64_t Cusum::update_many(const double* x, std::size_t n, BatchOutput& out) {
  std::lock_guard<std::mutex> lock(mu_);
  State s = st_;
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

void Cusum::restart() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  if (st_.base.ready) st_.cp = st_.cm = 0.0;
}

void Cusum::reset() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  st_.count = st_.alarm_count = 0;
  st_.base.restart();
  if (st_.base.ready) {
    st_.mu0 = cfg_.mu0;
    st_.sigma = cfg_.sigma;
    begin_chart(st_);
  } else {
    st_.mu0 = st_.sigma = st_.K = st_.H = st_.hi_ref = st_.lo_ref = kMonitorNaN;
    st_.cp = st_.cm = kMonitorNaN;
  }
}

CusumSnapshot Cusum::snapshot() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  CusumSnapshot r;
  r.upper = st_.cp;
  r.lower = st_.cm;
  r.mu0 = st_.mu0;
  r.sigma = st_.sigma;
  r.K = st_.K;
  r.H = st_.H;
  r.count = st_.count;
  r.alarm_count = st_.alarm_count;
  r.warmup_seen = st_.base.seen();
  r.in_warmup = !st_.base.ready;
  return r;
}

}  // namespace fugue
