"""Importance sampling (ImportanceSampling), with the prior or a guide as
proposal: conjugate posteriors and marginal likelihoods against their closed
forms, reproducibility, the PSIS k̂, simulation-based calibration, degenerate
weights and bad input.

Statistical checks have fixed seeds. A posterior mean is compared with the
closed form within Z = 5 Monte Carlo standard errors, ``sd / sqrt(ESS)``; a
variance within Z times its standard error ``var * sqrt(2 / ESS)`` (normal
posteriors); a log evidence within Z times ``sqrt(1 / ESS - 1 / n)``, the
delta-method standard error of the log of a mean of weights (the relative
variance of the weights is about ``n / ESS - 1``). A correct sampler fails one
such check with probability below 1e-6 (two-sided normal tail), ignoring the
error of the ESS itself.
"""

import doctest
import json
import math

import numpy as np
import pytest

import fugue_ppl as fp
from fugue_ppl.errors import (
    BranchOnSample,
    DegenerateWeights,
    InvalidArgument,
    TypeMismatch,
    UnexpectedModelStructure,
)
from fugue_ppl.inference import (
    ImportanceResult,
    ImportanceSampling,
    ImportanceSiteSummary,
    importance_ess,
    khat_threshold,
    psis,
)
from fugue_ppl.inference import importance as importance_module

stats = pytest.importorskip("scipy.stats")
special = pytest.importorskip("scipy.special")

Z = 5.0
N = 200_000


def assert_mean(result, site, exact):
    s = result[site]
    se = s.sd / math.sqrt(result.ess)
    assert abs(s.mean - exact) < Z * se, (site, s.mean, exact, se)


def assert_log_evidence(result, exact):
    se = math.sqrt(1.0 / result.ess - 1.0 / result.n)
    assert abs(result.log_evidence - exact) < Z * se, (result.log_evidence, exact, se)


# ------------------------------------------------------------------ conjugate models

M0, S0, SIGMA = 0.5, 2.0, 1.0
YS = [1.2, 0.8, 2.1, 1.5, 0.3]


def normal_normal(ys):
    mu = fp.sample("mu", fp.Normal(M0, S0))
    for i, y in enumerate(ys):
        fp.observe(fp.addr("y", i), fp.Normal(mu, SIGMA), y)


def test_normal_normal_posterior_and_marginal_likelihood():
    result = ImportanceSampling(n=N).run(normal_normal, YS, rng=11)
    precision = 1 / S0**2 + len(YS) / SIGMA**2
    mean, var = (M0 / S0**2 + sum(YS) / SIGMA**2) / precision, 1 / precision
    assert result.ess > 0.05 * N          # a well-posed run: the tolerances are meaningful
    assert_mean(result, "mu", mean)
    assert abs(result["mu"].sd ** 2 - var) < Z * var * math.sqrt(2 / result.ess)
    # The marginal of the observations: N(M0 * 1, SIGMA^2 I + S0^2 1 1^T).
    k = len(YS)
    cov = SIGMA**2 * np.eye(k) + S0**2 * np.ones((k, k))
    exact = stats.multivariate_normal(np.full(k, M0), cov).logpdf(YS)
    assert_log_evidence(result, exact)
    assert result.log_marginal_likelihood == result.log_evidence
    # The quantiles of the normal posterior, within Z of a sample quantile's standard
    # error sqrt(q (1 - q)) / (density * sqrt(ESS)).
    post = stats.norm(mean, math.sqrt(var))
    for q, value in result["mu"].quantiles.items():
        se = math.sqrt(q * (1 - q)) / (post.pdf(post.ppf(q)) * math.sqrt(result.ess))
        assert abs(value - post.ppf(q)) < Z * se, (q, value, post.ppf(q), se)
    assert result.reliable and result.khat < result.khat_threshold


def beta_binomial(trials, successes):
    p = fp.sample("p", fp.Beta(2.0, 3.0))
    fp.observe("k", fp.Binomial(trials, p), successes)


