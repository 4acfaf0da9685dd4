"""The rollout analysis: the distribution functions against scipy and mpmath, the
fixed-sample tests against scipy and closed forms, and the sequential tests by
simulation (an equal candidate is wrongly rolled back at most alpha of the time
however often the analysis looks; worse candidates are rolled back, better ones
promoted).

Statistical tests have fixed seeds. Their bounds (alpha plus three binomial
standard errors over 1,000 runs for false rollback rates measured at 0.012
and 0.019; 95% detection where 98.8% and 99.9% are measured) would fail by
chance, with another seed, with probability below 0.1% for a correct
implementation.
"""

import doctest
import itertools
import math
import pickle

import mpmath as mp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from fugue_ppl.deploy import _stats, analysis, group_sequential
from fugue_ppl.deploy._stats import (
    MAX_BETA_PARAMETER,
    betainc,
    norm_cdf,
    norm_sf,
    t_cdf,
    t_sf,
    t_sf_two_sided,
)
from fugue_ppl.deploy.analysis import (
    AnalysisConfig,
    Decision,
    SequentialMeanTest,
    SequentialProportionTest,
    TTestResult,
    ZTestResult,
    canary_z_score,
    mixture_log_likelihood_ratio,
    two_proportion_z_test,
    welch_t_test,
    welch_t_test_from_stats,
)
from fugue_ppl.deploy.group_sequential import GroupSequentialDesign
from fugue_ppl.errors import InvalidArgument

ALPHA = 0.05
RUNS = 1000
PER_LOOK = 100          # the analysis looks every 100 requests
SHARE = 0.5             # of the requests go to the candidate
# alpha plus three binomial standard errors over RUNS rollouts
FALSE_ROLLBACK_BOUND = ALPHA + 3.0 * math.sqrt(ALPHA * (1.0 - ALPHA) / RUNS)


# ================================================================ references

def _mp_fraction(a, b, x):
    """The continued fraction of I_x(a, b) (A&S 26.5.8) at mpmath's working precision."""
    tiny = mp.mpf(10) ** (-3 * mp.mp.dps)
    eps = mp.mpf(10) ** (5 - mp.mp.dps)
    c, d = mp.mpf(1), 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10**6):
        for aa in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                   -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + aa * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < eps:
            return h
    raise AssertionError("the reference fraction did not converge")


def ref_betainc(a, b, x):
    """I_x(a, b) at 40 digits: mpmath's betainc for moderate a, b; for large ones (where
    its hypergeometric series gives up) the continued fraction at 40 digits."""
    with mp.workdps(40):
        a, b, x = mp.mpf(a), mp.mpf(b), mp.mpf(x)
        if x in (0, 1):
            return x
        if max(a, b) <= 100:
            return mp.betainc(a, b, 0, x, regularized=True)

        def lower(a, b, x):
            log_factor = a * mp.log(x) + b * mp.log1p(-x) - mp.log(a) - mp.log(mp.beta(a, b))
            return mp.exp(log_factor) * _mp_fraction(a, b, x)

        if x * (a + b + 2) < a + 1:
            return lower(a, b, x)
        return 1 - lower(b, a, 1 - x)


def ref_t_cdf(t, df):
    with mp.workdps(40):
        t, df = mp.mpf(t), mp.mpf(df)
        tail = ref_betainc(df / 2, mp.mpf(0.5), df / (df + t * t)) / 2
        return tail if t < 0 else 1 - tail


def _rel(value, ref):
    return float(abs((mp.mpf(value) - ref) / ref))


# ================================================================ distribution functions

SHAPES = [0.01, 0.5, 1.0, 2.5, 10.0, 37.5, 100.0, 1e3, 1e4, 1e5, 5e5]
POINTS = [1e-300, 1e-10, 1e-3, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999, 1 - 1e-6, 1 - 1e-10]


def test_betainc_matches_mpmath_and_scipy_on_a_grid_with_extreme_shapes_and_points():
    # 1e-13 relative where I_x is above 1e-100. Where the result is 1 - I_y(b, a)
    # of a value near 1 (a tiny b: the mass sits near x = 1) that subtraction costs
    # its absolute rounding: 2e-15 absolute.
    checked = 0
    for a, b, x in itertools.product(SHAPES, SHAPES, POINTS):
        ref = ref_betainc(a, b, x)
        value = betainc(a, b, x)
        assert 0.0 <= value <= 1.0
        if ref < 1e-100:
            assert value < 1e-95, (a, b, x)
            continue
        err = abs(mp.mpf(value) - ref)
        assert err <= 1e-13 * ref or err <= 2e-15, (a, b, x, value, float(ref))
        # scipy (Boost's algorithm) agrees within both errors
        assert value == pytest.approx(special.betainc(a, b, x), rel=3e-13, abs=2e-15), (a, b, x)
        checked += 1
    assert checked > 900


def test_betainc_at_the_ends_and_its_symmetry():
    assert betainc(2.0, 3.0, 0.0) == 0.0 and betainc(2.0, 3.0, 1.0) == 1.0
    assert betainc(1.0, 1.0, 0.25) == pytest.approx(0.25, rel=1e-15)
    assert betainc(2.0, 3.0, 0.5) == pytest.approx(0.6875, rel=1e-15)
    for a, b, x in [(0.5, 7.0, 0.2), (1e4, 3e4, 0.26), (5e5, 0.5, 1 - 2e-5)]:
        assert betainc(a, b, x) + betainc(b, a, 1 - x) == pytest.approx(1.0, abs=1e-15)


