"""A group-sequential design for A/B tests: a few planned looks with alpha spending.

Where the sequential tests of :mod:`fugue_ppl.deploy.analysis` may look at any
time, an A/B test usually plans its sample and a few interim looks. A
group-sequential design spends the level ``alpha`` over those looks with a
Lan-DeMets spending function: O'Brien-Fleming-like (almost nothing early,
nearly the full level at the end, so the final look is about as powerful as a
single test) or Pocock-like (evenly). The boundaries of the standardised
statistic come from the exact joint distribution of the looks (the
recursive numerical integration of Armitage, McPherson & Rowe), so the chance
of a false winner over all looks is ``alpha``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fugue_ppl.checks import (
    as_number,
    check_bounded,
    check_choice,
    check_int,
    check_real,
    invalid,
)
from fugue_ppl.deploy._stats import norm_sf, t_sf

__all__ = ["GroupSequentialDesign", "LookResult", "SPENDING_FUNCTIONS"]

#: The alpha-spending functions (Lan & DeMets 1983).
SPENDING_FUNCTIONS = ("obrien-fleming", "pocock")

_OWNER = "GroupSequentialDesign"
# Grid points per unit of the standardised scale in the numerical integration.
_GRID_PER_SD = 200
_MAX_LOOKS = 50


def _norm_isf(p: float) -> float:
    """z with P(Z > z) = p, 0 < p < 1 (bisection on the normal tail, to 1e-14)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if norm_sf(mid) > p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-14:
            break
    return 0.5 * (lo + hi)


def _spent(name: str, alpha: float, t: float) -> float:
    """Cumulative two-sided alpha spent at information fraction t (0 < t <= 1)."""
    if t >= 1.0:
        return alpha
    if name == "obrien-fleming":
        # each side spends alpha/2 by 2 - 2 Phi(z_{1 - alpha/4} / sqrt(t)) (as gsDesign's
        # sfLDOF does for a symmetric two-sided design)
        return 4.0 * norm_sf(_norm_isf(alpha / 4.0) / math.sqrt(t))
    return alpha * math.log1p((math.e - 1.0) * t)


