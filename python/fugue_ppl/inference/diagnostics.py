"""Diagnostics of MCMC draws and of importance weights.

MCMC draws are a ``(chains, draws)`` array of one quantity. The statistics are
those of Vehtari, Gelman, Simpson, Carpenter and Bürkner (2021), "Rank-
normalization, folding, and localization: an improved R̂ for assessing
convergence of MCMC", with the same definitions ArviZ implements:

- :func:`split_rhat`: the potential scale reduction of the split chains;
- :func:`rhat`: the rank-normalised split-R̂, the larger of that of the
  rank-normalised draws (bulk) and that of the rank-normalised folded draws
  (tails); above 1.01 the chains have not mixed;
- :func:`ess_bulk`, :func:`ess_tail`: the effective sample size of the
  rank-normalised split chains, and the smaller of those of the indicators of
  the 5% and 95% quantiles; autocorrelations through the FFT, truncated by
  Geyer's initial positive sequence and made monotone;
- :func:`ess_mean`, :func:`mcse_mean`: the effective sample size of the split
  chains themselves, and the Monte Carlo standard error of the mean,
  ``sd / sqrt(ess_mean)``.

Importance weights are a 1-D array of log-weights:

- :func:`importance_ess`: ``(sum w)**2 / sum w**2``;
- :func:`psis`: Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman,
  Yao and Gabry 2024): a generalized Pareto distribution fitted to the
  largest ``M = ceil(min(n / 5, 3 sqrt(n / r_eff)))`` weights by the
  empirical Bayes method of Zhang and Stephens (2009), as ArviZ's ``psislw``;
  its shape k̂ says how far the weights can be trusted (above
  :func:`khat_threshold`, and above 0.7 whatever ``n``, they cannot).

Everything is numpy. Bad input (a wrong shape, NaN or infinite draws, fewer
than 4 draws per chain, a single chain for R̂) raises a
:class:`~fugue_ppl.errors.InvalidArgument` naming the parameter.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from fugue_ppl.checks import check_real, invalid, type_error

__all__ = [
    "rhat", "split_rhat", "ess_bulk", "ess_tail", "ess_mean", "mcse_mean",
    "importance_ess", "psis", "PSISResult", "khat_threshold",
]

#: The fewest draws per chain the MCMC statistics accept (ArviZ's as well).
MIN_DRAWS = 4


# ------------------------------------------------------------------ input checks

def _as_draws(draws: Any, owner: str, *, min_chains: int = 1) -> np.ndarray:
    """``draws`` as a finite float64 ``(chains, draws)`` array, checked."""
    if isinstance(draws, (str, bytes)) or draws is None:
        raise type_error(owner, "draws", draws, "a 2-D array of numbers (chains, draws)")
    try:
        ary = np.asarray(draws)
    except (TypeError, ValueError):
        raise type_error(owner, "draws", draws,
                         "a 2-D array of numbers (chains, draws)") from None
    if ary.dtype.kind not in "biuf":
        raise type_error(owner, "draws", draws, "a 2-D array of numbers (chains, draws)")
    if ary.ndim != 2:
        raise invalid(owner, "draws", draws,
                      f"must be a 2-D array (chains, draws); it has {ary.ndim} dimension(s) "
                      "(one chain is draws[None, :])")
    chains, n = ary.shape
    if chains < min_chains:
        raise invalid(owner, "draws", draws,
                      f"must hold at least {min_chains} chains (rows), it holds {chains}")
    if n < MIN_DRAWS:
        raise invalid(owner, "draws", draws,
                      f"must hold at least {MIN_DRAWS} draws per chain (columns), it holds {n}")
    ary = ary.astype(np.float64)
    if not np.isfinite(ary).all():
        raise invalid(owner, "draws", draws, "must be finite (no NaN or infinity)")
    return ary


def _as_log_weights(log_weights: Any, owner: str) -> np.ndarray:
    """``log_weights`` as a 1-D float64 array with no NaN or +inf and a finite entry."""
    if isinstance(log_weights, (str, bytes)) or log_weights is None:
        raise type_error(owner, "log_weights", log_weights, "a 1-D array of numbers")
    try:
        lw = np.asarray(log_weights)
    except (TypeError, ValueError):
        raise type_error(owner, "log_weights", log_weights, "a 1-D array of numbers") from None
    if lw.dtype.kind not in "iuf":
        raise type_error(owner, "log_weights", log_weights, "a 1-D array of numbers")
    if lw.ndim != 1:
        raise invalid(owner, "log_weights", log_weights,
                      f"must be a 1-D array; it has {lw.ndim} dimension(s)")
    if lw.size == 0:
        raise invalid(owner, "log_weights", log_weights, "must not be empty")
    lw = lw.astype(np.float64)
    if np.isnan(lw).any() or np.isposinf(lw).any():
        raise invalid(owner, "log_weights", log_weights,
                      "must hold no NaN or +inf (-inf is a zero weight)")
    if not np.isfinite(lw).any():
        raise invalid(owner, "log_weights", log_weights,
                      "must hold a finite entry (every weight is zero)")
    return lw


# ------------------------------------------------------------------ building blocks

# Wichura's algorithm AS 241 (PPND16): the standard normal quantile to about
# 1e-16 relative error, as scipy's ndtri.
_A = (3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
      1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
      3.3430575583588128105e4, 2.5090809287301226727e3)
_B = (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
      2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
      5.2264952788528545610e3)
_C = (1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
      3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
      2.27238449892691845833e-2, 7.74545014278341407640e-4)
_D = (1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
      1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
      1.05075007164441684324e-9)
_E = (6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
      2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
      2.71155556874348757815e-5, 2.01033439929228813265e-7)
_F = (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
      7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
      2.04426310338993978564e-15)


def _poly(coef: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    out = np.full_like(x, coef[-1])
    for c in coef[-2::-1]:
        out = out * x + c
    return out


def _ndtri(p: np.ndarray) -> np.ndarray:
    """The standard normal quantile function, elementwise, for ``0 < p < 1``."""
    p = np.asarray(p, dtype=np.float64)
    q = p - 0.5
    out = np.empty_like(p)
    central = np.abs(q) <= 0.425
    if central.any():
        qc = q[central]
        r = 0.180625 - qc * qc
        out[central] = qc * _poly(_A, r) / _poly(_B, r)
    tail = ~central
    if tail.any():
        qt = q[tail]
        r = np.sqrt(-np.log(np.minimum(p[tail], 1.0 - p[tail])))
        near = r <= 5.0
        x = np.empty_like(r)
        rn = r[near] - 1.6
        x[near] = _poly(_C, rn) / _poly(_D, rn)
        rf = r[~near] - 5.0
        x[~near] = _poly(_E, rf) / _poly(_F, rf)
        out[tail] = np.where(qt < 0.0, -x, x)
    return out


def _average_ranks(ary: np.ndarray) -> np.ndarray:
    """Ranks 1..n of all entries (ties get the mean of their ranks), in ``ary``'s shape."""
    flat = ary.ravel()
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse.ravel()].reshape(ary.shape)


