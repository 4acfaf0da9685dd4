"""InferenceResult and ModelRunner pickle, so they can be sent to worker processes.

A result pickles as its value, status, version, duration, trace and its error's kind, code
and id, never the error's text. A runner pickles as its configuration and its random state
and unpickles as a fresh runner (a HEALTHY breaker, new metrics, a new pool): the same
``infer(x, seed=k)`` gives the same result in the copy, in this process or another. A
runner whose model has no importable name is refused with an error naming it."""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import multiprocessing
import os
import pickle
import textwrap

import numpy as np
import pytest

import fugue_ppl as fp
from fugue_ppl.config import Config
from fugue_ppl.errors import RedactedError, public_error
from fugue_ppl.models import SENSOR_SCHEMA, sensor
from fugue_ppl.serving import RunnerConfig
from fugue_ppl.serving._runner_config import ModelConfig, RuntimeConfig

MODELS = "fugue_pickle_models"
SECRET = "open /srv/app/secrets.toml failed: token=sk-live-4f9a8b7c6d5e"
# Models the tests and the worker processes import by name (a module on their sys.path).
SOURCE = textwrap.dedent(f'''\
    import os

    import fugue_ppl as fp

    SECRET = {SECRET!r}


    class LeakyError(Exception):
        pass


    def noisy(x):
        """x plus a normal draw; fails with a secret in its text on a negative x."""
        z = fp.sample("z", fp.Normal(0.0, 1.0))
        k = fp.sample("k", fp.Poisson(2.0))
        if x < 0:
            raise LeakyError(SECRET)
        return x + z, k


    def big_site(x):
        """A site whose draw is replaced by its site fallback when it is not finite."""
        v = fp.sample("big", fp.LogNormal(800.0, 1.0))     # exp(~800): inf
        w = fp.sample("w", fp.LogNormal(0.0, 1.0))
        return v + w


    def cheap(x):
        return x


    def fallback_of(error):
        return ("fallback", type(error).__name__)


    def run_seeds(runner, calls):
        """Each (args, seed) call through the runner, in this process: the results."""
        return [runner.infer(*args, seed=seed) for args, seed in calls]


    def describe(runner):
        """What a runner is, as seen in this process."""
        return (runner.config, runner.breaker.state.name, runner.metrics.inference_count,
                runner.pool is not None and len(runner.pool), os.getpid())
''')


@pytest.fixture(scope="module")
def models(module_on_path):
    module_on_path(MODELS, SOURCE)
    return importlib.import_module(MODELS)


@pytest.fixture(scope="module")
def spawn_pool(models):
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


LAMBDA = lambda x: x  # noqa: E731 - a module-level lambda: it has no importable name either


def _copy(obj, protocol=pickle.HIGHEST_PROTOCOL):
    return pickle.loads(pickle.dumps(obj, protocol=protocol))


def _fields(res):
    return (res.value, res.status, res.model_version, res.duration, res.error_id,
            res.fallback_sites, res.summary(), res.to_dict())


def _same_results(a, b):
    for x, y in zip(a, b, strict=True):
        assert (x.value, x.status, x.model_version, x.error_id is None) == (
            y.value, y.status, y.model_version, y.error_id is None)
        assert x.trace == y.trace
        if x.trace is not None:
            assert x.trace.choices == y.trace.choices
        assert (None if x.error is None else public_error(x.error, "")) == (
            None if y.error is None else public_error(y.error, ""))


# ---------------------------------------------------------------- results

@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_an_ok_result_pickles_with_every_field_and_its_trace(protocol):
    runner = fp.ModelRunner(sensor, rng=3, config=RunnerConfig(
        model=ModelConfig(name="s", version="7")))
    res = runner.infer(22.0, seed=5)
    again = _copy(res, protocol)
    assert type(again) is fp.InferenceResult
    assert _fields(again) == _fields(res)
    assert again.status == "ok" and again.ok and again.model_version == "7"
    assert again.error is None and again.error_id is None
    assert again.trace == res.trace and again.trace.choices == res.trace.choices
    assert again.trace.to_dict() == res.trace.to_dict()


def test_a_pooled_trace_travels_as_its_data():
    runner = fp.ModelRunner(sensor, rng=3)
    res = runner.infer(22.0)
    blob = pickle.dumps(res)
    res.trace.release()                       # back to the runner's pool
    again = pickle.loads(blob)
    assert again.trace["temperature"] == runner.infer(22.0, seed=0).trace["temperature"]


