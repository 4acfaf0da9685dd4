"""Type stubs of the parameter cache's compiled read path (fugue_ppl.deploy._fresh)."""

from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["FreshIndex", "monotonic"]

def monotonic() -> float: ...

class FreshIndex:
    @property
    def entries(self) -> dict[Hashable, tuple[Any, float]]: ...
    @property
    def timer(self) -> Callable[[], float]: ...
    hits: int
    misses: int
    on_miss: Callable[[Any, Any], Any] | None
    def __init__(self, timer: Callable[[], float] | None = ...) -> None: ...
    def get(self, key: Hashable) -> Any | None: ...
    def params(self, name: Any, version: Any) -> Any | None: ...
