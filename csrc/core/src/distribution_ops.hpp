#pragma once
// The numerics of the distributions, shared by the scalar and array functions
// (distributions.cpp) and the particle functions (particles.cpp): the
// parameter checks driven by the table (fugue/distribution_table.hpp), and
// one section of numerics per distribution. Private to the core's sources.
//
// Each distribution is a struct in namespace ops, named as in the table, with
//   static void init(Dist& d)                 the derived constants d.c (the
//                                             parameters have passed the table's rules)
//   static double lp(const Dist& d, double x) the log-density at x (not NaN)
//   static T draw(const Dist& d, bitgen_t*)   one value: double, int64_t or bool, as the
//                                             table's value kind says (checked at compile time)
// and may replace the defaults of ops::Base: lp_int (log-density at an int64),
// fill_lp / fill_lp_int (arrays of points), fill_f64 / fill_i64 / fill_bool
// (arrays of draws), kInitReal / kInitInt (the parameters init reads, as bit
// masks of their slots in Dist::p / Dist::i: a particle loop re-derives the
// constants only when one of these differs between particles) and
// State / draw_in (a sampler state kept across the draws of an array).
#include "fugue/distributions.hpp"
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "fugue/special.hpp"
#include "fugue/streams.hpp"

namespace fugue {
namespace {

using special::DD;
using special::bd0;
using special::stirlerr;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kTwo63 = 9223372036854775808.0;

// ------------------------------------------------------------ error messages

// Writes a ParamError's rule, truncating (always NUL-terminated).
class RuleWriter {
 public:
  // Starts the rule afresh.
  explicit RuleWriter(char* buf) noexcept : buf_(buf) { buf_[0] = '\0'; }
  // Continues the rule already in buf.
  RuleWriter(char* buf, std::size_t len) noexcept : buf_(buf), len_(len) {}

  void put(const char* s) noexcept {
    while (*s != '\0' && len_ + 1 < kParamRuleSize) buf_[len_++] = *s++;
    buf_[len_] = '\0';
  }

  void put(const char* first, const char* last) noexcept {
    while (first != last && len_ + 1 < kParamRuleSize) buf_[len_++] = *first++;
    buf_[len_] = '\0';
  }

  void put_int(int64_t v) noexcept {
    char tmp[24];
    const auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    put(tmp, r.ptr);
  }

  // x as Python's repr(float) writes it: the shortest digits that round-trip,
  // in positional notation for decimal exponents -4 .. 15 (with ".0" when
  // integral), else as d.ddde+XX.
  void put_real(double x) noexcept {
    if (std::isnan(x)) return put("nan");
    if (std::isinf(x)) return put(x > 0 ? "inf" : "-inf");
    char tmp[40];
    const auto r = std::to_chars(tmp, tmp + sizeof tmp, x, std::chars_format::scientific);
    const char* s = tmp;
    if (*s == '-') {
      put("-");
      ++s;
    }
    char digits[24];
    int nd = 0;
    for (; s != r.ptr && *s != 'e'; ++s) {
      if (*s != '.') digits[nd++] = *s;
    }
    int e = 0;
    std::from_chars(s + 1 + (s[1] == '+' ? 1 : 0), r.ptr, e);
    if (e < -4 || e >= 16) {
      put(digits, digits + 1);
      if (nd > 1) {
        put(".");
        put(digits + 1, digits + nd);
      }
      char ebuf[8];
      const auto er = std::to_chars(ebuf, ebuf + sizeof ebuf, e < 0 ? -e : e);
      put(e < 0 ? "e-" : "e+");
      if (er.ptr - ebuf < 2) put("0");
      put(ebuf, er.ptr);
    } else if (e < 0) {
      put("0.");
      for (int k = 0; k < -e - 1; ++k) put("0");
      put(digits, digits + nd);
    } else {
      for (int k = 0; k <= e; ++k) {
        if (k < nd) {
          put(digits + k, digits + k + 1);
        } else {
          put("0");
        }
      }
      put(".");
      if (nd > e + 1) {
        put(digits + e + 1, digits + nd);
      } else {
        put("0");
      }
    }
  }

