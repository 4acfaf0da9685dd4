"""Rollout strategies against both real registry back-ends (SQLite and PostgreSQL,
see conftest.py): each state machine end to end, restart-and-resume, the automatic
rollback triggers, concurrent steps, and bad input. Time is a ManualClock; traffic
is real calls through a Router to real runners.

The error-rate analyses are deterministic (seeded models, keyed routing). The two
tests judging real latencies (a 2 ms and a +30% slower candidate) decide on
effects far beyond their sequential tests' levels: they fail only if the machine's
sleeps stop being proportional (a false failure well below 1e-6 otherwise)."""

import doctest
import importlib
import logging
import math
import threading
import time

import numpy as np
import pytest

import fugue_ppl as fp
from fugue_ppl.config import Config
from fugue_ppl.deploy import RegistryConflict, Router, UnknownModel, UnknownVersion
from fugue_ppl.deploy._rollout_config import RolloutConfig
from fugue_ppl.deploy.analysis import AnalysisConfig
from fugue_ppl.deploy.rollouts import Rollout
from fugue_ppl.deploy.strategies import (
    ABTest,
    BlueGreen,
    Canary,
    Immediate,
    Rolling,
    ShadowRollout,
    resume,
)
from fugue_ppl.errors import InvalidArgument, UnknownRollout
from fugue_ppl.models import sensor
from fugue_ppl.serving import ModelConfig, RunnerConfig

SENSOR = "fugue_ppl.models:sensor"
# Small plans, so a rollout runs in a fraction of a second.
FAST = dict(steps=[0.2, 0.5, 1.0], analysis_interval_seconds=10.0, min_samples_per_look=50,
            slo_objective=0.95)   # (the 1% and 5% failing models burn no 95% budget)
SMALL = AnalysisConfig(min_samples=200, max_samples=1000)


def failing(rate):
    """The sensor model failing with probability ``rate`` (drawn from the run's stream),
    and always for a negative reading."""
    def model(reading):
        if reading < 0.0 or fp.sample("fail", fp.Bernoulli(rate)):
            raise RuntimeError("sensor fault")
        return sensor(reading)
    return model


def runner(version, model=sensor, seed=1):
    return fp.ModelRunner(model, RunnerConfig(model=ModelConfig(version=version)), rng=seed)


def router(base=sensor, cand=sensor, seed=1):
    return Router({"1": runner("1", base, seed), "2": runner("2", cand, seed + 100)})


def registry(backend, url=None):
    reg = backend.registry(url)
    if not reg.list("sensor"):
        reg.register("sensor", "1", SENSOR, actor="ci", status="live")
        reg.register("sensor", "2", SENSOR, actor="ci")
    return reg


_KEYS = {}


def traffic(rt, n, reading=22.0):
    """``n`` requests, each with its own key (so the routing, like the models' draws, is
    the same in every run)."""
    start = _KEYS.get(id(rt), 0)
    _KEYS[id(rt)] = start + n
    for k in range(start, start + n):
        try:
            rt.infer(reading, key=f"user-{k}")
        except RuntimeError:
            pass


def drive(strategy, rt, clock, *, per_look=500, max_looks=200, interval=10.0):
    """Traffic, time, step() until the rollout ends; the weights seen at each step."""
    seen = [dict(rt.weights)]
    for _ in range(max_looks):
        traffic(rt, per_look)
        clock.advance(interval)
        ro = strategy.step()
        if dict(rt.weights) != seen[-1]:
            seen.append(dict(rt.weights))
        if not ro.active:
            return ro, seen
    raise AssertionError(f"still {ro.state} after {max_looks} looks")


def statuses(reg):
    return {v.version: v.status for v in reg.list("sensor")}


@pytest.fixture(autouse=True)
def _quiet_runner_logs():
    logging.getLogger("fugue_ppl.serving").setLevel(logging.CRITICAL)
    logging.getLogger("fugue_ppl.breaker").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("fugue_ppl.serving").setLevel(logging.NOTSET)
    logging.getLogger("fugue_ppl.breaker").setLevel(logging.NOTSET)


# ---------------------------------------------------------------- switch at once


