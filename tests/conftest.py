"""Test configuration.

Under CI (``CI`` set in the environment) hypothesis runs derandomized and
without its example database, so a run is reproducible from the commit alone;
locally it explores new examples on every run.
"""

import os
import shutil

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


PROMTOOL_INSTALL = "apt-get install prometheus"


@pytest.fixture
def promtool():
    """The path of the real ``promtool`` (Debian package ``prometheus``): skipped
    when it is missing, a failure under CI=true (.ci/run installs it)."""
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"promtool is missing under CI=true (.ci/run installs it: "
                        f"{PROMTOOL_INSTALL})")
        pytest.skip(f"promtool is not installed: {PROMTOOL_INSTALL}")
    return path
