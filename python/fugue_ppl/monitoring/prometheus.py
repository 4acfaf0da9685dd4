"""Production metrics and their Prometheus export.

:class:`ProductionMetrics` (C++) counts inferences, errors by kind, timeouts
and fallbacks, keeps a latency histogram with p50/p90/p99, the throughput
over the uptime and over a sliding window, and the uptime.
:class:`~fugue_ppl.MetricsHandler` records exactly one inference per
:func:`~fugue_ppl.run`. :class:`PrometheusCollector` exposes all of it, the
trace pool's statistics and any other *metric source* to an application's
``prometheus_client`` registry.

Metric sources
--------------
A metric source is any object with a method ``prometheus_families(prefix)``
that returns ``prometheus_client`` metric families named ``<prefix>_...``,
read afresh at each call (the :class:`MetricSource` protocol). This module
exports the monitoring layer's own objects (:class:`ProductionMetricsExporter`,
:class:`TracePoolExporter`); a layer above exports its components the same
way without this module importing it, and registers an adapter for a type
that cannot carry the method itself (:func:`register_metric_source`): the
serving layer exports a circuit breaker through
:class:`fugue_ppl.serving.prometheus.BreakerExporter`, so a ``CircuitBreaker``
can be passed to the collector as it is.

The exported metric families are listed in ``docs/metrics.md``, generated
from this code by ``python docs/gen_metrics.py``.

Examples
--------
>>> import fugue_ppl as fp
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> from fugue_ppl.monitoring.prometheus import ProductionMetrics, PrometheusCollector
>>> metrics = ProductionMetrics()
>>> pool = fp.TracePool(16)
>>> handler = fp.MetricsHandler(fp.PooledPriorHandler(rng=0, pool=pool), metrics)
>>> _ = fp.run(handler, lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
>>> registry = CollectorRegistry()
>>> registry.register(PrometheusCollector(metrics, pool=pool))
>>> b"fugue_inference_total 1.0" in generate_latest(registry)
True
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from prometheus_client import ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from fugue_ppl.checks import check_type, invalid
from fugue_ppl.core._runtime import TracePool
from fugue_ppl.monitoring._metrics import (
    LatencyHistogram,
    MetricsHandler,
    ProductionMetrics,
    clock_info,
)

__all__ = [
    "ProductionMetrics",
    "LatencyHistogram",
    "MetricsHandler",
    "PrometheusCollector",
    "MetricSource",
    "ProductionMetricsExporter",
    "TracePoolExporter",
    "ProcessExporter",
    "register_metric_source",
    "as_metric_source",
    "metrics_table",
    "DEFAULT_LATENCY_BUCKETS",
    "clock_info",
]

#: Bucket boundaries (seconds) of the exported latency histogram: 1 µs to 10 s.
DEFAULT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)

# A metric name prefix: ASCII letters, digits and underscores (names starting
# with "__" are reserved by Prometheus; colons are for recording rules).
_PREFIX = re.compile(r"(?!__)[A-Za-z_][A-Za-z0-9_]*")


# ------------------------------------------------------------------ metric sources

@runtime_checkable
class MetricSource(Protocol):
    """What :class:`PrometheusCollector` exports besides the production metrics.

    ``prometheus_families(prefix)`` returns (or yields) ``prometheus_client``
    metric families (``CounterMetricFamily``, ``GaugeMetricFamily``, ...)
    whose names start with ``prefix + "_"``, with the source's current values;
    the collector calls it at every scrape, so it must be cheap, thread-safe
    and must not block. Two sources of one collector must not export the same
    name (the collector refuses it when it is registered).
    """

    def prometheus_families(self, prefix: str) -> Iterable[Metric]:
        """The source's metric families, named ``<prefix>_...``."""
        ...


_ADAPTERS: dict[type, Callable[[Any], MetricSource]] = {}


def register_metric_source(cls: type, adapter: Callable[[Any], MetricSource]) -> None:
    """Export instances of ``cls`` through ``adapter(obj)``, a :class:`MetricSource`.

    For a type that cannot carry ``prometheus_families`` itself (a compiled
    type of another layer): the layer that defines ``cls`` registers its
    exporter when it is imported, and the collector then accepts the object
    as it is (``PrometheusCollector(..., sources=[obj])``). A later
    registration for the same type replaces the earlier one.

    Raises
    ------
    TypeError
        ``cls`` is not a type, or ``adapter`` is not callable.
    """
    check_type(cls, "cls", "register_metric_source", type, "a type")
    if not callable(adapter):
        raise TypeError("register_metric_source: adapter must be callable, "
                        f"got {type(adapter).__name__}")
    _ADAPTERS[cls] = adapter