def test_immediate_switch_and_instant_rollback(backend):
    reg, rt, clock = registry(backend), router(), fp.ManualClock()
    s = Immediate.start(reg, "sensor", "2", rt, clock=clock, smoke_args=(22.0,))
    assert (s.state, dict(rt.weights)) == ("pending", {"1": 1.0, "2": 0.0})
    ro = s.step()
    assert (ro.state, ro.active, dict(rt.weights)) == ("promoted", False, {"1": 0.0, "2": 1.0})
    assert statuses(reg) == {"1": "standby", "2": "live"}
    ro = s.rollback()
    assert (ro.state, dict(rt.weights)) == ("rolled_back", {"1": 1.0, "2": 0.0})
    assert statuses(reg) == {"1": "live", "2": "standby"}
    events = s.events()
    assert [e.action for e in events] == ["start", "switch", "rollback"]
    assert events[1].details["smoke"]["ok"] is True
    assert list(map(dict, events[2].details["versions"])) == [
        {"version": "2", "status": "standby"}, {"version": "1", "status": "live"}]
    with pytest.raises(RegistryConflict, match="nothing to roll back"):
        s.rollback()


def test_blue_green_bakes_then_rolls_back_to_the_previous_colour(backend):
    reg, rt, clock = registry(backend), router(), fp.ManualClock()
    cfg = RolloutConfig(bake_seconds=300.0)
    s = BlueGreen.start(reg, "sensor", "2", rt, clock=clock, config=cfg, smoke_args=(22.0,))
    assert s.step().state == "switched"
    assert dict(rt.weights) == {"1": 0.0, "2": 1.0}
    assert statuses(reg) == {"1": "standby", "2": "live"}
    clock.advance(299.0)
    assert s.step().state == "switched"
    clock.advance(1.0)
    ro = s.step()
    assert (ro.state, ro.active) == ("promoted", False)
    ro = s.rollback()           # (after the bake too: the old colour is on standby)
    assert ro.state == "rolled_back"
    assert dict(rt.weights) == {"1": 1.0, "2": 0.0}
    assert statuses(reg) == {"1": "live", "2": "standby"}
    assert [e.action for e in s.events()] == ["start", "switch", "promote", "rollback"]


def test_a_failing_smoke_run_refuses_the_switch(backend):
    reg, rt, clock = registry(backend), router(cand=failing(0.0)), fp.ManualClock()
    s = BlueGreen.start(reg, "sensor", "2", rt, clock=clock, smoke_args=(-1.0,))
    ro = s.step()
    assert (ro.state, ro.active) == ("refused", False)
    assert dict(rt.weights) == {"1": 1.0, "2": 0.0}
    assert statuses(reg) == {"1": "live", "2": "staged"}
    refused = s.events()[-1]
    assert (refused.action, refused.details["smoke"]["ok"]) == ("refuse", False)
    assert refused.details["smoke"]["error"] == "RuntimeError"


# ---------------------------------------------------------------- canary


def test_canary_steps_through_its_weights_and_promotes_a_good_candidate(backend, caplog):
    reg, rt, clock = registry(backend), router(failing(0.01), failing(0.01)), fp.ManualClock()
    s = Canary.start(reg, "sensor", "2", rt, clock=clock, config=RolloutConfig(**FAST),
                     analysis=SMALL, metrics=("errors",))
    assert reg.get("sensor", "2", cached=False).status == "canary"
    with caplog.at_level(logging.INFO, logger="fugue_ppl.deploy"):
        ro, seen = drive(s, rt, clock)
    assert ro.state == "promoted"
    assert seen == [{"1": 0.8, "2": 0.2}, {"1": 0.5, "2": 0.5}, {"1": 0.0, "2": 1.0}]
    assert statuses(reg) == {"1": "standby", "2": "live"}
    events = s.events()
    assert [e.action for e in events] == ["start", "step", "promote"]
    step = events[1].details
    assert (step["weight"], step["next_weight"]) == (0.2, 0.5)
    assert step["decisions"]["errors"]["action"] == "promote"
    assert step["decisions"]["errors"]["n_candidate"] >= 200
    assert [r.action for r in caplog.records if hasattr(r, "action")] == ["step", "promote"]


