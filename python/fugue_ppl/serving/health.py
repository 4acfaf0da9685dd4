"""Health checks of a served model: a weighted score, a trend, liveness and readiness.

A :class:`HealthChecker` watches one :class:`~fugue_ppl.ModelRunner`. Each
call of :meth:`HealthChecker.check` runs every registered check, combines
their statuses into a score, updates the score's trend and returns a
:class:`HealthReport`, which renders itself in the ``application/health+json``
format (:meth:`HealthReport.to_health_json`) with the HTTP status a probe
expects (:attr:`HealthReport.http_status`).

Checks
------
A check is a callable returning a :class:`CheckResult`: a
:class:`HealthStatus` (healthy, degraded or unhealthy), an observed value and
its unit, and a one-line output. Six are built in:

====================  ========================  =============================================
name                  health+json key           status
====================  ========================  =============================================
``model_execution``   ``model:execution``       a smoke run of the model (``smoke_args``)
                                                under the timeout: unhealthy when it raises
                                                or times out; degraded when slower than
                                                ``latency_fraction`` of the timeout or when
                                                its trace has a NaN or infinite weight or
                                                value, or a -inf total weight
``error_rate``        ``model:errorRate``       errors / inferences in the window: degraded
                                                above ``error_rate_degraded`` (5%),
                                                unhealthy above ``error_rate_unhealthy``
                                                (20%)
``latency``           ``model:responseTime``    the window's p99 latency: degraded above
                                                ``latency_fraction`` (80%) of the timeout,
                                                unhealthy above
                                                ``latency_unhealthy_fraction`` (100%) of it
``pool``              ``tracePool:hitRatio``    trace-pool hits / acquisitions in the
                                                window, judged after warm-up: degraded below
                                                ``pool_min_hit_ratio`` (0.8)
``breaker``           ``circuitBreaker:state``  FAILED: unhealthy; DEGRADED or RECOVERY:
                                                degraded
``monitor_alarms``    ``monitors:alarms``       new alarms, in the window, of the monitors
                                                attached to the runner's metrics (EWMA,
                                                control charts, CUSUM): degraded
====================  ========================  =============================================

Thresholds are upper bounds of the better status: an error rate of exactly
5% is healthy, of exactly 20% degraded; a p99 of exactly 80% of the timeout
is healthy (to the latency histogram's resolution, 0.4%); a hit ratio of
exactly 0.8 is healthy.

Windows
-------
The error rate, the latency, the pool's hit ratio and the monitor alarms are
measured over a window, not since the start, so a burst that ended lets the
service recover: every check keeps a snapshot of the runner's counters, and
a check compares the counters with the newest snapshot at least ``window``
seconds old (the checker's creation when none is). With checks every
``window`` seconds the window is the time since the previous check. When
fewer than ``min_calls`` inferences (pool acquisitions) happened in the
window the check reports healthy and says it did not judge. The runner's
metrics count a timed-out run as an error; calls the breaker rejected are
not inferences (the breaker check reports them). The checker's own smoke and
warm-up runs bypass the runner, so they never count in what it measures.

Score and status
----------------
Each check counts ``h = 1`` (healthy), ``0.5`` (degraded) or ``0``
(unhealthy); the score is the weighted mean ``H = sum(w_i h_i) / sum(w_i)``
(weights normalised; computed exactly, so a score on a threshold meets it;
with all weights zero every check counts the same; no checks gives
``H = 1``). ``H >= healthy_threshold`` (0.96) is healthy,
``H >= degraded_threshold`` (0.75) degraded, lower unhealthy. The default
weights (model execution 6, breaker 6, error rate 4, latency 2, pool 1,
monitor alarms 1) make a failing smoke run or an open breaker alone
unhealthy (H = 0.7); an unhealthy error rate degraded on its own (0.8) and
unhealthy with the breaker degraded as well (0.65); any degraded check but
the pool or the monitors degraded (latency: 0.95); the pool or the monitors
alone healthy (0.975) but visible in the details and in the trend.

Trend and early warning
-----------------------
The checker keeps the last ``history_size`` scores with their times (the
injectable ``clock``). After each check it fits a quadratic by least squares
to the last ``trend_window`` points (a line with two distinct times; nothing
with one), giving ``dH/dt`` and ``d²H/dt²`` at the newest point, and
forecasts ``H(t+k) = H + k dH/dt + k² d²H/dt² / 2`` for ``k =
forecast_horizon``, clamped to [0, 1] (:func:`estimate_trend`). When
``dH/dt < -trend_delta`` for ``trend_consecutive`` consecutive checks the
report carries an early warning (:attr:`HealthReport.warning`), typically
while the status is still healthy.

Probes
------
:meth:`HealthChecker.liveness` says the process answers and checks nothing
else (always ``pass``). :meth:`HealthChecker.readiness` checks that the model
is loaded, the warm-up is done (:meth:`HealthChecker.warm_up`; call it at
start-up) and the breaker is not FAILED (a breaker in RECOVERY needs traffic
to close, so it stays ready). Pass and warn answer HTTP 200, fail 503.

Examples
--------
>>> import fugue_ppl as fp
>>> from fugue_ppl.serving.health import HealthChecker
>>> from fugue_ppl.models import sensor
>>> runner = fp.ModelRunner(sensor, rng=42, fallback=(20.0, True))
>>> checker = HealthChecker(runner, smoke_args=(22.0,), warmup=5)
>>> checker.warm_up().status
<HealthStatus.HEALTHY: 'healthy'>
>>> for _ in range(20):
...     _ = runner.infer(22.0)
>>> report = checker.check()
>>> report.status, report.score, report.http_status
(<HealthStatus.HEALTHY: 'healthy'>, 1.0, 200)
>>> doc = report.to_health_json()
>>> doc["status"], sorted(doc["checks"])[:3]
('pass', ['circuitBreaker:state', 'model:errorRate', 'model:execution'])
>>> checker.readiness().http_status, checker.liveness().status.health_json
(200, 'pass')
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import enum
import json
import logging
import math
import numbers
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import numpy as np

from fugue_ppl.checks import (
    Bounded,
    Custom,
    Duration,
    FrozenMapping,
    Int,
    Optional,
    Real,
    Relation,
    Settings,
    check_bounded,
    check_int,
    closest,
    invalid,
    setting,
    settings,
    type_error,
)
from fugue_ppl.core._runtime import PooledPriorHandler, PriorHandler, run
from fugue_ppl.monitoring.window import CounterWindow, Span, gained
from fugue_ppl.errors import InferenceTimeout
from fugue_ppl.serving._breaker import BreakerState
from fugue_ppl.serving._runner import ModelRunner, validate_trace
from fugue_ppl.serving._runner_config import RunnerConfig
from fugue_ppl.validation import safe_repr

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

_log = logging.getLogger("fugue_ppl.serving.health")

#: The media type of :meth:`HealthReport.to_health_json` documents.
HEALTH_JSON_MEDIA_TYPE = "application/health+json"

#: Names of the built-in checks, in the order they run.
BUILTIN_CHECKS: tuple[str, ...] = (
    "model_execution", "error_rate", "latency", "pool", "breaker", "monitor_alarms")

#: Default weights of the built-in checks in the score.
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType({
    "model_execution": 6.0, "error_rate": 4.0, "latency": 2.0, "pool": 1.0,
    "breaker": 6.0, "monitor_alarms": 1.0,
})

_METRIC_CHECKS = frozenset({"error_rate", "latency", "monitor_alarms"})
# Trace issues that make a smoke run degraded (extreme values depend on the
# model's scale; fallbacks cannot happen under a plain prior handler).
_ALARMS = "alarms:"      # the counter groups of the monitors' alarms: "alarms:<monitor>"
_SMOKE_ISSUES = ("non_finite_weight", "non_finite_value", "rejected")


# ====================================================================== status


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


# ====================================================================== helpers


def _rfc3339(ts: float | None) -> str | None:
    """``ts`` (seconds since the epoch) as an RFC 3339 UTC time, in milliseconds.

    None when ``ts`` is None, not finite, or outside the years 1 to 9999.
    """
    t = _to_float(ts) if _is_real(ts) else None
    if t is None or not math.isfinite(t):
        return None
    try:
        dt = datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seconds(x: float) -> str:
    """A duration for a message: ``'12.5 ms'``, ``'1.2 s'``."""
    if x >= 1.0:
        return f"{x:.3g} s"
    if x >= 1e-3:
        return f"{x * 1e3:.3g} ms"
    return f"{x * 1e6:.3g} µs"


def _pct(x: float) -> str:
    return f"{x * 100:.4g}%"


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _to_float(x: Any) -> float | None:
    """A real number as a float; None when it is beyond the float range (a huge int)."""
    try:
        return float(x)
    except OverflowError:
        return None


def _saturated(x: Any) -> float:
    """A real number as a float, +-inf beyond the float range."""
    f = _to_float(x)
    if f is None:
        return math.inf if x > 0 else -math.inf
    return f


def _json_value(v: Any) -> Any:
    """A JSON-safe observed value (None for a non-finite float, or an int with more
    digits than Python writes)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, int) and v.bit_length() > 1024:     # beyond the float range
        try:
            str(v)
        except ValueError:
            return None
    return v


