"""ModelRunner(model, inference=ImportanceSampling(...)): a posterior per request
through the runner's pipeline (validation, breaker, deadline, metrics), on the
runner's stream."""

import asyncio
import math
import time

import numpy as np
import pytest
from scipy import stats

import fugue_ppl as fp
from fugue_ppl.errors import InvalidArgument, ValidationError
from fugue_ppl.inference import ImportanceResult, ImportanceSampling
from fugue_ppl.models import SENSOR_NOISE, SENSOR_PRIOR, sensor, sensor_posterior
from fugue_ppl.serving import DriftMonitor, DriftSettings
from fugue_ppl.validation import Finite, Schema

N = 4000


def runner(**kwargs):
    kwargs.setdefault("inference", ImportanceSampling(n=N, sites=["temperature"]))
    return fp.ModelRunner(sensor, rng=7, **kwargs)


@pytest.mark.parametrize("reading", [22.0, 14.0, 29.0])
def test_the_value_is_the_posterior_of_the_request(reading):
    res = runner().infer(reading)
    assert res.status == "ok" and res.trace is None
    post = res.value
    assert isinstance(post, ImportanceResult) and post.n == N
    mean, sd = sensor_posterior(reading)
    # Within 5 Monte Carlo standard errors of the closed form.
    assert abs(post.mean("temperature") - mean) < 5 * sd / math.sqrt(post.ess)
    assert post.sd("temperature") == pytest.approx(sd, rel=0.1)
    assert post["temperature"].mean == post.mean("temperature")
    # The log evidence: log N(reading; m0, sqrt(s0^2 + s^2)), within its error.
    exact = stats.norm(SENSOR_PRIOR[0], math.hypot(SENSOR_PRIOR[1], SENSOR_NOISE)).logpdf(reading)
    w = np.exp(post.particles.log_weights - post.log_evidence)
    assert abs(post.log_evidence - exact) < 5 * w.std() / math.sqrt(N)
    assert list(post.sites) == ["temperature"]


def test_the_same_request_key_gives_the_same_posterior_in_any_replica():
    a, b = runner(), runner()
    ra, rb = a.infer(22.0, seed=11), b.infer(22.0, seed=11)
    np.testing.assert_array_equal(ra.value.particles["temperature"],
                                  rb.value.particles["temperature"])
    assert ra.value.log_evidence == rb.value.log_evidence
    # ... the particles of the handler's stream with that key (the stream contract)
    _, parts = fp.run_particles(fp.PriorHandler(rng=7), sensor, N, 22.0, seed=11)
    np.testing.assert_array_equal(parts["temperature"], ra.value.particles["temperature"])
    # Another key, or the call counter, gives other particles.
    rc = a.infer(22.0, seed=12)
    assert rc.value.log_evidence != ra.value.log_evidence
    c1, c2 = a.infer(22.0), a.infer(22.0)
    assert c1.value.log_evidence != c2.value.log_evidence


def test_calls_are_counted_and_validated_as_any_call():
    r = runner(schema=Schema({"reading": Finite()}))
    for _ in range(5):
        assert r.infer(22.0).status == "ok"
    with pytest.raises(ValidationError, match="reading"):
        r.infer(math.nan)
    m = r.metrics
    assert (m.inference_count, m.error_count, m.invalid_requests) == (5, 0, 1)
    assert r.breaker.state == fp.BreakerState.HEALTHY


def failing(reading):
    fp.sample("temperature", fp.Normal(20.0, 5.0))
    raise RuntimeError("disk /srv/secret-token-123 unreadable")


def impossible(reading):
    t = fp.sample("temperature", fp.Normal(20.0, 5.0))
    fp.factor(-math.inf)
    return t


@pytest.mark.parametrize("model, kind", [(failing, "RuntimeError"),
                                         (impossible, "DegenerateWeights")])
def test_a_failing_posterior_is_a_model_fault_served_the_fallback(model, kind):
    r = fp.ModelRunner(model, rng=1, fallback=None,
                       inference=ImportanceSampling(n=100, sites=["temperature"]))
    res = r.infer(22.0)
    assert res.status == "fallback" and res.value is None
    assert type(res.error).__name__ == kind
    assert "secret" not in str(res.to_dict())
    assert r.metrics.error_count == 1 and r.breaker.metrics["failed_calls"] == 1


def slow(reading):
    t = fp.sample("temperature", fp.Normal(20.0, 5.0))
    time.sleep(0.05)
    fp.observe("sensor", fp.Normal(t, 1.0), reading)
    return t


def test_the_deadline_holds_for_the_particle_run():
    r = fp.ModelRunner(slow, rng=1, deadline=0.01, fallback=None,
                       inference=ImportanceSampling(n=100))
    t0 = time.monotonic()
    res = r.infer(22.0)
    assert res.status == "timeout" and isinstance(res.error, fp.InferenceTimeout)
    assert time.monotonic() - t0 < 5.0
    assert r.metrics.timeouts == 1


def test_the_asynchronous_path_serves_the_posterior_too():
    r = runner()
    try:
        res = asyncio.run(r.infer_async(22.0, seed=3))
        assert res.status == "ok"
        assert res.value.log_evidence == runner().infer(22.0, seed=3).value.log_evidence
    finally:
        r.close()


def test_drift_is_fed_the_log_evidence_and_posterior_means():
    r = runner()
    drift = DriftMonitor(DriftSettings(sites=("temperature",)))
    res = r.infer(22.0)
    drift.observe(res)
    state = drift.state()
    assert state["requests"] == 1 and state["skipped"] == {}
    assert state["lpd"]["last"] == res.value.log_evidence
    assert state["ess"]["last"] == res.value.ess
    assert state["sites"]["temperature"]["last"] == res.value.mean("temperature")


