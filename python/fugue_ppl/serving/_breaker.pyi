"""Type stubs of the compiled module fugue_ppl.serving._breaker."""

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, SupportsFloat, TypeAlias, TypedDict, TypeVar

from typing_extensions import disjoint_base, final

from fugue_ppl.checks import Settings
from fugue_ppl.errors import CircuitOpenError

__all__ = ["BreakerState", "BreakerConfig", "CircuitBreaker", "ManualClock"]

_T = TypeVar("_T")
_WindowType: TypeAlias = Literal["count", "time"]
_StateName: TypeAlias = Literal["HEALTHY", "DEGRADED", "FAILED", "RECOVERY"]
_Listener: TypeAlias = Callable[[BreakerState, BreakerState], object]

TRANSITIONS: tuple[tuple[_StateName, _StateName], ...]

class BreakerState(enum.IntEnum):
    """The four states: HEALTHY and DEGRADED (closed), FAILED (open), RECOVERY (half-open)."""

    HEALTHY = 0
    DEGRADED = 1
    FAILED = 2
    RECOVERY = 3

@final
class ManualClock:
    """A clock that moves only when told to (for tests); read directly by the C++ breaker."""

    def __init__(self, start: SupportsFloat = 0.0) -> None: ...
    def advance(self, seconds: SupportsFloat) -> None: ...
    def now(self) -> float: ...
    def __call__(self) -> float: ...

@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerConfig(Settings):
    """The validated, immutable settings of a CircuitBreaker."""

    failure_threshold: float = ...
    degraded_threshold: float = ...
    recovery_threshold: float = ...
    window_type: _WindowType = ...
    window_size: int = ...
    window_seconds: float = ...
    minimum_calls: int = ...
    slow_call_duration: float | None = ...
    open_duration: float = ...
    backoff_factor: float = ...
    max_open_duration: float | None = ...
    half_open_permits: int = ...
    recovery_success_rate: float = ...
    def replace(self, **changes: Any) -> BreakerConfig: ...

class _BreakerMetrics(TypedDict):
    state: _StateName
    failure_rate: float
    slow_rate: float
    window_calls: int
    window_failures: int
    window_slow_calls: int
    minimum_calls: int
    allow_calls: int
    permitted_calls: int
    rejected_calls: int
    successful_calls: int
    failed_calls: int
    total_calls: int
    slow_calls: int
    ignored_calls: int
    transitions: dict[str, int]
    open_duration: float
    retry_after: float
    backoff_level: int
    forced_open: bool
    trial_permits_used: int
    trial_successes: int
    trial_failures: int

@disjoint_base
class CircuitBreaker:
    """A thread-safe circuit breaker (C++): HEALTHY, DEGRADED, FAILED, RECOVERY."""

    def __init__(
        self,
        config: BreakerConfig | Mapping[str, Any] | None = None,
        *,
        clock: ManualClock | None = None,
        name: str = "circuit_breaker",
        record: type[BaseException] | tuple[type[BaseException], ...] = ...,
        ignore: type[BaseException] | tuple[type[BaseException], ...] = ...,
        failure_threshold: SupportsFloat = ...,
        degraded_threshold: SupportsFloat = ...,
        recovery_threshold: SupportsFloat = ...,
        window_type: _WindowType = ...,
        window_size: int = ...,
        window_seconds: SupportsFloat = ...,
        minimum_calls: int = ...,
        slow_call_duration: SupportsFloat | None = ...,
        open_duration: SupportsFloat = ...,
        backoff_factor: SupportsFloat = ...,
        max_open_duration: SupportsFloat | None = ...,
        half_open_permits: int = ...,
        recovery_success_rate: SupportsFloat = ...,
    ) -> None: ...
    @property
    def config(self) -> BreakerConfig: ...
    @property
    def clock(self) -> ManualClock | None: ...
    @property
    def name(self) -> str: ...
    @property
    def record_exceptions(self) -> tuple[type[BaseException], ...]: ...
    @property
    def ignore_exceptions(self) -> tuple[type[BaseException], ...]: ...
    def classify(self, exc: BaseException) -> Literal["success", "failure", "ignored"]: ...
    def allow(self) -> bool: ...
    def record_success(self, duration: SupportsFloat | None = None) -> None: ...
    def record_failure(self, duration: SupportsFloat | None = None) -> None: ...
    def record_ignored(self) -> None: ...
    def call(self, func: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T: ...
    def open_error(self) -> CircuitOpenError: ...
    def force_open(self, duration: SupportsFloat | None = None) -> None: ...
    def reset(self) -> None: ...
    def add_listener(self, listener: _Listener) -> None: ...
    def remove_listener(self, listener: _Listener) -> None: ...
    @property
    def listeners(self) -> tuple[_Listener, ...]: ...
    @property
    def state(self) -> BreakerState: ...
    @property
    def retry_after(self) -> float: ...
    @property
    def metrics(self) -> _BreakerMetrics: ...
