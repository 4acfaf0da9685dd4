"""ModelRunner: validation, breaker, fallbacks, deadline and metrics around a model."""

import math
import threading

import pytest

import fugue_ppl as fp
from fugue_ppl.config import load_config
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.models import sensor
from fugue_ppl.validation import Finite, Range, Schema


def _runner(model=sensor, **kw):
    kw.setdefault("rng", 7)
    return fp.ModelRunner(model, **kw)


def test_ok_result_matches_a_pooled_run_with_the_same_seed():
    result = _runner().infer(22.0)
    value, trace = fp.run(fp.PooledPriorHandler(rng=7), sensor, 22.0)
    assert result.status == "ok" and result.ok and result.error is None
    assert result.value == value and result.trace == trace
    assert result.model_version == "1" and result.duration > 0
    assert result.fallback_sites == ()
    s = result.summary()
    assert s["choices"] == 3 and s["fallbacks"] == 0
    assert s["total_log_weight"] == trace.total_log_weight
    d = result.to_dict()
    assert d["status"] == "ok" and d["error"] is None and d["trace"] == s


def test_metrics_and_breaker_see_every_call():
    r = _runner()
    for _ in range(5):
        r.infer(22.0)
    assert r.metrics.inference_count == 5 and r.metrics.error_count == 0
    assert r.breaker.metrics["successful_calls"] == 5
    assert r.breaker.state == fp.BreakerState.HEALTHY


def test_invalid_input_is_rejected_before_the_model_runs():
    calls = []

    def model(reading):
        calls.append(reading)
        return sensor(reading)

    r = _runner(model, schema=Schema({"reading": Finite() & Range(-50, 150)}), fallback=0.0)
    with pytest.raises(fp.ValidationError, match="reading"):
        r.infer(float("nan"))
    with pytest.raises(fp.ValidationError, match="reading"):
        r.infer(reading=500.0)
    assert calls == [] and r.metrics.inference_count == 0
    assert r.breaker.metrics["allow_calls"] == 0
    assert r.infer(reading=21).status == "ok" and calls == [21.0]   # cleaned: int -> float


def test_a_failing_model_serves_the_fallback_and_counts_a_failure():
    def broken(x):
        raise KeyError("no such sensor")

    r = _runner(broken, fallback=(20.0, True))
    result = r.infer(1.0)
    assert result.status == "fallback" and result.value == (20.0, True)
    assert isinstance(result.error, KeyError) and result.trace is None
    assert r.metrics.errors == {"KeyError": 1} and r.metrics.fallbacks == 1
    assert r.breaker.metrics["failed_calls"] == 1


def test_without_fallback_the_error_is_raised():
    def broken(x):
        raise KeyError("no such sensor")

    r = _runner(broken)
    with pytest.raises(KeyError, match="no such sensor"):
        r.infer(1.0)
    assert r.breaker.metrics["failed_calls"] == 1


def test_a_callable_fallback_gets_the_error():
    seen = []

    def fallback(err):
        seen.append(type(err).__name__)
        return -1.0

    r = _runner(lambda x: 1 / 0, fallback=fallback)
    assert r.infer(1.0).value == -1.0 and seen == ["ZeroDivisionError"]


def _runaway():
    i = 0
    while True:
        fp.sample(fp.addr("w", i), fp.Normal(0.0, 1.0))
        i += 1


def test_a_runaway_model_times_out_mid_run():
    r = _runner(_runaway, deadline=0.02, fallback=0.0)
    result = r.infer()
    assert result.status == "timeout" and isinstance(result.error, fp.InferenceTimeout)
    assert 0.02 <= result.duration < 1.0
    assert r.metrics.timeouts == 1
    r2 = _runner(_runaway, deadline=0.02)
    with pytest.raises(fp.InferenceTimeout):
        r2.infer()


def test_an_open_breaker_does_not_call_the_model():
    calls = []

    def model():
        calls.append(1)
        raise RuntimeError("down")

    clock = fp.ManualClock()
    breaker = fp.CircuitBreaker(clock=clock, minimum_calls=4, window_size=4, open_duration=10.0)
    r = _runner(model, breaker=breaker, fallback="cached")
    statuses = [r.infer().status for _ in range(8)]
    assert statuses[:4] == ["fallback"] * 4 and statuses[4:] == ["rejected"] * 4
    assert len(calls) == 4 and breaker.state == fp.BreakerState.FAILED
    rejected = r.infer()
    assert isinstance(rejected.error, fp.CircuitOpenError) and rejected.value == "cached"

    r2 = _runner(model, breaker=breaker)
    with pytest.raises(fp.CircuitOpenError) as info:
        r2.infer()
    assert info.value.retry_after == pytest.approx(10.0)
    clock.advance(10.0)
    assert r.infer().status == "fallback" and len(calls) == 5    # a trial call in RECOVERY


