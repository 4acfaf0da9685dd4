"""Type stubs of the compiled module fugue_ppl.serving._breaker."""

import enum
from collections.abc import Callable, Mapping
from typing import Any, Literal, SupportsFloat, TypeAlias, TypedDict, TypeVar

from typing_extensions import disjoint_base, final

from fugue_ppl.errors import CircuitOpenError

__all__ = ["BreakerState", "BreakerConfig", "CircuitBreaker", "ManualClock"]

_T = TypeVar("_T")
_WindowType: TypeAlias = Literal["count", "time"]
_StateName: TypeAlias = Literal["HEALTHY", "DEGRADED", "FAILED", "RECOVERY"]
_Listener: TypeAlias = Callable[[BreakerState, BreakerState], object]

DEFAULT_COUNT_WINDOW: int
DEFAULT_TIME_WINDOW: float
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

class _ConfigDict(TypedDict):
    failure_threshold: float
    degraded_threshold: float
    recovery_threshold: float
    window_type: _WindowType
    window_size: int | float
    minimum_calls: int
    slow_call_duration: float | None
    open_duration: float
    backoff_factor: float
    max_open_duration: float | None
    half_open_permits: int
    recovery_success_rate: float

@final
class BreakerConfig:
    """The validated, immutable settings of a CircuitBreaker."""

    def __init__(
        self,
        *,
        failure_threshold: SupportsFloat = 0.5,
        degraded_threshold: SupportsFloat = 0.05,
        recovery_threshold: SupportsFloat = 0.02,
        window_type: _WindowType = "count",
        window_size: int | float | None = None,
        minimum_calls: int = 20,
        slow_call_duration: SupportsFloat | None = None,
        open_duration: SupportsFloat = 30.0,
        backoff_factor: SupportsFloat = 1.0,
        max_open_duration: SupportsFloat | None = None,
        half_open_permits: int = 5,
        recovery_success_rate: SupportsFloat = 1.0,
    ) -> None: ...
    @property
    def failure_threshold(self) -> float: ...
    @property
    def degraded_threshold(self) -> float: ...
    @property
    def recovery_threshold(self) -> float: ...
    @property
    def window_type(self) -> _WindowType: ...
    @property
    def window_size(self) -> int | float: ...
    @property
    def minimum_calls(self) -> int: ...
    @property
    def slow_call_duration(self) -> float | None: ...
    @property
    def open_duration(self) -> float: ...
    @property
    def backoff_factor(self) -> float: ...
    @property
    def max_open_duration(self) -> float | None: ...
    @property
    def half_open_permits(self) -> int: ...
    @property
    def recovery_success_rate(self) -> float: ...
    def to_dict(self) -> _ConfigDict: ...
    def replace(self, **changes: Any) -> BreakerConfig: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, ...]: ...

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
        failure_threshold: SupportsFloat = ...,
        degraded_threshold: SupportsFloat = ...,
        recovery_threshold: SupportsFloat = ...,
        window_type: _WindowType = ...,
        window_size: int | float | None = ...,
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
