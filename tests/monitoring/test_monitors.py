"""Statistical process control monitors (fugue_ppl.monitoring._monitors): Welford, EWMA,
ShewhartChart and CUSUM -- closed forms, warm-up, the Western Electric rules,
validation, array updates, thread safety and the GIL.

The run-length simulations (in-control ARL, detection delay) are in
tests/test_monitors_arl.py.
"""

from __future__ import annotations

import math
import pickle
import sys
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fugue_ppl.errors import FugueError, InvalidArgument, InvalidObservation
from fugue_ppl.monitoring import _monitors as mon
from fugue_ppl.monitoring._monitors import CUSUM, EWMA, BatchResult, ShewhartChart, Signal, Welford

CHARTS = {
    "EWMA": lambda **kw: EWMA(**kw),
    "CUSUM": lambda **kw: CUSUM(**kw),
    "ShewhartChart": lambda **kw: ShewhartChart(**kw),
}


def test_public_names():
    assert set(mon.__all__) == {"Welford", "EWMA", "ShewhartChart", "CUSUM", "Signal",
                                "BatchResult", "EWMAConfig", "CUSUMConfig", "DEFAULT_WARMUP",
                                "WESTERN_ELECTRIC_RULES"}
    for name in mon.__all__:
        assert hasattr(mon, name)
    assert mon.WESTERN_ELECTRIC_RULES == ("WE1", "WE2", "WE3", "WE4")


# ================================================================ Welford


def exact_moments(x):
    """Mean and sample variance in exact rational arithmetic."""
    fx = [Fraction(v) for v in np.asarray(x).tolist()]
    m = sum(fx) / len(fx)
    return float(m), float(sum((f - m) ** 2 for f in fx) / (len(fx) - 1))


@pytest.mark.parametrize("offset, scale", [(0.0, 1.0), (1e9, 1.0), (-3e6, 250.0), (5.0, 1e-6)])
def test_welford_matches_numpy(offset, scale):
    x = offset + scale * np.random.default_rng(11).standard_normal(100_003)
    batch, scalar = Welford(), Welford()
    batch.update_many(x)
    for v in x[:20_000]:
        scalar.update(v)
    assert batch.count == len(x) and scalar.count == 20_000
    for w, xs in ((batch, x), (scalar, x[:20_000])):
        assert w.mean == pytest.approx(xs.mean(), rel=1e-12, abs=1e-12 * scale)
        assert w.variance == pytest.approx(xs.var(ddof=1), rel=1e-12)
        assert w.population_variance == pytest.approx(xs.var(ddof=0), rel=1e-12)
        assert w.var(ddof=1) == w.variance and w.var(ddof=0) == w.population_variance
        assert w.std == pytest.approx(xs.std(ddof=1), rel=1e-12)
        assert w.population_std == pytest.approx(xs.std(ddof=0), rel=1e-12)


def test_welford_large_offset_where_the_naive_formula_fails():
    # 1e9 + noise of sd 1e-3: the stored values sit on a grid of 2**-23, and
    # the textbook sum-of-squares formula loses every digit. (numpy's own
    # two-pass var is off by ~1e-9 here, because its mean is rounded to that
    # grid, so the reference is exact rational arithmetic.)
    x = 1e9 + 1e-3 * np.random.default_rng(3).standard_normal(20_000)
    mean, var = exact_moments(x)
    naive = (np.sum(x * x) - np.sum(x) ** 2 / len(x)) / (len(x) - 1)
    assert abs(naive - var) / var > 0.1  # the naive formula loses every digit here
    batch, scalar = Welford(), Welford()
    batch.update_many(x)
    for v in x:
        scalar.update(v)
    for w in (batch, scalar):
        assert w.mean == pytest.approx(mean, rel=1e-15)
        assert w.variance == pytest.approx(var, rel=1e-12)
    # ... and on unit noise numpy agrees with the exact value too
    y = 1e9 + np.random.default_rng(4).standard_normal(20_000)
    w = Welford()
    w.update_many(y)
    assert w.variance == pytest.approx(exact_moments(y)[1], rel=1e-12)
    assert w.variance == pytest.approx(y.var(ddof=1), rel=1e-12)


@pytest.mark.parametrize("offset", [0.0, 1e9])
def test_welford_merge_of_two_halves_equals_the_whole(offset):
    x = offset + np.random.default_rng(7).standard_normal(50_001)
    whole, a, b = Welford(), Welford(), Welford()
    whole.update_many(x)
    a.update_many(x[:20_000])
    for v in x[20_000:30_000]:
        b.update(v)  # scalar and batch accumulators combine alike
    b.update_many(x[30_000:])
    assert a.merge(b) is a
    assert a.count == whole.count == len(x)
    assert a.mean == pytest.approx(whole.mean, rel=1e-14, abs=1e-14)
    assert a.variance == pytest.approx(whole.variance, rel=1e-12)
    assert a.population_variance == pytest.approx(whole.population_variance, rel=1e-12)
    assert b.count == len(x) - 20_000  # the merged-in accumulator is unchanged


def test_welford_merge_many_parts_and_edge_cases():
    x = np.random.default_rng(8).normal(3.0, 2.0, size=10_000)
    parts = [Welford() for _ in range(10)]
    for p, chunk in zip(parts, np.array_split(x, 10)):
        p.update_many(chunk)
    total = Welford()
    for p in parts:
        total.merge(p)
    assert total.count == len(x)
    assert total.mean == pytest.approx(x.mean(), rel=1e-12)
    assert total.variance == pytest.approx(x.var(ddof=1), rel=1e-12)
    # empty on either side
    e = Welford()
    assert e.merge(Welford()).count == 0
    c = total.copy().merge(Welford())
    assert (c.count, c.mean, c.variance) == (total.count, total.mean, total.variance)
    e.merge(total)
    assert (e.count, e.mean, e.variance) == (total.count, total.mean, total.variance)
    # merging with itself counts every value twice
    d = Welford()
    d.update_many([1.0, 2.0, 3.0])
    d.merge(d)
    assert d.count == 6 and d.mean == 2.0 and d.population_variance == pytest.approx(2 / 3)
    with pytest.raises(TypeError):
        d.merge(None)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=200), st.data())
