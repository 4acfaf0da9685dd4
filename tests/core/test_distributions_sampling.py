"""Sampling: bit-for-bit equality with numpy's Generator methods, and
goodness of fit (Kolmogorov-Smirnov / chi-square) at fixed seeds."""

import math

import numpy as np
import pytest
import scipy.stats as st

import fugue_ppl.core._distributions as D

SEED = 20240607
N_EXACT = 5000

# ------------------------------------------------------------------ exact streams
#
# (our distribution, the equivalent numpy call f(generator, size)); size=None
# must give the scalar stream numpy's scalar calls give.

EXACT = [
    (D.Normal(1.5, 2.0), lambda g, s: g.normal(1.5, 2.0, s)),
    (D.Normal(-1e6, 1e-3), lambda g, s: g.normal(-1e6, 1e-3, s)),
    (D.Uniform(-1.0, 3.0), lambda g, s: g.uniform(-1.0, 3.0, s)),
    (D.LogNormal(0.3, 0.7), lambda g, s: g.lognormal(0.3, 0.7, s)),
    (D.Exponential(3.0), lambda g, s: g.exponential(1 / 3.0, s)),
    (D.Exponential(0.7), lambda g, s: g.exponential(1 / 0.7, s)),
    (D.Beta(0.5, 2.5), lambda g, s: g.beta(0.5, 2.5, s)),
    (D.Beta(0.2, 0.3), lambda g, s: g.beta(0.2, 0.3, s)),
    (D.Beta(3.0, 4.0), lambda g, s: g.beta(3.0, 4.0, s)),
    (D.Gamma(0.4, 3.0), lambda g, s: g.gamma(0.4, 1 / 3.0, s)),
    (D.Gamma(4.5, 0.3), lambda g, s: g.gamma(4.5, 1 / 0.3, s)),
    (D.Binomial(20, 0.3), lambda g, s: g.binomial(20, 0.3, s)),
    (D.Binomial(1000, 0.7), lambda g, s: g.binomial(1000, 0.7, s)),
    (D.Binomial(10**9, 0.4), lambda g, s: g.binomial(10**9, 0.4, s)),
    (D.Binomial(0, 0.4), lambda g, s: g.binomial(0, 0.4, s)),
    (D.Binomial(7, 1.0), lambda g, s: g.binomial(7, 1.0, s)),
    (D.Poisson(3.0), lambda g, s: g.poisson(3.0, s)),
    (D.Poisson(300.0), lambda g, s: g.poisson(300.0, s)),
    (D.Poisson(1e-3), lambda g, s: g.poisson(1e-3, s)),
    (D.StudentT(3.0, 1.0, 2.0), lambda g, s: 1.0 + 2.0 * g.standard_t(3.0, s)),
    (D.Cauchy(1.0, 2.0), lambda g, s: 1.0 + 2.0 * g.standard_cauchy(s)),
    (D.Laplace(1.0, 2.0), lambda g, s: g.laplace(1.0, 2.0, s)),
    (D.Weibull(1.5, 2.0), lambda g, s: 2.0 * g.weibull(1.5, s)),
    (D.ChiSquared(3.0), lambda g, s: g.chisquare(3.0, s)),
    (D.ChiSquared(0.5), lambda g, s: g.chisquare(0.5, s)),
    (D.InverseGamma(3.0, 2.0), lambda g, s: 2.0 / g.standard_gamma(3.0, s)),
    (D.DiscreteUniform(-3, 10), lambda g, s: g.integers(-3, 10, s, endpoint=True)),
    (D.DiscreteUniform(1, 6), lambda g, s: g.integers(1, 6, s, endpoint=True)),
    (D.DiscreteUniform(-2**62, 2**62), lambda g, s: g.integers(-2**62, 2**62, s, endpoint=True)),
    (D.DiscreteUniform(-2**63, 2**63 - 1),
     lambda g, s: g.integers(-2**63, 2**63 - 1, s, endpoint=True, dtype=np.int64)),
    (D.DiscreteUniform(5, 5), lambda g, s: g.integers(5, 5, s, endpoint=True)),
    (D.NegativeBinomial(2.5, 0.4), lambda g, s: g.negative_binomial(2.5, 0.4, s)),
    (D.NegativeBinomial(0.3, 0.05), lambda g, s: g.negative_binomial(0.3, 0.05, s)),
    (D.NegativeBinomial(1e9, 0.5), lambda g, s: g.negative_binomial(1e9, 0.5, s)),
    (D.NegativeBinomial(7.0, 1.0), lambda g, s: g.negative_binomial(7.0, 1.0, s)),
    # Geometric: inversion below p = 1/3, search above
    (D.Geometric(0.3), lambda g, s: g.geometric(0.3, s)),
    (D.Geometric(0.5), lambda g, s: g.geometric(0.5, s)),
    (D.Geometric(1e-3), lambda g, s: g.geometric(1e-3, s)),
    (D.Geometric(1e-15), lambda g, s: g.geometric(1e-15, s)),
    (D.Geometric(1.0), lambda g, s: g.geometric(1.0, s)),
    # Bernoulli: one uniform u, True when u < p.
    (D.Bernoulli(0.3), lambda g, s: g.random(s) < 0.3),
    (D.Bernoulli(0.0), lambda g, s: g.random(s) < 0.0),
    (D.Bernoulli(1.0), lambda g, s: g.random(s) < 1.0),
]


