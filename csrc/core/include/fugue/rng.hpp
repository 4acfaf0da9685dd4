#pragma once
// numpy's BitGenerator C interface (bitgen_t) and the samplers of numpy's
// static library libnpyrandom.a, declared here so the core needs no Python
// header. Signatures match numpy/random/distributions.h (non-legacy build,
// RAND_INT_TYPE = int64_t).
#include <cstdint>
#include <cstddef>
#include "numpy/random/bitgen.h"

extern "C" {

typedef struct s_binomial_t {
  int has_binomial;
  double psave;
  int64_t nsave;
  double r;
  double q;
  double fm;
  int64_t m;
  double p1;
  double xm;
  double xl;
  double xr;
  double c;
  double laml;
  double lamr;
  double p2;
  double p3;
  double p4;
} binomial_t;

double random_standard_uniform(bitgen_t* bitgen_state);
double random_standard_exponential(bitgen_t* bitgen_state);
double random_standard_normal(bitgen_t* bitgen_state);
double random_standard_gamma(bitgen_t* bitgen_state, double shape);
double random_normal(bitgen_t* bitgen_state, double loc, double scale);
double random_uniform(bitgen_t* bitgen_state, double lower, double range);
double random_lognormal(bitgen_t* bitgen_state, double mean, double sigma);
double random_exponential(bitgen_t* bitgen_state, double scale);
double random_beta(bitgen_t* bitgen_state, double a, double b);
double random_gamma(bitgen_t* bitgen_state, double shape, double scale);
double random_chisquare(bitgen_t* bitgen_state, double df);
double random_standard_cauchy(bitgen_t* bitgen_state);
double random_standard_t(bitgen_t* bitgen_state, double df);
double random_laplace(bitgen_t* bitgen_state, double loc, double scale);
double random_weibull(bitgen_t* bitgen_state, double a);
int64_t random_poisson(bitgen_t* bitgen_state, double lam);
int64_t random_binomial(bitgen_t* bitgen_state, double p, int64_t n, binomial_t* binomial);
int64_t random_negative_binomial(bitgen_t* bitgen_state, double n, double p);
int64_t random_geometric(bitgen_t* bitgen_state, double p);
uint64_t random_bounded_uint64(bitgen_t* bitgen_state, uint64_t off, uint64_t rng,
                               uint64_t mask, bool use_masked);
void random_bounded_uint64_fill(bitgen_t* bitgen_state, uint64_t off, uint64_t rng,
                                intptr_t cnt, bool use_masked, uint64_t* out);
void random_standard_normal_fill(bitgen_t* bitgen_state, intptr_t cnt, double* out);
void random_standard_uniform_fill(bitgen_t* bitgen_state, intptr_t cnt, double* out);
}