def _z_scale(ary: np.ndarray) -> np.ndarray:
    """Rank-normalisation: normal quantiles of the fractional ranks (Blom's offset 3/8)."""
    ranks = _average_ranks(ary)
    return _ndtri((ranks - 0.375) / (ary.size + 0.25))


def _split(ary: np.ndarray) -> np.ndarray:
    """Each chain cut in two halves (the middle draw of an odd length dropped), as chains."""
    half = ary.shape[1] // 2
    return np.vstack((ary[:, :half], ary[:, -half:]))


def _rhat_core(ary: np.ndarray) -> float:
    """The potential scale reduction of the chains (rows) of ``ary``."""
    n = ary.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = n * np.var(ary.mean(axis=1), ddof=1)
        within = np.mean(np.var(ary, axis=1, ddof=1))
        return float(np.sqrt((between / within + n - 1) / n))


def _autocov(ary: np.ndarray) -> np.ndarray:
    """Autocovariances of each chain (row) at every lag, through the FFT (biased: / n)."""
    n = ary.shape[1]
    m = 1 << (2 * n - 1).bit_length()     # zero-padded: a linear, not circular, correlation
    centred = ary - ary.mean(axis=1, keepdims=True)
    f = np.fft.rfft(centred, n=m, axis=1)
    return np.fft.irfft(f * np.conjugate(f), n=m, axis=1)[:, :n] / n


