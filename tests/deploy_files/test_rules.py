"""Prometheus rules generated from the SLO settings (``fugue_ppl.serving.slo.rules``,
``fugue-ppl rules``): the windows and thresholds of the burn-rate rules, exact
thresholds, the committed deploy/prometheus/rules.yml current, the real
``promtool check rules`` and ``promtool test rules`` (the page alert fires on an
error burst, not on a normal error rate), and bad input refused by name."""

import logging
import re
import shutil
from datetime import timedelta

import pytest

from fugue_ppl.cli import main
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.serving.slo import DEFAULT_BURN_RATE_RULES, BurnRateRule, SLOConfig
from fugue_ppl.serving.slo.rules import (
    ALERT_NAME,
    prometheus_duration,
    prometheus_rules,
    render_rules,
)

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def _rules(doc, group):
    (found,) = [g for g in doc["groups"] if g["name"].endswith(group)]
    return found["rules"]


@pytest.fixture(autouse=True)
def _keep_logging():
    # The command configures logging for its process (cli.main): not for the tests after.
    runner = logging.getLogger("fugue_ppl.serving.runner")
    root = logging.getLogger()
    level, handlers = runner.level, list(root.handlers)
    yield
    runner.setLevel(level)
    root.handlers[:] = handlers


def _clean_env(monkeypatch):
    import os

    for k in list(os.environ):
        if k.upper().startswith("FUGUE_"):
            monkeypatch.delenv(k)


# ---------------------------------------------------------------- what is generated


def test_one_error_ratio_per_window_of_the_burn_rate_rules_and_the_period():
    doc = prometheus_rules(SLOConfig())
    records = [r["record"] for r in _rules(doc, "sli-recordings")]
    assert records == [f"slo:sli_error:ratio_rate{w}" for w in WINDOWS + ("30d",)]
    windows = {prometheus_duration(w) for r in DEFAULT_BURN_RATE_RULES
               for w in (r.long_window, r.short_window)}
    assert windows | {"5m"} == set(WINDOWS)
    five = _rules(doc, "sli-recordings")[0]
    assert five["labels"] == {"slo": "availability"}
    for metric in ("rate(fugue_errors_total[5m])",
                   'rate(fugue_circuit_breaker_calls_total{outcome="rejected"}[5m])',
                   "rate(fugue_inference_total[5m])"):
        assert metric in five["expr"]
    assert five["expr"].count("sum by (namespace, job)") == 2
    assert _rules(doc, "sli-recordings")[-1]["expr"] == (
        'avg_over_time(slo:sli_error:ratio_rate5m{slo="availability"}[30d])')


def test_the_alerts_are_the_burn_rate_rules_with_exact_thresholds():
    doc = prometheus_rules(SLOConfig(availability_target=0.999))
    page, ticket = _rules(doc, "alerts")
    assert page["alert"] == ticket["alert"] == ALERT_NAME
    assert page["labels"] == {"severity": "page", "slo": "availability"}
    assert ticket["labels"] == {"severity": "ticket", "slo": "availability"}
    terms = re.findall(r"slo:sli_error:ratio_rate(\w+)\{slo=\"availability\"\} > ([0-9.]+)",
                       page["expr"])
    # 14.4 * (1 - 0.999) is 0.0144 exactly (a float product would print 0.014400000000000...)
    assert terms == [("5m", "0.0144"), ("1h", "0.0144"), ("30m", "0.006"), ("6h", "0.006")]
    terms = re.findall(r"ratio_rate(\w+)\{slo=\"availability\"\} > ([0-9.]+)", ticket["expr"])
    assert terms == [("2h", "0.003"), ("1d", "0.003"), ("6h", "0.001"), ("3d", "0.001")]
    assert "14.4x over 1h and 5m, or 6x over 6h and 30m" in page["annotations"]["description"]
    assert "for" not in page            # the windows are the delay, as Sloth's alerts


def test_the_objective_and_period_come_from_the_config():
    doc = prometheus_rules(SLOConfig(availability_target=0.995, period_days=7))
    meta = {r["record"]: r["expr"] for r in _rules(doc, "meta-recordings")}
    assert meta["slo:objective:ratio"] == "vector(0.995)"
    assert meta["slo:error_budget:ratio"] == "vector(0.005)"
    assert meta["slo:time_period:days"] == "vector(7)"
    assert meta["slo:current_burn_rate:ratio"] == (
        'slo:sli_error:ratio_rate5m{slo="availability"} / 0.005')
    assert meta["slo:period_burn_rate:ratio"] == (
        'slo:sli_error:ratio_rate7d{slo="availability"} / 0.005')
    page = _rules(doc, "alerts")[0]
    assert "> 0.072\n" in page["expr"]                         # 14.4 * 0.005
    # a period that is one of the windows is recorded once
    records = [r["record"] for r in _rules(prometheus_rules(SLOConfig(period_days=3)),
                                           "sli-recordings")]
    assert records.count("slo:sli_error:ratio_rate3d") == 1


