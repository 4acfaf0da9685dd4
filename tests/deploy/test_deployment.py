"""ModelDeployment against both real registry back-ends (SQLite and PostgreSQL, see
conftest.py): following the registry's versions and statuses, driving rollouts
started elsewhere (another ModelRegistry over the same store, as another replica
or the command line would), outages, and the router's swap under concurrent
requests. Traffic is real calls to real runners; time is a ManualClock.

The canaries are deterministic: seeded runners (``rng=``), keyed requests, and
the error rate alone is analysed."""

import doctest
import logging
import os
import sys
import tempfile
import textwrap
import threading

import pytest

import fugue_ppl as fp
from fugue_ppl.deploy import RegistryConflict, UnknownModel, UnknownVersion
from fugue_ppl.deploy import deployment as deployment_module
from fugue_ppl.deploy._rollout_config import RolloutConfig
from fugue_ppl.deploy.analysis import AnalysisConfig
from fugue_ppl.deploy.deployment import ModelDeployment, abort_rollout, start_rollout
from fugue_ppl.errors import InvalidArgument, UnknownRollout
from fugue_ppl.serving import RunnerConfig, RuntimeConfig

SENSOR = "fugue_ppl.models:sensor"
MODELS = "fugue_deployment_models"
FAILING = f"{MODELS}:make"
FAST = RolloutConfig(steps=[0.2, 0.5, 1.0], analysis_interval_seconds=10.0,
                     min_samples_per_look=50, slo_objective=0.95,
                     rollback_on_burn_rate=False)
SMALL = AnalysisConfig(min_samples=200, max_samples=1000)


@pytest.fixture(scope="module", autouse=True)
def failing_models():
    """``fugue_deployment_models:make``: the sensor model failing with probability
    ``params["fail"]`` (drawn from the run's stream), and always for a negative reading."""
    root = tempfile.mkdtemp(prefix="fugue-deployment-models-")
    with open(os.path.join(root, f"{MODELS}.py"), "w", encoding="utf-8") as fh:
        fh.write(textwrap.dedent("""
            import fugue_ppl as fp
            from fugue_ppl.models import sensor

            def make(params):
                rate = params["fail"]

                def model(reading):
                    if reading < 0.0 or fp.sample("fail", fp.Bernoulli(rate)):
                        raise RuntimeError("sensor fault")
                    return sensor(reading)
                return model
            """))
    sys.path.insert(0, root)
    yield
    sys.path.remove(root)
    sys.modules.pop(MODELS, None)


@pytest.fixture(autouse=True)
def _quiet_runner_logs():
    logging.getLogger("fugue_ppl.serving").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("fugue_ppl.serving").setLevel(logging.NOTSET)


def registry(backend, url=None):
    return backend.registry(url, allowed_prefixes=("fugue_ppl.models", MODELS))


def sensor_registry(backend, fail_base=0.01, fail_candidate=0.01):
    reg = registry(backend)
    reg.register("sensor", "1", FAILING, factory=True, params={"fail": fail_base},
                 actor="ci", status="live")
    reg.register("sensor", "2", FAILING, factory=True, params={"fail": fail_candidate},
                 actor="ci")
    return reg


_KEYS = {}


def traffic(dep, n, reading=22.0):
    """``n`` keyed requests through the deployment's current router; the versions served."""
    start = _KEYS.get(id(dep), 0)
    _KEYS[id(dep)] = start + n
    served = {}
    for k in range(start, start + n):
        router = dep.router
        try:
            v = router.infer(reading, key=f"user-{k}").model_version
        except RuntimeError:
            v = router.route(f"user-{k}")
        served[v] = served.get(v, 0) + 1
    return served


def drive(dep, clock, *, per_look=500, max_looks=100):
    """Traffic, time, refresh() until the rollout ends; the weights seen."""
    seen = [dict(dep.router.weights)]
    for _ in range(max_looks):
        traffic(dep, per_look)
        clock.advance(10.0)
        dep.refresh()
        if dict(dep.router.weights) != seen[-1]:
            seen.append(dict(dep.router.weights))
        if dep.rollout() is None:
            return seen
    raise AssertionError(f"still {dep.rollout().state} after {max_looks} looks")


def statuses(reg):
    return {v.version: v.status for v in reg.list("sensor")}


# ---------------------------------------------------------------- following the registry


