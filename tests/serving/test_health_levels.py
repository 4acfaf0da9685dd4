"""Health levels: the checks grouped into system, model, inference and resource
levels, each level's exact score, thresholds and alert, the weighted score of the
levels, the resource checks (fake, real and forced process figures), and the
levels in health+json.

Scores are compared with closed forms in exact fractions.
"""

import os
import re
import subprocess
import sys
import threading
from fractions import Fraction

import pytest

import fugue_ppl as fp
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.models import sensor
from fugue_ppl.serving.health import (
    BUILTIN_CHECKS,
    BUILTIN_LEVELS,
    DEFAULT_LEVEL_WEIGHTS,
    DEFAULT_WEIGHTS,
    LEVELS,
    CheckResult,
    HealthChecker,
    HealthReport,
    HealthSettings,
    HealthStatus,
    LevelResult,
    ProcessFigures,
    ProcessReader,
)

H, D, U = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY
WALL = 1_700_000_000.0
HV = {H: Fraction(1), D: Fraction(1, 2), U: Fraction(0)}


def _checker(runner=None, **kw):
    if runner is None:
        runner = fp.ModelRunner(sensor, rng=7, fallback=0.0)
    kw.setdefault("clock", fp.ManualClock(1000.0))
    kw.setdefault("wall_clock", lambda: WALL)
    kw.setdefault("smoke_args", (22.0,))
    kw.setdefault("warmup", 0)
    return HealthChecker(runner, **kw)


def _fixed(status, **kw):
    return lambda: CheckResult(status, **kw)


def _closed_form(checks, level_weights):
    """(score, {level: score}, {name: share}) of ``checks`` = [(name, level, weight,
    status)], in exact fractions."""
    levels = {}
    for name, level, w, status in checks:
        levels.setdefault(level, []).append((name, Fraction(w), HV[status]))
    level_scores, shares = {}, {}
    present = [lv for lv in LEVELS if lv in levels]
    lw = {lv: Fraction(level_weights[lv]) for lv in present}
    lw_total = sum(lw.values())
    for lv in present:
        total = sum(w for _, w, _ in levels[lv])
        level_scores[lv] = sum(w * h for _, w, h in levels[lv]) / total
        for name, w, _ in levels[lv]:
            shares[name] = w / total * lw[lv] / lw_total
    score = sum(lw[lv] * level_scores[lv] for lv in present) / lw_total
    return score, level_scores, shares


# ---------------------------------------------------------------- scores


def test_each_level_score_and_the_score_against_the_closed_form():
    checks = [("a", "system", 3, H), ("b", "system", 1, U), ("c", "model", 1, D),
              ("d", "inference", 2, H), ("e", "inference", 5, D), ("f", "inference", 1, U),
              ("g", "resource", 1, H)]
    level_weights = {"system": 5, "model": 3, "inference": 1, "resource": 2}
    c = _checker(builtin_checks=(), level_weights=level_weights)
    for name, level, w, status in checks:
        c.register(name, _fixed(status), weight=w, level=level)
    r = c.check()
    score, level_scores, shares = _closed_form(checks, level_weights)
    assert r.score == float(score)
    assert list(r.levels) == list(LEVELS)
    for lv, s in level_scores.items():
        assert r.levels[lv].score == float(s)
        assert r.levels[lv].weight == float(Fraction(level_weights[lv], 11))
    assert {x.name: x.weight for x in r.checks} == {k: float(v) for k, v in shares.items()}
    assert c.weights == {k: float(v) for k, v in shares.items()}
    assert sum(shares.values()) == 1
    assert r.levels["inference"].checks == ("d", "e", "f")
    assert {x.name: x.level for x in r.checks} == {n: lv for n, lv, _, _ in checks}


