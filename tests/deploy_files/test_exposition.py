"""The ``/metrics`` exposition of a service that served traffic passes the real
``promtool check metrics`` without a warning: a runner's collector and a router's
(its versions' metrics, trace pools, breakers and worker pools, the process)."""

import pytest
from prometheus_client.parser import text_string_to_metric_families


@pytest.mark.parametrize("which", ["runner", "router"])
def test_promtool_accepts_the_exposition_without_a_warning(service_metrics, promtool,
                                                            run_tool, which):
    text = service_metrics[which]
    result = run_tool([promtool, "check", "metrics"], input=text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""


@pytest.mark.parametrize("which", ["runner", "router"])
def test_the_exposition_has_the_families_a_dashboard_reads(service_metrics, which):
    families = {f.name: f for f in text_string_to_metric_families(service_metrics[which])}
    for name in ("fugue_inference", "fugue_errors", "fugue_inference_duration_seconds",
                 "fugue_circuit_breaker_state", "fugue_circuit_breaker_calls",
                 "fugue_trace_pool_hit_ratio", "fugue_inflight_runs",
                 "fugue_process_resident_memory_bytes"):
        assert families[name].samples, name
    # latency quantiles come from the histogram (histogram_quantile), never precomputed
    assert not [f.name for f in families.values() if f.type == "summary"]
    assert not [s for f in families.values() for s in f.samples if "quantile" in s.labels]
    rejected = [s.value for s in families["fugue_circuit_breaker_calls"].samples
                if s.labels["outcome"] == "rejected"]
    assert max(rejected) > 0


def test_a_gauge_with_a_quantile_label_is_what_promtool_flags(promtool, run_tool):
    # The control: the check above would see the form the quantiles once had.
    bad = ("# HELP fugue_latency_quantile_seconds Latency quantiles.\n"
           "# TYPE fugue_latency_quantile_seconds gauge\n"
           'fugue_latency_quantile_seconds{quantile="0.5"} 0.01\n')
    result = run_tool([promtool, "check", "metrics"], input=bad)
    assert result.returncode != 0
    assert 'non-summary metrics should not have "quantile" label' in result.stdout + result.stderr
