"""Metropolis-Hastings on the trace runtime.

Each step proposes new values for some sampled sites, re-runs the model with
them (the core's replay: the proposed values are reused, their
log-probabilities recomputed under the model's distributions) and accepts the
new trace with probability ``min(1, exp(log_alpha))``. Two kernels:

``"random_walk"``
    Every site moves at once: ``x' = x + step * N(0, I)``. The model's sites
    must all be continuous (float) and the same in every run (a site that
    appears or vanishes with the values is refused with
    :class:`~fugue_ppl.errors.UnexpectedModelStructure`). With adaptation the
    step is tuned during warm-up only: one scale, toward the target
    acceptance rate throughout (Robbins-Monro), times a standard deviation
    per site (a diagonal proposal) estimated over windows of doubling length
    from 15% to 90% of warm-up, as Stan does (the scale starts afresh at
    the end of each window; a window in which the chain moved fewer than 5
    times changes nothing). Nothing changes after warm-up, so the draws kept
    are those of a fixed kernel.

``"single_site"``
    One site per step, chosen uniformly among the trace's sampled sites,
    moved by its proposal (:mod:`fugue_ppl.inference.proposals`; by default
    :class:`~fugue_ppl.inference.proposals.Prior`, a fresh draw from its
    distribution in the model). Any kind of site (float, int, bool). The
    model's structure may change with the values ("lightweight" MH, Wingate,
    Stuhlmüller and Goodman 2011): sites that appear are drawn from their
    distributions in the model and their density enters the Hastings term,
    sites that vanish enter it with their density in the current trace, and
    the choice of the site contributes ``log |sites now| - log |sites then|``.
    Supported: sites that appear, vanish or change their distribution with
    other sites' values. Refused with :class:`~fugue_ppl.errors.TypeMismatch`:
    an address whose values change kind (a float in one run, an int in
    another).

Both kernels count a proposal under which the model builds a distribution
with invalid parameters (a value outside a site's support fed to a later
site: ``Poisson(rate)`` of a negative ``rate``) as rejected: it has density
zero. The initial state of each chain is a draw from the prior with a finite
log density.

Chains are independent: chain ``c`` draws its proposals from the stream of
``SeedSequence(seed.entropy, spawn_key=seed.spawn_key + (c, 0))`` and runs the
model on streams derived from ``(c, 1)``; the same seed gives the same draws.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from fugue_ppl.checks import (
    check_choice,
    check_flag,
    check_int,
    check_real,
    closest,
    invalid,
    type_error,
)
from fugue_ppl.core import PriorHandler, ReplayHandler, ScoreGivenTrace, Trace, run
from fugue_ppl.errors import (
    FugueWarning,
    InvalidArgument,
    InvalidParameters,
    TypeMismatch,
    UnexpectedModelStructure,
)
from fugue_ppl.inference._args import check_sites
from fugue_ppl.inference._seeds import check_seed, child, root_seed
from fugue_ppl.inference.importance import QUANTILES
from fugue_ppl.inference.mcmc_result import MCMCResult, stack_draws
from fugue_ppl.inference.posterior import PosteriorSummary, deadline_check, request_seed
from fugue_ppl.inference.proposals import Prior, Proposal, value_kind

__all__ = ["MetropolisHastings", "KERNELS"]

#: The kernels :class:`MetropolisHastings` offers.
KERNELS = ("random_walk", "single_site")
_OWNER = "MetropolisHastings"
#: Bounds on the run's size, checked before anything runs.
MAX_CHAINS = 1024
MAX_STEPS = 10**9
_PRIOR = Prior()
# The random-walk scale's step size decays as t**-0.6 (Robbins-Monro, as Andrieu and Thoms 2008).
_ADAPT_DECAY = 0.6
# Below this many warm-up steps the diagonal is not estimated (too few states).
_MIN_DIAGONAL_WARMUP = 40
# A window in which the chain moved fewer times says nothing of the sites' spreads.
_MIN_WINDOW_MOVES = 5


def _windows(warmup: int) -> list[tuple[int, int]]:
    """``(end, start)`` of the windows that estimate the random walk's diagonal: from 15%
    to 90% of warm-up, doubling in length (the last one takes what is left), as Stan's."""
    if warmup < _MIN_DIAGONAL_WARMUP:
        return []
    start, end, size = int(0.15 * warmup), int(0.9 * warmup), max(10, warmup // 40)
    out = []
    while start < end:
        stop = end if start + 3 * size > end else start + size
        out.append((stop, start))
        start, size = stop, 2 * size
    return out


def _sites(trace: Trace) -> tuple[dict[str, Any], dict[str, float]]:
    """The sampled sites of ``trace``: values and log-probabilities, in execution order."""
    values, logp = {}, {}
    for c in trace.choices:
        if c.kind == "sample":
            values[c.address] = c.value
            logp[c.address] = c.log_prob
    return values, logp


class _Chain:
    """One chain's state, generator and model runs."""

    def __init__(self, model: Callable[..., Any], args: tuple, root: np.random.SeedSequence,
                 index: int):
        self.model = model
        self.args = args
        self.rng = np.random.default_rng(child(root, index, 0))
        words = child(root, index, 1).generate_state(4, np.uint32)
        self.stream = int.from_bytes(words.tobytes(), "little")
        self.key = 0
        self.values: dict[str, Any] = {}
        self.logp: dict[str, float] = {}
        self.log_joint = -math.inf

    def run(self, handler: Any) -> Trace:
        # Each run has its own key: distinct streams for every fresh draw.
        key = self.key
        self.key += 1
        return run(handler, self.model, *self.args, seed=key)[1]

    def initialise(self, tries: int, owner: str) -> None:
        prior = PriorHandler(rng=self.stream)
        for _ in range(tries):
            trace = self.run(prior)
            if math.isfinite(trace.total_log_weight):
                self.values, self.logp = _sites(trace)
                self.log_joint = trace.total_log_weight
                return
        raise invalid(owner, "model", self.model,
                      f"must give a finite log density to a prior draw; none of {tries} did "
                      "(do the observations have zero likelihood under the prior?)")

    def accept(self, log_alpha: float) -> bool:
        if log_alpha >= 0.0:
            return True
        if not log_alpha > -math.inf:        # -inf or NaN
            return False
        return -float(self.rng.standard_exponential()) < log_alpha

    # -------------------------------------------------------------- random walk

    def walk(self, addresses: tuple[str, ...], step: np.ndarray) -> tuple[bool, float, bool]:
        """One random-walk step: (accepted, acceptance probability, invalid)."""
        z = self.rng.standard_normal(len(addresses))
        proposed = dict(self.values)
        for a, s, dz in zip(addresses, step, z, strict=True):
            proposed[a] = self.values[a] + float(s * dz)
        try:
            trace = self.run(ScoreGivenTrace(Trace.from_dict(proposed)))
        except InvalidParameters:
            return False, 0.0, True
        except UnexpectedModelStructure as e:
            raise UnexpectedModelStructure(
                f"{_OWNER}: kernel 'random_walk' needs the same sites in every run, but site "
                f"{e.address!r} appeared when the continuous sites moved; use "
                "kernel='single_site' for a model whose structure changes", e.address) from None
        values, logp = _sites(trace)
        if values.keys() != proposed.keys():
            gone = next(a for a in proposed if a not in values)
            raise UnexpectedModelStructure(
                f"{_OWNER}: kernel 'random_walk' needs the same sites in every run, but site "
                f"{gone!r} vanished when the continuous sites moved; use kernel='single_site' "
                "for a model whose structure changes", gone)
        log_alpha = trace.total_log_weight - self.log_joint
        accepted = self.accept(log_alpha)
        if accepted:
            self.values, self.logp, self.log_joint = values, logp, trace.total_log_weight
        prob = 1.0 if log_alpha >= 0.0 else (math.exp(log_alpha) if log_alpha == log_alpha
                                             else 0.0)
        return accepted, prob, False

    # -------------------------------------------------------------- single site

    def single_site(self, proposals: Mapping[str, Proposal]) -> tuple[bool, bool]:
        """One single-site step: (accepted, invalid)."""
        sites = list(self.values)
        site = sites[int(self.rng.integers(len(sites)))]
        proposal = proposals.get(site, _PRIOR)
        prior = isinstance(proposal, Prior)
        if prior:
            base = {a: v for a, v in self.values.items() if a != site}
            log_q = 0.0
        else:
            new, log_q = _propose(proposal, site, self.values[site], self.rng)
            base = dict(self.values)
            base[site] = new
        try:
            trace = self.run(ReplayHandler(Trace.from_dict(base), rng=self.stream))
        except InvalidParameters:
            return False, True
        except TypeMismatch as e:
            raise TypeMismatch(
                f"{_OWNER}: site {e.address!r} holds values of another kind than in the "
                "current trace (a float in one run, an int or a bool in another); an address "
                "must keep its kind of value", e.address) from None
        values, logp = _sites(trace)
        if site not in values:
            raise UnexpectedModelStructure(
                f"{_OWNER}: site {site!r} vanished when its own value changed", site)
        # Fresh draws: the proposal's density forward; what the reverse move would
        # draw afresh (vanished sites, and the site itself under Prior): backward.
        forward = sum(logp[a] for a in values if a not in base)
        backward = sum(lp for a, lp in self.logp.items()
                       if a not in values or (prior and a == site))
        log_alpha = (trace.total_log_weight - self.log_joint + backward - forward + log_q
                     + math.log(len(self.values)) - math.log(len(values)))
        accepted = self.accept(log_alpha)
        if accepted:
            self.values, self.logp, self.log_joint = values, logp, trace.total_log_weight
        return accepted, False


def _propose(proposal: Proposal, site: str, value: Any,
             rng: np.random.Generator) -> tuple[Any, float]:
    """``proposal``'s move of ``site``, its kinds and Hastings term checked."""
    kind = value_kind(value)
    name = f"proposals[{site!r}]"
    if proposal.kind is not None and proposal.kind != kind:
        raise invalid(_OWNER, name, proposal,
                      f"moves {proposal.kind} values, but site {site!r} holds {kind} values")
    try:
        new, log_q = proposal.propose(value, rng)
    except InvalidArgument as e:
        raise invalid(_OWNER, name, proposal,
                      f"cannot move site {site!r} ({e.parameter} {e.rule}, got {e.shown})"
                      ) from None
    if isinstance(new, np.generic):
        new = new.item()
    if value_kind(new) != kind or not isinstance(new, (bool, int, float)):
        raise type_error(_OWNER, f"the value {name} proposed", new,
                         f"a {kind} like the site's")
    if kind == "float" and not math.isfinite(new):
        raise invalid(_OWNER, name, proposal, f"proposed a non-finite value {new!r}")
    try:
        log_q = float(log_q)
    except (TypeError, ValueError):
        raise type_error(_OWNER, f"the Hastings term {name} returned", log_q,
                         "a real number") from None
    if math.isnan(log_q) or log_q == math.inf:
        raise invalid(_OWNER, name, proposal, f"returned a Hastings term of {log_q!r}")
    return new, log_q


class MetropolisHastings:
    """Metropolis-Hastings over a model's sampled sites, several independent chains.

    Parameters
    ----------
    kernel : {"random_walk", "single_site"}
        How a step moves the sites (see :mod:`fugue_ppl.inference.mh`).
    chains : int
        Independent chains, >= 1 (R̂ needs >= 2).
    draws : int
        Draws kept per chain, >= 1.
    warmup : int
        Steps discarded per chain before the first draw kept, >= 0.
    thin : int
        Steps per draw kept after warm-up, >= 1.
    seed : None, int, SeedSequence or Generator
        The chains' streams derive from it. An int or a SeedSequence gives the
        same draws on every :meth:`run`; None (fresh entropy) or a Generator
        (four integers drawn from it) different ones, recorded in the
        result's ``seed``.
    scale : float, optional
        Random walk: the initial step, finite and > 0. Default:
        ``2.38 / sqrt(d)`` for ``d`` sites.
    adapt : bool, optional
        Random walk: tune the step during warm-up (see the module). Default: true.
    target_accept : float, optional
        Random walk: the acceptance rate adaptation aims at, in (0, 1).
        Default: 0.44 for one site, else 0.234 (Roberts and Rosenthal 2001).
    proposals : Mapping[str, Proposal], optional
        Single site: the proposal per address; other sites use
        :class:`~fugue_ppl.inference.proposals.Prior`.
    init_tries : int
        Prior draws a chain tries for a start with a finite log density, >= 1.
    sites : sequence of str, optional
        The sites :meth:`posterior` summarises; default every sampled site.

    Raises
    ------
    InvalidArgument
        A parameter is out of range, names an unknown kernel, or applies to
        the other kernel.
    TypeError
        A parameter has the wrong type.

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> def model(y):
    ...     mu = fp.sample("mu", fp.Normal(0.0, 1.0))
    ...     fp.observe("y", fp.Normal(mu, 1.0), y)
    >>> result = MetropolisHastings(chains=2, draws=500, warmup=500, seed=1).run(model, 1.0)
    >>> result.draws["mu"].shape
    (2, 500)
    >>> abs(result.summary()["mu"].mean - 0.5) < 0.15    # the posterior is N(0.5, 0.5)
    True
    """

    def __init__(self, kernel: str = "random_walk", *, chains: int = 4, draws: int = 1000,
                 warmup: int = 1000, thin: int = 1, seed: Any = None,
                 scale: float | None = None, adapt: bool | None = None,
                 target_accept: float | None = None,
                 proposals: Mapping[str, Proposal] | None = None, init_tries: int = 100,
                 sites: Iterable[str] | None = None):
        self._kernel = check_choice(kernel, "kernel", _OWNER, KERNELS)
        self._chains = check_int(chains, "chains", _OWNER, low=1, high=MAX_CHAINS)
        self._draws = check_int(draws, "draws", _OWNER, low=1, high=MAX_STEPS)
        self._warmup = check_int(warmup, "warmup", _OWNER, low=0, high=MAX_STEPS)
        self._thin = check_int(thin, "thin", _OWNER, low=1, high=MAX_STEPS)
        if self._warmup + self._draws * self._thin > MAX_STEPS:
            raise invalid(_OWNER, "draws", draws,
                          f"times thin ({self._thin}) plus warmup ({self._warmup}) must be at "
                          f"most {MAX_STEPS} steps per chain")
        self._init_tries = check_int(init_tries, "init_tries", _OWNER, low=1, high=10**6)
        self._seed = self._check_seed(seed)
        walk = self._kernel == "random_walk"
        for name, value in (("scale", scale), ("adapt", adapt), ("target_accept", target_accept)):
            if value is not None and not walk:
                raise invalid(_OWNER, name, value,
                              "applies to kernel='random_walk' only (single-site moves are set "
                              "per site through proposals)")
        if proposals is not None and walk:
            raise invalid(_OWNER, "proposals", proposals, "apply to kernel='single_site' only")
        self._scale = None if scale is None else check_real(scale, "scale", _OWNER, "positive")
        self._adapt = True if adapt is None else check_flag(adapt, "adapt", _OWNER)
        self._target = None if target_accept is None else check_real(
            target_accept, "target_accept", _OWNER, "open_unit")
        self._proposals = self._check_proposals(proposals)
        self._sites = check_sites(sites, _OWNER)

    @staticmethod
    def _check_seed(seed: Any) -> Any:
        return check_seed(seed, "seed", _OWNER)

    @staticmethod
    def _check_proposals(proposals: Any) -> dict[str, Proposal]:
        if proposals is None:
            return {}
        if not isinstance(proposals, Mapping):
            raise type_error(_OWNER, "proposals", proposals, "a mapping of addresses to proposals")
        out = {}
        for address, proposal in proposals.items():
            if not isinstance(address, str):
                raise type_error(_OWNER, "proposals", address, "keyed by address strings")
            if not isinstance(proposal, Proposal):
                raise type_error(_OWNER, f"proposals[{address!r}]", proposal, "a Proposal")
            out[address] = proposal
        return out

    kernel = property(lambda self: self._kernel, doc="The kernel's name.")
    chains = property(lambda self: self._chains, doc="The number of chains.")
    draws = property(lambda self: self._draws, doc="Draws kept per chain.")
    warmup = property(lambda self: self._warmup, doc="Warm-up steps per chain.")
    thin = property(lambda self: self._thin, doc="Steps per draw kept.")
    proposals = property(lambda self: dict(self._proposals),
                         doc="Single site: the proposals by address (a copy).")
    sites = property(lambda self: self._sites,
                     doc="The sites :meth:`posterior` summarises (None: every sampled site).")

    def __repr__(self) -> str:
        extra = ""
        if self._kernel == "single_site" and self._proposals:
            extra = f", proposals={self._proposals!r}"
        if self._sites is not None:
            extra += f", sites={self._sites!r}"
        return (f"MetropolisHastings(kernel={self._kernel!r}, chains={self._chains}, "
                f"draws={self._draws}, warmup={self._warmup}, thin={self._thin}{extra})")

    def run(self, model: Callable[..., Any], /, *args: Any, **kwargs: Any) -> MCMCResult:
        """Sample the posterior of ``model(*args, **kwargs)``'s sampled sites.

        Parameters
        ----------
        model : callable
            A model: a function that calls ``sample``, ``observe`` and ``factor``.
        *args, **kwargs
            Its arguments (the data it observes).

        Returns
        -------
        MCMCResult

        Raises
        ------
        InvalidArgument
            The model samples no site, no prior draw had a finite log density,
            or (random walk) it samples a site that is not continuous.
        UnexpectedModelStructure, TypeMismatch
            The model's structure changed in a way the kernel does not
            support (see :mod:`fugue_ppl.inference.mh`).
        """
        if not callable(model):
            raise type_error(f"{_OWNER}.run", "model", model, "a callable")
        return self._run(f"{_OWNER}.run", model, args, kwargs, root_seed(self._seed), None)

    def posterior(self, handler: Any, model: Callable[..., Any], /, *args: Any,
                  seed: int | None = None, deadline: float | None = None,
                  **kwargs: Any) -> PosteriorSummary:
        """The posterior of one request, a service's path (``ModelRunner(model,
        inference=MetropolisHastings(...))``).

        The chains' streams derive from ``handler``'s run with key ``seed``
        (default its run counter), not from this object's ``seed``: the same
        request key gives the same draws in any replica.

        Parameters
        ----------
        handler : PriorHandler or PooledPriorHandler
        model : callable
        *args, **kwargs
            The model's arguments.
        seed : int, optional
            The request's key.
        deadline : float, optional
            Seconds the chains may take (checked at every step).

        Returns
        -------
        PosteriorSummary
            Every sampled site's mean, sd, quantiles and MCSE over all the
            chains; ``ess`` the smallest bulk ESS; ``log_evidence`` and
            ``khat`` NaN; ``reliable`` when every site's rank-normalised R̂ is
            below 1.01 and its bulk and tail ESS reach 100 per chain (Vehtari
            et al. 2021; never with one chain). ``result`` is the MCMCResult.

        Raises
        ------
        InferenceTimeout
            The deadline passed.
        """
        owner = f"{_OWNER}.posterior"
        if not callable(model):
            raise type_error(owner, "model", model, "a callable")
        check = deadline_check(deadline, owner)
        result = self._run(owner, model, args, kwargs, request_seed(handler, seed, owner), check)
        if self._sites is not None:
            for name in self._sites:
                if name not in result:
                    hint = closest(name, list(result.sites))
                    hint = f"; did you mean {hint!r}?" if hint else ""
                    raise invalid(owner, "sites", name, "must name sites the model samples "
                                  f"({list(result.sites)!r}){hint}")
        sites = result.summary(self._sites, quantiles=QUANTILES)
        need = 100 * self._chains
        reliable = self._chains >= 2 and all(
            s.rhat < 1.01 and s.ess_bulk >= need and s.ess_tail >= need for s in sites.values())
        ess = min((s.ess_bulk for s in sites.values()), default=math.nan)
        return PosteriorSummary("metropolis_hastings", sites, ess=ess, log_evidence=math.nan,
                                khat=math.nan, reliable=reliable, result=result)

    def _run(self, owner: str, model: Callable[..., Any], args: tuple, kwargs: dict,
             root: np.random.SeedSequence, check: Callable[[], None] | None) -> MCMCResult:
        bound = functools.partial(model, **kwargs) if kwargs else model
        chains = [_Chain(bound, args, root, c) for c in range(self._chains)]
        for chain in chains:
            chain.initialise(self._init_tries, owner)
            if not chain.values:
                raise invalid(owner, "model", model, "must sample at least one site")
        if self._kernel == "random_walk":
            return self._run_walk(owner, model, chains, root, check)
        return self._run_single_site(chains, root, check)

    def _steps(self) -> range:
        return range(self._warmup + self._draws * self._thin)

    def _kept(self, i: int) -> bool:
        return i >= self._warmup and (i - self._warmup + 1) % self._thin == 0

    def _run_walk(self, owner: str, model: Any, chains: list[_Chain],
                  root: np.random.SeedSequence,
                  check: Callable[[], None] | None) -> MCMCResult:
        addresses = tuple(chains[0].values)
        for a, v in chains[0].values.items():
            if value_kind(v) != "float":
                raise invalid(owner, "model", model,
                              f"must sample continuous sites only for kernel='random_walk', "
                              f"but site {a!r} holds {value_kind(v)} values; use "
                              "kernel='single_site'")
        for chain in chains[1:]:
            if tuple(chain.values) != addresses:
                raise UnexpectedModelStructure(
                    f"{_OWNER}: kernel 'random_walk' needs the same sites in every run, but "
                    "the chains' initial draws differ in their sites; use "
                    "kernel='single_site'")
        d = len(addresses)
        optimal = 2.38 / math.sqrt(d)         # for a unit normal target (Gelman et al. 1996)
        initial = optimal if self._scale is None else self._scale
        target = self._target if self._target is not None else (0.44 if d == 1 else 0.234)
        windows = dict(_windows(self._warmup)) if self._adapt else {}
        starts = set(windows.values())
        kept: list[list[dict[str, Any]]] = []
        joint, accepted, invalid_counts, steps = [], [], [], {a: [] for a in addresses}
        for chain in chains:
            log_scale, since = math.log(initial), 0
            sd = np.ones(d)
            window: list[list[float]] | None = None
            moves = 0
            states, lj, n_acc, n_bad = [], [], 0, 0
            for i in self._steps():
                if check is not None:
                    check()
                warm = i < self._warmup
                if i in windows and window is not None:
                    # A window ends: each site's step follows its spread over the window,
                    # and the scale's tuning starts afresh (unless the chain hardly moved).
                    if moves >= _MIN_WINDOW_MOVES:
                        spread = np.std(np.asarray(window), axis=0, ddof=1)
                        sd = np.where(np.ptp(window, axis=0) > 0, spread,
                                      math.exp(log_scale) * sd / optimal)
                        log_scale, since = math.log(optimal), 0
                    window = None
                if i in starts:
                    window, moves = [], 0
                if window is not None:
                    window.append([chain.values[a] for a in addresses])
                ok, prob, bad = chain.walk(addresses, math.exp(log_scale) * sd)
                moves += ok
                if warm:
                    if self._adapt:
                        since += 1
                        log_scale += (prob - target) / since ** _ADAPT_DECAY
                    continue
                n_acc += ok
                n_bad += bad
                if self._kept(i):
                    states.append(chain.values)
                    lj.append(chain.log_joint)
            kept.append(states)
            joint.append(lj)
            accepted.append(n_acc)
            invalid_counts.append(n_bad)
            for a, s in zip(addresses, math.exp(log_scale) * sd, strict=True):
                steps[a].append(float(s))
        return self._result(kept, joint, accepted, invalid_counts, root,
                            {a: np.asarray(s) for a, s in steps.items()})

    def _run_single_site(self, chains: list[_Chain], root: np.random.SeedSequence,
                         check: Callable[[], None] | None) -> MCMCResult:
        for chain in chains:
            for site, proposal in self._proposals.items():
                if site in chain.values and proposal.kind is not None \
                        and proposal.kind != value_kind(chain.values[site]):
                    raise invalid(_OWNER, f"proposals[{site!r}]", proposal,
                                  f"moves {proposal.kind} values, but site {site!r} holds "
                                  f"{value_kind(chain.values[site])} values")
        kept: list[list[dict[str, Any]]] = []
        joint, accepted, invalid_counts = [], [], []
        for chain in chains:
            states, lj, n_acc, n_bad = [], [], 0, 0
            for i in self._steps():
                if check is not None:
                    check()
                ok, bad = chain.single_site(self._proposals)
                if i < self._warmup:
                    continue
                n_acc += ok
                n_bad += bad
                if self._kept(i):
                    states.append(chain.values)
                    lj.append(chain.log_joint)
            kept.append(states)
            joint.append(lj)
            accepted.append(n_acc)
            invalid_counts.append(n_bad)
        result = self._result(kept, joint, accepted, invalid_counts, root, None)
        unused = sorted(set(self._proposals) - set(result.draws))
        if unused:
            warnings.warn(f"{_OWNER}: proposals name sites the model never sampled in a kept "
                          f"draw: {', '.join(map(repr, unused))}", FugueWarning, stacklevel=4)
        return result

    def _result(self, kept: list, joint: list, accepted: list, invalid_counts: list,
                root: np.random.SeedSequence, steps: dict[str, np.ndarray] | None) -> MCMCResult:
        moves = self._draws * self._thin
        return MCMCResult(
            stack_draws(kept), np.asarray(joint, dtype=np.float64),
            np.asarray(accepted, dtype=np.float64) / moves,
            np.asarray(invalid_counts, dtype=np.int64), kernel=self._kernel,
            warmup=self._warmup, thin=self._thin, seed=root, scale=steps)