def test_levels_without_checks_do_not_count_and_zero_weights_count_the_same():
    c = _checker(builtin_checks=(), level_weights={"model": 0, "inference": 0})
    c.register("m", _fixed(U), level="model")
    c.register("i", _fixed(H), level="inference", weight=0)
    c.register("j", _fixed(D), level="inference", weight=0)
    r = c.check()
    assert set(r.levels) == {"model", "inference"}
    assert r.levels["inference"].score == 0.75          # all zero: each check the same
    assert r.score == float((Fraction(0) + Fraction(3, 4)) / 2)
    assert _checker(builtin_checks=()).check().levels == {}


def _builtin_like(**statuses):
    """A checker with stand-ins for the built-in checks (their default weights and
    levels), the named ones given these statuses."""
    c = _checker(builtin_checks=())
    for name in BUILTIN_CHECKS:
        c.register(name, _fixed(statuses.get(name, H)), weight=DEFAULT_WEIGHTS[name],
                   level=BUILTIN_LEVELS[name])
    return c.check()


@pytest.mark.parametrize("statuses, score, status", [
    ({}, Fraction(1), H),
    ({"model_execution": U}, Fraction(16, 22), U),
    ({"breaker": U}, Fraction(16, 22), U),
    ({"error_rate": U}, Fraction(18, 22), D),
    ({"error_rate": U, "breaker": D}, Fraction(15, 22), U),
    ({"error_rate": D, "breaker": D}, Fraction(17, 22), D),
    ({"latency": D}, Fraction(21, 22), D),
    ({"pool": D}, Fraction(43, 44), H),
    ({"monitor_alarms": D}, Fraction(43, 44), H),
    ({"pool": D, "monitor_alarms": D}, Fraction(42, 44), D),
    ({"memory": D}, 1 - Fraction(2, 22) * Fraction(1, 6), H),
    ({"open_fds": U}, 1 - Fraction(2, 22) * Fraction(1, 3), H),
    ({"cpu": U, "memory": U, "open_fds": U}, Fraction(20, 22), D),
])
def test_default_level_weights_give_the_documented_scores(statuses, score, status):
    r = _builtin_like(**statuses)
    expected, _, _ = _closed_form(
        [(n, BUILTIN_LEVELS[n], DEFAULT_WEIGHTS[n], statuses.get(n, H)) for n in BUILTIN_CHECKS],
        DEFAULT_LEVEL_WEIGHTS)
    assert expected == score
    assert (r.score, r.status) == (float(score), status)


def test_all_levels_healthy_keep_the_score_and_status():
    r = _builtin_like()
    assert (r.score, r.status, r.alerts) == (1.0, H, ())
    assert all(lv.status is H and lv.score == 1.0 for lv in r.levels.values())


# ---------------------------------------------------------------- thresholds and alerts


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("healthy, degraded, status", [
    (0.75, 0.5, H),        # on the healthy threshold: healthy
    (0.76, 0.75, D),       # on the degraded threshold: degraded
    (0.8, 0.76, U),
])
def test_level_thresholds_on_their_boundary(level, healthy, degraded, status):
    # the level's score is exactly 0.75 = (0.1 * 1 + 0.1 * 1/2) / 0.2
    c = _checker(builtin_checks=(), **{f"{level}_healthy": healthy,
                                       f"{level}_degraded": degraded})
    c.register("a", _fixed(H), weight=0.1, level=level)
    c.register("b", _fixed(D, output="half"), weight=0.1, level=level)
    r = c.check()
    lv = r.levels[level]
    assert (lv.score, lv.status) == (0.75, status)
    assert (lv.healthy_threshold, lv.degraded_threshold) == (healthy, degraded)
    assert lv.alert is (status is not H)
    if status is H:
        assert r.alerts == ()
    else:
        assert r.alerts == (f"{level} level {status.value} (score 0.750, below "
                            f"{level}_healthy={healthy:g}): b degraded: half",)
    assert HealthSettings(**{f"{level}_healthy": healthy, f"{level}_degraded": degraded}
                          ).level_status_for(level, 0.75) is status


