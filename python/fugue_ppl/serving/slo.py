"""Alerts, service-level objectives, error budgets and capacity planning.

The pieces, from the simplest to the most complete:

=================================  ==============================================
:class:`AlertRules`                threshold alerts on a runner's metrics: error
                                   rate, p99 latency, throughput, monitor alarms
:class:`ServiceLevelObjectives`    availability, latency and error-rate targets
                                   over a period; the error budget and what
                                   remains of it (:class:`SLOReport`)
:class:`EventStore`                per-interval counts of good and bad events in
                                   a fixed ring of buckets (bounded memory)
:class:`BurnRateAlerts`            multi-window burn-rate alerts over an
                                   :class:`EventStore` (page / ticket)
:class:`BreakerHistory`            availability from a circuit breaker's
                                   transitions: ``A = MTBF / (MTBF + MTTR)``
:class:`CapacityPlanner`           utilisation ``rho = lambda / (c * mu)`` and a
                                   scale-up / scale-down / no-action
                                   recommendation
=================================  ==============================================

Conventions shared by every class here:

* Every time-dependent object here takes ``clock``, a callable returning
  seconds as a float (default :func:`time.monotonic`); a
  :class:`~fugue_ppl.ManualClock` works as one, which makes every burn-rate
  alert and availability figure reproducible in a test. (Latencies and the
  throughput read from :class:`~fugue_ppl.ProductionMetrics` are measured by
  the metrics themselves, in real time.)
* Durations are :class:`datetime.timedelta` or a number of seconds.
* Thresholds fire when the observed value is *strictly* beyond them: an
  error rate exactly at ``max_error_rate`` or a burn rate exactly at a rule's
  threshold does not alert.
* Ratios (targets, thresholds, burn rates, utilisations) are compared
  exactly: a float is taken as the decimal it prints as (``0.999`` is
  ``999/1000``), so ``144`` errors in ``10000`` requests burn the budget of a
  99.9% objective at exactly ``14.4`` times the sustainable rate, and do not
  page.
* Counting from a :class:`~fugue_ppl.ModelRunner`: a request is an inference
  (``metrics.inference_count``) or a call its circuit breaker rejected
  (``breaker.metrics["rejected_calls"]``); a bad request is a failed
  inference (``metrics.error_count``, timeouts included) or a rejected call.
  ``count_rejected=False`` leaves the rejected calls out. A plain
  :class:`~fugue_ppl.ProductionMetrics` has no breaker, so only inferences
  count.
* Bad arguments raise :class:`TypeError` or a :class:`ValueError`
  (:class:`~fugue_ppl.errors.InvalidArgument` for a bad value) naming the
  parameter, before any state changes.

Examples
--------
An error budget, burn-rate alerts on a runner, and an SLO report:

>>> from datetime import timedelta
>>> import fugue_ppl as fp
>>> from fugue_ppl.models import sensor
>>> from fugue_ppl.serving.slo import BurnRateAlerts, EventStore, ServiceLevelObjectives
>>> ServiceLevelObjectives(availability_target=0.999).error_budget
datetime.timedelta(seconds=2592)
>>> clock = fp.ManualClock()
>>> runner = fp.ModelRunner(sensor, rng=0, fallback=(20.0, True))
>>> store = EventStore.from_runner(runner, resolution=60.0, clock=clock)
>>> alerts = BurnRateAlerts(store, slo=0.999)
>>> for minute in range(5):
...     for _ in range(100):
...         _ = runner.infer(22.0)
...     _ = store.sync()
...     clock.advance(60.0)
>>> alerts.evaluate(), alerts.burn_rate(timedelta(hours=1))
([], 0.0)
>>> report = ServiceLevelObjectives(0.999).evaluate(runner)
>>> report.compliant, report.total_events, report.budget_remaining
(True, 500, 1.0)
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from numbers import Integral, Rational, Real
from typing import TYPE_CHECKING, Any

from fugue_ppl import checks
from fugue_ppl.checks import (
    Settings,
    check_bounded,
    check_exact,
    check_int,
    invalid,
    safe_repr,
    setting,
    settings,
)
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.monitoring._metrics import ProductionMetrics
from fugue_ppl.monitoring.window import CounterWindow
from fugue_ppl.serving._breaker import BreakerState, CircuitBreaker
from fugue_ppl.serving._runner import ModelRunner

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "DEFAULT_BURN_RATE_RULES",
    "Alert",
    "AlertRules",
    "AvailabilityReport",
    "BreakerHistory",
    "BurnRateAlert",
    "BurnRateAlerts",
    "BurnRateRule",
    "BurnRateStatus",
    "CapacityPlanner",
    "CapacityRecommendation",
    "EventStore",
    "ObjectiveStatus",
    "SLOConfig",
    "SLOReport",
    "ServiceLevelObjectives",
]

Clock = Callable[[], float]
Duration = timedelta | float | int
Source = ModelRunner | ProductionMetrics

_US_PER_S = 1_000_000
_ONE_US = timedelta(microseconds=1)
_MAX_US = timedelta.max // _ONE_US        # the longest duration a timedelta holds
# The longest whose negative a timedelta holds too (999999999 days): the budget
# left after such a downtime is representable.
_MAX_SPAN_US = -timedelta.min // _ONE_US
_MAX_FLOAT = sys.float_info.max


# ---------------------------------------------------------------- argument checks


def _is_number(x: Any) -> bool:
    return isinstance(x, (Real, Decimal)) and not isinstance(x, bool)


def _float(x: Any) -> float:
    """A number as a float, never raising: +-inf beyond the float range, NaN for a
    signalling NaN decimal."""
    try:
        return float(x)
    except OverflowError:                    # an int or a fraction beyond the float range
        return math.inf if x > 0 else -math.inf
    except ValueError:                       # Decimal('sNaN')
        return math.nan


def _is_finite(x: Any) -> bool:
    """Whether a number is finite, whatever its size (an int of any size is)."""
    if isinstance(x, Rational):
        return True
    if isinstance(x, Decimal):
        return x.is_finite()
    return math.isfinite(_float(x))


def _exact(x: Any) -> Fraction:
    """A number as an exact fraction; a float as the decimal it prints as."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, Integral):
        return Fraction(int(x))
    if isinstance(x, Decimal):
        return Fraction(x)
    return Fraction(repr(float(x)))


def _split(name: str) -> tuple[str, str]:
    """``"Owner: parameter"`` as ``(owner, parameter)``."""
    owner, _, parameter = name.partition(": ")
    return (owner, parameter) if parameter else ("slo", owner)


