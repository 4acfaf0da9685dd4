"""Health checks: statuses, every threshold branch, the weighted score, the trend
and its early warning, liveness and readiness, the health+json rendering, and
scenarios of faults injected into a ModelRunner under a manual clock.

Latencies and errors are recorded into the runner's metrics directly where a
test is about a threshold (exact and fast); the scenarios run real models. The
timing-dependent scenario (latency drift) keeps margins of at least 8 ms
between a busy-wait and the threshold it must cross or stay under.
"""

import doctest
import importlib
import json
import logging
import math
import pkgutil
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck as HypothesisHealthCheck
from hypothesis import given, settings
from hypothesis import strategies as st

import fugue_ppl as fp
from fugue_ppl.config import load_config
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.models import sensor
from fugue_ppl.monitoring import CUSUM, EWMA, ShewhartChart
from fugue_ppl.serving import health
from fugue_ppl.serving.health import (
    BUILTIN_CHECKS,
    BUILTIN_LEVELS,
    DEFAULT_LEVEL_WEIGHTS,
    DEFAULT_WEIGHTS,
    HEALTH_JSON_MEDIA_TYPE,
    CheckResult,
    HealthChecker,
    HealthReport,
    HealthSettings,
    HealthStatus,
    Trend,
    estimate_trend,
)
from fugue_ppl.validation import Finite, Range, Schema

H, D, U = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY
WALL = 1_700_000_000.0          # 2023-11-14T22:13:20Z
WALL_TEXT = "2023-11-14T22:13:20.000Z"


# ---------------------------------------------------------------- models and helpers


class SensorFault(Exception):
    pass


def flaky_sensor(reading):
    """The sensor model; a negative reading is a fault (its message holds a secret)."""
    temperature = fp.sample("temperature", fp.Normal(20.0, 5.0))
    if reading < 0:
        raise SensorFault("sensor unplugged; api_key=s3cr3t")
    fp.observe("sensor", fp.Normal(temperature, 1.0), reading)
    return temperature


def busy_model(us):
    """Busy-waits ``us`` microseconds, then samples (where the deadline is checked)."""
    end = time.perf_counter() + us * 1e-6
    while time.perf_counter() < end:
        pass
    return fp.sample("x", fp.Normal(0.0, 1.0))


def _runner(model=sensor, **kw):
    kw.setdefault("rng", 7)
    kw.setdefault("fallback", 0.0)
    return fp.ModelRunner(model, **kw)


def _checker(runner=None, **kw):
    if runner is None:
        runner = _runner()
    kw.setdefault("clock", fp.ManualClock(1000.0))
    kw.setdefault("wall_clock", lambda: WALL)
    kw.setdefault("smoke_args", (22.0,))
    kw.setdefault("warmup", 0)
    return HealthChecker(runner, **kw)


def _record(metrics, n, errors=0, seconds=0.001):
    """``n`` inferences of ``seconds``, ``errors`` of them failed, spread evenly."""
    for i in range(n):
        bad = (i * errors) // n != ((i + 1) * errors) // n
        metrics.record(seconds, error="SensorFault" if bad else None)


def _traffic(runner, n, failures=0, good=22.0, bad=-1.0):
    """``n`` calls of the runner, ``failures`` of them faulty, spread evenly."""
    for i in range(n):
        fail = (i * failures) // n != ((i + 1) * failures) // n
        runner.infer(bad if fail else good)


def _fixed(status, **kw):
    return lambda: CheckResult(status, **kw)


# ---------------------------------------------------------------- HealthStatus


def test_status_values_scores_health_json_and_http():
    assert [s.value for s in HealthStatus] == ["healthy", "degraded", "unhealthy"]
    assert H == "healthy" and str(D) == "degraded" and f"{U}" == "unhealthy"
    assert [s.score for s in HealthStatus] == [1.0, 0.5, 0.0]
    assert [s.health_json for s in HealthStatus] == ["pass", "warn", "fail"]
    assert [s.http_status for s in HealthStatus] == [200, 200, 503]


@pytest.mark.parametrize("text, status", [
    ("healthy", H), ("DEGRADED", D), (" unhealthy ", U), ("pass", H), ("warn", D),
    ("fail", U), (U, U)])
def test_status_parse(text, status):
    assert HealthStatus.parse(text) is status


def test_status_parse_errors():
    with pytest.raises(ValueError, match="unknown health status 'ok'"):
        HealthStatus.parse("ok")
    with pytest.raises(TypeError, match="status must be a HealthStatus or a str, got int"):
        HealthStatus.parse(1)


# ---------------------------------------------------------------- CheckResult