def test_a_registered_then_promoted_version_is_picked_up_by_refresh(backend):
    reg = registry(backend)
    reg.register("sensor", "1", SENSOR, actor="ci", status="live")
    with ModelDeployment(reg, "sensor", rng=3) as dep:
        with pytest.raises(UnknownModel, match="model 'sensor' has no live version"):
            dep.router     # noqa: B018 - nothing read yet
        dep.refresh()
        first = dep.router
        assert (dep.live_version, [v.version for v in dep.versions()]) == ("1", ["1"])
        assert traffic(dep, 20) == {"1": 20}
        other = registry(backend, backend.url)          # (another process registers)
        v2 = other.register("sensor", "2", SENSOR, actor="ci")
        dep.refresh()
        assert dep.router is not first                  # (a new set of versions: a new router)
        assert dict(dep.router.weights) == {"1": 1.0, "2": 0.0}
        assert dep.runner("1") is first.runners["1"]    # (the same runner, kept)
        assert [(v.version, v.status) for v in dep.versions()] == [("1", "live"),
                                                                   ("2", "staged")]
        other.promote("sensor", "2", expected_revision=v2.revision, actor="ci")
        router = dep.router
        dep.refresh()
        assert dep.router is router                     # (same versions: weights only)
        assert dep.live_version == "2"
        assert dict(dep.router.weights) == {"2": 1.0, "1": 0.0}
        assert [(v.version, v.status) for v in dep.versions()] == [("2", "live"),
                                                                   ("1", "standby")]
        assert traffic(dep, 20) == {"2": 20}
        assert dep.router.infer(22.0).model_version == "2"
        assert dep.runner("2").version == "2" and dep.runner("2").config.model.name == "sensor"


def test_retired_versions_are_dropped_and_their_runners_closed(backend):
    import asyncio

    reg = registry(backend)
    reg.register("sensor", "1", SENSOR, actor="ci", status="live")
    v2 = reg.register("sensor", "2", SENSOR, actor="ci")
    with ModelDeployment(reg, "sensor") as dep:
        dep.refresh()
        old = dep.runner("2")
        reg.set_status("sensor", "2", "retired", expected_revision=v2.revision, actor="ci")
        dep.refresh()
        assert [v.version for v in dep.versions()] == ["1"]
        assert list(dep.router.runners) == ["1"]
        with pytest.raises(UnknownVersion, match=r"serves no version '2' \(served: 1\)"):
            dep.runner("2")
        # (a request that read the old router still runs until the next refresh)
        assert asyncio.run(old.infer_async(22.0)).status == "ok"
        dep.refresh()
        with pytest.raises(RuntimeError):
            asyncio.run(old.infer_async(22.0))
        assert old.infer(22.0).status == "ok"          # (closing stops the workers only)


def test_a_version_that_does_not_load_is_left_out_and_logged_once(backend, caplog):
    reg = registry(backend)
    reg.register("sensor", "1", SENSOR, actor="ci", status="live")
    reg.register("sensor", "2", "fugue_ppl.models:no_such_model", actor="ci")
    with ModelDeployment(reg, "sensor") as dep, caplog.at_level(logging.ERROR,
                                                                logger="fugue_ppl.deploy"):
        dep.refresh()
        dep.refresh()
        assert [v.version for v in dep.versions()] == ["1"]
        assert traffic(dep, 5) == {"1": 5}
        errors = [r.getMessage() for r in caplog.records]
        assert len(errors) == 1
        assert "version 2 does not load and is not served" in errors[0]
        assert "has no 'no_such_model'" in errors[0]


def test_a_store_that_is_down_keeps_the_last_routing(backend, caplog):
    reg = sensor_registry(backend)
    clock = fp.ManualClock()
    with ModelDeployment(reg, "sensor", clock=clock, rng=1) as dep:
        start_rollout(reg, "sensor", "2", "canary", actor="ci", config=FAST, analysis=SMALL,
                      clock=clock, metrics=["errors"])
        dep.refresh()
        router = dep.router
        assert dict(router.weights) == {"1": 0.8, "2": 0.2}
        traffic(dep, 100)
        clock.advance(10.0)
        with caplog.at_level(logging.INFO, logger="fugue_ppl.deploy"):
            with backend.outage():
                dep.refresh()               # (the step's write fails: nothing raised)
                dep.refresh()
                assert dep.router is router and dict(router.weights) == {"1": 0.8, "2": 0.2}
                assert sum(traffic(dep, 50).values()) == 50
            warned = [r for r in caplog.records if r.levelno == logging.WARNING
                      and r.name == "fugue_ppl.deploy"]
            assert len(warned) == 1 and "the registry is unavailable" in warned[0].getMessage()
            dep.refresh()
        mine = [r.getMessage() for r in caplog.records if r.name == "fugue_ppl.deploy"]
        assert "the registry is reachable again" in mine[-1]
        assert backend.password not in caplog.text
        ro = dep.rollout()              # (the counts gathered meanwhile reached the rollout)
        assert ro.state == "canary" and sum(ro.data["tests"]["errors"]["data"]["n"]) == 150


# ---------------------------------------------------------------- rollouts started elsewhere


