"""The README's Python examples run as written, and print what it says."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(kind):
    return re.findall(rf"```{kind}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.skipif(not README.exists(), reason="README.md is not next to the tests")
def test_readme_python_examples_run_in_order_and_print_the_shown_output():
    code = "\n".join(_blocks("python"))
    assert "fp.run(" in code and "HealthChecker" in code and "ServiceLevelObjectives" in code
    # A fresh interpreter: the examples register a collector in the default registry.
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shown = _blocks("text")[0].strip().splitlines()
    printed = proc.stdout.strip().splitlines()
    # (an editable install may print its rebuild first)
    assert shown[0] in printed, proc.stdout[-2000:]
    printed = printed[printed.index(shown[0]):]
    assert printed[:len(shown)] == shown          # the quick example's trace, as printed
    assert printed[len(shown)] == "0.999"           # the pool's hit ratio, as commented
