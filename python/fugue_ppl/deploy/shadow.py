"""Shadow traffic's comparison: :class:`ShadowStats` counts the calls a
:class:`~fugue_ppl.deploy.Router` also sent to a candidate version and how far
the candidate's outputs were from the served ones.

Outputs are compared leaf by leaf: numbers (bool, int, float, numpy scalars) by
their absolute difference, tuples and lists element by element, anything else
by equality. A call differs when a structure or a non-number differs, or a
difference exceeds ``tolerance``.
"""

from __future__ import annotations

import math
import numbers
import threading
from typing import Any

from fugue_ppl.checks import check_real

__all__ = ["ShadowStats"]


def _diffs(a: Any, b: Any, out: list[float]) -> bool:
    # Appends the leaves' absolute differences; False when the structures differ.
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        x, y = float(a), float(b)
        out.append(0.0 if x == y or (math.isnan(x) and math.isnan(y)) else abs(x - y))
        return True
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_diffs(p, q, out) for p, q in zip(a, b, strict=True))
    return a == b


class ShadowStats:
    """What the shadow traffic to one candidate showed (thread-safe).

    Parameters
    ----------
    version : str
        The candidate.
    tolerance : float
        Largest absolute difference of a number still counted as equal.
    """

    def __init__(self, version: str, tolerance: float = 1e-9):
        self.version = version
        self.tolerance = check_real(tolerance, "tolerance", "ShadowStats", "non_negative")
        self._lock = threading.Lock()
        self.sent = 0           # calls sent to the candidate
        self.compared = 0       # calls both versions answered (status ok)
        self.differing = 0      # compared calls whose outputs differ
        self.failed = 0         # candidate calls that raised or did not answer "ok"
        self.skipped = 0        # candidate answered, the served call did not (nothing to compare)
        self.by_status: dict[str, int] = {}
        self._n = 0             # Welford over the numbers' absolute differences
        self._mean = 0.0
        self._m2 = 0.0
        self._max = 0.0

    def sent_one(self) -> None:
        with self._lock:
            self.sent += 1

    def record(self, served: Any, served_ok: bool, outcome: Any, raised: bool) -> None:
        """One candidate call ended: ``outcome`` (its result, or the exception it raised)
        against the ``served`` value (``served_ok``: the served call's status was ok)."""
        status = type(outcome).__name__ if raised else outcome.status
        diffs: list[float] = []
        same_shape = (not raised and outcome.status == "ok" and served_ok
                      and _diffs(served, outcome.value, diffs))
        with self._lock:
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if raised or outcome.status != "ok":
                self.failed += 1
                return
            if not served_ok:
                self.skipped += 1
                return
            self.compared += 1
            if not same_shape or any(d > self.tolerance for d in diffs):
                self.differing += 1
            for d in diffs:
                self._n += 1
                delta = d - self._mean
                self._mean += delta / self._n
                self._m2 += delta * (d - self._mean)
                self._max = max(self._max, d)

    def to_dict(self) -> dict[str, Any]:
        """The counts and the absolute differences' mean, standard deviation and maximum."""
        with self._lock:
            sd = math.sqrt(self._m2 / (self._n - 1)) if self._n > 1 else 0.0
            return {"version": self.version, "sent": self.sent, "compared": self.compared,
                    "differing": self.differing, "failed": self.failed,
                    "skipped": self.skipped, "by_status": dict(self.by_status),
                    "divergence_rate": self.differing / self.compared if self.compared else 0.0,
                    "abs_diff_mean": self._mean, "abs_diff_sd": sd, "abs_diff_max": self._max}

    def __repr__(self) -> str:
        return (f"ShadowStats(version={self.version!r}, sent={self.sent}, "
                f"compared={self.compared}, differing={self.differing})")
