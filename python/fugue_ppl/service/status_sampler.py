"""What the status page shows, sampled: :class:`StatusSampler` reads every runner
the service serves at a fixed interval into a bounded history (each interval's
requests, errors, throughput, error rate, latency quantiles and breaker state),
feeds its own control charts, records the breakers' transitions as they
happen, and reads the rollout in progress from the registry.

Where the control charts' statistics come from: monitors attached to a
runner's :class:`~fugue_ppl.ProductionMetrics` see every single latency (the
health checker counts their alarms), and nothing attaches any by default. The
sampler owns one EWMA, one Shewhart chart (the Western Electric rules) and one
CUSUM per runner, each fed one point per interval: the interval's mean latency
(the change in the histogram's sum over the change in its count, exact) or its
error rate (``[status]`` says which), so the charts cost nothing on the
request path and have a history to plot. Monitors a caller attached to the
metrics are reported as they are (their snapshots).

An interval's quantiles come from the change in the latency histogram's
cumulative counts at a grid of bounds 2% apart (only the bounds between the
histogram's minimum and maximum are read), each taken at the geometric middle
of its bucket and kept within the histogram's minimum and maximum: within 1%
(plus the histogram's own 0.39%) of the interval's true quantile.

The document (:meth:`StatusSampler.document`, served as JSON)::

    {"schema": 1, "generated": unix seconds, "interval": seconds, "history": n,
     "states": ["HEALTHY", "DEGRADED", "FAILED", "RECOVERY"],
     "runners": [{
        "model": str, "version": str or null, "weight": float or null (the router's),
        "totals": {"requests", "inferences", "errors", "rejected", "timeouts",
                   "fallbacks", "invalid", "error_rate", "throughput",
                   "window_throughput", "uptime"},          (null without metrics)
        "latency": {"count", "sum", "min", "max", "mean", "p50", "p90", "p99"},
                                                  (seconds, the histogram's own figures)
        "breaker": {"name", "state", "failure_rate", "window_calls", "retry_after",
                    "rejected_calls", "transition_counts": {...},
                    "transitions": [{"at", "from", "to"}]},     (the newest last)
        "series": {"t", "requests", "errors", "throughput", "error_rate",
                   "mean", "p50", "p90", "p99", "state"},  (columns, one entry a sample;
                   latencies in seconds, null for an interval without requests;
                   state: the index of the breaker's state in "states")
        "charts": {"ewma" | "shewhart" | "cusum": {
                    "series": "latency" | "error_rate", "params": {...},
                    "state": the monitor's snapshot,
                    "points": {"t", "x", "value", "lcl", "ucl", "alarm", "rules"}}},
                   (cusum: "upper", "lower" instead of "value", and its "state"
                    holds the decision interval H; null limits during the warm-up)
        "monitors": {name: snapshot},             (monitors attached to the metrics)
        "drift": {"drifting", "warming_up", "alarms", "lpd"} or null}],
                   (the version's drift monitor: an alarm within its window, its
                    alarms in all, the EWMA of the log predictive density)
     "rollouts": [{"id", "model", "strategy", "baseline", "candidate", "state",
                   "active", "actor", "created", "updated",
                   "weights": {version: share} or null (the router's, else the strategy's),
                   "shadow": the fraction copied to the candidate, or null,
                   "progress": {"done", "total", "unit"} or null,
                   "looks": [{"look", "step", "weight", "at", "outcome",
                              "tests": {name: {"action", "reason", "statistic",
                                               "threshold", "statistic_name", "p_value",
                                               "estimate", "std_error", "n_baseline",
                                               "n_candidate"}}}],
                   "events": [{"at", "action", "state_before", "state_after"}]}],
     "problems": [str]}                          (what could not be read, in words)

Numbers that are not finite are null. Times are Unix seconds (``t``, ``at``
of the transitions) or ISO 8601 (the registry's records).
"""

from __future__ import annotations

