"""RouterCollector: each version's families once, labelled by version; the
process's figures once; the weights; a valid exposition."""

import doctest
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import fugue_ppl as fp
import fugue_ppl.deploy.prometheus as router_prometheus
from fugue_ppl.deploy import Router
from fugue_ppl.deploy.prometheus import RouterCollector
from fugue_ppl.models import sensor
from fugue_ppl.serving import ModelConfig, RunnerConfig


def _runner(version, **kw):
    return fp.ModelRunner(sensor, RunnerConfig(model=ModelConfig(version=version)), rng=1, **kw)


@pytest.fixture
def scraped():
    router = Router({"1": _runner("1"), "2": _runner("2")}, weights={"1": 0.25, "2": 0.75})
    for i in range(400):
        router.infer(22.0, key=f"user-{i}")
    registry = CollectorRegistry()
    registry.register(RouterCollector(router))
    text = generate_latest(registry).decode()
    return router, text, {f.name: f for f in text_string_to_metric_families(text)}


def _value(fam, **labels):
    return [s.value for s in fam.samples if all(s.labels.get(k) == v for k, v in labels.items())]


def test_every_version_is_exported_with_its_label(scraped):
    router, _, fams = scraped
    counts = {v: r.metrics.inference_count for v, r in router.runners.items()}
    assert sum(counts.values()) == 400 and min(counts.values()) > 0
    for version, n in counts.items():
        assert _value(fams["fugue_inference"], version=version) == [n]
        assert _value(fams["fugue_circuit_breaker_state"], version=version,
                      state="HEALTHY") == [1.0]
        assert _value(fams["fugue_workers"], version=version) == [8.0]
    assert {s.labels["version"] for s in fams["fugue_inference_duration_seconds"].samples} \
        == {"1", "2"}


def test_the_process_and_the_weights_appear_once(scraped):
    _, _, fams = scraped
    rss = fams["fugue_process_resident_memory_bytes"].samples
    assert len(rss) == 1 and "version" not in rss[0].labels and rss[0].value > 1e6
    assert {s.labels["version"]: s.value for s in fams["fugue_route_weight"].samples} == {
        "1": 0.25, "2": 0.75}


def test_the_exposition_passes_promtool(scraped, promtool):
    _, text, _ = scraped
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_version_without_metrics_is_refused():
    router = Router({"1": _runner("1", metrics=False)})
    with pytest.raises(fp.errors.InvalidArgument, match="records no metrics"):
        RouterCollector(router)
    with pytest.raises(TypeError, match="router must be a Router"):
        RouterCollector(object())


def test_the_docstring_example_runs():
    result = doctest.testmod(router_prometheus, verbose=False, report=False)
    assert result.failed == 0 and result.attempted >= 3