 private:
  char* buf_;
  std::size_t len_ = 0;
};

// Another parameter's value that a message shows, as in "(low=2.0)".
struct Context {
  const char* name = nullptr;
  bool is_int = false;
  double f = 0.0;
  int64_t i = 0;
};
inline Context context(const char* name, double v) noexcept { return {name, false, v, 0}; }
inline Context context(const char* name, int64_t v) noexcept { return {name, true, 0.0, v}; }
#define FUGUE_CONTEXT(name, value) context(name, value)
#define FUGUE_NO_CONTEXT Context{}

// Fills *err (when not null) and returns false.
template <class T>
bool fail(ParamError* err, int code, int index, const char* param, T value, const char* rule,
          Context ctx) noexcept {
  if (err == nullptr) return false;
  err->code = code;
  err->index = index;
  err->param = param;
  err->value = static_cast<double>(value);
  err->element = false;
  RuleWriter w(err->rule);
  w.put(rule);
  if (ctx.name != nullptr) {
    w.put(" (");
    w.put(ctx.name);
    w.put("=");
    if (ctx.is_int) {
      w.put_int(ctx.i);
    } else {
      w.put_real(ctx.f);
    }
    w.put(")");
  }
  return false;
}

// The rules of a probabilities array: not empty, each element in [0, 1], the
// sum within the tolerance of 1.
inline bool check_simplex(const Dist& d, ParamError* err, int code, int index,
                   const char* param) noexcept {
  if (d.n_probs <= 0 || d.probs == nullptr)
    return fail(err, code, index, param, kNaN, FUGUE_SIMPLEX_EMPTY, Context{});
  double s = 0.0;
  for (int64_t k = 0; k < d.n_probs; ++k) {
    const double q = d.probs[k];
    if (!(q >= 0.0 && q <= 1.0)) {
      fail(err, code, index, param, q, FUGUE_SIMPLEX_ELEMENT, Context{});
      if (err != nullptr) err->element = true;
      return false;
    }
    s += q;
  }
  if (!(std::fabs(s - 1.0) <= FUGUE_SIMPLEX_TOLERANCE)) {
    fail(err, code, index, param, s, FUGUE_SIMPLEX_TOTAL, Context{});
    if (err != nullptr) {
      RuleWriter w(err->rule, std::strlen(err->rule));
      w.put("; they sum to ");
      w.put_real(s);
    }
    return false;
  }
  return true;
}

// The table's rules for kind K, in order (each `if constexpr` keeps only K's).
template <DistKind K>
inline bool check_params(const Dist& d, ParamError* err) noexcept {
#define FUGUE_CHECK(Name, index, param, code, value, test, rule, ctx)      \
  if constexpr (K == DistKind::Name) {                                     \
    const auto v = value;                                                  \
    if (!test) return fail(err, code, index, param, v, rule, ctx);         \
  }
  FUGUE_PARAM_CHECKS(FUGUE_CHECK)
#undef FUGUE_CHECK
#define FUGUE_CHECK_SIMPLEX(Name, index, param, code)                      \
  if constexpr (K == DistKind::Name) {                                     \
    if (!check_simplex(d, err, code, index, param)) return false;          \
  }
  FUGUE_SIMPLEX_PARAMS(FUGUE_CHECK_SIMPLEX)
#undef FUGUE_CHECK_SIMPLEX
  (void)d;
  (void)err;
  return true;
}

// ------------------------------------------------------------ numeric helpers

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

// A draw as an element of a float64, int64 or bool array (a float is
// truncated toward zero, as a cast would).
inline double as_f64(double x) noexcept { return x; }
inline double as_f64(int64_t v) noexcept { return static_cast<double>(v); }
inline double as_f64(bool b) noexcept { return b ? 1.0 : 0.0; }
inline int64_t as_i64(double x) noexcept { return static_cast<int64_t>(x); }
inline int64_t as_i64(int64_t v) noexcept { return v; }
inline int64_t as_i64(bool b) noexcept { return b ? 1 : 0; }
inline uint8_t as_u8(double x) noexcept { return x != 0.0; }
inline uint8_t as_u8(int64_t v) noexcept { return v != 0; }
inline uint8_t as_u8(bool b) noexcept { return b; }

inline Value to_value(double x) noexcept { return Value::of_float(x); }
inline Value to_value(int64_t v) noexcept { return Value::of_int(v); }
inline Value to_value(bool b) noexcept { return Value::of_bool(b); }

template <ValueKind V> struct DrawType;
template <> struct DrawType<ValueKind::Float> { using type = double; };
template <> struct DrawType<ValueKind::Int> { using type = int64_t; };
template <> struct DrawType<ValueKind::Bool> { using type = bool; };

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

// The constant of lp_gamma_core: shape >= 1: log(rate) - stirlerr(k) - log(2 pi k)/2,
// k = shape - 1; shape < 1: log(shape) - stirlerr(shape) - log(2 pi shape)/2.
inline double gamma_c0(double a, double rate) noexcept {
  if (a >= 1.0) {
    const double k = a - 1.0;
    return k == 0.0 ? std::log(rate)
                    : std::log(rate) - stirlerr(k) - 0.5 * (special::kLog2Pi + std::log(k));
  }
  return std::log(a) - stirlerr(a) - 0.5 * (special::kLog2Pi + std::log(a));
}

}  // namespace

// ------------------------------------------------------------ the distributions

namespace ops {
namespace {

// The defaults, for a distribution K.
template <class K>
struct Base {
  static void init(Dist&) noexcept {}

