"""deploy/grafana/fugue-ppl.json: every query is PromQL that promtool parses (each
written as a recording rule into a rule file for ``promtool check rules``), every
metric it names is exported by a service that served traffic or recorded by the
generated rules, and it shows what an operator needs: request rate, error ratio by
status, latency quantiles from the histogram, breaker state, pools, SLO burn rate
(with the page thresholds of the burn-rate rules) and per-version traffic."""

import json
import re

import pytest

from fugue_ppl.serving.slo import DEFAULT_BURN_RATE_RULES
from fugue_ppl.serving.slo.rules import prometheus_duration, prometheus_rules

#: Grafana's variables, as a query would see them (the dashboard's own and built-ins).
VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$namespace": "fugue",
             "$instance": ".*"}
#: PromQL words that are no metric names.
KEYWORDS = {"sum", "max", "min", "avg", "count", "by", "without", "on", "ignoring",
            "group_left", "group_right", "and", "or", "unless", "rate", "increase",
            "histogram_quantile", "scalar", "vector", "avg_over_time", "bool", "offset"}


@pytest.fixture(scope="module")
def dashboard(deploy_dir):
    return json.loads((deploy_dir / "grafana" / "fugue-ppl.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def queries(dashboard):
    out = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(out) >= 20
    return out


def _substitute(expr):
    for var, value in sorted(VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(var, value)
    assert "$" not in expr, expr
    return expr


def _metric_names(expr):
    """The metric names a PromQL expression reads (label matchers, grouping labels,
    durations, strings and numbers left out)."""
    text = re.sub(r'"[^"]*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text)) - KEYWORDS
    return {n for n in names if not re.fullmatch(r"\d.*|e\d+", n)}


def test_the_dashboard_uses_only_its_variables(dashboard, queries):
    defined = {"$" + v["name"] for v in dashboard["templating"]["list"]}
    assert defined == {"$datasource", "$namespace", "$instance"}
    for _, expr in queries:
        for var in re.findall(r"\$\w+", expr):
            assert var in VARIABLES, var
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_promtool_parses_every_query(promtool, run_tool, queries, tmp_path, yaml):
    rules = [{"record": f"dashboard:query_{i}:value", "expr": _substitute(expr)}
             for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}),
                    encoding="utf-8")
    result = run_tool([promtool, "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_promtool_refuses_a_broken_query(promtool, run_tool, tmp_path, yaml):
    # The control: a query that does not parse fails the check above.
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": [
        {"record": "dashboard:bad", "expr": "sum by (le (rate(fugue_inference_total[1m]))"}]}]}),
        encoding="utf-8")
    assert run_tool([promtool, "check", "rules", str(path)]).returncode != 0


def test_every_metric_is_exported_or_recorded(queries, service_metrics):
    text = service_metrics["router"]
    exported = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M))
    recorded = {r["record"] for g in prometheus_rules()["groups"] for r in g["rules"]
                if "record" in r}
    named = set()
    for title, expr in queries:
        for name in _metric_names(expr):
            named.add(name)
            assert name in exported | recorded, f"{title}: {name}"
    assert {n for n in named if n.startswith("slo:")} <= recorded
    assert len({n for n in named if n.startswith("fugue_")}) >= 15


def test_the_extraction_of_metric_names():
    assert _metric_names('histogram_quantile(0.99, sum by (le) (rate(fugue_x_bucket'
                         '{namespace=~"a", le="+Inf"}[5m])))') == {"fugue_x_bucket"}
    assert _metric_names("slo:a:ratio{slo=\"x\"} / on (slo) group_left () slo:b:ratio * 1e6") \
        == {"slo:a:ratio", "slo:b:ratio"}


def _panel(dashboard, title):
    (p,) = [p for p in dashboard["panels"] if p["title"] == title]
    return p


def test_the_panels_an_operator_needs(dashboard):
    exprs = {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in dashboard["panels"]}
    assert any("fugue_inference_total" in e for e in exprs["Request rate"])
    assert any("sum by (kind)" in e for e in exprs["Error ratio by status"])
    latency = exprs["Latency quantiles"]
    assert [re.match(r"histogram_quantile\(([0-9.]+), sum by \(le\) \(rate\("
                     r"fugue_inference_duration_seconds_bucket", e).group(1)
            for e in latency] == ["0.5", "0.9", "0.99"]
    assert any("fugue_circuit_breaker_state" in e
               for e in exprs["Circuit breaker: replicas by state"])
    assert any("fugue_trace_pool_hit_ratio" in e for e in exprs["Trace pool"])
    assert any("fugue_queue_depth" in e for e in exprs["Worker pool"])
    assert any("sum by (version)" in e for e in exprs["Rollout: traffic by version"])
    assert any("fugue_route_weight" in e for e in exprs["Rollout: route weights"])
    assert any("slo:period_error_budget_remaining:ratio" in e
               for e in exprs["SLO: error budget remaining"])


def test_the_burn_rate_panel_marks_the_page_thresholds_of_the_burn_rate_rules(dashboard):
    panel = _panel(dashboard, "SLO: availability burn rate")
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    page = sorted({r.threshold for r in DEFAULT_BURN_RATE_RULES if r.severity == "page"})
    assert [s["value"] for s in steps[1:]] == page
    legends = [t["legendFormat"] for t in panel["targets"]]
    windows = {w for r in DEFAULT_BURN_RATE_RULES for w in (r.long_window, r.short_window)}
    assert set(legends) <= {prometheus_duration(w) for w in windows}
    assert legends[0] == "5m"                     # the current burn rate
