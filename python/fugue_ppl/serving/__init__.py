"""Serving: the circuit breaker and the model runner (compiled), health
checks (:mod:`~fugue_ppl.serving.health`) and service-level objectives,
alerts, availability and capacity (:mod:`~fugue_ppl.serving.slo`), and the
Prometheus export of the breaker (:mod:`~fugue_ppl.serving.prometheus`,
registered with the monitoring layer's collector on import)."""

from fugue_ppl.serving import prometheus as _prometheus  # noqa: F401  (registers the exporter)
from fugue_ppl.serving._breaker import BreakerConfig, BreakerState, CircuitBreaker, ManualClock
from fugue_ppl.serving._robust import RobustHandler
from fugue_ppl.serving._runner import InferenceResult, ModelRunner, TraceIssue, validate_trace

__all__ = [
    "CircuitBreaker", "BreakerConfig", "BreakerState", "ManualClock",
    "RobustHandler", "ModelRunner", "InferenceResult", "TraceIssue", "validate_trace",
]