def test_beta_binomial_posterior_mean_and_marginal_likelihood():
    a, b, trials, k = 2.0, 3.0, 20, 14
    result = ImportanceSampling(n=N).run(beta_binomial, trials, k, rng=12)
    assert_mean(result, "p", (a + k) / (a + b + trials))
    exact = (math.log(special.comb(trials, k, exact=True)) + special.betaln(a + k, b + trials - k)
             - special.betaln(a, b))
    assert_log_evidence(result, exact)
    assert result.reliable


def gamma_poisson(counts):
    rate = fp.sample("rate", fp.Gamma(3.0, 0.5))
    for i, c in enumerate(counts):
        fp.observe(fp.addr("c", i), fp.Poisson(rate), c)


def test_gamma_poisson_posterior_mean_and_marginal_likelihood():
    alpha, beta, counts = 3.0, 0.5, [4, 7, 5, 6, 3, 8]
    result = ImportanceSampling(n=N, sites=["rate"]).run(gamma_poisson, counts, rng=13)
    total, m = sum(counts), len(counts)
    assert_mean(result, "rate", (alpha + total) / (beta + m))
    post_var = (alpha + total) / (beta + m) ** 2
    assert abs(result["rate"].sd ** 2 - post_var) < Z * post_var * math.sqrt(2 / result.ess)
    exact = (alpha * math.log(beta) - special.gammaln(alpha) + special.gammaln(alpha + total)
             - (alpha + total) * math.log(beta + m) - sum(special.gammaln(c + 1) for c in counts))
    assert_log_evidence(result, exact)


def test_discrete_and_boolean_sites_are_summarised_as_numbers():
    def model(y):
        on = fp.sample("on", fp.Bernoulli(0.5))
        k = fp.sample("k", fp.Poisson(2.0))
        fp.observe("y", fp.Normal(np.where(on, 3.0, 0.0) + k, 1.0), y)

    result = ImportanceSampling(n=50_000).run(model, 4.0, rng=3)
    # P(on | y) by enumeration over k (truncated far beyond the Poisson's mass).
    ks = np.arange(60)
    prior_k = stats.poisson(2.0).pmf(ks)
    like_on = np.sum(prior_k * stats.norm(3.0 + ks, 1.0).pdf(4.0))
    like_off = np.sum(prior_k * stats.norm(ks, 1.0).pdf(4.0))
    assert_mean(result, "on", like_on / (like_on + like_off))
    s = result["k"]
    assert all(type(v) is float and v.is_integer() for v in s.quantiles.values())
    assert result.summary()["sites"]["on"]["quantiles"]["0.5"] in (0.0, 1.0)
    assert_log_evidence(result, math.log(0.5 * like_on + 0.5 * like_off))


# ------------------------------------------------------------------ the result

def test_the_result_holds_the_particles_and_their_figures():
    result = ImportanceSampling(n=4000).run(normal_normal, YS, rng=5)
    p = result.particles
    assert isinstance(result, ImportanceResult) and isinstance(p, fp.Particles)
    assert result.n == p.n == 4000 and p.sites == ("mu",)
    assert result.ess == pytest.approx(importance_ess(p.log_weights), rel=1e-12)
    assert result.log_evidence == p.log_evidence
    assert result.khat == psis(p.log_weights).khat
    assert result.khat_threshold == khat_threshold(4000)
    assert not result.equal_weights
    assert result.reliable == (result.khat < khat_threshold(4000))
    s = result["mu"]
    assert isinstance(s, ImportanceSiteSummary)
    assert (s.mean, s.sd) == (p.mean("mu"), p.std("mu"))
    assert list(s.quantiles) == [0.05, 0.5, 0.95]
    assert [s.quantiles[q] for q in (0.05, 0.5, 0.95)] == list(p.quantile("mu", [0.05, 0.5,
                                                                                   0.95]))
    assert s.mcse_mean == pytest.approx(s.sd / math.sqrt(result.ess))
    assert result.resampled is None and result.seed.entropy == 5


