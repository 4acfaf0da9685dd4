"""Good and bad events per interval of time in a fixed ring of buckets: :class:`EventStore`,
filled by hand or from a runner's counters (read by :mod:`~fugue_ppl.serving.slo.burn_rate`
and :mod:`~fugue_ppl.serving.slo.objectives`)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from datetime import timedelta
from fractions import Fraction

from fugue_ppl.checks import check_flag, check_int
from fugue_ppl.monitoring.window import CounterWindow
from fugue_ppl.serving.slo._common import (
    MAX_US,
    US_PER_S,
    Clock,
    Duration,
    Source,
    check_clock,
    duration_seconds,
    duration_us,
    latency_counts,
    metrics_of,
    read_clock,
    request_counts,
    to_float,
)


class EventStore:
    """Counts of good and bad events per time interval, in a fixed ring of buckets.

    Time is cut into intervals of ``resolution`` from the moment the store is
    created; the store keeps the last ``ceil(retention / resolution)``
    intervals (two integers each), so its memory does not depend on the
    traffic or on how long it runs. Recording and reading are thread-safe.

    Parameters
    ----------
    resolution : timedelta or float
        Length of one interval.
    retention : timedelta or float
        How far back counts are kept; the longest window that can be read.
        The default covers the longest window of the default burn-rate rules.
    clock : callable
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
        res_us = duration_us(resolution, "resolution", "EventStore")
        ret_us = duration_us(retention, "retention", "EventStore")
        if ret_us < res_us:
            raise ValueError(f"EventStore: retention ({timedelta(microseconds=ret_us)}) must be "
                             f"at least the resolution ({timedelta(microseconds=res_us)})")
        n = -(-ret_us // res_us)
        if n > self.MAX_BUCKETS:
            raise ValueError(f"EventStore: retention ({timedelta(microseconds=ret_us)}) / "
                             f"resolution ({timedelta(microseconds=res_us)}) gives {n} buckets, "
                             f"more than EventStore.MAX_BUCKETS ({self.MAX_BUCKETS}); use a "
                             f"coarser resolution or a shorter retention")
        if n * res_us > MAX_US:
            raise ValueError(f"EventStore: retention ({timedelta(microseconds=ret_us)}) rounded "
                             f"up to whole intervals of {timedelta(microseconds=res_us)} is "
                             f"longer than {timedelta.max}")
        origin = check_clock(clock, "clock", "EventStore")
        self._res_us = res_us
        self._res = res_us / US_PER_S
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
        now = read_clock(self._clock, "clock", "EventStore")
        x = (now - self._origin) / self._res
        if math.isfinite(x):
            idx = math.floor(x)
        else:                                    # beyond the float range: exactly
            idx = math.floor((Fraction(now) - Fraction(self._origin)) * US_PER_S / self._res_us)
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
        us = duration_us(window, name, "EventStore")
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
        """``(total, bad)`` over the last ``k`` intervals for each ``k``, read at one instant
        (for :class:`~fugue_ppl.serving.slo.BurnRateAlerts`)."""
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
        good = check_int(good, "good", "EventStore.record", low=0)
        bad = check_int(bad, "bad", "EventStore.record", low=0)
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
        total = check_int(total, "total", "EventStore.add", low=0)
        errors = check_int(errors, "errors", "EventStore.add", low=0)
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
            ``None``: the events are requests and the bad ones failed
            requests (as :mod:`fugue_ppl.serving.slo` counts them). A
            duration: the events are inferences and the bad ones those slower
            than this (from the latency histogram, at its 0.4% resolution), a
            latency objective's events.
        count_rejected : bool
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
            thr = duration_seconds(latency_threshold, "latency_threshold", "EventStore.track")
        count_rejected = check_flag(count_rejected, "count_rejected", "EventStore.track")
        metrics_of(source, "source", "EventStore.track")
        with self._lock:
            if id(source) in self._sources:
                raise ValueError("EventStore.track: this source is tracked already")
            self._track_locked(source, thr, count_rejected)

    def _track_locked(self, source: Source, thr: float | None, count_rejected: bool) -> None:
        def read() -> dict[str, tuple[int, int]]:
            if thr is None:
                return {"events": request_counts(source, "source", "EventStore.sync",
                                                 count_rejected)}
            return {"events": latency_counts(source, "source", "EventStore.sync", thr)}
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
            ``None``: every tracked source.

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
            metrics_of(source, "source", "EventStore.sync")
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
            return to_float(Fraction(total * US_PER_S, k * self._res_us))

    def __repr__(self) -> str:
        return (f"EventStore(resolution={self.resolution}, retention={self.retention}, "
                f"buckets={self._n})")