# ====================================================================== results


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
        The check's normalised weight in the score (set by the checker).
    time : float, optional
        When the check finished, seconds since the epoch (set by the checker).

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
                     "component_type", "name"):
            x = getattr(self, name)
            if x is not None and not isinstance(x, str):
                raise TypeError(f"CheckResult: {name} must be a str or None, got "
                                f"{type(x).__name__}")
        for name in ("weight", "time"):
            x = getattr(self, name)
            if x is None:
                continue
            if not _is_real(x):
                raise TypeError(f"CheckResult: {name} must be a number or None, got "
                                f"{type(x).__name__}")
            f = _to_float(x)
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
        value = _json_value(self.observed_value)
        if value is not None:
            d["observedValue"] = value
        if self.observed_unit is not None:
            d["observedUnit"] = self.observed_unit
        d["status"] = self.status.health_json
        rendered = _rfc3339(self.time)
        if rendered is not None:
            d["time"] = rendered
        if self.output and self.status is not HealthStatus.HEALTHY:
            d["output"] = self.output
        return d


@dataclass(frozen=True)
class Trend:
    """The trend of the health score (see :func:`estimate_trend`).

    Attributes
    ----------
    slope : float
        ``dH/dt`` at the newest point, per clock second.
    curvature : float
        ``d²H/dt²`` at the newest point.
    forecast : float
        ``H + k dH/dt + k² d²H/dt² / 2`` for ``k = horizon``, clamped to [0, 1].
    horizon : float
        ``k``, in clock seconds.
    points : int
        Number of (time, score) points fitted.
    """

    slope: float
    curvature: float
    forecast: float
    horizon: float
    points: int

    def to_dict(self) -> dict[str, float | int]:
        """The fields as a dict."""
        return dataclasses.asdict(self)


def estimate_trend(times: Iterable[float], scores: Iterable[float],
                   horizon: float = 0.0) -> Trend:
    """Estimate ``dH/dt``, ``d²H/dt²`` and a forecast from a history of scores.

    A least-squares polynomial in ``t - t_last`` is fitted to the points —
    degree 2 with three or more distinct times, a line with two, nothing
    with one (derivatives 0) — and differentiated at the newest point. The
    forecast extrapolates the newest score ``H``:
    ``H + k dH/dt + k² d²H/dt² / 2``, clamped to [0, 1].

    Parameters
    ----------
    times : iterable of float
        Times of the points (seconds, any origin), oldest first; equal times
        are allowed.
    scores : iterable of float
        The scores at those times.
    horizon : float, default 0.0
        ``k``, seconds ahead of the newest point.

    Returns
    -------
    Trend

    Raises
    ------
    TypeError
        A time or score is not a number.
    ValueError
        No points, lengths differ, a value is not finite (or beyond the
        float range), ``horizon`` is negative, or the derivatives do not fit
        in a float (distinct times too close together for the change in the
        scores).

    Notes
    -----
    The fit is computed in closed form (orthogonal polynomials) on the times
    and scores scaled by powers of two, so any finite inputs work, whatever
    their magnitude or span.

    Examples
    --------
    >>> t = estimate_trend([0, 10, 20, 30], [1.0, 0.9, 0.8, 0.7], horizon=10)
    >>> round(t.slope, 12), abs(round(t.curvature, 12)), round(t.forecast, 12)
    (-0.01, 0.0, 0.6)
    """
    t = _float_array(times, "times")
    h = _float_array(scores, "scores")
    if t.ndim != 1 or h.ndim != 1 or t.size != h.size:
        raise ValueError(f"estimate_trend: times and scores must be two sequences of the same "
                         f"length, got {t.size} and {h.size}")
    if t.size == 0:
        raise ValueError("estimate_trend: no points")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(h))):
        raise ValueError("estimate_trend: times and scores must be finite")
    k = _to_float(horizon) if _is_real(horizon) else None
    if k is None or not (math.isfinite(k) and k >= 0):
        raise ValueError(f"estimate_trend: horizon must be a finite number >= 0, got "
                         f"{safe_repr(horizon)}")
    slope, curvature = _fit_derivatives(t, h)
    # H + k (dH/dt + k d2H/dt2 / 2): overflows to +-inf, never to NaN
    forecast = float(h[-1]) + k * (slope + 0.5 * k * curvature)
    forecast = min(1.0, max(0.0, forecast))
    return Trend(slope, curvature, forecast, k, int(t.size))


def _float_array(values: Iterable[Any], name: str) -> np.ndarray:
    """``values`` as a float array (TypeError / ValueError naming them when they are not)."""
    items = list(values)
    try:
        return np.asarray(items, dtype=float)
    except (TypeError, ValueError, OverflowError):
        pass
    for x in items:                           # which one, and why
        try:
            float(x)
        except OverflowError:
            raise ValueError(f"estimate_trend: {name} must be finite, got {safe_repr(x)} "
                             f"(beyond the float range)") from None
        except (TypeError, ValueError):
            raise TypeError(f"estimate_trend: {name} must be numbers, got "
                            f"{safe_repr(x)}") from None
    raise TypeError(f"estimate_trend: {name} must be a sequence of numbers")