def as_metric_source(obj: object) -> MetricSource | None:
    """``obj`` itself when it is a :class:`MetricSource`, else the exporter
    registered for its type (or a base type), else None."""
    if callable(getattr(obj, "prometheus_families", None)):
        return obj  # type: ignore[return-value]
    for klass in type(obj).__mro__:
        adapter = _ADAPTERS.get(klass)
        if adapter is not None:
            return adapter(obj)
    return None


# ------------------------------------------------------------------ the monitoring layer's sources

def _check_buckets(buckets: object, owner: str) -> tuple[float, ...]:
    if isinstance(buckets, (str, bytes)) or not isinstance(buckets, Iterable):
        raise TypeError(f"{owner}: buckets must be a sequence of real numbers, "
                        f"got {type(buckets).__name__}")
    values = []
    for x in buckets:
        if isinstance(x, bool) or not isinstance(x, numbers.Real):
            raise TypeError(f"{owner}: buckets must be a sequence of real numbers, "
                            f"got an element of type {type(x).__name__}")
        values.append(float(x))
    if (not values or any(not math.isfinite(x) or x <= 0 for x in values)
            or values != sorted(set(values))):
        raise invalid(owner, "buckets", values,
                      "must be finite, positive and strictly increasing")
    return tuple(values)


class ProductionMetricsExporter:
    """The metric families of a :class:`ProductionMetrics`.

    ``<prefix>_inference_total``, ``<prefix>_errors_total{kind}``,
    ``<prefix>_timeouts_total``, ``<prefix>_fallbacks_total``,
    ``<prefix>_invalid_requests_total``,
    ``<prefix>_inference_duration_seconds`` (histogram: PromQL's
    ``histogram_quantile`` gives its quantiles over any window, summed across
    replicas), ``<prefix>_error_rate``, ``<prefix>_throughput_per_second{window}``,
    ``<prefix>_uptime_seconds`` and ``<prefix>_monitor_alarms_total{monitor}``.

    Parameters
    ----------
    metrics : ProductionMetrics
    buckets : sequence of float
        Upper bounds (seconds) of the exported histogram buckets; each is
        resolved to the latency histogram's resolution (0.4%).

    Raises
    ------
    TypeError
        ``metrics`` is not a ProductionMetrics; ``buckets`` is not a sequence
        of real numbers.
    InvalidArgument
        ``buckets`` is empty, or not finite, positive and strictly increasing.
    """

    def __init__(self, metrics: ProductionMetrics,
                 buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS):
        owner = type(self).__name__
        self.metrics = check_type(metrics, "metrics", owner, ProductionMetrics,
                                  "a ProductionMetrics")
        self.buckets = _check_buckets(buckets, owner)

    def prometheus_families(self, prefix: str) -> Iterable[Metric]:
        m, p = self.metrics, prefix
        lat = m.latency
        yield CounterMetricFamily(f"{p}_inference", "Inferences run.", value=m.inference_count)
        errors = CounterMetricFamily(f"{p}_errors", "Failed inferences, by error kind.",
                                     labels=["kind"])
        for kind, n in sorted(m.errors.items()):
            errors.add_metric([kind], n)
        yield errors
        yield CounterMetricFamily(f"{p}_timeouts", "Inferences that exceeded their deadline.",
                                  value=m.timeouts)
        yield CounterMetricFamily(f"{p}_fallbacks", "Fallback values served.", value=m.fallbacks)
        yield CounterMetricFamily(f"{p}_invalid_requests",
                                  "Requests refused for invalid arguments (not inferences).",
                                  value=m.invalid_requests)
        cum = lat.cumulative_counts(self.buckets)
        yield HistogramMetricFamily(
            f"{p}_inference_duration_seconds", "Inference latency.",
            buckets=[(_le(le), float(n)) for le, n in cum], sum_value=lat.sum)
        # No precomputed quantiles: a process's quantiles since its start can be
        # neither windowed nor summed across replicas, where histogram_quantile
        # over the buckets above can (the exact ones: ``metrics.latency``).
        yield GaugeMetricFamily(f"{p}_error_rate", "Errors / inferences since start.",
                                value=m.error_rate)
        t = GaugeMetricFamily(f"{p}_throughput_per_second", "Inferences per second.",
                              labels=["window"])
        t.add_metric(["uptime"], m.throughput)
        t.add_metric([f"{m.window}s"], m.window_throughput)
        yield t
        yield GaugeMetricFamily(f"{p}_uptime_seconds", "Seconds since the metrics started.",
                                value=m.uptime)
        alarms = CounterMetricFamily(f"{p}_monitor_alarms",
                                     "Alarms raised by monitors attached to the latency.",
                                     labels=["monitor"])
        for name, n in sorted(m.monitor_alarms.items()):
            alarms.add_metric([name], n)
        yield alarms

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.metrics!r})"


