// The distributions' public functions: construction checks, scalar and array
// sampling and log-densities. The numerics of each distribution are in
// distribution_ops.hpp (shared with the particle functions, particles.cpp).
//
// The public functions switch once on the kind (the switches are generated
// from the table's X-macro list) and call the inline functions of
// distribution_ops.hpp; the array loops run inside the per-kind functions.
#include "fugue/distributions.hpp"

#include "distribution_ops.hpp"

namespace fugue {

// ------------------------------------------------------------ public API

ValueKind value_kind(DistKind kind) noexcept {
  static constexpr ValueKind kinds[kNumDistKinds] = {
#define FUGUE_VALUE_KIND(Name, Value) ValueKind::Value,
      FUGUE_DISTRIBUTIONS(FUGUE_VALUE_KIND)
#undef FUGUE_VALUE_KIND
  };
  const int k = static_cast<int>(kind);
  return (k >= 0 && k < kNumDistKinds) ? kinds[k] : ValueKind::Float;
}

const char* dist_name(DistKind kind) noexcept {
  static const char* const names[kNumDistKinds] = {
#define FUGUE_NAME(Name, Value) #Name,
      FUGUE_DISTRIBUTIONS(FUGUE_NAME)
#undef FUGUE_NAME
  };
  const int k = static_cast<int>(kind);
  return (k >= 0 && k < kNumDistKinds) ? names[k] : "Unknown";
}

bool init_dist(Dist& d, ParamError* err) noexcept {
  d.c[0] = d.c[1] = d.c[2] = 0.0;
  switch (d.kind) {
#define FUGUE_INIT(Name, Value)                                     \
    case DistKind::Name:                                            \
      if (!check_params<DistKind::Name>(d, err)) return false;      \
      ops::Name::init(d);                                           \
      return true;
    FUGUE_DISTRIBUTIONS(FUGUE_INIT)
#undef FUGUE_INIT
  }
  return fail(err, kCodeShape, -1, "kind", kNaN, "is not a known distribution", Context{});
}

Value sample(const Dist& d, bitgen_t* bg) noexcept {
  switch (d.kind) {
#define FUGUE_SAMPLE(Name, Value) \
    case DistKind::Name: return to_value(ops::Name::draw(d, bg));
    FUGUE_DISTRIBUTIONS(FUGUE_SAMPLE)
#undef FUGUE_SAMPLE
  }
  return Value::of_float(kNaN);
}

double log_prob(const Dist& d, double x) noexcept {
  if (std::isnan(x)) return x;
  switch (d.kind) {
#define FUGUE_LOG_PROB(Name, Value) \
    case DistKind::Name: return ops::Name::lp(d, x);
    FUGUE_DISTRIBUTIONS(FUGUE_LOG_PROB)
#undef FUGUE_LOG_PROB
  }
  return kNaN;
}

double log_prob_value(const Dist& d, const Value& v) noexcept {
  switch (v.kind) {
    case ValueKind::Float: return log_prob(d, v.f);
    case ValueKind::Bool: return log_prob(d, v.b ? 1.0 : 0.0);
    case ValueKind::Int:
      switch (d.kind) {
#define FUGUE_LOG_PROB_INT(Name, Value) \
        case DistKind::Name: return ops::Name::lp_int(d, v.i);
        FUGUE_DISTRIBUTIONS(FUGUE_LOG_PROB_INT)
#undef FUGUE_LOG_PROB_INT
      }
  }
  return kNaN;
}

// The array functions: one switch, the loop inside the kind's function.
void sample_fill_f64(const Dist& d, bitgen_t* bg, double* out, std::size_t n) noexcept {
  switch (d.kind) {
#define FUGUE_FILL(Name, Value) \
    case DistKind::Name: return ops::Name::fill_f64(d, bg, out, n);
    FUGUE_DISTRIBUTIONS(FUGUE_FILL)
#undef FUGUE_FILL
  }
  for (std::size_t k = 0; k < n; ++k) out[k] = kNaN;
}

void sample_fill_i64(const Dist& d, bitgen_t* bg, int64_t* out, std::size_t n) noexcept {
  switch (d.kind) {
#define FUGUE_FILL(Name, Value) \
    case DistKind::Name: return ops::Name::fill_i64(d, bg, out, n);
    FUGUE_DISTRIBUTIONS(FUGUE_FILL)
#undef FUGUE_FILL
  }
  for (std::size_t k = 0; k < n; ++k) out[k] = 0;
}

void sample_fill_bool(const Dist& d, bitgen_t* bg, uint8_t* out, std::size_t n) noexcept {
  switch (d.kind) {
#define FUGUE_FILL(Name, Value) \
    case DistKind::Name: return ops::Name::fill_bool(d, bg, out, n);
    FUGUE_DISTRIBUTIONS(FUGUE_FILL)
#undef FUGUE_FILL
  }
  for (std::size_t k = 0; k < n; ++k) out[k] = 0;
}

void log_prob_fill(const Dist& d, const double* x, double* out, std::size_t n) noexcept {
  switch (d.kind) {
#define FUGUE_FILL(Name, Value) \
    case DistKind::Name: return ops::Name::fill_lp(d, x, out, n);
    FUGUE_DISTRIBUTIONS(FUGUE_FILL)
#undef FUGUE_FILL
  }
  for (std::size_t k = 0; k < n; ++k) out[k] = kNaN;
}

void log_prob_fill_i64(const Dist& d, const int64_t* x, double* out, std::size_t n) noexcept {
  switch (d.kind) {
#define FUGUE_FILL(Name, Value) \
    case DistKind::Name: return ops::Name::fill_lp_int(d, x, out, n);
    FUGUE_DISTRIBUTIONS(FUGUE_FILL)
#undef FUGUE_FILL
  }
  for (std::size_t k = 0; k < n; ++k) out[k] = kNaN;
}

}  // namespace fugue
