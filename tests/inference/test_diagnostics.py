"""MCMC and importance-sampling diagnostics, against ArviZ on the same draws and
against closed forms."""

import doctest
import importlib
import math

import numpy as np
import pytest

from fugue_ppl.errors import InvalidArgument
from fugue_ppl.inference import (
    ess_bulk,
    ess_mean,
    ess_tail,
    importance_ess,
    khat_threshold,
    mcse_mean,
    psis,
    rhat,
    split_rhat,
)
from fugue_ppl.inference.diagnostics import _ndtri

az = pytest.importorskip("arviz")
special = pytest.importorskip("scipy.special")

RTOL = 1e-10


def ar1(rng, rho, chains, n):
    """Stationary AR(1) chains with unit marginal variance."""
    x = np.empty((chains, n))
    x[:, 0] = rng.normal(size=chains)
    noise = rng.normal(scale=math.sqrt(1 - rho * rho), size=(chains, n))
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    return x


def _chains():
    rng = np.random.default_rng(20240607)
    stuck = rng.normal(size=(4, 800))
    stuck[1] += 1.5                                  # one chain elsewhere
    wide = rng.normal(size=(4, 800))
    wide[3] *= 4.0                                   # one chain too wide (a tail problem)
    return {
        "iid": rng.normal(size=(4, 1000)),
        "ar1": ar1(rng, 0.8, 4, 1000),
        "odd_length": rng.normal(size=(3, 501)),
        "non_mixing": stuck,
        "different_scales": wide,
        "heavy_tailed": rng.standard_t(1.5, size=(4, 600)),
        "random_walks": np.cumsum(rng.normal(size=(4, 300)), axis=1),
        "counts_with_ties": rng.poisson(2.0, size=(4, 400)),
        "indicators": rng.random((2, 400)) < 0.3,
        "minimal": rng.normal(size=(2, 4)),
    }


CHAINS = _chains()


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_the_mcmc_diagnostics_equal_arviz(name):
    draws = CHAINS[name]
    assert rhat(draws) == pytest.approx(az.rhat(draws, method="rank"), rel=RTOL)
    assert split_rhat(draws) == pytest.approx(az.rhat(draws, method="split"), rel=RTOL)
    assert ess_bulk(draws) == pytest.approx(az.ess(draws, method="bulk"), rel=RTOL)
    assert ess_tail(draws) == pytest.approx(az.ess(draws, method="tail"), rel=RTOL)
    assert ess_mean(draws) == pytest.approx(az.ess(draws, method="mean"), rel=RTOL)
    assert mcse_mean(draws) == pytest.approx(az.mcse(draws, method="mean"), rel=RTOL)


def test_other_tail_probabilities_equal_arviz():
    draws = CHAINS["ar1"]
    assert ess_tail(draws, (0.1, 0.8)) == pytest.approx(
        az.ess(draws, method="tail", prob=(0.1, 0.8)), rel=RTOL)


def test_one_chain_has_ess_and_mcse():
    draws = CHAINS["iid"][:1]
    assert ess_bulk(draws) == pytest.approx(az.ess(draws, method="bulk"), rel=RTOL)
    assert mcse_mean(draws) == pytest.approx(az.mcse(draws, method="mean"), rel=RTOL)


def test_rhat_separates_mixed_from_non_mixing_chains():
    assert rhat(CHAINS["iid"]) < 1.01
    assert rhat(CHAINS["ar1"]) < 1.01
    assert rhat(CHAINS["non_mixing"]) > 1.1
    # A chain with the same location but four times the spread: the folded R̂ sees it.
    assert split_rhat(CHAINS["different_scales"]) < 1.01 < rhat(CHAINS["different_scales"])


def test_the_ess_of_an_ar1_chain_is_its_closed_form():
    # Stationary AR(1) with coefficient rho: ESS = N (1 - rho) / (1 + rho).
    rng = np.random.default_rng(7)
    for rho in (0.0, 0.5, 0.9):
        draws = ar1(rng, rho, 4, 20000)
        expected = draws.size * (1 - rho) / (1 + rho)
        assert ess_mean(draws) == pytest.approx(expected, rel=0.1)
        assert ess_bulk(draws) == pytest.approx(expected, rel=0.1)
        # MCSE of the mean: sqrt(var / ESS) with unit variance.
        assert mcse_mean(draws) == pytest.approx(math.sqrt(1 / expected), rel=0.06)


