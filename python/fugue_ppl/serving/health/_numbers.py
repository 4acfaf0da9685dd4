"""Numbers in health results and reports: the real-number test, float conversion, and
their ``application/health+json`` renderings (JSON-safe values, RFC 3339 times).

Shared by every module of :mod:`fugue_ppl.serving.health`; not public.
"""

from __future__ import annotations

import datetime
import math
import numbers
from typing import Any


def is_real(x: object) -> bool:
    """A real number, bools excluded."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def to_float(x: Any) -> float | None:
    """A real number as a float; None when it is beyond the float range (a huge int)."""
    try:
        return float(x)
    except OverflowError:
        return None


def rfc3339(ts: float | None) -> str | None:
    """``ts`` (seconds since the epoch) as an RFC 3339 UTC time, in milliseconds.

    None when ``ts`` is None, not finite, or outside the years 1 to 9999.
    """
    t = to_float(ts) if is_real(ts) else None
    if t is None or not math.isfinite(t):
        return None
    try:
        dt = datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_value(v: Any) -> Any:
    """A JSON-safe observed value (None for a non-finite float, or an int with more
    digits than Python writes)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, int) and v.bit_length() > 1024:     # beyond the float range
        try:
            str(v)
        except ValueError:
            return None
    return v
