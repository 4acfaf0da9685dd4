"""The health checker: :class:`HealthChecker` runs the built-in and registered checks of
one :class:`~fugue_ppl.ModelRunner`, scores them, follows the score's trend and answers
the liveness and readiness probes.

Its docstring describes each built-in check, the windows, the score and the early
warning; the thresholds are in :mod:`~fugue_ppl.serving.health.settings`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from fugue_ppl.checks import check_int, closest
from fugue_ppl.core._runtime import PooledPriorHandler, PriorHandler, run
from fugue_ppl.errors import InferenceTimeout
from fugue_ppl.monitoring.window import CounterWindow, Span, gained
from fugue_ppl.serving._breaker import BreakerState
from fugue_ppl.serving._runner import ModelRunner, validate_trace
from fugue_ppl.serving.health._numbers import is_real, rfc3339, to_float
from fugue_ppl.serving.health.report import HealthReport
from fugue_ppl.serving.health.resources import ProcessFigures, ProcessReader
from fugue_ppl.serving.health.settings import (
    BUILTIN_CHECKS,
    BUILTIN_LEVELS,
    LEVELS,
    HealthSettings,
)
from fugue_ppl.serving.health.status import CheckResult, HealthStatus, LevelResult
from fugue_ppl.serving.health.trend import estimate_trend
from fugue_ppl.validation import safe_repr

__all__ = ["HealthChecker"]

# The package's logger, named in register()'s documentation.
_log = logging.getLogger("fugue_ppl.serving.health")

_METRIC_CHECKS = frozenset({"error_rate", "latency", "monitor_alarms"})
_ALARMS = "alarms:"      # the counter groups of the monitors' alarms: "alarms:<monitor>"
# Trace issues that make a smoke run degraded (extreme values depend on the
# model's scale; fallbacks cannot happen under a plain prior handler).
_SMOKE_ISSUES = ("non_finite_weight", "non_finite_value", "rejected")


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
    level: str


@dataclass
class _Window:
    """What the windowed built-in checks compare: the runner's counters over the window."""

    span: Span
    pool_base: Sequence[int] | None     # (hits, misses) to compare with; None: not judged
    process: ProcessFigures             # the process's resources at the window's end