def _real(x: Any, name: str, *, low: float = -math.inf, high: float = math.inf,
          low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number within bounds, as a float (``name``: ``"Owner: parameter"``);
    a Decimal too."""
    owner, parameter = _split(name)
    try:
        return check_bounded(_float(x) if isinstance(x, Decimal) else x, parameter, owner,
                             low, high, low_open=low_open, high_open=high_open)
    except InvalidArgument as e:
        err = invalid(owner, parameter, x, e.rule)       # (showing the value as given)
    raise err


def _open_unit(x: Any, name: str) -> Fraction:
    """A ratio strictly between 0 and 1, exact (a Decimal or a Fraction too)."""
    owner, parameter = _split(name)
    return check_exact(x, parameter, owner, "open_unit")


def _count(x: Any, name: str, low: int = 0, high: int | None = None) -> int:
    """An integer in ``[low, high]`` (a count)."""
    owner, parameter = _split(name)
    return check_int(x, parameter, owner, low=low, high=high)


def _duration_type_error(x: Any, name: str) -> TypeError:
    owner, parameter = _split(name)
    return TypeError(f"{owner}: {parameter} must be a timedelta or a number of seconds, got "
                     f"{type(x).__name__}")


def _duration_us(x: Any, name: str, *, allow_zero: bool = False, max_us: int = _MAX_US) -> int:
    """A duration (timedelta or seconds) as whole microseconds, > 0 (or >= 0), <= max_us."""
    owner, parameter = _split(name)
    if isinstance(x, timedelta):
        us = x // _ONE_US
    elif _is_number(x):
        # exact at any size (float() of a huge one would overflow)
        if not _is_finite(x):
            raise invalid(owner, parameter, x, "must be finite")
        us = round(_exact(x) * _US_PER_S)
    else:
        raise _duration_type_error(x, name)
    if us < 0 or (us == 0 and not allow_zero):
        raise invalid(owner, parameter, x, "must be >= 0" if allow_zero else
                      "must be positive (at least 1 microsecond)")
    if us > max_us:
        raise invalid(owner, parameter, x, f"must be at most {timedelta(microseconds=max_us)} "
                      f"({max_us // _US_PER_S} s)")
    return us


def _seconds(x: Any, name: str, *, allow_zero: bool = False) -> float:
    """A duration (timedelta or seconds) as float seconds, unrounded; > 0 (or >= 0)."""
    owner, parameter = _split(name)
    if isinstance(x, timedelta):
        v = x.total_seconds()
    elif _is_number(x):
        if not _is_finite(x):
            raise invalid(owner, parameter, x, "must be finite")
        v = _float(x)
    else:
        raise _duration_type_error(x, name)
    if v < 0 or (v == 0 and not allow_zero):
        raise invalid(owner, parameter, x, "must be >= 0" if allow_zero else "must be positive")
    if math.isinf(v):
        raise invalid(owner, parameter, x, f"must be at most {_MAX_FLOAT:g} s")
    return v


def _check_clock(clock: Any, name: str) -> float:
    """Validate a clock by calling it once; returns its reading."""
    if not callable(clock):
        raise TypeError(f"{name} must be callable (returning seconds), got "
                        f"{type(clock).__name__}")
    return _read_clock(clock, name)


def _read_clock(clock: Clock, name: str) -> float:
    """The clock's reading as a finite float (TypeError naming the clock otherwise)."""
    now = clock()
    v = _float(now) if _is_number(now) else math.nan
    if not math.isfinite(v):
        raise TypeError(f"{name} must return a finite number of seconds, got {safe_repr(now)}")
    return v


def _fmt_duration(us: int) -> str:
    """``3d``, ``6h``, ``30m``, ``90s`` or ``0.5s`` for a duration in microseconds."""
    for unit, size in (("d", 86_400 * _US_PER_S), ("h", 3_600 * _US_PER_S),
                       ("m", 60 * _US_PER_S)):
        if us % size == 0:
            return f"{us // size}{unit}"
    return f"{us / _US_PER_S:g}s"


def _metrics_of(source: Any, name: str) -> ProductionMetrics:
    if isinstance(source, ModelRunner):
        if source.metrics is None:
            raise ValueError(f"{name}: the ModelRunner has no metrics (built with metrics=False)")
        return source.metrics
    if isinstance(source, ProductionMetrics):
        return source
    raise TypeError(f"{name} must be a ModelRunner or a ProductionMetrics, got "
                    f"{type(source).__name__}")


def _request_counts(source: Any, name: str, count_rejected: bool = True) -> tuple[int, int]:
    """``(requests, bad requests)`` counted by a runner or metrics (see the module notes)."""
    counts = _metrics_of(source, name).counts()        # one moment: errors <= inferences
    total, bad = counts["inferences"], counts["errors"]
    if count_rejected and isinstance(source, ModelRunner):
        rejected = source.breaker.metrics["rejected_calls"]
        total += rejected
        bad += rejected
    return total, bad


def _latency_counts(source: Any, name: str, threshold: float) -> tuple[int, int]:
    """``(inferences, inferences slower than threshold)`` from the latency histogram."""
    (_, fast), (_, total) = _metrics_of(source, name).latency.cumulative_counts((threshold,))
    return total, max(0, total - fast)


# ---------------------------------------------------------------- alerts


@dataclass(frozen=True)
class Alert:
    """One alert: what fired, how bad, the value seen and the limit it crossed.

    Attributes
    ----------
    kind : str
        ``"error_rate"``, ``"latency_p99"``, ``"throughput"``,
        ``"monitor_alarm"`` or ``"burn_rate"``.
    severity : str
        ``"critical"`` / ``"warning"`` for :class:`AlertRules` (configurable),
        ``"page"`` / ``"ticket"`` for burn-rate rules.
    observed : float
        The value that crossed the threshold.
    threshold : float
    message : str
        One line, safe to log.
    window : timedelta or None
        The window the value was measured over, when there is one.
    subject : str or None
        What the alert is about when a kind has several (a monitor's name, a
        burn-rate rule's name).
    """

    kind: str
    severity: str
    observed: float
    threshold: float
    message: str
    window: timedelta | None = None
    subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The alert as a JSON-serialisable dict (windows in seconds)."""
        d: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, timedelta):
                v = v.total_seconds()
            elif isinstance(v, BurnRateRule):
                v = v.to_dict()
            d[f.name] = v
        return d


_ALERT_KINDS = ("error_rate", "latency_p99", "throughput", "monitor_alarm")
_DEFAULT_SEVERITIES = {"error_rate": "critical", "latency_p99": "warning",
                       "throughput": "warning", "monitor_alarm": "warning"}


class AlertRules:
    """Threshold alerts on a runner's (or a metrics object's) current values.

    Each rule is optional (``None`` turns it off). A rule fires when the
    observed value is strictly beyond its threshold.

    Parameters
    ----------
    max_error_rate : float or None, default 0.1
        Fires when bad requests / requests ``> max_error_rate`` (in
        ``[0, 1]``), counted since the metrics started (see the module notes
        for what a runner counts). Needs at least ``min_requests`` requests.
    max_latency_p99 : float or timedelta or None
        Fires when the 99th percentile of the latency histogram (seconds,
        0.4% resolution) is ``> max_latency_p99``. Off without any inference.
    min_throughput : float or None
        Fires when the throughput over the metrics' sliding window
        (``window_throughput``, inferences per second) is ``< min_throughput``;
        no traffic at all fires it.
    monitor_alarms : bool or int or None, default True
        Fires once per attached monitor whose alarm count (cumulative, see
        :meth:`~fugue_ppl.ProductionMetrics.attach`) is above the allowance:
        ``True`` allows none, an int ``n`` allows ``n``, ``False`` / ``None``
        turns the rule off.
    min_requests : int, default 1
        Fewest requests before the error-rate rule is considered.
    count_rejected : bool, default True
        Whether calls the runner's breaker rejected count as failed requests.
    severities : mapping, optional
        Severity per kind, overriding the defaults ``{"error_rate":
        "critical", "latency_p99": "warning", "throughput": "warning",
        "monitor_alarm": "warning"}``.

    Raises
    ------
    TypeError, ValueError
        A threshold of the wrong type or out of range (the message names it).

    Examples
    --------
    >>> from fugue_ppl import ProductionMetrics
    >>> from fugue_ppl.serving.slo import AlertRules
    >>> metrics = ProductionMetrics()
    >>> for i in range(100):
    ...     metrics.record(0.002, error="RuntimeError" if i < 6 else None)
    >>> [(a.kind, a.severity, a.observed) for a in
    ...  AlertRules(max_error_rate=0.05, max_latency_p99=0.01).evaluate(metrics)]
    [('error_rate', 'critical', 0.06)]
    """

    def __init__(self, *, max_error_rate: float | None = 0.1,
                 max_latency_p99: float | timedelta | None = None,
                 min_throughput: float | None = None,
                 monitor_alarms: bool | int | None = True,
                 min_requests: int = 1, count_rejected: bool = True,
                 severities: Mapping[str, str] | None = None) -> None:
        if max_error_rate is not None:
            max_error_rate = _real(max_error_rate, "AlertRules: max_error_rate", low=0.0,
                                   high=1.0)
        p99 = None
        if max_latency_p99 is not None:
            p99 = _seconds(max_latency_p99, "AlertRules: max_latency_p99")
        if min_throughput is not None:
            min_throughput = _real(min_throughput, "AlertRules: min_throughput", low=0.0)
        if monitor_alarms is None or monitor_alarms is False:
            allowed: int | None = None
        elif monitor_alarms is True:
            allowed = 0
        else:
            allowed = _count(monitor_alarms, "AlertRules: monitor_alarms")
        min_requests = _count(min_requests, "AlertRules: min_requests")
        if not isinstance(count_rejected, bool):
            raise TypeError(f"AlertRules: count_rejected must be a bool, got "
                            f"{type(count_rejected).__name__}")
        sev = dict(_DEFAULT_SEVERITIES)
        if severities is not None:
            if not isinstance(severities, Mapping):
                raise TypeError(f"AlertRules: severities must be a mapping, got "
                                f"{type(severities).__name__}")
            for k, v in severities.items():
                if k not in sev:
                    raise ValueError(f"AlertRules: severities has an unknown kind "
                                     f"{safe_repr(k)} (known: {', '.join(_ALERT_KINDS)})")
                if not isinstance(v, str) or not v.strip():
                    raise ValueError(f"AlertRules: severities[{k!r}] must be a non-empty str, "
                                     f"got {safe_repr(v)}")
                sev[k] = v
        self.max_error_rate = max_error_rate
        self.max_latency_p99 = p99
        self.min_throughput = min_throughput
        self.monitor_alarms = allowed
        self.min_requests = min_requests
        self.count_rejected = count_rejected
        self.severities = sev

    def evaluate(self, source: Source) -> list[Alert]:
        """The alerts firing now, in the order error rate, latency, throughput, monitors.

        Parameters
        ----------
        source : ModelRunner or ProductionMetrics

        Returns
        -------
        list of Alert
            Empty when nothing fires.

        Raises
        ------
        TypeError
            ``source`` is neither a runner nor metrics.
        ValueError
            The runner was built with ``metrics=False``.
        """
        m = _metrics_of(source, "AlertRules.evaluate: source")
        alerts: list[Alert] = []
        if self.max_error_rate is not None:
            total, bad = _request_counts(source, "AlertRules.evaluate: source",
                                         self.count_rejected)
            if total > 0 and total >= self.min_requests:
                rate = Fraction(bad, total)
                if rate > _exact(self.max_error_rate):
                    alerts.append(Alert(
                        "error_rate", self.severities["error_rate"], float(rate),
                        self.max_error_rate,
                        f"error rate {float(rate):.4g} ({bad} of {total} requests) above "
                        f"{self.max_error_rate:g}"))
        if self.max_latency_p99 is not None and m.latency.count > 0:
            p99 = m.latency.quantile(0.99)
            if p99 > self.max_latency_p99:
                alerts.append(Alert(
                    "latency_p99", self.severities["latency_p99"], p99, self.max_latency_p99,
                    f"p99 latency {p99 * 1e3:.4g} ms above {self.max_latency_p99 * 1e3:g} ms"))
        if self.min_throughput is not None:
            tp = m.window_throughput
            if tp < self.min_throughput:
                alerts.append(Alert(
                    "throughput", self.severities["throughput"], tp, self.min_throughput,
                    f"throughput {tp:.4g}/s over the last {m.window}s below "
                    f"{self.min_throughput:g}/s", window=timedelta(seconds=m.window)))
        if self.monitor_alarms is not None:
            for name, n in sorted(m.monitor_alarms.items()):
                if n > self.monitor_alarms:
                    alerts.append(Alert(
                        "monitor_alarm", self.severities["monitor_alarm"], float(n),
                        float(self.monitor_alarms),
                        f"monitor {name!r} raised {n} alarm{'s' if n != 1 else ''} "
                        f"(allowed: {self.monitor_alarms})", subject=name))
        return alerts

    def __repr__(self) -> str:
        return (f"AlertRules(max_error_rate={self.max_error_rate!r}, "
                f"max_latency_p99={self.max_latency_p99!r}, "
                f"min_throughput={self.min_throughput!r}, "
                f"monitor_alarms={safe_repr(self.monitor_alarms)})")


# ---------------------------------------------------------------- event store


class EventStore:
    """Counts of good and bad events per time interval, in a fixed ring of buckets.

    Time is cut into intervals of ``resolution`` from the moment the store is
    created; the store keeps the last ``ceil(retention / resolution)``
    intervals (two integers each), so its memory does not depend on the
    traffic or on how long it runs. Recording and reading are thread-safe.

    Parameters
    ----------
    resolution : timedelta or float, default 60 s
        Length of one interval (seconds when a number).
    retention : timedelta or float, default 3 days
        How far back counts are kept; the longest window that can be read.
        The default covers the longest default burn-rate window.
    clock : callable, default time.monotonic
        Returns the current time in seconds.

    Raises
    ------
    TypeError, ValueError
        A duration that is not positive, ``retention`` shorter than
        ``resolution``, more than :attr:`MAX_BUCKETS` intervals, or a clock
        that is not callable or does not return a finite number (also when
        recording or reading later).

    Notes
    -----
    **Windows.** A window is a whole number of intervals, ``k = window /
    resolution``; it covers the interval in progress (the *partial* bucket,
    everything recorded so far in it) and the ``k - 1`` complete intervals
    before it. So ``counts(timedelta(minutes=5))`` at resolution 60 s reads
    between four and five minutes of time, all of it recorded events. A
    window that is not a whole number of intervals, or is longer than the
    retention, is refused (ValueError) rather than approximated.

    Events are placed in the interval of the clock's reading when they are
    recorded. A clock reading earlier than the newest interval (a clock that
    went backwards) records into the newest interval.

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.serving.slo import EventStore
    >>> clock = fp.ManualClock()
    >>> store = EventStore(resolution=60.0, retention=3600.0, clock=clock)
    >>> store.record(good=98, bad=2)
    >>> clock.advance(60.0)
    >>> store.add(100, errors=1)
    >>> store.counts(60.0), store.counts(120.0)
    ((100, 1), (200, 3))
    """

    #: The most intervals a store keeps (``ceil(retention / resolution)``):
    #: about 16 MB of counts.
    MAX_BUCKETS = 1_000_000

    def __init__(self, resolution: Duration = 60.0, retention: Duration = timedelta(days=3), *,
                 clock: Clock = time.monotonic) -> None:
        res_us = _duration_us(resolution, "EventStore: resolution")
        ret_us = _duration_us(retention, "EventStore: retention")
        if ret_us < res_us:
            raise ValueError(f"EventStore: retention ({timedelta(microseconds=ret_us)}) must be "
                             f"at least the resolution ({timedelta(microseconds=res_us)})")
        n = -(-ret_us // res_us)
        if n > self.MAX_BUCKETS:
            raise ValueError(f"EventStore: retention ({timedelta(microseconds=ret_us)}) / "
                             f"resolution ({timedelta(microseconds=res_us)}) gives {n} buckets, "
                             f"more than EventStore.MAX_BUCKETS ({self.MAX_BUCKETS}); use a "
                             f"coarser resolution or a shorter retention")
        if n * res_us > _MAX_US:
            raise ValueError(f"EventStore: retention ({timedelta(microseconds=ret_us)}) rounded "
                             f"up to whole intervals of {timedelta(microseconds=res_us)} is "
                             f"longer than {timedelta.max}")
        origin = _check_clock(clock, "EventStore: clock")
        self._res_us = res_us
        self._res = res_us / _US_PER_S
        self._n = n
        self._clock = clock
        self._origin = origin
        self._total = [0] * n
        self._bad = [0] * n
        self._head = 0          # absolute index of the newest interval
        self._lock = threading.Lock()
        self._sources: dict[int, tuple[Source, CounterWindow]] = {}

    @classmethod
    def from_runner(cls, runner: Source, *, latency_threshold: Duration | None = None,
                    count_rejected: bool = True, resolution: Duration = 60.0,
                    retention: Duration = timedelta(days=3),
                    clock: Clock = time.monotonic) -> EventStore:
        """A store that tracks ``runner`` from now on (:meth:`track`); fill it with :meth:`sync`.

        Examples
        --------
        >>> import fugue_ppl as fp
        >>> from fugue_ppl.models import sensor
        >>> from fugue_ppl.serving.slo import EventStore
        >>> runner = fp.ModelRunner(sensor, rng=0)
        >>> store = EventStore.from_runner(runner, clock=fp.ManualClock())
        >>> for _ in range(10):
        ...     _ = runner.infer(22.0)
        >>> store.sync(), store.counts(60.0)
        ((10, 0), (10, 0))
        """
        store = cls(resolution, retention, clock=clock)
        store.track(runner, latency_threshold=latency_threshold, count_rejected=count_rejected)
        return store

    # ---- properties

    @property
    def resolution(self) -> timedelta:
        """The length of one interval."""
        return timedelta(microseconds=self._res_us)

    @property
    def retention(self) -> timedelta:
        """The longest window that can be read (``buckets * resolution``)."""
        return timedelta(microseconds=self._res_us * self._n)

    @property
    def buckets(self) -> int:
        """The number of intervals kept (fixed at construction)."""
        return self._n

    @property
    def clock(self) -> Clock:
        return self._clock

    # ---- internals (called with the lock held)

    def _now_index(self) -> int:
        now = _read_clock(self._clock, "EventStore: clock")
        x = (now - self._origin) / self._res
        if math.isfinite(x):
            idx = math.floor(x)
        else:                                    # beyond the float range: exactly
            idx = math.floor((Fraction(now) - Fraction(self._origin)) * _US_PER_S / self._res_us)
        return max(idx, self._head)

    def _advance(self) -> None:
        idx = self._now_index()
        head, n = self._head, self._n
        if idx == head:
            return
        # zero the intervals after the head up to the new one (all, after a long gap)
        k = min(idx - head, n)
        start = (head + 1) % n
        end = start + k
        for counts in (self._total, self._bad):
            counts[start:min(end, n)] = [0] * (min(end, n) - start)
            if end > n:
                counts[:end - n] = [0] * (end - n)
        self._head = idx

    def _add_locked(self, total: int, bad: int) -> None:
        self._advance()
        i = self._head % self._n
        self._total[i] += total
        self._bad[i] += bad

    def window_buckets(self, window: Duration, name: str = "window") -> int:
        """The number of intervals in ``window`` (a whole number from 1 to :attr:`buckets`).

        Raises
        ------
        TypeError, ValueError
            ``window`` is not a duration, not a whole number of intervals, or
            longer than the retention.
        """
        us = _duration_us(window, f"EventStore: {name}")
        if us % self._res_us:
            raise ValueError(f"EventStore: {name} ({timedelta(microseconds=us)}) must be a whole "
                             f"number of intervals of {self.resolution}")
        k = us // self._res_us
        if k > self._n:
            raise ValueError(f"EventStore: {name} ({timedelta(microseconds=us)}) is longer than "
                             f"the retention ({self.retention})")
        return k

    def _sum_locked(self, k: int) -> tuple[int, int]:
        n, head = self._n, self._head
        start, end = (head - k + 1) % n, head % n
        if start <= end:
            return sum(self._total[start:end + 1]), sum(self._bad[start:end + 1])
        return (sum(self._total[start:]) + sum(self._total[:end + 1]),
                sum(self._bad[start:]) + sum(self._bad[:end + 1]))

    def _counts_many(self, ks: Iterable[int]) -> dict[int, tuple[int, int]]:
        with self._lock:
            self._advance()
            return {k: self._sum_locked(k) for k in set(ks)}

    # ---- recording

    def record(self, *, good: int = 0, bad: int = 0) -> None:
        """Add ``good`` and ``bad`` events to the current interval.

        Raises
        ------
        TypeError, ValueError
            A count that is not a non-negative int (nothing is recorded).
        """
        good = _count(good, "EventStore.record: good")
        bad = _count(bad, "EventStore.record: bad")
        with self._lock:
            self._add_locked(good + bad, bad)

    def add(self, total: int, errors: int = 0) -> None:
        """Add ``total`` events, ``errors`` of them bad, to the current interval.

        Raises
        ------
        TypeError, ValueError
            A count that is not a non-negative int, or ``errors > total``
            (nothing is recorded).
        """
        total = _count(total, "EventStore.add: total")
        errors = _count(errors, "EventStore.add: errors")
        if errors > total:
            raise ValueError(f"EventStore.add: errors ({errors}) must not exceed total ({total})")
        with self._lock:
            self._add_locked(total, errors)

    # ---- sources

    def track(self, source: Source, *, latency_threshold: Duration | None = None,
              count_rejected: bool = True) -> None:
        """Follow a runner's (or metrics') counters; :meth:`sync` records their changes.

        The counters' current values are the baseline: events counted before
        a source is tracked are not placed in any interval, since when they
        happened is unknown.

        Parameters
        ----------
        source : ModelRunner or ProductionMetrics
        latency_threshold : timedelta or float, optional
            ``None`` (default): the events are requests and the bad ones
            failed requests (see the module notes). A duration: the events
            are inferences and the bad ones those slower than this (from the
            latency histogram, at its 0.4% resolution), a latency objective's
            events.
        count_rejected : bool, default True
            Whether calls the runner's breaker rejected count (as bad
            requests). Ignored with ``latency_threshold``.

        Raises
        ------
        TypeError
            ``source`` is neither a runner nor metrics.
        ValueError
            The runner has no metrics, or ``source`` is tracked already.
        """
        thr = None
        if latency_threshold is not None:
            thr = _seconds(latency_threshold, "EventStore.track: latency_threshold")
        if not isinstance(count_rejected, bool):
            raise TypeError(f"EventStore.track: count_rejected must be a bool, got "
                            f"{type(count_rejected).__name__}")
        _metrics_of(source, "EventStore.track: source")
        with self._lock:
            if id(source) in self._sources:
                raise ValueError("EventStore.track: this source is tracked already")
            self._track_locked(source, thr, count_rejected)

    def _track_locked(self, source: Source, thr: float | None, count_rejected: bool) -> None:
        def read() -> dict[str, tuple[int, int]]:
            if thr is None:
                return {"events": _request_counts(source, "EventStore.sync: source",
                                                  count_rejected)}
            return {"events": _latency_counts(source, "EventStore.sync: source", thr)}
        self._sources[id(source)] = (source, CounterWindow(read))

    def untrack(self, source: Source) -> None:
        """Stop following ``source`` (ValueError when it is not tracked)."""
        with self._lock:
            if self._sources.pop(id(source), None) is None:
                raise ValueError("EventStore.untrack: this source is not tracked")

    def sync(self, source: Source | None = None) -> tuple[int, int]:
        """Record the change in the tracked sources' counters since the last sync.

        Parameters
        ----------
        source : ModelRunner or ProductionMetrics, optional
            Sync only this one; a source not tracked yet is tracked (with the
            defaults of :meth:`track`) and contributes nothing this time.
            ``None`` (default): every tracked source.

        Returns
        -------
        (total, bad) : tuple of int
            The events recorded into the current interval by this call.

        Notes
        -----
        Counters that went down (``ProductionMetrics.reset()``) restart the
        baseline at zero: their new values are recorded as new events.
        """
        if source is not None:
            _metrics_of(source, "EventStore.sync: source")
            with self._lock:
                if id(source) not in self._sources:
                    self._track_locked(source, None, True)
                    return 0, 0
        with self._lock:
            entries = list(self._sources.values()) if source is None else [
                self._sources[id(source)]]
            dt_all = db_all = 0
            for _, window in entries:
                dt, db = window.advance().gained("events")
                dt_all += dt
                db_all += min(db, dt)
            if dt_all:
                self._add_locked(dt_all, db_all)
            return dt_all, db_all

    # ---- reading

    def counts(self, window: Duration) -> tuple[int, int]:
        """``(total, bad)`` events in the last ``window`` (see the class notes).

        Raises
        ------
        TypeError, ValueError
            ``window`` is not a whole number of intervals or is longer than
            the retention.
        """
        k = self.window_buckets(window)
        return self._counts_many((k,))[k]

    def error_ratio(self, window: Duration) -> float:
        """Bad / total events in the last ``window``; 0.0 without events."""
        total, bad = self.counts(window)
        return bad / total if total else 0.0

    def rate(self, window: Duration) -> float:
        """Events per second over the last ``window``: total / the window's length.

        The window's nominal length is used, so while its oldest intervals
        predate the store (or the current interval is young) the rate reads
        low.
        """
        k = self.window_buckets(window)
        total = self._counts_many((k,))[k][0]
        try:
            return total / (k * self._res)
        except OverflowError:                    # more events than a float holds: exactly
            return _float(Fraction(total * _US_PER_S, k * self._res_us))

    def __repr__(self) -> str:
        return (f"EventStore(resolution={self.resolution}, retention={self.retention}, "
                f"buckets={self._n})")


# ---------------------------------------------------------------- burn-rate alerts


@dataclass(frozen=True)
class BurnRateRule:
    """One multi-window burn-rate rule: alert when both windows burn faster than ``threshold``.

    The burn rate over a window is ``error ratio / (1 - SLO)``: 1 spends the
    error budget exactly over the SLO period, 14.4 spends a 30-day budget's
    2% in one hour.

    Parameters
    ----------
    severity : str
        ``"page"`` or ``"ticket"`` (any non-empty string is accepted).
    long_window, short_window : timedelta or float
        The windows (seconds when numbers), ``short_window < long_window``.
        Normalised to timedelta.
    threshold : float
        Fires when both burn rates are strictly above it (> 0).

    Examples
    --------
    >>> from datetime import timedelta
    >>> from fugue_ppl.serving.slo import BurnRateRule
    >>> BurnRateRule("page", timedelta(hours=1), timedelta(minutes=5), 14.4).name
    'page 1h/5m > 14.4'
    """

    severity: str
    long_window: timedelta
    short_window: timedelta
    threshold: float

    def __post_init__(self) -> None:
        if not isinstance(self.severity, str) or not self.severity.strip():
            raise ValueError(f"BurnRateRule: severity must be a non-empty str, got "
                             f"{safe_repr(self.severity)}")
        long_us = _duration_us(self.long_window, "BurnRateRule: long_window")
        short_us = _duration_us(self.short_window, "BurnRateRule: short_window")
        if short_us >= long_us:
            raise ValueError(f"BurnRateRule: short_window ({timedelta(microseconds=short_us)}) "
                             f"must be shorter than long_window "
                             f"({timedelta(microseconds=long_us)})")
        thr = _real(self.threshold, "BurnRateRule: threshold", low=0.0, low_open=True)
        object.__setattr__(self, "long_window", timedelta(microseconds=long_us))
        object.__setattr__(self, "short_window", timedelta(microseconds=short_us))
        object.__setattr__(self, "threshold", thr)

    @property
    def name(self) -> str:
        """``"<severity> <long>/<short> > <threshold>"``, e.g. ``"page 1h/5m > 14.4"``."""
        return (f"{self.severity} {_fmt_duration(self.long_window // _ONE_US)}/"
                f"{_fmt_duration(self.short_window // _ONE_US)} > {self.threshold:g}")

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "long_window": self.long_window.total_seconds(),
                "short_window": self.short_window.total_seconds(), "threshold": self.threshold}


#: The four rules of the Google SRE workbook (multiwindow, multi-burn-rate
#: alerts): page when both 1 h and 5 min burn faster than 14.4, or both 6 h
#: and 30 min faster than 6; ticket when both 1 d and 2 h burn faster than 3,
#: or both 3 d and 6 h faster than 1.
DEFAULT_BURN_RATE_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule("page", timedelta(hours=1), timedelta(minutes=5), 14.4),
    BurnRateRule("page", timedelta(hours=6), timedelta(minutes=30), 6.0),
    BurnRateRule("ticket", timedelta(days=1), timedelta(hours=2), 3.0),
    BurnRateRule("ticket", timedelta(days=3), timedelta(hours=6), 1.0),
)


@dataclass(frozen=True)
class BurnRateAlert(Alert):
    """An :class:`Alert` from a burn-rate rule.

    ``observed`` is the smaller of the two burn rates (the rule fires when it
    is above the threshold), ``window`` the long window and ``subject`` the
    rule's name.

    Attributes
    ----------
    rule : BurnRateRule
    long_burn_rate, short_burn_rate : float
    """

    rule: BurnRateRule | None = None
    long_burn_rate: float = 0.0
    short_burn_rate: float = 0.0


@dataclass(frozen=True)
class BurnRateStatus:
    """One rule's current burn rates and whether it fires (:meth:`BurnRateAlerts.status`)."""

    rule: BurnRateRule
    long_burn_rate: float
    short_burn_rate: float
    long_events: int
    short_events: int
    firing: bool


