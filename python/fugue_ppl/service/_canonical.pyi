"""Type stubs of the compiled RFC 8785 canonical JSON (fugue_ppl.service._canonical)."""

from typing import Any

__all__ = ["Canonicaliser", "NoCanonicalForm"]

class NoCanonicalForm(Exception): ...

class Canonicaliser:
    def __init__(self, max_depth: int) -> None: ...
    def dumps(self, value: Any) -> bytes: ...