def test_betainc_huge_shapes_stay_finite_and_monotone():
    a = b = 1e12
    xs = 0.5 + np.linspace(-5, 5, 21) / math.sqrt(8 * a)
    values = [betainc(a, b, x) for x in xs]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values)
    assert betainc(a, b, 0.5) == pytest.approx(0.5, abs=1e-6)
    assert betainc(MAX_BETA_PARAMETER, 0.5, 0.5) == 0.0


DFS = [1, 1.5, 2, 3, 5, 10, 30, 100, 1e3, 1e4, 1e5, 1e6]
TS = [-50, -20, -8, -3.2, -1.5, -0.3, -1e-3, 0.0, 1e-3, 0.7, 2.1, 5, 12, 50]


def test_t_cdf_matches_scipy_and_mpmath_from_1_to_a_million_degrees_of_freedom():
    for df, t in itertools.product(DFS, TS):
        value = t_cdf(t, df)
        assert value == pytest.approx(stats.t.cdf(t, df), rel=2e-13, abs=1e-300), (df, t)
        ref = ref_t_cdf(t, df)
        if ref < 1e-290:                        # (below the doubles' range)
            assert value < 1e-280
        else:
            assert _rel(value, ref) <= 1.5e-13, (df, t, value, float(ref))
        assert t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=2e-13, abs=1e-300)
        assert t_sf_two_sided(t, df) == pytest.approx(2 * stats.t.sf(abs(t), df), rel=2e-13,
                                                      abs=1e-300)


def test_t_cdf_beyond_a_million_degrees_of_freedom_and_the_normal_limit():
    for df, t in itertools.product([1e7, 1e9, 1e12], [-20, -3.2, -0.5, 2.1]):
        assert _rel(t_cdf(t, df), ref_t_cdf(t, df)) <= 1.5e-13, (df, t)
    assert t_cdf(1.3, math.inf) == norm_cdf(1.3)
    assert t_sf_two_sided(-1.3, math.inf) == pytest.approx(2 * norm_sf(1.3), rel=1e-15)
    assert t_cdf(-math.inf, 3) == 0.0 and t_cdf(math.inf, 3) == 1.0
    assert t_sf_two_sided(math.inf, 3) == 0.0
    assert t_cdf(0.0, 7) == 0.5 and t_sf_two_sided(0.0, 7) == 1.0
    assert t_cdf(-1.0, 1) == pytest.approx(0.25, rel=1e-15)     # Cauchy


def test_the_normal_tails_are_accurate_to_an_ulp_or_two():
    with mp.workdps(40):
        for z in np.linspace(-37.0, 37.0, 297):
            assert _rel(norm_cdf(z), mp.ncdf(z)) <= 1e-15, z
            assert _rel(norm_sf(z), mp.ncdf(-z)) <= 1e-15, z


@pytest.mark.parametrize("call, exc, message", [
    (lambda: betainc("1", 1, 0.5), TypeError, "betainc: a must be a real number, got str"),
    (lambda: betainc(1, True, 0.5), TypeError, "betainc: b must be a real number, got bool"),
    (lambda: betainc(0, 1, 0.5), InvalidArgument, "betainc: a must be in (0, 1e+15], got 0"),
    (lambda: betainc(1, math.nan, 0.5), InvalidArgument, "betainc: b must be in (0, 1e+15]"),
    (lambda: betainc(1, 2e15, 0.5), InvalidArgument, "betainc: b must be in (0, 1e+15]"),
    (lambda: betainc(1, 1, 1.5), InvalidArgument, "betainc: x must be in [0, 1], got 1.5"),
    (lambda: betainc(1, 1, math.nan), InvalidArgument, "betainc: x must be in [0, 1], got nan"),
    (lambda: t_cdf(math.nan, 3), InvalidArgument, "t_cdf: t must not be NaN, got nan"),
    (lambda: t_cdf(1.0, 0), InvalidArgument, "t_cdf: df must be > 0"),
    (lambda: t_sf(1.0, math.nan), InvalidArgument, "t_sf: df must be > 0"),
    (lambda: t_sf_two_sided(None, 3), TypeError, "t_sf_two_sided: t must be a real number"),
    (lambda: t_cdf(1.0, "3"), TypeError, "t_cdf: df must be a real number, got str"),
    (lambda: norm_cdf(math.nan), InvalidArgument, "norm_cdf: z must not be NaN"),
    (lambda: norm_sf([1.0]), TypeError, "norm_sf: z must be a real number, got list"),
])
def test_bad_arguments_of_the_distribution_functions(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc
    assert str(info.value).startswith(message)


def test_numpy_scalars_are_accepted():
    assert betainc(np.float32(2), np.int64(3), np.float64(0.5)) == pytest.approx(0.6875)
    assert t_cdf(np.float64(0.0), np.int32(4)) == 0.5


# ================================================================ fixed-sample tests

samples = st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False),
                   min_size=2, max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(samples, samples)
