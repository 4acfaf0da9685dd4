"""The settings of health checking: :class:`HealthSettings` (thresholds, windows, weights
and trend, each declared once with its default) and the built-in checks' names and
default weights.

The ``[health]`` section of :class:`fugue_ppl.config.Config` is a
:class:`HealthSettings`; :mod:`~fugue_ppl.serving.health.checker` applies it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

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
    closest,
    invalid,
    setting,
    settings,
    type_error,
)
from fugue_ppl.serving._runner_config import RunnerConfig
from fugue_ppl.serving.health._numbers import is_real
from fugue_ppl.serving.health.status import HealthStatus
from fugue_ppl.validation import safe_repr

__all__ = ["BUILTIN_CHECKS", "BUILTIN_LEVELS", "DEFAULT_LEVEL_WEIGHTS", "DEFAULT_WEIGHTS",
           "LEVELS", "HealthSettings"]

#: The levels of the checks (Fugue's production guide), in the order reports list them.
LEVELS: tuple[str, ...] = ("system", "model", "inference", "resource")

#: Names of the built-in checks, in the order they run.
BUILTIN_CHECKS: tuple[str, ...] = (
    "model_execution", "error_rate", "latency", "pool", "breaker", "monitor_alarms",
    "cpu", "memory", "open_fds")

#: The level of each built-in check.
BUILTIN_LEVELS: Mapping[str, str] = MappingProxyType({
    "model_execution": "model", "error_rate": "inference", "latency": "inference",
    "monitor_alarms": "inference", "pool": "system", "breaker": "system",
    "cpu": "resource", "memory": "resource", "open_fds": "resource",
})

#: Default weights of the built-in checks in their level's score.
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType({
    "model_execution": 6.0, "error_rate": 4.0, "latency": 2.0, "pool": 1.0,
    "breaker": 6.0, "monitor_alarms": 1.0, "cpu": 1.0, "memory": 1.0, "open_fds": 1.0,
})

#: Default weights of the levels in the score.
DEFAULT_LEVEL_WEIGHTS: Mapping[str, float] = MappingProxyType({
    "system": 7.0, "model": 6.0, "inference": 7.0, "resource": 2.0,
})


def _default_weights() -> Mapping[str, float]:
    return FrozenMapping(DEFAULT_WEIGHTS)


def _default_level_weights() -> Mapping[str, float]:
    return FrozenMapping(DEFAULT_LEVEL_WEIGHTS)


def _weight_map(value: Any, name: str, owner: str, defaults: Mapping[str, float],
                what: str, hint: str = "") -> Mapping[str, float]:
    # ``value``'s weights over ``defaults``: keys among the defaults', weights finite and >= 0.
    noun = what.split()[-1]                 # "check" or "level"
    if not isinstance(value, Mapping):
        raise type_error(owner, name, value, f"a mapping of {noun} name to weight")
    weights = dict(defaults)
    for k, w in value.items():
        if not isinstance(k, str):
            raise type_error(owner, f"{name} keys", k, f"{noun} names (str)")
        if k not in defaults:
            near = closest(k, tuple(defaults))
            where = f"did you mean {near!r}?" if near else ", ".join(defaults) + hint
            raise invalid(owner, f"{name} key", k, f"must be a {what}'s name ({where})")
        weights[k] = check_bounded(w, f"{name}[{k!r}]", owner, 0.0)
    return FrozenMapping(weights)


def _weights(value: Any, name: str, owner: str) -> Mapping[str, float]:
    """The built-in checks' weights: ``value``'s over :data:`DEFAULT_WEIGHTS`."""
    return _weight_map(value, name, owner, DEFAULT_WEIGHTS, "built-in check",
                       "; a registered check takes its weight in register()")


def _level_weights(value: Any, name: str, owner: str) -> Mapping[str, float]:
    """The levels' weights: ``value``'s over :data:`DEFAULT_LEVEL_WEIGHTS`."""
    return _weight_map(value, name, owner, DEFAULT_LEVEL_WEIGHTS, "level")


def _level_healthy(level: str) -> Any:
    return setting(0.96, check=Real("probability"),
                   doc=f"The {level} level's scores at or above this are healthy; lower ones "
                       f"raise its alert.")


def _level_degraded(level: str) -> Any:
    return setting(0.5, check=Real("probability"),
                   doc=f"The {level} level's scores at or above this (and below "
                       f"{level}_healthy) are degraded; lower ones unhealthy.")


@settings
class HealthSettings(Settings):
    """The thresholds and windows of a :class:`HealthChecker`: validated and immutable.

    Each setting's default, limit and meaning is declared once, below (the
    reference lists them: ``docs/configuration.md``); the ``[health]``
    section of :class:`fugue_ppl.config.Config` is one.

    Thresholds are bounds of the better status, included in it (an upper
    bound for the error rate and the latency, a lower one for the hit ratio
    and the score): an error rate equal to ``error_rate_degraded`` is
    healthy, one equal to ``error_rate_unhealthy`` degraded; a latency
    quantile of exactly ``latency_fraction`` of the timeout is healthy (to
    the latency histogram's resolution); a hit ratio equal to
    ``pool_min_hit_ratio`` is healthy; a score equal to
    ``healthy_threshold`` is healthy (:meth:`status_for`).

    ``weights`` are the built-in checks' weights in their level's score (a
    registered check takes its own in :meth:`HealthChecker.register`), and
    ``level_weights`` the levels' weights in the score; each level has its
    thresholds ``<level>_healthy`` and ``<level>_degraded``
    (:meth:`level_status_for`). With the default weights and all four levels
    present, a failing smoke run or a FAILED breaker alone makes the service
    unhealthy; an unhealthy error rate alone makes it degraded, and
    unhealthy with the breaker degraded as well; any other degraded check
    alone makes it degraded, but for the pool, the monitor alarms and the
    resource checks, which alone leave it healthy (their level's alert and
    the trend show them).

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
        doc="Weights of the built-in checks in their level's score (the others keep "
            "DEFAULT_WEIGHTS).")
    level_weights: Mapping[str, float] = setting(
        check=Custom(_level_weights, "level names, each weight finite and >= 0"),
        factory=_default_level_weights,
        doc="Weights of the levels in the score (the others keep DEFAULT_LEVEL_WEIGHTS).")
    system_healthy: float = _level_healthy("system")
    system_degraded: float = _level_degraded("system")
    model_healthy: float = _level_healthy("model")
    model_degraded: float = _level_degraded("model")
    inference_healthy: float = _level_healthy("inference")
    inference_degraded: float = _level_degraded("inference")
    resource_healthy: float = _level_healthy("resource")
    resource_degraded: float = _level_degraded("resource")
    max_resident_memory: float | None = setting(
        None, check=Optional(Real("positive")),
        doc="Resident memory in bytes above which the memory check is degraded (none: not "
            "judged).")
    fds_degraded: float = setting(
        0.8, check=Real("probability"),
        doc="Open file descriptors above this fraction of the limit are degraded.")
    fds_unhealthy: float = setting(
        0.95, check=Real("probability"),
        doc="Open file descriptors above this fraction of the limit are unhealthy.")
    max_cpu_utilization: float | None = setting(
        None, check=Optional(Real("positive")),
        doc="CPU seconds per clock second over the window above which the cpu check is "
            "degraded (above 1 with several cores busy; none: not judged).")
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
        *(Relation(f"{level}_degraded", "<", f"{level}_healthy") for level in LEVELS),
        Relation("fds_degraded", "<", "fds_unhealthy"),
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
        if not is_real(score):
            raise TypeError(f"status_for: score must be a number, got {type(score).__name__}")
        if score >= self.healthy_threshold:
            return HealthStatus.HEALTHY
        if score >= self.degraded_threshold:
            return HealthStatus.DEGRADED
        return HealthStatus.UNHEALTHY

    def level_status_for(self, level: str, score: float) -> HealthStatus:
        """The status a level's score maps to, by ``<level>_healthy`` and
        ``<level>_degraded`` as :meth:`status_for` does.

        Raises
        ------
        ValueError
            ``level`` is not one of :data:`LEVELS`.
        TypeError
            ``score`` is not a number.

        Examples
        --------
        >>> HealthSettings().level_status_for("model", 0.5).value
        'degraded'
        """
        if level not in LEVELS:
            raise ValueError(f"level_status_for: unknown level {safe_repr(level)} (levels: "
                             f"{', '.join(LEVELS)})")
        if not is_real(score):
            raise TypeError(f"level_status_for: score must be a number, got "
                            f"{type(score).__name__}")
        if score >= getattr(self, f"{level}_healthy"):
            return HealthStatus.HEALTHY
        if score >= getattr(self, f"{level}_degraded"):
            return HealthStatus.DEGRADED
        return HealthStatus.UNHEALTHY

    def replace(self, **changes: Any) -> HealthSettings:
        """A copy with ``changes`` applied (checked again).

        ``weights`` and ``level_weights`` given here update the current ones.

        Raises
        ------
        TypeError
            An unknown setting name (with the closest one).
        """
        for name in ("weights", "level_weights"):
            weights = changes.get(name)
            if isinstance(weights, Mapping):
                changes[name] = {**getattr(self, name), **weights}
        return Settings.replace(self, **changes)
