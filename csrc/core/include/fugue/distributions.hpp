#pragma once
// The distributions: parameters, validation, sampling (through numpy's
// BitGenerator C API) and log-densities.
//
// Which distributions exist, their parameters and the rules on them, and the
// kind of value each produces are declared once, in the distribution table
// (python/fugue_ppl/core/_distribution_table.py), which the build renders
// into the X-macro lists of fugue/distribution_table.hpp. The numerics of each
// distribution are in src/distribution_ops.hpp.
#include <cstddef>
#include <cstdint>

#include "fugue/distribution_table.hpp"
#include "fugue/rng.hpp"
#include "fugue/value.hpp"

namespace fugue {

// One per distribution, in the table's order (Normal = 0, Uniform, ...).
enum class DistKind : uint8_t {
#define FUGUE_DIST_KIND(Name, Value) Name,
  FUGUE_DISTRIBUTIONS(FUGUE_DIST_KIND)
#undef FUGUE_DIST_KIND
};

constexpr int kNumDistKinds = FUGUE_NUM_DISTRIBUTIONS;

// Room for a rule with its context, e.g. "must be > low (low=2.0)".
constexpr std::size_t kParamRuleSize = 128;

// Why a parameter is invalid, as init_dist reports it (filled only when it
// returns false).
struct ParamError {
  int code;                   // Fugue's code (ParamCode)
  int index;                  // the parameter's position in the constructor
  const char* param;          // its name, e.g. "sigma"
  double value;               // the offending value (see `element`)
  bool element;               // value is one element of an array parameter, not the parameter
  char rule[kParamRuleSize];  // what it must satisfy, with any context, NUL-terminated
};

// A distribution: plain data, cheap to copy. Categorical borrows its
// probabilities (the owner keeps them alive).
struct Dist {
  DistKind kind = DistKind::Normal;
  double p[FUGUE_MAX_REAL_PARAMS] = {};  // real parameters, in constructor order
  int64_t i[FUGUE_MAX_INT_PARAMS] = {};  // integer parameters, in constructor order
  const double* probs = nullptr;         // a probabilities parameter (Categorical)
  int64_t n_probs = 0;
  double c[3] = {0.0, 0.0, 0.0};         // derived constants filled by init_dist
};

// The kind of value a distribution of this kind produces.
ValueKind value_kind(DistKind kind) noexcept;

// Name of a distribution kind ("Normal", ...).
const char* dist_name(DistKind kind) noexcept;

// Checks the parameters against the table's rules and fills the derived
// constants. Returns false and fills *err (when not null) at the first
// broken rule. Never throws.
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