def test_welford_merge_property(values, data):
    split = data.draw(st.integers(0, len(values)))
    x = np.array(values)
    whole, a, b = Welford(), Welford(), Welford()
    whole.update_many(x)
    a.update_many(x[:split])
    for v in x[split:]:
        b.update(v)
    a.merge(b)
    assert a.count == whole.count == len(x)
    scale = max(1.0, float(np.max(np.abs(x))))
    assert a.mean == pytest.approx(x.mean(), rel=1e-9, abs=1e-12 * scale)
    assert a.variance == pytest.approx(whole.variance, rel=1e-9, abs=1e-12 * scale * scale)
    assert whole.variance == pytest.approx(x.var(ddof=1), rel=1e-9, abs=1e-12 * scale * scale)


def test_welford_small_counts_and_api():
    w = Welford()
    assert w.count == 0 and w.alarm_count == 0
    assert math.isnan(w.mean) and math.isnan(w.variance) and math.isnan(w.population_variance)
    w.update(5)
    assert w.mean == 5.0 and w.population_variance == 0.0 and math.isnan(w.variance)
    w.update_many([])
    w.update_many(np.array([7.0], dtype=np.float32))
    w.update_many(np.arange(3, dtype=np.int64)[::-1])  # ints, non-contiguous: converted
    assert w.count == 5 and w.mean == pytest.approx(np.mean([5, 7, 2, 1, 0]))
    assert math.isnan(w.var(ddof=5))
    with pytest.raises(InvalidArgument) as info:
        w.var(-1)
    assert str(info.value) == "Welford.var: ddof must be in [0, 2147483647], got -1"
    with pytest.raises(TypeError) as info:
        w.var("1")
    assert str(info.value) == "Welford.var: ddof must be an integer, got str"
    snap = w.snapshot()
    assert snap == {"monitor": "Welford", "count": 5, "alarm_count": 0, "mean": w.mean,
                    "variance": w.variance, "population_variance": w.population_variance,
                    "std": w.std}
    c = w.copy()
    c.update(100.0)
    assert w.count == 5 and c.count == 6  # independent
    p = pickle.loads(pickle.dumps(w))
    assert (p.count, p.mean, p.variance) == (w.count, w.mean, w.variance)
    assert "Welford(count=5" in repr(w)
    w.reset()
    assert w.count == 0 and math.isnan(w.mean)
    with pytest.raises(InvalidArgument) as info:
        w.update_many(np.zeros((2, 2)))
    assert str(info.value) == "Welford.update_many: x must be 1-D (its shape), got (2, 2)"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_welford_rejects_non_finite(bad):
    w = Welford()
    w.update_many([1.0, 2.0])
    with pytest.raises(InvalidObservation, match=rf"Welford.update: x={bad!r} is not finite"):
        w.update(bad)
    x = np.arange(5000, dtype=float)
    x[3333] = bad
    with pytest.raises(InvalidObservation,
                       match=rf"Welford.update_many: x\[3333\]={bad!r} is not finite"):
        w.update_many(x)
    assert w.count == 2 and w.mean == 1.5  # nothing was added
    assert issubclass(InvalidObservation, ValueError)


def test_welford_overflowing_sum_of_finite_values_is_not_an_error():
    w = Welford()
    w.update_many(np.full(10, 1e308))  # the block sum overflows; the values are finite
    assert w.count == 10 and w.mean == pytest.approx(1e308)


# ================================================================ EWMA: closed forms


def ewma_reference(x, lam, L, mu0, sigma):
    """z_t and the time-varying limits, computed from the formulas."""
    z, out = mu0, []
    for t, xt in enumerate(x, start=1):
        z = lam * xt + (1 - lam) * z
        w = L * sigma * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)))
        out.append((z, mu0 - w, mu0 + w))
    return out


@pytest.mark.parametrize("lam, L, mu0, sigma", [
    (0.2, 2.962, 0.0, 1.0), (0.05, 2.615, 100.0, 4.0), (0.5, 3.0, -2.0, 0.25), (1.0, 3.0, 5.0, 2.0),
])
def test_ewma_statistic_and_limits_match_the_closed_forms(lam, L, mu0, sigma):
    # Exactly: the C++ core evaluates the same expressions in the same order
    # (the same libm pow and sqrt, no fused multiply-add), so every value is
    # bitwise equal to the formula evaluated here.
    x = mu0 + sigma * np.random.default_rng(21).standard_normal(600)
    ref = ewma_reference(x, lam, L, mu0, sigma)
    chart = EWMA(lam, L, mu0=mu0, sigma=sigma)
    for t, (xt, (z, lcl, ucl)) in enumerate(zip(x, ref), start=1):
        s = chart.update(xt)
        assert s.x == xt and s.count == t and not s.warmup
        assert (s.value, s.lcl, s.ucl) == (z, lcl, ucl)
        assert s.alarm == (z > ucl or z < lcl)
    # the same through update_many(full=True), in one call
    r = EWMA(lam, L, mu0=mu0, sigma=sigma).update_many(x, full=True)
    zs, lcls, ucls = (np.array(c) for c in zip(*ref))
    np.testing.assert_array_equal(r.values, zs)
    np.testing.assert_array_equal(r.lcl, lcls)
    np.testing.assert_array_equal(r.ucl, ucls)
    np.testing.assert_array_equal(r.alarms, np.flatnonzero((zs > ucls) | (zs < lcls)))
    # the limits widen monotonically to the steady state
    steady = L * sigma * math.sqrt(lam / (2 - lam))
    assert np.all(np.diff(ucls) >= 0)
    assert ucls[-1] - mu0 == pytest.approx(steady, rel=1e-15)
    assert chart.ucl - mu0 == pytest.approx(steady, rel=1e-15) and chart.t == 600