def test_welch_t_test_matches_scipy(a, b):
    assume(np.std(a) > 1e-3 and np.std(b) > 1e-3)
    r = welch_t_test(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert r.t == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
    v1, v2 = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    df = (v1 + v2) ** 2 / (v1**2 / (len(a) - 1) + v2**2 / (len(b) - 1))
    assert r.df == pytest.approx(df, rel=1e-9)
    assert r.df == pytest.approx(ref.df, rel=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-7, abs=1e-300)
    assert r.difference == pytest.approx(np.mean(a) - np.mean(b), rel=1e-9, abs=1e-9)
    s = welch_t_test_from_stats(len(a), np.mean(a), np.var(a, ddof=1),
                                len(b), np.mean(b), np.var(b, ddof=1))
    assert s.t == pytest.approx(r.t, rel=1e-9, abs=1e-12) and s.df == pytest.approx(r.df)


def test_welch_t_test_with_constant_samples():
    assert welch_t_test([1.0, 1.0], [1.0, 1.0, 1.0]) == TTestResult(0.0, 3.0, 1.0, 0.0, 0.0)
    r = welch_t_test([2.0, 2.0], [1.0, 1.0])
    assert (r.t, r.p_value) == (math.inf, 0.0)
    r = welch_t_test([2.0, 2.0, 2.0], [1.0, 2.0])       # one constant arm: df = n2 - 1
    assert (r.t, r.df) == (1.0, 1.0)
    assert r.p_value == pytest.approx(0.5, rel=1e-15)    # Cauchy: P(|T| >= 1) = 1/2


def test_two_proportion_z_test_against_the_closed_form():
    rng = np.random.default_rng(11)
    for _ in range(200):
        n1, n2 = rng.integers(1, 100_000, 2)
        x1, x2 = rng.binomial(n1, 0.02), rng.binomial(n2, 0.03)
        r = two_proportion_z_test(int(x1), int(n1), int(x2), int(n2))
        p = (x1 + x2) / (n1 + n2)
        se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
        if se == 0:
            assert r == ZTestResult(0.0, 1.0, x1 / n1 - x2 / n2, 0.0)
            continue
        z = (x1 / n1 - x2 / n2) / se
        assert r.z == pytest.approx(z, rel=1e-14, abs=1e-15)
        assert r.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-13)
        assert r.std_error == pytest.approx(se, rel=1e-15)
    assert two_proportion_z_test(0, 10, 0, 20) == ZTestResult(0.0, 1.0, 0.0, 0.0)
    assert two_proportion_z_test(np.int64(5), 10, 5, np.int32(10)).z == 0.0


def test_canary_z_score_is_the_guides_formula_on_the_error_indicators():
    rng = np.random.default_rng(12)
    for _ in range(50):
        nc, nb = (int(n) for n in rng.integers(2, 5000, 2))
        ec, eb = int(rng.binomial(nc, 0.03)), int(rng.binomial(nb, 0.02))
        r = canary_z_score(ec, nc, eb, nb)
        canary = np.r_[np.ones(ec), np.zeros(nc - ec)]
        control = np.r_[np.ones(eb), np.zeros(nb - eb)]
        if canary.var() == 0 and control.var() == 0:
            continue
        z = (canary.mean() - control.mean()) / math.sqrt(
            canary.var(ddof=1) / nc + control.var(ddof=1) / nb)
        assert r.z == pytest.approx(z, rel=1e-12)
        assert r.z == pytest.approx(welch_t_test(canary, control).t, rel=1e-12)
        assert r.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-12)