  // The parameters init reads: bit j stands for Dist::p[j] (kInitReal) or
  // Dist::i[j] (kInitInt). By default, all of them.
  static constexpr unsigned kInitReal = ~0u;
  static constexpr unsigned kInitInt = ~0u;

  // A sampler state kept across the draws of an array (none by default), and
  // one draw with it.
  struct State {};
  static auto draw_in(const Dist& d, bitgen_t* bg, State&) noexcept { return K::draw(d, bg); }

  static double lp_int(const Dist& d, int64_t v) noexcept {
    return K::lp(d, static_cast<double>(v));
  }

  static void fill_lp(const Dist& d, const double* x, double* out, std::size_t n) noexcept {
    for (std::size_t k = 0; k < n; ++k) {
      const double xk = x[k];
      out[k] = std::isnan(xk) ? xk : K::lp(d, xk);
    }
  }

  static void fill_lp_int(const Dist& d, const int64_t* x, double* out, std::size_t n) noexcept {
    for (std::size_t k = 0; k < n; ++k) out[k] = K::lp_int(d, x[k]);
  }

  // (The draws read a local copy of d, which the samplers cannot alias, so
  // that constants derived from the parameters are computed once.)
  static void fill_f64(const Dist& d, bitgen_t* bg, double* out, std::size_t n) noexcept {
    const Dist local = d;
    for (std::size_t k = 0; k < n; ++k) out[k] = as_f64(K::draw(local, bg));
  }

  static void fill_i64(const Dist& d, bitgen_t* bg, int64_t* out, std::size_t n) noexcept {
    const Dist local = d;
    for (std::size_t k = 0; k < n; ++k) out[k] = as_i64(K::draw(local, bg));
  }

  static void fill_bool(const Dist& d, bitgen_t* bg, uint8_t* out, std::size_t n) noexcept {
    const Dist local = d;
    for (std::size_t k = 0; k < n; ++k) out[k] = as_u8(K::draw(local, bg));
  }
};

// ------------------------------------------------------------ Normal
// c0 = -log(sigma) - log(sqrt(2 pi)), c1 = 1/sigma, c2 = 1 when 1/sigma
// overflows (subnormal sigma: divide instead).
struct Normal : Base<Normal> {
  static constexpr unsigned kInitReal = 0b10;  // sigma
  static constexpr unsigned kInitInt = 0;

  static void init(Dist& d) noexcept {
    d.c[0] = -std::log(d.p[1]) - special::kLogSqrt2Pi;
    d.c[1] = 1.0 / d.p[1];
    d.c[2] = std::isfinite(d.c[1]) ? 0.0 : 1.0;
  }

  static double z(const Dist& d, double x) noexcept {
    const double dx = x - d.p[0];
    if (std::isinf(dx) && std::isfinite(x)) return x / d.p[1] - d.p[0] / d.p[1];
    return d.c[2] != 0.0 ? dx / d.p[1] : dx * d.c[1];
  }

  static double lp(const Dist& d, double x) noexcept {
    const double zx = z(d, x);
    return d.c[0] - 0.5 * zx * zx;
  }