class TracePoolExporter:
    """The metric families of a :class:`~fugue_ppl.TracePool`.

    ``<prefix>_trace_pool_{hits,misses,returns,drops}_total``,
    ``<prefix>_trace_pool_size`` and ``<prefix>_trace_pool_hit_ratio``. A
    ``TracePool`` passed to :class:`PrometheusCollector` is exported through
    this class.

    Raises
    ------
    TypeError
        ``pool`` is not a TracePool.
    """

    def __init__(self, pool: TracePool):
        self.pool = check_type(pool, "pool", type(self).__name__, TracePool, "a TracePool")

    def prometheus_families(self, prefix: str) -> Iterable[Metric]:
        p = prefix
        s = self.pool.stats
        for field in ("hits", "misses", "returns", "drops"):
            yield CounterMetricFamily(f"{p}_trace_pool_{field}", f"Trace pool {field}.",
                                      value=getattr(s, field))
        yield GaugeMetricFamily(f"{p}_trace_pool_size", "Idle traces in the pool.", value=s.size)
        yield GaugeMetricFamily(f"{p}_trace_pool_hit_ratio",
                                "Acquisitions served from the pool.", value=s.hit_ratio)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.pool!r})"


register_metric_source(TracePool, TracePoolExporter)


class ProcessExporter:
    """The process's resources, as ``prometheus_client``'s ``ProcessCollector`` reads
    them (``/proc``), named ``<prefix>_process_...``: CPU seconds, resident and
    virtual memory, open and maximum file descriptors, start time. Where
    ``/proc`` is missing it exports nothing.
    """

    def prometheus_families(self, prefix: str) -> Iterable[Metric]:
        return ProcessCollector(namespace=prefix, registry=None).collect()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# ------------------------------------------------------------------ the collector

