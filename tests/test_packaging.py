"""The installed distribution: metadata, console script, typing files."""

import importlib.metadata as md
import pathlib
import re

import fugue_ppl


def test_runtime_dependencies_are_numpy_and_prometheus_client():
    reqs = md.requires("fugue-ppl") or []
    runtime = [r for r in reqs if "extra ==" not in r]
    names = sorted(re.split(r"[<>=!~ ;\[]", r)[0].lower().replace("-", "_") for r in runtime)
    assert names == ["numpy", "prometheus_client"]


def test_test_extra_lists_the_test_tools():
    reqs = md.requires("fugue-ppl") or []
    test = {re.split(r"[<>=!~ ;\[]", r)[0].lower() for r in reqs if 'extra == "test"' in r}
    assert {"pytest", "hypothesis", "scipy", "mpmath", "pytest-benchmark"} <= test


def test_python_requirement_and_console_script():
    meta = md.metadata("fugue-ppl")
    assert meta["Requires-Python"] == ">=3.10"
    scripts = {ep.name: ep.value for ep in md.entry_points(group="console_scripts")}
    assert scripts.get("fugue-ppl") == "fugue_ppl.cli:main"


def test_typing_files_ship_next_to_the_compiled_modules():
    pkg = pathlib.Path(fugue_ppl.__file__).parent
    assert (pkg / "py.typed").is_file()
    for mod in ("core/_runtime", "core/_distributions", "monitoring/_metrics",
                "monitoring/_monitors", "serving/_breaker", "serving/_runner"):
        stub = pkg / f"{mod}.pyi"
        assert stub.is_file(), stub
        assert "def " in stub.read_text()


def test_every_public_name_is_exported():
    missing = [n for n in fugue_ppl.__all__ if not hasattr(fugue_ppl, n)]
    assert missing == []


def test_the_former_module_names_are_aliases_of_the_new_ones():
    import fugue_ppl.health
    import fugue_ppl.metrics
    import fugue_ppl.monitoring.prometheus
    import fugue_ppl.serving.health
    import fugue_ppl.serving.slo
    import fugue_ppl.slo

    assert fugue_ppl.health is fugue_ppl.serving.health
    assert fugue_ppl.slo is fugue_ppl.serving.slo
    assert fugue_ppl.metrics is fugue_ppl.monitoring.prometheus
    from fugue_ppl.health import HealthChecker
    from fugue_ppl.metrics import ProductionMetrics, PrometheusCollector
    from fugue_ppl.slo import BurnRateAlerts
    assert HealthChecker.__module__ == "fugue_ppl.serving.health"
    assert BurnRateAlerts.__module__ == "fugue_ppl.serving.slo"
    assert PrometheusCollector.__module__ == "fugue_ppl.monitoring.prometheus"
    assert ProductionMetrics is fugue_ppl.ProductionMetrics
