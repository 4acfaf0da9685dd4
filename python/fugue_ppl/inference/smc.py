"""Sequential Monte Carlo: a particle filter for models that observe their data in steps.

The model comes in two parts, each an ordinary fugue-ppl model written with
``fp.sample``, ``fp.observe`` and ``fp.factor`` and run once for all ``n``
particles on the vectorised particle runtime (:func:`~fugue_ppl.run_particles`):

- ``init(*args, **kwargs)`` draws the initial state (and may observe or
  factor what is known before the first step);
- ``step(t, state, y_t, *args, **kwargs)`` draws the state at step ``t``
  given the previous one and observes ``y_t``, the ``t``-th item of the data.

``state`` is a read-only mapping from names to per-particle arrays
(:class:`~fugue_ppl.ParticleArray`, so arithmetic works on every particle at
once, distributions take them as parameters, and a branch on them is
detected). It holds every site sampled so far at its latest value: a step's
site replaces the entry of the same address (``state["x"]`` is the previous
step's ``x``), and a site only ``init`` samples (a static parameter) is
carried along unchanged. A model that returns a mapping adds its entries
(derived quantities, scalars or one value per particle) to the state too;
any other return value is ignored. After a resampling every entry is
re-indexed by the particles' ancestors. With ``on_branch="per_particle"`` a
branching step runs each particle on its own, its state a mapping of Python
numbers; a site some particles skip keeps their previous value, or, if they
never had one, is missing from their own state (and holds 0 for them in the
arrays; the summaries leave them out). Why two models and not one: a step
is a model of its own (its addresses are reused each step, as a filter's
state is) and ``init`` is the only place the prior of the state is written,
so neither needs to test which step it is in.

The algorithm is the bootstrap particle filter with adaptive resampling. Each
step's incremental log-weight of a particle is its log-likelihood plus its
factors in that step; with ``W`` the normalised weights before the step, the
log evidence gains ``log sum(W * exp(incremental))`` (the log of the mean
incremental weight after a resampling), and the weights become ``W *
exp(incremental)`` normalised. When the effective sample size ``1 / sum(W**2)``
falls below ``ess_threshold * n`` the particles are resampled (systematic,
stratified or multinomial, :meth:`~fugue_ppl.Particles.resample_indices`) and
the weights reset to equal. The final step is never resampled: its weighted
particles are the result. The product of the steps' mean incremental weights
(``exp(log_evidence)``) is an unbiased estimate of the evidence, whatever the
resampling decisions, since each decision depends only on the past; its log
is biased low (Jensen).

Randomness: :meth:`SequentialMonteCarlo.run` turns its ``rng`` into a
``numpy.random.SeedSequence`` ``s`` (an int or a SeedSequence as given,
``None`` fresh entropy, a ``Generator`` four integers drawn from it). The
particles of ``init`` are the run with key 0 of a ``PriorHandler`` seeded with
the child ``(0,)`` of ``s`` (``s`` with ``0`` appended to its spawn key), those
of step ``t`` its run with key ``t + 1``; the resampling after ``init`` draws
from the child ``(1, 0)``, after step ``t`` from ``(1, t + 1)``; particles run
one by one (``on_branch="per_particle"``) at step ``t`` are the runs with key
``i`` (the particle) of a ``PriorHandler`` seeded with the child ``(2, t + 1)``
(``(2, 0)`` for ``init``). The same seed gives the same result.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from fugue_ppl.checks import check_bounded, closest, invalid, type_error
from fugue_ppl.core import ParticleArray, PriorHandler, run, run_particles
from fugue_ppl.core.particles import RESAMPLING_METHODS, Particles
from fugue_ppl.errors import BranchOnSample, DegenerateWeights, TraceAddressNotFound
from fugue_ppl.inference._args import check_n, check_sites, json_float
from fugue_ppl.inference._seeds import check_seed, child, root_seed
from fugue_ppl.inference.diagnostics import khat_threshold, psis
from fugue_ppl.inference.importance import (
    QUANTILES,
    ImportanceSiteSummary,
)
from fugue_ppl.inference.posterior import PosteriorSummary, deadline_check, request_seed

__all__ = ["SequentialMonteCarlo", "SMCResult"]

_OWNER = "SequentialMonteCarlo"
_ON_BRANCH = ("raise", "per_particle")


def _log_sum_exp(x: np.ndarray) -> float:
    m = float(np.max(x))
    if not math.isfinite(m):
        return m
    return m + math.log(float(np.sum(np.exp(x - m))))


def _ess(lw: np.ndarray) -> float:
    # (sum w)^2 / sum w^2: exactly n for equal weights (1 / sum(W^2) of normalised
    # weights may round below n, and would resample an unweighted set at threshold 1).
    w = np.exp(lw - float(np.max(lw)))
    return float(np.sum(w) ** 2 / np.dot(w, w))


def _model_name(model: Any) -> str:
    return getattr(model, "__qualname__", type(model).__name__)


class SMCResult:
    """The result of :meth:`SequentialMonteCarlo.run`: each step's figures and the final particles.

    Built by :meth:`SequentialMonteCarlo.run`; the arrays hold one entry per
    step (per item of the data), in order.

    Attributes
    ----------
    n : int
        The number of particles.
    steps : int
        The number of steps (items of the data).
    resampling : str
        The resampling scheme.
    ess_threshold : float
        Resampling happened after a step whose ESS was below ``ess_threshold * n``.
    log_evidence : float
        The log of the product of the steps' mean incremental weights (and
        ``init``'s, if it observes): the log marginal likelihood's estimate,
        unbiased on the natural scale (``exp(log_evidence)``).
    log_evidence_increments : numpy.ndarray
        Each step's term of ``log_evidence`` (``init``'s is
        ``log_evidence - log_evidence_increments.sum()``).
    ess : numpy.ndarray
        Each step's effective sample size after its weighting (the filtering
        weights), before any resampling.
    resampled : numpy.ndarray of bool
        Whether the particles were resampled after each step (never after the
        last).
    init_ess : float
        The ESS after ``init`` (``n`` unless it observes or factors).
    init_resampled : bool
        Whether the particles were resampled after ``init``.
    sites : dict of str to tuple
        For each summarised name, one
        :class:`~fugue_ppl.inference.ImportanceSiteSummary` per step (the
        weighted mean, sd, quantiles at :data:`~fugue_ppl.inference.importance.QUANTILES`
        and the MCSE ``sd / sqrt(ess)`` of the filtering distribution), or None
        at a step whose state did not hold it.
    particles : Particles
        The final step's weighted particles: the state's entries as values,
        the last step's log-densities, and log-weights whose
        :attr:`~fugue_ppl.Particles.log_evidence` is ``log_evidence``.
    seed : numpy.random.SeedSequence
        The run's seed (its ``entropy`` reproduces the run).
    """

    def __init__(self, *, n: int, resampling: str, ess_threshold: float, log_evidence: float,
                 log_evidence_increments: np.ndarray, ess: np.ndarray, resampled: np.ndarray,
                 init_ess: float, init_resampled: bool,
                 sites: dict[str, tuple[ImportanceSiteSummary | None, ...]],
                 particles: Particles, seed: np.random.SeedSequence | None):
        self.n = n
        self.resampling = resampling
        self.ess_threshold = ess_threshold
        self.log_evidence = log_evidence
        self.log_evidence_increments = log_evidence_increments
        self.ess = ess
        self.resampled = resampled
        self.init_ess = init_ess
        self.init_resampled = init_resampled
        self.sites = sites
        self.particles = particles
        self.seed = seed
        for a in (log_evidence_increments, ess, resampled):
            a.flags.writeable = False

    @property
    def steps(self) -> int:
        """The number of steps."""
        return int(self.ess.shape[0])

    @property
    def resampling_steps(self) -> tuple[int, ...]:
        """The steps after which the particles were resampled."""
        return tuple(int(t) for t in np.flatnonzero(self.resampled))

    @property
    def log_marginal_likelihood(self) -> float:
        """The same as :attr:`log_evidence`."""
        return self.log_evidence

    def _summaries(self, site: str) -> tuple[ImportanceSiteSummary | None, ...]:
        try:
            return self.sites[site]
        except KeyError:
            raise TraceAddressNotFound(f"SMCResult: no summary of site {site!r} (the summarised "
                                       f"sites: {list(self.sites)!r})", site) from None

    def __getitem__(self, site: str) -> tuple[ImportanceSiteSummary | None, ...]:
        return self._summaries(site)

    def __contains__(self, site: object) -> bool:
        return site in self.sites

    def _column(self, site: str, field: str) -> np.ndarray:
        return np.array([math.nan if s is None else getattr(s, field)
                         for s in self._summaries(site)])

    def mean(self, site: str) -> np.ndarray:
        """The filtering mean of ``site`` at each step (NaN where the state lacked it)."""
        return self._column(site, "mean")

    def sd(self, site: str) -> np.ndarray:
        """The filtering standard deviation of ``site`` at each step."""
        return self._column(site, "sd")

    def mcse_mean(self, site: str) -> np.ndarray:
        """The standard error ``sd / sqrt(ess)`` of each step's filtering mean (it
        leaves out the variance earlier resamplings add)."""
        return self._column(site, "mcse_mean")

    def quantiles(self, site: str) -> np.ndarray:
        """The filtering quantiles of ``site``: one row per step, one column per
        probability of :data:`~fugue_ppl.inference.importance.QUANTILES`."""
        return np.array([[math.nan] * len(QUANTILES) if s is None else list(s.quantiles.values())
                         for s in self._summaries(site)])

    def summary(self) -> dict[str, Any]:
        """The result as plain JSON-ready values (non-finite figures as None).

        Returns
        -------
        dict
            ``n``, ``steps``, ``resampling``, ``ess_threshold``, ``log_evidence``,
            ``log_evidence_increments``, ``ess``, ``resampled``, ``resampling_steps``,
            ``init_ess``, ``init_resampled`` and ``sites`` (per site, one summary
            dict per step, or None).
        """
        return {"n": self.n, "steps": self.steps, "resampling": self.resampling,
                "ess_threshold": self.ess_threshold,
                "log_evidence": json_float(self.log_evidence),
                "log_evidence_increments": [json_float(x) for x in self.log_evidence_increments],
                "ess": [json_float(x) for x in self.ess],
                "resampled": [bool(x) for x in self.resampled],
                "resampling_steps": list(self.resampling_steps),
                "init_ess": json_float(self.init_ess), "init_resampled": self.init_resampled,
                "sites": {name: [None if s is None else s.to_dict() for s in per_step]
                          for name, per_step in self.sites.items()}}

    def __repr__(self) -> str:
        head = (f"SMCResult(n={self.n}, steps={self.steps}, "
                f"log_evidence={self.log_evidence:.6g}, min_ess={float(self.ess.min()):.1f}, "
                f"resampled={int(self.resampled.sum())} of {self.steps} steps "
                f"[{self.resampling}, threshold {self.ess_threshold:g}]")
        last = {name: s[-1] for name, s in self.sites.items() if s[-1] is not None}
        if not last:
            return head + ")"
        width = max(4, *(len(name) for name in last))
        cols = ("mean", "sd", *(f"{100 * q:g}%" for q in QUANTILES))
        rows = ["  last step:", f"  {'site':<{width}}" + "".join(f"{c:>12}" for c in cols)]
        for name, s in last.items():
            figures = (s.mean, s.sd, *s.quantiles.values())
            rows.append(f"  {name:<{width}}" + "".join(f"{x:>12.5g}" for x in figures))
        return head + "\n" + "\n".join(rows) + "\n)"


def _check_resampling(resampling: Any) -> str:
    if not isinstance(resampling, str):
        raise type_error(_OWNER, "resampling", resampling,
                         "a str (" + ", ".join(map(repr, RESAMPLING_METHODS)) + ")")
    if resampling not in RESAMPLING_METHODS:
        hint = closest(resampling, RESAMPLING_METHODS)
        hint = f"; did you mean {hint!r}?" if hint else ""
        raise invalid(_OWNER, "resampling", resampling,
                      "must be one of " + ", ".join(map(repr, RESAMPLING_METHODS)) + hint)
    return resampling


def _check_data(data: Any, owner: str) -> list[Any]:
    if data is None or isinstance(data, (str, bytes, Mapping)) or not isinstance(data, Iterable):
        raise type_error(owner, "data", data,
                         "a sequence of observations, one item per step (a list or an array)")
    items = list(data)
    if not items:
        raise invalid(owner, "data", data, "must hold at least one step's observations")
    return items


def _per_particle_arrays(x: Any, n: int, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim == 0:
        a = np.full(n, a)
    if a.ndim != 1 or a.shape[0] != n or a.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a number or one number per particle ({n}), got "
                        f"{type(x).__name__} of shape {a.shape}")
    return a


class _Step:
    """What one run of ``init`` or ``step`` gave: new state entries and log-densities."""

    __slots__ = ("values", "masks", "log_prior", "log_likelihood", "log_factors", "per_particle")

    def __init__(self, values, masks, log_prior, log_likelihood, log_factors, per_particle):
        self.values = values            # name -> array of n values
        self.masks = masks              # name -> which particles hold a value (when not all)
        self.log_prior = log_prior
        self.log_likelihood = log_likelihood
        self.log_factors = log_factors
        self.per_particle = per_particle


class SequentialMonteCarlo:
    """Sequential Monte Carlo (a bootstrap particle filter) with adaptive resampling.

    See :mod:`fugue_ppl.inference.smc` for the model's two parts (``init`` and
    ``step``), the state they share and the streams the run draws from.

    Parameters
    ----------
    n : int
        The number of particles, 1 to :func:`~fugue_ppl.max_particles` (checked
        before anything is allocated, again at each run).
    resampling : {"systematic", "stratified", "multinomial"}
        How the particles are resampled: systematic (one uniform) and
        stratified (one per stratum) have less variance than multinomial.
    ess_threshold : float
        In (0, 1]: resample after a step whose effective sample size is below
        ``ess_threshold * n`` (1 resamples after nearly every step; a tiny value
        almost never, which is sequential importance sampling).
    sites : sequence of str, optional
        The state entries to summarise at each step; default every entry.
    on_branch : {"raise", "per_particle"}
        For a model that branches on a sampled value or a state entry: raise
        :class:`~fugue_ppl.errors.BranchOnSample`, or run that step's
        particles one by one (each with its own state as Python numbers;
        slower).
    init : callable, optional
        The init model of :meth:`posterior` (a service's requests are data
        series filtered through ``init`` and the runner's model as ``step``).

    Raises
    ------
    TypeError
        ``n`` is not an integer, ``resampling`` not a str, ``ess_threshold``
        not a real number, ``sites`` not a sequence of str.
    InvalidArgument
        ``n`` is below 1 or above the particle limit, ``resampling`` is
        unknown (the closest scheme is suggested), ``ess_threshold`` is not in
        (0, 1], ``sites`` is empty or names a site twice, ``on_branch`` is
        unknown.

    Examples
    --------
    A random walk observed with noise:

    >>> import fugue_ppl as fp
    >>> def init():
    ...     fp.sample("x", fp.Normal(0.0, 1.0))
    >>> def step(t, state, y):
    ...     x = fp.sample("x", fp.Normal(state["x"], 0.5))
    ...     fp.observe("y", fp.Normal(x, 1.0), y)
    >>> smc = SequentialMonteCarlo(n=2000, resampling="stratified")
    >>> result = smc.run(init, step, [0.3, 0.9, 1.4, 1.1], rng=7)
    >>> result.steps, result.resampling_steps          # resampled after step 2 only
    (4, (2,))
    >>> result.resampled.tolist() == [bool(e < 0.5 * 2000) for e in result.ess[:-1]] + [False]
    True
    >>> bool(abs(result.mean("x")[-1] - 0.9589) < 0.05)   # the Kalman filter's mean
    True
    >>> round(result.log_evidence, 1)                   # the exact log evidence: -5.32
    -5.4
    """

    def __init__(self, n: int = 1000, resampling: str = "systematic",
                 ess_threshold: float = 0.5, sites: Iterable[str] | None = None, *,
                 on_branch: str = "raise", init: Callable[..., Any] | None = None):
        self._n = check_n(n, _OWNER)
        self._resampling = _check_resampling(resampling)
        self._ess_threshold = check_bounded(ess_threshold, "ess_threshold", _OWNER, 0.0, 1.0,
                                            low_open=True)
        self._sites = check_sites(sites, _OWNER)
        if on_branch not in _ON_BRANCH:
            raise invalid(_OWNER, "on_branch", on_branch,
                          "must be one of " + ", ".join(map(repr, _ON_BRANCH)))
        self._on_branch = on_branch
        if init is not None and not callable(init):
            raise type_error(_OWNER, "init", init, "None or a callable")
        self._init = init

    n = property(lambda self: self._n, doc="The number of particles.")
    resampling = property(lambda self: self._resampling, doc="The resampling scheme.")
    ess_threshold = property(lambda self: self._ess_threshold,
                             doc="Resample below this share of ``n`` as the ESS.")
    sites = property(lambda self: self._sites,
                     doc="The state entries to summarise (None: every entry).")
    on_branch = property(lambda self: self._on_branch, doc="What a branching model does.")
    init = property(lambda self: self._init, doc="The init model :meth:`posterior` runs.")

    def __repr__(self) -> str:
        return (f"SequentialMonteCarlo(n={self._n}, resampling={self._resampling!r}, "
                f"ess_threshold={self._ess_threshold!r}, sites={self._sites!r}, "
                f"on_branch={self._on_branch!r})")

    # ------------------------------------------------------------ running

    def run(self, init: Callable[..., Any], step: Callable[..., Any], data: Iterable[Any], /,
            *args: Any, rng: Any = None, **kwargs: Any) -> SMCResult:
        """Filter ``data`` through ``init`` and ``step`` with ``n`` particles.

        Parameters
        ----------
        init : callable
            ``init(*args, **kwargs)``: a model drawing the initial state.
        step : callable
            ``step(t, state, y_t, *args, **kwargs)``: a model drawing the state
            at step ``t`` from the previous ``state`` and observing ``y_t``.
        data : iterable
            The observations, one item per step (materialised first; the rows
            of a two-dimensional array are the items).
        *args, **kwargs
            Passed to both models after their own arguments; ``rng`` is this
            method's own.
        rng : None, int, SeedSequence or Generator
            The run's randomness (see :mod:`fugue_ppl.inference.smc`): the same
            int or SeedSequence gives the same result.

        Returns
        -------
        SMCResult

        Raises
        ------
        TypeError
            ``init`` or ``step`` is not callable, ``data`` is not an iterable
            of observations (a str or a mapping is refused), ``rng`` has the
            wrong type, a model returns a mapping whose entries are not numbers.
        InvalidArgument
            ``data`` is empty, ``n`` exceeds the particle limit (lowered since
            construction), ``rng`` is a negative int, ``sites`` names an entry
            the state never held.
        DegenerateWeights
            Every particle has weight zero after a step (its observations rule
            out every particle), or one has a NaN or ``+inf`` log-weight.
        BranchOnSample
            A model branched on a sampled value or a state entry
            (``on_branch="raise"``).
        Exception
            Whatever a model raised (an ``InvalidObservation`` for a NaN
            observation), with a note naming the model, the step and its item
            of ``data``.
        """
        owner = f"{_OWNER}.run"
        return self._run(owner, init, step, data, args, kwargs,
                         lambda: root_seed(check_seed(rng, "rng", owner)), None)

    def posterior(self, handler: Any, step: Callable[..., Any], data: Iterable[Any], /,
                  *args: Any, seed: int | None = None, deadline: float | None = None,
                  **kwargs: Any) -> PosteriorSummary:
        """The filtering posterior after the last item of one request's ``data``,
        a service's path (``ModelRunner(step, inference=SequentialMonteCarlo(n,
        init=init))``: a request is a data series).

        The run's streams derive from ``handler``'s run with key ``seed``
        (default its run counter): the same request key gives the same
        answer in any replica.

        Parameters
        ----------
        handler : PriorHandler or PooledPriorHandler
        step : callable
            The step model; ``init`` is this object's.
        data : iterable
            The request's observations, one item per step.
        *args, **kwargs
            Passed to both models, as for :meth:`run`.
        seed : int, optional
            The request's key.
        deadline : float, optional
            Seconds the filter may take (checked before each step).

        Returns
        -------
        PosteriorSummary
            The last step's summaries of the state's entries (:attr:`sites`),
            its ESS, the log evidence of the whole series, the PSIS k̂ of the
            last step's weights, ``reliable`` when k̂ is below
            :func:`~fugue_ppl.inference.diagnostics.khat_threshold` of ``n``
            (or the weights are equal). ``result`` is the SMCResult.

        Raises
        ------
        InvalidArgument
            The object has no ``init`` model.
        InferenceTimeout
            The deadline passed.
        """
        owner = f"{_OWNER}.posterior"
        if self._init is None:
            raise invalid(owner, "init", None, "must be given to SequentialMonteCarlo(..., "
                          "init=) for the posterior of a request")
        check = deadline_check(deadline, owner)
        result = self._run(owner, self._init, step, data, args, kwargs,
                           lambda: request_seed(handler, seed, owner), check)
        sites = {name: per_step[-1] for name, per_step in result.sites.items()
                 if per_step[-1] is not None}
        lw = result.particles.log_weights
        finite = lw[np.isfinite(lw)]
        equal = bool(finite.min() == finite.max())
        with np.errstate(over="ignore"):
            khat = float(psis(lw).khat)
        reliable = finite.size >= 2 if equal else khat < khat_threshold(self._n)
        return PosteriorSummary("sequential_monte_carlo", sites, ess=float(result.ess[-1]),
                                log_evidence=result.log_evidence, khat=khat,
                                reliable=bool(reliable), result=result)

    def request_signature(self, step: Callable[..., Any]) -> inspect.Signature:
        """The arguments of a request to a runner serving this filter with ``step``
        (:meth:`posterior`): the data series, then ``step``'s arguments after
        ``(t, state, y_t)``."""
        data = inspect.Parameter("data", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        try:
            params = list(inspect.signature(step).parameters.values())
        except (TypeError, ValueError):      # (a callable without one: anything after the data)
            return inspect.Signature([
                data, inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
                inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                       p.POSITIONAL_OR_KEYWORD)]
        return inspect.Signature([data, *params[min(3, len(positional)):]])

    def _run(self, owner: str, init: Callable[..., Any], step: Callable[..., Any],
             data: Iterable[Any], args: tuple, kwargs: dict,
             seeded: Callable[[], np.random.SeedSequence],
             check: Callable[[], None] | None) -> SMCResult:
        for name, model in (("init", init), ("step", step)):
            if not callable(model):
                raise type_error(owner, name, model, "a callable")
        items = _check_data(data, owner)
        n = check_n(self._n, owner)
        root = seeded()
        handler = PriorHandler(rng=child(root, 0))
        threshold = self._ess_threshold * n
        log_n = math.log(n)
        steps = len(items)

        # init: the particles' weights start equal; its observations (if any) weigh them.
        first = self._run_model(owner, init, None, 0, args, kwargs, handler, root, n,
                                note=f"the init model ({_model_name(init)})")
        state, masks = self._updated({}, {}, first)
        lw = np.full(n, -log_n)
        log_z, lw = self._weigh(owner, lw, first, "init")
        init_ess = _ess(lw)
        init_resampled = init_ess < threshold
        if init_resampled:
            idx = self._indices(lw, child(root, 1, 0))
            state, masks, lw = self._reindexed(state, masks, idx, log_n)

        ess = np.empty(steps)
        increments = np.empty(steps)
        resampled = np.zeros(steps, dtype=np.bool_)
        summaries: dict[str, list[ImportanceSiteSummary | None]] = {}
        seen: set[str] = set()
        particles = None
        for t, y in enumerate(items):
            if check is not None:
                check()
            view = MappingProxyType({k: self._particle_view(v) for k, v in state.items()})
            out = self._run_model(owner, step, (t, view, y), t + 1, args, kwargs, handler, root,
                                  n, note=f"the step model ({_model_name(step)}) at step {t} "
                                  f"(parameter data: data[{t}] = {y!r})", state=state, masks=masks)
            state, masks = self._updated(state, masks, out)
            increments[t], lw = self._weigh(owner, lw, out, f"step {t} (data[{t}])")
            log_z += increments[t]
            particles = Particles(state, out.log_prior, out.log_likelihood, out.log_factors,
                                  log_weights=lw + log_n + log_z, present=masks,
                                  per_particle=out.per_particle)
            ess[t] = _ess(lw)
            seen.update(state)
            names = self._sites if self._sites is not None else tuple(state)
            for name in names:
                per_step = summaries.setdefault(name, [None] * t)
                per_step.append(self._summary(particles, name, ess[t]) if name in state
                                else None)
            for per_step in summaries.values():   # (entries this step's state lacks)
                if len(per_step) < t + 1:
                    per_step.append(None)
            if t < steps - 1 and ess[t] < threshold:
                resampled[t] = True
                idx = particles.resample_indices(self._resampling,
                                                 rng=np.random.default_rng(child(root, 1, t + 1)))
                state, masks, lw = self._reindexed(state, masks, idx, log_n)

        if self._sites is not None:
            for name in self._sites:
                if name not in seen:
                    hint = closest(name, sorted(seen))
                    hint = f"; did you mean {hint!r}?" if hint else ""
                    raise invalid(owner, "sites", name, "must name entries of the state "
                                  f"({sorted(seen)!r}){hint}")
        return SMCResult(n=n, resampling=self._resampling, ess_threshold=self._ess_threshold,
                         log_evidence=float(log_z), log_evidence_increments=increments, ess=ess,
                         resampled=resampled, init_ess=init_ess,
                         init_resampled=bool(init_resampled),
                         sites={k: tuple(v) for k, v in summaries.items()},
                         particles=particles, seed=root)

    # ------------------------------------------------------------ the steps' parts

    @staticmethod
    def _particle_view(a: np.ndarray) -> np.ndarray:
        v = a.view(ParticleArray)
        v.flags.writeable = False
        return v

    def _run_model(self, owner: str, model: Callable[..., Any], own: tuple | None, key: int,
                   args: tuple, kwargs: dict, handler: PriorHandler,
                   root: np.random.SeedSequence, n: int, *, note: str,
                   state: dict | None = None, masks: dict | None = None) -> _Step:
        # One run of a model for the n particles: vectorised, or one by one when it
        # branches and on_branch asks for that.
        call = (*own, *args) if own is not None else args
        try:
            try:
                value, p = run_particles(handler, model, n, *call, seed=key, **kwargs)
            except BranchOnSample:
                if self._on_branch != "per_particle":
                    raise
                return self._one_by_one(model, own, key, args, kwargs, root, n, state or {},
                                        masks or {})
            values = dict(p.values)
            values.update(self._returned(value, n, model))
            return _Step(values, {}, p.log_prior, p.log_likelihood, p.log_factors, False)
        except Exception as exc:
            exc.add_note(f"{owner}: raised by {note} for {n} particles")
            raise

    @staticmethod
    def _returned(value: Any, n: int, model: Any) -> dict[str, np.ndarray]:
        # The state entries of a mapping a model returned.
        if not isinstance(value, Mapping):
            return {}
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{_model_name(model)} returned a mapping with key {k!r}: "
                                "state entries are named by str")
            out[k] = _per_particle_arrays(v, n, f"the state entry {k!r} it returned")
        return out

    def _one_by_one(self, model: Callable[..., Any], own: tuple | None, key: int, args: tuple,
                    kwargs: dict, root: np.random.SeedSequence, n: int, state: dict,
                    masks: dict) -> _Step:
        # Each particle an ordinary run, its state as Python numbers (the entries
        # it holds).
        handler = PriorHandler(rng=child(root, 2, key))
        log_prior, log_likelihood, log_factors = np.zeros(n), np.zeros(n), np.zeros(n)
        columns: dict[str, dict[int, Any]] = {}
        for i in range(n):
            if own is None:
                call = args
            else:
                mine = {k: v[i].item() for k, v in state.items()
                        if k not in masks or masks[k][i]}
                call = (own[0], MappingProxyType(mine), own[2], *args)
            value, trace = run(handler, model, *call, seed=i, **kwargs)
            log_prior[i] = trace.log_prior
            log_likelihood[i] = trace.log_likelihood
            log_factors[i] = trace.log_factors
            for c in trace.choices:
                if c.kind == "sample":
                    columns.setdefault(c.address, {})[i] = c.value
            for k, v in self._returned(value, 1, model).items():
                columns.setdefault(k, {})[i] = v[0].item()
        values, new_masks = {}, {}
        for name, col in columns.items():
            idx = np.fromiter(col, dtype=np.intp, count=len(col))
            got = np.asarray(list(col.values()))
            arr = np.zeros(n, dtype=got.dtype)
            arr[idx] = got
            values[name] = arr
            if len(col) != n:
                present = np.zeros(n, dtype=np.bool_)
                present[idx] = True
                new_masks[name] = present
        return _Step(values, new_masks, log_prior, log_likelihood, log_factors, True)

    @staticmethod
    def _updated(state: dict, masks: dict, out: _Step) -> tuple[dict, dict]:
        # The state after a step: its entries replace (where a particle holds one)
        # those of the same name.
        state, masks = dict(state), dict(masks)
        for name, v in out.values.items():
            m = out.masks.get(name)
            if m is None:
                state[name] = v
                masks.pop(name, None)
            elif name in state:
                state[name] = np.where(m, v, state[name])
                old = masks.get(name)
                if old is None:
                    masks.pop(name, None)
                else:
                    masks[name] = m | old
            else:
                state[name], masks[name] = v, m
        return state, masks

    @staticmethod
    def _weigh(owner: str, lw: np.ndarray, out: _Step, where: str) -> tuple[float, np.ndarray]:
        # (the log mean incremental weight under the normalised weights lw, the new
        # normalised log-weights).
        inc = out.log_likelihood + out.log_factors
        bad = np.isnan(inc) | np.isposinf(inc)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DegenerateWeights(f"{owner}: at {where}, particle {i} has incremental "
                                    f"log-weight {float(inc[i])!r}: an infinite or undefined "
                                    "density at an observation or factor")
        total = lw + inc
        log_mean = _log_sum_exp(total)
        if log_mean == -math.inf:
            raise DegenerateWeights(f"{owner}: at {where}, every particle has weight zero: the "
                                    "observations or factors rule out every particle (are they "
                                    "possible under the model?)")
        return log_mean, total - log_mean

    def _indices(self, lw: np.ndarray, seed: np.random.SeedSequence) -> np.ndarray:
        p = Particles({}, np.zeros(lw.shape[0]), lw, np.zeros(lw.shape[0]))
        return p.resample_indices(self._resampling, rng=np.random.default_rng(seed))

    @staticmethod
    def _reindexed(state: dict, masks: dict, idx: np.ndarray,
                   log_n: float) -> tuple[dict, dict, np.ndarray]:
        return ({k: v[idx] for k, v in state.items()}, {k: m[idx] for k, m in masks.items()},
                np.full(idx.shape[0], -log_n))

    @staticmethod
    def _summary(p: Particles, name: str, ess: float) -> ImportanceSiteSummary | None:
        try:
            mean, sd = p.mean(name), p.std(name)
            qs = np.atleast_1d(p.quantile(name, QUANTILES))
        except DegenerateWeights:          # no particle of nonzero weight holds it
            return None
        return ImportanceSiteSummary(mean, sd,
                                     {q: float(v) for q, v in zip(QUANTILES, qs, strict=True)},
                                     sd / math.sqrt(ess))
