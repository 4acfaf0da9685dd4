"""Statistical analysis of a rollout: is the candidate version worse than the baseline?

Fixed-sample tests, as the production deployment guide writes them:

* :func:`welch_t_test` / :func:`welch_t_test_from_stats` -- Welch's t-test
  for a difference of means (log latency, a model's log-likelihood, an
  output's mean) with Welch-Satterthwaite degrees of freedom;
* :func:`two_proportion_z_test` -- error rates, pooled standard error;
* :func:`canary_z_score` -- the guide's canary z-score of an error rate.

Their p-values are valid for one look at a planned sample. A canary is
looked at again and again, and checking a fixed-level p-value at every look
wrongly rolls back an equal candidate far more often than the level says.
The sequential tests (:class:`SequentialMeanTest`,
:class:`SequentialProportionTest`) stay valid however often they are
looked at: a mixture sequential probability ratio test (mSPRT; Johari,
Pekelis & Walsh, "Always valid inference", 2017/2022) gives a p-value that
never increases from look to look, and an equal candidate is rolled back
with probability at most ``alpha`` whatever the number of looks.
:class:`AnalysisConfig` holds their settings.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from fugue_ppl.checks import (
    Bounded,
    Flag,
    Int,
    Real,
    Relation,
    Settings,
    check_choice,
    check_int,
    check_real,
    check_type,
    invalid,
    setting,
    settings,
    type_error,
)
from fugue_ppl.deploy._stats import norm_cdf, norm_sf, t_sf_two_sided
from fugue_ppl.errors import _already_initialised

__all__ = [
    "AnalysisConfig",
    "Decision",
    "SequentialMeanTest",
    "SequentialProportionTest",
    "SequentialTest",
    "TTestResult",
    "ZTestResult",
    "canary_z_score",
    "mixture_log_likelihood_ratio",
    "two_proportion_z_test",
    "welch_t_test",
    "welch_t_test_from_stats",
]

#: The arms of a comparison.
ARMS = ("baseline", "candidate")

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# ============================================================ fixed-sample tests


@dataclasses.dataclass(frozen=True, slots=True)
class TTestResult:
    """Welch's t-test of ``mean1 - mean2``.

    Attributes
    ----------
    t : float
        ``(mean1 - mean2) / std_error`` (``+-inf`` when both variances are 0
        and the means differ, 0 when they are equal).
    df : float
        Welch-Satterthwaite degrees of freedom (``n1 + n2 - 2`` when both
        variances are 0).
    p_value : float
        Two-sided, from Student's t with ``df`` degrees of freedom.
    difference : float
        ``mean1 - mean2``.
    std_error : float
        ``sqrt(var1 / n1 + var2 / n2)``.
    """

    t: float
    df: float
    p_value: float
    difference: float
    std_error: float

    def to_dict(self) -> dict[str, float]:
        """The fields as a dict (for logs and history entries)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class ZTestResult:
    """A z test of ``p1 - p2`` (proportions).

    Attributes
    ----------
    z : float
        ``difference / std_error`` (0 when the standard error is 0).
    p_value : float
        Two-sided, from the standard normal.
    difference : float
        ``p1 - p2``.
    std_error : float
        The standard error the test divides by.
    """

    z: float
    p_value: float
    difference: float
    std_error: float

    def to_dict(self) -> dict[str, float]:
        """The fields as a dict (for logs and history entries)."""
        return dataclasses.asdict(self)


def _sample(values: Any, name: str, owner: str) -> np.ndarray:
    """``values`` as a 1-D float64 array of finite numbers."""
    if isinstance(values, (str, bytes)):
        raise type_error(owner, name, values, "a sequence of real numbers")
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):
        raise type_error(owner, name, values, "a sequence of real numbers") from None
    if arr.dtype.kind not in "iuf" or arr.dtype == np.bool_:
        raise type_error(owner, name, values, "a sequence of real numbers")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise invalid(owner, name, values, "must be one-dimensional")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise invalid(owner, name, values, "must hold finite numbers only")
    return arr


