"""Service-level objectives and their error budget: :class:`ServiceLevelObjectives`
(its settings, the ``[slo]`` section: :class:`SLOConfig`) and the :class:`SLOReport` it
gives, from a runner, an :class:`~fugue_ppl.serving.slo.events.EventStore`, counts or a
downtime (:meth:`~fugue_ppl.serving.slo.availability.BreakerHistory.downtime`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Any

from fugue_ppl import checks
from fugue_ppl.checks import (
    Settings,
    check_bounded,
    check_exact,
    check_flag,
    check_int,
    invalid,
    setting,
    settings,
)
from fugue_ppl.serving.slo._common import (
    MAX_SPAN_US,
    US_PER_S,
    Duration,
    Source,
    duration_seconds,
    duration_us,
    metrics_of,
    request_counts,
    to_float,
)
from fugue_ppl.serving.slo.events import EventStore


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
_MAX_PERIOD_DAYS = MAX_SPAN_US // (86_400 * US_PER_S)


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
        The SLO period, at most 999999999 days (so the budget left, down to
        ``-period``, is a timedelta).

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
        owner = "ServiceLevelObjectives"
        target = check_exact(availability_target, "availability_target", owner, "open_unit")
        p99 = None
        if latency_p99 is not None:
            p99 = duration_seconds(latency_p99, "latency_p99", owner)
        err = None
        if error_rate_threshold is not None:
            err = check_exact(error_rate_threshold, "error_rate_threshold", owner, "open_unit")
        period_us = duration_us(period, "period", owner, max_us=MAX_SPAN_US)
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
        return to_float((1 - self._target) * check_int(total, "total", "allowed_bad_events",
                                                       low=0))

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
        count_rejected : bool
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
        owner = "ServiceLevelObjectives.evaluate"
        count_rejected = check_flag(count_rejected, "count_rejected", owner)
        # -- gather (all validation before anything is computed)
        total = bad = None
        p99 = None
        if counts is not None:
            if not isinstance(counts, tuple) or len(counts) != 2:
                raise TypeError("ServiceLevelObjectives.evaluate: counts must be a (total, bad) "
                                "tuple")
            total = check_int(counts[0], "counts[0] (total)", owner, low=0)
            bad = check_int(counts[1], "counts[1] (bad)", owner, low=0)
            if bad > total:
                raise ValueError(f"ServiceLevelObjectives.evaluate: bad ({bad}) must not exceed "
                                 f"total ({total})")
        elif isinstance(source, EventStore):
            total, bad = source.counts(self.period)
        elif source is not None:
            m = metrics_of(source, "source", owner)
            total, bad = request_counts(source, "source", owner, count_rejected)
            if m.latency.count > 0:
                p99 = m.latency.quantile(0.99)
        down_us = None
        if downtime is not None:
            down_us = duration_us(downtime, "downtime", owner, zero=True, max_us=MAX_SPAN_US)
            el_us = self._period_us if elapsed is None else duration_us(
                elapsed, "elapsed", owner, max_us=MAX_SPAN_US)
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
            allowed = to_float((1 - target) * total)        # inf beyond the float range
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