class HealthChecker:
    """The health of a :class:`~fugue_ppl.ModelRunner`: checks, score, trend, probes.

    Each call of :meth:`check` runs every registered check, combines their
    statuses into a score, updates the score's trend and returns a
    :class:`HealthReport`. A check is a callable returning a
    :class:`CheckResult` (:meth:`register`); the built-in ones
    (:data:`BUILTIN_CHECKS`) judge against the :class:`HealthSettings` named
    here (which says where a value on a threshold falls):

    ====================  =================================  =======================================
    name                  health+json key                    status
    ====================  =================================  =======================================
    ``model_execution``   ``model:execution``                a smoke run of the model
                                                             (``smoke_args``) under the timeout:
                                                             unhealthy when it raises or times out;
                                                             degraded when slower than
                                                             ``latency_fraction`` of the timeout or
                                                             when its trace has a NaN or infinite
                                                             weight or value, or a -inf total weight
    ``error_rate``        ``model:errorRate``                errors / inferences in the window:
                                                             degraded above ``error_rate_degraded``,
                                                             unhealthy above
                                                             ``error_rate_unhealthy``
    ``latency``           ``model:responseTime``             the window's ``latency_quantile`` of
                                                             the latency: degraded above
                                                             ``latency_fraction`` of the timeout,
                                                             unhealthy above
                                                             ``latency_unhealthy_fraction`` of it
    ``pool``              ``tracePool:hitRatio``             trace-pool hits / acquisitions in the
                                                             window, judged after the warm-up:
                                                             degraded below ``pool_min_hit_ratio``
    ``breaker``           ``circuitBreaker:state``           FAILED: unhealthy; DEGRADED or
                                                             RECOVERY: degraded
    ``monitor_alarms``    ``monitors:alarms``                new alarms, in the window, of the
                                                             monitors attached to the runner's
                                                             metrics (EWMA, control charts, CUSUM):
                                                             degraded
    ``cpu``               ``process:cpuUtilization``         the process's CPU seconds per clock
                                                             second over the window: degraded above
                                                             ``max_cpu_utilization`` (none: not
                                                             judged)
    ``memory``            ``process:residentMemory``         the process's resident memory: degraded
                                                             above ``max_resident_memory`` (none:
                                                             not judged)
    ``open_fds``          ``process:openFileDescriptors``    open file descriptors / their limit:
                                                             degraded above ``fds_degraded``,
                                                             unhealthy above ``fds_unhealthy``
    ====================  =================================  =======================================

    The process figures come from ``process_reader`` (by default a
    :class:`~fugue_ppl.serving.health.resources.ProcessReader`, which reads
    ``prometheus_client``'s ``ProcessCollector``); a figure it does not give
    (no ``/proc``) makes its check healthy, "not measured".

    *Levels.* Each check belongs to a level (:data:`LEVELS`, the hierarchy of
    Fugue's production guide; :data:`BUILTIN_LEVELS`): ``model`` (the smoke
    run), ``inference`` (error rate, latency, monitor alarms), ``system``
    (breaker, pool, and by default the registered checks) and ``resource``
    (CPU, memory, file descriptors). A level's score is the weighted mean of
    its checks' (``weights``); its status is that score against
    ``<level>_healthy`` and ``<level>_degraded``
    (:meth:`HealthSettings.level_status_for`), and a level that is not
    healthy is its alert (:attr:`HealthReport.alerts`). The report holds
    every level with checks (:attr:`HealthReport.levels`, health+json
    ``levels``).

    *Windows.* The error rate, the latency, the pool's hit ratio and the
    monitor alarms are measured over a window, not since the start, so a
    burst that ended lets the service recover: each :meth:`check` reads the
    runner's counters and compares them with the newest earlier reading at
    least ``window`` seconds old (the checker's creation when none is; a
    :class:`~fugue_ppl.monitoring.window.CounterWindow` keeps the readings).
    With checks every ``window`` seconds the window is the time since the
    previous check. When fewer than ``min_calls`` inferences (pool
    acquisitions) happened in the window the check reports healthy and says
    it did not judge. The runner's metrics count a timed-out run as an
    error; calls the breaker rejected are not inferences (the breaker check
    reports them). The checker's own smoke and warm-up runs bypass the
    runner, so they never count in what it measures.

    *Score and status.* Each check counts its status's
    :attr:`HealthStatus.score` ``h``; a level's score is the weighted mean
    ``H_L = sum(w_i h_i) / sum(w_i)`` over its checks, and the score is the
    weighted mean of the levels' scores ``H = sum(W_L H_L) / sum(W_L)`` over
    the levels that have checks (``W_L``: ``level_weights``); both are
    computed exactly, so a score on a threshold meets it; with all weights
    (of a level's checks, or of the levels) zero each counts the same; no
    checks give ``H = 1``. :meth:`HealthSettings.status_for` maps ``H`` to
    the report's status.

    *Trend and early warning.* The checker keeps the last ``history_size``
    scores with their times (the injectable ``clock``). After each check it
    fits the last ``trend_window`` of them (:func:`estimate_trend`), giving
    ``dH/dt``, ``d²H/dt²`` and a forecast ``forecast_horizon`` seconds
    ahead. When ``dH/dt < -trend_delta`` for ``trend_consecutive``
    consecutive checks the report carries an early warning
    (:attr:`HealthReport.warning`), typically while the status is still
    healthy.

    *Probes.* :meth:`liveness` says the process answers and checks nothing
    else. :meth:`readiness` checks that the model is loaded, the warm-up is
    done (:meth:`warm_up`; call it at start-up) and the breaker is not
    FAILED. Both render as health+json with the HTTP status a probe expects
    (:attr:`HealthReport.http_status`).

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
    process_reader : callable, optional
        Returns the process's
        :class:`~fugue_ppl.serving.health.resources.ProcessFigures` for the
        resource checks (default: a
        :class:`~fugue_ppl.serving.health.resources.ProcessReader` of this
        process). One that raises or returns something else gives no
        figures (logged).
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

    A registered check (in the system level, with the breaker and the pool),
    under a manual clock:

    >>> clock = fp.ManualClock()
    >>> runner = fp.ModelRunner(sensor, rng=1, fallback=(20.0, True))
    >>> checker = HealthChecker(runner, smoke_args=(22.0,), clock=clock, window=10,
    ...                         warmup=0)
    >>> checker.register("queue", lambda: CheckResult.degraded("queue 90% full"), weight=4)
    >>> report = checker.check()
    >>> report.status, report.score, report.check("queue").status
    (<HealthStatus.DEGRADED: 'degraded'>, 0.9421487603305785, <HealthStatus.DEGRADED: 'degraded'>)
    >>> level = report.levels["system"]
    >>> level.status, level.score, level.checks
    (<HealthStatus.DEGRADED: 'degraded'>, 0.8181818181818182, ('pool', 'breaker', 'queue'))
    >>> print(*report.alerts)
    system level degraded (score 0.818, below system_healthy=0.96): queue degraded: queue 90% full
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
                 process_reader: Callable[[], ProcessFigures] | None = None,
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
        if process_reader is None:
            process_reader = ProcessReader()
        for name, c in (("clock", clock), ("wall_clock", wall_clock),
                        ("process_reader", process_reader)):
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
        self._process_reader = process_reader
        self._process = ProcessFigures()
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
            if is_real(value) and math.isfinite(value) and value > 0:
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
                    near = closest(str(n), BUILTIN_CHECKS)
                    hint = f"; did you mean {near!r}?" if near else ""
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
            "cpu": (self._check_cpu, "process", "cpuUtilization", "process"),
            "memory": (self._check_memory, "process", "residentMemory", "process"),
            "open_fds": (self._check_fds, "process", "openFileDescriptors", "process"),
        }
        for n in chosen:
            func, component, measurement, cid = spec[n]
            ctype = "system" if component == "process" else "component"
            self._checks[n] = _Check(n, func, self._settings.weights[n], component, measurement,
                                     ctype, cid, False, True, BUILTIN_LEVELS[n])

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
        """Each registered check's normalised weight in the score (its share of its
        level's weight times its level's share of the score)."""
        with self._lock:
            checks = list(self._checks.values())
        shares = _shares([c.level for c in checks], [c.weight for c in checks],
                         self._settings.level_weights)
        return {c.name: float(w) for c, w in zip(checks, shares, strict=True)}

    @property
    def levels(self) -> dict[str, str]:
        """Each registered check's level."""
        with self._lock:
            return {c.name: c.level for c in self._checks.values()}

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
                 readiness: bool = False, level: str = "system") -> None:
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
        level : str, default "system"
            Its level (one of :data:`LEVELS`): it counts in that level's
            score with ``weight`` among the level's checks. The default is
            the system level, where a check of a dependency (a database, a
            queue) belongs.

        Raises
        ------
        TypeError
            ``func`` is not callable; an argument has the wrong type.
        ValueError
            ``name`` is empty or already registered; ``weight`` is negative
            or not finite; ``level`` is not a level.
        """
        if not isinstance(name, str):
            raise TypeError(f"register: name must be a str, got {type(name).__name__}")
        if not name.strip():
            raise ValueError("register: name must not be empty")
        if not callable(func):
            raise TypeError(f"register: check {name!r}: func must be callable, got "
                            f"{type(func).__name__}")
        if not is_real(weight):
            raise TypeError(f"register: check {name!r}: weight must be a number, got "
                            f"{type(weight).__name__}")
        w = to_float(weight)
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
        if not isinstance(level, str):
            raise TypeError(f"register: check {name!r}: level must be a str, got "
                            f"{type(level).__name__}")
        if level not in LEVELS:
            near = closest(level, LEVELS)
            hint = f"; did you mean {near!r}?" if near else ""
            raise ValueError(f"register: check {name!r}: unknown level {safe_repr(level)} "
                             f"(levels: {', '.join(LEVELS)}){hint}")
        check = _Check(name, func, weight, component or name, measurement, component_type,
                       component_id, readiness, False, level)
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
        if not is_real(t):
            raise TypeError(f"HealthChecker: clock must return a number of seconds, got "
                            f"{safe_repr(t)}")
        v = to_float(t)
        if v is None or not math.isfinite(v):
            raise ValueError(f"HealthChecker: clock must return a finite number of seconds, got "
                             f"{safe_repr(t)}")
        return v

    def _wall(self) -> float | None:
        t = self._wall_clock()
        try:
            v = float(t) if is_real(t) else math.nan
        except OverflowError:                    # an int beyond the float range
            v = math.nan
        if not math.isfinite(v):
            v = None
        if not self._wall_warned and (v is None or rfc3339(v) is None):
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
        process = self._read_process()
        self._process = process
        if process.cpu_seconds is not None:
            reading["cpu"] = (round(process.cpu_seconds * 1e6),)     # microseconds
        return reading

    def _read_process(self) -> ProcessFigures:
        try:
            figures = self._process_reader()
        except Exception as exc:  # noqa: BLE001 - no figures: the checks say not measured
            _log.warning("HealthChecker: the process reader raised %s", type(exc).__name__,
                         exc_info=True)
            return ProcessFigures()
        if not isinstance(figures, ProcessFigures):
            _log.warning("HealthChecker: the process reader returned %s, not ProcessFigures",
                         type(figures).__name__)
            return ProcessFigures()
        return figures

    def _window(self, now: float) -> _Window:
        # called with the lock held
        span = self._counters.advance(now)
        pool_base: Sequence[int] | None = None
        if self._warmed:
            if self._warm_pool is not None and self._warm_seq > span.seq:
                pool_base = self._warm_pool
            else:
                pool_base = span.base["pool"]
        return _Window(span, pool_base, self._process)

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

    def _check_cpu(self, w: _Window) -> CheckResult:
        s = self._settings
        span = w.span
        if "cpu" not in span.base or "cpu" not in span.cur:
            return CheckResult.healthy("CPU time not measured", observed_unit="ratio")
        elapsed = span.end - span.start
        used = span.gained("cpu")[0] / 1e6
        if not elapsed > 0:
            return CheckResult.healthy(f"{_seconds(used)} of CPU time in an empty window: not "
                                       f"judged", observed_unit="ratio")
        ratio = used / elapsed
        where = f"CPU utilisation {ratio:.3g} ({_seconds(used)} in {_seconds(elapsed)})"
        limit = s.max_cpu_utilization
        if limit is None:
            return CheckResult.healthy(f"{where}, not judged (max_cpu_utilization is none)",
                                       observed_value=ratio, observed_unit="ratio")
        if ratio > limit:
            return CheckResult.degraded(f"{where} above {limit:g}", observed_value=ratio,
                                        observed_unit="ratio")
        return CheckResult.healthy(f"{where} within {limit:g}", observed_value=ratio,
                                   observed_unit="ratio")

    def _check_memory(self, w: _Window) -> CheckResult:
        rss = w.process.resident_memory
        if rss is None:
            return CheckResult.healthy("resident memory not measured", observed_unit="bytes")
        limit = self._settings.max_resident_memory
        where = f"resident memory {rss / 2**20:.4g} MiB"
        if limit is None:
            return CheckResult.healthy(f"{where}, not judged (max_resident_memory is none)",
                                       observed_value=rss, observed_unit="bytes")
        if rss > limit:
            return CheckResult.degraded(f"{where} above {limit / 2**20:.4g} MiB",
                                        observed_value=rss, observed_unit="bytes")
        return CheckResult.healthy(f"{where} within {limit / 2**20:.4g} MiB",
                                   observed_value=rss, observed_unit="bytes")

    def _check_fds(self, w: _Window) -> CheckResult:
        s = self._settings
        n, limit = w.process.open_fds, w.process.max_fds
        if n is None:
            return CheckResult.healthy("open file descriptors not measured",
                                       observed_unit="fds")
        if limit is None or not limit > 0:
            return CheckResult.healthy(f"{n:g} open file descriptors, no limit known: not "
                                       f"judged", observed_value=n, observed_unit="fds")
        ratio = Fraction(n) / Fraction(limit)      # exact: a count on a threshold meets it
        where = f"{n:g} open file descriptors of {limit:g} ({_pct(float(ratio))})"
        if ratio > _exact(s.fds_unhealthy):
            return CheckResult.unhealthy(f"{where} above {_pct(s.fds_unhealthy)}",
                                         observed_value=n, observed_unit="fds")
        if ratio > _exact(s.fds_degraded):
            return CheckResult.degraded(f"{where} above {_pct(s.fds_degraded)}",
                                        observed_value=n, observed_unit="fds")
        return CheckResult.healthy(f"{where} within {_pct(s.fds_degraded)}",
                                   observed_value=n, observed_unit="fds")

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
            result, name=check.name, time=self._wall(), level=check.level,
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
            levels_of = [c.level for c in checks]
            raw = [c.weight for c in checks]
            shares = _shares(levels_of, raw, s.level_weights)
            results = [dataclasses.replace(r, weight=float(w))
                       for r, w in zip(results, shares, strict=True)]
            score, levels = _level_scores(results, levels_of, raw, s)
            status = s.status_for(score)
            alerts = tuple(f"{lv.name} level {lv.status.value} (score {lv.score:.3f}, below "
                           f"{lv.name}_healthy={lv.healthy_threshold:g}): {lv.output}"
                           for lv in levels.values() if lv.alert)
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
                self._service_id, self._version, self._description, levels, alerts)
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


_H = {HealthStatus.HEALTHY: Fraction(1), HealthStatus.DEGRADED: Fraction(1, 2),
      HealthStatus.UNHEALTHY: Fraction(0)}


def _mean_weights(raw: Sequence[float]) -> list[Fraction]:
    # exact weights normalised to sum 1; all zero: equal
    weights = [_exact(w) for w in raw]
    total = sum(weights)
    if not weights:
        return []
    if total == 0:
        return [Fraction(1, len(weights))] * len(weights)
    return [w / total for w in weights]


def _shares(levels: Sequence[str], raw: Sequence[float],
            level_weights: Mapping[str, float]) -> list[Fraction]:
    """Each check's exact share of the score: its share of its level's weights times
    the level's share of the weights of the levels that have checks."""
    present = [lv for lv in LEVELS if lv in levels]
    level_share = dict(zip(present, _mean_weights([level_weights[lv] for lv in present]),
                           strict=True))
    out: list[Fraction] = [Fraction(0)] * len(raw)
    for lv in present:
        idx = [i for i, x in enumerate(levels) if x == lv]
        for i, w in zip(idx, _mean_weights([raw[i] for i in idx]), strict=True):
            out[i] = w * level_share[lv]
    return out


