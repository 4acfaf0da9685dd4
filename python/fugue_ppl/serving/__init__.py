"""Serving: the circuit breaker and the model runner (compiled), their
settings types, health checks (:mod:`~fugue_ppl.serving.health`),
service-level objectives, alerts, availability and capacity
(:mod:`~fugue_ppl.serving.slo`), batch inference on any executor
(:mod:`~fugue_ppl.serving.batch`), model-quality and drift monitoring
(:mod:`~fugue_ppl.serving.drift`), and the breaker's
and worker pool's Prometheus families (:mod:`~fugue_ppl.serving.prometheus`,
registered with the monitoring layer's collector on import)."""

from fugue_ppl.serving import prometheus as _prometheus  # noqa: F401  (registers the exporters)
from fugue_ppl.serving._breaker import BreakerConfig, BreakerState, CircuitBreaker, ManualClock
from fugue_ppl.serving._robust import RobustHandler
from fugue_ppl.serving._runner import (
    InferenceResult,
    ModelRunner,
    RunAbandoned,
    TraceIssue,
    WorkerPool,
    validate_trace,
)
from fugue_ppl.serving._runner_config import ModelConfig, RunnerConfig, RuntimeConfig
from fugue_ppl.serving.batch import RunnerSpec, infer_many
from fugue_ppl.serving.drift import DriftCollector, DriftMonitor, DriftSettings

__all__ = [
    "CircuitBreaker", "BreakerConfig", "BreakerState", "ManualClock",
    "RobustHandler", "ModelRunner", "InferenceResult", "TraceIssue", "validate_trace",
    "WorkerPool", "RunAbandoned",
    "RunnerConfig", "ModelConfig", "RuntimeConfig",
    "RunnerSpec", "infer_many",
    "DriftMonitor", "DriftSettings", "DriftCollector",
]
