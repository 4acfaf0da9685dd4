"""Handler semantics: Prior, Replay, ScoreGivenTrace, the Safe variants and
PooledPriorHandler, with hypothesis properties over randomly generated models."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import fugue_ppl as fp

NEG_INF = -math.inf


def sensor(reading, mu=20.0, sigma=5.0, p=0.95):
    temp = fp.sample("temperature", fp.Normal(mu, sigma))
    valid = fp.sample("valid", fp.Bernoulli(p))
    fp.observe("sensor", fp.Normal(temp, 1.0), reading)
    return temp, valid


def lsum(xs):
    total = 0.0
    for x in xs:
        total += x
    return total


def norm_lp(x, mu, sigma):
    return float(stats.norm.logpdf(x, mu, sigma))


@pytest.fixture
def prior_trace():
    return fp.run(fp.PriorHandler(rng=42), sensor, 22.0)[1]


@pytest.fixture
def no_fugue_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", fp.FugueWarning)
        yield


# ---------------------------------------------------------------- construction


def test_handler_construction_and_base():
    base = fp.Trace.from_dict({"x": 1.0})
    assert fp.PriorHandler(rng=0).base is None
    assert fp.PooledPriorHandler(rng=0).base is None
    for h in (fp.ReplayHandler(base, rng=0), fp.ScoreGivenTrace(base),
              fp.SafeReplayHandler(base, rng=0), fp.SafeScoreGivenTrace(base)):
        assert h.base is base
        assert isinstance(h, fp.Handler)
        assert repr(h) == f"{type(h).__name__}()"
    pool = fp.TracePool(3)
    assert fp.PooledPriorHandler(rng=0, pool=pool).pool is pool
    default_pool = fp.PooledPriorHandler(rng=0).pool
    assert isinstance(default_pool, fp.TracePool) and default_pool.max_size == 64


@pytest.mark.parametrize("cls", [fp.ReplayHandler, fp.ScoreGivenTrace, fp.SafeReplayHandler,
                                 fp.SafeScoreGivenTrace])
@pytest.mark.parametrize("base", [None, {"x": 1.0}, "trace", 1.0])
def test_base_must_be_a_trace(cls, base):
    with pytest.raises(TypeError, match=rf"{cls.__name__}: base must be a Trace, got"):
        cls(base)


def test_pool_must_be_a_trace_pool():
    with pytest.raises(TypeError, match="pool must be a TracePool, got int"):
        fp.PooledPriorHandler(rng=0, pool=8)


# ---------------------------------------------------------------- prior


def test_prior_handler_draws_every_sample_from_each_runs_own_stream():
    # Run k of a handler seeded with 1 draws default_rng([1, k]) from its start.
    h = fp.PriorHandler(rng=1)
    (t1, v1), tr1 = fp.run(h, sensor, 22.0)
    (t2, v2), tr2 = fp.run(h, sensor, 22.0)
    ref = np.random.default_rng([1, 0])
    assert t1 == ref.normal(20.0, 5.0) and v1 == bool(ref.random() < 0.95)
    ref = np.random.default_rng([1, 1])
    assert t2 == ref.normal(20.0, 5.0) and v2 == bool(ref.random() < 0.95)
    assert tr1 != tr2


def test_pooled_prior_handler_gives_the_prior_handlers_traces():
    pooled, plain = fp.PooledPriorHandler(rng=3, pool=fp.TracePool(2)), fp.PriorHandler(rng=3)
    for reading in (20.0, 21.0, 22.0, 23.0):
        v1, t1 = fp.run(pooled, sensor, reading)
        v2, t2 = fp.run(plain, sensor, reading)
        assert v1 == v2 and t1 == t2
        t1.release()


@pytest.mark.parametrize("make", [
    lambda: fp.PriorHandler(rng=0),
    lambda: fp.PooledPriorHandler(rng=0),
    lambda: fp.ReplayHandler(fp.Trace(), rng=0),
], ids=["prior", "pooled", "replay"])
def test_strict_handlers_reject_a_duplicate_address(make):
    def model():
        fp.sample("x", fp.Normal(0.0, 1.0))
        fp.sample("y", fp.Bernoulli(0.5))
        fp.sample("x", fp.Bernoulli(0.5))

    with pytest.raises(fp.AddressConflict) as ei:
        fp.run(make(), model)
    assert ei.value.code == 301 and ei.value.address == "x"
    assert str(ei.value) == "[301] sample('x'): address 'x' was already used in this run"
    assert isinstance(ei.value, ValueError)


# ---------------------------------------------------------------- replay


def test_replay_uses_the_base_values(prior_trace, no_fugue_warnings):
    for rng in (0, 1, 99):
        value, t = fp.run(fp.ReplayHandler(prior_trace, rng=rng), sensor, 22.0)
        assert t == prior_trace
        assert value == (prior_trace["temperature"], prior_trace["valid"])


def test_replay_draws_fresh_where_the_base_lacks_the_address(prior_trace):
    def model():
        temp = fp.sample("temperature", fp.Normal(20.0, 5.0))
        hum = fp.sample("humidity", fp.Normal(50.0, 10.0))
        return temp, hum

    (temp, hum), t = fp.run(fp.ReplayHandler(prior_trace, rng=5), model)
    assert temp == prior_trace["temperature"]
    # replayed sites consume no randomness: the fresh one is the stream's first draw
    assert hum == np.random.default_rng(5).normal(50.0, 10.0)
    assert t.choice("humidity").log_prob == pytest.approx(norm_lp(hum, 50.0, 10.0), rel=1e-12)
    assert t.log_prior == t.choice("temperature").log_prob + t.choice("humidity").log_prob


def test_replay_rescores_replayed_values_under_the_current_model(prior_trace):
    temp, valid = prior_trace["temperature"], prior_trace["valid"]
    _, t = fp.run(fp.ReplayHandler(prior_trace, rng=0), sensor, 22.0, mu=25.0, sigma=2.0, p=0.6)
    assert t["temperature"] == temp and t["valid"] is valid
    assert t.choice("temperature").log_prob == pytest.approx(norm_lp(temp, 25.0, 2.0), rel=1e-12)
    assert t.choice("valid").log_prob == pytest.approx(math.log(0.6 if valid else 0.4), rel=1e-12)
    assert t.log_prior == t.choice("temperature").log_prob + t.choice("valid").log_prob


@pytest.mark.parametrize("base_value, dist, holds", [
    (1.5, fp.Bernoulli(0.5), "bool"),        # base float, model now Bernoulli
    (True, fp.Normal(0.0, 1.0), "float64"),  # base bool, model Normal
    (2, fp.Bernoulli(0.5), "bool"),          # base int, model Bernoulli
    (1.0, fp.Categorical([0.5, 0.5]), "int64"),
], ids=["float->bool", "bool->float", "int->bool", "float->int"])
@pytest.mark.parametrize("cls", [fp.ReplayHandler, fp.ScoreGivenTrace])
def test_strict_type_clash_is_a_type_mismatch(cls, base_value, dist, holds):
    base = fp.Trace.from_dict({"valid": base_value})
    h = cls(base, rng=0) if cls is fp.ReplayHandler else cls(base)
    with pytest.raises(fp.TypeMismatch) as ei:
        fp.run(h, lambda: fp.sample("valid", dist))
    err = ei.value
    assert err.code == 600 and err.address == "valid" and isinstance(err, TypeError)
    assert str(err) == (f"[600] sample('valid'): the base trace's value at 'valid' is not a "
                        f"{holds} as {dist.name} produces")


# ---------------------------------------------------------------- score


def test_score_takes_every_value_from_the_base_and_stores_fresh_log_probs(prior_trace):
    temp, valid = prior_trace["temperature"], prior_trace["valid"]
    value, t = fp.run(fp.ScoreGivenTrace(prior_trace), sensor, 24.0, mu=18.0, sigma=3.0, p=0.7)
    assert value == (temp, valid)
    lp_t = norm_lp(temp, 18.0, 3.0)
    lp_v = math.log(0.7 if valid else 0.3)
    lp_s = norm_lp(24.0, temp, 1.0)
    assert t.choice("temperature").log_prob == pytest.approx(lp_t, rel=1e-12)
    assert t.choice("valid").log_prob == pytest.approx(lp_v, rel=1e-12)
    # observations come from the model, not from the base
    assert t["sensor"] == 24.0
    assert t.choice("sensor").log_prob == pytest.approx(lp_s, rel=1e-12)
    assert t.log_prior == t.choice("temperature").log_prob + t.choice("valid").log_prob
    assert t.log_likelihood == t.choice("sensor").log_prob
    assert t.log_prior != prior_trace.log_prior


def test_scoring_the_same_model_reproduces_the_trace_and_uses_no_randomness(prior_trace):
    h = fp.ScoreGivenTrace(prior_trace)
    assert fp.run(h, sensor, 22.0)[1] == prior_trace
    assert fp.run(h, sensor, 22.0)[1] == prior_trace


@pytest.mark.parametrize("cls", [fp.ScoreGivenTrace, fp.ReplayHandler])
def test_score_reports_a_missing_address_as_unexpected_structure(prior_trace, cls):
    def model():
        sensor(22.0)
        fp.sample("humidity", fp.Normal(50.0, 10.0))

    if cls is fp.ReplayHandler:  # replay draws instead: no error
        _, t = fp.run(cls(prior_trace, rng=0), model)
        assert "humidity" in t
        return
    with pytest.raises(fp.UnexpectedModelStructure) as ei:
        fp.run(cls(prior_trace), model)
    err = ei.value
    assert err.code == 302 and err.address == "humidity"
    assert isinstance(err, KeyError) and isinstance(err, fp.FugueError)
    assert str(err) == "[302] sample('humidity'): the base trace has no value at address 'humidity'"


def test_score_rejects_a_duplicate_address(prior_trace):
    def model():
        sensor(22.0)
        fp.sample("temperature", fp.Normal(20.0, 5.0))

    with pytest.raises(fp.AddressConflict, match="'temperature'"):
        fp.run(fp.ScoreGivenTrace(prior_trace), model)


# ---------------------------------------------------------------- safe variants


def test_safe_handlers_on_a_clean_run_equal_the_strict_ones(prior_trace, no_fugue_warnings):
    assert fp.run(fp.SafeScoreGivenTrace(prior_trace), sensor, 22.0)[1] == prior_trace
    assert fp.run(fp.SafeReplayHandler(prior_trace, rng=3), sensor, 22.0)[1] == prior_trace
    _, t1 = fp.run(fp.SafeReplayHandler(fp.Trace(), rng=3), sensor, 22.0)
    _, t2 = fp.run(fp.ReplayHandler(fp.Trace(), rng=3), sensor, 22.0)
    assert t1 == t2


def test_safe_score_missing_address_adds_minus_inf_and_warns(prior_trace):
    def model():
        sensor(22.0)
        hum = fp.sample("humidity", fp.Normal(50.0, 10.0))
        k = fp.sample("level", fp.Categorical([0.5, 0.5]))
        b = fp.sample("flag", fp.Bernoulli(0.5))
        return hum, k, b

    with pytest.warns(fp.FugueWarning) as rec:
        (hum, k, b), t = fp.run(fp.SafeScoreGivenTrace(prior_trace), model)
    msgs = [str(w.message) for w in rec]
    assert msgs == [f"[302] sample({a!r}): the base trace has no value at address {a!r} "
                    "(the safe handler added -inf)" for a in ("humidity", "level", "flag")]
    assert (hum, k, b) == (0.0, 0, False)
    assert type(hum) is float and type(k) is int and type(b) is bool
    assert [t.choice(a).log_prob for a in ("humidity", "level", "flag")] == [NEG_INF] * 3
    assert t.log_prior == NEG_INF
    assert t.log_likelihood == prior_trace.log_likelihood  # the rest is scored normally
    assert t["temperature"] == prior_trace["temperature"]


def test_safe_score_type_clash_adds_minus_inf_and_warns():
    base = fp.Trace.from_dict({"valid": 0.7, "x": 1.0})

    def model():
        v = fp.sample("valid", fp.Bernoulli(0.5))
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        return v, x

    with pytest.warns(fp.FugueWarning, match=r"\[600\] sample\('valid'\)") as rec:
        (v, x), t = fp.run(fp.SafeScoreGivenTrace(base), model)
    assert len(rec) == 1
    assert v is False and x == 1.0
    assert t.choice("valid").log_prob == NEG_INF
    assert t.choice("x").log_prob == pytest.approx(norm_lp(1.0, 0.0, 1.0), rel=1e-12)
    assert t.log_prior == NEG_INF


def test_safe_replay_type_clash_draws_fresh_adds_minus_inf_and_warns():
    base = fp.Trace.from_dict({"valid": 0.7})

    def model():
        return fp.sample("valid", fp.Bernoulli(0.3)), fp.sample("z", fp.Normal(0.0, 1.0))

    with pytest.warns(fp.FugueWarning, match=r"\[600\] sample\('valid'\).*not a bool") as rec:
        (v, z), t = fp.run(fp.SafeReplayHandler(base, rng=4), model)
    assert len(rec) == 1
    ref = np.random.default_rng(4)
    assert v == bool(ref.random() < 0.3)  # a fresh draw
    assert z == ref.normal(0.0, 1.0)
    assert t["valid"] is v and t.log_prior == NEG_INF


def test_safe_replay_type_clash_keeps_choices_and_log_prior_consistent():
    base = fp.Trace.from_dict({"valid": 0.7})
    with pytest.warns(fp.FugueWarning):
        _, t = fp.run(fp.SafeReplayHandler(base, rng=4),
                      lambda: fp.sample("valid", fp.Bernoulli(0.3)))
    assert lsum(c.log_prob for c in t.choices if c.kind == "sample") == t.log_prior


@pytest.mark.parametrize("cls", [fp.SafeReplayHandler, fp.SafeScoreGivenTrace])
def test_safe_duplicate_keeps_the_first_choice_adds_minus_inf_and_warns(cls):
    base = fp.Trace.from_dict({"x": 0.5, "z": 2.0})
    h = cls(base, rng=0) if cls is fp.SafeReplayHandler else cls(base)

    def model():
        a = fp.sample("x", fp.Normal(0.0, 1.0))
        b = fp.sample("x", fp.Normal(3.0, 1.0))
        c = fp.sample("z", fp.Normal(0.0, 1.0))
        return a, b, c

    with pytest.warns(fp.FugueWarning, match=r"\[301\] sample\('x'\): address 'x' was already "
                      r"used in this run \(the safe handler added -inf\)"):
        (a, b, c), t = fp.run(h, model)
    assert (a, b, c) == (0.5, 0.5, 2.0)
    assert t.keys() == ["x", "z"]
    assert t.choice("x").log_prob == pytest.approx(norm_lp(0.5, 0.0, 1.0), rel=1e-12)
    assert t.log_prior == NEG_INF


@pytest.mark.parametrize("cls", [fp.SafeReplayHandler, fp.SafeScoreGivenTrace])
def test_safe_duplicate_observation_adds_minus_inf_to_the_likelihood(cls, prior_trace):
    def model():
        temp, _ = sensor(22.0)
        fp.observe("sensor", fp.Normal(temp, 1.0), 30.0)
        fp.observe("temperature", fp.Normal(20.0, 5.0), 21.0)

    with pytest.warns(fp.FugueWarning) as rec:
        _, t = fp.run(cls(prior_trace), model)
    assert [str(w.message) for w in rec] == [
        f"[301] observe({a!r}): address {a!r} was already used in this run "
        "(the safe handler added -inf)" for a in ("sensor", "temperature")]
    assert t.keys() == ["temperature", "valid", "sensor"]
    assert t["sensor"] == 22.0  # the first observation is kept
    assert t.log_likelihood == NEG_INF
    assert t.log_prior == prior_trace.log_prior


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("make", [
    lambda b: fp.PriorHandler(rng=0),
    lambda b: fp.PooledPriorHandler(rng=0),
    lambda b: fp.ReplayHandler(b, rng=0),
    lambda b: fp.ScoreGivenTrace(b),
], ids=["prior", "pooled", "replay", "score"])
def test_strict_handlers_reject_non_finite_observations(make, bad, prior_trace):
    with pytest.raises(fp.InvalidObservation) as ei:
        fp.run(make(prior_trace), sensor, bad)
    err = ei.value
    assert err.code == 601 and err.address == "sensor" and isinstance(err, ValueError)
    assert str(err) == ("[601] observe('sensor'): the observed value is NaN, infinite or "
                        "beyond the range of a float")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("make", [
    lambda b: fp.SafeReplayHandler(b, rng=0),
    lambda b: fp.SafeScoreGivenTrace(b),
], ids=["safe-replay", "safe-score"])
def test_safe_handlers_turn_non_finite_observations_into_minus_inf(make, bad, prior_trace):
    def model():
        temp, _ = sensor(bad)
        fp.observe("ok", fp.Normal(temp, 1.0), 21.0)
        return temp

    with pytest.warns(fp.FugueWarning, match=r"\[601\] observe\('sensor'\)") as rec:
        temp, t = fp.run(make(prior_trace), model)
    assert len(rec) == 1
    assert temp == prior_trace["temperature"]
    assert t.keys() == ["temperature", "valid", "sensor", "ok"]
    assert t.choice("sensor").log_prob == NEG_INF
    assert t.log_likelihood == NEG_INF
    assert t.log_prior == prior_trace.log_prior
    assert t.choice("ok").log_prob == pytest.approx(norm_lp(21.0, temp, 1.0), rel=1e-12)


@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["nan", "+inf"])
def test_non_finite_factor_strict_raises_safe_adds_minus_inf(bad, prior_trace):
    def model():
        fp.factor(-1.0)
        fp.factor(bad)
        fp.factor(-2.0)
        return fp.sample("temperature", fp.Normal(20.0, 5.0))

    for make in (lambda: fp.PriorHandler(rng=0), lambda: fp.ReplayHandler(prior_trace),
                 lambda: fp.ScoreGivenTrace(prior_trace)):
        with pytest.raises(fp.InvalidObservation, match=r"\[601\] factor\(\): the log-weight "
                           r"must not be NaN, \+inf or beyond the range of a float") as ei:
            fp.run(make(), model)
        assert ei.value.address is None
    for make in (lambda: fp.SafeReplayHandler(prior_trace),
                 lambda: fp.SafeScoreGivenTrace(prior_trace)):
        with pytest.warns(fp.FugueWarning, match=r"\[601\] factor\(\)"):
            value, t = fp.run(make(), model)
        assert value == prior_trace["temperature"]
        assert t.log_factors == NEG_INF
        assert math.isfinite(t.log_prior)


def test_safe_handler_warnings_point_at_the_users_code():
    base = fp.Trace.from_dict({})
    with pytest.warns(fp.FugueWarning) as rec:
        fp.run(fp.SafeScoreGivenTrace(base), lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
    assert rec[0].filename == __file__


def test_a_handler_keeps_its_pooled_base_alive_after_the_base_is_released():
    pool = fp.TracePool(2)
    _, base = fp.run(fp.PooledPriorHandler(rng=0, pool=pool), sensor, 22.0)
    expected = base.to_dict()
    h = fp.ScoreGivenTrace(base)
    assert h.base is not base and h.base == base    # the handler's own copy
    base.release()
    pool.clear()
    _, scored = fp.run(h, sensor, 22.0)
    assert scored.to_dict() == expected
    with pytest.raises(fp.FugueError, match="released"):
        fp.ReplayHandler(base)


# ---------------------------------------------------------------- properties

_mu = st.floats(-50.0, 50.0, allow_nan=False)
_sigma = st.floats(0.1, 10.0)
_p = st.floats(0.0, 1.0)
_weights = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5).filter(lambda w: sum(w) > 0.01)
_factor_w = st.one_of(st.floats(-50.0, 5.0), st.just(NEG_INF))

_SITE = st.one_of(
    st.tuples(st.just("normal"), st.tuples(_mu, _sigma)),
    st.tuples(st.just("bernoulli"), st.tuples(_p)),
    st.tuples(st.just("categorical"), st.tuples(_weights)),
    st.tuples(st.just("obs_normal"), st.tuples(_mu, _sigma, st.floats(-100.0, 100.0))),
    st.tuples(st.just("obs_bernoulli"), st.tuples(_p, st.booleans())),
    st.tuples(st.just("obs_categorical"), st.tuples(_weights, st.integers(-1, 5))),
    st.tuples(st.just("factor"), st.tuples(_factor_w)),
)


@st.composite
def models(draw, max_sites=14):
    sites = draw(st.lists(_SITE, max_size=max_sites))
    names = draw(st.lists(st.text("abcxyz_[]',.0123", min_size=1, max_size=4),
                          min_size=len(sites), max_size=len(sites), unique=True))
    out = []
    for i, ((kind, params), name) in enumerate(zip(sites, names)):
        # both plain names (unique) and indexed names
        out.append((kind, name if i % 2 else fp.addr(name, i), params))
    return out


def _dist(kind, params, shift=False):
    if kind in ("normal", "obs_normal"):
        mu, sigma = params[0], params[1]
        return fp.Normal(mu + (1.5 if shift else 0.0), sigma * (2.0 if shift else 1.0))
    if kind in ("bernoulli", "obs_bernoulli"):
        return fp.Bernoulli(1.0 - params[0] if shift else params[0])
    w = np.asarray(params[0], dtype=float)
    probs = w / w.sum()
    return fp.Categorical(probs[::-1] if shift else probs)


def generic_model(sites, shift=False):
    """Execute the sites in order; observations depend on the last Normal sample."""
    last = 0.0
    values = []
    for kind, name, params in sites:
        if kind == "factor":
            fp.factor(params[0])
            values.append(params[0])
        elif kind.startswith("obs_"):
            d = _dist(kind, params, shift)
            if kind == "obs_normal":
                d = fp.Normal(d.mu + last, d.sigma)
            fp.observe(name, d, params[-1])
            values.append(params[-1])
        else:
            v = fp.sample(name, _dist(kind, params, shift))
            if kind == "normal":
                last = v
            values.append(v)
    return values


def _check_accumulators(trace, sites):
    cs = trace.choices
    assert trace.log_prior == lsum(c.log_prob for c in cs if c.kind == "sample")
    assert trace.log_likelihood == lsum(c.log_prob for c in cs if c.kind == "observe")
    assert trace.log_factors == lsum(p[0] for k, _, p in sites if k == "factor")
    assert trace.total_log_weight == (trace.log_prior + trace.log_likelihood) + trace.log_factors


def _check_fresh_log_probs(trace, sites, shift=False):
    """Each stored log-prob is the site's distribution's log-prob of the stored value."""
    last = 0.0
    for kind, name, params in sites:
        if kind == "factor":
            continue
        c = trace.choice(name)
        d = _dist(kind, params, shift)
        if kind == "obs_normal":
            d = fp.Normal(d.mu + last, d.sigma)
        lp = d.log_prob(c.value)
        assert c.log_prob == lp or (math.isnan(lp) and math.isnan(c.log_prob)), (name, c, lp)
        if kind == "normal":
            last = c.value


@settings(max_examples=60, deadline=None)
@given(sites=models(), seed=st.integers(0, 2 ** 32))
def test_property_log_prob_sums_equal_the_accumulators(sites, seed):
    values, trace = fp.run(fp.PriorHandler(rng=seed), generic_model, sites)
    names = [n for k, n, _ in sites if k != "factor"]
    assert trace.keys() == names
    assert [c.kind for c in trace.choices] == [
        "observe" if k.startswith("obs_") else "sample" for k, _, _ in sites if k != "factor"]
    assert trace.values() == [v for (k, _, _), v in zip(sites, values) if k != "factor"]
    _check_accumulators(trace, sites)
    _check_fresh_log_probs(trace, sites)


@settings(max_examples=60, deadline=None)
@given(sites=models(), seed=st.integers(0, 2 ** 32), other=st.integers(0, 2 ** 32))
def test_property_scoring_and_replaying_a_prior_trace_reproduce_it(sites, seed, other):
    values, prior = fp.run(fp.PriorHandler(rng=seed), generic_model, sites)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fp.FugueWarning)
        for h in (fp.ScoreGivenTrace(prior), fp.SafeScoreGivenTrace(prior),
                  fp.ReplayHandler(prior, rng=other), fp.SafeReplayHandler(prior, rng=other)):
            v, t = fp.run(h, generic_model, sites)
            assert t == prior, type(h).__name__
            assert v == values
            assert t.log_prior == prior.log_prior
            assert t.log_likelihood == prior.log_likelihood
            assert t.log_factors == prior.log_factors
            assert t.total_log_weight == prior.total_log_weight


@settings(max_examples=60, deadline=None)
@given(sites=models(), seed=st.integers(0, 2 ** 32))
def test_property_rescoring_under_changed_parameters_stores_fresh_log_probs(sites, seed):
    _, prior = fp.run(fp.PriorHandler(rng=seed), generic_model, sites)
    sampled = [n for k, n, _ in sites if k in ("normal", "bernoulli", "categorical")]
    _, t = fp.run(fp.ScoreGivenTrace(prior), generic_model, sites, shift=True)
    assert [t[n] for n in sampled] == [prior[n] for n in sampled]
    _check_fresh_log_probs(t, sites, shift=True)
    _check_accumulators(t, sites)
    _, r = fp.run(fp.ReplayHandler(prior, rng=seed + 1), generic_model, sites, shift=True)
    assert r == t  # replaying a full trace is scoring it


@settings(max_examples=60, deadline=None)
@given(sites=models(), seed=st.integers(0, 2 ** 32), data=st.data())
def test_property_partial_replay(sites, seed, data):
    _, prior = fp.run(fp.PriorHandler(rng=seed), generic_model, sites)
    sampled = [n for k, n, _ in sites if k in ("normal", "bernoulli", "categorical")]
    keep = data.draw(st.lists(st.sampled_from(sampled), unique=True) if sampled else st.just([]))
    base = fp.Trace.from_dict({n: prior[n] for n in keep})
    _, t1 = fp.run(fp.ReplayHandler(base, rng=seed + 7), generic_model, sites)
    _, t2 = fp.run(fp.ReplayHandler(base, rng=seed + 7), generic_model, sites)
    assert t1 == t2  # deterministic given the seed
    for n in keep:
        assert t1[n] == prior[n]
        assert t1.choice(n).log_prob == prior.choice(n).log_prob
    assert t1.keys() == prior.keys()
    _check_accumulators(t1, sites)
    _check_fresh_log_probs(t1, sites)
    if set(keep) == set(sampled):
        assert t1 == prior


# ---------------------------------------------------------------- every distribution kind

_KINDS = [
    ("Normal", (1.0, 2.0), float), ("Uniform", (-1.0, 3.0), float),
    ("LogNormal", (0.0, 0.5), float), ("Exponential", (2.0,), float),
    ("Beta", (2.0, 3.0), float), ("Gamma", (2.0, 1.5), float),
    ("Bernoulli", (0.3,), bool), ("Binomial", (10, 0.4), int),
    ("Categorical", ([0.2, 0.3, 0.5],), int), ("Poisson", (3.5,), int),
    ("StudentT", (4.0, 0.0, 1.0), float), ("Cauchy", (0.0, 1.0), float),
    ("Laplace", (0.0, 1.0), float), ("Weibull", (1.5, 2.0), float),
    ("ChiSquared", (3.0,), float), ("InverseGamma", (3.0, 2.0), float),
    ("DiscreteUniform", (1, 6), int),
]


@pytest.mark.parametrize("name, args, pytype", _KINDS, ids=[k[0] for k in _KINDS])
def test_every_distribution_kind_runs_through_the_handlers(name, args, pytype):
    cls = getattr(fp, name, None)
    if cls is None:  # pragma: no cover - the distribution is not built yet
        pytest.skip(f"fp.{name} does not exist yet")
    dist = cls(*args)

    def model():
        v = fp.sample("v", dist)
        fp.observe("o", dist, v)
        return v

    v, t = fp.run(fp.PriorHandler(rng=11), model)
    assert type(v) is pytype
    assert t["v"] == v and t["o"] == v and type(t["o"]) is pytype
    lp = dist.log_prob(v)
    assert math.isfinite(lp)
    assert t.choice("v").log_prob == lp and t.log_prior == lp
    assert t.choice("o").log_prob == lp and t.log_likelihood == lp
    assert fp.run(fp.PriorHandler(rng=11), model)[1] == t
    assert fp.run(fp.ScoreGivenTrace(t), model)[1] == t
    assert fp.run(fp.ReplayHandler(t, rng=0), model)[1] == t
    wrong = True if pytype is not bool else 0.5
    with pytest.raises(fp.TypeMismatch, match="'v'"):
        fp.run(fp.ScoreGivenTrace(fp.Trace.from_dict({"v": wrong})), model)