def test_a_constant_chain_has_nan_rhat_and_full_ess():
    draws = np.full((4, 100), 2.5)
    with np.errstate(invalid="ignore"):
        assert math.isnan(rhat(draws)) and math.isnan(az.rhat(draws, method="rank"))
    assert ess_bulk(draws) == az.ess(draws, method="bulk") == 400


def test_the_normal_quantile_matches_scipy():
    p = np.concatenate([np.logspace(-300, -1, 2000), np.linspace(0.0005, 0.9995, 20001),
                        1 - np.logspace(-16, -1, 500)])
    np.testing.assert_allclose(_ndtri(p), special.ndtri(p), rtol=1e-14, atol=1e-300)


# ------------------------------------------------------------------ bad MCMC input

@pytest.mark.parametrize("fn", [rhat, split_rhat, ess_bulk, ess_tail, ess_mean, mcse_mean])
@pytest.mark.parametrize("draws, words", [
    (np.zeros(100), "must be a 2-D array (chains, draws); it has 1 dimension"),
    (np.zeros((2, 100, 3)), "must be a 2-D array (chains, draws); it has 3 dimension"),
    (np.zeros((4, 3)), "must hold at least 4 draws per chain (columns), it holds 3"),
    (np.zeros((0, 10)), "must hold at least"),
    (np.array([[0.0, 1.0, np.nan, 2.0, 3.0]] * 2), "must be finite (no NaN or infinity)"),
    (np.array([[0.0, 1.0, np.inf, 2.0, 3.0]] * 2), "must be finite (no NaN or infinity)"),
])
def test_bad_draws_are_refused_naming_the_parameter(fn, draws, words):
    with pytest.raises(InvalidArgument, match=r"draws") as info:
        fn(draws)
    assert info.value.parameter == "draws"
    assert info.value.owner == fn.__name__
    assert words in str(info.value)


@pytest.mark.parametrize("fn", [rhat, split_rhat])
def test_rhat_needs_two_chains(fn):
    with pytest.raises(InvalidArgument, match=r"draws must hold at least 2 chains \(rows\), "
                                              r"it holds 1"):
        fn(np.zeros((1, 100)))


@pytest.mark.parametrize("value", ["abc", None, np.array([["a", "b"]] * 4), [[object()] * 4]])
def test_draws_of_the_wrong_type_are_a_type_error(value):
    with pytest.raises(TypeError, match=r"ess_bulk: draws must be a 2-D array of numbers"):
        ess_bulk(value)


def test_ragged_draws_are_a_type_error():
    with pytest.raises(TypeError, match="draws must be a 2-D array of numbers"):
        rhat([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]])


@pytest.mark.parametrize("prob, exc, words", [
    ((0.0, 0.95), InvalidArgument, "ess_tail: prob must be in (0, 1), got 0.0"),
    ((0.05, float("nan")), InvalidArgument, "ess_tail: prob must be in (0, 1), got nan"),
    (0.05, TypeError, "ess_tail: prob must be a pair of probabilities"),
    ((0.05, 0.5, 0.95), TypeError, "ess_tail: prob must be a pair of probabilities"),
])
def test_bad_tail_probabilities(prob, exc, words):
    with pytest.raises(exc) as info:
        ess_tail(CHAINS["iid"], prob)
    assert words in str(info.value)


# ------------------------------------------------------------------ importance weights

def _pareto_log_weights(rng, k, n):
    # Weights with a generalized Pareto tail of shape k: w = (1 - U)**(-k).
    return -k * np.log1p(-rng.random(n))


WEIGHTS = {
    "normal": np.random.default_rng(1).normal(size=1000),
    "pareto_k_0.3": _pareto_log_weights(np.random.default_rng(2), 0.3, 4000),
    "pareto_k_0.9": _pareto_log_weights(np.random.default_rng(3), 0.9, 4000),
    "pareto_k_1.5": _pareto_log_weights(np.random.default_rng(4), 1.5, 2000),
    "with_zero_weights": np.r_[np.random.default_rng(5).normal(size=300), [-np.inf] * 5],
    "short": np.random.default_rng(6).normal(size=12),
    "huge_offsets": np.random.default_rng(7).normal(size=500) * 50 - 1e4,
}


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_psis_equals_arviz(name):
    lw = WEIGHTS[name]
    ours = psis(lw)
    smoothed, khat = az.psislw(lw.copy())
    if np.isinf(khat):
        assert ours.khat == math.inf
    else:
        assert ours.khat == pytest.approx(float(khat), rel=RTOL)
    np.testing.assert_allclose(ours.log_weights, smoothed, rtol=RTOL, atol=1e-12)
    assert ours.tail_length == math.ceil(min(lw.size / 5, 3 * math.sqrt(lw.size))) or \
        np.isinf(lw).any()
    # Normalised: the smoothed weights sum to one.
    assert np.exp(ours.log_weights).sum() == pytest.approx(1.0, rel=1e-12)