@pytest.mark.parametrize("call, exc, message", [
    (lambda: welch_t_test([1.0], [1.0, 2.0]), InvalidArgument,
     "welch_t_test: a must hold at least 2 values, got 1"),
    (lambda: welch_t_test([1.0, 2.0], []), InvalidArgument,
     "welch_t_test: b must hold at least 2 values, got 0"),
    (lambda: welch_t_test([1.0, math.nan], [1.0, 2.0]), InvalidArgument,
     "welch_t_test: a must hold finite numbers only"),
    (lambda: welch_t_test(["x", "y"], [1.0, 2.0]), TypeError,
     "welch_t_test: a must be a sequence of real numbers, got list"),
    (lambda: welch_t_test("ab", [1.0, 2.0]), TypeError,
     "welch_t_test: a must be a sequence of real numbers, got str"),
    (lambda: welch_t_test([[1.0, 2.0]], [1.0, 2.0]), InvalidArgument,
     "welch_t_test: a must be one-dimensional"),
    (lambda: welch_t_test_from_stats(1, 0.0, 1.0, 5, 0.0, 1.0), InvalidArgument,
     "welch_t_test_from_stats: n1 must be >= 2, got 1"),
    (lambda: welch_t_test_from_stats(5, 0.0, -1.0, 5, 0.0, 1.0), InvalidArgument,
     "welch_t_test_from_stats: var1 must be finite and >= 0, got -1.0"),
    (lambda: welch_t_test_from_stats(5, 0.0, 1.0, 5, math.nan, 1.0), InvalidArgument,
     "welch_t_test_from_stats: mean2 must be finite, got nan"),
    (lambda: welch_t_test_from_stats(5.5, 0.0, 1.0, 5, 0.0, 1.0), InvalidArgument,
     "welch_t_test_from_stats: n1 must be an integer, got 5.5"),
    (lambda: welch_t_test_from_stats(5, "0", 1.0, 5, 0.0, 1.0), TypeError,
     "welch_t_test_from_stats: mean1 must be a real number, got str"),
    (lambda: two_proportion_z_test(-1, 10, 0, 10), InvalidArgument,
     "two_proportion_z_test: x1 must be >= 0, got -1"),
    (lambda: two_proportion_z_test(11, 10, 0, 10), InvalidArgument,
     "two_proportion_z_test: x1 must not exceed n1 (10), got 11"),
    (lambda: two_proportion_z_test(1, 10, 0, 0), InvalidArgument,
     "two_proportion_z_test: n2 must be >= 1, got 0"),
    (lambda: two_proportion_z_test(1, 10, 0.5, 10), InvalidArgument,
     "two_proportion_z_test: x2 must be an integer, got 0.5"),
    (lambda: two_proportion_z_test(1, 10, "0", 10), TypeError,
     "two_proportion_z_test: x2 must be an integer, got str"),
    (lambda: canary_z_score(1, 1, 0, 10), InvalidArgument,
     "canary_z_score: candidate_n must be >= 2, got 1"),
    (lambda: canary_z_score(0, 10, 12, 10), InvalidArgument,
     "canary_z_score: baseline_errors must not exceed baseline_n (10), got 12"),
])
def test_bad_arguments_of_the_fixed_sample_tests(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc
    assert str(info.value) == message or str(info.value).startswith(message)


# ================================================================ the mixture ratio

@pytest.mark.parametrize("theta, var, tau2", [(0.3, 0.04, 0.09), (-0.1, 0.01, 0.25),
                                              (0.02, 1e-4, 1e-4), (0.0, 0.5, 2.0)])
def test_the_mixture_likelihood_ratio_is_the_integral_over_the_mixture(theta, var, tau2):
    def lr(effect):       # N(theta; effect, var) / N(theta; 0, var)
        return math.exp((theta * effect - effect * effect / 2) / var)

    def prior(effect):
        return stats.norm.pdf(effect, 0.0, math.sqrt(tau2))

    s = math.sqrt(tau2)
    two = integrate.quad(lambda e: lr(e) * prior(e), -12 * s, 12 * s, limit=200)[0]
    up = integrate.quad(lambda e: 2 * lr(e) * prior(e), 0, 12 * s, limit=200)[0]
    down = integrate.quad(lambda e: 2 * lr(e) * prior(e), -12 * s, 0, limit=200)[0]
    assert math.exp(mixture_log_likelihood_ratio(theta, var, tau2)) == pytest.approx(two,
                                                                                     rel=1e-8)
    assert math.exp(mixture_log_likelihood_ratio(theta, var, tau2, 1)) == pytest.approx(
        up, rel=1e-8)
    assert math.exp(mixture_log_likelihood_ratio(theta, var, tau2, -1)) == pytest.approx(
        down, rel=1e-8)


def test_the_mixture_ratio_far_on_the_other_side_stays_accurate():
    # the half-normal mixture of effects > 0 against an estimate far below 0: the two
    # factors (huge, and a normal tail far beyond the doubles) in one logarithm
    for theta, var, tau2 in [(-5.0, 1e-4, 1e-2), (-0.5, 1e-3, 1.0), (-1.0, 1e-2, 0.01)]:
        with mp.workdps(50):
            t, v, s = mp.mpf(theta), mp.mpf(var), mp.mpf(tau2)
            ref = (mp.log(2) + mp.log(mp.sqrt(v / (v + s))) + s * t * t / (2 * v * (v + s))
                   + mp.log(mp.ncdf(t * mp.sqrt(s) / mp.sqrt(v * (v + s)))))
        out = mixture_log_likelihood_ratio(theta, var, tau2, 1)
        assert out == pytest.approx(float(ref), rel=1e-9), (theta, var, tau2)


# ================================================================ the sequential tests

def _proportion_runs(p_baseline, p_candidate, config, *, runs=RUNS, seed, naive=False,
                     share=SHARE):
    """Simulated canary analyses of error rates: every PER_LOOK requests (a fraction
    ``share`` of them to the candidate) the test is fed both arms' counts and decides. Returns
    (action, reason, requests so far) per run, and with ``naive`` whether a fixed-level
    z test checked at every look would have rolled the candidate back."""
    rng = np.random.default_rng(seed)
    looks = math.ceil(config.max_samples / (PER_LOOK * share) * 1.5)
    out, naive_rollbacks = [], 0
    for _ in range(runs):
        nc = rng.binomial(PER_LOOK, share, looks)
        nb = PER_LOOK - nc
        ec, eb = rng.binomial(nc, p_candidate), rng.binomial(nb, p_baseline)
        test = SequentialProportionTest(config)
        for k in range(looks):
            test.update("baseline", int(eb[k]), int(nb[k]))
            test.update("candidate", int(ec[k]), int(nc[k]))
            decision = test.decide()
            if decision.final:
                break
        out.append((decision.action, decision.reason, (k + 1) * PER_LOOK))
        if naive:
            cec, cnc, ceb, cnb = (np.cumsum(v) for v in (ec, nc, eb, nb))
            for k in range(math.ceil(config.max_samples / (PER_LOOK * share))):
                r = two_proportion_z_test(int(cec[k]), int(cnc[k]), int(ceb[k]), int(cnb[k]))
                if r.z > 0 and r.p_value < config.alpha:
                    naive_rollbacks += 1
                    break
    return out, naive_rollbacks / runs


def _latency_runs(shift, config, *, runs=RUNS, seed, sigma=0.5, share=SHARE):
    """Simulated canary analyses of latency: log latencies normal (latencies lognormal,
    sd sigma of the log), the candidate's shifted by ``shift``; every PER_LOOK requests
    the test gets each arm's batch as summary statistics."""
    rng = np.random.default_rng(seed)
    looks = math.ceil(config.max_samples / (PER_LOOK * share) * 1.5)
    out = []
    cols = np.arange(PER_LOOK)
    for _ in range(runs):
        nc = rng.binomial(PER_LOOK, share, looks)
        x = np.log(rng.lognormal(-4.0, sigma, (looks, PER_LOOK)))
        cand = cols < nc[:, None]
        x[cand] += shift
        stats_ = []
        for mask, n in ((cand, nc), (~cand, PER_LOOK - nc)):
            s = np.where(mask, x, 0.0).sum(axis=1)
            mean = s / np.maximum(n, 1)
            m2 = np.where(mask, (x - mean[:, None]) ** 2, 0.0).sum(axis=1)
            stats_.append((n, mean, m2 / np.maximum(n - 1, 1)))
        test = SequentialMeanTest(config)
        (cn, cm, cv), (bn, bm, bv) = stats_
        for k in range(looks):
            test.update_stats("candidate", int(cn[k]), float(cm[k]), float(cv[k]))
            test.update_stats("baseline", int(bn[k]), float(bm[k]), float(bv[k]))
            decision = test.decide()
            if decision.final:
                break
        out.append((decision.action, decision.reason, (k + 1) * PER_LOOK))
    return out


def _rate(out, action, reason=None):
    return sum(a == action and (reason is None or r == reason) for a, r, _ in out) / len(out)


def _within(out, action, requests):
    return sum(a == action and n <= requests for a, _, n in out) / len(out)


CONFIG = AnalysisConfig(alpha=ALPHA, min_samples=200, max_samples=10_000)


def test_an_equal_error_rate_is_wrongly_rolled_back_at_most_alpha_of_the_time():
    # 1% errors in both arms, up to 20,000 requests: 200 looks per rollout. A fixed-level
    # z test checked at the same looks rolls back far more often than alpha.
    out, naive = _proportion_runs(0.01, 0.01, CONFIG, seed=101, naive=True)
    false_rollback = _rate(out, "rollback")
    assert false_rollback <= FALSE_ROLLBACK_BOUND, false_rollback     # measured 0.012
    assert naive >= 2 * FALSE_ROLLBACK_BOUND, naive                     # measured 0.179
    assert naive > 4 * false_rollback
    assert _rate(out, "promote") == 1 - false_rollback   # every other rollout is promoted


def test_an_equal_latency_is_wrongly_rolled_back_at_most_alpha_of_the_time():
    out = _latency_runs(0.0, CONFIG, seed=102)
    false_rollback = _rate(out, "rollback")
    assert false_rollback <= FALSE_ROLLBACK_BOUND, false_rollback     # measured 0.019


def test_a_small_canary_keeps_the_false_rollback_rate():
    # 10% of the traffic to the candidate, up to 2,000 of its requests (200 looks):
    # unequal arms leave the test valid (measured 0.048 and 0.022).
    config = CONFIG.replace(max_samples=2_000)
    out, _ = _proportion_runs(0.01, 0.01, config, seed=108, share=0.1)
    assert _rate(out, "rollback") <= FALSE_ROLLBACK_BOUND
    out = _latency_runs(0.0, config, runs=500, seed=109, share=0.1)
    assert _rate(out, "rollback") <= ALPHA + 3.0 * math.sqrt(ALPHA * (1.0 - ALPHA) / 500)


def test_a_doubled_error_rate_is_rolled_back_within_15000_requests():
    # 2% against 1%: rolled back in at least 95% of rollouts within 15,000 requests
    # (7,500 per arm; measured: 98.8% of them, median 3,700, 95th percentile 10,200).
    out, _ = _proportion_runs(0.01, 0.02, CONFIG, seed=103)
    assert _within(out, "rollback", 15_000) >= 0.95, _within(out, "rollback", 15_000)
    assert _rate(out, "promote") <= 0.01


def test_a_20_percent_latency_shift_is_rolled_back_within_1000_requests():
    # lognormal latencies with sd 0.5 of the log, the candidate's 20% slower: rolled
    # back in at least 95% of rollouts within 1,000 requests (measured: median 500,
    # the 400 of the minimum samples; 95th percentile 700; 99.9% within 1,000).
    out = _latency_runs(math.log(1.2), CONFIG, seed=104)
    assert _within(out, "rollback", 1_000) >= 0.95, _within(out, "rollback", 1_000)
    assert _rate(out, "promote") == 0.0


def test_a_better_candidate_is_promoted_and_not_rolled_back():
    # half the error rate: promoted in every rollout, mostly early as significantly
    # better (measured 94%), the rest at the planned maximum sample.
    out, _ = _proportion_runs(0.01, 0.005, CONFIG, seed=105)
    assert _rate(out, "rollback") <= FALSE_ROLLBACK_BOUND
    assert _rate(out, "promote") >= 1 - FALSE_ROLLBACK_BOUND
    assert _rate(out, "promote", "better") >= 0.8
    out = _latency_runs(math.log(0.9), CONFIG, runs=300, seed=106)
    assert _rate(out, "rollback") == 0.0
    assert _rate(out, "promote", "better") >= 0.95


def test_without_early_promotion_an_equal_candidate_is_promoted_at_the_maximum():
    config = CONFIG.replace(promote_early=False, max_samples=2_000)
    out, _ = _proportion_runs(0.01, 0.01, config, runs=300, seed=107)
    assert _rate(out, "promote", "better") == 0.0
    assert _rate(out, "promote", "max_samples") >= 0.9
    assert all(n <= 2 * config.max_samples / SHARE for _, _, n in out)


def test_the_p_value_never_increases_and_a_final_decision_sticks():
    rng = np.random.default_rng(5)
    test = SequentialProportionTest(AnalysisConfig(min_samples=100, max_samples=10**6))
    ps, decisions = [], []
    for _ in range(300):
        test.update("baseline", int(rng.binomial(50, 0.01)), 50)
        test.update("candidate", int(rng.binomial(50, 0.016)), 50)
        decisions.append(test.decide())
        ps.append(test.p_value)
    assert all(b <= a for a, b in zip(ps, ps[1:]))
    assert [d.p_value for d in decisions] == ps
    final = [d for d in decisions if d.final]
    assert final and all(d is final[0] for d in final)
    assert final[0].action == "rollback" and final[0].p_value <= 0.05
    assert test.decision is final[0]
    assert decisions[0].reason == "min_samples" and math.isnan(decisions[0].estimate)
    test.reset()
    assert test.looks == 0 and test.p_value == 1.0 and test.decision is None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=60))
