"""Metropolis-Hastings: conjugate posteriors, discrete sites against enumeration,
the Hastings term of asymmetric proposals, simulation-based calibration, and bad
input.

Statistical checks have fixed seeds. A posterior mean is compared with the
closed form within Z = 4.5 Monte Carlo standard errors (the MCSE the result
computes): a correct sampler fails one such check with probability about 7e-6
(two-sided normal tail), ignoring the error of the MCSE itself.
"""

import math
import pickle
import warnings

import numpy as np
import pytest

import fugue_ppl as fp
from fugue_ppl.errors import (
    FugueWarning,
    InvalidArgument,
    TraceAddressNotFound,
    TypeMismatch,
    UnexpectedModelStructure,
)
from fugue_ppl.inference import (
    Flip,
    GaussianWalk,
    IntegerWalk,
    LogNormalWalk,
    MCMCResult,
    MetropolisHastings,
    Prior,
    Proposal,
    SiteSummary,
)

Z = 4.5


def _normal_pdf(x, mean, sd):
    return math.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def assert_mean(result, site, expected):
    s = result.summary()[site]
    assert abs(s.mean - expected) < Z * s.mcse_mean, (s.mean, expected, s.mcse_mean)
    return s


def assert_mixed(summary, min_ess=300):
    assert summary.rhat < 1.01
    assert summary.ess_bulk > min_ess and summary.ess_tail > min_ess


# ------------------------------------------------------------------ conjugate models

YS = [1.2, 0.8, 2.1, 1.5, 0.3]


def normal_normal(ys):
    mu = fp.sample("mu", fp.Normal(1.0, 2.0))
    for i, y in enumerate(ys):
        fp.observe(fp.addr("y", i), fp.Normal(mu, 1.0), y)


def _normal_posterior(ys, prior_mean=1.0, prior_sd=2.0, sd=1.0):
    precision = 1 / prior_sd**2 + len(ys) / sd**2
    return (prior_mean / prior_sd**2 + sum(ys) / sd**2) / precision, precision ** -0.5


@pytest.mark.parametrize("kernel, proposals", [
    ("random_walk", None),
    ("single_site", {"mu": GaussianWalk(0.6)}),
])
def test_normal_normal_posterior(kernel, proposals):
    result = MetropolisHastings(kernel, chains=4, draws=2500, warmup=500, seed=11,
                                proposals=proposals).run(normal_normal, YS)
    mean, sd = _normal_posterior(YS)
    s = assert_mean(result, "mu", mean)
    assert s.sd == pytest.approx(sd, rel=0.06)
    # The 5% and 95% quantiles of N(mean, sd), within a generous band.
    assert s.quantiles[0.05] == pytest.approx(mean - 1.6449 * sd, abs=0.1)
    assert s.quantiles[0.95] == pytest.approx(mean + 1.6449 * sd, abs=0.1)
    assert_mixed(s)
    assert result.draws["mu"].shape == (4, 2500) and result.log_joint.shape == (4, 2500)
    assert np.all((result.acceptance_rate > 0.2) & (result.acceptance_rate < 0.8))
    # The recorded log joint is that of the draw, recomputed by the core.
    _, trace = fp.run(fp.ScoreGivenTrace(fp.Trace.from_dict({"mu": result["mu"][2, 7]})),
                      normal_normal, YS)
    assert result.log_joint[2, 7] == pytest.approx(trace.total_log_weight, rel=1e-12)


FLIPS = [True, False, True, True, False, True, True, True]


def beta_binomial(flips, successes, trials):
    p = fp.sample("p", fp.Beta(2.0, 3.0))
    for i, f in enumerate(flips):
        fp.observe(fp.addr("flip", i), fp.Bernoulli(p), f)
    fp.observe("count", fp.Binomial(trials, p), successes)