def _finite(value: Any, name: str, owner: str, constraint: str = "finite") -> float:
    return check_real(value, name, owner, constraint)


def welch_t_test(a: Any, b: Any) -> TTestResult:
    """Welch's t-test of two samples' means (unequal variances).

    Parameters
    ----------
    a, b : array_like
        The two samples (e.g. the candidate's and the baseline's log
        latencies), at least 2 finite values each.

    Returns
    -------
    TTestResult
        ``t`` for ``mean(a) - mean(b)`` with the sample variances (ddof 1),
        as :func:`welch_t_test_from_stats` computes it.

    Raises
    ------
    TypeError
        A sample is not a sequence of real numbers.
    InvalidArgument
        A sample has fewer than 2 values, a non-finite value or more than one dimension.

    Examples
    --------
    >>> r = welch_t_test([1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0, 6.0])
    >>> round(r.t, 6), round(r.df, 4), round(r.p_value, 6)
    (-1.566699, 6.9808, 0.161286)
    """
    x = _sample(a, "a", "welch_t_test")
    y = _sample(b, "b", "welch_t_test")
    for name, s in (("a", x), ("b", y)):
        if s.size < 2:
            raise invalid("welch_t_test", name, s.size, "must hold at least 2 values")
    return _welch(x.size, float(x.mean()), float(x.var(ddof=1)),
                  y.size, float(y.mean()), float(y.var(ddof=1)))


def welch_t_test_from_stats(n1: int, mean1: float, var1: float,
                            n2: int, mean2: float, var2: float) -> TTestResult:
    """Welch's t-test from summary statistics (e.g. two Welford monitors).

    ``t = (mean1 - mean2) / sqrt(var1/n1 + var2/n2)`` and
    ``df = (var1/n1 + var2/n2)**2 / ((var1/n1)**2/(n1-1) + (var2/n2)**2/(n2-1))``.

    Parameters
    ----------
    n1, n2 : int
        Sample sizes, at least 2.
    mean1, mean2 : float
        Sample means, finite.
    var1, var2 : float
        Sample variances (ddof 1), finite and >= 0.

    Returns
    -------
    TTestResult

    Raises
    ------
    TypeError
        An argument is not a number (sizes: not an integer).
    InvalidArgument
        A size below 2, a mean or variance not finite, a negative variance.

    Examples
    --------
    >>> r = welch_t_test_from_stats(10, 1.0, 4.0, 20, 0.0, 1.0)
    >>> round(r.t, 6), round(r.df, 4)
    (1.490712, 11.3069)
    """
    owner = "welch_t_test_from_stats"
    n1 = check_int(n1, "n1", owner, low=2)
    n2 = check_int(n2, "n2", owner, low=2)
    m1 = _finite(mean1, "mean1", owner)
    m2 = _finite(mean2, "mean2", owner)
    v1 = _finite(var1, "var1", owner, "non_negative")
    v2 = _finite(var2, "var2", owner, "non_negative")
    return _welch(n1, m1, v1, n2, m2, v2)


def _welch(n1: int, m1: float, v1: float, n2: int, m2: float, v2: float) -> TTestResult:
    s1, s2 = v1 / n1, v2 / n2
    se2 = s1 + s2
    diff = m1 - m2
    if se2 == 0.0:
        # Two constant samples: certain when the means differ, no evidence otherwise.
        t = 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
        return TTestResult(t, float(n1 + n2 - 2), 1.0 if diff == 0.0 else 0.0, diff, 0.0)
    se = math.sqrt(se2)
    t = diff / se
    df = se2 * se2 / (s1 * s1 / (n1 - 1) + s2 * s2 / (n2 - 1))
    return TTestResult(t, df, t_sf_two_sided(t, df), diff, se)