def test_the_breaker_counts_every_permit_and_rejection_through_the_runner():
    # A closed breaker admits the runner's calls without its lock; the permit
    # is counted with the outcome, so the breaker's books still balance in
    # every state: HEALTHY, DEGRADED, FAILED (rejections) and RECOVERY (trials).
    fail = [False]

    def model():
        v = fp.sample("v", fp.Normal(0.0, 1.0))
        if fail[0]:
            raise RuntimeError("down")
        return v

    clock = fp.ManualClock()
    breaker = fp.CircuitBreaker(clock=clock, minimum_calls=10, window_size=10,
                                degraded_threshold=0.05, failure_threshold=0.5,
                                open_duration=5.0, half_open_permits=2)
    r = _runner(model, breaker=breaker, fallback=None)
    for _ in range(9):
        assert r.infer().status == "ok"
    fail[0] = True
    assert r.infer().status == "fallback"          # 1 of 10 failed: DEGRADED
    assert breaker.state == fp.BreakerState.DEGRADED
    m = breaker.metrics
    assert (m["permitted_calls"], m["successful_calls"], m["failed_calls"]) == (10, 9, 1)
    statuses = [r.infer().status for _ in range(8)]  # 6 of 10 failed: FAILED, then rejected
    assert statuses == ["fallback"] * 5 + ["rejected"] * 3
    assert breaker.state == fp.BreakerState.FAILED
    m = breaker.metrics
    assert (m["permitted_calls"], m["rejected_calls"], m["allow_calls"]) == (15, 3, 18)
    assert m["successful_calls"] + m["failed_calls"] == m["permitted_calls"]
    fail[0] = False
    clock.advance(5.0)
    assert [r.infer().status for _ in range(3)] == ["ok", "ok", "ok"]   # 2 trials heal it
    assert breaker.state == fp.BreakerState.HEALTHY
    m = breaker.metrics
    assert (m["permitted_calls"], m["rejected_calls"], m["successful_calls"]) == (18, 3, 12)
    assert m["transitions"]["RECOVERY->HEALTHY"] == 1
    assert r.metrics.inference_count == 18


def test_site_fallbacks_make_a_fallback_status():
    def model():
        return fp.sample("big", fp.LogNormal(800.0, 1.0))

    r = _runner(model, site_fallbacks={"big": 1.0})
    result = r.infer()
    assert result.status == "fallback" and result.value == 1.0
    assert result.fallback_sites == ("big",)
    assert r.metrics.fallbacks == 1 and r.breaker.metrics["successful_calls"] == 1


def test_config_supplies_version_deadline_and_pool():
    cfg = load_config(env={"FUGUE_MODEL__VERSION": "2024-11",
                           "FUGUE_RUNTIME__MAX_INFERENCE_TIME": "0.02",
                           "FUGUE_RUNTIME__POOL_MAX_SIZE": "3"})
    r = _runner(_runaway, config=cfg, fallback=0.0)
    result = r.infer()
    assert result.model_version == "2024-11" and result.status == "timeout"
    assert r.pool.max_size == 3


def test_settings_types_without_a_config():
    from fugue_ppl.serving import ModelConfig, RunnerConfig, RuntimeConfig
    r = _runner()
    assert type(r.config) is RunnerConfig and r.config == RunnerConfig()
    assert (r.version, r.breaker.name, r.deadline, r.pool.max_size, r.pool.min_size) == (
        ModelConfig().version, ModelConfig().name, RuntimeConfig().max_inference_time,
        RuntimeConfig().pool_max_size, RuntimeConfig().pool_min_size)
    assert r.breaker.config == fp.serving.BreakerConfig()
    cfg = RunnerConfig(model=ModelConfig(name="m", version="7"),
                       runtime=RuntimeConfig(max_inference_time=0.5, pool_max_size=2,
                                             pool_min_size=1),
                       breaker=fp.serving.BreakerConfig(window_size=10, minimum_calls=5),
                       metrics=fp.monitoring.MetricsConfig(enabled=False))
    r = _runner(config=cfg)
    assert r.config is cfg and (r.version, r.breaker.name, r.deadline) == ("7", "m", 0.5)
    assert (r.pool.max_size, r.pool.min_size, r.metrics) == (2, 1, None)
    assert r.breaker.config is cfg.breaker
    # a config section of another type is refused, naming the section
    from types import SimpleNamespace
    bad = SimpleNamespace(model=ModelConfig(), runtime=RuntimeConfig(), breaker={"window_size": 3},
                          metrics=fp.monitoring.MetricsConfig())
    with pytest.raises(TypeError) as info:
        _runner(config=bad)
    assert str(info.value) == ("ModelRunner: config must be a RunnerConfig or a "
                               "fugue_ppl.config.Config (its breaker a BreakerConfig), got "
                               "SimpleNamespace")


