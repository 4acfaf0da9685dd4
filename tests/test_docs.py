"""docs/metrics.md is generated from the collectors and stays so; the exposition
passes ``promtool check metrics`` (the real promtool, Debian package ``prometheus``);
the examples in the docstrings of the export and the extras run."""

import doctest
import importlib
import importlib.util
import pathlib
import subprocess

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

ROOT = pathlib.Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "docs" / "gen_metrics.py"
PAGE = ROOT / "docs" / "metrics.md"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_metrics", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def exposition(gen):
    return generate_latest(gen.registry()).decode("utf-8")


@pytest.mark.parametrize("module", ["fugue_ppl._extras", "fugue_ppl.monitoring.prometheus",
                                    "fugue_ppl.serving.prometheus"])
def test_the_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), verbose=False, report=False)
    assert result.failed == 0
    assert result.attempted >= 3


def _check_metrics(promtool, text):
    return subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60)


def test_the_metrics_page_is_up_to_date(gen):
    expected = gen.render()
    committed = PAGE.read_text(encoding="utf-8")
    assert committed == expected, (
        "docs/metrics.md differs from what the collectors export: regenerate it with "
        "`python docs/gen_metrics.py` (from the repository root) and commit it")


def test_the_page_lists_every_exported_family_with_its_type_and_help(gen, exposition):
    page = PAGE.read_text(encoding="utf-8")
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")
            for line in page.splitlines() if line.startswith("| `")}
    families = list(text_string_to_metric_families(exposition))
    assert len(families) == len(rows) == 35
    for fam in families:
        exposed = {"counter": [f"{fam.name}_total"], "summary": [fam.name], "gauge": [fam.name],
                   "histogram": [f"{fam.name}_{s}" for s in ("bucket", "sum", "count")]}
        cell = ", ".join(f"`{n}`" for n in exposed[fam.type])
        row = rows[cell]
        assert row[1] == fam.type
        assert row[3].rstrip(" |") == fam.documentation
        labels = {k for s in fam.samples for k in s.labels}
        assert {x.strip("`") for x in row[2].split(", ") if x} == labels
    # every label is explained
    for label in ("kind", "le", "window", "monitor", "state", "outcome",
                  "from_state", "to_state"):
        assert f"\n- `{label}`: " in page
    assert "- `state`: `HEALTHY`, `DEGRADED`, `FAILED`, `RECOVERY`." in page
    # latency quantiles come from the histogram through histogram_quantile
    assert "quantile" not in page


def test_the_generator_check_mode_reports_a_stale_page(gen, tmp_path, monkeypatch, capsys):
    stale = tmp_path / "metrics.md"
    stale.write_text(PAGE.read_text(encoding="utf-8").replace("Inferences run.", "Runs."),
                     encoding="utf-8")
    monkeypatch.setattr(gen, "PAGE", stale)
    assert gen.main(["--check"]) == 1
    assert "is out of date: run `python docs/gen_metrics.py`" in capsys.readouterr().err
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == PAGE.read_text(encoding="utf-8")


def test_promtool_accepts_the_exposition(promtool, exposition):
    result = _check_metrics(promtool, exposition)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""


def test_promtool_rejects_a_quantile_label_on_a_gauge(promtool):
    # The control: precomputed quantiles as a gauge (an early form) are what promtool flags.
    bad = ("# HELP fugue_inference_duration_quantile_seconds Latency quantiles.\n"
           "# TYPE fugue_inference_duration_quantile_seconds gauge\n"
           'fugue_inference_duration_quantile_seconds{quantile="0.5"} 0.01\n')
    result = _check_metrics(promtool, bad)
    assert result.returncode != 0
    assert 'non-summary metrics should not have "quantile" label' in result.stdout + result.stderr