  // numpy's random_normal, loc + scale * z (one standard normal fill for n)
  static double draw(const Dist& d, bitgen_t* bg) noexcept {
    return d.p[0] + d.p[1] * standard_normal(bg);
  }

  static void fill_f64(const Dist& d, bitgen_t* bg, double* out, std::size_t n) noexcept {
    standard_normal_fill(bg, n, out);
    const double mu = d.p[0], sigma = d.p[1];
    for (std::size_t k = 0; k < n; ++k) out[k] = mu + sigma * out[k];
  }

  static void fill_lp(const Dist& d, const double* x, double* out, std::size_t n) noexcept {
    if (d.c[2] != 0.0) return Base::fill_lp(d, x, out, n);
    // Branch-free so the compiler vectorises it (NaN propagates by itself);
    // the rare overflow of x - mu is repaired afterwards.
    const double mu = d.p[0], inv = d.c[1], c0 = d.c[0];
    if (inv >= 1e-150) {
      // x - mu can only overflow where the true z^2 overflows too, so the
      // result is -inf either way: a plain loop, vectorised.
      for (std::size_t k = 0; k < n; ++k) {
        const double zk = (x[k] - mu) * inv;
        out[k] = c0 - 0.5 * zk * zk;
      }
      return;
    }
    bool overflow = false;
    for (std::size_t k = 0; k < n; ++k) {
      const double dx = x[k] - mu;
      overflow |= std::fabs(dx) == kInf;
      const double zk = dx * inv;
      out[k] = c0 - 0.5 * zk * zk;
    }
    if (overflow) {
      for (std::size_t k = 0; k < n; ++k) {
        if (std::isfinite(x[k]) && std::isinf(x[k] - mu)) out[k] = lp(d, x[k]);
      }
    }
  }
};

// ------------------------------------------------------------ Uniform
// c0 = -log(high - low)
struct Uniform : Base<Uniform> {
  static void init(Dist& d) noexcept { d.c[0] = -std::log(d.p[1] - d.p[0]); }

  static double lp(const Dist& d, double x) noexcept {
    return (x >= d.p[0] && x < d.p[1]) ? d.c[0] : -kInf;
  }

  static double draw(const Dist& d, bitgen_t* bg) noexcept {
    return random_uniform(bg, d.p[0], d.p[1] - d.p[0]);
  }
};

// ------------------------------------------------------------ LogNormal
// c0 = -log(sigma) - log(sqrt(2 pi))
struct LogNormal : Base<LogNormal> {
  static constexpr unsigned kInitReal = 0b10;  // sigma
  static constexpr unsigned kInitInt = 0;

  static void init(Dist& d) noexcept { d.c[0] = -std::log(d.p[1]) - special::kLogSqrt2Pi; }

  static double lp(const Dist& d, double x) noexcept {
    if (!(x > 0.0)) return -kInf;
    const double lx = std::log(x);
    const double z = standardize(lx, d.p[0], d.p[1]);
    return d.c[0] - lx - 0.5 * z * z;
  }

  // numpy's random_lognormal, exp(mu + sigma * z)
  static double draw(const Dist& d, bitgen_t* bg) noexcept {
    return std::exp(d.p[0] + d.p[1] * standard_normal(bg));
  }

  static void fill_f64(const Dist& d, bitgen_t* bg, double* out, std::size_t n) noexcept {
    standard_normal_fill(bg, n, out);
    const double mu = d.p[0], sigma = d.p[1];
    for (std::size_t k = 0; k < n; ++k) out[k] = std::exp(mu + sigma * out[k]);
  }
};

// ------------------------------------------------------------ Exponential
// c0 = log(rate)
struct Exponential : Base<Exponential> {
  static void init(Dist& d) noexcept { d.c[0] = std::log(d.p[0]); }

  static double lp(const Dist& d, double x) noexcept {
    return x >= 0.0 ? d.c[0] - d.p[0] * x : -kInf;
  }