def test_canary_of_a_worse_candidate_is_rolled_back_by_the_analysis(backend, caplog):
    reg = registry(backend)
    rt, clock = router(failing(0.01), failing(0.05)), fp.ManualClock()
    cfg = RolloutConfig(**FAST, rollback_on_burn_rate=False)
    s = Canary.start(reg, "sensor", "2", rt, clock=clock, config=cfg, analysis=SMALL,
                     metrics=("errors",))
    with caplog.at_level(logging.INFO, logger="fugue_ppl.deploy"):
        ro, seen = drive(s, rt, clock)
    assert ro.state == "rolled_back"
    assert seen[-1] == {"1": 1.0, "2": 0.0}
    assert statuses(reg) == {"1": "live", "2": "retired"}
    last = s.events()[-1]
    assert (last.action, last.details["trigger"], list(last.details["worse"])) == (
        "rollback", "analysis", ["errors"])
    d = last.details["decisions"]["errors"]
    assert (d["action"], d["reason"]) == ("rollback", "worse")
    assert d["p_value"] <= d["alpha"] == pytest.approx(0.05 / 2)   # (2 analysed steps)
    assert d["estimate"] > 0.0 and d["n_candidate"] >= 200
    warned = [r for r in caplog.records if r.levelno == logging.WARNING
              and r.name == "fugue_ppl.deploy"]
    assert len(warned) == 1 and warned[0].details["trigger"] == "analysis"


def test_canary_of_a_slower_candidate_is_rolled_back_on_log_latency(backend):
    def sleeping(seconds):
        def model(reading):
            time.sleep(seconds)
            return sensor(reading)
        return model
    reg = registry(backend)
    rt, clock = router(sleeping(0.001), sleeping(0.0013)), fp.ManualClock()   # (+30%)
    s = Canary.start(reg, "sensor", "2", rt, clock=clock, config=RolloutConfig(**FAST),
                     analysis=AnalysisConfig(min_samples=100, max_samples=1000))
    ro, _ = drive(s, rt, clock, per_look=250)
    assert ro.state == "rolled_back"
    last = s.events()[-1].details
    assert (last["trigger"], list(last["worse"])) == ("analysis", ["latency"])
    d = last["decisions"]["latency"]
    assert d["p_value"] <= d["alpha"] and d["estimate"] == pytest.approx(math.log(1.3),
                                                                         abs=0.1)


def test_an_inconclusive_step_is_held_then_rolled_back_at_the_max_duration(backend):
    reg, rt, clock = registry(backend), router(), fp.ManualClock()
    cfg = RolloutConfig(**FAST, max_step_seconds=600.0)
    analysis = AnalysisConfig(min_samples=10**6, max_samples=10**7)   # (never decides)
    s = Canary.start(reg, "sensor", "2", rt, clock=clock, config=cfg, analysis=analysis)
    for _ in range(59):
        traffic(rt, 60)
        clock.advance(10.0)
        ro = s.step()
        assert (ro.state, ro.data["step"]) == ("canary", 0)
    assert ro.data["looks"] >= 10          # (a look per 50 candidate requests)
    assert ro.data["last_decisions"]["errors"]["reason"] == "min_samples"
    clock.advance(10.0)
    ro = s.step()
    assert ro.state == "rolled_back"
    last = s.events()[-1]
    assert last.details["trigger"] == "inconclusive"
    assert last.details["held_seconds"] >= 600.0
    assert dict(rt.weights) == {"1": 1.0, "2": 0.0}


def test_a_canary_resumes_half_way_after_a_restart(backend):
    reg, rt, clock = registry(backend), router(), fp.ManualClock()
    s = Canary.start(reg, "sensor", "2", rt, clock=clock, config=RolloutConfig(**FAST),
                     analysis=SMALL, metrics=("errors",))
    while s.rollout.data["step"] == 0:
        traffic(rt, 500)
        clock.advance(10.0)
        s.step()
    rid = s.id
    s.close()
    reg.close()
    # a new process: a new registry over the same store, new runners, a new router
    reg2 = registry(backend, backend.url)
    rt2 = router(seed=7)
    assert dict(rt2.weights) == {"1": 1.0, "2": 0.0}
    s2 = resume(reg2, "sensor", rt2, clock=clock, metrics=("errors",))
    assert isinstance(s2, Canary) and s2.id == rid
    assert (s2.state, s2.rollout.data["step"], dict(rt2.weights)) == (
        "canary", 1, {"1": 0.5, "2": 0.5})
    ro, _ = drive(s2, rt2, clock)
    assert ro.state == "promoted"
    assert [e.action for e in reg2.rollout_events(rid)] == ["start", "step", "promote"]