def test_check_result_coerces_and_renders():
    r = CheckResult("warn", observed_value=np.float64(0.25), observed_unit="ratio",
                    output="a quarter", component="queue", measurement="utilization",
                    component_id="q-1", component_type="datastore", time=WALL)
    assert r.status is D and type(r.observed_value) is float and r.key == "queue:utilization"
    assert r.to_health_json() == {
        "componentId": "q-1", "componentType": "datastore", "observedValue": 0.25,
        "observedUnit": "ratio", "status": "warn", "time": WALL_TEXT, "output": "a quarter"}
    # a pass leaves output out (the format recommends it); a NaN observed value too
    ok = CheckResult.healthy("fine", observed_value=float("nan"), name="x")
    assert ok.to_health_json() == {"status": "pass"} and ok.key == "x:status"
    assert CheckResult.unhealthy("down").to_health_json() == {"status": "fail", "output": "down"}
    assert CheckResult(U).key == "check:status"


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"status": "bad"}, ValueError, "unknown health status 'bad'"),
    ({"status": 2}, TypeError, "status must be a HealthStatus or a str, got int"),
    ({"status": H, "observed_value": [1]}, TypeError, "observed_value must be a number"),
    ({"status": H, "output": None}, TypeError, "output must be a str, got NoneType"),
    ({"status": H, "observed_unit": 3}, TypeError, "observed_unit must be a str or None"),
    ({"status": H, "component": 3}, TypeError, "component must be a str or None"),
    ({"status": H, "weight": "1"}, TypeError, "weight must be a number or None"),
    ({"status": H, "weight": math.inf}, ValueError, "weight must be finite"),
    ({"status": H, "time": math.nan}, ValueError, "time must be finite"),
])
def test_check_result_rejects_bad_fields(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        CheckResult(**kwargs)


# ---------------------------------------------------------------- HealthSettings


def test_settings_defaults():
    s = HealthSettings()
    assert (s.error_rate_degraded, s.error_rate_unhealthy) == (0.05, 0.20)
    assert (s.latency_quantile, s.latency_fraction, s.latency_unhealthy_fraction) == (
        0.99, 0.8, 1.0)
    assert (s.healthy_threshold, s.degraded_threshold) == (0.96, 0.75)
    assert dict(s.weights) == dict(DEFAULT_WEIGHTS) and set(s.weights) == set(BUILTIN_CHECKS)
    assert s.to_dict()["weights"] == dict(DEFAULT_WEIGHTS)
    assert s == HealthSettings() and hash(s) == hash(HealthSettings())


def test_settings_weights_merge_with_the_defaults_and_replace_validates():
    s = HealthSettings(weights={"pool": 0, "latency": 3})
    assert s.weights["pool"] == 0.0 and s.weights["latency"] == 3.0
    assert s.weights["breaker"] == DEFAULT_WEIGHTS["breaker"]
    assert s.replace(min_calls=3).min_calls == 3 and s.replace(min_calls=3).weights == s.weights
    assert s.replace(weights={"pool": 2}).weights == {**s.weights, "pool": 2.0}
    with pytest.raises(TypeError) as info:
        s.replace(min_call=3)
    assert str(info.value) == ("HealthSettings: unknown setting 'min_call'; did you mean "
                               "'min_calls'?")
    with pytest.raises(InvalidArgument) as info:
        s.replace(min_calls=0)
    assert str(info.value) == "HealthSettings: min_calls must be >= 1, got 0"


_CHECKS = ", ".join(BUILTIN_CHECKS)


@pytest.mark.parametrize("kwargs, parameter, message", [
    ({"timeout": 0}, "timeout", "timeout must be a finite number of seconds > 0, got 0"),
    ({"timeout": math.inf}, "timeout", "timeout must be a finite number of seconds > 0, got inf"),
    ({"timeout": 10 ** 400}, "timeout",
     "timeout must be a finite number of seconds > 0, got <int of 1329 bits>"),
    ({"error_rate_degraded": -0.1}, "error_rate_degraded",
     "error_rate_degraded must be in [0, 1], got -0.1"),
    ({"error_rate_unhealthy": 1.5}, "error_rate_unhealthy",
     "error_rate_unhealthy must be in [0, 1], got 1.5"),
    ({"error_rate_degraded": 0.3}, "error_rate_degraded",
     "error_rate_degraded must be below error_rate_unhealthy (0.2), got 0.3"),
    ({"error_rate_degraded": 0.2}, "error_rate_degraded",
     "error_rate_degraded must be below error_rate_unhealthy (0.2), got 0.2"),
    ({"latency_quantile": 0}, "latency_quantile", "latency_quantile must be in (0, 1], got 0"),
    ({"latency_fraction": -1}, "latency_fraction",
     "latency_fraction must be finite and > 0, got -1"),
    ({"latency_fraction": 1.0}, "latency_fraction",
     "latency_fraction must be below latency_unhealthy_fraction (1.0), got 1.0"),
    ({"latency_unhealthy_fraction": math.nan}, "latency_unhealthy_fraction",
     "latency_unhealthy_fraction must be finite and > 0, got nan"),
    ({"pool_min_hit_ratio": 1.1}, "pool_min_hit_ratio",
     "pool_min_hit_ratio must be in [0, 1], got 1.1"),
    ({"min_calls": 0}, "min_calls", "min_calls must be >= 1, got 0"),
    ({"min_calls": 2.5}, "min_calls", "min_calls must be an integer, got 2.5"),
    ({"window": 0}, "window", "window must be a finite number of seconds > 0, got 0"),
    ({"warmup": -1}, "warmup", "warmup must be >= 0, got -1"),
    ({"healthy_threshold": 0.7}, "degraded_threshold",
     "degraded_threshold must be below healthy_threshold (0.7), got 0.75"),
    ({"degraded_threshold": -0.5}, "degraded_threshold",
     "degraded_threshold must be in [0, 1], got -0.5"),
    ({"trend_window": 1}, "trend_window", "trend_window must be >= 2, got 1"),
    ({"trend_delta": -0.1}, "trend_delta", "trend_delta must be finite and >= 0, got -0.1"),
    ({"trend_consecutive": 0}, "trend_consecutive", "trend_consecutive must be >= 1, got 0"),
    ({"forecast_horizon": -1}, "forecast_horizon",
     "forecast_horizon must be a finite number of seconds >= 0, got -1"),
    ({"history_size": 5}, "history_size",
     "history_size must be at least trend_window (10), got 5"),
    ({"history_size": 10 ** 30}, "history_size",
     "history_size must be in [2, 9223372036854775807], got 1000000000000000000000000000000"),
    ({"weights": {"pool": -1}}, "weights['pool']",
     "weights['pool'] must be finite and >= 0, got -1"),
    ({"weights": {"pool": math.inf}}, "weights['pool']",
     "weights['pool'] must be finite and >= 0, got inf"),
    ({"weights": {"latancy": 1}}, "weights key",
     "weights key must be a built-in check's name (did you mean 'latency'?), got 'latancy'"),
    ({"weights": {"zzz": 1}}, "weights key",
     (f"weights key must be a built-in check's name ({_CHECKS}; a registered check takes its "
      "weight in register()), got 'zzz'")),
])
def test_settings_reject_bad_values(kwargs, parameter, message):
    with pytest.raises(InvalidArgument) as info:
        HealthSettings(**kwargs)
    assert type(info.value) is InvalidArgument and str(info.value) == f"HealthSettings: {message}"
    assert (info.value.owner, info.value.parameter) == ("HealthSettings", parameter)


@pytest.mark.parametrize("kwargs, message", [
    ({"timeout": "1"}, "timeout must be a real number, got str"),
    ({"error_rate_degraded": True}, "error_rate_degraded must be a real number, got bool"),
    ({"window": None}, "window must be a real number, got NoneType"),
    ({"warmup": True}, "warmup must be an integer, got bool"),
    ({"weights": [("pool", 1)]}, "weights must be a mapping of check name to weight, got list"),
    ({"weights": {1: 1.0}}, "weights keys must be check names (str), got int"),
    ({"weights": {"pool": "1"}}, "weights['pool'] must be a real number, got str"),
])
def test_settings_reject_bad_types(kwargs, message):
    with pytest.raises(TypeError) as info:
        HealthSettings(**kwargs)
    assert type(info.value) is TypeError and str(info.value) == f"HealthSettings: {message}"


@pytest.mark.parametrize("score, status", [
    (1.0, H), (0.96, H), (0.9599999, D), (0.75, D), (0.7499999, U), (0.0, U), (math.nan, U)])
def test_status_for_score_boundaries(score, status):
    assert HealthSettings().status_for(score) is status


@settings(max_examples=200, deadline=None)
@given(d=st.floats(0, 1), gap=st.floats(1e-6, 1), a=st.floats(0, 1), b=st.floats(0, 1))
def test_status_is_monotone_in_the_score(d, gap, a, b):
    h = min(1.0, d + gap)
    if not d < h:
        return
    s = HealthSettings(healthy_threshold=h, degraded_threshold=d)
    lo, hi = sorted((a, b))
    assert s.status_for(lo).score <= s.status_for(hi).score


# ---------------------------------------------------------------- estimate_trend


def test_trend_of_a_line_is_exact():
    t = estimate_trend([0, 10, 20, 30], [1.0, 0.9, 0.8, 0.7], horizon=10)
    assert t.slope == pytest.approx(-0.01, abs=1e-12)
    assert t.curvature == pytest.approx(0.0, abs=1e-12)
    assert t.forecast == pytest.approx(0.6, abs=1e-12)
    assert (t.horizon, t.points) == (10.0, 4)
    assert t.to_dict()["points"] == 4


def test_trend_of_a_parabola_is_exact():
    times = [0, 1, 2, 3, 4, 5]
    scores = [1 - 0.001 * x * x for x in times]           # H(t) = 1 - 0.001 t^2
    t = estimate_trend(times, scores, horizon=5)
    assert t.slope == pytest.approx(-0.01, abs=1e-12)      # H'(5)
    assert t.curvature == pytest.approx(-0.002, abs=1e-12)
    assert t.forecast == pytest.approx(0.9, abs=1e-12)     # H(10), the parabola's own value


def test_trend_is_independent_of_the_time_origin():
    a = estimate_trend([0, 7, 15, 30], [1.0, 0.95, 0.97, 0.8], horizon=20)
    b = estimate_trend([1e9, 1e9 + 7, 1e9 + 15, 1e9 + 30], [1.0, 0.95, 0.97, 0.8], horizon=20)
    assert b.slope == pytest.approx(a.slope, rel=1e-9)
    assert b.curvature == pytest.approx(a.curvature, rel=1e-9)


def test_trend_with_few_points_or_equal_times():
    one = estimate_trend([5.0], [0.8], horizon=60)
    assert (one.slope, one.curvature, one.forecast, one.points) == (0.0, 0.0, 0.8, 1)
    two = estimate_trend([0, 10], [1.0, 0.8], horizon=5)      # a line through two points
    assert two.slope == pytest.approx(-0.02) and two.curvature == 0.0
    assert two.forecast == pytest.approx(0.7)
    same = estimate_trend([3, 3, 3], [1.0, 0.5, 0.75], horizon=10)
    assert (same.slope, same.curvature, same.forecast) == (0.0, 0.0, 0.75)
    pairs = estimate_trend([0, 0, 10, 10], [1.0, 1.0, 0.8, 0.8])   # two distinct times
    assert pairs.slope == pytest.approx(-0.02) and pairs.curvature == 0.0


def test_trend_forecast_is_clamped():
    assert estimate_trend([0, 1, 2], [0.1, 0.05, 0.0], horizon=100).forecast == 0.0
    assert estimate_trend([0, 1, 2], [0.9, 0.95, 1.0], horizon=100).forecast == 1.0


@pytest.mark.parametrize("args, match", [
    (([], []), "no points"),
    (([0, 1], [1.0]), "same length, got 2 and 1"),
    (([0, math.nan], [1.0, 1.0]), "must be finite"),
    (([0, 1], [1.0, math.inf]), "must be finite"),
    (([0, 1], [1.0, 1.0], -1), "horizon must be a finite number >= 0"),
])
def test_trend_errors(args, match):
    with pytest.raises(ValueError, match=match):
        estimate_trend(*args)


# ---------------------------------------------------------------- score


def test_exact_scores_of_weighted_checks():
    c = _checker(builtin_checks=())
    c.register("a", _fixed(H))
    c.register("b", _fixed(D))
    r = c.check()
    assert r.score == 0.75 and r.status is D          # 0.75 meets degraded_threshold exactly
    assert [x.weight for x in r.checks] == [0.5, 0.5]
    c.unregister("b")
    c.register("b", _fixed(U), weight=1)
    c.unregister("a")
    c.register("a", _fixed(H), weight=3)
    r = c.check()
    assert r.score == 0.75 and r.status is D and c.weights == {"b": 0.25, "a": 0.75}
    c.register("c", _fixed(U), weight=4)             # (3*1) / 8
    assert c.check().score == 0.375 and c.last_report.status is U


def test_decimal_weights_meet_a_threshold_exactly():
    # 0.3 + 0.3*0.5 + 0.2*0.5 + 0.1 + 0.05 + 0.05 = 0.75 in decimal arithmetic
    c = _checker(builtin_checks=())
    for name, w, s in [("a", 0.3, H), ("b", 0.3, D), ("c", 0.2, D), ("d", 0.1, H),
                       ("e", 0.05, H), ("f", 0.05, H)]:
        c.register(name, _fixed(s), weight=w)
    r = c.check()
    assert r.score == 0.75 and r.status is D


def test_default_weights_give_the_documented_scores():
    # stand-ins for the built-in checks, in their levels (weighted by DEFAULT_LEVEL_WEIGHTS:
    # system 7, model 6, inference 7, resource 2)
    c = _checker(builtin_checks=())
    for name in BUILTIN_CHECKS:
        c.register(name, _fixed(H), weight=DEFAULT_WEIGHTS[name], level=BUILTIN_LEVELS[name])

    def score(**statuses):
        for name in BUILTIN_CHECKS:
            c.unregister(name)
            c.register(name, _fixed(statuses.get(name, H)), weight=DEFAULT_WEIGHTS[name],
                       level=BUILTIN_LEVELS[name])
        r = c.check()
        return r.score, r.status

    assert score() == (1.0, H)
    assert score(model_execution=U) == (float(Fraction(16, 22)), U)
    assert score(breaker=U) == (float(Fraction(16, 22)), U)
    assert score(error_rate=U) == (float(Fraction(18, 22)), D)
    assert score(error_rate=U, breaker=D) == (float(Fraction(15, 22)), U)
    assert score(error_rate=D, breaker=D) == (float(Fraction(17, 22)), D)
    assert score(latency=D) == (float(Fraction(21, 22)), D)
    assert score(pool=D) == (float(Fraction(43, 44)), H)
    assert score(monitor_alarms=D) == (float(Fraction(43, 44)), H)
    assert score(pool=D, monitor_alarms=D) == (float(Fraction(42, 44)), D)
    assert score(open_fds=U) == (float(1 - Fraction(2, 22) * Fraction(1, 3)), H)


def test_zero_weights_and_no_checks():
    c = _checker(builtin_checks=())
    r = c.check()
    assert (r.score, r.status, r.checks) == (1.0, H, ())
    c.register("a", _fixed(H), weight=0)
    c.register("b", _fixed(U), weight=0)
    assert c.check().score == 0.5                      # all zero: every check counts the same
    c.register("c", _fixed(H), weight=2)
    r = c.check()
    assert r.score == 1.0 and r.check("b").weight == 0.0   # a zero weight does not count


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HypothesisHealthCheck.too_slow])
@given(checks=st.lists(st.tuples(st.sampled_from(list(HealthStatus)),
                                 st.floats(0, 100, allow_nan=False)), min_size=1, max_size=8))
