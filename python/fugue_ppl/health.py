"""The former name of :mod:`fugue_ppl.serving.health`, kept as an alias for this release."""

import sys

from fugue_ppl.serving import health as _module

sys.modules[__name__] = _module