def test_a_rollout_resumes_without_a_clock(backend):
    # The default clock (the wall clock, shared by replicas) reaches the
    # rollback guard too: resuming without clock= works.
    reg, rt = registry(backend), router()
    s = Canary.start(reg, "sensor", "2", rt, config=RolloutConfig(**FAST), analysis=SMALL)
    s2 = resume(reg, "sensor", router(seed=7))
    assert isinstance(s2, Canary) and s2.id == s.id and s2.state == "canary"
    assert s2.now() == pytest.approx(time.time(), abs=5.0)
    s2.abort()


# ---------------------------------------------------------------- automatic rollback


def test_rollback_when_the_candidates_breaker_fails(backend, caplog):
    reg, rt, clock = registry(backend), router(cand=failing(0.0)), fp.ManualClock()
    s = Canary.start(reg, "sensor", "2", rt, clock=clock, config=RolloutConfig(**FAST),
                     analysis=AnalysisConfig(min_samples=10**6, max_samples=10**7))
    candidate = rt.runners["2"]
    for _ in range(20):         # (the candidate's requests fail: its breaker opens)
        with pytest.raises(RuntimeError):
            candidate.infer(-1.0)
    assert candidate.breaker.state == fp.BreakerState.FAILED
    with caplog.at_level(logging.WARNING, logger="fugue_ppl.deploy"):
        ro = s.step()
    assert ro.state == "rolled_back"
    d = s.events()[-1].details
    assert (d["trigger"], d["from"], d["failed_calls"]) == ("breaker_failed", "HEALTHY", 20)
    deploy_logs = [r for r in caplog.records if r.name == "fugue_ppl.deploy"]
    assert deploy_logs[-1].details["trigger"] == "breaker_failed"
    assert statuses(reg)["2"] == "retired"


def test_rollback_when_the_burn_rate_passes_the_page_threshold(backend):
    reg, rt, clock = registry(backend), router(cand=failing(0.05)), fp.ManualClock()
    s = Canary.start(reg, "sensor", "2", rt, clock=clock,
                     config=RolloutConfig(**{**FAST, "slo_objective": 0.999},
                                         burn_rate_min_events=50),
                     analysis=AnalysisConfig(min_samples=10**6, max_samples=10**7))
    traffic(rt, 2000)
    ro = s.step()
    assert ro.state == "rolled_back"
    d = s.events()[-1].details
    assert d["trigger"] == "burn_rate" and d["rule"] == "page 1h/5m > 14.4"
    assert d["long_burn_rate"] > 14.4 and d["short_burn_rate"] > 14.4


def test_a_healthy_candidate_trips_no_trigger(backend):
    reg, rt, clock = registry(backend), router(), fp.ManualClock()
    s = Canary.start(reg, "sensor", "2", rt, clock=clock, config=RolloutConfig(**FAST),
                     analysis=AnalysisConfig(min_samples=10**6, max_samples=10**7))
    traffic(rt, 2000)
    assert s.step().state == "canary"
    assert s.guard.check() is None


# ---------------------------------------------------------------- rolling


def test_rolling_across_three_replicas_pauses_while_one_degrades(backend):
    reg = registry(backend)
    clock = fp.ManualClock()
    cfg = RolloutConfig(replica_interval_seconds=30.0, rollback_on_burn_rate=False)
    routers = [router(cand=failing(0.0), seed=10 * k) for k in range(3)]
    regs = [reg] + [registry(backend, backend.url) for _ in range(2)]
    first = Rolling.start(reg, "sensor", "2", routers[0], clock=clock, config=cfg,
                          replica_count=3, replica_id=0)
    replicas = [first] + [resume(regs[k], "sensor", routers[k], clock=clock, replica_id=k,
                                 replica_count=3) for k in (1, 2)]

    def step_all():
        return [r.step().state for r in replicas]

    def moved():
        return [dict(rt.weights)["2"] for rt in routers]

    step_all()
    assert moved() == [1.0, 0.0, 0.0]          # replica 0 moves first
    clock.advance(10.0)
    step_all()
    assert moved() == [1.0, 0.0, 0.0]          # replica 1 waits for the interval
    clock.advance(20.0)
    step_all()
    assert moved() == [1.0, 1.0, 0.0]
    # replica 1's candidate degrades (10% of its requests fail): the rollout pauses
    for k in range(100):
        try:
            routers[1].infer(-1.0 if k % 10 == 0 else 22.0)
        except RuntimeError:
            pass
    assert routers[1].runners["2"].breaker.state == fp.BreakerState.DEGRADED
    clock.advance(60.0)
    assert step_all() == ["rolling", "paused", "paused"]
    clock.advance(60.0)
    step_all()
    assert moved() == [1.0, 1.0, 0.0]          # replica 2 does not move while paused
    pause = [e for e in first.events() if e.action == "pause"][0]
    assert pause.details == {"replica": 1, "breaker": "DEGRADED",
                             "failure_rate": pause.details["failure_rate"],
                             "window_calls": 100}
    # healthy again: resumed, replica 2 moves, the candidate is promoted
    traffic(routers[1], 100)
    assert routers[1].runners["2"].breaker.state == fp.BreakerState.HEALTHY
    assert step_all() == ["paused", "rolling", "promoted"]
    assert [r.step().state for r in replicas] == ["promoted"] * 3
    assert moved() == [1.0, 1.0, 1.0]
    assert statuses(reg) == {"1": "standby", "2": "live"}
    assert [e.action for e in first.events()] == ["start", "move", "move", "pause", "resume",
                                                  "promote"]


