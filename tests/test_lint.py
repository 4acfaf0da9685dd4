"""Static checks of the source tree: ruff (Python), cython-lint (.pyx/.pxd/.pxi) and the
direction of imports between the layers.

The linters' settings live in pyproject.toml ([tool.ruff], [tool.cython-lint]); their
versions are pinned in the [test] extra.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from collections import Counter

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "fugue_ppl"
RUFF_PATHS = ("python/fugue_ppl", "tests", "benches", "docs")

pytestmark = pytest.mark.skipif(not PACKAGE.is_dir(),
                                reason="the sources are not next to the tests")


def _tool(module):
    try:
        __import__(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{module} is missing under CI=true (it is in the [test] extra)")
        pytest.skip(f'{module} is not installed: pip install ".[test]"')


def _rel(path):
    p = pathlib.Path(path)
    return (p.resolve().relative_to(ROOT) if p.is_absolute() else p).as_posix()


def ruff(*paths, stdin=None, stdin_filename=None):
    """ruff's findings as ``(file, line, code, message)``, with the project's settings."""
    _tool("ruff")
    cmd = [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "json"]
    if stdin_filename:
        cmd += ["--stdin-filename", stdin_filename, "-"]
    r = subprocess.run([*cmd, *paths], cwd=ROOT, input=stdin, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode in (0, 1), r.stderr
    return sorted((_rel(f["filename"]), f["location"]["row"], f["code"], f["message"])
                  for f in json.loads(r.stdout))


_CYTHON_LINT_LINE = re.compile(r"^(.+?):(\d+):(\d+): (.*)$")


def cython_lint(*paths, cwd=ROOT):
    """cython-lint's findings as ``(file, line, message)``."""
    _tool("cython_lint")
    r = subprocess.run([sys.executable, "-m", "cython_lint.cython_lint", *paths], cwd=cwd,
                       capture_output=True, text=True, timeout=300)
    out = (r.stdout + r.stderr).splitlines()
    findings = [m.groups() for m in map(_CYTHON_LINT_LINE.match, out) if m]
    assert r.returncode == (1 if findings else 0), "\n".join(out)
    return sorted((_rel(f) if cwd == ROOT else f, int(line), msg) for f, line, _, msg in findings)


def _report(findings):
    per_file = Counter(f[0] for f in findings)
    lines = [f"{len(findings)} finding(s) in {len(per_file)} file(s):"]
    lines += [f"  {n:4d}  {path}" for path, n in sorted(per_file.items())]
    lines += ["", *(":".join(map(str, f)) for f in findings[:200])]
    return "\n".join(lines)


# ---------------------------------------------------------------- ruff

def test_ruff_applies_the_project_rules():
    # The control: each selected family fires on a probe, with the project's settings.
    probe = ("import os\nimport sys\nimport json\n\n\n"
             "def f(x=[]):  \n"
             f"    return x  # {'y' * 100}\n")
    codes = {f[2] for f in ruff(stdin=probe, stdin_filename="python/fugue_ppl/_probe.py")}
    assert {"F401", "I001", "B006", "W291", "E501"} <= codes


def test_ruff_finds_nothing_in_the_package_tests_benches_and_docs():
    findings = ruff(*RUFF_PATHS)
    assert findings == [], _report(findings)


# ---------------------------------------------------------------- cython-lint

def _cython_sources():
    return sorted(_rel(p) for ext in ("*.pyx", "*.pxd", "*.pxi") for p in PACKAGE.rglob(ext))


def test_cython_lint_applies_the_project_settings(tmp_path):
    # pyproject's [tool.cython-lint] next to a probe: the line limit is 100, E301 is off.
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "probe.pyx").write_text(
        "from libc.math cimport sqrt\n\n"
        'cdef extern from "x.hpp":\n'
        "    cdef cppclass C:\n"
        "        int a\n"
        "        @staticmethod\n"
        "        C make()\n\n"
        f"x = 1  # {'y' * 91}\n"
        f"y = 2  # {'y' * 92}\n", encoding="utf-8")
    findings = cython_lint("probe.pyx", cwd=tmp_path)
    assert [(line, msg.split()[0]) for _, line, msg in findings] == [(1, "'sqrt'"), (10, "E501")]


