#pragma once
// Special functions for accurate log-densities: thread-safe lgamma, the
// Stirling-series remainder, the deviance term bd0 and the saddle-point forms
// of the Poisson and binomial probabilities (Loader 2000, "Fast and Accurate
// Computation of Binomial Probabilities"), a cancellation-free log-Beta, and
// error-free transformations (double-double products) used to keep
// differences such as x - n*p exact.
//
// The small functions on the hot path (bd0, stirlerr for table or series
// arguments) are inline; the rest lives in src/special.cpp.
#include <cmath>

namespace fugue {
namespace special {

constexpr double kLogSqrt2Pi = 0.9189385332046728;   // log(sqrt(2*pi))
constexpr double kLog2Pi = 1.8378770664093456;       // log(2*pi)
constexpr double kLogPi = 1.1447298858494002;        // log(pi)
constexpr double kLn2 = 0.6931471805599453;          // log(2)
constexpr double kInf = HUGE_VAL;

// A double-double number hi + lo with |lo| <= ulp(hi)/2.
struct DD {
  double hi;
  double lo;
};

// The exact product a*b as a double-double (needs a correctly rounded fma).
inline DD two_prod(double a, double b) noexcept {
  double p = a * b;
  return {p, std::fma(a, b, -p)};
}

// The exact sum a+b as a double-double (Knuth's TwoSum).
inline DD two_sum(double a, double b) noexcept {
  double s = a + b;
  double bb = s - a;
  return {s, (a - (s - bb)) + (b - bb)};
}

// a/b as a double-double, accurate to about 2^-104 relative.
inline DD dd_div(double a, double b) noexcept {
  double q = a / b;
  return {q, std::fma(-q, b, a) / b};
}

// Thread-safe log|Gamma(x)| (lgamma_r where available). Never throws.
double lgamma_ts(double x) noexcept;

// stirlerr(n) = log(n!) - log(sqrt(2*pi*n) * (n/e)^n) for n > 0 (0 at n = 0):
// exact table for half-integers up to 15, the Stirling series beyond, and an
// upward recurrence for other arguments below 10. Never throws.
double stirlerr_slow(double n) noexcept;

// Table of stirlerr(k/2), k = 0..30, correctly rounded (computed at 40 digits).
extern const double kStirlerrHalves[31];

// stirlerr(n) with inline fast paths for integers/half-integers <= 15 and for
// n > 15 (series). Never throws.
inline double stirlerr(double n) noexcept {
  if (n > 15.0) {
    const double nn = n * n;
    // Stirling series 1/(12n) - 1/(360n^3) + 1/(1260n^5) - ... ; truncation
    // error below 1e-19 absolute at each cutoff.
    constexpr double S0 = 0.08333333333333333, S1 = 0.002777777777777778,
                     S2 = 0.0007936507936507937, S3 = 0.0005952380952380953,
                     S4 = 0.0008417508417508417, S5 = 0.0019175269175269176;
    if (n > 1000.0) return (S0 - S1 / nn) / n;
    if (n > 80.0) return (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n;
    return (S0 - (S1 - (S2 - (S3 - (S4 - S5 / nn) / nn) / nn) / nn) / nn) / n;
  }
  const double n2 = n + n;
  if (n >= 0.0 && n2 == std::floor(n2)) return kStirlerrHalves[static_cast<int>(n2)];
  return stirlerr_slow(n);
}

// The deviance term bd0(x, m) = x*log(x/m) + m - x >= 0, given d = x - m
// computed accurately by the caller (the series is used when |d| < 0.1(x+m),
// where the naive formula cancels). x >= 0, m > 0. Never throws.
inline double bd0(double x, double m, double d) noexcept {
  const double s_sum = x + m;
  if (std::fabs(d) < 0.1 * s_sum) {
    // x/m = (1+v)/(1-v), log(x/m) = 2 atanh(v) = 2(v + v^3/3 + v^5/5 + ...).
    double v = d / s_sum;
    double s = d * v;
    double ej = 2.0 * x * v;
    const double v2 = v * v;
    for (int j = 1; j < 200; ++j) {
      ej *= v2;
      const double s1 = s + ej / (2 * j + 1);
      if (s1 == s) return s1;
      s = s1;
    }
    return s;
  }
  if (x == 0.0) return m;
  double r = x / m;
  double lr = std::isnormal(r) ? std::log(r) : std::log(x) - std::log(m);
  return x * lr - d;
}

// bd0(x, m) with d = x - m computed here (exact when x and m are within a
// factor 2, which is where it matters). Never throws.
inline double bd0(double x, double m) noexcept { return bd0(x, m, x - m); }

// log(lambda^k e^-lambda / Gamma(k+1)) for real k >= 0, lambda >= 0, with
// d = k - lambda given accurately: -stirlerr(k) - bd0(k, lambda) - log(2 pi k)/2
// (Loader's dpois_raw). Never throws.
double log_dpois_raw(double k, double lambda, double d) noexcept;

// log of the binomial probability C(n, x) p^x q^(n-x) for real 0 <= x <= n,
// p + q = 1, via Loader's saddle-point formula, with np = n*p given as a
// double-double. Never throws.
double log_dbinom_raw(double x, double n, double p, double q, DD np) noexcept;

// log|B(a, b)| for a, b > 0 without cancellation for large arguments
// (Stirling-remainder differences instead of lgamma differences). Never throws.
double lbeta(double a, double b) noexcept;

}  // namespace special
}  // namespace fugue
