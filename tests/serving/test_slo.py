"""Alerts, SLOs and error budgets, burn-rate alerts, availability and capacity
(fugue_ppl.serving.slo).

The scenario tests drive a real ModelRunner (whose model fails or slows down
on demand) on a ManualClock, one simulated minute at a time, syncing an
EventStore from the runner each minute, and assert the exact minute at which
each burn-rate rule starts (and stops) firing.
"""

import dataclasses
import doctest
import importlib
import json
import math
import pkgutil
import re
import threading
import time
from datetime import timedelta
from fractions import Fraction
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fugue_ppl as fp
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.models import sensor
from fugue_ppl.serving import slo as S
from fugue_ppl.serving.slo import (
    DEFAULT_BURN_RATE_RULES,
    Alert,
    AlertRules,
    AvailabilityReport,
    BreakerHistory,
    BurnRateAlert,
    BurnRateAlerts,
    BurnRateRule,
    CapacityPlanner,
    CapacityRecommendation,
    EventStore,
    ServiceLevelObjectives,
    SLOReport,
)

MINUTE = 60.0
PAGE_1H = "page 1h/5m > 14.4"
PAGE_6H = "page 6h/30m > 6"
TICKET_1D = "ticket 1d/2h > 3"
TICKET_3D = "ticket 3d/6h > 1"


# ---------------------------------------------------------------- helpers


class FlakyModel:
    """The sensor model, failing or slowing down on demand.

    ``burst``: every call fails; ``every=n``: every n-th call fails;
    ``delay``: each successful call first sleeps this long (seconds).
    """

    def __init__(self):
        self.burst = False
        self.every = None
        self.delay = 0.0
        self.calls = 0

    def __call__(self, reading):
        self.calls += 1
        if self.burst or (self.every and self.calls % self.every == 0):
            raise RuntimeError("injected failure")
        if self.delay:
            time.sleep(self.delay)
        return sensor(reading)


def service(**store_kw):
    """A runner around a FlakyModel with a breaker and an event store on one ManualClock."""
    clock = fp.ManualClock()
    model = FlakyModel()
    runner = fp.ModelRunner(model, rng=0, fallback=(20.0, True),
                            breaker=fp.CircuitBreaker(clock=clock))
    store = EventStore.from_runner(runner, clock=clock, **store_kw)
    return clock, model, runner, store


def minute_of_traffic(runner, store, n):
    """n requests, then sync the store (the clock is advanced by the caller)."""
    for _ in range(n):
        runner.infer(22.0)
    return store.sync()


def subjects(alerts):
    return {a.subject for a in alerts.evaluate()}


def slo_modules():
    """The package and every module in it."""
    names = [S.__name__] + [f"{S.__name__}.{m.name}" for m in pkgutil.iter_modules(S.__path__)]
    return [importlib.import_module(name) for name in names]


def test_module_examples_run():
    modules = slo_modules()
    assert {m.__name__ for m in modules} >= {
        f"fugue_ppl.serving.slo.{name}" for name in
        ("alerts", "events", "burn_rate", "objectives", "availability", "capacity")}
    attempted = {}
    for module in modules:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
        attempted[module.__name__] = result.attempted
    assert sum(attempted.values()) >= 40
    # every module with a public class shows it at work
    assert all(n > 0 for name, n in attempted.items() if not name.endswith("._common")), attempted


def test_public_names():
    for name in S.__all__:
        assert hasattr(S, name), name


# ---------------------------------------------------------------- scenarios


def test_steady_two_percent_errors_fire_each_rule_at_its_exact_minute():
    # Two healthy hours (50 requests a minute), then 1 request in 50 fails:
    # burn rate 20 at slo 0.999. With j minutes of errors (j = 1, 2, ...):
    #   1h window:  j errors in 3000 requests     -> burn j/3       > 14.4 from j = 44
    #   6h window:  j in 50*(120+j)               -> 20j/(120+j)    > 6    from j = 52
    #               (30 min window: j/1.5 > 6 from j = 10)
    #   1d window:  same data as 6h               -> 20j/(120+j)    > 3    from j = 22
    #               (2h window: j/6 > 3 from j = 19)
    #   3d and 6h:  20j/(120+j) > 1                                        from j = 7
    clock, model, runner, store = service()
    alerts = BurnRateAlerts(store, slo=0.999)
    for _ in range(120):
        assert minute_of_traffic(runner, store, 50) == (50, 0)
        assert alerts.evaluate() == []
        clock.advance(MINUTE)
    model.every = 50
    first = {}
    for j in range(1, 53):
        assert minute_of_traffic(runner, store, 50) == (50, 1)
        fired = alerts.evaluate()
        for a in fired:
            first.setdefault(a.subject, j)
        if j == 44:
            page = next(a for a in fired if a.subject == PAGE_1H)
            assert page.kind == "burn_rate" and page.severity == "page"
            assert page.threshold == 14.4 and page.window == timedelta(hours=1)
            assert page.long_burn_rate == pytest.approx(44 / 3)
            assert page.short_burn_rate == pytest.approx(20.0)
            assert page.observed == page.long_burn_rate
            assert page.rule == DEFAULT_BURN_RATE_RULES[0]
            assert "14.4" in page.message and "1h" in page.message
        clock.advance(MINUTE)
    assert first == {TICKET_3D: 7, TICKET_1D: 22, PAGE_1H: 44, PAGE_6H: 52}
    assert [a.subject for a in alerts.evaluate()] == [PAGE_1H, PAGE_6H, TICKET_1D, TICKET_3D]
    assert runner.metrics.error_count == 52
    assert runner.breaker.state == fp.BreakerState.HEALTHY


def test_error_burst_pages_at_once_and_the_short_window_resets_the_page():
    # Two healthy hours, then five minutes where every call fails (the
    # breaker opens and rejects: rejected calls are bad requests too), then
    # healthy again. The 1h/5m page stops when the burst leaves the 5-minute
    # window, although the hour still burns at 250/3000/0.001 = 83.
    clock, model, runner, store = service()
    alerts = BurnRateAlerts(store, slo=0.999)
    for _ in range(120):
        minute_of_traffic(runner, store, 50)
        assert alerts.evaluate() == []
        clock.advance(MINUTE)
    model.burst = True
    for _ in range(5):
        assert minute_of_traffic(runner, store, 50) == (50, 50)
        # burst minute 1: the hour burns at 50/3000/0.001 = 16.7 > 14.4 already
        assert {PAGE_1H, PAGE_6H} <= subjects(alerts)
        clock.advance(MINUTE)
    assert runner.breaker.metrics["rejected_calls"] > 0
    model.burst = False
    for h in range(1, 31):
        assert minute_of_traffic(runner, store, 50) == (50, 0)
        fired = subjects(alerts)
        assert (PAGE_1H in fired) == (h < 5), h
        assert (PAGE_6H in fired) == (h < 30), h
        if h >= 5:
            assert alerts.burn_rate(timedelta(hours=1)) == pytest.approx(250 / 3000 / 0.001)
            assert alerts.burn_rate(timedelta(minutes=5)) == 0.0
        clock.advance(MINUTE)
    assert runner.breaker.state == fp.BreakerState.HEALTHY


def test_latency_drift_fires_latency_burn_rate_and_p99_alerts_on_time():
    # A latency objective: 99% of inferences within 10 ms. One healthy hour
    # (5 requests a minute, microseconds each), then every call takes 15 ms.
    # With j slow minutes the whole history burns at 100j/(60+j):
    #   3d/6h > 1 from j = 1; 1d/2h > 3 from j = 2; 6h/30m > 6 from j = 4
    #   (30 min: 100j/30); 1h/5m > 14.4 from j = 9 (1h: 100j/60).
    clock, model, runner, store = service(latency_threshold=0.010)
    alerts = BurnRateAlerts(store, slo=0.99)
    rules = AlertRules(max_error_rate=None, max_latency_p99=0.010)
    for _ in range(60):
        minute_of_traffic(runner, store, 5)
        assert alerts.evaluate() == []
        assert rules.evaluate(runner) == []
        clock.advance(MINUTE)
    model.delay = 0.015
    first = {}
    for j in range(1, 10):
        assert minute_of_traffic(runner, store, 5) == (5, 5)
        for a in alerts.evaluate():
            first.setdefault(a.subject, j)
        (p99,) = rules.evaluate(runner)           # 5 slow of 305 is above 1%
        assert p99.kind == "latency_p99" and p99.severity == "warning"
        assert p99.observed > 0.010 and p99.threshold == 0.010
        clock.advance(MINUTE)
    assert first == {TICKET_3D: 1, TICKET_1D: 2, PAGE_6H: 4, PAGE_1H: 9}
    assert runner.metrics.error_count == 0


