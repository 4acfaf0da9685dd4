"""The result of an MCMC run: draws per site as ``(chains, draws)`` arrays, the
acceptance rates, and a summary with the diagnostics of
:mod:`fugue_ppl.inference.diagnostics` per site."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from fugue_ppl.checks import check_real, type_error
from fugue_ppl.errors import TraceAddressNotFound
from fugue_ppl.inference.diagnostics import (
    MIN_DRAWS,
    _ess_bulk,
    _ess_tail,
    _mcse_mean,
    _rhat_rank,
)

__all__ = ["MCMCResult", "SiteSummary"]


class SiteSummary(NamedTuple):
    """The posterior summary of one site over every chain's draws.

    The diagnostics are NaN where they are undefined: R̂ with one chain, every
    diagnostic with fewer than 4 draws per chain, a site the model did not
    sample in every draw (its moments and quantiles are over the draws that
    hold it), R̂ of a site constant in every draw.
    """

    mean: float
    sd: float
    #: ``{probability: quantile}``.
    quantiles: dict[float, float]
    rhat: float
    ess_bulk: float
    ess_tail: float
    mcse_mean: float
    #: The number of draws that hold the site.
    count: int

    def to_dict(self) -> dict[str, Any]:
        """As plain JSON-ready values (quantile keys as strings)."""
        out = self._asdict()
        out["quantiles"] = {f"{p:g}": q for p, q in self.quantiles.items()}
        return out


class MCMCResult:
    """Draws of a Markov chain Monte Carlo run, after warm-up and thinning.

    Attributes
    ----------
    draws : Mapping[str, numpy.ndarray]
        Per site, its ``(chains, draws)`` values in the order the model first
        sampled the sites: float64, int64 or bool as the site's values; a site
        the model did not sample in every draw is float64 with NaN where it
        is absent.
    log_joint : numpy.ndarray
        ``(chains, draws)``: the log joint density (prior, likelihood and
        factors) of each draw.
    acceptance_rate : numpy.ndarray
        ``(chains,)``: the share of accepted proposals after warm-up.
    invalid_proposals : numpy.ndarray
        ``(chains,)``: proposals after warm-up under which the model built a
        distribution with invalid parameters (a value outside a site's
        support fed downstream); they count as rejected.
    kernel : str
    warmup, thin : int
    seed : numpy.random.SeedSequence
        The chains' streams derive from it (its ``entropy`` reproduces the run).
    scale : Mapping[str, numpy.ndarray] or None
        Random walk: per site, each chain's step (the proposal's standard
        deviation) after warm-up.
    """

    def __init__(self, draws: Mapping[str, np.ndarray], log_joint: np.ndarray,
                 acceptance_rate: np.ndarray, invalid_proposals: np.ndarray, *, kernel: str,
                 warmup: int, thin: int, seed: np.random.SeedSequence,
                 scale: Mapping[str, np.ndarray] | None = None):
        self.draws = dict(draws)
        self.log_joint = log_joint
        self.acceptance_rate = acceptance_rate
        self.invalid_proposals = invalid_proposals
        self.kernel = kernel
        self.warmup = warmup
        self.thin = thin
        self.seed = seed
        self.scale = scale

    @property
    def chains(self) -> int:
        return int(self.log_joint.shape[0])

    @property
    def num_draws(self) -> int:
        """Draws kept per chain."""
        return int(self.log_joint.shape[1])

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(self.draws)

    def __getitem__(self, site: str) -> np.ndarray:
        try:
            return self.draws[site]
        except KeyError:
            raise TraceAddressNotFound(f"MCMCResult: no site {site!r} was sampled", site) from None

    def __contains__(self, site: object) -> bool:
        return site in self.draws

    def __repr__(self) -> str:
        return (f"MCMCResult(kernel={self.kernel!r}, chains={self.chains}, "
                f"draws={self.num_draws}, sites={list(self.draws)!r})")

    def summary(self, sites: Iterable[str] | None = None,
                quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> dict[str, SiteSummary]:
        """Mean, sd, quantiles, rank-normalised R̂, bulk and tail ESS and the
        MCSE of the mean, per site.

        Parameters
        ----------
        sites : iterable of str, optional
            Default: every site. Bools count as 0 and 1.
        quantiles : sequence of float
            Probabilities in [0, 1].

        Raises
        ------
        TraceAddressNotFound
            A site was never sampled.
        """
        names = list(self.draws) if sites is None else list(sites)
        if isinstance(quantiles, (str, bytes)) or not isinstance(quantiles, Sequence):
            raise type_error("MCMCResult.summary", "quantiles", quantiles,
                             "a sequence of probabilities")
        probs = [check_real(p, "quantiles", "MCMCResult.summary", "probability")
                 for p in quantiles]
        return {name: _summarise(self[name], probs) for name in names}


def _summarise(values: np.ndarray, probs: list[float]) -> SiteSummary:
    ary = values.astype(np.float64)
    present = ary[~np.isnan(ary)]
    count = int(present.size)
    if count == 0:
        nan = math.nan
        return SiteSummary(nan, nan, dict.fromkeys(probs, nan), nan, nan, nan, nan, 0)
    mean = float(present.mean())
    sd = float(present.std(ddof=1)) if count > 1 else math.nan
    qs = {p: float(q) for p, q in zip(probs, np.quantile(present, probs), strict=True)}
    rhat = ess_b = ess_t = mcse = math.nan
    if count == ary.size and ary.shape[1] >= MIN_DRAWS:
        ess_b, ess_t, mcse = _ess_bulk(ary), _ess_tail(ary), _mcse_mean(ary)
        if ary.shape[0] >= 2:
            rhat = _rhat_rank(ary)
    return SiteSummary(mean, sd, qs, rhat, ess_b, ess_t, mcse, count)


def stack_draws(chains: list[list[dict[str, Any]]]) -> dict[str, np.ndarray]:
    """``(chains, draws)`` arrays per site from each chain's kept states."""
    order: dict[str, None] = {}
    for states in chains:
        for state in states:
            for site in state:
                order.setdefault(site, None)
    n_chains, n_draws = len(chains), len(chains[0])
    out = {}
    for site in order:
        kinds = set()
        complete = True
        for states in chains:
            for state in states:
                if site in state:
                    kinds.add(type(state[site]))
                else:
                    complete = False
        dtype = {bool: np.bool_, int: np.int64}.get(kinds.pop(), np.float64) \
            if complete and len(kinds) == 1 else np.float64
        if complete:
            ary = np.array([[state[site] for state in states] for states in chains], dtype=dtype)
        else:
            ary = np.array([[float(state[site]) if site in state else math.nan
                             for state in states] for states in chains], dtype=np.float64)
        out[site] = ary.reshape(n_chains, n_draws)
    return out