def test_the_cython_sources_are_found():
    sources = _cython_sources()
    assert "python/fugue_ppl/core/_runtime.pyx" in sources
    assert "python/fugue_ppl/core/_cdist.pxd" in sources


def test_cython_lint_finds_nothing_in_the_package():
    findings = cython_lint(*_cython_sources())
    assert findings == [], _report(findings)


# ---------------------------------------------------------------- layers

#: errors, checks  <-  core  <-  inference, monitoring  <-  serving  <-  deploy  <-  service
#: <-  config  <-  cli. The package's root (fugue_ppl/__init__), the command line and the
#: built-in models sit on top (TOP) and may import anything; the former module names
#: (health, slo, metrics) are aliases at the top too.
LAYER = {
    "errors": 0, "checks": 0, "validation": 0, "_extras": 0,
    "core": 1,
    "inference": 2, "monitoring": 2,
    "serving": 3,
    "deploy": 4,
    "service": 5,
    "config": 6,
}
TOP = 7
# The checking kit is one unit; every other module of a layer lives in its package.
KIT = {"errors", "checks", "validation", "_extras"}

_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(fugue_ppl(?:\.\w+)*)[ \t]+c?import[ \t]+(\([^)]*\)|[^\n#]*)"
    r"|c?import[ \t]+(fugue_ppl(?:\.\w+)*))", re.MULTILINE)


def _unit(module):
    """(layer, unit) of a dotted module name under fugue_ppl (the root: TOP)."""
    parts = module.split(".")
    if len(parts) == 1:
        return TOP, "fugue_ppl"
    head = parts[1]
    if head in KIT:
        return 0, "kit"
    return LAYER.get(head, TOP), head


def _imports(path):
    text = path.read_text(encoding="utf-8")
    for m in _IMPORT.finditer(text):
        module, names, plain = m.groups()
        line = text.count("\n", 0, m.start()) + 1
        if plain:
            yield line, plain
        elif module == "fugue_ppl":
            for name in re.split(r"[\s,()]+", names):
                name = name.split(" as ")[0]
                if name and name.isidentifier():
                    sub = f"fugue_ppl.{name}"
                    yield line, sub if (PACKAGE / name).exists() or (
                        PACKAGE / f"{name}.py").exists() else "fugue_ppl"
        else:
            yield line, module


def layer_violations(under=PACKAGE):
    found = []
    for path in sorted(under.rglob("*")):
        if path.suffix not in (".py", ".pyi", ".pyx", ".pxd", ".pxi"):
            continue
        own = ".".join(("fugue_ppl", *path.relative_to(PACKAGE).with_suffix("").parts))
        own_layer, own_unit = _unit(own)
        if own_layer == TOP:
            continue
        for line, target in _imports(path):
            layer, unit = _unit(target)
            if unit != own_unit and layer >= own_layer:
                found.append(f"{_rel(path)}:{line}: {own_unit} (layer {own_layer}) imports "
                             f"{target} (layer {layer})")
    return found


def test_the_import_scanner_sees_every_form(tmp_path):
    probe = tmp_path / "probe.pyx"
    probe.write_text(
        "from fugue_ppl.serving._breaker import CircuitBreaker\n"
        "    from fugue_ppl.core._cdist cimport (\n        CDist,\n    )\n"
        "import fugue_ppl.deploy.registry as reg\n"
        "from fugue_ppl import errors, run\n"
        ">>> from fugue_ppl.cli import main\n", encoding="utf-8")
    assert list(_imports(probe)) == [
        (1, "fugue_ppl.serving._breaker"), (2, "fugue_ppl.core._cdist"),
        (5, "fugue_ppl.deploy.registry"), (6, "fugue_ppl.errors"), (6, "fugue_ppl")]
    assert _unit("fugue_ppl.serving._breaker") == (3, "serving")
    assert _unit("fugue_ppl.checks") == (0, "kit") and _unit("fugue_ppl") == (TOP, "fugue_ppl")


def test_the_monitoring_layer_imports_nothing_above_it():
    # Its Prometheus export included: the breaker's families come from the serving layer.
    found = layer_violations(PACKAGE / "monitoring")
    assert found == [], "\n".join(found)


def test_each_layer_imports_only_the_layers_below_it():
    found = layer_violations()
    assert found == [], "\n".join(found)
