"""Particle runs (fp.run_particles) and particle sets (fp.Particles).

- draws: bit-for-bit the numpy reference that draws each site's n values in
  order from the run's stream (numpy.random.default_rng([seed, key])), for
  every distribution of the table, with shared and per-particle parameters;
- log-weights: scipy's logpdf / logpmf of the drawn and observed values;
- the same model as n separate runs: equal values and log-weights where the
  stream contract makes them equal (one site drawn from one Generator; n = 1
  with the same key; the per-particle fall-back), else agreement by
  two-sample Kolmogorov-Smirnov and chi-square tests at fixed seeds;
- weighted statistics against closed forms, resampling's unbiasedness;
- branching on a sampled value; bad inputs; threads;
- score mode (``base=``): the log-prior of given values is scipy's, a prior
  run's particles scored again give its log-weights bit for bit, one by one
  as ScoreGivenTrace scores each particle; a base that misses a site, has
  one the model does not sample, or holds values of another kind is refused
  naming the site.

Statistical tests use fixed seeds; each asserts p > 1e-4 (or a 4.5-sigma
band), a false-failure rate below 1e-4 per assertion were the seeds random.
"""

import math
import operator
import pickle
import threading
import time

import numpy as np
import pytest
import scipy.stats as st

import fugue_ppl as fp
from fugue_ppl.core._distribution_table import DISTRIBUTIONS
from fugue_ppl.errors import (
    AddressConflict,
    BranchOnSample,
    DegenerateWeights,
    EffectOutsideRun,
    InferenceTimeout,
    InvalidAddress,
    InvalidArgument,
    InvalidObservation,
    InvalidParameters,
    TraceAddressNotFound,
    TypeMismatch,
    UnexpectedModelStructure,
)
from fugue_ppl.models import ref20, sensor, sensor_posterior

SEED = 20240611
KEY = 3
N = 2000


def _ref(key=KEY, seed=SEED):
    """The run's stream as numpy builds it (the stream contract)."""
    return np.random.default_rng([seed, key])


def _one_site(dist_factory):
    def model():
        return fp.sample("x", dist_factory())
    return model


def _categorical(probs, u):
    # Our Categorical draw: the first i with u < probs[0] + ... + probs[i]; the
    # last positive category when the sum falls short of u.
    cdf = np.cumsum(probs)
    last = int(np.flatnonzero(np.asarray(probs) > 0)[-1])
    return np.minimum(np.searchsorted(cdf, u, side="right"), last)


# ------------------------------------------------------------------ every family, shared parameters
#
# name -> (constructor arguments, numpy reference f(generator, n), scipy log-density of the draws)

FAMILIES = {
    "Normal": ((1.5, 2.0), lambda g, n: g.normal(1.5, 2.0, n),
               lambda x: st.norm.logpdf(x, 1.5, 2.0)),
    "Uniform": ((-1.0, 3.0), lambda g, n: g.uniform(-1.0, 3.0, n),
                lambda x: st.uniform.logpdf(x, -1.0, 4.0)),
    "LogNormal": ((0.3, 0.7), lambda g, n: g.lognormal(0.3, 0.7, n),
                  lambda x: st.lognorm.logpdf(x, 0.7, scale=math.exp(0.3))),
    "Exponential": ((3.0,), lambda g, n: g.exponential(1 / 3.0, n),
                    lambda x: st.expon.logpdf(x, scale=1 / 3.0)),
    "Beta": ((2.5, 4.0), lambda g, n: g.beta(2.5, 4.0, n), lambda x: st.beta.logpdf(x, 2.5, 4.0)),
    "Gamma": ((4.5, 0.3), lambda g, n: g.gamma(4.5, 1 / 0.3, n),
              lambda x: st.gamma.logpdf(x, 4.5, scale=1 / 0.3)),
    "Bernoulli": ((0.3,), lambda g, n: g.random(n) < 0.3, lambda x: st.bernoulli.logpmf(x, 0.3)),
    "Binomial": ((40, 0.3), lambda g, n: g.binomial(40, 0.3, n),
                 lambda x: st.binom.logpmf(x, 40, 0.3)),
    "Categorical": (([0.2, 0.0, 0.5, 0.3],), lambda g, n: _categorical([0.2, 0.0, 0.5, 0.3],
                                                                       g.random(n)),
                    lambda x: np.log(np.array([0.2, 0.0, 0.5, 0.3])[x])),
    "Poisson": ((3.5,), lambda g, n: g.poisson(3.5, n), lambda x: st.poisson.logpmf(x, 3.5)),
    "StudentT": ((3.0, 1.0, 2.0), lambda g, n: 1.0 + 2.0 * g.standard_t(3.0, n),
                 lambda x: st.t.logpdf(x, 3.0, 1.0, 2.0)),
    "Cauchy": ((1.0, 2.0), lambda g, n: 1.0 + 2.0 * g.standard_cauchy(n),
               lambda x: st.cauchy.logpdf(x, 1.0, 2.0)),
    "Laplace": ((1.0, 2.0), lambda g, n: g.laplace(1.0, 2.0, n),
                lambda x: st.laplace.logpdf(x, 1.0, 2.0)),
    "Weibull": ((1.5, 2.0), lambda g, n: 2.0 * g.weibull(1.5, n),
                lambda x: st.weibull_min.logpdf(x, 1.5, scale=2.0)),
    "ChiSquared": ((3.0,), lambda g, n: g.chisquare(3.0, n), lambda x: st.chi2.logpdf(x, 3.0)),
    "InverseGamma": ((3.0, 2.0), lambda g, n: 2.0 / g.standard_gamma(3.0, n),
                     lambda x: st.invgamma.logpdf(x, 3.0, scale=2.0)),
    "DiscreteUniform": ((-3, 10), lambda g, n: g.integers(-3, 10, n, endpoint=True),
                        lambda x: st.randint.logpmf(x, -3, 11)),
    "NegativeBinomial": ((2.5, 0.4), lambda g, n: g.negative_binomial(2.5, 0.4, n),
                         lambda x: st.nbinom.logpmf(x, 2.5, 0.4)),
    "Geometric": ((0.3,), lambda g, n: g.geometric(0.3, n), lambda x: st.geom.logpmf(x, 0.3)),
}


def test_every_family_of_the_table_is_covered():
    assert set(FAMILIES) == {d.name for d in DISTRIBUTIONS}
    assert set(PER_PARTICLE) == {d.name for d in DISTRIBUTIONS}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_draws_are_numpys_site_by_site(name):
    args, reference, _ = FAMILIES[name]
    cls = getattr(fp, name)

    def model():
        a = fp.sample("a", cls(*args))
        b = fp.sample("b", cls(*args))
        return a, b

    (a, b), p = fp.run_particles(fp.PriorHandler(rng=SEED), model, N, seed=KEY)
    g = _ref()
    ra, rb = reference(g, N), reference(g, N)     # site a's N values, then site b's
    np.testing.assert_array_equal(p["a"], ra)
    np.testing.assert_array_equal(p["b"], rb)
    np.testing.assert_array_equal(a, ra)
    assert isinstance(a, fp.ParticleArray) and a.dtype == cls(*args).dtype
    assert p.sites == ("a", "b")


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_log_prior_is_scipys(name):
    args, _, logpdf = FAMILIES[name]
    cls = getattr(fp, name)
    _, p = fp.run_particles(fp.PriorHandler(rng=SEED), _one_site(lambda: cls(*args)), N, seed=1)
    x = p["x"]
    expected = logpdf(x.astype(np.int64) if x.dtype == np.bool_ else x)
    np.testing.assert_allclose(p.log_prior, expected, rtol=1e-9, atol=1e-12)
    # and exactly the scalar log-density of each value (what a one-trace run records)
    np.testing.assert_array_equal(p.log_prior, cls(*args).log_prob(x))
    assert not p.log_likelihood.any() and not p.log_factors.any()


# ------------------------------------------------------------------ per-particle parameters
#
# name -> (arguments built from n, numpy reference f(generator, args), scipy
# log-density f(x, args)): numpy draws an array of parameters element by element.

def _lin(lo, hi):
    return lambda n: np.linspace(lo, hi, n)