  static double draw(const Dist& d, bitgen_t* bg) noexcept {
    return random_exponential(bg, 1.0 / d.p[0]);
  }
};

// ------------------------------------------------------------ Beta
// a <= 2 or b <= 2: c0 = -log B(a, b); otherwise (binomial form):
// c0 = log(n + 1) + stirlerr(n) - stirlerr(a - 1) - stirlerr(b - 1)
//      - log(2 pi (a-1)(b-1)/n)/2, n = a + b - 2 as the double-double c1 + c2.
struct Beta : Base<Beta> {
  static void init(Dist& d) noexcept {
    const double a = d.p[0], b = d.p[1];
    if (a <= 2.0 || b <= 2.0) {
      d.c[0] = -special::lbeta(a, b);
      return;
    }
    const double k1 = a - 1.0, k2 = b - 1.0;
    const DD n = special::two_sum(k1, k2);
    // k2/n < 1, so k1 * (k2/n) neither overflows nor underflows.
    d.c[0] = std::log1p(n.hi) + stirlerr(n.hi) - stirlerr(k1) - stirlerr(k2) -
             0.5 * (special::kLog2Pi + std::log(k1 * (k2 / n.hi)));
    d.c[1] = n.hi;
    d.c[2] = n.lo;
  }

  static double lp(const Dist& d, double x) noexcept {
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

  static double draw(const Dist& d, bitgen_t* bg) noexcept {
    return random_beta(bg, d.p[0], d.p[1]);
  }
};

// ------------------------------------------------------------ Gamma
// c0 = gamma_c0(shape, rate)
struct Gamma : Base<Gamma> {
  static void init(Dist& d) noexcept { d.c[0] = gamma_c0(d.p[0], d.p[1]); }

  static double lp(const Dist& d, double x) noexcept {
    return lp_gamma_core(d.p[0], d.p[1], d.c[0], x);
  }

  static double draw(const Dist& d, bitgen_t* bg) noexcept {
    return random_gamma(bg, d.p[0], 1.0 / d.p[1]);
  }
};

// ------------------------------------------------------------ Bernoulli
// No constants: a model builds a Bernoulli per effect and scores one of its
// two outcomes, so the logs are taken when needed (once per array).
struct Bernoulli : Base<Bernoulli> {
  static constexpr unsigned kInitReal = 0;
  static constexpr unsigned kInitInt = 0;

  static double lp(const Dist& d, double x) noexcept {
    return x == 1.0 ? std::log(d.p[0]) : (x == 0.0 ? std::log1p(-d.p[0]) : -kInf);
  }

  static double lp_int(const Dist& d, int64_t v) noexcept {
    return v == 1 ? std::log(d.p[0]) : (v == 0 ? std::log1p(-d.p[0]) : -kInf);
  }

  static bool draw(const Dist& d, bitgen_t* bg) noexcept {
    return random_standard_uniform(bg) < d.p[0];
  }

  static void fill_lp(const Dist& d, const double* x, double* out, std::size_t n) noexcept {
    const double l1 = std::log(d.p[0]), l0 = std::log1p(-d.p[0]);
    for (std::size_t k = 0; k < n; ++k) {
      const double xk = x[k];
      out[k] = std::isnan(xk) ? xk : (xk == 1.0 ? l1 : (xk == 0.0 ? l0 : -kInf));
    }
  }

  static void fill_lp_int(const Dist& d, const int64_t* x, double* out, std::size_t n) noexcept {
    const double l1 = std::log(d.p[0]), l0 = std::log1p(-d.p[0]);
    for (std::size_t k = 0; k < n; ++k) out[k] = x[k] == 1 ? l1 : (x[k] == 0 ? l0 : -kInf);
  }
};

// ------------------------------------------------------------ Binomial
// c0 + c1 = n*p as a double-double
struct Binomial : Base<Binomial> {
  static void init(Dist& d) noexcept {
    const DD np = special::two_prod(static_cast<double>(d.i[0]), d.p[0]);
    d.c[0] = np.hi;
    d.c[1] = np.lo;
  }

  static double lp(const Dist& d, double x) noexcept {
    const double n = static_cast<double>(d.i[0]);
    if (!is_count(x) || x > n) return -kInf;
    const double p = d.p[0];
    return special::log_dbinom_raw(x, n, p, 1.0 - p, DD{d.c[0], d.c[1]});
  }

  static int64_t draw(const Dist& d, bitgen_t* bg) noexcept {
    binomial_t state{};
    return random_binomial(bg, d.p[0], d.i[0], &state);
  }