def test_the_p_values_are_monotone_over_any_sequence_of_looks(batches):
    test = SequentialProportionTest(AnalysisConfig(min_samples=10, max_samples=10**6))
    last = (1.0, 1.0)
    for eb, ec in batches:
        test.update("baseline", eb, 20)
        test.update("candidate", ec, 20)
        d = test.decide()
        assert d.p_value <= last[0] and d.p_value_better <= last[1]
        assert 0.0 <= d.p_value <= 1.0
        last = (d.p_value, d.p_value_better)


def test_summary_statistics_and_values_give_the_same_analysis():
    rng = np.random.default_rng(8)
    cfg = AnalysisConfig(min_samples=20)
    by_values, by_stats = SequentialMeanTest(cfg), SequentialMeanTest(cfg)
    for _ in range(10):
        for arm, shift in (("baseline", 0.0), ("candidate", 0.05)):
            x = rng.normal(shift, 1.0, int(rng.integers(1, 30)))
            by_values.update(arm, x)
            by_stats.update_stats(arm, x.size, x.mean(), x.var(ddof=1) if x.size > 1 else 0.0)
        a, b = by_values.decide(), by_stats.decide()
        assert a.p_value == pytest.approx(b.p_value, rel=1e-9)
        assert a.estimate == pytest.approx(b.estimate, rel=1e-9, abs=1e-12, nan_ok=True)
    n, mean, var = by_values.stats("candidate")
    assert (n, mean, var) == pytest.approx(by_stats.stats("candidate"))
    by_values.update("baseline", [])            # an empty batch changes nothing
    assert by_values.stats("baseline")[0] == by_stats.stats("baseline")[0]


