"""Monitor benchmarks: the statistical monitors' array updates against
``np.cumsum`` on the same array (1e7 float64 values, N(0, 1)).

``np.cumsum`` is the baseline because it is the cheapest numpy pass with a
loop-carried dependency, like every monitor: each output depends on the
previous one, so neither side can vectorise across elements. Targets (the
issue's): within 2x of ``np.cumsum`` for

1. ``EWMA.update_many(x)`` -- the summary (alarm indices and the last
   signal), which is what a service feeds a batch of latencies through;
2. ``EWMA.update_many(x, full=True)`` -- also fills ``z_t`` and both limits
   for every value (three float64 arrays of 1e7, allocated per call, as
   ``np.cumsum`` allocates its output);
3. ``CUSUM.update_many(x)`` -- the tabular two-sided CUSUM;
4. ``Welford.update_many(x)`` -- mean and variance.

The charts run with a known baseline (mu0 = 0, sigma = 1), so the data is in
control and the alarms are the occasional false ones. Each monitor is built
once and fed the same array every round (its state carries over, as in a
service).
"""

import math

import numpy as np
import pytest

from fugue_ppl.monitoring._monitors import CUSUM, EWMA, Welford

SEED = 20240611
N = 10_000_000


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(SEED).standard_normal(N)


# ---------------------------------------------------------------- sanity (not timed)

def test_same_work():
    y = np.random.default_rng(SEED + 1).standard_normal(100_000)
    # EWMA: the C++ loop computes the recursion numpy would
    r = EWMA(0.2, 2.962, mu0=0.0, sigma=1.0).update_many(y, full=True)
    z, zs = 0.0, np.empty_like(y)
    for i, v in enumerate(y[:2000]):
        z = 0.2 * v + 0.8 * z
        zs[i] = z
    np.testing.assert_array_equal(r.values[:2000], zs[:2000])
    assert r.count == len(y) and len(r.alarms) > 0
    # CUSUM
    c = CUSUM(0.5, 5.0, mu0=0.0, sigma=1.0).update_many(y, full=True)
    cp = cm = 0.0
    for i, v in enumerate(y[:2000]):
        cp, cm = max(0.0, cp + (v - 0.5)), max(0.0, cm + (-0.5 - v))
        assert c.values[i] == (cp if cp >= cm else -cm)
    # Welford
    w = Welford()
    w.update_many(y)
    assert w.count == len(y)
    assert math.isclose(w.mean, y.mean(), rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(w.variance, y.var(ddof=1), rel_tol=1e-12)


# ---------------------------------------------------------------- baseline

@pytest.mark.benchmark(group="monitors, 1e7 values")
def test_cumsum_numpy(bench, x):
    out = bench(np.cumsum, x)
    assert out.shape == (N,)


# ---------------------------------------------------------------- monitors

@pytest.mark.benchmark(group="monitors, 1e7 values")
def test_ewma_update_many(bench, x):
    chart = EWMA(0.2, 2.962, mu0=0.0, sigma=1.0)
    r = bench(chart.update_many, x)
    assert r.count == N and r.values is None


@pytest.mark.benchmark(group="monitors, 1e7 values")
def test_ewma_update_many_full(bench, x):
    chart = EWMA(0.2, 2.962, mu0=0.0, sigma=1.0)
    r = bench(lambda: chart.update_many(x, full=True))
    assert r.values.shape == r.lcl.shape == r.ucl.shape == (N,)


@pytest.mark.benchmark(group="monitors, 1e7 values")
def test_cusum_update_many(bench, x):
    chart = CUSUM(0.5, 5.0, mu0=0.0, sigma=1.0)
    r = bench(chart.update_many, x)
    assert r.count == N


@pytest.mark.benchmark(group="monitors, 1e7 values")
def test_welford_update_many(bench, x):
    w = Welford()
    bench(w.update_many, x)
    assert w.count % N == 0 and w.count > 0


# ---------------------------------------------------------------- ratios (targets)

def test_ratio_ewma(compare):
    compare("test_ewma_update_many", "test_cumsum_numpy", kind="slowdown", target=2.0,
            description="EWMA.update_many(1e7) vs np.cumsum")


def test_ratio_ewma_full(compare):
    compare("test_ewma_update_many_full", "test_cumsum_numpy", kind="slowdown", target=2.0,
            description="EWMA.update_many(1e7, full=True) vs np.cumsum")


def test_ratio_cusum(compare):
    compare("test_cusum_update_many", "test_cumsum_numpy", kind="slowdown", target=2.0,
            description="CUSUM.update_many(1e7) vs np.cumsum")


def test_ratio_welford(compare):
    compare("test_welford_update_many", "test_cumsum_numpy", kind="slowdown", target=2.0,
            description="Welford.update_many(1e7) vs np.cumsum")
