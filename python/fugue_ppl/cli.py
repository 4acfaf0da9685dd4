"""The ``fugue-ppl`` command.

``fugue-ppl demo`` runs the built-in sensor model (:func:`fugue_ppl.models.sensor`)
through the runtime: prior runs with a :class:`~fugue_ppl.PooledPriorHandler`
over a :class:`~fugue_ppl.TracePool`, each trace released back to the pool. It
prints the first run's value and trace, the posterior of the temperature
estimated by importance sampling (:class:`~fugue_ppl.inference.ImportanceSampling`:
the model run once for as many particles as runs, with the ESS, the Pareto
k̂ and the log evidence; next to the exact posterior, which this conjugate
model has), and the pool's statistics;
then the production pipeline (:func:`run_production_demo`), ending with two
canaries of model versions, a worse one rolled back and a better one promoted
(:mod:`fugue_ppl._demo_rollout`), and a drift monitor catching a sensor that
reads 15 degrees high (:func:`run_drift_demo`). ``--json`` prints the same as
one JSON document.

``fugue-ppl models list|show|register|promote|rollback`` works on the model
registry (see :mod:`fugue_ppl._cli_models`); ``fugue-ppl rollout
start|status|abort`` on its rollouts (see :mod:`fugue_ppl._cli_rollout`).
``fugue-ppl serve`` serves the models over HTTP, on the Open Inference Protocol
(see :mod:`fugue_ppl._cli_serve`); ``fugue-ppl rules`` prints the Prometheus
rules of the configured SLOs (see :mod:`fugue_ppl._cli_rules`); ``fugue-ppl
batch INPUT OUTPUT`` runs a file of requests through the model (see
:mod:`fugue_ppl._cli_batch`).

Examples
--------
.. code-block:: console

    $ fugue-ppl demo
    $ fugue-ppl demo --reading 25 --runs 20000 --seed 7 --json
    $ fugue-ppl models list --status live
    $ fugue-ppl rollout start sensor 2 --strategy canary
    $ fugue-ppl serve --port 8080
    $ fugue-ppl rules -o rules.yml
    $ fugue-ppl batch readings.jsonl posteriors.jsonl --seed 1
    $ fugue-ppl --version
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import math
import numbers
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import fugue_ppl as fp
from fugue_ppl import _cli_batch, _cli_models, _cli_rollout, _cli_rules, _cli_serve, _demo_rollout
from fugue_ppl.errors import ValidationError
from fugue_ppl.models import SENSOR_SCHEMA, sensor, sensor_posterior

__all__ = ["MAX_DEMO_RUNS", "build_parser", "main", "run_demo", "run_production_demo"]

#: The most runs ``fugue-ppl demo`` makes (it keeps three floats a run: 24 MB).
MAX_DEMO_RUNS = 1_000_000


# ---------------------------------------------------------------- argument types

def _integer(low: int, high: int | None, what: str):
    """An argparse type: an integer in [low, high] (high None: unbounded)."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text[:40]!r}") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {n}")
        if high is not None and n > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {n}")
        return n
    return parse


_runs = _integer(1, MAX_DEMO_RUNS, "a positive integer")
_seed = _integer(0, None, "a non-negative integer seed")


def _reading(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text[:40]!r}")
    try:
        return SENSOR_SCHEMA.validate({"reading": x})["reading"]
    except ValidationError as exc:
        raise argparse.ArgumentTypeError("; ".join(
            f"{v.message}, got {v.value}" for v in exc.violations)) from None


