"""``fugue-ppl rollout``: the real command (``cli.main`` in process, and once as the
installed ``fugue-ppl`` script) against a real SQLite registry (and once PostgreSQL,
for the URL's password), with a real replica (a ModelDeployment) driving what the
command starts: output values, exit statuses and the message of each refusal."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from fugue_ppl import cli
from fugue_ppl.deploy import ModelDeployment, ModelRegistry, abort_rollout

SENSOR = "fugue_ppl.models:sensor"
# Small plans, so a canary runs in a fraction of a second.
FAST = """
[rollout]
steps = [0.2, 0.5, 1.0]
analysis_interval_seconds = 10
min_samples_per_look = 50
rollback_on_burn_rate = false

[analysis]
min_samples = 200
max_samples = 1000
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("FUGUE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FUGUE_REGISTRY__TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("LOGNAME", "carol")


@pytest.fixture
def url(tmp_path):
    path = str(tmp_path / "models.sqlite3")
    with ModelRegistry(url=path) as reg:
        reg.register("sensor", "1", SENSOR, actor="ci", status="live")
        reg.register("sensor", "2", SENSOR, actor="ci")
    return path


@pytest.fixture
def fast(tmp_path):
    path = tmp_path / "fugue.toml"
    path.write_text(FAST, encoding="utf-8")
    return str(path)


class Cli:
    def __init__(self, capsys, url, password=None):
        self.capsys, self.url, self.password = capsys, url, password

    def __call__(self, *args, status=0):
        code = cli.main(["rollout", *args, "--url", self.url])
        out, err = self.capsys.readouterr()
        assert code == status, (out, err)
        for text in (out, err):
            assert "Traceback" not in text
            assert self.url not in text
            if self.password:
                assert self.password not in text
        return out if status == 0 else err

    def json(self, *args):
        return json.loads(self(*args, "--json"))


@pytest.fixture
def run(capsys, url):
    return Cli(capsys, url)


class Clock:
    """The wall clock's reading at the start, moved by hand (rollouts started by the
    command are timed on the wall clock, which replicas share)."""

    def __init__(self):
        self.t = time.time()

    def __call__(self):
        return self.t


def drive(dep, clock, looks=60):
    for k in range(looks):
        for i in range(500):
            dep.router.infer(22.0, key=f"user-{k}-{i}")
        clock.t += 10.0
        dep.refresh()
        if dep.rollout() is None:
            return
    raise AssertionError("the rollout did not end")


# ---------------------------------------------------------------- what the commands do


def test_a_canary_started_here_is_driven_by_a_replica_and_shown(run, url, fast):
    out = run("start", "sensor", "2", "--strategy", "canary", "--metrics", "errors",
              "--config", fast, "--actor", "alice")
    assert out.splitlines() == [
        "started rollout 1 of sensor: canary of 2 (baseline 1), state canary; steps 20%, "
        "50%, 100%",
        "the replicas serving sensor drive it from their next refresh; watch it with: "
        "fugue-ppl rollout status sensor --watch"]
    doc = run.json("status", "sensor")
    ro = doc["rollout"]
    assert (ro["id"], ro["state"], ro["active"], ro["actor"], ro["candidate"],
            ro["baseline"]) == (1, "canary", True, "alice", "2", "1")
    assert ro["settings"]["rollout"]["steps"] == [0.2, 0.5, 1.0]
    assert ro["settings"]["analysis"]["max_samples"] == 1000
    assert ro["settings"]["options"] == {"metrics": ["errors"]}
    assert doc["weights"] == {"1": 0.8, "2": 0.2}
    assert [e["action"] for e in doc["events"]] == ["start"]
    # a replica (another registry over the same file) drives it to its end
    clock = Clock()
    with ModelRegistry(url=url) as reg, ModelDeployment(reg, "sensor", clock=clock,
                                                        rng=1) as dep:
        dep.refresh()
        assert dict(dep.router.weights) == {"1": 0.8, "2": 0.2}
        drive(dep, clock)
        assert dep.live_version == "2"
    doc = run.json("status", "sensor")
    assert (doc["rollout"]["state"], doc["weights"]) == ("promoted", {"1": 0.0, "2": 1.0})
    assert [e["action"] for e in doc["events"]] == ["start", "step", "promote"]
    looks = doc["looks"]
    assert [(look["action"], look["step"], look["weight"]) for look in looks] == [
        ("step", 0, 0.2), ("promote", 1, 0.5)]
    for look in looks:
        d = look["decisions"]["errors"]
        assert (d["action"], d["reason"]) == ("promote", "max_samples")
        assert d["n_candidate"] >= 1000
    text = run("status", "sensor")
    lines = text.splitlines()
    assert lines[0].startswith("rollout 1 of sensor: canary of 2 (baseline 1), started by "
                               "alice at ")
    assert lines[1].startswith("  state     promoted (over), revision ")
    assert lines[2] == "  weights   1 0%, 2 100%"
    assert "looks" in lines and "events" in lines
    assert any("step      step 1 at 20%, look " in line and ": errors: promote (max_samples"
               in line for line in lines)
    assert any("promote       by rollout:canary: canary -> promoted (step 1, weight 0.5, "
               in line and line.endswith("; 1 -> standby, 2 -> live)") for line in lines)
    # watching a rollout that is over shows it once and says how it ended
    out = run("status", "sensor", "--watch")
    assert out.splitlines()[-1] == "rollout 1 of sensor ended: promoted (weights 1 0%, 2 100%)"


def test_watching_until_an_abort_ends_the_rollout(run, url, capsys):
    run("start", "sensor", "2", "--strategy", "shadow")

    def abort_later():
        time.sleep(0.5)
        with ModelRegistry(url=url) as reg:
            abort_rollout(reg, "sensor", actor="bob")
    t = threading.Thread(target=abort_later)
    t.start()
    try:
        code = cli.main(["rollout", "status", "sensor", "--watch", "--interval", "0.05",
                         "--json", "--url", url])
    finally:
        t.join()
    out, err = capsys.readouterr()
    assert (code, err) == (3, "")
    docs = [json.loads(line) for line in out.splitlines()]
    assert docs[0]["status"]["rollout"]["state"] == "shadowing"
    assert docs[0]["status"]["shadow"] == 0.1
    assert [d["event"]["action"] for d in docs[1:-1]] == ["abort"]
    assert docs[1]["event"]["actor"] == "bob"
    assert docs[-1]["status"]["rollout"]["state"] == "aborted"
    assert docs[-1]["status"]["weights"] == {"1": 1.0, "2": 0.0}


def test_abort_by_model_and_by_id(run, url):
    run("start", "sensor", "2", "--strategy", "ab", "--ab-metric", "latency")
    doc = run.json("status", "--id", "1")
    assert (doc["rollout"]["strategy"], doc["weights"]) == ("ab_test", {"1": 0.5, "2": 0.5})
    out = run("abort", "sensor", "--actor", "dave")
    assert out == ("aborted rollout 1 of sensor (ab_test of 2): the replicas give the "
                   "traffic back to 1 at their next refresh\n")
    err = run("abort", "sensor", status=1)
    assert err == "fugue-ppl rollout abort: model 'sensor' has no active rollout\n"
    err = run("abort", "--id", "1", status=1)
    assert err == "fugue-ppl rollout abort: conflict: rollout 1 of sensor is over (aborted)\n"
    with ModelRegistry(url=url) as reg:
        assert reg.get("sensor", "2").status == "retired"
        reg.register("sensor", "3", SENSOR, actor="ci")
    run("start", "sensor", "3", "--strategy", "rolling", "--replicas", "3")
    doc = run.json("abort", "--id", "2")
    assert (doc["rollout"]["id"], doc["rollout"]["state"]) == (2, "aborted")
    assert [(e["action"], e["actor"]) for e in doc["events"]] == [("start", "carol"),
                                                                  ("abort", "carol")]


def test_an_immediate_switch_with_its_smoke_run_and_blue_green(run, url):
    doc = run.json("start", "sensor", "2", "--strategy", "immediate", "--smoke-args", "[22.0]")
    assert doc["rollout"]["settings"]["options"] == {"smoke_args": [22.0],
                                                     "smoke_kwargs": {}}
    assert doc["weights"] == {"1": 1.0, "2": 0.0}
    with ModelRegistry(url=url) as reg, ModelDeployment(reg, "sensor") as dep:
        dep.refresh()
        assert dep.live_version == "2"
    doc = run.json("status", "sensor")
    assert doc["rollout"]["state"] == "promoted"
    assert doc["events"][-1]["details"]["smoke"]["ok"] is True
    out = run("start", "sensor", "1", "--strategy", "blue-green", "--baseline", "2",
              "--smoke-kwargs", '{"reading": 22.0}')
    assert out.startswith("started rollout 2 of sensor: blue_green of 1 (baseline 2)")


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("args, message", [
    (["start", "sensor", "9", "--strategy", "canary"],
     "fugue-ppl rollout start: model 'sensor' has no version '9' (versions: 1, 2)\n"),
    (["start", "nope", "2", "--strategy", "canary"],
     "fugue-ppl rollout start: model 'nope' is not registered\n"),
    (["start", "sensor", "1", "--strategy", "canary"],
     "fugue-ppl rollout start: sensor 1: CANDIDATE must differ from the baseline (1 is "
     "live), got '1'\n"),
    (["start", "sensor", "2", "--strategy", "canary", "--baseline", "7"],
     "fugue-ppl rollout start: model 'sensor' has no version '7' (versions: 1, 2)\n"),
    (["status", "sensor"], "fugue-ppl rollout status: model 'sensor' has no rollout\n"),
    (["status", "nope"], "fugue-ppl rollout status: model 'nope' is not registered\n"),
    (["status", "--id", "4"], "fugue-ppl rollout status: no rollout 4 in the registry\n"),
    (["abort", "sensor"], "fugue-ppl rollout abort: model 'sensor' has no active rollout\n"),
])
def test_refusals_name_what_is_wrong(run, args, message):
    assert run(*args, status=1) == message


def test_a_second_rollout_is_a_conflict_and_a_model_without_live_needs_a_baseline(run, url):
    run("start", "sensor", "2", "--strategy", "canary")
    err = run("start", "sensor", "2", "--strategy", "shadow", status=1)
    assert err == ("fugue-ppl rollout start: conflict: sensor: rollout 1 (canary of 2) is "
                   "active; abort it or wait for its end\n")
    with ModelRegistry(url=url) as reg:
        reg.register("other", "a", SENSOR, actor="ci")
        reg.register("other", "b", SENSOR, actor="ci")
    err = run("start", "other", "b", "--strategy", "canary", status=1)
    assert err == ("fugue-ppl rollout start: other b: --baseline must be given: other has no "
                   "live version, got None\n")


@pytest.mark.parametrize("args, message", [
    (["start", "sensor", "2", "--strategy", "ab", "--metrics", "errors"],
     "fugue-ppl rollout start: --metrics applies to --strategy canary only, not ab\n"),
    (["start", "sensor", "2", "--strategy", "canary", "--smoke-args", "[1]"],
     "fugue-ppl rollout start: --smoke-args applies to --strategy immediate and blue-green "
     "only, not canary\n"),
    (["start", "sensor", "2", "--strategy", "shadow", "--steps", "0.5,1"],
     "fugue-ppl rollout start: --steps applies to --strategy canary only, not shadow\n"),
    (["status"], "fugue-ppl rollout status: name the rollout by MODEL or by --id N (one of "
                 "them)\n"),
    (["abort", "sensor", "--id", "1"],
     "fugue-ppl rollout abort: name the rollout by MODEL or by --id N (one of them)\n"),
])
def test_options_that_do_not_fit_together(run, args, message):
    assert run(*args, status=2) == message


@pytest.mark.parametrize("args, message", [
    (["start", "sensor", "2", "--strategy", "linear"], "argument --strategy: invalid choice: "
                                                       "'linear'"),
    (["start", "sensor", "2"], "the following arguments are required: --strategy"),
    (["start", "sensor", "2", "--strategy", "canary", "--steps", "0.5,0.2"],
     "argument --steps: must increase strictly, got '0.5,0.2'"),
    (["start", "sensor", "2", "--strategy", "canary", "--steps", "0.5,0.9"],
     "argument --steps: must end at 1 (all traffic to the candidate), got '0.5,0.9'"),
    (["start", "sensor", "2", "--strategy", "canary", "--steps", "half,1"],
     "argument --steps: expected fractions or percentages separated by commas"),
    (["start", "sensor", "2", "--strategy", "canary", "--metrics", "throughput"],
     "argument --metrics: expected distinct tests among errors, latency"),
    (["start", "sensor", "2", "--strategy", "immediate", "--smoke-args", '{"a": 1}'],
     "argument --smoke-args: expected a list in JSON"),
    (["start", "sensor", "2", "--strategy", "immediate", "--smoke-args", "[NaN]"],
     "argument --smoke-args: expected a list in JSON"),
    (["start", "sensor", "2", "--strategy", "rolling", "--replicas", "0"],
     "argument --replicas: must be 1 to 10000, got 0"),
    (["start", "sensor", "bad version", "--strategy", "canary"],
     "argument CANDIDATE: must be 1 to 64 ASCII letters"),
    (["status", "sensor", "--watch", "--interval", "0"],
     "argument --interval: must be 0.01 to 3600 seconds"),
    (["status", "--id", "x"], "argument --id: expected a rollout id, got 'x'"),
])
def test_bad_arguments_are_usage_errors(run, capsys, args, message):
    err = run(*args, status=2)
    assert message in err


def test_a_missing_registry_file_is_refused(capsys, tmp_path):
    missing = str(tmp_path / "nowhere.sqlite3")
    code = cli.main(["rollout", "status", "sensor", "--url", missing])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith("fugue-ppl rollout status: no registry at SQLite file ")
    assert not os.path.exists(missing)


def test_the_postgresql_password_is_never_shown(pg_backend, capsys):
    reg = pg_backend.registry()
    reg.register("sensor", "1", SENSOR, actor="ci", status="live")
    reg.register("sensor", "2", SENSOR, actor="ci")
    run = Cli(capsys, pg_backend.url, pg_backend.password)
    run("start", "sensor", "2", "--strategy", "canary")
    assert run.json("status", "sensor")["rollout"]["state"] == "canary"
    run("abort", "sensor")
    with pg_backend.outage():
        err = run("status", "sensor", status=1)
    assert err.startswith("fugue-ppl rollout status: ")
    assert "unavailable" in err


# ---------------------------------------------------------------- the installed command


def test_the_installed_command(url):
    script = os.path.join(os.path.dirname(sys.executable), "fugue-ppl")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUGUE_")}
    env["FUGUE_REGISTRY__URL"] = url
    proc = subprocess.run([script, "rollout", "start", "sensor", "2", "--strategy", "canary",
                           "--steps", "10%,100%", "--actor", "erin"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("started rollout 1 of sensor: canary of 2 (baseline 1), "
                                  "state canary; steps 10%, 100%\n")
    proc = subprocess.run([script, "rollout", "status", "sensor", "--json"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["rollout"]["actor"], doc["weights"]) == ("erin", {"1": 0.9, "2": 0.1})
    proc = subprocess.run([script, "rollout", "abort", "sensor", "--id", "1"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr == ("fugue-ppl rollout abort: name the rollout by MODEL or by --id N "
                           "(one of them)\n")