@dataclasses.dataclass(frozen=True, slots=True)
class LookResult:
    """One look of a group-sequential test.

    Attributes
    ----------
    look : int
        The look (1-based).
    z : float
        The standardised statistic (candidate minus baseline; a t statistic
        converted to the normal scale when its degrees of freedom were given).
    boundary : float
        The look's boundary: the test stops when ``|z| >= boundary``.
    stop : bool
        Whether the test stops here: a boundary crossed, or the last look.
    winner : str or None
        ``"candidate"`` (z above the boundary), ``"baseline"`` (below minus
        the boundary) or None (no significant difference).
    alpha_spent : float
        The level spent up to this look.
    """

    look: int
    z: float
    boundary: float
    stop: bool
    winner: str | None
    alpha_spent: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (for logs and history entries)."""
        return dataclasses.asdict(self)


class GroupSequentialDesign:
    """Two-sided boundaries for a few planned looks, by alpha spending.

    Parameters
    ----------
    looks : int
        Planned looks, 1 to 50 (the last at the planned maximum sample).
    alpha : float
        Overall two-sided level, in (0, 0.5].
    spending : {"obrien-fleming", "pocock"}
        The Lan-DeMets spending function.
    information : sequence of float, optional
        The looks' information fractions (e.g. sample sizes over the maximum),
        increasing, in (0, 1], the last 1; evenly spaced when not given.

    Examples
    --------
    >>> design = GroupSequentialDesign(5, alpha=0.05)
    >>> [round(c, 2) for c in design.boundaries]
    [4.88, 3.36, 2.68, 2.29, 2.03]
    >>> design.evaluate(2, 3.5).winner
    'candidate'
    """

    def __init__(self, looks: int = 5, *, alpha: float = 0.05,
                 spending: str = "obrien-fleming",
                 information: Sequence[float] | None = None):
        self.looks = check_int(looks, "looks", _OWNER, low=1, high=_MAX_LOOKS)
        self.alpha = check_bounded(alpha, "alpha", _OWNER, 0.0, 0.5, low_open=True)
        self.spending = check_choice(spending, "spending", _OWNER, SPENDING_FUNCTIONS)
        if information is None:
            fractions = [(k + 1) / self.looks for k in range(self.looks)]
        else:
            if isinstance(information, (str, bytes)) or not isinstance(information, Sequence):
                raise TypeError(f"{_OWNER}: information must be a sequence of numbers, "
                                f"got {type(information).__name__}")
            fractions = [check_real(t, "information", _OWNER, "unit") for t in information]
            if len(fractions) != self.looks:
                raise invalid(_OWNER, "information", len(fractions),
                              f"must hold one fraction per look ({self.looks})")
            rising = all(a < b for a, b in zip(fractions, fractions[1:], strict=False))
            if not rising or fractions[-1] != 1.0:
                raise invalid(_OWNER, "information", information,
                              "must increase and end at 1")
        self.information = tuple(fractions)
        self.alpha_spent = tuple(_spent(self.spending, self.alpha, t) for t in fractions)
        self.boundaries = tuple(self._boundaries())

    def _boundaries(self) -> list[float]:
        """Boundaries c_k with P(first crossing at look k) = the alpha spent there, under
        no effect: the sub-density of the score S_k = Z_k sqrt(t_k) on the continuation
        region is carried from look to look on a grid (Simpson's rule)."""
        out = []
        spent_before = 0.0
        grid = weights = density = None
        prev_t = 0.0
        for k, t in enumerate(self.information):
            target = self.alpha_spent[k] - spent_before
            if k == 0:
                c = _norm_isf(target / 2.0)
            else:
                sd = math.sqrt(t - prev_t)
                mass = weights * density

                def crossing(c, sd=sd, mass=mass, t=t, grid=grid):
                    edge = c * math.sqrt(t)
                    return float(np.dot(mass, _norm_sf_array((edge - grid) / sd)
                                        + _norm_sf_array((edge + grid) / sd)))

                c = _solve_decreasing(crossing, target)
            out.append(c)
            spent_before = self.alpha_spent[k]
            # the sub-density of S_k on |S_k| < c sqrt(t)
            edge = c * math.sqrt(t)
            n = 2 * int(math.ceil(edge * _GRID_PER_SD)) + 1
            new_grid = np.linspace(-edge, edge, n)
            new_weights = _simpson_weights(n, new_grid[1] - new_grid[0])
            if k == 0:
                density = np.exp(-0.5 * new_grid**2 / t) / math.sqrt(2.0 * math.pi * t)
            else:
                sd = math.sqrt(t - prev_t)
                diff = (new_grid[:, None] - grid[None, :]) / sd
                kernel = np.exp(-0.5 * diff * diff) / (sd * math.sqrt(2.0 * math.pi))
                density = kernel @ (weights * density)
            grid, weights, prev_t = new_grid, new_weights, t
        return out

    def evaluate(self, look: int, statistic: float, df: float | None = None) -> LookResult:
        """The decision at one look.

        Parameters
        ----------
        look : int
            1 to ``looks``.
        statistic : float
            The standardised difference, candidate minus baseline: a z statistic,
            or Welch's t with its degrees of freedom ``df`` (converted to the
            normal scale with the same tail probability).
        df : float, optional
            Degrees of freedom of a t statistic.

        Returns
        -------
        LookResult

        Raises
        ------
        TypeError
            An argument of the wrong type.
        InvalidArgument
            A look out of range, a NaN statistic, ``df`` not > 0. (An infinite
            statistic, as Welch's t of two constant samples, is judged as it is.)
        """
        look = check_int(look, "look", _OWNER, low=1, high=self.looks)
        x = float(as_number(statistic, "statistic", _OWNER))
        if math.isnan(x):
            raise invalid(_OWNER, "statistic", statistic, "must not be NaN")
        if df is not None:
            df = check_real(df, "df", _OWNER, "positive")
            if math.isfinite(x) and x != 0.0:
                p = t_sf(abs(x), df)
                x = math.copysign(_norm_isf(p) if p > 0.0 else 40.0, x)
        c = self.boundaries[look - 1]
        winner = None
        if x >= c:
            winner = "candidate"
        elif x <= -c:
            winner = "baseline"
        return LookResult(look, x, c, winner is not None or look == self.looks, winner,
                          self.alpha_spent[look - 1])

    def __repr__(self) -> str:
        return (f"GroupSequentialDesign(looks={self.looks}, alpha={self.alpha}, "
                f"spending={self.spending!r})")


_ERFC = np.vectorize(math.erfc, otypes=[float])


def _norm_sf_array(z: np.ndarray) -> np.ndarray:
    """P(Z > z) elementwise (numpy has no erfc; math.erfc is accurate in the tails)."""
    return 0.5 * _ERFC(z / math.sqrt(2.0))


def _simpson_weights(n: int, h: float) -> np.ndarray:
    w = np.ones(n)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w * h / 3.0


def _solve_decreasing(f, target: float) -> float:
    """c with f(c) = target for f decreasing in c (bisection)."""
    lo, hi = 0.0, 40.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10:
            break
    return 0.5 * (lo + hi)

