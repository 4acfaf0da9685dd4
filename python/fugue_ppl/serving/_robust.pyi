"""Type stubs of the compiled module fugue_ppl.serving._robust."""

from collections.abc import Mapping
from typing import Literal

from fugue_ppl.core._runtime import Handler, HandlerWrapper

__all__ = ["RobustHandler"]


class RobustHandler(HandlerWrapper):
    """Run ``inner`` with a fallback at every sampling site that fails (handler
    errors, non-finite samples); substitutes are flagged in the trace and
    counted by kind; observations are never dropped."""

    def __init__(self, inner: Handler,
                 fallbacks: Mapping[str | type, float | int | bool] | None = ...,
                 on_nonfinite: Literal["fallback", "raise", "keep"] = ...) -> None: ...
    @property
    def inner(self) -> Handler: ...
    @property
    def on_nonfinite(self) -> str: ...
    @property
    def fallbacks(self) -> dict[str | type, float | int | bool]: ...
    @property
    def error_counts(self) -> dict[str, int]: ...
    def reset_counts(self) -> None: ...