def test_the_runner_does_not_import_the_config():
    import subprocess
    import sys
    code = ("import sys, fugue_ppl as fp\n"
            "from fugue_ppl.models import sensor\n"
            "r = fp.ModelRunner(sensor, rng=0)\n"
            "from fugue_ppl.serving.health import HealthChecker\n"
            "HealthChecker(r, smoke_args=(22.0,)).check()\n"
            "print('fugue_ppl.config' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_runner_settings_are_checked_by_their_types():
    from fugue_ppl.serving import RuntimeConfig
    with pytest.raises(InvalidArgument) as info:
        RuntimeConfig(pool_max_size=2_000_000)
    assert str(info.value) == "RuntimeConfig: pool_max_size must be in [1, 1048576], got 2000000"
    with pytest.raises(InvalidArgument) as info:
        RuntimeConfig(pool_min_size=8, pool_max_size=4)
    assert str(info.value) == ("RuntimeConfig: pool_min_size must not exceed pool_max_size (4), "
                               "got 8")
    with pytest.raises(TypeError) as info:
        RuntimeConfig(max_inference_time="1s")
    assert str(info.value) == "RuntimeConfig: max_inference_time must be a real number, got str"


def test_bad_arguments():
    with pytest.raises(TypeError, match="model must be callable"):
        fp.ModelRunner(3)
    with pytest.raises(TypeError) as info:
        fp.ModelRunner(sensor, config={"a": 1})
    assert str(info.value) == ("ModelRunner: config must be a RunnerConfig or a "
                               "fugue_ppl.config.Config (its model a ModelConfig), got dict")
    with pytest.raises(TypeError, match="schema must be"):
        fp.ModelRunner(sensor, schema=object())
    with pytest.raises(TypeError, match="breaker must be"):
        fp.ModelRunner(sensor, breaker="x")
    with pytest.raises(TypeError, match="metrics must be"):
        fp.ModelRunner(sensor, metrics=1)
    for bad in (0, -1.0, math.nan, math.inf, 10 ** 400):
        with pytest.raises(InvalidArgument, match=r"^ModelRunner: deadline must be a finite "
                                                  r"number of seconds > 0, got "):
            fp.ModelRunner(sensor, deadline=bad)
    for bad in ("1", True):
        with pytest.raises(TypeError, match="^ModelRunner: deadline must be a real number, got"):
            fp.ModelRunner(sensor, deadline=bad)


def test_threads_share_a_runner_and_every_call_is_accounted_for():
    def flaky(x):
        v = fp.sample("v", fp.Uniform(0.0, 1.0))
        if v < 0.3:
            raise RuntimeError("injected")
        return v

    r = _runner(flaky, fallback=-1.0,
                breaker=fp.CircuitBreaker(minimum_calls=10**6, window_size=10**6))
    counts = {}
    lock = threading.Lock()

    def worker():
        local = {}
        for _ in range(500):
            st = r.infer(0.0).status
            local[st] = local.get(st, 0) + 1
        with lock:
            for k, v in local.items():
                counts[k] = counts.get(k, 0) + v

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts.values()) == 4000
    assert r.metrics.inference_count == 4000
    assert r.metrics.errors.get("RuntimeError", 0) == counts["fallback"]
    # 30% failures, 4000 calls: a 6-sigma band around 1200
    assert abs(counts["fallback"] - 1200) < 6 * math.sqrt(4000 * 0.3 * 0.7)


# ---------------------------------------------------------------- validate_trace

