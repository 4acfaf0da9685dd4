#include "fugue/welford.hpp"
#include "fugue/saturating.hpp"

#include <cmath>
#include <limits>

// No fused multiply-add contraction: the scalar and the array paths round
// alike, and as the closed forms evaluated elsewhere (Python, the tests) do.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace fugue {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kBlock = 1024;  // 8 KiB: both passes of a block hit L1
constexpr int kLanes = 8;             // independent accumulators (breaks the add chain)

inline double sum_lanes(const double (&a)[kLanes]) noexcept {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}
}  // namespace

void Moments::add(double x) noexcept {
  if (n == 0) shift = x;
  ++n;
  const double d = x - shift;
  const double delta = d - mean_s;
  mean_s += delta / static_cast<double>(n);
  m2 += delta * (d - mean_s);
}

void Moments::merge(const Moments& o) noexcept {
  if (o.n == 0) return;
  if (n == 0) {
    *this = o;
    return;
  }
  const double na = static_cast<double>(n), nb = static_cast<double>(o.n);
  const double nt = na + nb;
  // mean_b - mean_a, with the (exact when close) difference of the shifts first.
  const double delta = (o.shift - shift) + (o.mean_s - mean_s);
  mean_s += delta * (nb / nt);
  const double m2_total = m2 + o.m2 + delta * delta * (na * nb / nt);
  if (n > kCounterMax - o.n) {
    // The count stops at its maximum (a self-merged stream doubles); m2 is
    // scaled with it so that the variance stays that of the whole stream.
    m2 = m2_total * (static_cast<double>(kCounterMax) / nt);
    n = kCounterMax;
  } else {
    m2 = m2_total;
    n += o.n;
  }
}

double Moments::mean() const noexcept { return n == 0 ? kNaN : shift + mean_s; }

double Moments::variance(int ddof) const noexcept {
  if (ddof < 0 || n <= static_cast<uint64_t>(ddof)) return kNaN;
  const double v = m2 / static_cast<double>(n - static_cast<uint64_t>(ddof));
  return v < 0.0 ? 0.0 : v;
}

int64_t first_non_finite(const double* x, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

int64_t block_moments(const double* x, std::size_t n, Moments& out) noexcept {
  out = Moments{};
  if (n == 0) return -1;
  const double shift = x[0];
  out.shift = shift;
  for (std::size_t start = 0; start < n; start += kBlock) {
    const double* b = x + start;
    const std::size_t nb = (n - start < kBlock) ? n - start : kBlock;
    // Pass 1: the block's mean (of x - shift).
    double a[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::size_t i = 0;
    for (; i + kLanes <= nb; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) a[j] += b[i + j] - shift;
    }
    for (; i < nb; ++i) a[0] += b[i] - shift;
    const double s = sum_lanes(a);
    if (!std::isfinite(s)) {
      const int64_t bad = first_non_finite(b, nb);
      if (bad >= 0) return static_cast<int64_t>(start) + bad;
      // Finite values whose sum overflows: one at a time.
      Moments m;
      m.shift = shift;
      for (std::size_t k = 0; k < nb; ++k) {
        m.n += 1;
        const double d = b[k] - shift, delta = d - m.mean_s;
        m.mean_s += delta / static_cast<double>(m.n);
        m.m2 += delta * (d - m.mean_s);
      }
      out.merge(m);
      continue;
    }
    const double fnb = static_cast<double>(nb);
    const double mb = s / fnb;
    // Pass 2: deviations from that mean, and their sum (the correction term
    // of the "corrected two-pass" algorithm, which removes the rounding
    // error of mb to first order).
    double e1[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    double e2[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    i = 0;
    for (; i + kLanes <= nb; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) {
        const double e = (b[i + j] - shift) - mb;
        e1[j] += e;
        e2[j] += e * e;
      }
    }
    for (; i < nb; ++i) {
      const double e = (b[i] - shift) - mb;
      e1[0] += e;
      e2[0] += e * e;
    }
    const double se = sum_lanes(e1), sq = sum_lanes(e2);
    Moments m;
    m.n = nb;
    m.shift = shift;
    m.mean_s = mb + se / fnb;
    m.m2 = sq - se * (se / fnb);
    if (m.m2 < 0.0) m.m2 = 0.0;
    out.merge(m);
  }
  return -1;
}

bool Welford::update(double x) noexcept {
  if (!std::isfinite(x)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  m_.add(x);
  return true;
}

int64_t Welford::update_many(const double* x, std::size_t n) noexcept {
  Moments m;
  const int64_t bad = block_moments(x, n, m);
  if (bad >= 0) return bad;
  std::lock_guard<std::mutex> lock(mu_);
  m_.merge(m);
  return -1;
}

void Welford::merge(const Welford& other) noexcept {
  if (&other == this) {
    std::lock_guard<std::mutex> lock(mu_);
    const Moments copy = m_;
    m_.merge(copy);
    return;
  }
  const Moments o = other.state();  // one lock at a time: no lock-order deadlock
  std::lock_guard<std::mutex> lock(mu_);
  m_.merge(o);
}

void Welford::merge_moments(const Moments& m) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  m_.merge(m);
}

Moments Welford::state() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return m_;
}

void Welford::set_state(const Moments& m) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  m_ = m;
}

void Welford::reset() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  m_ = Moments{};
}

}  // namespace fugue
