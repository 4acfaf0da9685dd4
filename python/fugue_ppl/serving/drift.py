"""Model-quality and drift monitoring: :class:`DriftMonitor` charts each served request's
log predictive density and posterior summaries, and reports drift to health checks,
Prometheus and a rollout's rollback guard.

Why: a model can keep answering fast and without errors while the world it describes
moves on (a sensor recalibrated, a population shifted). The breaker, the error rate and
the latency never see that; the *log predictive density* of what each request observes
does: when the observations stop looking like what the model predicts, it falls. This
module watches it with the statistical monitors of :mod:`fugue_ppl.monitoring`:

* an EWMA chart and a two-sided CUSUM on the per-request log predictive density (the
  trace's log-likelihood of its observations; for an importance-sampling result, its
  log evidence);
* a Shewhart chart per chosen site on its posterior mean (or, for a single trace, its
  value);
* the effective sample size of importance-sampling results, summarised.

The charts first *warm up*: the first ``warmup`` requests give the in-control
baseline; no alarm is raised before. An alarm within the last ``window`` requests makes
the monitor :attr:`~DriftMonitor.drifting`, which a registered health check reports at
the inference level (:meth:`DriftMonitor.register_health`), Prometheus exports
(:class:`DriftCollector`: ``fugue_model_log_predictive_density``,
``fugue_drift_alarms_total{chart}``) and a rollout's
:class:`~fugue_ppl.deploy.guards.RollbackGuard` takes as a rollback trigger
(:meth:`DriftMonitor.rollback_trigger`).

Examples
--------
>>> import numpy as np
>>> monitor = DriftMonitor(DriftSettings(warmup=50, window=20), model="sensor", version="1")
>>> rng = np.random.default_rng(0)
>>> for y in rng.normal(0.0, 1.0, 300):
...     _ = monitor.observe_values(-0.92 - 0.5 * y * y)
>>> monitor.drifting, monitor.alarms
(False, {'ewma': 0, 'cusum': 0})
>>> for y in rng.normal(4.0, 1.0, 20):          # the observations moved by 4 sd
...     _ = monitor.observe_values(-0.92 - 0.5 * y * y)
>>> monitor.drifting
True
"""

from __future__ import annotations

import bisect
import math
import numbers
import threading
from collections.abc import Iterable, Mapping
from statistics import NormalDist
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fugue_ppl.checks import (
    Bounded,
    Choice,
    Custom,
    Int,
    Real,
    Settings,
    check_site_names,
    check_type,
    invalid,
    setting,
    settings,
    type_error,
)
from fugue_ppl.inference import ImportanceResult, Posterior
from fugue_ppl.monitoring import CUSUM, EWMA, WESTERN_ELECTRIC_RULES, ShewhartChart
from fugue_ppl.serving._runner import InferenceResult, ModelRunner
from fugue_ppl.serving.health.status import CheckResult, HealthStatus

__all__ = ["DriftCollector", "DriftMonitor", "DriftSettings"]

_OWNER = "DriftMonitor"
_NORMAL = NormalDist()
_OBSERVE_VALUES = f"{_OWNER}.observe_values"


def _rules(value: Any, name: str, owner: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Iterable):
        raise type_error(owner, name, value, "a sequence of Western Electric rule names")
    out = tuple(value)
    if not out:
        raise invalid(owner, name, out, "must name at least one rule")
    for r in out:
        if r not in WESTERN_ELECTRIC_RULES:
            raise invalid(owner, name, r,
                          f"must be among {', '.join(WESTERN_ELECTRIC_RULES)}")
    return out