def _fit_derivatives(t: np.ndarray, h: np.ndarray) -> tuple[float, float]:
    """``dH/dt`` and ``d2H/dt2`` at ``t[-1]`` of the least-squares fit (finite inputs)."""
    # Scaled by powers of two (exactly), nothing overflows: the times become
    # z = (t - t[-1]) / span in [-1, 1], the scores y in [-1, 1].
    et = int(np.frexp(np.max(np.abs(t)))[1])
    x = np.ldexp(t, -et) - np.ldexp(t[-1], -et)
    span = np.max(np.abs(x))
    if span == 0.0:
        return 0.0, 0.0
    z = x / span
    deg = min(2, int(np.unique(z).size) - 1)
    if deg < 1:
        return 0.0, 0.0
    eh = int(np.frexp(np.max(np.abs(h)))[1])
    y = np.ldexp(h, -eh)
    y = y - y.mean()                         # the fit's constant term is not needed
    with np.errstate(all="ignore"):
        # Orthogonal polynomials on the points: p1 = z - mean(z) and
        # p2 = z^2 - a p1 - mean(z^2); the fit is c0 + c1 p1 + c2 p2, whose
        # derivatives at z = 0 are c1 - a c2 and 2 c2.
        p1 = z - z.mean()
        n1 = p1 @ p1
        c1 = (p1 @ y) / n1
        dz, dzz = c1, np.float64(0.0)
        if deg == 2:
            q = z * z
            a = (q @ p1) / n1
            p2 = q - a * p1 - q.mean()
            c2 = (p2 @ y) / (p2 @ p2)
            dz, dzz = c1 - a * c2, 2.0 * c2
        # back to the caller's units: t = z span 2^et, H = y 2^eh
        slope = float(np.ldexp(dz / span, eh - et))
        curvature = float(np.ldexp(dzz / span / span, eh - 2 * et))
    if not (math.isfinite(slope) and math.isfinite(curvature)):
        raise ValueError("estimate_trend: times are too close together for the change in the "
                         "scores: the slope or curvature does not fit in a float")
    return slope, curvature


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

    #: The media type of :meth:`to_health_json` documents.
    media_type = HEALTH_JSON_MEDIA_TYPE

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", HealthStatus.parse(self.status))
        if not _is_real(self.score):
            raise TypeError(f"HealthReport: score must be a number, got "
                            f"{type(self.score).__name__}")
        object.__setattr__(self, "score", _saturated(self.score))
        if self.timestamp is not None:
            if not _is_real(self.timestamp):
                raise TypeError(f"HealthReport: timestamp must be a number or None, got "
                                f"{type(self.timestamp).__name__}")
            object.__setattr__(self, "timestamp", _saturated(self.timestamp))
        object.__setattr__(self, "checks", tuple(self.checks))
        object.__setattr__(self, "notes", tuple(self.notes))
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
        return _rfc3339(self.timestamp)

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
        None), ``score``, and for a health report ``forecast``, ``trend`` and
        ``warning``.

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
        d["score"] = _json_value(self.score)
        if self.kind == "health":
            d["forecast"] = None if self.forecast is None else _json_value(self.forecast)
            d["trend"] = None if self.trend is None else {
                "slope": _json_value(self.trend.slope),
                "curvature": _json_value(self.trend.curvature),
                "horizon": self.trend.horizon, "points": self.trend.points}
            d["warning"] = self.warning
        return d

    def to_json(self, *, indent: int | None = None) -> str:
        """:meth:`to_health_json` serialised (strict JSON: no NaN or infinity)."""
        return json.dumps(self.to_health_json(), indent=indent, allow_nan=False)


# ====================================================================== settings


def _default_weights() -> Mapping[str, float]:
    return FrozenMapping(DEFAULT_WEIGHTS)


def _weights(value: Any, name: str, owner: str) -> Mapping[str, float]:
    """The built-in checks' weights: ``value``'s over :data:`DEFAULT_WEIGHTS`."""
    if not isinstance(value, Mapping):
        raise type_error(owner, name, value, "a mapping of check name to weight")
    weights = dict(DEFAULT_WEIGHTS)
    for k, w in value.items():
        if not isinstance(k, str):
            raise type_error(owner, f"{name} keys", k, "check names (str)")
        if k not in DEFAULT_WEIGHTS:
            near = closest(k, BUILTIN_CHECKS)
            hint = (f"did you mean {near!r}?" if near else ", ".join(BUILTIN_CHECKS)
                    + "; a registered check takes its weight in register()")
            raise invalid(owner, f"{name} key", k, f"must be a built-in check's name ({hint})")
        weights[k] = check_bounded(w, f"{name}[{k!r}]", owner, 0.0)
    return FrozenMapping(weights)


@settings
class HealthSettings(Settings):
    """The thresholds and windows of a :class:`HealthChecker`: validated and immutable.

    Each setting's default, limit and meaning is declared once, below (the
    reference lists them: ``docs/configuration.md``); the ``[health]``
    section of :class:`fugue_ppl.config.Config` is one.

    Raises
    ------
    TypeError
        A setting of the wrong type, or unknown.
    InvalidArgument
        A setting out of range or out of order (the message names it).

    Examples
    --------
    >>> s = HealthSettings(error_rate_degraded=0.1)
    >>> [s.status_for(score).value for score in (0.97, 0.75, 0.7)]
    ['healthy', 'degraded', 'unhealthy']
    >>> HealthSettings(error_rate_degraded=0.3)
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.InvalidArgument: HealthSettings: error_rate_degraded must be below ...
    """

    timeout: float | None = setting(
        None, check=Optional(Duration()),
        doc="The model's timeout in seconds: the smoke run's deadline and the latency "
            "reference (none: the runner's deadline).")
    error_rate_degraded: float = setting(0.05, check=Real("probability"),
                                         doc="Error rates above this are degraded.")
    error_rate_unhealthy: float = setting(0.20, check=Real("probability"),
                                          doc="Error rates above this are unhealthy.")
    latency_quantile: float = setting(0.99, check=Real("unit"),
                                      doc="The latency quantile judged.")
    latency_fraction: float = setting(
        0.8, check=Real("positive"),
        doc="The quantile above this fraction of the timeout is degraded (a slower smoke run "
            "too).")
    latency_unhealthy_fraction: float = setting(
        1.0, check=Real("positive"),
        doc="The quantile above this fraction of the timeout is unhealthy.")
    pool_min_hit_ratio: float = setting(
        0.8, check=Real("probability"),
        doc="A trace-pool hit ratio below this (after the warm-up) is degraded.")
    min_calls: int = setting(
        10, check=Int(1), doc="Fewer inferences (pool acquisitions) in the window are not judged.")
    window: float = setting(
        60.0, check=Duration(),
        doc="Seconds the error rate, latency, hit ratio and alarms span (at least).")
    warmup: int = setting(10, check=Int(0),
                          doc="Smoke runs of the warm-up (0: no warm-up needed).")
    weights: Mapping[str, float] = setting(
        check=Custom(_weights, "built-in check names, each weight finite and >= 0"),
        factory=_default_weights,
        doc="Weights of the built-in checks in the score (the others keep DEFAULT_WEIGHTS).")
    healthy_threshold: float = setting(0.96, check=Real("probability"),
                                       doc="Scores at or above this are healthy.")
    degraded_threshold: float = setting(
        0.75, check=Real("probability"),
        doc="Scores at or above this (and below healthy_threshold) are degraded; lower ones "
            "unhealthy.")
    trend_window: int = setting(10, check=Int(2),
                                doc="Points of the score history fitted for the trend.")
    trend_delta: float = setting(
        0.001, check=Bounded(0.0),
        doc="The early warning's slope threshold, in score per clock second.")
    trend_consecutive: int = setting(
        3, check=Int(1),
        doc="Consecutive checks with a slope below -trend_delta that raise the early warning.")
    forecast_horizon: float = setting(60.0, check=Duration(zero=True),
                                      doc="Seconds ahead of the forecast.")
    history_size: int = setting(256, check=Int(2, sys.maxsize), doc="Scores kept.")

    _relations = (
        Relation("error_rate_degraded", "<", "error_rate_unhealthy"),
        Relation("latency_fraction", "<", "latency_unhealthy_fraction"),
        Relation("degraded_threshold", "<", "healthy_threshold"),
        Relation("history_size", ">=", "trend_window"),
    )

    @classmethod
    def from_config(cls, config: Any) -> HealthSettings:
        """The ``[health]`` section of a :class:`fugue_ppl.config.Config`.

        A :class:`~fugue_ppl.serving.RunnerConfig` (a runner built without a
        config) has no such section: the defaults apply.

        Raises
        ------
        TypeError
            ``config`` is neither.

        Examples
        --------
        >>> from fugue_ppl.config import load_config
        >>> cfg = load_config(env={"FUGUE_HEALTH__ERROR_RATE_DEGRADED": "0.1"})
        >>> HealthSettings.from_config(cfg).error_rate_degraded
        0.1
        """
        section = getattr(config, "health", None)
        if isinstance(section, HealthSettings):
            return section
        if section is None and isinstance(config, RunnerConfig):
            return cls()
        raise TypeError(f"HealthSettings.from_config: expected a fugue_ppl.config.Config, "
                        f"got {type(config).__name__}")

    def status_for(self, score: float) -> HealthStatus:
        """The status a score maps to.

        ``score >= healthy_threshold``: healthy; ``score >=
        degraded_threshold``: degraded; below: unhealthy (NaN: unhealthy).

        Parameters
        ----------
        score : float

        Returns
        -------
        HealthStatus

        Raises
        ------
        TypeError
            ``score`` is not a number.
        """
        if not _is_real(score):
            raise TypeError(f"status_for: score must be a number, got {type(score).__name__}")
        if score >= self.healthy_threshold:
            return HealthStatus.HEALTHY
        if score >= self.degraded_threshold:
            return HealthStatus.DEGRADED
        return HealthStatus.UNHEALTHY

    def replace(self, **changes: Any) -> HealthSettings:
        """A copy with ``changes`` applied (checked again).

        ``weights`` given here update the current weights.

        Raises
        ------
        TypeError
            An unknown setting name (with the closest one).
        """
        weights = changes.get("weights")
        if isinstance(weights, Mapping):
            changes["weights"] = {**self.weights, **weights}
        return Settings.replace(self, **changes)