def _categorical_reference(probs):
    cdf = np.cumsum(probs)
    last = int(np.flatnonzero(np.asarray(probs) > 0)[-1])

    def draw(g, s):
        u = g.random(s)
        return np.minimum(np.searchsorted(cdf, u, side="right"), last)
    return draw


for _probs in ([0.2, 0.5, 0.3], [0.0, 0.5, 0.0, 0.4999995, 0.0], [1.0]):
    EXACT.append((D.Categorical(_probs), _categorical_reference(_probs)))


def _as_python(v):
    return v.item() if isinstance(v, np.generic) else v


@pytest.mark.parametrize("dist,ref", EXACT, ids=[repr(e[0]) for e in EXACT])
def test_array_sample_equals_numpy(dist, ref):
    ours = dist.sample(np.random.default_rng(SEED), size=N_EXACT)
    theirs = np.asarray(ref(np.random.default_rng(SEED), N_EXACT))
    assert ours.dtype == dist.dtype
    assert ours.shape == (N_EXACT,)
    np.testing.assert_array_equal(ours, theirs.astype(dist.dtype))
    # a tuple size gives the same stream in C order
    ours2 = dist.sample(np.random.default_rng(SEED), size=(50, 20))
    assert ours2.shape == (50, 20)
    np.testing.assert_array_equal(ours2.reshape(-1), theirs[:1000].astype(dist.dtype))


@pytest.mark.parametrize("dist,ref", EXACT, ids=[repr(e[0]) for e in EXACT])
def test_scalar_sample_stream_equals_numpy(dist, ref):
    g1 = np.random.default_rng(SEED)
    g2 = np.random.default_rng(SEED)
    ours = [dist.sample(g1) for _ in range(300)]
    theirs = [_as_python(ref(g2, None)) for _ in range(300)]
    kind = {np.dtype(np.float64): float, np.dtype(np.int64): int, np.dtype(np.bool_): bool}
    assert all(type(v) is kind[dist.dtype] for v in ours)
    assert ours == [kind[dist.dtype](v) for v in theirs]
    # the generator ends in the same state: nothing extra was drawn
    assert g1.random() == g2.random()


def test_seed_int_and_seedsequence_match_default_rng():
    d = D.Normal(0.0, 1.0)
    a = d.sample(123, size=10)
    b = d.sample(np.random.SeedSequence(123), size=10)
    c = np.random.default_rng(123).normal(size=10)
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(b, c)
    np.testing.assert_array_equal(d.sample(np.random.PCG64(5), size=3),
                                  np.random.default_rng(np.random.PCG64(5)).normal(size=3))
    assert d.sample(123) == np.random.default_rng(123).normal()


def test_other_bit_generators_are_used_as_given():
    g1 = np.random.Generator(np.random.Philox(7))
    g2 = np.random.Generator(np.random.Philox(7))
    np.testing.assert_array_equal(D.Gamma(2.0, 3.0).sample(g1, size=100),
                                  g2.gamma(2.0, 1 / 3.0, size=100))


# ------------------------------------------------------------------ goodness of fit
#
# Each test draws n = 100_000 values per parameter set with a fixed seed and
# rejects when the p-value is below ALPHA / (number of parameter sets)
# (Bonferroni), so for a correct sampler and a random seed a test fails with
# probability at most ALPHA = 1e-3; with the fixed seed the outcome is
# deterministic.

ALPHA = 1e-3
N_GOF = 100_000