def test_error_burst_on_a_runner_triggers_error_rate_alert_and_slo_breach():
    _, model, runner, store = service()
    rules = AlertRules(max_error_rate=0.05)
    slos = ServiceLevelObjectives(0.99, error_rate_threshold=0.05, period=timedelta(days=3))
    for _ in range(95):
        runner.infer(22.0)
    assert rules.evaluate(runner) == []
    model.burst = True
    for _ in range(5):
        runner.infer(22.0)
    assert rules.evaluate(runner) == []           # 5 of 100: at the threshold
    runner.infer(22.0)
    (a,) = rules.evaluate(runner)
    assert (a.kind, a.severity, a.threshold) == ("error_rate", "critical", 0.05)
    assert a.observed == pytest.approx(6 / 101)
    assert "6 of 101" in a.message
    store.sync()
    report = slos.evaluate(store)
    assert (report.total_events, report.bad_events) == (101, 6)
    assert not report.compliant and report.exhausted
    assert report.budget_consumed == pytest.approx(6 / 1.01)


# ---------------------------------------------------------------- alert rules


def metrics_with(n, errors=0, seconds=0.002):
    m = fp.ProductionMetrics()
    for i in range(n):
        m.record(seconds, error="RuntimeError" if i < errors else None)
    return m


def test_alert_rules_error_rate_boundary_is_strict():
    rules = AlertRules(max_error_rate=0.05, monitor_alarms=False)
    assert rules.evaluate(metrics_with(100, 5)) == []
    (a,) = rules.evaluate(metrics_with(100, 6))
    assert a == Alert("error_rate", "critical", 0.06, 0.05,
                      "error rate 0.06 (6 of 100 requests) above 0.05")
    # a decimal threshold is compared exactly: 7 of 100 is exactly 0.07
    assert AlertRules(max_error_rate=0.07).evaluate(metrics_with(100, 7)) == []
    assert AlertRules(max_error_rate=0.0).evaluate(metrics_with(100, 0)) == []
    assert len(AlertRules(max_error_rate=0.0).evaluate(metrics_with(100, 1))) == 1
    assert AlertRules(max_error_rate=1.0).evaluate(metrics_with(3, 3)) == []


def test_alert_rules_min_requests_and_no_traffic():
    rules = AlertRules(max_error_rate=0.1, min_requests=10)
    assert rules.evaluate(metrics_with(9, 9)) == []
    assert len(rules.evaluate(metrics_with(10, 9))) == 1
    assert AlertRules(max_error_rate=0.0, min_requests=0).evaluate(fp.ProductionMetrics()) == []
    assert AlertRules(max_error_rate=None).evaluate(metrics_with(10, 10)) == []


def test_alert_rules_latency_p99_boundary_is_strict():
    m = metrics_with(200, seconds=0.002)
    q = m.latency.quantile(0.99)
    assert q == pytest.approx(0.002, rel=0.005)
    assert AlertRules(max_latency_p99=q).evaluate(m) == []
    (a,) = AlertRules(max_latency_p99=math.nextafter(q, 0.0)).evaluate(m)
    assert a.kind == "latency_p99" and a.observed == q and a.severity == "warning"
    assert "ms" in a.message
    assert AlertRules(max_latency_p99=timedelta(milliseconds=1)).evaluate(m)[0].threshold == 0.001
    # no inference: no latency to judge
    assert AlertRules(max_latency_p99=1e-6).evaluate(fp.ProductionMetrics()) == []


def test_alert_rules_min_throughput():
    idle = fp.ProductionMetrics()
    (a,) = AlertRules(min_throughput=1.0).evaluate(idle)
    assert (a.kind, a.observed, a.threshold, a.window) == (
        "throughput", 0.0, 1.0, timedelta(seconds=idle.window))
    assert AlertRules(min_throughput=0.0).evaluate(idle) == []     # 0 < 0 is false
    busy = metrics_with(100)
    assert AlertRules(min_throughput=1e-3).evaluate(busy) == []
    assert AlertRules(min_throughput=1e12).evaluate(busy)[0].kind == "throughput"


class _Monitor:
    def __init__(self, alarm_every):
        self.n = 0
        self.alarm_every = alarm_every

    def update(self, x):
        self.n += 1
        return SimpleNamespace(alarm=self.n % self.alarm_every == 0)


def test_alert_rules_monitor_alarms():
    m = fp.ProductionMetrics()
    m.attach(_Monitor(2), name="drift")
    m.attach(_Monitor(1000), name="quiet")
    for _ in range(6):
        m.record(0.001)
    assert m.monitor_alarms == {"drift": 3, "quiet": 0}
    (a,) = AlertRules().evaluate(m)
    assert (a.kind, a.severity, a.observed, a.threshold, a.subject) == (
        "monitor_alarm", "warning", 3.0, 0.0, "drift")
    assert "'drift' raised 3 alarms" in a.message
    assert AlertRules(monitor_alarms=3).evaluate(m) == []
    assert len(AlertRules(monitor_alarms=2).evaluate(m)) == 1
    assert AlertRules(monitor_alarms=False).evaluate(m) == []
    assert AlertRules(monitor_alarms=None).evaluate(m) == []


def test_alert_rules_severities_order_and_sources():
    m = metrics_with(10, 10)
    m.attach(_Monitor(1), name="ewma")
    m.record(0.5)
    rules = AlertRules(max_error_rate=0.1, max_latency_p99=0.1, min_throughput=1e12,
                       severities={"latency_p99": "critical", "throughput": "page"})
    got = rules.evaluate(m)
    assert [(a.kind, a.severity) for a in got] == [
        ("error_rate", "critical"), ("latency_p99", "critical"), ("throughput", "page"),
        ("monitor_alarm", "warning")]
    json.dumps([a.to_dict() for a in got])
    runner = fp.ModelRunner(sensor, rng=0)
    runner.infer(22.0)
    assert AlertRules(max_error_rate=0.0).evaluate(runner) == []


def test_alert_rules_count_rejected_calls_of_a_runner():
    clock = fp.ManualClock()
    runner = fp.ModelRunner(sensor, rng=0, fallback=(20.0, True),
                            breaker=fp.CircuitBreaker(clock=clock))
    for _ in range(10):
        runner.infer(22.0)
    runner.breaker.force_open(60.0)
    for _ in range(10):
        assert runner.infer(22.0).status == "rejected"
    (a,) = AlertRules(max_error_rate=0.1).evaluate(runner)
    assert a.observed == 0.5
    assert AlertRules(max_error_rate=0.1, count_rejected=False).evaluate(runner) == []
    assert AlertRules(max_error_rate=0.1).evaluate(runner.metrics) == []


def raises_exactly(exc, message, call):
    with pytest.raises(exc, match="^" + re.escape(message) + "$") as info:
        call()
    assert type(info.value) is exc
    return info.value


_IA = InvalidArgument


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"max_error_rate": 1.5}, _IA, "max_error_rate must be in [0, 1], got 1.5"),
    ({"max_error_rate": -0.1}, _IA, "max_error_rate must be in [0, 1], got -0.1"),
    ({"max_error_rate": float("nan")}, _IA, "max_error_rate must be in [0, 1], got nan"),
    ({"max_error_rate": "0.1"}, TypeError, "max_error_rate must be a real number, got str"),
    ({"max_error_rate": True}, TypeError, "max_error_rate must be a real number, got bool"),
    ({"max_latency_p99": 0.0}, _IA, "max_latency_p99 must be positive, got 0.0"),
    ({"max_latency_p99": -1.0}, _IA, "max_latency_p99 must be positive, got -1.0"),
    ({"max_latency_p99": "1s"}, TypeError,
     "max_latency_p99 must be a timedelta or a number of seconds, got str"),
    ({"max_latency_p99": math.nan}, _IA, "max_latency_p99 must be finite, got nan"),
    ({"min_throughput": -1.0}, _IA, "min_throughput must be finite and >= 0, got -1.0"),
    ({"min_throughput": math.inf}, _IA, "min_throughput must be finite and >= 0, got inf"),
    ({"monitor_alarms": -1}, _IA, "monitor_alarms must be >= 0, got -1"),
    ({"monitor_alarms": 1.5}, _IA, "monitor_alarms must be an integer, got 1.5"),
    ({"monitor_alarms": "1"}, TypeError, "monitor_alarms must be an integer, got str"),
    ({"min_requests": -1}, _IA, "min_requests must be >= 0, got -1"),
    ({"count_rejected": 1}, TypeError, "count_rejected must be a bool, got int"),
])
def test_alert_rules_bad_arguments(kwargs, exc, text):
    raises_exactly(exc, "AlertRules: " + text, lambda: AlertRules(**kwargs))


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"severities": ["x"]}, TypeError, "severities must be a mapping"),
    ({"severities": {"latency": "page"}}, ValueError, "severities has an unknown kind 'latency'"),
    ({"severities": {"throughput": ""}}, ValueError, "severities['throughput'] must be"),
])
def test_alert_rules_bad_severities(kwargs, exc, text):
    with pytest.raises(exc, match="AlertRules: " + re.escape(text)):
        AlertRules(**kwargs)