def test_ewma_first_limits_by_hand():
    # t = 1: w = L sigma sqrt(lam/(2-lam) (1 - (1-lam)^2)) = L sigma lam
    chart = EWMA(0.2, 3.0, mu0=10.0, sigma=2.0)
    assert chart.lcl == chart.ucl == 10.0 and chart.value == 10.0  # t = 0: z_0 = mu0
    s = chart.update(11.0)
    assert s.value == pytest.approx(10.2)
    assert (s.lcl, s.ucl) == pytest.approx((10.0 - 1.2, 10.0 + 1.2), rel=1e-15)


def test_ewma_alarm_direction_rules_and_counts():
    chart = EWMA(mu0=0.0, sigma=1.0)
    up = chart.update(5.0)  # z = 1.0 > 0.5924
    assert up.alarm and up.direction == 1 and up.rules == ("UCL",)
    chart.restart()
    down = chart.update(-5.0)
    assert down.alarm and down.direction == -1 and down.rules == ("LCL",)
    quiet = EWMA(mu0=0.0, sigma=1.0).update(0.1)
    assert not quiet.alarm and quiet.direction == 0 and quiet.rules == ()
    assert chart.count == 2 and chart.alarm_count == 2


def test_ewma_reset_on_alarm_restarts_the_chart():
    x = [0.0, 4.0, 4.0, 0.0, 0.0]
    keep = EWMA(mu0=0.0, sigma=1.0).update_many(x, full=True)
    fresh = EWMA(mu0=0.0, sigma=1.0, reset_on_alarm=True)
    r = fresh.update_many(x, full=True)
    assert list(keep.alarms) == [1, 2, 3]  # z stays above the limit for a while
    assert list(r.alarms) == [1, 2]
    # after the alarm at index 1, z restarts at mu0 with t = 0
    assert r.values[2] == pytest.approx(0.2 * 4.0)
    assert r.ucl[2] == pytest.approx(2.962 * 0.2)  # the t = 1 limit again
    assert fresh.t == 2 and fresh.count == 5 and fresh.alarm_count == 2


def test_ewma_update_many_equals_scalar_updates():
    x = np.random.default_rng(5).normal(0.3, 1.0, size=3000)
    for kw in ({"mu0": 0.0, "sigma": 1.0}, {"warmup": 50}, {"mu0": 0.0, "sigma": 1.0,
                                                           "reset_on_alarm": True}):
        a, b = EWMA(0.1, 2.5, **kw), EWMA(0.1, 2.5, **kw)
        signals = [a.update(v) for v in x]
        r = b.update_many(x, full=True)
        np.testing.assert_array_equal(r.alarms, [i for i, s in enumerate(signals) if s.alarm])
        np.testing.assert_array_equal(r.values, [s.value for s in signals])
        np.testing.assert_array_equal(r.lcl, [s.lcl for s in signals])
        np.testing.assert_array_equal(r.ucl, [s.ucl for s in signals])
        assert r.last == signals[-1]
        assert a.snapshot() == b.snapshot()
        assert r.count == len(x) and r.n_alarms == len(r.alarms) and r.alarm == (r.n_alarms > 0)
        # summary mode: the same alarms and final state, no arrays
        c = EWMA(0.1, 2.5, **kw)
        s = c.update_many(x)
        assert s.values is None and s.lcl is None and s.ucl is None
        np.testing.assert_array_equal(s.alarms, r.alarms)
        assert s.last == r.last and c.snapshot() == b.snapshot()


def test_ewma_update_many_in_chunks_equals_one_call():
    x = np.random.default_rng(6).normal(0.0, 1.0, size=5000)
    a, b = EWMA(mu0=0.0, sigma=1.0), EWMA(mu0=0.0, sigma=1.0)
    ra = a.update_many(x, full=True)
    vals = [b.update_many(chunk, full=True).values for chunk in np.array_split(x, 7)]
    np.testing.assert_array_equal(np.concatenate(vals), ra.values)
    assert a.snapshot() == b.snapshot()
    empty = b.update_many([])
    assert empty.count == 0 and empty.last is None and empty.alarms.dtype == np.int64
    assert b.update_many([], full=True).values.shape == (0,)


# ================================================================ warm-up


def test_ewma_warmup_estimates_the_baseline_with_welford():
    rng = np.random.default_rng(9)
    warm = rng.normal(50.0, 3.0, size=40)
    warm[5] = 500.0  # an outlier: no alarm during the warm-up
    chart = EWMA(warmup=40)
    assert chart.in_warmup and math.isnan(chart.mu0) and math.isnan(chart.value)
    for i, v in enumerate(warm):
        s = chart.update(v)
        assert s.warmup and not s.alarm and math.isnan(s.value) and math.isnan(s.ucl)
        assert s.count == i + 1
    assert not chart.in_warmup
    assert chart.mu0 == pytest.approx(warm.mean(), rel=1e-13)
    assert chart.sigma == pytest.approx(warm.std(ddof=1), rel=1e-13)
    assert chart.alarm_count == 0 and chart.t == 0 and chart.value == chart.mu0
    # then the chart runs from z_0 = the estimated mean
    s = chart.update(60.0)
    mu0, sigma = chart.mu0, chart.sigma
    ref = ewma_reference([60.0], 0.2, 2.962, mu0, sigma)[0]
    assert (s.value, s.lcl, s.ucl) == pytest.approx(ref, rel=1e-14)
    assert not s.warmup and s.count == 41


def test_warmup_given_mu0_estimates_sigma_only():
    warm = np.random.default_rng(2).normal(7.0, 2.0, size=25)
    chart = EWMA(mu0=0.0, warmup=25)
    chart.update_many(warm)
    assert chart.mu0 == 0.0
    assert chart.sigma == pytest.approx(warm.std(ddof=1), rel=1e-13)
    cus = CUSUM(sigma=2.0, warmup=25)
    cus.update_many(warm)
    assert cus.mu0 == pytest.approx(warm.mean(), rel=1e-13) and cus.sigma == 2.0