def test_a_canary_started_by_another_process_is_resumed_and_stepped(backend):
    reg = sensor_registry(backend, 0.01, 0.01)
    clock = fp.ManualClock()
    with ModelDeployment(reg, "sensor", clock=clock, rng=1) as dep:
        dep.refresh()
        assert dict(dep.router.weights) == {"1": 1.0, "2": 0.0}
        admin = registry(backend, backend.url)         # (the command line, say)
        ro = start_rollout(admin, "sensor", "2", "canary", actor="alice", config=FAST,
                           analysis=SMALL, clock=clock, metrics=["errors"])
        assert (ro.state, ro.actor, ro.to_dict()["settings"]["options"]) == (
            "canary", "alice", {"metrics": ["errors"]})
        dep.refresh()
        assert dep.rollout().id == ro.id
        assert dict(dep.router.weights) == {"1": 0.8, "2": 0.2}
        seen = drive(dep, clock)
        assert seen == [{"1": 0.8, "2": 0.2}, {"1": 0.5, "2": 0.5}, {"1": 0.0, "2": 1.0}]
        assert (dep.live_version, dep.rollout()) == ("2", None)
        assert statuses(admin) == {"1": "standby", "2": "live"}
        events = admin.rollout_events(ro.id)
        assert [e.action for e in events] == ["start", "step", "promote"]
        assert [e.actor for e in events] == ["alice", "rollout:canary", "rollout:canary"]
        assert set(events[1].details["decisions"]) == {"errors"}       # (its option)
        assert traffic(dep, 10) == {"2": 10}


def test_two_replicas_drive_one_canary_that_rolls_back_a_worse_candidate(backend):
    reg = sensor_registry(backend, 0.01, 0.08)
    clock = fp.ManualClock()
    replicas = [ModelDeployment(reg, "sensor", clock=clock, rng=1),
                ModelDeployment(registry(backend, backend.url), "sensor", clock=clock, rng=2)]
    try:
        rid = start_rollout(reg, "sensor", "2", "canary", actor="ci", config=FAST,
                            analysis=SMALL, clock=clock, metrics=["errors"]).id
        for dep in replicas:
            dep.refresh()
        for _ in range(40):
            for dep in replicas:
                traffic(dep, 250)
            clock.advance(10.0)
            for dep in replicas:
                dep.refresh()
            if reg.rollout(rid).state != "canary":
                break
        assert reg.rollout(rid).state == "rolled_back"
        for dep in replicas:
            dep.refresh()
            assert (dep.live_version, dep.rollout()) == ("1", None)
            assert [v.version for v in dep.versions()] == ["1"]      # (2 retired: dropped)
        events = reg.rollout_events(rid)
        assert [e.action for e in events][-1] == "rollback"
        assert events[-1].details["trigger"] == "analysis"
        # every replica's counts went into the one analysis
        assert events[-1].details["decisions"]["errors"]["n_candidate"] >= 200
        assert statuses(reg) == {"1": "live", "2": "retired"}
    finally:
        for dep in replicas:
            dep.close()


def test_an_immediate_switch_runs_its_recorded_smoke_run(backend):
    reg = registry(backend)
    reg.register("sensor", "1", SENSOR, actor="ci", status="live")
    reg.register("sensor", "2", SENSOR, actor="ci")
    with ModelDeployment(reg, "sensor") as dep:
        ro = start_rollout(reg, "sensor", "2", "immediate", actor="ci", smoke_args=[22.0])
        dep.refresh()
        assert (dep.live_version, dep.rollout()) == ("2", None)
        assert dict(dep.router.weights) == {"2": 1.0, "1": 0.0}
        switch = reg.rollout_events(ro.id)[-1]
        assert (switch.action, switch.details["smoke"]["ok"]) == ("switch", True)


def test_a_rollout_aborted_elsewhere_gives_the_traffic_back(backend):
    reg = sensor_registry(backend)
    clock = fp.ManualClock()
    with ModelDeployment(reg, "sensor", clock=clock) as dep:
        ro = dep.start_rollout("2", "shadow", actor="ci")
        assert dep.router.shadow is not None and dep.router.shadow.version == "2"
        assert reg.get("sensor", "2", cached=False).status == "shadow"
        done = abort_rollout(registry(backend, backend.url), "sensor", actor="bob")
        assert (done.id, done.state, done.active) == (ro.id, "aborted", False)
        dep.refresh()
        assert (dep.rollout(), dep.router.shadow) == (None, None)
        assert dict(dep.router.weights) == {"1": 1.0}
        events = reg.rollout_events(ro.id)
        assert [(e.action, e.actor) for e in events] == [("start", "ci"), ("abort", "bob")]
        with pytest.raises(UnknownRollout, match="model 'sensor' has no active rollout"):
            abort_rollout(reg, "sensor", actor="bob")
        with pytest.raises(RegistryConflict, match=f"rollout {ro.id} of sensor is over"):
            abort_rollout(reg, ro.id, actor="bob")