# ====================================================================== checker


#: What a registered check function looks like.
CheckFunction = Callable[[], "CheckResult | HealthStatus"]


@dataclass
class _Check:
    name: str
    func: Callable[..., Any]
    weight: float
    component: str
    measurement: str
    component_type: str | None
    component_id: str | None
    readiness: bool
    builtin: bool


@dataclass
class _Window:
    """What the windowed built-in checks compare: the runner's counters over the window."""

    span: Span
    pool_base: Sequence[int] | None     # (hits, misses) to compare with; None: not judged


class HealthChecker:
    """The health of a :class:`~fugue_ppl.ModelRunner`: checks, score, trend, probes.

    See the module documentation for the checks, windows, score and trend.

    Parameters
    ----------
    runner : ModelRunner
        The runner watched.
    settings : HealthSettings, optional
        Thresholds and windows. None: :meth:`HealthSettings.from_config` of
        the runner's ``config`` (its ``[health]`` section, or the defaults).
    smoke_args : sequence, default ()
        Positional arguments of the smoke and warm-up runs (e.g. ``(22.0,)``
        for the built-in sensor model); checked against the runner's schema.
    smoke_kwargs : mapping, optional
        Keyword arguments of those runs.
    smoke_seed : int, default 0
        Seed of the smoke runs' prior handler (every smoke run draws the same
        values, so a failing smoke run is reproducible).
    builtin_checks : iterable of str, optional
        The built-in checks to register (default: all of
        :data:`BUILTIN_CHECKS`; without the runner's metrics, those not
        needing them).
    clock : callable, default time.monotonic
        Seconds, for windows and the trend (a :class:`~fugue_ppl.ManualClock`
        in tests). A reading that is not a number raises TypeError, one that
        is not finite (or beyond the float range) ValueError, both naming the
        clock, here and in :meth:`check` and :meth:`liveness`, before
        anything changes.
    wall_clock : callable, default time.time
        Seconds since the epoch, for the reports' times. A reading that is
        not a finite number leaves the time unknown (None, rendered null or
        left out) and logs a warning; so does one outside the years 1 to
        9999 when rendered. The probes still answer.
    service_id : str, optional
        health+json ``serviceId`` (default: the model's configured name).
    description : str, optional
        health+json ``description``.
    **overrides
        Any :class:`HealthSettings` field, overriding ``settings``.

    Raises
    ------
    TypeError
        ``runner`` is not a ModelRunner; a clock is not callable; an
        argument or setting has the wrong type or is unknown.
    ValueError
        The smoke arguments fail the runner's schema; an unknown or
        unavailable built-in check; invalid settings
        (:class:`~fugue_ppl.errors.InvalidArgument`).

    Notes
    -----
    Thread-safe: :meth:`check` may be called from a probe thread while
    other threads run inferences; concurrent :meth:`check` calls run one at
    a time. :meth:`liveness` takes no lock, and :meth:`readiness` does not
    wait for the checks of a :meth:`check` in progress (at most for its
    bookkeeping: reading the runner's counters, about a millisecond).

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.models import sensor
    >>> clock = fp.ManualClock()
    >>> runner = fp.ModelRunner(sensor, rng=1, fallback=(20.0, True))
    >>> checker = HealthChecker(runner, smoke_args=(22.0,), clock=clock, window=10,
    ...                         warmup=0)
    >>> checker.register("queue", lambda: CheckResult.degraded("queue 90% full"), weight=4)
    >>> report = checker.check()
    >>> report.status, report.score, report.check("queue").status
    (<HealthStatus.DEGRADED: 'degraded'>, 0.9166666666666666, <HealthStatus.DEGRADED: 'degraded'>)
    """

    _runner: ModelRunner
    _settings: HealthSettings
    _clock: Callable[[], float]
    _wall_clock: Callable[[], float]
    _wall_warned: bool
    _smoke_seed: int
    _smoke_args: tuple[Any, ...]
    _smoke_kwargs: dict[str, Any]
    _timeout: float
    _limit: float
    _unhealthy_limit: float
    _model_name: str
    _service_id: str
    _description: str
    _version: str | None
    _metrics: Any
    _grid: tuple[float, ...]
    _limit_index: int
    _unhealthy_index: int
    _lock: threading.Lock
    _check_lock: threading.Lock
    _checks: dict[str, _Check]
    _counters: CounterWindow
    _history: deque[tuple[float, float]]
    _falling: int
    _last_report: HealthReport | None
    _warmed: bool
    _warm_result: CheckResult | None
    _warm_seq: int
    _warm_pool: tuple[int, int] | None
    _started: float

    def __init__(self, runner: ModelRunner, *, settings: HealthSettings | None = None,
                 smoke_args: Sequence[Any] = (), smoke_kwargs: Mapping[str, Any] | None = None,
                 smoke_seed: int = 0, builtin_checks: Iterable[str] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 service_id: str | None = None, description: str | None = None,
                 **overrides: Any) -> None:
        if not isinstance(runner, ModelRunner):
            raise TypeError(f"HealthChecker: runner must be a ModelRunner, got "
                            f"{type(runner).__name__}")
        if settings is None:
            settings = HealthSettings.from_config(runner.config)
        elif not isinstance(settings, HealthSettings):
            raise TypeError(f"HealthChecker: settings must be a HealthSettings, got "
                            f"{type(settings).__name__}")
        if overrides:
            settings = settings.replace(**overrides)
        for name, c in (("clock", clock), ("wall_clock", wall_clock)):
            if not callable(c):
                raise TypeError(f"HealthChecker: {name} must be callable, got {type(c).__name__}")
        for name, v in (("service_id", service_id), ("description", description)):
            if v is not None and not isinstance(v, str):
                raise TypeError(f"HealthChecker: {name} must be a str or None, got "
                                f"{type(v).__name__}")
        smoke_seed = check_int(smoke_seed, "smoke_seed", "HealthChecker", low=0)
        self._runner = runner
        self._settings = settings
        self._clock = clock
        self._wall_clock = wall_clock
        self._wall_warned = False
        self._smoke_seed = int(smoke_seed)
        self._smoke_args, self._smoke_kwargs = self._smoke_inputs(smoke_args, smoke_kwargs)
        self._timeout = self._resolve_timeout()
        # (a product beyond the float range is the largest float: no latency is above it)
        self._limit = min(settings.latency_fraction * self._timeout, sys.float_info.max)
        self._unhealthy_limit = min(settings.latency_unhealthy_fraction * self._timeout,
                                    sys.float_info.max)
        name = runner.config.model.name
        self._model_name = name
        self._service_id = service_id if service_id is not None else name
        self._description = description if description is not None else (
            f"fugue-ppl model {name!r}")
        self._version = None if runner.version is None else str(runner.version)
        self._metrics = runner.metrics
        self._grid, self._limit_index, self._unhealthy_index = self._latency_grid()

        self._lock = threading.Lock()         # the state below
        self._check_lock = threading.Lock()   # one check() at a time
        self._checks = {}
        self._history = deque(maxlen=settings.history_size)
        self._falling = 0
        self._last_report = None
        self._warmed = settings.warmup == 0
        self._warm_result = None
        self._warm_seq = -1
        self._warm_pool = None
        self._started = self._now()

        self._register_builtins(builtin_checks)
        self._counters = CounterWindow(self._read_counters, settings.window, now=self._started,
                                       keep=settings.history_size)

    # ------------------------------------------------------------ construction helpers

    def _smoke_inputs(self, args: Any, kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if isinstance(args, (str, bytes)) or not isinstance(args, (Sequence, np.ndarray)):
            raise TypeError(f"HealthChecker: smoke_args must be a sequence (tuple) of "
                            f"arguments, got {type(args).__name__}")
        args = tuple(args)
        if kwargs is None:
            kwargs = {}
        elif not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
            raise TypeError(f"HealthChecker: smoke_kwargs must be a mapping of str to "
                            f"values, got {type(kwargs).__name__}")
        kwargs = dict(kwargs)
        schema = self._runner.schema
        if schema is not None:
            try:
                cleaned = schema.validate_args(*args, **kwargs)
            except ValueError as exc:
                raise ValueError(f"HealthChecker: smoke_args/smoke_kwargs are rejected by the "
                                 f"runner's schema: {exc}") from exc
            return tuple(cleaned.values()), {}
        return args, kwargs

    def _resolve_timeout(self) -> float:
        t = self._settings.timeout
        if t is not None:
            return t
        candidates: tuple[Any, ...] = (
            getattr(self._runner, "deadline", None),
            getattr(getattr(self._runner.config, "runtime", None), "max_inference_time", None))
        for value in candidates:
            if _is_real(value) and math.isfinite(value) and value > 0:
                return float(value)
        return 1.0

    def _latency_grid(self) -> tuple[tuple[float, ...], int, int]:
        # Bounds for the windowed latency quantile: quarter octaves from
        # limit / 2**20 (not below the histogram's lowest value) to 16x the
        # unhealthy limit, and both limits exactly (the decisions are read
        # there, so they are as exact as the histogram). Each check reads the
        # counts at these bounds once. (Limits at the ends of the float range
        # leave a short grid, or the limits alone.)
        lo = self._limit / 2.0**20
        hi = min(self._unhealthy_limit * 16.0, sys.float_info.max)
        if self._metrics is not None:
            lo = max(lo, self._metrics.latency.lowest)
        bounds = {self._limit, self._unhealthy_limit}
        if 0.0 < lo < hi:
            ratio = hi / lo
            octaves = math.log2(ratio) if ratio < math.inf else math.log2(hi) - math.log2(lo)
            n = math.ceil(octaves * 4) + 1
            with np.errstate(over="ignore"):     # numpy's power on the way to the float max
                grid = np.geomspace(lo, hi, n)
            bounds.update(float(x) for x in grid if math.isfinite(x))
        grid = tuple(sorted(bounds))
        return grid, grid.index(self._limit), grid.index(self._unhealthy_limit)

    def _register_builtins(self, names: Iterable[str] | None) -> None:
        if names is None:
            chosen = [n for n in BUILTIN_CHECKS
                      if self._metrics is not None or n not in _METRIC_CHECKS]
        else:
            if isinstance(names, str) or not isinstance(names, Iterable):
                raise TypeError(f"HealthChecker: builtin_checks must be an iterable of check "
                                f"names, got {type(names).__name__}")
            chosen = []
            for n in names:
                if n not in BUILTIN_CHECKS:
                    close = difflib.get_close_matches(str(n), BUILTIN_CHECKS, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise ValueError(f"HealthChecker: builtin_checks: unknown check "
                                     f"{safe_repr(n)} (known: {', '.join(BUILTIN_CHECKS)}){hint}")
                if n in _METRIC_CHECKS and self._metrics is None:
                    raise ValueError(f"HealthChecker: builtin_checks: {n!r} needs the runner's "
                                     f"metrics (the runner was built with metrics=False)")
                if n not in chosen:
                    chosen.append(n)
            chosen.sort(key=BUILTIN_CHECKS.index)
        breaker_name = self._runner.breaker.name
        spec = {
            "model_execution": (self._check_model, "model", "execution", self._model_name),
            "error_rate": (self._check_error_rate, "model", "errorRate", self._model_name),
            "latency": (self._check_latency, "model", "responseTime", self._model_name),
            "pool": (self._check_pool, "tracePool", "hitRatio", "trace-pool"),
            "breaker": (self._check_breaker, "circuitBreaker", "state", breaker_name),
            "monitor_alarms": (self._check_monitors, "monitors", "alarms", "monitors"),
        }
        for n in chosen:
            func, component, measurement, cid = spec[n]
            self._checks[n] = _Check(n, func, self._settings.weights[n], component, measurement,
                                     "component", cid, False, True)

    # ------------------------------------------------------------ properties

    @property
    def runner(self) -> ModelRunner:
        """The runner watched."""
        return self._runner

    @property
    def settings(self) -> HealthSettings:
        """The thresholds and windows."""
        return self._settings

    @property
    def timeout(self) -> float:
        """The timeout in seconds (smoke-run deadline, latency reference)."""
        return self._timeout

    @property
    def checks(self) -> tuple[str, ...]:
        """Names of the registered checks, in the order they run."""
        with self._lock:
            return tuple(self._checks)

    @property
    def weights(self) -> dict[str, float]:
        """Each registered check's normalised weight in the score."""
        with self._lock:
            checks = list(self._checks.values())
        names = [c.name for c in checks]
        return dict(zip(names, _normalised([c.weight for c in checks]), strict=True))

    @property
    def history(self) -> tuple[tuple[float, float], ...]:
        """The kept ``(clock time, score)`` points, oldest first."""
        with self._lock:
            return tuple(self._history)

    @property
    def warmed_up(self) -> bool:
        """True when the warm-up is done (or ``warmup`` is 0)."""
        return self._warmed

    @property
    def last_report(self) -> HealthReport | None:
        """The latest report of :meth:`check` (None before the first)."""
        return self._last_report

    def __repr__(self) -> str:
        return (f"HealthChecker({self._model_name!r}, checks={list(self.checks)}, "
                f"timeout={self._timeout!r})")

    # ------------------------------------------------------------ registration

    def register(self, name: str, func: CheckFunction, *, weight: float = 1.0,
                 component: str | None = None, measurement: str = "status",
                 component_type: str | None = "component", component_id: str | None = None,
                 readiness: bool = False) -> None:
        """Add a check.

        Parameters
        ----------
        name : str
            Unique among the registered checks (built-ins included).
        func : callable
            Called with no arguments; returns a :class:`CheckResult` (or a
            bare :class:`HealthStatus`). An exception it raises makes the
            check unhealthy (the output names the check and the exception
            type only; the traceback goes to the ``fugue_ppl.serving.health`` log).
        weight : float, default 1.0
            Its weight in the score (finite, >= 0).
        component : str, optional
            The component of the health+json key (default: ``name``).
        measurement : str, default "status"
            The measurement of the health+json key.
        component_type : str or None, default "component"
            health+json ``componentType``.
        component_id : str, optional
            health+json ``componentId``.
        readiness : bool, default False
            Also run it in :meth:`readiness` (an unhealthy result makes the
            service not ready).

        Raises
        ------
        TypeError
            ``func`` is not callable; an argument has the wrong type.
        ValueError
            ``name`` is empty or already registered; ``weight`` is negative
            or not finite.
        """
        if not isinstance(name, str):
            raise TypeError(f"register: name must be a str, got {type(name).__name__}")
        if not name.strip():
            raise ValueError("register: name must not be empty")
        if not callable(func):
            raise TypeError(f"register: check {name!r}: func must be callable, got "
                            f"{type(func).__name__}")
        if not _is_real(weight):
            raise TypeError(f"register: check {name!r}: weight must be a number, got "
                            f"{type(weight).__name__}")
        w = _to_float(weight)
        if w is None or not (math.isfinite(w) and w >= 0):
            raise ValueError(f"register: check {name!r}: weight must be finite and >= 0, got "
                             f"{safe_repr(weight) if w is None else repr(w)}")
        weight = w
        for label, v in (("component", component), ("component_type", component_type),
                         ("component_id", component_id)):
            if v is not None and not isinstance(v, str):
                raise TypeError(f"register: check {name!r}: {label} must be a str or None, got "
                                f"{type(v).__name__}")
        if not isinstance(measurement, str):
            raise TypeError(f"register: check {name!r}: measurement must be a str, got "
                            f"{type(measurement).__name__}")
        if not measurement:
            raise ValueError(f"register: check {name!r}: measurement must not be empty")
        if not isinstance(readiness, bool):
            raise TypeError(f"register: check {name!r}: readiness must be a bool, got "
                            f"{type(readiness).__name__}")
        check = _Check(name, func, weight, component or name, measurement, component_type,
                       component_id, readiness, False)
        with self._lock:
            if name in self._checks:
                raise ValueError(f"register: a check named {name!r} is already registered")
            self._checks[name] = check

    def unregister(self, name: str) -> None:
        """Remove the check ``name`` (a built-in one too).

        Raises
        ------
        KeyError
            No check of that name is registered.
        """
        with self._lock:
            if name not in self._checks:
                raise KeyError(f"unregister: no check named {name!r}; registered: "
                               f"{list(self._checks)}")
            del self._checks[name]

    # ------------------------------------------------------------ clocks and snapshots

    def _now(self) -> float:
        """The clock's reading, checked before anything changes."""
        t = self._clock()
        if not _is_real(t):
            raise TypeError(f"HealthChecker: clock must return a number of seconds, got "
                            f"{safe_repr(t)}")
        v = _to_float(t)
        if v is None or not math.isfinite(v):
            raise ValueError(f"HealthChecker: clock must return a finite number of seconds, got "
                             f"{safe_repr(t)}")
        return v

    def _wall(self) -> float | None:
        t = self._wall_clock()
        try:
            v = float(t) if _is_real(t) else math.nan
        except OverflowError:                    # an int beyond the float range
            v = math.nan
        if not math.isfinite(v):
            v = None
        if not self._wall_warned and (v is None or _rfc3339(v) is None):
            self._wall_warned = True
            _log.warning("HealthChecker: the wall clock returned %s, not a time in the years "
                         "1 to 9999; report times are left out", safe_repr(t))
        return v

    def _read_counters(self) -> dict[str, tuple[int, ...]]:
        reading: dict[str, tuple[int, ...]] = {}
        m = self._metrics
        if m is not None:
            counts = m.counts()
            reading["requests"] = (counts["inferences"], counts["errors"])
            reading["latency"] = tuple(n for _, n in m.latency.cumulative_counts(self._grid))
            for name, n in m.monitor_alarms.items():
                reading[_ALARMS + name] = (n,)
        stats = self._runner.pool.stats
        reading["pool"] = (stats.hits, stats.misses)
        return reading

    def _window(self, now: float) -> _Window:
        # called with the lock held
        span = self._counters.advance(now)
        pool_base: Sequence[int] | None = None
        if self._warmed:
            if self._warm_pool is not None and self._warm_seq > span.seq:
                pool_base = self._warm_pool
            else:
                pool_base = span.base["pool"]
        return _Window(span, pool_base)

    # ------------------------------------------------------------ built-in checks

    def _smoke_run(self, handler: Any) -> tuple[Any, float]:
        t0 = time.perf_counter()
        _, trace = run(handler, self._runner.model, *self._smoke_args, deadline=self._timeout,
                       **self._smoke_kwargs)
        return trace, time.perf_counter() - t0

    def _check_model(self, w: _Window) -> CheckResult:
        t0 = time.perf_counter()
        try:
            trace, took = self._smoke_run(PriorHandler(rng=self._smoke_seed))
        except InferenceTimeout:
            return CheckResult.unhealthy(
                f"smoke run exceeded the {_seconds(self._timeout)} timeout",
                observed_value=time.perf_counter() - t0, observed_unit="s")
        except Exception as exc:  # noqa: BLE001 - any failure of the model is the finding
            return CheckResult.unhealthy(f"smoke run failed: {type(exc).__name__}",
                                         observed_value=time.perf_counter() - t0,
                                         observed_unit="s")
        kinds = sorted({i.kind for i in validate_trace(trace) if i.kind in _SMOKE_ISSUES})
        if kinds:
            return CheckResult.degraded(f"smoke run trace issues: {', '.join(kinds)}",
                                        observed_value=took, observed_unit="s")
        if took > self._limit:
            return CheckResult.degraded(
                f"smoke run took {_seconds(took)}, above {_pct(self._settings.latency_fraction)}"
                f" of the {_seconds(self._timeout)} timeout", observed_value=took,
                observed_unit="s")
        return CheckResult.healthy(f"smoke run ok in {_seconds(took)}", observed_value=took,
                                   observed_unit="s")

    def _not_judged(self, n: int, what: str, value: Any, unit: str | None) -> CheckResult:
        return CheckResult.healthy(
            f"{n} {what} in the window, fewer than min_calls={self._settings.min_calls}: "
            f"not judged", observed_value=value, observed_unit=unit)

    def _check_error_rate(self, w: _Window) -> CheckResult:
        s = self._settings
        n, e = w.span.gained("requests")
        rate = e / n if n else None
        if n < s.min_calls:
            return self._not_judged(n, "inferences", rate, "ratio")
        assert rate is not None
        where = f"error rate {_pct(rate)} ({e} of {n} inferences)"
        # the worse status is tested first: every branch is reachable
        if rate > s.error_rate_unhealthy:
            return CheckResult.unhealthy(f"{where} above {_pct(s.error_rate_unhealthy)}",
                                         observed_value=rate, observed_unit="ratio")
        if rate > s.error_rate_degraded:
            return CheckResult.degraded(f"{where} above {_pct(s.error_rate_degraded)}",
                                        observed_value=rate, observed_unit="ratio")
        return CheckResult.healthy(f"{where} within {_pct(s.error_rate_degraded)}",
                                   observed_value=rate, observed_unit="ratio")

    def _check_latency(self, w: _Window) -> CheckResult:
        s = self._settings
        counts = w.span.gained("latency")
        n = counts[-1]
        if n < s.min_calls:
            return self._not_judged(n, "inferences", None, "s")
        target = max(1, math.ceil(round(s.latency_quantile * n, 9)))
        if counts[self._unhealthy_index] < target:
            status = HealthStatus.UNHEALTHY
        elif counts[self._limit_index] < target:
            status = HealthStatus.DEGRADED
        else:
            status = HealthStatus.HEALTHY
        q, edge = self._quantile(counts, target, whole=counts == tuple(w.span.cur["latency"]),
                                 status=status)
        label = f"p{s.latency_quantile * 100:g} latency {edge}{_seconds(q)} ({n} inferences)"
        timeout = _seconds(self._timeout)
        if status is HealthStatus.UNHEALTHY:
            output = f"{label} above {_pct(s.latency_unhealthy_fraction)} of the {timeout} timeout"
        elif status is HealthStatus.DEGRADED:
            output = f"{label} above {_pct(s.latency_fraction)} of the {timeout} timeout"
        else:
            output = f"{label} within {_pct(s.latency_fraction)} of the {timeout} timeout"
        return CheckResult(status, observed_value=q, observed_unit="s", output=output)

    def _quantile(self, counts: Sequence[int], target: int, *, whole: bool,
                  status: HealthStatus) -> tuple[float, str]:
        # The window's quantile (and "<= " / "> " when it is only bounded).
        # A window holding every recorded latency reads the histogram itself
        # (0.4% resolution); otherwise the counts at the grid bounds give it,
        # interpolated log-linearly in the first cell reaching the target
        # rank, within the histogram's min and max. It is then kept on the
        # side of the limits the (exact) status says.
        lat = self._metrics.latency
        edge = ""
        if whole:
            q = lat.quantile(self._settings.latency_quantile)
        else:
            grid = self._grid
            i = next(k for k, c in enumerate(counts) if c >= target)
            if i == 0:
                q, edge = grid[0], "<= "
            elif i == len(grid):
                q, edge = grid[-1], "> "
            else:
                lo, hi = grid[i - 1], grid[i]
                frac = (target - counts[i - 1]) / (counts[i] - counts[i - 1])
                q = lo * (hi / lo) ** frac
            smallest, largest = lat.min, lat.max
            if math.isfinite(largest) and q >= largest:
                q, edge = largest, ""
            if math.isfinite(smallest) and q <= smallest:
                q, edge = smallest, ""
        if status is HealthStatus.HEALTHY:
            q = min(q, self._limit)
        elif status is HealthStatus.DEGRADED:
            q = min(max(q, math.nextafter(self._limit, math.inf)), self._unhealthy_limit)
        else:
            q = max(q, math.nextafter(self._unhealthy_limit, math.inf))
        return q, edge

    def _check_pool(self, w: _Window) -> CheckResult:
        s = self._settings
        if w.pool_base is None:
            return CheckResult.healthy("not judged before warm-up", observed_unit="ratio")
        hits, misses = gained(w.span.cur["pool"], w.pool_base)
        n = hits + misses
        ratio = hits / n if n else None
        if n < s.min_calls:
            return self._not_judged(n, "trace acquisitions", ratio, "ratio")
        assert ratio is not None
        where = f"trace-pool hit ratio {ratio:.4g} ({hits} of {n} acquisitions)"
        if ratio < s.pool_min_hit_ratio:
            return CheckResult.degraded(f"{where} below {s.pool_min_hit_ratio:g}",
                                        observed_value=ratio, observed_unit="ratio")
        return CheckResult.healthy(f"{where}", observed_value=ratio, observed_unit="ratio")

    def _check_breaker(self, w: _Window | None) -> CheckResult:
        b = self._runner.breaker
        state = b.state
        m = b.metrics
        detail = (f"circuit breaker {b.name!r} is {state.name} (failure rate "
                  f"{_pct(m['failure_rate'])} over {m['window_calls']} calls)")
        if state is BreakerState.FAILED:
            retry = m["retry_after"]
            when = "until reset" if math.isinf(retry) else f"for {_seconds(retry)}"
            return CheckResult.unhealthy(f"{detail}; refusing calls {when}",
                                         observed_value=state.name)
        if state is BreakerState.HEALTHY:
            return CheckResult.healthy(detail, observed_value=state.name)
        return CheckResult.degraded(detail, observed_value=state.name)

    def _check_monitors(self, w: _Window) -> CheckResult:
        names = [k for k in w.span.cur if k.startswith(_ALARMS)]
        if not names:
            return CheckResult.healthy("no monitors attached to the runner's metrics",
                                       observed_value=0, observed_unit="alarms")
        new = {k[len(_ALARMS):]: w.span.gained(k)[0] for k in names}
        total = sum(new.values())
        if total:
            which = ", ".join(f"{k} ({v})" for k, v in sorted(new.items()) if v)
            return CheckResult.degraded(f"{total} monitor alarm(s) in the window: {which}",
                                        observed_value=total, observed_unit="alarms")
        return CheckResult.healthy(f"no alarms in the window ({len(names)} monitor(s))",
                                   observed_value=0, observed_unit="alarms")

    # ------------------------------------------------------------ running checks

    def _run(self, check: _Check, window: _Window | None) -> CheckResult:
        try:
            result = check.func(window) if check.builtin else check.func()
        except Exception as exc:  # noqa: BLE001 - a check that raises is unhealthy
            _log.warning("health check %r raised %s", check.name, type(exc).__name__,
                         exc_info=True)
            result = CheckResult.unhealthy(f"check {check.name!r} raised {type(exc).__name__}")
        else:
            if isinstance(result, HealthStatus):
                result = CheckResult(result)
            elif not isinstance(result, CheckResult):
                raise TypeError(f"health check {check.name!r} returned "
                                f"{type(result).__name__}; expected a CheckResult or a "
                                f"HealthStatus")
        return dataclasses.replace(
            result, name=check.name, time=self._wall(),
            component=result.component or check.component,
            measurement=result.measurement or check.measurement,
            component_id=(result.component_id if result.component_id is not None
                          else check.component_id),
            component_type=(result.component_type if result.component_type is not None
                            else check.component_type))

    def check(self) -> HealthReport:
        """Run every check; the status, score, trend and early warning.

        Returns
        -------
        HealthReport
            ``kind="health"``.

        Raises
        ------
        TypeError
            A registered check returned something other than a
            :class:`CheckResult` or :class:`HealthStatus` (the message names
            it). A check that raises does not raise here: it is reported
            unhealthy.
        TypeError, ValueError
            The clock's reading is not a finite number of seconds (nothing
            is run or recorded).
        """
        s = self._settings
        with self._check_lock:
            with self._lock:
                checks = list(self._checks.values())
                now = self._now()
                window = self._window(now)
            results = [self._run(c, window) for c in checks]
            raw = [c.weight for c in checks]
            results = [dataclasses.replace(r, weight=w)
                       for r, w in zip(results, _normalised(raw), strict=True)]
            score = _score(results, raw)
            status = s.status_for(score)
            with self._lock:
                self._history.append((now, score))
                points = list(self._history)[-s.trend_window:]
                trend = estimate_trend([p[0] for p in points], [p[1] for p in points],
                                       s.forecast_horizon)
                self._falling = self._falling + 1 if trend.slope < -s.trend_delta else 0
                falling = self._falling
            warning = falling >= s.trend_consecutive
            forecast_status = s.status_for(trend.forecast)
            notes: list[str] = []
            message = f"{status.value} (score {score:.3f})"
            bad = [r for r in results if r.status is not HealthStatus.HEALTHY]
            if bad:
                message += ": " + "; ".join(f"{r.name} {r.status.value}: {r.output}"
                                            for r in bad)
            if warning:
                note = (f"early warning: health score falling at {trend.slope:.3g}/s for "
                        f"{falling} consecutive checks (threshold -{s.trend_delta:g}/s); "
                        f"forecast {trend.forecast:.3f} ({forecast_status.value}) in "
                        f"{s.forecast_horizon:g} s")
                notes.append(note)
                message += f". {note[0].upper()}{note[1:]}"
            report = HealthReport(
                status, score, message, tuple(results), self._wall(), "health",
                trend.forecast, forecast_status, trend, warning, tuple(notes),
                self._service_id, self._version, self._description)
            with self._lock:
                self._last_report = report
            return report

    # ------------------------------------------------------------ probes

    def liveness(self) -> HealthReport:
        """The process answers: always pass, with the uptime; checks nothing else.

        Returns
        -------
        HealthReport
            ``kind="liveness"``, healthy, score 1, one check ``uptime``
            (``process:uptime``, seconds of the checker's clock since it was
            created).
        """
        uptime = max(0.0, self._now() - self._started)
        wall = self._wall()
        result = CheckResult.healthy(
            f"alive for {uptime:.3f} s", observed_value=uptime, observed_unit="s",
            component="process", measurement="uptime", component_type="system", name="uptime",
            weight=1.0, time=wall)
        return HealthReport(HealthStatus.HEALTHY, 1.0, "alive", (result,), wall, "liveness",
                            service_id=self._service_id, version=self._version,
                            description=self._description)

    def readiness(self) -> HealthReport:
        """Ready to serve: model loaded, warm-up done, breaker not FAILED.

        The checks: ``model_loaded`` (``model:loaded``), ``warm_up``
        (``model:warmup``), ``breaker`` (``circuitBreaker:state``), and those
        registered with ``readiness=True``. Any unhealthy check makes the
        service not ready (fail, 503); a degraded one gives warn (200). A
        breaker in RECOVERY or DEGRADED is ready: it needs traffic to close.

        Returns
        -------
        HealthReport
            ``kind="readiness"``.
        """
        r = self._runner
        wall = self._wall
        if callable(r.model):
            loaded = CheckResult.healthy(
                f"model {self._model_name!r} version {self._version!r} loaded")
        else:  # pragma: no cover - a ModelRunner always holds a callable model
            loaded = CheckResult.unhealthy("no model loaded")
        with self._lock:
            warmed, warm = self._warmed, self._warm_result
        if warmed:
            warm_check = CheckResult.healthy(
                "warm-up done" if warm is None else warm.output,
                observed_value=None if warm is None else warm.observed_value,
                observed_unit="runs")
        elif warm is not None:
            warm_check = CheckResult.unhealthy(warm.output, observed_value=warm.observed_value,
                                               observed_unit="runs")
        else:
            warm_check = CheckResult.unhealthy("warm-up not done (call HealthChecker.warm_up())")
        breaker = self._check_breaker(None)
        if breaker.status is HealthStatus.DEGRADED:
            breaker = dataclasses.replace(breaker, status=HealthStatus.HEALTHY)
        model_id = self._model_name
        results = [
            dataclasses.replace(loaded, name="model_loaded", component="model",
                                measurement="loaded", component_type="component",
                                component_id=model_id, time=wall()),
            dataclasses.replace(warm_check, name="warm_up", component="model",
                                measurement="warmup", component_type="component",
                                component_id=model_id, time=wall()),
            dataclasses.replace(breaker, name="breaker", component="circuitBreaker",
                                measurement="state", component_type="component",
                                component_id=r.breaker.name, time=wall()),
        ]
        raw = [1.0, 1.0, 1.0]
        with self._lock:
            extra = [c for c in self._checks.values() if c.readiness]
        for c in extra:
            results.append(self._run(c, None))
            raw.append(c.weight)
        results = [dataclasses.replace(x, weight=w)
                   for x, w in zip(results, _normalised(raw), strict=True)]
        score = _score(results, raw)
        if any(x.status is HealthStatus.UNHEALTHY for x in results):
            status = HealthStatus.UNHEALTHY
        elif any(x.status is HealthStatus.DEGRADED for x in results):
            status = HealthStatus.DEGRADED
        else:
            status = HealthStatus.HEALTHY
        bad = [x for x in results if x.status is not HealthStatus.HEALTHY]
        message = "ready" if status is not HealthStatus.UNHEALTHY else "not ready"
        if bad:
            message += ": " + "; ".join(f"{x.name} {x.status.value}: {x.output}" for x in bad)
        return HealthReport(status, score, message, tuple(results), wall(), "readiness",
                            service_id=self._service_id, version=self._version,
                            description=self._description)

    def warm_up(self, n: int | None = None) -> CheckResult:
        """Run the smoke inference ``n`` times through the runner's trace pool.

        The runs use the smoke arguments, the timeout and the runner's pool
        (so it holds a trace afterwards) but neither the runner's metrics,
        breaker nor random stream. The warm-up is done when every run
        succeeds; the pool check then judges acquisitions made after it.

        Parameters
        ----------
        n : int, optional
            Runs (default ``settings.warmup``); 0 marks the warm-up done.

        Returns
        -------
        CheckResult
            Healthy when every run succeeded (observed value: runs that
            succeeded), else unhealthy naming the first error's type.

        Raises
        ------
        TypeError, ValueError
            ``n`` is not an int >= 0.
        """
        if n is None:
            n = self._settings.warmup
        elif isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"warm_up: n must be an int, got {type(n).__name__}")
        elif n < 0:
            raise ValueError(f"warm_up: n must be >= 0, got {safe_repr(n)}")
        handler = PooledPriorHandler(rng=self._smoke_seed, pool=self._runner.pool)
        ok = 0
        first_error: str | None = None
        for _ in range(int(n)):
            try:
                trace, _ = self._smoke_run(handler)
            except Exception as exc:  # noqa: BLE001 - counted, reported as not done
                if first_error is None:
                    first_error = type(exc).__name__
                continue
            trace.release()
            ok += 1
        failed = int(n) - ok
        if failed:
            result = CheckResult.unhealthy(
                f"warm-up failed: {failed} of {n} smoke runs failed (first: {first_error})",
                observed_value=ok, observed_unit="runs", component="model",
                measurement="warmup")
        else:
            result = CheckResult.healthy(f"warm-up done: {n} smoke runs", observed_value=ok,
                                         observed_unit="runs", component="model",
                                         measurement="warmup")
        stats = self._runner.pool.stats
        with self._lock:
            self._warmed = not failed
            self._warm_result = result
            self._warm_seq = self._counters.seq
            self._warm_pool = (stats.hits, stats.misses)
        return result


def _normalised(weights: list[float]) -> list[float]:
    try:
        total = math.fsum(weights)
    except OverflowError:                    # weights summing beyond the float range
        weights = [w / 2.0**64 for w in weights]     # exact, but for the negligible ones
        total = math.fsum(weights)
    if total > 0:
        return [w / total for w in weights]
    return [1.0 / len(weights)] * len(weights) if weights else []


def _exact(w: float) -> Fraction:
    # the weight as an exact fraction, read as the decimal it was written as
    # (0.1 -> 1/10) when that is within rounding of the float
    f = Fraction(w)
    g = f.limit_denominator(10**9)
    return g if abs(g - f) <= f * Fraction(1, 10**15) else f


def _score(results: list[CheckResult], raw_weights: list[float]) -> float:
    """``sum(w h) / sum(w)`` computed exactly, then rounded once to a float, so that
    a score on a threshold (0.75 = 15/20) meets it; every check counts the same when
    all weights are 0; 1.0 with no checks."""
    if not results:
        return 1.0
    weights = [_exact(w) for w in raw_weights]
    total = sum(weights)
    if total == 0:
        weights, total = [Fraction(1)] * len(results), Fraction(len(results))
    h = {HealthStatus.HEALTHY: Fraction(1), HealthStatus.DEGRADED: Fraction(1, 2),
         HealthStatus.UNHEALTHY: Fraction(0)}
    return float(sum(w * h[r.status] for r, w in zip(results, weights, strict=True)) / total)