def _ess_core(ary: np.ndarray) -> float:
    """The effective sample size of the chains (rows) of ``ary`` (Geyer's initial monotone
    sequence over the chains' combined autocorrelations)."""
    if np.max(ary) - np.min(ary) < np.finfo(float).resolution:
        return float(ary.size)
    chains, n = ary.shape
    acov = _autocov(ary)
    mean_acov = acov.mean(axis=0)
    mean_var = mean_acov[0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if chains > 1:
        var_plus += np.var(ary.mean(axis=1), ddof=1)
    rho = np.zeros(n)
    rho_even = 1.0
    rho[0] = rho_even
    rho_odd = 1.0 - (mean_var - mean_acov[1]) / var_plus
    rho[1] = rho_odd
    # Geyer's initial positive sequence: sums of adjacent pairs while they are positive.
    t = 1
    while t < n - 3 and rho_even + rho_odd > 0.0:
        rho_even = 1.0 - (mean_var - mean_acov[t + 1]) / var_plus
        rho_odd = 1.0 - (mean_var - mean_acov[t + 2]) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t + 1] = rho_even
            rho[t + 2] = rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0:
        rho[max_t + 1] = rho_even
    # ... made monotone: no pair sum larger than the one before it.
    t = 1
    while t <= max_t - 2:
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = (rho[t - 1] + rho[t]) / 2.0
            rho[t + 2] = rho[t + 1]
        t += 2
    total = chains * n
    tau = -1.0 + 2.0 * np.sum(rho[:max_t + 1]) + np.sum(rho[max_t + 1:max_t + 2])
    tau = max(tau, 1.0 / np.log10(total))
    return float(total / tau) if not np.isnan(rho).any() else math.nan


def _rhat_rank(ary: np.ndarray) -> float:
    split = _split(ary)
    bulk = _rhat_core(_z_scale(split))
    tail = _rhat_core(_z_scale(np.abs(split - np.median(split))))
    return max(bulk, tail) if not (math.isnan(bulk) or math.isnan(tail)) else math.nan


def _ess_bulk(ary: np.ndarray) -> float:
    return _ess_core(_z_scale(_split(ary)))


def _ess_quantile(ary: np.ndarray, prob: float) -> float:
    q = np.quantile(ary, prob)
    return _ess_core(_split((ary <= q).astype(np.float64)))


def _ess_tail(ary: np.ndarray, prob: tuple[float, float] = (0.05, 0.95)) -> float:
    return min(_ess_quantile(ary, prob[0]), _ess_quantile(ary, prob[1]))


def _ess_mean(ary: np.ndarray) -> float:
    return _ess_core(_split(ary))


def _mcse_mean(ary: np.ndarray) -> float:
    return float(np.std(ary, ddof=1) / math.sqrt(_ess_mean(ary)))


# ------------------------------------------------------------------ MCMC draws

def split_rhat(draws: Any) -> float:
    """The split-R̂ of ``draws`` (Gelman et al. 2013): each chain cut in two halves.

    Parameters
    ----------
    draws : array_like, shape (chains, draws)
        At least 2 chains of at least 4 finite draws.

    Returns
    -------
    float
        NaN when every chain is constant.

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(0).normal(size=(4, 1000))
    >>> round(split_rhat(draws), 3)
    1.0
    """
    return _rhat_core(_split(_as_draws(draws, "split_rhat", min_chains=2)))