PER_PARTICLE = {
    "Normal": (lambda n: (np.linspace(-3, 3, n), np.linspace(0.5, 2.0, n)),
               lambda g, a: g.normal(a[0], a[1]), lambda x, a: st.norm.logpdf(x, a[0], a[1])),
    "Uniform": (lambda n: (np.linspace(-3, 3, n), 4.0),
                lambda g, a: g.uniform(a[0], a[1]), lambda x, a: st.uniform.logpdf(
                    x, a[0], a[1] - a[0])),
    "LogNormal": (lambda n: (0.1, np.linspace(0.2, 1.0, n)),
                  lambda g, a: g.lognormal(a[0], a[1]),
                  lambda x, a: st.lognorm.logpdf(x, a[1], scale=math.exp(a[0]))),
    "Exponential": (lambda n: (np.linspace(0.5, 4.0, n),),
                    lambda g, a: g.exponential(1 / a[0]),
                    lambda x, a: st.expon.logpdf(x, scale=1 / a[0])),
    "Beta": (lambda n: (np.linspace(0.5, 5.0, n), np.linspace(5.0, 0.5, n)),
             lambda g, a: g.beta(a[0], a[1]), lambda x, a: st.beta.logpdf(x, a[0], a[1])),
    "Gamma": (lambda n: (np.linspace(0.5, 5.0, n), 2.0),
              lambda g, a: g.gamma(a[0], 1 / a[1]),
              lambda x, a: st.gamma.logpdf(x, a[0], scale=1 / a[1])),
    "Bernoulli": (lambda n: (np.linspace(0.0, 1.0, n),), lambda g, a: g.random(a[0].size) < a[0],
                  lambda x, a: st.bernoulli.logpmf(x, a[0])),
    "Binomial": (lambda n: (np.arange(n) % 60, np.linspace(0.05, 0.95, n)),
                 lambda g, a: g.binomial(a[0], a[1]), lambda x, a: st.binom.logpmf(x, a[0], a[1])),
    "Categorical": (lambda n: (np.stack([np.linspace(0.1, 0.6, n), np.full(n, 0.2),
                                         np.linspace(0.7, 0.2, n)], axis=1),),
                    lambda g, a: np.array([_categorical(row, u)
                                           for row, u in zip(a[0], g.random(len(a[0])))]),
                    lambda x, a: np.log(a[0][np.arange(len(x)), x])),
    "Poisson": (lambda n: (np.linspace(0.1, 40.0, n),), lambda g, a: g.poisson(a[0]),
                lambda x, a: st.poisson.logpmf(x, a[0])),
    "StudentT": (lambda n: (np.linspace(1.0, 30.0, n), np.linspace(-2, 2, n), 1.5),
                 lambda g, a: a[1] + a[2] * g.standard_t(a[0]),
                 lambda x, a: st.t.logpdf(x, a[0], a[1], a[2])),
    "Cauchy": (lambda n: (np.linspace(-2, 2, n), 0.5),
               lambda g, a: a[0] + a[1] * g.standard_cauchy(len(a[0])),
               lambda x, a: st.cauchy.logpdf(x, a[0], a[1])),
    "Laplace": (lambda n: (np.linspace(-2, 2, n), np.linspace(0.1, 3.0, n)),
                lambda g, a: g.laplace(a[0], a[1]), lambda x, a: st.laplace.logpdf(x, a[0], a[1])),
    "Weibull": (lambda n: (np.linspace(0.5, 3.0, n), 2.0),
                lambda g, a: a[1] * g.weibull(a[0]),
                lambda x, a: st.weibull_min.logpdf(x, a[0], scale=a[1])),
    "ChiSquared": (lambda n: (np.linspace(0.5, 10.0, n),), lambda g, a: g.chisquare(a[0]),
                   lambda x, a: st.chi2.logpdf(x, a[0])),
    "InverseGamma": (lambda n: (np.linspace(1.0, 6.0, n), np.linspace(0.5, 3.0, n)),
                     lambda g, a: a[1] / g.standard_gamma(a[0]),
                     lambda x, a: st.invgamma.logpdf(x, a[0], scale=a[1])),
    "DiscreteUniform": (lambda n: (np.arange(n) - 5, np.arange(n) + (np.arange(n) % 7) * 2**40),
                        lambda g, a: g.integers(a[0], a[1], endpoint=True),
                        lambda x, a: -np.log((a[1] - a[0]).astype(np.float64) + 1.0)),
    "NegativeBinomial": (lambda n: (np.linspace(0.5, 8.0, n), 0.4),
                         lambda g, a: g.negative_binomial(a[0], a[1]),
                         lambda x, a: st.nbinom.logpmf(x, a[0], a[1])),
    "Geometric": (lambda n: (np.linspace(0.05, 1.0, n),), lambda g, a: g.geometric(a[0]),
                  lambda x, a: st.geom.logpmf(x, a[0])),
}


@pytest.mark.parametrize("name", sorted(PER_PARTICLE))
def test_per_particle_parameters_draw_as_numpy_broadcasts(name):
    build, reference, logpdf = PER_PARTICLE[name]
    cls = getattr(fp, name)
    args = build(N)
    _, p = fp.run_particles(fp.PriorHandler(rng=SEED), _one_site(lambda: cls(*args)), N,
                            seed=KEY)
    x = p["x"]
    np.testing.assert_array_equal(x, reference(_ref(), args))
    expected = logpdf(x.astype(np.int64) if x.dtype == np.bool_ else x, args)
    np.testing.assert_allclose(p.log_prior, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(PER_PARTICLE))