def test_a_level_alert_while_the_service_is_healthy():
    r = _builtin_like(pool=D)
    assert r.status is H and r.levels["system"].status is D
    assert r.levels["model"].status is H and r.levels["inference"].status is H
    assert len(r.alerts) == 1 and r.alerts[0].startswith("system level degraded (score 0.929")


def test_level_status_for_refuses_unknown_levels():
    with pytest.raises(ValueError, match="unknown level 'modle'"):
        HealthSettings().level_status_for("modle", 1.0)
    with pytest.raises(TypeError, match="score must be a number"):
        HealthSettings().level_status_for("model", "1")


# ---------------------------------------------------------------- settings and register


@pytest.mark.parametrize("kwargs, field, match", [
    ({"level_weights": {"modle": 1}}, "level_weights",
     "level_weights key must be a level's name (did you mean 'model'?), got 'modle'"),
    ({"level_weights": {"zzz": 1}}, "level_weights",
     "level_weights key must be a level's name (system, model, inference, resource)"),
    ({"level_weights": {"model": -1}}, "level_weights",
     "level_weights['model'] must be finite and >= 0, got -1"),
    ({"model_healthy": 1.5}, "model_healthy", "model_healthy must be"),
    ({"inference_degraded": 0.97}, "inference_degraded",
     "inference_degraded must be below inference_healthy"),
    ({"resource_degraded": 0.5, "resource_healthy": 0.5}, "resource_degraded",
     "resource_degraded must be below resource_healthy"),
    ({"system_healthy": -0.1}, "system_healthy", "system_healthy must be"),
    ({"fds_degraded": 0.96}, "fds_degraded", "fds_degraded must be below fds_unhealthy"),
    ({"fds_unhealthy": 2}, "fds_unhealthy", "fds_unhealthy must be"),
    ({"max_resident_memory": -1}, "max_resident_memory", "max_resident_memory must be"),
    ({"max_cpu_utilization": 0}, "max_cpu_utilization", "max_cpu_utilization must be"),
])
def test_bad_level_and_resource_settings_are_refused_naming_the_setting(kwargs, field, match):
    with pytest.raises(InvalidArgument, match=re.escape(match)) as e:
        HealthSettings(**kwargs)
    assert e.value.field == field and field in str(e.value)


def test_level_settings_types_and_replace():
    with pytest.raises(TypeError, match="level_weights must be a mapping of level name"):
        HealthSettings(level_weights=[("model", 1)])
    s = HealthSettings(level_weights={"model": 2})
    assert dict(s.level_weights) == {**DEFAULT_LEVEL_WEIGHTS, "model": 2.0}
    assert s.replace(level_weights={"system": 1}).level_weights == {
        **DEFAULT_LEVEL_WEIGHTS, "model": 2.0, "system": 1.0}
    assert s.to_dict()["level_weights"] == {**DEFAULT_LEVEL_WEIGHTS, "model": 2.0}


def test_config_sets_level_settings():
    from fugue_ppl.config import load_config
    cfg = load_config(env={"FUGUE_HEALTH__MODEL_HEALTHY": "0.9",
                           "FUGUE_HEALTH__LEVEL_WEIGHTS__RESOURCE": "3",
                           "FUGUE_HEALTH__MAX_RESIDENT_MEMORY": "1e9"})
    s = HealthSettings.from_config(cfg)
    assert s.model_healthy == 0.9 and s.level_weights["resource"] == 3.0
    assert s.max_resident_memory == 1e9


def test_register_takes_a_level():
    c = _checker()
    assert c.levels == dict(BUILTIN_LEVELS)
    c.register("db", _fixed(H))
    c.register("gpu", _fixed(H), level="resource")
    assert c.levels["db"] == "system" and c.levels["gpu"] == "resource"
    r = c.check()
    assert r.levels["system"].checks == ("pool", "breaker", "db")
    assert r.levels["resource"].checks == ("cpu", "memory", "open_fds", "gpu")
    with pytest.raises(ValueError, match="unknown level 'modle'.*did you mean 'model'"):
        c.register("x", _fixed(H), level="modle")
    with pytest.raises(TypeError, match="level must be a str, got int"):
        c.register("x", _fixed(H), level=1)
    assert "x" not in c.checks


