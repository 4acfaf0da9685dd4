"""DriftMonitor: charts on the log predictive density and posterior means, their alarms
in health (the inference level), in Prometheus and as a canary's rollback trigger."""

import doctest
import math
import subprocess
import threading

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import fugue_ppl as fp
import fugue_ppl.serving.drift as drift_module
from fugue_ppl.deploy import ModelRegistry, Router
from fugue_ppl.deploy.analysis import AnalysisConfig
from fugue_ppl.deploy.guards import RollbackGuard
from fugue_ppl.deploy.strategies import Canary, RolloutConfig
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.inference import ImportanceSampling
from fugue_ppl.models import sensor
from fugue_ppl.serving import DriftCollector, DriftMonitor, DriftSettings, ModelConfig, RunnerConfig
from fugue_ppl.serving.health import HealthChecker, HealthStatus

SD = math.sqrt(26.0)            # the prior predictive sd of a sensor reading (5^2 + 1^2)
IS = ImportanceSampling(n=200, sites=["temperature"])


def readings(n, seed, *, shift_at=None, shift=0.0):
    """Sensor readings from the prior predictive; ``shift`` added from ``shift_at`` on."""
    rng = np.random.default_rng(seed)
    y = rng.normal(rng.normal(20.0, 5.0, n), 1.0)
    if shift_at is not None:
        y[shift_at:] += shift
    return y


def feed(monitor, ys):
    """Each reading through importance sampling; the request index of each alarm."""
    alarms = []
    for i, y in enumerate(ys):
        if monitor.observe(IS.run(sensor, float(y), rng=i)):
            alarms.append(i)
    return alarms


def lpd(y):
    """The sensor's exact log predictive density of a reading: log N(y; 20, sqrt(26))."""
    return -0.5 * math.log(2 * math.pi * 26.0) - (y - 20.0) ** 2 / 52.0


# ---------------------------------------------------------------- the charts


def test_a_stationary_stream_raises_no_alarm():
    # 500 warm-up requests, then 5000 judged: measured 0 alarms on every chart.
    monitor = DriftMonitor(model="sensor", version="1", sites=("temperature",))
    alarms = feed(monitor, readings(5500, seed=11))
    st = monitor.state()
    assert alarms == []
    assert st["alarms"] == {"ewma": 0, "cusum": 0, "shewhart:temperature": 0}
    assert (st["requests"], st["warming_up"], st["drifting"]) == (5500, False, False)
    # the baseline is the sensor's log evidence: E[log N(y; 20, sqrt 26)] = -2.55 - 0.5
    assert st["lpd"]["baseline_mean"] == pytest.approx(-3.05, abs=0.1)
    assert st["ess"]["count"] == 5500 and 0 < st["ess"]["min"] <= st["ess"]["mean"] <= 200
    assert st["sites"]["temperature"]["baseline_mean"] == pytest.approx(20.0, abs=0.5)


def test_a_shifted_stream_is_caught_within_ten_requests():
    # readings shifted by 3 prior-predictive sd from request 2000 on: measured delay 5.
    monitor = DriftMonitor(model="sensor", version="1")
    alarms = feed(monitor, readings(2100, seed=12, shift_at=2000, shift=3 * SD))
    assert alarms and alarms[0] >= 2000
    delay = alarms[0] - 2000 + 1
    assert delay <= 10
    assert monitor.drifting
    assert monitor.state()["last_alarm"] == alarms[-1]


def test_the_shewhart_chart_watches_a_sites_posterior_mean():
    monitor = DriftMonitor(warmup=200, sites=("temperature",), shewhart_L=3.0)
    rng = np.random.default_rng(3)
    for m in rng.normal(20.0, 1.0, 200):
        assert monitor.observe_values(-1.0 + rng.normal(0, 0.1), means={"temperature": m}) == ()
    st = monitor.state()["sites"]["temperature"]
    assert st["ucl"] == pytest.approx(st["baseline_mean"] + 3 * st["baseline_sd"])
    fired = monitor.observe_values(-1.0, means={"temperature": st["ucl"] + 0.01})
    assert fired == ("shewhart:temperature",)
    assert monitor.alarms["shewhart:temperature"] == 1 and monitor.drifting