def test_alert_rules_bad_sources():
    with pytest.raises(TypeError, match="source must be a ModelRunner or a ProductionMetrics"):
        AlertRules().evaluate({"errors": 1})
    runner = fp.ModelRunner(sensor, rng=0, metrics=False)
    with pytest.raises(ValueError, match="metrics=False"):
        AlertRules().evaluate(runner)


def test_reprs():
    assert repr(AlertRules(max_error_rate=0.1, max_latency_p99=0.25)) == (
        "AlertRules(max_error_rate=0.1, max_latency_p99=0.25, min_throughput=None, "
        "monitor_alarms=0)")
    assert repr(EventStore(clock=fp.ManualClock())) == (
        "EventStore(resolution=0:01:00, retention=3 days, 0:00:00, buckets=4320)")


def test_alerts_are_frozen_and_serialisable():
    a = Alert("error_rate", "critical", 0.2, 0.1, "m", window=timedelta(minutes=5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.severity = "warning"
    assert a.to_dict() == {"kind": "error_rate", "severity": "critical", "observed": 0.2,
                           "threshold": 0.1, "message": "m", "window": 300.0, "subject": None}
    b = BurnRateAlert("burn_rate", "page", 20.0, 14.4, "m", rule=DEFAULT_BURN_RATE_RULES[0])
    d = json.loads(json.dumps(b.to_dict()))
    assert d["rule"] == {"severity": "page", "long_window": 3600.0, "short_window": 300.0,
                         "threshold": 14.4}
    assert isinstance(b, Alert)


# ---------------------------------------------------------------- event store


def test_event_store_window_covers_the_current_bucket_and_those_before():
    clock = fp.ManualClock()
    store = EventStore(resolution=60.0, retention=600.0, clock=clock)
    assert (store.buckets, store.resolution, store.retention) == (
        10, timedelta(minutes=1), timedelta(minutes=10))
    assert store.clock is clock
    store.record(good=5, bad=1)
    clock.advance(30.0)
    store.record(good=1)
    assert store.counts(60.0) == (7, 1)
    clock.advance(30.0)                                   # t = 60: a new bucket
    assert store.counts(60.0) == (0, 0)
    assert store.counts(timedelta(minutes=2)) == (7, 1)
    clock.advance(59.5)                                   # still the same bucket
    store.add(3, errors=3)
    assert store.counts(60.0) == (3, 3)
    assert store.counts(120.0) == (10, 4)
    assert store.error_ratio(120.0) == 0.4
    assert store.error_ratio(60.0) == 1.0
    assert store.rate(120.0) == 10 / 120
    clock.advance(0.5)
    assert store.error_ratio(60.0) == 0.0                 # no events: 0, not nan


def test_event_store_forgets_what_is_older_than_the_retention():
    clock = fp.ManualClock()
    store = EventStore(60.0, 600.0, clock=clock)
    store.add(10, 1)
    clock.advance(9 * MINUTE)
    store.add(5)
    assert store.counts(600.0) == (15, 1)
    assert store.counts(540.0) == (5, 0)
    clock.advance(MINUTE)                                 # bucket 0 falls out
    assert store.counts(600.0) == (5, 0)
    clock.advance(1e6)                                    # long idle: everything expires
    assert store.counts(600.0) == (0, 0)
    store.add(2, 2)
    assert store.counts(600.0) == (2, 2)


def test_event_store_memory_does_not_grow():
    clock = fp.ManualClock()
    store = EventStore(1.0, 50.0, clock=clock)
    for i in range(2000):
        store.add(1000, i % 3)
        clock.advance(0.5)
    assert store.buckets == 50
    assert len(store._total) == len(store._bad) == 50
    # the clock ends at t = 1000: the window is t in [951, 1001), records 1902..1999
    assert store.counts(50.0) == (98 * 1000, sum(i % 3 for i in range(1902, 2000)))


def test_event_store_retention_rounds_up_to_whole_buckets_and_odd_resolutions():
    clock = fp.ManualClock(5.0)
    store = EventStore(timedelta(seconds=7), timedelta(seconds=30), clock=clock)
    assert store.buckets == 5 and store.retention == timedelta(seconds=35)
    store.add(1)
    assert store.counts(35.0) == (1, 0)
    with pytest.raises(ValueError, match=r"whole number of intervals of 0:00:07"):
        store.counts(30.0)
    sub = EventStore(0.25, 1.0, clock=clock)
    sub.add(4, 1)
    assert sub.counts(0.5) == (4, 1) and sub.counts(timedelta(milliseconds=250)) == (4, 1)


def test_event_store_clock_going_backwards_records_into_the_newest_bucket():
    clock = SimpleNamespace(t=1000.0)
    store = EventStore(60.0, 600.0, clock=lambda: clock.t)
    clock.t = 1130.0
    store.add(1)
    clock.t = 1000.0
    store.add(2, 2)
    assert store.counts(60.0) == (3, 2)
    clock.t = 1130.0
    assert store.counts(60.0) == (3, 2)


@pytest.mark.parametrize("window, exc, text", [
    (90.0, ValueError, "window \\(0:01:30\\) must be a whole number of intervals"),
    (0.0, _IA, "window must be positive \\(at least 1 microsecond\\), got 0.0$"),
    (-60.0, _IA, "window must be positive \\(at least 1 microsecond\\), got -60.0$"),
    (660.0, ValueError, "window \\(0:11:00\\) is longer than the retention"),
    (float("nan"), _IA, "window must be finite, got nan$"),
    ("5m", TypeError, "window must be a timedelta or a number of seconds"),
    (None, TypeError, "window must be a timedelta or a number of seconds"),
])
def test_event_store_bad_windows(window, exc, text):
    store = EventStore(60.0, 600.0, clock=fp.ManualClock())
    for read in (store.counts, store.rate, store.error_ratio):
        with pytest.raises(exc, match="^EventStore: " + text) as info:
            read(window)
        assert type(info.value) is exc


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"resolution": 0}, _IA,
     r"resolution must be positive \(at least 1 microsecond\), got 0$"),
    ({"resolution": timedelta(0)}, _IA,
     r"resolution must be positive \(at least 1 microsecond\), got datetime.timedelta\(0\)$"),
    ({"resolution": 1e-9}, _IA,
     r"resolution must be positive \(at least 1 microsecond\), got 1e-09$"),
    ({"resolution": math.inf}, _IA, "resolution must be finite, got inf$"),
    ({"resolution": True}, TypeError,
     "resolution must be a timedelta or a number of seconds, got bool$"),
    ({"retention": -5.0}, _IA,
     r"retention must be positive \(at least 1 microsecond\), got -5.0$"),
    ({"resolution": 60.0, "retention": 30.0}, ValueError, "retention .* must be at least"),
    ({"clock": 5.0}, TypeError, "clock must be callable"),
    ({"clock": lambda: "now"}, TypeError, "clock must return a finite number"),
    ({"clock": lambda: math.nan}, TypeError, "clock must return a finite number"),
])
def test_event_store_bad_construction(kwargs, exc, text):
    with pytest.raises(exc, match="^EventStore: " + text) as info:
        EventStore(**kwargs)
    assert isinstance(info.value, exc)