def test_khat_flags_a_prior_that_is_a_poor_proposal():
    # A sharp likelihood far in the prior's tail: a few particles carry all the weight.
    def model(y):
        mu = fp.sample("mu", fp.Normal(0.0, 1.0))
        fp.observe("y", fp.Normal(mu, 0.05), y)

    result = ImportanceSampling(n=2000).run(model, 3.5, rng=8)
    with np.errstate(over="ignore"):          # the heavy tail's fitted quantiles overflow
        assert result.khat == psis(result.particles.log_weights).khat
    assert result.khat > khat_threshold(2000) and not result.reliable
    assert "UNRELIABLE" in repr(result) and result.summary()["reliable"] is False


def test_summary_is_plain_json_and_repr_is_readable():
    result = ImportanceSampling(n=2000, resample="stratified").run(gamma_poisson, [2, 3], rng=4)
    summary = result.summary()
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary
    assert set(summary) == {"n", "ess", "log_evidence", "khat", "khat_threshold",
                            "equal_weights", "reliable", "resample", "sites"}
    assert summary["n"] == 2000 and summary["resample"] == "stratified"
    site = summary["sites"]["rate"]
    assert set(site) == {"mean", "sd", "quantiles", "mcse_mean"}
    assert set(site["quantiles"]) == {"0.05", "0.5", "0.95"}
    assert all(type(v) is float for v in (site["mean"], site["sd"], *site["quantiles"].values()))
    text = repr(result)
    assert text.startswith("ImportanceResult(n=2000, ess=") and "rate" in text and "95%" in text
    assert f"{result['rate'].mean:.5g}" in text
    assert repr(ImportanceSampling(n=7, sites=["a"])) == (
        "ImportanceSampling(n=7, sites=('a',), resample=None, on_branch='raise')")


def test_a_single_particle_gives_undefined_figures_as_null_not_nan():
    result = ImportanceSampling(n=1).run(normal_normal, YS, rng=1)
    assert result.ess == 1.0 and math.isinf(result.khat) and not result.reliable
    assert "UNRELIABLE" in repr(result)
    summary = result.summary()
    assert summary["khat"] is None and summary["khat_threshold"] is None
    json.dumps(summary, allow_nan=False)


def test_sites_restrict_the_summary():
    def model():
        a = fp.sample("a", fp.Normal(0.0, 1.0))
        fp.sample("b", fp.Normal(a, 1.0))

    result = ImportanceSampling(n=100, sites=("b",)).run(model, rng=2)
    assert list(result.sites) == ["b"] and "a" not in result and "b" in result
    assert result.particles.sites == ("a", "b")
    with pytest.raises(KeyError, match="no summary of site 'a'"):
        result["a"]


def test_resampling_gives_an_equally_weighted_set_of_the_same_posterior():
    result = ImportanceSampling(n=N, resample="systematic").run(normal_normal, YS, rng=21)
    r = result.resampled
    assert r.n == N and np.all(r.log_weights == r.log_weights[0])
    assert r.ess == pytest.approx(N)
    assert r.log_evidence == pytest.approx(result.log_evidence)
    # Resampling adds little error: the resampled mean is within the weighted set's MCSE.
    assert abs(r.mean("mu") - result["mu"].mean) < Z * result["mu"].mcse_mean


def test_a_branching_model_runs_per_particle_on_request():
    def model(y):
        on = fp.sample("on", fp.Bernoulli(0.5))
        mu = fp.sample("mu", fp.Normal(3.0 if on else 0.0, 1.0))
        fp.observe("y", fp.Normal(mu, 1.0), y)

    with pytest.raises(BranchOnSample):
        ImportanceSampling(n=10).run(model, 2.0, rng=1)
    result = ImportanceSampling(n=2000, on_branch="per_particle").run(model, 2.0, rng=1)
    assert result.particles.per_particle
    like_on, like_off = stats.norm(3.0, math.sqrt(2)).pdf(2.0), stats.norm(0, math.sqrt(2)).pdf(2)
    assert_mean(result, "on", like_on / (like_on + like_off))


# ------------------------------------------------------------------ seeds

