"""Edges of counters, stores, clocks and the command line.

Counters saturate at 2**64 - 1 instead of wrapping; an event store refuses
more buckets than it can hold; a breaker history and a health checker refuse a
clock reading they cannot use, naming the clock and recording nothing; the
trend fit takes any finite times; a wall clock far outside the calendar leaves
report times out instead of failing the probes; numbers beyond the float range
are refused naming their parameter, or give exact (or infinite) figures; the
demo command turns every bad number into a usage error. What may exhaust memory
or print from native code runs in a subprocess with a timeout (and a memory
limit).
"""

import json
import logging
import math
import os
import re
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

import fugue_ppl as fp
from fugue_ppl import cli
from fugue_ppl.errors import InvalidArgument, ValidationError
from fugue_ppl.models import SENSOR_SCHEMA, sensor
from fugue_ppl.serving.health import (
    CheckResult,
    HealthChecker,
    HealthReport,
    HealthSettings,
    HealthStatus,
    estimate_trend,
)
from fugue_ppl.serving.slo import (
    AlertRules,
    AvailabilityReport,
    BreakerHistory,
    BurnRateAlerts,
    BurnRateRule,
    CapacityPlanner,
    EventStore,
    ServiceLevelObjectives,
)

MAX = 2**64 - 1
TIMEOUT = 300
MEMORY_LIMIT = 4 << 30          # bytes of address space for a child that must not allocate much


def _child_env():
    env = dict(os.environ)
    env["SKBUILD_EDITABLE_VERBOSE"] = "0"    # an editable install would print its rebuild
    return env


def _limit_memory():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


# AddressSanitizer reserves terabytes of address space for its shadow memory,
# which an address-space limit forbids: under it the children run unlimited.
_SANITIZED = "libasan" in os.environ.get("LD_PRELOAD", "")


def _run_python(code, *args):
    """Run ``code`` in a fresh interpreter, with a timeout and a memory limit."""
    limit = _limit_memory if os.name == "posix" and not _SANITIZED else None
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, env=_child_env(), timeout=TIMEOUT,
                          preexec_fn=limit, check=False)


# ---------------------------------------------------------------- counters


def test_record_fallback_saturates_instead_of_wrapping():
    m = fp.ProductionMetrics()
    m.record_fallback(2**63)
    m.record_fallback(2**63)
    assert m.fallbacks == MAX
    m.record_fallback(1)
    assert m.fallbacks == MAX
    assert m.snapshot()["fallbacks"] == MAX


@pytest.mark.parametrize("n", [2**64, 2**64 + 5, 2**200])
def test_record_fallback_beyond_the_counter_range_saturates(n):
    m = fp.ProductionMetrics()
    m.record_fallback(3)
    m.record_fallback(n)
    assert m.fallbacks == MAX


def test_histogram_self_merge_saturates_instead_of_wrapping():
    h = fp.LatencyHistogram()
    h.record(0.01)
    for _ in range(63):
        h.merge(h)
    assert h.count == 2**63
    h.merge(h)                                  # 2**64 would wrap to 0
    assert h.count == MAX
    assert h.count_le(1.0) == MAX
    assert h.quantile(0.5) == 0.01
    h.record(0.01)
    assert h.count == MAX
    assert h.to_dict()["count"] == MAX


def test_histogram_count_saturates_across_buckets():
    # Two buckets of 2**63 each: their sum, the count, must not wrap to 0.
    h = fp.LatencyHistogram()
    h.record(0.01)
    h.record(1.0)
    for _ in range(63):
        h.merge(h)
    assert h.count == MAX
    assert h.count_le(0.5) == 2**63
    assert h.count_le(2.0) == MAX
    assert h.quantile(0.25) == pytest.approx(0.01, rel=1 / 2**8)
    assert h.quantile(0.75) == pytest.approx(1.0, rel=1 / 2**8)
    assert h.cumulative_counts([0.5]) == [(0.5, 2**63), (math.inf, MAX)]


def test_merging_saturated_histograms_stays_saturated():
    full = fp.LatencyHistogram()
    full.record(0.01)
    for _ in range(64):
        full.merge(full)
    other = fp.LatencyHistogram()
    other.record(0.01)
    other.merge(full)
    other.merge(full)
    assert other.count == MAX
    assert other.count_le(1.0) == MAX


def test_inference_count_saturates_and_the_rates_stay_finite():
    m = fp.ProductionMetrics()
    m.record(0.01, error="RuntimeError")
    for _ in range(64):
        m.latency.merge(m.latency)
    m.record(0.01)
    assert m.inference_count == MAX
    assert m.error_count == 1
    assert m.error_rate == 1 / MAX
    snap = m.snapshot()
    assert snap["inferences"] == MAX
    assert math.isfinite(snap["throughput_per_second"])
    json.dumps(snap, allow_nan=False)


def test_window_throughput_after_the_histogram_alone_is_reset_is_zero():
    # The window remembers the count at each second's first inference; a
    # histogram reset on its own leaves the count below it (the difference
    # wrapped to about 1.8e19 inferences per second).
    m = fp.ProductionMetrics(window=1)
    m.record(0.001)
    time.sleep(1.05)                            # the next inference starts a new second
    m.record(0.001)
    m.record(0.001)
    m.latency.reset()
    assert m.window_throughput == 0.0


# ---------------------------------------------------------------- the event store