def test_per_particle_log_prior_equals_each_particles_scalar_log_density(name):
    build, _, _ = PER_PARTICLE[name]
    cls = getattr(fp, name)
    n = 50
    args = build(n)
    _, p = fp.run_particles(fp.PriorHandler(rng=SEED), _one_site(lambda: cls(*args)), n)
    for k in (0, 1, n // 2, n - 1):
        own = [a[k] if isinstance(a, np.ndarray) else a for a in args]
        value = p["x"][k].item()
        assert p.log_prior[k] == cls(*own).log_prob(value)


def test_a_sampled_value_as_a_parameter_draws_as_numpy():
    # A hierarchical model: the second site's mean (and then its scale) is
    # the first site's values (the shared-sigma path and the general one).
    def model():
        mu = fp.sample("mu", fp.Normal(0.0, 1.0))
        x = fp.sample("x", fp.Normal(mu, 0.5))
        s = fp.sample("s", fp.Gamma(2.0, 2.0))
        y = fp.sample("y", fp.Normal(x, s))
        return y

    y, p = fp.run_particles(fp.PriorHandler(rng=SEED), model, N, seed=KEY)
    g = _ref()
    mu = g.normal(0.0, 1.0, N)
    x = g.normal(mu, 0.5)
    s = g.gamma(2.0, 0.5, N)
    yy = g.normal(x, s)
    for site, expected in (("mu", mu), ("x", x), ("s", s), ("y", yy)):
        np.testing.assert_array_equal(p[site], expected)
    lp = (st.norm.logpdf(mu, 0, 1) + st.norm.logpdf(x, mu, 0.5)
          + st.gamma.logpdf(s, 2.0, scale=0.5) + st.norm.logpdf(yy, x, s))
    np.testing.assert_allclose(p.log_prior, lp, rtol=1e-12)


def test_many_normal_draws_are_numpys_to_the_bit():
    # Enough draws that the ziggurat's rare paths, its wedges (1 draw in 70)
    # and its tail (1 in 3,900), are taken many times on each sampling path:
    # a shared Normal, a per-particle mean, a LogNormal. (Arrays under 1 MB:
    # they leave the buffer cache alone.)
    n = 120_000

    def model():
        mu = fp.sample("mu", fp.Normal(0.0, 1.0))
        fp.sample("x", fp.Normal(mu, 0.5))
        return fp.sample("z", fp.LogNormal(0.3, 0.7))

    _, p = fp.run_particles(fp.PriorHandler(rng=SEED), model, n, seed=KEY)
    g = _ref()
    mu = g.normal(0.0, 1.0, n)
    np.testing.assert_array_equal(p["mu"], mu)
    np.testing.assert_array_equal(p["x"], g.normal(mu, 0.5))
    np.testing.assert_array_equal(p["z"], g.lognormal(0.3, 0.7, n))
    assert np.abs(mu).max() > 3.7     # a draw beyond the ziggurat's base layer


def test_arithmetic_and_addr_loops_run_unchanged():
    # A model written for one trace: arithmetic on sampled values, numpy's
    # element-wise functions, indexed addresses in a loop.
    def model(ys):
        level = fp.sample("level", fp.Normal(0.0, 3.0))
        scale = fp.sample("scale", fp.Exponential(1.0))
        total = 0.0
        for i, y in enumerate(ys):
            z = fp.sample(fp.addr("z", i), fp.Normal(level + 0.5 * i, scale + 0.1))
            fp.observe(fp.addr("y", i), fp.Normal(z, 1.0), y)
            total = total + np.exp(-z * z)
        fp.factor(-0.5 * (level - 1.0) ** 2)
        return total

    ys = [0.3, 1.1, -0.4]
    total, p = fp.run_particles(fp.PriorHandler(rng=SEED), model, N, ys, seed=KEY)
    g = _ref()
    level = g.normal(0.0, 3.0, N)
    scale = g.exponential(1.0, N)
    zs = [g.normal(level + 0.5 * i, scale + 0.1) for i in range(len(ys))]
    for i, z in enumerate(zs):
        np.testing.assert_array_equal(p[fp.addr("z", i)], z)
    np.testing.assert_array_equal(total, sum(np.exp(-z * z) for z in zs))
    np.testing.assert_allclose(p.log_likelihood,
                               sum(st.norm.logpdf(y, z, 1.0) for y, z in zip(ys, zs)),
                               rtol=1e-12)
    np.testing.assert_allclose(p.log_factors, -0.5 * (level - 1.0) ** 2, rtol=1e-15)
    np.testing.assert_array_equal(p.total_log_weight,
                                  p.log_prior + p.log_likelihood + p.log_factors)
    np.testing.assert_array_equal(p.log_weights, p.log_likelihood + p.log_factors)
    assert p.sites == ("level", "scale", "z[0]", "z[1]", "z[2]")
    assert dict(p.observed) == {"y[0]": 0.3, "y[1]": 1.1, "y[2]": -0.4}


# ------------------------------------------------------------------ observations and factors

def test_observations_under_per_particle_parameters_are_scipys():
    def model(reading, counts):
        rate = fp.sample("rate", fp.Gamma(3.0, 1.0))
        fp.observe("counts", fp.Poisson(rate), counts)          # a scalar count, per-particle rate
        fp.observe("reading", fp.Normal(rate, 0.7), reading)    # a scalar real
        p = fp.sample("p", fp.Beta(2.0, 2.0))
        k = fp.sample("k", fp.Binomial(12, p))
        fp.observe("again", fp.Binomial(12, 0.4), k)            # per-particle values
        fp.observe("flag", fp.Bernoulli(p), True)
        fp.observe("ratio", fp.Normal(0.0, 1.0), k / 12.0 - p)  # per-particle real values
        return rate

    _, p = fp.run_particles(fp.PriorHandler(rng=SEED), model, N, 2.5, 4, seed=KEY)
    rate, prob, k = p["rate"], p["p"], p["k"]
    expected = (st.poisson.logpmf(4, rate) + st.norm.logpdf(2.5, rate, 0.7)
                + st.binom.logpmf(k, 12, 0.4) + np.log(prob)
                + st.norm.logpdf(k / 12.0 - prob, 0.0, 1.0))
    np.testing.assert_allclose(p.log_likelihood, expected, rtol=1e-10)


def test_integer_valued_observations_score_as_the_scalar_path():
    big = 2**60

    def model():
        fp.observe("u", fp.DiscreteUniform(big - 5, big + 5), big + 3)
        fp.observe("v", fp.DiscreteUniform(big - 5, big + 5),
                   np.full(7, big + 6, dtype=np.int64))
        fp.observe("w", fp.Poisson(2.0), 3.0)      # an integral float counts as the count
        fp.observe("b", fp.Bernoulli(0.25), np.array([0, 1, 1, 0, 1, 0, 0]))

    _, p = fp.run_particles(fp.PriorHandler(rng=1), model, 7)
    d = fp.DiscreteUniform(big - 5, big + 5)
    b = np.array([0, 1, 1, 0, 1, 0, 0])
    expected = (d.log_prob(big + 3) + d.log_prob(big + 6) + fp.Poisson(2.0).log_prob(3)
                + np.where(b == 1, math.log(0.25), math.log(0.75)))
    np.testing.assert_array_equal(p.log_likelihood, expected)
    assert p.log_likelihood[0] == -math.inf


def test_factors_add_scalars_and_per_particle_values():
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.factor(-1.5)
        fp.factor(np.where(x > 0, 0.0, -math.inf))    # a hard constraint
        fp.factor(2)
        return x

    x, p = fp.run_particles(fp.PriorHandler(rng=SEED), model, N)
    np.testing.assert_array_equal(p.log_factors, np.where(x > 0, 0.5, -math.inf))
    assert p.mean("x") == pytest.approx(float(np.mean(x[x > 0])), rel=1e-12)


# ------------------------------------------------------------------ against n separate runs

def test_one_site_from_one_generator_equals_n_runs():
    # A handler drawing from a caller's Generator: n runs draw one value each,
    # in order; a particle run draws the n values of its one site in order.
    def model(y):
        x = fp.sample("x", fp.Normal(0.0, 2.0))
        fp.observe("y", fp.Normal(x, 0.5), y)
        fp.factor(-0.1 * x * x)
        return x

    n = 500
    h = fp.PriorHandler(rng=np.random.default_rng(11))
    traces = [fp.run(h, model, 1.3)[1] for _ in range(n)]
    _, p = fp.run_particles(fp.PriorHandler(rng=np.random.default_rng(11)), model, n, 1.3)
    np.testing.assert_array_equal(p["x"], [t["x"] for t in traces])
    np.testing.assert_array_equal(p.log_prior, [t.log_prior for t in traces])
    np.testing.assert_array_equal(p.log_likelihood, [t.log_likelihood for t in traces])
    np.testing.assert_array_equal(p.log_factors, [t.log_factors for t in traces])
    np.testing.assert_array_equal(p.total_log_weight, [t.total_log_weight for t in traces])


@pytest.mark.parametrize("model,args", [(sensor, (22.0,)), (ref20, ())])
def test_one_particle_with_a_key_equals_the_run_with_that_key(model, args):
    # n = 1: each site draws one value from the run's stream, as a run does.
    h = fp.PriorHandler(rng=SEED)
    for key in range(20):
        _, t = fp.run(h, model, *args, seed=key)
        _, p = fp.run_particles(h, model, 1, *args, seed=key)
        assert list(p.sites) == [c.address for c in t.choices if c.kind == "sample"]
        for site in p.sites:
            assert p[site][0] == t[site]
        assert (p.log_prior[0], p.log_likelihood[0]) == (t.log_prior, t.log_likelihood)


def test_sensor_particles_agree_in_distribution_with_n_pooled_runs():
    n = 4000
    h = fp.PooledPriorHandler(rng=SEED, pool=fp.TracePool(4))
    temps, valids, lls = [], [], []
    for _ in range(n):
        _, t = fp.run(h, sensor, 22.0)
        temps.append(t["temperature"])
        valids.append(t["valid"])
        lls.append(t.log_likelihood)
        t.release()
    _, p = fp.run_particles(fp.PriorHandler(rng=SEED + 1), sensor, n, 22.0)
    assert st.ks_2samp(p["temperature"], temps).pvalue > 1e-4
    assert st.ks_2samp(p.log_likelihood, lls).pvalue > 1e-4
    table = [[int(np.sum(p["valid"])), n - int(np.sum(p["valid"]))],
             [int(np.sum(valids)), n - int(np.sum(valids))]]
    assert st.chi2_contingency(table).pvalue > 1e-4


def test_ref20_particles_agree_in_distribution_with_n_runs():
    n = 3000
    h = fp.PooledPriorHandler(rng=SEED)
    mus, x7, lw = [], [], []
    for _ in range(n):
        _, t = fp.run(h, ref20)
        mus.append(t["mu"])
        x7.append(t["x[7]"])
        lw.append(t.total_log_weight)
        t.release()
    _, p = fp.run_particles(fp.PriorHandler(rng=SEED), ref20, n)
    assert st.ks_2samp(p["mu"], mus).pvalue > 1e-4
    assert st.ks_2samp(p["x[7]"], x7).pvalue > 1e-4
    assert st.ks_2samp(p.total_log_weight, lw).pvalue > 1e-4


# ------------------------------------------------------------------ weighted statistics

def _particles(x, w):
    x = np.asarray(x)
    with np.errstate(divide="ignore"):       # (log 0 = -inf: weight zero)
        lw = np.log(np.asarray(w, dtype=float))
    return fp.Particles({"x": x}, np.zeros(len(x)), lw, np.zeros(len(x)))


def test_weighted_statistics_of_a_small_set_are_exact():
    p = _particles([1.0, 2.0, 3.0, 4.0], [0.1, 0.2, 0.3, 0.4])
    assert p.mean("x") == pytest.approx(3.0, rel=1e-15)
    assert p.var("x") == pytest.approx(1.0, rel=1e-14)       # 0.1*4 + 0.2*1 + 0 + 0.4*1
    assert p.std("x") == pytest.approx(1.0, rel=1e-14)
    assert p.ess == pytest.approx(1 / (0.01 + 0.04 + 0.09 + 0.16), rel=1e-14)
    np.testing.assert_allclose(p.weights, [0.1, 0.2, 0.3, 0.4], rtol=1e-15)
    assert p.log_evidence == pytest.approx(math.log(0.25), rel=1e-15)
    # the inverse of the weighted distribution function: F = 0.1, 0.3, 0.6, 1.0
    assert p.quantile("x", [0.0, 0.05, 0.1, 0.11, 0.3, 0.31, 0.6, 0.61, 1.0]).tolist() == \
        [1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0]
    assert p.quantile("x", 0.5) == 3.0
    assert p.mean(p["x"] ** 2) == pytest.approx(10.0, rel=1e-15)


def test_equal_weights_quantiles_are_numpys_inverted_cdf():
    x = np.random.default_rng(5).normal(size=101)
    p = _particles(x, np.ones(101))
    q = np.linspace(0, 1, 41)
    np.testing.assert_array_equal(p.quantile("x", q), np.quantile(x, q, method="inverted_cdf"))
    assert p.ess == pytest.approx(101.0, rel=1e-13)
    assert p.mean("x") == pytest.approx(float(np.mean(x)), rel=1e-13)


def test_zero_weight_particles_are_ignored_and_infinite_ones_share_the_weight():
    p = _particles([5.0, 1.0, 2.0, 9.0], [0.0, 1.0, 1.0, 0.0])
    assert p.quantile("x", [0.0, 1.0]).tolist() == [1.0, 2.0]
    assert p.mean("x") == 1.5 and p.ess == 2.0
    q = fp.Particles({"x": np.array([1.0, 2.0, 3.0])}, np.zeros(3),
                     np.array([0.0, math.inf, math.inf]), np.zeros(3))
    assert q.weights.tolist() == [0.0, 0.5, 0.5] and q.mean("x") == 2.5


def test_all_zero_weights_raise_degenerate_weights():
    p = _particles([1.0, 2.0], [0.0, 0.0])
    assert p.ess == 0.0 and p.log_evidence == -math.inf
    for call in (lambda: p.weights, lambda: p.mean("x"), lambda: p.quantile("x", 0.5),
                 lambda: p.resample(rng=1)):
        with pytest.raises(DegenerateWeights, match="every particle has weight zero"):
            call()


def test_sensor_posterior_summaries_match_the_closed_form():
    # Conjugate normal model: posterior mean m, sd s; evidence Normal(22; 20, sqrt(26)).
    n = 200_000
    _, p = fp.run_particles(fp.PriorHandler(rng=SEED), sensor, n, 22.0, seed=0)
    m, s = sensor_posterior(22.0)
    se = s / math.sqrt(p.ess)       # Monte Carlo error of the weighted mean
    assert abs(p.mean("temperature") - m) < 4.5 * se
    assert p.std("temperature") == pytest.approx(s, rel=0.02)
    assert p.quantile("temperature", 0.5) == pytest.approx(m, abs=6 * se)
    assert p.quantile("temperature", 0.975) == pytest.approx(m + 1.959964 * s, abs=0.05)
    assert p.log_evidence == pytest.approx(st.norm.logpdf(22.0, 20.0, math.sqrt(26.0)), abs=0.02)
    assert p.mean("valid") == pytest.approx(0.95, abs=4.5 * math.sqrt(0.95 * 0.05 / p.ess))
    assert 0.1 * n < p.ess < 0.3 * n      # likelihood weights: ESS = n * sqrt(26)/... ~ 0.196 n


# ------------------------------------------------------------------ resampling

W = np.array([0.02, 0.3, 0.05, 0.13, 0.0, 0.25, 0.2, 0.05])


@pytest.mark.parametrize("method", fp.core.particles.RESAMPLING_METHODS)
@pytest.mark.parametrize("size", [None, 20])
def test_resampling_is_unbiased(method, size):
    # E[count_i] = m * w_i, over R seeded replications (4.5 sigma of the mean).
    p = _particles(np.arange(len(W), dtype=float), W)
    m = len(W) if size is None else size
    reps = 4000
    counts = np.array([np.bincount(p.resample_indices(method, rng=s, size=size),
                                   minlength=len(W))
                       for s in np.random.SeedSequence(SEED).spawn(reps)])
    assert (counts.sum(axis=1) == m).all()
    mean, sd = counts.mean(axis=0), counts.std(axis=0, ddof=1)
    expected = m * W
    assert (np.abs(mean - expected) <= 4.5 * sd / math.sqrt(reps) + 1e-12).all(), (mean, expected)
    assert counts[:, 4].max() == 0       # a zero-weight particle is never drawn


def test_systematic_counts_are_floor_or_ceil_of_n_w():
    p = _particles(np.arange(len(W), dtype=float), W)
    for s in range(200):
        c = np.bincount(p.resample_indices("systematic", rng=s), minlength=len(W))
        assert ((c == np.floor(len(W) * W)) | (c == np.ceil(len(W) * W))).all()


def test_resampling_is_seeded_and_keeps_the_evidence():
    _, p = fp.run_particles(fp.PriorHandler(rng=SEED), sensor, 1000, 22.0)
    a = p.resample_indices("stratified", rng=7)
    np.testing.assert_array_equal(a, p.resample_indices("stratified", rng=7))
    assert not np.array_equal(a, p.resample_indices("stratified", rng=8))
    assert (np.diff(a) >= 0).all()
    r = p.resample("multinomial", rng=np.random.default_rng(3))
    idx = p.resample_indices("multinomial", rng=np.random.default_rng(3))
    np.testing.assert_array_equal(r["temperature"], p["temperature"][idx])
    np.testing.assert_array_equal(r.log_likelihood, p.log_likelihood[idx])
    assert r.log_evidence == pytest.approx(p.log_evidence, rel=1e-12)
    assert r.ess == pytest.approx(1000.0) and len(set(r.log_weights.tolist())) == 1
    assert r.resample(rng=1).log_evidence == pytest.approx(p.log_evidence, rel=1e-12)


def test_resampling_bad_arguments():
    p = _particles([1.0, 2.0], [0.5, 0.5])
    with pytest.raises(InvalidArgument, match="method must be one of systematic, stratified, "
                                              "multinomial, got 'residual'"):
        p.resample("residual")
    with pytest.raises(InvalidArgument, match=r"size must be >= 1, got 0"):
        p.resample(size=0)
    with pytest.raises(TypeError, match="rng must be None"):
        p.resample(rng="seed")


# ------------------------------------------------------------------ branching on a sample

def branchy():
    valid = fp.sample("valid", fp.Bernoulli(0.5))
    if valid:
        fp.sample("extra", fp.Normal(0.0, 1.0))
    return fp.sample("last", fp.Poisson(2.0))


@pytest.mark.parametrize("n", [1, 10])
def test_branching_on_a_sample_raises(n):
    with pytest.raises(BranchOnSample) as e:
        fp.run_particles(fp.PriorHandler(rng=1), branchy, n)
    assert e.value.code == 302
    assert "The truth value of per-particle values was asked for (after the model's effect " \
           "at 'valid')" in str(e.value)
    assert "on_branch='per_particle'" in str(e.value)


@pytest.mark.parametrize("body,what", [
    (lambda x, k: math.exp(x), "A float"),
    (lambda x, k: float(x), "A float"),
    (lambda x, k: list(range(k)), "An index"),
    (lambda x, k: int(x), "An int"),
    (lambda x, k: max(x, 0.0), "The truth value"),
    (lambda x, k: x if x > 1 else -x, "The truth value"),
    (lambda x, k: operator.index(k), "An index"),
    (lambda x, k: complex(x), "A complex number"),
])
def test_every_scalar_use_of_a_sample_is_refused(body, what):
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        k = fp.sample("k", fp.Poisson(3.0))
        return body(x, k)

    with pytest.raises(BranchOnSample, match=f"^\\[302\\] {what} of per-particle values"):
        fp.run_particles(fp.PriorHandler(rng=1), model, 5)


def test_a_swallowed_branch_is_still_detected():
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        try:
            if x > 0:
                fp.sample("y", fp.Normal(0.0, 1.0))
        except Exception:     # noqa: BLE001 - the model hides it on purpose
            pass
        return x

    with pytest.raises(BranchOnSample, match="went on \\(it caught BranchOnSample\\)"):
        fp.run_particles(fp.PriorHandler(rng=1), model, 5)
    # another error raised while handling it is reported as the branch
    def model2():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        try:
            bool(x)
        except BranchOnSample:
            raise RuntimeError("model's own") from None

    with pytest.raises(BranchOnSample, match="after the model's effect at 'x'"):
        fp.run_particles(fp.PriorHandler(rng=1), model2, 5)


def test_element_wise_choices_are_not_branches():
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.observe("y", fp.Normal(np.where(x > 0, x, 0.0), 1.0), 0.5)
        return np.abs(x)

    v, p = fp.run_particles(fp.PriorHandler(rng=1), model, 100)
    assert not p.per_particle
    np.testing.assert_array_equal(v, np.abs(p["x"]))


def test_the_per_particle_fallback_runs_each_particle_from_the_runs_stream():
    n = 60
    h = fp.PriorHandler(rng=SEED)
    values, p = fp.run_particles(h, branchy, n, seed=KEY, on_branch="per_particle")
    assert p.per_particle and len(values) == n and "per_particle=True" in repr(p)
    # n ordinary runs drawing in turn from the run's stream
    g = fp.PriorHandler(rng=_ref())
    traces = [fp.run(g, branchy) for _ in range(n)]
    assert values == [v for v, _ in traces]
    np.testing.assert_array_equal(p["valid"], [t["valid"] for _, t in traces])
    present = p.present("extra")
    np.testing.assert_array_equal(present, p["valid"])
    np.testing.assert_array_equal(p["extra"][present],
                                  [t["extra"] for _, t in traces if t["valid"]])
    assert p.present("valid").all()
    np.testing.assert_array_equal(p.log_prior, [t.log_prior for _, t in traces])
    # a site some particles lack: statistics over those holding it
    ex = np.array([t["extra"] for _, t in traces if t["valid"]])
    assert p.mean("extra") == pytest.approx(float(np.mean(ex)), rel=1e-12)


def test_per_particle_fallback_after_the_model_raised():
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        if x > 0:
            fp.factor(-1.0)
        return x

    values, p = fp.run_particles(fp.PriorHandler(rng=2), model, 40, on_branch="per_particle")
    assert p.per_particle
    np.testing.assert_array_equal(p["x"], values)
    np.testing.assert_array_equal(p.log_factors, np.where(p["x"] > 0, -1.0, 0.0))


def test_particle_values_are_ordinary_arrays_after_the_run():
    x, _ = fp.run_particles(fp.PriorHandler(rng=1), _one_site(lambda: fp.Normal(0, 1)), 3)
    with pytest.raises(ValueError, match="truth value of an array with more than one element"):
        bool(x)
    assert float(np.mean(x)) == float(np.asarray(x).mean())
    assert bool(x[:1] < 10) and int(x[0] * 0 + 2) == 2

    def model():     # a reduction over particles, then a branch on it: refused in the run
        y = fp.sample("y", fp.Normal(0.0, 1.0))
        return 1 if np.mean(y) > 0 else 0

    with pytest.raises(BranchOnSample, match="The truth value"):
        fp.run_particles(fp.PriorHandler(rng=1), model, 3)


# ------------------------------------------------------------------ values

def test_values_are_read_only_particle_arrays_and_results_plain_arrays():
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        with pytest.raises(ValueError, match="read-only"):
            x += 1.0
        y = x + 1.0                      # a new array: writable, still per particle
        assert type(y) is fp.ParticleArray and y.flags.writeable
        k = fp.sample("k", fp.Poisson(2.0))
        b = fp.sample("b", fp.Bernoulli(0.5))
        return x, k, b

    (x, k, b), p = fp.run_particles(fp.PriorHandler(rng=1), model, 10)
    assert (x.dtype, k.dtype, b.dtype) == (np.float64, np.int64, np.bool_)
    for site in p.sites:
        assert type(p[site]) is np.ndarray and not p[site].flags.writeable
    assert not p.log_prior.flags.writeable and not p.weights.flags.writeable
    assert "x" in p and list(p) == ["x", "k", "b"] and len(p) == p.n == 10
    with pytest.raises(TraceAddressNotFound, match="no sampled site 'nope'"):
        p["nope"]


def test_particles_pickle():
    _, p = fp.run_particles(fp.PriorHandler(rng=1), sensor, 50, 21.0)
    q = pickle.loads(pickle.dumps(p))
    np.testing.assert_array_equal(q["temperature"], p["temperature"])
    np.testing.assert_array_equal(q.log_weights, p.log_weights)
    assert q.sites == p.sites and q.observed == {"sensor": 21.0}


def test_distribution_methods_with_per_particle_parameters():
    seen = {}

    def model():
        mu = fp.sample("mu", fp.Normal(0.0, 1.0))
        d = fp.Normal(mu, 2.0)
        assert d.mu is mu and d.sigma == 2.0
        seen["lp"] = d.log_prob(0.5)
        seen["lp_each"] = d.log_prob(mu)
        seen["draws"] = d.sample(rng=4)
        with pytest.raises(ValueError, match="one value per particle"):
            d.log_prob(np.zeros(3))
        with pytest.raises(TypeError, match="size must be None"):
            d.sample(rng=4, size=5)
        return mu

    mu, _ = fp.run_particles(fp.PriorHandler(rng=1), model, 20)
    np.testing.assert_allclose(seen["lp"], st.norm.logpdf(0.5, mu, 2.0), rtol=1e-13)
    np.testing.assert_allclose(seen["lp_each"], st.norm.logpdf(mu, mu, 2.0), rtol=1e-13)
    np.testing.assert_array_equal(seen["draws"], np.random.default_rng(4).normal(mu, 2.0))


def test_nested_runs():
    def inner():
        return fp.sample("z", fp.Normal(0.0, 1.0))

    def outer():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        z, t = fp.run(fp.PriorHandler(rng=5), inner, seed=0)   # an ordinary run inside
        assert isinstance(z, float) and list(t) == ["z"]
        with pytest.raises(TypeError, match="mu must be a real number"):
            fp.run(fp.PriorHandler(rng=5), lambda: fp.Normal(x, 1.0))
        return x + z

    v, p = fp.run_particles(fp.PriorHandler(rng=1), outer, 8)
    np.testing.assert_array_equal(v, p["x"] + fp.run(fp.PriorHandler(rng=5), inner, seed=0)[0])
    # a particle run inside an ordinary run
    _, t = fp.run(fp.PriorHandler(rng=2),
                  lambda: (fp.sample("a", fp.Normal(0, 1)),
                           fp.run_particles(fp.PriorHandler(rng=3), sensor, 5, 20.0))[1][1])
    assert list(t) == ["a"]


def test_metrics_handler_counts_a_particle_run():
    metrics = fp.ProductionMetrics()
    h = fp.MetricsHandler(fp.PriorHandler(rng=1), metrics)
    fp.run_particles(h, sensor, 100, 22.0)
    assert metrics.inference_count == 1 and metrics.error_count == 0
    with pytest.raises(BranchOnSample):
        fp.run_particles(h, branchy, 100)
    assert metrics.inference_count == 2 and metrics.error_count == 1


# ------------------------------------------------------------------ bad inputs

@pytest.mark.parametrize("n,exc,message", [
    (0, InvalidArgument, r"run_particles: n must be in \[1, 10000000\], got 0"),
    (-5, InvalidArgument, r"run_particles: n must be in \[1, 10000000\], got -5"),
    (10**7 + 1, InvalidArgument, r"run_particles: n must be <= 10000000 \(the particle limit, "
                                 r"fp.set_max_particles\), got 10000001"),
    (10**30, InvalidArgument, "must be <= 10000000"),
    (2.5, InvalidArgument, "n must be an integer, got 2.5"),
    (True, TypeError, "n must be an integer, got bool"),
    ("100", TypeError, "n must be an integer, got str"),
    (None, TypeError, "n must be an integer, got NoneType"),
])
def test_bad_particle_counts(n, exc, message):
    with pytest.raises(exc, match=message):
        fp.run_particles(fp.PriorHandler(rng=1), sensor, n, 22.0)


def test_the_particle_limit_is_checked_before_allocating():
    old = fp.set_max_particles(1000)
    try:
        assert fp.max_particles() == 1000
        fp.run_particles(fp.PriorHandler(rng=1), sensor, 1000, 22.0)
        t0 = time.perf_counter()
        with pytest.raises(InvalidArgument, match="must be <= 1000"):
            fp.run_particles(fp.PriorHandler(rng=1), sensor, 1001, 22.0)
        assert time.perf_counter() - t0 < 0.05
    finally:
        assert fp.set_max_particles(old) == 1000
    with pytest.raises(InvalidArgument, match="max_n must be in"):
        fp.set_max_particles(0)
    with pytest.raises(TypeError, match="max_n must be an integer"):
        fp.set_max_particles("big")


def test_bad_handlers_models_and_options():
    with pytest.raises(TypeError, match="handler must be a fugue_ppl Handler, got str"):
        fp.run_particles("h", sensor, 10)
    with pytest.raises(TypeError, match="model must be callable, got int"):
        fp.run_particles(fp.PriorHandler(rng=1), 3, 10)
    _, t = fp.run(fp.PriorHandler(rng=1), sensor, 22.0)
    with pytest.raises(TypeError, match="ReplayHandler does not draw from the prior"):
        fp.run_particles(fp.ReplayHandler(t, rng=1), sensor, 10, 22.0)
    with pytest.raises(TypeError, match="ScoreGivenTrace does not draw from the prior"):
        fp.run_particles(fp.ScoreGivenTrace(t), sensor, 10, 22.0)
    with pytest.raises(TypeError, match="RobustHandler answers failed effects"):
        fp.run_particles(fp.RobustHandler(fp.PriorHandler(rng=1)), sensor, 10, 22.0)
    with pytest.raises(InvalidArgument, match="on_branch must be 'raise' or 'per_particle', "
                                              "got 'ignore'"):
        fp.run_particles(fp.PriorHandler(rng=1), sensor, 10, 22.0, on_branch="ignore")
    with pytest.raises(InvalidArgument, match="seed must be >= 0"):
        fp.run_particles(fp.PriorHandler(rng=1), sensor, 10, 22.0, seed=-1)
    with pytest.raises(InvalidArgument, match="seed cannot be honoured"):
        fp.run_particles(fp.PriorHandler(rng=np.random.default_rng(1)), sensor, 10, 22.0,
                         seed=1)
    with pytest.raises(InvalidArgument, match="deadline must be"):
        fp.run_particles(fp.PriorHandler(rng=1), sensor, 10, 22.0, deadline=-1.0)


def test_wrong_parameter_lengths_name_the_parameter():
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.sample("y", fp.Gamma(2.0, np.exp(x[:7])))

    with pytest.raises(InvalidParameters) as e:
        fp.run_particles(fp.PriorHandler(rng=1), model, 10)
    assert e.value.parameter == "rate" and e.value.code == 105
    assert str(e.value).startswith("[105] Gamma: rate must be a scalar or hold one value per "
                                   "particle: 10 values, not 7, got")

    def model2():
        fp.sample("c", fp.Categorical(np.full((4, 3), 1 / 3)))

    with pytest.raises(InvalidParameters, match="probs must hold one row of probabilities per "
                                                "particle: 10 rows, not 4"):
        fp.run_particles(fp.PriorHandler(rng=1), model2, 10)


def test_a_distribution_from_another_particle_run_is_refused():
    kept = {}

    def first():
        kept["d"] = fp.Normal(fp.sample("x", fp.Normal(0.0, 1.0)), 1.0)

    def second():
        fp.sample("y", kept["d"])

    fp.run_particles(fp.PriorHandler(rng=1), first, 5)
    with pytest.raises(InvalidParameters, match="mu must be a scalar or hold one value per "
                                                "particle: 8 values, not 5"):
        fp.run_particles(fp.PriorHandler(rng=1), second, 8)


@pytest.mark.parametrize("make,exc,message", [
    (lambda x: fp.Normal(0.0, x), InvalidParameters,
     r"\[101\] Normal: sigma must be finite and > 0 \(particle \d+\), got -"),
    (lambda x: fp.Uniform(x, 0.0), InvalidParameters,
     r"Uniform: high must be > low \(low=[0-9.e+-]+\) \(particle \d+\), got 0.0"),
    (lambda x: fp.Bernoulli(x * x), InvalidParameters,
     r"\[102\] Bernoulli: p must be in \[0, 1\] \(particle \d+\), got "),
    (lambda x: fp.Binomial(np.floor(x * 10), 0.5), InvalidParameters,
     r"\[106\] Binomial: n must be >= 0 \(particle \d+\), got -"),
    (lambda x: fp.Binomial(x, 0.5), InvalidParameters,
     r"Binomial: n must hold integers \(particle 0\), got"),
    (lambda x: fp.Categorical(np.stack([x, 1 - x], axis=1)), InvalidParameters,
     r"Categorical: probs must hold probabilities in \[0, 1\] \(particle \d+\), got"),
    (lambda x: fp.Normal(np.stack([x, x]), 1.0), TypeError,
     "Normal: mu must be a real number or an array of real numbers, one per particle"),
    (lambda x: fp.Normal(x > 0, 1.0), TypeError,
     "Normal: mu must be a real number or an array of real numbers, one per particle, "
     "got ParticleArray"),
    (lambda x: fp.Normal(x.astype(object), 1.0), TypeError, "mu must be a real number or"),
    (lambda x: fp.Normal(np.where(x > 0, np.nan, x), 1.0), InvalidParameters,
     r"\[100\] Normal: mu must be finite \(particle \d+\), got nan"),
])
def test_bad_per_particle_parameter_values(make, exc, message):
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.sample("y", make(x))

    with pytest.raises(exc, match=message):
        fp.run_particles(fp.PriorHandler(rng=1), model, 200)


def test_per_particle_parameters_outside_a_particle_run_are_refused():
    with pytest.raises(TypeError, match="Normal: mu must be a real number, got ndarray"):
        fp.Normal(np.zeros(3), 1.0)


@pytest.mark.parametrize("value,exc,message", [
    (math.nan, InvalidObservation, r"observe\('y'\): the observed value is NaN, infinite"),
    (math.inf, InvalidObservation, r"observe\('y'\): the observed value is NaN, infinite"),
    (np.where(np.arange(10) == 7, np.nan, 1.0), InvalidObservation,
     r"observe\('y'\): the observed value of particle 7 is NaN or infinite \(nan\)"),
    (np.where(np.arange(10) == 2, -np.inf, 1.0), InvalidObservation,
     r"the observed value of particle 2 is NaN or infinite \(-inf\)"),
    (np.ones(9), InvalidArgument,
     r"observe\('y'\): value must be a scalar or hold one value per particle: 10 values, "
     r"not shape \(9,\)"),
    (np.ones((10, 2)), InvalidArgument, "not shape \\(10, 2\\)"),
    ("1.0", TypeMismatch, r"observe\('y'\): the observed value must be a number or a bool, "
                          "got str"),
    (np.array(["a"] * 10), TypeMismatch, "the observed values must be numbers or bools"),
])
def test_bad_observations(value, exc, message):
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.observe("y", fp.Normal(x, 1.0), value)

    with pytest.raises(exc, match=message):
        fp.run_particles(fp.PriorHandler(rng=1), model, 10)


@pytest.mark.parametrize("w,exc,message", [
    (math.nan, InvalidObservation, "the log-weight must not be NaN"),
    (math.inf, InvalidObservation, "the log-weight must not be NaN"),
    (np.where(np.arange(10) == 4, np.inf, 0.0), InvalidObservation,
     r"factor\(\): the log-weight of particle 4 must not be NaN or \+inf, got inf"),
    (np.zeros(3), InvalidArgument, "log_weight must be a real number or hold one value per "
                                   "particle: 10 values, not shape"),
    (np.zeros(10, dtype=bool), TypeError, "log_weight must be a real number or an array of "
                                          "real numbers"),
    ("x", TypeError, "factor: log_weight must be a real number, got str"),
])
def test_bad_factors(w, exc, message):
    def model():
        fp.sample("x", fp.Normal(0.0, 1.0))
        fp.factor(w)

    with pytest.raises(exc, match=message):
        fp.run_particles(fp.PriorHandler(rng=1), model, 10)


def test_addresses_deadlines_and_effects_outside_a_run():
    def twice():
        fp.sample("x", fp.Normal(0.0, 1.0))
        fp.observe("x", fp.Normal(0.0, 1.0), 0.0)

    with pytest.raises(AddressConflict, match=r"observe\('x'\): address 'x' was already used"):
        fp.run_particles(fp.PriorHandler(rng=1), twice, 4)
    with pytest.raises(InvalidAddress, match="must hold printable characters"):
        fp.run_particles(fp.PriorHandler(rng=1), lambda: fp.sample("a\nb", fp.Normal(0, 1)), 4)
    with pytest.raises(TypeError, match="an address must be a str"):
        fp.run_particles(fp.PriorHandler(rng=1), lambda: fp.sample(3, fp.Normal(0, 1)), 4)

    def slow():
        fp.sample("x", fp.Normal(0.0, 1.0))
        time.sleep(0.05)
        fp.sample("y", fp.Normal(0.0, 1.0))

    with pytest.raises(InferenceTimeout, match=r"when the model reached sample\('y'\)"):
        fp.run_particles(fp.PriorHandler(rng=1), slow, 4, deadline=0.01)
    for effect in (lambda: fp.sample("x", fp.Normal(0, 1)), lambda: fp.factor(0.0),
                   lambda: fp.observe("x", fp.Normal(0, 1), 0.0)):
        with pytest.raises(EffectOutsideRun):
            effect()


def test_a_failed_run_leaves_the_handler_usable():
    def boom():
        fp.sample("x", fp.Normal(0.0, 1.0))
        raise RuntimeError("model failure")

    gen = np.random.default_rng(3)
    for h in (fp.PriorHandler(rng=1), fp.PriorHandler(rng=gen)):
        with pytest.raises(RuntimeError, match="model failure"):
            fp.run_particles(h, boom, 5)
        with pytest.raises(BranchOnSample):
            fp.run_particles(h, branchy, 5)
        _, p = fp.run_particles(h, sensor, 5, 22.0)        # the Generator's lock was released
        assert p.n == 5
    with pytest.raises(EffectOutsideRun):
        fp.sample("x", fp.Normal(0, 1))                     # no run left current


# ------------------------------------------------------------------ threads

def test_concurrent_particle_runs_on_one_handler():
    h = fp.PooledPriorHandler(rng=SEED)
    expected = {k: fp.run_particles(h, ref20, 500, seed=k)[1] for k in range(12)}
    counter_runs = []
    errors = []

    def work(keys):
        try:
            for k in keys:
                _, p = fp.run_particles(h, ref20, 500, seed=k)
                for site in ("mu", "x[18]"):
                    np.testing.assert_array_equal(p[site], expected[k][site])
                np.testing.assert_array_equal(p.log_likelihood, expected[k].log_likelihood)
                counter_runs.append(fp.run_particles(h, sensor, 200, 22.0)[1]["temperature"])
        except BaseException as exc:      # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(range(i, 12, 4),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # every counter-keyed run drew its own stream
    assert len({a.tobytes() for a in counter_runs}) == len(counter_runs) == 12


def test_concurrent_particle_runs_on_a_generator_take_turns():
    gen = np.random.default_rng(9)
    h = fp.PriorHandler(rng=gen)
    out, errors = [], []

    def work():
        try:
            for _ in range(5):
                out.append(fp.run_particles(h, _one_site(lambda: fp.Normal(0, 1)), 300)[1]["x"])
        except BaseException as exc:      # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # the 15 runs drew 15 consecutive, non-overlapping blocks of the one stream
    stream = np.random.default_rng(9).normal(size=300 * 15).reshape(15, 300)
    assert sorted(a.tobytes() for a in out) == sorted(r.tobytes() for r in stream)


# ------------------------------------------------------------------ score mode (base=)

def _as_scipy(x):
    return x.astype(np.int64) if x.dtype == np.bool_ else x


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_score_mode_log_prior_is_scipys(name):
    # Values drawn elsewhere (numpy's reference), scored under shared and
    # per-particle parameters: the log-prior is scipy's, nothing is drawn.
    args, reference, logpdf = FAMILIES[name]
    build, pp_reference, pp_logpdf = PER_PARTICLE[name]
    cls = getattr(fp, name)
    pp_args = build(N)
    g = np.random.default_rng(5)
    x_shared, x_pp = reference(g, N), pp_reference(g, pp_args)

    def model():
        a = fp.sample("a", cls(*args))
        b = fp.sample("b", cls(*pp_args))
        return a, b

    (a, b), p = fp.run_particles(fp.PriorHandler(rng=SEED), model, N,
                                 base={"a": x_shared, "b": x_pp})
    np.testing.assert_array_equal(a, x_shared)
    np.testing.assert_array_equal(b, x_pp)
    assert isinstance(a, fp.ParticleArray) and a.dtype == cls(*args).dtype
    assert not a.flags.writeable and p.sites == ("a", "b")
    expected = logpdf(_as_scipy(x_shared)) + pp_logpdf(_as_scipy(x_pp), pp_args)
    np.testing.assert_allclose(p.log_prior, expected, rtol=1e-9, atol=1e-12)
    assert not p.log_likelihood.any() and not p.log_factors.any()


def hierarchical(ys):
    mu = fp.sample("mu", fp.Normal(0.0, 2.0))
    tau = fp.sample("tau", fp.Gamma(2.0, 2.0))
    on = fp.sample("on", fp.Bernoulli(0.3))
    k = fp.sample("k", fp.Poisson(np.exp(mu / 4)))
    for i, y in enumerate(ys):
        theta = fp.sample(fp.addr("theta", i), fp.Normal(mu, 1.0 / tau))
        fp.observe(fp.addr("y", i), fp.Normal(theta + np.where(on, 0.5, 0.0), 1.0), y)
    fp.factor(-0.1 * k)
    return mu


@pytest.mark.parametrize("model, args", [(hierarchical, ([0.3, -1.2, 2.0],)), (sensor, (22.0,)),
                                         (ref20, ())])
def test_scoring_a_prior_run_gives_its_log_weights_bit_for_bit(model, args):
    v0, prior = fp.run_particles(fp.PriorHandler(rng=SEED), model, N, *args, seed=KEY)
    v1, scored = fp.run_particles(fp.PriorHandler(rng=99), model, N, *args, base=prior)
    assert scored.sites == prior.sites
    for site in prior.sites:
        np.testing.assert_array_equal(scored[site], prior[site])
        assert scored[site].dtype == prior[site].dtype
    np.testing.assert_array_equal(scored.log_prior, prior.log_prior)
    np.testing.assert_array_equal(scored.log_likelihood, prior.log_likelihood)
    np.testing.assert_array_equal(scored.log_factors, prior.log_factors)
    np.testing.assert_array_equal(np.asarray(v1, dtype=object), np.asarray(v0, dtype=object))
    # a plain dict of the values, in another order, scores the same
    base = {site: np.array(prior[site]) for site in reversed(prior.sites)}
    _, again = fp.run_particles(fp.PriorHandler(rng=1), model, N, *args, base=base)
    np.testing.assert_array_equal(again.log_prior, prior.log_prior)
    assert again.sites == prior.sites      # execution order, not the base's


def test_score_mode_is_the_score_handler_particle_by_particle():
    ys = [0.3, -1.2, 2.0]
    n = 30
    g = np.random.default_rng(8)
    base = {"mu": g.normal(0, 1, n), "tau": g.gamma(2.0, 1.0, n), "on": g.random(n) < 0.5,
            "k": g.poisson(1.0, n).astype(np.int32)}
    base.update({fp.addr("theta", i): g.normal(0, 1, n) for i in range(3)})
    _, p = fp.run_particles(fp.PriorHandler(rng=1), hierarchical, n, ys, base=base)
    for i in (0, 7, n - 1):
        t = fp.Trace.from_dict({a: v[i].item() for a, v in base.items()})
        _, scored = fp.run(fp.ScoreGivenTrace(t), hierarchical, ys)
        assert p.log_prior[i] == pytest.approx(scored.log_prior, rel=1e-13, abs=1e-13)
        assert p.log_likelihood[i] == pytest.approx(scored.log_likelihood, rel=1e-13, abs=1e-13)
        assert p.log_factors[i] == scored.log_factors
    assert p["k"].dtype == np.int64          # an int32 base is widened


def test_score_mode_one_particle_at_a_time_for_a_branching_model():
    n = 40
    _, prior = fp.run_particles(fp.PriorHandler(rng=SEED), branchy, n, on_branch="per_particle")
    assert prior.per_particle and not prior.present("extra").all()
    values, scored = fp.run_particles(fp.PriorHandler(rng=3), branchy, n, base=prior,
                                      on_branch="per_particle")
    assert scored.per_particle
    np.testing.assert_array_equal(scored.log_prior, prior.log_prior)
    np.testing.assert_array_equal(scored.present("extra"), prior.present("extra"))
    np.testing.assert_array_equal(values, prior["last"])
    # a vectorised run cannot score such a base: the site some particles lack is named
    with pytest.raises(UnexpectedModelStructure, match=r"sample\('extra'\): particle \d+ of the "
                                                       "base holds no value at 'extra'"):
        fp.run_particles(fp.PriorHandler(rng=3), _extra_model, n, base=prior)
    # a full base for a branching model: scored one by one
    full = {"valid": np.arange(n) % 2 == 0, "extra": np.linspace(-1, 1, n),
            "last": np.arange(n)}
    with pytest.raises(UnexpectedModelStructure, match="holds values at 'extra', an address "
                                                       "the model did not sample"):
        fp.run_particles(fp.PriorHandler(rng=3), branchy, n, base=full, on_branch="per_particle")
    only_valid = {"valid": full["valid"], "last": full["last"]}
    with pytest.raises(UnexpectedModelStructure, match="the base trace has no value at address "
                                                       "'extra'"):
        fp.run_particles(fp.PriorHandler(rng=3), branchy, n, base=only_valid,
                         on_branch="per_particle")


def _extra_model():
    fp.sample("valid", fp.Bernoulli(0.5))
    fp.sample("extra", fp.Normal(0.0, 1.0))
    fp.sample("last", fp.Poisson(2.0))


def test_score_mode_bad_bases():
    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.sample("on", fp.Bernoulli(0.5))
        fp.sample("k", fp.Poisson(2.0))
        fp.observe("y", fp.Normal(x, 1.0), 0.5)

    n = 5
    good = {"x": np.zeros(n), "on": np.ones(n, dtype=bool), "k": np.arange(n)}
    h = fp.PriorHandler(rng=1)
    fp.run_particles(h, model, n, base=good)

    def run(**changes):
        base = {a: v for a, v in (good | changes).items() if v is not None}
        return fp.run_particles(h, model, n, base=base)

    with pytest.raises(UnexpectedModelStructure, match=r"sample\('k'\): the base holds no values "
                                                       "at address 'k'") as e:
        run(k=None)
    assert e.value.address == "k" and e.value.code == 302
    with pytest.raises(UnexpectedModelStructure, match="the base holds values at 'z', an address "
                                                       "the model did not sample") as e:
        run(z=np.zeros(n))
    assert e.value.address == "z"
    with pytest.raises(UnexpectedModelStructure, match="holds values at 'y'"):
        run(y=np.zeros(n))                  # an observed address is not a sampled one
    with pytest.raises(TypeMismatch, match=r"sample\('x'\): the base's values at 'x' are bool, "
                                           "not float64 values as Normal draws") as e:
        run(x=np.ones(n, dtype=bool))
    assert e.value.address == "x" and e.value.code == 600
    with pytest.raises(TypeMismatch, match="values at 'on' are float64, not bool"):
        run(on=np.ones(n))
    with pytest.raises(TypeMismatch, match="values at 'k' are float64, not int64"):
        run(k=np.arange(n, dtype=np.float64))
    with pytest.raises(TypeMismatch, match="values at 'k' are uint64"):
        run(k=np.arange(n, dtype=np.uint64))
    with pytest.raises(TypeMismatch, match="values at 'x' are int64"):
        run(x=np.arange(n))
    with pytest.raises(TypeMismatch, match="the base's values at 'x' must be an array of numbers "
                                           "or bools, got str"):
        run(x="zeros")
    with pytest.raises(TypeMismatch, match="must be an array of numbers or bools, got an array "
                                           "of dtype object"):
        run(x=[None] * n)
    with pytest.raises(InvalidArgument, match=r"run_particles: base\['x'\] must hold one value "
                                              r"per particle: 5 values, not shape \(4,\)") as e:
        run(x=np.zeros(4))
    assert e.value.parameter == "base['x']"
    with pytest.raises(InvalidArgument, match=r"not shape \(5, 1\)"):
        run(x=np.zeros((n, 1)))
    with pytest.raises(InvalidArgument, match=r"not shape \(\)"):
        run(x=0.0)
    with pytest.raises(InvalidArgument, match=r"base\['x'\] must hold finite values: particle 2 "
                                              "holds nan"):
        run(x=np.array([0.0, 1.0, np.nan, 0.0, 0.0]))
    with pytest.raises(InvalidArgument, match="particle 0 holds inf"):
        run(x=np.full(n, np.inf))
    with pytest.raises(TypeError, match="run_particles: base must be None, a Particles or a "
                                        "mapping of addresses to arrays of values, got list"):
        fp.run_particles(h, model, n, base=[np.zeros(n)])
    with pytest.raises(TypeError, match="base must be a mapping keyed by addresses"):
        fp.run_particles(h, model, n, base={1: np.zeros(n)})
    _, other = fp.run_particles(h, model, 6)
    with pytest.raises(InvalidArgument, match=r"base\['x'\] must hold one value per particle: "
                                              "5 values, not shape"):
        fp.run_particles(h, model, n, base=other)
    # the handler is unharmed: a prior run afterwards draws as usual
    _, p = fp.run_particles(h, model, n, seed=0)
    assert p.sites == ("x", "on", "k")


# ---------------------------------------------------------------- large arrays' buffers


def _address(a):
    return a.__array_interface__["data"][0]


def _bases(a):
    out = []
    while a is not None:
        out.append(type(a).__name__)
        a = getattr(a, "base", None)
    return out


def test_large_particle_arrays_reuse_the_buffers_of_dropped_ones():
    # Arrays of at least 1 MB take their buffers from a cache: a dropped
    # run's buffers serve the next run (no freshly mapped pages), live ones
    # are never shared, and the values are those of an uncached run.
    n = 200_000                                   # 1.6 MB per float site
    h = fp.PriorHandler(rng=5)
    value, first = fp.run_particles(h, sensor, n, 22.0, seed=1)
    assert "_Buffer" in _bases(first["temperature"])
    kept = {s: np.array(first[s]) for s in first.sites}
    kept_lp = np.array(first.log_prior), np.array(first.log_likelihood)
    used = {_address(first["temperature"]), _address(first.log_prior),
            _address(first.log_likelihood), _address(first.log_factors)}
    del value, first
    value, again = fp.run_particles(h, sensor, n, 22.0, seed=1)
    assert {_address(again["temperature"]), _address(again.log_prior),
            _address(again.log_likelihood), _address(again.log_factors)} == used
    for s, v in kept.items():
        np.testing.assert_array_equal(again[s], v)
    np.testing.assert_array_equal(again.log_prior, kept_lp[0])
    np.testing.assert_array_equal(again.log_likelihood, kept_lp[1])
    assert not again.log_factors.any()            # (a reused buffer is zeroed)
    # A view keeps its buffer: another run gets other buffers and the view's
    # values stay.
    view = again["temperature"][::2]
    snapshot = np.array(view)
    del value, again
    _, other = fp.run_particles(h, sensor, n, 22.0, seed=2)
    taken = {_address(other[s]) for s in other.sites} | {
        _address(other.log_prior), _address(other.log_likelihood), _address(other.log_factors)}
    assert _address(view) not in taken
    np.testing.assert_array_equal(view, snapshot)


def test_a_small_run_uses_plain_arrays():
    _, p = fp.run_particles(fp.PriorHandler(rng=5), sensor, 1000, 22.0)
    assert "_Buffer" not in _bases(p["temperature"]) + _bases(p.log_prior)


# ------------------------------------------------------- per-particle means checked at once


def test_the_table_rules_the_mean_only_check_relies_on():
    # csrc/core/src/particles.cpp decides Normal's and LogNormal's parameters
    # for a per-particle mu from particle 0's check and the finiteness of
    # every mu: true while mu's only rule is finiteness and sigma's rules do
    # not read mu.
    from fugue_ppl.core._distribution_table import DISTRIBUTIONS, FINITE

    for d in DISTRIBUTIONS:
        if d.name in ("Normal", "LogNormal"):
            mu, sigma = d.params
            assert (mu.name, mu.rules, mu.slot) == ("mu", (FINITE,), 0)
            assert all(r.context is None and "{" not in r.test for r in sigma.rules)


@pytest.mark.parametrize("dist", [fp.Normal, fp.LogNormal])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", [0, 1, 4097, 9999])
def test_a_non_finite_per_particle_mean_names_its_particle(dist, bad, where):
    def model():
        mu = fp.sample("mu", fp.Normal(0.0, 1.0))
        mu = np.where(np.arange(10_000) == where, bad, np.asarray(mu))
        fp.sample("x", dist(mu, 1.0))

    with pytest.raises(fp.InvalidParameters, match=rf"mu must be finite \(particle {where}\)"):
        fp.run_particles(fp.PriorHandler(rng=1), model, 10_000)


@pytest.mark.parametrize("sigma", [0.0, -1.0, math.nan, math.inf])
def test_a_bad_shared_sigma_with_per_particle_means_is_refused(sigma):
    def model():
        mu = fp.sample("mu", fp.Normal(0.0, 1.0))
        fp.observe("y", fp.Normal(mu, sigma), 0.5)

    with pytest.raises(fp.InvalidParameters, match="sigma must be finite and > 0"):
        fp.run_particles(fp.PriorHandler(rng=1), model, 1000)