def test_a_seeded_run_is_reproducible():
    sampler = ImportanceSampling(n=1000, resample="multinomial")
    a, b = sampler.run(normal_normal, YS, rng=7), sampler.run(normal_normal, YS, rng=7)
    np.testing.assert_array_equal(a.particles["mu"], b.particles["mu"])
    np.testing.assert_array_equal(a.particles.log_weights, b.particles.log_weights)
    np.testing.assert_array_equal(a.resampled["mu"], b.resampled["mu"])
    assert a.summary() == b.summary()
    c = sampler.run(normal_normal, YS, rng=8)
    assert not np.array_equal(a.particles["mu"], c.particles["mu"])
    # A SeedSequence, and a Generator in the same state, give the same result too.
    ss = np.random.SeedSequence(99)
    assert sampler.run(normal_normal, YS, rng=ss).summary() == \
        sampler.run(normal_normal, YS, rng=np.random.SeedSequence(99)).summary()
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    assert sampler.run(normal_normal, YS, rng=g1).summary() == \
        sampler.run(normal_normal, YS, rng=g2).summary()
    # The recorded seed reproduces a run with fresh entropy.
    fresh = sampler.run(normal_normal, YS)
    again = sampler.run(normal_normal, YS, rng=fresh.seed)
    np.testing.assert_array_equal(fresh.particles["mu"], again.particles["mu"])


def test_the_particles_are_the_documented_stream():
    # Key 0 of a PriorHandler seeded with the run's SeedSequence: numpy's draws from
    # the SeedSequence with 0 appended to its spawn key.
    result = ImportanceSampling(n=500).run(normal_normal, YS, rng=31)
    expected = np.random.default_rng(np.random.SeedSequence(31, spawn_key=(0,))).normal(
        M0, S0, 500)
    np.testing.assert_array_equal(result.particles["mu"], expected)


# ------------------------------------------------------------------ simulation-based calibration

def sbc_model(ys):
    mu = fp.sample("mu", fp.Normal(0.0, 1.0))
    for i, y in enumerate(ys):
        fp.observe(fp.addr("y", i), fp.Normal(mu, 1.0), y)


