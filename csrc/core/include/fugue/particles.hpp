#pragma once
// Particle execution: a run that executes its model once for n particles.
// Each sample draws one value per particle, particle 0 first, from the run's
// stream (the draws a numpy Generator makes for an array of n values with
// the same parameters, element by element), and adds each value's
// log-probability to that particle's log-prior; each observation and factor
// adds one log-weight per particle. Parameters may differ between particles
// (one array of n values per parameter). A run in score mode takes each
// sample's n values from a base instead of drawing them, and adds their
// log-probabilities the same way (score_particles).
#include <cstddef>
#include <cstdint>

#include "fugue/distributions.hpp"

namespace fugue {

// A distribution's per-particle parameters, n values each; a null pointer
// means the Dist's own (scalar) value for every particle.
struct ParticleParams {
  const double* p[FUGUE_MAX_REAL_PARAMS] = {};  // by slot of Dist::p
  const int64_t* i[FUGUE_MAX_INT_PARAMS] = {};  // by slot of Dist::i
  const double* probs = nullptr;                // n rows of Dist::n_probs probabilities

  // Whether any parameter differs between particles. Never throws.
  bool any() const noexcept;
};

// The per-particle log-weights of a particle run (n values each, owned by
// the binding) and what the binding keeps for it. Run::particles points here
// while the run is the thread's current run.
struct ParticleRun {
  std::size_t n = 0;
  double* log_prior = nullptr;
  double* log_likelihood = nullptr;
  double* log_factors = nullptr;
  bool branched = false;    // the model asked for one value of per-particle values
  void* binding = nullptr;  // the binding's state for this run (never read here)
};

// "No particle": what the checks below return when every particle passes.
constexpr std::size_t kNoParticle = static_cast<std::size_t>(-1);

// Checks each particle's parameters (its own and the Dist's shared ones)
// against the table's rules; returns kNoParticle when all pass, else the
// first failing particle, with *err (when not null) filled as init_dist
// fills it. Never throws.
std::size_t check_particle_params(const Dist& d, const ParticleParams& pp, std::size_t n,
                                  ParamError* err) noexcept;

// Draws one value per particle into `out` (double, int64_t or uint8_t
// elements, as value_kind(d.kind) says) and adds its log-probability under
// the particle's parameters to log_prior[k]. `d` has passed init_dist (with
// particle 0's values in the per-particle slots) and `pp`
// check_particle_params. Never throws.
void sample_particles(const Dist& d, const ParticleParams& pp, bitgen_t* bg, void* out,
                      double* log_prior, std::size_t n) noexcept;

// Scores given values as sample_particles scores its draws: adds the
// log-probability of x[k] (double, int64_t or uint8_t elements, as
// value_kind(d.kind) says) under particle k's parameters to log_prior[k]
// (NaN for a NaN point). Preconditions as sample_particles. Never throws.
void score_particles(const Dist& d, const ParticleParams& pp, const void* x, double* log_prior,
                     std::size_t n) noexcept;

// Adds the log-probability of x[k * stride] (stride 0: one value for all
// particles) under particle k's parameters to acc[k]; a NaN point adds NaN.
// Preconditions as sample_particles. Never throws.
void observe_particles(const Dist& d, const ParticleParams& pp, const double* x,
                       std::size_t stride, double* acc, std::size_t n) noexcept;
// The same for integer points (exact beyond 2^53 where the log-density is).
void observe_particles_i64(const Dist& d, const ParticleParams& pp, const int64_t* x,
                           std::size_t stride, double* acc, std::size_t n) noexcept;

// The first k with x[k] NaN or infinite (-inf allowed when allow_neg_inf),
// or kNoParticle. Never throws.
std::size_t first_non_finite(const double* x, std::size_t n, bool allow_neg_inf) noexcept;

// acc[k] += x[k] (stride 1) or x[0] (stride 0: one value for all). Never throws.
void add_particles(double* acc, const double* x, std::size_t stride, std::size_t n) noexcept;

}  // namespace fugue