CONTINUOUS_GOF = {
    "Normal": [(D.Normal(0.0, 1.0), st.norm()), (D.Normal(-3.0, 1e-3), st.norm(-3.0, 1e-3)),
               (D.Normal(1e6, 1e4), st.norm(1e6, 1e4))],
    "Uniform": [(D.Uniform(0.0, 1.0), st.uniform(0.0, 1.0)),
                (D.Uniform(-5.0, 1e3), st.uniform(-5.0, 1005.0))],
    "LogNormal": [(D.LogNormal(0.0, 1.0), st.lognorm(1.0)),
                  (D.LogNormal(2.0, 0.1), st.lognorm(0.1, scale=math.exp(2.0))),
                  (D.LogNormal(-1.0, 3.0), st.lognorm(3.0, scale=math.exp(-1.0)))],
    "Exponential": [(D.Exponential(1.0), st.expon()), (D.Exponential(1e-3), st.expon(scale=1e3)),
                    (D.Exponential(50.0), st.expon(scale=1 / 50.0))],
    "Beta": [(D.Beta(0.5, 0.5), st.beta(0.5, 0.5)), (D.Beta(0.1, 3.0), st.beta(0.1, 3.0)),
             (D.Beta(2.0, 5.0), st.beta(2.0, 5.0)), (D.Beta(1e3, 2e3), st.beta(1e3, 2e3)),
             (D.Beta(0.3, 0.2), st.beta(0.3, 0.2))],
    "Gamma": [(D.Gamma(0.1, 1.0), st.gamma(0.1)), (D.Gamma(0.5, 2.0), st.gamma(0.5, scale=0.5)),
              (D.Gamma(3.0, 0.5), st.gamma(3.0, scale=2.0)),
              (D.Gamma(1e4, 1.0), st.gamma(1e4))],
    "StudentT": [(D.StudentT(1.0, 0.0, 1.0), st.t(1.0)),
                 (D.StudentT(2.5, 1.0, 3.0), st.t(2.5, 1.0, 3.0)),
                 (D.StudentT(100.0, -1.0, 0.5), st.t(100.0, -1.0, 0.5)),
                 (D.StudentT(0.5, 0.0, 1.0), st.t(0.5))],
    "Cauchy": [(D.Cauchy(0.0, 1.0), st.cauchy()), (D.Cauchy(5.0, 0.1), st.cauchy(5.0, 0.1))],
    "Laplace": [(D.Laplace(0.0, 1.0), st.laplace()), (D.Laplace(-2.0, 5.0), st.laplace(-2.0, 5.0))],
    "Weibull": [(D.Weibull(0.5, 1.0), st.weibull_min(0.5)),
                (D.Weibull(1.5, 2.0), st.weibull_min(1.5, scale=2.0)),
                (D.Weibull(10.0, 0.3), st.weibull_min(10.0, scale=0.3))],
    "ChiSquared": [(D.ChiSquared(1.0), st.chi2(1.0)), (D.ChiSquared(0.3), st.chi2(0.3)),
                   (D.ChiSquared(7.0), st.chi2(7.0)), (D.ChiSquared(500.0), st.chi2(500.0))],
    "InverseGamma": [(D.InverseGamma(0.5, 1.0), st.invgamma(0.5)),
                     (D.InverseGamma(3.0, 2.0), st.invgamma(3.0, scale=2.0)),
                     (D.InverseGamma(50.0, 10.0), st.invgamma(50.0, scale=10.0))],
}


def _binned_pvalue(x, ref, nbins=100, cap=np.inf):
    """Chi-square test on nbins equal-probability bins of the reference; bin
    edges above ``cap`` are dropped (their mass pools in the top bin)."""
    edges = np.unique(ref.ppf(np.linspace(0.0, 1.0, nbins + 1)[1:-1]))
    edges = edges[edges < cap]
    probs = np.diff(np.concatenate([[0.0], ref.cdf(edges), [1.0]]))
    obs = np.bincount(np.searchsorted(edges, x, side="left"), minlength=len(probs))
    return st.chisquare(obs, probs / probs.sum() * len(x)).pvalue


@pytest.mark.parametrize("name", sorted(CONTINUOUS_GOF))
def test_continuous_sampler_goodness_of_fit(name):
    cases = CONTINUOUS_GOF[name]
    for i, (dist, ref) in enumerate(cases):
        x = dist.sample(np.random.default_rng(SEED + i), size=N_GOF)
        p = st.kstest(x, ref.cdf).pvalue
        assert p > ALPHA / len(cases), f"{dist!r}: KS p-value {p:.3g}"


