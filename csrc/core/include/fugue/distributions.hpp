#pragma once
// The 17 distributions: parameters, validation, sampling (through numpy's
// BitGenerator C API) and log-densities.
#include <cstddef>
#include <cstdint>

#include "fugue/rng.hpp"
#include "fugue/value.hpp"

namespace fugue {

enum class DistKind : uint8_t {
  Normal = 0,        // p = {mu, sigma}
  Uniform,           // p = {low, high}, support [low, high)
  LogNormal,         // p = {mu, sigma}
  Exponential,       // p = {rate}
  Beta,              // p = {alpha, beta}
  Gamma,             // p = {shape, rate}
  Bernoulli,         // p = {p}                       -> bool
  Binomial,          // i = {n}, p = {p}              -> int
  Categorical,       // probs/n_probs                 -> int in [0, n_probs)
  Poisson,           // p = {rate}                    -> int
  StudentT,          // p = {df, loc, scale}
  Cauchy,            // p = {loc, scale}
  Laplace,           // p = {loc, scale}
  Weibull,           // p = {shape, scale}
  ChiSquared,        // p = {k}
  InverseGamma,      // p = {shape, rate}
  DiscreteUniform,   // i = {low, high} inclusive     -> int
};

constexpr int kNumDistKinds = 17;

// Fugue's error codes for invalid parameters.
enum ParamCode : int {
  kCodeMean = 100,
  kCodeVariance = 101,   // variance / scale / sigma
  kCodeProbability = 102,
  kCodeRange = 103,
  kCodeShape = 104,
  kCodeRate = 105,
  kCodeCount = 106,
};

// A description of why a parameter is invalid.
struct ParamError {
  int code = 0;
  const char* param = nullptr;  // parameter name, e.g. "sigma"
  double value = 0.0;           // offending value (NaN when not a scalar)
  const char* rule = nullptr;   // e.g. "must be finite and > 0"
};

// A distribution: plain data, cheap to copy. Categorical borrows its
// probabilities (the owner keeps them alive).
struct Dist {
  DistKind kind = DistKind::Normal;
  double p[3] = {0.0, 0.0, 0.0};   // real parameters
  int64_t i[2] = {0, 0};           // integer parameters (Binomial n in i[0]; DiscreteUniform low/high)
  const double* probs = nullptr;   // Categorical
  int64_t n_probs = 0;
  double c[3] = {0.0, 0.0, 0.0};   // derived constants filled by init_dist
};

// The kind of value a distribution of this kind produces.
ValueKind value_kind(DistKind kind) noexcept;

// Name of a distribution kind ("Normal", ...).
const char* dist_name(DistKind kind) noexcept;

// Checks the parameters and fills the derived constants. Returns false and
// fills *err when a parameter is invalid. Never throws.
bool init_dist(Dist& d, ParamError* err) noexcept;

// Draws one value. `d` must have passed init_dist. Never throws.
Value sample(const Dist& d, bitgen_t* bg) noexcept;

// Log-density (log-pmf for discrete kinds) at x; -inf outside the support,
// NaN for a NaN x. Never throws.
double log_prob(const Dist& d, double x) noexcept;

// Log-density of a value of any kind (exact for int64 values of
// DiscreteUniform beyond 2^53). Never throws.
double log_prob_value(const Dist& d, const Value& v) noexcept;

// Array versions. Never throw.
void sample_fill_f64(const Dist& d, bitgen_t* bg, double* out, std::size_t n) noexcept;
void sample_fill_i64(const Dist& d, bitgen_t* bg, int64_t* out, std::size_t n) noexcept;
void sample_fill_bool(const Dist& d, bitgen_t* bg, uint8_t* out, std::size_t n) noexcept;
void log_prob_fill(const Dist& d, const double* x, double* out, std::size_t n) noexcept;
void log_prob_fill_i64(const Dist& d, const int64_t* x, double* out, std::size_t n) noexcept;

}  // namespace fugue