def test_a_failed_result_carries_the_errors_kind_code_and_id_never_its_text(models):
    runner = fp.ModelRunner(models.noisy, rng=1, fallback=0.0)
    res = runner.infer(-1.0)
    assert res.status == "fallback" and str(res.error) == SECRET   # the server keeps it
    blob = pickle.dumps(res)
    assert b"sk-live" not in blob and b"secrets.toml" not in blob and b"LeakyError" not in blob
    again = pickle.loads(blob)
    assert _fields(again) == _fields(res)
    assert again.to_dict()["error"] == {"kind": "model_error", "code": 900, "id": res.error_id}
    assert type(again.error) is RedactedError
    assert (again.error.kind, again.error.code, again.error.error_id) == (
        "model_error", 900, res.error_id)
    assert "sk-live" not in str(again.error) and res.error_id in str(again.error)
    assert again.trace is None
    # a copy of the copy is the same
    assert _fields(_copy(again)) == _fields(res)


def test_timeout_and_rejected_results_keep_their_kinds(models):
    clock = fp.ManualClock()
    breaker = fp.CircuitBreaker(failure_threshold=0.5, minimum_calls=2, clock=clock)
    runner = fp.ModelRunner(models.noisy, fallback=0.0, rng=1, breaker=breaker)
    for _ in range(4):
        res = runner.infer(-1.0)
    assert res.status == "rejected"
    assert _copy(res).to_dict() == res.to_dict()
    assert _copy(res).to_dict()["error"]["kind"] == "circuit_open"
    timed = fp.ModelRunner(models.noisy, fallback=0.0, rng=1, deadline=1e-9)
    res = timed.infer(1.0)
    assert res.status == "timeout"
    again = _copy(res)
    assert again.to_dict() == res.to_dict() and again.error.code == 800


def test_a_redacted_error_keeps_its_public_rendering():
    err = RedactedError("address_conflict", 301, "abc")
    assert public_error(err, "abc") == {"kind": "address_conflict", "code": 301, "id": "abc"}
    again = _copy(err)
    assert (again.kind, again.code, again.error_id) == ("address_conflict", 301, "abc")
    assert str(again) == "[301] address_conflict (logged under id abc by the process that ran " \
                         "the call)"


# ---------------------------------------------------------------- runners

def _full_runner(models, **kw):
    config = RunnerConfig(model=ModelConfig(name="noisy", version="3"),
                          runtime=RuntimeConfig(max_inference_time=2.0, pool_max_size=16,
                                                pool_min_size=2))
    options = dict(fallback=models.fallback_of, site_fallbacks={"k": 0, float: 0.5},
                   rng=np.random.SeedSequence(77), deadline=1.5,
                   breaker=fp.CircuitBreaker(config.breaker, name="noisy-breaker",
                                             record=(models.LeakyError,), ignore=(KeyError,)),
                   metrics=fp.ProductionMetrics(window=20, lowest=1e-6, highest=100.0))
    options.update(kw)
    return fp.ModelRunner(models.noisy, config, **options)


def test_a_runner_pickles_as_its_configuration(models):
    runner = _full_runner(models)
    runner.infer(1.0)
    again = _copy(runner)
    assert type(again) is fp.ModelRunner and again is not runner
    assert again.model is models.noisy
    assert again.config == runner.config and again.version == "3"
    assert again.schema is None and runner.schema is None     # (noisy is not annotated)
    assert again.deadline == 1.5
    assert again.degraded_model is None and again.degraded_shed == 0.0
    assert type(again.handler) is fp.RobustHandler
    assert again.handler.fallbacks == {"k": 0, float: 0.5}
    b, b0 = again.breaker, runner.breaker
    assert b is not b0
    assert (b.config, b.name, b.record_exceptions, b.ignore_exceptions) == (
        b0.config, "noisy-breaker", (models.LeakyError,), (KeyError,))
    m = again.metrics
    assert m is not runner.metrics and m.inference_count == 0
    assert (m.window, m.latency.lowest, m.latency.highest) == (20, 1e-6, 100.0)
    assert again.pool is not runner.pool
    assert (again.pool.max_size, again.pool.min_size, len(again.pool)) == (16, 2, 2)
    assert again.handler.inner.pool is again.pool
    assert again.workers is not runner.workers


