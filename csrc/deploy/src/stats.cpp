// Distribution functions for rollout analysis (see fugue/stats.hpp).
// Written from the published formulas: the continued fraction of the
// incomplete beta function (Abramowitz & Stegun 26.5.8) evaluated by the
// modified Lentz method (Thompson & Barnett 1986), and Loader (2000) for the
// factor x^a (1-x)^b / B(a, b).
#include "fugue/stats.hpp"

#include <cmath>
#include <limits>

#include "fugue/special.hpp"

namespace fugue {
namespace stats {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kEps = std::numeric_limits<double>::epsilon();
// Lentz's guard against a zero denominator.
constexpr double kTiny = 1e-300;
// When the Lentz factors are this close to 1 the fraction has converged
// (a few ulps: their product cannot settle closer than its rounding).
constexpr double kFractionTolerance = 4.0 * kEps;
constexpr double kInvSqrt2Hi = 0.7071067811865476;       // 1/sqrt(2), rounded
constexpr double kInvSqrt2Lo = -4.833646656726457e-17;   // 1/sqrt(2) - kInvSqrt2Hi
constexpr double kTwoOverSqrtPi = 1.1283791670955126;    // 2/sqrt(pi)
// Below this x (or y) the factor x^a y^b / B(a, b) is taken from plain logarithms.
constexpr double kDirectLogBelow = 1e-280;

// log(x^a y^b / B(a, b)) for a, b > 0, 0 < x < 1, y = 1 - x, in Loader's
// saddle-point form (no lgamma differences, so no cancellation for large a,
// b): with n = a + b,
//   log(a b / (2 pi n)) / 2 - [stirlerr(a) + stirlerr(b) - stirlerr(n)]
//     - bd0(a, n x) - bd0(b, n y).
// The deviances depend on d = a - n x = n y - b, taken from the smaller of
// x and y (the accurate one) times n as a double-double: b never comes back
// from the rounded sum a + b (which would cost digits when a >> b), and x
// rounded near 1 never enters (which would cost n ulps of x).
double log_beta_factor(double a, double b, double x, double y) noexcept {
  if (x < kDirectLogBelow || y < kDirectLogBelow) {
    // n x or n y may be subnormal; the plain logarithms do not cancel there.
    return a * std::log(x) + b * std::log(y) - special::lbeta(a, b);
  }
  const special::DD n = special::two_sum(a, b);
  double d, mx, my;
  if (x <= y) {
    const special::DD p = special::two_prod(n.hi, x);
    mx = p.hi + (p.lo + n.lo * x);                  // n x
    d = ((a - p.hi) - p.lo) - n.lo * x;             // a - n x
    my = b + d;                                     // n y
  } else {
    const special::DD p = special::two_prod(n.hi, y);
    my = p.hi + (p.lo + n.lo * y);                  // n y
    d = ((p.hi - b) + p.lo) + n.lo * y;             // n y - b
    mx = a - d;                                     // n x
  }
  const double corr = special::stirlerr(a) + special::stirlerr(b) - special::stirlerr(n.hi);
  return 0.5 * (std::log(a) + std::log(b) - std::log(n.hi)) - special::kLogSqrt2Pi - corr -
         special::bd0(a, mx, d) - special::bd0(b, my, -d);
}

// The continued fraction of I_x(a, b) (A&S 26.5.8), I_x = factor / a * cf,
//   cf = 1 / (1 + e1 / (1 + e2 / (1 + ...))),
//   e_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),
//   e_{2m}   = m (b - m) x / ((a + 2m - 1)(a + 2m)),
// in its even contraction, evaluated by the modified Lentz method:
//   cf = 1 / (B0 + A1 / (B1 + A2 / (B2 + ...))),
//   B_m = 1 + e_{2m} + e_{2m+1} (B_0 = 1 + e_1),  A_m = -e_{2m-1} e_{2m}.
// It converges fast for x < (a + 1)/(a + b + 2).
//
// For large a and x near 1 (the t distribution with many degrees of freedom)
// the odd e are close to -1 and the uncontracted fraction would lose digits
// in proportion to 1 / (1 - x); in the contracted one the odd e appear only
// in products and in B_m, whose 1 + e_{2m+1} is formed exactly in terms of
// y = 1 - x: (a + 2m)(a + 2m + 1) - (a + m)(a + b + m)(1 - y).
// NaN when it does not converge within kMaxFractionIterations.
double beta_fraction(double a, double b, double x, double y) noexcept {
  const bool near_one = x > 0.5;
  // e_{2m+1} and 1 + e_{2m+1}, m >= 0.
  auto odd = [&](double m, double& ope) noexcept {
    const double den = (a + 2.0 * m) * (a + 2.0 * m + 1.0);
    const double num = (a + m) * (a + b + m);
    ope = near_one
              ? (a * (2.0 * m + 1.0 - b) + m * (3.0 * m + 2.0 - b) + num * y) / den
              : std::fma(-num, x, den) / den;
    return -num * x / den;
  };
  auto guard = [](double v) noexcept { return std::fabs(v) < kTiny ? kTiny : v; };
  double b0;
  double e_odd = odd(0.0, b0);
  double f = guard(b0);
  double c = f, d = 0.0;
  for (int m = 1; m <= kMaxFractionIterations; ++m) {
    const double mm = m;
    const double e_even = mm * (b - mm) * x / ((a + 2.0 * mm - 1.0) * (a + 2.0 * mm));
    const double am = -e_odd * e_even;
    double ope;
    e_odd = odd(mm, ope);
    const double bm = ope + e_even;
    d = guard(bm + am * d);
    c = guard(bm + am / c);
    d = 1.0 / d;
    const double delta = c * d;
    f *= delta;
    if (std::fabs(delta - 1.0) <= kFractionTolerance) return 1.0 / f;
  }
  return kNaN;
}

// I_x(a, b) computed directly (the caller picks the fast side): 0 < x < 1.
double beta_lower(double a, double b, double x, double y) noexcept {
  const double cf = beta_fraction(a, b, x, y);
  return std::exp(log_beta_factor(a, b, x, y)) * cf / a;
}

bool valid(double a, double b, double x, double y) noexcept {
  return a > 0.0 && b > 0.0 && a <= kMaxBetaParameter && b <= kMaxBetaParameter &&
         x >= 0.0 && x <= 1.0 && y >= 0.0 && y <= 1.0;
}

// Whether the fraction converges fast for I_x(a, b) (else use I_y(b, a)).
bool direct_side(double a, double b, double x) noexcept {
  return x * (a + b + 2.0) < a + 1.0;
}

// erfc(x + dx) for a small correction dx (|dx| <= ulp(x)): the first-order term.
double erfc_corrected(double x, double dx) noexcept {
  const double e = std::erfc(x);
  if (dx == 0.0 || e == 0.0) return e;
  return e - kTwoOverSqrtPi * std::exp(-x * x) * dx;
}

}  // namespace

double betainc(double a, double b, double x, double y) noexcept {
  if (!valid(a, b, x, y)) return kNaN;
  if (x == 0.0) return 0.0;
  if (y == 0.0) return 1.0;
  if (direct_side(a, b, x)) return beta_lower(a, b, x, y);
  return 1.0 - beta_lower(b, a, y, x);
}

double betainc(double a, double b, double x) noexcept {
  if (!(x >= 0.0 && x <= 1.0)) return kNaN;
  return betainc(a, b, x, 1.0 - x);
}

double betaincc(double a, double b, double x, double y) noexcept {
  return betainc(b, a, y, x);
}

namespace {

// x = df / (df + t^2) and y = t^2 / (df + t^2), each to a few ulps.
void t_beta_arguments(double t, double df, double& x, double& y) noexcept {
  const double t2 = t * t;
  if (t2 <= df) {
    const double r = t2 / df;            // y = r / (1 + r), x = 1 / (1 + r)
    x = 1.0 / (1.0 + r);
    y = r / (1.0 + r);
  } else {
    const double r = df / t2;            // x = r / (1 + r), y = 1 / (1 + r)
    x = r / (1.0 + r);
    y = 1.0 / (1.0 + r);
  }
}

}  // namespace

double t_sf_two_sided(double t, double df) noexcept {
  if (std::isnan(t) || !(df > 0.0)) return kNaN;
  if (std::isinf(t)) return 0.0;
  if (df > 2.0 * kMaxBetaParameter) return 2.0 * norm_sf(std::fabs(t));
  double x, y;
  t_beta_arguments(t, df, x, y);
  return betainc(0.5 * df, 0.5, x, y);
}

double t_cdf(double t, double df) noexcept {
  if (std::isnan(t) || !(df > 0.0)) return kNaN;
  if (std::isinf(t)) return t > 0.0 ? 1.0 : 0.0;
  if (df > 2.0 * kMaxBetaParameter) return norm_cdf(t);
  double x, y;
  t_beta_arguments(t, df, x, y);
  // The tail beyond |t| has probability I_x(df/2, 1/2) / 2.
  const double tail = 0.5 * betainc(0.5 * df, 0.5, x, y);
  return t < 0.0 ? tail : 1.0 - tail;
}

double t_sf(double t, double df) noexcept { return t_cdf(-t, df); }

double norm_sf(double z) noexcept {
  if (std::isnan(z)) return kNaN;
  // erfc(z / sqrt(2)) with the rounding of z / sqrt(2) corrected to first
  // order: without it the relative error grows like z^2 ulps in the tail.
  const double hi = z * kInvSqrt2Hi;
  const double lo = std::fma(z, kInvSqrt2Hi, -hi) + z * kInvSqrt2Lo;
  return 0.5 * erfc_corrected(hi, lo);
}

double norm_cdf(double z) noexcept { return norm_sf(-z); }

}  // namespace stats
}  // namespace fugue