def test_custom_burn_rate_rules_and_prefix():
    rules = [BurnRateRule("page", timedelta(minutes=30), timedelta(minutes=2), 10.0),
             BurnRateRule("critical", timedelta(hours=2), timedelta(seconds=90), 20.0)]
    doc = prometheus_rules(SLOConfig(), rules=rules, prefix="svc")
    records = [r["record"] for r in _rules(doc, "sli-recordings")]
    assert records == ["slo:sli_error:ratio_rate90s", "slo:sli_error:ratio_rate2m",
                       "slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30m",
                       "slo:sli_error:ratio_rate2h", "slo:sli_error:ratio_rate30d"]
    assert "rate(svc_inference_total[90s])" in _rules(doc, "sli-recordings")[0]["expr"]
    assert [a["labels"]["severity"] for a in _rules(doc, "alerts")] == ["page", "critical"]


def test_a_latency_objective_reads_the_histogram_bucket():
    doc = prometheus_rules(SLOConfig(latency_p99=0.25))
    sli = [r for r in _rules(doc, "sli-recordings") if r["labels"]["slo"] == "latency"]
    assert len(sli) == len(WINDOWS) + 1
    assert 'fugue_inference_duration_seconds_bucket{le="0.25"}[1h]' in sli[2]["expr"]
    meta = {(r["record"], r["labels"]["slo"]): r["expr"] for r in _rules(doc, "meta-recordings")}
    assert meta[("slo:objective:ratio", "latency")] == "vector(0.99)"
    alerts = [(a["labels"]["slo"], a["labels"]["severity"]) for a in _rules(doc, "alerts")]
    assert alerts == [("availability", "page"), ("availability", "ticket"),
                      ("latency", "page"), ("latency", "ticket")]
    assert "> 0.144\n" in _rules(doc, "alerts")[2]["expr"]     # 14.4 * (1 - 0.99)


@pytest.mark.parametrize("td, text", [(timedelta(minutes=5), "5m"), (timedelta(days=30), "30d"),
                                      (timedelta(hours=36), "36h"), (timedelta(seconds=90), "90s"),
                                      (timedelta(milliseconds=1500), "1500ms")])
def test_prometheus_durations(td, text):
    assert prometheus_duration(td) == text


# ---------------------------------------------------------------- bad input


def test_a_latency_objective_off_the_buckets_is_refused_by_name():
    with pytest.raises(InvalidArgument, match=r"^prometheus_rules: slo\.latency_p99 must be a "
                       r"bucket bound of the exported latency histogram \(1e-06, .*, 0\.25, 0\.5, "
                       r".*10 seconds\) to be read by Prometheus, got 0\.3$"):
        prometheus_rules(SLOConfig(latency_p99=0.3))


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"config": {"availability_target": 0.99}}, TypeError,
     "^prometheus_rules: config must be an SLOConfig, got dict$"),
    ({"rules": []}, ValueError, "^prometheus_rules: rules must not be empty$"),
    ({"rules": "page"}, TypeError, "^prometheus_rules: rules must be a sequence of BurnRateRule"),
    ({"rules": [("page", 3600, 300, 14.4)]}, TypeError,
     r"^prometheus_rules: rules\[0\] must be a BurnRateRule, got tuple$"),
    ({"rules": [BurnRateRule("page", 3600.0, 0.0005, 14.4)]}, InvalidArgument,
     r"^prometheus_rules: rules\[0\] must have windows of whole milliseconds"),
    ({"prefix": "9x"}, InvalidArgument, "^prometheus_rules: prefix must be an identifier"),
    ({"prefix": 7}, TypeError, "^prometheus_rules: prefix must be a str, got int$"),
])
def test_bad_arguments_are_refused_by_name(kwargs, exc, message):
    config = kwargs.pop("config", None)
    with pytest.raises(exc, match=message):
        prometheus_rules(config, **kwargs)


def test_prometheus_duration_refuses_what_prometheus_cannot_write():
    for td in (timedelta(0), timedelta(microseconds=1500), -timedelta(minutes=1)):
        with pytest.raises(ValueError, match="is not a positive whole number of milliseconds"):
            prometheus_duration(td)


# ---------------------------------------------------------------- the command


def test_the_committed_rules_are_generated_from_the_default_config(deploy_dir, yaml):
    committed = (deploy_dir / "prometheus" / "rules.yml").read_text(encoding="utf-8")
    assert committed == render_rules(SLOConfig()), (
        "deploy/prometheus/rules.yml is out of date: regenerate it with "
        "`fugue-ppl rules -o deploy/prometheus/rules.yml`")
    assert yaml.safe_load(committed) == prometheus_rules()