  // numpy's sampler state (it recomputes its set-up when n or p changes).
  using State = binomial_t;
  static int64_t draw_in(const Dist& d, bitgen_t* bg, State& state) noexcept {
    return random_binomial(bg, d.p[0], d.i[0], &state);
  }

  // One sampler state for the whole array, as Generator.binomial keeps.
  static void fill_i64(const Dist& d, bitgen_t* bg, int64_t* out, std::size_t n) noexcept {
    binomial_t state{};
    for (std::size_t k = 0; k < n; ++k) out[k] = random_binomial(bg, d.p[0], d.i[0], &state);
  }
};

// ------------------------------------------------------------ Categorical
// c0 = index of the last positive probability
struct Categorical : Base<Categorical> {
  static void init(Dist& d) noexcept {
    int64_t last = d.n_probs - 1;
    while (last > 0 && !(d.probs[last] > 0.0)) --last;
    d.c[0] = static_cast<double>(last);
  }

  static double lp(const Dist& d, double x) noexcept {
    if (!is_count(x) || !(x < static_cast<double>(d.n_probs))) return -kInf;
    return std::log(d.probs[static_cast<int64_t>(x)]);
  }

  static double lp_int(const Dist& d, int64_t v) noexcept {
    return (v >= 0 && v < d.n_probs) ? std::log(d.probs[v]) : -kInf;
  }

  // Inverts the cumulative sum at one uniform; the last positive category
  // when the sum falls short of it.
  static int64_t draw(const Dist& d, bitgen_t* bg) noexcept {
    const double u = random_standard_uniform(bg);
    const int64_t last = static_cast<int64_t>(d.c[0]);
    double acc = 0.0;
    for (int64_t k = 0; k < last; ++k) {
      acc += d.probs[k];
      if (u < acc) return k;
    }
    return last;
  }
};

// ------------------------------------------------------------ Poisson
struct Poisson : Base<Poisson> {
  static constexpr unsigned kInitReal = 0;
  static constexpr unsigned kInitInt = 0;

  static double lp(const Dist& d, double x) noexcept {
    if (!is_count(x)) return -kInf;
    const double lam = d.p[0];
    if (x == 0.0) return -lam;
    return -stirlerr(x) - bd0(x, lam, x - lam) - 0.5 * (special::kLog2Pi + std::log(x));
  }

  static int64_t draw(const Dist& d, bitgen_t* bg) noexcept {
    return random_poisson(bg, d.p[0]);
  }
};

// ------------------------------------------------------------ StudentT
// c0 = lgamma((df+1)/2) - lgamma(df/2) - log(df pi)/2 - log(scale), c1 = (df + 1)/2
struct StudentT : Base<StudentT> {
  static constexpr unsigned kInitReal = 0b101;  // df, scale
  static constexpr unsigned kInitInt = 0;

  static void init(Dist& d) noexcept {
    // With a = df/2, Gamma(y) = Gamma(y+1)/y and log Gamma(y+1) = (y+1/2) log y
    // - y + log sqrt(2 pi) + stirlerr(y): lgamma(a + 1/2) - lgamma(a) =
    // -bd0(a, a + 1/2) + log(a)/2 + stirlerr(a + 1/2) - stirlerr(a) (no
    // cancellation for large df), and log(a)/2 - log(df pi)/2 = -log(2 pi)/2.
    const double a = 0.5 * d.p[0];
    d.c[0] = -bd0(a, a + 0.5, -0.5) + stirlerr(a + 0.5) - stirlerr(a) -
             0.5 * special::kLog2Pi - std::log(d.p[2]);
    d.c[1] = 0.5 * (d.p[0] + 1.0);
  }

  static double lp(const Dist& d, double x) noexcept {
    return d.c[0] - d.c[1] * log1p_sq_over(x, d.p[1], d.p[2], d.p[0]);
  }

  static double draw(const Dist& d, bitgen_t* bg) noexcept {
    return d.p[1] + d.p[2] * random_standard_t(bg, d.p[0]);
  }
};

// ------------------------------------------------------------ Cauchy
// c0 = -log(pi) - log(scale)
struct Cauchy : Base<Cauchy> {
  static constexpr unsigned kInitReal = 0b10;  // scale
  static constexpr unsigned kInitInt = 0;

  static void init(Dist& d) noexcept { d.c[0] = -special::kLogPi - std::log(d.p[1]); }