# ---------------------------------------------------------------- resource checks


class FakeReader:
    def __init__(self, **figures):
        self.figures = ProcessFigures(**figures)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.figures


def _resources(reader, **kw):
    c = _checker(builtin_checks=("cpu", "memory", "open_fds"), process_reader=reader,
                 window=10, **kw)
    return c


@pytest.mark.parametrize("open_fds, status", [
    (800, H), (801, D), (950, D), (951, U), (1000, U),
])
def test_open_fds_against_the_limit_on_the_boundaries(open_fds, status):
    r = _resources(FakeReader(open_fds=open_fds, max_fds=1000)).check()
    check = r.check("open_fds")
    assert check.status is status and check.observed_value == open_fds
    assert check.key == "process:openFileDescriptors" and check.level == "resource"
    assert r.levels["resource"].score == float((2 + HV[status]) / 3)


@pytest.mark.parametrize("rss, limit, status", [
    (2.0**30, None, H), (2.0**30, 2.0**30, H), (2.0**30 + 1, 2.0**30, D),
])
def test_resident_memory_against_its_maximum(rss, limit, status):
    check = _resources(FakeReader(resident_memory=rss),
                       max_resident_memory=limit).check().check("memory")
    assert check.status is status and check.observed_value == rss
    assert ("not judged" in check.output) is (limit is None)


@pytest.mark.parametrize("limit, status", [(None, H), (0.5, H), (0.49, D)])
def test_cpu_utilisation_over_the_window(limit, status):
    reader = FakeReader(cpu_seconds=1.0)
    clock = fp.ManualClock(1000.0)
    c = _resources(reader, clock=clock, max_cpu_utilization=limit)
    first = c.check().check("cpu")
    assert first.status is H and "empty window" in first.output
    reader.figures = ProcessFigures(cpu_seconds=6.0)
    clock.advance(10)
    check = c.check().check("cpu")
    assert check.status is status and check.observed_value == 0.5
    assert check.key == "process:cpuUtilization"


def test_no_figures_are_healthy_not_measured():
    for reader in (FakeReader(), ProcessReader(proc="/nonexistent/proc")):
        r = _resources(reader).check()
        assert [x.status for x in r.checks] == [H, H, H]
        assert all("not measured" in x.output for x in r.checks)
        assert r.levels["resource"].status is H
    no_limit = _resources(FakeReader(open_fds=5)).check().check("open_fds")
    assert no_limit.status is H and "no limit known" in no_limit.output


def test_a_broken_reader_gives_no_figures(caplog):
    def broken():
        raise OSError("no /proc")

    r = _resources(broken).check()
    assert all(x.status is H and "not measured" in x.output for x in r.checks)
    assert any("process reader raised OSError" in m for m in caplog.messages)
    r = _resources(lambda: {"rss": 1}).check()
    assert all("not measured" in x.output for x in r.checks)