def test_simulation_based_calibration():
    # Talts et al. (2018): draw the parameter from the prior and data given it; the rank of
    # the true value among posterior draws is uniform when the posterior is right. The
    # draws are the resampled set (equally weighted); its rank, a share of n, is binned in
    # 10. Chi-square test at level 0.001: a right sampler fails it at about 0.1% of seeds.
    rng = np.random.default_rng(2018)
    replications, n = 200, 20_000
    sampler = ImportanceSampling(n=n, resample="systematic")
    ranks, ess = [], []
    for r in range(replications):
        mu = rng.normal()
        ys = list(rng.normal(mu, 1.0, size=3))
        result = sampler.run(sbc_model, ys, rng=r)
        ess.append(result.ess)
        ranks.append(int(np.sum(result.resampled["mu"] < mu)))
    counts = np.bincount(np.asarray(ranks) * 10 // (n + 1), minlength=10)
    assert counts.sum() == replications and counts.size == 10
    p = stats.chisquare(counts).pvalue
    assert p > 0.001, (counts, p)
    assert np.median(ess) > 0.1 * n       # the posterior is mostly well covered by the prior


# ------------------------------------------------------------------ degenerate weights

def test_a_nan_observation_is_a_clear_error_naming_the_site():
    from fugue_ppl.errors import InvalidObservation

    def model(y):
        mu = fp.sample("mu", fp.Normal(0.0, 1.0))
        fp.observe("y", fp.Normal(mu, 1.0), y)

    for bad in (float("nan"), float("inf")):
        with pytest.raises(InvalidObservation, match=r"observe\('y'\): the observed value is "
                                                     "NaN, infinite"):
            ImportanceSampling(n=100).run(model, bad, rng=1)
    assert ImportanceSampling(n=100).run(model, 1.0, rng=1).ess > 1    # (nothing left over)


def test_every_weight_zero_is_a_clear_error_not_nan():
    def impossible(y):
        u = fp.sample("u", fp.Uniform(0.0, 1.0))
        fp.observe("y", fp.Uniform(0.0, 1.0 + 0.0 * u), y)

    with pytest.raises(DegenerateWeights, match="every one of the 100 particles has weight "
                                                "zero"):
        ImportanceSampling(n=100).run(impossible, 2.0, rng=1)

    def ruled_out():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.factor(np.where(x > 100.0, 0.0, -np.inf))

    with pytest.raises(DegenerateWeights, match="rule out every prior draw"):
        ImportanceSampling(n=100, resample="systematic").run(ruled_out, rng=1)


def test_some_zero_weights_are_fine():
    def truncated():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.factor(np.where(x > 0.0, 0.0, -np.inf))

    result = ImportanceSampling(n=N).run(truncated, rng=9)
    assert_mean(result, "x", math.sqrt(2 / math.pi))          # the half-normal's mean
    assert_log_evidence(result, math.log(0.5))
    # Equal nonzero weights (a rejection sampler): exact draws, no tail for PSIS to fit.
    assert result.khat == psis(result.particles.log_weights).khat == math.inf
    assert result.equal_weights and result.reliable
    assert "reliable: equal weights" in repr(result)


def test_a_model_without_observations_is_its_prior_and_reliable():
    def prior_only():
        fp.sample("x", fp.Gamma(2.0, 4.0))

    result = ImportanceSampling(n=N).run(prior_only, rng=10)
    assert result.ess == pytest.approx(N) and result.log_evidence == 0.0
    assert result.equal_weights and result.reliable
    assert_mean(result, "x", 0.5)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("n", [0, -1])
def test_n_below_one_is_refused(n):
    with pytest.raises(InvalidArgument, match=r"ImportanceSampling: n must be >= 1") as e:
        ImportanceSampling(n=n)
    assert e.value.parameter == "n"


@pytest.mark.parametrize("n", [1000.0, 3.5, True, np.bool_(True), "100", None])
def test_n_must_be_an_integer(n):
    with pytest.raises(TypeError, match=r"ImportanceSampling: n must be an integer"):
        ImportanceSampling(n=n)


def test_n_above_the_particle_limit_is_refused_before_allocating():
    with pytest.raises(InvalidArgument, match=r"n must be <= \d+ \(the particle limit"):
        ImportanceSampling(n=10**30)
    with pytest.raises(InvalidArgument, match=r"n must be <= \d+"):
        ImportanceSampling(n=fp.max_particles() + 1)
    assert ImportanceSampling(n=np.int64(5)).n == 5
    sampler = ImportanceSampling(n=50)
    old = fp.set_max_particles(10)
    try:
        with pytest.raises(InvalidArgument, match=r"ImportanceSampling.run: n must be <= 10"):
            sampler.run(normal_normal, YS, rng=1)
    finally:
        fp.set_max_particles(old)


@pytest.mark.parametrize(("sites", "error", "message"), [
    ("mu", TypeError, "sites must be None or a sequence of site names"),
    (5, TypeError, "sites must be None or a sequence of site names"),
    ([1], TypeError, r"sites must be a sequence of site names \(str\)"),
    ([], InvalidArgument, "sites must name at least one site"),
    (["mu", "mu"], InvalidArgument, "sites must not name site 'mu' twice"),
])
def test_sites_are_checked(sites, error, message):
    with pytest.raises(error, match=message):
        ImportanceSampling(sites=sites)


def test_an_unknown_site_is_named():
    with pytest.raises(InvalidArgument, match=r"ImportanceSampling.run: sites must name sites "
                                              r"the model samples \(\['mu'\]\); did you mean "
                                              r"'mu'\?, got 'muu'") as e:
        ImportanceSampling(n=10, sites=["muu"]).run(normal_normal, YS, rng=1)
    assert e.value.parameter == "sites"


def test_a_model_that_raises_keeps_its_error_with_a_note_naming_the_model():
    def broken(y):
        fp.sample("mu", fp.Normal(0.0, 1.0))
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError, match="boom") as e:
        ImportanceSampling(n=10).run(broken, 1.0, rng=1)
    assert any("ImportanceSampling.run: raised while running the model (parameter model, "
               in note and "broken" in note for note in e.value.__notes__)

    def bad_parameter():
        fp.sample("s", fp.Normal(0.0, -1.0))

    with pytest.raises(InvalidArgument, match="sigma"):
        ImportanceSampling(n=10).run(bad_parameter, rng=1)