# ---------------------------------------------------------------- A/B test


def test_ab_test_stops_early_for_a_clear_winner_with_welch_t_at_each_look(backend):
    reg, rt, clock = registry(backend), router(), fp.ManualClock()
    cfg = RolloutConfig(ab_split=0.5, ab_max_samples=2000, ab_looks=5)
    s = ABTest.start(reg, "sensor", "2", rt, clock=clock, config=cfg, metric="observed")
    assert dict(rt.weights) == {"1": 0.5, "2": 0.5}
    rng = np.random.default_rng(11)
    for _ in range(20):
        s.observe("1", list(rng.normal(1.0, 1.0, 100)))
        s.observe("2", list(rng.normal(1.25, 1.0, 100)))   # (a quarter of an sd better)
        ro = s.step()
        if not ro.active:
            break
    assert ro.state == "promoted"
    looks = [e for e in s.events() if e.action in ("look", "promote")]
    assert 1 < len(looks) < 5                       # stopped before the last look
    for k, e in enumerate(looks, 1):
        w = e.details["welch"]
        assert e.details["look"] == k and set(w) == {"t", "df", "p_value", "difference",
                                                       "std_error"}
        assert e.details["n_baseline"] >= k * 400
    last = looks[-1].details
    assert last["group_sequential"]["winner"] == "candidate"
    assert last["welch"]["t"] >= last["group_sequential"]["boundary"]
    assert statuses(reg) == {"1": "standby", "2": "live"}


def test_ab_test_without_a_winner_keeps_the_baseline(backend):
    reg, rt, clock = registry(backend), router(), fp.ManualClock()
    cfg = RolloutConfig(ab_max_samples=500, ab_looks=2)
    s = ABTest.start(reg, "sensor", "2", rt, clock=clock, config=cfg, metric="observed")
    rng = np.random.default_rng(5)
    for _ in range(2):
        s.observe("1", list(rng.normal(0.0, 1.0, 250)))
        s.observe("2", list(rng.normal(0.0, 1.0, 250)))
        ro = s.step()
    assert ro.state == "no_difference"
    assert dict(rt.weights) == {"1": 1.0, "2": 0.0}
    assert statuses(reg) == {"1": "live", "2": "staged"}


def test_ab_test_on_latency_rolls_back_a_slower_candidate(backend):
    def slow(reading):
        time.sleep(0.002)
        return sensor(reading)
    reg, rt, clock = registry(backend), router(cand=slow), fp.ManualClock()
    cfg = RolloutConfig(ab_max_samples=60, ab_looks=2)
    s = ABTest.start(reg, "sensor", "2", rt, clock=clock, config=cfg)   # (log latency)
    for _ in range(10):
        traffic(rt, 40)
        ro = s.step()
        if not ro.active:
            break
    assert ro.state == "rolled_back"
    last = s.events()[-1].details
    assert (last["trigger"], last["metric"], last["lower_is_better"]) == (
        "baseline_wins", "latency", True)
    assert last["welch"]["t"] > 0 and last["welch"]["p_value"] < 0.05
    assert last["mean_candidate"] > math.log(0.002) > last["mean_baseline"]
    assert statuses(reg) == {"1": "live", "2": "retired"}


