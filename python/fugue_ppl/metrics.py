"""The former name of :mod:`fugue_ppl.monitoring.prometheus`, kept as an alias for this release."""

import sys

from fugue_ppl.monitoring import prometheus as _module

sys.modules[__name__] = _module
