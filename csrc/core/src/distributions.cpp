// The 17 distributions: validation, sampling through numpy's C samplers and
// log-densities. Each kind has one inline log-density function (lp_<kind>);
// the scalar entry point switches once, the array loops switch outside the
// loop and call the inline function per element.
//
// Derived constants (Dist::c) filled by init_dist, per kind:
//   Normal, LogNormal   c0 = -log(sigma) - log(sqrt(2 pi)); Normal also c1 = 1/sigma,
//                       c2 = 1 when 1/sigma overflows (subnormal sigma: divide instead)
//   Uniform             c0 = -log(high - low)
//   Exponential         c0 = log(rate)
//   Beta                a <= 2 or b <= 2: c0 = -log B(a, b)
//                       otherwise (binomial form): c0 = log(n + 1) + stirlerr(n)
//                       - stirlerr(a - 1) - stirlerr(b - 1) - log(2 pi (a-1)(b-1)/n)/2,
//                       n = a + b - 2 as the double-double c1 + c2
//   Gamma, ChiSquared   shape >= 1: c0 = log(rate) - stirlerr(k) - log(2 pi k)/2, k = shape - 1
//                       shape < 1:  c0 = log(shape) - stirlerr(shape) - log(2 pi shape)/2
//   InverseGamma        c0 = log(shape) - stirlerr(shape) - log(2 pi shape)/2
//   Bernoulli           (none: logs taken at evaluation)
//   Binomial            c0 + c1 = n*p as a double-double
//   Categorical         c0 = index of the last positive probability
//   Poisson             (none)
//   StudentT            c0 = lgamma((df+1)/2) - lgamma(df/2) - log(df pi)/2 - log(scale),
//                       c1 = (df + 1)/2
//   Cauchy              c0 = -log(pi) - log(scale)
//   Laplace             c0 = -log(2) - log(scale)
//   Weibull             c0 = log(shape) - log(scale), c1 = shape - 1
//   DiscreteUniform     c0 = -log(high - low + 1)
#include "fugue/distributions.hpp"

#include <cfloat>
#include <cmath>
#include <limits>

#include "fugue/special.hpp"

