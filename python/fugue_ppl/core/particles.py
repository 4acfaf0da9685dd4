"""Particle sets: the result of :func:`~fugue_ppl.run_particles`.

A :class:`Particles` holds, for each sampled site, one value per particle,
and each particle's log-weights. The particles are draws from the prior, so
their importance weights for the posterior are the likelihood and factors
(``log_weights``); the weighted statistics (mean, variance, quantiles), the
effective sample size and the log evidence use those, and resampling turns
the set into an equally weighted one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from fugue_ppl.checks import check_int, invalid, type_error
from fugue_ppl.core._distributions import as_generator
from fugue_ppl.errors import DegenerateWeights, TraceAddressNotFound

__all__ = ["Particles", "RESAMPLING_METHODS"]

#: The resampling schemes of :meth:`Particles.resample`.
RESAMPLING_METHODS = ("systematic", "stratified", "multinomial")


def _readonly(a: np.ndarray) -> np.ndarray:
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def _log_sum_exp(lw: np.ndarray) -> float:
    m = float(np.max(lw)) if lw.size else -math.inf
    if not math.isfinite(m):
        return m
    return m + math.log(float(np.sum(np.exp(lw - m))))


class Particles:
    """A weighted particle set: each sampled site's values and each particle's log-weights.

    Built by :func:`~fugue_ppl.run_particles`; each particle is one draw of
    the model's prior, so its importance weight for the posterior is its
    likelihood times its factors.

    Parameters
    ----------
    values : mapping of str to array
        One array of ``n`` values per sampled site, in execution order.
    log_prior, log_likelihood, log_factors : array of float
        Each particle's log-prior (of its sampled values), log-likelihood (of
        the observations) and sum of factors.
    log_weights : array of float, optional
        Each particle's importance log-weight; default
        ``log_likelihood + log_factors``.
    observed : mapping of str to object, optional
        The observed value (a scalar or one per particle) of each observed site.
    present : mapping of str to array of bool, optional
        For a site some particles did not visit (after a per-particle run),
        which particles hold a value there.
    per_particle : bool
        Whether the particles were run one by one (``run_particles``'s
        ``on_branch="per_particle"`` after the model branched on a sample).

    Raises
    ------
    TypeError
        A log-weight array is not a one-dimensional array of numbers.
    InvalidArgument
        The arrays' lengths differ.

    Examples
    --------
    >>> import numpy as np
    >>> p = Particles({"x": np.array([1.0, 2.0, 3.0])}, np.zeros(3),
    ...               np.log([0.2, 0.3, 0.5]), np.zeros(3))
    >>> round(p.mean("x"), 12), round(p.var("x"), 12), p.quantile("x", 0.5)
    (2.3, 0.61, 2.0)
    """

    __slots__ = ("_values", "_log_prior", "_log_likelihood", "_log_factors", "_log_weights",
                 "_observed", "_present", "_per_particle", "_n", "_cache", "_lse")

    def __init__(self, values: Mapping[str, Any], log_prior: Any, log_likelihood: Any,
                 log_factors: Any, *, log_weights: Any = None,
                 observed: Mapping[str, Any] | None = None,
                 present: Mapping[str, Any] | None = None, per_particle: bool = False):
        self._log_prior = self._weights_array(log_prior, "log_prior")
        n = self._n = self._log_prior.shape[0]
        self._log_likelihood = self._weights_array(log_likelihood, "log_likelihood", n)
        self._log_factors = self._weights_array(log_factors, "log_factors", n)
        self._log_weights = (None if log_weights is None
                             else self._weights_array(log_weights, "log_weights", n))
        self._values = {}
        for name, v in values.items():
            a = np.asarray(v)
            if a.ndim != 1 or a.shape[0] != n:
                raise invalid("Particles", f"values[{name!r}]", v,
                              f"must hold one value per particle ({n})")
            self._values[name] = _readonly(a)
        self._present = {}
        for name, m in (present or {}).items():
            a = np.asarray(m, dtype=np.bool_)
            if name not in self._values or a.shape != (n,):
                raise invalid("Particles", f"present[{name!r}]", m,
                              f"must be a mask of {n} particles for a site of values")
            self._present[name] = _readonly(a)
        self._observed = dict(observed or {})
        self._per_particle = bool(per_particle)
        self._cache = None
        self._lse = None

    @classmethod
    def _of_run(cls, values: dict, log_prior: np.ndarray, log_likelihood: np.ndarray,
                log_factors: np.ndarray, observed: dict) -> Particles:
        # A particle run's result: its arrays are read-only and of one
        # length already, so nothing is checked or copied.
        self = cls.__new__(cls)
        self._values = values
        self._log_prior = log_prior
        self._log_likelihood = log_likelihood
        self._log_factors = log_factors
        self._log_weights = None
        self._observed = observed
        self._present = {}
        self._per_particle = False
        self._n = log_prior.shape[0]
        self._cache = None
        self._lse = None
        return self

    def _weights_array(self, x: Any, name: str, n: int | None = None) -> np.ndarray:
        a = np.asarray(x)
        if a.ndim != 1 or a.dtype.kind not in "iuf":
            raise type_error("Particles", name, x, "a one-dimensional array of numbers")
        if n is not None and a.shape[0] != n:
            raise invalid("Particles", name, x, f"must hold one value per particle ({n})")
        return _readonly(np.ascontiguousarray(a, dtype=np.float64))

    # ------------------------------------------------------------ contents

    @property
    def n(self) -> int:
        """The number of particles."""
        return self._n

    def __len__(self) -> int:
        return self._n

    @property
    def sites(self) -> tuple[str, ...]:
        """The sampled sites' addresses, in execution order."""
        return tuple(self._values)

    @property
    def values(self) -> Mapping[str, np.ndarray]:
        """Each sampled site's values (read-only arrays of ``n`` values)."""
        return MappingProxyType(self._values)

    @property
    def observed(self) -> Mapping[str, Any]:
        """Each observed site's value, as the model gave it."""
        return MappingProxyType(self._observed)

    def __getitem__(self, site: str) -> np.ndarray:
        try:
            return self._values[site]
        except KeyError:
            raise TraceAddressNotFound(f"the particles have no sampled site {site!r}",
                                       site) from None
        except TypeError:
            raise TypeError(f"a site is addressed by a str, got {type(site).__name__}") from None

    def __contains__(self, site: object) -> bool:
        return site in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def present(self, site: str) -> np.ndarray:
        """Which particles hold a value at ``site`` (all, unless the particles
        ran one by one and some did not visit it)."""
        self[site]
        m = self._present.get(site)
        return m if m is not None else _readonly(np.ones(self._n, dtype=np.bool_))

    @property
    def per_particle(self) -> bool:
        """Whether the particles ran one by one (the model branched on a sample)."""
        return self._per_particle

    @property
    def log_prior(self) -> np.ndarray:
        """Each particle's log-prior of its sampled values."""
        return self._log_prior

    @property
    def log_likelihood(self) -> np.ndarray:
        """Each particle's log-likelihood of the observations."""
        return self._log_likelihood

    @property
    def log_factors(self) -> np.ndarray:
        """Each particle's sum of factors."""
        return self._log_factors

    @property
    def total_log_weight(self) -> np.ndarray:
        """Each particle's joint log-density ``log_prior + log_likelihood +
        log_factors`` (a trace's ``total_log_weight``)."""
        return self._log_prior + self._log_likelihood + self._log_factors

    @property
    def log_weights(self) -> np.ndarray:
        """Each particle's importance log-weight: ``log_likelihood + log_factors``
        for prior draws, equal after resampling."""
        if self._log_weights is None:
            lw = self._log_likelihood + self._log_factors
            lw.flags.writeable = False
            self._log_weights = lw
        return self._log_weights

    # ------------------------------------------------------------ weights

    def _normalised(self) -> np.ndarray:
        # The normalised weights (None: every weight is zero), and on the way
        # the log of the weights' sum (the evidence's numerator).
        if self._lse is None:
            lw = self.log_weights
            m = float(np.max(lw))
            if m == math.inf:          # infinitely heavier particles share the weight
                w = (lw == math.inf).astype(np.float64)
                w /= w.sum()
                self._lse = math.inf
            elif not m > -math.inf:    # every weight zero, or a NaN
                w = None
                self._lse = _log_sum_exp(lw)
            else:
                w = np.exp(lw - m)
                total = float(w.sum())
                self._lse = m + math.log(total)
                w /= total
            if w is not None:
                w.flags.writeable = False
            self._cache = w
        return self._cache

    @property
    def weights(self) -> np.ndarray:
        """The normalised importance weights (summing to 1).

        Raises
        ------
        DegenerateWeights
            Every log-weight is ``-inf``.
        """
        w = self._normalised()
        if w is None:
            raise DegenerateWeights("every particle has weight zero (log-weight -inf): the "
                                    "observations or factors rule out every particle drawn")
        return w

    @property
    def log_evidence(self) -> float:
        """The log of the mean importance weight: an unbiased estimate (of the
        evidence itself, on the log scale) of the log marginal likelihood."""
        self._normalised()
        return self._lse - math.log(self._n)

    @property
    def ess(self) -> float:
        """The effective sample size ``1 / sum(w**2)`` of the normalised weights
        (0 when every weight is zero)."""
        w = self._normalised()
        return 0.0 if w is None else float(1.0 / np.dot(w, w))

    # ------------------------------------------------------------ statistics

    def _site_weights(self, site: Any) -> tuple[np.ndarray, np.ndarray]:
        # (values as float64 or their own dtype, normalised weights) of a site
        # or of an array of per-particle values, over the particles holding one.
        w = self.weights
        if isinstance(site, str):
            x = self[site]
            m = self._present.get(site)
            if m is not None:
                x, w = x[m], w[m]
                total = w.sum()
                if not total > 0.0:
                    raise DegenerateWeights(f"the particles holding a value at {site!r} all "
                                            "have weight zero")
                w = w / total
            return x, w
        x = np.asarray(site)
        if x.ndim != 1 or x.shape[0] != self._n or x.dtype.kind not in "biuf":
            raise invalid("Particles", "site", site, f"must be a site's address or an array "
                          f"of one number per particle ({self._n})")
        return x, w

    def mean(self, site: str | npt.ArrayLike) -> float:
        """The weighted mean of a site's values (or of an array of per-particle values)."""
        x, w = self._site_weights(site)
        return float(np.dot(w, x.astype(np.float64, copy=False)))

    def var(self, site: str | npt.ArrayLike) -> float:
        """The weighted variance ``sum(w * (x - mean)**2)`` (normalised weights)."""
        x, w = self._site_weights(site)
        x = x.astype(np.float64, copy=False)
        m = float(np.dot(w, x))
        d = x - m
        return float(np.dot(w, d * d))

    def std(self, site: str | npt.ArrayLike) -> float:
        """The weighted standard deviation, ``sqrt(var(site))``."""
        return math.sqrt(self.var(site))

    def quantile(self, site: str | npt.ArrayLike, q: npt.ArrayLike) -> Any:
        """Weighted quantiles: the inverse of the weighted empirical distribution function.

        For each ``q``, the smallest value ``x`` whose weight of values ``<= x``
        is at least ``q`` (numpy's ``method="inverted_cdf"`` when the weights
        are equal); particles of weight zero are ignored.

        Parameters
        ----------
        site : str or array_like
            A site's address, or an array of per-particle values.
        q : float or array_like of float
            Probabilities in [0, 1].

        Returns
        -------
        scalar or numpy.ndarray
            One value per ``q``, of the site's type.
        """
        qa = np.asarray(q, dtype=np.float64) if not isinstance(q, (str, bytes)) else None
        if qa is None or qa.dtype.kind != "f":
            raise type_error("Particles.quantile", "q", q, "a probability or an array of them")
        if not np.all((qa >= 0.0) & (qa <= 1.0)):
            raise invalid("Particles.quantile", "q", q, "must hold probabilities in [0, 1]")
        x, w = self._site_weights(site)
        keep = w > 0.0
        x, w = x[keep], w[keep]
        order = np.argsort(x, kind="stable")
        xs = x[order]
        cw = np.cumsum(w[order])
        idx = np.minimum(np.searchsorted(cw, qa * cw[-1], side="left"), xs.shape[0] - 1)
        out = xs[idx]
        return out.item() if out.ndim == 0 else out

    # ------------------------------------------------------------ resampling

    def resample_indices(self, method: str = "systematic", *, rng: Any = None,
                         size: int | None = None) -> np.ndarray:
        """Indices of the particles a resampling keeps, each index ``i`` drawn
        ``size * w[i]`` times in expectation.

        Parameters
        ----------
        method : {"systematic", "stratified", "multinomial"}
            Systematic: one uniform ``u``, points ``(u + j) / size``;
            stratified: one uniform per stratum ``[j / size, (j + 1) / size)``;
            multinomial: ``size`` independent draws. All are unbiased; the
            first two have lower variance.
        rng : None, int, SeedSequence or Generator
            Source of randomness (SPEC 7).
        size : int, optional
            How many particles to draw; default ``n``.

        Returns
        -------
        numpy.ndarray of intp
            Sorted indices (the ancestors of the new particles).
        """
        if method not in RESAMPLING_METHODS:
            raise invalid("Particles.resample", "method", method,
                          f"must be one of {', '.join(RESAMPLING_METHODS)}")
        m = self._n if size is None else check_int(size, "size", "Particles.resample", low=1)
        gen = as_generator(rng)
        w = self.weights
        cw = np.cumsum(w)
        cw[-1] = 1.0   # (rounding: every point < 1 finds a particle)
        if method == "systematic":
            u = (gen.random() + np.arange(m)) / m
        elif method == "stratified":
            u = (gen.random(m) + np.arange(m)) / m
        else:
            u = np.sort(gen.random(m))
        return np.minimum(np.searchsorted(cw, u, side="right"), self._n - 1)

    def resample(self, method: str = "systematic", *, rng: Any = None,
                 size: int | None = None) -> Particles:
        """An equally weighted particle set drawn from this one by its weights.

        The new particles keep their ancestors' values and log-densities;
        their log-weights are all the log evidence, so :attr:`log_evidence`
        is unchanged. Arguments as :meth:`resample_indices`.

        Raises
        ------
        DegenerateWeights
            Every particle has weight zero.
        """
        idx = self.resample_indices(method, rng=rng, size=size)
        m = idx.shape[0]
        lw = np.full(m, self.log_evidence)
        observed = {k: (v[idx] if isinstance(v, np.ndarray) and v.ndim == 1 else v)
                    for k, v in self._observed.items()}
        return Particles({k: v[idx] for k, v in self._values.items()}, self._log_prior[idx],
                         self._log_likelihood[idx], self._log_factors[idx], log_weights=lw,
                         observed=observed,
                         present={k: v[idx] for k, v in self._present.items()},
                         per_particle=self._per_particle)

    def __repr__(self) -> str:
        extra = ", per_particle=True" if self._per_particle else ""
        return (f"Particles(n={self._n}, sites={list(self._values)!r}, "
                f"ess={self.ess:.6g}{extra})")