def rhat(draws: Any) -> float:
    """The rank-normalised split-R̂ of ``draws`` (Vehtari et al. 2021; ArviZ's
    ``rhat(method="rank")``): the larger of the split-R̂ of the rank-normalised
    draws and of the rank-normalised draws folded about their median.

    Parameters
    ----------
    draws : array_like, shape (chains, draws)
        At least 2 chains of at least 4 finite draws.

    Returns
    -------
    float
        Values above 1.01 say the chains have not mixed. NaN when every chain
        is constant.

    Raises
    ------
    InvalidArgument
        ``draws`` is not 2-D, holds fewer than 2 chains or 4 draws per
        chain, or a NaN or infinity.

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(0).normal(size=(4, 1000))
    >>> draws[0] += 3.0                    # one chain elsewhere
    >>> rhat(draws) > 1.1
    True
    """
    return _rhat_rank(_as_draws(draws, "rhat", min_chains=2))


def ess_bulk(draws: Any) -> float:
    """The bulk effective sample size of ``draws``: that of the rank-normalised
    split chains (ArviZ's ``ess(method="bulk")``).

    Parameters
    ----------
    draws : array_like, shape (chains, draws)
        At least 4 finite draws per chain.

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(0).normal(size=(4, 1000))
    >>> 3000 < ess_bulk(draws) < 5000
    True
    """
    return _ess_bulk(_as_draws(draws, "ess_bulk"))


def ess_tail(draws: Any, prob: tuple[float, float] = (0.05, 0.95)) -> float:
    """The tail effective sample size of ``draws``: the smaller of those of the
    indicators ``draws <= q`` for the quantiles at ``prob`` (ArviZ's
    ``ess(method="tail")``).

    Parameters
    ----------
    draws : array_like, shape (chains, draws)
        At least 4 finite draws per chain.
    prob : (float, float)
        The lower and upper tail probabilities, each in (0, 1).
    """
    ary = _as_draws(draws, "ess_tail")
    if not isinstance(prob, (tuple, list)) or len(prob) != 2:
        raise type_error("ess_tail", "prob", prob, "a pair of probabilities")
    low, high = (check_real(p, "prob", "ess_tail", "open_unit") for p in prob)
    return _ess_tail(ary, (low, high))


def ess_mean(draws: Any) -> float:
    """The effective sample size of the mean of ``draws``: that of the split
    chains themselves (ArviZ's ``ess(method="mean")``)."""
    return _ess_mean(_as_draws(draws, "ess_mean"))


def mcse_mean(draws: Any) -> float:
    """The Monte Carlo standard error of the mean of ``draws``:
    ``sd / sqrt(ess_mean)`` (ArviZ's ``mcse(method="mean")``).

    Examples
    --------
    >>> import numpy as np
    >>> draws = np.random.default_rng(0).normal(size=(4, 1000))
    >>> round(mcse_mean(draws), 3)
    0.016
    """
    return _mcse_mean(_as_draws(draws, "mcse_mean"))


# ------------------------------------------------------------------ importance weights

def _logsumexp(x: np.ndarray) -> float:
    m = np.max(x)
    return float(m + np.log(np.sum(np.exp(x - m))))


def importance_ess(log_weights: Any) -> float:
    """The effective sample size of importance weights, ``(sum w)**2 / sum w**2``.

    Parameters
    ----------
    log_weights : array_like, shape (n,)
        Unnormalised log-weights; ``-inf`` is a zero weight; at least one is finite.

    Returns
    -------
    float
        Between 1 (one weight dominates) and ``n`` (equal weights).

    Examples
    --------
    >>> importance_ess([0.0, 0.0, 0.0, float("-inf")])
    3.0
    """
    lw = _as_log_weights(log_weights, "importance_ess")
    w = np.exp(lw - np.max(lw))
    return float(np.sum(w) ** 2 / np.sum(w * w))


def khat_threshold(n: int) -> float:
    """The largest Pareto k̂ at which ``n`` importance draws are trustworthy:
    ``min(1 - 1 / log10(n), 0.7)`` (Vehtari et al. 2024)."""
    if n < 2:
        return -math.inf
    return min(1.0 - 1.0 / math.log10(n), 0.7)


