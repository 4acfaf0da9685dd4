"""The status page: its JSON document against the runners' own figures after known
traffic (exact counts, the histogram's quantiles), its control charts against their
closed forms, the rollout in progress from a real registry, the routes in-process,
and the page itself in a real headless Chromium (Debian's chromium and chromedriver,
driven by Selenium) against a real uvicorn server on loopback: no console error,
plots with data after traffic, refreshes without a reload, escaped user data, and a
screenshot."""

import json
import logging
import math
import os
import pathlib
import shutil
import socket
import struct
import threading
import time

import httpx
import numpy as np
import pytest

import fugue_ppl as fp
from fugue_ppl.deploy import ModelRegistry, Router
from fugue_ppl.deploy._rollout_config import RolloutConfig
from fugue_ppl.deploy.analysis import AnalysisConfig
from fugue_ppl.deploy.deployment import rollout_weights
from fugue_ppl.deploy.strategies import ABTest, Canary
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.models import sensor
from fugue_ppl.monitoring import EWMA, CUSUMConfig, EWMAConfig
from fugue_ppl.service._status_config import StatusPageConfig
from fugue_ppl.service.status_page import page_html, status_routes
from fugue_ppl.service.status_sampler import SCHEMA_VERSION, StatusSampler
from fugue_ppl.serving import ModelConfig, RunnerConfig
from fugue_ppl.validation import Finite, Schema

STATIC = pathlib.Path(fp.__file__).parent / "service" / "static"