def _level_scores(results: Sequence[CheckResult], levels: Sequence[str], raw: Sequence[float],
                  s: HealthSettings) -> tuple[float, dict[str, LevelResult]]:
    """The score and each level's result. A level's score is the weighted mean of
    its checks' (``weights``); the score is the weighted mean of the levels' scores
    (``level_weights``) over the levels that have checks; both exact, each rounded
    once to a float; 1.0 with no checks."""
    if not results:
        return 1.0, {}
    present = [lv for lv in LEVELS if lv in levels]
    level_w = dict(zip(present, _mean_weights([s.level_weights[lv] for lv in present]),
                       strict=True))
    total = Fraction(0)
    out: dict[str, LevelResult] = {}
    for lv in present:
        idx = [i for i, x in enumerate(levels) if x == lv]
        exact = sum((w * _H[results[i].status]
                     for i, w in zip(idx, _mean_weights([raw[i] for i in idx]), strict=True)),
                    Fraction(0))
        total += level_w[lv] * exact
        score = float(exact)
        status = s.level_status_for(lv, score)
        bad = [results[i] for i in idx if results[i].status is not HealthStatus.HEALTHY]
        output = "; ".join(f"{r.name} {r.status.value}: {r.output}" for r in bad)
        out[lv] = LevelResult(lv, status, score, float(level_w[lv]),
                              tuple(results[i].name or "" for i in idx),
                              getattr(s, f"{lv}_healthy"), getattr(s, f"{lv}_degraded"),
                              output, tuple(results[i].key for i in idx))
    return float(total), out


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


def _seconds(x: float) -> str:
    """A duration for a message: ``'12.5 ms'``, ``'1.2 s'``."""
    if x >= 1.0:
        return f"{x:.3g} s"
    if x >= 1e-3:
        return f"{x * 1e3:.3g} ms"
    return f"{x * 1e6:.3g} µs"


def _pct(x: float) -> str:
    return f"{x * 100:.4g}%"
