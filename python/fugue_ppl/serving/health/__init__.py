"""Health checks of a served model: a weighted score, a trend, liveness and readiness.

A :class:`HealthChecker` runs checks on a :class:`~fugue_ppl.ModelRunner` and
returns :class:`HealthReport` objects, rendered as ``application/health+json``
with the HTTP status a probe expects. Where to look next:

- :mod:`~fugue_ppl.serving.health.checker`: :class:`HealthChecker`, its built-in
  checks, windows, score, early warning and probes (start here);
- :mod:`~fugue_ppl.serving.health.settings`: :class:`HealthSettings`, every
  threshold and window with its default, and the built-in checks' weights;
- :mod:`~fugue_ppl.serving.health.status`: :class:`HealthStatus`, :class:`CheckResult`
  and :class:`LevelResult`;
- :mod:`~fugue_ppl.serving.health.resources`: the process's figures for the resource
  checks (:class:`ProcessReader`);
- :mod:`~fugue_ppl.serving.health.report`: :class:`HealthReport`;
- :mod:`~fugue_ppl.serving.health.trend`: :class:`Trend` and :func:`estimate_trend`.
"""

from fugue_ppl.serving.health.checker import HealthChecker
from fugue_ppl.serving.health.report import HEALTH_JSON_MEDIA_TYPE, HealthReport
from fugue_ppl.serving.health.resources import ProcessFigures, ProcessReader
from fugue_ppl.serving.health.settings import (
    BUILTIN_CHECKS,
    BUILTIN_LEVELS,
    DEFAULT_LEVEL_WEIGHTS,
    DEFAULT_WEIGHTS,
    LEVELS,
    HealthSettings,
)
from fugue_ppl.serving.health.status import CheckResult, HealthStatus, LevelResult
from fugue_ppl.serving.health.trend import Trend, estimate_trend

__all__ = [
    "BUILTIN_CHECKS",
    "BUILTIN_LEVELS",
    "DEFAULT_LEVEL_WEIGHTS",
    "DEFAULT_WEIGHTS",
    "LEVELS",
    "HEALTH_JSON_MEDIA_TYPE",
    "CheckResult",
    "HealthChecker",
    "HealthReport",
    "HealthSettings",
    "HealthStatus",
    "LevelResult",
    "ProcessFigures",
    "ProcessReader",
    "Trend",
    "estimate_trend",
]