import datetime
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fugue_ppl.checks import check_type, type_error
from fugue_ppl.deploy import ModelRegistry, Router
from fugue_ppl.deploy.deployment import find_rollout, rollout_status
from fugue_ppl.deploy.rollouts import Rollout
from fugue_ppl.errors import FugueError, InvalidArgument, UnknownModel, UnknownRollout
from fugue_ppl.monitoring import CUSUM, EWMA, CUSUMConfig, EWMAConfig, ShewhartChart
from fugue_ppl.service._status_config import StatusPageConfig
from fugue_ppl.serving import BreakerState, ModelRunner

__all__ = ["SCHEMA_VERSION", "StatusSampler"]

_log = logging.getLogger("fugue_ppl.service")

#: The version of the document's shape.
SCHEMA_VERSION = 1
_STATES = tuple(s.name for s in sorted(BreakerState, key=int))
_RATIO = 1.02
_QUANTILES = (0.5, 0.9, 0.99)
_SERIES = ("t", "requests", "errors", "throughput", "error_rate", "mean", "p50", "p90", "p99",
           "state")
_LOOK_KEYS = ("action", "reason", "p_value", "estimate", "std_error", "n_baseline",
              "n_candidate")


def _num(x: Any) -> Any:
    """``x`` as a JSON number: non-finite floats as None, floats to 7 significant digits."""
    if x is None or isinstance(x, (bool, int)):
        return x
    x = float(x)
    return float(f"{x:.7g}") if math.isfinite(x) else None