def test_event_store_bad_records_change_nothing():
    store = EventStore(clock=fp.ManualClock())
    store.add(10, 1)
    bad_calls = [
        (lambda: store.record(good=-1), _IA, "record: good must be >= 0, got -1"),
        (lambda: store.record(bad=True), TypeError, "record: bad must be an integer, got bool"),
        (lambda: store.record(good=1.5), _IA, "record: good must be an integer, got 1.5"),
        (lambda: store.record(good=1, bad=-1), _IA, "record: bad must be >= 0, got -1"),
        (lambda: store.add(1, 2), ValueError, "add: errors (2) must not exceed total (1)"),
        (lambda: store.add(-1), _IA, "add: total must be >= 0, got -1"),
        (lambda: store.add("3"), TypeError, "add: total must be an integer, got str"),
    ]
    for call, exc, text in bad_calls:
        raises_exactly(exc, "EventStore." + text, call)
    assert store.counts(60.0) == (10, 1)
    import numpy as np
    store.record(good=np.int64(2), bad=np.int32(1))
    assert store.counts(60.0) == (13, 2)


def test_event_store_counts_exactly_from_many_threads():
    store = EventStore(clock=fp.ManualClock())
    n_threads, n = 8, 2000
    barrier = threading.Barrier(n_threads)

    def work(k):
        barrier.wait()
        for i in range(n):
            if i % 2:
                store.record(good=1, bad=k % 2)
            else:
                store.add(2, 1)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    half = n // 2
    expected_total = n_threads * (half * 2 + half * 1) + (n_threads // 2) * half
    expected_bad = n_threads * half + (n_threads // 2) * half
    assert store.counts(60.0) == (expected_total, expected_bad)


def test_event_store_sync_while_threads_serve_loses_no_request():
    clock = fp.ManualClock()
    model = FlakyModel()
    model.every = 7
    runner = fp.ModelRunner(model, rng=0, fallback=(20.0, True),
                            breaker=fp.CircuitBreaker(clock=clock, failure_threshold=0.9))
    store = EventStore.from_runner(runner, clock=clock)
    done = threading.Event()
    synced = []

    def syncer():
        while not done.is_set():
            synced.append(store.sync())
            synced.append(store.sync(runner))

    def serve():
        for _ in range(500):
            runner.infer(22.0)

    t = threading.Thread(target=syncer)
    t.start()
    workers = [threading.Thread(target=serve) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done.set()
    t.join()
    synced.append(store.sync())
    m = runner.metrics
    assert m.inference_count == 2000
    assert store.counts(60.0) == (2000, m.error_count)
    assert tuple(map(sum, zip(*synced, strict=True))) == (2000, m.error_count)
    assert all(0 <= bad <= total for total, bad in synced)


def test_event_store_sync_records_the_change_since_the_last_sync():
    clock = fp.ManualClock()
    model = FlakyModel()
    runner = fp.ModelRunner(model, rng=0, fallback=(20.0, True),
                            breaker=fp.CircuitBreaker(clock=clock))
    for _ in range(7):
        runner.infer(22.0)                    # before tracking: not placed in any bucket
    store = EventStore.from_runner(runner, clock=clock)
    assert store.sync() == (0, 0)
    model.every = 4
    for _ in range(8):
        runner.infer(22.0)                    # calls 8..15: 8 and 12 fail
    assert store.sync() == (8, 2)
    assert store.sync() == (0, 0)
    clock.advance(MINUTE)
    runner.breaker.force_open(120.0)
    for _ in range(3):
        runner.infer(22.0)                    # rejected: bad requests
    assert store.sync(runner) == (3, 3)
    assert store.counts(60.0) == (3, 3)
    assert store.counts(120.0) == (11, 5)
    assert runner.metrics.inference_count == 15


def test_event_store_sync_without_rejected_calls_and_after_a_reset():
    clock = fp.ManualClock()
    runner = fp.ModelRunner(sensor, rng=0, fallback=(20.0, True),
                            breaker=fp.CircuitBreaker(clock=clock))
    store = EventStore(clock=clock)
    store.track(runner, count_rejected=False)
    for _ in range(4):
        runner.infer(22.0)
    runner.breaker.force_open(60.0)
    runner.infer(22.0)
    assert store.sync() == (4, 0)
    runner.metrics.reset()
    runner.breaker.reset()
    for _ in range(2):
        runner.infer(22.0)
    assert store.sync() == (2, 0)                # counters went down: restart from zero
    assert store.counts(60.0) == (6, 0)


def test_event_store_sync_of_plain_metrics_and_several_sources():
    clock = fp.ManualClock()
    a, b = fp.ProductionMetrics(), fp.ProductionMetrics()
    store = EventStore(clock=clock)
    assert store.sync(a) == (0, 0)               # first sight: tracked from now
    store.track(b)
    a.record(0.001)
    a.record(0.001, error="ValueError")
    b.record(0.001, error=RuntimeError("x"))
    assert store.sync(a) == (2, 1)
    assert store.sync() == (1, 1)
    store.untrack(a)
    a.record(0.001)
    assert store.sync() == (0, 0)
    with pytest.raises(ValueError, match="EventStore.untrack: this source is not tracked"):
        store.untrack(a)
    with pytest.raises(ValueError, match="EventStore.track: this source is tracked already"):
        store.track(b)


def test_event_store_sync_of_latency_counts_slow_inferences():
    clock = fp.ManualClock()
    m = fp.ProductionMetrics()
    store = EventStore(clock=clock)
    store.track(m, latency_threshold=timedelta(milliseconds=100))
    for s in (0.01, 0.05, 0.2, 0.5, 0.099):
        m.record(s)
    m.record(0.3, error="RuntimeError")          # slow, whatever its outcome
    assert store.sync() == (6, 3)


def test_event_store_bad_sources():
    store = EventStore(clock=fp.ManualClock())
    with pytest.raises(TypeError, match="EventStore.track: source must be a ModelRunner"):
        store.track(object())
    with pytest.raises(TypeError, match="EventStore.sync: source must be a ModelRunner"):
        store.sync("runner")
    with pytest.raises(ValueError, match="metrics=False"):
        store.sync(fp.ModelRunner(sensor, metrics=False))
    raises_exactly(_IA, "EventStore.track: latency_threshold must be positive, got 0.0",
                   lambda: store.track(fp.ProductionMetrics(), latency_threshold=0.0))
    with pytest.raises(TypeError, match="count_rejected must be a bool"):
        store.track(fp.ProductionMetrics(), count_rejected="yes")
    assert store._sources == {}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 1.0, 29.5, 60.0, 61.0, 125.0, 300.0, 900.0]),
                          st.integers(0, 50), st.integers(0, 50)), max_size=40))
def test_event_store_counts_equal_the_events_recorded_inside_the_window(steps):
    # resolution 60 s, 10 buckets; a window of k buckets holds the events
    # recorded in the current bucket and the k - 1 before it.
    clock = fp.ManualClock()
    store = EventStore(60.0, 600.0, clock=clock)
    log = []
    for dt, good, bad in steps:
        clock.advance(dt)
        store.record(good=good, bad=bad)
        log.append((math.floor(clock() / 60.0), good + bad, bad))
    now = math.floor(clock() / 60.0)
    for k in range(1, 11):
        inside = [(t, b) for idx, t, b in log if now - k < idx <= now]
        assert store.counts(60.0 * k) == (sum(t for t, _ in inside), sum(b for _, b in inside))


# ---------------------------------------------------------------- burn-rate rules and alerts


def test_default_rules_are_the_sre_workbook_ones():
    assert [(r.severity, r.long_window, r.short_window, r.threshold)
            for r in DEFAULT_BURN_RATE_RULES] == [
        ("page", timedelta(hours=1), timedelta(minutes=5), 14.4),
        ("page", timedelta(hours=6), timedelta(minutes=30), 6.0),
        ("ticket", timedelta(days=1), timedelta(hours=2), 3.0),
        ("ticket", timedelta(days=3), timedelta(hours=6), 1.0),
    ]
    assert [r.name for r in DEFAULT_BURN_RATE_RULES] == [PAGE_1H, PAGE_6H, TICKET_1D, TICKET_3D]