def test_bad_inference_arguments_are_clear_errors():
    with pytest.raises(TypeError, match=r"^ModelRunner: inference must be an inference "
                                        r"algorithm with a posterior\(\) method"):
        fp.ModelRunner(sensor, inference=object())
    with pytest.raises(InvalidArgument, match="site_fallbacks"):
        fp.ModelRunner(sensor, inference=ImportanceSampling(n=10), site_fallbacks={bool: True})
    # A site the model does not sample: a model fault at the call, named.
    r = fp.ModelRunner(sensor, rng=1, inference=ImportanceSampling(n=10, sites=["nope"]))
    with pytest.raises(fp.TraceAddressNotFound, match="'nope'"):
        r.infer(22.0)


def test_a_guide_serves_the_posterior_with_every_particle_counting():
    # The exact posterior as the guide: every weight equal, ESS = n, the
    # log evidence exact (valid is drawn from its prior in both).
    mean, sd = sensor_posterior(22.0)

    def guide(reading):
        fp.sample("temperature", fp.Normal(mean, sd))
        fp.sample("valid", fp.Bernoulli(0.95))

    r = fp.ModelRunner(sensor, rng=3, inference=ImportanceSampling(n=500, guide=guide))
    post = r.infer(22.0, seed=1).value
    assert post.ess == pytest.approx(500, rel=1e-9)
    exact = stats.norm(SENSOR_PRIOR[0], math.hypot(SENSOR_PRIOR[1], SENSOR_NOISE)).logpdf(22.0)
    assert post.log_evidence == pytest.approx(exact, abs=1e-9)
    assert post.proposal is not None and post.proposal.n == 500


def test_the_inference_section_of_a_config_configures_the_runner():
    from fugue_ppl.config import load_config
    from fugue_ppl.inference import InferenceConfig

    cfg = load_config(env={"FUGUE_INFERENCE__ALGORITHM": "importance",
                           "FUGUE_INFERENCE__PARTICLES": "300",
                           "FUGUE_INFERENCE__SITES": "temperature"})
    r = fp.ModelRunner(sensor, cfg, rng=7)
    assert isinstance(r.inference, ImportanceSampling)
    assert (r.inference.n, r.inference.sites) == (300, ("temperature",))
    post = r.infer(22.0, seed=4).value
    assert post.n == 300 and list(post.sites) == ["temperature"]
    # The default: one run per request.
    assert fp.ModelRunner(sensor, rng=7).inference is None
    assert load_config().inference.build() is None
    # An explicit inference= wins over the section.
    explicit = ImportanceSampling(n=50)
    assert fp.ModelRunner(sensor, cfg, inference=explicit).inference is explicit
    with pytest.raises(InvalidArgument, match=r"^InferenceConfig: algorithm must be one of "
                                              r"'none', 'importance', 'metropolis_hastings', "
                                              r"got 'smc'$"):
        InferenceConfig(algorithm="smc")
    with pytest.raises(InvalidArgument, match="particles must be in"):
        InferenceConfig(particles=0)
    with pytest.raises(TypeError, match="sites must be a sequence of site names"):
        InferenceConfig(sites="temperature")


def test_the_inference_section_configures_metropolis_hastings():
    from fugue_ppl.config import load_config
    from fugue_ppl.inference import InferenceConfig, MetropolisHastings, PosteriorSummary

    cfg = load_config(env={"FUGUE_INFERENCE__ALGORITHM": "metropolis_hastings",
                           "FUGUE_INFERENCE__KERNEL": "single_site",
                           "FUGUE_INFERENCE__CHAINS": "2", "FUGUE_INFERENCE__DRAWS": "300",
                           "FUGUE_INFERENCE__WARMUP": "200",
                           "FUGUE_INFERENCE__SITES": "temperature"})
    r = fp.ModelRunner(sensor, cfg, rng=7)
    assert isinstance(r.inference, MetropolisHastings)
    assert (r.inference.kernel, r.inference.chains, r.inference.draws, r.inference.warmup,
            r.inference.sites) == ("single_site", 2, 300, 200, ("temperature",))
    res = r.infer(22.0, seed=4)
    assert res.status == "ok" and isinstance(res.value, PosteriorSummary)
    assert list(res.value.sites) == ["temperature"]
    assert res.value.result.draws["temperature"].shape == (2, 300)
    with pytest.raises(InvalidArgument, match="chains must be in"):
        InferenceConfig(chains=0)
    with pytest.raises(InvalidArgument, match="kernel must be one of"):
        InferenceConfig(kernel="hmc")
    # A summarised site the model does not sample fails each call, named with the
    # closest site (the fallback is served; the breaker counts the fault).
    bad = fp.ModelRunner(sensor, rng=7, fallback=(20.0, True), inference=MetropolisHastings(
        "single_site", chains=2, draws=50, warmup=10, sites=["temperatur"]))
    out = bad.infer(22.0)
    assert out.status == "fallback" and isinstance(out.error, InvalidArgument)
    assert "did you mean 'temperature'" in str(out.error)


def test_a_runner_serving_inference_pickles_with_it():
    import pickle

    r = runner()
    copy = pickle.loads(pickle.dumps(r))
    assert copy.inference.n == N and copy.inference.sites == ("temperature",)
    a, b = r.infer(22.0, seed=9), copy.infer(22.0, seed=9)
    np.testing.assert_array_equal(a.value.particles["temperature"],
                                  b.value.particles["temperature"])
    # The result pickles with its posterior.
    back = pickle.loads(pickle.dumps(a))
    assert back.value.log_evidence == a.value.log_evidence
    assert back.value.mean("temperature") == a.value.mean("temperature")