def test_model_rng_resample_and_on_branch_are_checked():
    with pytest.raises(TypeError, match="ImportanceSampling.run: model must be a callable"):
        ImportanceSampling(n=10).run("model")
    for rng in ("seed", True, 1.5):
        with pytest.raises(TypeError, match="ImportanceSampling.run: rng must be None, an int"):
            ImportanceSampling(n=10).run(normal_normal, YS, rng=rng)
    with pytest.raises(InvalidArgument, match="rng must be >= 0"):
        ImportanceSampling(n=10).run(normal_normal, YS, rng=-1)
    with pytest.raises(InvalidArgument, match="resample must be one of None, 'systematic'"):
        ImportanceSampling(resample="residual")
    with pytest.raises(InvalidArgument, match="on_branch must be one of 'raise'"):
        ImportanceSampling(on_branch="ignore")


# ------------------------------------------------------------------ guides

NG = 20_000


def _normal_posterior(ys):
    precision = 1 / S0**2 + len(ys) / SIGMA**2
    return (M0 / S0**2 + sum(ys) / SIGMA**2) / precision, math.sqrt(1 / precision)


def _normal_evidence(ys):
    k = len(ys)
    cov = SIGMA**2 * np.eye(k) + S0**2 * np.ones((k, k))
    return stats.multivariate_normal(np.full(k, M0), cov).logpdf(ys)


def _normal_guide(mean, sd):
    def guide(ys):
        fp.sample("mu", fp.Normal(mean, sd))
    return guide


def test_a_guide_near_the_posterior_normal_normal():
    mean, sd = _normal_posterior(YS)
    guided = ImportanceSampling(n=NG, guide=_normal_guide(mean + 0.1, 1.3 * sd)).run(
        normal_normal, YS, rng=21)
    prior = ImportanceSampling(n=NG).run(normal_normal, YS, rng=21)
    assert_mean(guided, "mu", mean)
    assert abs(guided["mu"].sd ** 2 - sd**2) < Z * sd**2 * math.sqrt(2 / guided.ess)
    assert_log_evidence(guided, _normal_evidence(YS))
    assert guided.ess > 0.8 * NG and guided.ess > 2 * prior.ess, (guided.ess, prior.ess)
    assert guided.reliable and not guided.equal_weights
    # the weights are log p(x, y) - log q(x), the proposal's density scipy's
    p, q = guided.particles, guided.proposal
    np.testing.assert_array_equal(p["mu"], q["mu"])
    np.testing.assert_allclose(q.log_prior, stats.norm(mean + 0.1, 1.3 * sd).logpdf(q["mu"]),
                               rtol=1e-12)
    np.testing.assert_allclose(p.log_prior, stats.norm(M0, S0).logpdf(p["mu"]), rtol=1e-12)
    loglik = sum(stats.norm(p["mu"], SIGMA).logpdf(y) for y in YS)
    np.testing.assert_allclose(p.log_likelihood, loglik, rtol=1e-12)
    np.testing.assert_allclose(p.log_weights, p.log_prior + loglik - q.log_prior, rtol=1e-12)


def test_a_beta_guide_for_the_beta_binomial():
    a, b, trials, k = 2.0, 3.0, 20, 14

    def guide(trials, successes):
        fp.sample("p", fp.Beta(a + successes + 1.0, b + trials - successes))

    result = ImportanceSampling(n=NG, guide=guide).run(beta_binomial, trials, k, rng=22)
    assert_mean(result, "p", (a + k) / (a + b + trials))
    post_var = stats.beta(a + k, b + trials - k).var()
    assert abs(result["p"].sd ** 2 - post_var) < Z * post_var * math.sqrt(2 / result.ess)
    exact = (math.log(special.comb(trials, k, exact=True)) + special.betaln(a + k, b + trials - k)
             - special.betaln(a, b))
    assert_log_evidence(result, exact)
    assert result.ess > 0.8 * NG and result.reliable