def test_event_store_with_a_billion_buckets_is_refused_in_a_child():
    # Before the cap this tried to allocate two lists of 10**9 counts.
    proc = _run_python("""
        from fugue_ppl.serving.slo import EventStore
        for kwargs in ({"resolution": 1e-6, "retention": 1e3}, {"retention": 1e10}):
            try:
                EventStore(**kwargs)
            except ValueError as exc:
                print(type(exc).__name__, exc)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        ("ValueError EventStore: retention (0:16:40) / resolution (0:00:00.000001) gives "
         "1000000000 buckets, more than EventStore.MAX_BUCKETS (1000000); use a coarser "
         "resolution or a shorter retention"),
        ("ValueError EventStore: retention (115740 days, 17:46:40) / resolution (0:01:00) gives "
         "166666667 buckets, more than EventStore.MAX_BUCKETS (1000000); use a coarser "
         "resolution or a shorter retention"),
    ]


def test_event_store_holds_exactly_max_buckets():
    assert EventStore.MAX_BUCKETS == 1_000_000
    clock = fp.ManualClock()
    store = EventStore(1.0, float(EventStore.MAX_BUCKETS), clock=clock)
    assert store.buckets == EventStore.MAX_BUCKETS
    assert store.retention == timedelta(seconds=EventStore.MAX_BUCKETS)
    store.add(5, errors=1)
    clock.advance(EventStore.MAX_BUCKETS - 1.0)     # the first interval is the oldest kept
    store.add(2)
    assert store.counts(float(EventStore.MAX_BUCKETS)) == (7, 1)
    clock.advance(1.0)
    assert store.counts(float(EventStore.MAX_BUCKETS)) == (2, 0)
    with pytest.raises(ValueError, match=r"gives 1000001 buckets, more than "
                                         r"EventStore.MAX_BUCKETS \(1000000\)"):
        EventStore(1.0, EventStore.MAX_BUCKETS + 0.5, clock=clock)


@pytest.mark.parametrize("make, message", [
    (lambda: EventStore(60.0, 1e15, clock=fp.ManualClock()),
     ("EventStore: retention must be at most 999999999 days, 23:59:59.999999 "
      "(86399999999999 s), got 1000000000000000.0")),
    (lambda: EventStore(1e20, 1e20, clock=fp.ManualClock()),
     "EventStore: resolution must be at most 999999999 days"),
    (lambda: EventStore(clock=fp.ManualClock()).counts(1e18),
     "EventStore: window must be at most 999999999 days"),
    (lambda: BurnRateRule("page", 1e18, 60.0, 2.0),
     "BurnRateRule: long_window must be at most 999999999 days"),
    (lambda: ServiceLevelObjectives(0.999, period=1e18),
     "ServiceLevelObjectives: period must be at most 999999999 days"),
    (lambda: ServiceLevelObjectives(0.999).evaluate(downtime=1e18),
     "ServiceLevelObjectives.evaluate: downtime must be at most 999999999 days"),
])
def test_durations_beyond_a_timedelta_are_refused(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("seconds, shown", [
    (10**400, "<int of 1329 bits>"), (10**5000, "<int of 16610 bits>"),
], ids=["401 digits", "5001 digits"])
def test_huge_integer_durations_are_refused_as_too_long(seconds, shown):
    with pytest.raises(ValueError) as info:
        EventStore(60, seconds, clock=fp.ManualClock())
    assert str(info.value) == ("EventStore: retention must be at most 999999999 days, "
                               f"23:59:59.999999 (86399999999999 s), got {shown}")
    with pytest.raises(ValueError) as info:
        EventStore(-seconds, 60, clock=fp.ManualClock())
    assert str(info.value) == ("EventStore: resolution must be positive (at least 1 "
                               f"microsecond), got {shown}")


def test_event_store_refuses_retention_rounding_up_past_a_timedelta():
    longest = timedelta.max // timedelta(microseconds=1)
    resolution = timedelta(microseconds=longest // 2 + 1)
    with pytest.raises(ValueError, match=r"EventStore: retention \(.*\) rounded up to whole "
                                         r"intervals of .* is longer than 999999999 days"):
        EventStore(resolution, timedelta.max, clock=fp.ManualClock())


class _Clock:
    def __init__(self, t=0.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.mark.parametrize("reading, shown", [
    (math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan"), (None, "None"),
    ("now", "'now'"), (2**2000, "<int of 2001 bits>"),
])
def test_event_store_refuses_a_bad_clock_reading_and_records_nothing(reading, shown):
    clock = _Clock()
    store = EventStore(60.0, 600.0, clock=clock)
    store.add(3, errors=1)
    clock.t = reading
    for call in (lambda: store.add(1), lambda: store.record(good=1), lambda: store.counts(60.0)):
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value) == (
            f"EventStore: clock must return a finite number of seconds, got {shown}")
    clock.t = 30.0
    assert store.counts(60.0) == (3, 1)


def test_event_store_clock_jump_across_the_float_range():
    clock = _Clock(-1.7e308)
    store = EventStore(1e-6, 1.0, clock=clock)       # (now - origin) / resolution overflows
    store.add(4, errors=2)
    clock.t = 1.7e308
    store.add(1)
    assert store.counts(1.0) == (1, 0)
    assert store.counts(1e-6) == (1, 0)


# ---------------------------------------------------------------- the breaker history's clock


def _history(clock):
    """A breaker on its own manual clock, and a history of it timed by ``clock``."""
    breaker_clock = fp.ManualClock()
    breaker = fp.CircuitBreaker(window_size=4, minimum_calls=4, open_duration=5.0,
                                half_open_permits=1, clock=breaker_clock)
    return breaker_clock, breaker, BreakerHistory(breaker, clock=clock)


def _trip(breaker):
    for _ in range(4):
        breaker.record_failure()


def _repair(breaker, breaker_clock):
    breaker_clock.advance(5.0)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is fp.BreakerState.HEALTHY


BAD_READINGS = [
    (math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf"), (None, "None"),
    ("now", "'now'"), (2**2000, "<int of 2001 bits>"), (Decimal("sNaN"), "Decimal('sNaN')"),
]


@pytest.mark.parametrize("reading, shown", BAD_READINGS)
def test_breaker_history_refuses_a_bad_clock_reading_and_records_nothing(reading, shown,
                                                                         caplog):
    clock = _Clock()
    breaker_clock, breaker, history = _history(clock)
    clock.t = 10.0
    _trip(breaker)                                   # down from t = 10
    clock.t = 15.0
    _repair(breaker, breaker_clock)                  # up again from t = 15
    clock.t = reading
    message = f"BreakerHistory: clock must return a finite number of seconds, got {shown}"
    with caplog.at_level(logging.ERROR, logger="fugue_ppl.breaker"):
        _trip(breaker)                               # the breaker logs what its listener raised
    assert breaker.state is fp.BreakerState.FAILED
    assert message in caplog.text
    for call in (history.report, lambda: history.report(60.0), history.downtime,
                 lambda: history.availability, history.close):
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value) == message
    assert history.failures == 1                     # the failure it could not time is left out
    assert repr(history) == "BreakerHistory(breaker='circuit_breaker', failures=1)"
    assert history._on_transition in breaker.listeners   # a refused close() stays subscribed
    clock.t = 20.0
    r = history.report()
    assert r == AvailabilityReport(15.0, 5.0, 1, 15.0, 5.0, 0.75, False)
    assert history.report(timedelta(days=1)) == r
    history.close()
    assert breaker.listeners == ()


@pytest.mark.parametrize("jump", [86399999913601.0, 1e14, 1.7e308])
def test_breaker_history_refuses_a_clock_jump_longer_than_it_can_report(jump, caplog):
    # Before, downtime() raised OverflowError from timedelta for a jump above ~8.6e13 s.
    clock = _Clock()
    breaker_clock, breaker, history = _history(clock)
    _trip(breaker)                                   # down from t = 0
    longest = timedelta(days=999_999_999)
    clock.t = longest.total_seconds()                # the longest a history covers: exact
    assert history.downtime() == longest
    assert history.report() == AvailabilityReport(0.0, 86399999913600.0, 1, 0.0,
                                                  86399999913600.0, 0.0, True)
    slos = ServiceLevelObjectives(0.999, period=longest)
    assert slos.evaluate(downtime=history.downtime()).budget_remaining_time == (
        slos.error_budget - longest)
    clock.t = jump
    message = (f"BreakerHistory: clock returned {jump!r}, more than 999999999 days, "
               f"0:00:00 (86399999913600 s) after the history started at 0.0; nothing was "
               f"recorded")
    for call in (history.report, lambda: history.report(60.0), history.downtime,
                 lambda: history.mttr, history.close):
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == message
    with caplog.at_level(logging.ERROR, logger="fugue_ppl.breaker"):
        _repair(breaker, breaker_clock)              # a repair it cannot time: left out
    assert message in caplog.text
    assert history.failures == 1


def test_breaker_history_refuses_a_clock_jump_across_the_float_range():
    clock = _Clock(-1.7e308)
    _, _, history = _history(clock)
    clock.t = 1.7e308                                # now - start overflows to inf
    with pytest.raises(ValueError, match=r"^BreakerHistory: clock returned 1\.7e\+308, more "
                                         r"than 999999999 days"):
        history.report()
    clock.t = 0.0                                    # 1.7e308 s later: refused as well
    with pytest.raises(ValueError, match="after the history started at -1.7e"):
        history.downtime()
    clock.t = -1.7e308
    assert history.report() == AvailabilityReport(0.0, 0.0, 0, math.inf, 0.0, 1.0, False)


def test_breaker_history_clock_going_backwards_adds_no_time():
    # The windowed report read the outage from the earlier reading, the totals did not.
    clock = _Clock()
    breaker_clock, breaker, history = _history(clock)
    clock.t = 100.0
    _trip(breaker)                                   # down from 100
    clock.t = 150.0
    _repair(breaker, breaker_clock)                  # up from 150
    clock.t = 120.0
    _trip(breaker)                                   # a reading before 150: down from 150
    clock.t = 160.0
    r = history.report()
    assert r == AvailabilityReport(100.0, 60.0, 2, 50.0, 30.0, 0.625, True)
    assert history.report(timedelta(days=1)) == r
    assert history.report(30.0) == AvailabilityReport(0.0, 30.0, 2, 0.0, 15.0, 0.0, True)
    clock.t = 140.0                                  # a reading before the last transition
    assert history.report() == AvailabilityReport(100.0, 50.0, 2, 50.0, 25.0, 2 / 3, True)


# ---------------------------------------------------------------- the health checker's clock


BAD_CHECKER_READINGS = [
    (None, TypeError, "a number of seconds, got None"),
    ("now", TypeError, "a number of seconds, got 'now'"),
    (Decimal("1.5"), TypeError, "a number of seconds, got Decimal('1.5')"),
    (math.nan, ValueError, "a finite number of seconds, got nan"),
    (-math.inf, ValueError, "a finite number of seconds, got -inf"),
    (2**2000, ValueError, "a finite number of seconds, got <int of 2001 bits>"),
    (-10**400, ValueError, "a finite number of seconds, got <int of 1329 bits>"),
]


@pytest.mark.parametrize("reading, exc, message", BAD_CHECKER_READINGS)
def test_health_checker_refuses_a_bad_clock_reading_and_changes_nothing(reading, exc, message):
    clock = _Clock(100.0)
    runner = fp.ModelRunner(sensor, rng=1)
    checker = HealthChecker(runner, smoke_args=(22.0,), warmup=0, clock=clock,
                            wall_clock=lambda: 0.0)
    first = checker.check()
    def state_of(c):
        return (c.history, c._counters.readings, c._counters.seq, c._falling)

    state = state_of(checker)
    clock.t = reading
    for call in (checker.check, checker.liveness):
        with pytest.raises(exc) as info:
            call()
        assert str(info.value) == f"HealthChecker: clock must return {message}"
    assert state_of(checker) == state
    assert checker.last_report is first
    assert checker.readiness().http_status == 200    # reads no clock
    with pytest.raises(exc, match=f"^HealthChecker: clock must return {re.escape(message)}$"):
        HealthChecker(runner, smoke_args=(22.0,), warmup=0, clock=lambda: reading)
    clock.t = 160.0
    assert checker.check().status is HealthStatus.HEALTHY
    assert [t for t, _ in checker.history] == [100.0, 160.0]
    assert checker.liveness().checks[0].observed_value == 60.0


# ---------------------------------------------------------------- the trend fit


def _no_native_output(capfd):
    out, err = capfd.readouterr()
    assert "DLASCL" not in out + err and "On entry to" not in out + err
    assert err == "" and out == ""


def test_trend_at_the_ends_of_the_float_range(capfd):
    t = estimate_trend([-1e308, 1e308], [1.0, 0.5], horizon=10)
    assert t.slope == pytest.approx(-2.5e-309, rel=1e-9)
    assert (t.curvature, t.forecast, t.points) == (0.0, 0.5, 2)
    # H = 0.2 - 0.2 u + 0.1 u^2 with u = (t - t_last) / 1e308 through the three points
    t = estimate_trend([-1e308, 0.0, 1e308], [1.0, 0.5, 0.2], horizon=10)
    assert t.slope == pytest.approx(-2e-309, rel=1e-9)
    assert t.curvature == 0.0                  # 0.2 / 1e616 underflows
    assert t.forecast == 0.2
    big = 1.7976931348623157e308
    t = estimate_trend([-big, big], [0.0, 1.0], horizon=big)
    assert t.slope == pytest.approx(1 / (2 * big), rel=1e-9)
    assert t.forecast == 1.0
    _no_native_output(capfd)


def test_trend_over_huge_spans_and_offsets(capfd):
    t = estimate_trend([0.0, 1e300, 2e300], [1.0, 0.9, 0.8], horizon=1e300)
    assert t.slope == pytest.approx(-1e-301, rel=1e-9)
    assert t.curvature == 0.0
    assert t.forecast == pytest.approx(0.7, abs=1e-12)
    t = estimate_trend([1e15, 1e15 + 10, 1e15 + 20, 1e15 + 30], [1.0, 0.9, 0.8, 0.7],
                       horizon=10)
    assert t.slope == pytest.approx(-0.01, abs=1e-12)
    assert t.curvature == pytest.approx(0.0, abs=1e-12)
    assert t.forecast == pytest.approx(0.6, abs=1e-12)
    t = estimate_trend([-1e300, -1e300 + 1e290], [0.5, 0.25], horizon=0)
    assert t.slope == pytest.approx(-0.25e-290, rel=1e-9)
    _no_native_output(capfd)


@pytest.mark.parametrize("times", [[1e308] * 3, [-1e308] * 2, [0.0] * 4, [5e-324] * 2])
def test_trend_of_identical_times_is_flat(times, capfd):
    scores = [1.0, 0.5, 0.75, 0.6][:len(times)]
    t = estimate_trend(times, scores, horizon=1e308)
    assert (t.slope, t.curvature, t.forecast) == (0.0, 0.0, scores[-1])
    _no_native_output(capfd)


@pytest.mark.parametrize("scores, forecast", [([0.8, 0.9], 1.0), ([0.9, 0.8], 0.0)])
def test_trend_forecast_at_a_huge_horizon_is_clamped_never_nan(scores, forecast):
    # k^2 * 0 was inf * 0 = NaN, and the clamp turned NaN into 0.0 either way.
    t = estimate_trend([0.0, 10.0], scores, horizon=1e200)
    assert t.curvature == 0.0
    assert t.forecast == forecast


def test_trend_whose_slope_does_not_fit_in_a_float_is_refused(capfd):
    with pytest.raises(ValueError, match="estimate_trend: times are too close together for "
                                         "the change in the scores"):
        estimate_trend([0.0, 5e-324], [1.0, 0.5])
    with pytest.raises(ValueError, match="estimate_trend: times are too close together"):
        estimate_trend([0.0, 1e-300, 2e-300], [1.0, 0.5, 0.2])
    # the same times without a change in the scores are fine
    assert estimate_trend([0.0, 5e-324], [0.5, 0.5]).slope == 0.0
    _no_native_output(capfd)


@pytest.mark.parametrize("args, message", [
    (([0.0, math.nan], [1.0, 1.0]), "estimate_trend: times and scores must be finite"),
    (([0.0, math.inf], [1.0, 1.0]), "estimate_trend: times and scores must be finite"),
    (([-math.inf, 1e308], [1.0, 1.0]), "estimate_trend: times and scores must be finite"),
    (([0.0, 1.0], [math.nan, 1.0]), "estimate_trend: times and scores must be finite"),
    (([0.0, 1.0], [1.0, 0.5], math.inf), "estimate_trend: horizon must be a finite number >= 0"),
    (([0.0, 1.0], [1.0, 0.5], math.nan), "estimate_trend: horizon must be a finite number >= 0"),
])
def test_trend_refuses_non_finite_inputs(args, message, capfd):
    with pytest.raises(ValueError, match=message):
        estimate_trend(*args)
    _no_native_output(capfd)


def test_trend_of_extreme_times_prints_nothing_in_a_child():
    # LAPACK wrote its complaint straight to the terminal, under pytest's capture.
    proc = _run_python("""
        from fugue_ppl.serving.health import estimate_trend
        print(estimate_trend([-1e308, 1e308], [1.0, 0.5], 10).slope)
        print(estimate_trend([1e308, -1e308, 1e308], [1.0, 0.5, 0.2], 10).forecast)
    """)
    assert proc.returncode == 0, proc.stderr
    assert [float(x) for x in proc.stdout.split()] == [-2.5e-309, 0.2]
    assert proc.stderr == ""


# ---------------------------------------------------------------- wall-clock times


def _checker(wall):
    runner = fp.ModelRunner(sensor, rng=1)
    checker = HealthChecker(runner, smoke_args=(22.0,), warmup=0, clock=fp.ManualClock(),
                            wall_clock=lambda: wall)
    for _ in range(20):
        runner.infer(22.0)
    return checker


def _times(doc):
    return [c.get("time") for results in doc["checks"].values() for c in results]


@pytest.mark.parametrize("wall", [1e20, -1e20, 1e12, 253402300800.0, -62135596801.0, 1e308,
                                  math.inf, -math.inf, math.nan, None, "now", 2**2000])
def test_reports_leave_out_a_wall_time_outside_the_calendar(wall, caplog):
    checker = _checker(wall)
    with caplog.at_level(logging.WARNING, logger="fugue_ppl.serving.health"):
        reports = [checker.check(), checker.liveness(), checker.readiness()]
    for report in reports:
        assert report.status is HealthStatus.HEALTHY and report.http_status == 200
        assert report.time is None
        doc = json.loads(report.to_json())
        assert doc["status"] == "pass" and doc["time"] is None
        assert _times(doc) == [None] * len(report.checks)
        assert all(c.time == report.timestamp for c in report.checks)
    warnings = [r.getMessage() for r in caplog.records if "wall clock" in r.getMessage()]
    assert len(warnings) == 1                  # once per checker, not once per probe
    assert warnings[0].startswith("HealthChecker: the wall clock returned ")


def test_a_wall_time_that_is_a_finite_number_is_kept():
    report = _checker(1e20).check()
    assert report.timestamp == 1e20
    assert report.checks[0].time == 1e20
    report = _checker(math.inf).liveness()
    assert report.timestamp is None and report.checks[0].time is None


@pytest.mark.parametrize("ts, text", [
    (0.0, "1970-01-01T00:00:00.000Z"),
    (-62135596800.0, "0001-01-01T00:00:00.000Z"),
    (253402300799.0, "9999-12-31T23:59:59.000Z"),
    (253402300800.0, None),
    (-62135596801.0, None),
    (1e20, None),
    (math.nan, None),
    (None, None),
])
def test_report_time_at_the_ends_of_the_calendar(ts, text):
    report = HealthReport(HealthStatus.DEGRADED, 0.75, "degraded", timestamp=ts)
    assert report.time == text
    assert json.loads(report.to_json())["time"] == text
    if ts is None or math.isfinite(ts):         # a check result refuses a non-finite time
        result = CheckResult.degraded("slow", time=ts)
        assert result.to_health_json().get("time") == text


# ---------------------------------------------------------------- huge numbers: SLOs, capacity

HUGE = 10**400                                  # <int of 1329 bits>
FLOAT_RANGE = "must be within the float range (at most 1.79769e+308 in magnitude)"


@pytest.mark.parametrize("make, exc, message", [
    (lambda: AlertRules(max_error_rate=HUGE), InvalidArgument,
     "AlertRules: max_error_rate must be in [0, 1], got <int of 1329 bits>"),
    (lambda: AlertRules(max_error_rate=-HUGE), InvalidArgument,
     "AlertRules: max_error_rate must be in [0, 1], got <int of 1329 bits>"),
    (lambda: AlertRules(max_error_rate=Fraction(HUGE)), InvalidArgument,
     "AlertRules: max_error_rate must be in [0, 1], got Fraction(100000000...000000000000000, 1)"),
    (lambda: AlertRules(max_error_rate=Decimal("sNaN")), InvalidArgument,
     "AlertRules: max_error_rate must be in [0, 1], got Decimal('sNaN')"),
    (lambda: AlertRules(min_throughput=HUGE), InvalidArgument,
     "AlertRules: min_throughput must be finite and >= 0, got <int of 1329 bits>"),
    (lambda: AlertRules(min_throughput=Decimal("1e400")), InvalidArgument,
     "AlertRules: min_throughput must be finite and >= 0, got Decimal('1E+400')"),
    (lambda: AlertRules(max_latency_p99=HUGE), InvalidArgument,
     "AlertRules: max_latency_p99 must be at most 1.79769e+308 s, got <int of 1329 bits>"),
    (lambda: AlertRules(max_latency_p99=Decimal("sNaN")), InvalidArgument,
     "AlertRules: max_latency_p99 must be finite, got Decimal('sNaN')"),
    (lambda: ServiceLevelObjectives(availability_target=HUGE), InvalidArgument,
     "ServiceLevelObjectives: availability_target must be in (0, 1), got <int of 1329 bits>"),
    (lambda: ServiceLevelObjectives(error_rate_threshold=-HUGE), InvalidArgument,
     "ServiceLevelObjectives: error_rate_threshold must be in (0, 1), got <int of 1329 bits>"),
    (lambda: ServiceLevelObjectives(latency_p99=Fraction(HUGE)), InvalidArgument,
     "ServiceLevelObjectives: latency_p99 must be at most 1.79769e+308 s, got "
     "Fraction(100000000...000000000000000, 1)"),
    (lambda: BurnRateRule("page", 3600, 300, HUGE), InvalidArgument,
     "BurnRateRule: threshold must be finite and > 0, got <int of 1329 bits>"),
    (lambda: BurnRateAlerts(EventStore(clock=fp.ManualClock()), slo=HUGE), InvalidArgument,
     "BurnRateAlerts: slo must be in (0, 1), got <int of 1329 bits>"),
    (lambda: CapacityPlanner(scale_up_threshold=HUGE), InvalidArgument,
     "CapacityPlanner: scale_up_threshold must be in (0, 1], got <int of 1329 bits>"),
    (lambda: CapacityPlanner(target_utilisation=-HUGE), InvalidArgument,
     "CapacityPlanner: target_utilisation must be in (0, 1), got <int of 1329 bits>"),
    (lambda: CapacityPlanner().recommend(HUGE, 0.1), InvalidArgument,
     "CapacityPlanner.recommend: arrival_rate must be finite and >= 0, got <int of 1329 bits>"),
    (lambda: CapacityPlanner().recommend(10.0, HUGE), InvalidArgument,
     "CapacityPlanner.recommend: service_time must be finite and >= 0, got <int of 1329 bits>"),
    (lambda: CapacityPlanner().from_metrics(fp.ProductionMetrics(), arrival_rate=HUGE),
     InvalidArgument,
     "CapacityPlanner.recommend: arrival_rate must be finite and >= 0, got <int of 1329 bits>"),
])
def test_thresholds_and_rates_beyond_the_float_range_are_refused(make, exc, message):
    # float() of these raised OverflowError (or ValueError for a signalling NaN).
    with pytest.raises(exc) as info:
        make()
    assert type(info.value) is exc and str(info.value) == message


@pytest.mark.parametrize("make, message", [
    (lambda: EventStore(Fraction(HUGE), clock=fp.ManualClock()),
     "EventStore: resolution must be at most 999999999 days"),
    (lambda: EventStore(Decimal("sNaN"), clock=fp.ManualClock()),
     "EventStore: resolution must be finite, got Decimal('sNaN')"),
    (lambda: EventStore(clock=fp.ManualClock()).counts(Fraction(HUGE)),
     "EventStore: window must be at most 999999999 days"),
    (lambda: BreakerHistory(fp.CircuitBreaker()).report(Decimal("sNaN")),
     "BreakerHistory.report: window must be finite, got Decimal('sNaN')"),
    (lambda: EventStore(clock=fp.ManualClock()).add(-10**5000),
     "EventStore.add: total must be >= 0, got <int of 16610 bits>"),
    (lambda: BreakerHistory(fp.CircuitBreaker(), max_outages=HUGE),
     f"BreakerHistory: max_outages must be in [1, {sys.maxsize}], got <int of 1329 bits>"),
    (lambda: CapacityPlanner(min_replicas=10**5000, max_replicas=1),
     "CapacityPlanner: max_replicas (1) must be >= min_replicas (<int of 16610 bits>)"),
    (lambda: BurnRateRule(10**5000, 3600, 300, 2.0),
     "BurnRateRule: severity must be a non-empty str, got <int of 16610 bits>"),
    (lambda: ServiceLevelObjectives(0.999, period=timedelta.max),
     ("ServiceLevelObjectives: period must be at most 999999999 days, 0:00:00 "
      "(86399999913600 s), got datetime.timedelta")),
    (lambda: ServiceLevelObjectives(0.999).evaluate(downtime=86399999913601,
                                                    elapsed=timedelta.max),
     ("ServiceLevelObjectives.evaluate: downtime must be at most 999999999 days, 0:00:00 "
      "(86399999913600 s), got 86399999913601")),
    (lambda: ServiceLevelObjectives(0.999).evaluate(downtime=1, elapsed=timedelta.max),
     "ServiceLevelObjectives.evaluate: elapsed must be at most 999999999 days, 0:00:00"),
])
def test_durations_and_counts_at_the_extremes_are_refused_naming_them(make, message):
    # Each raised OverflowError, or a ValueError about int-to-str conversion, from inside.
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value).startswith(message)


def test_slo_period_and_downtime_of_999999999_days_leave_a_representable_budget():
    # The budget left, error_budget - downtime, went below timedelta.min: OverflowError.
    longest = timedelta(days=999_999_999)
    slos = ServiceLevelObjectives(0.9999999999999999, period=longest)
    r = slos.evaluate(downtime=longest)
    assert r.budget_remaining_time == slos.error_budget - longest
    assert not r.compliant and r.exhausted
    r = slos.evaluate(counts=(10, 10))
    assert r.budget_remaining_time == slos.error_budget - longest


def test_counts_beyond_the_float_range_give_exact_or_infinite_figures():
    # float() of these ratios raised OverflowError.
    slos = ServiceLevelObjectives(0.999)
    assert slos.allowed_bad_events(HUGE) == math.inf
    r = slos.evaluate(counts=(HUGE, HUGE // 1000))
    assert (r.allowed_bad_events, r.budget_consumed, r.compliant) == (math.inf, 1.0, True)
    assert r["availability"].observed == 0.999
    store = EventStore(1.0, 1e6, clock=fp.ManualClock())
    store.add(2**1030)
    assert store.rate(1e6) == 2**1030 / 10**6          # exact, though the count is no float
    store.add(HUGE)
    assert store.rate(1.0) == math.inf
    assert store.error_ratio(1.0) == 0.0


def test_capacity_for_a_load_beyond_the_float_range():
    # float(rho) and replicas / current raised OverflowError; the message, a ValueError.
    r = CapacityPlanner().recommend(1e308, 1e308, 1)
    needed = -(-(Fraction(10**308) ** 2) // Fraction(1, 2))
    assert (r.action, r.replicas, r.utilisation, r.factor) == ("scale_up", needed, math.inf,
                                                               math.inf)
    assert r.projected_utilisation == 0.5 and r.saturated
    assert r.message == ("utilisation inf above the scale-up threshold 0.7: scale from 1 to "
                         "<int of 2048 bits> replicas (xinf)")
    r = CapacityPlanner().recommend(1e308, 1e308, 10**5000)
    assert (r.action, r.replicas, r.utilisation, r.factor) == ("scale_down", needed, 0.0, 0.0)
    assert r.projected_utilisation == 0.5
    r = CapacityPlanner(max_replicas=HUGE).recommend(1e308, 1e308, 10**5000)
    assert (r.action, r.replicas, r.limited_by) == ("scale_down", HUGE, "max_replicas")
    assert r.projected_utilisation == 1e216
    assert r.to_dict()["factor"] == 0.0
    assert r.message == ("utilisation 0 below the scale-down threshold 0.3: scale from <int of "
                         "16610 bits> to <int of 1329 bits> replicas (x0) (limited by "
                         "max_replicas=<int of 1329 bits>)")
    planner = CapacityPlanner(min_replicas=10**5000)
    assert repr(planner).endswith("min_replicas=<int of 16610 bits>, max_replicas=None)")
    r = planner.recommend(1.0, 1.0)
    assert (r.replicas, r.limited_by, r.factor) == (10**5000, "min_replicas", math.inf)
    assert r.message.endswith("(limited by min_replicas=<int of 16610 bits>)")


# ---------------------------------------------------------------- huge numbers: health checks


@pytest.mark.parametrize("make, exc, message", [
    (lambda: HealthSettings(error_rate_degraded=HUGE), InvalidArgument,
     "HealthSettings: error_rate_degraded must be in [0, 1], got <int of 1329 bits>"),
    (lambda: HealthSettings(timeout=-HUGE), InvalidArgument,
     "HealthSettings: timeout must be a finite number of seconds > 0, got <int of 1329 bits>"),
    (lambda: HealthSettings(window=Fraction(HUGE)), InvalidArgument,
     "HealthSettings: window must be a finite number of seconds > 0, got "
     "Fraction(100000000...000000000000000, 1)"),
    (lambda: HealthSettings(weights={"pool": HUGE}), InvalidArgument,
     "HealthSettings: weights['pool'] must be finite and >= 0, got <int of 1329 bits>"),
    (lambda: HealthSettings(history_size=HUGE), InvalidArgument,
     "HealthSettings: history_size must be in [2, 9223372036854775807], got "
     "<int of 1329 bits>"),
    (lambda: HealthSettings(min_calls=-10**5000), InvalidArgument,
     "HealthSettings: min_calls must be >= 1, got <int of 16610 bits>"),
    (lambda: HealthChecker(fp.ModelRunner(sensor), smoke_seed=-10**5000), ValueError,
     "HealthChecker: smoke_seed must be >= 0, got <int of 16610 bits>"),
    (lambda: HealthChecker(fp.ModelRunner(sensor), smoke_args=(22.0,)).register(
        "x", lambda: HealthStatus.HEALTHY, weight=HUGE), ValueError,
     "register: check 'x': weight must be finite and >= 0, got <int of 1329 bits>"),
    (lambda: HealthChecker(fp.ModelRunner(sensor), smoke_args=(22.0,)).warm_up(-10**5000),
     ValueError, "warm_up: n must be >= 0, got <int of 16610 bits>"),
    (lambda: CheckResult.healthy(time=HUGE), ValueError,
     ("CheckResult: time must be a finite float, got <int of 1329 bits> (beyond the float "
      "range)")),
    (lambda: CheckResult.healthy(weight=-HUGE), ValueError,
     "CheckResult: weight must be a finite float, got <int of 1329 bits>"),
    (lambda: HealthReport(HealthStatus.HEALTHY, "1.0", "ok"), TypeError,
     "HealthReport: score must be a number, got str"),
    (lambda: HealthReport(HealthStatus.HEALTHY, 1.0, "ok", timestamp="now"), TypeError,
     "HealthReport: timestamp must be a number or None, got str"),
    (lambda: HealthSettings().status_for("0.99"), TypeError,
     "status_for: score must be a number, got str"),
    (lambda: estimate_trend([0, HUGE], [1.0, 0.5]), ValueError,
     "estimate_trend: times must be finite, got <int of 1329 bits> (beyond the float range)"),
    (lambda: estimate_trend([0, 1], [1.0, -HUGE]), ValueError,
     "estimate_trend: scores must be finite, got <int of 1329 bits>"),
    (lambda: estimate_trend([0, "later"], [1.0, 0.5]), TypeError,
     "estimate_trend: times must be numbers, got 'later'"),
    (lambda: estimate_trend([0, 1], [1.0, [0.5]]), TypeError,
     "estimate_trend: scores must be numbers, got [0.5]"),
    (lambda: estimate_trend([0, 1], [1.0, 0.5], HUGE), ValueError,
     "estimate_trend: horizon must be a finite number >= 0, got <int of 1329 bits>"),
])
def test_health_numbers_beyond_the_float_range_are_refused_naming_them(make, exc, message):
    # float() / math.isfinite() of these raised OverflowError (or numpy's ValueError, or a
    # ValueError about int-to-str conversion, or a TypeError from a comparison).
    with pytest.raises(exc) as info:
        make()
    assert str(info.value).startswith(message)


def test_health_reports_keep_any_real_number_as_a_float():
    # Fractions and numpy scalars reached json.dumps (TypeError); a huge int, math.isfinite.
    report = HealthReport(HealthStatus.DEGRADED, Fraction(3, 4), "degraded",
                          timestamp=np.float32(0.0))
    assert (report.score, report.timestamp) == (0.75, 0.0)
    assert json.loads(report.to_json())["score"] == 0.75
    assert report.time == "1970-01-01T00:00:00.000Z"
    report = HealthReport(HealthStatus.DEGRADED, np.int64(1), "degraded", timestamp=HUGE)
    assert (report.score, report.timestamp, report.time) == (1.0, math.inf, None)
    assert json.loads(report.to_json())["time"] is None


def test_health_weights_summing_beyond_the_float_range_and_huge_observed_values():
    # math.fsum of the weights raised OverflowError; json.dumps of the int, a ValueError.
    runner = fp.ModelRunner(sensor, rng=1)
    checker = HealthChecker(runner, smoke_args=(22.0,), warmup=0, clock=fp.ManualClock(),
                            wall_clock=lambda: 0.0, weights={"pool": 1e308, "breaker": 1e308})
    checker.register("queue", lambda: CheckResult.degraded("full", observed_value=10**5000),
                     weight=1.7e308)
    weights = checker.weights
    system = 7 / 22                  # the three are in the system level: its share
    assert weights["pool"] == weights["breaker"] == pytest.approx(system / 3.7)
    assert weights["queue"] == pytest.approx(system * 1.7 / 3.7)
    assert math.fsum(weights.values()) == pytest.approx(1.0)
    report = checker.check()
    assert report.score == pytest.approx(1 - system * 0.5 * 1.7 / 3.7)
    assert report.check("queue").weight == weights["queue"]
    doc = json.loads(report.to_json())
    assert doc["checks"]["queue:status"] == [
        {"componentType": "component", "status": "warn", "time": "1970-01-01T00:00:00.000Z",
         "output": "full"}]


@pytest.mark.parametrize("metrics", [None, False], ids=["metrics", "no metrics"])
@pytest.mark.parametrize("settings", [
    {"timeout": 1e308}, {"timeout": 1e308, "latency_unhealthy_fraction": 10.0},
    {"timeout": 5e-324}, {"timeout": 1e-300, "latency_fraction": 1e-300},
], ids=["1e308", "1e309 limit", "5e-324", "1e-600 limit"])
def test_health_checker_latency_limits_at_the_ends_of_the_float_range(settings, metrics):
    # The latency grid raised OverflowError (an infinite bound), ZeroDivisionError (a zero
    # lower bound without metrics) or numpy's ValueError (a negative number of points).
    runner = fp.ModelRunner(sensor, rng=1, metrics=metrics)
    checker = HealthChecker(runner, smoke_args=(22.0,), warmup=0, clock=fp.ManualClock(),
                            **settings)
    assert all(math.isfinite(b) for b in checker._grid)
    for _ in range(20):
        runner.infer(22.0)
    report = checker.check()
    json.loads(report.to_json())
    huge = settings["timeout"] > 1.0
    assert report.status is (HealthStatus.HEALTHY if huge else HealthStatus.UNHEALTHY)
    smoke = report.check("model_execution")
    assert smoke.status is (HealthStatus.HEALTHY if huge else HealthStatus.UNHEALTHY)


# ---------------------------------------------------------------- the command line

LOW, HIGH, _ = SENSOR_SCHEMA.float_bounds[0]


@pytest.mark.parametrize("argv, message", [
    (["--reading", repr(HIGH + 850.0)],
     f"argument --reading: must be in [{LOW!r}, {HIGH!r}], got {HIGH + 850.0!r}"),
    (["--reading", repr(math.nextafter(HIGH, math.inf))],
     f"argument --reading: must be in [{LOW!r}, {HIGH!r}], got"),
    (["--reading=" + repr(math.nextafter(LOW, -math.inf))],
     f"argument --reading: must be in [{LOW!r}, {HIGH!r}], got"),
    (["--reading=-1e308"], f"argument --reading: must be in [{LOW!r}, {HIGH!r}], got -1e+308"),
    (["--reading", "1e309"], "argument --reading: must be a finite number, got '1e309'"),
    (["--reading=-inf"], "argument --reading: must be a finite number, got '-inf'"),
    (["--reading", "NaN"], "argument --reading: must be a finite number, got 'NaN'"),
    (["--reading", "0x10"], "argument --reading: expected a number, got '0x10'"),
    (["--runs", str(cli.MAX_DEMO_RUNS + 1)],
     f"argument --runs: must be at most {cli.MAX_DEMO_RUNS}, got {cli.MAX_DEMO_RUNS + 1}"),
    (["--runs", "9" * 30],
     f"argument --runs: must be at most {cli.MAX_DEMO_RUNS}, got {'9' * 30}"),
    (["--runs", "1" * 5000], f"argument --runs: expected a positive integer, got '{'1' * 39}"),
    (["--runs", "inf"], "argument --runs: expected a positive integer, got 'inf'"),
    (["--runs", "1e3"], "argument --runs: expected a positive integer, got '1e3'"),
    (["--seed", "nan"], "argument --seed: expected a non-negative integer seed, got 'nan'"),
    (["--seed", "1e3"], "argument --seed: expected a non-negative integer seed, got '1e3'"),
    (["--seed", "-" + "9" * 30], "argument --seed: must be at least 0, got -"),
])
def test_demo_rejects_out_of_range_numbers_with_a_usage_error(argv, message, capsys):
    assert cli.main(["demo", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: fugue-ppl demo")
    assert f"fugue-ppl demo: error: {message}" in captured.err
    assert "Traceback" not in captured.err


def test_demo_reading_out_of_range_is_a_usage_error_as_a_command():
    proc = subprocess.run([sys.executable, "-m", "fugue_ppl", "demo", "--reading", "1000"],
                          capture_output=True, text=True, env=_child_env(), timeout=TIMEOUT,
                          check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert (f"fugue-ppl demo: error: argument --reading: must be in [{LOW!r}, {HIGH!r}], "
            f"got 1000.0") in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("reading", [LOW, HIGH])
def test_demo_accepts_the_ends_of_the_schema_range(reading, capsys):
    assert cli.main(["demo", "--json", "--runs", "1", "--reading", repr(reading)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["reading"], doc["runs"]) == (reading, 1)
    assert doc["production"]["health"]["status"] == "pass"


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"reading": HIGH + 850.0}, ValidationError, f"reading: must be in [{LOW!r}, {HIGH!r}]"),
    ({"reading": math.nan}, ValidationError, "reading: must be finite"),
    ({"reading": "22"}, ValidationError, "reading: "),
    ({"runs": cli.MAX_DEMO_RUNS + 1}, ValueError,
     f"run_demo: runs must be at most {cli.MAX_DEMO_RUNS}, got {cli.MAX_DEMO_RUNS + 1}"),
    ({"runs": 0}, ValueError, "run_demo: runs must be at least 1, got 0"),
    ({"runs": 10.0}, TypeError, "run_demo: runs must be an int, got float"),
    ({"seed": -1}, ValueError, "run_demo: seed must be >= 0, got -1"),
    ({"seed": True}, TypeError, "run_demo: seed must be an int, got bool"),
])
def test_run_demo_rejects_bad_arguments_before_running(kwargs, exc, message):
    with pytest.raises(exc) as info:
        cli.run_demo(**kwargs)
    assert message in str(info.value)