def test_warmup_of_constant_data_goes_on_until_there_is_spread():
    for chart in (EWMA(warmup=3), CUSUM(warmup=3), ShewhartChart(warmup=3)):
        chart.update_many([4.0] * 10)
        assert chart.in_warmup and chart.alarm_count == 0  # sigma would be 0
        chart.update(5.0)
        assert not chart.in_warmup and chart.sigma > 0
        assert chart.count == 11


def test_default_warmup_and_reset_forgets_the_estimate():
    chart = EWMA()
    assert chart.warmup == mon.DEFAULT_WARMUP == 30
    assert EWMA(mu0=0.0, sigma=1.0).warmup == 0
    x = np.random.default_rng(1).normal(size=30)
    chart.update_many(x)
    assert not chart.in_warmup
    chart.update(10.0)
    assert chart.alarm_count == 1
    chart.reset()
    assert chart.in_warmup and chart.count == 0 and chart.alarm_count == 0
    assert math.isnan(chart.mu0)
    chart.update_many(x + 100.0)
    assert chart.mu0 == pytest.approx(x.mean() + 100.0)
    known = EWMA(mu0=1.0, sigma=2.0)
    known.update_many([50.0, 60.0])
    known.reset()
    assert known.snapshot()["count"] == 0 and known.mu0 == 1.0 and known.value == 1.0


# ================================================================ CUSUM


def cusum_reference(x, mu0, sigma, k, h, reset=False):
    K, H = k * sigma, h * sigma
    cp = cm = 0.0
    out = []
    for xt in x:
        cp = max(0.0, cp + (xt - (mu0 + K)))
        cm = max(0.0, cm + ((mu0 - K) - xt))
        alarm = cp > H or cm > H
        out.append((cp, cm, alarm))
        if alarm and reset:
            cp = cm = 0.0
    return out


@pytest.mark.parametrize("reset", [False, True])
@pytest.mark.parametrize("mu0, sigma, k, h", [(0.0, 1.0, 0.5, 5.0), (10.0, 2.0, 0.25, 4.0),
                                              (-1.0, 0.5, 0.0, 3.0)])
def test_cusum_matches_the_recursion(mu0, sigma, k, h, reset):
    x = mu0 + sigma * np.random.default_rng(31).normal(0.2, 1.0, size=2000)
    ref = cusum_reference(x, mu0, sigma, k, h, reset)
    chart = CUSUM(k, h, mu0=mu0, sigma=sigma, reset_on_alarm=reset)
    assert chart.K == k * sigma and chart.H == h * sigma
    signals = [chart.update(v) for v in x]
    for s, (cp, cm, alarm) in zip(signals, ref):
        assert s.value == (cp if cp >= cm else -cm)
        assert (s.lcl, s.ucl) == (-h * sigma, h * sigma)
        assert s.alarm == alarm
    assert chart.alarm_count == sum(a for _, _, a in ref) > 0
    last_cp, last_cm, last_alarm = ref[-1]
    if not (reset and last_alarm):
        assert (chart.upper, chart.lower) == (last_cp, last_cm)
    b = CUSUM(k, h, mu0=mu0, sigma=sigma, reset_on_alarm=reset)
    r = b.update_many(x, full=True)
    np.testing.assert_array_equal(r.values, [s.value for s in signals])
    np.testing.assert_array_equal(r.alarms, [i for i, s in enumerate(signals) if s.alarm])
    assert r.last == signals[-1] and b.snapshot() == chart.snapshot()
    c = CUSUM(k, h, mu0=mu0, sigma=sigma, reset_on_alarm=reset)
    s = c.update_many(x)
    np.testing.assert_array_equal(s.alarms, r.alarms)
    assert s.last == r.last and c.snapshot() == chart.snapshot()


def test_cusum_sides_units_and_reset_option():
    chart = CUSUM(mu0=100.0, sigma=2.0)  # K = 1, H = 10
    s = chart.update(111.5)  # C+ = 111.5 - 101 = 10.5 > 10
    assert s.alarm and s.rules == ("CUSUM+",) and s.direction == 1 and s.value == 10.5
    s = chart.update(101.0)  # C+ stays 10.5: the alarm repeats without reset
    assert s.alarm and chart.upper == 10.5
    low = CUSUM(mu0=100.0, sigma=2.0, reset_on_alarm=True)
    s = low.update(88.0)  # C- = 99 - 88 = 11 > 10
    assert s.alarm and s.rules == ("CUSUM-",) and s.direction == -1 and s.value == -11.0
    assert low.lower == 0.0 and low.upper == 0.0  # reset after the alarm
    assert not low.update(101.0).alarm
    snap = chart.snapshot()
    assert snap["monitor"] == "CUSUM" and snap["K"] == 1.0 and snap["H"] == 10.0
    assert (snap["lcl"], snap["ucl"], snap["upper"], snap["value"]) == (-10.0, 10.0, 10.5, 10.5)
    chart.restart()
    assert chart.upper == chart.lower == 0.0 and chart.count == 2 and chart.alarm_count == 2


def test_cusum_both_sums_can_alarm_at_once():
    chart = CUSUM(mu0=0.0, sigma=1.0)
    chart.update(20.0)  # C+ = 19.5
    s = chart.update(-6.0)  # C+ = 13.0, C- = 5.5: both above 5
    assert s.rules == ("CUSUM+", "CUSUM-") and s.direction == 1 and s.value == 13.0


# ================================================================ Shewhart