def test_beta_binomial_posterior_and_proposals_outside_the_support():
    # Beta(2, 3) prior; 6 of 8 flips and 3 of 10 trials: Beta(2 + 9, 3 + 9).
    a, b = 2 + sum(FLIPS) + 3, 3 + (len(FLIPS) - sum(FLIPS)) + 7
    result = MetropolisHastings(chains=4, draws=2500, warmup=500, seed=5, scale=0.5,
                                ).run(beta_binomial, FLIPS, successes=3, trials=10)
    s = assert_mean(result, "p", a / (a + b))
    assert s.sd == pytest.approx(math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))), rel=0.06)
    assert_mixed(s)
    assert np.all((result["p"] > 0) & (result["p"] < 1))
    # The warm-up starts from a large step: proposals outside (0, 1) made the model build
    # Bernoulli(p) with an invalid p. After warm-up they are rare but counted, and rejected.
    assert result.invalid_proposals.dtype == np.int64 and result.invalid_proposals.shape == (4,)
    no_adapt = MetropolisHastings(chains=2, draws=300, warmup=0, seed=5, scale=0.5,
                                  adapt=False).run(beta_binomial, FLIPS, successes=3, trials=10)
    assert no_adapt.invalid_proposals.sum() > 50
    assert np.all((no_adapt["p"] > 0) & (no_adapt["p"] < 1))


COUNTS = [2, 4, 3, 5]


def gamma_poisson(counts):
    rate = fp.sample("rate", fp.Gamma(3.0, 1.0))
    for i, c in enumerate(counts):
        fp.observe(fp.addr("count", i), fp.Poisson(rate), c)


# Gamma(3, 1) prior and 4 counts summing to 14: Gamma(17, 5), mean 3.4.
GP_SHAPE, GP_RATE = 3.0 + sum(COUNTS), 1.0 + len(COUNTS)


@pytest.mark.parametrize("kernel, proposals", [
    ("random_walk", None),
    ("single_site", {"rate": LogNormalWalk(0.4)}),
    ("single_site", None),                       # the prior proposal
])
def test_gamma_poisson_posterior(kernel, proposals):
    result = MetropolisHastings(kernel, chains=4, draws=2500, warmup=500, seed=23,
                                proposals=proposals).run(gamma_poisson, COUNTS)
    s = assert_mean(result, "rate", GP_SHAPE / GP_RATE)
    assert s.sd == pytest.approx(math.sqrt(GP_SHAPE) / GP_RATE, rel=0.08)
    assert_mixed(s, min_ess=200)


class LogNormalWalkWithoutHastings(LogNormalWalk):
    """The log-normal walk with its Hastings term dropped (wrong on purpose)."""

    def propose(self, value, rng):
        new, _ = super().propose(value, rng)
        return new, 0.0


def test_the_hastings_term_of_an_asymmetric_proposal_is_needed_and_right():
    # Without log(new) - log(value), the chain samples the target divided by the value:
    # Gamma(17, 5) becomes Gamma(16, 5), whose mean is lower by 1/5 = 0.2 (about 12 MCSE).
    run = dict(chains=4, draws=2000, warmup=300, seed=99)
    right = MetropolisHastings("single_site", proposals={"rate": LogNormalWalk(0.5)},
                               **run).run(gamma_poisson, COUNTS)
    wrong = MetropolisHastings("single_site",
                               proposals={"rate": LogNormalWalkWithoutHastings(0.5)},
                               **run).run(gamma_poisson, COUNTS)
    assert_mean(right, "rate", GP_SHAPE / GP_RATE)
    w = assert_mean(wrong, "rate", (GP_SHAPE - 1) / GP_RATE)
    assert abs(w.mean - GP_SHAPE / GP_RATE) > 8 * w.mcse_mean


# ------------------------------------------------------------------ discrete sites

def mixture(y):
    z = fp.sample("z", fp.Bernoulli(0.3))
    theta = fp.sample("theta", fp.Normal(0.0, 1.0))
    center = 2.0 if z else -1.0
    fp.observe("y", fp.Normal(center + theta, 1.0), y)