class PrometheusCollector(Collector):
    """A ``prometheus_client`` collector for :class:`ProductionMetrics` and
    metric sources.

    Register it in the application's registry (or the default one); every
    scrape reads the current values. Metric names start with ``fugue_``
    (configurable with ``prefix``); ``docs/metrics.md`` lists them all:

    ``fugue_inference_total``, ``fugue_errors_total{kind}``,
    ``fugue_timeouts_total``, ``fugue_fallbacks_total``, ``fugue_invalid_requests_total``,
    ``fugue_inference_duration_seconds`` (histogram), ``fugue_error_rate``,
    ``fugue_throughput_per_second{window}``, ``fugue_uptime_seconds``,
    ``fugue_monitor_alarms_total{monitor}``; with a pool,
    ``fugue_trace_pool_{hits,misses,returns,drops}_total``,
    ``fugue_trace_pool_size`` and ``fugue_trace_pool_hit_ratio``; with a
    circuit breaker (exported by the serving layer,
    :class:`fugue_ppl.serving.prometheus.BreakerExporter`),
    ``fugue_circuit_breaker_state{state}`` (1 for the current state, 0 for
    the others), ``fugue_circuit_breaker_failure_rate`` (over its window),
    ``fugue_circuit_breaker_calls_total{outcome}`` (successful, failed,
    rejected, ignored) and
    ``fugue_circuit_breaker_transitions_total{from_state,to_state}``; then
    the families of each further source. :meth:`from_runner` exports all of
    a :class:`~fugue_ppl.ModelRunner`'s, with its worker pool's saturation
    figures (:class:`fugue_ppl.serving.prometheus.WorkerPoolExporter`) and the
    process's resources (:class:`ProcessExporter`).

    Parameters
    ----------
    metrics : ProductionMetrics
    pool : TracePool, optional
    buckets : sequence of float
        Upper bounds (seconds) of the exported histogram buckets; each is
        resolved to the latency histogram's resolution (0.4%).
    prefix : str
        Metric name prefix: ASCII letters, digits and underscores, not
        starting with a digit or ``__``.
    breaker : CircuitBreaker, optional
        Exported through the adapter the serving layer registers for it.
    sources : iterable of MetricSource
        Further sources: objects with ``prometheus_families(prefix)``, or of
        a type with a registered adapter (:func:`register_metric_source`).

    Raises
    ------
    TypeError
        An argument has the wrong type: ``metrics`` is not a
        ProductionMetrics, ``pool`` not a TracePool, ``breaker`` not a
        CircuitBreaker, a source not a metric source, ``prefix`` not a str.
    InvalidArgument
        ``buckets`` is not finite, positive and strictly increasing, or
        ``prefix`` is not a valid metric name prefix. At registration,
        two sources export the same metric name.
    """

    def __init__(self, metrics: ProductionMetrics, pool: TracePool | None = None,
                 buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS, prefix: str = "fugue",
                 breaker: Any = None, sources: Iterable[Any] = ()):
        owner = type(self).__name__
        check_type(metrics, "metrics", owner, ProductionMetrics, "a ProductionMetrics")
        if pool is not None:
            check_type(pool, "pool", owner, TracePool, "a TracePool")
        check_type(prefix, "prefix", owner, str, "a str")
        if not _PREFIX.fullmatch(prefix):
            raise invalid(owner, "prefix", prefix,
                          "must be an identifier of ASCII letters, digits and underscores, "
                          "not starting with a digit or __")
        buckets = _check_buckets(buckets, owner)
        exporters: list[MetricSource] = [ProductionMetricsExporter(metrics, buckets)]
        if pool is not None:
            exporters.append(TracePoolExporter(pool))
        if breaker is not None:
            source = as_metric_source(breaker)
            if source is None:
                raise TypeError(f"{owner}: breaker must be a CircuitBreaker, "
                                f"got {type(breaker).__name__}")
            exporters.append(source)
        if isinstance(sources, (str, bytes)) or not isinstance(sources, Iterable):
            raise TypeError(f"{owner}: sources must be an iterable of metric sources, "
                            f"got {type(sources).__name__}")
        sources = tuple(sources)
        for i, obj in enumerate(sources):
            source = as_metric_source(obj)
            if source is None:
                raise TypeError(f"{owner}: sources[{i}] must be a metric source (an object "
                                "with a prometheus_families(prefix) method), "
                                f"got {type(obj).__name__}")
            exporters.append(source)
        self.metrics = metrics
        self.pool = pool
        self.breaker = breaker
        self.sources = sources
        self.buckets = buckets
        self.prefix = prefix
        self._exporters = tuple(exporters)

    @classmethod
    def from_runner(cls, runner: Any, *, process: bool = True,
                    **kwargs: Any) -> PrometheusCollector:
        """A collector of a runner's metrics, trace pool, circuit breaker, worker pool
        and the process's resources (:class:`ProcessExporter`).

        ``runner`` is a :class:`~fugue_ppl.ModelRunner` (any object with
        ``metrics``, ``pool`` and ``breaker`` attributes, and optionally
        ``workers``); ``process=False`` leaves the process's resources out
        (a collector of several runners exports them once); ``kwargs`` go to
        the constructor (``prefix``, ``buckets``, ``sources``, which come
        after these).

        Raises
        ------
        TypeError
            ``runner`` is not a ModelRunner.
        InvalidArgument
            The runner was built with ``metrics=False``.
        """
        try:
            metrics, pool, breaker = runner.metrics, runner.pool, runner.breaker
        except AttributeError:
            raise TypeError("PrometheusCollector.from_runner: runner must be a ModelRunner, "
                            f"got {type(runner).__name__}") from None
        if metrics is None:
            raise invalid("PrometheusCollector.from_runner", "runner", runner,
                          "records no metrics (built with metrics=False)")
        workers = getattr(runner, "workers", None)
        own = ([] if workers is None else [workers]) + ([ProcessExporter()] if process else [])
        kwargs["sources"] = [*own, *kwargs.get("sources", ())]
        return cls(metrics, pool=pool, breaker=breaker, **kwargs)

    def describe(self) -> Iterable[Metric]:
        # The families themselves, so the registry refuses a name clash with
        # another collector or the application's own metrics at registration.
        families = list(self.collect())
        seen: set[str] = set()
        for fam in families:
            if fam.name in seen:
                raise invalid(type(self).__name__, "sources", fam.name,
                              "must export distinct metric names")
            seen.add(fam.name)
        return families

    def collect(self) -> Iterable[Metric]:
        for exporter in self._exporters:
            yield from exporter.prometheus_families(self.prefix)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(prefix={self.prefix!r}, "
                f"sources={len(self._exporters)})")


def _le(x: float) -> str:
    return "+Inf" if math.isinf(x) else repr(float(x))


# ------------------------------------------------------------------ documentation

_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


def metrics_table(families: Iterable[Metric]) -> str:
    """A Markdown table of metric families: exposed names, type, labels and help.

    The labels are those of the families' samples, so a family is listed
    with its labels only when it has samples (e.g. after an error for
    ``<prefix>_errors_total{kind}``).

    Examples
    --------
    >>> fam = CounterMetricFamily("fugue_inference", "Inferences run.", value=1)
    >>> print(metrics_table([fam]))
    | metric | type | labels | help |
    |---|---|---|---|
    | `fugue_inference_total` | counter |  | Inferences run. |
    """
    rows = ["| metric | type | labels | help |", "|---|---|---|---|"]
    for fam in families:
        names = [fam.name + s for s in _SUFFIXES.get(fam.type, ("",))]
        labels: list[str] = []
        for sample in fam.samples:
            for label in sample.labels:
                if label not in labels:
                    labels.append(label)
        help_text = fam.documentation.replace("|", "\\|")
        rows.append(f"| {', '.join(f'`{n}`' for n in names)} | {fam.type} "
                    f"| {', '.join(f'`{x}`' for x in labels)} | {help_text} |")
    return "\n".join(rows)
