from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from fugue_ppl.core._runtime import Handler, Trace, TracePool
from fugue_ppl.monitoring._metrics import ProductionMetrics
from fugue_ppl.serving._breaker import CircuitBreaker
from fugue_ppl.serving._runner_config import RunnerConfig

__all__ = ["ModelRunner", "InferenceResult", "TraceIssue", "validate_trace"]


class InferenceResult:
    """The outcome of one ModelRunner.infer call."""

    @property
    def value(self) -> Any: ...
    @property
    def status(self) -> str: ...  # "ok" | "fallback" | "timeout" | "rejected" | "degraded" | "shed"
    @property
    def model_version(self) -> Any: ...
    @property
    def duration(self) -> float: ...
    @property
    def trace(self) -> Trace | None: ...
    @property
    def error(self) -> BaseException | None: ...
    @property
    def error_id(self) -> str | None: ...
    @property
    def ok(self) -> bool: ...
    @property
    def fallback_sites(self) -> tuple[str, ...]: ...
    def summary(self) -> dict[str, float | int]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __reduce__(self) -> tuple[Any, ...]: ...


class ModelRunner:
    """A model behind validation, a circuit breaker, fallbacks, a deadline and metrics."""

    model: Callable[..., Any]
    config: RunnerConfig | Any        # or a fugue_ppl.config.Config
    schema: Any
    breaker: CircuitBreaker
    metrics: ProductionMetrics | None
    pool: TracePool
    handler: Handler
    version: Any
    infer: Callable[..., InferenceResult]
    degraded_model: Callable[..., Any] | None
    degraded_shed: float
    @property
    def deadline(self) -> float | None: ...
    def infer_many(self, inputs: Any, **options: Any) -> list[dict[str, Any]]: ...
    def __reduce__(self) -> tuple[Any, ...]: ...

    def __init__(self, model: Callable[..., Any], config: RunnerConfig | Any = ...,
                 schema: Any = ...,
                 fallback: Any = ..., *, site_fallbacks: Mapping[Any, Any] | None = ...,
                 rng: Any = ..., breaker: CircuitBreaker | None = ...,
                 metrics: ProductionMetrics | None | bool = ...,
                 deadline: float | None = ...,
                 degraded_model: Callable[..., Any] | None = ...,
                 degraded_shed: float = ...) -> None: ...


class TraceIssue(NamedTuple):
    address: str | None
    kind: str
    message: str


def validate_trace(trace: Trace, max_abs: float = ...) -> list[TraceIssue]: ...
