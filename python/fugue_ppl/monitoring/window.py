"""Counts over a window of time, from counters that only grow until they are reset.

:class:`CounterWindow` keeps timed readings of counters and gives what they
gained since the newest reading at least a window old. The health checker's
windowed checks (:mod:`fugue_ppl.serving.health`) and the SLO event store's
``sync`` (:mod:`fugue_ppl.serving.slo`) both count this way. A reading must be
one consistent moment of its counters: read a runner's through
:meth:`~fugue_ppl.ProductionMetrics.counts`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["CounterWindow", "Reading", "Span", "gained"]

#: Groups of counters, each read together and reset together, by name.
Reading = Mapping[str, Sequence[int]]


def gained(cur: Sequence[int], base: Sequence[int]) -> tuple[int, ...]:
    """What a group of counters gained from ``base`` to ``cur``.

    The group's counters only grow until they are reset together: when any
    went down (or the group is new), ``cur`` is what they counted since.
    """
    if len(cur) != len(base) or any(c < b for c, b in zip(cur, base, strict=True)):
        return tuple(cur)
    return tuple(c - b for c, b in zip(cur, base, strict=True))


@dataclass(frozen=True)
class Span:
    """Two readings of the same counters: at the start of a window and at its end."""

    start: float
    end: float
    seq: int            # the start reading's number, counted from 0 in reading order
    base: Reading
    cur: Reading

    def gained(self, group: str) -> tuple[int, ...]:
        """What ``group`` gained over the span (:func:`gained`); a new group counts from zero."""
        return gained(self.cur.get(group, ()), self.base.get(group, ()))


class CounterWindow:
    """Timed readings of counters, and what they gained over the last ``window`` seconds.

    Parameters
    ----------
    read : callable
        Returns a :data:`Reading` of the counters now.
    window : float
        Seconds: :meth:`advance` compares with the newest reading at least
        this old (the oldest kept when none is); 0 compares with the previous
        reading.
    now : float
        The time of the first reading, taken here.
    keep : int
        Readings kept; with readings more often than ``window / (keep - 1)``
        the window comes out shorter than asked.

    Not thread-safe: its owner serialises the calls.
    """

    def __init__(self, read: Callable[[], Reading], window: float = 0.0, *, now: float = 0.0,
                 keep: int = 2) -> None:
        self._read = read
        self._window = window
        self._seq = 0
        self._readings: deque[tuple[int, float, Reading]] = deque(maxlen=max(keep, 2))
        self._take(now)

    def _take(self, now: float) -> tuple[int, float, Reading]:
        entry = (self._seq, now, self._read())
        self._seq += 1
        self._readings.append(entry)
        return entry

    @property
    def seq(self) -> int:
        """The number the next reading will get."""
        return self._seq

    @property
    def readings(self) -> tuple[tuple[int, float, Reading], ...]:
        """The readings kept, oldest first: ``(seq, time, reading)``."""
        return tuple(self._readings)

    def advance(self, now: float = 0.0) -> Span:
        """Read the counters at ``now`` and return the span from the window's start to it.

        With a window of 0 only the order of the readings matters: ``now`` may be left out.
        """
        limit = now - self._window
        readings = self._readings
        while len(readings) > 1 and readings[1][1] <= limit:
            readings.popleft()
        seq, start, base = readings[0]
        _, _, cur = self._take(now)
        return Span(start, now, seq, base, cur)