def test_score_is_the_weighted_mean_in_unit_interval(checks):
    c = _checker(builtin_checks=())
    for i, (status, w) in enumerate(checks):
        c.register(f"c{i}", _fixed(status), weight=w)
    r = c.check()
    weights = [Fraction(w) for _, w in checks]
    if sum(weights) == 0:
        weights = [Fraction(1)] * len(checks)
    expected = float(sum(w * Fraction(s.score) for (s, _), w in zip(checks, weights, strict=True))
                     / sum(weights))
    assert 0.0 <= r.score <= 1.0 and r.score == pytest.approx(expected, abs=1e-12)
    assert r.status is c.settings.status_for(r.score)
    assert sum(x.weight for x in r.checks) == pytest.approx(1.0)
    # making a check worse never raises the score
    worse = _checker(builtin_checks=())
    for i, (status, w) in enumerate(checks):
        worse.register(f"c{i}", _fixed(U if i == 0 else status), weight=w)
    assert worse.check().score <= r.score


# ---------------------------------------------------------------- error rate


@pytest.mark.parametrize("n, errors, status", [
    (100, 0, H), (100, 5, H), (100, 6, D), (100, 20, D), (100, 21, U), (100, 100, U),
    (1000, 50, H), (1000, 51, D), (1000, 200, D), (1000, 201, U), (20, 1, H), (20, 4, D),
    (20, 5, U)])
def test_error_rate_boundaries(n, errors, status):
    c = _checker(builtin_checks=("error_rate",))
    _record(c.runner.metrics, n, errors)
    r = c.check()
    check = r.check("error_rate")
    assert check.status is status and r.score == status.score
    assert check.observed_value == errors / n and check.observed_unit == "ratio"
    assert f"({errors} of {n} inferences)" in check.output


def test_error_rate_upstream_defects_are_fixed():
    # upstream tested > 5% before > 20% (unhealthy unreachable) and once
    # always reported degraded
    c = _checker(builtin_checks=("error_rate",))
    _record(c.runner.metrics, 100, 50)
    assert c.check().check("error_rate").status is U
    c.runner.metrics.reset()
    _record(c.runner.metrics, 100, 0)
    assert c.check().check("error_rate").status is H


@pytest.mark.parametrize("errors, status", [(0, H), (10, H), (11, D), (50, D), (51, U)])
def test_error_rate_thresholds_are_configurable(errors, status):
    c = _checker(builtin_checks=("error_rate",), error_rate_degraded=0.1,
                 error_rate_unhealthy=0.5)
    _record(c.runner.metrics, 100, errors)
    assert c.check().check("error_rate").status is status


def test_error_rate_zero_degraded_threshold():
    clock = fp.ManualClock(0.0)
    c = _checker(builtin_checks=("error_rate",), error_rate_degraded=0.0, clock=clock)
    _record(c.runner.metrics, 100, 0)
    assert c.check().check("error_rate").status is H
    _record(c.runner.metrics, 100, 1)
    clock.advance(60)
    assert c.check().check("error_rate").status is D


def test_error_rate_needs_min_calls():
    clock = fp.ManualClock(0.0)
    c = _checker(builtin_checks=("error_rate",), min_calls=10, window=10, clock=clock)
    _record(c.runner.metrics, 9, 9)
    r = c.check()
    check = r.check("error_rate")
    assert check.status is H and check.observed_value == 1.0
    assert check.output == ("9 inferences in the window, fewer than min_calls=10: not judged")
    clock.advance(10)
    none = c.check().check("error_rate")
    assert none.status is H and none.observed_value is None
    assert none.output.startswith("0 inferences")
    clock.advance(10)
    _record(c.runner.metrics, 10, 10)
    assert c.check().check("error_rate").status is U