def test_beta_with_tiny_shapes_goodness_of_fit():
    # Beta(0.05, 0.05) puts 7.8% of its mass within 2^-54 of 1, which rounds
    # to exactly 1.0: the ties invalidate KS, so bin instead (same ALPHA),
    # pooling everything above 1 - 1e-12 into the top bin.
    ref = st.beta(0.05, 0.05)
    x = D.Beta(0.05, 0.05).sample(np.random.default_rng(SEED), size=N_GOF)
    assert abs(np.mean(x == 1.0) - ref.cdf(2.0**-54)) < 0.005  # symmetric: P(X > 1 - e) = P(X < e)
    p = _binned_pvalue(x, ref, cap=1.0 - 1e-12)
    assert p > ALPHA, f"chi-square p-value {p:.3g}"


def _chisquare_pooled(values, pmf, cdf, lo, hi):
    """Chi-square test on the bins lo..hi where the first bin also holds the
    left tail (X <= lo) and the last one the right tail (X >= hi); the edges
    move inward until the edge bins expect at least 5 draws (inner bins of a
    unimodal pmf then do too; zero-probability values must never occur)."""
    n = len(values)
    while lo < hi and pmf(lo) * n < 5:
        lo += 1
    while hi > lo and pmf(hi) * n < 5:
        hi -= 1
    ks = np.arange(lo, hi + 1)
    probs = np.asarray(pmf(ks), dtype=float)
    probs[0] = cdf(lo)
    probs[-1] = 1.0 - cdf(hi - 1) if hi > lo else 1.0
    clipped = np.clip(values, lo, hi) - lo
    obs = np.bincount(clipped, minlength=hi - lo + 1)
    empty = probs == 0.0  # impossible values (e.g. a zero-probability category)
    assert obs[empty].sum() == 0
    obs, probs = obs[~empty], probs[~empty]
    exp = probs / probs.sum() * n
    return st.chisquare(obs, exp).pvalue


DISCRETE_GOF = {
    "Bernoulli": [(D.Bernoulli(0.3), st.bernoulli(0.3)), (D.Bernoulli(1e-3), st.bernoulli(1e-3)),
                  (D.Bernoulli(0.999), st.bernoulli(0.999))],
    "Binomial": [(D.Binomial(10, 0.3), st.binom(10, 0.3)),
                 (D.Binomial(1000, 0.01), st.binom(1000, 0.01)),
                 (D.Binomial(10**6, 0.4), st.binom(10**6, 0.4)),
                 (D.Binomial(10**9, 0.7), st.binom(10**9, 0.7)),
                 (D.Binomial(50, 0.999), st.binom(50, 0.999))],
    "Poisson": [(D.Poisson(1e-3), st.poisson(1e-3)), (D.Poisson(0.5), st.poisson(0.5)),
                (D.Poisson(7.5), st.poisson(7.5)), (D.Poisson(1e3), st.poisson(1e3)),
                (D.Poisson(1e9), st.poisson(1e9))],
    "Categorical": [
        (D.Categorical([0.1, 0.2, 0.7]), st.rv_discrete(values=(range(3), [0.1, 0.2, 0.7]))),
        (D.Categorical([0.5, 0.0, 0.5]), st.rv_discrete(values=(range(3), [0.5, 0.0, 0.5]))),
    ],
    "DiscreteUniform": [(D.DiscreteUniform(1, 6), st.randint(1, 7)),
                        (D.DiscreteUniform(-1000, 1000), st.randint(-1000, 1001))],
    "NegativeBinomial": [(D.NegativeBinomial(2.5, 0.4), st.nbinom(2.5, 0.4)),
                         (D.NegativeBinomial(0.2, 0.1), st.nbinom(0.2, 0.1)),
                         (D.NegativeBinomial(50.0, 0.9), st.nbinom(50.0, 0.9)),
                         (D.NegativeBinomial(100.0, 0.05), st.nbinom(100.0, 0.05))],
    "Geometric": [(D.Geometric(0.3), st.geom(0.3)), (D.Geometric(0.9), st.geom(0.9)),
                  (D.Geometric(0.01), st.geom(0.01)), (D.Geometric(1e-6), st.geom(1e-6))],
}
_p = np.random.default_rng(1).dirichlet(np.ones(100))
_p[-1] = 1.0 - _p[:-1].sum()
DISCRETE_GOF["Categorical"].append((D.Categorical(_p), st.rv_discrete(values=(range(100), _p))))


