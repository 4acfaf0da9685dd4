"""Test configuration.

Under CI (``CI`` set in the environment) hypothesis runs derandomized and
without its example database, so a run is reproducible from the commit alone;
locally it explores new examples on every run.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
