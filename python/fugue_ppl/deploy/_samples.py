"""What a runner served since the last look: :class:`RunnerDeltas` takes the
change in a runner's counters (requests, failed requests) and in its latency
histogram between looks, the per-version samples the rollout analysis feeds
its tests with.

Log latency comes from the histogram's buckets: the counts below a fixed grid
of bounds 5% apart, each bucket's latencies taken at the geometric middle of
its bounds (an error below 2.5% of the latency, far below the spread of real
latencies, and the same for both versions), so no per-request hook is needed
on the hot path. Only the bounds between the histogram's minimum and maximum
are read (below, nothing; above, everything).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fugue_ppl.serving import ModelRunner
from fugue_ppl.serving.slo._common import request_counts

__all__ = ["RunnerDeltas"]

_RATIO = 1.05
_BOUNDS = tuple(1e-6 * _RATIO ** k for k in range(int(math.log(3600.0 / 1e-6, _RATIO)) + 2))
_BOUNDS_ARRAY = np.array(_BOUNDS)
_LOG_BOUNDS = np.log(_BOUNDS_ARRAY)
# each bucket's log latency: below the first bound, between two bounds, above the last
_MIDDLES = np.concatenate(([_LOG_BOUNDS[0]], 0.5 * (_LOG_BOUNDS[1:] + _LOG_BOUNDS[:-1]),
                           [_LOG_BOUNDS[-1]]))


class RunnerDeltas:
    """The change in one runner's counters since the last :meth:`commit`.

    Parameters
    ----------
    runner : ModelRunner
        With metrics (``metrics=True``, the default).
    """

    def __init__(self, runner: ModelRunner):
        if runner.metrics is None:
            raise ValueError("RunnerDeltas: the runner has no metrics (metrics=False)")
        self.runner = runner
        self._last = self._read()

    def _read(self) -> tuple[int, int, np.ndarray]:
        total, bad = request_counts(self.runner, "runner", "RunnerDeltas")
        hist = self.runner.metrics.latency
        cum = np.zeros(len(_BOUNDS) + 1, dtype=np.int64)
        n = hist.count
        if n:
            lo = int(np.searchsorted(_BOUNDS_ARRAY, hist.min, side="left"))
            hi = int(np.searchsorted(_BOUNDS_ARRAY, hist.max, side="right"))
            read = hist.cumulative_counts(_BOUNDS[lo:hi])
            cum[lo:hi] = [c for _, c in read[:-1]]
            cum[hi:] = read[-1][1]
        return total, bad, cum

    def peek(self) -> tuple[Any, dict[str, Any]]:
        """``(snapshot, delta)``: the counters now (for :meth:`commit`) and their change:
        ``requests``, ``errors``, and ``latency`` as ``(n, mean, variance)`` of the log
        latencies (variance 0 below two values)."""
        now = self._read()
        total, bad, cum = now
        t0, b0, cum0 = self._last
        counts = np.diff(cum - cum0, prepend=0)
        counts = np.maximum(counts, 0)
        n = int(counts.sum())
        if n:
            mean = float(np.dot(counts, _MIDDLES) / n)
            var = float(np.dot(counts, (_MIDDLES - mean) ** 2) / (n - 1)) if n > 1 else 0.0
        else:
            mean, var = 0.0, 0.0
        requests = max(0, total - t0)
        errors = min(max(0, bad - b0), requests)
        return now, {"requests": requests, "errors": errors, "latency": (n, mean, var)}

    def commit(self, snapshot: Any) -> None:
        """Count from ``snapshot`` on (after its delta went into a rollout)."""
        self._last = snapshot