def test_a_known_variance_and_the_harmful_direction():
    cfg = AnalysisConfig(min_samples=50)
    # a log-likelihood: lower is worse
    quality = SequentialMeanTest(cfg, worse="lower", variance=1.0)
    rng = np.random.default_rng(9)
    for _ in range(100):
        quality.update("baseline", rng.normal(0.0, 1.0, 50))
        quality.update("candidate", rng.normal(-0.3, 1.0, 50))
        if quality.decide().final:
            break
    assert quality.decision.action == "rollback" and quality.decision.estimate < 0


def test_a_test_resumes_from_its_state():
    rng = np.random.default_rng(10)
    cfg = AnalysisConfig(min_samples=100, max_samples=50_000)
    a = SequentialProportionTest(cfg)
    for _ in range(30):
        a.update("baseline", int(rng.binomial(50, 0.01)), 50)
        a.update("candidate", int(rng.binomial(50, 0.012)), 50)
        a.decide()
    state = a.to_dict()
    b = SequentialProportionTest.from_dict(pickle.loads(pickle.dumps(state)))
    assert b.to_dict() == state
    for _ in range(30):
        e, f = int(rng.binomial(50, 0.01)), int(rng.binomial(50, 0.012))
        for t in (a, b):
            t.update("baseline", e, 50)
            t.update("candidate", f, 50)
        assert a.decide() == b.decide()
    m = SequentialMeanTest(cfg, worse="lower", variance=2.0)
    m.update("baseline", [1.0, 2.0, 3.0])
    m2 = SequentialMeanTest.from_dict(m.to_dict())
    assert m2.to_dict() == m.to_dict() and m2.variance == 2.0 and m2.worse == "lower"
    with pytest.raises(InvalidArgument, match="must be a SequentialMeanTest's state"):
        SequentialMeanTest.from_dict(state)
    with pytest.raises(InvalidArgument, match="misses a field"):
        SequentialProportionTest.from_dict({"kind": "SequentialProportionTest"})
    with pytest.raises(TypeError, match="state must be a mapping"):
        SequentialProportionTest.from_dict([1])


