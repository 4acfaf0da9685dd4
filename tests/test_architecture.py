"""docs/architecture.md stays true, and imports point one way between layers."""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "fugue_ppl"
DOC = ROOT / "docs" / "architecture.md"

pytestmark = pytest.mark.skipif(not PACKAGE.is_dir(), reason="the sources are not next to the tests")

# Each layer may import itself and the layers to its left.
ORDER = ["base", "core", "monitoring", "serving", "top"]
BASE = {"errors", "checks", "validation", "_extras"}


def _layer(module: str) -> str:
    """The layer of a dotted module name inside fugue_ppl."""
    parts = module.split(".")
    if parts[0] != "fugue_ppl" or len(parts) == 1:
        return "top"
    if parts[1] in ("core", "monitoring", "serving"):
        return parts[1]
    return "base" if parts[1] in BASE else "top"


def _imports(path: pathlib.Path):
    """fugue_ppl modules imported or cimported by a .py, .pyx, .pxd or .pxi file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                yield from (n for n in names if n.startswith("fugue_ppl"))
            elif isinstance(node, ast.Import):
                yield from (a.name for a in node.names if a.name.startswith("fugue_ppl"))
    else:
        for m in re.finditer(r"^\s*(?:from\s+(fugue_ppl[\w.]*)\s+c?import\s+([\w, ()\n]+)|"
                             r"c?import\s+(fugue_ppl[\w.]*))", text, re.M):
            if m.group(3):
                yield m.group(3)
            else:
                yield m.group(1)


def _module_of(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts).replace(".__init__", "")


SOURCES = sorted(p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".pyx", ".pxd", ".pxi"))
# Aliases of former module names re-export a lower layer on purpose.
ALIASES = {"fugue_ppl.health", "fugue_ppl.slo", "fugue_ppl.metrics"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_to_lower_layers(path):
    here = _module_of(path)
    if here in ALIASES:
        return
    mine = ORDER.index(_layer(here))
    wrong = sorted({m for m in _imports(path) if ORDER.index(_layer(m)) > mine})
    assert wrong == [], f"{here} ({ORDER[mine]}) imports from a higher layer: {wrong}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_component_imports_config(path):
    here = _module_of(path)
    if _layer(here) == "top":
        return
    assert "fugue_ppl.config" not in set(_imports(path))


def test_the_core_libraries_include_no_higher_layer_headers():
    layers = {"core": 0, "monitoring": 1, "serving": 2}
    headers = {h.name: layer for layer in layers
               for h in (ROOT / "csrc" / layer / "include" / "fugue").glob("*.hpp")}
    for layer, rank in layers.items():
        for src in (ROOT / "csrc" / layer).rglob("*.[ch]pp"):
            for inc in re.findall(r'#include "fugue/([\w.]+)"', src.read_text(encoding="utf-8")):
                assert layers[headers[inc]] <= rank, f"{src} includes fugue/{inc}"


def test_every_path_the_architecture_page_names_exists():
    text = DOC.read_text(encoding="utf-8")
    paths = re.findall(r"`((?:python|csrc|docs|tests)/[^`]+)`", text)
    assert len(paths) > 20
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert missing == []


def test_every_module_of_the_package_is_on_the_architecture_page():
    text = DOC.read_text(encoding="utf-8")
    for path in SOURCES:
        rel = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py" or path.suffix in (".pxd",) or _module_of(path) in ALIASES:
            continue
        if path.name in ("__main__.py",):
            continue
        assert rel in text, f"{rel} is not on docs/architecture.md"
