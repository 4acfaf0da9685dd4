"""docs/architecture.md stays true, and the C++ layers include one way.

(The direction of Python imports is checked with the linters, in test_lint.py.)
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "fugue_ppl"
DOC = ROOT / "docs" / "architecture.md"

pytestmark = pytest.mark.skipif(not PACKAGE.is_dir(),
                                reason="the sources are not next to the tests")

SOURCES = sorted(p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".pyx", ".pxi"))
# Aliases of former module names.
ALIASES = {"health.py", "slo.py", "metrics.py"}


def test_the_core_libraries_include_no_higher_layer_headers():
    layers = {"core": 0, "monitoring": 1, "serving": 2, "deploy": 3}
    headers = {h.name.removesuffix(".in"): layer for layer in layers
               for h in (ROOT / "csrc" / layer / "include" / "fugue").glob("*.hpp*")}
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
        if path.name in ("__init__.py", "__main__.py") or (
                path.parent == PACKAGE and path.name in ALIASES):
            continue
        assert rel in text, f"{rel} is not on docs/architecture.md"