class BurnRateAlerts:
    """Multi-window burn-rate alerts over an :class:`EventStore`.

    For each rule the burn rate ``(bad / total) / (1 - slo)`` is computed over
    its long and short windows; the rule fires when *both* are strictly above
    its threshold. The long window makes the alert significant (enough budget
    spent); the short window makes it stop soon after the errors stop, even
    while the long window still remembers them.

    Parameters
    ----------
    store : EventStore
        Holds the events; its retention must cover the longest window and
        every window must be a whole number of its intervals.
    slo : float, default 0.999
        The objective, strictly between 0 and 1 (a good-event ratio).
    rules : sequence of BurnRateRule, default DEFAULT_BURN_RATE_RULES
        The rules, evaluated in this order.
    min_events : int, default 0
        A rule fires only with at least this many events in its short window
        (guards a low-traffic service against paging on one failure). A
        window without events burns at rate 0 whatever this is.

    Raises
    ------
    TypeError, ValueError
        A bad ``store``, ``slo``, ``rules`` or ``min_events``; a window the
        store cannot read (the message names the rule).

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.serving.slo import BurnRateAlerts, EventStore
    >>> clock = fp.ManualClock()
    >>> store = EventStore(clock=clock)
    >>> alerts = BurnRateAlerts(store, slo=0.999)
    >>> for minute in range(5):
    ...     store.add(1000, errors=20)       # 2% errors: burn rate 20
    ...     clock.advance(60.0)
    >>> [a.subject for a in alerts.evaluate()]
    ['page 1h/5m > 14.4', 'page 6h/30m > 6', 'ticket 1d/2h > 3', 'ticket 3d/6h > 1']
    """

    def __init__(self, store: EventStore, slo: float = 0.999, *,
                 rules: Sequence[BurnRateRule] = DEFAULT_BURN_RATE_RULES,
                 min_events: int = 0) -> None:
        if not isinstance(store, EventStore):
            raise TypeError(f"BurnRateAlerts: store must be an EventStore, got "
                            f"{type(store).__name__}")
        slo_x = _open_unit(slo, "BurnRateAlerts: slo")
        if isinstance(rules, (str, bytes)) or not isinstance(rules, Iterable):
            raise TypeError(f"BurnRateAlerts: rules must be a sequence of BurnRateRule, got "
                            f"{type(rules).__name__}")
        rules = tuple(rules)
        if not rules:
            raise ValueError("BurnRateAlerts: rules must not be empty")
        windows = []
        for i, r in enumerate(rules):
            if not isinstance(r, BurnRateRule):
                raise TypeError(f"BurnRateAlerts: rules[{i}] must be a BurnRateRule, got "
                                f"{type(r).__name__}")
            windows.append((store.window_buckets(r.long_window, f"rule {r.name!r} long_window"),
                            store.window_buckets(r.short_window,
                                                 f"rule {r.name!r} short_window")))
        self._min_events = _count(min_events, "BurnRateAlerts: min_events")
        self._store = store
        self._slo = slo_x
        self._budget = 1 - slo_x
        self._rules = rules
        self._windows = tuple(windows)
        self._thresholds = tuple(_exact(r.threshold) for r in rules)

    @property
    def store(self) -> EventStore:
        return self._store

    @property
    def slo(self) -> float:
        return float(self._slo)

    @property
    def rules(self) -> tuple[BurnRateRule, ...]:
        return self._rules

    @property
    def min_events(self) -> int:
        return self._min_events

    def _burn(self, total: int, bad: int) -> Fraction:
        return Fraction(bad, total) / self._budget if total else Fraction(0)

    def burn_rate(self, window: Duration) -> float:
        """The burn rate over the last ``window``: error ratio / (1 - slo); 0.0 without events."""
        total, bad = self._store.counts(window)
        return float(self._burn(total, bad))

    def status(self) -> list[BurnRateStatus]:
        """Every rule's burn rates and whether it fires, read at one instant."""
        counts = self._store._counts_many(k for pair in self._windows for k in pair)
        out = []
        for rule, (kl, ks), thr in zip(self._rules, self._windows, self._thresholds,
                                       strict=True):
            (tl, bl), (ts, bs) = counts[kl], counts[ks]
            long_b, short_b = self._burn(tl, bl), self._burn(ts, bs)
            firing = long_b > thr and short_b > thr and ts >= self._min_events
            out.append(BurnRateStatus(rule, float(long_b), float(short_b), tl, ts, firing))
        return out

    def evaluate(self) -> list[BurnRateAlert]:
        """The alerts firing now, one per firing rule, in the rules' order.

        Returns
        -------
        list of BurnRateAlert
            Kind ``"burn_rate"``, the rule's severity, ``observed`` = the
            smaller burn rate, ``threshold`` = the rule's.
        """
        alerts = []
        for s in self.status():
            if not s.firing:
                continue
            r = s.rule
            long_s = _fmt_duration(r.long_window // _ONE_US)
            short_s = _fmt_duration(r.short_window // _ONE_US)
            alerts.append(BurnRateAlert(
                "burn_rate", r.severity, min(s.long_burn_rate, s.short_burn_rate), r.threshold,
                f"error budget of the {float(self._slo):g} objective burning at "
                f"{s.long_burn_rate:.3g}x over {long_s} and {s.short_burn_rate:.3g}x over "
                f"{short_s}, above {r.threshold:g}x ({r.severity})",
                window=r.long_window, subject=r.name, rule=r,
                long_burn_rate=s.long_burn_rate, short_burn_rate=s.short_burn_rate))
        return alerts

    def __repr__(self) -> str:
        return f"BurnRateAlerts(slo={float(self._slo):g}, rules={len(self._rules)})"


# ---------------------------------------------------------------- SLOs and error budget


@dataclass(frozen=True)
class ObjectiveStatus:
    """One objective of an :class:`SLOReport`.

    Attributes
    ----------
    name : str
        ``"availability"``, ``"latency_p99"`` or ``"error_rate"``.
    target : float
    observed : float or None
        ``None`` without data (no requests, no inferences); an objective
        without data is compliant.
    compliant : bool
    comparison : str
        ``">="`` (observed must be at least the target) or ``"<="``.
    """

    name: str
    target: float
    observed: float | None
    compliant: bool
    comparison: str


@dataclass(frozen=True)
class SLOReport:
    """What :meth:`ServiceLevelObjectives.evaluate` returns.

    Attributes
    ----------
    objectives : tuple of ObjectiveStatus
        Availability first, then the latency and error-rate objectives that
        are set.
    period : timedelta
    error_budget : timedelta
        ``(1 - availability_target) * period``.
    basis : str
        ``"requests"``: the budget is spent by bad requests, of which
        ``(1 - target) * total_events`` are allowed. ``"time"``: the budget
        is spent by downtime.
    total_events, bad_events : int or None
        The requests counted (``None`` when only downtime was given).
    allowed_bad_events : float or None
        ``(1 - target) * total_events``.
    downtime : timedelta or None
    budget_consumed : float
        Fraction of the budget spent (above 1 when overspent).
    budget_remaining : float
        ``1 - budget_consumed``; negative when overspent.
    budget_remaining_time : timedelta
        What remains of :attr:`error_budget` (negative when overspent).
    """

    objectives: tuple[ObjectiveStatus, ...]
    period: timedelta
    error_budget: timedelta
    basis: str
    total_events: int | None
    bad_events: int | None
    allowed_bad_events: float | None
    downtime: timedelta | None
    budget_consumed: float
    budget_remaining: float
    budget_remaining_time: timedelta

    @property
    def compliant(self) -> bool:
        """Every objective met."""
        return all(o.compliant for o in self.objectives)

    @property
    def exhausted(self) -> bool:
        """No budget left (``budget_remaining <= 0``; at exactly 0 still compliant)."""
        return self.budget_remaining <= 0

    def __getitem__(self, name: str) -> ObjectiveStatus:
        for o in self.objectives:
            if o.name == name:
                return o
        raise KeyError(f"SLOReport: no objective named {name!r} (have: "
                       f"{', '.join(o.name for o in self.objectives)})")

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-serialisable dict (durations in seconds)."""
        d: dict[str, Any] = {}
        for k, v in asdict(self).items():
            d[k] = v.total_seconds() if isinstance(v, timedelta) else v
        d["objectives"] = [asdict(o) for o in self.objectives]
        d["compliant"] = self.compliant
        d["exhausted"] = self.exhausted
        return d


#: The longest SLO period, in whole days (the budget left after it is a timedelta).
_MAX_PERIOD_DAYS = _MAX_SPAN_US // (86_400 * _US_PER_S)


def _period_days(value: Any, name: str, owner: str) -> float:
    days = check_bounded(value, name, owner, 0.0, low_open=True)
    if days > _MAX_PERIOD_DAYS:
        raise invalid(owner, name, value, f"must be at most {_MAX_PERIOD_DAYS} days")
    return days


@settings
class SLOConfig(Settings):
    """The service-level objectives of :class:`ServiceLevelObjectives` (the ``[slo]`` section).

    Examples
    --------
    >>> str(ServiceLevelObjectives.from_config(SLOConfig(period_days=7)).error_budget)
    '0:10:04.800000'
    """

    availability_target: float = setting(
        0.999, check=checks.Real("open_unit"), doc="Share of good requests (or of up time).")
    latency_p99: float | None = setting(
        None, check=checks.Optional(checks.Duration()),
        doc="The 99th-percentile latency must be at most this many seconds (none: no latency "
            "objective).")
    error_rate_threshold: float | None = setting(
        None, check=checks.Optional(checks.Real("open_unit")),
        doc="The error rate must be at most this (none: no error-rate objective).")
    period_days: float = setting(
        30.0, check=checks.Custom(_period_days,
                                  f"days, finite, > 0 and at most {_MAX_PERIOD_DAYS}"),
        doc="The period the objectives and the error budget cover.")


_SLO_DEFAULTS = SLOConfig()


class ServiceLevelObjectives:
    """Availability, latency and error-rate objectives over a period, and the error budget.

    Parameters
    ----------
    availability_target : float
        The share of good requests (or of up time), strictly between 0 and 1.
    latency_p99 : float or timedelta, optional
        The 99th-percentile latency must be at most this (seconds).
    error_rate_threshold : float, optional
        The error rate must be at most this, strictly between 0 and 1.
    period : timedelta or float
        The SLO period (seconds when a number), at most 999999999 days (so
        the budget left, down to ``-period``, is a timedelta).

    The defaults are those of :class:`SLOConfig`.

    Raises
    ------
    TypeError
        An argument of the wrong type.
    InvalidArgument
        A target out of range or a period that is not positive (the message
        names it).

    Notes
    -----
    The error budget is exact to the microsecond: the target is taken as the
    decimal it prints as (``0.999`` is ``999/1000``) and
    ``(1 - target) * period`` is rounded to the nearest microsecond, so 99.9%
    over 30 days is exactly 43 min 12 s.

    Examples
    --------
    >>> from datetime import timedelta
    >>> from fugue_ppl.serving.slo import ServiceLevelObjectives
    >>> slos = ServiceLevelObjectives(0.999, period=timedelta(days=30))
    >>> str(slos.error_budget)
    '0:43:12'
    >>> report = slos.evaluate(counts=(10_000, 3))
    >>> report.compliant, report.budget_consumed, str(report.budget_remaining_time)
    (True, 0.3, '0:30:14.400000')
    >>> str(slos.evaluate(downtime=timedelta(minutes=20)).budget_remaining_time)
    '0:23:12'
    """

    @classmethod
    def from_config(cls, config: Any) -> ServiceLevelObjectives:
        """The objectives of an :class:`SLOConfig`, or of a config's ``[slo]`` section.

        Raises
        ------
        TypeError
            ``config`` is neither an SLOConfig nor has one as ``slo``.

        Examples
        --------
        >>> from fugue_ppl.config import load_config
        >>> cfg = load_config(env={"FUGUE_SLO__AVAILABILITY_TARGET": "0.99",
        ...                        "FUGUE_SLO__PERIOD_DAYS": "7"})
        >>> str(ServiceLevelObjectives.from_config(cfg).error_budget)
        '1:40:48'
        """
        section = config if isinstance(config, SLOConfig) else getattr(config, "slo", None)
        if not isinstance(section, SLOConfig):
            raise TypeError(f"ServiceLevelObjectives.from_config: expected a "
                            f"fugue_ppl.config.Config or an SLOConfig, got "
                            f"{type(config).__name__}")
        return cls(section.availability_target, latency_p99=section.latency_p99,
                   error_rate_threshold=section.error_rate_threshold,
                   period=timedelta(days=section.period_days))

    def __init__(self, availability_target: float = _SLO_DEFAULTS.availability_target,
                 latency_p99: float | timedelta | None = _SLO_DEFAULTS.latency_p99,
                 error_rate_threshold: float | None = _SLO_DEFAULTS.error_rate_threshold,
                 period: Duration = timedelta(days=_SLO_DEFAULTS.period_days)) -> None:
        target = _open_unit(availability_target, "ServiceLevelObjectives: availability_target")
        p99 = None
        if latency_p99 is not None:
            p99 = _seconds(latency_p99, "ServiceLevelObjectives: latency_p99")
        err = None
        if error_rate_threshold is not None:
            err = _open_unit(error_rate_threshold, "ServiceLevelObjectives: error_rate_threshold")
        period_us = _duration_us(period, "ServiceLevelObjectives: period",
                                 max_us=_MAX_SPAN_US)
        self._target = target
        self._p99 = p99
        self._err = err
        self._period_us = period_us
        self._budget_exact = period_us * (1 - target)          # microseconds, exact
        self._budget_us = round(self._budget_exact)

    @property
    def availability_target(self) -> float:
        return float(self._target)

    @property
    def latency_p99(self) -> float | None:
        """The p99 latency objective in seconds, or None."""
        return self._p99

    @property
    def error_rate_threshold(self) -> float | None:
        return None if self._err is None else float(self._err)

    @property
    def period(self) -> timedelta:
        return timedelta(microseconds=self._period_us)

    @property
    def error_budget(self) -> timedelta:
        """``(1 - availability_target) * period``, to the microsecond."""
        return timedelta(microseconds=self._budget_us)

    def allowed_bad_events(self, total: int) -> float:
        """How many of ``total`` requests may fail: ``(1 - availability_target) * total``."""
        return _float((1 - self._target) * _count(total, "allowed_bad_events: total"))

    def evaluate(self, source: Source | EventStore | None = None, *,
                 counts: tuple[int, int] | None = None,
                 downtime: Duration | None = None, elapsed: Duration | None = None,
                 count_rejected: bool = True) -> SLOReport:
        """Compliance of each objective, and the error budget spent and left.

        Parameters
        ----------
        source : ModelRunner, ProductionMetrics or EventStore, optional
            Where the request counts (and, for a runner or metrics, the p99
            latency) come from. A runner or metrics counts since it started
            (take it as the period's traffic); an event store counts over the
            period (its retention must cover it).
        counts : (total, bad), optional
            Request counts given directly (instead of a source's).
        downtime : timedelta or float, optional
            Downtime within the period (e.g. :meth:`BreakerHistory.downtime`).
            When given, availability and the budget are time-based: the
            budget left is ``error_budget - downtime`` and availability is
            ``1 - downtime / elapsed``.
        elapsed : timedelta or float, optional
            How much of the period the downtime was measured over (default:
            the whole period); at least ``downtime``. Both are at most
            999999999 days.
        count_rejected : bool, default True
            Whether calls a runner's breaker rejected count as bad requests.

        Returns
        -------
        SLOReport

        Raises
        ------
        TypeError, ValueError
            Nothing to evaluate (no source, counts or downtime), both a source
            and counts, bad counts (``bad > total``), a negative downtime, a
            downtime longer than ``elapsed``, or an event store that cannot
            read the period.

        Notes
        -----
        Request-based budget: ``allowed = (1 - target) * total``, consumed =
        ``bad / allowed`` (0 without requests), and the time left is
        ``error_budget * (1 - consumed)`` rounded to the microsecond. An
        objective without data (no requests; no inference for latency) is
        reported with ``observed=None`` and counts as compliant.
        """
        if source is not None and counts is not None:
            raise ValueError("ServiceLevelObjectives.evaluate: give a source or counts, not both")
        if source is None and counts is None and downtime is None:
            raise ValueError("ServiceLevelObjectives.evaluate: needs a source, counts or a "
                             "downtime")
        if not isinstance(count_rejected, bool):
            raise TypeError(f"ServiceLevelObjectives.evaluate: count_rejected must be a bool, got "
                            f"{type(count_rejected).__name__}")
        # -- gather (all validation before anything is computed)
        total = bad = None
        p99 = None
        if counts is not None:
            if not isinstance(counts, tuple) or len(counts) != 2:
                raise TypeError("ServiceLevelObjectives.evaluate: counts must be a (total, bad) "
                                "tuple")
            total = _count(counts[0], "ServiceLevelObjectives.evaluate: counts[0] (total)")
            bad = _count(counts[1], "ServiceLevelObjectives.evaluate: counts[1] (bad)")
            if bad > total:
                raise ValueError(f"ServiceLevelObjectives.evaluate: bad ({bad}) must not exceed "
                                 f"total ({total})")
        elif isinstance(source, EventStore):
            total, bad = source.counts(self.period)
        elif source is not None:
            m = _metrics_of(source, "ServiceLevelObjectives.evaluate: source")
            total, bad = _request_counts(source, "ServiceLevelObjectives.evaluate: source",
                                         count_rejected)
            if m.latency.count > 0:
                p99 = m.latency.quantile(0.99)
        down_us = None
        if downtime is not None:
            down_us = _duration_us(downtime, "ServiceLevelObjectives.evaluate: downtime",
                                   allow_zero=True, max_us=_MAX_SPAN_US)
            el_us = self._period_us if elapsed is None else _duration_us(
                elapsed, "ServiceLevelObjectives.evaluate: elapsed", max_us=_MAX_SPAN_US)
            if down_us > el_us:
                raise ValueError(f"ServiceLevelObjectives.evaluate: downtime "
                                 f"({timedelta(microseconds=down_us)}) must not exceed elapsed "
                                 f"({timedelta(microseconds=el_us)})")
        elif elapsed is not None:
            raise ValueError("ServiceLevelObjectives.evaluate: elapsed needs a downtime")

        # -- availability and the budget
        target = self._target
        allowed = None
        if down_us is not None:
            basis = "time"
            avail = 1 - Fraction(down_us, el_us)
            avail_obs: float | None = float(avail)
            avail_ok = avail >= target
            consumed = Fraction(down_us) / self._budget_exact
            remaining_time = timedelta(microseconds=self._budget_us - down_us)
        else:
            basis = "requests"
            assert total is not None and bad is not None
            if total:
                avail = 1 - Fraction(bad, total)
                avail_obs, avail_ok = float(avail), avail >= target
                consumed = Fraction(bad) / ((1 - target) * total)
            else:
                avail_obs, avail_ok, consumed = None, True, Fraction(0)
            remaining_time = timedelta(microseconds=round(self._budget_exact * (1 - consumed)))
        if total is not None:
            allowed = _float((1 - target) * total)          # inf beyond the float range
        objectives = [ObjectiveStatus("availability", float(target), avail_obs, avail_ok, ">=")]
        if self._p99 is not None:
            objectives.append(ObjectiveStatus("latency_p99", self._p99, p99,
                                              p99 is None or p99 <= self._p99, "<="))
        if self._err is not None:
            if total is not None and bad is not None and total:
                rate = Fraction(bad, total)
                objectives.append(ObjectiveStatus("error_rate", float(self._err), float(rate),
                                                  rate <= self._err, "<="))
            else:
                objectives.append(ObjectiveStatus("error_rate", float(self._err), None, True,
                                                  "<="))
        return SLOReport(
            objectives=tuple(objectives), period=self.period, error_budget=self.error_budget,
            basis=basis, total_events=total, bad_events=bad, allowed_bad_events=allowed,
            downtime=None if down_us is None else timedelta(microseconds=down_us),
            budget_consumed=float(consumed), budget_remaining=float(1 - consumed),
            budget_remaining_time=remaining_time)

    def __repr__(self) -> str:
        return (f"ServiceLevelObjectives(availability_target={float(self._target):g}, "
                f"latency_p99={self._p99!r}, error_rate_threshold="
                f"{None if self._err is None else float(self._err)!r}, period={self.period!r})")


# ---------------------------------------------------------------- availability from the breaker


@dataclass(frozen=True)
class AvailabilityReport:
    """What :meth:`BreakerHistory.report` returns (times in seconds).

    Attributes
    ----------
    uptime, downtime : float
        Time observed up and down (an ongoing outage counts up to now).
    failures : int
        Outages observed (entries into a down state; an outage in progress
        when observation started counts).
    mtbf : float
        Mean time between failures, ``uptime / failures`` (``inf`` without
        failures).
    mttr : float
        Mean time to repair, ``downtime / failures`` (0 without failures).
    availability : float
        ``mtbf / (mtbf + mttr)`` = ``uptime / (uptime + downtime)``; 1.0
        without failures.
    down : bool
        Whether the breaker is down now.
    """

    uptime: float
    downtime: float
    failures: int
    mtbf: float
    mttr: float
    availability: float
    down: bool


def _availability(up: float, down: float, failures: int, is_down: bool) -> AvailabilityReport:
    if failures == 0:
        return AvailabilityReport(up, down, 0, math.inf, 0.0, 1.0, is_down)
    mtbf, mttr = up / failures, down / failures
    if mtbf + mttr > 0:
        a = mtbf / (mtbf + mttr)
    else:                      # an outage that began at this very instant
        a = 0.0 if is_down else 1.0
    return AvailabilityReport(up, down, failures, mtbf, mttr, a, is_down)


_DOWN_DEFAULT = frozenset({BreakerState.FAILED, BreakerState.RECOVERY})
_MAX_SPAN_S = _MAX_SPAN_US // _US_PER_S      # the longest a history covers, in seconds (exact)


class BreakerHistory:
    """Availability from a circuit breaker's transitions: ``A = MTBF / (MTBF + MTTR)``.

    Subscribes to the breaker (:meth:`~fugue_ppl.CircuitBreaker.add_listener`)
    and times each period up and down.

    *Down* means ``FAILED`` or ``RECOVERY`` by default: in ``RECOVERY`` the
    breaker admits only its trial calls and rejects the rest, so the service
    is not restored until the breaker is ``HEALTHY`` again. ``DEGRADED``
    serves every call and counts as up. A *failure* is a transition from an
    up state into a down state; a *repair* the transition back (so
    ``FAILED -> RECOVERY -> FAILED -> RECOVERY -> HEALTHY`` is one outage).

    Parameters
    ----------
    breaker : CircuitBreaker
    clock : callable, optional
        Returns seconds; default: the breaker's :class:`~fugue_ppl.ManualClock`
        when it has one, else :func:`time.monotonic`.
    down_states : iterable of BreakerState, default {FAILED, RECOVERY}
        The states that count as down (never ``HEALTHY``).
    max_outages : int, default 1000
        Outages remembered for windowed reports; the totals (``window=None``)
        stay exact however many there are.

    Raises
    ------
    TypeError, ValueError
        A bad breaker, clock, ``down_states`` or ``max_outages``.

    Notes
    -----
    Every clock reading is checked: one that is not a finite number of
    seconds raises TypeError, one more than 999999999 days after the
    history started (a clock that jumped) raises ValueError, so every
    figure fits the durations :class:`ServiceLevelObjectives` accepts. A
    refused reading records nothing: a report or :meth:`close` raises, and
    a transition it would have timed is left out (the breaker logs the
    error; the next transition between up and down is recorded as usual).
    A reading earlier than the latest transition's (a clock that went
    backwards) counts as that time: no time passes.

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.serving.slo import BreakerHistory
    >>> clock = fp.ManualClock()
    >>> breaker = fp.CircuitBreaker(window_size=4, minimum_calls=4, open_duration=5.0,
    ...                             half_open_permits=1, clock=clock)
    >>> history = BreakerHistory(breaker)
    >>> clock.advance(95.0)
    >>> for _ in range(4):
    ...     breaker.record_failure()          # FAILED at t = 95
    >>> clock.advance(5.0)
    >>> breaker.allow(); breaker.record_success()   # RECOVERY, then HEALTHY at t = 100
    True
    >>> clock.advance(100.0)
    >>> r = history.report()
    >>> r.failures, r.mtbf, r.mttr, r.availability
    (1, 195.0, 5.0, 0.975)
    """

    def __init__(self, breaker: CircuitBreaker, *, clock: Clock | None = None,
                 down_states: Iterable[BreakerState] = _DOWN_DEFAULT,
                 max_outages: int = 1000) -> None:
        if not isinstance(breaker, CircuitBreaker):
            raise TypeError(f"BreakerHistory: breaker must be a CircuitBreaker, got "
                            f"{type(breaker).__name__}")
        if clock is None:
            clock = breaker.clock if breaker.clock is not None else time.monotonic
        now = _check_clock(clock, "BreakerHistory: clock")
        if isinstance(down_states, (str, bytes)) or not isinstance(down_states, Iterable):
            raise TypeError(f"BreakerHistory: down_states must be an iterable of BreakerState, "
                            f"got {type(down_states).__name__}")
        states = frozenset(down_states)
        bad = [s for s in states if not isinstance(s, BreakerState)]
        if bad:
            raise TypeError(f"BreakerHistory: down_states must hold BreakerState members, got "
                            f"{bad[0]!r}")
        if not states:
            raise ValueError("BreakerHistory: down_states must not be empty")
        if BreakerState.HEALTHY in states:
            raise ValueError("BreakerHistory: down_states must not contain HEALTHY")
        max_outages = _count(max_outages, "BreakerHistory: max_outages", 1, sys.maxsize)
        self._breaker = breaker
        self._clock = clock
        self._down_states = states
        self._lock = threading.Lock()
        # [start, end or None while ongoing]
        self._outages: deque[list[Any]] = deque(maxlen=max_outages)
        self._closed_at: float | None = None
        self._start = now                        # fixed: read by _now() without the lock
        with self._lock:
            # Subscribe, then read the state, before any transition is handled.
            breaker.add_listener(self._on_transition)
            self._since = now
            self._down = breaker.state in states
            self._up_total = 0.0
            self._down_total = 0.0
            self._failures = 0
            if self._down:
                self._failures = 1
                self._outages.append([now, None])

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    @property
    def down_states(self) -> frozenset[BreakerState]:
        return self._down_states

    def _now(self) -> float:
        """The clock's reading, checked (see the class notes); nothing changes."""
        now = _read_clock(self._clock, "BreakerHistory: clock")
        if now - self._start > _MAX_SPAN_S:      # inf when the difference overflows
            raise ValueError(f"BreakerHistory: clock returned {now!r}, more than "
                             f"{timedelta(microseconds=_MAX_SPAN_US)} ({_MAX_SPAN_S} s) after "
                             f"the history started at {self._start!r}; nothing was recorded")
        return now

    def _on_transition(self, old: BreakerState, new: BreakerState) -> None:
        if self._closed_at is not None:          # set once, never cleared
            return
        now = self._now()
        with self._lock:
            if self._closed_at is not None:
                return
            down = new in self._down_states
            if down == self._down:
                return
            now = max(now, self._since)          # a clock that went backwards adds no time
            elapsed = now - self._since
            if self._down:                       # repaired
                self._down_total += elapsed
                if self._outages and self._outages[-1][1] is None:
                    self._outages[-1][1] = now
            else:                                # failed
                self._up_total += elapsed
                self._failures += 1
                self._outages.append([now, None])
            self._down = down
            self._since = now

    def report(self, window: Duration | None = None) -> AvailabilityReport:
        """Up time, down time, failures, MTBF, MTTR and availability.

        Parameters
        ----------
        window : timedelta or float, optional
            Only the last ``window`` (clipped to when observation started);
            outages overlapping it count as failures. ``None`` (default):
            everything since the history was created.

        Raises
        ------
        TypeError, ValueError
            A bad ``window``, or the clock's reading is refused (see the
            class notes).
        """
        w_us = None if window is None else _duration_us(window, "BreakerHistory.report: window")
        now = math.nan if self._closed_at is not None else self._now()
        with self._lock:
            if self._closed_at is not None:      # frozen at closing
                now = self._closed_at
            now = max(now, self._since)
            ongoing = now - self._since
            if w_us is None:
                up, down = self._up_total, self._down_total
                if self._down:
                    down += ongoing
                else:
                    up += ongoing
                return _availability(up, down, self._failures, self._down)
            lo = max(self._start, now - w_us / _US_PER_S)
            down = 0.0
            failures = 0
            for start, end in self._outages:
                e = now if end is None else end
                if end is not None and end <= lo and start < lo:
                    continue                     # over before the window
                failures += 1
                down += max(0.0, e - max(start, lo))
            up = max(0.0, (now - lo) - down)
            return _availability(up, down, failures, self._down)

    def downtime(self, window: Duration | None = None) -> timedelta:
        """The time down (to the microsecond), over ``window`` or since creation.

        Pass it to :meth:`ServiceLevelObjectives.evaluate` for a time-based
        error budget.
        """
        # At most _MAX_SPAN_S by the clock check, but for the rounding of the sums.
        return timedelta(seconds=min(self.report(window).downtime, _MAX_SPAN_S))

    @property
    def availability(self) -> float:
        """``MTBF / (MTBF + MTTR)`` since creation (1.0 without failures)."""
        return self.report().availability

    @property
    def mtbf(self) -> float:
        """Mean time between failures in seconds (``inf`` without failures)."""
        return self.report().mtbf

    @property
    def mttr(self) -> float:
        """Mean time to repair in seconds (0.0 without failures)."""
        return self.report().mttr

    @property
    def failures(self) -> int:
        with self._lock:
            return self._failures

    def close(self) -> None:
        """Unsubscribe from the breaker (idempotent); the figures stay as they were at closing.

        Raises
        ------
        TypeError, ValueError
            The clock's reading is refused (see the class notes): the
            history stays open and subscribed, so ``close`` can be retried.
        """
        if self._closed_at is not None:
            return
        now = self._now()
        with self._lock:
            if self._closed_at is not None:
                return
            self._closed_at = max(now, self._since)
        self._breaker.remove_listener(self._on_transition)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        try:
            r = self.report()
        except (TypeError, ValueError):          # the clock's reading is refused
            return f"BreakerHistory(breaker={self._breaker.name!r}, failures={self.failures})"
        return (f"BreakerHistory(breaker={self._breaker.name!r}, failures={r.failures}, "
                f"availability={r.availability:.6g})")


# ---------------------------------------------------------------- capacity


@dataclass(frozen=True)
class CapacityRecommendation:
    """What :meth:`CapacityPlanner.recommend` returns.

    Attributes
    ----------
    action : str
        ``"scale_up"``, ``"scale_down"`` or ``"no_action"``.
    utilisation : float
        ``rho = arrival_rate * service_time / current_replicas``.
    replicas : int
        The recommended number of replicas.
    current_replicas : int
    factor : float
        ``replicas / current_replicas`` (1.0 for no action).
    arrival_rate : float
        Requests per second (lambda).
    service_time : float
        Seconds per request (1 / mu).
    message : str
    limited_by : str or None
        ``"max_replicas"`` or ``"min_replicas"`` when a bound changed the
        replicas the load asks for.
    """

    action: str
    utilisation: float
    replicas: int
    current_replicas: int
    factor: float
    arrival_rate: float
    service_time: float
    message: str
    limited_by: str | None = None

    @property
    def projected_utilisation(self) -> float:
        """The utilisation with the recommended replicas."""
        lam, s, c = self.arrival_rate, self.service_time, self.replicas
        try:
            u = lam * s / c
        except OverflowError:                    # more replicas than a float holds
            u = math.inf
        if math.isinf(u) and math.isfinite(lam) and math.isfinite(s):
            u = _float(_exact(lam) * _exact(s) / c)  # beyond the float range on the way: exactly
        return u

    @property
    def saturated(self) -> bool:
        """``utilisation >= 1``: requests arrive faster than the replicas can serve them."""
        return self.utilisation >= 1.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["projected_utilisation"] = self.projected_utilisation
        return d


class CapacityPlanner:
    """Utilisation ``rho = lambda / (c * mu)`` and a scaling recommendation.

    ``lambda`` is the arrival rate (requests per second), ``1 / mu`` the mean
    service time and ``c`` the number of replicas (servers: processes,
    workers). Above ``scale_up_threshold`` the planner scales up, below
    ``scale_down_threshold`` it scales down, in between (thresholds
    included) it does nothing; a change aims at ``target_utilisation``:
    ``replicas = ceil(lambda / (mu * target))``, kept within
    ``[min_replicas, max_replicas]``.

    Parameters
    ----------
    scale_up_threshold : float, default 0.7
    scale_down_threshold : float, default 0.3
    target_utilisation : float, default 0.5
        ``0 <= scale_down_threshold < target_utilisation < scale_up_threshold <= 1``.
    min_replicas : int, default 1
    max_replicas : int or None, default None (no upper bound)

    Raises
    ------
    TypeError, ValueError
        Thresholds out of order or range, bad replica bounds (the message
        names the parameter).

    Examples
    --------
    >>> from fugue_ppl.serving.slo import CapacityPlanner
    >>> planner = CapacityPlanner()
    >>> r = planner.recommend(arrival_rate=90.0, service_time=0.02, replicas=2)
    >>> r.action, r.utilisation, r.replicas, r.factor
    ('scale_up', 0.9, 4, 2.0)
    >>> planner.recommend(arrival_rate=7.0, service_time=0.1, replicas=1).action
    'no_action'
    """

    def __init__(self, scale_up_threshold: float = 0.7, scale_down_threshold: float = 0.3,
                 target_utilisation: float = 0.5, min_replicas: int = 1,
                 max_replicas: int | None = None) -> None:
        up = _real(scale_up_threshold, "CapacityPlanner: scale_up_threshold", low=0.0, high=1.0,
                   low_open=True)
        down = _real(scale_down_threshold, "CapacityPlanner: scale_down_threshold", low=0.0,
                     high=1.0, high_open=True)
        target = _real(target_utilisation, "CapacityPlanner: target_utilisation", low=0.0,
                       high=1.0, low_open=True, high_open=True)
        if not down < target < up:
            raise ValueError(f"CapacityPlanner: thresholds must satisfy scale_down_threshold "
                             f"< target_utilisation < scale_up_threshold, got {down:g}, "
                             f"{target:g}, {up:g}")
        lo = _count(min_replicas, "CapacityPlanner: min_replicas", 1)
        hi = None
        if max_replicas is not None:
            hi = _count(max_replicas, "CapacityPlanner: max_replicas")
            if hi < lo:
                raise ValueError(f"CapacityPlanner: max_replicas ({safe_repr(hi)}) must be >= "
                                 f"min_replicas ({safe_repr(lo)})")
        self.scale_up_threshold = up
        self.scale_down_threshold = down
        self.target_utilisation = target
        self.min_replicas = lo
        self.max_replicas = hi

    def recommend(self, arrival_rate: float, service_time: float,
                  replicas: int = 1) -> CapacityRecommendation:
        """A recommendation from the arrival rate, the mean service time and the replicas.

        Parameters
        ----------
        arrival_rate : float
            lambda, requests per second (>= 0).
        service_time : float or timedelta
            1 / mu, seconds per request (>= 0).
        replicas : int, default 1
            c, the replicas serving now (>= 1).

        Returns
        -------
        CapacityRecommendation

        Notes
        -----
        Utilisation is compared with the thresholds exactly (floats taken as
        the decimals they print as): ``arrival_rate=7.0, service_time=0.1``
        on one replica is exactly at 0.7 and does not scale up.
        """
        lam = _real(arrival_rate, "CapacityPlanner.recommend: arrival_rate", low=0.0)
        if isinstance(service_time, timedelta):
            s = _seconds(service_time, "CapacityPlanner.recommend: service_time",
                         allow_zero=True)
        else:
            s = _real(service_time, "CapacityPlanner.recommend: service_time", low=0.0)
        c = _count(replicas, "CapacityPlanner.recommend: replicas", 1)
        load = _exact(lam) * _exact(s)                    # offered load, in replicas
        rho = load / c
        needed = math.ceil(load / _exact(self.target_utilisation))
        if rho > _exact(self.scale_up_threshold):
            desired, why = max(needed, c + 1), (f"above the scale-up threshold "
                                                f"{self.scale_up_threshold:g}")
        elif rho < _exact(self.scale_down_threshold):
            desired, why = min(needed, c), (f"below the scale-down threshold "
                                            f"{self.scale_down_threshold:g}")
        else:
            desired, why = c, (f"within [{self.scale_down_threshold:g}, "
                               f"{self.scale_up_threshold:g}]")
        final, limited = desired, None
        if self.max_replicas is not None and final > self.max_replicas:
            final, limited = self.max_replicas, "max_replicas"
        if final < self.min_replicas:
            final, limited = self.min_replicas, "min_replicas"
        action = "scale_up" if final > c else "scale_down" if final < c else "no_action"
        # inf beyond the float range (a load of more than ~1e308 replicas)
        utilisation, factor = _float(rho), _float(Fraction(final, c))
        msg = f"utilisation {utilisation:.3g} {why}: "
        if action == "no_action":
            msg += f"keep {safe_repr(c)} replica{'s' if c != 1 else ''}"
        else:
            msg += f"scale from {safe_repr(c)} to {safe_repr(final)} replicas (x{factor:.3g})"
        if limited is not None:
            bound = self.max_replicas if limited == "max_replicas" else self.min_replicas
            msg += f" (limited by {limited}={safe_repr(bound)})"
        return CapacityRecommendation(action, utilisation, final, c, factor, lam, s, msg,
                                      limited)

    def from_metrics(self, source: Source, replicas: int = 1, *,
                     arrival_rate: float | None = None,
                     service_time: float | None = None) -> CapacityRecommendation:
        """A recommendation from measured metrics.

        Parameters
        ----------
        source : ModelRunner or ProductionMetrics
            Supplies the arrival rate (``window_throughput``: inferences per
            second over the metrics' sliding window) and the mean service
            time (the latency histogram's mean; 0 without inferences). The
            rate is taken as the arrival rate of all ``replicas`` together,
            e.g. the workers sharing these metrics.
        replicas : int, default 1
        arrival_rate, service_time : float, optional
            Override the measured values (e.g. ``store.rate(window)`` from an
            :class:`EventStore`, or one replica's rate times the replicas).

        Returns
        -------
        CapacityRecommendation
        """
        m = _metrics_of(source, "CapacityPlanner.from_metrics: source")
        if arrival_rate is None:
            arrival_rate = m.window_throughput
        if service_time is None:
            service_time = m.latency.mean if m.latency.count > 0 else 0.0
        return self.recommend(arrival_rate, service_time, replicas)

    def __repr__(self) -> str:
        return (f"CapacityPlanner(scale_up_threshold={self.scale_up_threshold:g}, "
                f"scale_down_threshold={self.scale_down_threshold:g}, "
                f"target_utilisation={self.target_utilisation:g}, "
                f"min_replicas={safe_repr(self.min_replicas)}, "
                f"max_replicas={safe_repr(self.max_replicas)})")
