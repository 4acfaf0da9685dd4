"""Statuses and results: :class:`HealthStatus` (healthy, degraded, unhealthy),
:class:`CheckResult`, the outcome of one check, and :class:`LevelResult`, that of one
level of checks (system, model, inference, resource), each rendered as
``application/health+json``.

The checks themselves are in :mod:`~fugue_ppl.serving.health.checker`; the report that
gathers their results is in :mod:`~fugue_ppl.serving.health.report`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fugue_ppl.serving.health._numbers import is_real, json_value, rfc3339, to_float
from fugue_ppl.validation import safe_repr

__all__ = ["CheckResult", "HealthStatus", "LevelResult"]


class HealthStatus(str, enum.Enum):
    """The status of a check or of the whole service.

    A ``str`` enum (``HealthStatus.HEALTHY == "healthy"``) with its value in
    the score (:attr:`score`), its ``application/health+json`` name
    (:attr:`health_json`) and the HTTP status a probe expects
    (:attr:`http_status`).

    Examples
    --------
    >>> HealthStatus.DEGRADED.score, HealthStatus.DEGRADED.health_json
    (0.5, 'warn')
    >>> HealthStatus.parse("fail"), HealthStatus.UNHEALTHY.http_status
    (<HealthStatus.UNHEALTHY: 'unhealthy'>, 503)
    """

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

    def __str__(self) -> str:
        return self.value

    @property
    def score(self) -> float:
        """The check's value in the score: 1.0, 0.5 or 0.0."""
        return _SCORES[self]

    @property
    def health_json(self) -> str:
        """The ``application/health+json`` status: ``"pass"``, ``"warn"`` or ``"fail"``."""
        return _HEALTH_JSON[self]

    @property
    def http_status(self) -> int:
        """200 for healthy and degraded, 503 for unhealthy."""
        return 503 if self is HealthStatus.UNHEALTHY else 200

    @classmethod
    def parse(cls, value: HealthStatus | str) -> HealthStatus:
        """The status named by ``value``.

        Parameters
        ----------
        value : HealthStatus or str
            A status, its value (``"healthy"``, case-insensitive) or its
            health+json name (``"pass"``, ``"warn"``, ``"fail"``).

        Returns
        -------
        HealthStatus

        Raises
        ------
        TypeError
            ``value`` is not a str.
        ValueError
            ``value`` names no status.
        """
        if isinstance(value, HealthStatus):
            return value
        if not isinstance(value, str):
            raise TypeError(f"status must be a HealthStatus or a str, got {type(value).__name__}")
        key = value.strip().lower()
        for status in cls:
            if key == status.value or key == _HEALTH_JSON[status]:
                return status
        raise ValueError(f"unknown health status {safe_repr(value)}; expected one of "
                         "'healthy', 'degraded', 'unhealthy' (or 'pass', 'warn', 'fail')")