def test_the_exact_posterior_as_guide_gives_constant_weights():
    mean, sd = _normal_posterior(YS)
    result = ImportanceSampling(n=5000, guide=_normal_guide(mean, sd)).run(normal_normal, YS,
                                                                           rng=23)
    lw = result.particles.log_weights
    assert np.ptp(lw) < 1e-12
    assert result.ess == pytest.approx(5000, rel=1e-12)
    assert result.log_evidence == pytest.approx(_normal_evidence(YS), abs=1e-12)
    assert result.reliable       # (equal up to rounding: equal_weights compares exactly)
    assert result["mu"].mean == pytest.approx(np.mean(result.particles["mu"]), rel=1e-12)

    a, b, trials, k = 2.0, 3.0, 20, 14

    def exact(trials, successes):
        fp.sample("p", fp.Beta(a + successes, b + trials - successes))

    result = ImportanceSampling(n=5000, guide=exact).run(beta_binomial, trials, k, rng=24)
    evidence = (math.log(special.comb(trials, k, exact=True))
                + special.betaln(a + k, b + trials - k) - special.betaln(a, b))
    assert np.ptp(result.particles.log_weights) < 1e-12
    assert result.ess == pytest.approx(5000, rel=1e-12)
    assert result.log_evidence == pytest.approx(evidence, abs=1e-12)


def mixed(y):
    on = fp.sample("on", fp.Bernoulli(0.4))
    k = fp.sample("k", fp.Poisson(2.0))
    x = fp.sample("x", fp.Normal(np.where(on, 1.0, -1.0), 1.0))
    fp.observe("y", fp.Normal(x + k, 1.0), y)


def mixed_guide(y):
    fp.sample("on", fp.Bernoulli(0.5))
    fp.sample("k", fp.Poisson(np.full(1, 3.0)[0]))
    fp.sample("x", fp.Normal(0.0, 2.0))


def test_guided_runs_are_bit_reproducible_and_seeded():
    sampler = ImportanceSampling(n=3000, guide=mixed_guide, resample="systematic")
    r1, r2 = sampler.run(mixed, 2.5, rng=7), sampler.run(mixed, 2.5, rng=7)
    for site in ("on", "k", "x"):
        np.testing.assert_array_equal(r1.particles[site], r2.particles[site])
    np.testing.assert_array_equal(r1.particles.log_weights, r2.particles.log_weights)
    np.testing.assert_array_equal(r1.resampled["x"], r2.resampled["x"])
    assert r1.summary() == r2.summary()
    # the guide's particles are the run with key 0 of a PriorHandler seeded with the root
    _, q = fp.run_particles(fp.PriorHandler(rng=np.random.SeedSequence(7)), mixed_guide, 3000,
                            2.5, seed=0)
    np.testing.assert_array_equal(r1.proposal["x"], q["x"])
    r3 = sampler.run(mixed, 2.5, rng=8)
    assert not np.array_equal(r1.particles["x"], r3.particles["x"])
    assert r1.particles["on"].dtype == np.bool_ and r1.particles["k"].dtype == np.int64


def test_a_guide_with_discrete_sites_agrees_with_enumeration():
    result = ImportanceSampling(n=NG, guide=mixed_guide).run(mixed, 2.5, rng=9)
    ks = np.arange(60)
    pk = stats.poisson(2.0).pmf(ks)
    # y | on, k ~ Normal(+-1 + k, sqrt(2))
    like_on = np.sum(pk * stats.norm(1.0 + ks, math.sqrt(2)).pdf(2.5))
    like_off = np.sum(pk * stats.norm(-1.0 + ks, math.sqrt(2)).pdf(2.5))
    evidence = 0.4 * like_on + 0.6 * like_off
    assert_mean(result, "on", 0.4 * like_on / evidence)
    assert_log_evidence(result, math.log(evidence))