@settings
class DriftSettings(Settings):
    """The settings of a :class:`DriftMonitor`: validated and immutable.

    The defaults were chosen by simulation for a log predictive density
    distributed as ``c - chi2(1) / 2`` (a normal observation under a normal
    predictive: the skewed case), 100 streams of 5000 requests after the
    warm-up: about 7% of the streams see one EWMA false alarm and 2% one
    CUSUM false alarm, while a shift of the observations by 3 sd is detected
    within 9 requests. The LPD charts run on normal scores (see
    :class:`DriftMonitor`), so these figures hold for any continuous LPD.

    Raises
    ------
    TypeError
        A setting of the wrong type, or unknown.
    InvalidArgument
        A setting out of range (the message names it).

    Examples
    --------
    >>> DriftSettings(warmup=100).warmup
    100
    >>> DriftSettings(ewma_lambda=0.0)
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.InvalidArgument: DriftSettings: ewma_lambda must be in (0, 1], got 0.0
    """

    warmup: int = setting(
        500, check=Int(2),
        doc="Requests that estimate the in-control baseline before any chart can alarm.")
    window: int = setting(
        500, check=Int(1),
        doc="Requests after an alarm during which the monitor stays drifting.")
    ewma_lambda: float = setting(0.1, check=Real("unit"),
                                 doc="Weight of the newest request in the EWMA.")
    ewma_L: float = setting(4.2, check=Real("positive"),
                            doc="Width of the EWMA's limits, in sd of the EWMA.")
    cusum_k: float = setting(0.75, check=Bounded(0.0),
                             doc="The CUSUM's allowance, in sd of one request.")
    cusum_h: float = setting(8.0, check=Real("positive"),
                             doc="The CUSUM's decision interval, in sd of one request.")
    sites: tuple[str, ...] = setting(
        (), check=Custom(check_site_names, "distinct site names"),
        doc="Sites whose posterior mean gets a Shewhart chart.")
    shewhart_L: float = setting(
        4.5, check=Real("positive"),
        doc="Where the Shewhart charts' outer limits sit, in sd of the warm-up's means (the "
            "Western Electric zones scale with them).")
    shewhart_rules: tuple[str, ...] = setting(
        ("WE1",), check=Custom(_rules, "Western Electric rule names"),
        doc="The Western Electric rules of the Shewhart charts.")
    status: str = setting(
        "degraded", check=Choice(("degraded", "unhealthy")),
        doc="The health check's status while drifting.")


class _Site:
    """The warm-up values, then the Shewhart chart, of one site's posterior mean."""

    __slots__ = ("chart", "last", "mean", "sd", "skipped", "warm")

    def __init__(self) -> None:
        self.warm: list[float] = []
        self.chart: ShewhartChart | None = None
        self.mean = self.sd = math.nan
        self.last = math.nan
        self.skipped = 0


