"""Sequential Monte Carlo (SequentialMonteCarlo): a linear-Gaussian state-space model
against the exact Kalman filter (filtering means and sds, the log evidence, the
unbiasedness of the evidence), both resampling schemes, when resampling happens, a
static parameter carried in the state, simulation-based calibration, seeds and
streams, branching models and bad input.

Statistical checks have fixed seeds and a stated false-failure rate. Where one run's
Monte Carlo error has no closed form (a particle filter's resamplings add to it), the
error is measured over R independent runs: the mean of R runs is compared with the
exact value by a t statistic with R - 1 degrees of freedom, at a threshold a correct
filter exceeds with probability below 1e-5 per check.
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
    InvalidObservation,
)
from fugue_ppl.inference import ImportanceSiteSummary, SequentialMonteCarlo, SMCResult
from fugue_ppl.inference import smc as smc_module

stats = pytest.importorskip("scipy.stats")

# ------------------------------------------------------------------ the model and its filter

A, Q, R_, S0 = 0.9, 0.5, 1.0, 1.0        # x_t = A x_{t-1} + N(0, Q), y_t = x_t + N(0, R_)


def lg_init():
    fp.sample("x", fp.Normal(0.0, S0))


def lg_step(t, state, y):
    x = fp.sample("x", fp.Normal(A * state["x"], math.sqrt(Q)))
    fp.observe("y", fp.Normal(x, math.sqrt(R_)), y)


def kalman(ys):
    """The exact filtering means and sds and the log evidence of the linear-Gaussian model."""
    m, p, log_z, means, sds = 0.0, S0**2, 0.0, [], []
    for y in ys:
        m, p = A * m, A * A * p + Q
        log_z += stats.norm(m, math.sqrt(p + R_)).logpdf(y)
        k = p / (p + R_)
        m, p = m + k * (y - m), (1 - k) * p
        means.append(m)
        sds.append(math.sqrt(p))
    return np.array(means), np.array(sds), log_z


def simulate(rng, steps):
    x = rng.normal(0.0, S0)
    xs, ys = [], []
    for _ in range(steps):
        x = A * x + rng.normal(0.0, math.sqrt(Q))
        xs.append(x)
        ys.append(x + rng.normal(0.0, math.sqrt(R_)))
    return np.array(xs), ys


XS, YS = simulate(np.random.default_rng(2024), 15)
T_CRIT = 6.0          # P(|t_19| > 6) is about 1e-5


def t_stat(values, exact):
    values = np.asarray(values)
    return (values.mean(axis=0) - exact) / (values.std(axis=0, ddof=1) / math.sqrt(len(values)))


# ------------------------------------------------------------------ against the Kalman filter

@pytest.mark.parametrize("scheme", ["systematic", "stratified"])
def test_filtering_means_sds_and_log_evidence_match_the_kalman_filter(scheme):
    means, sds, log_z = kalman(YS)
    runs = [SequentialMonteCarlo(n=2000, resampling=scheme).run(lg_init, lg_step, YS, rng=s)
            for s in range(20)]
    m = np.array([r.mean("x") for r in runs])
    assert m.shape == (20, 15)
    assert np.all(np.abs(t_stat(m, means)) < T_CRIT), t_stat(m, means)
    sd = np.array([r.sd("x") for r in runs])
    assert np.all(np.abs(t_stat(sd, sds)) < T_CRIT), t_stat(sd, sds)
    log_evidence = np.array([r.log_evidence for r in runs])
    assert abs(t_stat(log_evidence, log_z)) < T_CRIT, (log_evidence.mean(), log_z)
    # Each run on its own: its filtering means within 5 of their measured errors, and the
    # reported MCSE of the right size (this filter forgets fast: sd / sqrt(ESS) bounds it).
    err = m.std(axis=0, ddof=1)
    assert np.all(np.abs(m - means) < 5 * err)
    assert np.all(err < 2 * np.mean([r.mcse_mean("x") for r in runs], axis=0))
    assert np.all(np.abs(log_evidence - log_z) < 5 * log_evidence.std(ddof=1))
    # The quantiles of the normal filtering distributions, on average over the runs.
    q = np.mean([r.quantiles("x") for r in runs], axis=0)
    exact_q = stats.norm(means[:, None], sds[:, None]).ppf([0.05, 0.5, 0.95])
    assert np.max(np.abs(q - exact_q)) < 0.05
    assert any(r.resampled.any() for r in runs)        # the schemes were exercised


@pytest.mark.parametrize(("scheme", "threshold"), [("systematic", 0.5), ("stratified", 0.5),
                                                   ("systematic", 1.0)])
def test_the_evidence_is_unbiased_on_the_natural_scale(scheme, threshold):
    # exp(log_evidence) / Z averaged over 400 seeds of a small filter (n = 50, 10 steps)
    # is 1 within 5 standard errors (false failure below 1e-6; the ratio's spread is
    # moderate, its sample sd reliable). Its log is biased low (Jensen): the mean log
    # evidence falls below log Z.
    ys = YS[:10]
    _, _, log_z = kalman(ys)
    smc = SequentialMonteCarlo(n=50, resampling=scheme, ess_threshold=threshold)
    log_evidence = np.array([smc.run(lg_init, lg_step, ys, rng=s).log_evidence
                             for s in range(400)])
    ratio = np.exp(log_evidence - log_z)
    se = ratio.std(ddof=1) / math.sqrt(ratio.size)
    assert abs(ratio.mean() - 1.0) < 5 * se, (ratio.mean(), se)
    assert log_evidence.mean() < log_z


# ------------------------------------------------------------------ resampling

@pytest.mark.parametrize("threshold", [1e-9, 0.2, 0.5, 0.9, 1.0])
def test_resampling_happens_exactly_when_the_ess_falls_below_the_threshold(threshold):
    n = 500
    result = SequentialMonteCarlo(n=n, ess_threshold=threshold).run(lg_init, lg_step, YS, rng=3)
    below = result.ess < threshold * n
    np.testing.assert_array_equal(result.resampled[:-1], below[:-1])
    assert not result.resampled[-1]                   # the final particles keep their weights
    assert result.resampling_steps == tuple(np.flatnonzero(below[:-1]))
    assert result.init_ess == n and not result.init_resampled
    if threshold == 1e-9:
        assert result.resampling_steps == ()          # sequential importance sampling
    if threshold == 1.0:
        assert result.resampling_steps == tuple(range(len(YS) - 1))
    if threshold == 0.5:
        assert 0 < len(result.resampling_steps) < len(YS) - 1


def test_a_resampling_resets_the_weights_and_keeps_the_ancestors_values():
    # One step after a resampling, the particles' log-weights differ only by that step's
    # incremental weights; each value is a child of one of the resampled particles.
    ys = YS[:2]
    smc = SequentialMonteCarlo(n=300, ess_threshold=1.0)
    result = smc.run(lg_init, lg_step, ys, rng=5)
    assert result.resampling_steps == (0,)
    p = result.particles
    np.testing.assert_allclose(p.log_weights - p.log_likelihood,
                               (p.log_weights - p.log_likelihood)[0], atol=1e-9)
    assert p.log_evidence == pytest.approx(result.log_evidence, abs=1e-9)
    assert result.log_evidence == pytest.approx(result.log_evidence_increments.sum())


def test_the_schemes_draw_differently_from_the_same_seed():
    a = SequentialMonteCarlo(n=300, resampling="systematic", ess_threshold=1.0)
    b = SequentialMonteCarlo(n=300, resampling="stratified", ess_threshold=1.0)
    ra, rb = a.run(lg_init, lg_step, YS[:3], rng=9), b.run(lg_init, lg_step, YS[:3], rng=9)
    assert ra.ess[0] == rb.ess[0]                     # the same particles before resampling
    assert not np.array_equal(ra.particles["x"], rb.particles["x"])


# ------------------------------------------------------------------ the state

def static_init():
    fp.sample("theta", fp.Normal(0.0, 1.0))


def static_step(t, state, y):
    fp.observe("y", fp.Normal(state["theta"], 1.0), y)
    return {"theta_sq": state["theta"] ** 2}


def test_a_static_parameter_is_carried_and_its_posterior_is_exact():
    # theta ~ N(0, 1), y_t ~ N(theta, 1): after t + 1 observations the posterior is
    # N(sum / (t + 2), 1 / (t + 2)). The error allows for each resampling's noise (at
    # most the prior's variance over n each) beside sd / sqrt(ESS).
    ys = [0.8, 1.3, 0.2, 1.9, 1.1, 0.7, 1.5, 1.0]
    n = 20_000
    result = SequentialMonteCarlo(n=n).run(static_init, static_step, ys, rng=17)
    k = np.arange(1, len(ys) + 1)
    exact_mean, exact_var = np.cumsum(ys) / (k + 1), 1.0 / (k + 1)
    resamplings = np.concatenate([[0], np.cumsum(result.resampled)[:-1]])
    se = np.sqrt(1.0 / result.ess + (resamplings + 1) / n)
    assert np.all(np.abs(result.mean("theta") - exact_mean) < 5 * se)
    assert np.all(np.abs(result.mean("theta_sq") - (exact_mean**2 + exact_var)) < 5 * 3 * se)
    cov = np.eye(len(ys)) + np.ones((len(ys), len(ys)))
    exact = stats.multivariate_normal(np.zeros(len(ys)), cov).logpdf(ys)
    assert abs(result.log_evidence - exact) < 5 * math.sqrt(np.sum(1.0 / result.ess))
    np.testing.assert_array_equal(result.particles["theta_sq"], result.particles["theta"] ** 2)


def test_a_returned_mapping_must_hold_numbers_per_particle():
    def bad_step(t, state, y):
        fp.observe("y", fp.Normal(state["theta"], 1.0), y)
        return {"v": np.zeros(3)}

    with pytest.raises(TypeError, match=r"the state entry 'v' it returned must be a number or "
                                        r"one number per particle \(10\)") as e:
        SequentialMonteCarlo(n=10).run(static_init, bad_step, [1.0], rng=1)
    assert any("at step 0" in note for note in e.value.__notes__)


def test_the_state_is_per_particle_and_read_only():
    seen = {}

    def step(t, state, y):
        seen[t] = state
        assert isinstance(state["x"], fp.ParticleArray) and state["x"].shape == (50,)
        with pytest.raises(ValueError, match="read-only"):
            state["x"][0] = 1.0
        with pytest.raises(TypeError):
            state["z"] = 1
        lg_step(t, state, y)

    SequentialMonteCarlo(n=50).run(lg_init, step, YS[:2], rng=1)
    assert set(seen) == {0, 1} and list(seen[1]) == ["x"]


# ------------------------------------------------------------------ simulation-based calibration

def test_simulation_based_calibration_of_the_final_step():
    # Talts et al. (2018): x and the data drawn from the model; the rank of the true
    # final state among equally weighted draws of the final particles is uniform when
    # the filter is right. Ranks binned in 10; chi-square test at level 0.001 (a right
    # filter fails it at about 0.1% of seeds).
    rng = np.random.default_rng(2018)
    replications, n = 200, 500
    smc = SequentialMonteCarlo(n=n, resampling="stratified")
    ranks = []
    for r in range(replications):
        xs, ys = simulate(rng, 5)
        result = smc.run(lg_init, lg_step, ys, rng=r)
        draws = result.particles.resample("systematic", rng=r)["x"]
        ranks.append(int(np.sum(draws < xs[-1])))
    counts = np.bincount(np.asarray(ranks) * 10 // (n + 1), minlength=10)
    assert counts.sum() == replications and counts.size == 10
    p = stats.chisquare(counts).pvalue
    assert p > 0.001, (counts, p)


# ------------------------------------------------------------------ the result

def test_the_result_holds_each_steps_figures_and_is_plain_json():
    result = SequentialMonteCarlo(n=400, resampling="stratified").run(lg_init, lg_step, YS[:4],
                                                                       rng=2)
    assert isinstance(result, SMCResult) and result.n == 400 and result.steps == 4
    assert result.ess.shape == result.resampled.shape == (4,)
    assert result.log_evidence_increments.shape == (4,)
    assert not result.ess.flags.writeable
    per_step = result["x"]
    assert len(per_step) == 4 and all(isinstance(s, ImportanceSiteSummary) for s in per_step)
    assert result.mean("x")[-1] == result.particles.mean("x") == per_step[-1].mean
    assert result.sd("x")[-1] == result.particles.std("x")
    assert result.mcse_mean("x")[2] == pytest.approx(per_step[2].sd / math.sqrt(result.ess[2]))
    assert result.quantiles("x").shape == (4, 3)
    assert result.ess[-1] == pytest.approx(result.particles.ess)
    assert result.log_marginal_likelihood == result.log_evidence
    summary = result.summary()
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert set(summary) == {"n", "steps", "resampling", "ess_threshold", "log_evidence",
                            "log_evidence_increments", "ess", "resampled", "resampling_steps",
                            "init_ess", "init_resampled", "sites"}
    assert len(summary["sites"]["x"]) == 4 and set(summary["sites"]["x"][0]["quantiles"]) == {
        "0.05", "0.5", "0.95"}
    text = repr(result)
    assert text.startswith("SMCResult(n=400, steps=4, log_evidence=") and "stratified" in text
    assert f"{result.mean('x')[-1]:.5g}" in text
    with pytest.raises(KeyError, match="no summary of site 'y'"):
        result["y"]
    assert repr(SequentialMonteCarlo(n=7, sites=["x"])) == (
        "SequentialMonteCarlo(n=7, resampling='systematic', ess_threshold=0.5, sites=('x',), "
        "on_branch='raise')")


def test_sites_restrict_the_summaries_and_an_entry_may_appear_late():
    def step(t, state, y):
        x = fp.sample("x", fp.Normal(A * state["x"], math.sqrt(Q)))
        if t >= 1:
            fp.sample("late", fp.Normal(x, 1.0))
        fp.observe("y", fp.Normal(x, math.sqrt(R_)), y)

    result = SequentialMonteCarlo(n=100, sites=["late"]).run(lg_init, step, YS[:3], rng=4)
    assert list(result.sites) == ["late"] and "x" not in result
    assert result["late"][0] is None and result["late"][1] is not None
    assert math.isnan(result.mean("late")[0]) and np.isfinite(result.mean("late")[1:]).all()
    everything = SequentialMonteCarlo(n=100).run(lg_init, step, YS[:3], rng=4)
    assert list(everything.sites) == ["x", "late"]


# ------------------------------------------------------------------ seeds and streams

def test_a_seeded_run_is_reproducible():
    smc = SequentialMonteCarlo(n=300)
    a, b = smc.run(lg_init, lg_step, YS, rng=7), smc.run(lg_init, lg_step, YS, rng=7)
    assert a.summary() == b.summary()
    np.testing.assert_array_equal(a.particles["x"], b.particles["x"])
    c = smc.run(lg_init, lg_step, YS, rng=8)
    assert c.log_evidence != a.log_evidence
    ss = np.random.SeedSequence(99)
    assert smc.run(lg_init, lg_step, YS, rng=ss).summary() == \
        smc.run(lg_init, lg_step, YS, rng=np.random.SeedSequence(99)).summary()
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    assert smc.run(lg_init, lg_step, YS, rng=g1).summary() == \
        smc.run(lg_init, lg_step, YS, rng=g2).summary()
    fresh = smc.run(lg_init, lg_step, YS)
    assert smc.run(lg_init, lg_step, YS, rng=fresh.seed).summary() == fresh.summary()


def test_the_particles_are_the_documented_streams():
    # init: key 0 of a PriorHandler seeded with the child (0,) of the seed; step t: key
    # t + 1; the resampling after step t: the child (1, t + 1).
    n, seed = 200, 31
    x0 = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, 0))).normal(0, S0, n)
    result = SequentialMonteCarlo(n=n).run(lg_init, lg_step, YS[:1], rng=seed)
    x1 = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, 1))).normal(
        A * x0, math.sqrt(Q))
    np.testing.assert_array_equal(result.particles["x"], x1)
    result = SequentialMonteCarlo(n=n, ess_threshold=1.0).run(lg_init, lg_step, YS[:2], rng=seed)
    idx = fp.Particles({}, np.zeros(n), stats.norm(x1, math.sqrt(R_)).logpdf(YS[0]),
                       np.zeros(n)).resample_indices(
        "systematic", rng=np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, 1))))
    x2 = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, 2))).normal(
        A * x1[idx], math.sqrt(Q))
    np.testing.assert_allclose(result.particles["x"], x2, rtol=1e-12)


# ------------------------------------------------------------------ branching models

def branching_step(t, state, y):
    # Both branches draw the same: the model is lg_step's, written with an if.
    if state["x"] > 0:
        x = fp.sample("x", fp.Normal(A * state["x"], math.sqrt(Q)))
    else:
        x = fp.sample("x", fp.Normal(A * state["x"], math.sqrt(Q)))
    fp.observe("y", fp.Normal(x, math.sqrt(R_)), y)


def test_a_step_that_branches_is_a_clear_error_naming_the_step():
    with pytest.raises(BranchOnSample, match="The truth value of per-particle values") as e:
        SequentialMonteCarlo(n=20).run(lg_init, branching_step, YS[:3], rng=1)
    assert any("SequentialMonteCarlo.run: raised by the step model (branching_step) at step 0"
               in note for note in e.value.__notes__)


def test_a_branching_step_runs_particle_by_particle_on_request():
    ys = YS[:4]
    means, _, log_z = kalman(ys)
    smc = SequentialMonteCarlo(n=1000, on_branch="per_particle")
    result = smc.run(lg_init, branching_step, ys, rng=6)
    assert result.particles.per_particle
    # sd / sqrt(ESS) bounds this filter's error (measured above); 5 of them and a factor 2.
    assert np.all(np.abs(result.mean("x") - means) < 10 * result.mcse_mean("x"))
    assert abs(result.log_evidence - log_z) < 10 * math.sqrt(np.sum(1 / result.ess - 1 / 1000))
    again = smc.run(lg_init, branching_step, ys, rng=6)
    assert again.summary() == result.summary()


def test_a_site_some_particles_skip_is_summarised_where_present():
    def step(t, state, y):
        x = fp.sample("x", fp.Normal(A * state["x"], math.sqrt(Q)))
        if fp.sample("jump", fp.Bernoulli(0.3)):
            fp.sample("size", fp.Normal(5.0, 1.0))
        fp.observe("y", fp.Normal(x, math.sqrt(R_)), y)

    result = SequentialMonteCarlo(n=400, on_branch="per_particle").run(lg_init, step, YS[:3],
                                                                      rng=2)
    p = result.particles
    assert p.per_particle and not p.present("size").all()
    assert abs(result.mean("size")[0] - 5.0) < 0.5
    assert abs(result.mean("jump")[-1] - 0.3) < 0.15


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("n", [0, -1])
def test_n_below_one_is_refused(n):
    with pytest.raises(InvalidArgument, match=r"SequentialMonteCarlo: n must be >= 1") as e:
        SequentialMonteCarlo(n=n)
    assert e.value.parameter == "n"


@pytest.mark.parametrize("n", [10.0, True, "100", None])
def test_n_must_be_an_integer(n):
    with pytest.raises(TypeError, match=r"SequentialMonteCarlo: n must be an integer"):
        SequentialMonteCarlo(n=n)


def test_n_above_the_particle_limit_is_refused_before_allocating():
    with pytest.raises(InvalidArgument, match=r"SequentialMonteCarlo: n must be <= \d+ \(the "
                                              r"particle limit"):
        SequentialMonteCarlo(n=10**30)
    smc = SequentialMonteCarlo(n=50)
    old = fp.set_max_particles(10)
    try:
        with pytest.raises(InvalidArgument, match=r"SequentialMonteCarlo.run: n must be <= 10"):
            smc.run(lg_init, lg_step, YS, rng=1)
    finally:
        fp.set_max_particles(old)


def test_an_unknown_resampling_scheme_suggests_the_closest():
    with pytest.raises(InvalidArgument, match=r"SequentialMonteCarlo: resampling must be one of "
                                              r"'systematic', 'stratified', 'multinomial'; did "
                                              r"you mean 'systematic'\?, got 'systemtic'") as e:
        SequentialMonteCarlo(resampling="systemtic")
    assert e.value.parameter == "resampling"
    with pytest.raises(InvalidArgument, match=r"did you mean 'stratified'\?"):
        SequentialMonteCarlo(resampling="Stratified")
    with pytest.raises(InvalidArgument, match=r"'multinomial', got 'residual'"):
        SequentialMonteCarlo(resampling="residual")
    with pytest.raises(TypeError, match="SequentialMonteCarlo: resampling must be a str"):
        SequentialMonteCarlo(resampling=None)


@pytest.mark.parametrize("threshold", [0, 0.0, -0.1, 1.5, math.nan, math.inf])
def test_an_ess_threshold_outside_zero_one_is_refused(threshold):
    with pytest.raises(InvalidArgument, match=r"SequentialMonteCarlo: ess_threshold must be in "
                                              r"\(0, 1\]") as e:
        SequentialMonteCarlo(ess_threshold=threshold)
    assert e.value.parameter == "ess_threshold"


@pytest.mark.parametrize("threshold", [True, "0.5", None])
def test_an_ess_threshold_must_be_a_number(threshold):
    with pytest.raises(TypeError, match="ess_threshold"):
        SequentialMonteCarlo(ess_threshold=threshold)


@pytest.mark.parametrize("data", [[], (), np.array([])])
def test_empty_data_is_refused(data):
    with pytest.raises(InvalidArgument, match="SequentialMonteCarlo.run: data must hold at least "
                                              "one step's observations") as e:
        SequentialMonteCarlo(n=10).run(lg_init, lg_step, data, rng=1)
    assert e.value.parameter == "data"


@pytest.mark.parametrize("data", [None, "1.0", 3.0, {"y": 1.0}])
def test_data_must_be_a_sequence_of_observations(data):
    with pytest.raises(TypeError, match="SequentialMonteCarlo.run: data must be a sequence of "
                                        "observations"):
        SequentialMonteCarlo(n=10).run(lg_init, lg_step, data, rng=1)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_nan_observation_is_a_clear_error_naming_the_step_and_data(bad):
    with pytest.raises(InvalidObservation, match=r"observe\('y'\): the observed value is NaN, "
                                                 "infinite") as e:
        SequentialMonteCarlo(n=10).run(lg_init, lg_step, [0.5, 1.0, bad], rng=1)
    assert any("at step 2 (parameter data: data[2] = " in note for note in e.value.__notes__)
    assert SequentialMonteCarlo(n=10).run(lg_init, lg_step, [0.5], rng=1).steps == 1


def test_observations_every_particle_rules_out_are_a_clear_error():
    def step(t, state, y):
        fp.observe("y", fp.Uniform(state["theta"] - 100.0, state["theta"] + 100.0), y)

    with pytest.raises(DegenerateWeights, match=r"SequentialMonteCarlo.run: at step 1 \(data\[1"
                                                r"\]\), every particle has weight zero"):
        SequentialMonteCarlo(n=50).run(static_init, step, [0.0, 1e6], rng=1)


def test_models_rng_sites_and_on_branch_are_checked():
    smc = SequentialMonteCarlo(n=10)
    with pytest.raises(TypeError, match="SequentialMonteCarlo.run: init must be a callable"):
        smc.run("init", lg_step, YS)
    with pytest.raises(TypeError, match="SequentialMonteCarlo.run: step must be a callable"):
        smc.run(lg_init, None, YS)
    with pytest.raises(TypeError, match="SequentialMonteCarlo.run: rng must be None, an int"):
        smc.run(lg_init, lg_step, YS, rng=1.5)
    with pytest.raises(InvalidArgument, match="rng must be >= 0"):
        smc.run(lg_init, lg_step, YS, rng=-1)
    with pytest.raises(InvalidArgument, match=r"SequentialMonteCarlo.run: sites must name entries "
                                              r"of the state \(\['x'\]\); did you mean 'x'\?"):
        SequentialMonteCarlo(n=10, sites=["xx"]).run(lg_init, lg_step, YS[:2], rng=1)
    for sites, error in (("x", TypeError), ([], InvalidArgument), (["x", "x"], InvalidArgument),
                         ([1], TypeError)):
        with pytest.raises(error, match="SequentialMonteCarlo: sites"):
            SequentialMonteCarlo(sites=sites)
    with pytest.raises(InvalidArgument, match="on_branch must be one of 'raise', 'per_particle'"):
        SequentialMonteCarlo(on_branch="ignore")


def test_a_model_that_raises_keeps_its_error_with_a_note_naming_it():
    def broken_init():
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError, match="boom") as e:
        SequentialMonteCarlo(n=10).run(broken_init, lg_step, YS, rng=1)
    assert any("raised by the init model (" in note and "broken_init" in note
               for note in e.value.__notes__)


def test_exported_and_the_docstring_examples_run():
    assert fp.inference.SequentialMonteCarlo is SequentialMonteCarlo
    result = doctest.testmod(smc_module, verbose=False, report=False)
    assert result.failed == 0 and result.attempted >= 5