def _counts(x: Any, n: Any, xname: str, nname: str, owner: str) -> tuple[int, int]:
    n = check_int(n, nname, owner, low=1)
    x = check_int(x, xname, owner, low=0)
    if x > n:
        raise invalid(owner, xname, x, f"must not exceed {nname} ({n})")
    return x, n


def two_proportion_z_test(x1: int, n1: int, x2: int, n2: int) -> ZTestResult:
    """The two-proportion z test of ``x1/n1 - x2/n2`` with the pooled standard error.

    ``z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2))`` with ``p = (x1 + x2) / (n1 + n2)``.

    Parameters
    ----------
    x1, x2 : int
        Events (e.g. errors), 0 <= x <= n.
    n1, n2 : int
        Trials (requests), >= 1.

    Returns
    -------
    ZTestResult
        ``z = 0`` and ``p_value = 1`` when no trial or every trial is an event.

    Raises
    ------
    TypeError
        A count is not an integer.
    InvalidArgument
        A negative count, no trials, more events than trials.

    Examples
    --------
    >>> r = two_proportion_z_test(30, 1000, 15, 1000)
    >>> round(r.z, 6), round(r.p_value, 6)
    (2.261656, 0.023719)
    """
    owner = "two_proportion_z_test"
    x1, n1 = _counts(x1, n1, "x1", "n1", owner)
    x2, n2 = _counts(x2, n2, "x2", "n2", owner)
    p1, p2 = x1 / n1, x2 / n2
    p = (x1 + x2) / (n1 + n2)
    se = math.sqrt(p * (1.0 - p) * (1.0 / n1 + 1.0 / n2))
    return _z_result(p1 - p2, se)


def _z_result(diff: float, se: float) -> ZTestResult:
    if se == 0.0:
        return ZTestResult(0.0, 1.0, diff, 0.0)
    z = diff / se
    return ZTestResult(z, 2.0 * norm_sf(abs(z)), diff, se)


def canary_z_score(candidate_errors: int, candidate_n: int, baseline_errors: int,
                   baseline_n: int) -> ZTestResult:
    """The guide's canary z-score of the candidate's error rate against the baseline's.

    ``z = (mean_canary - mean_control) / sqrt(s1**2/n1 + s2**2/n2)`` over the
    per-request error indicators (0 or 1): the means are the error rates and
    ``s**2 = n p (1 - p) / (n - 1)`` their sample variances (unpooled, unlike
    :func:`two_proportion_z_test`). Positive ``z``: the candidate fails more.

    Parameters
    ----------
    candidate_errors, baseline_errors : int
        Failed requests, 0 <= errors <= n.
    candidate_n, baseline_n : int
        Requests, >= 2.

    Returns
    -------
    ZTestResult
        ``z`` with its two-sided normal p-value (``z = 0``, ``p = 1`` when
        both error rates are 0 or 1).

    Raises
    ------
    TypeError
        A count is not an integer.
    InvalidArgument
        A negative count, fewer than 2 requests, more errors than requests.

    Examples
    --------
    >>> r = canary_z_score(20, 1000, 10, 1000)
    >>> round(r.z, 4)
    1.8402
    """
    owner = "canary_z_score"
    xc, nc = _counts(candidate_errors, candidate_n, "candidate_errors", "candidate_n", owner)
    xb, nb = _counts(baseline_errors, baseline_n, "baseline_errors", "baseline_n", owner)
    for name, n in (("candidate_n", nc), ("baseline_n", nb)):
        if n < 2:
            raise invalid(owner, name, n, "must be >= 2")
    pc, pb = xc / nc, xb / nb
    vc = nc * pc * (1.0 - pc) / (nc - 1)
    vb = nb * pb * (1.0 - pb) / (nb - 1)
    return _z_result(pc - pb, math.sqrt(vc / nc + vb / nb))


# ============================================================ sequential tests