def test_error_rate_window_forgets_an_ended_burst():
    clock = fp.ManualClock(0.0)
    c = _checker(builtin_checks=("error_rate",), clock=clock, window=30)
    statuses = []
    for errors in (30, 0, 0, 0):        # a burst, then clean traffic, checks every 10 s
        _record(c.runner.metrics, 100, errors)
        clock.advance(10)
        statuses.append(c.check().check("error_rate").observed_value)
    # the window reaches back to the newest check at least 30 s old (the start before)
    assert statuses == [0.3, 30 / 200, 30 / 300, 0.0]


def test_error_rate_after_a_metrics_reset_counts_since_the_reset():
    clock = fp.ManualClock(0.0)
    c = _checker(builtin_checks=("error_rate",), window=10, clock=clock)
    _record(c.runner.metrics, 100, 0)
    clock.advance(10)
    assert c.check().check("error_rate").status is H
    c.runner.metrics.reset()
    _record(c.runner.metrics, 20, 10)
    clock.advance(10)
    check = c.check().check("error_rate")
    assert check.status is U and check.observed_value == 0.5


# ---------------------------------------------------------------- latency


@pytest.mark.parametrize("values, status", [
    ([0.79] * 100, H), ([0.81] * 100, D), ([0.99] * 100, D), ([1.01] * 100, U),
    ([0.001] * 99 + [0.9], H),           # one slow call in 100: p99 is the 99th value
    ([0.001] * 98 + [0.9] * 2, D),
    ([0.001] * 99 + [5.0], H),
    ([0.001] * 98 + [0.9, 5.0], D),
    ([0.001] * 98 + [1.5] * 2, U),
])
def test_latency_boundaries(values, status):
    c = _checker(builtin_checks=("latency",), timeout=1.0)
    for v in values:
        c.runner.metrics.record(v)
    check = c.check().check("latency")
    assert check.status is status and check.observed_unit == "s"
    # the estimate is on the grid's quarter octaves and on the right side of the limits
    p99 = sorted(values)[98]
    assert check.observed_value == pytest.approx(p99, rel=0.2)
    assert (check.observed_value <= 0.8) == (status is H)
    assert (check.observed_value <= 1.0) == (status is not U)


@pytest.mark.parametrize("slow, status", [(50, H), (51, D)])
def test_latency_quantile_is_configurable(slow, status):
    c = _checker(builtin_checks=("latency",), timeout=1.0, latency_quantile=0.5)
    for i in range(100):
        c.runner.metrics.record(0.9 if i < slow else 0.001)
    check = c.check().check("latency")
    assert check.status is status and check.output.startswith("p50 latency")


def test_latency_fractions_are_configurable():
    clock = fp.ManualClock(0.0)
    c = _checker(builtin_checks=("latency",), timeout=0.1, latency_fraction=0.5,
                 latency_unhealthy_fraction=2.0, clock=clock)
    _record(c.runner.metrics, 50, seconds=0.045)
    assert c.check().check("latency").status is H
    clock.advance(60)
    _record(c.runner.metrics, 50, seconds=0.055)
    assert c.check().check("latency").status is D
    clock.advance(60)
    _record(c.runner.metrics, 50, seconds=0.15)
    assert c.check().check("latency").status is D
    clock.advance(60)
    _record(c.runner.metrics, 50, seconds=0.25)
    check = c.check().check("latency")
    assert check.status is U and "above 200% of the 100 ms timeout" in check.output


def test_latency_window_recovers_and_needs_min_calls():
    clock = fp.ManualClock(0.0)
    c = _checker(builtin_checks=("latency",), timeout=1.0, window=10, clock=clock)
    _record(c.runner.metrics, 9, seconds=2.0)
    check = c.check().check("latency")
    assert check.status is H and check.observed_value is None and "not judged" in check.output
    _record(c.runner.metrics, 10, seconds=2.0)
    clock.advance(10)
    assert c.check().check("latency").status is U
    _record(c.runner.metrics, 100, seconds=0.002)
    clock.advance(10)
    check = c.check().check("latency")
    assert check.status is H and check.observed_value == pytest.approx(0.002, rel=0.2)
    # extremes of the grid are reported as bounds
    clock.advance(10)
    _record(c.runner.metrics, 20, seconds=1e-7)
    assert c.check().check("latency").output.startswith("p99 latency <= ")
    clock.advance(10)
    _record(c.runner.metrics, 20, seconds=100.0)
    assert c.check().check("latency").output.startswith("p99 latency > ")


# ---------------------------------------------------------------- trace pool


def test_pool_is_judged_after_warm_up_only():
    c = _checker(builtin_checks=("pool",), warmup=3)
    r = c.runner
    held = [r.infer(22.0) for _ in range(20)]          # every acquisition misses
    check = c.check().check("pool")
    assert check.status is H and check.output == "not judged before warm-up"
    del held
    assert c.warm_up().status is H and c.warmed_up


def test_pool_hit_ratio_boundaries_after_warm_up():
    clock = fp.ManualClock(0.0)
    c = _checker(builtin_checks=("pool",), warmup=3, window=10, pool_min_hit_ratio=0.8, clock=clock)
    r = c.runner
    c.warm_up()
    assert r.pool.stats.size == 1
    # 10 acquisitions, 2 of them misses: three results held at once
    held = [r.infer(22.0) for _ in range(3)]
    del held
    for _ in range(7):
        r.infer(22.0)
    check = c.check().check("pool")
    assert check.observed_value == 0.8 and check.status is H
    assert check.output == "trace-pool hit ratio 0.8 (8 of 10 acquisitions)"
    # 10 more, 3 misses: four results held at once (the pool holds three)
    clock.advance(10)
    held = [r.infer(22.0) for _ in range(4)]
    del held
    for _ in range(6):
        r.infer(22.0)
    check = c.check().check("pool")
    assert check.observed_value == 0.9 and check.status is H
    clock.advance(10)
    held = [r.infer(22.0) for _ in range(7)]          # 4 hits, 3 misses
    del held
    for _ in range(3):
        r.infer(22.0)
    check = c.check().check("pool")
    assert check.observed_value == 0.7 and check.status is D
    assert check.output.endswith("below 0.8")


def test_pool_needs_min_calls():
    c = _checker(builtin_checks=("pool",), warmup=2)
    c.warm_up()
    for _ in range(3):
        c.runner.infer(22.0)
    check = c.check().check("pool")
    assert check.status is H and check.output.startswith("3 trace acquisitions in the window")


# ---------------------------------------------------------------- breaker


def test_breaker_states_map_to_statuses():
    clock = fp.ManualClock(0.0)
    b = fp.CircuitBreaker(clock=clock, minimum_calls=4, window_size=10, open_duration=5.0)
    c = _checker(_runner(breaker=b), builtin_checks=("breaker",), clock=clock)
    assert c.check().check("breaker").status is H
    for _ in range(4):
        b.record_success()
    b.record_failure()                                  # 20% >= 5%
    check = c.check().check("breaker")
    assert (check.status, check.observed_value) == (D, "DEGRADED")
    assert "failure rate 20% over 5 calls" in check.output
    b.force_open(5.0)
    r = c.check()
    assert (r.check("breaker").status, r.status, r.http_status) == (U, U, 503)
    assert "refusing calls for 5 s" in r.check("breaker").output
    clock.advance(6)
    assert b.allow() and b.state is fp.BreakerState.RECOVERY
    assert c.check().check("breaker").status is D
    b.force_open()
    assert "refusing calls until reset" in c.check().check("breaker").output
    b.reset()
    assert c.check().check("breaker").status is H


# ---------------------------------------------------------------- monitor alarms