class PSISResult(NamedTuple):
    """Pareto-smoothed log-weights and the tail's shape estimate."""

    #: Smoothed, truncated log-weights normalised to sum (as weights) to one.
    log_weights: np.ndarray
    #: The shape k̂ of the generalized Pareto fit to the largest weights (``inf``
    #: when the tail holds 4 weights or fewer).
    khat: float
    #: How many of the largest weights the fit used.
    tail_length: int

    @property
    def reliable(self) -> bool:
        """Whether k̂ is below :func:`khat_threshold` for this many draws."""
        return bool(self.khat < khat_threshold(self.log_weights.size))


def _gpd_fit(x: np.ndarray) -> tuple[float, float]:
    """Shape and scale of a generalized Pareto distribution fitted to the sorted
    exceedances ``x`` (Zhang and Stephens 2009, with ArviZ's weak prior on k)."""
    prior_bs, prior_k = 3, 10
    n = x.size
    m = 30 + int(n ** 0.5)
    b = 1.0 - np.sqrt(m / (np.arange(1, m + 1, dtype=np.float64) - 0.5))
    b /= prior_bs * x[int(n / 4 + 0.5) - 1]
    b += 1.0 / x[-1]
    k = np.log1p(-b[:, None] * x).mean(axis=1)
    len_scale = n * (np.log(-(b / k)) - k - 1.0)
    weights = 1.0 / np.exp(len_scale - len_scale[:, None]).sum(axis=1)
    keep = weights >= 10 * np.finfo(float).eps
    if not keep.all():
        weights, b = weights[keep], b[keep]
    weights /= weights.sum()
    b_post = np.sum(b * weights)
    k_post = np.log1p(-b_post * x).mean()
    sigma = -k_post / b_post
    k_post = (n * k_post + prior_k * 0.5) / (n + prior_k)
    return float(k_post), float(sigma)


def _gpd_quantiles(probs: np.ndarray, k: float, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return np.full_like(probs, np.nan)
    if abs(k) < np.finfo(float).eps:
        return -np.log1p(-probs) * sigma
    return np.expm1(-k * np.log1p(-probs)) / k * sigma


def psis(log_weights: Any, r_eff: float = 1.0) -> PSISResult:
    """Pareto-smoothed importance sampling of ``log_weights`` (ArviZ's ``psislw``).

    The largest ``M = ceil(min(n / 5, 3 sqrt(n / r_eff)))`` weights are
    replaced by the expected order statistics of a generalized Pareto
    distribution fitted to them, truncated at the largest raw weight; the
    fit's shape k̂ is the diagnostic.

    Parameters
    ----------
    log_weights : array_like, shape (n,)
        Unnormalised log-weights; ``-inf`` is a zero weight; at least one is finite.
    r_eff : float
        The relative efficiency of the draws (``ess / n``; 1 for independent
        draws), in (0, 1].

    Returns
    -------
    PSISResult
        The normalised smoothed log-weights, k̂ and the tail's length.

    Examples
    --------
    >>> import numpy as np
    >>> u = np.random.default_rng(0).random(4000)
    >>> result = psis(-0.9 * np.log1p(-u))     # weights with a Pareto tail of shape 0.9
    >>> result.khat > 0.7, result.reliable
    (True, False)
    """
    x = _as_log_weights(log_weights, "psis").copy()
    r_eff = check_real(r_eff, "r_eff", "psis", "unit")
    n = x.size
    tail_m = int(math.ceil(min(n / 5.0, 3.0 * math.sqrt(n / r_eff))))
    x -= np.max(x)
    order = np.argsort(x)
    cutoff = max(x[order[-tail_m - 1]] if tail_m < n else -math.inf,
                 math.log(np.finfo(float).tiny))
    exp_cutoff = math.exp(cutoff)
    (tail,) = np.nonzero(x > cutoff)
    k = math.inf
    if tail.size > 4:
        tail_order = np.argsort(x[tail])
        exceed = np.exp(x[tail]) - exp_cutoff
        k, sigma = _gpd_fit(exceed[tail_order])
        if math.isfinite(k):
            probs = np.arange(0.5, tail.size) / tail.size
            x[tail[tail_order]] = np.log(_gpd_quantiles(probs, k, sigma) + exp_cutoff)
            x[x > 0] = 0.0
    x -= _logsumexp(x)
    return PSISResult(x, k, int(tail.size))
