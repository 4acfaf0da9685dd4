"""Particle runs: fp.run_particles against hand-written numpy and against n separate runs.

On the sensor model (2 sampled sites, 1 observed) and ref20 (20 sampled, 19
observed) at n = 1,000 and n = 1,000,000 particles:

1. ``run_particles`` against the same model written by hand with numpy
   arrays (``rng.normal(size=n)``, the log-densities by hand, the same
   outputs: each site's values, each particle's log-prior and
   log-likelihood). Target: at least as fast (slowdown <= 1.0).
2. ``run_particles`` against ``n`` separate runs of a ``PooledPriorHandler``
   (the cheapest form: each trace goes back to the pool at once). Target:
   at least 20x faster. At n = 1,000,000 the separate runs are timed on a
   sample of 10,000 runs and scaled by 100 (the comparison's description
   says so).

Before timing, each hand-written baseline is checked to draw the very values
``run_particles`` draws from the same stream (the same work).
"""

import math

import numpy as np
import pytest

import fugue_ppl as fp
from fugue_ppl.models import ref20, sensor

SEED = 20240611
READING = 22.0
SMALL, LARGE = 1_000, 1_000_000
SAMPLE_RUNS = 10_000            # separate runs timed at n = LARGE (scaled by LARGE / SAMPLE_RUNS)
LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
Y20 = [0.1 * i - 0.9 for i in range(19)]
X20 = [fp.addr("x", i) for i in range(19)]


# ---------------------------------------------------------------- the hand-written baselines

def numpy_sensor(rng, n, reading):
    """The sensor model by hand: Normal(20, 5), Bernoulli(0.95), Normal(t, 1) observed."""
    temperature = 20.0 + 5.0 * rng.normal(size=n)
    valid = rng.random(n) < 0.95
    z = (temperature - 20.0) / 5.0
    log_prior = (-0.5 * z * z - (LOG_SQRT_2PI + math.log(5.0))
                 + np.where(valid, math.log(0.95), math.log(0.05)))
    d = reading - temperature
    log_likelihood = -0.5 * d * d - LOG_SQRT_2PI
    return {"temperature": temperature, "valid": valid}, log_prior, log_likelihood


def numpy_ref20(rng, n):
    """ref20 by hand: mu ~ Normal(0, 1); x[i] ~ Normal(mu, 1); y[i] ~ Normal(x[i], 0.5)."""
    mu = rng.normal(size=n)
    values = {"mu": mu}
    quad_prior = mu * mu
    quad_lik = np.zeros(n)
    for i in range(19):
        x = mu + rng.normal(size=n)
        values[X20[i]] = x
        d = x - mu
        quad_prior += d * d
        z = (x - Y20[i]) / 0.5
        quad_lik += z * z
    log_prior = -0.5 * quad_prior - 20 * LOG_SQRT_2PI
    log_likelihood = -0.5 * quad_lik - 19 * (LOG_SQRT_2PI + math.log(0.5))
    return values, log_prior, log_likelihood


def _same_work(numpy_model, model, args):
    # The baseline draws what run_particles draws from the same stream, and
    # scores it alike (to rounding).
    values, log_prior, log_likelihood = numpy_model(np.random.default_rng([SEED, 0]), 500, *args)
    _, p = fp.run_particles(fp.PriorHandler(rng=SEED), model, 500, *args, seed=0)
    assert list(values) == list(p.sites)
    for site, v in values.items():
        np.testing.assert_allclose(p[site], v, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(p.log_prior, log_prior, rtol=1e-12)
    np.testing.assert_allclose(p.log_likelihood, log_likelihood, rtol=1e-12)


# ---------------------------------------------------------------- the benchmarks

def _particles(bench, model, n, args):
    h = fp.PriorHandler(rng=SEED)
    run_particles = fp.run_particles
    return bench.pedantic(lambda: run_particles(h, model, n, *args), rounds=_rounds(n),
                          warmup_rounds=1)


def _numpy(bench, numpy_model, model, n, args):
    _same_work(numpy_model, model, args)
    rng = np.random.default_rng(SEED)
    return bench.pedantic(lambda: numpy_model(rng, n, *args), rounds=_rounds(n),
                          warmup_rounds=1)


def _pooled(bench, model, runs, args):
    h = fp.PooledPriorHandler(rng=SEED, pool=fp.TracePool(8))
    run = fp.run

    def calls():
        for _ in range(runs):
            run(h, model, *args)
    bench.pedantic(calls, rounds=5 if runs > SMALL else 20, warmup_rounds=1)


def _rounds(n):
    return 7 if n >= LARGE else 200


CASES = {"sensor": (sensor, numpy_sensor, (READING,)), "ref20": (ref20, numpy_ref20, ())}


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["1k", "1M"])
@pytest.mark.parametrize("name", list(CASES))
def test_particles(bench, name, size):
    model, _, args = CASES[name]
    bench.group = f"particles: {name} n={size:,}"
    _, p = _particles(bench, model, size, args)
    assert p.n == size and not p.per_particle


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["1k", "1M"])
@pytest.mark.parametrize("name", list(CASES))
def test_numpy(bench, name, size):
    model, numpy_model, args = CASES[name]
    bench.group = f"particles: {name} n={size:,}"
    values, _, _ = _numpy(bench, numpy_model, model, size, args)
    assert len(next(iter(values.values()))) == size


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["1k", "1M"])
@pytest.mark.parametrize("name", list(CASES))
def test_pooled_runs(bench, name, size):
    model, _, args = CASES[name]
    bench.group = f"particles: {name} n={size:,}"
    _pooled(bench, model, min(size, SAMPLE_RUNS), args)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["1k", "1M"])
