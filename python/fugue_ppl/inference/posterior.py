"""What a :class:`~fugue_ppl.ModelRunner` serving ``inference=`` answers a request
with, whatever the algorithm: per-site posterior summaries and the figures of the
posterior's quality (:class:`Posterior`), and the request's streams (:func:`request_seed`).

:class:`~fugue_ppl.inference.ImportanceResult` is a :class:`Posterior`;
Metropolis-Hastings and sequential Monte Carlo answer with a
:class:`PosteriorSummary` holding their full result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fugue_ppl.checks import check_duration, invalid, type_error
from fugue_ppl.core import DiscreteUniform, Handler, addr, run, sample
from fugue_ppl.errors import InferenceTimeout, TraceAddressNotFound
from fugue_ppl.inference._args import json_float

__all__ = ["Posterior", "PosteriorSummary", "deadline_check", "request_seed"]


class Posterior:
    """The posterior of one request, as a service reports it (each subclass
    provides the attributes).

    Attributes
    ----------
    sites : dict of str to summary
        Per summarised site: ``mean``, ``sd``, ``quantiles`` (``{p: q}`` at
        :data:`~fugue_ppl.inference.importance.QUANTILES`) and ``mcse_mean``.
    ess : float
        The effective sample size (for MCMC the smallest bulk ESS of the sites).
    log_evidence : float
        The log marginal likelihood's estimate; NaN when the algorithm makes
        none (MCMC).
    khat : float
        PSIS's Pareto k̂ of the final weights; NaN when there are none (MCMC).
    reliable : bool
        Whether the algorithm's own diagnostic passed (see each algorithm).
    """

    __slots__ = ()

    def __getitem__(self, site: str) -> Any:
        """The summary of ``site`` (TraceAddressNotFound, a KeyError, when it has none)."""
        try:
            return self.sites[site]
        except KeyError:
            raise TraceAddressNotFound(f"{type(self).__name__}: no summary of site {site!r} "
                                       f"(the summarised sites: {list(self.sites)!r})",
                                       site) from None

    def __contains__(self, site: object) -> bool:
        return site in self.sites


class PosteriorSummary(Posterior):
    """A :class:`Posterior` made from an algorithm's full result.

    Parameters
    ----------
    algorithm : str
        ``"metropolis_hastings"`` or ``"sequential_monte_carlo"``.
    sites : mapping of str to summary
    ess, log_evidence, khat : float
    reliable : bool
    result : MCMCResult or SMCResult
        The algorithm's full result (draws, per-step figures, diagnostics).
    """

    __slots__ = ("algorithm", "sites", "ess", "log_evidence", "khat", "reliable", "result")

    def __init__(self, algorithm: str, sites: Mapping[str, Any], *, ess: float,
                 log_evidence: float, khat: float, reliable: bool, result: Any):
        self.algorithm = algorithm
        self.sites = dict(sites)
        self.ess = float(ess)
        self.log_evidence = float(log_evidence)
        self.khat = float(khat)
        self.reliable = bool(reliable)
        self.result = result

    def mean(self, site: str) -> float:
        """The posterior mean of ``site``."""
        return float(self[site].mean)

    def sd(self, site: str) -> float:
        """The posterior standard deviation of ``site``."""
        return float(self[site].sd)

    def summary(self) -> dict[str, Any]:
        """As plain JSON-ready values (non-finite figures as None): ``algorithm``,
        ``ess``, ``log_evidence``, ``khat``, ``reliable`` and ``sites`` (per site:
        ``mean``, ``sd``, ``quantiles`` keyed ``"0.05"``, ... and ``mcse_mean``)."""
        return {"algorithm": self.algorithm, "ess": json_float(self.ess),
                "log_evidence": json_float(self.log_evidence), "khat": json_float(self.khat),
                "reliable": self.reliable,
                "sites": {name: {"mean": json_float(s.mean), "sd": json_float(s.sd),
                                 "quantiles": {f"{p:g}": json_float(q)
                                               for p, q in s.quantiles.items()},
                                 "mcse_mean": json_float(s.mcse_mean)}
                          for name, s in self.sites.items()}}

    def __repr__(self) -> str:
        verdict = "reliable" if self.reliable else "UNRELIABLE"
        return (f"PosteriorSummary({self.algorithm}, ess={self.ess:.1f}, "
                f"log_evidence={self.log_evidence:.6g}, [{verdict}], sites={list(self.sites)!r})")


def _seed_words() -> list[int]:
    return [sample(addr("seed", i), DiscreteUniform(0, 2**62)) for i in range(4)]


def request_seed(handler: Any, seed: int | None, owner: str) -> np.random.SeedSequence:
    """The SeedSequence of one request's algorithm: four words drawn from the
    handler's run with key ``seed`` (else its run counter), so that, as for a
    single run, the same request key gives the same posterior in any replica.

    Raises
    ------
    TypeError
        ``handler`` is not a fugue-ppl handler, ``seed`` not None or an int.
    InvalidArgument
        ``seed`` is negative.
    """
    if not isinstance(handler, Handler):
        raise type_error(owner, "handler", handler, "a fugue_ppl handler")
    if seed is not None:
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise type_error(owner, "seed", seed, "None or an int >= 0 (the request's key)")
        if seed < 0:
            raise invalid(owner, "seed", seed, "must be >= 0 (the request's key)")
    words, _ = run(handler, _seed_words, seed=seed)
    return np.random.SeedSequence(words)


def deadline_check(deadline: Any, owner: str) -> Callable[[], None] | None:
    """A check that raises InferenceTimeout once ``deadline`` seconds (None: no
    check; else finite and > 0, checked) have passed since this call."""
    if deadline is None:
        return None
    deadline = check_duration(deadline, "deadline", owner)
    start = time.monotonic()
    stop = start + deadline

    def check() -> None:
        now = time.monotonic()
        if now > stop:
            raise InferenceTimeout(f"{owner}: the run took {now - start:.6g} s, past its "
                                   f"deadline of {deadline:g} s")
    return check
