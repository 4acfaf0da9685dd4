// The distributions' particle functions: per-particle parameter checks,
// draws and log-densities over n particles, with the numerics of
// distribution_ops.hpp. Each public function switches once on the kind and
// runs its loop inside the kind's template.
//
// Without per-particle parameters, the draws are the kind's array fill (the
// draws of numpy's Generator for size=n) and the log-probabilities its
// array log-density, in blocks. With them, one loop loads each particle's
// parameters into a local Dist, re-derives its constants only when a
// parameter they depend on differs between particles, and draws or scores
// (numpy's draws for array parameters, element by element).
#include "fugue/particles.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "distribution_ops.hpp"

namespace fugue {
namespace {

// Scratch of the block loops (on the stack).
constexpr std::size_t kBlock = 256;

// The per-particle parameters of one call, compacted: the slots that vary.
struct Loader {
  int n_real = 0;
  int n_int = 0;
  int real_slot[FUGUE_MAX_REAL_PARAMS] = {};
  int int_slot[FUGUE_MAX_INT_PARAMS] = {};
  const double* real[FUGUE_MAX_REAL_PARAMS] = {};
  const int64_t* ints[FUGUE_MAX_INT_PARAMS] = {};
  const double* probs = nullptr;
  int64_t probs_stride = 0;
  bool reinit = false;  // init reads a varying parameter