@settings
class AnalysisConfig(Settings):
    """The settings of a sequential rollout analysis (``[analysis]``).

    Examples
    --------
    >>> AnalysisConfig(alpha=0.01).alpha
    0.01
    """

    alpha: float = setting(
        0.05, check=Bounded(0.0, 0.5, low_open=True),
        doc="Level of the sequential tests: an equal candidate is rolled back with "
            "probability at most alpha, however often the analysis looks.")
    mixture_variance: float = setting(
        0.01, check=Real("positive"),
        doc="Variance tau^2 of the normal mixture over effects, in squared standard "
            "deviations of one observation (tau = 0.1: effects around a tenth of a "
            "standard deviation are detected soonest).")
    min_samples: int = setting(
        200, check=Int(2, 10**12),
        doc="Observations each arm needs before the analysis decides anything.")
    max_samples: int = setting(
        20_000, check=Int(2, 10**12),
        doc="The candidate's planned sample: reached without harm shown, it is promoted.")
    promote_early: bool = setting(
        True, check=Flag(),
        doc="Promote as soon as the candidate is significantly better (the one-sided "
            "test in the other direction, at level alpha).")

    _relations = (Relation("min_samples", "<=", "max_samples"),)


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """What a sequential test decided at one look, with the statistics that decided it.

    Attributes
    ----------
    action : str
        ``"continue"``, ``"rollback"`` (the candidate is worse at level
        ``alpha``) or ``"promote"``.
    reason : str
        ``"min_samples"`` (too few observations to decide), ``"no_evidence"``
        (continue), ``"worse"`` (rollback), ``"better"`` (promoted early:
        significantly better) or ``"max_samples"`` (promoted: the planned
        sample reached without harm shown).
    p_value : float
        The always-valid p-value of "the candidate is worse" (non-increasing
        from look to look).
    p_value_better : float
        The always-valid p-value of "the candidate is better".
    estimate : float
        Candidate minus baseline (means, or error rates); NaN while an arm has
        fewer than ``min_samples`` observations.
    std_error : float
        The estimate's standard error (NaN likewise).
    n_baseline, n_candidate : int
        Observations so far.
    look : int
        Looks so far, this one included.
    alpha : float
        The level the test decides at.
    """

    action: str
    reason: str
    p_value: float
    p_value_better: float
    estimate: float
    std_error: float
    n_baseline: int
    n_candidate: int
    look: int
    alpha: float

    @property
    def final(self) -> bool:
        """Whether the test has decided (rollback or promote)."""
        return self.action != "continue"

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (for logs and history entries)."""
        return dataclasses.asdict(self)


def _log_norm_cdf(z: float) -> float:
    """log P(Z <= z), finite far into the lower tail."""
    if z > -30.0:
        return math.log(norm_cdf(z))
    # Mills' ratio: Phi(z) = phi(z) / |z| (1 - 1/z^2 + 3/z^4 - ...).
    z2 = z * z
    return -0.5 * z2 - math.log(-z) - _LOG_SQRT_2PI + math.log1p(-1.0 / z2 + 3.0 / (z2 * z2))


def mixture_log_likelihood_ratio(estimate: float, variance: float, tau2: float,
                                 side: int = 0) -> float:
    """log of the normal-mixture likelihood ratio of an effect against no effect.

    With the estimate ``theta ~ N(effect, variance)`` and the mixture
    ``effect ~ N(0, tau2)`` (two-sided, ``side = 0``) or its half on the
    side ``side`` (``+1``: effects > 0; ``-1``: effects < 0),
    ``Lambda = sqrt(V / (V + tau2)) exp(tau2 theta^2 / (2 V (V + tau2)))``,
    times ``2 Phi(side theta tau / sqrt(V (V + tau2)))`` for a half. Over the
    looks of a growing sample it is a martingale under no effect (a
    supermartingale for effects on the other side), so
    ``P(sup Lambda >= 1/alpha) <= alpha`` (Ville's inequality).

    Parameters are not checked (the sequential tests call it).
    """
    if variance <= 0.0:
        return 0.0 if estimate == 0.0 else (
            math.inf if side == 0 or math.copysign(1.0, estimate) == side else -math.inf)
    total = variance + tau2
    out = 0.5 * math.log(variance / total) + tau2 * estimate * estimate / (2.0 * variance * total)
    if side:
        out += math.log(2.0) + _log_norm_cdf(
            side * estimate * math.sqrt(tau2) / math.sqrt(variance * total))
    return out


class SequentialTest:
    """Base of the sequential tests: the looks, the always-valid p-values and
    the decision rule (subclasses say how the arms' data become an estimate).

    At each :meth:`decide`, once both arms have ``min_samples`` observations,
    the estimate ``theta`` (candidate minus baseline) and its variance ``V``
    give the one-sided mixture likelihood ratio in the harmful direction (a
    larger value, or a smaller one with ``worse="lower"``), and the always-valid
    p-value ``p = min over looks of 1 / Lambda``:

    * ``rollback`` when ``p <= alpha`` (reason ``"worse"``);
    * else ``promote`` when ``promote_early`` and the one-sided test in the
      other direction has ``p_better <= alpha`` (reason ``"better"``);
    * else ``promote`` when the candidate has ``max_samples`` observations
      (reason ``"max_samples"``: no harm shown over the planned sample);
    * else ``continue``.

    A rollback or promotion is final: later looks return the same decision
    (:meth:`reset` starts over). The mixture is over effects in units of one
    observation's standard deviation (``mixture_variance`` is tau^2 there).
    Updates and looks are serialised by a lock: one test may be fed from
    several threads.
    """

    _owner = "SequentialTest"

    def __init__(self, config: AnalysisConfig | None = None, *, worse: str = "higher"):
        if getattr(self, "_lock", None) is not None:
            raise _already_initialised(self)
        if config is None:
            config = AnalysisConfig()
        self.config = check_type(config, "config", self._owner, AnalysisConfig,
                                 "an AnalysisConfig")
        self.worse = check_choice(worse, "worse", self._owner, ("higher", "lower"))
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._looks = 0
        self._p = 1.0
        self._p_better = 1.0
        self._final: Decision | None = None
        self._reset_data()

    def reset(self) -> None:
        """Forget every observation, look and decision."""
        with self._lock:
            self._reset()

    # -- subclasses
    def _reset_data(self) -> None:
        raise NotImplementedError

    def _sizes(self) -> tuple[int, int]:
        raise NotImplementedError

    def _estimate(self) -> tuple[float, float, float]:
        """(theta, V, sigma2): the estimate, its variance, one observation's variance."""
        raise NotImplementedError

    # -- looks
    @property
    def looks(self) -> int:
        """How many times :meth:`decide` was called."""
        return self._looks

    @property
    def p_value(self) -> float:
        """The always-valid p-value of "the candidate is worse" so far."""
        return self._p

    @property
    def p_value_better(self) -> float:
        """The always-valid p-value of "the candidate is better" so far."""
        return self._p_better

    @property
    def decision(self) -> Decision | None:
        """The final decision, once there is one."""
        return self._final

    def decide(self) -> Decision:
        """Look at the data so far and decide: continue, rollback or promote.

        Returns
        -------
        Decision
            With the statistics that decided it; once final, the same decision
            at every later look.
        """
        with self._lock:
            if self._final is not None:
                return self._final
            self._looks += 1
            cfg = self.config
            nb, nc = self._sizes()
            if min(nb, nc) < cfg.min_samples:
                return self._decision("continue", "min_samples", math.nan, math.nan)
            theta, var, sigma2 = self._estimate()
            tau2 = cfg.mixture_variance * sigma2
            harm = 1 if self.worse == "higher" else -1
            log_lr = mixture_log_likelihood_ratio(theta, var, tau2, harm)
            log_lr_better = mixture_log_likelihood_ratio(theta, var, tau2, -harm)
            self._p = min(self._p, math.exp(-log_lr) if log_lr > 0.0 else 1.0)
            self._p_better = min(self._p_better,
                                 math.exp(-log_lr_better) if log_lr_better > 0.0 else 1.0)
            se = math.sqrt(var) if var >= 0.0 else math.nan
            if self._p <= cfg.alpha:
                return self._decision("rollback", "worse", theta, se)
            if cfg.promote_early and self._p_better <= cfg.alpha:
                return self._decision("promote", "better", theta, se)
            if nc >= cfg.max_samples:
                return self._decision("promote", "max_samples", theta, se)
            return self._decision("continue", "no_evidence", theta, se)

    def _decision(self, action: str, reason: str, theta: float, se: float) -> Decision:
        nb, nc = self._sizes()
        d = Decision(action, reason, self._p, self._p_better, theta, se, nb, nc, self._looks,
                     self.config.alpha)
        if action != "continue":
            self._final = d
        return d

    # -- state
    def to_dict(self) -> dict[str, Any]:
        """The test's state (data, looks, p-values, decision) as plain values, so a
        restarted process or another replica resumes it (:meth:`from_dict`)."""
        with self._lock:
            return {"kind": type(self).__name__, "worse": self.worse,
                    "config": self.config.to_dict(), "looks": self._looks, "p_value": self._p,
                    "p_value_better": self._p_better,
                    "decision": None if self._final is None else self._final.to_dict(),
                    "data": self._data()}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> SequentialTest:
        """A test resumed from :meth:`to_dict`'s output.

        Raises
        ------
        TypeError
            ``state`` is not a mapping.
        InvalidArgument
            ``state`` is of another kind of test or malformed.
        """
        owner = f"{cls.__name__}.from_dict"
        if not isinstance(state, Mapping):
            raise type_error(owner, "state", state, "a mapping")
        if state.get("kind") != cls.__name__:
            raise invalid(owner, "state", state.get("kind"), f"must be a {cls.__name__}'s state")
        try:
            test = cls(AnalysisConfig(**state["config"]), worse=state["worse"])
            looks = check_int(state["looks"], "looks", owner, low=0)
            p = check_real(state["p_value"], "p_value", owner, "probability")
            pb = check_real(state["p_value_better"], "p_value_better", owner, "probability")
            test._load(state["data"], owner)
            decision = state["decision"]
            final = None if decision is None else Decision(**decision)
        except KeyError as e:
            raise invalid(owner, "state", str(e), "misses a field") from None
        test._looks, test._p, test._p_better, test._final = looks, p, pb, final
        return test

    def _data(self) -> dict[str, Any]:
        raise NotImplementedError

    def _load(self, data: Mapping[str, Any], owner: str) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        nb, nc = self._sizes()
        action = None if self._final is None else self._final.action
        return (f"{type(self).__name__}(n_baseline={nb}, n_candidate={nc}, looks={self._looks}, "
                f"p_value={self._p:.4g}, decision={action!r})")


def _arm(arm: Any, owner: str) -> int:
    return ARMS.index(check_choice(arm, "arm", owner, ARMS))


class SequentialMeanTest(SequentialTest):
    """Sequential test of a difference of means: log latency, a model's
    log-likelihood, an output's mean.

    The estimate is the candidate's mean minus the baseline's, with variance
    ``s_b^2 / n_b + s_c^2 / n_c`` from the arms' sample variances (plugged in)
    or from a known ``variance`` of one observation; the mixture's scale is the
    pooled variance (or the known one).

    Parameters
    ----------
    config : AnalysisConfig, optional
        alpha, mixture variance, minimum and maximum samples.
    worse : {"higher", "lower"}
        Which direction is harmful: ``"higher"`` for latency, ``"lower"`` for
        a log-likelihood or a quality score.
    variance : float, optional
        The known variance of one observation (both arms); plugged in from the
        data when not given.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> test = SequentialMeanTest(AnalysisConfig(min_samples=100))
    >>> for _ in range(40):        # every 100 requests: log latencies of both arms
    ...     test.update("baseline", np.log(rng.lognormal(-4.0, 0.5, 50)))
    ...     test.update("candidate", np.log(rng.lognormal(-4.0 + np.log(1.2), 0.5, 50)))
    ...     decision = test.decide()
    ...     if decision.final:
    ...         break
    >>> decision.action, decision.reason
    ('rollback', 'worse')
    """

    _owner = "SequentialMeanTest"

    def __init__(self, config: AnalysisConfig | None = None, *, worse: str = "higher",
                 variance: float | None = None):
        super().__init__(config, worse=worse)
        self.variance = None if variance is None else check_real(
            variance, "variance", self._owner, "positive")

    def _reset_data(self) -> None:
        # per arm: n, mean, sum of squared deviations (Welford / Chan et al.)
        self._n = [0, 0]
        self._mean = [0.0, 0.0]
        self._m2 = [0.0, 0.0]

    def _merge(self, i: int, n: int, mean: float, m2: float) -> None:
        if n == 0:
            return
        n0 = self._n[i]
        total = n0 + n
        delta = mean - self._mean[i]
        self._mean[i] += delta * n / total
        self._m2[i] += m2 + delta * delta * n0 * n / total
        self._n[i] = total

    def update(self, arm: str, values: Any) -> None:
        """Add observations of one arm.

        Parameters
        ----------
        arm : {"baseline", "candidate"}
        values : float or array_like
            Finite observations (e.g. log latencies).

        Raises
        ------
        TypeError
            ``values`` are not real numbers.
        InvalidArgument
            An unknown arm, a non-finite value.
        """
        owner = f"{self._owner}.update"
        i = _arm(arm, owner)
        x = _sample(values, "values", owner)
        if x.size == 0:
            return
        mean = float(x.mean())
        m2 = float(((x - mean) ** 2).sum())
        with self._lock:
            self._merge(i, x.size, mean, m2)

    def update_stats(self, arm: str, n: int, mean: float, var: float) -> None:
        """Add a batch of one arm's observations given by its summary statistics.

        Parameters
        ----------
        arm : {"baseline", "candidate"}
        n : int
            Observations in the batch, >= 0.
        mean : float
            Their mean.
        var : float
            Their sample variance (ddof 1; ignored when ``n < 2``), >= 0.

        Raises
        ------
        TypeError
            An argument of the wrong type.
        InvalidArgument
            An unknown arm, a negative ``n``, a mean or variance not finite, a
            negative variance.
        """
        owner = f"{self._owner}.update_stats"
        i = _arm(arm, owner)
        n = check_int(n, "n", owner, low=0)
        mean = check_real(mean, "mean", owner)
        var = check_real(var, "var", owner, "non_negative")
        with self._lock:
            self._merge(i, n, mean, var * (n - 1) if n > 1 else 0.0)

    def _sizes(self) -> tuple[int, int]:
        return self._n[0], self._n[1]

    def _estimate(self) -> tuple[float, float, float]:
        nb, nc = self._n
        theta = self._mean[1] - self._mean[0]
        if self.variance is not None:
            return theta, self.variance * (1.0 / nb + 1.0 / nc), self.variance
        vb = self._m2[0] / (nb - 1)
        vc = self._m2[1] / (nc - 1)
        pooled = (self._m2[0] + self._m2[1]) / (nb + nc - 2)
        return theta, vb / nb + vc / nc, pooled

    def stats(self, arm: str) -> tuple[int, float, float]:
        """``(n, mean, variance)`` of one arm so far (variance with ddof 1; NaN below 2)."""
        i = _arm(arm, f"{self._owner}.stats")
        with self._lock:
            n = self._n[i]
            return (n, self._mean[i] if n else math.nan,
                    self._m2[i] / (n - 1) if n > 1 else math.nan)

    def _data(self) -> dict[str, Any]:
        return {"n": list(self._n), "mean": list(self._mean), "m2": list(self._m2),
                "variance": self.variance}

    def _load(self, data: Mapping[str, Any], owner: str) -> None:
        for i in range(2):
            self._n[i] = check_int(data["n"][i], "n", owner, low=0)
            self._mean[i] = check_real(data["mean"][i], "mean", owner)
            self._m2[i] = check_real(data["m2"][i], "m2", owner, "non_negative")
        v = data.get("variance")
        self.variance = None if v is None else check_real(v, "variance", owner, "positive")


class SequentialProportionTest(SequentialTest):
    """Sequential test of a difference of proportions: the error rate.

    The estimate is the candidate's rate minus the baseline's, with the
    pooled variance ``p (1 - p) (1/n_b + 1/n_c)`` (the variance when the
    rates are equal, as the two-proportion z test uses) and the mixture's
    scale ``p (1 - p)``: the normal approximation, good once each arm has
    seen a few events.

    Parameters
    ----------
    config : AnalysisConfig, optional
        alpha, mixture variance, minimum and maximum samples.
    worse : {"higher", "lower"}
        ``"higher"`` for an error rate (the default); ``"lower"`` for a success rate.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> test = SequentialProportionTest()
    >>> for look in range(1, 401):       # every 100 requests, half to each arm
    ...     test.update("baseline", rng.binomial(50, 0.01), 50)
    ...     test.update("candidate", rng.binomial(50, 0.02), 50)
    ...     if test.decide().final:
    ...         break
    >>> test.decision.action, test.decision.reason
    ('rollback', 'worse')
    """

    _owner = "SequentialProportionTest"

    def _reset_data(self) -> None:
        self._events = [0, 0]
        self._n = [0, 0]

    def update(self, arm: str, events: int, n: int) -> None:
        """Add a batch of one arm's requests: ``events`` of ``n`` failed.

        Parameters
        ----------
        arm : {"baseline", "candidate"}
        events : int
            0 <= events <= n.
        n : int
            Requests in the batch, >= 0.

        Raises
        ------
        TypeError
            A count is not an integer.
        InvalidArgument
            An unknown arm, a negative count, more events than requests.
        """
        owner = f"{self._owner}.update"
        i = _arm(arm, owner)
        n = check_int(n, "n", owner, low=0)
        events = check_int(events, "events", owner, low=0)
        if events > n:
            raise invalid(owner, "events", events, f"must not exceed n ({n})")
        with self._lock:
            self._events[i] += events
            self._n[i] += n

    def _sizes(self) -> tuple[int, int]:
        return self._n[0], self._n[1]

    def _estimate(self) -> tuple[float, float, float]:
        nb, nc = self._n
        eb, ec = self._events
        p = (eb + ec) / (nb + nc)
        sigma2 = p * (1.0 - p)
        return ec / nc - eb / nb, sigma2 * (1.0 / nb + 1.0 / nc), sigma2

    def counts(self, arm: str) -> tuple[int, int]:
        """``(events, n)`` of one arm so far."""
        i = _arm(arm, f"{self._owner}.counts")
        with self._lock:
            return self._events[i], self._n[i]

    def _data(self) -> dict[str, Any]:
        return {"events": list(self._events), "n": list(self._n)}

    def _load(self, data: Mapping[str, Any], owner: str) -> None:
        for i in range(2):
            n = check_int(data["n"][i], "n", owner, low=0)
            e = check_int(data["events"][i], "events", owner, low=0)
            if e > n:
                raise invalid(owner, "events", e, f"must not exceed n ({n})")
            self._n[i], self._events[i] = n, e
