"""The health report: :class:`HealthReport`, the status, score, trend and check results
of one moment, rendered as ``application/health+json`` with the HTTP status a probe
expects.

:class:`~fugue_ppl.serving.health.checker.HealthChecker` makes the reports; the
statuses and check results they hold are in :mod:`~fugue_ppl.serving.health.status`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from fugue_ppl.serving.health._numbers import is_real, json_value, rfc3339, to_float
from fugue_ppl.serving.health.status import CheckResult, HealthStatus, LevelResult
from fugue_ppl.serving.health.trend import Trend
from fugue_ppl.validation import safe_repr

__all__ = ["HEALTH_JSON_MEDIA_TYPE", "HealthReport"]

#: The media type of :meth:`HealthReport.to_health_json` documents.
HEALTH_JSON_MEDIA_TYPE = "application/health+json"


@dataclass(frozen=True)
class HealthReport:
    """The health of the service at one moment.

    Returned by :meth:`HealthChecker.check` (``kind="health"``),
    :meth:`HealthChecker.liveness` and :meth:`HealthChecker.readiness`.

    Attributes
    ----------
    status : HealthStatus
    score : float
        The weighted score in [0, 1].
    message : str
        One line: the status, the score and what is wrong.
    checks : tuple of CheckResult
        Every check's result, in registration order.
    timestamp : float or None
        When the report was made, seconds since the epoch (None: unknown,
        the wall clock gave no usable reading).
    kind : {"health", "liveness", "readiness"}
    forecast : float or None
        The forecast score ``forecast_horizon`` seconds ahead.
    forecast_status : HealthStatus or None
        The status the forecast score maps to.
    trend : Trend or None
        ``dH/dt``, ``d²H/dt²`` and the forecast.
    warning : bool
        The early warning: the score fell faster than ``trend_delta`` for
        ``trend_consecutive`` consecutive checks.
    notes : tuple of str
        Remarks (the early warning's text).
    service_id, version, description : str or None
        health+json ``serviceId``, ``version`` and ``description``.
    levels : mapping of str to LevelResult
        The levels of a health report (system, model, inference, resource;
        those with checks), by name; empty for the probes.
    alerts : tuple of str
        One line per level below its healthy threshold (its alert).

    Raises
    ------
    TypeError
        ``score`` or ``timestamp`` is not a number (both are kept as floats,
        +-inf beyond the float range).
    ValueError
        ``status`` or ``kind`` names nothing known.

    Examples
    --------
    >>> r = HealthReport(HealthStatus.DEGRADED, 0.75, "degraded", timestamp=0.0)
    >>> r.http_status, r.time, r.to_health_json()["status"]
    (200, '1970-01-01T00:00:00.000Z', 'warn')
    """

    status: HealthStatus
    score: float
    message: str
    checks: tuple[CheckResult, ...] = ()
    timestamp: float | None = 0.0
    kind: str = "health"
    forecast: float | None = None
    forecast_status: HealthStatus | None = None
    trend: Trend | None = None
    warning: bool = False
    notes: tuple[str, ...] = ()
    service_id: str | None = None
    version: str | None = None
    description: str | None = None
    levels: Mapping[str, LevelResult] = dataclasses.field(default_factory=dict)
    alerts: tuple[str, ...] = ()

    #: The media type of :meth:`to_health_json` documents.
    media_type = HEALTH_JSON_MEDIA_TYPE

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", HealthStatus.parse(self.status))
        if not is_real(self.score):
            raise TypeError(f"HealthReport: score must be a number, got "
                            f"{type(self.score).__name__}")
        object.__setattr__(self, "score", _saturated(self.score))
        if self.timestamp is not None:
            if not is_real(self.timestamp):
                raise TypeError(f"HealthReport: timestamp must be a number or None, got "
                                f"{type(self.timestamp).__name__}")
            object.__setattr__(self, "timestamp", _saturated(self.timestamp))
        object.__setattr__(self, "checks", tuple(self.checks))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "alerts", tuple(self.alerts))
        levels = dict(self.levels)
        for k, v in levels.items():
            if not isinstance(v, LevelResult):
                raise TypeError(f"HealthReport: levels[{k!r}] must be a LevelResult, got "
                                f"{type(v).__name__}")
        object.__setattr__(self, "levels", MappingProxyType(levels))
        if self.kind not in ("health", "liveness", "readiness"):
            raise ValueError(f"HealthReport: kind must be 'health', 'liveness' or 'readiness', "
                             f"got {safe_repr(self.kind)}")

    @property
    def http_status(self) -> int:
        """The HTTP status a probe expects: 200 for pass and warn, 503 for fail."""
        return self.status.http_status

    @property
    def time(self) -> str | None:
        """:attr:`timestamp` as an RFC 3339 UTC time.

        None when it is unknown, not finite, or outside the years 1 to 9999.
        """
        return rfc3339(self.timestamp)

    def check(self, name: str) -> CheckResult:
        """The result of the check registered as ``name``.

        Raises
        ------
        KeyError
            No check of that name is in the report.
        """
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r} in the report; checks: "
                       f"{[c.name for c in self.checks]}")

    def to_health_json(self) -> dict[str, Any]:
        """The report in the ``application/health+json`` format.

        ``status`` (pass / warn / fail), ``version``, ``serviceId``,
        ``description``, ``output`` (the message, for warn and fail),
        ``notes``, and ``checks`` keyed ``"component:measurement"``, each a
        list of check objects (:meth:`CheckResult.to_health_json`). Beyond
        the format's fields: ``time`` (RFC 3339, null when :attr:`time` is
        None), ``score``, and for a health report ``forecast``, ``trend``,
        ``warning``, ``levels`` (each level by name:
        :meth:`LevelResult.to_health_json`) and ``alerts`` (:attr:`alerts`).

        Returns
        -------
        dict
            JSON-serialisable (non-finite numbers become null).
        """
        d: dict[str, Any] = {"status": self.status.health_json}
        if self.version is not None:
            d["version"] = self.version
        if self.service_id is not None:
            d["serviceId"] = self.service_id
        if self.description is not None:
            d["description"] = self.description
        if self.status is not HealthStatus.HEALTHY and self.message:
            d["output"] = self.message
        if self.notes:
            d["notes"] = list(self.notes)
        checks: dict[str, list[dict[str, Any]]] = {}
        for c in self.checks:
            checks.setdefault(c.key, []).append(c.to_health_json())
        d["checks"] = checks
        d["time"] = self.time
        d["score"] = json_value(self.score)
        if self.kind == "health":
            d["forecast"] = None if self.forecast is None else json_value(self.forecast)
            d["trend"] = None if self.trend is None else {
                "slope": json_value(self.trend.slope),
                "curvature": json_value(self.trend.curvature),
                "horizon": self.trend.horizon, "points": self.trend.points}
            d["warning"] = self.warning
            d["levels"] = {name: level.to_health_json() for name, level in self.levels.items()}
            d["alerts"] = list(self.alerts)
        return d

    def to_json(self, *, indent: int | None = None) -> str:
        """:meth:`to_health_json` serialised (strict JSON: no NaN or infinity)."""
        return json.dumps(self.to_health_json(), indent=indent, allow_nan=False)


def _saturated(x: Any) -> float:
    """A real number as a float, +-inf beyond the float range."""
    f = to_float(x)
    if f is None:
        return math.inf if x > 0 else -math.inf
    return f