def test_monitor_alarms_in_the_window_degrade():
    clock = fp.ManualClock(0.0)
    c = _checker(builtin_checks=("monitor_alarms",), window=10, clock=clock)
    check = c.check().check("monitor_alarms")
    assert check.status is H and check.output == "no monitors attached to the runner's metrics"
    m = c.runner.metrics
    m.attach(EWMA(mu0=0.001, sigma=0.0001, reset_on_alarm=True), "latency_ewma")
    _record(m, 10, seconds=0.001)
    clock.advance(10)
    check = c.check().check("monitor_alarms")
    assert (check.status, check.observed_value) == (H, 0)
    _record(m, 3, seconds=0.01)                         # a latency shift: three alarms
    clock.advance(10)
    check = c.check().check("monitor_alarms")
    assert (check.status, check.observed_value, check.observed_unit) == (D, 3, "alarms")
    assert check.output == "3 monitor alarm(s) in the window: latency_ewma (3)"
    clock.advance(10)                                # nothing new: healthy again
    assert c.check().check("monitor_alarms").status is H


# ---------------------------------------------------------------- model execution (smoke run)


def test_smoke_run_does_not_touch_the_runner():
    c = _checker()
    r = c.check()
    check = r.check("model_execution")
    assert check.status is H and check.output.startswith("smoke run ok in")
    assert check.observed_unit == "s" and check.observed_value > 0
    runner = c.runner
    assert runner.metrics.inference_count == 0 and runner.breaker.metrics["total_calls"] == 0
    assert runner.pool.stats.hits + runner.pool.stats.misses == 0


def test_smoke_run_failure_names_the_exception_type_only():
    c = _checker(_runner(flaky_sensor), smoke_args=(-1.0,), builtin_checks=("model_execution",))
    r = c.check()
    check = r.check("model_execution")
    assert check.status is U and check.output == "smoke run failed: SensorFault"
    assert "s3cr3t" not in r.to_json() and "s3cr3t" not in r.message


def test_smoke_run_timeout_and_slow_run():
    c = _checker(_runner(busy_model), smoke_args=(120_000.0,), timeout=0.1,
                 builtin_checks=("model_execution",))
    check = c.check().check("model_execution")
    assert check.status is U and check.output == "smoke run exceeded the 100 ms timeout"
    # 90 ms of a 100 ms timeout: above 80%, 10 ms below the deadline
    c = _checker(_runner(busy_model), smoke_args=(90_000.0,), timeout=0.1,
                 builtin_checks=("model_execution",))
    check = c.check().check("model_execution")
    assert check.status is D and "above 80% of the 100 ms timeout" in check.output


def test_smoke_run_zero_probability_trace_is_degraded():
    def impossible():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.observe("y", fp.Uniform(0.0, 1.0), 2.0)
        return x

    c = _checker(_runner(impossible), smoke_args=(), builtin_checks=("model_execution",))
    check = c.check().check("model_execution")
    assert check.status is D and check.output == "smoke run trace issues: rejected"


def test_smoke_args_go_through_the_runner_schema():
    schema = Schema({"reading": Finite() & Range(-50.0, 150.0)})
    runner = _runner(schema=schema)
    c = _checker(runner, smoke_args=(), smoke_kwargs={"reading": 21})
    assert c.check().check("model_execution").status is H
    with pytest.raises(ValueError, match="smoke_args/smoke_kwargs are rejected by the runner's "
                                         "schema.*reading"):
        _checker(runner, smoke_args=(500.0,))


def test_timeout_comes_from_the_config_or_the_settings():
    cfg = load_config(env={"FUGUE_RUNTIME__MAX_INFERENCE_TIME": "0.25"})
    assert _checker(_runner(config=cfg)).timeout == 0.25
    assert _checker(_runner(config=cfg), timeout=2).timeout == 2.0
    assert _checker().timeout == 1.0


# ---------------------------------------------------------------- custom checks


def test_register_and_unregister():
    c = _checker()
    assert c.checks == BUILTIN_CHECKS
    c.register("db", lambda: CheckResult.healthy("connected", observed_value=3,
                                                  observed_unit="ms"),
               weight=2, component="database", measurement="responseTime",
               component_type="datastore", component_id="db-1")
    # db: 2 of the system level's 9 (breaker 6, pool 1), the level 7 of the levels' 22
    assert c.checks[-1] == "db" and c.weights["db"] == float(Fraction(2, 9) * Fraction(7, 22))
    r = c.check()
    assert r.check("db").key == "database:responseTime"
    assert r.to_health_json()["checks"]["database:responseTime"] == [{
        "componentId": "db-1", "componentType": "datastore", "observedValue": 3,
        "observedUnit": "ms", "status": "pass", "time": WALL_TEXT}]
    c.unregister("db")
    c.unregister("pool")
    assert "db" not in c.checks and "pool" not in c.checks
    with pytest.raises(KeyError, match="no check named 'db'"):
        c.unregister("db")
    with pytest.raises(KeyError, match="no check named 'nope' in the report"):
        r.check("nope")


@pytest.mark.parametrize("args, kwargs, exc, match", [
    (("breaker", lambda: H), {}, ValueError, "a check named 'breaker' is already registered"),
    (("", lambda: H), {}, ValueError, "name must not be empty"),
    ((3, lambda: H), {}, TypeError, "name must be a str, got int"),
    (("x", "not callable"), {}, TypeError, "check 'x': func must be callable, got str"),
    (("x", lambda: H), {"weight": -1}, ValueError, "weight must be finite and >= 0, got -1.0"),
    (("x", lambda: H), {"weight": math.nan}, ValueError, "weight must be finite and >= 0"),
    (("x", lambda: H), {"weight": "2"}, TypeError, "weight must be a number, got str"),
    (("x", lambda: H), {"component": 1}, TypeError, "component must be a str or None"),
    (("x", lambda: H), {"measurement": ""}, ValueError, "measurement must not be empty"),
    (("x", lambda: H), {"measurement": None}, TypeError, "measurement must be a str"),
    (("x", lambda: H), {"readiness": 1}, TypeError, "readiness must be a bool"),
])
def test_register_rejects_bad_arguments(args, kwargs, exc, match):
    c = _checker()
    with pytest.raises(exc, match=match):
        c.register(*args, **kwargs)


def test_a_check_that_raises_is_unhealthy_and_logged(caplog):
    c = _checker(builtin_checks=())

    def broken():
        raise ConnectionError("password=hunter2 refused")

    c.register("db", broken)
    c.register("cache", lambda: D)                     # a bare status is accepted
    with caplog.at_level(logging.WARNING, logger="fugue_ppl.serving.health"):
        r = c.check()
    db = r.check("db")
    assert db.status is U and db.output == "check 'db' raised ConnectionError"
    assert r.check("cache").status is D and r.score == 0.25
    assert "hunter2" not in r.to_json() and "hunter2" not in r.message
    assert any("health check 'db' raised ConnectionError" in m for m in caplog.messages)


@pytest.mark.parametrize("value", [None, 1, "healthy", {"status": "healthy"}])
def test_a_check_returning_something_else_is_an_error_naming_it(value):
    c = _checker(builtin_checks=())
    c.register("queue", lambda: value)
    with pytest.raises(TypeError, match=f"health check 'queue' returned {type(value).__name__}; "
                                        "expected a CheckResult or a HealthStatus"):
        c.check()
    c.unregister("queue")
    assert c.check().status is H                       # the checker is still usable


# ---------------------------------------------------------------- health+json