_SCORES = {HealthStatus.HEALTHY: 1.0, HealthStatus.DEGRADED: 0.5, HealthStatus.UNHEALTHY: 0.0}
_HEALTH_JSON = {HealthStatus.HEALTHY: "pass", HealthStatus.DEGRADED: "warn",
                HealthStatus.UNHEALTHY: "fail"}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one health check.

    A check function returns one; the checker completes ``name``,
    ``weight``, ``time`` and the component fields it leaves None.

    Parameters
    ----------
    status : HealthStatus or str
        ``"healthy"``, ``"degraded"`` or ``"unhealthy"`` (or ``"pass"``,
        ``"warn"``, ``"fail"``).
    observed_value : float, int, str, bool or None
        What the check measured (numpy scalars are converted).
    observed_unit : str, optional
        Its unit, e.g. ``"s"``, ``"ratio"``.
    output : str
        One line saying what was found (shown for warn and fail in
        health+json; never secrets or tracebacks).
    component : str, optional
        The component part of the health+json key ``component:measurement``
        (default: the check's registered component, else its name).
    measurement : str, optional
        The measurement part of that key (default: the registered one).
    component_id : str, optional
        health+json ``componentId``.
    component_type : str, optional
        health+json ``componentType`` (e.g. ``"component"``,
        ``"datastore"``, ``"system"``).
    name : str, optional
        The check's registered name (set by the checker).
    weight : float, optional
        The check's normalised weight in the score (set by the checker): its
        share of its level's weight, times its level's share of the score.
    time : float, optional
        When the check finished, seconds since the epoch (set by the checker).
    level : str, optional
        The check's level (set by the checker; see :class:`LevelResult`).

    Raises
    ------
    TypeError
        A field has the wrong type.
    ValueError
        ``status`` names no status; ``weight`` or ``time`` is not finite.

    Examples
    --------
    >>> r = CheckResult.degraded("queue 85% full", observed_value=0.85,
    ...                          observed_unit="ratio", component="queue",
    ...                          measurement="utilization")
    >>> r.status, r.key
    (<HealthStatus.DEGRADED: 'degraded'>, 'queue:utilization')
    >>> r.to_health_json()
    {'observedValue': 0.85, 'observedUnit': 'ratio', 'status': 'warn', 'output': 'queue 85% full'}
    """

    status: HealthStatus
    observed_value: Any = None
    observed_unit: str | None = None
    output: str = ""
    component: str | None = None
    measurement: str | None = None
    component_id: str | None = None
    component_type: str | None = None
    name: str | None = None
    weight: float | None = None
    time: float | None = None
    level: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", HealthStatus.parse(self.status))
        v = self.observed_value
        if isinstance(v, np.generic):
            v = v.item()
            object.__setattr__(self, "observed_value", v)
        if v is not None and not isinstance(v, (bool, int, float, str)):
            raise TypeError(f"CheckResult: observed_value must be a number, a str, a bool or "
                            f"None, got {type(v).__name__}")
        if not isinstance(self.output, str):
            raise TypeError(f"CheckResult: output must be a str, got {type(self.output).__name__}")
        for name in ("observed_unit", "component", "measurement", "component_id",
                     "component_type", "name", "level"):
            x = getattr(self, name)
            if x is not None and not isinstance(x, str):
                raise TypeError(f"CheckResult: {name} must be a str or None, got "
                                f"{type(x).__name__}")
        for name in ("weight", "time"):
            x = getattr(self, name)
            if x is None:
                continue
            if not is_real(x):
                raise TypeError(f"CheckResult: {name} must be a number or None, got "
                                f"{type(x).__name__}")
            f = to_float(x)
            if f is None:
                raise ValueError(f"CheckResult: {name} must be a finite float, got "
                                 f"{safe_repr(x)} (beyond the float range)")
            if not math.isfinite(f):
                raise ValueError(f"CheckResult: {name} must be finite, got {x!r}")
            object.__setattr__(self, name, f)

    @classmethod
    def healthy(cls, output: str = "", **fields: Any) -> CheckResult:
        """A healthy result (``fields`` as for the constructor)."""
        return cls(HealthStatus.HEALTHY, output=output, **fields)

    @classmethod
    def degraded(cls, output: str = "", **fields: Any) -> CheckResult:
        """A degraded result (``fields`` as for the constructor)."""
        return cls(HealthStatus.DEGRADED, output=output, **fields)

    @classmethod
    def unhealthy(cls, output: str = "", **fields: Any) -> CheckResult:
        """An unhealthy result (``fields`` as for the constructor)."""
        return cls(HealthStatus.UNHEALTHY, output=output, **fields)

    @property
    def key(self) -> str:
        """The health+json key, ``"component:measurement"``."""
        return f"{self.component or self.name or 'check'}:{self.measurement or 'status'}"

    def to_health_json(self) -> dict[str, Any]:
        """This result as one ``application/health+json`` check object.

        Fields: ``componentId``, ``componentType``, ``observedValue``,
        ``observedUnit``, ``status`` (pass / warn / fail), ``time`` (RFC 3339,
        UTC) and ``output``; fields without a value are left out (``time``
        too when it is outside the years 1 to 9999), and so is ``output``
        for a pass (as the format recommends).

        Returns
        -------
        dict
        """
        d: dict[str, Any] = {}
        if self.component_id is not None:
            d["componentId"] = self.component_id
        if self.component_type is not None:
            d["componentType"] = self.component_type
        value = json_value(self.observed_value)
        if value is not None:
            d["observedValue"] = value
        if self.observed_unit is not None:
            d["observedUnit"] = self.observed_unit
        d["status"] = self.status.health_json
        rendered = rfc3339(self.time)
        if rendered is not None:
            d["time"] = rendered
        if self.output and self.status is not HealthStatus.HEALTHY:
            d["output"] = self.output
        return d


@dataclass(frozen=True)
class LevelResult:
    """The outcome of one level of checks (``system``, ``model``, ``inference``,
    ``resource``) in a health report.

    Attributes
    ----------
    name : str
        The level.
    status : HealthStatus
        Its score against its thresholds (``<level>_healthy``,
        ``<level>_degraded``); not healthy is the level's alert.
    score : float
        The weighted mean of its checks' scores (computed exactly).
    weight : float
        Its normalised weight in the report's score.
    checks : tuple of str
        The names of its checks, in the order they ran.
    healthy_threshold, degraded_threshold : float
        Its thresholds.
    output : str
        One line: what is wrong (empty when healthy).

    Examples
    --------
    >>> r = LevelResult("model", HealthStatus.DEGRADED, 0.5, 0.25, ("model_execution",),
    ...                 0.96, 0.5, "model_execution degraded")
    >>> r.alert, r.to_health_json()["status"]
    (True, 'warn')
    """

    name: str
    status: HealthStatus
    score: float
    weight: float
    checks: tuple[str, ...] = ()
    healthy_threshold: float = 1.0
    degraded_threshold: float = 0.0
    output: str = ""
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", HealthStatus.parse(self.status))
        object.__setattr__(self, "checks", tuple(self.checks))
        object.__setattr__(self, "keys", tuple(self.keys))

    @property
    def alert(self) -> bool:
        """True when the level is below its healthy threshold."""
        return self.status is not HealthStatus.HEALTHY

    def to_health_json(self) -> dict[str, Any]:
        """This level as a member of the report's ``levels`` object.

        ``status`` (pass / warn / fail), ``score``, ``weight``, ``thresholds``
        (``healthy``, ``degraded``), ``checks`` (the health+json keys of its
        checks, each once) and ``output`` (for warn and fail).
        """
        d: dict[str, Any] = {
            "status": self.status.health_json, "score": json_value(self.score),
            "weight": json_value(self.weight),
            "thresholds": {"healthy": self.healthy_threshold,
                           "degraded": self.degraded_threshold},
            "checks": list(dict.fromkeys(self.keys)),
        }
        if self.output and self.alert:
            d["output"] = self.output
        return d
