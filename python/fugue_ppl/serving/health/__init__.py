"""Health checks of a served model: a weighted score, a trend, liveness and readiness.

A :class:`HealthChecker` runs checks on a :class:`~fugue_ppl.ModelRunner` and
returns :class:`HealthReport` objects, rendered as ``application/health+json``
with the HTTP status a probe expects. Where to look next:

- :mod:`~fugue_ppl.serving.health.checker`: :class:`HealthChecker`, its built-in
  checks, windows, score, early warning and probes (start here);
- :mod:`~fugue_ppl.serving.health.settings`: :class:`HealthSettings`, every
  threshold and window with its default, and the built-in checks' weights;
- :mod:`~fugue_ppl.serving.health.status`: :class:`HealthStatus` and :class:`CheckResult`;
- :mod:`~fugue_ppl.serving.health.report`: :class:`HealthReport`;
- :mod:`~fugue_ppl.serving.health.trend`: :class:`Trend` and :func:`estimate_trend`.
"""

from fugue_ppl.serving.health.checker import HealthChecker
from fugue_ppl.serving.health.report import HEALTH_JSON_MEDIA_TYPE, HealthReport
from fugue_ppl.serving.health.settings import BUILTIN_CHECKS, DEFAULT_WEIGHTS, HealthSettings
from fugue_ppl.serving.health.status import CheckResult, HealthStatus
from fugue_ppl.serving.health.trend import Trend, estimate_trend

__all__ = [
    "BUILTIN_CHECKS",
    "DEFAULT_WEIGHTS",
    "HEALTH_JSON_MEDIA_TYPE",
    "CheckResult",
    "HealthChecker",
    "HealthReport",
    "HealthSettings",
    "HealthStatus",
    "Trend",
    "estimate_trend",
]
