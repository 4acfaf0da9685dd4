"""Prometheus export of the serving layer: the circuit breaker's metric families.

:class:`BreakerExporter` is a metric source
(:class:`fugue_ppl.monitoring.prometheus.MetricSource`) for a
:class:`~fugue_ppl.CircuitBreaker`. Importing the serving layer registers it
as the breaker's exporter, so a breaker can be handed to
:class:`~fugue_ppl.monitoring.prometheus.PrometheusCollector` as it is
(``breaker=`` or ``sources=[...]``), and
``PrometheusCollector.from_runner(runner)`` exports a runner's breaker along
with its metrics and trace pool; the monitoring layer itself never imports
this one.

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

__all__ = ["BreakerExporter", "OUTCOMES"]

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