def test_burn_rate_rule_normalises_and_validates():
    r = BurnRateRule("ticket", 7200, 90.5, 2)
    assert r.long_window == timedelta(hours=2) and r.short_window == timedelta(seconds=90.5)
    assert r.threshold == 2.0 and isinstance(r.threshold, float)
    assert r.name == "ticket 2h/90.5s > 2"
    assert r == BurnRateRule("ticket", timedelta(hours=2), timedelta(seconds=90.5), 2.0)
    assert len({r, BurnRateRule("ticket", timedelta(hours=2), 90.5, 2.0)}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.threshold = 3.0
    cases = [
        (("", 3600, 300, 1.0), ValueError, "severity must be a non-empty str"),
        ((None, 3600, 300, 1.0), ValueError, "severity must be a non-empty str"),
        (("page", 300, 300, 1.0), ValueError, "short_window .* must be shorter than long_window"),
        (("page", 300, 3600, 1.0), ValueError, "short_window .* must be shorter"),
        (("page", 0, 300, 1.0), _IA,
          r"long_window must be positive \(at least 1 microsecond\), got 0$"),
        (("page", 3600, "5m", 1.0), TypeError,
          "short_window must be a timedelta or a number of seconds, got str$"),
        (("page", 3600, 300, 0.0), _IA, "threshold must be finite and > 0, got 0.0$"),
        (("page", 3600, 300, math.nan), _IA, "threshold must be finite and > 0, got nan$"),
        (("page", 3600, 300, None), TypeError, "threshold must be a real number, got NoneType$"),
    ]
    for args, exc, text in cases:
        with pytest.raises(exc, match="^BurnRateRule: " + text) as info:
            BurnRateRule(*args)
        assert isinstance(info.value, exc)


def fresh_alerts(rule, slo=0.999):
    clock = fp.ManualClock()
    store = EventStore(60.0, timedelta(days=3), clock=clock)
    return clock, store, BurnRateAlerts(store, slo, rules=[rule])


@pytest.mark.parametrize("rule", DEFAULT_BURN_RATE_RULES, ids=lambda r: r.name)
def test_each_rule_fires_only_when_both_windows_are_above_its_threshold(rule):
    short_buckets = rule.short_window // timedelta(minutes=1)

    # Both windows exactly at the threshold: no alert; one more bad event: alert.
    clock, store, alerts = fresh_alerts(rule)
    store.add(10_000, round(rule.threshold * 10))          # burn = threshold exactly
    (st_,) = alerts.status()
    assert st_.long_burn_rate == st_.short_burn_rate == rule.threshold
    assert not st_.firing and alerts.evaluate() == []
    store.record(bad=1)
    (a,) = alerts.evaluate()
    assert (a.kind, a.severity, a.subject, a.threshold) == (
        "burn_rate", rule.severity, rule.name, rule.threshold)
    assert a.observed > rule.threshold

    # Long window above, short window not: the errors have stopped. The alert
    # fires while the burst is in the short window and stops the very
    # interval it leaves it.
    clock, store, alerts = fresh_alerts(rule)
    store.add(1000, 1000)
    clock.advance((short_buckets - 1) * MINUTE)
    store.add(1000, 0)
    assert len(alerts.evaluate()) == 1
    clock.advance(MINUTE)
    store.add(1000, 0)
    assert alerts.evaluate() == []
    assert alerts.burn_rate(rule.long_window) > rule.threshold
    assert alerts.burn_rate(rule.short_window) == 0.0

    # Short window above, long window not: a blip after a long good stretch.
    clock, store, alerts = fresh_alerts(rule)
    store.add(10_000_000, 0)
    clock.advance(short_buckets * MINUTE)
    store.add(1000, 100)
    (st_,) = alerts.status()
    assert st_.short_burn_rate == 100.0 and st_.long_burn_rate < rule.threshold
    assert alerts.evaluate() == []


def test_burn_rates_without_traffic_are_zero():
    _, store, alerts = fresh_alerts(DEFAULT_BURN_RATE_RULES[0])
    alerts = BurnRateAlerts(store)
    assert alerts.evaluate() == []
    assert all(s.long_burn_rate == s.short_burn_rate == 0.0 and not s.firing
               for s in alerts.status())
    assert alerts.burn_rate(timedelta(days=3)) == 0.0
    store.add(100, 0)
    assert alerts.burn_rate(300.0) == 0.0


def test_burn_rate_thresholds_and_min_events_are_configurable():
    clock = fp.ManualClock()
    store = EventStore(clock=clock)
    store.add(1000, 25)                                   # 2.5% at slo 0.99: burn 2.5
    assert subjects(BurnRateAlerts(store, 0.99)) == {TICKET_3D}       # only 2.5 > 1
    custom = BurnRateAlerts(store, 0.99, rules=[BurnRateRule("page", 3600, 300, 2.0)])
    (a,) = custom.evaluate()
    assert a.severity == "page" and a.observed == pytest.approx(2.5)
    assert BurnRateAlerts(store, 0.99, rules=[BurnRateRule("page", 3600, 300, 2.5)]).evaluate() \
        == []
    one = EventStore(clock=clock)
    one.add(1, 1)                                         # one failed request: burn 1000
    assert len(BurnRateAlerts(one, min_events=1).evaluate()) == 4
    assert BurnRateAlerts(one, min_events=2).evaluate() == []
    assert BurnRateAlerts(one, min_events=2).min_events == 2


def test_burn_rate_alerts_properties_and_repr():
    store = EventStore(clock=fp.ManualClock())
    alerts = BurnRateAlerts(store, 0.995)
    assert alerts.store is store and alerts.slo == 0.995
    assert alerts.rules == DEFAULT_BURN_RATE_RULES
    assert repr(alerts) == "BurnRateAlerts(slo=0.995, rules=4)"


def test_burn_rate_alerts_bad_arguments():
    store = EventStore(clock=fp.ManualClock())
    cases = [
        (lambda: BurnRateAlerts("store"), TypeError, "store must be an EventStore"),
        (lambda: BurnRateAlerts(store, 1.0), _IA,
         r"^BurnRateAlerts: slo must be in \(0, 1\), got 1.0$"),
        (lambda: BurnRateAlerts(store, 0.0), _IA,
         r"^BurnRateAlerts: slo must be in \(0, 1\), got 0.0$"),
        (lambda: BurnRateAlerts(store, math.nan), _IA,
         r"^BurnRateAlerts: slo must be in \(0, 1\), got nan$"),
        (lambda: BurnRateAlerts(store, True), TypeError,
         "^BurnRateAlerts: slo must be a real number, got bool$"),
        (lambda: BurnRateAlerts(store, rules=[]), ValueError, "rules must not be empty"),
        (lambda: BurnRateAlerts(store, rules="page"), TypeError, "rules must be a sequence"),
        (lambda: BurnRateAlerts(store, rules=[("page", 3600, 300, 14.4)]), TypeError,
         r"rules\[0\] must be a BurnRateRule"),
        (lambda: BurnRateAlerts(store, min_events=-1), _IA,
         "^BurnRateAlerts: min_events must be >= 0, got -1$"),
        (lambda: BurnRateAlerts(EventStore(60.0, timedelta(days=1), clock=fp.ManualClock())),
         ValueError, r"rule 'ticket 3d/6h > 1' long_window \(3 days, 0:00:00\) is longer than"),
        (lambda: BurnRateAlerts(EventStore(7 * 60.0, clock=fp.ManualClock())), ValueError,
         r"rule 'page 1h/5m > 14.4' long_window \(1:00:00\) must be a whole number"),
    ]
    for call, exc, text in cases:
        with pytest.raises(exc, match=text):
            call()


@settings(max_examples=80, deadline=None)
@given(total=st.integers(1, 10**6), a=st.integers(0, 10**6), b=st.integers(0, 10**6),
       slo=st.sampled_from([0.9, 0.99, 0.995, 0.999, 0.9999]))
def test_burn_rate_is_the_error_ratio_over_the_budget_and_monotone(total, a, b, slo):
    lo, hi = sorted((min(a, total), min(b, total)))
    rates, firing = [], []
    for bad in (lo, hi):
        store = EventStore(clock=fp.ManualClock())
        store.add(total, bad)
        alerts = BurnRateAlerts(store, slo)
        rates.append(alerts.burn_rate(3600.0))
        firing.append({s.rule for s in alerts.status() if s.firing})
        assert rates[-1] == pytest.approx(bad / total / (1 - slo), rel=1e-9)
    assert rates[0] <= rates[1]
    assert firing[0] <= firing[1]                 # more errors never silence a rule


# ---------------------------------------------------------------- SLOs and the error budget


def test_error_budget_is_exact():
    assert ServiceLevelObjectives().error_budget == timedelta(minutes=43, seconds=12)
    assert ServiceLevelObjectives(0.999, period=timedelta(days=30)).error_budget == \
        timedelta(minutes=43, seconds=12)
    assert ServiceLevelObjectives(0.99, period=timedelta(days=7)).error_budget == \
        timedelta(hours=1, minutes=40, seconds=48)
    assert ServiceLevelObjectives(0.9999).error_budget == timedelta(minutes=4, seconds=19.2)
    assert ServiceLevelObjectives(0.95, period=3600).error_budget == timedelta(minutes=3)
    # rounded to the nearest microsecond
    assert ServiceLevelObjectives(Fraction(2, 3), period=1.0).error_budget == \
        timedelta(microseconds=333333)
    slos = ServiceLevelObjectives(0.999)
    assert slos.period == timedelta(days=30) and slos.availability_target == 0.999
    assert slos.latency_p99 is None and slos.error_rate_threshold is None
    assert slos.allowed_bad_events(10_000) == 10.0
    assert "availability_target=0.999" in repr(slos)


def test_targets_may_be_decimals_or_fractions():
    from decimal import Decimal
    budget = ServiceLevelObjectives(Decimal("0.999")).error_budget
    assert budget == timedelta(minutes=43, seconds=12)
    store = EventStore(clock=fp.ManualClock())
    store.add(10_000, 144)
    (s144,) = [s for s in BurnRateAlerts(store, Fraction(999, 1000)).status()
               if s.rule.name == PAGE_1H]
    assert s144.long_burn_rate == 14.4 and not s144.firing


def test_request_based_budget_arithmetic():
    slos = ServiceLevelObjectives(0.999)
    r = slos.evaluate(counts=(10_000, 3))
    assert isinstance(r, SLOReport) and r.basis == "requests"
    assert (r.total_events, r.bad_events, r.allowed_bad_events) == (10_000, 3, 10.0)
    assert r.budget_consumed == 0.3 and r.budget_remaining == 0.7
    assert r.budget_remaining_time == timedelta(minutes=30, seconds=14, microseconds=400_000)
    assert r.error_budget == timedelta(minutes=43, seconds=12)
    assert r.compliant and not r.exhausted
    assert r["availability"].observed == 0.9997 and r["availability"].comparison == ">="

    at = slos.evaluate(counts=(1000, 1))          # exactly at the objective
    assert at.budget_consumed == 1.0 and at.budget_remaining == 0.0
    assert at.budget_remaining_time == timedelta(0)
    assert at.compliant and at.exhausted

    over = slos.evaluate(counts=(1000, 2))
    assert over.budget_remaining == -1.0
    assert over.budget_remaining_time == -timedelta(minutes=43, seconds=12)
    assert not over.compliant and over.exhausted
    assert over["availability"].observed == 0.998 and not over["availability"].compliant


def test_time_based_budget_arithmetic():
    slos = ServiceLevelObjectives(0.999)
    r = slos.evaluate(downtime=timedelta(minutes=20))
    assert r.basis == "time" and r.total_events is None and r.allowed_bad_events is None
    assert r.downtime == timedelta(minutes=20)
    assert r.budget_remaining_time == timedelta(minutes=23, seconds=12)
    assert r.budget_consumed == pytest.approx(20 / 43.2)
    assert r.compliant
    exact = slos.evaluate(downtime=timedelta(minutes=43, seconds=12))
    assert exact.compliant and exact.exhausted and exact.budget_remaining == 0.0
    assert exact["availability"].observed == 0.999
    over = slos.evaluate(downtime=timedelta(hours=1))
    assert over.budget_remaining_time == timedelta(minutes=16, seconds=48) * -1
    assert not over.compliant
    # measured over a day: availability from that day
    day = slos.evaluate(downtime=timedelta(minutes=2), elapsed=timedelta(days=1))
    assert day["availability"].observed == pytest.approx(1 - 2 / 1440)
    assert not day.compliant
    assert day.budget_remaining_time == timedelta(minutes=41, seconds=12)
    assert slos.evaluate(downtime=0).budget_remaining == 1.0


def test_latency_and_error_rate_objectives():
    m = metrics_with(1000, errors=20, seconds=0.004)
    slos = ServiceLevelObjectives(0.97, latency_p99=0.005, error_rate_threshold=0.02,
                                  period=timedelta(days=1))
    r = slos.evaluate(m)
    assert [o.name for o in r.objectives] == ["availability", "latency_p99", "error_rate"]
    assert r["latency_p99"].observed == pytest.approx(0.004, rel=0.005)
    assert r["latency_p99"].compliant and r["latency_p99"].comparison == "<="
    assert r["error_rate"].observed == 0.02 and r["error_rate"].compliant   # at the boundary
    assert r.compliant
    r2 = ServiceLevelObjectives(0.97, latency_p99=timedelta(milliseconds=3),
                                error_rate_threshold=0.019).evaluate(m)
    assert not r2["latency_p99"].compliant and not r2["error_rate"].compliant
    assert r2["availability"].compliant and not r2.compliant
    with pytest.raises(KeyError, match="no objective named 'p50'"):
        r2["p50"]
    doc = json.loads(json.dumps(r2.to_dict()))
    assert doc["compliant"] is False and doc["error_budget"] == 77760.0
    assert doc["objectives"][1]["name"] == "latency_p99"


def test_objectives_without_data_are_compliant():
    slos = ServiceLevelObjectives(0.999, latency_p99=0.01, error_rate_threshold=0.01)
    r = slos.evaluate(fp.ProductionMetrics())
    assert all(o.observed is None and o.compliant for o in r.objectives)
    assert r.budget_consumed == 0.0 and r.budget_remaining_time == slos.error_budget
    store = EventStore(clock=fp.ManualClock())
    r = ServiceLevelObjectives(0.99, latency_p99=0.01, period=timedelta(days=1)).evaluate(store)
    assert r.total_events == 0 and r["latency_p99"].observed is None


def test_slo_from_runner_counts_rejected_calls_and_from_breaker_history():
    clock = fp.ManualClock()
    runner = fp.ModelRunner(sensor, rng=0, fallback=(20.0, True),
                            breaker=fp.CircuitBreaker(clock=clock))
    history = BreakerHistory(runner.breaker)
    for _ in range(998):
        runner.infer(22.0)
    runner.breaker.force_open(600.0)
    clock.advance(60.0)
    runner.infer(22.0)
    runner.infer(22.0)
    slos = ServiceLevelObjectives(0.999)
    r = slos.evaluate(runner)
    assert (r.total_events, r.bad_events) == (1000, 2) and not r.compliant
    assert slos.evaluate(runner, count_rejected=False).bad_events == 0
    t = slos.evaluate(runner, downtime=history.downtime())
    assert t.basis == "time" and t.downtime == timedelta(minutes=1)
    assert t.budget_remaining_time == timedelta(minutes=42, seconds=12)
    assert t["availability"].compliant


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"availability_target": 1.0}, _IA, "availability_target must be in (0, 1), got 1.0"),
    ({"availability_target": 0}, _IA, "availability_target must be in (0, 1), got 0"),
    ({"availability_target": 99.9}, _IA, "availability_target must be in (0, 1), got 99.9"),
    ({"availability_target": "0.999"}, TypeError,
     "availability_target must be a real number, got str"),
    ({"latency_p99": 0}, _IA, "latency_p99 must be positive, got 0"),
    ({"latency_p99": "5ms"}, TypeError,
     "latency_p99 must be a timedelta or a number of seconds, got str"),
    ({"error_rate_threshold": 1.0}, _IA, "error_rate_threshold must be in (0, 1), got 1.0"),
    ({"error_rate_threshold": math.nan}, _IA,
     "error_rate_threshold must be in (0, 1), got nan"),
    ({"period": timedelta(0)}, _IA,
     "period must be positive (at least 1 microsecond), got datetime.timedelta(0)"),
    ({"period": -timedelta(days=1)}, _IA,
     "period must be positive (at least 1 microsecond), got datetime.timedelta(days=-1)"),
    ({"period": "30d"}, TypeError, "period must be a timedelta or a number of seconds, got str"),
])
def test_slo_bad_arguments(kwargs, exc, text):
    raises_exactly(exc, "ServiceLevelObjectives: " + text,
                   lambda: ServiceLevelObjectives(**kwargs))


