"""Self-normalised importance sampling, with the prior or a guide model as proposal.

:class:`ImportanceSampling` runs a model once for ``n`` particles on the
vectorised particle runtime (:func:`~fugue_ppl.run_particles`). Without a
guide (likelihood weighting), every sampled site draws ``n`` values from its
prior, and each particle's importance log-weight is its log-likelihood plus
its factors. With a *guide* -- a model taking the same arguments that samples
the model's latent sites from a proposal ``q`` -- the guide runs for the
``n`` particles first, then the model runs in the particle runtime's score
mode (``run_particles(..., base=...)``) at the guide's values: each particle's
log-weight is ``log p(x, y) - log q(x)``, the model's log-prior of the
guide's values plus its log-likelihood and factors, minus the guide's
log-density of them (its log-prior). A guide close to the posterior gives
a far larger ESS than the prior for the same ``n``; it must put mass
wherever the posterior does (tails heavier than the posterior's keep the
weights bounded).

The guide must sample exactly the sites the model samples, with values of
the kind each model site draws (a Normal guide for an int site is refused):
a site the model samples and the guide does not raises
:class:`~fugue_ppl.errors.UnexpectedModelStructure` naming the site (it is
not drawn from the prior instead), and so does a site the guide samples and
the model does not (an extra proposal variable would bias the estimates);
a value of the wrong kind raises :class:`~fugue_ppl.errors.TypeMismatch`
naming the site. The guide proposes; it does not condition: a guide that
observes or adds factors is refused (its density would not be ``q``).

Normalised, the weights give the posterior's weighted mean, standard
deviation and quantiles; their mean is an unbiased estimate of the marginal
likelihood (the evidence), and their effective sample size (ESS) and the
Pareto k̂ of PSIS (:func:`~fugue_ppl.inference.diagnostics.psis`) say how far
the estimates can be trusted: with a k̂ above
:func:`~fugue_ppl.inference.diagnostics.khat_threshold` the proposal is too
poor for this posterior and the estimates are unreliable however large their
ESS looks.

Randomness: :meth:`ImportanceSampling.run` turns its ``rng`` into a
``numpy.random.SeedSequence`` (an int or a SeedSequence as given, ``None``
fresh entropy, a ``Generator`` four integers drawn from it); the particles
are the run with key 0 of a ``PriorHandler`` seeded with it (the stream of
that SeedSequence with ``0`` appended to its spawn key) -- the model's run
without a guide, the guide's run with one (the model's scoring run then
draws nothing) -- and the resampling draws from the stream with ``1``
appended. The same seed gives the same result.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np

from fugue_ppl.checks import check_choice, closest, invalid, type_error
from fugue_ppl.core import PriorHandler, run_particles
from fugue_ppl.core.particles import RESAMPLING_METHODS, Particles
from fugue_ppl.errors import (
    DegenerateWeights,
    TraceAddressNotFound,
    TypeMismatch,
    UnexpectedModelStructure,
)
from fugue_ppl.inference._args import check_n, check_sites, json_float
from fugue_ppl.inference._seeds import check_seed, child, root_seed
from fugue_ppl.inference.diagnostics import khat_threshold, psis
from fugue_ppl.inference.posterior import Posterior

__all__ = ["ImportanceSampling", "ImportanceResult", "ImportanceSiteSummary", "QUANTILES"]

_OWNER = "ImportanceSampling"
#: The probabilities of the quantiles a site's summary reports.
QUANTILES = (0.05, 0.5, 0.95)
_ON_BRANCH = ("raise", "per_particle")



class ImportanceSiteSummary(NamedTuple):
    """The weighted posterior summary of one sampled site.

    Bools count as 0 and 1, ints as their value.
    """

    mean: float
    sd: float
    #: ``{probability: quantile}`` for the probabilities of :data:`QUANTILES`.
    quantiles: dict[float, float]
    #: The Monte Carlo standard error of the mean, ``sd / sqrt(ess)`` (the usual
    #: approximation for self-normalised importance sampling).
    mcse_mean: float

    def to_dict(self) -> dict[str, Any]:
        """As plain JSON-ready values: quantile keys as strings, non-finite figures as None."""
        return {"mean": json_float(self.mean), "sd": json_float(self.sd),
                "quantiles": {f"{p:g}": json_float(q) for p, q in self.quantiles.items()},
                "mcse_mean": json_float(self.mcse_mean)}


class ImportanceResult(Posterior):
    """The result of :meth:`ImportanceSampling.run`: a weighted particle set and its figures.

    Parameters
    ----------
    particles : Particles
        The weighted particles: prior draws weighted by likelihood and
        factors, or a guide's draws weighted by ``log p(x, y) - log q(x)``
        (their ``log_weights``).
    sites : sequence of str, optional
        The sites to summarise; default every sampled site.
    seed : numpy.random.SeedSequence, optional
        The run's seed (recorded; its ``entropy`` reproduces the run).
    resampled : Particles, optional
        An equally weighted set drawn from ``particles``.
    resample : str, optional
        The resampling scheme that drew ``resampled``.
    value : object, optional
        What the model returned (per-particle arrays in it).
    proposal : Particles, optional
        The guide's particles, when a guide proposed the values (their
        ``log_prior`` is each particle's ``log q(x)``).

    Attributes
    ----------
    particles : Particles
    log_evidence : float
        The log of the mean importance weight: the log marginal likelihood's
        estimate (the evidence's estimate is unbiased).
    ess : float
        The effective sample size ``1 / sum(w**2)`` of the normalised weights.
    khat : float
        The Pareto k̂ of PSIS on the log-weights (``inf`` when the tail holds
        4 weights or fewer: a handful of particles, or equal weights).
    khat_threshold : float
        :func:`~fugue_ppl.inference.diagnostics.khat_threshold` of ``n``.
    equal_weights : bool
        Every nonzero weight is the same (no observation, or a likelihood
        constant where it is not zero: a rejection sampler). The particles of
        nonzero weight are then exact posterior draws and the weights have
        no tail for PSIS to fit (its k̂ is ``inf``).
    reliable : bool
        The estimates can be trusted: ``khat < khat_threshold``, or equal
        weights on at least 2 particles.
    sites : dict of str to ImportanceSiteSummary
        The summary of each requested site, in the order requested.
    resampled : Particles or None
    resample : str or None
    seed : numpy.random.SeedSequence or None
    value : object
    proposal : Particles or None

    ``khat``, ``equal_weights``, ``reliable`` and ``sites`` are computed
    when first read (the PSIS fit and the quantiles cost more than the run).

    Raises
    ------
    DegenerateWeights
        Every log-weight is ``-inf`` (the observations or factors rule out
        every particle), or one is NaN or ``+inf`` (an infinite density):
        no estimate exists.
    TraceAddressNotFound
        A requested site was not sampled.
    """

    def __init__(self, particles: Particles, *, sites: Iterable[str] | None = None,
                 seed: np.random.SeedSequence | None = None,
                 resampled: Particles | None = None, resample: str | None = None,
                 value: Any = None, proposal: Particles | None = None):
        if not isinstance(particles, Particles):
            raise type_error("ImportanceResult", "particles", particles, "a Particles")
        if proposal is not None and not isinstance(proposal, Particles):
            raise type_error("ImportanceResult", "proposal", proposal, "None or a Particles")
        lw = particles.log_weights
        top = float(np.max(lw))       # (NaN when any is NaN)
        if not top < math.inf:
            bad = int(np.flatnonzero(np.isnan(lw) | np.isposinf(lw))[0])
            raise DegenerateWeights(
                f"ImportanceResult: particle {bad} has log-weight {float(lw[bad])!r}: an "
                "infinite or undefined density at an observation or factor; no estimate exists")
        if top == -math.inf:
            raise DegenerateWeights(
                f"ImportanceResult: every one of the {particles.n} particles has weight zero "
                "(log-weight -inf): the observations or factors rule out every prior draw, so "
                "no posterior estimate exists (are the observations possible under the prior?)")
        self.particles = particles
        self.log_evidence = float(particles.log_evidence)
        self.ess = float(particles.ess)
        self.resampled = resampled
        self.resample = resample
        self.seed = seed
        self.value = value
        self.proposal = proposal
        names = particles.sites if sites is None else tuple(sites)
        for name in names:
            if name not in particles:
                raise TraceAddressNotFound(f"ImportanceResult: no site {name!r} was sampled",
                                           name)
        self._names = names

    # The figures below are computed when first read: a service answering
    # each request with a posterior pays for the quantiles and the PSIS fit
    # only when it reports them.

    @functools.cached_property
    def khat(self) -> float:
        with np.errstate(over="ignore"):   # the fit's profile weights may overflow to inf
            return float(psis(self.particles.log_weights).khat)   # (a weight of zero), as ArviZ

    @functools.cached_property
    def khat_threshold(self) -> float:
        return float(khat_threshold(self.particles.n))

    @functools.cached_property
    def equal_weights(self) -> bool:
        lw = self.particles.log_weights
        finite = lw[np.isfinite(lw)]
        return bool(finite.min() == finite.max())

    @functools.cached_property
    def reliable(self) -> bool:
        if self.equal_weights:
            return bool(np.isfinite(self.particles.log_weights).sum() >= 2)
        return bool(self.khat < self.khat_threshold)

    @functools.cached_property
    def sites(self) -> dict[str, ImportanceSiteSummary]:
        return {name: self._summarise(name) for name in self._names}

    def mean(self, site: str) -> float:
        """The weighted posterior mean of ``site`` (without the rest of its summary)."""
        return self.particles.mean(site)

    def sd(self, site: str) -> float:
        """The weighted posterior standard deviation of ``site``."""
        return self.particles.std(site)

    def _summarise(self, site: str) -> ImportanceSiteSummary:
        p = self.particles
        mean, sd = p.mean(site), p.std(site)
        qs = np.atleast_1d(p.quantile(site, QUANTILES))
        return ImportanceSiteSummary(
            mean, sd, {q: float(v) for q, v in zip(QUANTILES, qs, strict=True)},
            sd / math.sqrt(self.ess))

    @property
    def n(self) -> int:
        """The number of particles."""
        return self.particles.n

    @property
    def log_marginal_likelihood(self) -> float:
        """The same as :attr:`log_evidence`."""
        return self.log_evidence

    def summary(self) -> dict[str, Any]:
        """The result as plain JSON-ready values (non-finite figures as None).

        Returns
        -------
        dict
            ``n``, ``ess``, ``log_evidence``, ``khat``, ``khat_threshold``,
            ``equal_weights``, ``reliable``, ``resample`` and ``sites`` (per site: ``mean``,
            ``sd``, ``quantiles`` keyed ``"0.05"``, ``"0.5"``, ``"0.95"``, and
            ``mcse_mean``).
        """
        return {"n": self.n, "ess": json_float(self.ess),
                "log_evidence": json_float(self.log_evidence),
                "khat": json_float(self.khat), "khat_threshold": json_float(self.khat_threshold),
                "equal_weights": self.equal_weights, "reliable": self.reliable,
                "resample": self.resample,
                "sites": {name: s.to_dict() for name, s in self.sites.items()}}

    def __repr__(self) -> str:
        verdict = "reliable" if self.reliable else "UNRELIABLE"
        why = "equal weights" if self.equal_weights else f"threshold {self.khat_threshold:.3g}"
        head = (f"ImportanceResult(n={self.n}, ess={self.ess:.1f}, "
                f"log_evidence={self.log_evidence:.6g}, khat={self.khat:.3g} "
                f"[{verdict}: {why}]")
        if self.resample is not None:
            head += f", resample={self.resample!r}"
        if not self.sites:
            return head + ")"
        width = max(4, *(len(name) for name in self.sites))
        cols = ("mean", "sd", *(f"{100 * q:g}%" for q in QUANTILES))
        rows = [f"  {'site':<{width}}" + "".join(f"{c:>12}" for c in cols)]
        for name, s in self.sites.items():
            figures = (s.mean, s.sd, *s.quantiles.values())
            rows.append(f"  {name:<{width}}" + "".join(f"{x:>12.5g}" for x in figures))
        return head + "\n" + "\n".join(rows) + "\n)"


class ImportanceSampling:
    """Self-normalised importance sampling: the prior or a guide model as proposal.

    Parameters
    ----------
    n : int
        The number of particles, 1 to :func:`~fugue_ppl.max_particles` (checked
        before anything is allocated, again at each run).
    sites : sequence of str, optional
        The sites to summarise; default every sampled site.
    guide : callable, optional
        A proposal other than the prior: a model called with the model's
        arguments that samples exactly the model's latent sites (same
        addresses, values of the same kind) from distributions close to the
        posterior, and observes nothing (see
        :mod:`fugue_ppl.inference.importance`). Default: the prior
        (likelihood weighting).
    resample : {"systematic", "stratified", "multinomial"}, optional
        Also draw an equally weighted set of ``n`` particles from the weighted
        one by this scheme (:meth:`Particles.resample`), as the result's
        ``resampled``.
    on_branch : {"raise", "per_particle"}
        For a model that branches on a sampled value: raise
        :class:`~fugue_ppl.errors.BranchOnSample`, or run the particles one
        by one (slower); as :func:`~fugue_ppl.run_particles`.

    Raises
    ------
    TypeError
        ``n`` is not an integer (a float or a bool is refused), ``sites`` is
        not a sequence of str, ``guide`` is not callable.
    InvalidArgument
        ``n`` is below 1 or above the particle limit, ``sites`` is empty or
        names a site twice, ``resample`` or ``on_branch`` is unknown.

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> def model(y):
    ...     mu = fp.sample("mu", fp.Normal(0.0, 1.0))
    ...     fp.observe("y", fp.Normal(mu, 1.0), y)
    >>> result = ImportanceSampling(n=100_000).run(model, 1.0, rng=1)
    >>> abs(result["mu"].mean - 0.5) < 0.02      # the posterior is N(0.5, 0.5)
    True
    >>> round(result.log_evidence, 2)            # log N(1; 0, 2) = -1.5155
    -1.52
    >>> result.reliable
    True

    With a guide near the posterior, far fewer particles do:

    >>> def guide(y):
    ...     fp.sample("mu", fp.Normal(0.5, 0.8))
    >>> guided = ImportanceSampling(n=2_000, guide=guide).run(model, 1.0, rng=1)
    >>> abs(guided["mu"].mean - 0.5) < 0.02, guided.ess > 1_500
    (True, True)
    """

    def __init__(self, n: int = 1000, sites: Iterable[str] | None = None,
                 guide: Callable[..., Any] | None = None, resample: str | None = None, *,
                 on_branch: str = "raise"):
        if guide is not None and not callable(guide):
            raise type_error(_OWNER, "guide", guide, "None or a callable (a guide model)")
        self._n = check_n(n, _OWNER)
        self._guide = guide
        self._sites = check_sites(sites, _OWNER)
        self._resample = check_choice(resample, "resample", _OWNER, (None, *RESAMPLING_METHODS))
        self._on_branch = check_choice(on_branch, "on_branch", _OWNER, _ON_BRANCH)

    n = property(lambda self: self._n, doc="The number of particles.")
    sites = property(lambda self: self._sites,
                     doc="The sites to summarise (None: every sampled site).")
    guide = property(lambda self: self._guide, doc="The guide model, or None (the prior).")
    resample = property(lambda self: self._resample, doc="The resampling scheme, or None.")
    on_branch = property(lambda self: self._on_branch, doc="What a branching model does.")

    def __repr__(self) -> str:
        guide = "" if self._guide is None else f", guide={_name(self._guide)}"
        return (f"ImportanceSampling(n={self._n}, sites={self._sites!r}{guide}, "
                f"resample={self._resample!r}, on_branch={self._on_branch!r})")

    def run(self, model: Callable[..., Any], /, *args: Any, rng: Any = None,
            **kwargs: Any) -> ImportanceResult:
        """Weight ``n`` draws of the prior (or of the guide) of ``model(*args, **kwargs)``.

        Parameters
        ----------
        model : callable
            A model: a function that calls ``sample``, ``observe`` and ``factor``.
        *args, **kwargs
            Its arguments (the data it observes), the guide's too; ``rng`` is
            this method's own.
        rng : None, int, SeedSequence or Generator
            The run's randomness (see :mod:`fugue_ppl.inference.importance`):
            the same int or SeedSequence gives the same result.

        Returns
        -------
        ImportanceResult

        Raises
        ------
        TypeError
            ``model`` is not callable, ``rng`` has the wrong type.
        InvalidArgument
            ``n`` exceeds the particle limit (lowered since construction),
            ``rng`` is a negative int, ``sites`` names a site the model does
            not sample, the guide observes or adds factors.
        UnexpectedModelStructure
            The model samples a site the guide does not, or the guide one
            the model does not (naming the site).
        TypeMismatch
            The guide's values at a site are not of the kind the model's
            distribution there draws (naming the site).
        DegenerateWeights
            Every particle has weight zero (see :class:`ImportanceResult`).
        Exception
            Whatever the model (or the guide) raised, with a note naming it.
        """
        owner = f"{_OWNER}.run"
        if not callable(model):
            raise type_error(owner, "model", model, "a callable")
        n = check_n(self._n, owner)
        root = root_seed(check_seed(rng, "rng", f"{_OWNER}.run"))
        handler = PriorHandler(rng=root)
        proposal = None
        if self._guide is None:
            value, particles = _run(handler, model, "model", n, args, kwargs,
                                    on_branch=self._on_branch)
        else:
            proposal = _run(handler, self._guide, "guide", n, args, kwargs,
                            on_branch=self._on_branch)[1]
            _check_proposal(proposal, self._guide, owner)
            value, particles = _score(handler, model, self._guide, proposal, n, args, kwargs,
                                      self._on_branch, owner)
        if self._sites is not None:
            for site in self._sites:
                if site not in particles:
                    hint = closest(site, particles.sites)
                    hint = f"; did you mean {hint!r}?" if hint else ""
                    raise invalid(owner, "sites", site,
                                  f"must name sites the model samples ({list(particles.sites)!r})"
                                  f"{hint}")
        result = ImportanceResult(particles, sites=self._sites, seed=root,
                                  resample=self._resample, value=value, proposal=proposal)
        if self._resample is not None:
            result.resampled = particles.resample(self._resample,
                                                  rng=np.random.default_rng(child(root, 1)))
        return result

    def posterior(self, handler: Any, model: Callable[..., Any], /, *args: Any,
                  seed: int | None = None, deadline: float | None = None,
                  **kwargs: Any) -> ImportanceResult:
        """The posterior of one request, on the caller's handler: a service's path.

        :meth:`run` seeds a fresh handler from ``rng``; this runs the
        particles on ``handler``'s stream (``seed``: the run's key, as for
        :func:`~fugue_ppl.run_particles`; default its run counter), so a
        :class:`~fugue_ppl.ModelRunner` serving ``inference=`` gives the same
        answer for the same request key in any replica. No resampling.

        Parameters
        ----------
        handler : PriorHandler or PooledPriorHandler
        model : callable
        *args, **kwargs
            The model's arguments.
        seed : int, optional
            The run's key.
        deadline : float, optional
            Seconds the particle run may take.

        Returns
        -------
        ImportanceResult
        """
        owner = f"{_OWNER}.posterior"
        n = check_n(self._n, owner)
        if self._guide is None:
            value, particles = run_particles(handler, model, n, *args, seed=seed,
                                             deadline=deadline, on_branch=self._on_branch,
                                             **kwargs)
            return ImportanceResult(particles, sites=self._sites, value=value)
        _, proposal = run_particles(handler, self._guide, n, *args, seed=seed, deadline=deadline,
                                    on_branch=self._on_branch, **kwargs)
        _check_proposal(proposal, self._guide, owner)
        value, particles = _score(handler, model, self._guide, proposal, n, args, kwargs,
                                  self._on_branch, owner)
        return ImportanceResult(particles, sites=self._sites, value=value, proposal=proposal)

def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", type(fn).__name__)


def _run(handler: Any, fn: Callable[..., Any], role: str, n: int, args: tuple, kwargs: dict,
         **options: Any) -> tuple[Any, Particles]:
    # One particle run of the model or the guide, its errors noted with the role.
    try:
        return run_particles(handler, fn, n, *args, seed=0, **options, **kwargs)
    except Exception as exc:
        exc.add_note(f"{_OWNER}.run: raised while running the {role} (parameter {role}, "
                     f"{_name(fn)}) for {n} particles")
        raise


def _check_proposal(proposal: Particles, guide: Callable[..., Any], owner: str) -> None:
    # A guide proposes: its density is its log-prior, so it may not condition.
    if proposal.observed:
        site = next(iter(proposal.observed))
        raise invalid(owner, "guide", _name(guide),
                      f"must only sample (a proposal), but it observed site {site!r}")
    if proposal.log_factors.any():
        raise invalid(owner, "guide", _name(guide),
                      "must only sample (a proposal), but it added a factor")


def _score(handler: Any, model: Callable[..., Any], guide: Callable[..., Any],
           proposal: Particles, n: int, args: tuple, kwargs: dict, on_branch: str,
           owner: str) -> tuple[Any, Particles]:
    # The model scored at the guide's values, weighted by log p(x, y) - log q(x).
    try:
        value, scored = _run(handler, model, "model", n, args, kwargs, on_branch=on_branch,
                             base=proposal)
    except UnexpectedModelStructure as exc:
        site = exc.address
        if site is None:
            raise
        if site in proposal:
            raise UnexpectedModelStructure(
                f"{owner}: the guide (parameter guide, {_name(guide)}) samples site {site!r}, "
                "which the model does not sample: a guide samples exactly the model's latent "
                f"sites ({list(proposal.sites)!r} proposed)", site) from exc
        raise UnexpectedModelStructure(
            f"{owner}: the model samples site {site!r}, which the guide (parameter guide, "
            f"{_name(guide)}) does not: a guide must sample every latent site of the model "
            f"(it samples {list(proposal.sites)!r})", site) from exc
    except TypeMismatch as exc:
        site = exc.address
        if site is None or site not in proposal:
            raise
        raise TypeMismatch(
            f"{owner}: the guide (parameter guide, {_name(guide)}) samples {site!r} as "
            f"{proposal[site].dtype} values, not of the kind the model's distribution there "
            f"draws ({exc.args[0]})", site) from exc
    log_q = proposal.log_prior
    with np.errstate(invalid="ignore"):   # -inf - -inf: NaN, refused by ImportanceResult
        lw = scored.log_prior + scored.log_likelihood + scored.log_factors - log_q
    present = ({s: scored.present(s) for s in scored.sites} if scored.per_particle else None)
    particles = Particles(scored.values, scored.log_prior, scored.log_likelihood,
                          scored.log_factors, log_weights=lw, observed=scored.observed,
                          present=present, per_particle=scored.per_particle)
    return value, particles
