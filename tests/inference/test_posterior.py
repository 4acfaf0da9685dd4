"""Every inference algorithm served per request by ModelRunner (``inference=``):
Metropolis-Hastings and sequential Monte Carlo answer with a PosteriorSummary,
importance sampling with its ImportanceResult, all of them Posteriors; checked
against closed forms (the normal-normal posterior, the Kalman filter), for
reproducibility by request key, the deadline and bad input."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import fugue_ppl as fp
from fugue_ppl.errors import (
    InferenceTimeout,
    InvalidArgument,
    InvalidObservation,
    ValidationError,
)
from fugue_ppl.inference import (
    ImportanceResult,
    ImportanceSampling,
    MCMCResult,
    MetropolisHastings,
    Posterior,
    PosteriorSummary,
    SequentialMonteCarlo,
    SMCResult,
)
from fugue_ppl.inference.importance import QUANTILES
from fugue_ppl.service.protocol import POSTERIOR_OUTPUTS, posterior_outputs
from fugue_ppl.serving import DriftMonitor


def normal_normal(y: float):
    mu = fp.sample("mu", fp.Normal(0.0, 1.0))
    fp.observe("y", fp.Normal(mu, 1.0), y)
    return mu


def init():
    fp.sample("x", fp.Normal(0.0, 1.0))


def step(t, state, y):
    x = fp.sample("x", fp.Normal(state["x"], 0.5))
    fp.observe("y", fp.Normal(x, 1.0), y)


def kalman(ys, q=0.5 ** 2, r=1.0, m=0.0, p=1.0):
    """The exact filtering mean and variance after the last observation, and the
    log evidence of the series, of ``init`` and ``step`` (every observation, the
    first too, follows a step's transition from the state before it)."""
    log_z = 0.0
    for y in ys:
        p += q
        s = p + r
        log_z += -0.5 * (math.log(2 * math.pi * s) + (y - m) ** 2 / s)
        k = p / s
        m, p = m + k * (y - m), (1 - k) * p
    return m, p, log_z


MH = MetropolisHastings(chains=4, draws=1500, warmup=500)


# ---------------------------------------------------------------- Metropolis-Hastings


def test_mh_served_by_a_runner_matches_the_normal_normal_posterior():
    runner = fp.ModelRunner(normal_normal, rng=2024, inference=MH, deadline=None)
    res = runner.infer(1.0, seed=3)
    assert res.status == "ok"
    post = res.value
    assert isinstance(post, PosteriorSummary) and isinstance(post, Posterior)
    assert isinstance(post.result, MCMCResult) and post.algorithm == "metropolis_hastings"
    s = post["mu"]
    # the posterior is N(0.5, 0.5): the mean within 4 MCSE, the sd and quantiles close
    assert abs(s.mean - 0.5) < 4 * s.mcse_mean
    assert s.sd == pytest.approx(math.sqrt(0.5), rel=0.08)
    assert s.quantiles[0.5] == pytest.approx(0.5, abs=0.08)
    assert set(s.quantiles) == set(QUANTILES)
    assert post.reliable and post.ess == pytest.approx(s.ess_bulk) and post.ess >= 400
    assert math.isnan(post.log_evidence) and math.isnan(post.khat)
    assert post.mean("mu") == s.mean and post.sd("mu") == s.sd


def test_mh_posterior_is_the_same_for_the_same_request_key_in_any_replica():
    a = fp.ModelRunner(normal_normal, rng=7, inference=MH, deadline=None)
    b = fp.ModelRunner(normal_normal, rng=7, inference=MH, deadline=None)
    first = a.infer(1.0, seed=11).value
    np.testing.assert_array_equal(first.result.draws["mu"], b.infer(1.0, seed=11).value
                                  .result.draws["mu"])
    other = a.infer(1.0, seed=12).value
    assert not np.array_equal(first.result.draws["mu"], other.result.draws["mu"])
    # without a key each call takes the runner's next counter key
    x, y = a.infer(1.0).value, a.infer(1.0).value
    assert not np.array_equal(x.result.draws["mu"], y.result.draws["mu"])


@pytest.mark.parametrize("sites, exc, words", [
    ("mu", TypeError, "sites"),
    ([], InvalidArgument, "sites"),
    (["mu", "mu"], InvalidArgument, "sites"),
])
def test_mh_sites_are_checked(sites, exc, words):
    with pytest.raises(exc, match=words):
        MetropolisHastings(sites=sites)


def test_mh_summarises_the_sites_asked_for_and_names_an_unknown_one():
    h = fp.PriorHandler(rng=1)
    post = MetropolisHastings(chains=2, draws=100, warmup=50, sites=["mu"]).posterior(
        h, normal_normal, 1.0)
    assert list(post.sites) == ["mu"]
    with pytest.raises(InvalidArgument, match="did you mean 'mu'"):
        MetropolisHastings(chains=2, draws=100, warmup=50, sites=["m"]).posterior(
            h, normal_normal, 1.0)


def test_mh_with_one_chain_is_never_reliable():
    post = MetropolisHastings(chains=1, draws=400, warmup=200).posterior(
        fp.PriorHandler(rng=1), normal_normal, 1.0, seed=0)
    assert math.isnan(post["mu"].rhat) and not post.reliable


def test_mh_past_its_deadline_times_out_and_the_runner_serves_the_fallback():
    slow = MetropolisHastings(chains=2, draws=200_000, warmup=0)
    with pytest.raises(InferenceTimeout, match="deadline of 0.05 s"):
        slow.posterior(fp.PriorHandler(rng=1), normal_normal, 1.0, deadline=0.05)
    runner = fp.ModelRunner(normal_normal, inference=slow, deadline=0.05, fallback=0.0)
    res = runner.infer(1.0)
    assert res.status == "timeout" and res.value == 0.0
    assert runner.metrics.timeouts == 1


# ---------------------------------------------------------------- sequential Monte Carlo


YS = [0.3, 0.9, 1.4, 1.1, 0.2, -0.4]


def test_smc_served_by_a_runner_matches_the_kalman_filter():
    runner = fp.ModelRunner(step, rng=2024,
                            inference=SequentialMonteCarlo(n=4000, init=init), deadline=None)
    posts = [runner.infer(YS, seed=k).value for k in range(10)]
    post = posts[0]
    assert isinstance(post, PosteriorSummary) and isinstance(post.result, SMCResult)
    m, p, log_z = kalman(YS)
    s = post["x"]
    assert abs(s.mean - m) < 4 * s.mcse_mean + 0.01
    assert s.sd == pytest.approx(math.sqrt(p), rel=0.1)
    # the log evidence over 10 independent requests: their mean within 4 standard errors
    # of the exact value (its estimator's downward bias, var/2, is far smaller)
    evidence = np.array([q.log_evidence for q in posts])
    assert abs(evidence.mean() - log_z) < 4 * evidence.std(ddof=1) / math.sqrt(10) + 0.01
    assert evidence.std(ddof=1) < 0.2
    assert post.ess == post.result.ess[-1] and post.reliable and post.khat < 0.7
    assert post.log_evidence == post.result.log_evidence


def test_smc_requests_are_data_series_checked_against_the_step_models_arguments():
    runner = fp.ModelRunner(step, inference=SequentialMonteCarlo(n=200, init=init),
                            deadline=None)
    with pytest.raises(ValidationError):
        runner.infer(YS, 1.0)                    # one argument too many
    with pytest.raises(ValidationError):
        runner.infer()
    assert runner.breaker.state == fp.BreakerState.HEALTHY
    assert runner.metrics.invalid_requests == 2
    # the same key: the same filter
    a, b = runner.infer(YS, seed=5).value, runner.infer(YS, seed=5).value
    assert a.summary() == b.summary()


def test_smc_requests_carry_the_step_models_own_arguments_after_the_series():
    # (the extra arguments reach both models, as in SequentialMonteCarlo.run)
    def scaled_init(noise=1.0):
        fp.sample("x", fp.Normal(0.0, 1.0))

    def scaled_step(t, state, y, noise=1.0):
        x = fp.sample("x", fp.Normal(state["x"], 0.5))
        fp.observe("y", fp.Normal(x, noise), y)

    smc = SequentialMonteCarlo(n=300, init=scaled_init)
    assert str(smc.request_signature(scaled_step)) == "(data, noise=1.0)"
    assert str(smc.request_signature(lambda *a: None)) == "(data, *a)"
    # a callable without a signature: anything after the series
    assert str(smc.request_signature(max)) == "(data, *args, **kwargs)"
    runner = fp.ModelRunner(scaled_step, inference=smc, deadline=None)
    a = runner.infer(YS, 2.0, seed=1).value
    b = runner.infer(YS, noise=2.0, seed=1).value
    assert a.summary() == b.summary()
    assert a.log_evidence != runner.infer(YS, seed=1).value.log_evidence
    with pytest.raises(ValidationError):
        runner.infer(YS, bogus=1.0)


def test_smc_without_init_cannot_serve_requests():
    with pytest.raises(InvalidArgument, match="init"):
        SequentialMonteCarlo(n=100).posterior(fp.PriorHandler(rng=1), step, YS)
    with pytest.raises(TypeError, match="init"):
        SequentialMonteCarlo(n=100, init=42)


def test_smc_past_its_deadline_times_out():
    def slow_step(t, state, y):
        x = fp.sample("x", fp.Normal(state["x"], 0.5))
        fp.observe("y", fp.Normal(x, 1.0), y)
    smc = SequentialMonteCarlo(n=50_000, init=init)
    with pytest.raises(InferenceTimeout):
        smc.posterior(fp.PriorHandler(rng=1), slow_step, [0.1] * 2000, deadline=0.05)


# ---------------------------------------------------------------- the service's view


@pytest.mark.parametrize("algorithm", ["importance", "mh", "smc"])
def test_every_posterior_renders_as_the_protocols_outputs_and_feeds_drift(algorithm):
    if algorithm == "importance":
        runner = fp.ModelRunner(normal_normal, inference=ImportanceSampling(2000),
                                deadline=None)
        post = runner.infer(1.0, seed=1).value
        assert isinstance(post, ImportanceResult) and isinstance(post, Posterior)
    elif algorithm == "mh":
        post = fp.ModelRunner(normal_normal, inference=MH, deadline=None).infer(1.0).value
    else:
        post = fp.ModelRunner(step, inference=SequentialMonteCarlo(n=500, init=init),
                              deadline=None).infer(YS).value
    outputs = {o["name"]: o for o in posterior_outputs(post)}
    assert list(outputs) == list(POSTERIOR_OUTPUTS)
    site = "x" if algorithm == "smc" else "mu"
    assert outputs["posterior_site"]["data"] == [site]
    assert outputs["posterior_mean"]["data"] == [post.sites[site].mean]
    evidence = outputs["log_evidence"]["data"][0]
    assert (evidence is None) == (algorithm == "mh")
    monitor = DriftMonitor(sites=(site,))
    monitor.observe(post)
    state = monitor.state()
    assert state["requests"] == 1 and state["skipped"] == {}
    assert state["sites"][site]["last"] == post.sites[site].mean
    assert state["ess"]["last"] == post.ess
    # the LPD chart has the evidence of a posterior that estimates one (MCMC does not)
    assert math.isnan(state["lpd"]["last"]) == (algorithm == "mh")


SMALL_MH = MetropolisHastings(chains=2, draws=20, warmup=5)
SMALL_SMC = SequentialMonteCarlo(n=50, init=init)
BAD_CALLS = [
    # (the call's extra arguments, the exception, words of its message)
    ({"deadline": float("nan")}, InvalidArgument, r"posterior: deadline must be"),
    ({"deadline": -1.0}, InvalidArgument, r"posterior: deadline must be"),
    ({"deadline": float("inf")}, InvalidArgument, r"posterior: deadline must be"),
    ({"deadline": "1"}, TypeError, r"posterior: deadline must be"),
    ({"seed": -1}, InvalidArgument, r"posterior: seed must be >= 0"),
    ({"seed": 1.5}, TypeError, r"posterior: seed must be None or an int"),
    ({"seed": True}, TypeError, r"posterior: seed must be None or an int"),
    ({"handler": "h"}, TypeError, r"posterior: handler must be a fugue_ppl handler"),
    ({"handler": None}, TypeError, r"posterior: handler must be a fugue_ppl handler"),
]


@pytest.mark.parametrize("algorithm", ["mh", "smc"])
@pytest.mark.parametrize("extra, exc, words", BAD_CALLS)
def test_bad_requests_are_refused_naming_the_parameter_and_draw_nothing(algorithm, extra,
                                                                        exc, words):
    h = fp.PriorHandler(rng=3)
    options = dict(extra)
    handler = options.pop("handler", h)
    with pytest.raises(exc, match=words):
        if algorithm == "mh":
            SMALL_MH.posterior(handler, normal_normal, 1.0, **options)
        else:
            SMALL_SMC.posterior(handler, step, YS, **options)
    # the handler's run counter did not move: its next run is a fresh handler's first
    assert fp.run(h, normal_normal, 1.0)[1] == fp.run(fp.PriorHandler(rng=3), normal_normal,
                                                      1.0)[1]


@pytest.mark.parametrize("call, exc, words", [
    (lambda h: SMALL_MH.posterior(h, 3, 1.0), TypeError, "model must be a callable"),
    (lambda h: SMALL_MH.posterior(h, normal_normal, float("nan")), InvalidObservation,
     r"observe\('y'\)"),
    (lambda h: SMALL_SMC.posterior(h, 5, YS), TypeError, "step must be a callable"),
    (lambda h: SMALL_SMC.posterior(h, step, "abc"), TypeError, "data must be a sequence"),
    (lambda h: SMALL_SMC.posterior(h, step, []), InvalidArgument, "at least one step"),
    (lambda h: SMALL_SMC.posterior(h, step, [0.1, float("nan")]), InvalidObservation,
     r"observe\('y'\)"),
])
def test_bad_models_and_data_get_clear_errors(call, exc, words):
    with pytest.raises(exc, match=words):
        call(fp.PriorHandler(rng=1))


def test_a_served_posterior_pickles_with_its_result():
    # (as a batch's results travel back from process and Dask workers)
    res = fp.ModelRunner(normal_normal, inference=MetropolisHastings(
        chains=2, draws=50, warmup=10), deadline=None).infer(1.0, seed=1)
    copy = pickle.loads(pickle.dumps(res))
    assert isinstance(copy.value, PosteriorSummary)
    assert copy.value.summary() == res.value.summary()
    np.testing.assert_array_equal(copy.value.result.draws["mu"], res.value.result.draws["mu"])


def test_a_runner_serving_mh_pickles_with_its_algorithm():
    runner = fp.ModelRunner(normal_normal, rng=3, inference=MetropolisHastings(
        chains=2, draws=100, warmup=50), deadline=None)
    copy = pickle.loads(pickle.dumps(runner))
    assert repr(copy.inference) == repr(runner.inference)
    np.testing.assert_array_equal(copy.infer(1.0, seed=4).value.result.draws["mu"],
                                  runner.infer(1.0, seed=4).value.result.draws["mu"])
