"""Type stubs of the compiled RFC 8785 canonical JSON (fugue_ppl.service._canonical)."""

from collections.abc import Callable
from typing import Any

__all__ = ["Canonicaliser", "NoCanonicalForm"]

class NoCanonicalForm(Exception): ...

class Canonicaliser:
    def __init__(self, number: Callable[[float], str], max_depth: int) -> None: ...
    def text(self, value: Any) -> str: ...
