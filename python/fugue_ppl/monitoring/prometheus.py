"""Production metrics and their Prometheus export.

:class:`ProductionMetrics` (C++) counts inferences, errors by kind, timeouts
and fallbacks, keeps a latency histogram with p50/p90/p99, the throughput
over the uptime and over a sliding window, and the uptime.
:class:`~fugue_ppl.MetricsHandler` records exactly one inference per
:func:`~fugue_ppl.run`. :class:`PrometheusCollector` exposes all of it, and
the trace pool's statistics, to an application's ``prometheus_client``
registry.

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
from typing import Iterable, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from fugue_ppl.serving._breaker import BreakerState, CircuitBreaker
from fugue_ppl.monitoring._metrics import LatencyHistogram, ProductionMetrics, clock_info
from fugue_ppl.serving._runner import ModelRunner
from fugue_ppl.core._runtime import TracePool
from fugue_ppl.monitoring._metrics import MetricsHandler

__all__ = [
    "ProductionMetrics",
    "LatencyHistogram",
    "MetricsHandler",
    "PrometheusCollector",
    "DEFAULT_LATENCY_BUCKETS",
    "clock_info",
]

#: Bucket boundaries (seconds) of the exported latency histogram: 1 µs to 10 s.
DEFAULT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)


class PrometheusCollector(Collector):
    """A ``prometheus_client`` collector for :class:`ProductionMetrics`.

    Register it in the application's registry (or the default one); every
    scrape reads the current values. Metric names start with ``fugue_``
    (configurable with ``prefix``):

    ``fugue_inference_total``, ``fugue_errors_total{kind}``,
    ``fugue_timeouts_total``, ``fugue_fallbacks_total``,
    ``fugue_inference_duration_seconds`` (histogram), ``fugue_error_rate``,
    ``fugue_throughput_per_second{window}``, ``fugue_uptime_seconds``,
    ``fugue_inference_duration_quantile_seconds{quantile}``,
    ``fugue_monitor_alarms_total{monitor}``; with a pool,
    ``fugue_trace_pool_{hits,misses,returns,drops}_total``,
    ``fugue_trace_pool_size`` and ``fugue_trace_pool_hit_ratio``; with a
    circuit breaker, ``fugue_circuit_breaker_state{state}`` (1 for the
    current state, 0 for the others), ``fugue_circuit_breaker_failure_rate``
    (over its window), ``fugue_circuit_breaker_calls_total{outcome}``
    (successful, failed, rejected, ignored) and
    ``fugue_circuit_breaker_transitions_total{from_state,to_state}``.
    :meth:`from_runner` exports all of a :class:`~fugue_ppl.ModelRunner`'s.

    Parameters
    ----------
    metrics : ProductionMetrics
    pool : TracePool, optional
    breaker : CircuitBreaker, optional
    buckets : sequence of float
        Upper bounds (seconds) of the exported histogram buckets; each is
        resolved to the latency histogram's resolution (0.4%).
    prefix : str
        Metric name prefix (default ``"fugue"``).
    """

    def __init__(self, metrics: ProductionMetrics, pool: TracePool | None = None,
                 buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS, prefix: str = "fugue",
                 breaker: CircuitBreaker | None = None):
        if not isinstance(metrics, ProductionMetrics):
            raise TypeError(f"metrics must be a ProductionMetrics, got {type(metrics).__name__}")
        if pool is not None and not isinstance(pool, TracePool):
            raise TypeError(f"pool must be a TracePool, got {type(pool).__name__}")
        if breaker is not None and not isinstance(breaker, CircuitBreaker):
            raise TypeError(f"breaker must be a CircuitBreaker, got {type(breaker).__name__}")
        b = [float(x) for x in buckets]
        if not b or any(not math.isfinite(x) or x <= 0 for x in b) or b != sorted(set(b)):
            raise ValueError("buckets must be finite, positive and strictly increasing")
        if not isinstance(prefix, str) or not prefix.isidentifier():
            raise ValueError(f"prefix must be an identifier, got {prefix!r}")
        self.metrics = metrics
        self.pool = pool
        self.breaker = breaker
        self.buckets = tuple(b)
        self.prefix = prefix

    @classmethod
    def from_runner(cls, runner: ModelRunner, **kwargs) -> PrometheusCollector:
        """A collector of a runner's metrics, trace pool and circuit breaker.

        Raises
        ------
        TypeError
            ``runner`` is not a ModelRunner.
        ValueError
            The runner was built with ``metrics=False``.
        """
        if not isinstance(runner, ModelRunner):
            raise TypeError(f"runner must be a ModelRunner, got {type(runner).__name__}")
        if runner.metrics is None:
            raise ValueError("the runner records no metrics (built with metrics=False)")
        return cls(runner.metrics, pool=runner.pool, breaker=runner.breaker, **kwargs)

    def describe(self) -> Iterable:
        # The families themselves, so the registry refuses a name clash with
        # another collector or the application's own metrics at registration.
        return list(self.collect())

    def collect(self) -> Iterable:
        m, p = self.metrics, self.prefix
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
        cum = lat.cumulative_counts(self.buckets)
        yield HistogramMetricFamily(
            f"{p}_inference_duration_seconds", "Inference latency.",
            buckets=[(_le(le), float(n)) for le, n in cum], sum_value=lat.sum)
        q = GaugeMetricFamily(f"{p}_inference_duration_quantile_seconds",
                              "Latency quantiles from the log-linear histogram (0.4% resolution).",
                              labels=["quantile"])
        for qq in (0.5, 0.9, 0.99):
            v = lat.quantile(qq)
            q.add_metric([str(qq)], 0.0 if math.isnan(v) else v)
        yield q
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
        if self.pool is not None:
            s = self.pool.stats
            for field in ("hits", "misses", "returns", "drops"):
                yield CounterMetricFamily(f"{p}_trace_pool_{field}", f"Trace pool {field}.",
                                          value=getattr(s, field))
            yield GaugeMetricFamily(f"{p}_trace_pool_size", "Idle traces in the pool.",
                                    value=s.size)
            yield GaugeMetricFamily(f"{p}_trace_pool_hit_ratio",
                                    "Acquisitions served from the pool.", value=s.hit_ratio)
        if self.breaker is not None:
            b = self.breaker.metrics
            state = GaugeMetricFamily(f"{p}_circuit_breaker_state",
                                      "The circuit breaker's state (1: current).",
                                      labels=["state"])
            for name in BreakerState.__members__:
                state.add_metric([name], 1.0 if b["state"] == name else 0.0)
            yield state
            yield GaugeMetricFamily(f"{p}_circuit_breaker_failure_rate",
                                    "Failure rate over the breaker's window.",
                                    value=b["failure_rate"])
            calls = CounterMetricFamily(f"{p}_circuit_breaker_calls",
                                        "Calls through the breaker, by outcome.",
                                        labels=["outcome"])
            for outcome, n in (("successful", b["successful_calls"]),
                               ("failed", b["failed_calls"]),
                               ("rejected", b["rejected_calls"]),
                               ("ignored", b["ignored_calls"])):
                calls.add_metric([outcome], n)
            yield calls
            moves = CounterMetricFamily(f"{p}_circuit_breaker_transitions",
                                        "State transitions of the breaker.",
                                        labels=["from_state", "to_state"])
            for key, n in sorted(b["transitions"].items()):
                old_state, new_state = key.split("->")
                moves.add_metric([old_state, new_state], n)
            yield moves


def _le(x: float) -> str:
    return "+Inf" if math.isinf(x) else repr(float(x))