def test_runner_results_feed_the_trace_log_likelihood():
    runner = fp.ModelRunner(sensor, RunnerConfig(model=ModelConfig(name="sensor", version="7")),
                            rng=5)
    monitor = DriftMonitor.for_runner(runner, warmup=10, sites=("temperature",))
    assert (monitor.model, monitor.version) == ("sensor", "7")
    results = [runner.infer(22.0) for _ in range(5)]
    for r in results:
        monitor.observe(r)
    st = monitor.state()
    assert st["lpd"]["last"] == results[-1].trace.log_likelihood
    assert st["lpd"]["ewma"] == pytest.approx(
        np.mean([r.trace.log_likelihood for r in results]))
    assert st["sites"]["temperature"]["last"] == results[-1].trace["temperature"]


def test_drift_window_ends_and_reset_rebaselines():
    monitor = DriftMonitor(warmup=50, window=10)
    for x in np.random.default_rng(0).normal(0.0, 1.0, 50):
        monitor.observe_values(x)
    # (one request's normal score is bounded: it takes a few extreme ones to alarm)
    fired = [monitor.observe_values(-100.0) for _ in range(4)]
    assert fired == [(), (), (), ("ewma",)]
    assert monitor.drifting
    for _ in range(9):
        monitor.observe_values(0.0)
    assert monitor.drifting                 # the alarm was 9 requests ago
    monitor.observe_values(0.0)
    assert not monitor.drifting             # 10 requests ago: out of the window
    monitor.reset()
    st = monitor.state()
    assert (st["requests"], st["warming_up"], st["alarms"]) == (0, True, {"ewma": 0, "cusum": 0})
    assert math.isnan(monitor.log_predictive_density)


# ---------------------------------------------------------------- bad inputs


def test_a_nan_density_is_counted_and_skipped():
    monitor = DriftMonitor(warmup=20)
    xs = np.random.default_rng(1).normal(0.0, 1.0, 40)
    for x in xs[:30]:
        monitor.observe_values(x)
    before = monitor.state()
    assert monitor.observe_values(math.nan, ess=5.0) == ()
    assert monitor.observe_values(-math.inf) == ()
    after = monitor.state()
    assert after["skipped"] == {"non_finite_lpd": 2}
    assert after["requests"] == before["requests"] == 30
    assert after["lpd"] == before["lpd"] and after["ess"]["count"] == 0
    for x in xs[30:]:
        monitor.observe_values(x)
    assert math.isfinite(monitor.state()["lpd"]["score_ewma"])


def test_results_that_are_not_ok_are_skipped_by_status():
    runner = fp.ModelRunner(lambda y: (_ for _ in ()).throw(RuntimeError("x")), rng=1,
                            fallback=0.0)
    monitor = DriftMonitor.for_runner(runner, warmup=5)
    result = runner.infer(1.0)
    assert result.status == "fallback"
    assert monitor.observe(result) == ()
    assert monitor.state()["skipped"] == {"status:fallback": 1}


@pytest.mark.parametrize(("kwargs", "exc", "field"), [
    ({"warmup": 1}, InvalidArgument, "warmup"),
    ({"window": 0}, InvalidArgument, "window"),
    ({"ewma_lambda": 1.5}, InvalidArgument, "ewma_lambda"),
    ({"ewma_L": -1.0}, InvalidArgument, "ewma_L"),
    ({"cusum_h": 0.0}, InvalidArgument, "cusum_h"),
    ({"cusum_k": math.nan}, InvalidArgument, "cusum_k"),
    ({"shewhart_rules": ("WE9",)}, InvalidArgument, "shewhart_rules"),
    ({"sites": "temperature"}, TypeError, "sites"),
    ({"sites": ("a", "a")}, InvalidArgument, "sites"),
    ({"status": "failing"}, InvalidArgument, "status"),
    ({"warmup": "10"}, TypeError, "warmup"),
    ({"warmpu": 10}, TypeError, "warmup"),      # unknown: the closest name is suggested
])
def test_bad_settings_name_the_field(kwargs, exc, field):
    with pytest.raises(exc, match=field):
        DriftSettings(**kwargs)
    with pytest.raises(exc, match=field):
        DriftMonitor(**kwargs)