def _plain(value: Any) -> Any:
    """``value`` as JSON values: mappings and sequences as dicts and lists, non-finite
    floats as None, anything else as its str."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------- the runners


def _version(runner: ModelRunner) -> str | None:
    v = runner.version
    return None if v is None else str(v)


def _model_name(runner: ModelRunner) -> str:
    config = runner.config
    model = getattr(config, "model", None)
    return str(getattr(model, "name", "") or "model")


def read_source(source: Any) -> tuple[dict[tuple[str, str | None], ModelRunner],
                                      dict[str, Router]]:
    """The runners ``source`` gives, by ``(model, version)``, and the routers by model.

    ``source`` is a mapping, or a callable returning one, of

    * ``(model, version)`` -> :class:`~fugue_ppl.ModelRunner`;
    * ``model`` -> ModelRunner (its version from the runner);
    * ``model`` -> :class:`~fugue_ppl.deploy.Router` (each of its runners, by version).

    Raises
    ------
    TypeError
        ``source`` (or what it returned) is not such a mapping.
    """
    if callable(source) and not isinstance(source, Mapping):
        source = source()
    if not isinstance(source, Mapping):
        raise type_error("StatusSampler", "source", source,
                         "a mapping of runners or routers (or a callable returning one)")
    runners: dict[tuple[str, str | None], ModelRunner] = {}
    routers: dict[str, Router] = {}
    for key, value in source.items():
        if isinstance(value, Router):
            if not isinstance(key, str):
                raise type_error("StatusSampler", "source key", key, "a model name (str)")
            routers[key] = value
            for version, runner in value.runners.items():
                runners[(key, None if version is None else str(version))] = runner
        elif isinstance(value, ModelRunner):
            if isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str):
                runners[(key[0], None if key[1] is None else str(key[1]))] = value
            elif isinstance(key, str):
                runners[(key, _version(value))] = value
            else:
                raise type_error("StatusSampler", "source key", key,
                                 "a model name or a (model, version) pair")
        else:
            raise type_error("StatusSampler", f"source[{key!r}]", value,
                             "a ModelRunner or a Router")
    return runners, routers


# ---------------------------------------------------------------- latency buckets


class _Buckets:
    """Cumulative counts of a latency histogram at bounds ``_RATIO`` apart."""

    def __init__(self, lowest: float, highest: float):
        n = int(math.ceil(math.log(highest / lowest) / math.log(_RATIO))) + 1
        self.bounds = lowest * _RATIO ** np.arange(n, dtype=np.float64)
        self.size = n + 1                           # the last: every value

    def read(self, hist: Any) -> tuple[np.ndarray, float, int]:
        """``(cumulative counts, sum, count)`` now."""
        cum = np.zeros(self.size, dtype=np.int64)
        count, total = hist.count, hist.sum
        if count:
            b = self.bounds
            lo = int(np.searchsorted(b, hist.min, side="left"))
            hi = int(np.searchsorted(b, hist.max, side="right"))
            cum[lo:hi] = [n for _, n in hist.cumulative_counts(b[lo:hi])[:-1]]
            cum[hi:] = count
            np.minimum(cum, count, out=cum)
        return cum, total, count

    def quantiles(self, delta: np.ndarray, low: float, high: float) -> list[float | None]:
        """The quantiles of the values counted by ``delta`` (a change in cumulative
        counts), each kept within ``[low, high]``."""
        delta = np.maximum.accumulate(np.maximum(delta, 0))
        n = int(delta[-1])
        if n == 0:
            return [None] * len(_QUANTILES)
        out = []
        b = self.bounds
        for q in _QUANTILES:
            rank = max(1, math.ceil(q * n))
            i = int(np.searchsorted(delta, rank, side="left"))
            if i == 0:
                v = b[0]
            elif i >= len(b):
                v = b[-1]
            else:
                v = math.sqrt(b[i - 1] * b[i])
            out.append(min(max(float(v), low), high))
        return out


_BUCKETS: dict[tuple[float, float], _Buckets] = {}


def _buckets(hist: Any) -> _Buckets:
    key = (hist.lowest, hist.highest)
    b = _BUCKETS.get(key)
    if b is None:
        b = _BUCKETS[key] = _Buckets(*key)
    return b


# ---------------------------------------------------------------- one runner


class _Chart:
    """One control chart of a track: the monitor and its points."""

    def __init__(self, kind: str, monitor: Any, series: str, params: dict, history: int):
        self.kind, self.monitor, self.series, self.params = kind, monitor, series, params
        self.points: deque[tuple] = deque(maxlen=history)

    def update(self, t: float, x: float) -> None:
        s = self.monitor.update(x)
        if self.kind == "cusum":
            m = self.monitor
            self.points.append((t, x, m.upper, m.lower, s.alarm, s.rules))
        else:
            self.points.append((t, x, s.value, s.lcl, s.ucl, s.alarm, s.rules))

    def document(self) -> dict:
        cols = ("t", "x", "upper", "lower", "alarm", "rules") if self.kind == "cusum" else (
            "t", "x", "value", "lcl", "ucl", "alarm", "rules")
        rows = list(self.points)
        points = {}
        for i, name in enumerate(cols):
            if name == "rules":
                points[name] = [list(r[i]) for r in rows]
            elif name == "alarm":
                points[name] = [bool(r[i]) for r in rows]
            elif name == "t":
                points[name] = [round(r[i], 3) for r in rows]
            else:
                points[name] = [_num(r[i]) for r in rows]
        return {"series": self.series, "params": dict(self.params),
                "state": _plain(self.monitor.snapshot()), "points": points}


class _Track:
    """The history of one runner."""

    def __init__(self, model: str, version: str | None, runner: ModelRunner,
                 config: StatusPageConfig, ewma: EWMAConfig, cusum: CUSUMConfig, t0: float):
        self.model, self.version, self.runner = model, version, runner
        self.points: deque[tuple] = deque(maxlen=config.history)
        self.transitions: deque[tuple] = deque(maxlen=config.events)
        h = config.history
        self.charts = {
            "ewma": _Chart("ewma", EWMA(lam=ewma.lam, L=ewma.L, warmup=ewma.warmup),
                           config.ewma_series, {"lam": ewma.lam, "L": ewma.L,
                                                "warmup": ewma.warmup}, h),
            "shewhart": _Chart("shewhart", ShewhartChart(warmup=config.shewhart_warmup),
                               config.shewhart_series, {"n": 1, "warmup": config.shewhart_warmup,
                                                        "rules": ["WE1", "WE2", "WE3", "WE4"]},
                               h),
            "cusum": _Chart("cusum", CUSUM(k=cusum.k, h=cusum.h, warmup=cusum.warmup),
                            config.cusum_series, {"k": cusum.k, "h": cusum.h,
                                                  "warmup": cusum.warmup}, h),
        }
        self._listener = self._on_transition
        runner.breaker.add_listener(self._listener)
        self._last = self._read()
        self._last_t = t0

    def _on_transition(self, old: BreakerState, new: BreakerState) -> None:
        self.transitions.append((time.time(), old.name, new.name))

    def close(self) -> None:
        try:
            self.runner.breaker.remove_listener(self._listener)
        except ValueError:
            pass

    def _read(self) -> tuple | None:
        m = self.runner.metrics
        if m is None:
            return None
        rejected = self.runner.breaker.metrics["rejected_calls"]
        c = m.counts()
        cum, total, count = _buckets(m.latency).read(m.latency)
        return c["inferences"], c["errors"], rejected, cum, total, count

    def sample(self, now: float, wall: float) -> None:
        dt = now - self._last_t
        state = int(self.runner.breaker.state)
        cur = self._read()
        prev = self._last
        self._last, self._last_t = cur, now
        if cur is None or prev is None or not dt > 0:
            self.points.append((wall, None, None, None, None, None, None, None, None, state))
            return
        d_inf, d_err, d_rej = cur[0] - prev[0], cur[1] - prev[1], cur[2] - prev[2]
        d_count = cur[5] - prev[5]
        if d_inf < 0 or d_err < 0 or d_rej < 0 or d_count < 0:
            # the metrics were reset: count from here on
            self.points.append((wall, None, None, None, None, None, None, None, None, state))
            return
        requests, errors = d_inf + d_rej, min(d_err + d_rej, d_inf + d_rej)
        rate = errors / requests if requests else None
        mean = (cur[4] - prev[4]) / d_count if d_count else None
        hist = self.runner.metrics.latency
        qs = _buckets(hist).quantiles(cur[3] - prev[3], hist.min, hist.max)
        self.points.append((wall, requests, errors, requests / dt, rate, mean, *qs, state))
        for chart in self.charts.values():
            x = mean if chart.series == "latency" else rate
            if x is not None and math.isfinite(x):
                chart.update(wall, x)

    def document(self, weight: float | None) -> dict:
        runner = self.runner
        rows = list(self.points)
        series = {}
        for i, name in enumerate(_SERIES):
            if name == "t":
                series[name] = [round(r[i], 3) for r in rows]
            else:
                series[name] = [_num(r[i]) for r in rows]
        bm = runner.breaker.metrics
        breaker = {"name": runner.breaker.name, "state": bm["state"],
                   "failure_rate": _num(bm["failure_rate"]), "window_calls": bm["window_calls"],
                   "retry_after": _num(bm["retry_after"]),
                   "rejected_calls": bm["rejected_calls"],
                   "transition_counts": dict(bm["transitions"]),
                   "transitions": [{"at": round(t, 3), "from": a, "to": b}
                                   for t, a, b in list(self.transitions)]}
        m = runner.metrics
        totals = latency = None
        monitors: dict[str, Any] = {}
        if m is not None:
            c = m.counts()
            requests = c["inferences"] + bm["rejected_calls"]
            errors = c["errors"] + bm["rejected_calls"]
            totals = {"requests": requests, "inferences": c["inferences"], "errors": errors,
                      "rejected": bm["rejected_calls"], "timeouts": c["timeouts"],
                      "fallbacks": c["fallbacks"], "invalid": c["invalid"],
                      "error_rate": errors / requests if requests else 0.0,
                      "throughput": _num(m.throughput),
                      "window_throughput": _num(m.window_throughput),
                      "uptime": _num(m.uptime)}
            latency = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                       for k, v in m.latency.to_dict().items()}
            for name, mon in m.monitors.items():
                snap = getattr(mon, "snapshot", None)
                try:
                    monitors[name] = _plain(snap()) if callable(snap) else {}
                except Exception:          # a caller's monitor: never fail the page
                    monitors[name] = {}
        return {"model": self.model, "version": self.version, "weight": _num(weight),
                "totals": totals, "latency": latency, "breaker": breaker, "series": series,
                "charts": {k: c.document() for k, c in self.charts.items()},
                "monitors": monitors}


# ---------------------------------------------------------------- rollouts


def _progress(ro: Rollout) -> dict | None:
    data, cfg = ro.data, ro.settings.get("rollout", {})
    if ro.strategy == "canary" and "step" in data and cfg.get("steps"):
        return {"done": int(data["step"]) + (0 if ro.active else 1), "total": len(cfg["steps"]),
                "unit": "steps", "steps": [float(w) for w in cfg["steps"]]}
    if ro.strategy == "rolling" and "replicas" in data:
        return {"done": len(data.get("moved", {})), "total": int(data["replicas"]),
                "unit": "replicas"}
    if ro.strategy == "ab_test" and "look" in data and cfg.get("ab_looks"):
        return {"done": int(data["look"]), "total": int(cfg["ab_looks"]), "unit": "looks"}
    return None


def _canary_tests(decisions: Mapping) -> dict:
    out = {}
    for name, d in decisions.items():
        t = {k: _plain(d.get(k)) for k in _LOOK_KEYS}
        t.update(statistic=_plain(d.get("p_value")), threshold=_plain(d.get("alpha")),
                 statistic_name="p")
        out[str(name)] = t
    return out


def _ab_tests(look: Mapping, metric: str, action: str) -> dict:
    gs, welch = look.get("group_sequential") or {}, look.get("welch") or {}
    return {metric: {
        "action": action, "reason": "winner" if gs.get("winner") else "within the boundary",
        "statistic": _plain(gs.get("z")), "threshold": _plain(gs.get("boundary")),
        "statistic_name": "z", "p_value": _plain(welch.get("p_value")),
        "estimate": _plain(welch.get("difference")), "std_error": _plain(welch.get("std_error")),
        "n_baseline": look.get("n_baseline"), "n_candidate": look.get("n_candidate")}}


class _RolloutLooks:
    """The looks of the rollouts shown, as rows of one shape: those the registry's
    events recorded (:func:`~fugue_ppl.deploy.deployment.rollout_status`) and a
    canary step's inconclusive looks, which are no events: the sampler keeps each
    one it sees."""

    def __init__(self, limit: int):
        self.limit = limit
        self.seen: dict[int, dict[tuple, dict]] = {}

    def keep(self, ids: set[int]) -> None:
        """Forget the looks of rollouts no longer shown."""
        for rid in [k for k in self.seen if k not in ids]:
            del self.seen[rid]

    def looks(self, ro: Rollout, status: Mapping) -> list[dict]:
        mine = self.seen.setdefault(ro.id, {})
        details = {e["id"]: e["details"] for e in status["events"]}
        for look in status["looks"]:
            if "decisions" in look:
                mine[(look.get("step"), look.get("look"))] = {
                    "look": look.get("look"), "step": look.get("step"),
                    "weight": look.get("weight"), "at": look["at"], "outcome": look["action"],
                    "tests": _canary_tests(look["decisions"])}
            elif "welch" in look:
                action = "continue" if look["action"] == "look" else look["action"]
                metric = str(details.get(look["event"], {}).get("metric", "metric"))
                mine[(None, look.get("look"))] = {
                    "look": look.get("look"), "step": None, "weight": None, "at": look["at"],
                    "outcome": look["action"], "tests": _ab_tests(look, metric, action)}
        current = status.get("current")
        if current:
            mine.setdefault((current["step"], current["look"]), {
                "look": current["look"], "step": current["step"], "weight": current["weight"],
                "at": None, "outcome": "continue",
                "tests": _canary_tests(current["decisions"])})
        ordered = sorted(mine.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or 0))
        if len(ordered) > self.limit:
            for k, _ in ordered[:-self.limit]:
                del mine[k]
            ordered = ordered[-self.limit:]
        return [_plain(v) for _, v in ordered]


# ---------------------------------------------------------------- the sampler


class StatusSampler:
    """Samples the runners a service serves, for its status page.

    Parameters
    ----------
    source : mapping or callable
        The runners: see :func:`read_source`. A callable is called at each
        sample (runners that appear get a history, runners that go lose it).
    registry : ModelRegistry, optional
        Where the rollouts of the runners' models are read.
    config : StatusPageConfig, optional
        The interval, the history's length, what the charts watch.
    ewma, cusum : EWMAConfig, CUSUMConfig, optional
        The charts' parameters (``[monitor.ewma]``, ``[monitor.cusum]``).
    clock : callable, optional
        Seconds on a monotonic clock (the intervals; ``time.monotonic`` by default).
    drift : callable, optional
        ``drift() -> {(model, version): DriftMonitor}``: each runner's drift
        monitor, read when the document is built.

    Raises
    ------
    TypeError
        A wrong type of source, registry, config or chart settings.
    """

    def __init__(self, source: Any, *, registry: ModelRegistry | None = None,
                 config: StatusPageConfig | None = None, ewma: EWMAConfig | None = None,
                 cusum: CUSUMConfig | None = None, clock: Callable[[], float] | None = None,
                 drift: Callable[[], Mapping] | None = None):
        owner = "StatusSampler"
        if not callable(source) and not isinstance(source, Mapping):
            raise type_error(owner, "source", source,
                             "a mapping of runners or routers (or a callable returning one)")
        self.source = source
        self.registry = None if registry is None else check_type(
            registry, "registry", owner, ModelRegistry, "a ModelRegistry")
        self.config = StatusPageConfig() if config is None else check_type(
            config, "config", owner, StatusPageConfig, "a StatusPageConfig")
        self.ewma = EWMAConfig() if ewma is None else check_type(
            ewma, "ewma", owner, EWMAConfig, "an EWMAConfig")
        self.cusum = CUSUMConfig() if cusum is None else check_type(
            cusum, "cusum", owner, CUSUMConfig, "a CUSUMConfig")
        if clock is not None and not callable(clock):
            raise TypeError(f"{owner}: clock must be callable, got {type(clock).__name__}")
        if drift is not None and not callable(drift):
            raise TypeError(f"{owner}: drift must be callable, got {type(drift).__name__}")
        self._drift = drift
        self._clock = time.monotonic if clock is None else clock
        self._lock = threading.Lock()
        self._tracks: dict[tuple[str, str | None], _Track] = {}
        self._routers: dict[str, Router] = {}
        self._problems: dict[str, str] = {}
        self._last_sample: float | None = None
        self._looks = _RolloutLooks(self.config.events)
        self._rollouts: list[dict] = []
        self._rollouts_read: float | None = None
        self._rollout_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cached: tuple[float | None, dict] | None = None
        if isinstance(source, Mapping):
            read_source(source)                 # a wrong mapping fails here, not later
        with self._lock:
            self._refresh(self._clock())

    # ---- sampling

    def _refresh(self, now: float) -> None:
        """Follow the source: a track for each new runner, none for a runner gone."""
        try:
            runners, routers = read_source(self.source)
        except Exception as err:
            if "source" not in self._problems:
                _log.warning("status page: the runners could not be read (%s)",
                             type(err).__name__)
            self._problems["source"] = "the runners could not be read"
            return
        self._problems.pop("source", None)
        self._routers = routers
        for key in [k for k, t in self._tracks.items() if runners.get(k) is not t.runner]:
            self._tracks.pop(key).close()
        for key, runner in runners.items():
            if key not in self._tracks:
                self._tracks[key] = _Track(key[0], key[1], runner, self.config, self.ewma,
                                           self.cusum, now)

    def sample(self) -> None:
        """Take one sample of every runner (the background thread does it each interval)."""
        with self._lock:
            now = self._clock()
            wall = time.time()
            self._refresh(now)
            for track in self._tracks.values():
                track.sample(now, wall)
            self._last_sample = now

    def start(self) -> StatusSampler:
        """Sample in a background thread every ``interval_seconds`` until :meth:`close`."""
        with self._lock:
            if self._thread is not None:
                return self
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="fugue-status-sampler",
                                            daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        interval = self.config.interval_seconds
        due = time.monotonic() + interval
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due += interval
            if due < time.monotonic():          # fell behind (a paused process): skip
                due = time.monotonic() + interval
            try:
                self.sample()
            except Exception:
                _log.exception("status page: a sample failed")

    @property
    def running(self) -> bool:
        """Whether the background thread samples."""
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop the background thread and stop listening to the breakers."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10.0)
        with self._lock:
            for track in self._tracks.values():
                track.close()
            self._tracks.clear()

    def __enter__(self) -> StatusSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the document

    def _read_rollouts(self, models: list[str]) -> list[dict]:
        """The active (else the last) rollout of each model, read at most once an interval."""
        if self.registry is None:
            return []
        with self._rollout_lock:
            now = self._clock()
            if self._rollouts_read is not None and \
                    now - self._rollouts_read < self.config.interval_seconds:
                return self._rollouts
            out = []
            problem = None
            for name in models:
                try:
                    ro = find_rollout(self.registry, name)
                    status = rollout_status(self.registry, ro)
                except (InvalidArgument, UnknownModel, UnknownRollout):
                    continue                # no rollout (or no name the registry keeps)
                except FugueError as err:
                    problem = f"the registry could not be read ({type(err).__name__})"
                    continue
                out.append(self._rollout(ro, status))
            self._looks.keep({r["id"] for r in out})
            with self._lock:
                if problem is None:
                    self._problems.pop("registry", None)
                else:
                    self._problems["registry"] = problem
            self._rollouts, self._rollouts_read = out, now
            return out

    def _rollout(self, ro: Rollout, status: Mapping) -> dict:
        router = self._routers.get(ro.name)
        weights = status["weights"] if router is None else {
            str(k): float(v) for k, v in router.weights.items()}
        events = status["events"][-self.config.events:]
        return {"id": ro.id, "model": ro.name, "strategy": ro.strategy,
                "baseline": ro.baseline, "candidate": ro.candidate, "state": ro.state,
                "active": ro.active, "actor": ro.actor, "created": ro.created.isoformat(),
                "updated": ro.updated.isoformat(), "weights": _plain(weights) or None,
                "shadow": _plain(status.get("shadow")), "progress": _progress(ro),
                "looks": self._looks.looks(ro, status),
                "events": [{"at": e["at"], "action": e["action"],
                            "state_before": e["state_before"], "state_after": e["state_after"]}
                           for e in events]}

    def _add_drift(self, runners: list[dict]) -> None:
        """Each runner document's ``drift``: its monitor's figures, or None."""
        monitors: Mapping = {}
        if self._drift is not None:
            try:
                monitors = self._drift()
            except Exception:                   # the caller's function: never fail the page
                _log.exception("status page: the drift monitors could not be read")
        for r in runners:
            mon = monitors.get((r["model"], r["version"]))
            r["drift"] = None if mon is None else {
                "drifting": bool(mon.drifting), "warming_up": bool(mon.warming_up),
                "alarms": int(sum(mon.alarms.values())),
                "lpd": _num(mon.log_predictive_density)}

    def document(self) -> dict:
        """What the page shows, as JSON values (the shape is in the module's notes).

        Without the background thread, a sample is taken first when one is due,
        so a page being watched keeps a history. The document is built once a
        sample: every viewer polling within an interval gets the same one.
        """
        if not self.running and (self._last_sample is None or self._clock() - self._last_sample
                                 >= self.config.interval_seconds):
            self.sample()
        cached = self._cached
        if cached is not None and cached[0] == self._last_sample:
            return cached[1]
        with self._lock:
            stamp = self._last_sample
            routers = dict(self._routers)
            runners = []
            for (model, version), track in sorted(
                    self._tracks.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
                router = routers.get(model)
                weight = None if router is None else router.weights.get(version)
                runners.append(track.document(weight))
            models = sorted({m for m, _ in self._tracks})
        rollouts = self._read_rollouts(models)
        self._add_drift(runners)
        with self._lock:
            problems = sorted(self._problems.values())
        doc = {"schema": SCHEMA_VERSION, "generated": round(time.time(), 3),
               "interval": self.config.interval_seconds, "history": self.config.history,
               "states": list(_STATES), "runners": runners, "rollouts": rollouts,
               "problems": problems}
        if stamp is not None:
            self._cached = (stamp, doc)
        return doc