def test_the_decision_renders_as_a_dict():
    d = Decision("rollback", "worse", 0.01, 0.9, 0.02, 0.005, 1000, 1000, 12, 0.05)
    assert d.final and d.to_dict()["p_value"] == 0.01
    assert not Decision("continue", "no_evidence", 0.5, 0.5, 0.0, 1.0, 10, 10, 1, 0.05).final
    assert "SequentialProportionTest(n_baseline=0" in repr(SequentialProportionTest())


@pytest.mark.parametrize("call, exc, message", [
    (lambda: AnalysisConfig(alpha=0), InvalidArgument,
     "AnalysisConfig: alpha must be in (0, 0.5], got 0"),
    (lambda: AnalysisConfig(alpha=math.nan), InvalidArgument, "AnalysisConfig: alpha must be"),
    (lambda: AnalysisConfig(mixture_variance=-1), InvalidArgument,
     "AnalysisConfig: mixture_variance must be finite and > 0, got -1"),
    (lambda: AnalysisConfig(min_samples=1), InvalidArgument,
     "AnalysisConfig: min_samples must be in [2, 1000000000000], got 1"),
    (lambda: AnalysisConfig(min_samples=500, max_samples=100), InvalidArgument,
     "AnalysisConfig: min_samples must not exceed max_samples (100), got 500"),
    (lambda: AnalysisConfig(alpah=0.1), TypeError,
     "AnalysisConfig: unknown setting 'alpah'; did you mean 'alpha'?"),
    (lambda: SequentialMeanTest(config={"alpha": 0.1}), TypeError,
     "SequentialMeanTest: config must be an AnalysisConfig, got dict"),
    (lambda: SequentialMeanTest(worse="up"), InvalidArgument,
     "SequentialMeanTest: worse must be one of 'higher', 'lower', got 'up'"),
    (lambda: SequentialMeanTest(variance=0.0), InvalidArgument,
     "SequentialMeanTest: variance must be finite and > 0, got 0.0"),
    (lambda: SequentialMeanTest().update("canary", [1.0]), InvalidArgument,
     "SequentialMeanTest.update: arm must be one of 'baseline', 'candidate', got 'canary'"),
    (lambda: SequentialMeanTest().update("baseline", [1.0, math.inf]), InvalidArgument,
     "SequentialMeanTest.update: values must hold finite numbers only"),
    (lambda: SequentialMeanTest().update("baseline", None), TypeError,
     "SequentialMeanTest.update: values must be a sequence of real numbers, got NoneType"),
    (lambda: SequentialMeanTest().update_stats("baseline", -1, 0.0, 1.0), InvalidArgument,
     "SequentialMeanTest.update_stats: n must be >= 0, got -1"),
    (lambda: SequentialMeanTest().update_stats("baseline", 5, math.nan, 1.0), InvalidArgument,
     "SequentialMeanTest.update_stats: mean must be finite, got nan"),
    (lambda: SequentialMeanTest().update_stats("baseline", 5, 0.0, -2.0), InvalidArgument,
     "SequentialMeanTest.update_stats: var must be finite and >= 0, got -2.0"),
    (lambda: SequentialProportionTest().update("candidate", -1, 10), InvalidArgument,
     "SequentialProportionTest.update: events must be >= 0, got -1"),
    (lambda: SequentialProportionTest().update("candidate", 11, 10), InvalidArgument,
     "SequentialProportionTest.update: events must not exceed n (10), got 11"),
    (lambda: SequentialProportionTest().update("candidate", 1, -10), InvalidArgument,
     "SequentialProportionTest.update: n must be >= 0, got -10"),
    (lambda: SequentialProportionTest().update("candidate", 1.0, "10"), TypeError,
     "SequentialProportionTest.update: n must be an integer, got str"),
    (lambda: SequentialProportionTest().update("candidate", math.nan, 10), InvalidArgument,
     "SequentialProportionTest.update: events must be an integer, got nan"),
])
def test_bad_arguments_of_the_sequential_tests(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc
    assert str(info.value) == message or str(info.value).startswith(message)


def test_a_bad_update_changes_nothing():
    test = SequentialProportionTest()
    test.update("baseline", 1, 10)
    with pytest.raises(InvalidArgument):
        test.update("baseline", 20, 10)
    assert test.counts("baseline") == (1, 10)


def test_a_second_init_is_refused():
    test = SequentialProportionTest()
    with pytest.raises(RuntimeError):
        test.__init__()


@pytest.mark.parametrize("module", [analysis, _stats, group_sequential])
def test_the_docstring_examples_run(module):
    result = doctest.testmod(module, verbose=False, report=False)
    assert result.failed == 0
    assert result.attempted >= 3


# ================================================================ group-sequential design

def test_the_group_sequential_boundaries_are_the_published_ones():
    # gsDesign's symmetric two-sided designs at 0.05 (0.025 a side), five even looks
    of = GroupSequentialDesign(5, alpha=0.05)
    assert of.boundaries == pytest.approx([4.8769, 3.3569, 2.6803, 2.2898, 2.0310], abs=2e-4)
    pocock = GroupSequentialDesign(5, alpha=0.05, spending="pocock")
    assert pocock.boundaries == pytest.approx([2.4380, 2.4268, 2.4102, 2.3966, 2.3860],
                                              abs=2e-4)
    assert of.alpha_spent[-1] == 0.05 and list(of.alpha_spent) == sorted(of.alpha_spent)
    single = GroupSequentialDesign(1, alpha=0.05)
    assert single.boundaries == pytest.approx([1.959964], abs=1e-6)


@pytest.mark.parametrize("spending, information", [("obrien-fleming", None),
                                                   ("pocock", [0.2, 0.5, 0.7, 1.0])])
def test_a_group_sequential_design_spends_exactly_alpha_under_no_effect(spending, information):
    # 200,000 simulated A/B tests with no effect: a false winner at some look in alpha
    # of them (within 3 standard errors), and by look as the spending function says.
    design = GroupSequentialDesign(4, alpha=0.05, spending=spending, information=information)
    t = np.array(design.information)
    rng = np.random.default_rng(21)
    n = 200_000
    steps = rng.standard_normal((n, t.size)) * np.sqrt(np.diff(t, prepend=0.0))
    z = np.cumsum(steps, axis=1) / np.sqrt(t)
    crossed = np.abs(z) >= np.array(design.boundaries)
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), -1)
    rate = (first >= 0).mean()
    se = math.sqrt(0.05 * 0.95 / n)
    assert abs(rate - 0.05) <= 3 * se, rate
    cumulative = [(first[first >= 0] <= k).sum() / n for k in range(t.size)]
    assert cumulative == pytest.approx(design.alpha_spent, abs=3 * se)