class Clock:
    """Seconds that move only when told to (the sampler's intervals)."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def advance(self, dt=1.0):
        self.t += dt


def faulty(reading):
    """The sensor model, failing for a negative reading."""
    if reading < 0.0:
        raise RuntimeError("sensor fault")
    return sensor(reading)


def make_runner(version="1", model=faulty, name="sensor", seed=1, **kw):
    config = RunnerConfig(model=ModelConfig(name=name, version=version))
    kw.setdefault("schema", Schema({"reading": Finite()}))
    return fp.ModelRunner(model, config, rng=seed, **kw)


def send(runner, ok=0, failing=0, invalid=0):
    for _ in range(ok):
        runner.infer(22.0)
    for _ in range(failing):
        with pytest.raises(RuntimeError):
            runner.infer(-1.0)
    for _ in range(invalid):
        with pytest.raises(fp.ValidationError):
            runner.infer(float("nan"))


@pytest.fixture(autouse=True)
def _quiet_runner_logs():
    # (the failing calls are on purpose: their tracebacks are noise here)
    for name in ("fugue_ppl.serving", "fugue_ppl.breaker", "fugue_ppl.deploy"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    yield
    for name in ("fugue_ppl.serving", "fugue_ppl.breaker", "fugue_ppl.deploy"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def one(doc, model="sensor", version="1"):
    (r,) = [r for r in doc["runners"] if (r["model"], r["version"]) == (model, version)]
    return r


def strict_json(doc):
    """The document as the endpoint sends it (no NaN allowed)."""
    return json.loads(json.dumps(doc, allow_nan=False))


# ---------------------------------------------------------------- the document


def test_the_document_counts_what_the_runner_counted_after_known_traffic():
    r, clock = make_runner(), Clock()
    sampler = StatusSampler({("sensor", "1"): r}, clock=clock)
    send(r, ok=300, failing=15, invalid=5)
    clock.advance(2.0)
    sampler.sample()
    doc = strict_json(sampler.document())
    assert doc["schema"] == SCHEMA_VERSION and doc["interval"] == 1.0
    assert doc["states"] == ["HEALTHY", "DEGRADED", "FAILED", "RECOVERY"]
    d = one(doc)
    counts = r.metrics.counts()
    assert counts["inferences"] == 315 and counts["errors"] == 15
    t = d["totals"]
    assert (t["requests"], t["inferences"], t["errors"], t["rejected"], t["invalid"],
            t["timeouts"], t["fallbacks"]) == (315, 315, 15, 0, 5, 0, 0)
    assert t["error_rate"] == 15 / 315
    # the histogram's own figures, unchanged
    assert d["latency"] == r.metrics.latency.to_dict()
    s = d["series"]
    assert s["requests"] == [315] and s["errors"] == [15]
    assert s["throughput"] == [315 / 2.0] and s["error_rate"] == [pytest.approx(15 / 315,
                                                                                rel=1e-6)]
    hist = r.metrics.latency
    assert s["mean"][0] == pytest.approx(hist.sum / hist.count, rel=1e-6)
    # the interval's quantiles from the change in the buckets (here: everything)
    for q in ("p50", "p90", "p99"):
        exact = hist.quantile(float("0." + q[1:]))
        assert s[q][0] == pytest.approx(exact, rel=0.015), q
        assert hist.min <= s[q][0] <= hist.max
    assert s["state"] == [doc["states"].index(d["breaker"]["state"])]
    assert d["breaker"]["state"] == r.breaker.state.name


def test_each_interval_counts_only_its_own_traffic():
    r, clock = make_runner(), Clock()
    sampler = StatusSampler({("sensor", "1"): r}, clock=clock)
    hist = r.metrics.latency
    expected = []
    for ok, failing in ((40, 0), (0, 0), (100, 10), (7, 3)):
        before = (hist.sum, hist.count)
        send(r, ok=ok, failing=failing)
        clock.advance(0.5)
        sampler.sample()
        n = hist.count - before[1]
        expected.append((ok + failing, failing, (hist.sum - before[0]) / n if n else None))
    s = one(strict_json(sampler.document()))["series"]
    assert s["requests"] == [e[0] for e in expected]
    assert s["errors"] == [e[1] for e in expected]
    assert s["throughput"] == [e[0] / 0.5 for e in expected]
    assert s["error_rate"][1] is None and s["mean"][1] is None and s["p99"][1] is None
    assert s["error_rate"][3] == pytest.approx(0.3)
    for got, e in zip(s["mean"], expected):
        assert got == (None if e[2] is None else pytest.approx(e[2], rel=1e-6))
    assert len(s["t"]) == 4 and s["t"] == sorted(s["t"])


def test_interval_quantiles_follow_a_shift_in_latency():
    # Latencies recorded into the runner's metrics directly: an interval of 1 ms calls,
    # then one of 10 ms calls; each interval's quantiles are its own (within 1% of the
    # bucket's middle and the histogram's 0.39%), the histogram's cover both.
    r, clock = make_runner(), Clock()
    sampler = StatusSampler({("sensor", "1"): r}, clock=clock)
    rng = np.random.default_rng(3)
    batches = [rng.uniform(0.9e-3, 1.1e-3, 500), rng.uniform(9e-3, 11e-3, 500)]
    for batch in batches:
        for x in batch:
            r.metrics.record(float(x))
        clock.advance()
        sampler.sample()
    s = one(strict_json(sampler.document()))["series"]
    for i, batch in enumerate(batches):
        for q, key in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
            exact = np.sort(batch)[math.ceil(q * len(batch)) - 1]
            assert s[key][i] == pytest.approx(exact, rel=0.015), (i, key)
        assert s["mean"][i] == pytest.approx(batch.mean(), rel=1e-6)


def test_breaker_transitions_and_rejected_calls_are_shown():
    breaker = fp.CircuitBreaker(failure_threshold=0.5, degraded_threshold=0.1,
                                recovery_threshold=0.05, window_size=20, minimum_calls=10,
                                open_duration=600.0, name="sensor-breaker")
    r, clock = make_runner(breaker=breaker), Clock()
    sampler = StatusSampler({"sensor": r}, clock=clock)        # the version from the runner
    send(r, ok=10)
    clock.advance()
    sampler.sample()
    send(r, failing=11)                  # 11 of 21 calls failed: above one half
    for _ in range(7):
        with pytest.raises(fp.CircuitOpenError):
            r.infer(22.0)
    clock.advance()
    sampler.sample()
    d = one(strict_json(sampler.document()))
    assert d["version"] == "1"
    b = d["breaker"]
    assert b["name"] == "sensor-breaker" and b["state"] == "FAILED"
    assert b["rejected_calls"] == 7
    hops = [(t["from"], t["to"]) for t in b["transitions"]]
    assert hops[-1][1] == "FAILED" and hops[0][0] == "HEALTHY"
    assert sum(b["transition_counts"].values()) == len(hops)
    assert all(abs(t["at"] - time.time()) < 60 for t in b["transitions"])
    s = d["series"]
    assert s["state"] == [0, 2]
    assert s["requests"] == [10, 18] and s["errors"] == [0, 18]
    assert d["totals"]["requests"] == 28 and d["totals"]["rejected"] == 7
    sampler.close()
    assert r.breaker.listeners == ()                            # stops listening


def test_a_runner_without_metrics_still_has_a_breaker_and_a_document():
    r = make_runner(metrics=False)
    sampler = StatusSampler({("sensor", "1"): r}, clock=Clock())
    sampler.sample()
    d = one(strict_json(sampler.document()))
    assert d["totals"] is None and d["latency"] is None
    assert d["series"]["requests"] == [None] and d["breaker"]["state"] == "HEALTHY"


def test_runners_come_and_go_with_a_callable_source():
    runners = {("sensor", "1"): make_runner("1")}
    clock = Clock()
    sampler = StatusSampler(lambda: dict(runners), clock=clock)
    sampler.sample()
    runners[("sensor", "2")] = make_runner("2")
    clock.advance()
    sampler.sample()
    doc = sampler.document()
    assert [(r["model"], r["version"]) for r in doc["runners"]] == [("sensor", "1"),
                                                                    ("sensor", "2")]
    assert len(one(doc, version="1")["series"]["t"]) == 2
    assert len(one(doc, version="2")["series"]["t"]) == 1
    gone = runners.pop(("sensor", "1"))
    clock.advance()
    sampler.sample()
    assert [r["version"] for r in sampler.document()["runners"]] == ["2"]
    assert gone.breaker.listeners == ()


def test_a_router_gives_its_runners_and_their_weights():
    rt = Router({"1": make_runner("1"), "2": make_runner("2", seed=2)},
                weights={"1": 0.75, "2": 0.25})
    sampler = StatusSampler({"sensor": rt}, clock=Clock())
    doc = sampler.document()
    assert [(r["version"], r["weight"]) for r in doc["runners"]] == [("1", 0.75), ("2", 0.25)]


def test_monitors_attached_to_the_metrics_are_reported():
    r = make_runner()
    r.metrics.attach(EWMA(mu0=0.001, sigma=0.0001), name="latency_ewma")
    send(r, ok=5)
    sampler = StatusSampler({("sensor", "1"): r}, clock=Clock())
    m = one(strict_json(sampler.document()))["monitors"]
    assert m["latency_ewma"]["monitor"] == "EWMA" and m["latency_ewma"]["count"] == 5


def test_the_background_thread_samples_every_interval():
    r = make_runner()
    with StatusSampler({("sensor", "1"): r},
                       config=StatusPageConfig(interval_seconds=0.05)) as sampler:
        assert sampler.running
        deadline = time.monotonic() + 10
        while len(sampler.document()["runners"][0]["series"]["t"]) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert not sampler.running and r.breaker.listeners == ()


def test_a_watched_page_samples_without_the_thread():
    r, clock = make_runner(), Clock()
    sampler = StatusSampler({("sensor", "1"): r}, clock=clock)
    sampler.document()
    sampler.document()                      # within the interval: no new sample
    clock.advance(1.0)
    assert len(sampler.document()["runners"][0]["series"]["t"]) == 2


def test_the_history_is_bounded():
    r, clock = make_runner(), Clock()
    sampler = StatusSampler({("sensor", "1"): r}, clock=clock,
                            config=StatusPageConfig(history=10))
    for _ in range(25):
        send(r, ok=2)
        clock.advance()
        sampler.sample()
    d = one(sampler.document())
    assert len(d["series"]["t"]) == 10
    assert all(len(c["points"]["t"]) == 10 for c in d["charts"].values())


# ---------------------------------------------------------------- control charts


def _drive_latency(values, warmup=10, **config):
    """A sampler whose runner sees exactly one latency per interval (``values``)."""
    r, clock = make_runner(), Clock()
    sampler = StatusSampler({("sensor", "1"): r}, clock=clock,
                            config=StatusPageConfig(shewhart_warmup=warmup, **config),
                            ewma=EWMAConfig(lam=0.25, L=3.0, warmup=warmup),
                            cusum=CUSUMConfig(k=0.5, h=4.0, warmup=warmup))
    for v in values:
        r.metrics.record(float(v))
        clock.advance()
        sampler.sample()
    return r, sampler, one(strict_json(sampler.document()))["charts"]


def test_the_ewma_chart_has_its_time_varying_limits():
    rng = np.random.default_rng(11)
    x = 1e-3 + 1e-4 * rng.standard_normal(40)
    x[30:] += 4e-4                                   # a shift the EWMA sees
    _, _, charts = _drive_latency(x)
    c = charts["ewma"]
    assert c["series"] == "latency" and c["params"] == {"lam": 0.25, "L": 3.0, "warmup": 10}
    p = c["points"]
    assert p["x"] == pytest.approx(list(x), rel=1e-6)
    mu0, sigma = x[:10].mean(), x[:10].std(ddof=1)
    assert c["state"]["center"] == pytest.approx(mu0, rel=1e-9)
    assert c["state"]["sigma"] == pytest.approx(sigma, rel=1e-9)
    assert p["value"][:10] == [None] * 10 and p["lcl"][:10] == [None] * 10
    z, lam = mu0, 0.25
    alarms = []
    for t, xi in enumerate(x[10:], start=1):
        z = lam * xi + (1 - lam) * z
        w = 3.0 * sigma * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)))
        i = 9 + t
        assert p["value"][i] == pytest.approx(z, rel=1e-6)
        assert p["lcl"][i] == pytest.approx(mu0 - w, rel=1e-6)
        assert p["ucl"][i] == pytest.approx(mu0 + w, rel=1e-6)
        alarms.append(not (mu0 - w <= z <= mu0 + w))
    assert p["alarm"][10:] == alarms and any(alarms[20:])
    assert [p["rules"][i] for i in range(40) if p["alarm"][i]][0] == ["UCL"]
    assert c["state"]["alarm_count"] == sum(alarms)


def test_the_shewhart_chart_has_its_limits_and_marks_the_western_electric_rules():
    base = [1.0, 1.2, 0.9, 1.1, 0.95, 1.05, 1.15, 0.85, 1.0, 1.1]
    x = np.array(base + [1.02, 0.98, 1.6, 1.05, 1.06, 1.07, 1.04, 1.08, 1.05, 1.09, 1.06,
                         1.07]) * 1e-3
    _, _, charts = _drive_latency(x)
    c = charts["shewhart"]
    mu0 = x[:10].mean()
    sigma = np.abs(np.diff(x[:10])).mean() / 1.128
    assert c["state"]["center"] == pytest.approx(mu0, rel=1e-9)
    assert c["state"]["sigma_point"] == pytest.approx(sigma, rel=1e-9)
    p = c["points"]
    for i in range(10, len(x)):
        assert p["lcl"][i] == pytest.approx(mu0 - 3 * sigma, rel=1e-6)
        assert p["ucl"][i] == pytest.approx(mu0 + 3 * sigma, rel=1e-6)
        assert p["value"][i] == pytest.approx(x[i], rel=1e-6)
    # 1.6 ms is beyond 3 sigma (WE1); from it on every point is above the centre:
    # the eighth in a row (index 19) fires WE4, and each one after it again.
    assert x[12] > mu0 + 3 * sigma
    fired = {i: p["rules"][i] for i in range(len(x)) if p["alarm"][i]}
    assert "WE1" in fired[12]
    assert all(x[i] > mu0 for i in range(12, 22))
    assert [i for i, rules in fired.items() if "WE4" in rules] == [19, 20, 21]
    assert c["state"]["rule_counts"]["WE1"] == 1


def test_the_cusum_chart_has_its_decision_interval():
    rng = np.random.default_rng(5)
    x = 1e-3 + 1e-4 * rng.standard_normal(45)
    x[25:] += 1.5e-4
    _, _, charts = _drive_latency(x)
    c = charts["cusum"]
    mu0, sigma = x[:10].mean(), x[:10].std(ddof=1)
    K, H = 0.5 * sigma, 4.0 * sigma
    assert c["state"]["H"] == pytest.approx(H, rel=1e-9)
    assert c["state"]["K"] == pytest.approx(K, rel=1e-9)
    assert c["state"]["lcl"] == pytest.approx(-H) and c["state"]["ucl"] == pytest.approx(H)
    p = c["points"]
    hi = lo = 0.0
    alarms = []
    for i in range(10, len(x)):
        hi = max(0.0, hi + x[i] - (mu0 + K))
        lo = max(0.0, lo + (mu0 - K) - x[i])
        assert p["upper"][i] == pytest.approx(hi, rel=1e-6, abs=1e-15)
        assert p["lower"][i] == pytest.approx(lo, rel=1e-6, abs=1e-15)
        alarms.append(hi > H or lo > H)
    assert p["alarm"][10:] == alarms and any(alarms)
    first = 10 + alarms.index(True)
    assert p["rules"][first] == ["CUSUM+"]


def test_a_chart_can_watch_the_error_rate():
    r, clock = make_runner(), Clock()
    sampler = StatusSampler({("sensor", "1"): r}, clock=clock,
                            config=StatusPageConfig(cusum_series="error_rate"))
    for k in range(6):
        send(r, ok=10 - k, failing=k)
        clock.advance()
        sampler.sample()
    d = one(strict_json(sampler.document()))
    assert d["charts"]["cusum"]["series"] == "error_rate"
    assert d["charts"]["cusum"]["points"]["x"] == [k / 10 for k in range(6)]
    assert d["charts"]["ewma"]["points"]["x"] == pytest.approx(d["series"]["mean"], rel=1e-6)


# ---------------------------------------------------------------- rollouts


@pytest.fixture
def registry(tmp_path):
    reg = ModelRegistry(url=str(tmp_path / "registry.sqlite3"), timeout_seconds=0.2)
    reg.register("sensor", "1", "fugue_ppl.models:sensor", actor="ci", status="live")
    reg.register("sensor", "2", "fugue_ppl.models:sensor", actor="ci")
    yield reg
    reg.close()


def canary(registry, rt, clock):
    return Canary.start(registry, "sensor", "2", rt, clock=clock,
                        config=RolloutConfig(steps=[0.2, 0.5, 1.0], analysis_interval_seconds=10,
                                             min_samples_per_look=50, slo_objective=0.9),
                        analysis=AnalysisConfig(min_samples=200, max_samples=1000),
                        metrics=("errors",))


def traffic(rt, n, start=0):
    for k in range(start, start + n):
        rt.infer(22.0, key=f"user-{k}")


def test_the_rollout_in_progress_with_the_analysis_at_each_look(registry):
    rt = Router({"1": make_runner("1"), "2": make_runner("2", seed=2)})
    rclock = fp.ManualClock()
    s = canary(registry, rt, rclock)
    clock = Clock()
    sampler = StatusSampler({"sensor": rt}, registry=registry, clock=clock)
    looks = 0
    for k in range(3):                    # looks at step 1 (20%): min_samples, then more
        traffic(rt, 500, start=500 * k)
        rclock.advance(10)
        s.step()
        clock.advance()
        sampler.document()
        looks += 1
    ro = registry.active_rollout("sensor")
    doc = strict_json(sampler.document())
    (d,) = doc["rollouts"]
    assert (d["id"], d["model"], d["strategy"], d["baseline"], d["candidate"], d["state"],
            d["active"]) == (ro.id, "sensor", "canary", "1", "2", ro.state, True)
    assert d["weights"] == {k: pytest.approx(v) for k, v in rt.weights.items()}
    assert d["progress"]["total"] == 3 and d["progress"]["steps"] == [0.2, 0.5, 1.0]
    assert d["progress"]["done"] == ro.data["step"]
    events = registry.rollout_events(ro.id)
    assert [e["action"] for e in d["events"]] == [e.action for e in events]
    # every look this sampler saw, and those the registry's events decided
    assert d["looks"], d
    for look in d["looks"]:
        t = look["tests"]["errors"]
        assert t["statistic_name"] == "p" and t["threshold"] == pytest.approx(
            AnalysisConfig(min_samples=200, max_samples=1000).alpha / 2)
        assert t["action"] in ("continue", "promote", "rollback")
    last = ro.data["last_decisions"]["errors"]
    seen = [lk for lk in d["looks"] if (lk["step"], lk["look"]) == (ro.data["step"],
                                                                   ro.data["looks"])]
    if seen:
        t = seen[0]["tests"]["errors"]
        assert (t["action"], t["p_value"], t["n_candidate"]) == (
            last["action"], pytest.approx(last["p_value"]), last["n_candidate"])
    s.close()


def test_an_ab_test_shows_each_look_of_its_group_sequential_design(registry):
    rt = Router({"1": make_runner("1"), "2": make_runner("2", seed=2)})
    s = ABTest.start(registry, "sensor", "2", rt, clock=fp.ManualClock(),
                     config=RolloutConfig(ab_split=0.5, ab_max_samples=2000, ab_looks=5),
                     metric="observed")
    sampler = StatusSampler({"sensor": rt}, registry=registry, clock=Clock())
    rng = np.random.default_rng(11)
    for _ in range(2):
        s.observe("1", list(rng.normal(1.0, 1.0, 400)))
        s.observe("2", list(rng.normal(1.0, 1.0, 400)))
        s.step()
    (d,) = strict_json(sampler.document())["rollouts"]
    assert (d["strategy"], d["state"], d["weights"]) == ("ab_test", "running",
                                                         {"1": 0.5, "2": 0.5})
    assert d["progress"] == {"done": 2, "total": 5, "unit": "looks"}
    events = [e for e in registry.rollout_events(d["id"]) if e.action == "look"]
    assert [lk["look"] for lk in d["looks"]] == [1, 2] and len(events) == 2
    for look, e in zip(d["looks"], events):
        (name, t), = look["tests"].items()
        gs, welch = e.details["group_sequential"], e.details["welch"]
        assert name == "observed" and look["outcome"] == "look"
        assert (t["action"], t["statistic_name"]) == ("continue", "z")
        assert t["statistic"] == pytest.approx(gs["z"]) and t["threshold"] == pytest.approx(
            gs["boundary"])
        assert t["p_value"] == pytest.approx(welch["p_value"])
        assert (t["n_baseline"], t["n_candidate"]) == (e.details["n_baseline"],
                                                       e.details["n_candidate"])
    s.close()


def test_a_finished_rollout_is_shown_as_the_last_one(registry):
    rt = Router({"1": make_runner("1"), "2": make_runner("2", seed=2)})
    s = canary(registry, rt, fp.ManualClock())
    s.abort()
    sampler = StatusSampler({("sensor", "1"): rt.runners["1"]}, registry=registry,
                            clock=Clock())
    (d,) = sampler.document()["rollouts"]
    assert (d["state"], d["active"]) == ("aborted", False)
    assert d["weights"] == {"1": 1.0, "2": 0.0} == rollout_weights(registry.rollout(d["id"]))
    assert [e["action"] for e in d["events"]] == ["start", "abort"]
    s.close()


def test_an_unavailable_registry_is_a_problem_in_words_not_a_failure(pg_backend):
    # A PostgreSQL registry whose database refuses connections (a real outage).
    reg = pg_backend.registry(timeout_seconds=0.5)
    reg.register("sensor", "1", "fugue_ppl.models:sensor", actor="ci", status="live")
    r = make_runner()
    clock = Clock()
    sampler = StatusSampler({("sensor", "1"): r}, registry=reg, clock=clock)
    assert sampler.document()["problems"] == []
    clock.advance()
    with pg_backend.outage():
        doc = strict_json(sampler.document())
    assert doc["rollouts"] == []
    assert pg_backend.password not in json.dumps(doc)
    assert doc["problems"] == ["the registry could not be read (RegistryUnavailable)"]
    assert one(doc)["totals"]["requests"] == 0
    clock.advance()
    assert sampler.document()["problems"] == []           # back when the store is


def test_a_closed_registry_is_a_problem_in_words(registry):
    sampler = StatusSampler({("sensor", "1"): make_runner()}, registry=registry, clock=Clock())
    registry.close()
    doc = strict_json(sampler.document())
    assert doc["problems"] == ["the registry could not be read (RegistryError)"]
    assert "sqlite3" not in json.dumps(doc)


def test_a_failing_source_is_a_problem_in_words_without_its_text():
    state = {"fail": False}
    r = make_runner()

    def source():
        if state["fail"]:
            raise RuntimeError("password=hunter2 in the traceback")
        return {("sensor", "1"): r}

    clock = Clock()
    sampler = StatusSampler(source, clock=clock)
    state["fail"] = True
    clock.advance()
    sampler.sample()
    doc = strict_json(sampler.document())
    assert doc["problems"] == ["the runners could not be read"]
    assert "hunter2" not in json.dumps(doc)
    assert len(one(doc)["series"]["t"]) == 1              # the runners seen before stay
    state["fail"] = False
    clock.advance()
    assert strict_json(sampler.document())["problems"] == []


# ---------------------------------------------------------------- bad input


def test_bad_arguments_name_the_parameter():
    r = make_runner()
    with pytest.raises(TypeError, match="StatusSampler: source must be a mapping"):
        StatusSampler(42)
    with pytest.raises(TypeError, match=r"source\['x'\] must be a ModelRunner or a Router"):
        StatusSampler({"x": object()})
    with pytest.raises(TypeError, match="source key must be a model name"):
        StatusSampler({3: r})
    with pytest.raises(TypeError, match="registry must be a ModelRegistry"):
        StatusSampler({"sensor": r}, registry="sqlite.db")
    with pytest.raises(TypeError, match="config must be a StatusPageConfig"):
        StatusSampler({"sensor": r}, config={"interval_seconds": 1})
    with pytest.raises(TypeError, match="ewma must be an EWMAConfig"):
        StatusSampler({"sensor": r}, ewma=CUSUMConfig())
    with pytest.raises(TypeError, match="clock must be callable"):
        StatusSampler({"sensor": r}, clock=1.0)
    with pytest.raises(TypeError, match="belong to the sampler"):
        status_routes(StatusSampler({"sensor": r}), config=StatusPageConfig())
    with pytest.raises(TypeError, match="title must be a str"):
        status_routes({"sensor": r}, title=3)


def test_the_settings_example_runs():
    import doctest

    import fugue_ppl.service._status_config as module

    result = doctest.testmod(module, verbose=False, report=False)
    assert result.failed == 0 and result.attempted >= 1


def test_the_status_section_of_the_configuration():
    from fugue_ppl.config import load_config

    cfg = load_config(env={"FUGUE_STATUS__INTERVAL_SECONDS": "2",
                           "FUGUE_STATUS__CUSUM_SERIES": "error_rate",
                           "FUGUE_MONITOR__EWMA__LAM": "0.3"})
    assert cfg.status == StatusPageConfig(interval_seconds=2.0, cusum_series="error_rate")
    sampler = StatusSampler({("sensor", "1"): make_runner()}, config=cfg.status,
                            ewma=cfg.monitor.ewma, cusum=cfg.monitor.cusum)
    charts = one(sampler.document())["charts"]
    assert charts["ewma"]["params"]["lam"] == 0.3 and charts["cusum"]["series"] == "error_rate"
    assert sampler.document()["interval"] == 2.0


def test_bad_settings_name_the_setting():
    with pytest.raises(InvalidArgument, match="interval_seconds"):
        StatusPageConfig(interval_seconds=0)
    with pytest.raises(InvalidArgument, match="interval_seconds"):
        StatusPageConfig(interval_seconds=3600)
    with pytest.raises(InvalidArgument, match="history"):
        StatusPageConfig(history=5)
    with pytest.raises(InvalidArgument, match=r"ewma_series.*'latency', 'error_rate'"):
        StatusPageConfig(ewma_series="p99")
    with pytest.raises(TypeError, match="did you mean 'history'"):
        StatusPageConfig(histroy=20)


# ---------------------------------------------------------------- the routes in-process


def _client(sampler, **kw):
    from starlette.applications import Starlette

    app = Starlette(routes=status_routes(sampler, **kw))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.anyio
async def test_the_routes_serve_the_page_its_files_and_its_document():
    r = make_runner()
    send(r, ok=12)
    sampler = StatusSampler({("sensor", "1"): r}, clock=Clock())
    async with _client(sampler, title='<script>alert("t")</script>') as c:
        res = await c.get("/")
        assert res.status_code == 307 and res.headers["location"] == "/status"
        res = await c.get("/status")
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
        csp = res.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp
        assert res.headers["x-content-type-options"] == "nosniff"
        page = res.text
        assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in page
        assert "<script>alert" not in page
        assert 'src="status/static/status.js"' in page and 'data-interval="1"' in page
        res = await c.get("/status/data")
        assert res.status_code == 200 and res.headers["cache-control"] == "no-store"
        doc = res.json()
        assert one(doc)["totals"]["requests"] == 12
        js = await c.get("/status/static/status.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith(
            "text/javascript")
        css = await c.get("/status/static/status.css")
        assert css.headers["content-type"].startswith("text/css")
        assert (await c.get("/status/static/../status_page.py")).status_code == 404
        assert (await c.get("/status/static/nope.js")).status_code == 404


@pytest.fixture
def anyio_backend():
    return "asyncio"


def test_the_page_ships_its_own_files_and_loads_nothing_from_elsewhere():
    js = (STATIC / "status.js").read_text(encoding="utf-8")
    css = (STATIC / "status.css").read_text(encoding="utf-8")
    shell = page_html(1.0)
    # a few kilobytes, no bundle
    assert len(js) < 40_000 and len(css) < 12_000
    for text in (js, css, shell):
        rest = text.replace("http://www.w3.org/2000/svg", "")
        assert "http://" not in rest and "https://" not in rest and "//cdn" not in rest
    # values reach the page as text, never as markup
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js


def test_the_static_files_are_package_data():
    import importlib.resources

    files = importlib.resources.files("fugue_ppl.service").joinpath("static")
    assert {p.name for p in files.iterdir()} >= {"status.js", "status.css"}


# ---------------------------------------------------------------- in a real Chromium

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromedriver")
INSTALL = "apt-get install -y chromium chromium-driver"


def _missing(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} under CI=true ({INSTALL})")
    pytest.skip(f"{reason}: {INSTALL}")


@pytest.fixture(scope="module")
def browser():
    binary = next((p for p in (CHROMIUM[0], shutil.which("chromium")) if p and
                   os.path.exists(p)), None)
    driver_path = next((p for p in (CHROMIUM[1], shutil.which("chromedriver")) if p and
                        os.path.exists(p)), None)
    if binary is None or driver_path is None:
        _missing("chromium and chromedriver are not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail('selenium is missing under CI=true (it is in the [test] extra)')
        pytest.skip('selenium is not installed: pip install ".[test]"')
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,1200", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the system's chromedriver, never one Selenium Manager would download
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _free_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s


EVIL = '<img src=x onerror="document.title=1">'


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A real uvicorn server on a free loopback port: the status routes over two runners
    of a model in a canary rollout (from a SQLite registry) and a runner whose name and
    version are markup; the sampler samples every 0.25 s."""
    import uvicorn
    from starlette.applications import Starlette

    tmp = tmp_path_factory.mktemp("status")
    reg = ModelRegistry(url=str(tmp / "registry.sqlite3"))
    reg.register("sensor", "1", "fugue_ppl.models:sensor", actor="ci", status="live")
    reg.register("sensor", "2", "fugue_ppl.models:sensor", actor="ci")
    rt = Router({"1": make_runner("1"), "2": make_runner("2", seed=2)})
    rclock = fp.ManualClock()
    strategy = canary(reg, rt, rclock)
    evil = make_runner("3", name="evil")     # shown under the key: markup
    runners = {"sensor": rt, (EVIL, "1<2>"): evil}
    sampler = StatusSampler(runners, registry=reg,
                            config=StatusPageConfig(interval_seconds=0.25, shewhart_warmup=5),
                            ewma=EWMAConfig(warmup=5), cusum=CUSUMConfig(warmup=5))
    app = Starlette(routes=status_routes(sampler))
    sock = _free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    sampler.start()
    base = f"http://127.0.0.1:{port}"
    yield {"base": base, "router": rt, "evil": evil, "sampler": sampler,
           "strategy": strategy, "clock": rclock, "registry": reg}
    sampler.close()
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()
    strategy.close()
    reg.close()