class DriftMonitor:
    """Charts of the per-request log predictive density and posterior means.

    Each request is fed with :meth:`observe` (an
    :class:`~fugue_ppl.serving.InferenceResult` or an
    :class:`~fugue_ppl.inference.ImportanceResult`) or :meth:`observe_values`.

    *The log predictive density (LPD).* For a runner's result it is the
    trace's log-likelihood of its observations; for an importance-sampling
    result its log evidence (the log predictive density of the observations
    under the prior predictive). It is skewed (a normal observation gives
    ``c - chi2(1) / 2``), so the LPD charts do not run on it directly: each
    request's LPD becomes its *normal score* against the warm-up's values,
    ``Phi^-1((rank + 1/2) / (warmup + 1))`` (mid-ranks for ties), which is
    close to standard normal in control whatever the LPD's distribution. An
    EWMA (``ewma_lambda``, ``ewma_L``) and a two-sided CUSUM (``cusum_k``,
    ``cusum_h``) chart the scores with a known baseline (0, 1) and restart
    after each alarm. An LPD below every warm-up value scores about -3.1
    (with 500 warm-up requests), so a shifted stream is caught within a few
    requests. The exported value (:attr:`log_predictive_density`) is an
    EWMA of the LPD itself, in nats.

    *Posterior means.* For each of ``sites``: the site's weighted posterior
    mean (importance sampling) or its value in the trace (a runner's result:
    one draw, from the prior or a posterior as the runner's handler
    decides). A Shewhart chart with the warm-up's mean and sd, limits at
    ``shewhart_L`` sd and ``shewhart_rules``, watches it.

    *ESS.* Importance-sampling results' effective sample sizes are
    summarised in :meth:`state` (count, mean, min, last).

    *Skipped requests.* A result that is not ``ok`` (fallback, timeout,
    rejected, ...) has no model LPD and is skipped, counted by its status; a
    NaN or infinite LPD is counted (``non_finite_lpd``) and skipped, so the
    charts never see it; a site's non-finite or missing mean is counted
    under the site and skipped for that site only.

    Parameters
    ----------
    settings : DriftSettings, optional
        Default ``DriftSettings()``.
    model : str, default "default"
        The model's name (the ``model`` label of the metrics, the health
        check's component id).
    version : str, optional
        The model's version (the ``version`` label).
    **overrides
        Any :class:`DriftSettings` field, overriding ``settings``.

    Raises
    ------
    TypeError
        ``settings`` is not a DriftSettings, ``model`` or ``version`` not a
        str; an unknown setting.
    InvalidArgument
        A setting out of range (naming it).

    Notes
    -----
    Thread-safe: one lock guards the charts; concurrent :meth:`observe` calls
    are applied one at a time (a few microseconds each), and :meth:`state`,
    the health check and the metrics read one consistent snapshot.
    """

    def __init__(self, settings: DriftSettings | None = None, *, model: str = "default",
                 version: str | None = None, **overrides: Any) -> None:
        if settings is None:
            settings = DriftSettings(**overrides)
        else:
            check_type(settings, "settings", _OWNER, DriftSettings, "a DriftSettings")
            if overrides:
                settings = settings.replace(**overrides)
        check_type(model, "model", _OWNER, str, "a str")
        if version is not None:
            check_type(version, "version", _OWNER, str, "a str or None")
        self.settings = settings
        self.model = model
        self.version = version
        self._lock = threading.Lock()
        self._reset()

    @classmethod
    def for_runner(cls, runner: ModelRunner, settings: DriftSettings | None = None,
                   **overrides: Any) -> DriftMonitor:
        """A monitor named after ``runner``'s model and version.

        Raises
        ------
        TypeError
            ``runner`` is not a ModelRunner.
        """
        check_type(runner, "runner", f"{_OWNER}.for_runner", ModelRunner, "a ModelRunner")
        version = None if runner.version is None else str(runner.version)
        return cls(settings, model=runner.config.model.name, version=version, **overrides)

    # ------------------------------------------------------------ state

    def _reset(self) -> None:
        s = self.settings
        self._requests = 0                        # requests fed to the LPD charts
        self._skipped: dict[str, int] = {}
        self._warm: list[float] = []              # the warm-up's LPDs, sorted once done
        self._ref: list[float] | None = None
        self._base_mean = self._base_sd = math.nan
        self._ewma_lpd = math.nan
        self._last_lpd = math.nan
        self._ewma: EWMA | None = None
        self._cusum: CUSUM | None = None
        self._sites = {name: _Site() for name in s.sites}
        self._alarms: dict[str, int] = {"ewma": 0, "cusum": 0}
        self._alarms.update({f"shewhart:{name}": 0 for name in s.sites})
        self._last_alarm: int | None = None       # the request index of the latest alarm
        self._last_charts: tuple[str, ...] = ()
        self._ess_n = 0
        self._ess_sum = 0.0
        self._ess_min = math.inf
        self._ess_last = math.nan

    def reset(self) -> None:
        """Forget everything: the next ``warmup`` requests give a new baseline.

        After a drift has been examined (the new regime accepted, or a new
        version deployed), this makes the monitor healthy again.
        """
        with self._lock:
            self._reset()

    @property
    def alarms(self) -> dict[str, int]:
        """Alarms raised per chart: ``"ewma"``, ``"cusum"``, ``"shewhart:<site>"``."""
        with self._lock:
            return dict(self._alarms)

    @property
    def drifting(self) -> bool:
        """True when a chart alarmed on one of the last ``window`` requests."""
        with self._lock:
            return self._drifting()

    def _drifting(self) -> bool:
        return (self._last_alarm is not None
                and self._requests - self._last_alarm <= self.settings.window)

    @property
    def warming_up(self) -> bool:
        """True until the LPD's warm-up is done."""
        with self._lock:
            return self._ref is None

    @property
    def log_predictive_density(self) -> float:
        """An EWMA (``ewma_lambda``) of the per-request LPD in nats: the warm-up's mean
        at the end of the warm-up, the running mean before (NaN before any request)."""
        with self._lock:
            return self._ewma_lpd

    def state(self) -> dict[str, Any]:
        """Everything the monitor knows, as plain values (one consistent snapshot).

        Returns
        -------
        dict
            ``model``, ``version``, ``requests`` (fed), ``skipped`` (by reason),
            ``warming_up``, ``drifting``, ``alarms`` (per chart),
            ``last_alarm`` (request index or None), ``last_alarm_charts``,
            ``lpd`` (``last``, ``ewma``, ``baseline_mean``, ``baseline_sd``,
            ``score_ewma``, ``score_lcl``, ``score_ucl``, ``cusum_upper``,
            ``cusum_lower``), ``ess`` (``count``, ``mean``, ``min``,
            ``last``) and ``sites`` (per site: ``last``, ``baseline_mean``,
            ``baseline_sd``, ``lcl``, ``ucl``, ``count``, ``skipped``).
        """
        with self._lock:
            e, c = self._ewma, self._cusum
            lpd = {"last": self._last_lpd, "ewma": self._ewma_lpd,
                   "baseline_mean": self._base_mean, "baseline_sd": self._base_sd,
                   "score_ewma": e.value if e else math.nan,
                   "score_lcl": e.lcl if e else math.nan,
                   "score_ucl": e.ucl if e else math.nan,
                   "cusum_upper": c.upper if c else math.nan,
                   "cusum_lower": c.lower if c else math.nan}
            sites = {}
            for name, st in self._sites.items():
                ch = st.chart
                sites[name] = {"last": st.last, "baseline_mean": st.mean, "baseline_sd": st.sd,
                               "lcl": ch.lcl if ch else math.nan,
                               "ucl": ch.ucl if ch else math.nan,
                               "count": ch.count if ch else len(st.warm),
                               "skipped": st.skipped}
            return {
                "model": self.model, "version": self.version, "requests": self._requests,
                "skipped": dict(self._skipped), "warming_up": self._ref is None,
                "warmup": self.settings.warmup, "window": self.settings.window,
                "drifting": self._drifting(), "alarms": dict(self._alarms),
                "last_alarm": self._last_alarm, "last_alarm_charts": list(self._last_charts),
                "lpd": lpd,
                "ess": {"count": self._ess_n,
                        "mean": self._ess_sum / self._ess_n if self._ess_n else math.nan,
                        "min": self._ess_min if self._ess_n else math.nan,
                        "last": self._ess_last},
                "sites": sites,
            }

    # ------------------------------------------------------------ feeding

    def observe(self, result: InferenceResult | Posterior) -> tuple[str, ...]:
        """Feed one served request's result.

        Parameters
        ----------
        result : InferenceResult or Posterior
            A runner's result (its trace's log-likelihood, and the chosen
            sites' values) or a posterior, also as the value of a runner
            serving ``inference=`` (its log evidence, ESS and posterior
            means; an MCMC posterior, which estimates no evidence, feeds the
            means only). A runner's result that is not ``ok`` is counted
            under ``"status:<status>"`` and skipped.

        Returns
        -------
        tuple of str
            The charts that alarmed on this request (empty: none, or skipped).

        Raises
        ------
        TypeError
            ``result`` is neither.
        """
        if isinstance(result, InferenceResult):
            if result.status != "ok":
                with self._lock:
                    self._skip(f"status:{result.status}")
                return ()
            if isinstance(result.value, Posterior):   # (a runner with inference=)
                result = result.value
        if isinstance(result, ImportanceResult):
            means = {name: result.particles.mean(name) for name in self.settings.sites
                     if name in result.particles}
            return self.observe_values(result.log_evidence, ess=result.ess, means=means)
        if isinstance(result, Posterior):
            # (MCMC estimates no evidence: its requests feed the means' charts only)
            means = {name: result.sites[name].mean for name in self.settings.sites
                     if name in result.sites}
            lpd = None if math.isnan(result.log_evidence) else result.log_evidence
            return self.observe_values(lpd, ess=result.ess, means=means)
        if isinstance(result, InferenceResult):
            trace = result.trace
            if trace is None:
                with self._lock:
                    self._skip(f"status:{result.status}")
                return ()
            means = {name: trace[name] for name in self.settings.sites if name in trace}
            return self.observe_values(trace.log_likelihood, means=means)
        raise type_error(f"{_OWNER}.observe", "result", result,
                         "an InferenceResult or a Posterior")

    def observe_values(self, log_predictive_density: float | None, ess: float | None = None,
                       means: Mapping[str, float] | None = None) -> tuple[str, ...]:
        """Feed one request's figures.

        Parameters
        ----------
        log_predictive_density : float or None
            The log predictive density of the request's observations. NaN or
            infinite: counted (``skipped["non_finite_lpd"]``) and skipped
            (with its ESS and means). None: the request has none (an MCMC
            posterior); its ESS and means are still charted.
        ess : float, optional
            Its effective sample size (>= 0; a NaN one is not summarised).
        means : mapping of str to float, optional
            Posterior means by site; sites not in ``settings.sites`` are
            ignored, missing or non-finite ones counted under the site.

        Returns
        -------
        tuple of str
            The charts that alarmed on this request.

        Raises
        ------
        TypeError
            An argument is not a number (a bool is refused) or ``means`` not a
            mapping; nothing is recorded.
        InvalidArgument
            ``ess`` is negative; nothing is recorded.
        """
        owner = _OBSERVE_VALUES
        lpd = (None if log_predictive_density is None
               else _real(log_predictive_density, "log_predictive_density", owner))
        if ess is not None:
            ess = _real(ess, "ess", owner)
            if ess < 0:
                raise invalid(owner, "ess", ess, "must be >= 0")
        values: dict[str, float | None] = {}
        if means is not None:
            if not isinstance(means, Mapping):
                raise type_error(owner, "means", means, "a mapping of site name to mean")
            for name in self.settings.sites:
                if name in means:
                    values[name] = _real(means[name], f"means[{name!r}]", owner)
        with self._lock:
            if lpd is not None and not math.isfinite(lpd):
                self._skip("non_finite_lpd")
                return ()
            alarmed = [] if lpd is None else list(self._feed_lpd(lpd))
            if ess is not None and math.isfinite(ess):
                self._ess_n += 1
                self._ess_sum += ess
                self._ess_min = min(self._ess_min, ess)
                self._ess_last = ess
            for name, st in self._sites.items():
                if self._feed_site(st, values.get(name)):
                    alarmed.append(f"shewhart:{name}")
            self._requests += 1
            if alarmed:
                self._last_alarm = self._requests - 1
                self._last_charts = tuple(alarmed)
                for chart in alarmed:
                    self._alarms[chart] += 1
            return tuple(alarmed)

    def _skip(self, reason: str) -> None:
        self._skipped[reason] = self._skipped.get(reason, 0) + 1

    def _feed_lpd(self, x: float) -> Iterable[str]:
        s = self.settings
        self._last_lpd = x
        if self._ref is None:
            self._warm.append(x)
            n = len(self._warm)
            self._ewma_lpd = x if n == 1 else self._ewma_lpd + (x - self._ewma_lpd) / n
            if n >= s.warmup:
                self._ref = sorted(self._warm)
                self._warm = []
                self._base_mean = math.fsum(self._ref) / n
                self._base_sd = math.sqrt(math.fsum((v - self._base_mean) ** 2
                                                    for v in self._ref) / (n - 1))
                self._ewma_lpd = self._base_mean
                self._ewma = EWMA(s.ewma_lambda, s.ewma_L, mu0=0.0, sigma=1.0,
                                  reset_on_alarm=True)
                self._cusum = CUSUM(s.cusum_k, s.cusum_h, mu0=0.0, sigma=1.0,
                                    reset_on_alarm=True)
            return ()
        self._ewma_lpd += s.ewma_lambda * (x - self._ewma_lpd)
        ref = self._ref
        lo, hi = bisect.bisect_left(ref, x), bisect.bisect_right(ref, x)
        z = _NORMAL.inv_cdf((lo + 0.5 * (hi - lo) + 0.5) / (len(ref) + 1))
        out = []
        if self._ewma.update(z).alarm:
            out.append("ewma")
        if self._cusum.update(z).alarm:
            out.append("cusum")
        return out

    def _feed_site(self, st: _Site, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            st.skipped += 1
            return False
        st.last = value
        if st.chart is None:
            st.warm.append(value)
            n = len(st.warm)
            if n >= self.settings.warmup:
                mean = math.fsum(st.warm) / n
                sd = math.sqrt(math.fsum((v - mean) ** 2 for v in st.warm) / (n - 1))
                if sd > 0:          # (no spread yet: the warm-up goes on)
                    st.mean, st.sd, st.warm = mean, sd, []
                    s = self.settings
                    st.chart = ShewhartChart(mu0=mean, sigma=sd * s.shewhart_L / 3.0,
                                             rules=s.shewhart_rules)
            return False
        return st.chart.update(value).alarm

    # ------------------------------------------------------------ consumers

    def health_check(self) -> CheckResult:
        """The health check's result: ``settings.status`` ("model drift") while
        :attr:`drifting`, else healthy; the statistics in the output, the LPD's
        EWMA as the observed value (nats)."""
        st = self.state()
        lpd = st["lpd"]
        value = lpd["ewma"] if math.isfinite(lpd["ewma"]) else None
        if st["warming_up"]:
            return CheckResult.healthy(
                f"drift monitor warming up: {st['requests']} of {st['warmup']} requests",
                observed_value=value, observed_unit="nats")
        where = (f"log predictive density EWMA {lpd['ewma']:.4g} vs baseline "
                 f"{lpd['baseline_mean']:.4g} (sd {lpd['baseline_sd']:.3g}) over "
                 f"{st['requests']} requests")
        if st["drifting"]:
            charts = ", ".join(f"{k} {v}" for k, v in st["alarms"].items() if v)
            since = st["requests"] - 1 - st["last_alarm"]
            return CheckResult(
                HealthStatus.parse(self.settings.status), observed_value=value,
                observed_unit="nats",
                output=f"model drift: alarms ({charts}), the latest {since} request(s) ago "
                       f"on {', '.join(st['last_alarm_charts'])}; {where}")
        return CheckResult.healthy(f"no drift: {where}", observed_value=value,
                                   observed_unit="nats")

    def register_health(self, checker: Any, name: str = "model_drift", *,
                        weight: float = 2.0) -> None:
        """Register :meth:`health_check` with a
        :class:`~fugue_ppl.serving.health.HealthChecker` at the inference level
        (health+json key ``model:drift``).

        With the default weights (error rate 4, latency 2, monitor alarms 1)
        a drifting model makes the inference level degraded (score 0.889,
        below ``inference_healthy``), which raises its alert.

        Raises
        ------
        TypeError, ValueError
            As :meth:`HealthChecker.register` (e.g. ``name`` taken).
        """
        checker.register(name, self.health_check, weight=weight, component="model",
                         measurement="drift", component_id=self.model, level="inference")

    def rollback_trigger(self) -> dict[str, Any] | None:
        """A rollback trigger for :meth:`RollbackGuard.add_trigger
        <fugue_ppl.deploy.guards.RollbackGuard.add_trigger>`: while drifting,
        ``{"trigger": "drift", ...}`` with the alarms and the LPD; else None."""
        st = self.state()
        if not st["drifting"]:
            return None
        return {"trigger": "drift", "model": st["model"], "version": st["version"],
                "alarms": st["alarms"], "last_alarm": st["last_alarm"],
                "last_alarm_charts": st["last_alarm_charts"], "requests": st["requests"],
                "lpd_ewma": st["lpd"]["ewma"], "lpd_baseline": st["lpd"]["baseline_mean"]}

    def prometheus_families(self, prefix: str) -> Iterable[Metric]:
        """The monitor's metric families (see :class:`DriftCollector`), labelled
        ``model`` and ``version``."""
        st = self.state()
        labels = [self.model, self.version or ""]
        names = ["model", "version"]
        p = prefix
        lpd = GaugeMetricFamily(
            f"{p}_model_log_predictive_density",
            "EWMA of the per-request log predictive density of the observations (nats).",
            labels=names)
        lpd.add_metric(labels, st["lpd"]["ewma"])
        yield lpd
        base = GaugeMetricFamily(
            f"{p}_model_log_predictive_density_baseline",
            "In-control mean of the log predictive density, from the warm-up (NaN before).",
            labels=names)
        base.add_metric(labels, st["lpd"]["baseline_mean"])
        yield base
        alarms = CounterMetricFamily(f"{p}_drift_alarms", "Drift alarms, by chart.",
                                     labels=[*names, "chart"])
        for chart, n in st["alarms"].items():
            alarms.add_metric([*labels, chart], n)
        yield alarms
        drifting = GaugeMetricFamily(f"{p}_drift_drifting",
                                     "1 while a drift chart alarmed within the window.",
                                     labels=names)
        drifting.add_metric(labels, 1.0 if st["drifting"] else 0.0)
        yield drifting
        fed = CounterMetricFamily(f"{p}_drift_requests",
                                  "Requests fed to the drift charts.", labels=names)
        fed.add_metric(labels, st["requests"])
        yield fed
        skipped = CounterMetricFamily(f"{p}_drift_skipped_requests",
                                      "Requests the drift charts skipped, by reason.",
                                      labels=[*names, "reason"])
        for reason, n in sorted(st["skipped"].items()):
            skipped.add_metric([*labels, reason], n)
        yield skipped

    def __repr__(self) -> str:
        return (f"DriftMonitor(model={self.model!r}, version={self.version!r}, "
                f"drifting={self.drifting})")


def _real(value: Any, name: str, owner: str) -> float:
    if type(value) is float:            # (the common case, before the ABC's slower check)
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise type_error(owner, name, value, "a real number")
    return float(value)


class DriftCollector(Collector):
    """A ``prometheus_client`` collector of drift monitors (one per model version).

    Exports, with the ``model`` and ``version`` labels of each monitor:

    * ``<prefix>_model_log_predictive_density`` (gauge): the EWMA of the
      per-request log predictive density, in nats. A gauge of the EWMA, not a
      histogram, because the LPD's scale is the model's (no fixed buckets
      fit every model, unlike the latency's seconds) and because it is the
      very statistic the drift chart smooths, so a dashboard shows what the
      monitor judged; ``..._baseline`` (gauge) is the warm-up's mean;
    * ``<prefix>_drift_alarms_total{chart}`` (counter): alarms per chart
      (``ewma``, ``cusum``, ``shewhart:<site>``);
    * ``<prefix>_drift_drifting`` (gauge, 0 or 1),
      ``<prefix>_drift_requests_total`` and
      ``<prefix>_drift_skipped_requests_total{reason}`` (counters).

    Parameters
    ----------
    monitors : iterable of DriftMonitor
    prefix : str, default "fugue"

    Raises
    ------
    TypeError
        An element is not a DriftMonitor.
    InvalidArgument
        Two monitors share a model and version.
    """

    def __init__(self, monitors: Iterable[DriftMonitor], prefix: str = "fugue"):
        owner = type(self).__name__
        if isinstance(monitors, DriftMonitor):
            monitors = (monitors,)
        monitors = tuple(monitors)
        seen = set()
        for i, m in enumerate(monitors):
            check_type(m, f"monitors[{i}]", owner, DriftMonitor, "a DriftMonitor")
            key = (m.model, m.version)
            if key in seen:
                raise invalid(owner, "monitors", key, "must have distinct (model, version)")
            seen.add(key)
        check_type(prefix, "prefix", owner, str, "a str")
        self.monitors = monitors
        self.prefix = prefix

    def describe(self) -> Iterable[Metric]:
        return list(self.collect())

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for m in self.monitors:
            for fam in m.prometheus_families(self.prefix):
                out = merged.get(fam.name)
                if out is None:
                    out = merged[fam.name] = Metric(fam.name, fam.documentation, fam.type,
                                                    fam.unit)
                for s in fam.samples:
                    out.add_sample(s.name, s.labels, s.value, s.timestamp, s.exemplar)
        yield from merged.values()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.monitors)} monitor(s), prefix={self.prefix!r})"