@pytest.mark.parametrize("n", [1, 4, 5])
def test_shewhart_limits_match_the_closed_form(n):
    mu0, sigma = 12.5, 3.0
    chart = ShewhartChart(n, mu0=mu0, sigma=sigma)
    ucl, lcl = mu0 + 3 * (sigma / math.sqrt(n)), mu0 - 3 * (sigma / math.sqrt(n))
    assert (chart.lcl, chart.ucl) == (lcl, ucl)  # exactly (see the EWMA test)
    assert chart.center == chart.mu0 == mu0 and chart.sigma == sigma
    assert chart.sigma_point == pytest.approx(sigma / math.sqrt(n), rel=1e-15)
    s = chart.update(mu0)
    assert (s.lcl, s.ucl) == (lcl, ucl)
    # just inside / just beyond the 3-sigma limit
    assert not ShewhartChart(n, mu0=mu0, sigma=sigma, rules="WE1").update(ucl - 1e-9).alarm
    assert ShewhartChart(n, mu0=mu0, sigma=sigma, rules="WE1").update(ucl + 1e-9).alarm
    assert ShewhartChart(n, mu0=mu0, sigma=sigma, rules="WE1").update(lcl - 1e-9).direction == -1


def test_xbar_chart_takes_subgroup_means_or_subgroups():
    rng = np.random.default_rng(12)
    groups = rng.normal(10.0, 2.0, size=(200, 5))
    groups[50] += 4.0  # a shifted subgroup: mean moves by 4 > 3 * 2 / sqrt(5)
    a = ShewhartChart(5, mu0=10.0, sigma=2.0, rules=["WE1"])
    b = ShewhartChart(5, mu0=10.0, sigma=2.0, rules=["WE1"])
    c = ShewhartChart(5, mu0=10.0, sigma=2.0, rules=["WE1"])
    sa = [a.update(g) for g in groups]                      # subgroup arrays
    sb = [b.update(list(g)) for g in groups]                # lists
    r = c.update_many(groups, full=True)                    # a 2-D array, row by row
    means = groups.mean(axis=1)
    np.testing.assert_allclose([s.x for s in sa], means, rtol=1e-14)
    np.testing.assert_allclose(r.values, means, rtol=1e-14)
    assert [s.x for s in sa] == [s.x for s in sb]
    assert 50 in r.alarms and list(r.alarms) == [i for i, s in enumerate(sa) if s.alarm]
    assert a.count == b.count == c.count == 200
    d = ShewhartChart(5, mu0=10.0, sigma=2.0, rules=["WE1"])
    d.update_many(means)  # 1-D: already the means
    assert d.snapshot()["alarm_count"] == c.snapshot()["alarm_count"]
    assert d.update(np.float64(10.0)).x == 10.0  # a scalar is one subgroup mean
    assert d.update(np.array(10.0)).x == 10.0    # 0-d: a scalar too
    for call, message in [
        (lambda: d.update([1.0, 2.0, 3.0]),
         "ShewhartChart.update: x must be a subgroup of n=5 values (its length), got 3"),
        (lambda: d.update_many(np.zeros((4, 3))),
         ("ShewhartChart.update_many: x must have subgroups (rows) of n=5 values (its shape), "
          "got (4, 3)")),
        (lambda: d.update_many(np.zeros((2, 5, 1))),
         ("ShewhartChart.update_many: x must be 1-D (points) or 2-D (subgroups) (its shape), "
          "got (2, 5, 1)")),
    ]:
        with pytest.raises(InvalidArgument) as info:
            call()
        assert str(info.value) == message
    with pytest.raises(InvalidObservation, match=r"ShewhartChart.update: x\[2\]=nan"):
        d.update([1.0, 2.0, math.nan, 4.0, 5.0])
    bad = groups[:10].copy()
    bad[7, 3] = math.inf
    before = d.snapshot()
    with pytest.raises(InvalidObservation,
                       match=r"ShewhartChart.update_many: x\[7\] \(a subgroup\) holds a value"):
        d.update_many(bad)
    assert d.snapshot() == before


def test_individuals_chart_estimates_sigma_from_the_moving_range():
    warm = np.random.default_rng(13).normal(20.0, 1.5, size=30)
    chart = ShewhartChart(warmup=30)
    r = chart.update_many(warm, full=True)
    assert np.all(np.isnan(r.values)) and r.n_alarms == 0 and r.last.warmup
    mr_bar = np.mean(np.abs(np.diff(warm)))
    assert chart.center == pytest.approx(warm.mean(), rel=1e-14)
    assert chart.sigma == pytest.approx(mr_bar / 1.128, rel=1e-14)
    assert chart.ucl == pytest.approx(warm.mean() + 3 * mr_bar / 1.128, rel=1e-14)
    # X-bar chart, sigma estimated from the moving range of subgroup means
    means = np.random.default_rng(14).normal(20.0, 1.0, size=20)
    xbar = ShewhartChart(4, mu0=20.0, warmup=20)
    xbar.update_many(means)
    s_point = np.mean(np.abs(np.diff(means))) / 1.128
    assert xbar.sigma_point == pytest.approx(s_point, rel=1e-14)
    assert xbar.sigma == pytest.approx(s_point * 2.0, rel=1e-14)
    assert xbar.ucl == pytest.approx(20.0 + 3 * s_point, rel=1e-14)


def rules_after(points, **kw):
    chart = ShewhartChart(mu0=0.0, sigma=1.0, **kw)
    return [chart.update(p).rules for p in points]


def test_we1_one_point_beyond_3_sigma():
    assert rules_after([0.0, 3.01]) == [(), ("WE1",)]
    assert rules_after([-3.5])[-1] == ("WE1",)
    assert rules_after([2.99, -2.99], rules=["WE1"]) == [(), ()]
    assert rules_after([3.0], rules=["WE1"]) == [()]  # on the limit is not beyond it