def test_slo_evaluate_bad_arguments():
    slos = ServiceLevelObjectives(0.999)
    m = fp.ProductionMetrics()
    cases = [
        (lambda: slos.evaluate(), ValueError, "needs a source, counts or a downtime"),
        (lambda: slos.evaluate(m, counts=(1, 0)), ValueError, "a source or counts, not both"),
        (lambda: slos.evaluate(counts=[1, 0]), TypeError, r"counts must be a \(total, bad\)"),
        (lambda: slos.evaluate(counts=(1, 2)), ValueError, r"bad \(2\) must not exceed total"),
        (lambda: slos.evaluate(counts=(-1, 0)), _IA,
         r"^ServiceLevelObjectives.evaluate: counts\[0\] \(total\) must be >= 0, got -1$"),
        (lambda: slos.evaluate(counts=(1, 0.5)), _IA,
         r"^ServiceLevelObjectives.evaluate: counts\[1\] \(bad\) must be an integer, got 0.5$"),
        (lambda: slos.evaluate(downtime=-1.0), _IA,
         "^ServiceLevelObjectives.evaluate: downtime must be >= 0, got -1.0$"),
        (lambda: slos.evaluate(downtime=timedelta(days=31)), ValueError,
         "downtime .* must not exceed elapsed"),
        (lambda: slos.evaluate(m, elapsed=60.0), ValueError, "elapsed needs a downtime"),
        (lambda: slos.evaluate(downtime=1.0, elapsed=0), _IA,
         (r"^ServiceLevelObjectives.evaluate: elapsed must be positive \(at least 1 microsecond\), "
          r"got 0$")),
        (lambda: slos.evaluate("metrics"), TypeError, "source must be a ModelRunner"),
        (lambda: slos.evaluate(m, count_rejected=None), TypeError, "count_rejected must be a bool"),
        (lambda: slos.evaluate(EventStore(clock=fp.ManualClock())), ValueError,
         "longer than the retention"),
    ]
    for call, exc, text in cases:
        with pytest.raises(exc, match=text) as info:
            call()
        assert isinstance(info.value, exc)
    raises_exactly(_IA, "allowed_bad_events: total must be an integer, got 1.5",
                   lambda: slos.allowed_bad_events(1.5))