def test_bad_observations_name_the_parameter_and_change_nothing():
    monitor = DriftMonitor(warmup=5, sites=("t",))
    with pytest.raises(TypeError, match="log_predictive_density"):
        monitor.observe_values("1.0")
    with pytest.raises(TypeError, match="log_predictive_density"):
        monitor.observe_values(True)
    with pytest.raises(InvalidArgument, match="ess"):
        monitor.observe_values(1.0, ess=-1.0)
    with pytest.raises(TypeError, match="means"):
        monitor.observe_values(1.0, means=[1.0])
    with pytest.raises(TypeError, match=r"means\['t'\]"):
        monitor.observe_values(1.0, means={"t": "hot"})
    with pytest.raises(TypeError, match="result"):
        monitor.observe({"lpd": 1.0})
    with pytest.raises(TypeError, match="settings"):
        DriftMonitor(settings={"warmup": 5})
    assert monitor.state()["requests"] == 0 and monitor.state()["skipped"] == {}


# ---------------------------------------------------------------- threads


def test_concurrent_observers_add_up():
    monitor = DriftMonitor(warmup=100, sites=("t",))
    threads, per = 8, 2000
    fired = [[] for _ in range(threads)]

    def work(seed):
        rng = np.random.default_rng(seed)
        for x in rng.normal(0.0, 1.0, per):
            fired[seed].extend(monitor.observe_values(x, ess=10.0, means={"t": x}))
        monitor.observe_values(math.nan)

    pool = [threading.Thread(target=work, args=(s,)) for s in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    st = monitor.state()
    assert st["requests"] == threads * per
    assert st["skipped"] == {"non_finite_lpd": threads}
    assert st["ess"] == {"count": threads * per, "mean": 10.0, "min": 10.0, "last": 10.0}
    assert st["sites"]["t"]["count"] == threads * per - 100     # judged after the warm-up
    every = [chart for f in fired for chart in f]
    assert st["alarms"] == {chart: every.count(chart) for chart in st["alarms"]}


# ---------------------------------------------------------------- health


def test_health_reports_model_drift_at_the_inference_level_and_recovers_after_reset():
    runner = fp.ModelRunner(sensor, RunnerConfig(model=ModelConfig(name="sensor", version="1")),
                            rng=1, fallback=(20.0, True))
    checker = HealthChecker(runner, smoke_args=(22.0,), warmup=0)
    monitor = DriftMonitor.for_runner(runner, warmup=100, window=50)
    monitor.register_health(checker)
    assert checker.levels["model_drift"] == "inference"
    ys = readings(130, seed=4, shift_at=100, shift=4 * SD)
    for y in ys[:100]:
        monitor.observe_values(lpd(y))
    report = checker.check()
    assert report.check("model_drift").status is HealthStatus.HEALTHY
    assert report.levels["inference"].status is HealthStatus.HEALTHY
    for y in ys[100:]:
        monitor.observe_values(lpd(y))
    assert monitor.drifting
    report = checker.check()
    result = report.check("model_drift")
    assert result.status is HealthStatus.DEGRADED
    assert result.output.startswith("model drift:")
    assert result.observed_value == monitor.log_predictive_density
    assert result.key == "model:drift"
    assert report.levels["inference"].status is HealthStatus.DEGRADED
    assert any("inference level degraded" in a and "model drift" in a for a in report.alerts)
    assert report.to_health_json()["checks"]["model:drift"][0]["status"] == "warn"
    monitor.reset()
    report = checker.check()
    assert report.check("model_drift").status is HealthStatus.HEALTHY
    assert report.levels["inference"].status is HealthStatus.HEALTHY


def test_the_drift_status_can_be_unhealthy():
    monitor = DriftMonitor(warmup=10, status="unhealthy")
    for x in np.random.default_rng(2).normal(0.0, 1.0, 10):
        monitor.observe_values(x)
    while not monitor.drifting:
        monitor.observe_values(-1e6)
    assert monitor.health_check().status is HealthStatus.UNHEALTHY


# ---------------------------------------------------------------- metrics


def _scrape(*monitors):
    registry = CollectorRegistry()
    registry.register(DriftCollector(monitors))
    text = generate_latest(registry).decode()
    return text, {f.name: f for f in text_string_to_metric_families(text)}


def _drifted(version, shift):
    monitor = DriftMonitor(warmup=50, window=100, sites=("temperature",), model="sensor",
                           version=version)
    ys = readings(80, seed=6, shift_at=50, shift=shift)
    for y in ys:
        monitor.observe_values(lpd(y), ess=100.0, means={"temperature": y})
    monitor.observe_values(math.nan)
    return monitor


def test_the_metrics_equal_the_monitors_state(promtool):
    stable, candidate = _drifted("1", 0.0), _drifted("2", 4 * SD)
    text, fams = _scrape(stable, candidate)
    def sample(name, labels):
        found = [s.value for s in fams[name].samples if s.labels == labels]
        assert len(found) == 1, (name, labels)
        return found[0]

    for m in (stable, candidate):
        st = m.state()

        def value(name, _version=m.version, **extra):
            return sample(name, {"model": "sensor", "version": _version, **extra})

        assert value("fugue_model_log_predictive_density") == st["lpd"]["ewma"]
        assert value("fugue_model_log_predictive_density_baseline") == \
            st["lpd"]["baseline_mean"]
        for chart, n in st["alarms"].items():
            assert value("fugue_drift_alarms", chart=chart) == n
        assert value("fugue_drift_drifting") == float(st["drifting"])
        assert value("fugue_drift_requests") == st["requests"] == 80
        assert value("fugue_drift_skipped_requests", reason="non_finite_lpd") == 1
    assert candidate.drifting and not stable.drifting
    assert (fams["fugue_drift_alarms"].type, fams["fugue_model_log_predictive_density"].type) \
        == ("counter", "gauge")
    assert 'fugue_drift_alarms_total{chart="cusum",model="sensor",version="2"}' in text
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_collector_refuses_duplicates_and_non_monitors():
    m = DriftMonitor(model="sensor", version="1")
    with pytest.raises(InvalidArgument, match="monitors"):
        DriftCollector([m, DriftMonitor(model="sensor", version="1")])
    with pytest.raises(TypeError, match=r"monitors\[0\]"):
        DriftCollector([object()])


# ---------------------------------------------------------------- canary


def _runner(version):
    return fp.ModelRunner(sensor, RunnerConfig(model=ModelConfig(name="sensor", version=version)),
                          rng=1)


def test_a_drift_alarm_on_the_candidate_rolls_the_canary_back(tmp_path):
    reg = ModelRegistry(url=f"sqlite:///{tmp_path / 'reg.db'}")
    reg.register("sensor", "1", "fugue_ppl.models:sensor", actor="ci", status="live")
    reg.register("sensor", "2", "fugue_ppl.models:sensor", actor="ci")
    rt = Router({"1": _runner("1"), "2": _runner("2")})
    clock = fp.ManualClock()
    s = Canary.start(reg, "sensor", "2", rt, clock=clock,
                     config=RolloutConfig(steps=[0.2, 0.5, 1.0], analysis_interval_seconds=10.0,
                                          min_samples_per_look=50),
                     analysis=AnalysisConfig(min_samples=200, max_samples=1000),
                     metrics=("errors",))
    monitor = DriftMonitor.for_runner(rt.runners["2"], warmup=100, window=200)
    s.guard.add_trigger(monitor.rollback_trigger)
    for y in readings(100, seed=8):
        monitor.observe_values(lpd(y))
    clock.advance(10.0)
    assert s.step().state != "rolled_back"
    for y in readings(20, seed=9, shift_at=0, shift=4 * SD):
        monitor.observe_values(lpd(y))
    clock.advance(10.0)
    ro = s.step()
    assert ro.state == "rolled_back"
    assert dict(rt.weights) == {"1": 1.0, "2": 0.0}
    details = s.events()[-1].details
    assert details["trigger"] == "drift" and details["version"] == "2"
    assert details["alarms"]["ewma"] + details["alarms"]["cusum"] > 0
    s.close()
    reg.close()


def test_a_guard_refuses_a_trigger_that_is_not_callable():
    guard = RollbackGuard(_runner("1"), RolloutConfig(), clock=fp.ManualClock())
    with pytest.raises(TypeError, match="trigger must be callable"):
        guard.add_trigger("drift")
    guard.add_trigger(lambda: None)
    assert guard.check() is None
    guard.close()


def test_the_docstring_examples_run():
    result = doctest.testmod(drift_module, verbose=False, report=False)
    assert result.failed == 0 and result.attempted >= 5