@pytest.mark.parametrize("proposals", [None, {"z": Flip(), "theta": GaussianWalk(1.0)}])
def test_a_bernoulli_indicator_against_enumeration(proposals):
    y = 0.7
    # theta integrated out: y | z ~ N(center, sqrt(2)).
    w1, w0 = 0.3 * _normal_pdf(y, 2.0, math.sqrt(2)), 0.7 * _normal_pdf(y, -1.0, math.sqrt(2))
    result = MetropolisHastings("single_site", chains=4, draws=2000, warmup=300, seed=8,
                                proposals=proposals).run(mixture, y)
    assert result["z"].dtype == np.bool_
    s = assert_mean(result, "z", w1 / (w0 + w1))
    assert s.rhat < 1.02          # z changes only where theta lets it: slower mixing
    # E[theta | y] = sum_z P(z | y) (y - center) / 2.
    assert_mean(result, "theta", (w1 * (y - 2.0) + w0 * (y + 1.0)) / (w0 + w1) / 2)


def switching(y):
    # The structure changes with z: "a" exists only when z is true.
    z = fp.sample("z", fp.Bernoulli(0.4))
    if z:
        a = fp.sample("a", fp.Normal(1.0, 1.0))
        fp.observe("y", fp.Normal(a, 1.0), y)
    else:
        fp.observe("y", fp.Normal(0.0, 1.0), y)


@pytest.mark.parametrize("proposals", [None, {"z": Flip(), "a": GaussianWalk(0.8)}])
def test_a_model_whose_sites_change_with_a_discrete_choice(proposals):
    y = 1.8
    w1, w0 = 0.4 * _normal_pdf(y, 1.0, math.sqrt(2)), 0.6 * _normal_pdf(y, 0.0, 1.0)
    result = MetropolisHastings("single_site", chains=4, draws=3000, warmup=300, seed=2,
                                proposals=proposals).run(switching, y)
    assert_mean(result, "z", w1 / (w0 + w1))
    # "a" is absent (NaN) exactly where z is false; given z, a | y ~ N((1 + y) / 2, 1/sqrt 2).
    a, z = result["a"], result["z"]
    assert a.dtype == np.float64 and np.array_equal(np.isnan(a), ~z)
    present = a[z]
    assert present.mean() == pytest.approx((1 + y) / 2, abs=0.06)
    assert present.std() == pytest.approx(math.sqrt(0.5), rel=0.08)
    summary = result.summary()["a"]
    assert summary.count == z.sum() and math.isnan(summary.rhat)
    assert summary.mean == pytest.approx(present.mean())


OBS = [3.1, 5.2, 4.4]


def poisson_count(obs):
    k = fp.sample("k", fp.Poisson(4.0))
    for i, o in enumerate(obs):
        fp.observe(fp.addr("obs", i), fp.Normal(float(k), 1.5), o)


def categorical(y):
    c = fp.sample("c", fp.Categorical([0.2, 0.5, 0.3]))
    fp.observe("y", fp.Normal(2.0 * c, 1.0), y)


def _enumerate(log_weight, support):
    lw = np.array([log_weight(k) for k in support])
    w = np.exp(lw - lw.max())
    return float(np.dot(support, w) / w.sum())


@pytest.mark.parametrize("proposals", [None, {"k": IntegerWalk()}, {"k": IntegerWalk(3)}])
def test_a_poisson_site_against_enumeration(proposals):
    def log_weight(k):
        return fp.Poisson(4.0).log_prob(k) + sum(fp.Normal(float(k), 1.5).log_prob(o)
                                                 for o in OBS)
    expected = _enumerate(log_weight, np.arange(60))
    result = MetropolisHastings("single_site", chains=4, draws=2000, warmup=300, seed=4,
                                proposals=proposals).run(poisson_count, OBS)
    assert result["k"].dtype == np.int64
    assert_mean(result, "k", expected)


@pytest.mark.parametrize("proposals", [None, {"c": IntegerWalk()}])
def test_a_categorical_site_against_enumeration(proposals):
    y = 1.6
    probs = [0.2, 0.5, 0.3]
    expected = _enumerate(lambda c: math.log(probs[c]) + fp.Normal(2.0 * c, 1.0).log_prob(y),
                          np.arange(3))
    result = MetropolisHastings("single_site", chains=4, draws=2000, warmup=300, seed=6,
                                proposals=proposals).run(categorical, y)
    assert_mean(result, "c", expected)
    assert set(np.unique(result["c"])) == {0, 1, 2}


# ------------------------------------------------------------------ simulation-based calibration