  // Particle k's parameters into d.
  void load(Dist& d, std::size_t k) const noexcept {
    for (int j = 0; j < n_real; ++j) d.p[real_slot[j]] = real[j][k];
    for (int j = 0; j < n_int; ++j) d.i[int_slot[j]] = ints[j][k];
    if (probs != nullptr) d.probs = probs + static_cast<std::ptrdiff_t>(k) * probs_stride;
  }
};

template <class K>
Loader make_loader(const Dist& d, const ParticleParams& pp) noexcept {
  Loader l;
  for (int j = 0; j < FUGUE_MAX_REAL_PARAMS; ++j) {
    if (pp.p[j] == nullptr) continue;
    l.real_slot[l.n_real] = j;
    l.real[l.n_real++] = pp.p[j];
    l.reinit |= ((K::kInitReal >> j) & 1u) != 0;
  }
  for (int j = 0; j < FUGUE_MAX_INT_PARAMS; ++j) {
    if (pp.i[j] == nullptr) continue;
    l.int_slot[l.n_int] = j;
    l.ints[l.n_int++] = pp.i[j];
    l.reinit |= ((K::kInitInt >> j) & 1u) != 0;
  }
  if (pp.probs != nullptr) {
    l.probs = pp.probs;
    l.probs_stride = d.n_probs;
    l.reinit = true;
  }
  return l;
}

// The log-probability of a drawn value (as Run::on_sample scores it).
template <class K>
inline double lp_of(const Dist& d, double x) noexcept { return std::isnan(x) ? x : K::lp(d, x); }
template <class K>
inline double lp_of(const Dist& d, int64_t v) noexcept { return K::lp_int(d, v); }
template <class K>
inline double lp_of(const Dist& d, bool b) noexcept { return K::lp(d, b ? 1.0 : 0.0); }
template <class K>
inline double lp_of(const Dist& d, uint8_t b) noexcept { return lp_of<K>(d, b != 0); }

// A draw as its array element.
inline void put(double* out, std::size_t k, double v) noexcept { out[k] = v; }
inline void put(int64_t* out, std::size_t k, int64_t v) noexcept { out[k] = v; }
inline void put(uint8_t* out, std::size_t k, bool v) noexcept { out[k] = v ? 1 : 0; }

template <ValueKind V> struct Element;
template <> struct Element<ValueKind::Float> { using type = double; };
template <> struct Element<ValueKind::Int> { using type = int64_t; };
template <> struct Element<ValueKind::Bool> { using type = uint8_t; };

// acc[k] += lp(x[k]) with the kind's array log-density, in blocks.
template <class K>
void accumulate_lp(const Dist& d, const double* x, double* acc, std::size_t n) noexcept {
  double buf[kBlock];
  for (std::size_t s = 0; s < n; s += kBlock) {
    const std::size_t m = std::min(kBlock, n - s);
    K::fill_lp(d, x + s, buf, m);
    for (std::size_t k = 0; k < m; ++k) acc[s + k] += buf[k];
  }
}

template <class K>
void accumulate_lp(const Dist& d, const int64_t* x, double* acc, std::size_t n) noexcept {
  double buf[kBlock];
  for (std::size_t s = 0; s < n; s += kBlock) {
    const std::size_t m = std::min(kBlock, n - s);
    K::fill_lp_int(d, x + s, buf, m);
    for (std::size_t k = 0; k < m; ++k) acc[s + k] += buf[k];
  }
}

template <class K>
void accumulate_lp(const Dist& d, const uint8_t* x, double* acc, std::size_t n) noexcept {
  const double l1 = lp_of<K>(d, true), l0 = lp_of<K>(d, false);
  for (std::size_t k = 0; k < n; ++k) acc[k] += x[k] != 0 ? l1 : l0;
}

// The kind's array fill (numpy's draws for size=n).
template <class K>
inline void fill(const Dist& d, bitgen_t* bg, double* out, std::size_t n) noexcept {
  K::fill_f64(d, bg, out, n);
}
template <class K>
inline void fill(const Dist& d, bitgen_t* bg, int64_t* out, std::size_t n) noexcept {
  K::fill_i64(d, bg, out, n);
}
template <class K>
inline void fill(const Dist& d, bitgen_t* bg, uint8_t* out, std::size_t n) noexcept {
  K::fill_bool(d, bg, out, n);
}

// Normal with a per-particle mean and a shared sigma (a hierarchical model's
// sites): numpy's normal draw is mu + sigma * z for its standard normal z,
// so blocks of standard normals are drawn (numpy's sampler) and shifted, and
// the log-densities are Normal::fill_lp's vectorised form (equal to
// Normal::lp when 1/sigma is finite and not tiny, as checked here).
inline bool normal_mean_only(const Dist& d, const Loader& l) noexcept {
  return l.n_real == 1 && l.real_slot[0] == 0 && l.n_int == 0 && l.probs == nullptr &&
         d.c[2] == 0.0 && d.c[1] >= 1e-150;
}

void sample_normal_mean(const Dist& d, const double* mu, bitgen_t* bg, double* out,
                        double* acc, std::size_t n) noexcept {
  const double sigma = d.p[1], inv = d.c[1], c0 = d.c[0];
  for (std::size_t s = 0; s < n; s += kBlock) {
    const std::size_t m = std::min(kBlock, n - s);
    double* o = out + s;
    const double* mk = mu + s;
    double* a = acc + s;
    standard_normal_fill(bg, m, o);
    for (std::size_t k = 0; k < m; ++k) {
      const double x = mk[k] + sigma * o[k];
      const double z = (x - mk[k]) * inv;
      o[k] = x;
      a[k] += c0 - 0.5 * z * z;
    }
  }
}

void observe_normal_mean(const Dist& d, const double* mu, const double* x, std::size_t stride,
                         double* acc, std::size_t n) noexcept {
  const double inv = d.c[1], c0 = d.c[0];
  if (stride == 0) {
    const double x0 = x[0];
    for (std::size_t k = 0; k < n; ++k) {
      const double z = (x0 - mu[k]) * inv;
      acc[k] += c0 - 0.5 * z * z;
    }
    return;
  }
  for (std::size_t k = 0; k < n; ++k) {
    const double z = (x[k] - mu[k]) * inv;
    acc[k] += c0 - 0.5 * z * z;
  }
}

template <class K, ValueKind V>
void sample_kind(const Dist& d, const ParticleParams& pp, bitgen_t* bg, void* out_,
                 double* log_prior, std::size_t n) noexcept {
  using T = typename Element<V>::type;
  T* out = static_cast<T*>(out_);
  if (!pp.any()) {
    fill<K>(d, bg, out, n);
    accumulate_lp<K>(d, out, log_prior, n);
    return;
  }
  const Loader l = make_loader<K>(d, pp);
  if constexpr (std::is_same_v<K, ops::Normal>) {
    if (normal_mean_only(d, l)) return sample_normal_mean(d, l.real[0], bg, out, log_prior, n);
  }
  Dist local = d;
  typename K::State state{};
  for (std::size_t k = 0; k < n; ++k) {
    l.load(local, k);
    if (l.reinit) K::init(local);
    const auto v = K::draw_in(local, bg, state);
    put(out, k, v);
    log_prior[k] += lp_of<K>(local, v);
  }
}

template <class K, class X>
void observe_kind(const Dist& d, const ParticleParams& pp, const X* x, std::size_t stride,
                  double* acc, std::size_t n) noexcept {
  if (!pp.any()) {
    if (stride == 0) {
      const double lp = lp_of<K>(d, x[0]);
      for (std::size_t k = 0; k < n; ++k) acc[k] += lp;
    } else {
      accumulate_lp<K>(d, x, acc, n);
    }
    return;
  }
  const Loader l = make_loader<K>(d, pp);
  if constexpr (std::is_same_v<K, ops::Normal> && std::is_same_v<X, double>) {
    if (normal_mean_only(d, l)) return observe_normal_mean(d, l.real[0], x, stride, acc, n);
  }
  Dist local = d;
  for (std::size_t k = 0; k < n; ++k) {
    l.load(local, k);
    if (l.reinit) K::init(local);
    acc[k] += lp_of<K>(local, x[k * stride]);
  }
}

// A sample's given values (the score mode): scored as observe_kind scores
// points, into the log-prior.
template <class K, ValueKind V>
void score_kind(const Dist& d, const ParticleParams& pp, const void* x, double* log_prior,
                std::size_t n) noexcept {
  using T = typename Element<V>::type;
  observe_kind<K>(d, pp, static_cast<const T*>(x), 1, log_prior, n);
}

// Whether every particle passes when only Dist::p[J] varies (the common
// case: one sampled value as a parameter), without reporting which fails:
// the table's tests on every particle, branch-free, the slot a constant.
template <DistKind DK, int J>
bool all_pass_real(const Dist& d, const double* x, std::size_t n) noexcept {
  if constexpr (J < FUGUE_MAX_REAL_PARAMS) {
    Dist local = d;
    unsigned bad = 0;
    for (std::size_t k = 0; k < n; ++k) {
      local.p[J] = x[k];
      unsigned ok = 1;
#define FUGUE_ALL_PASS(Name, index, param, code, value, test, rule, ctx) \
      if constexpr (DK == DistKind::Name) {                              \
        const auto v = value;                                            \
        ok &= static_cast<unsigned>(static_cast<bool>(test));            \
      }
      {
        const Dist& d = local;  // (the table's tests read `d`)
        FUGUE_PARAM_CHECKS(FUGUE_ALL_PASS)
        (void)d;
      }
#undef FUGUE_ALL_PASS
      bad |= ok ^ 1u;
    }
    return bad == 0;
  } else {
    (void)d; (void)x; (void)n;
    return false;
  }
}

// Whether all n values are finite: an integer test that the compiler
// vectorises (a double is NaN or infinite exactly when its exponent bits are
// all ones, and only then does adding one to the exponent carry into the
// sign bit).
bool all_finite(const double* x, std::size_t n) noexcept {
  constexpr uint64_t kExp = 0x7FF0000000000000ull, kExpOne = 0x0010000000000000ull;
  uint64_t acc = 0;
  for (std::size_t k = 0; k < n; ++k) {
    uint64_t b;
    std::memcpy(&b, x + k, sizeof b);
    acc |= (b & kExp) + kExpOne;
  }
  return (acc >> 63) == 0;
}

template <DistKind DK, class K>
std::size_t check_kind(const Dist& d, const ParticleParams& pp, std::size_t n,
                       ParamError* err) noexcept {
  const Loader l = make_loader<K>(d, pp);
  if constexpr (DK == DistKind::Normal || DK == DistKind::LogNormal) {
    // Only mu varies (a sampled value as the mean: a hierarchical model's
    // sites). Its test is finiteness alone and sigma's does not read it, so
    // particle 0's check and the finiteness of every mu decide them all.
    if (l.n_real == 1 && l.real_slot[0] == 0 && l.n_int == 0 && l.probs == nullptr &&
        n > 0 && all_finite(l.real[0], n)) {
      Dist first = d;
      l.load(first, 0);
      if (check_params<DK>(first, nullptr)) return kNoParticle;
    }
  }
  if (l.n_real == 1 && l.n_int == 0 && l.probs == nullptr) {
    bool ok = false;
    switch (l.real_slot[0]) {
      case 0: ok = all_pass_real<DK, 0>(d, l.real[0], n); break;
      case 1: ok = all_pass_real<DK, 1>(d, l.real[0], n); break;
      case 2: ok = all_pass_real<DK, 2>(d, l.real[0], n); break;
      default: break;
    }
    if (ok) return kNoParticle;
  }
  Dist local = d;
  for (std::size_t k = 0; k < n; ++k) {
    l.load(local, k);
    if (!check_params<DK>(local, err)) return k;
  }
  return kNoParticle;
}

}  // namespace

bool ParticleParams::any() const noexcept {
  for (const double* q : p) {
    if (q != nullptr) return true;
  }
  for (const int64_t* q : i) {
    if (q != nullptr) return true;
  }
  return probs != nullptr;
}

std::size_t check_particle_params(const Dist& d, const ParticleParams& pp, std::size_t n,
                                  ParamError* err) noexcept {
  switch (d.kind) {
#define FUGUE_CHECK_PARTICLES(Name, Value) \
    case DistKind::Name: return check_kind<DistKind::Name, ops::Name>(d, pp, n, err);
    FUGUE_DISTRIBUTIONS(FUGUE_CHECK_PARTICLES)
#undef FUGUE_CHECK_PARTICLES
  }
  fail(err, kCodeShape, -1, "kind", kNaN, "is not a known distribution", Context{});
  return 0;
}

void sample_particles(const Dist& d, const ParticleParams& pp, bitgen_t* bg, void* out,
                      double* log_prior, std::size_t n) noexcept {
  switch (d.kind) {
#define FUGUE_SAMPLE_PARTICLES(Name, Value) \
    case DistKind::Name: \
      return sample_kind<ops::Name, ValueKind::Value>(d, pp, bg, out, log_prior, n);
    FUGUE_DISTRIBUTIONS(FUGUE_SAMPLE_PARTICLES)
#undef FUGUE_SAMPLE_PARTICLES
  }
}

void score_particles(const Dist& d, const ParticleParams& pp, const void* x, double* log_prior,
                     std::size_t n) noexcept {
  switch (d.kind) {
#define FUGUE_SCORE_PARTICLES(Name, Value) \
    case DistKind::Name: return score_kind<ops::Name, ValueKind::Value>(d, pp, x, log_prior, n);
    FUGUE_DISTRIBUTIONS(FUGUE_SCORE_PARTICLES)
#undef FUGUE_SCORE_PARTICLES
  }
}

void observe_particles(const Dist& d, const ParticleParams& pp, const double* x,
                       std::size_t stride, double* acc, std::size_t n) noexcept {
  switch (d.kind) {
#define FUGUE_OBSERVE_PARTICLES(Name, Value) \
    case DistKind::Name: return observe_kind<ops::Name>(d, pp, x, stride, acc, n);
    FUGUE_DISTRIBUTIONS(FUGUE_OBSERVE_PARTICLES)
#undef FUGUE_OBSERVE_PARTICLES
  }
}

void observe_particles_i64(const Dist& d, const ParticleParams& pp, const int64_t* x,
                           std::size_t stride, double* acc, std::size_t n) noexcept {
  switch (d.kind) {
#define FUGUE_OBSERVE_PARTICLES(Name, Value) \
    case DistKind::Name: return observe_kind<ops::Name>(d, pp, x, stride, acc, n);
    FUGUE_DISTRIBUTIONS(FUGUE_OBSERVE_PARTICLES)
#undef FUGUE_OBSERVE_PARTICLES
  }
}

std::size_t first_non_finite(const double* x, std::size_t n, bool allow_neg_inf) noexcept {
  // Blocks of a branch-free test (vectorised), then the first offender in the block.
  for (std::size_t s = 0; s < n; s += kBlock) {
    const std::size_t m = std::min(kBlock, n - s);
    bool bad = false;
    for (std::size_t k = 0; k < m; ++k) {
      const double v = x[s + k];
      bad |= !(std::fabs(v) < kInf) & !(allow_neg_inf & (v == -kInf));
    }
    if (!bad) continue;
    for (std::size_t k = 0; k < m; ++k) {
      const double v = x[s + k];
      if (!(std::fabs(v) < kInf) && !(allow_neg_inf && v == -kInf)) return s + k;
    }
  }
  return kNoParticle;
}

void add_particles(double* acc, const double* x, std::size_t stride, std::size_t n) noexcept {
  if (stride == 0) {
    const double v = x[0];
    for (std::size_t k = 0; k < n; ++k) acc[k] += v;
    return;
  }
  for (std::size_t k = 0; k < n; ++k) acc[k] += x[k];
}

}  // namespace fugue