def test_the_command_prints_and_writes_the_rules(tmp_path, monkeypatch, capsys, yaml):
    _clean_env(monkeypatch)
    assert main(["rules"]) == 0
    out = capsys.readouterr()
    assert out.out == render_rules() and out.err == ""
    target = tmp_path / "rules.yml"
    assert main(["rules", "-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_rules()
    assert capsys.readouterr().out == ""


def test_the_command_reads_the_config_file_and_the_environment(tmp_path, monkeypatch, capsys,
                                                                yaml):
    _clean_env(monkeypatch)
    config = tmp_path / "service.toml"
    config.write_text("[slo]\navailability_target = 0.99\nperiod_days = 28\n", encoding="utf-8")
    monkeypatch.setenv("FUGUE_SLO__PERIOD_DAYS", "14")
    assert main(["rules", "--config", str(config)]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    meta = {r["record"]: r["expr"] for r in _rules(doc, "meta-recordings")}
    assert meta["slo:objective:ratio"] == "vector(0.99)"
    assert meta["slo:time_period:days"] == "vector(14)"


def test_the_command_refuses_a_bad_config_or_output_with_one_message(tmp_path, monkeypatch,
                                                                    capsys):
    _clean_env(monkeypatch)
    monkeypatch.setenv("FUGUE_SLO__AVAILABILITY_TARGET", "1.5")
    assert main(["rules"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fugue-ppl rules: ") and "slo.availability_target" in err
    assert "Traceback" not in err
    monkeypatch.setenv("FUGUE_SLO__AVAILABILITY_TARGET", "0.999")
    monkeypatch.setenv("FUGUE_SLO__LATENCY_P99", "0.3")
    assert main(["rules"]) == 1
    assert capsys.readouterr().err.startswith(
        "fugue-ppl rules: prometheus_rules: slo.latency_p99 must be a bucket bound")
    monkeypatch.delenv("FUGUE_SLO__LATENCY_P99")
    assert main(["rules", "-o", str(tmp_path / "missing" / "rules.yml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fugue-ppl rules: cannot write ") and "No such file" in err
    assert list(tmp_path.iterdir()) == []
    assert main(["rules", "--config", str(tmp_path / "nope.toml")]) == 1
    assert capsys.readouterr().err.startswith("fugue-ppl rules: ")
    assert main(["rules", "--bogus"]) == 2


# ---------------------------------------------------------------- promtool


def test_promtool_checks_the_generated_rules(promtool, run_tool, tmp_path, yaml):
    for name, config in (("default", SLOConfig()),
                         ("latency", SLOConfig(availability_target=0.995, latency_p99=0.5,
                                               period_days=7))):
        path = tmp_path / f"{name}.yml"
        path.write_text(render_rules(config), encoding="utf-8")
        result = run_tool([promtool, "check", "rules", str(path)])
        assert result.returncode == 0, result.stdout + result.stderr
        n = sum(len(g["rules"]) for g in prometheus_rules(config)["groups"])
        assert f"SUCCESS: {n} rules found" in result.stdout


def test_promtool_unit_tests_fire_the_page_alert_on_an_error_burst(promtool, run_tool,
                                                                   deploy_dir):
    # deploy/prometheus/rules_test.yml: no alert at a normal error rate, the page and
    # ticket alerts on a burst (and the page stops after it), a ticket without a page
    # at a sustained 5x, the ratio 0 before any error, rejected calls as bad requests.
    test_file = deploy_dir / "prometheus" / "rules_test.yml"
    text = test_file.read_text(encoding="utf-8")
    assert "severity: page" in text and "exp_alerts: []" in text
    result = run_tool([promtool, "test", "rules", str(test_file)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_catch_rules_that_would_not_page(promtool, run_tool, deploy_dir,
                                                        tmp_path):
    # The control: page thresholds raised past the burst (burn rate 100) fail the tests.
    lax = [BurnRateRule(r.severity, r.long_window, r.short_window,
                        r.threshold * 10 if r.severity == "page" else r.threshold)
           for r in DEFAULT_BURN_RATE_RULES]
    shutil.copy(deploy_dir / "prometheus" / "rules_test.yml", tmp_path / "rules_test.yml")
    (tmp_path / "rules.yml").write_text(render_rules(rules=lax), encoding="utf-8")
    result = run_tool([promtool, "test", "rules", str(tmp_path / "rules_test.yml")])
    assert result.returncode != 0
    assert 'severity="page"' in result.stdout + result.stderr


def test_every_metric_the_rules_read_is_exported(service_metrics):
    text = service_metrics["router"]
    exprs = "\n".join(r["expr"] for g in prometheus_rules(SLOConfig(latency_p99=0.25))["groups"]
                      for r in g["rules"])
    read = set(re.findall(r"\b(fugue_[a-z_]+)", exprs))
    assert read == {"fugue_errors_total", "fugue_circuit_breaker_calls_total",
                    "fugue_inference_total", "fugue_inference_duration_seconds_count",
                    "fugue_inference_duration_seconds_bucket"}
    for name in read:
        assert re.search(rf"^{name}\{{", text, re.M), name
    assert 'le="0.25"' in text and 'outcome="rejected"' in text


def test_the_docstring_examples_run():
    import doctest

    import fugue_ppl.serving.slo.rules as rules

    result = doctest.testmod(rules, verbose=False, report=False)
    assert result.failed == 0 and result.attempted >= 3