def test_validate_trace_on_a_healthy_trace():
    _, trace = fp.run(fp.PriorHandler(rng=1), sensor, 22.0)
    assert fp.validate_trace(trace) == []


def test_validate_trace_reports_each_problem():
    def model():
        fp.sample("huge", fp.Normal(1e9, 1.0))
        fp.factor(-math.inf)

    _, trace = fp.run(fp.PriorHandler(rng=1), model)
    kinds = [(i.address, i.kind) for i in fp.validate_trace(trace, max_abs=1e6)]
    assert kinds == [(None, "rejected"), ("huge", "extreme_value")]

    h = fp.RobustHandler(fp.ScoreGivenTrace(fp.Trace.from_dict({})), fallbacks={float: 0.0})
    with pytest.warns(fp.FugueWarning):
        _, t2 = fp.run(fp.SafeReplayHandler(fp.Trace.from_dict({}), rng=1),
                       lambda: fp.observe("y", fp.Normal(0.0, 1.0), math.nan))
    assert [(i.address, i.kind) for i in fp.validate_trace(t2)] == [
        (None, "rejected"), ("y", "non_finite_value")]
    _, t3 = fp.run(h, lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
    assert [(i.address, i.kind) for i in fp.validate_trace(t3)] == [("x", "fallback")]

    # A NaN weight cannot come out of a run (a NaN factor is an error), but a
    # trace restored from a damaged pickle can carry one.
    _, ok = fp.run(fp.PriorHandler(rng=1), lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
    restore, (choices, _, log_lik, log_fac) = ok.__reduce__()
    bad = restore([choices[0][:5] + (math.nan,)], math.nan, log_lik, log_fac)
    assert [(i.address, i.kind, i.message) for i in fp.validate_trace(bad)] == [
        (None, "non_finite_weight", "log_prior is nan"),
        (None, "non_finite_weight", "total_log_weight is nan")]


def test_validate_trace_bad_arguments():
    _, trace = fp.run(fp.PriorHandler(rng=1), sensor, 22.0)
    with pytest.raises(TypeError, match="must be a Trace"):
        fp.validate_trace({"x": 1})
    with pytest.raises(ValueError, match="max_abs"):
        fp.validate_trace(trace, max_abs=0)
    with pytest.raises(TypeError, match="max_abs"):
        fp.validate_trace(trace, max_abs="1")


def test_the_compiled_input_check_agrees_with_the_schema():
    schema = Schema({"a": Finite() & Range(0.0, 1.0, max_inclusive=False), "b": Finite()})
    r = _runner(lambda a, b: a + b, schema=schema)
    assert r.infer(0.0, 2.5).value == 2.5
    assert r.infer(0.5, -1.0).value == -0.5
    for bad in [(1.0, 0.0), (-1e-300, 0.0), (0.5, math.inf), (0.5, math.nan)]:
        with pytest.raises(fp.ValidationError):
            r.infer(*bad)
        with pytest.raises(fp.ValidationError):
            schema.validate_args(*bad)
    assert r.infer(0, 2).value == 2.0          # ints take the schema's path and become floats
    assert r.infer(b=1.0, a=0.25).value == 1.25


def test_deadline_property():
    assert _runner(deadline=0.25).deadline == 0.25
    assert _runner(deadline=None).deadline is None
    assert _runner().deadline == load_config().runtime.max_inference_time
    with pytest.raises(AttributeError):
        _runner().deadline = 1.0


def test_a_schema_of_no_fields_takes_no_arguments():
    from fugue_ppl.models import ref20
    r = _runner(ref20, schema=Schema({}), fallback=None)
    assert r.infer().status == "ok"
    with pytest.raises(fp.ValidationError):
        r.infer(1.0)
    with pytest.raises(fp.ValidationError):
        r.infer(x=1.0)
    assert r.metrics.inference_count == 1


def test_result_trace_is_made_on_first_read_and_goes_back_to_the_pool():
    import gc
    r = _runner()
    for _ in range(50):
        r.infer(22.0)                       # results dropped unread
    s = r.pool.stats
    assert (s.hits + s.misses, s.returns, s.misses) == (50, 50, 1)
    res = r.infer(22.0)
    t = res.trace
    assert t is res.trace                   # one Trace object, kept
    assert list(t) == ["temperature", "valid", "sensor"] and res.summary()["choices"] == 3
    assert res.summary()["total_log_weight"] == t.total_log_weight
    # The result (and its trace) outlive the runner: the pool stays alive with them.
    pool = r.pool
    res2 = r.infer(22.0)
    del r
    gc.collect()
    assert res2.summary()["choices"] == 3 and res2.trace["valid"] in (True, False)
    returns = pool.stats.returns
    del res2
    gc.collect()
    assert pool.stats.returns == returns + 1
    del t, res
    gc.collect()
    assert pool.stats.returns == returns + 2


def test_result_of_a_failed_call_has_no_trace_and_returns_its_trace_to_the_pool():
    def broken(x):
        fp.sample("x", fp.Normal(0.0, 1.0))
        raise RuntimeError("down")

    r = _runner(broken, fallback=0.0)
    res = r.infer(1.0)
    assert res.status == "fallback" and res.trace is None and res.summary() == {}
    assert res.fallback_sites == ()
    s = r.pool.stats
    assert s.hits + s.misses == s.returns + s.drops == 1


def test_metrics_follow_the_config():
    assert _runner().metrics.window == 60
    cfg = load_config(env={"FUGUE_METRICS__WINDOW_SECONDS": "30"})
    assert _runner(config=cfg).metrics.window == 30
    off = load_config(environment="development")          # its profile turns metrics off
    assert off.metrics.enabled is False
    r = _runner(config=off)
    assert r.metrics is None and r.infer(22.0).status == "ok"
    m = fp.ProductionMetrics()
    assert _runner(config=off, metrics=m).metrics is m      # an explicit one still counts


# ---------------------------------------------------------------- run keys (seed=)


def _sensor_reference(seed, key):
    import numpy as np
    g = np.random.default_rng([seed, key])
    return g.normal(20.0, 5.0), bool(g.random() < 0.95)


@pytest.mark.parametrize("schema", [None, Schema({"reading": Finite() & Range(-50.0, 150.0)})],
                         ids=["no schema", "schema"])
def test_infer_seed_is_the_runs_key_and_leaves_the_counter_alone(schema):
    r = _runner(schema=schema, site_fallbacks={bool: True})
    keyed = [r.infer(22.0, seed=k) for k in (5, 2**64 - 1, 2**70, 5)]
    assert [x.value for x in keyed] == [_sensor_reference(7, k) for k in (5, 2**64 - 1, 2**70, 5)]
    assert keyed[0].trace == keyed[3].trace
    # calls without a key take the counter: 0, 1, ...
    assert [r.infer(22.0).value for _ in range(2)] == [_sensor_reference(7, k) for k in (0, 1)]
    assert r.infer(reading=22.0, seed=9).value == _sensor_reference(7, 9)
    assert r.infer(22.0, seed=None).value == _sensor_reference(7, 2)
    assert r.metrics.inference_count == 8


@pytest.mark.parametrize("seed, exc, message", [
    (-1, InvalidArgument, "ModelRunner.infer: seed must be >= 0, got -1"),
    (1.0, TypeError, "ModelRunner.infer: seed must be an int >= 0 (a run key), got float"),
    (True, TypeError, "got bool"),
    ("1", TypeError, "got str"),
], ids=["negative", "float", "bool", "str"])
def test_infer_bad_seed_raises_naming_it_and_changes_nothing(seed, exc, message):
    r = _runner(fallback=(20.0, True))
    r.infer(22.0)                                       # key 0
    before = (r.pool.stats, r.metrics.inference_count, r.metrics.error_count,
              r.breaker.metrics, r.breaker.state)
    with pytest.raises(exc) as ei:
        r.infer(22.0, seed=seed)
    assert message in str(ei.value)
    if exc is InvalidArgument:
        assert (ei.value.owner, ei.value.parameter) == ("ModelRunner.infer", "seed")
    assert (r.pool.stats, r.metrics.inference_count, r.metrics.error_count,
            r.breaker.metrics, r.breaker.state) == before
    assert r.infer(22.0).value == _sensor_reference(7, 1)     # the counter did not move


def test_infer_seed_with_a_generator_runner_is_refused_before_anything_counts():
    import numpy as np
    r = _runner(rng=np.random.default_rng(3))
    with pytest.raises(InvalidArgument, match="seed cannot be honoured by a handler drawing "
                                              "from a numpy Generator"):
        r.infer(22.0, seed=1)
    assert r.metrics.inference_count == 0
    g = np.random.default_rng(3)
    assert r.infer(22.0).value == (g.normal(20.0, 5.0), bool(g.random() < 0.95))