def test_we2_two_of_three_beyond_2_sigma_same_side():
    assert rules_after([2.5, 0.0, 2.5])[-1] == ("WE2",)
    assert rules_after([2.5, 2.5])[-1] == ("WE2",)
    assert rules_after([-2.5, 0.0, -2.1])[-1] == ("WE2",)
    assert rules_after([2.5, 0.0, 0.0, 2.5])[-1] == ()     # 2 of 4, not of 3
    assert rules_after([2.5, -2.5, 0.0])[-1] == ()         # opposite sides
    assert rules_after([2.5, 0.0, -2.5])[-1] == ()
    assert rules_after([2.5, 2.5, 0.5]) == [(), ("WE2",), ()]  # fires on the completing point


def test_we3_four_of_five_beyond_1_sigma_same_side():
    assert rules_after([1.5, 1.5, 0.0, 1.5, 1.5])[-1] == ("WE3",)
    assert rules_after([1.5, 1.5, 1.5, 1.5]) == [(), (), (), ("WE3",)]
    assert rules_after([-1.2, -1.2, -1.2, 0.5, -1.2])[-1] == ("WE3",)
    assert rules_after([1.5, 1.5, 0.0, 0.0, 1.5, 1.5])[-1] == ()   # 3 of 5
    assert rules_after([1.5, 1.5, -1.5, 1.5])[-1] == ()
    assert rules_after([1.5, -1.5, 1.5, -1.5, 1.5])[-1] == ()


def test_we4_eight_in_a_row_on_one_side():
    assert rules_after([0.1] * 7) == [()] * 7
    assert rules_after([0.1] * 9) == [()] * 7 + [("WE4",)] * 2  # fires on each point of the run
    assert rules_after([-0.2] * 8)[-1] == ("WE4",)
    assert rules_after([0.1] * 7 + [0.0])[-1] == ()   # the centre line breaks the run
    assert rules_after([0.1] * 7 + [-0.1])[-1] == ()


def test_rules_combine_and_are_selectable():
    # 2.5 x 4 after 1.5: WE2 and WE3 on the last point; WE1 never
    pts = [1.5, 2.5, 2.5, 2.5]
    assert rules_after(pts)[-1] == ("WE2", "WE3")
    assert rules_after(pts, rules=["WE3"])[-1] == ("WE3",)
    assert rules_after(pts, rules=("WE1", "we4")) == [()] * 4
    assert rules_after([3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5])[-1] == ("WE1", "WE2", "WE3", "WE4")
    assert rules_after([3.5] * 8, rules=[4])[-1] == ("WE4",)
    assert ShewhartChart(mu0=0.0, sigma=1.0, rules=[2, "WE1"]).rules == ("WE1", "WE2")
    assert ShewhartChart(mu0=0.0, sigma=1.0).rules == ("WE1", "WE2", "WE3", "WE4")


def test_shewhart_counts_direction_and_reset_on_alarm():
    chart = ShewhartChart(mu0=0.0, sigma=1.0)
    sigs = [chart.update(p) for p in [2.5, 2.5, 4.0, -4.0]]
    assert [s.direction for s in sigs] == [0, 1, 1, -1]
    assert chart.alarm_count == 3
    assert chart.rule_counts == {"WE1": 2, "WE2": 2, "WE3": 0, "WE4": 0}
    assert chart.snapshot()["rule_counts"] == chart.rule_counts
    # with reset_on_alarm the history is cleared: the second 2.5 starts afresh
    r = rules_after([2.5, 2.5, 2.5, 2.5], reset_on_alarm=True)
    assert r == [(), ("WE2",), (), ("WE2",)]
    chart.restart()
    assert not chart.update(2.5).alarm  # history cleared by restart()
    chart.reset()
    assert chart.count == 0 and chart.alarm_count == 0 and math.isnan(chart.value)
    assert chart.rule_counts == {"WE1": 0, "WE2": 0, "WE3": 0, "WE4": 0}


def test_shewhart_update_many_equals_scalar_updates():
    x = np.random.default_rng(15).normal(0.4, 1.0, size=4000)
    for kw in ({"mu0": 0.0, "sigma": 1.0}, {"warmup": 40}, {"mu0": 0.0, "sigma": 1.0,
                                                           "reset_on_alarm": True}):
        a, b = ShewhartChart(**kw), ShewhartChart(**kw)
        signals = [a.update(v) for v in x]
        r = b.update_many(x, full=True)
        np.testing.assert_array_equal(r.alarms, [i for i, s in enumerate(signals) if s.alarm])
        assert r.last == signals[-1] and a.snapshot() == b.snapshot()
        assert r.n_alarms > 10


# ================================================================ validation


_WARMUP = "warmup must be in [2, 4611686018427387904]"


