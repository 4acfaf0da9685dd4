"""The trend of the health score: :func:`estimate_trend` fits the latest scores and gives
their slope, curvature and forecast as a :class:`Trend`.

:class:`~fugue_ppl.serving.health.checker.HealthChecker` calls it after every check
(its docstring says which points, and when the early warning is raised).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fugue_ppl.serving.health._numbers import is_real, to_float
from fugue_ppl.validation import safe_repr

__all__ = ["Trend", "estimate_trend"]


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
    k = to_float(horizon) if is_real(horizon) else None
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
