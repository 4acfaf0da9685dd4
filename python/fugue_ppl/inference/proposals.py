"""Single-site proposals: how Metropolis-Hastings moves one site's value.

A proposal draws a new value from the current one and returns, with it, its
Hastings term ``log q(current | new) - log q(new | current)``: zero for a
symmetric move, and what keeps the chain's target right for an asymmetric one
(a log-normal walk, for one). :class:`Prior` is the exception: the site is
drawn afresh from its distribution in the model (given the other sites), and
the kernel puts that density in the ratio itself.

Subclass :class:`Proposal` for a move of your own: set :attr:`Proposal.kind`
and implement :meth:`Proposal.propose`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from fugue_ppl.checks import check_int, check_real, invalid

__all__ = ["Proposal", "Prior", "GaussianWalk", "LogNormalWalk", "Flip", "IntegerWalk",
           "value_kind"]


def value_kind(value: Any) -> str:
    """The kind of a site's value: ``"float"``, ``"int"`` or ``"bool"``."""
    t = type(value)
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    return "float"


class Proposal:
    """Base class of the single-site proposals.

    Attributes
    ----------
    kind : str or None
        The kind of value it moves (``"float"``, ``"int"``, ``"bool"``); None:
        any kind.
    """

    kind: ClassVar[str | None] = None

    def propose(self, value: Any, rng: np.random.Generator) -> tuple[Any, float]:
        """A new value for a site holding ``value``, and the Hastings term
        ``log q(value | new) - log q(new | value)``.

        Parameters
        ----------
        value : float, int or bool
            The site's current value (of :attr:`kind`).
        rng : numpy.random.Generator
            The chain's generator: draw only from it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement propose")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))


class Prior(Proposal):
    """Draw the site afresh from its distribution in the model, given the other
    sites (the proposal of "lightweight" MH); any kind of value."""

    def propose(self, value: Any, rng: np.random.Generator) -> tuple[Any, float]:
        raise TypeError("Prior is carried out by the kernel (the site is re-drawn in the model)")


class GaussianWalk(Proposal):
    """``new = value + scale * N(0, 1)``, for a continuous site (symmetric).

    A value outside the site's support has density zero and is rejected.

    Parameters
    ----------
    scale : float
        The step's standard deviation, finite and > 0.
    """

    kind = "float"

    def __init__(self, scale: float):
        self.scale = check_real(scale, "scale", "GaussianWalk", "positive")

    def propose(self, value, rng):
        return value + self.scale * float(rng.standard_normal()), 0.0

    def __repr__(self) -> str:
        return f"GaussianWalk(scale={self.scale!r})"


class LogNormalWalk(Proposal):
    """``new = value * exp(scale * N(0, 1))``, for a positive continuous site.

    Asymmetric: its Hastings term is ``log(new) - log(value)``; without it the
    chain would sample the target divided by the value.

    Parameters
    ----------
    scale : float
        The standard deviation of the step in log space, finite and > 0.

    Raises (when proposing)
    -----------------------
    InvalidArgument
        The site's value is not > 0.
    """

    kind = "float"

    def __init__(self, scale: float):
        self.scale = check_real(scale, "scale", "LogNormalWalk", "positive")

    def propose(self, value, rng):
        if not value > 0.0:
            raise invalid("LogNormalWalk", "value", value,
                          "must be > 0 (a log-normal walk moves positive sites)")
        step = self.scale * float(rng.standard_normal())
        new = value * math.exp(step)
        return new, math.log(new) - math.log(value)

    def __repr__(self) -> str:
        return f"LogNormalWalk(scale={self.scale!r})"


class Flip(Proposal):
    """``new = not value``, for a Bernoulli site (symmetric, deterministic)."""

    kind = "bool"

    def propose(self, value, rng):
        return not value, 0.0


class IntegerWalk(Proposal):
    """``new = value ± k``, ``k`` uniform in ``1..step``, for an integer site
    (Poisson, Binomial, Categorical, ...; symmetric). A value outside the
    site's support has probability zero and is rejected.

    Parameters
    ----------
    step : int
        The largest step, >= 1.
    """

    kind = "int"

    def __init__(self, step: int = 1):
        self.step = check_int(step, "step", "IntegerWalk", low=1, high=2**62)

    def propose(self, value, rng):
        k = 1 + int(rng.integers(self.step)) if self.step > 1 else 1
        return (value + k if rng.random() < 0.5 else value - k), 0.0

    def __repr__(self) -> str:
        return f"IntegerWalk(step={self.step!r})"