@pytest.mark.parametrize("make, exc, message", [
    (lambda: EWMA(lam=0.0), InvalidArgument, "EWMA: lam must be in (0, 1], got 0.0"),
    (lambda: EWMA(lam=1.5), InvalidArgument, "EWMA: lam must be in (0, 1], got 1.5"),
    (lambda: EWMA(lam=-0.1), InvalidArgument, "EWMA: lam must be in (0, 1], got -0.1"),
    (lambda: EWMA(lam=math.nan), InvalidArgument, "EWMA: lam must be in (0, 1], got nan"),
    (lambda: EWMA(lam="0.2"), TypeError, "EWMA: lam must be a real number, got str"),
    (lambda: EWMA(lam=True), TypeError, "EWMA: lam must be a real number, got bool"),
    (lambda: EWMA(lam=[0.2]), TypeError, "EWMA: lam must be a real number, got list"),
    (lambda: EWMA(L=0), InvalidArgument, "EWMA: L must be finite and > 0, got 0"),
    (lambda: EWMA(L=-2.0), InvalidArgument, "EWMA: L must be finite and > 0, got -2.0"),
    (lambda: EWMA(L=10 ** 400), InvalidArgument,
     "EWMA: L must be finite and > 0, got <int of 1329 bits>"),
    (lambda: EWMA(mu0=0.0, sigma=0.0), InvalidArgument,
     "EWMA: sigma must be finite and > 0, got 0.0"),
    (lambda: EWMA(mu0=0.0, sigma=-1), InvalidArgument,
     "EWMA: sigma must be finite and > 0, got -1"),
    (lambda: EWMA(mu0=0.0, sigma=math.inf), InvalidArgument,
     "EWMA: sigma must be finite and > 0, got inf"),
    (lambda: EWMA(mu0=math.nan, sigma=1.0), InvalidArgument,
     "EWMA: mu0 must be finite, got nan"),
    (lambda: EWMA(warmup=1), InvalidArgument, f"EWMA: {_WARMUP}, got 1"),
    (lambda: EWMA(warmup=0), InvalidArgument, f"EWMA: {_WARMUP}, got 0"),
    (lambda: EWMA(warmup=2.5), InvalidArgument, "EWMA: warmup must be an integer, got 2.5"),
    (lambda: EWMA(warmup=True), TypeError, "EWMA: warmup must be an integer, got bool"),
    (lambda: EWMA(mu0=0.0, sigma=1.0, warmup=10), InvalidArgument,
     ("EWMA: warmup must be None when mu0 and sigma are both given (there is nothing to "
      "estimate), got 10")),
    (lambda: EWMA(reset_on_alarm="yes"), TypeError,
     "EWMA: reset_on_alarm must be a bool, got str"),
    (lambda: CUSUM(k=-0.5), InvalidArgument, "CUSUM: k must be finite and >= 0, got -0.5"),
    (lambda: CUSUM(h=0.0), InvalidArgument, "CUSUM: h must be finite and > 0, got 0.0"),
    (lambda: CUSUM(mu0=0.0, sigma=0.0), InvalidArgument,
     "CUSUM: sigma must be finite and > 0, got 0.0"),
    (lambda: CUSUM(sigma=1.0, warmup=1), InvalidArgument, f"CUSUM: {_WARMUP}, got 1"),
    (lambda: ShewhartChart(0), InvalidArgument,
     "ShewhartChart: n must be in [1, 4611686018427387904], got 0"),
    (lambda: ShewhartChart(-3), InvalidArgument,
     "ShewhartChart: n must be in [1, 4611686018427387904], got -3"),
    (lambda: ShewhartChart(2.5), InvalidArgument, "ShewhartChart: n must be an integer, got 2.5"),
    (lambda: ShewhartChart("2"), TypeError, "ShewhartChart: n must be an integer, got str"),
    (lambda: ShewhartChart(mu0=0.0, sigma=-1.0), InvalidArgument,
     "ShewhartChart: sigma must be finite and > 0, got -1.0"),
    (lambda: ShewhartChart(warmup=1), InvalidArgument, f"ShewhartChart: {_WARMUP}, got 1"),
    (lambda: ShewhartChart(mu0=0.0, sigma=1.0, rules=[]), InvalidArgument,
     "ShewhartChart: rules must name at least one of WE1, WE2, WE3, WE4, got []"),
    (lambda: ShewhartChart(mu0=0.0, sigma=1.0, rules=["WE5"]), InvalidArgument,
     "ShewhartChart: rules must name rules among WE1, WE2, WE3, WE4 (or 1 to 4), got 'WE5'"),
    (lambda: ShewhartChart(mu0=0.0, sigma=1.0, rules=[True]), InvalidArgument,
     "ShewhartChart: rules must name rules among WE1, WE2, WE3, WE4 (or 1 to 4), got True"),
    (lambda: ShewhartChart(mu0=0.0, sigma=1.0, rules=[["WE1"]]), InvalidArgument,
     "ShewhartChart: rules must name rules among WE1, WE2, WE3, WE4 (or 1 to 4), got ['WE1']"),
    (lambda: ShewhartChart(mu0=0.0, sigma=1.0, rules=None), TypeError,
     ("ShewhartChart: rules must be a sequence of rule names (WE1, WE2, WE3, WE4), got "
      "NoneType")),
])
def test_bad_parameters_raise_naming_them(make, exc, message):
    with pytest.raises(exc) as info:
        make()
    assert type(info.value) is exc and str(info.value) == message
    if exc is InvalidArgument:
        assert isinstance(info.value, ValueError) and isinstance(info.value, FugueError)


def test_the_settings_types_own_the_charts_defaults():
    from fugue_ppl.monitoring import CUSUMConfig, EWMAConfig
    e, c = EWMA(), CUSUM()
    assert (e.lam, e.L, e.warmup) == (EWMAConfig().lam, EWMAConfig().L, mon.DEFAULT_WARMUP)
    assert (c.k, c.h, c.warmup) == (CUSUMConfig().k, CUSUMConfig().h, mon.DEFAULT_WARMUP)
    assert EWMAConfig() == EWMAConfig(lam=0.2, L=2.962, warmup=30)
    assert CUSUMConfig() == CUSUMConfig(k=0.5, h=5.0, warmup=30)
    s = EWMAConfig(lam=0.1, L=3, warmup=50)
    chart = EWMA(**s.to_dict())
    assert (chart.lam, chart.L, chart.warmup) == (0.1, 3.0, 50)
    with pytest.raises(InvalidArgument) as info:
        EWMAConfig(lam=0)
    assert str(info.value) == "EWMAConfig: lam must be in (0, 1], got 0"
    with pytest.raises(TypeError) as info:
        CUSUMConfig(h="5")
    assert str(info.value) == "CUSUMConfig: h must be a real number, got str"