def test_health_json_of_a_degraded_report():
    c = _checker(builtin_checks=("error_rate", "breaker"), service_id="sensor-svc",
                 description="temperature sensor")
    _record(c.runner.metrics, 100, 10)
    r = c.check()
    # the inference level (the error rate alone, degraded: 0.5) and the system level (the
    # breaker alone, ok: 1) weigh the same (7 and 7)
    assert (r.status, r.score) == (D, 0.75)
    assert r.http_status == 200 and r.time == WALL_TEXT and r.timestamp == WALL
    doc = r.to_health_json()
    assert doc["status"] == "warn" and doc["serviceId"] == "sensor-svc"
    assert doc["version"] == "1" and doc["description"] == "temperature sensor"
    assert doc["output"] == r.message
    assert r.message.startswith("degraded (score 0.750): error_rate degraded: error rate 10%")
    assert set(doc["checks"]) == {"model:errorRate", "circuitBreaker:state"}
    assert doc["checks"]["model:errorRate"] == [{
        "componentId": "default", "componentType": "component", "observedValue": 0.1,
        "observedUnit": "ratio", "status": "warn", "time": WALL_TEXT,
        "output": "error rate 10% (10 of 100 inferences) above 5%"}]
    assert doc["checks"]["circuitBreaker:state"][0]["observedValue"] == "HEALTHY"
    assert doc["score"] == 0.75 and doc["warning"] is False and doc["time"] == WALL_TEXT
    assert json.loads(r.to_json()) == doc
    assert r.media_type == HEALTH_JSON_MEDIA_TYPE == "application/health+json"


def test_health_json_status_codes():
    for status, text, code in [(H, "pass", 200), (D, "warn", 200), (U, "fail", 503)]:
        c = _checker(builtin_checks=())
        c.register("ok", _fixed(H))
        c.register("only", _fixed(status, output="why"))
        r = c.check()                                  # scores 1, 0.75, 0.5
        doc = r.to_health_json()
        assert (r.status, doc["status"], r.http_status) == (status, text, code)
        assert ("output" in doc) == (status is not H)
        assert ("output" in doc["checks"]["only:status"][0]) == (status is not H)


def test_health_json_groups_checks_by_key_and_is_strict_json():
    c = _checker(builtin_checks=())
    c.register("a", _fixed(H, observed_value=math.inf), component="disk", measurement="used")
    c.register("b", _fixed(D), component="disk", measurement="used")
    doc = c.check().to_health_json()
    assert [x["status"] for x in doc["checks"]["disk:used"]] == ["pass", "warn"]
    assert "observedValue" not in doc["checks"]["disk:used"][0]
    json.loads(c.last_report.to_json(indent=2))
    assert HealthReport(H, math.nan, "x").to_json()     # NaN score becomes null
    with pytest.raises(ValueError, match="kind must be"):
        HealthReport(H, 1.0, "x", kind="other")


# ---------------------------------------------------------------- liveness and readiness


def test_liveness_checks_nothing_but_the_process():
    clock = fp.ManualClock(100.0)
    c = _checker(_runner(flaky_sensor), smoke_args=(-1.0,), clock=clock, warmup=5)
    c.runner.breaker.force_open()
    clock.advance(42.5)
    r = c.liveness()
    assert (r.kind, r.status, r.score, r.http_status) == ("liveness", H, 1.0, 200)
    doc = r.to_health_json()
    assert doc["status"] == "pass" and list(doc["checks"]) == ["process:uptime"]
    assert doc["checks"]["process:uptime"][0] == {
        "componentType": "system", "observedValue": 42.5, "observedUnit": "s",
        "status": "pass", "time": WALL_TEXT}
    assert "forecast" not in doc and "warning" not in doc
    assert c.check().status is U                       # while the health check fails


def test_readiness_needs_warm_up_and_a_closed_breaker():
    c = _checker(warmup=5)
    r = c.readiness()
    assert (r.kind, r.status, r.http_status) == ("readiness", U, 503)
    assert r.check("warm_up").output == "warm-up not done (call HealthChecker.warm_up())"
    assert r.message.startswith("not ready: warm_up unhealthy")
    assert set(r.to_health_json()["checks"]) == {"model:loaded", "model:warmup",
                                                 "circuitBreaker:state"}
    w = c.warm_up()
    assert (w.status, w.observed_value, w.output) == (H, 5, "warm-up done: 5 smoke runs")
    r = c.readiness()
    assert (r.status, r.http_status, r.message, r.score) == (H, 200, "ready", 1.0)
    assert r.check("warm_up").observed_value == 5
    b = c.runner.breaker
    b.force_open()
    r = c.readiness()
    assert (r.status, r.http_status) == (U, 503) and r.check("breaker").observed_value == "FAILED"
    b.reset()
    assert c.readiness().status is H


def test_readiness_stays_ready_in_recovery():
    clock = fp.ManualClock(0.0)
    b = fp.CircuitBreaker(clock=clock, open_duration=1.0)
    c = _checker(_runner(breaker=b), clock=clock)
    b.force_open(1.0)
    assert c.readiness().status is U
    clock.advance(2)
    b.allow()
    r = c.readiness()
    assert b.state is fp.BreakerState.RECOVERY and r.status is H
    assert r.check("breaker").observed_value == "RECOVERY"


def test_failed_warm_up_is_not_ready():
    c = _checker(_runner(flaky_sensor), smoke_args=(-1.0,), warmup=4)
    w = c.warm_up()
    assert w.status is U and w.observed_value == 0
    assert w.output == "warm-up failed: 4 of 4 smoke runs failed (first: SensorFault)"
    assert not c.warmed_up
    r = c.readiness()
    assert r.status is U and r.check("warm_up").output == w.output


def test_warm_up_uses_the_pool_but_not_the_metrics_or_breaker():
    c = _checker(warmup=5)
    runner = c.runner
    c.warm_up()
    s = runner.pool.stats
    assert (s.hits, s.misses, s.size) == (4, 1, 1)
    assert runner.metrics.inference_count == 0 and runner.breaker.metrics["total_calls"] == 0
    assert c.warm_up(0).output == "warm-up done: 0 smoke runs" and c.warmed_up
    with pytest.raises(ValueError, match="warm_up: n must be >= 0, got -1"):
        c.warm_up(-1)
    with pytest.raises(TypeError, match="warm_up: n must be an int, got float"):
        c.warm_up(2.0)


def test_readiness_runs_registered_readiness_checks():
    c = _checker()
    c.register("db", _fixed(D, output="slow"), readiness=True)
    c.register("other", _fixed(U))                    # not a readiness check
    r = c.readiness()
    assert (r.status, r.http_status) == (D, 200) and r.to_health_json()["status"] == "warn"
    assert [x.name for x in r.checks] == ["model_loaded", "warm_up", "breaker", "db"]
    c.unregister("db")
    c.register("db", _fixed(U), readiness=True)
    assert c.readiness().http_status == 503


# ---------------------------------------------------------------- trend and early warning


def _stepper(c, n):
    """``n`` equal-weight checks; ``set_bad(k)`` makes the first ``k`` degraded."""
    state = {"bad": 0}
    for i in range(n):
        c.register(f"c{i}", lambda i=i: D if i < state["bad"] else H)
    return lambda k: state.__setitem__("bad", k)


def test_early_warning_fires_before_the_status_degrades():
    clock = fp.ManualClock(0.0)
    c = _checker(builtin_checks=(), clock=clock, healthy_threshold=0.9, degraded_threshold=0.5,
                 trend_delta=0.001, trend_consecutive=2, trend_window=4, forecast_horizon=30)
    set_bad = _stepper(c, 20)                          # each degraded check costs 0.025
    seen = []
    for bad in (0, 0, 1, 2, 3, 4, 5, 5, 0):
        set_bad(bad)
        clock.advance(10)
        r = c.check()
        seen.append((r.score, r.status, r.warning))
    assert seen == [
        (1.0, H, False), (1.0, H, False),
        (0.975, H, False),             # first fall: one check below -delta
        (0.95, H, True),               # second in a row: warning, still healthy
        (0.925, H, True), (0.9, H, True),
        (0.875, D, True),              # the status leaves HEALTHY two checks later
        (0.875, D, False),             # the fall stopped
        (1.0, H, False),
    ]
    warned = next(i for i, s in enumerate(seen) if s[2])
    degraded = next(i for i, s in enumerate(seen) if s[1] is not H)
    assert degraded - warned >= 1