  static double lp(const Dist& d, double x) noexcept {
    return d.c[0] - log1p_sq_over(x, d.p[0], d.p[1], 1.0);
  }

  static double draw(const Dist& d, bitgen_t* bg) noexcept {
    return d.p[0] + d.p[1] * random_standard_cauchy(bg);
  }
};

// ------------------------------------------------------------ Laplace
// c0 = -log(2) - log(scale)
struct Laplace : Base<Laplace> {
  static constexpr unsigned kInitReal = 0b10;  // scale
  static constexpr unsigned kInitInt = 0;

  static void init(Dist& d) noexcept { d.c[0] = -special::kLn2 - std::log(d.p[1]); }

  static double lp(const Dist& d, double x) noexcept {
    return d.c[0] - std::fabs(standardize(x, d.p[0], d.p[1]));
  }

  static double draw(const Dist& d, bitgen_t* bg) noexcept {
    return random_laplace(bg, d.p[0], d.p[1]);
  }
};

// ------------------------------------------------------------ Weibull
// c0 = log(shape) - log(scale), c1 = shape - 1
struct Weibull : Base<Weibull> {
  static void init(Dist& d) noexcept {
    d.c[0] = std::log(d.p[0]) - std::log(d.p[1]);
    d.c[1] = d.p[0] - 1.0;
  }

  static double lp(const Dist& d, double x) noexcept {
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

  static double draw(const Dist& d, bitgen_t* bg) noexcept {
    return d.p[1] * random_weibull(bg, d.p[0]);
  }
};

// ------------------------------------------------------------ ChiSquared
// c0 = gamma_c0(k/2, 1/2)
struct ChiSquared : Base<ChiSquared> {
  static void init(Dist& d) noexcept { d.c[0] = gamma_c0(0.5 * d.p[0], 0.5); }

  static double lp(const Dist& d, double x) noexcept {
    return lp_gamma_core(0.5 * d.p[0], 0.5, d.c[0], x);
  }

  static double draw(const Dist& d, bitgen_t* bg) noexcept {
    return random_chisquare(bg, d.p[0]);
  }
};

// ------------------------------------------------------------ InverseGamma
// c0 = log(shape) - stirlerr(shape) - log(2 pi shape)/2
struct InverseGamma : Base<InverseGamma> {
  static void init(Dist& d) noexcept {
    const double a = d.p[0];
    d.c[0] = std::log(a) - stirlerr(a) - 0.5 * (special::kLog2Pi + std::log(a));
  }

  static double lp(const Dist& d, double x) noexcept {
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

  static double draw(const Dist& d, bitgen_t* bg) noexcept {
    return d.p[1] / random_standard_gamma(bg, d.p[0]);
  }
};

// ------------------------------------------------------------ DiscreteUniform
// c0 = -log(high - low + 1)
struct DiscreteUniform : Base<DiscreteUniform> {
  static void init(Dist& d) noexcept {
    const uint64_t w = static_cast<uint64_t>(d.i[1]) - static_cast<uint64_t>(d.i[0]);
    d.c[0] = -std::log(static_cast<double>(w) + 1.0);
  }

  static double lp(const Dist& d, double x) noexcept {
    if (!(x >= -kTwo63 && x < kTwo63) || x != std::floor(x)) return -kInf;
    return lp_int(d, static_cast<int64_t>(x));
  }

  static double lp_int(const Dist& d, int64_t v) noexcept {
    return (v >= d.i[0] && v <= d.i[1]) ? d.c[0] : -kInf;
  }

  static int64_t draw(const Dist& d, bitgen_t* bg) noexcept {
    uint64_t out = 0;
    const uint64_t off = static_cast<uint64_t>(d.i[0]);
    random_bounded_uint64_fill(bg, off, static_cast<uint64_t>(d.i[1]) - off, 1, false, &out);
    return static_cast<int64_t>(out);
  }

  // A draw with per-particle bounds: Generator.integers with array bounds
  // draws each with random_bounded_uint64 (32-bit draws from the bit
  // generator's buffered halves when the range fits in 32 bits).
  static int64_t draw_in(const Dist& d, bitgen_t* bg, State&) noexcept {
    const uint64_t off = static_cast<uint64_t>(d.i[0]);
    return static_cast<int64_t>(
        random_bounded_uint64(bg, off, static_cast<uint64_t>(d.i[1]) - off, 0, false));
  }