namespace fugue {
namespace {

using special::DD;
using special::bd0;
using special::stirlerr;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// numpy's limit for Generator.poisson (int64 max - 10 sqrt(int64 max)).
constexpr double kPoissonLamMax = 9.223372006484771e18;
constexpr double kTwo63 = 9223372036854775808.0;

// ------------------------------------------------------------ helpers

// (x - loc)/scale, also when x - loc overflows although the quotient does not.
inline double standardize(double x, double loc, double scale) noexcept {
  const double dx = x - loc;
  if (std::isinf(dx) && std::isfinite(x)) return x / scale - loc / scale;
  return dx / scale;
}

// log|x - loc| - log(scale) without overflow or underflow of the quotient.
inline double log_abs_standardized(double x, double loc, double scale) noexcept {
  double dx = x - loc;
  if (std::isinf(dx) && std::isfinite(x)) {
    return std::log(std::fabs(0.5 * x - 0.5 * loc)) + special::kLn2 - std::log(scale);
  }
  double z = std::fabs(dx) / scale;
  if (std::isnormal(z) && z < kInf) return std::log(z);
  return std::log(std::fabs(dx)) - std::log(scale);
}

// log1p(t^2 / nu) for t = (x - loc)/scale, without overflow of t^2.
inline double log1p_sq_over(double x, double loc, double scale, double nu) noexcept {
  const double t = standardize(x, loc, scale);
  const double q = t * t / nu;
  if (q < 1e300) return std::log1p(q);
  // log(1 + q) = 2 log|t| - log(nu) + log1p(nu / t^2), the last term negligible.
  return 2.0 * log_abs_standardized(x, loc, scale) - std::log(nu) + std::log1p(nu / (t * t));
}

inline bool is_count(double x) noexcept { return x >= 0.0 && x < kInf && x == std::floor(x); }

// ------------------------------------------------------------ log-densities (x not NaN)

// (x - mu)/sigma as (x - mu) * (1/sigma) (c1); c2 != 0 marks a subnormal sigma
// whose reciprocal overflows, where the quotient is used instead.
inline double normal_z(const Dist& d, double x) noexcept {
  const double dx = x - d.p[0];
  if (std::isinf(dx) && std::isfinite(x)) return x / d.p[1] - d.p[0] / d.p[1];
  return d.c[2] != 0.0 ? dx / d.p[1] : dx * d.c[1];
}

inline double lp_normal(const Dist& d, double x) noexcept {
  const double z = normal_z(d, x);
  return d.c[0] - 0.5 * z * z;
}

inline double lp_uniform(const Dist& d, double x) noexcept {
  return (x >= d.p[0] && x < d.p[1]) ? d.c[0] : -kInf;
}

inline double lp_lognormal(const Dist& d, double x) noexcept {
  if (!(x > 0.0)) return -kInf;
  const double lx = std::log(x);
  const double z = standardize(lx, d.p[0], d.p[1]);
  return d.c[0] - lx - 0.5 * z * z;
}

inline double lp_exponential(const Dist& d, double x) noexcept {
  return x >= 0.0 ? d.c[0] - d.p[0] * x : -kInf;
}

inline double lp_beta(const Dist& d, double x) noexcept {
  const double a = d.p[0], b = d.p[1];
  if (!(x >= 0.0 && x <= 1.0)) return -kInf;
  if (a <= 2.0 || b <= 2.0) {
    if (x == 0.0) return a < 1.0 ? kInf : (a == 1.0 ? d.c[0] : -kInf);
    if (x == 1.0) return b < 1.0 ? kInf : (b == 1.0 ? d.c[0] : -kInf);
    return d.c[0] + (a - 1.0) * std::log(x) + (b - 1.0) * std::log1p(-x);
  }
  if (x == 0.0 || x == 1.0) return -kInf;
  // Binomial form: (n + 1) * C(n, a-1) x^(a-1) (1-x)^(b-1), n = a + b - 2.
  const double k1 = a - 1.0, k2 = b - 1.0;  // exact for shapes < 2^53
  const double nh = d.c[1], nl = d.c[2];
  const double mh = nh * x;
  const double ml = std::fma(nh, x, -mh) + nl * x;     // n x = mh + ml
  const double d1 = (k1 - mh) - ml;                    // k1 - n x
  const double nq = (nh - mh) + (nl - ml);             // n (1 - x)
  return d.c[0] - bd0(k1, mh, d1) - bd0(k2, nq, -d1);  // k2 - n(1-x) = -(k1 - n x)
}

// log-density of Gamma(a, rate) at x (shared by Gamma and ChiSquared).
inline double lp_gamma_core(double a, double rate, double c0, double x) noexcept {
  if (!(x > 0.0)) {
    if (x == 0.0) return a < 1.0 ? kInf : (a == 1.0 ? std::log(rate) : -kInf);
    return -kInf;
  }
  const DD lam = special::two_prod(rate, x);
  if (!(lam.hi < kInf)) return -kInf;
  if (!(lam.hi >= DBL_MIN)) {
    // rate*x underflows: the direct form has no cancellation here (rare path).
    const double lr = std::log(rate);
    return lr - special::lgamma_ts(a) + (a - 1.0) * (lr + std::log(x)) - lam.hi;
  }
  if (a >= 1.0) {
    const double k = a - 1.0;  // rate * dpois(a - 1, rate x)
    return c0 - bd0(k, lam.hi, (k - lam.hi) - lam.lo);
  }
  // (a/x) * dpois(a, rate x)
  return c0 - std::log(x) - bd0(a, lam.hi, (a - lam.hi) - lam.lo);
}

inline double lp_gamma(const Dist& d, double x) noexcept {
  return lp_gamma_core(d.p[0], d.p[1], d.c[0], x);
}

inline double lp_chisquared(const Dist& d, double x) noexcept {
  return lp_gamma_core(0.5 * d.p[0], 0.5, d.c[0], x);
}

inline double lp_inverse_gamma(const Dist& d, double x) noexcept {
  const double a = d.p[0], b = d.p[1];
  if (!(x > 0.0 && x < kInf)) return -kInf;
  const DD lam = special::dd_div(b, x);
  if (!(lam.hi < kInf)) return -kInf;
  const double lx = std::log(x);
  if (!(lam.hi >= DBL_MIN)) {  // b/x underflows (rare path)
    return a * (std::log(b) - lx) - lx - lam.hi - special::lgamma_ts(a);
  }
  // (a/x) * dpois(a, b/x)
  return d.c[0] - lx - bd0(a, lam.hi, (a - lam.hi) - lam.lo);
}

// Bernoulli's logs are taken when needed: a model builds a Bernoulli per
// effect and scores one of its two outcomes.
inline double lp_bernoulli(const Dist& d, double x) noexcept {
  return x == 1.0 ? std::log(d.p[0]) : (x == 0.0 ? std::log1p(-d.p[0]) : -kInf);
}

// Array form: both logs once for the whole array.
inline void fill_lp_bernoulli(const Dist& d, const double* x, double* out, std::size_t n) noexcept {
  const double l1 = std::log(d.p[0]), l0 = std::log1p(-d.p[0]);
  for (std::size_t k = 0; k < n; ++k) {
    const double xk = x[k];
    out[k] = std::isnan(xk) ? xk : (xk == 1.0 ? l1 : (xk == 0.0 ? l0 : -kInf));
  }
}

inline double lp_binomial(const Dist& d, double x) noexcept {
  const double n = static_cast<double>(d.i[0]);
  if (!is_count(x) || x > n) return -kInf;
  const double p = d.p[0];
  return special::log_dbinom_raw(x, n, p, 1.0 - p, DD{d.c[0], d.c[1]});
}

inline double lp_categorical(const Dist& d, double x) noexcept {
  if (!is_count(x) || !(x < static_cast<double>(d.n_probs))) return -kInf;
  return std::log(d.probs[static_cast<int64_t>(x)]);
}

inline double lp_poisson(const Dist& d, double x) noexcept {
  if (!is_count(x)) return -kInf;
  const double lam = d.p[0];
  if (x == 0.0) return -lam;
  return -stirlerr(x) - bd0(x, lam, x - lam) - 0.5 * (special::kLog2Pi + std::log(x));
}

inline double lp_student_t(const Dist& d, double x) noexcept {
  return d.c[0] - d.c[1] * log1p_sq_over(x, d.p[1], d.p[2], d.p[0]);
}

inline double lp_cauchy(const Dist& d, double x) noexcept {
  return d.c[0] - log1p_sq_over(x, d.p[0], d.p[1], 1.0);
}

inline double lp_laplace(const Dist& d, double x) noexcept {
  return d.c[0] - std::fabs(standardize(x, d.p[0], d.p[1]));
}

inline double lp_weibull(const Dist& d, double x) noexcept {
  const double k = d.p[0], lam = d.p[1];
  if (!(x > 0.0)) {
    if (x == 0.0) return k < 1.0 ? kInf : (k == 1.0 ? d.c[0] : -kInf);
    return -kInf;
  }
  if (x == kInf) return -kInf;
  const DD z = special::dd_div(x, lam);
  double lz, pz;
  if (std::isnormal(z.hi) && z.hi < kInf) {
    const double rel = z.lo / z.hi;  // z = z.hi (1 + rel)
    lz = std::log(z.hi) + rel;
    pz = std::pow(z.hi, k);
    if (pz > 0.0 && pz < kInf) pz *= std::exp(k * rel);
  } else {
    lz = std::log(x) - std::log(lam);
    pz = std::exp(k * lz);
  }
  return d.c[0] + d.c[1] * lz - pz;
}

inline double lp_discrete_uniform(const Dist& d, double x) noexcept {
  if (!(x >= -kTwo63 && x < kTwo63) || x != std::floor(x)) return -kInf;
  const int64_t v = static_cast<int64_t>(x);
  return (v >= d.i[0] && v <= d.i[1]) ? d.c[0] : -kInf;
}

inline double lp_discrete_uniform_i(const Dist& d, int64_t v) noexcept {
  return (v >= d.i[0] && v <= d.i[1]) ? d.c[0] : -kInf;
}

inline double lp_categorical_i(const Dist& d, int64_t v) noexcept {
  return (v >= 0 && v < d.n_probs) ? std::log(d.probs[v]) : -kInf;
}

inline double lp_bernoulli_i(const Dist& d, int64_t v) noexcept {
  return v == 1 ? std::log(d.p[0]) : (v == 0 ? std::log1p(-d.p[0]) : -kInf);
}

// ------------------------------------------------------------ samplers

inline int64_t draw_categorical(const Dist& d, bitgen_t* bg) noexcept {
  const double u = random_standard_uniform(bg);
  const int64_t last = static_cast<int64_t>(d.c[0]);
  double acc = 0.0;
  for (int64_t k = 0; k < last; ++k) {
    acc += d.probs[k];
    if (u < acc) return k;
  }
  return last;
}

inline int64_t draw_discrete_uniform(const Dist& d, bitgen_t* bg) noexcept {
  uint64_t out = 0;
  const uint64_t off = static_cast<uint64_t>(d.i[0]);
  random_bounded_uint64_fill(bg, off, static_cast<uint64_t>(d.i[1]) - off, 1, false, &out);
  return static_cast<int64_t>(out);
}

// ------------------------------------------------------------ validation

inline bool fail(ParamError* err, int code, const char* param, double value, const char* rule) noexcept {
  if (err != nullptr) *err = ParamError{code, param, value, rule};
  return false;
}

constexpr const char* kFinite = "must be finite";
constexpr const char* kPositive = "must be finite and > 0";

inline bool positive(double v) noexcept { return std::isfinite(v) && v > 0.0; }

template <class F>
inline void fill_lp(const Dist& d, const double* x, double* out, std::size_t n, F f) noexcept {
  for (std::size_t k = 0; k < n; ++k) {
    const double xk = x[k];
    out[k] = std::isnan(xk) ? xk : f(d, xk);
  }
}

template <class F>
inline void fill_lp_i64(const Dist& d, const int64_t* x, double* out, std::size_t n, F f) noexcept {
  for (std::size_t k = 0; k < n; ++k) out[k] = f(d, static_cast<double>(x[k]));
}

}  // namespace

// ------------------------------------------------------------ public API

ValueKind value_kind(DistKind kind) noexcept {
  switch (kind) {
    case DistKind::Bernoulli: return ValueKind::Bool;
    case DistKind::Binomial: case DistKind::Categorical: case DistKind::Poisson:
    case DistKind::DiscreteUniform: return ValueKind::Int;
    default: return ValueKind::Float;
  }
}

const char* dist_name(DistKind kind) noexcept {
  static const char* const names[kNumDistKinds] = {
      "Normal", "Uniform", "LogNormal", "Exponential", "Beta", "Gamma", "Bernoulli",
      "Binomial", "Categorical", "Poisson", "StudentT", "Cauchy", "Laplace", "Weibull",
      "ChiSquared", "InverseGamma", "DiscreteUniform"};
  const int k = static_cast<int>(kind);
  return (k >= 0 && k < kNumDistKinds) ? names[k] : "Unknown";
}

bool init_dist(Dist& d, ParamError* err) noexcept {
  using special::kLog2Pi;
  using special::kLogSqrt2Pi;
  const double p0 = d.p[0], p1 = d.p[1], p2 = d.p[2];
  d.c[0] = d.c[1] = d.c[2] = 0.0;
  switch (d.kind) {
    case DistKind::Normal:
    case DistKind::LogNormal:
      if (!std::isfinite(p0)) return fail(err, kCodeMean, "mu", p0, kFinite);
      if (!positive(p1)) return fail(err, kCodeVariance, "sigma", p1, kPositive);
      d.c[0] = -std::log(p1) - kLogSqrt2Pi;
      if (d.kind == DistKind::Normal) {
        d.c[1] = 1.0 / p1;
        d.c[2] = std::isfinite(d.c[1]) ? 0.0 : 1.0;
      }
      return true;

    case DistKind::Uniform: {
      if (!std::isfinite(p0)) return fail(err, kCodeRange, "low", p0, kFinite);
      if (!std::isfinite(p1)) return fail(err, kCodeRange, "high", p1, kFinite);
      if (!(p0 < p1)) return fail(err, kCodeRange, "high", p1, "must be > low");
      const double w = p1 - p0;
      if (!std::isfinite(w)) return fail(err, kCodeRange, "high", p1, "must make high - low finite");
      d.c[0] = -std::log(w);
      return true;
    }

    case DistKind::Exponential:
      if (!positive(p0)) return fail(err, kCodeRate, "rate", p0, kPositive);
      d.c[0] = std::log(p0);
      return true;

    case DistKind::Beta: {
      if (!positive(p0)) return fail(err, kCodeShape, "alpha", p0, kPositive);
      if (!positive(p1)) return fail(err, kCodeShape, "beta", p1, kPositive);
      if (p0 <= 2.0 || p1 <= 2.0) {
        d.c[0] = -special::lbeta(p0, p1);
      } else {
        const double k1 = p0 - 1.0, k2 = p1 - 1.0;
        const DD n = special::two_sum(k1, k2);
        // k2/n < 1, so k1 * (k2/n) neither overflows nor underflows.
        d.c[0] = std::log1p(n.hi) + stirlerr(n.hi) - stirlerr(k1) - stirlerr(k2) -
                 0.5 * (kLog2Pi + std::log(k1 * (k2 / n.hi)));
        d.c[1] = n.hi;
        d.c[2] = n.lo;
      }
      return true;
    }

    case DistKind::Gamma:
    case DistKind::ChiSquared: {
      double a, rate;
      if (d.kind == DistKind::Gamma) {
        if (!positive(p0)) return fail(err, kCodeShape, "shape", p0, kPositive);
        if (!positive(p1)) return fail(err, kCodeRate, "rate", p1, kPositive);
        a = p0;
        rate = p1;
      } else {
        if (!positive(p0)) return fail(err, kCodeShape, "k", p0, kPositive);
        a = 0.5 * p0;
        rate = 0.5;
      }
      if (a >= 1.0) {
        const double k = a - 1.0;
        d.c[0] = k == 0.0 ? std::log(rate)
                          : std::log(rate) - stirlerr(k) - 0.5 * (kLog2Pi + std::log(k));
      } else {
        d.c[0] = std::log(a) - stirlerr(a) - 0.5 * (kLog2Pi + std::log(a));
      }
      return true;
    }

    case DistKind::InverseGamma:
      if (!positive(p0)) return fail(err, kCodeShape, "shape", p0, kPositive);
      if (!positive(p1)) return fail(err, kCodeRate, "rate", p1, kPositive);
      d.c[0] = std::log(p0) - stirlerr(p0) - 0.5 * (kLog2Pi + std::log(p0));
      return true;

    case DistKind::Bernoulli:
      if (!(p0 >= 0.0 && p0 <= 1.0)) return fail(err, kCodeProbability, "p", p0, "must be in [0, 1]");
      return true;

    case DistKind::Binomial: {
      if (d.i[0] < 0) return fail(err, kCodeCount, "n", static_cast<double>(d.i[0]), "must be >= 0");
      if (!(p0 >= 0.0 && p0 <= 1.0)) return fail(err, kCodeProbability, "p", p0, "must be in [0, 1]");
      const DD np = special::two_prod(static_cast<double>(d.i[0]), p0);
      d.c[0] = np.hi;
      d.c[1] = np.lo;
      return true;
    }

    case DistKind::Categorical: {
      if (d.n_probs <= 0 || d.probs == nullptr)
        return fail(err, kCodeProbability, "probs", kNaN, "must not be empty");
      double s = 0.0;
      int64_t last = 0;
      for (int64_t k = 0; k < d.n_probs; ++k) {
        const double q = d.probs[k];
        if (!(q >= 0.0 && q <= 1.0))
          return fail(err, kCodeProbability, "probs", q, "must hold probabilities in [0, 1]");
        s += q;
        if (q > 0.0) last = k;
      }
      if (!(std::fabs(s - 1.0) <= 1e-6))
        return fail(err, kCodeProbability, "probs", s, "must sum to 1 (within 1e-6)");
      d.c[0] = static_cast<double>(last);
      return true;
    }

    case DistKind::Poisson:
      if (!positive(p0)) return fail(err, kCodeRate, "rate", p0, kPositive);
      if (p0 > kPoissonLamMax)
        return fail(err, kCodeRate, "rate", p0, "must be <= 9.223372006484771e18 (int64 range)");
      return true;

    case DistKind::StudentT: {
      if (!positive(p0)) return fail(err, kCodeShape, "df", p0, kPositive);
      if (!std::isfinite(p1)) return fail(err, kCodeMean, "loc", p1, kFinite);
      if (!positive(p2)) return fail(err, kCodeVariance, "scale", p2, kPositive);
      // lgamma((df+1)/2) - lgamma(df/2) - log(df pi)/2 - log(scale). With a = df/2,
      // Gamma(y) = Gamma(y+1)/y and log Gamma(y+1) = (y+1/2) log y - y + log sqrt(2 pi)
      // + stirlerr(y): lgamma(a + 1/2) - lgamma(a) = -bd0(a, a + 1/2) + log(a)/2 +
      // stirlerr(a + 1/2) - stirlerr(a) (no cancellation for large df), and
      // log(a)/2 - log(df pi)/2 = -log(2 pi)/2.
      const double a = 0.5 * p0;
      d.c[0] = -bd0(a, a + 0.5, -0.5) + stirlerr(a + 0.5) - stirlerr(a) - 0.5 * kLog2Pi -
               std::log(p2);
      d.c[1] = 0.5 * (p0 + 1.0);
      return true;
    }

    case DistKind::Cauchy:
    case DistKind::Laplace:
      if (!std::isfinite(p0)) return fail(err, kCodeMean, "loc", p0, kFinite);
      if (!positive(p1)) return fail(err, kCodeVariance, "scale", p1, kPositive);
      d.c[0] = (d.kind == DistKind::Cauchy ? -special::kLogPi : -special::kLn2) - std::log(p1);
      return true;

    case DistKind::Weibull:
      if (!positive(p0)) return fail(err, kCodeShape, "shape", p0, kPositive);
      if (!positive(p1)) return fail(err, kCodeVariance, "scale", p1, kPositive);
      d.c[0] = std::log(p0) - std::log(p1);
      d.c[1] = p0 - 1.0;
      return true;

    case DistKind::DiscreteUniform: {
      if (d.i[0] > d.i[1])
        return fail(err, kCodeRange, "high", static_cast<double>(d.i[1]), "must be >= low");
      const uint64_t w = static_cast<uint64_t>(d.i[1]) - static_cast<uint64_t>(d.i[0]);
      d.c[0] = -std::log(static_cast<double>(w) + 1.0);
      return true;
    }
  }
  return fail(err, kCodeShape, "kind", kNaN, "is not a known distribution");
}

Value sample(const Dist& d, bitgen_t* bg) noexcept {
  const double p0 = d.p[0], p1 = d.p[1];
  switch (d.kind) {
    case DistKind::Normal: return Value::of_float(random_normal(bg, p0, p1));
    case DistKind::Uniform: return Value::of_float(random_uniform(bg, p0, p1 - p0));
    case DistKind::LogNormal: return Value::of_float(random_lognormal(bg, p0, p1));
    case DistKind::Exponential: return Value::of_float(random_exponential(bg, 1.0 / p0));
    case DistKind::Beta: return Value::of_float(random_beta(bg, p0, p1));
    case DistKind::Gamma: return Value::of_float(random_gamma(bg, p0, 1.0 / p1));
    case DistKind::Bernoulli: return Value::of_bool(random_standard_uniform(bg) < p0);
    case DistKind::Binomial: {
      binomial_t state{};
      return Value::of_int(random_binomial(bg, p0, d.i[0], &state));
    }
    case DistKind::Categorical: return Value::of_int(draw_categorical(d, bg));
    case DistKind::Poisson: return Value::of_int(random_poisson(bg, p0));
    case DistKind::StudentT: return Value::of_float(p1 + d.p[2] * random_standard_t(bg, p0));
    case DistKind::Cauchy: return Value::of_float(p0 + p1 * random_standard_cauchy(bg));
    case DistKind::Laplace: return Value::of_float(random_laplace(bg, p0, p1));
    case DistKind::Weibull: return Value::of_float(p1 * random_weibull(bg, p0));
    case DistKind::ChiSquared: return Value::of_float(random_chisquare(bg, p0));
    case DistKind::InverseGamma: return Value::of_float(p1 / random_standard_gamma(bg, p0));
    case DistKind::DiscreteUniform: return Value::of_int(draw_discrete_uniform(d, bg));
  }
  return Value::of_float(kNaN);
}

double log_prob(const Dist& d, double x) noexcept {
  if (std::isnan(x)) return x;
  switch (d.kind) {
    case DistKind::Normal: return lp_normal(d, x);
    case DistKind::Uniform: return lp_uniform(d, x);
    case DistKind::LogNormal: return lp_lognormal(d, x);
    case DistKind::Exponential: return lp_exponential(d, x);
    case DistKind::Beta: return lp_beta(d, x);
    case DistKind::Gamma: return lp_gamma(d, x);
    case DistKind::Bernoulli: return lp_bernoulli(d, x);
    case DistKind::Binomial: return lp_binomial(d, x);
    case DistKind::Categorical: return lp_categorical(d, x);
    case DistKind::Poisson: return lp_poisson(d, x);
    case DistKind::StudentT: return lp_student_t(d, x);
    case DistKind::Cauchy: return lp_cauchy(d, x);
    case DistKind::Laplace: return lp_laplace(d, x);
    case DistKind::Weibull: return lp_weibull(d, x);
    case DistKind::ChiSquared: return lp_chisquared(d, x);
    case DistKind::InverseGamma: return lp_inverse_gamma(d, x);
    case DistKind::DiscreteUniform: return lp_discrete_uniform(d, x);
  }
  return kNaN;
}

double log_prob_value(const Dist& d, const Value& v) noexcept {
  switch (v.kind) {
    case ValueKind::Float: return log_prob(d, v.f);
    case ValueKind::Bool: return log_prob(d, v.b ? 1.0 : 0.0);
    case ValueKind::Int:
      switch (d.kind) {
        case DistKind::DiscreteUniform: return lp_discrete_uniform_i(d, v.i);
        case DistKind::Categorical: return lp_categorical_i(d, v.i);
        case DistKind::Bernoulli: return lp_bernoulli_i(d, v.i);
        default: return log_prob(d, static_cast<double>(v.i));
      }
  }
  return kNaN;
}

void sample_fill_f64(const Dist& d, bitgen_t* bg, double* out, std::size_t n) noexcept {
  const double p0 = d.p[0], p1 = d.p[1], p2 = d.p[2];
  switch (d.kind) {
    case DistKind::Normal:
      for (std::size_t k = 0; k < n; ++k) out[k] = random_normal(bg, p0, p1);
      return;
    case DistKind::Uniform: {
      const double w = p1 - p0;
      for (std::size_t k = 0; k < n; ++k) out[k] = random_uniform(bg, p0, w);
      return;
    }
    case DistKind::LogNormal:
      for (std::size_t k = 0; k < n; ++k) out[k] = random_lognormal(bg, p0, p1);
      return;
    case DistKind::Exponential: {
      const double scale = 1.0 / p0;
      for (std::size_t k = 0; k < n; ++k) out[k] = random_exponential(bg, scale);
      return;
    }
    case DistKind::Beta:
      for (std::size_t k = 0; k < n; ++k) out[k] = random_beta(bg, p0, p1);
      return;
    case DistKind::Gamma: {
      const double scale = 1.0 / p1;
      for (std::size_t k = 0; k < n; ++k) out[k] = random_gamma(bg, p0, scale);
      return;
    }
    case DistKind::StudentT:
      for (std::size_t k = 0; k < n; ++k) out[k] = p1 + p2 * random_standard_t(bg, p0);
      return;
    case DistKind::Cauchy:
      for (std::size_t k = 0; k < n; ++k) out[k] = p0 + p1 * random_standard_cauchy(bg);
      return;
    case DistKind::Laplace:
      for (std::size_t k = 0; k < n; ++k) out[k] = random_laplace(bg, p0, p1);
      return;
    case DistKind::Weibull:
      for (std::size_t k = 0; k < n; ++k) out[k] = p1 * random_weibull(bg, p0);
      return;
    case DistKind::ChiSquared:
      for (std::size_t k = 0; k < n; ++k) out[k] = random_chisquare(bg, p0);
      return;
    case DistKind::InverseGamma:
      for (std::size_t k = 0; k < n; ++k) out[k] = p1 / random_standard_gamma(bg, p0);
      return;
    default:  // discrete kinds: their values as doubles
      for (std::size_t k = 0; k < n; ++k) out[k] = sample(d, bg).as_double();
      return;
  }
}

void sample_fill_i64(const Dist& d, bitgen_t* bg, int64_t* out, std::size_t n) noexcept {
  switch (d.kind) {
    case DistKind::Binomial: {
      binomial_t state{};
      for (std::size_t k = 0; k < n; ++k) out[k] = random_binomial(bg, d.p[0], d.i[0], &state);
      return;
    }
    case DistKind::Poisson:
      for (std::size_t k = 0; k < n; ++k) out[k] = random_poisson(bg, d.p[0]);
      return;
    case DistKind::Categorical:
      for (std::size_t k = 0; k < n; ++k) out[k] = draw_categorical(d, bg);
      return;
    case DistKind::DiscreteUniform: {
      const uint64_t off = static_cast<uint64_t>(d.i[0]);
      const uint64_t rng = static_cast<uint64_t>(d.i[1]) - off;
      random_bounded_uint64_fill(bg, off, rng, static_cast<intptr_t>(n), false,
                                 reinterpret_cast<uint64_t*>(out));
      return;
    }
    case DistKind::Bernoulli:
      for (std::size_t k = 0; k < n; ++k) out[k] = random_standard_uniform(bg) < d.p[0];
      return;
    default: {  // continuous kinds: truncated toward zero, as a cast would
      for (std::size_t k = 0; k < n; ++k) {
        const Value v = sample(d, bg);
        out[k] = v.kind == ValueKind::Float ? static_cast<int64_t>(v.f) : v.i;
      }
      return;
    }
  }
}

void sample_fill_bool(const Dist& d, bitgen_t* bg, uint8_t* out, std::size_t n) noexcept {
  if (d.kind == DistKind::Bernoulli) {
    const double p = d.p[0];
    for (std::size_t k = 0; k < n; ++k) out[k] = random_standard_uniform(bg) < p;
    return;
  }
  for (std::size_t k = 0; k < n; ++k) out[k] = sample(d, bg).as_double() != 0.0;
}

void log_prob_fill(const Dist& d, const double* x, double* out, std::size_t n) noexcept {
  switch (d.kind) {
    case DistKind::Normal: {
      if (d.c[2] != 0.0) { fill_lp(d, x, out, n, lp_normal); return; }
      // Branch-free so the compiler vectorises it (NaN propagates by itself);
      // the rare overflow of x - mu is repaired afterwards.
      const double mu = d.p[0], inv = d.c[1], c0 = d.c[0];
      if (inv >= 1e-150) {
        // x - mu can only overflow where the true z^2 overflows too, so the
        // result is -inf either way: a plain loop, vectorised.
        for (std::size_t k = 0; k < n; ++k) {
          const double z = (x[k] - mu) * inv;
          out[k] = c0 - 0.5 * z * z;
        }
        return;
      }
      bool overflow = false;
      for (std::size_t k = 0; k < n; ++k) {
        const double dx = x[k] - mu;
        overflow |= std::fabs(dx) == kInf;
        const double z = dx * inv;
        out[k] = c0 - 0.5 * z * z;
      }
      if (overflow) {
        for (std::size_t k = 0; k < n; ++k) {
          if (std::isfinite(x[k]) && std::isinf(x[k] - mu)) out[k] = lp_normal(d, x[k]);
        }
      }
      return;
    }
    case DistKind::Uniform: fill_lp(d, x, out, n, lp_uniform); return;
    case DistKind::LogNormal: fill_lp(d, x, out, n, lp_lognormal); return;
    case DistKind::Exponential: fill_lp(d, x, out, n, lp_exponential); return;
    case DistKind::Beta: fill_lp(d, x, out, n, lp_beta); return;
    case DistKind::Gamma: fill_lp(d, x, out, n, lp_gamma); return;
    case DistKind::Bernoulli: fill_lp_bernoulli(d, x, out, n); return;
    case DistKind::Binomial: fill_lp(d, x, out, n, lp_binomial); return;
    case DistKind::Categorical: fill_lp(d, x, out, n, lp_categorical); return;
    case DistKind::Poisson: fill_lp(d, x, out, n, lp_poisson); return;
    case DistKind::StudentT: fill_lp(d, x, out, n, lp_student_t); return;
    case DistKind::Cauchy: fill_lp(d, x, out, n, lp_cauchy); return;
    case DistKind::Laplace: fill_lp(d, x, out, n, lp_laplace); return;
    case DistKind::Weibull: fill_lp(d, x, out, n, lp_weibull); return;
    case DistKind::ChiSquared: fill_lp(d, x, out, n, lp_chisquared); return;
    case DistKind::InverseGamma: fill_lp(d, x, out, n, lp_inverse_gamma); return;
    case DistKind::DiscreteUniform: fill_lp(d, x, out, n, lp_discrete_uniform); return;
  }
  for (std::size_t k = 0; k < n; ++k) out[k] = kNaN;
}

void log_prob_fill_i64(const Dist& d, const int64_t* x, double* out, std::size_t n) noexcept {
  switch (d.kind) {
    case DistKind::DiscreteUniform:
      for (std::size_t k = 0; k < n; ++k) out[k] = lp_discrete_uniform_i(d, x[k]);
      return;
    case DistKind::Categorical:
      for (std::size_t k = 0; k < n; ++k) out[k] = lp_categorical_i(d, x[k]);
      return;
    case DistKind::Bernoulli:
      {
        const double l1 = std::log(d.p[0]), l0 = std::log1p(-d.p[0]);
        for (std::size_t k = 0; k < n; ++k) out[k] = x[k] == 1 ? l1 : (x[k] == 0 ? l0 : -kInf);
      }
      return;
    case DistKind::Binomial: fill_lp_i64(d, x, out, n, lp_binomial); return;
    case DistKind::Poisson: fill_lp_i64(d, x, out, n, lp_poisson); return;
    default:
      for (std::size_t k = 0; k < n; ++k) out[k] = log_prob(d, static_cast<double>(x[k]));
      return;
  }
}

}  // namespace fugue