def test_process_reader_gives_the_figures_of_prometheus_client():
    pytest.importorskip("prometheus_client")
    figures = ProcessReader()()
    if not os.path.isdir("/proc/self"):
        assert figures == ProcessFigures()
        return
    assert figures.resident_memory > 0 and figures.cpu_seconds > 0
    assert figures.max_fds > 0 and 3 <= figures.open_fds <= figures.max_fds
    r = _checker().check()                       # the real reader in a checker
    assert r.check("memory").observed_value > 0 and r.check("open_fds").status is H


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_process_with_high_memory_and_fds_shows_degraded_and_unhealthy():
    child = subprocess.Popen([sys.executable, "-c", (
        "import os, resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "block = b'x' * (64 * 2**20)\n"
        "files = []\n"
        "while len(os.listdir('/proc/self/fd')) < 62:\n"
        "    files.append(open(os.devnull))\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        reader = ProcessReader(pid=lambda: child.pid)
        figures = reader()
        assert figures.max_fds == 64 and figures.open_fds >= 61
        assert figures.resident_memory >= 64 * 2**20
        r = _resources(reader, max_resident_memory=32 * 2**20).check()
        assert r.check("memory").status is D and r.check("open_fds").status is U
        assert r.levels["resource"].status is D and r.alerts
        r = _resources(reader, fds_unhealthy=0.99).check()
        assert r.check("open_fds").status is D and r.check("memory").status is H
    finally:
        child.stdin.close()
        child.wait(timeout=30)


# ---------------------------------------------------------------- health+json


def test_health_json_shows_the_levels_and_keeps_the_existing_keys():
    c = _checker()
    c.register("queue", _fixed(D, output="queue 90% full"), component="queue",
               measurement="utilization")
    r = c.check()
    doc = r.to_health_json()
    assert {"status", "checks", "time", "score", "forecast", "trend", "warning", "version",
            "serviceId", "description"} <= set(doc)
    assert r.status is H and "output" not in doc          # the system level's alert alone
    assert list(doc["levels"]) == list(LEVELS)
    system = doc["levels"]["system"]
    assert system == {
        "status": "warn", "score": r.levels["system"].score,
        "weight": float(Fraction(7, 22)),
        "thresholds": {"healthy": 0.96, "degraded": 0.5},
        "checks": ["tracePool:hitRatio", "circuitBreaker:state", "queue:utilization"],
        "output": "queue degraded: queue 90% full"}
    assert r.levels["system"].score == float(Fraction(7 + Fraction(1, 2), 8))
    assert doc["levels"]["model"]["checks"] == ["model:execution"]
    assert doc["levels"]["inference"]["checks"] == [
        "model:errorRate", "model:responseTime", "monitors:alarms"]
    assert doc["levels"]["resource"]["checks"] == [
        "process:cpuUtilization", "process:residentMemory", "process:openFileDescriptors"]
    assert all("output" not in v for k, v in doc["levels"].items() if k != "system")
    assert doc["alerts"] == list(r.alerts) and len(r.alerts) == 1
    # every check key is in exactly one level
    keys = [k for v in doc["levels"].values() for k in v["checks"]]
    assert sorted(keys) == sorted(doc["checks"])
    assert r.to_json()


def test_probes_have_no_levels():
    c = _checker()
    for r in (c.liveness(), c.readiness()):
        doc = r.to_health_json()
        assert r.levels == {} and r.alerts == () and "levels" not in doc


def test_report_and_level_result_checks():
    lv = LevelResult("model", D, 0.5, 1.0, ["m"], 0.96, 0.5, "m degraded", ["model:execution"])
    assert lv.checks == ("m",) and lv.to_health_json()["output"] == "m degraded"
    r = HealthReport(D, 0.5, "x", levels={"model": lv}, alerts=["a"])
    assert r.alerts == ("a",) and r.levels["model"] is lv
    assert r.to_health_json()["levels"]["model"]["status"] == "warn"
    with pytest.raises(TypeError, match=r"levels\['model'\] must be a LevelResult"):
        HealthReport(D, 0.5, "x", levels={"model": 0.5})


# ---------------------------------------------------------------- threads


def test_concurrent_checks_give_consistent_levels():
    c = _checker(builtin_checks=())
    for i, lv in enumerate(LEVELS):
        c.register(f"c{i}", _fixed(D if i % 2 else H), weight=i + 1, level=lv)
    expected = c.check()
    reports, errors = [], []

    def worker():
        try:
            for _ in range(50):
                reports.append(c.check())
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(reports) == 400
    for r in reports:
        assert r.score == expected.score and dict(r.levels) == dict(expected.levels)
        assert r.alerts == expected.alerts
