"""The ``fugue-ppl`` command and the built-in models it runs."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats

import fugue_ppl as fp
from fugue_ppl import cli
from fugue_ppl.models import ref20, sensor, sensor_posterior

# The sensor model: temperature ~ Normal(M0, S0); reading ~ Normal(temperature, S).
M0, S0, S = 20.0, 5.0, 1.0
READING = 22.0
EXACT_MEAN = M0 + (READING - M0) * S0**2 / (S0**2 + S**2)  # 21.923076...
EXACT_SD = math.sqrt(1.0 / (1.0 / S0**2 + 1.0 / S**2))


def _npdf(x, m, v):
    return math.exp(-((x - m) ** 2) / (2 * v)) / math.sqrt(2 * math.pi * v)


def _snis_standard_errors(n, reading=READING):
    """Asymptotic standard errors of the demo's self-normalised IS estimates.

    With proposal q = prior N(M0, S0^2) and weight w(t) = N(READING; t, S^2),
    the delta method gives Var(estimate of E[f]) ~= E_q[w^2 (f - E_post f)^2]
    / (n E_q[w]^2). All the moments are Gaussian integrals:

    - E_q[w] = N(READING; M0, S0^2 + S^2);
    - w^2 = N(t; READING, S^2/2) / (2 sqrt(pi) S), and q(t) N(t; READING, S^2/2)
      = N(READING; M0, S0^2 + S^2/2) N(t; m2, v2) with v2 = 1/(1/S0^2 + 2/S^2),
      m2 = v2 (M0/S0^2 + 2 READING/S^2).

    For ``valid`` (independent of the weight) the variance is
    p(1-p) E_q[w^2] / (n E_q[w]^2).
    """
    exact_mean = M0 + (reading - M0) * S0**2 / (S0**2 + S**2)
    z1 = _npdf(reading, M0, S0**2 + S**2)
    v2 = 1.0 / (1.0 / S0**2 + 2.0 / S**2)
    m2 = v2 * (M0 / S0**2 + 2.0 * reading / S**2)
    ew2 = _npdf(reading, M0, S0**2 + S**2 / 2) / (2.0 * math.sqrt(math.pi) * S)
    se_mean = math.sqrt(ew2 * (v2 + (m2 - exact_mean) ** 2) / (n * z1**2))
    se_valid = math.sqrt(0.95 * 0.05 * ew2 / (n * z1**2))
    return se_mean, se_valid


def _demo_json(capsys, *args):
    assert cli.main(["demo", "--json", *args]) == 0
    out = capsys.readouterr().out
    return json.loads(out)


# ---------------------------------------------------------------- in process

def test_demo_json_posterior_matches_analytic(capsys):
    # Fixed seed; 5 standard errors => a seed fails with probability ~6e-7
    # (normal approximation of the SNIS estimator, n = 20000, ESS ~ 5000).
    n = 20000
    d = _demo_json(capsys, "--runs", str(n), "--seed", "42", "--reading", "22")
    assert d["runs"] == n
    assert d["seed"] == 42 and d["reading"] == 22.0 and d["model"] == "sensor"
    pool = d["pool"]
    assert pool["hits"] + pool["misses"] == n
    assert pool["returns"] + pool["drops"] == n
    assert pool["misses"] == 1 and pool["drops"] == 0  # each trace released before the next run
    assert pool["hit_ratio"] == pytest.approx((n - 1) / n)

    post = d["posterior"]
    se_mean, se_valid = _snis_standard_errors(n)
    assert 0.005 < se_mean < 0.02  # ~0.0098: the tolerance below is honest, not vacuous
    assert abs(post["temperature_mean"] - EXACT_MEAN) < 5 * se_mean
    assert abs(post["valid_probability"] - 0.95) < 5 * se_valid
    # The effective sample size of prior proposals is ~25.5% of n here.
    assert 0.2 * n < post["effective_sample_size"] < 0.31 * n
    assert post["temperature_sd"] == pytest.approx(EXACT_SD, rel=0.05)
    assert post["exact_temperature_mean"] == pytest.approx(EXACT_MEAN)
    assert post["exact_temperature_sd"] == pytest.approx(EXACT_SD)
    # The evidence: the reading is Normal(20, sqrt(5**2 + 1)) a priori; its estimate's
    # relative sd is about sqrt(n / ESS - 1) / sqrt(n) (< 0.02 here).
    exact_log_evidence = float(stats.norm.logpdf(22.0, 20.0, math.sqrt(26.0)))
    assert post["log_evidence"] == pytest.approx(exact_log_evidence, abs=0.05)
    assert post["pareto_khat"] < 0.5 and post["reliable"] is True


def test_demo_first_run_trace_is_consistent_and_reproducible(capsys):
    d = _demo_json(capsys, "--runs", "10", "--seed", "7")
    first = d["first_run"]
    tr = first["trace"]
    assert [(c["address"], c["kind"]) for c in tr["choices"]] == [
        ("temperature", "sample"), ("valid", "sample"), ("sensor", "observe")]
    values = {c["address"]: c["value"] for c in tr["choices"]}
    assert values["temperature"] == first["value"]["temperature"]
    assert values["valid"] is first["value"]["valid"]
    assert values["sensor"] == 22.0
    lp = {c["address"]: c["log_prob"] for c in tr["choices"]}
    assert tr["log_prior"] == pytest.approx(lp["temperature"] + lp["valid"])
    assert tr["log_likelihood"] == pytest.approx(lp["sensor"])
    assert tr["log_factors"] == 0.0
    assert tr["total_log_weight"] == pytest.approx(
        tr["log_prior"] + tr["log_likelihood"] + tr["log_factors"])
    t = values["temperature"]
    assert lp["sensor"] == pytest.approx(-0.5 * (22.0 - t) ** 2 - 0.5 * math.log(2 * math.pi))

    # The pooled handler draws the stream an unpooled one does with the same seed.
    (temp, valid), trace = fp.run(fp.PriorHandler(rng=7), sensor, 22.0)
    assert (temp, valid) == (first["value"]["temperature"], first["value"]["valid"])
    assert trace.log_prior == pytest.approx(tr["log_prior"])

    # Same seed, same document (timing and the measured latencies of the
    # production part aside); another seed, another first run.
    again = _demo_json(capsys, "--runs", "10", "--seed", "7")
    other = _demo_json(capsys, "--runs", "10", "--seed", "8")
    for doc in (d, again, other):
        doc.pop("timing")
        prod = doc.pop("production")
        assert [t["health"] for t in prod["timeline"]] == (
            ["healthy"] * 5 + ["unhealthy"] + ["healthy"] * 6)
    assert again == d
    assert other["first_run"] != d["first_run"]


def test_demo_text_output(capsys):
    assert cli.main(["demo", "--runs", "2000", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    d = _demo_json(capsys, "--runs", "2000", "--seed", "3")
    for needle in ("first run", "temperature", "valid", "sensor", "log_prior",
                   "log_likelihood", "log_factors", "total", "trace pool"):
        assert needle in out
    m = re.search(r"temperature mean\s+(-?\d+\.\d+)\s+\(exact (\d+\.\d+)\)", out)
    assert m, out
    assert float(m.group(1)) == pytest.approx(d["posterior"]["temperature_mean"], abs=1e-4)
    assert float(m.group(2)) == pytest.approx(EXACT_MEAN, abs=1e-4)
    m = re.search(r"hits=(\d+) misses=(\d+) returns=(\d+) drops=(\d+) hit_ratio=([\d.]+)", out)
    assert m, out
    hits, misses, returns, drops = map(int, m.groups()[:4])
    assert (hits, misses, returns, drops) == (1999, 1, 2000, 0)
    first_temp = d["first_run"]["value"]["temperature"]
    assert f"temperature={first_temp:.6f}" in out


# ---------------------------------------------------------------- the production pipeline

def test_production_demo_shows_the_degraded_policy():
    d = cli.run_production_demo(reading=22.0, seed=5)["degraded"]
    assert d["policy"] == "degraded_model=sensor_prior"
    rows = {p["phase"]: p for p in d["phases"]}
    for p in d["phases"]:
        assert p["ok"] + p["degraded"] + p["fallback"] + p["rejected"] == p["calls"] == 100
        assert "FAILED" not in p["breaker_states"]          # a partial fault never trips it
    assert (rows["steady"]["ok"], rows["steady"]["breaker_states"]) == (100, ["HEALTHY"])
    fault = rows["partial fault"]
    # the real model fails 1 call in 10 while it serves; the cheaper model serves the rest of
    # the DEGRADED spells and never fails
    assert (fault["ok"], fault["degraded"], fault["fallback"]) == (54, 40, 6)
    assert fault["breaker_states"] == ["DEGRADED", "HEALTHY"]
    rec = rows["recovered"]
    assert (rec["ok"], rec["degraded"], rec["fallback"], rec["breaker_at_end"]) == (
        60, 40, 0, "HEALTHY")


def test_production_demo_shows_saturation_figures():
    d = cli.run_production_demo(reading=22.0, seed=5)["saturation"]
    assert (d["workers"], d["queue_size"]) == (2, 4)
    rows = {p["phase"]: p for p in d["phases"]}
    for p in d["phases"]:
        assert p["ok"] + p["overloaded"] + p["timeout"] == p["calls"]
    assert rows["steady"]["ok"] == 40                        # two at a time: room for all
    burst = rows["burst"]
    # 30 calls at once: 2 running + 4 queued are admitted, the rest refused at once
    assert burst["overloaded"] >= 40 and burst["timeout"] == 0
    stalled = rows["stalled backend"]
    assert stalled["timeout"] == 4 and stalled["abandoned"] >= 2
    assert d["arrival_rate"] > 0 and d["utilisation"] > 0
    assert d["process"]["resident_memory_bytes"] > 1e6


def test_production_demo_timeline_breaker_and_alerts():
    d = cli.run_production_demo(reading=22.0, seed=5)
    # Bad inputs are rejected by the schema, naming the field and the rule.
    assert [v["input"]["reading"] for v in d["validation"]] == ["nan", "500.0", "'hot'"]
    assert all(v["error"].startswith("invalid input: reading: ") for v in d["validation"])
    assert [("rule finite" in d["validation"][0]["error"]),
            ("rule range" in d["validation"][1]["error"])] == [True, True]
    tl = d["timeline"]
    assert [t["minute"] for t in tl] == list(range(12))
    assert [t["health"] for t in tl] == ["healthy"] * 5 + ["unhealthy"] + ["healthy"] * 6
    assert [t["breaker"] for t in tl] == ["HEALTHY"] * 5 + ["FAILED"] + ["HEALTHY"] * 6
    # The burst: window 50, 50% threshold: 26 failures open the breaker, the rest is rejected.
    assert (tl[5]["ok"], tl[5]["fallback"], tl[5]["rejected"]) == (0, 26, 74)
    assert all((t["ok"], t["fallback"], t["rejected"]) == (100, 0, 0)
               for t in tl if t["minute"] != 5)
    assert [m["to"] for m in d["breaker"]["transitions"]] == [
        "DEGRADED", "FAILED", "RECOVERY", "HEALTHY"]
    assert [m["at_seconds"] for m in d["breaker"]["transitions"]] == [300.0, 300.0, 360.0, 360.0]
    assert d["breaker"]["calls"] == {"successful": 1100, "failed": 26, "rejected": 74,
                                     "permitted": 1126}
    # Burn rates: 100 bad of 500 requests in the last 5 minutes is 200x a 0.999 SLO's rate.
    assert [t["burn_rate_5m"] for t in tl] == [0.0] * 5 + [200.0] * 5 + [0.0] * 2
    assert tl[4]["burn_rate_alerts"] == []
    assert "page 1h/5m > 14.4" in tl[5]["burn_rate_alerts"]
    # The 5-minute window forgets the burst at minute 10: that page stops, the 30-minute one not.
    assert "page 1h/5m > 14.4" in tl[9]["burn_rate_alerts"]
    assert "page 1h/5m > 14.4" not in tl[10]["burn_rate_alerts"]
    assert "page 6h/30m > 6" in tl[11]["burn_rate_alerts"]
    assert tl[5]["score"] < 0.75 and tl[6]["score"] >= 0.96   # unhealthy, then healthy


def test_production_demo_reports():
    d = cli.run_production_demo(reading=22.0, seed=5)
    slo = d["slo"]
    assert (slo["total_events"], slo["bad_events"]) == (1200, 100)
    assert slo["objectives"][0]["observed"] == pytest.approx(1100 / 1200)
    assert slo["compliant"] is False and slo["exhausted"] is True
    assert slo["error_budget"] == 2592.0              # 0.1% of 30 days = 43 min 12 s
    assert slo["allowed_bad_events"] == pytest.approx(1.2)
    a = d["availability"]
    assert (a["failures"], a["mtbf"], a["mttr"]) == (1, 660.0, 60.0)
    assert a["availability"] == pytest.approx(660 / 720)
    assert d["health"]["status"] == "pass" and d["readiness"] == "pass"
    assert set(d["health"]["checks"]) == {
        "model:execution", "model:errorRate", "model:responseTime", "tracePool:hitRatio",
        "circuitBreaker:state", "monitors:alarms", "process:cpuUtilization",
        "process:residentMemory", "process:openFileDescriptors"}
    assert list(d["health"]["levels"]) == ["system", "model", "inference", "resource"]
    text = d["prometheus"]
    for line in ("fugue_inference_total 1126.0", 'fugue_errors_total{kind="RuntimeError"} 26.0',
                 "fugue_fallbacks_total 100.0",
                 'fugue_circuit_breaker_calls_total{outcome="rejected"} 74.0',
                 'fugue_circuit_breaker_state{state="HEALTHY"} 1.0'):
        assert line in text.splitlines(), line
    cap = d["capacity"]
    # A light load (rho far below the scale-down threshold) on the one replica allowed.
    assert (cap["action"], cap["replicas"], cap["current_replicas"]) == ("no_action", 1, 1)
    assert 0 < cap["utilisation"] < 0.3
    assert cap["utilisation"] == pytest.approx(cap["arrival_rate"] * cap["service_time"])
    assert [al["severity"] for al in d["alerts"]["burn_rate"]] == ["page", "ticket", "ticket"]
    assert json.loads(json.dumps(d, allow_nan=False)) == d


def test_demo_text_shows_the_production_pipeline(capsys):
    assert cli.main(["demo", "--runs", "50"]) == 0
    out = capsys.readouterr().out
    for needle in ("production pipeline", "input validation", "fault burst", "FAILED",
                   "circuit breaker transitions: HEALTHY -> DEGRADED at 300 s",
                   "fugue_inference_total 1126.0", "health (application/health+json): status pass",
                   "SLO: availability 0.9167 against 0.999 (missed)",
                   "MTBF 660 s, MTTR 60 s", "[page]", "capacity: utilisation",
                   "level resource", "saturation (infer_async: 2 workers", "stalled backend",
                   "utilisation rho"):
        assert needle in out, needle
    rows = re.findall(r"^\s+(\d+)\s+(steady|fault burst|recovered)\s+(\d+)\s+(\d+)\s+(\d+)"
                      r"\s+(\w+)\s+(\w+)", out, re.MULTILINE)
    assert [r[6] for r in rows] == ["healthy"] * 5 + ["unhealthy"] + ["healthy"] * 6


def test_demo_reading_moves_the_posterior(capsys):
    n = 20000
    d = _demo_json(capsys, "--runs", str(n), "--reading", "18.5", "--seed", "1")
    exact, _ = sensor_posterior(18.5)
    assert exact == pytest.approx(20.0 + (18.5 - 20.0) * 25.0 / 26.0)
    assert d["posterior"]["exact_temperature_mean"] == pytest.approx(exact)
    se_mean, _ = _snis_standard_errors(n, reading=18.5)
    assert abs(d["posterior"]["temperature_mean"] - exact) < 5 * se_mean  # P(fail) ~6e-7


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"fugue-ppl {fp.__version__}"


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: COMMAND"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["demo", "--runs", "0"], "argument --runs: must be at least 1, got 0"),
    (["demo", "--runs", "-5"], "argument --runs: must be at least 1, got -5"),
    (["demo", "--runs", "many"], "argument --runs: expected a positive integer, got 'many'"),
    (["demo", "--runs", "1.5"], "argument --runs: expected a positive integer, got '1.5'"),
    (["demo", "--reading", "warm"], "argument --reading: expected a number, got 'warm'"),
    (["demo", "--reading", "nan"], "argument --reading: must be a finite number, got 'nan'"),
    (["demo", "--reading", "inf"], "argument --reading: must be a finite number, got 'inf'"),
    (["demo", "--seed", "-1"], "argument --seed: must be at least 0, got -1"),
    (["demo", "--seed", "x"], "argument --seed: expected a non-negative integer seed, got 'x'"),
    (["demo", "--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_bad_arguments_exit_2_with_a_message(capsys, argv, message):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "usage: fugue-ppl" in captured.err
    assert message in captured.err
    assert "Traceback" not in captured.err


def test_help_exits_0(capsys):
    assert cli.main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--reading" in out and "--runs" in out and "--seed" in out and "--json" in out


def test_run_demo_rejects_zero_runs():
    with pytest.raises(ValueError, match="runs must be at least 1, got 0"):
        cli.run_demo(runs=0)


# ---------------------------------------------------------------- the models

def test_ref20_sites_and_weights():
    mu, trace = fp.run(fp.PriorHandler(rng=0), ref20)
    assert len(trace) == 39
    keys = list(trace)
    assert keys[:3] == ["mu", fp.addr("x", 0), fp.addr("y", 0)]
    assert keys[-1] == fp.addr("y", 18)
    assert trace["mu"] == mu
    kinds = [c.kind for c in trace.choices]
    assert kinds.count("sample") == 20 and kinds.count("observe") == 19
    for i in range(19):
        assert trace[fp.addr("y", i)] == pytest.approx(0.1 * i - 0.9)
    samples = [c.log_prob for c in trace.choices if c.kind == "sample"]
    observes = [c.log_prob for c in trace.choices if c.kind == "observe"]
    assert trace.log_prior == pytest.approx(math.fsum(samples))
    assert trace.log_likelihood == pytest.approx(math.fsum(observes))


def test_sensor_posterior_formula():
    mean, sd = sensor_posterior(22.0)
    assert mean == pytest.approx(EXACT_MEAN)
    assert sd == pytest.approx(EXACT_SD)
    assert sensor_posterior(20.0) == pytest.approx((20.0, EXACT_SD))


# ---------------------------------------------------------------- as processes

def _env():
    env = dict(os.environ)
    env["SKBUILD_EDITABLE_VERBOSE"] = "0"  # an editable install would print its rebuild
    return env


def test_python_dash_m_fugue_ppl_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "fugue_ppl.cli", "demo", "--runs", "500", "--seed", "42", "--json"],
        capture_output=True, text=True, env=_env(), timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["runs"] == 500
    assert d["pool"]["hits"] + d["pool"]["misses"] == 500
    assert "Traceback" not in proc.stderr


def test_python_dash_m_fugue_ppl_bad_argument():
    proc = subprocess.run([sys.executable, "-m", "fugue_ppl", "demo", "--runs", "zero"],
                          capture_output=True, text=True, env=_env(), timeout=300, check=False)
    assert proc.returncode == 2
    assert "argument --runs: expected a positive integer, got 'zero'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_console_script():
    script = Path(sys.executable).parent / ("fugue-ppl.exe" if os.name == "nt" else "fugue-ppl")
    if not script.exists():
        pytest.skip("the fugue-ppl console script is not installed next to this interpreter")
    proc = subprocess.run([str(script), "demo", "--runs", "50"], capture_output=True, text=True,
                          env=_env(), timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "first run" in proc.stdout and "trace pool" in proc.stdout
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                          env=_env(), timeout=300, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == f"fugue-ppl {fp.__version__}"


def test_demo_detects_the_drift_of_a_shifted_sensor(capsys):
    d = _demo_json(capsys, "--runs", "10", "--seed", "42")["drift"]
    assert (d["warmup"], d["steady"], d["shifted"], d["offset"]) == (500, 800, 200, 15.0)
    assert d["false_alarms"] == 0                      # (800 in-control requests)
    assert d["detected_after"] is not None and 1 <= d["detected_after"] <= 30
    assert set(d["charts"]) <= {"ewma", "cusum"} and d["charts"]
    assert d["alarms"]["ewma"] + d["alarms"]["cusum"] >= 1
    assert d["health"]["status"] == "degraded"
    assert d["health"]["output"].startswith("model drift:")
    assert cli.main(["demo", "--runs", "10", "--seed", "42"]) == 0
    out = capsys.readouterr().out
    assert f"detected {d['detected_after']} request(s) after the shift" in out
