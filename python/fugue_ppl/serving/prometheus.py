"""Prometheus export of the serving layer: the circuit breaker's and the worker
pool's metric families.

:class:`BreakerExporter` and :class:`WorkerPoolExporter` are metric sources
(:class:`fugue_ppl.monitoring.prometheus.MetricSource`) for a
:class:`~fugue_ppl.CircuitBreaker` and a runner's
:class:`~fugue_ppl.serving.WorkerPool`. Importing the serving layer registers
them as those types' exporters, so either can be handed to
:class:`~fugue_ppl.monitoring.prometheus.PrometheusCollector` as it is
(``breaker=`` or ``sources=[...]``), and
``PrometheusCollector.from_runner(runner)`` exports a runner's breaker and
workers along with its metrics and trace pool; the monitoring layer itself
never imports this one.

Examples
--------
>>> import fugue_ppl as fp
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> from fugue_ppl.monitoring.prometheus import PrometheusCollector
>>> breaker = fp.CircuitBreaker(name="scorer")
>>> registry = CollectorRegistry()
>>> registry.register(PrometheusCollector(fp.ProductionMetrics(), sources=[breaker]))
>>> b'fugue_circuit_breaker_state{state="HEALTHY"} 1.0' in generate_latest(registry)
True
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from fugue_ppl.checks import check_type
from fugue_ppl.monitoring.prometheus import register_metric_source
from fugue_ppl.serving._breaker import BreakerState, CircuitBreaker
from fugue_ppl.serving._runner import WorkerPool

__all__ = ["BreakerExporter", "WorkerPoolExporter", "OUTCOMES"]

#: The ``outcome`` label of ``<prefix>_circuit_breaker_calls_total`` and the
#: field of ``CircuitBreaker.metrics`` it reads.
OUTCOMES = (("successful", "successful_calls"), ("failed", "failed_calls"),
             ("rejected", "rejected_calls"), ("ignored", "ignored_calls"))


class BreakerExporter:
    """The metric families of a :class:`~fugue_ppl.CircuitBreaker`.

    ``<prefix>_circuit_breaker_state{state}`` (1 for the current state, 0
    for the others), ``<prefix>_circuit_breaker_failure_rate`` (over the
    breaker's window), ``<prefix>_circuit_breaker_calls_total{outcome}``
    (successful, failed, rejected, ignored) and
    ``<prefix>_circuit_breaker_transitions_total{from_state,to_state}``.
    One consistent snapshot of the breaker (``breaker.metrics``) per scrape.

    Raises
    ------
    TypeError
        ``breaker`` is not a CircuitBreaker.
    """

    def __init__(self, breaker: CircuitBreaker):
        self.breaker = check_type(breaker, "breaker", type(self).__name__, CircuitBreaker,
                                  "a CircuitBreaker")

    def prometheus_families(self, prefix: str) -> Iterable[Metric]:
        p = prefix
        b = self.breaker.metrics
        state = GaugeMetricFamily(f"{p}_circuit_breaker_state",
                                  "The circuit breaker's state (1: current).", labels=["state"])
        for name in BreakerState.__members__:
            state.add_metric([name], 1.0 if b["state"] == name else 0.0)
        yield state
        yield GaugeMetricFamily(f"{p}_circuit_breaker_failure_rate",
                                "Failure rate over the breaker's window.", value=b["failure_rate"])
        calls = CounterMetricFamily(f"{p}_circuit_breaker_calls",
                                    "Calls through the breaker, by outcome.", labels=["outcome"])
        for outcome, field in OUTCOMES:
            calls.add_metric([outcome], b[field])
        yield calls
        moves = CounterMetricFamily(f"{p}_circuit_breaker_transitions",
                                    "State transitions of the breaker.",
                                    labels=["from_state", "to_state"])
        for key, n in sorted(b["transitions"].items()):
            old_state, new_state = key.split("->")
            moves.add_metric([old_state, new_state], n)
        yield moves

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.breaker!r})"


register_metric_source(CircuitBreaker, BreakerExporter)


class WorkerPoolExporter:
    """The saturation figures of a runner's :class:`~fugue_ppl.serving.WorkerPool`.

    ``<prefix>_workers`` and ``<prefix>_queue_capacity`` (its sizes),
    ``<prefix>_inflight_runs`` (runs in a worker, abandoned ones still running
    included), ``<prefix>_queue_depth``, ``<prefix>_abandoned_runs_total``,
    ``<prefix>_overloaded_requests_total`` and, over the pool's window,
    ``<prefix>_arrival_rate_per_second``, ``<prefix>_service_time_seconds``
    (the mean run; 0 before one) and ``<prefix>_utilisation`` (rho =
    lambda / mu of the workers). One reading of the pool per scrape.

    Raises
    ------
    TypeError
        ``pool`` is not a WorkerPool.
    """

    def __init__(self, pool: WorkerPool):
        self.pool = check_type(pool, "pool", type(self).__name__, WorkerPool, "a WorkerPool")

    def prometheus_families(self, prefix: str) -> Iterable[Metric]:
        p = prefix
        w = self.pool.to_dict()
        yield GaugeMetricFamily(f"{p}_workers", "Worker threads of the asynchronous calls.",
                                value=w["size"])
        yield GaugeMetricFamily(f"{p}_queue_capacity",
                                "Asynchronous calls that may wait for a worker.",
                                value=w["queue_size"])
        yield GaugeMetricFamily(f"{p}_inflight_runs",
                                "Runs in a worker now (abandoned ones still running included).",
                                value=w["in_flight"])
        yield GaugeMetricFamily(f"{p}_queue_depth", "Asynchronous calls waiting for a worker.",
                                value=w["queue_depth"])
        yield CounterMetricFamily(f"{p}_abandoned_runs",
                                  "Runs abandoned at their deadline or cancellation.",
                                  value=w["abandoned"])
        yield CounterMetricFamily(f"{p}_overloaded_requests",
                                  "Calls refused at admission: the queue was full.",
                                  value=w["overloaded"])
        yield GaugeMetricFamily(f"{p}_arrival_rate_per_second",
                                "Asynchronous calls per second over the window (lambda).",
                                value=w["arrival_rate"])
        yield GaugeMetricFamily(f"{p}_service_time_seconds",
                                "Mean seconds of a run over the window (1 / mu); 0 before one.",
                                value=w["service_time"] or 0.0)
        yield GaugeMetricFamily(f"{p}_utilisation",
                                "lambda * service time / workers over the window (rho).",
                                value=w["utilisation"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.pool!r})"


register_metric_source(WorkerPool, WorkerPoolExporter)
