"""The rollout part of ``fugue-ppl demo``: a worse version's canary is rolled back by
the sequential analysis, a better one's steps through to all the traffic and is
promoted, the same for the same seed. (Each run is a real registry file, a real
ModelDeployment and real runners on a ManualClock; the seeds below are fixed, so the
outcomes are too: over random seeds, the worse canary (6% failures against 2%) escapes
the analysis with probability far below 1e-6, and the better one is rolled back with
probability below alpha = 0.05 at most.)"""

import json
import logging

import pytest

from fugue_ppl import _demo_rollout, cli


@pytest.fixture(autouse=True)
def _quiet_runner_logs():
    logging.getLogger("fugue_ppl.serving").setLevel(logging.CRITICAL)
    yield
    logging.getLogger("fugue_ppl.serving").setLevel(logging.NOTSET)


def test_a_worse_canary_is_rolled_back_and_a_better_one_promoted():
    r = _demo_rollout.run_rollout_demo(seed=42)
    assert r["settings"]["steps"] == [0.1, 0.25, 0.5, 1.0]
    assert r["versions"] == {"1": {"failure_rate": 0.02}, "2": {"failure_rate": 0.06},
                             "3": {"failure_rate": 0.005}}
    worse, better = r["canaries"]
    assert (worse["kind"], worse["candidate"], worse["baseline"]) == ("worse", "2", "1")
    assert (worse["outcome"], worse["trigger"]) == ("rolled_back", "analysis")
    assert worse["steps_seen"] == [0.1]
    assert [e["action"] for e in worse["events"]] == ["start", "rollback"]
    last = worse["timeline"][-1]
    assert (last["transition"], last["look"]["action"], last["look"]["reason"]) == (
        "rollback", "rollback", "worse")
    assert last["look"]["p_value"] <= last["look"]["alpha"]
    assert last["look"]["estimate"] > 0.0 and last["look"]["n_candidate"] >= 200
    assert worse["statuses"]["2"] == "retired" and worse["live_after"] == "1"

    assert (better["outcome"], better["candidate"]) == ("promoted", "3")
    assert better["steps_seen"] == [0.1, 0.25, 0.5, 1.0]
    assert [e["action"] for e in better["events"]] == ["start", "step", "step", "promote"]
    transitions = [(row["weight"], row["transition"]) for row in better["timeline"]
                   if row["transition"]]
    assert transitions == [(0.1, "step"), (0.25, "step"), (0.5, "promote")]
    for row in better["timeline"]:
        assert row["look"] is None or row["look"]["action"] != "rollback"
    assert better["statuses"] == {"1": "standby", "2": "retired", "3": "live"}
    assert better["live_after"] == "3"
    for c in r["canaries"]:
        for row in c["timeline"]:
            assert sum(row["requests"].values()) == 1000
            assert all(0 <= row["errors"][arm] <= row["requests"][arm]
                       for arm in ("baseline", "candidate"))
            share = row["requests"]["candidate"] / 1000
            assert share == pytest.approx(row["weight"], abs=0.06)    # (keyed routing)
    assert json.loads(json.dumps(r, allow_nan=False)) == r


def test_the_same_seed_gives_the_same_rollouts_and_others_the_same_outcomes():
    first = _demo_rollout.run_rollout_demo(seed=7)
    assert _demo_rollout.run_rollout_demo(seed=7) == first
    for seed in (7, 8, 9):
        r = first if seed == 7 else _demo_rollout.run_rollout_demo(seed=seed)
        assert [(c["outcome"], c["steps_seen"][-1]) for c in r["canaries"]] == [
            ("rolled_back", 0.1), ("promoted", 1.0)]


def test_the_demo_prints_each_look_and_the_outcomes(capsys):
    assert cli.main(["demo", "--runs", "50", "--seed", "42"]) == 0
    out = capsys.readouterr().out
    part = out[out.index("rollouts: canaries driven by a ModelDeployment"):]
    lines = part.splitlines()
    assert "  canary of 2 (worse: fails 6%) against 1 (fails 2%)" in lines
    assert "  canary of 3 (better: fails 0.5%) against 1 (fails 2%)" in lines
    assert any(line.endswith("-> rollback") and "rollback (worse): p(worse) " in line
               for line in lines)
    assert ("    rolled back by the analysis after 2 minutes (steps seen: 10%); now 1 live, "
            "2 retired, 3 staged") in lines
    assert any(line.startswith("    promoted after ") and line.endswith(
        "(steps seen: 10%, 25%, 50%, 100%); now 1 standby, 2 retired, 3 live")
        for line in lines)
    assert sum(1 for line in lines if line.endswith("-> step")) == 2
    assert cli.main(["demo", "--runs", "50", "--seed", "42", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["outcome"] for c in doc["production"]["rollouts"]["canaries"]] == [
        "rolled_back", "promoted"]