def build_parser() -> argparse.ArgumentParser:
    """The ``fugue-ppl`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="fugue-ppl",
        description="fugue-ppl: probabilistic models in production Python services.",
    )
    parser.add_argument("--version", action="version", version=f"fugue-ppl {fp.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = sub.add_parser(
        "demo",
        help="run the built-in sensor model and print a trace, a posterior and pool statistics",
        description=(
            "Run the built-in sensor model (temperature ~ Normal(20, 5); valid ~ "
            "Bernoulli(0.95); reading observed from Normal(temperature, 1)) for RUNS prior "
            "runs through a pooled handler; print the first run's trace, the posterior of "
            "the temperature by importance sampling (RUNS particles, with ESS and Pareto "
            "k-hat), and the trace pool's "
            "statistics."
        ),
    )
    demo.add_argument("--reading", type=_reading, default=22.0,
                      help="the observed sensor reading, a finite number the sensor model's "
                           "schema accepts (default: %(default)s)")
    demo.add_argument("--runs", type=_runs, default=1000,
                      help=f"number of model runs, 1 to {MAX_DEMO_RUNS} (default: %(default)s)")
    demo.add_argument("--seed", type=_seed, default=42,
                      help="random seed: the same seed gives the same output "
                           "(default: %(default)s)")
    demo.add_argument("--json", action="store_true",
                      help="print one JSON document instead of text")
    _cli_models.add_parser(sub)
    _cli_rollout.add_parser(sub)
    _cli_serve.add_parser(sub)
    _cli_rules.add_parser(sub)
    _cli_batch.add_parser(sub)
    return parser


# ---------------------------------------------------------------- the demo

def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _trace_dict(trace: fp.Trace) -> dict[str, Any]:
    return {
        "choices": [
            {"address": c.address, "kind": c.kind, "value": c.value,
             "log_prob": _finite_or_none(c.log_prob)}
            for c in trace.choices
        ],
        "log_prior": _finite_or_none(trace.log_prior),
        "log_likelihood": _finite_or_none(trace.log_likelihood),
        "log_factors": _finite_or_none(trace.log_factors),
        "total_log_weight": _finite_or_none(trace.total_log_weight),
    }


def _posterior(reading: float, runs: int, seed: int) -> dict[str, Any]:
    # Likelihood weighting on the particle runtime: the model run once for `runs`
    # particles from the prior, each weighted by its likelihood.
    from fugue_ppl.inference import ImportanceSampling

    result = ImportanceSampling(n=runs, sites=("temperature", "valid")).run(
        sensor, reading, rng=seed)
    t, v = result["temperature"], result["valid"]
    return {
        "temperature_mean": t.mean,
        "temperature_sd": t.sd,
        "valid_probability": v.mean,
        "effective_sample_size": result.ess,
        "log_evidence": result.log_evidence,
        "pareto_khat": result.khat if math.isfinite(result.khat) else None,
        "reliable": result.reliable,
    }


def run_demo(reading: float = 22.0, runs: int = 1000, seed: int = 42) -> dict[str, Any]:
    """Run the demo and return its results as a JSON-ready dict.

    Parameters
    ----------
    reading : float
        The observed sensor reading (as
        :data:`~fugue_ppl.models.SENSOR_SCHEMA` accepts).
    runs : int
        Number of prior runs, 1 to :data:`MAX_DEMO_RUNS`.
    seed : int
        Seed of the handler's generator (>= 0).

    Returns
    -------
    dict
        Keys ``model``, ``reading``, ``runs``, ``seed``, ``first_run``
        (``value`` and ``trace``), ``posterior``, ``pool``, ``timing`` and
        ``production`` (:func:`run_production_demo`).

    Raises
    ------
    TypeError
        ``runs`` or ``seed`` is not an int.
    ValueError
        ``runs`` or ``seed`` is out of range;
        :class:`~fugue_ppl.errors.ValidationError` for a reading the
        schema rejects.
    """
    for name, v in (("runs", runs), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"run_demo: {name} must be an int, got {type(v).__name__}")
    if runs < 1:
        raise ValueError(f"run_demo: runs must be at least 1, got {runs}")
    if runs > MAX_DEMO_RUNS:
        raise ValueError(f"run_demo: runs must be at most {MAX_DEMO_RUNS}, got {runs}")
    if seed < 0:
        raise ValueError(f"run_demo: seed must be >= 0, got {seed}")
    reading = SENSOR_SCHEMA.validate({"reading": reading})["reading"]
    pool = fp.TracePool(max_size=64)
    handler = fp.PooledPriorHandler(rng=seed, pool=pool)
    first: dict[str, Any] = {}
    run = fp.run
    start = time.perf_counter()
    for i in range(runs):
        (t, v), trace = run(handler, sensor, reading)
        if i == 0:
            first = {"value": {"temperature": t, "valid": v}, "trace": _trace_dict(trace)}
        trace.release()
    elapsed = time.perf_counter() - start
    exact_mean, exact_sd = sensor_posterior(reading)
    posterior = {
        "method": "importance sampling (likelihood weighting), one run of the model for "
                  f"{runs} particles",
        **_posterior(reading, runs, seed),
        "exact_temperature_mean": exact_mean,
        "exact_temperature_sd": exact_sd,
    }
    return {
        "fugue_ppl_version": fp.__version__,
        "model": "sensor",
        "reading": reading,
        "runs": runs,
        "seed": seed,
        "first_run": first,
        "posterior": posterior,
        "pool": pool.stats.to_dict(),
        "timing": {"seconds": elapsed, "runs_per_second": runs / elapsed if elapsed > 0 else None},
        "production": run_production_demo(reading=reading, seed=seed),
        "drift": run_drift_demo(seed=seed),
    }


# ---------------------------------------------------------------- model drift

#: The drift demo's requests: in control (readings from the model's prior predictive),
#: then from a sensor reading this many degrees too high.
_DRIFT_STEADY, _DRIFT_SHIFTED, _DRIFT_OFFSET = 800, 200, 15.0


def run_drift_demo(seed: int = 42) -> dict[str, Any]:
    """The sensor model's requests charted by a :class:`~fugue_ppl.serving.DriftMonitor`:
    800 readings as the model predicts them, then 200 from a sensor 15 degrees off.

    Returns
    -------
    dict
        ``warmup`` (requests), ``steady`` and ``shifted`` (requests), ``false_alarms``
        (alarms before the shift), ``detected_after`` (requests after the shift to the
        first alarm, None if none), ``charts`` (the charts of that alarm), ``alarms``
        (per chart) and ``health`` (the drift check's status and output at the end).
    """
    from fugue_ppl.serving import DriftMonitor
    from fugue_ppl.serving.health import HealthChecker

    rng = np.random.default_rng(seed)
    readings = np.concatenate([
        rng.normal(20.0, math.sqrt(26.0), _DRIFT_STEADY),            # prior predictive
        rng.normal(20.0 + _DRIFT_OFFSET, math.sqrt(26.0), _DRIFT_SHIFTED)])
    readings = np.clip(readings, -50.0, 150.0)                       # (the schema's range)
    runner = fp.ModelRunner(sensor, schema=SENSOR_SCHEMA, rng=seed, metrics=False)
    monitor = DriftMonitor(model="sensor", version=str(runner.version))
    checker = HealthChecker(runner, smoke_args=(22.0,), builtin_checks=[])
    monitor.register_health(checker)
    false_alarms, detected, charts = 0, None, []
    for i, y in enumerate(readings):
        fired = monitor.observe(runner.infer(float(y)))
        if fired and i < _DRIFT_STEADY:
            false_alarms += 1
        elif fired and detected is None:
            detected, charts = i - _DRIFT_STEADY + 1, list(fired)
    (check,) = [c for c in checker.check().checks if c.key == "model:drift"]
    return {"warmup": monitor.settings.warmup, "steady": _DRIFT_STEADY,
            "shifted": _DRIFT_SHIFTED, "offset": _DRIFT_OFFSET, "false_alarms": false_alarms,
            "detected_after": detected, "charts": charts, "alarms": monitor.alarms,
            "health": {"status": check.status.value, "output": check.output}}


# ---------------------------------------------------------------- the production pipeline

class _FaultySensor:
    """The sensor model behind a switch that makes it fail: the demo's injected fault."""

    __name__ = "sensor"

    def __init__(self) -> None:
        self.failing = False

    def __call__(self, reading: float) -> tuple[float, bool]:
        if self.failing:
            raise RuntimeError("sensor bus offline (injected fault)")
        return sensor(reading)


#: The simulated timeline: (phase, minutes); the fault is on during "fault burst".
_PHASES = (("steady", 5), ("fault burst", 1), ("recovered", 6))
_REQUESTS_PER_MINUTE = 100
_BAD_INPUTS = (("reading", float("nan")), ("reading", 500.0), ("reading", "hot"))


def _metric_lines(text: str) -> list[str]:
    # The exposition without comments and histogram buckets (shown in full by --json).
    return [line for line in text.splitlines()
            if line and not line.startswith("#") and "_bucket{" not in line]


def run_production_demo(reading: float = 22.0, seed: int = 42) -> dict[str, Any]:
    """The sensor model through the whole production pipeline, on a simulated clock.

    A :class:`~fugue_ppl.ModelRunner` (input schema, circuit breaker, fallback,
    deadline, metrics) serves 100 requests a simulated minute for twelve
    minutes; in minute 5 the model fails (an injected fault), the breaker
    trips and serves the fallback, and in minute 6 it recovers through its
    trial calls. At the end of every minute a :class:`~fugue_ppl.serving.health.HealthChecker`
    checks the service and an :class:`~fugue_ppl.serving.slo.EventStore` takes the
    minute's counts. The breaker, the health checker and the event store
    share one :class:`~fugue_ppl.ManualClock`; latencies are real.

    Parameters
    ----------
    reading : float
        The sensor reading of every request.
    seed : int
        Seed of the runner's generator.

    Returns
    -------
    dict
        Keys ``config``, ``validation`` (the rejected inputs and their
        errors), ``timeline`` (one entry a minute), ``breaker`` (transitions
        and counts), ``prometheus`` (the text exposition), ``health`` (the
        last report in ``application/health+json``), ``slo``, ``alerts``,
        ``availability``, ``capacity``, ``degraded`` (the degradation
        policy under a partial fault), ``saturation`` (asynchronous calls
        against a small worker pool: in flight, queue, overload, abandoned
        runs, utilisation and the process's resources) and ``rollouts`` (a
        worse and a better version canaried through a model deployment:
        :func:`fugue_ppl._demo_rollout.run_rollout_demo`).
    """
    from prometheus_client import CollectorRegistry, generate_latest

    from fugue_ppl.config import load_config
    from fugue_ppl.monitoring.prometheus import PrometheusCollector
    from fugue_ppl.serving.health import HealthChecker
    from fugue_ppl.serving.slo import (
        AlertRules,
        BreakerHistory,
        BurnRateAlerts,
        CapacityPlanner,
        EventStore,
        ServiceLevelObjectives,
    )

    config = load_config(env={})
    clock = fp.ManualClock()
    breaker = fp.CircuitBreaker(clock=clock, name="sensor", window_size=50, minimum_calls=20,
                                failure_threshold=0.5, open_duration=30.0, half_open_permits=5)
    transitions: list[dict[str, Any]] = []
    breaker.add_listener(lambda old, new: transitions.append(
        {"at_seconds": clock.now(), "from": old.name, "to": new.name}))
    model = _FaultySensor()
    runner = fp.ModelRunner(model, config=config, rng=seed, breaker=breaker,
                            schema=SENSOR_SCHEMA,
                            fallback=(20.0, True))
    history = BreakerHistory(breaker)
    checker = HealthChecker(runner, smoke_args=(reading,), clock=clock)
    checker.warm_up()
    store = EventStore.from_runner(runner, resolution=60.0, clock=clock)
    burn = BurnRateAlerts(store, slo=config.slo.availability_target)
    registry = CollectorRegistry()
    registry.register(PrometheusCollector.from_runner(runner))

    validation = []
    for field, value in _BAD_INPUTS:
        try:
            runner.infer(value)
        except fp.ValidationError as exc:
            validation.append({"input": {field: repr(value)}, "error": str(exc)})

    timeline = []
    minute = 0
    for phase, minutes in _PHASES:
        model.failing = phase == "fault burst"
        for _ in range(minutes):
            counts = {"ok": 0, "fallback": 0, "rejected": 0, "timeout": 0}
            for _ in range(_REQUESTS_PER_MINUTE):
                counts[runner.infer(reading).status] += 1
            clock.advance(60.0)
            store.sync()
            report = checker.check()
            alerts = burn.evaluate()
            timeline.append({
                "minute": minute, "phase": phase, "requests": _REQUESTS_PER_MINUTE, **counts,
                "breaker": breaker.state.name, "health": report.status.value,
                "score": report.score, "forecast": report.forecast,
                "early_warning": report.warning,
                "burn_rate_5m": burn.burn_rate(300.0),
                "burn_rate_alerts": [a.subject for a in alerts],
            })
            minute += 1

    metrics = runner.metrics
    assert metrics is not None            # the runner was built with metrics
    slos = ServiceLevelObjectives.from_config(config)
    slo_report = slos.evaluate(runner)
    b = breaker.metrics
    return {
        "config": {"environment": config.environment,
                   "deadline_seconds": runner.deadline,
                   "breaker": breaker.config.to_dict(),
                   "slo": config.dump()["slo"]},
        "validation": validation,
        "timeline": timeline,
        "breaker": {"state": b["state"], "transitions": transitions,
                    "calls": {"successful": b["successful_calls"], "failed": b["failed_calls"],
                              "rejected": b["rejected_calls"],
                              "permitted": b["permitted_calls"]}},
        "metrics": metrics.snapshot(),
        "prometheus": generate_latest(registry).decode("utf-8"),
        "health": report.to_health_json(),
        "readiness": checker.readiness().to_health_json()["status"],
        "slo": slo_report.to_dict(),
        "alerts": {"burn_rate": [a.to_dict() for a in burn.evaluate()],
                   "rules": [a.to_dict() for a in AlertRules().evaluate(runner)]},
        "availability": dataclasses.asdict(history.report()),
        "capacity": CapacityPlanner().from_metrics(runner, replicas=1).to_dict(),
        "degraded": _degraded_demo(reading, seed),
        "saturation": _saturation_demo(reading, seed),
        "rollouts": _demo_rollout.run_rollout_demo(reading, seed),
    }


#: The degraded-mode scenario: (phase, calls, every how many calls the model fails; 0: never).
_DEGRADED_PHASES = (("steady", 100, 0), ("partial fault", 100, 10), ("recovered", 100, 0))


def _degraded_demo(reading: float, seed: int) -> dict[str, Any]:
    # A partial fault (one call in ten fails) puts the breaker in DEGRADED
    # without tripping it; the runner's degradation policy then serves the
    # cheaper prior-only model until the breaker is HEALTHY again.
    from fugue_ppl.models import sensor_prior

    breaker = fp.CircuitBreaker(clock=fp.ManualClock(), name="sensor", window_size=50,
                                minimum_calls=20, failure_threshold=0.5)
    model = _FaultySensor()
    runner = fp.ModelRunner(model, rng=seed, breaker=breaker, schema=SENSOR_SCHEMA,
                            fallback=(20.0, True), degraded_model=sensor_prior)
    phases = []
    for phase, calls, every in _DEGRADED_PHASES:
        counts = {"ok": 0, "degraded": 0, "fallback": 0, "rejected": 0}
        states = set()
        for k in range(calls):
            model.failing = every > 0 and k % every == every - 1
            counts[runner.infer(reading).status] += 1
            states.add(breaker.state.name)
        phases.append({"phase": phase, "calls": calls, **counts,
                       "breaker_states": sorted(states), "breaker_at_end": breaker.state.name})
    return {"policy": "degraded_model=sensor_prior", "phases": phases}


#: The saturation scenario: (phase, calls in each batch, batches, the model's
#: I/O wait in seconds). Two workers and a queue of four: a batch of two runs at
#: once, a burst of 30 fills the queue, and a wait past the deadline is abandoned.
_SATURATION_PHASES = (("steady", 2, 20, 0.005), ("burst", 30, 2, 0.005),
                      ("stalled backend", 2, 2, 0.5))
_SATURATION_DEADLINE = 0.25


def _saturation_demo(reading: float, seed: int) -> dict[str, Any]:
    # Real threads on the real clock: the counts are the scenario's, the
    # rates and times are this machine's.
    import asyncio

    from fugue_ppl.serving import RunnerConfig, RuntimeConfig
    from fugue_ppl.serving.health.resources import ProcessReader

    wait = [0.0]

    def io_sensor(reading: float) -> tuple[float, bool]:
        time.sleep(wait[0])                   # the model's I/O (a feature store, say)
        return sensor(reading)

    config = RunnerConfig(runtime=RuntimeConfig(max_inference_time=_SATURATION_DEADLINE,
                                                workers=2, queue_size=4))
    runner = fp.ModelRunner(io_sensor, config, rng=seed, schema=SENSOR_SCHEMA,
                            fallback=(20.0, True))
    phases = []

    async def batch(n: int) -> list[str]:
        return [r.status for r in await asyncio.gather(
            *(runner.infer_async(reading) for _ in range(n)))]

    async def scenario() -> None:
        for phase, size, batches, seconds in _SATURATION_PHASES:
            wait[0] = seconds
            counts = {"ok": 0, "overloaded": 0, "timeout": 0}
            for _ in range(batches):
                for status in await batch(size):
                    counts[status] += 1
            w = runner.workers.to_dict()
            phases.append({"phase": phase, "calls": size * batches, **counts,
                           "in_flight": w["in_flight"], "abandoned": w["abandoned"],
                           "utilisation": w["utilisation"]})

    try:
        asyncio.run(scenario())
    finally:
        runner.close()
    w = runner.workers.to_dict()
    proc = ProcessReader()()
    return {"workers": w["size"], "queue_size": w["queue_size"],
            "deadline_seconds": _SATURATION_DEADLINE, "phases": phases,
            "arrival_rate": w["arrival_rate"], "service_time": w["service_time"],
            "utilisation": w["utilisation"],
            "process": {"cpu_seconds": proc.cpu_seconds,
                        "resident_memory_bytes": proc.resident_memory,
                        "open_fds": proc.open_fds}}


def _mib(n: float | None) -> float | None:
    return None if n is None else n / 2**20


def _fmt_value(x: Any) -> str:
    if isinstance(x, int):                  # bool included
        return str(x)
    return f"{x:.6f}"


def _fmt_num(x: float | None, spec: str = ".6f") -> str:
    return "n/a" if x is None else format(x, spec)


def _print_text(r: dict[str, Any], out) -> None:
    first = r["first_run"]
    tr = first["trace"]
    post = r["posterior"]
    pool = r["pool"]
    p = functools.partial(print, file=out)
    p(f"fugue-ppl {r['fugue_ppl_version']} demo: sensor model, reading={r['reading']}, "
      f"runs={r['runs']}, seed={r['seed']}")
    p()
    p("first run")
    p(f"  value: temperature={first['value']['temperature']:.6f}, "
      f"valid={first['value']['valid']}")
    p("  trace:")
    width = max([len("address")] + [len(c["address"]) for c in tr["choices"]])
    p(f"    {'address':<{width}}  {'kind':<7}  {'value':>12}  {'log_prob':>12}")
    for c in tr["choices"]:
        p(f"    {c['address']:<{width}}  {c['kind']:<7}  {_fmt_value(c['value']):>12}  "
          f"{_fmt_num(c['log_prob']):>12}")
    for key, label in (("log_prior", "log_prior"), ("log_likelihood", "log_likelihood"),
                       ("log_factors", "log_factors"), ("total_log_weight", "total")):
        p(f"    {label:<{width + 25}}{_fmt_num(tr[key]):>12}")
    p()
    p(f"posterior of the temperature, by importance sampling: the model run once for "
      f"{r['runs']} particles")
    p(f"  temperature mean  {_fmt_num(post['temperature_mean'], '.4f')}"
      f"   (exact {post['exact_temperature_mean']:.4f})")
    p(f"  temperature sd    {_fmt_num(post['temperature_sd'], '.4f')}"
      f"   (exact {post['exact_temperature_sd']:.4f})")
    p(f"  P(valid)          {_fmt_num(post['valid_probability'], '.4f')}")
    p(f"  effective sample size  {post['effective_sample_size']:.1f} of {r['runs']}")
    p(f"  Pareto k-hat           {_fmt_num(post['pareto_khat'], '.3f')}"
      f"   ({'reliable' if post['reliable'] else 'NOT reliable'})")
    p(f"  log evidence           {post['log_evidence']:.4f}")
    p()
    p("trace pool")
    p(f"  hits={pool['hits']} misses={pool['misses']} returns={pool['returns']} "
      f"drops={pool['drops']} hit_ratio={pool['hit_ratio']:.4f}")
    t = r["timing"]
    if t["runs_per_second"] is not None:
        p()
        p(f"{r['runs']} runs in {t['seconds'] * 1e3:.2f} ms "
          f"({t['runs_per_second']:,.0f} runs/s, bookkeeping included)")
    p()
    _print_production(r["production"], out)
    d = r["drift"]
    p()
    p(f"model drift: {d['steady']} readings as the model predicts them (the first "
      f"{d['warmup']} the baseline), then {d['shifted']} from a sensor "
      f"{d['offset']:g} degrees off")
    when = ("not detected" if d["detected_after"] is None else
            f"detected {d['detected_after']} request(s) after the shift by "
            f"{', '.join(d['charts'])}")
    p(f"  {when}; {d['false_alarms']} alarm(s) before it; health {d['health']['status']}: "
      f"{d['health']['output']}")


def _print_production(r: dict[str, Any], out) -> None:
    p = functools.partial(print, file=out)
    cfg = r["config"]
    p(f"production pipeline: ModelRunner(sensor) with an input schema, a circuit breaker, "
      f"a fallback, a {cfg['deadline_seconds']:g} s deadline and metrics")
    p(f"  ({_REQUESTS_PER_MINUTE} requests a minute on a simulated clock; the model fails "
      f"in minute 5)")
    p()
    p("input validation (rejected before the model runs)")
    for v in r["validation"]:
        p(f"  {v['input']['reading']:>6}  ->  {v['error']}")
    p()
    p(f"  {'min':>3}  {'phase':<11}  {'ok':>4}  {'fallback':>8}  {'rejected':>8}  "
      f"{'breaker':<9}  {'health':<9}  {'score':>5}  {'burn 5m':>7}  burn-rate alerts")
    for t in r["timeline"]:
        p(f"  {t['minute']:>3}  {t['phase']:<11}  {t['ok']:>4}  {t['fallback']:>8}  "
          f"{t['rejected']:>8}  {t['breaker']:<9}  {t['health']:<9}  {t['score']:>5.2f}  "
          f"{t['burn_rate_5m']:>6.0f}x  "
          f"{', '.join(a.split(' >')[0] for a in t['burn_rate_alerts']) or '-'}")
    p()
    b = r["breaker"]
    p("circuit breaker transitions: " + ", ".join(
        f"{m['from']} -> {m['to']} at {m['at_seconds']:g} s" for m in b["transitions"]))
    c = b["calls"]
    p(f"  calls: {c['successful']} successful, {c['failed']} failed, {c['rejected']} rejected")
    p()
    lines = _metric_lines(r["prometheus"])
    p(f"metrics in the Prometheus text format ({len(lines)} samples; buckets in --json):")
    for line in lines:
        p(f"  {line}")
    p()
    h = r["health"]
    p(f"health (application/health+json): status {h['status']}, score {h['score']:.3f}, "
      f"forecast {h['forecast']:.3f}, readiness {r['readiness']}")
    for key, results in h["checks"].items():
        for c in results:
            unit = c.get("observedUnit", "")
            value = c.get("observedValue")
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            p(f"  {key:<22} {c['status']:<5} {shown} {unit}")
    for name, level in h["levels"].items():
        p(f"  level {name:<10} {level['status']:<5} score {level['score']:.3f} "
          f"(healthy >= {level['thresholds']['healthy']:g}, weight {level['weight']:.3f}): "
          f"{', '.join(level['checks'])}")
    p()
    s = r["slo"]
    avail = s["objectives"][0]
    p(f"SLO: availability {avail['observed']:.4f} against {avail['target']} "
      f"({'met' if avail['compliant'] else 'missed'}); error budget "
      f"{s['allowed_bad_events']:g} bad requests of {s['total_events']} "
      f"({s['error_budget'] / 60:g} min over {s['period'] / 86400:g} days), "
      f"{s['budget_consumed']:.0%} consumed{' (exhausted)' if s['exhausted'] else ''}")
    a = r["availability"]
    p(f"availability from the breaker: MTBF {a['mtbf']:g} s, MTTR {a['mttr']:g} s, "
      f"A = MTBF / (MTBF + MTTR) = {a['availability']:.4f}")
    alerts = r["alerts"]["burn_rate"] + r["alerts"]["rules"]
    p(f"alerts now ({len(alerts)}):")
    for al in alerts:
        p(f"  [{al['severity']}] {al['message']}")
    cap = r["capacity"]
    p(f"capacity: utilisation {cap['utilisation']:.4f}: {cap['action']} ({cap['message']})")
    d = r["degraded"]
    p(f"degraded mode ({d['policy']}: the cheaper model serves while the breaker is DEGRADED)")
    for ph in d["phases"]:
        p(f"  {ph['phase']:<14} ok={ph['ok']:<4} degraded={ph['degraded']:<4} "
          f"fallback={ph['fallback']:<4} breaker {'/'.join(ph['breaker_states'])} -> "
          f"{ph['breaker_at_end']}")
    sat = r["saturation"]
    p(f"saturation (infer_async: {sat['workers']} workers, a queue of {sat['queue_size']}, "
      f"a {sat['deadline_seconds']:g} s deadline)")
    for ph in sat["phases"]:
        p(f"  {ph['phase']:<16} calls={ph['calls']:<4} ok={ph['ok']:<4} "
          f"overloaded={ph['overloaded']:<4} timeout={ph['timeout']:<3} "
          f"abandoned={ph['abandoned']:<3} in flight={ph['in_flight']}")
    proc = sat["process"]
    p(f"  arrival rate {sat['arrival_rate']:.1f}/s, service time "
      f"{_fmt_num(sat['service_time'], '.4f')} s, utilisation rho {sat['utilisation']:.3f}; "
      f"process: CPU {_fmt_num(proc['cpu_seconds'], '.2f')} s, resident memory "
      f"{_fmt_num(_mib(proc['resident_memory_bytes']), '.1f')} MiB, "
      f"{_fmt_num(proc['open_fds'], '.0f')} open files")
    p()
    _demo_rollout.print_rollouts(r["rollouts"], out)


# ---------------------------------------------------------------- entry point

def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fugue-ppl`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 2 for bad arguments (after argparse's
        message on stderr), 0 for ``--help`` and ``--version``; 1 for an
        operation ``fugue-ppl models``, ``fugue-ppl rollout`` or ``fugue-ppl
        rules`` refused (its message on stderr); 3 for a watched rollout that
        ended without deploying its candidate; for ``fugue-ppl batch``, see
        :mod:`fugue_ppl._cli_batch`.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help, --version, or a usage error
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if args.command == "serve":
        return _cli_serve.run(args)        # (JSON logs of its own)
    # The library logs through `logging` (the breaker's transitions, for
    # one); the command shows those records on stderr, named.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Each failed inference is logged with its traceback under its error id;
    # the demo's failures are its own injected fault, counted in its output.
    logging.getLogger("fugue_ppl.serving.runner").setLevel(logging.CRITICAL)
    try:
        if args.command == "models":
            status = _cli_models.run(args)
            sys.stdout.flush()
            return status
        if args.command in ("rollout", "rules", "batch"):
            run = {"rollout": _cli_rollout.run, "rules": _cli_rules.run,
                   "batch": _cli_batch.run}[args.command]
            status = run(args)
            sys.stdout.flush()
            return status
        if args.command == "demo":
            result = run_demo(reading=args.reading, runs=args.runs, seed=args.seed)
            if args.json:
                print(json.dumps(result, indent=2, allow_nan=False))
            else:
                _print_text(result, sys.stdout)
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``fugue-ppl demo | head``): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