def test_a_branching_model_scored_one_particle_at_a_time():
    def model(y):
        on = fp.sample("on", fp.Bernoulli(0.4))
        x = fp.sample("x", fp.Normal(1.0 if on else -1.0, 1.0))
        fp.observe("y", fp.Normal(x, 1.0), y)

    def vectorised(y):
        on = fp.sample("on", fp.Bernoulli(0.4))
        x = fp.sample("x", fp.Normal(np.where(on, 1.0, -1.0), 1.0))
        fp.observe("y", fp.Normal(x, 1.0), y)

    def guide(y):
        fp.sample("on", fp.Bernoulli(0.5))
        fp.sample("x", fp.Normal(0.5, 1.5))

    one_by_one = ImportanceSampling(n=300, guide=guide, on_branch="per_particle").run(
        model, 0.8, rng=4)
    at_once = ImportanceSampling(n=300, guide=guide).run(vectorised, 0.8, rng=4)
    assert one_by_one.particles.per_particle
    np.testing.assert_allclose(one_by_one.particles.log_weights, at_once.particles.log_weights,
                               rtol=1e-12)
    with pytest.raises(BranchOnSample):
        ImportanceSampling(n=300, guide=guide).run(model, 0.8, rng=4)


def test_bad_guides():
    mean, sd = _normal_posterior(YS)
    with pytest.raises(TypeError, match="ImportanceSampling: guide must be None or a callable "
                                        r"\(a guide model\), got int"):
        ImportanceSampling(n=10, guide=3)
    for n, exc in ((0, InvalidArgument), (-5, InvalidArgument), (2.0, TypeError)):
        with pytest.raises(exc, match="ImportanceSampling: n must"):
            ImportanceSampling(n=n, guide=_normal_guide(mean, sd))

    def empty(ys):
        pass

    with pytest.raises(UnexpectedModelStructure, match="ImportanceSampling.run: the model "
                       "samples site 'mu', which the guide \\(parameter guide, "
                       ".*empty\\) does not") as e:
        ImportanceSampling(n=10, guide=empty).run(normal_normal, YS, rng=1)
    assert e.value.address == "mu"

    def extra(ys):
        fp.sample("mu", fp.Normal(mean, sd))
        fp.sample("nuisance", fp.Normal(0.0, 1.0))

    with pytest.raises(UnexpectedModelStructure, match="the guide \\(parameter guide, .*extra\\) "
                       "samples site 'nuisance', which the model does not sample") as e:
        ImportanceSampling(n=10, guide=extra).run(normal_normal, YS, rng=1)
    assert e.value.address == "nuisance"

    def boolean(ys):
        fp.sample("mu", fp.Bernoulli(0.5))

    with pytest.raises(TypeMismatch, match="the guide \\(parameter guide, .*boolean\\) samples "
                       "'mu' as bool values, not of the kind the model's distribution there "
                       "draws") as e:
        ImportanceSampling(n=10, guide=boolean).run(normal_normal, YS, rng=1)
    assert e.value.address == "mu" and e.value.code == 600

    def real_k(y):
        fp.sample("on", fp.Bernoulli(0.5))
        fp.sample("k", fp.Gamma(2.0, 1.0))
        fp.sample("x", fp.Normal(0.0, 2.0))

    with pytest.raises(TypeMismatch, match="samples 'k' as float64 values"):
        ImportanceSampling(n=10, guide=real_k).run(mixed, 2.5, rng=1)

    def observing(ys):
        mu = fp.sample("mu", fp.Normal(mean, sd))
        fp.observe("y", fp.Normal(mu, 1.0), 0.0)

    with pytest.raises(InvalidArgument, match="ImportanceSampling.run: guide must only sample "
                                              "\\(a proposal\\), but it observed site 'y'"):
        ImportanceSampling(n=10, guide=observing).run(normal_normal, YS, rng=1)

    def weighting(ys):
        fp.sample("mu", fp.Normal(mean, sd))
        fp.factor(-1.0)

    with pytest.raises(InvalidArgument, match="guide must only sample \\(a proposal\\), but it "
                                              "added a factor"):
        ImportanceSampling(n=10, guide=weighting).run(normal_normal, YS, rng=1)

    def failing(ys):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom") as e:
        ImportanceSampling(n=10, guide=failing).run(normal_normal, YS, rng=1)
    assert any("while running the guide (parameter guide" in note for note in e.value.__notes__)
    sampler = ImportanceSampling(n=10, guide=_normal_guide(mean, sd))
    assert sampler.guide is not None and "guide=" in repr(sampler)


def test_the_docstring_examples_run():
    result = doctest.testmod(importance_module, verbose=False, report=False)
    assert result.failed == 0 and result.attempted >= 3