def test_psis_with_a_relative_efficiency_equals_arviz():
    lw = WEIGHTS["pareto_k_0.3"]
    ours = psis(lw, r_eff=0.4)
    smoothed, khat = az.psislw(lw.copy(), reff=0.4)
    assert ours.khat == pytest.approx(float(khat), rel=RTOL)
    np.testing.assert_allclose(ours.log_weights, smoothed, rtol=RTOL, atol=1e-12)


def test_khat_estimates_the_tail_shape_and_flags_heavy_tails():
    assert psis(WEIGHTS["normal"]).khat < 0.5
    assert psis(WEIGHTS["pareto_k_0.3"]).khat == pytest.approx(0.3, abs=0.15)
    heavy = psis(WEIGHTS["pareto_k_0.9"])
    assert heavy.khat == pytest.approx(0.9, abs=0.15) and heavy.khat > 0.7
    assert not heavy.reliable and psis(WEIGHTS["normal"]).reliable
    # Too short a tail for a fit: k̂ is infinite and nothing is smoothed.
    short = psis(WEIGHTS["short"])
    assert short.khat == math.inf and short.tail_length == 3
    np.testing.assert_allclose(np.exp(short.log_weights),
                               np.exp(WEIGHTS["short"]) / np.exp(WEIGHTS["short"]).sum())


def test_the_khat_threshold():
    assert khat_threshold(100) == pytest.approx(0.5)
    assert khat_threshold(10**6) == 0.7
    assert khat_threshold(1) == -math.inf


def test_importance_ess_closed_forms():
    assert importance_ess(np.zeros(250)) == pytest.approx(250.0)
    assert importance_ess([0.0, -1000.0, -1000.0]) == pytest.approx(1.0)
    assert importance_ess([5.0, 5.0, -np.inf, 5.0]) == pytest.approx(3.0)
    rng = np.random.default_rng(8)
    lw = rng.normal(size=500) * 2 + 1e3           # no overflow at large log-weights
    w = np.exp(lw - lw.max())
    assert importance_ess(lw) == pytest.approx(w.sum() ** 2 / (w * w).sum(), rel=1e-12)
    # Two weight levels: n1 weights of 1, n2 of a: (n1 + n2 a)^2 / (n1 + n2 a^2).
    lw = np.r_[np.zeros(30), np.full(70, math.log(3.0))]
    assert importance_ess(lw) == pytest.approx((30 + 70 * 3) ** 2 / (30 + 70 * 9))


@pytest.mark.parametrize("fn", [psis, importance_ess])
@pytest.mark.parametrize("value, exc, words", [
    (np.zeros((2, 10)), InvalidArgument, "log_weights must be a 1-D array; it has 2"),
    (np.array([]), InvalidArgument, "log_weights must not be empty"),
    (np.array([0.0, np.nan]), InvalidArgument, "log_weights must hold no NaN or +inf"),
    (np.array([0.0, np.inf]), InvalidArgument, "log_weights must hold no NaN or +inf"),
    (np.array([-np.inf, -np.inf]), InvalidArgument, "log_weights must hold a finite entry"),
    ("abc", TypeError, "log_weights must be a 1-D array of numbers"),
    ([True, False], TypeError, "log_weights must be a 1-D array of numbers"),
])
def test_bad_log_weights_are_refused_naming_the_parameter(fn, value, exc, words):
    with pytest.raises(exc) as info:
        fn(value)
    assert f"{fn.__name__}: {words}" in str(info.value)


@pytest.mark.parametrize("r_eff", [0.0, -1.0, 1.5, float("nan")])
def test_psis_refuses_a_bad_relative_efficiency(r_eff):
    with pytest.raises(InvalidArgument, match=r"psis: r_eff must be in \(0, 1\]"):
        psis(np.zeros(100), r_eff=r_eff)


@pytest.mark.parametrize("module", ["fugue_ppl.inference.diagnostics",
                                    "fugue_ppl.inference.mh"])
def test_the_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), verbose=False, report=False)
    assert result.failed == 0
    assert result.attempted >= 3