def test_an_unpickled_runner_gives_the_same_results_for_the_same_seeds(models):
    runner = _full_runner(models)
    before = [runner.infer(float(x)) for x in range(3)]          # counter-keyed runs
    again = _copy(runner)
    keyed = [(float(x), k) for x, k in zip([1, -1, 2, 5, -3], [0, 4, 9, 2**63, 7],
                                           strict=True)]
    _same_results([again.infer(x, seed=k) for x, k in keyed],
                  [runner.infer(x, seed=k) for x, k in keyed])
    # the run counter travels too: the copy's next counter-keyed runs are the original's
    _same_results([again.infer(2.0) for _ in range(3)], [runner.infer(2.0) for _ in range(3)])
    assert before[0].status == "ok" and again.infer(-1.0, seed=1).value == (
        "fallback", "LeakyError")


def test_site_fallbacks_and_schemas_travel(models):
    runner = fp.ModelRunner(models.big_site, rng=5, site_fallbacks={"big": 1.0})
    again = _copy(runner)
    results = [again.infer(0.0, seed=k) for k in range(6)]
    _same_results(results, [runner.infer(0.0, seed=k) for k in range(6)])
    assert {r.status for r in results} == {"fallback"}
    assert all(r.fallback_sites == ("big",) for r in results)

    runner = fp.ModelRunner(sensor, schema=SENSOR_SCHEMA, rng=2, fallback=None)
    again = _copy(runner)
    assert repr(again.schema) == repr(SENSOR_SCHEMA) and again.schema is not SENSOR_SCHEMA
    with pytest.raises(fp.ValidationError, match="reading: must be finite"):
        again.infer(float("nan"))
    _same_results([again.infer(reading=21.0, seed=3)], [runner.infer(reading=21.0, seed=3)])


def test_the_copys_breaker_is_healthy_and_its_metrics_fresh_whatever_the_originals(models):
    clock = fp.ManualClock()
    breaker = fp.CircuitBreaker(failure_threshold=0.5, minimum_calls=2, clock=clock)
    runner = fp.ModelRunner(models.noisy, fallback=0.0, rng=1, breaker=breaker)
    for _ in range(4):
        runner.infer(-1.0)
    assert runner.breaker.state is fp.BreakerState.FAILED
    assert runner.metrics.error_count == 2 and runner.infer(1.0).status == "rejected"
    again = _copy(runner)
    assert again.breaker.state is fp.BreakerState.HEALTHY
    assert again.breaker.metrics["total_calls"] == 0
    assert again.metrics.inference_count == 0 and again.metrics.error_count == 0
    assert again.breaker.clock is not clock and again.breaker.clock.now() == clock.now()
    res = again.infer(1.0, seed=2)
    assert res.status == "ok" and runner.infer(1.0).status == "rejected"
    assert res.value == fp.ModelRunner(models.noisy, rng=1).infer(1.0, seed=2).value
    assert again.metrics.inference_count == 1


def test_a_runner_over_a_generator_continues_its_draws(models):
    runner = fp.ModelRunner(models.noisy, rng=np.random.default_rng(8))
    runner.infer(1.0)
    again = _copy(runner)
    _same_results([again.infer(1.0) for _ in range(3)], [runner.infer(1.0) for _ in range(3)])


def test_a_runner_of_a_full_config_pickles_only_the_sections_it_reads(models):
    cfg = Config.from_dict({"model": {"name": "m", "version": "9"},
                            "secrets": {"api_keys": ["k-1234567890abcdef"]},
                            "breaker": {"failure_threshold": 0.25}})
    with pytest.raises(TypeError, match="Secret values cannot be pickled"):
        pickle.dumps(cfg)
    runner = fp.ModelRunner(models.noisy, cfg, rng=4)
    blob = pickle.dumps(runner)
    assert b"k-1234567890abcdef" not in blob
    again = pickle.loads(blob)
    assert again.config == RunnerConfig(model=cfg.model, runtime=cfg.runtime,
                                         breaker=cfg.breaker, metrics=cfg.metrics)
    assert again.version == "9" and again.breaker.config.failure_threshold == 0.25