  // One bounded fill for the whole array, as Generator.integers does.
  static void fill_i64(const Dist& d, bitgen_t* bg, int64_t* out, std::size_t n) noexcept {
    const uint64_t off = static_cast<uint64_t>(d.i[0]);
    const uint64_t rng = static_cast<uint64_t>(d.i[1]) - off;
    random_bounded_uint64_fill(bg, off, rng, static_cast<intptr_t>(n), false,
                               reinterpret_cast<uint64_t*>(out));
  }
};

// ------------------------------------------------------------ NegativeBinomial
// c0 + c1 = q = 1 - p as a double-double, c2 = stirlerr(n)
struct NegativeBinomial : Base<NegativeBinomial> {
  static void init(Dist& d) noexcept {
    const DD q = special::two_sum(1.0, -d.p[1]);
    d.c[0] = q.hi;
    d.c[1] = q.lo;
    d.c[2] = stirlerr(d.p[0]);
  }

  // Gamma(x + n) / (Gamma(n) x!) p^n q^x = n/(n + x) * C(n + x, n) p^n q^x:
  // Loader's saddle-point form of the binomial probability of n successes in
  // N = n + x trials. N p, N q and n - N p = n q - x p come from exact sums
  // and products (none from a difference that cancels), so the deviance terms
  // stay accurate for huge counts and for p near 0 or 1.
  static double lp(const Dist& d, double x) noexcept {
    if (!is_count(x)) return -kInf;
    const double n = d.p[0], p = d.p[1];
    const DD q{d.c[0], d.c[1]};
    if (x == 0.0) return n * std::log(p);
    if (p == 1.0) return -kInf;
    const DD trials = special::two_sum(n, x);
    const double trials_p = trials.hi * p + trials.lo * p;
    const double trials_q = trials.hi * q.hi + (trials.hi * q.lo + trials.lo * q.hi);
    const DD nq = special::two_prod(n, q.hi);
    const DD xp = special::two_prod(x, p);
    const double d1 = ((nq.hi - xp.hi) + (nq.lo - xp.lo)) + n * q.lo;  // n - N p
    const double lc = stirlerr(trials.hi) - d.c[2] - stirlerr(x) - bd0(n, trials_p, d1) -
                      bd0(x, trials_q, -d1);                          // x - N q = -(n - N p)
    // log(n / N), without cancellation when x << n
    const double t = x / n;
    const double ln = t < kInf ? -std::log1p(t) : std::log(n) - std::log(trials.hi);
    return 0.5 * ln + lc - 0.5 * (special::kLog2Pi + std::log(x));
  }

  static int64_t draw(const Dist& d, bitgen_t* bg) noexcept {
    return random_negative_binomial(bg, d.p[0], d.p[1]);
  }
};

// ------------------------------------------------------------ Geometric
// c0 = log(p), c1 = log1p(-p)
struct Geometric : Base<Geometric> {
  static void init(Dist& d) noexcept {
    d.c[0] = std::log(d.p[0]);
    d.c[1] = std::log1p(-d.p[0]);
  }

  // (1 - p)^(x - 1) p on x = 1, 2, ...: both terms are accurate and of one
  // sign, so is their sum.
  static double lp(const Dist& d, double x) noexcept {
    if (!(x >= 1.0) || !is_count(x)) return -kInf;
    if (x == 1.0) return d.c[0];  // (not 0 * -inf at p = 1)
    return (x - 1.0) * d.c[1] + d.c[0];
  }

  static int64_t draw(const Dist& d, bitgen_t* bg) noexcept {
    return random_geometric(bg, d.p[0]);
  }
};

}  // namespace
}  // namespace ops

// Each table entry has its section above, drawing the table's value kind.
#define FUGUE_CHECK_OPS(Name, Value)                                                         \
  static_assert(std::is_same_v<decltype(ops::Name::draw(std::declval<const Dist&>(), nullptr)), \
                               DrawType<ValueKind::Value>::type>,                            \
                #Name ": draw returns another type than the table's value kind");
FUGUE_DISTRIBUTIONS(FUGUE_CHECK_OPS)
#undef FUGUE_CHECK_OPS

}  // namespace fugue
