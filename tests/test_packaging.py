"""The installed distribution: metadata, console script, typing files."""

import importlib
import importlib.metadata as md
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

import fugue_ppl

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMPILED = ("core._runtime", "core._distributions", "monitoring._metrics", "monitoring._monitors",
            "serving._breaker", "serving._runner")


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
    for mod in COMPILED:
        stub = pkg / (mod.replace(".", "/") + ".pyi")
        assert stub.is_file(), stub
        assert "def " in stub.read_text()


def test_every_public_name_is_exported():
    missing = [n for n in fugue_ppl.__all__ if not hasattr(fugue_ppl, n)]
    assert missing == []


def _extension_modules():
    # (where the import finds them: an editable install keeps them in its build tree)
    return {mod: pathlib.Path(importlib.import_module(f"fugue_ppl.{mod}").__file__)
            for mod in COMPILED}


# The sanitizer build (CMake option FUGUE_SANITIZE, used by .ci/sanitize) must
# never reach an installed package: its modules abort the interpreter unless
# libasan is preloaded.
_SANITIZER_MARKS = (b"__asan_", b"__ubsan_", b"libasan.so", b"libubsan.so", b"libtsan.so")


def test_installed_extension_modules_carry_no_sanitizer():
    for path in _extension_modules().values():
        data = path.read_bytes()
        marks = [m.decode() for m in _SANITIZER_MARKS if m in data]
        assert marks == [], f"{path.name} is built with sanitizers ({', '.join(marks)})"


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ldd") is None,
                    reason="ldd is Linux-only")
def test_installed_extension_modules_do_not_link_a_sanitizer_runtime():
    for path in _extension_modules().values():
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=60,
                             check=True).stdout
        assert not re.search(r"lib(asan|ubsan|tsan|lsan)\.so", out), \
            f"{path.name} links a sanitizer runtime:\n{out}"


@pytest.mark.skipif(not (ROOT / "CMakeLists.txt").exists(),
                    reason="the build files are not next to the tests")
def test_the_sanitizer_option_is_off_unless_asked_for():
    cmake = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    assert re.search(r'option\(FUGUE_SANITIZE "[^"]*" OFF\)', cmake)
    # dropped from the CMake cache once read: a reused build directory falls back to OFF
    assert "unset(FUGUE_SANITIZE CACHE)" in cmake
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "FUGUE_SANITIZE" not in pyproject
    assert "fsanitize" not in pyproject


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