def test_metrics_off_and_a_degradation_policy_travel(models):
    runner = fp.ModelRunner(models.noisy, rng=4, metrics=False, degraded_model=models.cheap,
                            deadline=None)
    again = _copy(runner)
    assert again.metrics is None and again.degraded_model is models.cheap
    assert again.deadline is None
    shed = _copy(fp.ModelRunner(models.noisy, rng=4, fallback=-1.0, degraded_shed=0.25))
    assert shed.degraded_shed == 0.25 and shed.infer(1.0, seed=0).status == "ok"


# ---------------------------------------------------------------- another process

def test_a_runner_sent_to_a_spawned_process_gives_the_in_process_results(models, spawn_pool):
    runner = _full_runner(models)
    runner.infer(0.0)
    calls = [((float(x),), k) for x, k in [(1, 0), (-2, 11), (3, 12345), (0.5, 2**40)]]
    local = _copy(runner)                       # (the same state as the one sent)
    there = spawn_pool.submit(models.run_seeds, runner, calls).result(timeout=300)
    here = models.run_seeds(local, calls)
    _same_results(there, here)
    assert [r.status for r in there] == ["ok", "fallback", "ok", "ok"]
    assert there[1].value == ("fallback", "LeakyError")
    assert type(there[1].error) is RedactedError and there[1].error.code == 900
    # the same calls through the original runner (same state as the copies)
    _same_results(there, models.run_seeds(runner, calls))

    # the copy there is a fresh runner, whatever the state of the original
    for _ in range(30):
        runner.infer(-1.0)
    assert runner.breaker.state is fp.BreakerState.FAILED
    config, state, count, pooled, pid = spawn_pool.submit(models.describe, runner).result(
        timeout=300)
    assert (config, state, count, pooled) == (runner.config, "HEALTHY", 0, 2)
    assert pid != os.getpid()


# ---------------------------------------------------------------- clear errors

def test_a_runner_whose_model_has_no_importable_name_is_refused_by_name(models):
    runner = fp.ModelRunner(lambda x: x, rng=1)
    with pytest.raises(TypeError, match=r"^ModelRunner does not pickle: its model "
                                        r"'.*test_pickling\.test_a_runner_whose_model_has_no_"
                                        r"importable_name_is_refused_by_name\.<locals>\."
                                        r"<lambda>' cannot be pickled \((Attribute|Pickling)"
                                        r"Error\); a lambda, a function defined inside "
                                        r"another function .* define it at module level$"):
        pickle.dumps(runner)
    with pytest.raises(TypeError, match=r"its model '.*<lambda>' cannot be pickled"):
        pickle.dumps(fp.ModelRunner(LAMBDA, rng=1))

    def closure(x):
        return x

    with pytest.raises(TypeError, match=r"its model '.*<locals>\.closure' cannot be pickled"):
        pickle.dumps(fp.ModelRunner(closure, rng=1))
    with pytest.raises(TypeError, match=r"its fallback '.*<lambda>' cannot be pickled"):
        pickle.dumps(fp.ModelRunner(models.noisy, rng=1, fallback=lambda e: 0.0))
    with pytest.raises(TypeError, match=r"its degraded_model '.*<lambda>' cannot be pickled"):
        pickle.dumps(fp.ModelRunner(models.noisy, rng=1, degraded_model=lambda x: x))
    lock = __import__("threading").Lock()
    with pytest.raises(TypeError, match=r"its fallback 'a lock object' cannot be pickled "
                                        r"\(TypeError\); give the runner a value that pickles"):
        pickle.dumps(fp.ModelRunner(models.noisy, rng=1, fallback=lock))


def test_live_objects_refuse_to_pickle_with_a_clear_message(models):
    runner = fp.ModelRunner(models.noisy, rng=1)
    cases = [
        (runner.breaker, r"^CircuitBreaker does not pickle: its state, window and listeners "
                         r"are live"),
        (runner.metrics, r"^ProductionMetrics does not pickle: its counters are live"),
        (runner.metrics.latency, r"^LatencyHistogram does not pickle"),
        (runner.pool, r"^TracePool does not pickle"),
        (runner.workers, r"^WorkerPool does not pickle: its threads and queued calls"),
    ]
    for obj, message in cases:
        with pytest.raises(TypeError, match=message):
            pickle.dumps(obj)


def test_a_manual_clock_pickles_as_its_reading():
    clock = fp.ManualClock(5.0)
    clock.advance(1.25)
    again = _copy(clock)
    assert again.now() == 6.25
    again.advance(1.0)
    assert (clock.now(), again.now()) == (6.25, 7.25)