# ---------------------------------------------------------------- availability from the breaker


def trip(breaker, n=4):
    for _ in range(n):
        breaker.record_failure()


def recover(breaker, permits=2):
    for _ in range(permits):
        assert breaker.allow()
        breaker.record_success()


def small_breaker(clock):
    return fp.CircuitBreaker(window_size=10, minimum_calls=4, open_duration=5.0,
                             half_open_permits=2, clock=clock)


def test_availability_is_mtbf_over_mtbf_plus_mttr():
    clock = fp.ManualClock()
    breaker = small_breaker(clock)
    history = BreakerHistory(breaker)
    r = history.report()
    assert r == AvailabilityReport(0.0, 0.0, 0, math.inf, 0.0, 1.0, False)
    clock.advance(100.0)
    assert history.availability == 1.0 and history.mtbf == math.inf and history.mttr == 0.0
    trip(breaker)                                         # failure at t = 100
    clock.advance(5.0)
    recover(breaker)                                      # repaired at t = 105
    assert breaker.state == fp.BreakerState.HEALTHY
    clock.advance(95.0)
    trip(breaker)                                         # failure at t = 200
    clock.advance(5.0)
    assert breaker.allow()                                # RECOVERY: still down
    breaker.record_failure()                              # back to FAILED: same outage
    clock.advance(15.0)
    recover(breaker)                                      # repaired at t = 220
    clock.advance(80.0)                                   # now t = 300
    r = history.report()
    assert (r.uptime, r.downtime, r.failures) == (275.0, 25.0, 2)
    assert (r.mtbf, r.mttr) == (137.5, 12.5)
    assert r.availability == pytest.approx(137.5 / 150.0) == 275 / 300
    assert history.failures == 2
    assert history.downtime() == timedelta(seconds=25)
    # the last 100 s: only the second outage (20 s)
    w = history.report(timedelta(seconds=100))
    assert (w.uptime, w.downtime, w.failures, w.availability) == (80.0, 20.0, 1, 0.8)
    assert history.downtime(50.0) == timedelta(0)
    assert history.report(50.0).failures == 0
    # a window longer than the history is clipped to its start
    assert history.report(timedelta(days=1)) == r
    assert "failures=2" in repr(history)


def test_ongoing_outage_counts_up_to_now_and_degraded_is_up():
    clock = fp.ManualClock()
    breaker = fp.CircuitBreaker(window_size=20, minimum_calls=10, degraded_threshold=0.1,
                                failure_threshold=0.5, open_duration=5.0, clock=clock)
    history = BreakerHistory(breaker)
    for _ in range(8):
        breaker.record_success()
    trip(breaker, 2)
    assert breaker.state == fp.BreakerState.DEGRADED
    clock.advance(50.0)
    assert history.report().downtime == 0.0
    trip(breaker, 8)
    assert breaker.state == fp.BreakerState.FAILED
    clock.advance(30.0)
    r = history.report()
    assert (r.uptime, r.downtime, r.failures, r.down) == (50.0, 30.0, 1, True)
    assert r.availability == 50 / 80
    clock.advance(10.0)
    assert history.report().downtime == 40.0


def test_recovery_may_count_as_up_and_history_may_start_during_an_outage():
    clock = fp.ManualClock()
    breaker = small_breaker(clock)
    only_failed = BreakerHistory(breaker, down_states={fp.BreakerState.FAILED})
    trip(breaker)
    clock.advance(5.0)
    assert breaker.allow()                                # RECOVERY at t = 5
    clock.advance(10.0)
    assert only_failed.report().downtime == 5.0
    late = BreakerHistory(breaker)                        # created while RECOVERY (down)
    assert late.report().failures == 1 and late.report().down
    clock.advance(2.0)
    assert late.report().downtime == 2.0 and late.availability == 0.0
    breaker.record_success()
    assert breaker.allow()
    breaker.record_success()
    clock.advance(6.0)
    assert late.report() == AvailabilityReport(6.0, 2.0, 1, 6.0, 2.0, 0.75, False)


def test_history_close_stops_listening_and_bounded_outages():
    clock = fp.ManualClock()
    breaker = small_breaker(clock)
    with BreakerHistory(breaker, max_outages=2) as history:
        assert history.breaker is breaker
        assert history.down_states == {fp.BreakerState.FAILED, fp.BreakerState.RECOVERY}
        assert history._on_transition in breaker.listeners
        for _ in range(5):
            clock.advance(10.0)
            trip(breaker)
            clock.advance(5.0)
            recover(breaker)
        assert len(history._outages) == 2
        r = history.report()
        assert (r.failures, r.uptime, r.downtime) == (5, 50.0, 25.0)   # totals stay exact
    assert breaker.listeners == ()
    history.close()                                       # idempotent
    clock.advance(10.0)
    trip(breaker)
    assert history.report() == r                          # frozen at closing
    history._on_transition(fp.BreakerState.HEALTHY, fp.BreakerState.FAILED)   # a late call
    assert history.report() == r


def test_history_uses_a_given_clock_or_the_breaker_clock():
    t = SimpleNamespace(now=0.0)
    breaker = fp.CircuitBreaker(window_size=4, minimum_calls=4)
    history = BreakerHistory(breaker, clock=lambda: t.now)
    t.now = 10.0
    trip(breaker)
    t.now = 12.5
    assert history.report().downtime == 2.5 and history.report().uptime == 10.0
    real = BreakerHistory(fp.CircuitBreaker())
    assert real._clock is time.monotonic


def test_breaker_history_bad_arguments():
    breaker = fp.CircuitBreaker(clock=fp.ManualClock())
    cases = [
        (lambda: BreakerHistory("breaker"), TypeError, "breaker must be a CircuitBreaker"),
        (lambda: BreakerHistory(breaker, clock=1), TypeError, "clock must be callable"),
        (lambda: BreakerHistory(breaker, down_states=[]), ValueError,
         "down_states must not be empty"),
        (lambda: BreakerHistory(breaker, down_states="FAILED"), TypeError,
         "down_states must be an iterable of BreakerState"),
        (lambda: BreakerHistory(breaker, down_states=[2]), TypeError,
         "down_states must hold BreakerState members"),
        (lambda: BreakerHistory(breaker, down_states=[fp.BreakerState.HEALTHY]), ValueError,
         "down_states must not contain HEALTHY"),
        (lambda: BreakerHistory(breaker, max_outages=0), _IA,
         r"max_outages must be in \[1, 9223372036854775807\], got 0$"),
    ]
    for call, exc, text in cases:
        with pytest.raises(exc, match="BreakerHistory: " + text):
            call()
    assert breaker.listeners == ()                        # nothing half-subscribed
    history = BreakerHistory(breaker)
    raises_exactly(_IA, "BreakerHistory.report: window must be positive (at least 1 "
                        "microsecond), got 0", lambda: history.report(0))


# ---------------------------------------------------------------- capacity


