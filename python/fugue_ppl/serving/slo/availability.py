"""Availability from a circuit breaker's history: :class:`BreakerHistory` times its
periods up and down and reports ``A = MTBF / (MTBF + MTTR)`` (:class:`AvailabilityReport`);
its downtime feeds a time-based error budget (:mod:`~fugue_ppl.serving.slo.objectives`).
The reliability functions (:func:`reliability`, :func:`trip_probability`,
:func:`mean_time_to_trip`) turn its observed failure rate into forecasts."""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fugue_ppl.checks import check_int, check_real, check_type, invalid, type_error
from fugue_ppl.serving._breaker import BreakerState, CircuitBreaker
from fugue_ppl.serving.slo._common import (
    MAX_SPAN_S,
    MAX_SPAN_US,
    US_PER_S,
    Clock,
    Duration,
    check_clock,
    duration_seconds,
    duration_us,
    read_clock,
)

if TYPE_CHECKING:
    from typing_extensions import Self


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

    @property
    def failure_rate(self) -> float:
        """Failures per second of uptime, ``1 / mtbf``: the maximum-likelihood rate of
        exponentially distributed times between failures (0.0 without failures)."""
        if self.failures == 0:
            return 0.0
        return self.failures / self.uptime if self.uptime > 0 else math.inf


# ---------------------------------------------------------------- reliability functions

#: A failure rate: failures per second, constant, or piecewise constant as
#: ``[(duration, rate), ...]`` in time order.
Rate = float | Sequence[tuple[Duration, float]]


def _rate(value: Any, owner: str) -> float:
    return check_real(value, "rate", owner, "non_negative")


def _survival(hazard: float) -> tuple[float, float]:
    # (R, 1 - R) for a cumulative hazard (0 * inf, no time at an infinite rate, is no risk)
    if hazard != hazard:
        hazard = 0.0
    return math.exp(-hazard), -math.expm1(-hazard)


def reliability(t: Duration, rate: float) -> float:
    """``R(t) = exp(-rate * t)``: the probability of no failure (no trip) for ``t``.

    ``t`` is a duration (a timedelta or seconds) and ``rate`` failures per
    second, e.g. :attr:`BreakerHistory.failure_rate`.

    >>> round(reliability(3600.0, 1 / 7200), 6)       # one trip per two hours on average
    0.606531
    """
    s = duration_seconds(t, "t", "reliability", zero=True)
    return _survival(_rate(rate, "reliability") * s)[0]


def _cumulative_hazard(horizon: float, rate: Any, owner: str) -> float:
    # The integral of the rate over [0, horizon].
    if not isinstance(rate, (list, tuple)):
        lam = _rate(rate, owner)
        return lam * horizon if horizon > 0 else 0.0
    if not rate:
        raise invalid(owner, "rate", rate, "must hold at least one (duration, rate) piece")
    total = covered = 0.0
    for i, piece in enumerate(rate):
        if not (isinstance(piece, (list, tuple)) and len(piece) == 2):
            raise type_error(owner, f"rate[{i}]", piece, "a (duration, rate) pair")
        d = duration_seconds(piece[0], f"rate[{i}] duration", owner)
        lam = check_real(piece[1], f"rate[{i}] rate", owner, "non_negative")
        take = min(d, horizon - covered)
        if take > 0:
            total += lam * take
        covered += d
    if covered < horizon:
        raise invalid(owner, "horizon", horizon,
                      f"must be covered by the rate's pieces ({covered:g} s)")
    return total


def trip_probability(horizon: Duration, rate: Rate) -> float:
    """``P(trip within horizon) = 1 - exp(-integral of rate over the horizon)``.

    ``rate`` is failures per second, constant or piecewise constant
    (``[(duration, rate), ...]`` covering the horizon: a rate that changes with
    the expected traffic, say). Accurate for tiny probabilities too.

    >>> round(trip_probability(3600.0, 1 / 7200), 6)
    0.393469
    >>> round(trip_probability(7200.0, [(3600.0, 0.0), (3600.0, 1 / 3600)]), 6)
    0.632121
    """
    h = duration_seconds(horizon, "horizon", "trip_probability", zero=True)
    return _survival(_cumulative_hazard(h, rate, "trip_probability"))[1]


def mean_time_to_trip(rate: float) -> float:
    """``1 / rate``: the expected time to the next failure, in seconds (``inf`` at rate 0)."""
    lam = _rate(rate, "mean_time_to_trip")
    return 1.0 / lam if lam > 0 else math.inf


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
        Returns seconds; ``None``: the breaker's :class:`~fugue_ppl.ManualClock`
        when it has one, else :func:`time.monotonic`.
    down_states : iterable of BreakerState
        The states that count as down (never ``HEALTHY``).
    max_outages : int
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
        owner = "BreakerHistory"
        check_type(breaker, "breaker", owner, CircuitBreaker, "a CircuitBreaker")
        if clock is None:
            clock = breaker.clock if breaker.clock is not None else time.monotonic
        now = check_clock(clock, "clock", owner)
        if isinstance(down_states, (str, bytes)) or not isinstance(down_states, Iterable):
            raise type_error(owner, "down_states", down_states, "an iterable of BreakerState")
        states = frozenset(down_states)
        bad = [s for s in states if not isinstance(s, BreakerState)]
        if bad:
            raise TypeError(f"BreakerHistory: down_states must hold BreakerState members, got "
                            f"{bad[0]!r}")
        if not states:
            raise ValueError("BreakerHistory: down_states must not be empty")
        if BreakerState.HEALTHY in states:
            raise ValueError("BreakerHistory: down_states must not contain HEALTHY")
        max_outages = check_int(max_outages, "max_outages", owner, low=1, high=sys.maxsize)
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
        now = read_clock(self._clock, "clock", "BreakerHistory")
        if now - self._start > MAX_SPAN_S:       # inf when the difference overflows
            raise ValueError(f"BreakerHistory: clock returned {now!r}, more than "
                             f"{timedelta(microseconds=MAX_SPAN_US)} ({MAX_SPAN_S} s) after "
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
            outages overlapping it count as failures. ``None``:
            everything since the history was created.

        Raises
        ------
        TypeError, ValueError
            A bad ``window``, or the clock's reading is refused (see the
            class notes).
        """
        w_us = None if window is None else duration_us(window, "window", "BreakerHistory.report")
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
            lo = max(self._start, now - w_us / US_PER_S)
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
        # At most MAX_SPAN_S by the clock check, but for the rounding of the sums.
        return timedelta(seconds=min(self.report(window).downtime, MAX_SPAN_S))

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

    @property
    def failure_rate(self) -> float:
        """Failures per second of uptime since creation (as in :class:`AvailabilityReport`)."""
        return self.report().failure_rate

    # (The observed rate is infinite while no uptime has been seen yet.)

    def reliability(self, t: Duration) -> float:
        """``R(t)`` at the observed failure rate: the probability of no trip for ``t``."""
        s = duration_seconds(t, "t", "BreakerHistory.reliability", zero=True)
        return _survival(self.failure_rate * s)[0]

    def trip_probability(self, horizon: Duration) -> float:
        """``P(trip within horizon)`` at the observed failure rate."""
        h = duration_seconds(horizon, "horizon", "BreakerHistory.trip_probability", zero=True)
        return _survival(self.failure_rate * h)[1]

    @property
    def mean_time_to_trip(self) -> float:
        """The expected time to the next trip at the observed failure rate (= :attr:`mtbf`)."""
        lam = self.failure_rate
        return 1.0 / lam if lam > 0 else math.inf

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