def test_trend_of_the_report_matches_estimate_trend():
    clock = fp.ManualClock(0.0)
    c = _checker(builtin_checks=(), clock=clock, trend_window=3, history_size=5,
                 forecast_horizon=20, trend_delta=0.0, trend_consecutive=1,
                 healthy_threshold=0.9, degraded_threshold=0.5)
    set_bad = _stepper(c, 10)
    for bad, dt in zip((0, 1, 1, 2, 4, 4, 6, 7), (5, 10, 7, 10, 3, 10, 10, 10), strict=True):
        set_bad(bad)
        clock.advance(dt)
        r = c.check()
    hist = c.history
    assert len(hist) == 5 and hist[-1] == (65.0, 0.65)
    expected = estimate_trend([t for t, _ in hist[-3:]], [s for _, s in hist[-3:]], 20)
    assert r.trend == expected and r.forecast == expected.forecast
    assert r.forecast_status is c.settings.status_for(expected.forecast)
    # three points 10 s apart, 0.8 -> 0.7 -> 0.65: the parabola through them has
    # H' = -0.0025 and H'' = 0.0005 at the last; H(t+20) = 0.65 - 0.05 + 0.1
    assert r.trend.slope == pytest.approx(-0.0025, abs=1e-12)
    assert r.trend.curvature == pytest.approx(0.0005, abs=1e-12)
    assert r.forecast == pytest.approx(0.7, abs=1e-12)
    assert r.warning and len(r.notes) == 1 and r.notes[0].startswith(
        "early warning: health score falling at -0.0025/s for ")
    doc = r.to_health_json()
    assert doc["notes"] == list(r.notes) and doc["warning"] is True
    assert doc["trend"]["points"] == 3 and doc["forecast"] == r.forecast


# ---------------------------------------------------------------- scenarios (ModelRunner)


def test_scenario_error_bursts_through_a_model_runner():
    clock = fp.ManualClock(0.0)
    breaker = fp.CircuitBreaker(clock=clock)          # defaults: count window 100, 20 calls
    runner = _runner(flaky_sensor, breaker=breaker)
    c = _checker(runner, clock=clock, window=10, warmup=5)
    c.warm_up()

    def phase(n, failures, pause=0.0):
        clock.advance(pause)
        _traffic(runner, n, failures)
        clock.advance(10)
        r = c.check()
        bad = {x.name: x.status for x in r.checks if x.status is not H}
        return r.status, r.score, bad

    assert phase(50, 0) == (H, 1.0, {})
    # levels (weights): model (6), inference (7: error rate 4, latency 2, alarms 1),
    # system (7: breaker 6, pool 1), resource (2)
    assert phase(100, 10) == (D, float(Fraction(17, 22)), {"error_rate": D, "breaker": D})
    assert phase(100, 30) == (U, float(Fraction(15, 22)), {"error_rate": U, "breaker": D})
    assert phase(100, 0) == (H, 1.0, {})               # the burst ended: recovered
    assert phase(100, 60) == (U, float(Fraction(12, 22)),
                              {"error_rate": U, "breaker": U})   # breaker opens
    # calls rejected: no inferences
    assert phase(10, 0) == (U, float(Fraction(16, 22)), {"breaker": U})
    assert phase(10, 0, pause=30) == (H, 1.0, {})      # open 30 s, then 5 trial calls close it
    # the checker's smoke and warm-up runs were never counted: only the runner's calls
    b = breaker.metrics
    assert runner.metrics.inference_count == b["successful_calls"] + b["failed_calls"]
    assert runner.metrics.error_count == b["failed_calls"]


def test_scenario_latency_drift_through_a_model_runner():
    # timeout 40 ms, degraded above 20 ms; the runner enforces the same deadline
    clock = fp.ManualClock(0.0)
    runner = _runner(busy_model, deadline=0.04)
    c = _checker(runner, clock=clock, smoke_args=(0.0,), timeout=0.04, latency_fraction=0.5,
                 window=10, min_calls=5)
    statuses = []
    for us, n in ((0, 20), (28_000, 5), (60_000, 5), (0, 100)):
        for _ in range(n):
            runner.infer(float(us))
        clock.advance(10)
        r = c.check()
        statuses.append((r.status, r.check("latency").status, r.check("error_rate").status,
                         r.check("breaker").status))
    assert statuses == [
        (H, H, H, H),
        (D, D, H, H),          # p99 ~28 ms > 20 ms: degraded (0.95 overall)
        (U, U, U, D),          # 60 ms: every call times out; errors open nothing yet
        (H, H, H, H),          # drift over, 100 fast calls flush the breaker's window
    ]


def test_scenario_slow_deterioration_warns_while_still_healthy():
    clock = fp.ManualClock(0.0)
    runner = _runner(busy_model)
    runner.metrics.attach(EWMA(mu0=0.0005, sigma=0.001, reset_on_alarm=True), "latency_ewma")
    c = _checker(runner, clock=clock, smoke_args=(0.0,), window=10, warmup=5,
                 trend_delta=0.0005, trend_consecutive=1)
    c.warm_up()
    seen = []
    leaked = []
    for step in ("normal", "trace leak", "leak + latency drift", "fixed"):
        if step == "fixed":
            leaked.clear()
        for _ in range(20):
            res = runner.infer(0.0)
            if step != "fixed" and step != "normal":
                leaked.append(res)            # results kept alive: their traces never return
        if step == "leak + latency drift":
            for _ in range(10):
                leaked.append(runner.infer(10_000.0))
        clock.advance(10)
        r = c.check()
        bad = sorted(x.name for x in r.checks if x.status is not H)
        seen.append((r.status, r.score, bad, r.warning))
    assert seen == [
        (H, 1.0, [], False),
        (H, float(Fraction(43, 44)), ["pool"], True),      # early warning, still healthy
        (D, float(Fraction(42, 44)), ["monitor_alarms", "pool"], True),
        (H, 1.0, [], False),
    ]


def test_concurrent_checks_while_inferring():
    runner = _runner(sensor)
    c = HealthChecker(runner, smoke_args=(22.0,), warmup=3)
    c.warm_up()
    start = threading.Barrier(6)
    errors = []
    reports = []

    def infer():
        try:
            start.wait()
            for _ in range(300):
                assert runner.infer(22.0).ok
        except Exception as exc:  # noqa: BLE001 - reported below  # pragma: no cover
            errors.append(exc)

    def probe():
        try:
            start.wait()
            for _ in range(15):
                reports.append(c.check())
                assert c.liveness().status is H
                assert c.readiness().status is H
        except Exception as exc:  # noqa: BLE001 - reported below  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=infer) for _ in range(3)]
    threads += [threading.Thread(target=probe) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(reports) == 45 and len(c.history) == 45
    times = [t for t, _ in c.history]
    assert times == sorted(times)
    for r in reports:
        assert r.check("error_rate").status is H and r.check("breaker").status is H
        assert 0.0 <= r.score <= 1.0 and json.loads(r.to_json())["checks"]
    assert runner.metrics.inference_count == 900 and runner.metrics.error_count == 0


# ---------------------------------------------------------------- construction


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"runner": "runner"}, TypeError, "runner must be a ModelRunner, got str"),
    ({"settings": {}}, TypeError, "settings must be a HealthSettings, got dict"),
    ({"min_call": 3}, TypeError,
     r"^HealthSettings: unknown setting 'min_call'; did you mean 'min_calls'\?$"),
    ({"clock": 1.0}, TypeError, "clock must be callable, got float"),
    ({"wall_clock": None}, TypeError, "wall_clock must be callable, got NoneType"),
    ({"service_id": 1}, TypeError, "service_id must be a str or None"),
    ({"smoke_args": "22"}, TypeError, "smoke_args must be a sequence"),
    ({"smoke_kwargs": [1]}, TypeError, "smoke_kwargs must be a mapping"),
    ({"smoke_seed": -1}, InvalidArgument, "HealthChecker: smoke_seed must be >= 0, got -1"),
    ({"smoke_seed": 1.5}, InvalidArgument, "HealthChecker: smoke_seed must be an integer, got 1.5"),
    ({"smoke_seed": "1"}, TypeError, "HealthChecker: smoke_seed must be an integer, got str"),
    ({"builtin_checks": ("latancy",)}, ValueError,
     "unknown check 'latancy'.*did you mean 'latency'"),
    ({"builtin_checks": "latency"}, TypeError,
     "builtin_checks must be an iterable of check names, got str"),
    ({"error_rate_degraded": 0.5}, InvalidArgument,
     (r"^HealthSettings: error_rate_degraded must be below error_rate_unhealthy \(0.2\), "
      r"got 0.5$")),
])
def test_checker_rejects_bad_arguments(kwargs, exc, match):
    runner = kwargs.pop("runner", None) or _runner()
    with pytest.raises(exc, match=match) as info:
        _checker(runner, **kwargs)
    assert isinstance(info.value, exc)