@pytest.mark.parametrize("name", list(CASES))
def test_ratio_particles_vs_numpy(compare, name, size):
    ids = f"[{name}-{'1k' if size == SMALL else '1M'}]"
    compare(f"test_particles{ids}", f"test_numpy{ids}", kind="slowdown", target=1.0,
            description=f"{name} n={size:,}: run_particles vs hand-written numpy")


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["1k", "1M"])
@pytest.mark.parametrize("name", list(CASES))
def test_ratio_particles_vs_pooled_runs(compare, name, size):
    ids = f"[{name}-{'1k' if size == SMALL else '1M'}]"
    runs = min(size, SAMPLE_RUNS)
    sampled = "" if runs == size else f" ({runs:,} runs timed, x{size // runs})"
    compare(f"test_particles{ids}", f"test_pooled_runs{ids}", kind="speedup", target=20.0,
            baseline_scale=size / runs,
            description=f"{name} n={size:,}: run_particles vs {size:,} pooled runs{sampled}")


# ---------------------------------------------------------------- importance sampling per request
#
# A service answering each request with a posterior: ModelRunner(sensor,
# inference=ImportanceSampling(n=1000, sites=["temperature"])).infer(reading)
# and reading the weighted mean, variance and ESS off its result, against the
# same importance sampler written by hand with numpy (the same draws, the same
# weights, the same three figures). Target: within 1.2x.

IS_N = 1_000


def numpy_importance(rng, n, reading):
    """Self-normalised importance sampling of the sensor model by hand: the
    temperature's weighted mean and variance and the weights' ESS."""
    values, _, log_likelihood = numpy_sensor(rng, n, reading)
    t = values["temperature"]
    w = np.exp(log_likelihood - log_likelihood.max())
    w /= w.sum()
    mean = float(w @ t)
    d = t - mean
    return mean, float(w @ (d * d)), float(1.0 / (w @ w))


def _served_importance(runner, reading):
    post = runner.infer(reading).value
    return post.mean("temperature"), post.particles.var("temperature"), post.ess


def _importance_runner():
    from fugue_ppl.inference import ImportanceSampling

    return fp.ModelRunner(sensor, rng=SEED, deadline=1.0,
                          inference=ImportanceSampling(n=IS_N, sites=["temperature"]))


@pytest.mark.benchmark(group="importance sampling per request: sensor n=1,000")
def test_importance_served(bench):
    runner = _importance_runner()
    # The same work as the hand-written sampler: the runner's call with key k
    # draws the stream numpy.random.default_rng([SEED, k]), and its figures
    # are the baseline's on those draws.
    served = _served_importance(runner, READING)        # (call 0: key 0)
    by_hand = numpy_importance(np.random.default_rng([SEED, 0]), IS_N, READING)
    np.testing.assert_allclose(served, by_hand, rtol=1e-12)
    bench.pedantic(lambda: _served_importance(runner, READING), rounds=300, iterations=5,
                   warmup_rounds=2)
    assert runner.metrics.error_count == 0


@pytest.mark.benchmark(group="importance sampling per request: sensor n=1,000")
def test_importance_numpy(bench):
    rng = np.random.default_rng(SEED)
    bench.pedantic(lambda: numpy_importance(rng, IS_N, READING), rounds=300, iterations=5,
                   warmup_rounds=2)


def test_ratio_importance_served_vs_numpy(compare):
    compare("test_importance_served", "test_importance_numpy", kind="slowdown", target=1.2,
            description="sensor n=1,000: importance sampling served by ModelRunner vs "
                        "hand-written numpy")