def _severe(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _wait(predicate, timeout=30.0, what="the page"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _polls(driver):
    return int(driver.execute_script("return document.body.getAttribute('data-polls') || 0"))


# What the page shows, read in one script (the page redraws between two calls).
_SNAPSHOT = """
const out = {polls: +(document.body.getAttribute('data-polls') || 0), runners: [],
             doc: window.statusDocument,
             rollouts: [], title: document.title,
             images: document.querySelectorAll('#runners img, #rollouts img').length};
for (const card of document.querySelectorAll('article.runner')) {
  const r = {model: card.querySelector('h2 .model').textContent,
             version: card.querySelector('h2 .version').textContent, fields: {}, plots: {}};
  for (const f of card.querySelectorAll('[data-field]')) {
    r.fields[f.getAttribute('data-field')] = {value: f.getAttribute('data-value'),
                                              text: f.textContent};
  }
  for (const fig of card.querySelectorAll('figure[data-plot]')) {
    const paths = {};
    for (const p of fig.querySelectorAll('path.series')) {
      const cls = p.getAttribute('class').replace('series', '').trim() || 'series';
      (paths[cls] = paths[cls] || []).push(p.getAttribute('d'));
    }
    r.plots[fig.getAttribute('data-plot')] = {
      paths: paths,
      alarms: [...fig.querySelectorAll('circle.alarm title')].map(t => t.textContent),
      states: [...fig.querySelectorAll('rect.state')].map(x => x.getAttribute('data-state')),
      note: fig.querySelector('.plot-note').textContent,
      noteClass: fig.querySelector('.plot-note').getAttribute('class')};
  }
  out.runners.push(r);
}
for (const panel of document.querySelectorAll('article.rollout')) {
  out.rollouts.push({
    id: panel.getAttribute('data-rollout'),
    state: panel.querySelector('[data-field="rollout-state"]').textContent,
    weights: Object.fromEntries([...panel.querySelectorAll('.weights .wseg')].map(
      s => [s.getAttribute('data-version'), +s.getAttribute('data-weight')])),
    current: panel.querySelectorAll('.steps .step.current').length,
    looks: panel.querySelectorAll('table.looks tbody tr').length});
}
return out;
"""


def _snapshot(driver):
    return driver.execute_script(_SNAPSHOT)


def _shown(snap, model, version):
    found = [r for r in snap["runners"] if (r["model"], r["version"]) == (model, "v" + version)]
    return found[0] if found else None


def _vertices(d):
    return d.count("M") + d.count("L")


def _quiet_traffic(served, rounds=30, per_round=100, start=0):
    """Requests through the router while the sampler samples (varied latency and errors)."""
    rt = served["router"]
    for k in range(rounds):
        for j in range(per_round):
            rt.infer(22.0, key=f"b-{start + k * per_round + j}")
        send(served["evil"], ok=20 + 5 * (k % 3), failing=k % 2)
        if k % 6 == 5:                       # a look of the canary's analysis
            served["clock"].advance(10)
            served["strategy"].step()
        time.sleep(0.1)


def _settled_document(served, driver):
    """The endpoint's document once the page has shown the same sample: no traffic
    runs, so two polls later the page shows what the endpoint says."""
    time.sleep(0.6)                          # the last traffic sampled
    n = _polls(driver)
    _wait(lambda: _polls(driver) >= n + 2, what="two polls")
    return httpx.get(served["base"] + "/status/data", timeout=10).json()


def test_the_page_in_chromium_shows_the_data_refreshes_and_escapes(browser, served, tmp_path):
    driver = browser
    driver.get(served["base"] + "/")                     # the redirect to /status
    assert driver.current_url.endswith("/status")
    _wait(lambda: _polls(driver) >= 1, what="the first poll")
    _quiet_traffic(served)
    doc = _settled_document(served, driver)
    snap = _snapshot(driver)
    assert _severe(driver) == []

    # the numbers shown are the endpoint's
    for model, version in (("sensor", "1"), ("sensor", "2"), (EVIL, "1<2>")):
        r, shown = one(doc, model, version), _shown(snap, model, version)
        assert shown is not None, (model, version)
        f = shown["fields"]
        assert f["requests"]["value"] == str(r["totals"]["requests"])
        assert f["requests"]["text"].replace("\u2009", "") == str(r["totals"]["requests"])
        assert float(f["p99"]["value"]) == r["latency"]["p99"]
        assert float(f["error_rate"]["value"]) == r["totals"]["error_rate"]
        assert f["breaker-state"]["text"] == r["breaker"]["state"]
        assert r["totals"]["requests"] > 0

    # the plots hold the points of the document they drew: a vertex per sample with data
    drawn_doc = snap["doc"]
    counts = ("requests", "inferences", "errors", "rejected", "invalid", "error_rate")
    assert [one(drawn_doc)["totals"][k] for k in counts] == [one(doc)["totals"][k]
                                                            for k in counts]
    shown, series = _shown(snap, "sensor", "1"), one(drawn_doc, "sensor", "1")["series"]
    with_data = sum(1 for v in series["p50"] if v is not None)
    assert with_data >= 8
    plots = shown["plots"]
    assert [_vertices(d) for d in plots["latency"]["paths"]["p50"]] == [with_data]
    assert _vertices(plots["throughput"]["paths"]["throughput"][0]) == len(series["t"])
    charts = one(drawn_doc, "sensor", "1")["charts"]
    for kind in ("ewma", "shewhart"):
        drawn = sum(1 for v in charts[kind]["points"]["value"] if v is not None)
        assert drawn >= 3, kind
        assert _vertices(plots[kind]["paths"]["stat"][0]) == drawn
        assert [_vertices(d) for d in plots[kind]["paths"]["limit"]] == [drawn, drawn]
    assert [_vertices(d) for d in plots["cusum"]["paths"]["stat"]] == [
        sum(1 for v in charts["cusum"]["points"]["upper"] if v is not None)] * 2
    assert set(plots["breaker"]["states"]) == {"HEALTHY"}

    # the rollout in progress: the canary's step and the router's weights
    (ro,) = doc["rollouts"]
    (panel,) = snap["rollouts"]
    assert (panel["id"], panel["state"], panel["current"]) == (str(ro["id"]), ro["state"], 1)
    assert panel["weights"] == {k: v for k, v in ro["weights"].items() if v > 0}
    assert panel["weights"] == {k: v for k, v in served["router"].weights.items() if v > 0}

    # user data is text: the markup in the name and the version is shown, not run
    assert _shown(snap, EVIL, "1<2>")["model"] == EVIL
    assert snap["images"] == 0 and snap["title"] == "fugue-ppl status"

    # it refreshes: new traffic shows up without a reload
    driver.execute_script("window.__same_page = 'yes';")
    before = int(shown["fields"]["requests"]["value"])
    runner = served["router"].runners["1"]
    for _ in range(321):
        runner.infer(22.0)
    _wait(lambda: _shown(_snapshot(driver), "sensor", "1")["fields"]["requests"]["value"]
          == str(before + 321), what="the new traffic")
    assert driver.execute_script("return window.__same_page") == "yes"

    # a screenshot of the whole page
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1500, min(max(height + 40, 800), 6000))
    time.sleep(0.6)
    shot = tmp_path / "status-page.png"
    assert driver.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, high = struct.unpack(">II", data[16:24])
    assert width >= 1200 and high >= 800 and len(data) > 50_000
    keep = os.environ.get("FUGUE_STATUS_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
    assert _severe(driver) == []


def test_the_page_in_chromium_marks_control_chart_alarms(browser, served):
    driver = browser
    driver.get(served["base"] + "/status")
    _wait(lambda: _polls(driver) >= 1, what="the first poll")
    evil = served["evil"]
    # a baseline (the charts' warm-up: 5 intervals of 0.25 s), then latencies far above
    # it, a burst an interval: WE1 on the Shewhart chart, the EWMA beyond its limit, the
    # CUSUM above H
    for k in range(10):
        send(evil, ok=20 + 3 * (k % 4))
        time.sleep(0.3)
    for _ in range(6):
        for _ in range(5):
            evil.metrics.record(0.5)
        time.sleep(0.3)

    def alarms():
        shown = _shown(_snapshot(driver), EVIL, "1<2>")
        plots = shown["plots"] if shown else {}
        ready = plots and all(plots[p]["alarms"] for p in ("ewma", "shewhart", "cusum"))
        return plots if ready else None

    plots = _wait(alarms, what="the alarms")
    assert any("WE1" in t for t in plots["shewhart"]["alarms"])
    assert any("UCL" in t for t in plots["ewma"]["alarms"])
    assert any("CUSUM+" in t for t in plots["cusum"]["alarms"])
    assert "alarm" in plots["shewhart"]["note"] and "has-alarms" in plots["shewhart"][
        "noteClass"]
    assert _severe(driver) == []


def test_each_runner_carries_its_drift_monitor_figures():
    from fugue_ppl.serving.drift import DriftMonitor, DriftSettings

    r, clock = make_runner(), Clock()
    monitor = DriftMonitor(DriftSettings(warmup=20, window=50), model="sensor", version="1")
    sampler = StatusSampler({("sensor", "1"): r}, clock=clock,
                            drift=lambda: {("sensor", "1"): monitor})
    assert one(strict_json(sampler.document()))["drift"] == {
        "drifting": False, "warming_up": True, "alarms": 0, "lpd": None}
    rng = np.random.default_rng(3)
    for y in rng.normal(0.0, 1.0, 40):
        monitor.observe_values(-0.92 - 0.5 * y * y)
    for _ in range(10):
        monitor.observe_values(-50.0)                      # far below the baseline
    clock.advance(2.0)
    sampler.sample()
    d = one(strict_json(sampler.document()))["drift"]
    assert d["drifting"] is True and d["warming_up"] is False
    assert d["alarms"] == sum(monitor.alarms.values()) >= 1
    assert d["lpd"] == pytest.approx(monitor.log_predictive_density)
    # a runner without a monitor, and a drift function that fails, give null
    other = StatusSampler({("sensor", "1"): r}, clock=clock, drift=lambda: 1 / 0)
    assert one(strict_json(other.document()))["drift"] is None
    with pytest.raises(TypeError, match="StatusSampler: drift must be callable, got int"):
        StatusSampler({("sensor", "1"): r}, drift=3)