def test_a_group_sequential_ab_test_with_welch_t_at_each_look():
    design = GroupSequentialDesign(4, alpha=0.05)
    rng = np.random.default_rng(22)
    a = rng.normal(1.0, 1.0, 400)           # the candidate: better by 0.4 sd
    b = rng.normal(0.6, 1.0, 400)
    for look in range(1, 5):
        n = 100 * look
        r = welch_t_test(a[:n], b[:n])
        result = design.evaluate(look, r.t, df=r.df)
        if result.stop:
            break
    assert result.winner == "candidate" and result.look < 4
    assert result.z == pytest.approx(_stats_norm_isf(t_sf(r.t, r.df)), rel=1e-9)
    assert result.to_dict()["boundary"] == design.boundaries[result.look - 1]
    last = design.evaluate(4, 0.5)
    assert last.stop and last.winner is None
    assert design.evaluate(1, -10.0).winner == "baseline"
    assert design.evaluate(1, math.inf, df=3).winner == "candidate"
    assert not design.evaluate(1, 1.0).stop


def _stats_norm_isf(p):
    return float(stats.norm.isf(p))


@pytest.mark.parametrize("call, exc, message", [
    (lambda: GroupSequentialDesign(0), InvalidArgument,
     "GroupSequentialDesign: looks must be in [1, 50], got 0"),
    (lambda: GroupSequentialDesign(3, alpha=0.7), InvalidArgument,
     "GroupSequentialDesign: alpha must be in (0, 0.5], got 0.7"),
    (lambda: GroupSequentialDesign(3, spending="linear"), InvalidArgument,
     "GroupSequentialDesign: spending must be one of 'obrien-fleming', 'pocock'"),
    (lambda: GroupSequentialDesign(3, information=[0.5, 1.0]), InvalidArgument,
     "GroupSequentialDesign: information must hold one fraction per look (3), got 2"),
    (lambda: GroupSequentialDesign(2, information=[0.5, 0.9]), InvalidArgument,
     "GroupSequentialDesign: information must increase and end at 1"),
    (lambda: GroupSequentialDesign(2, information=[0.0, 1.0]), InvalidArgument,
     "GroupSequentialDesign: information must be in (0, 1], got 0.0"),
    (lambda: GroupSequentialDesign(2, information="ab"), TypeError,
     "GroupSequentialDesign: information must be a sequence of numbers, got str"),
    (lambda: GroupSequentialDesign(2).evaluate(3, 1.0), InvalidArgument,
     "GroupSequentialDesign: look must be in [1, 2], got 3"),
    (lambda: GroupSequentialDesign(2).evaluate(1, math.nan), InvalidArgument,
     "GroupSequentialDesign: statistic must not be NaN, got nan"),
    (lambda: GroupSequentialDesign(2).evaluate(1, "1"), TypeError,
     "GroupSequentialDesign: statistic must be a real number, got str"),
    (lambda: GroupSequentialDesign(2).evaluate(1, 1.0, df=0), InvalidArgument,
     "GroupSequentialDesign: df must be finite and > 0, got 0"),
])
def test_bad_arguments_of_the_group_sequential_design(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc
    assert str(info.value) == message or str(info.value).startswith(message)