def test_the_router_swap_is_atomic_under_concurrent_requests(backend):
    reg = registry(backend)
    reg.register("sensor", "1", SENSOR, actor="ci", status="live")
    dep = ModelDeployment(reg, "sensor", runner_config=RunnerConfig(
        runtime=RuntimeConfig(max_inference_time=5.0)))
    dep.refresh()
    stop = threading.Event()
    results, errors = [], []

    def client(k):
        n = 0
        while not stop.is_set():
            try:
                router = dep.router
                res = router.infer(22.0, key=f"client-{k}-{n}")
                results.append((res.status, res.model_version, tuple(router.runners)))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
            n += 1
    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        for k in range(2, 8):           # register, refresh, promote, refresh, retire the old
            v = reg.register("sensor", str(k), SENSOR, actor="ci")
            dep.refresh()
            reg.promote("sensor", str(k), expected_revision=v.revision, actor="ci")
            dep.refresh()
            old = reg.get("sensor", str(k - 1), cached=False)
            reg.set_status("sensor", str(k - 1), "retired", expected_revision=old.revision,
                           actor="ci")
            dep.refresh()
    finally:
        stop.set()
        for t in threads:
            t.join()
        dep.close()
    assert errors == []
    assert len(results) > 100
    assert {status for status, _, _ in results} == {"ok"}
    # each result comes from a version of the router the request read
    assert all(version in runners for _, version, runners in results)
    assert {version for _, version, _ in results} <= {str(k) for k in range(1, 8)}
    assert dep.live_version == "7"


# ---------------------------------------------------------------- bad input


def test_bad_rollout_starts_are_refused_and_record_nothing(backend):
    reg = sensor_registry(backend)
    with pytest.raises(InvalidArgument, match="strategy") as info:
        start_rollout(reg, "sensor", "2", "linear", actor="ci")
    assert "must be one of immediate, blue-green, canary, rolling, ab, shadow" in str(
        info.value)
    with pytest.raises(TypeError, match="strategy must be a str"):
        start_rollout(reg, "sensor", "2", 3, actor="ci")
    with pytest.raises(UnknownVersion, match="model 'sensor' has no version '9'"):
        start_rollout(reg, "sensor", "9", "canary", actor="ci")
    with pytest.raises(UnknownModel, match="'nope'"):
        start_rollout(reg, "nope", "2", "canary", actor="ci")
    with pytest.raises(InvalidArgument, match="must differ from the baseline"):
        start_rollout(reg, "sensor", "1", "canary", actor="ci")
    with pytest.raises(InvalidArgument, match="smoke_args.*must be JSON values"):
        start_rollout(reg, "sensor", "2", "immediate", actor="ci", smoke_args=(object(),))
    with pytest.raises(InvalidArgument, match="metrics"):
        start_rollout(reg, "sensor", "2", "canary", actor="ci", metrics=["throughput"])
    with pytest.raises(TypeError, match="unknown option 'steps'"):
        start_rollout(reg, "sensor", "2", "canary", actor="ci", steps=[0.5, 1.0])
    with pytest.raises(InvalidArgument, match="actor"):
        start_rollout(reg, "sensor", "2", "canary", actor="")
    assert reg.rollouts("sensor") == []
    assert statuses(reg) == {"1": "live", "2": "staged"}


def test_bad_deployment_arguments(tmp_path):
    from fugue_ppl.deploy import ModelRegistry

    with pytest.raises(TypeError, match="registry must be a ModelRegistry"):
        ModelDeployment(None, "sensor")
    with ModelRegistry(url=str(tmp_path / "r.sqlite3")) as reg:
        with pytest.raises(InvalidArgument, match="name"):
            ModelDeployment(reg, "no spaces")
        with pytest.raises(TypeError, match="clock must be callable"):
            ModelDeployment(reg, "sensor", clock=3)
        with pytest.raises(TypeError, match="runner_config must be a RunnerConfig"):
            ModelDeployment(reg, "sensor", runner_config={"runtime": {}})
        with pytest.raises(InvalidArgument, match="replica_id"):
            ModelDeployment(reg, "sensor", replica_id=-1)
        dep = ModelDeployment(reg, "sensor")
        dep.refresh()           # (nothing registered: nothing served, nothing raised)
        assert (dep.versions(), dep.live_version, dep.rollout()) == ([], None, None)
        with pytest.raises(UnknownModel, match="no live version"):
            dep.router      # noqa: B018
        dep.close()
        dep.close()


def test_the_docstring_example_runs():
    result = doctest.testmod(deployment_module, verbose=False, report=False)
    assert result.failed == 0 and result.attempted >= 1