@pytest.mark.parametrize("name", sorted(CHARTS))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_observations_are_rejected_and_change_nothing(name, bad):
    chart = CHARTS[name](mu0=0.0, sigma=1.0)
    chart.update_many([0.5, 1.0, 2.0])
    before = chart.snapshot()
    with pytest.raises(InvalidObservation, match=rf"{name}.update: x={bad!r} is not finite"):
        chart.update(bad)
    x = np.full(10_000, 3.0)  # alarms all along, before the bad value
    x[9000] = bad
    with pytest.raises(InvalidObservation,
                       match=rf"{name}.update_many: x\[9000\]={bad!r} is not finite"):
        chart.update_many(x, full=True)
    with pytest.raises(ValueError):
        chart.update_many(x)
    assert chart.snapshot() == before  # all or nothing
    with pytest.raises(TypeError):
        chart.update("1.0x")
    with pytest.raises(InvalidArgument) as info:
        chart.update_many(np.zeros((3, 3, 3)))
    assert str(info.value).endswith(" must be 1-D (points) or 2-D (subgroups) (its shape), got "
                                    "(3, 3, 3)" if name == "ShewhartChart" else
                                    f"{name}.update_many: x must be 1-D (its shape), got (3, 3, 3)")
    assert chart.snapshot() == before


# ================================================================ the common interface


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_uniform_monitor_interface(name):
    chart = CHARTS[name](mu0=0.0, sigma=1.0)
    s = chart.update(0.25)
    assert isinstance(s, Signal) and s.count == 1 and s.x == 0.25
    r = chart.update_many(np.array([10.0, 0.0, -10.0]))
    assert isinstance(r, BatchResult) and r.count == 3 and r.alarms.dtype == np.int64
    assert isinstance(r.last, Signal) and r.last.count == 4
    assert chart.count == 4 and chart.alarm_count >= 1 and chart.alarm_count == r.n_alarms
    snap = chart.snapshot()
    for key in ("monitor", "count", "alarm_count", "value", "lcl", "ucl", "center", "sigma",
                "in_warmup", "warmup_seen"):
        assert key in snap, key
    assert snap["monitor"] == name and snap["count"] == 4 and snap["center"] == 0.0
    assert snap["in_warmup"] is False
    assert all(isinstance(k, str) for k in snap)
    assert name in repr(chart) and "count=4" in repr(chart)
    chart.reset()
    assert chart.count == 0 and chart.alarm_count == 0
    warm = CHARTS[name](warmup=5)
    sig = warm.update(1.0)
    assert sig.warmup and math.isnan(sig.value) and math.isnan(sig.lcl) and not sig.alarm
    assert warm.snapshot()["in_warmup"] is True and warm.snapshot()["warmup_seen"] == 1
    assert math.isnan(warm.snapshot()["value"])


def test_signal_value_type():
    s = Signal(1.0, 2.0, -3.0, 3.0, alarm=True, rules=["WE1"], direction=1, count=7)
    assert s.rules == ("WE1",) and s.alarm and s.count == 7 and not s.warmup
    assert s.to_dict() == {"x": 1.0, "value": 2.0, "lcl": -3.0, "ucl": 3.0, "alarm": True,
                           "rules": ("WE1",), "direction": 1, "count": 7, "warmup": False}
    assert pickle.loads(pickle.dumps(s)) == s and hash(s) == hash(pickle.loads(pickle.dumps(s)))
    assert s != Signal(1.0, 2.0, -3.0, 3.0)
    assert repr(s).startswith("Signal(x=1.0, value=2.0, lcl=-3.0, ucl=3.0, alarm=True")
    with pytest.raises(AttributeError):
        s.alarm = False
    assert "n_alarms=" in repr(EWMA(mu0=0.0, sigma=1.0).update_many([1.0]))


# ================================================================ threads and the GIL


def _hammer(make, use_batches):
    """8 threads update one monitor at once; returns (monitor, updates made)."""
    monitor = make()
    barrier = threading.Barrier(8)
    per_thread = 2000
    errors = []

    def work(k):
        try:
            rng = np.random.default_rng(k)
            x = rng.standard_normal(per_thread)
            barrier.wait()
            if use_batches and k % 2:
                for chunk in np.array_split(x, 20):
                    monitor.update_many(chunk)
            else:
                for v in x:
                    monitor.update(v)
        except Exception as e:  # noqa: BLE001 - reported below  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    return monitor, 8 * per_thread


@pytest.mark.parametrize("name", ["Welford", "EWMA", "CUSUM", "ShewhartChart"])
@pytest.mark.parametrize("use_batches", [False, True])
def test_concurrent_updates_from_8_threads_are_all_counted(name, use_batches):
    make = Welford if name == "Welford" else (lambda: CHARTS[name](mu0=0.0, sigma=1.0))
    monitor, n = _hammer(make, use_batches)
    assert monitor.count == n
    if name == "Welford":
        # the same values in any order: the same moments
        ref = np.concatenate([np.random.default_rng(k).standard_normal(2000) for k in range(8)])
        assert monitor.mean == pytest.approx(ref.mean(), rel=1e-9, abs=1e-12)
        assert monitor.variance == pytest.approx(ref.var(ddof=1), rel=1e-12)
    else:
        assert monitor.snapshot()["count"] == n


@pytest.mark.parametrize("name", ["Welford", "EWMA", "CUSUM", "ShewhartChart"])
def test_update_many_releases_the_gil(name):
    # A worker thread runs update_many while this thread keeps ticking. Had
    # the call held the GIL, this thread could tick only around its edges
    # (before the worker reaches the C++ loop, and after it returns but
    # before it reads the clock), never in the middle half of the call.
    # (Checked: sum(range(3_000_000)) in place of update_many gives 0 ticks there.)
    monitor = Welford() if name == "Welford" else CHARTS[name](mu0=0.0, sigma=1.0)
    x = np.random.default_rng(0).standard_normal(5_000_000)
    window = {}

    def work():
        window["start"] = time.perf_counter()
        monitor.update_many(x)
        window["end"] = time.perf_counter()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # hand the GIL over quickly
    try:
        t = threading.Thread(target=work)
        ticks = []
        t.start()
        while t.is_alive():
            ticks.append(time.perf_counter())
        t.join()
    finally:
        sys.setswitchinterval(old)
    start, end = window["start"], window["end"]
    middle = [v for v in ticks if start + 0.25 * (end - start) < v < start + 0.75 * (end - start)]
    assert len(middle) > 10, (len(middle), end - start)
    assert monitor.count == len(x)
