// PROVISIONAL: Normal / Bernoulli / Categorical only; to be completed.
#include "fugue/distributions.hpp"

#include <cmath>
#include <limits>

namespace fugue {
namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kLogSqrt2Pi = 0.91893853320467274178032973640562;
}  // namespace

ValueKind value_kind(DistKind kind) noexcept {
  switch (kind) {
    case DistKind::Bernoulli: return ValueKind::Bool;
    case DistKind::Binomial: case DistKind::Categorical: case DistKind::Poisson:
    case DistKind::DiscreteUniform: return ValueKind::Int;
    default: return ValueKind::Float;
  }
}

const char* dist_name(DistKind kind) noexcept {
  static const char* names[kNumDistKinds] = {
      "Normal", "Uniform", "LogNormal", "Exponential", "Beta", "Gamma", "Bernoulli",
      "Binomial", "Categorical", "Poisson", "StudentT", "Cauchy", "Laplace", "Weibull",
      "ChiSquared", "InverseGamma", "DiscreteUniform"};
  return names[static_cast<int>(kind)];
}

bool init_dist(Dist& d, ParamError* err) noexcept {
  switch (d.kind) {
    case DistKind::Normal:
      if (!std::isfinite(d.p[0])) { *err = {kCodeMean, "mu", d.p[0], "must be finite"}; return false; }
      if (!(std::isfinite(d.p[1]) && d.p[1] > 0)) { *err = {kCodeVariance, "sigma", d.p[1], "must be finite and > 0"}; return false; }
      d.c[0] = -std::log(d.p[1]) - kLogSqrt2Pi;
      d.c[1] = 1.0 / d.p[1];
      return true;
    case DistKind::Bernoulli:
      if (!(d.p[0] >= 0.0 && d.p[0] <= 1.0)) { *err = {kCodeProbability, "p", d.p[0], "must be in [0, 1]"}; return false; }
      d.c[0] = std::log(d.p[0]); d.c[1] = std::log1p(-d.p[0]);
      return true;
    case DistKind::Categorical: {
      if (d.n_probs <= 0) { *err = {kCodeProbability, "probs", 0.0, "must not be empty"}; return false; }
      double s = 0;
      for (int64_t k = 0; k < d.n_probs; ++k) {
        if (!(d.probs[k] >= 0.0 && d.probs[k] <= 1.0)) { *err = {kCodeProbability, "probs", d.probs[k], "must hold probabilities in [0, 1]"}; return false; }
        s += d.probs[k];
      }
      if (std::fabs(s - 1.0) > 1e-6) { *err = {kCodeProbability, "probs", s, "must sum to 1 (within 1e-6)"}; return false; }
      return true;
    }
    default:
      *err = {kCodeShape, "kind", 0.0, "is not implemented yet"};
      return false;
  }
}

Value sample(const Dist& d, bitgen_t* bg) noexcept {
  switch (d.kind) {
    case DistKind::Normal: return Value::of_float(random_normal(bg, d.p[0], d.p[1]));
    case DistKind::Bernoulli: return Value::of_bool(random_standard_uniform(bg) < d.p[0]);
    case DistKind::Categorical: {
      double u = random_standard_uniform(bg), acc = 0.0;
      for (int64_t k = 0; k < d.n_probs - 1; ++k) { acc += d.probs[k]; if (u < acc) return Value::of_int(k); }
      return Value::of_int(d.n_probs - 1);
    }
    default: return Value::of_float(std::numeric_limits<double>::quiet_NaN());
  }
}

double log_prob(const Dist& d, double x) noexcept {
  if (std::isnan(x)) return x;
  switch (d.kind) {
    case DistKind::Normal: { double z = (x - d.p[0]) * d.c[1]; return d.c[0] - 0.5 * z * z; }
    case DistKind::Bernoulli: return x == 1.0 ? d.c[0] : (x == 0.0 ? d.c[1] : kNegInf);
    case DistKind::Categorical: {
      if (!(x >= 0 && x < static_cast<double>(d.n_probs)) || x != std::floor(x)) return kNegInf;
      return std::log(d.probs[static_cast<int64_t>(x)]);
    }
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

double log_prob_value(const Dist& d, const Value& v) noexcept { return log_prob(d, v.as_double()); }

void sample_fill_f64(const Dist& d, bitgen_t* bg, double* out, std::size_t n) noexcept {
  for (std::size_t k = 0; k < n; ++k) out[k] = sample(d, bg).as_double();
}
void sample_fill_i64(const Dist& d, bitgen_t* bg, int64_t* out, std::size_t n) noexcept {
  for (std::size_t k = 0; k < n; ++k) out[k] = sample(d, bg).i;
}
void sample_fill_bool(const Dist& d, bitgen_t* bg, uint8_t* out, std::size_t n) noexcept {
  for (std::size_t k = 0; k < n; ++k) out[k] = sample(d, bg).b;
}
void log_prob_fill(const Dist& d, const double* x, double* out, std::size_t n) noexcept {
  for (std::size_t k = 0; k < n; ++k) out[k] = log_prob(d, x[k]);
}
void log_prob_fill_i64(const Dist& d, const int64_t* x, double* out, std::size_t n) noexcept {
  for (std::size_t k = 0; k < n; ++k) out[k] = log_prob_value(d, Value::of_int(x[k]));
}

}  // namespace fugue