@pytest.mark.parametrize("name", sorted(DISCRETE_GOF))
def test_discrete_sampler_goodness_of_fit(name):
    cases = DISCRETE_GOF[name]
    for i, (dist, ref) in enumerate(cases):
        v = dist.sample(np.random.default_rng(SEED + i), size=N_GOF).astype(np.int64)
        mean, sd = ref.mean(), ref.std()
        lo = int(max(ref.support()[0], math.floor(mean - 8 * sd)))
        hi = int(min(ref.support()[1], math.ceil(mean + 8 * sd)))
        if hi - lo > 2000:  # wide supports: bin coarsely in equal-probability quantile bins
            edges = np.unique(ref.ppf(np.linspace(0, 1, 201)[1:-1]))
            idx = np.searchsorted(edges, v, side="left")
            cdf_edges = np.concatenate([[0.0], ref.cdf(edges), [1.0]])
            probs = np.diff(cdf_edges)
            obs = np.bincount(idx, minlength=len(probs))
            p = st.chisquare(obs, probs / probs.sum() * N_GOF).pvalue
        else:
            p = _chisquare_pooled(v, ref.pmf, ref.cdf, lo, hi)
        assert p > ALPHA / len(cases), f"{dist!r}: chi-square p-value {p:.3g}"


def test_discrete_uniform_huge_ranges_goodness_of_fit():
    # 2^40 and 2^64 values: 64 buckets of equal size on the top bits.
    for i, (lo, hi) in enumerate(((0, 2**40 - 1), (-2**63, 2**63 - 1))):
        v = D.DiscreteUniform(lo, hi).sample(np.random.default_rng(SEED + i), size=N_GOF)
        assert v.min() >= lo and v.max() <= hi
        width = (hi - lo + 1) // 64
        buckets = ((v.astype(object) - lo) // width).astype(np.int64)
        obs = np.bincount(buckets, minlength=64)
        p = st.chisquare(obs).pvalue
        assert p > ALPHA / 2, (lo, hi, p)


def test_degenerate_samplers():
    assert np.all(D.Bernoulli(0.0).sample(SEED, size=1000) == False)
    assert np.all(D.Bernoulli(1.0).sample(SEED, size=1000) == True)
    assert np.all(D.Binomial(12, 0.0).sample(SEED, size=1000) == 0)
    assert np.all(D.Binomial(12, 1.0).sample(SEED, size=1000) == 12)
    assert np.all(D.Binomial(0, 0.5).sample(SEED, size=1000) == 0)
    assert np.all(D.DiscreteUniform(-7, -7).sample(SEED, size=1000) == -7)
    assert np.all(D.Categorical([0.0, 1.0, 0.0]).sample(SEED, size=1000) == 1)
    assert np.all(D.NegativeBinomial(3.0, 1.0).sample(SEED, size=1000) == 0)
    assert np.all(D.Geometric(1.0).sample(SEED, size=1000) == 1)
    # a zero-probability category is never drawn, even when the sum is short of 1
    v = D.Categorical([0.4999995, 0.5, 0.0]).sample(SEED, size=200_000)
    assert set(np.unique(v).tolist()) == {0, 1}


def test_samples_lie_in_the_support():
    g = np.random.default_rng(SEED)
    assert np.all(D.Uniform(2.0, 2.5).sample(g, size=10**5) < 2.5)
    assert np.all(D.Uniform(2.0, 2.5).sample(g, size=10**5) >= 2.0)
    for d in (D.Beta(0.05, 0.05), D.Beta(2.0, 3.0)):
        v = d.sample(g, size=10**5)
        assert np.all((v >= 0) & (v <= 1))
    for d in (D.Gamma(0.05, 1.0), D.Exponential(3.0), D.Weibull(0.3, 1.0), D.ChiSquared(0.2),
              D.LogNormal(0.0, 2.0)):
        assert np.all(d.sample(g, size=10**5) >= 0)
    assert np.all(D.InverseGamma(2.0, 1.0).sample(g, size=10**5) > 0)
    v = D.Binomial(20, 0.5).sample(g, size=10**5)
    assert v.min() >= 0 and v.max() <= 20
    assert D.NegativeBinomial(0.5, 0.5).sample(g, size=10**5).min() == 0
    assert D.Geometric(0.9).sample(g, size=10**5).min() == 1
