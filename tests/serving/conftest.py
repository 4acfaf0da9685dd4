"""Fixtures of the serving tests."""

import os
import sys

import pytest


@pytest.fixture(scope="module")
def module_on_path(tmp_path_factory):
    """``module_on_path(name, source)``: writes module ``name`` into a fresh folder on
    ``sys.path`` and ``PYTHONPATH`` (child processes import it too) for the test
    module's duration; returns the folder."""
    installed = []
    old_env = os.environ.get("PYTHONPATH")

    def install(name, source):
        d = tmp_path_factory.mktemp(name)
        (d / f"{name}.py").write_text(source, encoding="utf-8")
        sys.path.insert(0, str(d))
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(d), os.environ.get("PYTHONPATH")]))
        installed.append((name, str(d)))
        return d

    yield install
    for name, d in installed:
        sys.path.remove(d)
        sys.modules.pop(name, None)
    if old_env is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old_env