def test_runner_without_metrics_has_no_metric_checks():
    runner = _runner(metrics=False)
    c = _checker(runner)
    assert c.checks == ("model_execution", "pool", "breaker", "cpu", "memory", "open_fds")
    assert c.check().status is H
    with pytest.raises(ValueError, match="'error_rate' needs the runner's metrics"):
        _checker(runner, builtin_checks=("error_rate",))


def test_settings_object_and_overrides_and_accessors():
    s = HealthSettings(min_calls=3, window=5)
    c = _checker(settings=s, window=7)
    assert c.settings.min_calls == 3 and c.settings.window == 7.0
    assert c.runner.model is sensor and c.last_report is None and c.history == ()
    assert repr(c).startswith("HealthChecker('default', checks=['model_execution'")
    r = c.check()
    assert c.last_report is r and r.kind == "health" and r.version == "1"
    assert r.service_id == "default" and r.description == "fugue-ppl model 'default'"


def test_module_surface_and_examples():
    assert set(health.__all__) == {
        "HealthStatus", "CheckResult", "HealthReport", "HealthSettings", "HealthChecker",
        "Trend", "estimate_trend", "BUILTIN_CHECKS", "DEFAULT_WEIGHTS",
        "HEALTH_JSON_MEDIA_TYPE", "LEVELS", "BUILTIN_LEVELS", "DEFAULT_LEVEL_WEIGHTS",
        "LevelResult", "ProcessFigures", "ProcessReader"}
    assert isinstance(estimate_trend([0], [1.0]), Trend)
    # the doctests of every module of the package
    names = [m.name for m in pkgutil.iter_modules(health.__path__)]
    assert {"checker", "report", "resources", "settings", "status", "trend"} <= set(names)
    results = {name: doctest.testmod(importlib.import_module(f"{health.__name__}.{name}"),
                                     optionflags=doctest.ELLIPSIS)
               for name in names}
    results["__init__"] = doctest.testmod(health, optionflags=doctest.ELLIPSIS)
    assert all(r.failed == 0 for r in results.values()), results
    assert {name for name, r in results.items() if r.attempted} >= {
        "checker", "report", "settings", "status", "trend"}, results
    assert sum(r.attempted for r in results.values()) >= 20
    assert Fraction(DEFAULT_WEIGHTS["pool"]) == 1


def test_settings_come_from_the_runner_config():
    cfg = load_config(env={"FUGUE_HEALTH__ERROR_RATE_DEGRADED": "0.1",
                           "FUGUE_HEALTH__WARMUP": "0", "FUGUE_RUNTIME__MAX_INFERENCE_TIME": "0.5"})
    runner = fp.ModelRunner(sensor, config=cfg, rng=1)
    checker = HealthChecker(runner, smoke_args=(22.0,))
    assert checker.settings is cfg.health
    assert checker.settings.error_rate_degraded == 0.1 and checker.settings.warmup == 0
    assert checker.timeout == 0.5 == runner.deadline
    assert checker.readiness().http_status == 200          # warmup 0: ready at once
    assert HealthChecker(fp.ModelRunner(sensor, rng=1, deadline=0.05)).timeout == 0.05
    # a runner built without a config has no [health] section: the defaults
    assert HealthSettings.from_config(fp.ModelRunner(sensor, rng=1).config) == HealthSettings()
    for bad in (object(), {"health": HealthSettings()}):
        with pytest.raises(TypeError) as info:
            HealthSettings.from_config(bad)
        assert str(info.value) == ("HealthSettings.from_config: expected a "
                                   f"fugue_ppl.config.Config, got {type(bad).__name__}")
    # the order of the two error rates is checked where the layers meet
    with pytest.raises(fp.ConfigError) as info:
        load_config(env={"FUGUE_HEALTH__ERROR_RATE_DEGRADED": "0.2"})
    assert str(info.value) == (
        "health.error_rate_degraded = 0.2 (environment variable "
        "FUGUE_HEALTH__ERROR_RATE_DEGRADED) and health.error_rate_unhealthy = 0.2 (defaults): "
        "error_rate_degraded must be below error_rate_unhealthy")
    assert info.value.key == "health.error_rate_degraded"


def test_the_config_health_section_is_the_settings_type():
    from fugue_ppl.config import Config
    cfg = Config()
    assert type(cfg.health) is HealthSettings and cfg.health == HealthSettings()
    assert HealthSettings.from_config(cfg) is cfg.health


@pytest.mark.parametrize("monitor", [
    ShewhartChart(mu0=0.001, sigma=0.0001, reset_on_alarm=True),
    CUSUM(mu0=0.001, sigma=0.0001, reset_on_alarm=True)])
def test_control_chart_and_cusum_alarms_degrade_too(monitor):
    clock = fp.ManualClock(0.0)
    c = _checker(builtin_checks=("monitor_alarms",), window=10, clock=clock)
    m = c.runner.metrics
    m.attach(monitor, "latency_chart")
    _record(m, 10, seconds=0.001)
    clock.advance(10)
    assert c.check().check("monitor_alarms").status is H
    _record(m, 3, seconds=0.01)                         # 90 sigma above the centre line
    clock.advance(10)
    check = c.check().check("monitor_alarms")
    assert check.status is D and check.observed_value >= 1
    assert check.output.endswith(f"latency_chart ({check.observed_value})")


def test_custom_weights_change_the_score_of_the_builtin_checks():
    # The breaker DEGRADED alone: 0.5 of its weight is lost.
    def degraded_breaker():
        b = fp.CircuitBreaker(minimum_calls=2, window_size=2, degraded_threshold=0.4,
                              failure_threshold=0.9)
        b.record_success()
        b.record_failure()
        assert b.state is fp.BreakerState.DEGRADED
        return _runner(breaker=b)

    # The breaker is in the system level (with the pool), 7 of the levels' 22.
    levels = DEFAULT_LEVEL_WEIGHTS
    system = Fraction(int(levels["system"]), int(sum(levels.values())))
    breaker, pool = int(DEFAULT_WEIGHTS["breaker"]), int(DEFAULT_WEIGHTS["pool"])
    default = _checker(degraded_breaker()).check()
    assert default.score == float(1 - system * Fraction(breaker, 2 * (breaker + pool)))
    heavy = _checker(degraded_breaker(), weights={"breaker": 20}).check()
    assert heavy.score == float(1 - system * Fraction(20, 2 * (20 + pool)))
    assert heavy.score < default.score
    assert heavy.levels["system"].score == float(Fraction(1 + 10, 21))


def test_smoke_run_reports_a_non_finite_value_as_degraded():
    def overflowing(_):
        return fp.sample("big", fp.Exponential(5e-324))      # draws +inf

    check = _checker(_runner(overflowing)).check().check("model_execution")
    assert check.status is D
    assert check.output == "smoke run trace issues: non_finite_value, rejected"


def test_readiness_stays_ready_with_a_degraded_breaker():
    b = fp.CircuitBreaker(minimum_calls=2, window_size=2, degraded_threshold=0.4,
                          failure_threshold=0.9)
    b.record_success()
    b.record_failure()
    c = _checker(_runner(breaker=b))
    r = c.readiness()
    assert b.state is fp.BreakerState.DEGRADED and r.status is H and r.http_status == 200
    assert r.check("breaker").observed_value == "DEGRADED"


def test_a_nan_score_renders_as_null_in_strict_json():
    doc = json.loads(HealthReport(H, math.nan, "x").to_json())
    assert doc["score"] is None and doc["status"] == "pass"