def test_capacity_scale_up_down_and_no_action():
    p = CapacityPlanner()
    up = p.recommend(arrival_rate=90.0, service_time=0.02, replicas=2)
    assert isinstance(up, CapacityRecommendation)
    assert (up.action, up.utilisation, up.replicas, up.factor, up.limited_by) == (
        "scale_up", 0.9, 4, 2.0, None)
    assert up.projected_utilisation == pytest.approx(0.45)
    assert "scale from 2 to 4 replicas" in up.message and not up.saturated

    down = p.recommend(arrival_rate=20.0, service_time=0.05, replicas=8)     # rho = 0.125
    assert (down.action, down.replicas, down.factor) == ("scale_down", 2, 0.25)

    keep = p.recommend(arrival_rate=50.0, service_time=0.02, replicas=2)     # rho = 0.5
    assert (keep.action, keep.replicas, keep.factor) == ("no_action", 2, 1.0)
    assert "keep 2 replicas" in keep.message

    over = p.recommend(arrival_rate=300.0, service_time=0.01, replicas=2)    # rho = 1.5
    assert over.saturated and over.replicas == 6 and over.action == "scale_up"
    json.dumps(over.to_dict())


def test_capacity_thresholds_are_exclusive():
    p = CapacityPlanner()
    at_up = p.recommend(arrival_rate=7.0, service_time=0.1, replicas=1)       # rho = 0.7
    assert at_up.action == "no_action" and at_up.utilisation == 0.7
    assert p.recommend(7.01, 0.1, 1).action == "scale_up"
    at_down = p.recommend(arrival_rate=3.0, service_time=0.1, replicas=1)     # rho = 0.3
    assert at_down.action == "no_action"
    assert p.recommend(2.99, 0.1, 4).action == "scale_down"


def test_capacity_zero_traffic_and_replica_bounds():
    p = CapacityPlanner(min_replicas=2, max_replicas=5)
    idle = p.recommend(arrival_rate=0.0, service_time=0.0, replicas=4)
    assert (idle.action, idle.utilisation, idle.replicas, idle.limited_by) == (
        "scale_down", 0.0, 2, "min_replicas")
    assert p.recommend(0.0, 0.1, replicas=2).action == "no_action"
    capped = p.recommend(arrival_rate=1000.0, service_time=0.01, replicas=3)  # wants 20
    assert (capped.action, capped.replicas, capped.limited_by) == ("scale_up", 5, "max_replicas")
    assert "limited by max_replicas=5" in capped.message
    at_max = p.recommend(1000.0, 0.01, replicas=5)
    assert (at_max.action, at_max.replicas, at_max.limited_by) == (
        "no_action", 5, "max_replicas")
    above_max = p.recommend(250.0, 0.01, replicas=7)                          # rho = 0.357
    assert (above_max.action, above_max.replicas) == ("scale_down", 5)
    below_min = p.recommend(5.0, 0.1, replicas=1)                             # rho = 0.5
    assert (below_min.action, below_min.replicas, below_min.limited_by) == (
        "scale_up", 2, "min_replicas")
    # scale-down that the replica granularity cannot honour
    assert CapacityPlanner().recommend(2.0, 0.1, 1).action == "no_action"


def test_capacity_from_metrics():
    p = CapacityPlanner()
    m = metrics_with(100, seconds=0.004)
    before = m.window_throughput
    r = p.from_metrics(m, replicas=2)
    after = m.window_throughput
    assert r.service_time == pytest.approx(0.004, rel=1e-6)
    assert after * 0.004 / 2 * (1 - 1e-9) <= r.utilisation <= before * 0.004 / 2 * (1 + 1e-9)
    fixed = p.from_metrics(m, replicas=2, arrival_rate=100.0)
    assert fixed.utilisation == pytest.approx(0.2) and fixed.action == "scale_down"
    runner = fp.ModelRunner(sensor, rng=0)
    assert p.from_metrics(runner, arrival_rate=0.0).utilisation == 0.0
    idle = p.from_metrics(fp.ProductionMetrics(), replicas=3)
    assert idle.service_time == 0.0 and idle.utilisation == 0.0 and idle.replicas == 1
    clock = fp.ManualClock()
    store = EventStore(clock=clock)
    store.add(600)
    r = p.from_metrics(m, arrival_rate=store.rate(60.0), service_time=0.1)
    assert r.arrival_rate == 10.0 and r.utilisation == 1.0 and r.replicas == 2
    assert p.recommend(1.0, timedelta(milliseconds=500)).utilisation == 0.5


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"scale_up_threshold": 1.1}, _IA, r"scale_up_threshold must be in \(0, 1\], got 1.1$"),
    ({"scale_up_threshold": 0}, _IA, r"scale_up_threshold must be in \(0, 1\], got 0$"),
    ({"scale_down_threshold": -0.1}, _IA,
     r"scale_down_threshold must be in \[0, 1\), got -0.1$"),
    ({"target_utilisation": 1.0}, _IA, r"target_utilisation must be in \(0, 1\), got 1.0$"),
    ({"target_utilisation": "half"}, TypeError,
     "target_utilisation must be a real number, got str$"),
    ({"target_utilisation": 0.8}, ValueError, ("thresholds must satisfy scale_down_threshold < "
                                               "target_utilisation < "
                                               "scale_up_threshold, got 0.3, 0.8, 0.7")),
    ({"scale_down_threshold": 0.5}, ValueError, "thresholds must satisfy"),
    ({"min_replicas": 0}, _IA, "min_replicas must be >= 1, got 0$"),
    ({"min_replicas": 1.5}, _IA, "min_replicas must be an integer, got 1.5$"),
    ({"min_replicas": "1"}, TypeError, "min_replicas must be an integer, got str$"),
    ({"min_replicas": 3, "max_replicas": 2}, ValueError, r"max_replicas \(2\) must be >= "),
])
def test_capacity_planner_bad_arguments(kwargs, exc, text):
    with pytest.raises(exc, match="^CapacityPlanner: " + text) as info:
        CapacityPlanner(**kwargs)
    assert isinstance(info.value, exc)


def test_capacity_recommend_bad_arguments():
    p = CapacityPlanner()
    cases = [
        (lambda: p.recommend(-1.0, 0.1), _IA, "arrival_rate must be finite and >= 0, got -1.0$"),
        (lambda: p.recommend(math.inf, 0.1), _IA, "arrival_rate must be finite and >= 0, got inf$"),
        (lambda: p.recommend(None, 0.1), TypeError,
         "arrival_rate must be a real number, got NoneType$"),
        (lambda: p.recommend(1.0, -0.1), _IA, "service_time must be finite and >= 0, got -0.1$"),
        (lambda: p.recommend(1.0, math.nan), _IA,
         "service_time must be finite and >= 0, got nan$"),
        (lambda: p.recommend(1.0, 0.1, 0), _IA, "replicas must be >= 1, got 0$"),
        (lambda: p.recommend(1.0, 0.1, 2.5), _IA, "replicas must be an integer, got 2.5$"),
        (lambda: p.from_metrics(object()), TypeError, "source must be a ModelRunner"),
    ]
    for call, exc, text in cases:
        with pytest.raises(exc, match="^CapacityPlanner.(recommend|from_metrics): " + text) as i:
            call()
        assert isinstance(i.value, exc)
    assert "CapacityPlanner(scale_up_threshold=0.7" in repr(p)


def test_objectives_from_config():
    from fugue_ppl.config import load_config
    cfg = load_config(env={"FUGUE_SLO__AVAILABILITY_TARGET": "0.999",
                           "FUGUE_SLO__LATENCY_P99": "0.2",
                           "FUGUE_SLO__ERROR_RATE_THRESHOLD": "0.01"})
    slos = ServiceLevelObjectives.from_config(cfg)
    assert slos.error_budget == timedelta(minutes=43, seconds=12)
    report = slos.evaluate(counts=(1000, 1))
    assert report.compliant
    raises_exactly(TypeError, "ServiceLevelObjectives.from_config: expected a "
                              "fugue_ppl.config.Config or an SLOConfig, got dict",
                   lambda: ServiceLevelObjectives.from_config({"slo": 1}))
    assert ServiceLevelObjectives.from_config(cfg.slo).error_budget == slos.error_budget


def test_config_section_defaults_equal_the_objectives_defaults():
    from fugue_ppl.config import Config
    assert type(Config().slo) is S.SLOConfig and Config().slo == S.SLOConfig()
    a, b = ServiceLevelObjectives.from_config(Config()), ServiceLevelObjectives()
    assert (a.error_budget, a.evaluate(counts=(1000, 1)).to_dict()) == (
        b.error_budget, b.evaluate(counts=(1000, 1)).to_dict())
