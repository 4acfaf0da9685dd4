"""Distribution benchmarks: fugue-ppl's array paths against numpy.

1. ``Normal.sample(rng, size=1_000_000)`` against
   ``numpy.random.Generator.normal(size=1_000_000)``: both fill from the same
   kind of Generator (PCG64). Target: within 1.2x of numpy.
2. ``Normal.log_prob(x)`` on a 1e6 float64 array against the numpy expression
   ``-0.5*((x-mu)/sigma)**2 - log(sigma) - 0.5*log(2*pi)``. Target: at least
   as fast as numpy.
3. Construction, which a model does once per effect: ``Normal(0.0, 1.0)``
   and ``Bernoulli(0.5)`` against building the builtin ``complex(0.0, 1.0)``
   (an object holding two doubles), each ``CONSTRUCTIONS_PER_CALL`` times in
   the same plain loop. Target: no slower than ``complex``.
   ``extra_info["per_construction_s"]`` has the per-construction time (loop
   included) of the fastest round.
"""

import math

import numpy as np
import pytest

import fugue_ppl as fp

SEED = 20240611
N = 1_000_000
MU, SIGMA = 1.5, 2.0
CONSTRUCTIONS_PER_CALL = 1000


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(SEED).normal(MU, 3.0, size=N)


def _numpy_log_prob(x, mu=MU, sigma=SIGMA):
    return -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)


# ---------------------------------------------------------------- sanity (not timed)

def test_same_work():
    d = fp.Normal(MU, SIGMA)
    a = d.sample(rng=np.random.default_rng(SEED), size=N)
    b = np.random.default_rng(SEED).normal(MU, SIGMA, size=N)
    assert a.shape == b.shape == (N,) and a.dtype == b.dtype == np.float64
    # numpy's samplers through its C API: the same stream as Generator.normal.
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    xs = np.random.default_rng(SEED + 1).normal(MU, 3.0, size=10_000)
    np.testing.assert_allclose(d.log_prob(xs), _numpy_log_prob(xs), rtol=1e-12, atol=1e-12)
    assert math.isclose(d.log_prob(0.25), float(_numpy_log_prob(np.array(0.25))), rel_tol=1e-12)


# ---------------------------------------------------------------- 1. sampling

@pytest.mark.benchmark(group="Normal sample, 1e6")
def test_normal_sample_fugue(bench):
    d = fp.Normal(MU, SIGMA)
    gen = np.random.default_rng(SEED)
    out = bench(d.sample, gen, N)
    assert out.shape == (N,)


@pytest.mark.benchmark(group="Normal sample, 1e6")
def test_normal_sample_numpy(bench):
    gen = np.random.default_rng(SEED)
    out = bench(gen.normal, MU, SIGMA, N)
    assert out.shape == (N,)


# ---------------------------------------------------------------- 2. log-density

@pytest.mark.benchmark(group="Normal log_prob, 1e6")
def test_normal_log_prob_fugue(bench, x):
    d = fp.Normal(MU, SIGMA)
    out = bench(d.log_prob, x)
    assert out.shape == (N,)


@pytest.mark.benchmark(group="Normal log_prob, 1e6")
def test_normal_log_prob_numpy(bench, x):
    out = bench(_numpy_log_prob, x)
    assert out.shape == (N,)


# ---------------------------------------------------------------- 3. construction

def _constructions(cls, *args):
    n = CONSTRUCTIONS_PER_CALL
    if len(args) == 2:
        a, b = args

        def loop():
            for _ in range(n):
                cls(a, b)
    else:
        (a,) = args

        def loop():
            for _ in range(n):
                cls(a)
    return loop


def _per_construction(bench):
    bench.extra_info["constructions_per_call"] = CONSTRUCTIONS_PER_CALL
    if bench.stats is not None:
        bench.extra_info["per_construction_s"] = bench.stats.stats.min / CONSTRUCTIONS_PER_CALL


@pytest.mark.benchmark(group="construction")
def test_construct_normal(bench):
    bench(_constructions(fp.Normal, 0.0, 1.0))
    _per_construction(bench)


@pytest.mark.benchmark(group="construction")
def test_construct_bernoulli(bench):
    bench(_constructions(fp.Bernoulli, 0.5))
    _per_construction(bench)


@pytest.mark.benchmark(group="construction")
def test_construct_complex(bench):
    bench(_constructions(complex, 0.0, 1.0))
    _per_construction(bench)


# ---------------------------------------------------------------- ratios (targets)

def test_ratio_normal_sample(compare):
    compare("test_normal_sample_fugue", "test_normal_sample_numpy", kind="slowdown", target=1.2,
            description="Normal.sample(size=1e6) vs Generator.normal")


def test_ratio_normal_log_prob(compare):
    compare("test_normal_log_prob_fugue", "test_normal_log_prob_numpy", kind="speedup",
            target=1.0, description="Normal.log_prob(1e6) vs numpy expression")


def test_ratio_construct_normal(compare):
    compare("test_construct_normal", "test_construct_complex", kind="slowdown", target=1.0,
            description="Normal(0.0, 1.0) vs complex(0.0, 1.0), construction")


def test_ratio_construct_bernoulli(compare):
    compare("test_construct_bernoulli", "test_construct_complex", kind="slowdown", target=1.0,
            description="Bernoulli(0.5) vs complex(0.0, 1.0), construction")