# ---------------------------------------------------------------- shadow


def test_shadow_never_changes_responses_and_reports_its_stats(backend):
    reg, clock = registry(backend), fp.ManualClock()
    reference = [router().infer(22.0, seed=k).value for k in range(200)]
    rt = router(cand=failing(0.0))
    s = ShadowRollout.start(reg, "sensor", "2", rt, clock=clock,
                            config=RolloutConfig(shadow_fraction=0.5, shadow_seconds=60.0))
    assert reg.get("sensor", "2", cached=False).status == "shadow"
    served = [rt.infer(22.0, seed=k) for k in range(200)]
    assert [r.value for r in served] == reference
    assert {r.model_version for r in served} == {"1"}
    deadline = time.monotonic() + 10.0
    while s.stats["compared"] + s.stats["failed"] < s.stats["sent"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert s.stats["sent"] == 100 and s.stats["compared"] == 100
    clock.advance(60.0)
    ro = s.step()
    assert ro.state == "completed"
    done = s.events()[-1]
    assert done.details["shadow"]["compared"] == 100
    assert statuses(reg) == {"1": "live", "2": "staged"}
    rt.close()


# ---------------------------------------------------------------- concurrency


def test_concurrent_steps_never_double_advance(backend):
    reg = registry(backend)
    clock = fp.ManualClock()
    cfg = RolloutConfig(steps=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0],
                        analysis_interval_seconds=10.0, min_samples_per_look=1)
    analysis = AnalysisConfig(min_samples=2, max_samples=2)    # (promotes at each look)
    routers = [router(seed=1), router(seed=2)]
    first = Canary.start(reg, "sensor", "2", routers[0], clock=clock, config=cfg,
                         analysis=analysis, metrics=("errors",))
    other = resume(registry(backend, backend.url), first.id, routers[1], clock=clock,
                   metrics=("errors",))
    for round_ in range(1, 7):
        for rt in routers:
            traffic(rt, 200)
        clock.advance(10.0)
        barrier = threading.Barrier(2)
        errors = []

        def go(strategy, barrier=barrier, errors=errors):
            try:
                barrier.wait()
                strategy.step()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
        threads = [threading.Thread(target=go, args=(st,)) for st in (first, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert reg.rollout(first.id).data["step"] == round_
    steps = [e.details["next_step"] for e in first.events() if e.action == "step"]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_replica_processes_stepping_one_canary_take_each_transition_once(backend):
    """Three processes (spawned: nothing shared but the store) step one canary in
    lock-step over the same SQLite file or PostgreSQL database. Each round every
    replica's counts reach the rollout (no lost update), then exactly one look moves it
    one step; the event log is one ordered chain."""
    import multiprocessing
    import queue
    import sys
    from pathlib import Path

    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:        # (the children import the worker by name)
        sys.path.insert(0, here)
    import _rollout_worker

    replicas, rounds, requests = 3, 5, 100
    reg = registry(backend)
    cfg = RolloutConfig(steps=[0.1, 0.2, 0.3, 0.4, 0.5, 1.0],
                        analysis_interval_seconds=10.0, min_samples_per_look=1)
    analysis = AnalysisConfig(min_samples=2, max_samples=2)    # (promotes at each look)
    ctx = multiprocessing.get_context("spawn")
    clock = ctx.Value("d", 0.0)
    first = Canary.start(reg, "sensor", "2", router(), clock=lambda: clock.value,
                         config=cfg, analysis=analysis, metrics=("errors",))
    first.close()
    barrier = ctx.Barrier(replicas + 1, timeout=120.0)
    results = ctx.Queue()
    procs = [ctx.Process(target=_rollout_worker.replica,
                         args=(backend.url, first.id, w, rounds, requests, clock, barrier,
                               results)) for w in range(replicas)]
    for p in procs:
        p.start()
    try:
        for r in range(rounds):
            barrier.wait()          # (the replicas send their requests)
            barrier.wait()          # (... and step: each adds its counts)
            barrier.wait()
            ro = reg.rollout(first.id)
            assert (ro.state, ro.data["step"]) == ("canary", r)
            assert sum(ro.data["tests"]["errors"]["data"]["n"]) == replicas * requests
            clock.value += 10.0
            barrier.wait()          # (... and step again: the look is due)
            barrier.wait()
            ro = reg.rollout(first.id)
            if r < rounds - 1:
                assert (ro.state, ro.data["step"]) == ("canary", r + 1)
            else:
                assert ro.state == "promoted"
        done = []
        for _ in procs:
            try:
                done.append(results.get(timeout=120.0))
            except queue.Empty:
                break
    except Exception:
        barrier.abort()
        raise
    finally:
        for p in procs:
            p.join(timeout=60.0)
            if p.is_alive():
                p.kill()
    assert [d.get("error") for d in done] == [None] * replicas
    assert sorted(d["wid"] for d in done) == list(range(replicas))
    events = reg.rollout_events(first.id)
    assert [e.action for e in events] == ["start"] + ["step"] * 4 + ["promote"]
    assert [e.details["step"] for e in events[1:]] == [0, 1, 2, 3, 4]
    assert [e.details["next_step"] for e in events[1:-1]] == [1, 2, 3, 4]
    # one chain: each event starts where the one before ended, revisions increase
    assert all(a.state_after == b.state_before for a, b in zip(events, events[1:]))
    assert all(a.revision < b.revision for a, b in zip(events, events[1:]))
    assert [e.id for e in events] == sorted(e.id for e in events)
    # every write counted once: the start, each replica's counts each round, each look
    assert reg.rollout(first.id).revision == 1 + rounds * replicas + rounds
    assert statuses(reg) == {"1": "standby", "2": "live"}


def test_a_stale_revision_writes_nothing(backend):
    reg, rt = registry(backend), router()
    s = Canary.start(reg, "sensor", "2", rt, clock=fp.ManualClock())
    ro = reg.update_rollout(s.id, expected_revision=1, actor="a", action="note",
                            details={"x": 1})
    with pytest.raises(RegistryConflict, match="expected revision 1, but the registry holds "
                                               "revision 2"):
        reg.update_rollout(s.id, expected_revision=1, actor="b", action="note", state="aborted")
    assert reg.rollout(s.id) == ro
    assert [e.action for e in reg.rollout_events(s.id)] == ["start", "note"]


# ---------------------------------------------------------------- records and settings


def test_rollouts_are_recorded_and_their_events_are_append_only(backend):
    reg, rt = registry(backend), router()
    s = Canary.start(reg, "sensor", "2", rt, clock=fp.ManualClock(), actor="alice")
    assert reg.schema_version() == 3
    ro = reg.active_rollout("sensor")
    assert isinstance(ro, Rollout) and ro == s.rollout
    assert (ro.strategy, ro.baseline, ro.candidate, ro.actor, ro.revision) == (
        "canary", "1", "2", "alice", 1)
    assert list(ro.settings["rollout"]["steps"]) == [0.01, 0.05, 0.25, 0.5, 1.0]
    assert ro.to_dict()["data"]["weight"] == 0.01
    s.abort()
    assert reg.active_rollout("sensor") is None
    assert [r.state for r in reg.rollouts("sensor")] == ["aborted"]
    conn = backend.connect()
    try:
        with pytest.raises(Exception, match="append-only"):
            conn.execute("UPDATE fugue_rollout_events SET action = 'x'")
    finally:
        conn.close()


def test_a_store_at_schema_2_is_migrated_to_3(backend):
    from fugue_ppl.deploy._store import MIGRATIONS

    url = backend.fresh_url()
    old = backend.kind == "sqlite" and __import__("sqlite3").connect(url, isolation_level=None)
    conn = old or backend.pg[1].connect(url, autocommit=True)
    try:            # (what the code of schema 2 created)
        applied = "TEXT" if old else "TIMESTAMPTZ DEFAULT now()"
        conn.execute("CREATE TABLE fugue_schema_version (version INTEGER PRIMARY KEY, "
                     f"description TEXT NOT NULL, applied_at {applied} NOT NULL)")
        for version, description, statements in MIGRATIONS[:2]:
            for sql in statements[backend.kind]:
                conn.execute(sql)
            conn.execute("INSERT INTO fugue_schema_version VALUES "
                         f"({version}, '{description}', '2026-01-01T00:00:00+00:00')")
    finally:
        conn.close()
    reg = registry(backend, url)
    assert (reg.applied_migrations, reg.schema_version()) == ((3,), 3)
    s = Canary.start(reg, "sensor", "2", router(), clock=fp.ManualClock())
    assert reg.rollout(s.id).state == "canary"


def test_an_unavailable_registry_keeps_the_last_routing(backend):
    reg, rt, clock = registry(backend), router(), fp.ManualClock()
    s = Canary.start(reg, "sensor", "2", rt, clock=clock, config=RolloutConfig(**FAST))
    traffic(rt, 100)
    clock.advance(10.0)
    with backend.outage():
        with pytest.raises(fp.errors.RegistryUnavailable):
            s.step()
        assert dict(rt.weights) == {"1": 0.8, "2": 0.2}
        assert {rt.infer(22.0).status for _ in range(20)} == {"ok"}
    ro = s.step()               # (the counts gathered during the outage are not lost)
    assert ro.state == "canary" and sum(ro.data["tests"]["errors"]["data"]["n"]) == 120


def test_rollout_and_analysis_sections_compose_into_the_config():
    cfg = Config.from_dict({"rollout": {"steps": [0.1, 1.0], "bake_seconds": 0},
                            "analysis": {"alpha": 0.01}})
    assert (cfg.rollout.steps, cfg.rollout.bake_seconds, cfg.analysis.alpha) == (
        (0.1, 1.0), 0.0, 0.01)
    assert type(cfg.rollout) is RolloutConfig and type(cfg.analysis) is AnalysisConfig


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("steps, message", [
    ([0.5, 0.2, 1.0], "must increase strictly"),
    ([0.1, 0.5], "must end at 1"),
    ([0.0, 1.0], r"must hold fractions in \(0, 1\]"),
    ([], "must hold at least one step"),
])
def test_bad_steps(steps, message):
    with pytest.raises(InvalidArgument, match=message) as info:
        RolloutConfig(steps=steps)
    assert "steps" in str(info.value)


def test_bad_settings_types():
    with pytest.raises(TypeError, match="steps"):
        RolloutConfig(steps="0.1,1")
    with pytest.raises(InvalidArgument, match="ab_split"):
        RolloutConfig(ab_split=1.0)
    with pytest.raises(TypeError, match="unknown setting 'step'; did you mean 'steps'"):
        RolloutConfig(step=[1.0])


def test_weights_not_summing_to_one_are_refused():
    rt = router()
    with pytest.raises(InvalidArgument, match="must sum to 1"):
        rt.set_weights({"1": 0.5, "2": 0.4})
    assert dict(rt.weights) == {"1": 1.0, "2": 0.0}


def test_bad_rollouts_are_refused(backend):
    reg, rt, clock = registry(backend), router(), fp.ManualClock()
    with pytest.raises(UnknownVersion, match="model 'sensor' has no version '9'"):
        Canary.start(reg, "sensor", "9", rt, clock=clock)
    with pytest.raises(UnknownModel, match="'nope'"):
        Canary.start(reg, "nope", "2", rt, clock=clock)
    with pytest.raises(InvalidArgument, match="must differ from the baseline"):
        Canary.start(reg, "sensor", "1", rt, clock=clock)
    reg.register("sensor", "3", SENSOR, actor="ci")
    with pytest.raises(InvalidArgument, match="must hold a runner of the rollout's versions"):
        Canary.start(reg, "sensor", "3", rt, clock=clock)
    with pytest.raises(InvalidArgument, match="metrics"):
        Canary.start(reg, "sensor", "2", rt, clock=clock, metrics=("throughput",))
    with pytest.raises(UnknownRollout, match="model 'sensor' has no active rollout"):
        resume(reg, "sensor", rt, clock=clock)
    # (the refused starts left nothing behind)
    assert reg.rollouts("sensor") == []
    Canary.start(reg, "sensor", "2", rt, clock=clock)
    with pytest.raises(RegistryConflict, match="rollout 1 \\(canary of 2\\) is active"):
        ShadowRollout.start(reg, "sensor", "2", rt, clock=clock)
    with pytest.raises(UnknownRollout, match="no rollout 99"):
        reg.rollout(99)
    with pytest.raises(InvalidArgument, match="replica_id"):
        Rolling.start(reg, "sensor", "2", router(), clock=clock, replica_count=2,
                      replica_id=5)


@pytest.mark.parametrize("module", ["fugue_ppl.deploy.strategies", "fugue_ppl.deploy.guards",
                                    "fugue_ppl.deploy._rollout_config"])
def test_the_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), verbose=False, report=False)
    assert result.failed == 0 and result.attempted >= 1