def sbc_model(ys):
    mu = fp.sample("mu", fp.Normal(0.0, 1.0))
    sigma = fp.sample("sigma", fp.Gamma(4.0, 4.0))
    for i, y in enumerate(ys):
        fp.observe(fp.addr("y", i), fp.Normal(mu, sigma), y)


def test_simulation_based_calibration():
    # Talts et al. (2018): draw parameters from the prior and data given them; the rank of
    # each true parameter among L posterior draws is uniform on 0..L when the sampler is
    # right. Thinning keeps the posterior draws nearly independent. Chi-square test over
    # 10 bins at level 0.001: a right sampler fails it at about 0.1% of seeds (per site).
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(2018)
    replications, draws = 100, 49
    ranks = {"mu": [], "sigma": []}
    for r in range(replications):
        mu, sigma = rng.normal(), rng.gamma(4.0, 1 / 4.0)
        ys = list(rng.normal(mu, sigma, size=4))
        result = MetropolisHastings(chains=1, draws=draws, warmup=200, thin=4,
                                    seed=r).run(sbc_model, ys)
        ranks["mu"].append(int(np.sum(result["mu"] < mu)))
        ranks["sigma"].append(int(np.sum(result["sigma"] < sigma)))
    for site, values in ranks.items():
        counts = np.bincount(np.asarray(values) // 5, minlength=10)
        assert counts.sum() == replications and counts.size == 10
        p = stats.chisquare(counts).pvalue
        assert p > 0.001, (site, counts, p)


# ------------------------------------------------------------------ runs, seeds, results

def test_the_same_seed_gives_the_same_draws_and_chains_are_independent():
    mh = MetropolisHastings("single_site", chains=3, draws=200, warmup=50, seed=42)
    a, b = mh.run(mixture, 0.7), mh.run(mixture, 0.7)
    for site in ("z", "theta"):
        np.testing.assert_array_equal(a[site], b[site])
    assert not np.array_equal(a["theta"][0], a["theta"][1])
    c = MetropolisHastings("single_site", chains=3, draws=200, warmup=50, seed=43).run(
        mixture, 0.7)
    assert not np.array_equal(a["theta"], c["theta"])
    # A SeedSequence gives the same as its int; fresh entropy and a Generator differ per run.
    d = MetropolisHastings("single_site", chains=3, draws=200, warmup=50,
                           seed=np.random.SeedSequence(42)).run(mixture, 0.7)
    np.testing.assert_array_equal(a["theta"], d["theta"])
    assert a.seed.entropy == 42
    gen = MetropolisHastings(chains=2, draws=50, warmup=10, seed=np.random.default_rng(1))
    assert not np.array_equal(gen.run(normal_normal, YS)["mu"], gen.run(normal_normal, YS)["mu"])
    fresh = MetropolisHastings(chains=2, draws=50, warmup=10)
    r1, r2 = fresh.run(normal_normal, YS), fresh.run(normal_normal, YS)
    assert r1.seed.entropy != r2.seed.entropy
    again = MetropolisHastings(chains=2, draws=50, warmup=10, seed=r1.seed).run(normal_normal, YS)
    np.testing.assert_array_equal(again["mu"], r1["mu"])


def test_warmup_thinning_and_acceptance():
    base = dict(chains=2, warmup=100, seed=3)
    thin1 = MetropolisHastings(draws=400, thin=1, **base).run(normal_normal, YS)
    thin5 = MetropolisHastings(draws=400, thin=5, **base).run(normal_normal, YS)
    assert thin5["mu"].shape == (2, 400) and thin5.thin == 5 and thin5.warmup == 100
    # Thinning lowers the autocorrelation: more effective draws per draw kept.
    assert thin5.summary()["mu"].ess_bulk > 1.5 * thin1.summary()["mu"].ess_bulk
    # The same chain: thinning keeps every 5th state of the same steps, after the same warm-up.
    np.testing.assert_array_equal(thin5["mu"][:, :80], thin1["mu"][:, 4::5])
    assert np.all((thin1.acceptance_rate >= 0) & (thin1.acceptance_rate <= 1))
    # The acceptance rate counts the accepted moves: a rejected move repeats the state.
    moved = np.mean(np.diff(thin1["mu"], axis=1) != 0, axis=1)
    assert np.all(np.abs(moved - thin1.acceptance_rate) < 0.02)


def test_adaptation_tunes_the_step_during_warmup_only():
    mh = MetropolisHastings(chains=2, draws=1000, warmup=1000, seed=1, scale=20.0)
    result = mh.run(normal_normal, YS)
    mean, sd = _normal_posterior(YS)
    # From a step 50 posterior sds wide to about 2.4 sd (acceptance toward 0.44 in one dimension).
    assert np.all(result.scale["mu"] < 5 * sd)
    assert np.all(np.abs(result.acceptance_rate - 0.44) < 0.1)
    fixed = MetropolisHastings(chains=2, draws=300, warmup=100, seed=1, scale=0.7,
                               adapt=False).run(normal_normal, YS)
    np.testing.assert_array_equal(fixed.scale["mu"], [0.7, 0.7])
    target = MetropolisHastings(chains=2, draws=1000, warmup=1000, seed=1, target_accept=0.2
                                ).run(normal_normal, YS)
    assert np.all(np.abs(target.acceptance_rate - 0.2) < 0.08)


def two_scales(y):
    a = fp.sample("a", fp.Normal(0.0, 100.0))
    b = fp.sample("b", fp.Normal(0.0, 0.01))
    fp.observe("y", fp.Normal(a, 10.0), y)
    fp.observe("z", fp.Normal(b, 0.01), 0.0)


def test_the_diagonal_adaptation_follows_each_sites_scale():
    # Posterior sds about 10 and 0.007 (a ratio of 1400): one step for both would barely move
    # "a". The windows' estimates are noisy (each chain's own), but of the right order.
    result = MetropolisHastings(chains=4, draws=2000, warmup=1000, seed=2).run(two_scales, 5.0)
    ratio = result.scale["a"] / result.scale["b"]
    assert np.all((ratio > 50) & (ratio < 20000))
    s = result.summary()
    assert_mixed(s["a"], min_ess=200) and assert_mixed(s["b"], min_ess=200)


def test_a_window_in_which_the_chain_stood_still_leaves_the_steps_alone():
    # The first window of this run accepts no move: the spread of sites that did not move
    # (0, or 1e-16 from rounding) must not become their step, or they never move again.
    ys = [-0.105101639958401, -0.4300150856385857, -0.3899394899164009, -0.6071929374886461]
    result = MetropolisHastings(chains=1, draws=200, warmup=300, seed=1).run(sbc_model, ys)
    assert result.scale["sigma"][0] > 0.05 and result.scale["mu"][0] > 0.05
    assert 0.1 < result.acceptance_rate[0] < 0.5
    assert np.unique(result["sigma"]).size > 20


def test_keyword_arguments_reach_the_model():
    result = MetropolisHastings(chains=2, draws=200, warmup=100, seed=1).run(
        beta_binomial, flips=FLIPS, successes=3, trials=10)
    assert result.sites == ("p",)


def test_the_summary():
    result = MetropolisHastings("single_site", chains=2, draws=300, warmup=50, seed=1).run(
        mixture, 0.7)
    summary = result.summary(quantiles=(0.1, 0.9))
    assert list(summary) == ["z", "theta"] and isinstance(summary["z"], SiteSummary)
    z = result["z"].astype(float)
    assert summary["z"].mean == pytest.approx(z.mean())
    assert summary["z"].sd == pytest.approx(z.std(ddof=1))
    assert summary["theta"].quantiles == pytest.approx(
        dict(zip((0.1, 0.9), np.quantile(result["theta"], (0.1, 0.9)))))
    assert summary["theta"].count == 600
    as_dict = summary["theta"].to_dict()
    assert set(as_dict) == {"mean", "sd", "quantiles", "rhat", "ess_bulk", "ess_tail",
                            "mcse_mean", "count"} and set(as_dict["quantiles"]) == {"0.1", "0.9"}
    assert list(result.summary(sites=["theta"])) == ["theta"]
    assert "theta" in result and "nope" not in result
    assert repr(result) == ("MCMCResult(kernel='single_site', chains=2, draws=300, "
                            "sites=['z', 'theta'])")
    with pytest.raises(TraceAddressNotFound, match="MCMCResult: no site 'nope' was sampled"):
        result.summary(sites=["nope"])
    with pytest.raises(InvalidArgument, match=r"quantiles must be in \[0, 1\], got 1.5"):
        result.summary(quantiles=(0.5, 1.5))
    with pytest.raises(TypeError, match="quantiles must be a sequence of probabilities"):
        result.summary(quantiles=0.5)


def test_one_chain_summary_has_no_rhat_and_few_draws_no_ess():
    one = MetropolisHastings(chains=1, draws=100, warmup=50, seed=1).run(normal_normal, YS)
    s = one.summary()["mu"]
    assert math.isnan(s.rhat) and s.ess_bulk > 0
    few = MetropolisHastings(chains=2, draws=3, warmup=50, seed=1).run(normal_normal, YS)
    s = few.summary()["mu"]
    assert math.isnan(s.ess_bulk) and math.isnan(s.rhat) and math.isfinite(s.mean)


def test_the_sampler_is_usable_as_an_inference_object():
    mh = MetropolisHastings("single_site", chains=2, draws=10, warmup=5, thin=2, seed=1,
                            proposals={"z": Flip()})
    assert (mh.kernel, mh.chains, mh.draws, mh.warmup, mh.thin) == ("single_site", 2, 10, 5, 2)
    assert mh.proposals == {"z": Flip()}
    assert repr(mh) == ("MetropolisHastings(kernel='single_site', chains=2, draws=10, warmup=5, "
                        "thin=2, proposals={'z': Flip()})")
    assert isinstance(mh.run(mixture, 0.1), MCMCResult)
    assert GaussianWalk(0.5) == GaussianWalk(0.5) != GaussianWalk(0.6)
    assert repr(LogNormalWalk(0.3)) == "LogNormalWalk(scale=0.3)"
    assert repr(IntegerWalk(2)) == "IntegerWalk(step=2)" and repr(Prior()) == "Prior()"


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kwargs, words", [
    ({"chains": 0}, "MetropolisHastings: chains must be in [1, 1024], got 0"),
    ({"chains": -2}, "MetropolisHastings: chains must be in [1, 1024], got -2"),
    ({"draws": 0}, "MetropolisHastings: draws must be in [1, 1000000000], got 0"),
    ({"draws": -5}, "MetropolisHastings: draws must be in [1, 1000000000], got -5"),
    ({"warmup": -1}, "MetropolisHastings: warmup must be in [0, 1000000000], got -1"),
    ({"thin": 0}, "MetropolisHastings: thin must be in [1, 1000000000], got 0"),
    ({"draws": 10**8, "thin": 100}, "draws times thin (100) plus warmup (1000) must be at most"),
    ({"kernel": "gibbs"},
     "MetropolisHastings: kernel must be one of 'random_walk', 'single_site', got 'gibbs'"),
    ({"scale": float("nan")}, "MetropolisHastings: scale must be finite and > 0, got nan"),
    ({"scale": -1.0}, "MetropolisHastings: scale must be finite and > 0, got -1.0"),
    ({"scale": float("inf")}, "MetropolisHastings: scale must be finite and > 0, got inf"),
    ({"target_accept": 1.0}, "MetropolisHastings: target_accept must be in (0, 1), got 1.0"),
    ({"seed": -1}, "MetropolisHastings: seed must be >= 0, got -1"),
    ({"init_tries": 0}, "MetropolisHastings: init_tries must be in [1, 1000000], got 0"),
    ({"kernel": "single_site", "scale": 0.5},
     "MetropolisHastings: scale applies to kernel='random_walk' only"),
    ({"kernel": "single_site", "adapt": False},
     "MetropolisHastings: adapt applies to kernel='random_walk' only"),
    ({"proposals": {"mu": GaussianWalk(1.0)}},
     "MetropolisHastings: proposals apply to kernel='single_site' only"),
])
def test_bad_settings_are_refused_naming_the_parameter(kwargs, words):
    with pytest.raises(InvalidArgument) as info:
        MetropolisHastings(**kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize("kwargs, words", [
    ({"chains": 2.5}, "MetropolisHastings: chains must be an integer"),
    ({"draws": "100"}, "MetropolisHastings: draws must be an integer, got str"),
    ({"seed": "abc"}, "MetropolisHastings: seed must be None, an int, a SeedSequence or a "
                      "Generator, got str"),
    ({"seed": True}, "MetropolisHastings: seed must be None, an int"),
    ({"adapt": "yes"}, "MetropolisHastings: adapt must be a bool, got str"),
    ({"scale": "big"}, "MetropolisHastings: scale must be a real number, got str"),
    ({"kernel": "single_site", "proposals": [GaussianWalk(1.0)]},
     "MetropolisHastings: proposals must be a mapping of addresses to proposals, got list"),
    ({"kernel": "single_site", "proposals": {"mu": 0.5}},
     "MetropolisHastings: proposals['mu'] must be a Proposal, got float"),
    ({"kernel": "single_site", "proposals": {1: Flip()}},
     "MetropolisHastings: proposals must be keyed by address strings, got int"),
])
def test_settings_of_the_wrong_type(kwargs, words):
    with pytest.raises((TypeError, InvalidArgument)) as info:
        MetropolisHastings(**kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize("make, words", [
    (lambda: GaussianWalk(float("nan")), "GaussianWalk: scale must be finite and > 0, got nan"),
    (lambda: LogNormalWalk(0.0), "LogNormalWalk: scale must be finite and > 0, got 0.0"),
    (lambda: IntegerWalk(0), "IntegerWalk: step must be in [1, 4611686018427387904], got 0"),
])
def test_bad_proposals(make, words):
    with pytest.raises(InvalidArgument) as info:
        make()
    assert words in str(info.value)


def only_discrete():
    k = fp.sample("k", fp.Poisson(3.0))
    fp.observe("y", fp.Normal(float(k), 1.0), 2.0)


def no_sites():
    fp.observe("y", fp.Normal(0.0, 1.0), 2.0)


def impossible():
    x = fp.sample("x", fp.Normal(0.0, 1.0))
    fp.observe("y", fp.Uniform(x + 10.0, x + 11.0), 0.0)


def grows_with_x():
    x = fp.sample("x", fp.Normal(0.0, 1.0))
    if x > 0.5:
        fp.sample("extra", fp.Normal(0.0, 1.0))
    fp.observe("y", fp.Normal(x, 0.1), 3.0)


def changes_kind():
    z = fp.sample("z", fp.Bernoulli(0.5))
    if z:
        fp.sample("x", fp.Normal(0.0, 1.0))
    else:
        fp.sample("x", fp.Poisson(2.0))


def test_random_walk_needs_continuous_sites():
    mh = MetropolisHastings(chains=2, draws=10, warmup=0, seed=1)
    with pytest.raises(InvalidArgument) as info:
        mh.run(only_discrete)
    assert info.value.parameter == "model"
    assert ("model must sample continuous sites only for kernel='random_walk', but site 'k' "
            "holds int values; use kernel='single_site'") in str(info.value)
    with pytest.raises(InvalidArgument, match="model must sample at least one site"):
        mh.run(no_sites)
    # The single-site kernel samples the discrete site.
    result = MetropolisHastings("single_site", chains=2, draws=10, warmup=0, seed=1).run(
        only_discrete)
    assert result["k"].shape == (2, 10)


def test_a_model_no_prior_draw_can_explain_is_refused():
    with pytest.raises(InvalidArgument, match=r"model must give a finite log density to a prior "
                                              r"draw; none of 20 did"):
        MetropolisHastings(chains=1, draws=10, init_tries=20, seed=1).run(impossible)


def test_a_model_that_is_not_callable():
    with pytest.raises(TypeError, match=r"MetropolisHastings.run: model must be a callable, "
                                        r"got int"):
        MetropolisHastings().run(3)


def test_random_walk_refuses_a_structure_change():
    with pytest.raises(UnexpectedModelStructure) as info:
        MetropolisHastings(chains=1, draws=500, warmup=0, seed=1).run(grows_with_x)
    assert info.value.address == "extra"
    assert "kernel 'random_walk' needs the same sites in every run" in str(info.value)
    assert "use kernel='single_site'" in str(info.value)
    # The single-site kernel handles it: "extra" is a fresh prior draw when x > 0.5.
    result = MetropolisHastings("single_site", chains=2, draws=400, warmup=100, seed=1,
                                proposals={"x": GaussianWalk(0.2)}).run(grows_with_x)
    assert np.array_equal(~np.isnan(result["extra"]), result["x"] > 0.5)


def test_an_address_that_changes_kind_is_refused():
    with pytest.raises(TypeMismatch) as info:
        MetropolisHastings("single_site", chains=1, draws=200, warmup=0, seed=1,
                           proposals={"z": Flip()}).run(changes_kind)
    assert info.value.address == "x"
    assert "an address must keep its kind of value" in str(info.value)


def test_a_proposal_of_the_wrong_kind_is_refused():
    mh = MetropolisHastings("single_site", chains=1, draws=10, seed=1,
                            proposals={"z": GaussianWalk(1.0)})
    with pytest.raises(InvalidArgument) as info:
        mh.run(mixture, 0.7)
    assert info.value.parameter == "proposals['z']"
    assert "moves float values, but site 'z' holds bool values" in str(info.value)


def negative_site():
    fp.sample("x", fp.Normal(-5.0, 0.1))


def test_a_log_normal_walk_on_a_negative_value_is_refused():
    mh = MetropolisHastings("single_site", chains=1, draws=10, seed=1,
                            proposals={"x": LogNormalWalk(0.1)})
    with pytest.raises(InvalidArgument) as info:
        mh.run(negative_site)
    assert ("proposals['x'] cannot move site 'x' (value must be > 0 (a log-normal walk moves "
            "positive sites)") in str(info.value)


class BadProposal(Proposal):
    kind = "float"

    def __init__(self, new, log_q):
        self.new, self.log_q = new, log_q

    def propose(self, value, rng):
        return self.new, self.log_q


@pytest.mark.parametrize("proposal, exc, words", [
    (BadProposal(3, 0.0), TypeError, "must be a float like the site's, got int"),
    (BadProposal(float("nan"), 0.0), InvalidArgument, "proposed a non-finite value nan"),
    (BadProposal(1.0, float("nan")), InvalidArgument, "returned a Hastings term of nan"),
    (BadProposal(1.0, "x"), TypeError, "must be a real number, got str"),
])
def test_a_custom_proposal_that_misbehaves(proposal, exc, words):
    mh = MetropolisHastings("single_site", chains=1, draws=10, seed=1,
                            proposals={"theta": proposal})
    with pytest.raises(exc) as info:
        mh.run(normal_normal_theta)
    assert words in str(info.value)


def normal_normal_theta():
    theta = fp.sample("theta", fp.Normal(0.0, 1.0))
    fp.observe("y", fp.Normal(theta, 1.0), 0.5)


def test_proposals_for_sites_never_sampled_warn():
    mh = MetropolisHastings("single_site", chains=1, draws=20, warmup=0, seed=1,
                            proposals={"thetaa": GaussianWalk(1.0)})
    with pytest.warns(FugueWarning, match=r"proposals name sites the model never sampled in a "
                                          r"kept draw: 'thetaa'"):
        mh.run(normal_normal_theta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MetropolisHastings("single_site", chains=1, draws=20, warmup=0, seed=1,
                           proposals={"theta": GaussianWalk(1.0)}).run(normal_normal_theta)


def test_the_sampler_and_its_result_pickle():
    mh = MetropolisHastings("single_site", chains=2, draws=50, warmup=10, seed=3,
                            proposals={"z": Flip(), "theta": GaussianWalk(0.5)})
    clone = pickle.loads(pickle.dumps(mh))
    assert repr(clone) == repr(mh) and clone.proposals == mh.proposals
    result = mh.run(mixture, 0.7)
    again = pickle.loads(pickle.dumps(result))
    np.testing.assert_array_equal(again["theta"], result["theta"])
    np.testing.assert_array_equal(clone.run(mixture, 0.7)["theta"], result["theta"])
    assert again.summary()["theta"] == result.summary()["theta"]
