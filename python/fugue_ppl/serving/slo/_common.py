"""What the modules of :mod:`fugue_ppl.serving.slo` share: durations exact to the
microsecond, exact ratios, clocks, and the counts read from a runner or its metrics.

The argument checks the kit lacks live here; the others are :mod:`fugue_ppl.checks`'s.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from numbers import Integral, Rational, Real
from typing import Any

from fugue_ppl.checks import check_bounded, invalid, safe_repr, type_error
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.monitoring._metrics import ProductionMetrics
from fugue_ppl.serving._runner import ModelRunner

Clock = Callable[[], float]
Duration = timedelta | float | int
Source = ModelRunner | ProductionMetrics

US_PER_S = 1_000_000
ONE_US = timedelta(microseconds=1)
#: The longest duration a timedelta holds, in microseconds.
MAX_US = timedelta.max // ONE_US
#: The longest whose negative a timedelta holds too (999999999 days): the budget left
#: after such a downtime is representable.
MAX_SPAN_US = -timedelta.min // ONE_US
#: The same in whole seconds (exact).
MAX_SPAN_S = MAX_SPAN_US // US_PER_S
_MAX_FLOAT = sys.float_info.max


# ---------------------------------------------------------------- numbers


def to_float(x: Any) -> float:
    """A number as a float, never raising: +-inf beyond the float range, NaN for a
    signalling NaN decimal."""
    try:
        return float(x)
    except OverflowError:                    # an int or a fraction beyond the float range
        return math.inf if x > 0 else -math.inf
    except ValueError:                       # Decimal('sNaN')
        return math.nan


def exact(x: Any) -> Fraction:
    """A number as an exact fraction; a float as the decimal it prints as."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, Integral):
        return Fraction(int(x))
    if isinstance(x, Decimal):
        return Fraction(x)
    return Fraction(repr(float(x)))


def _is_number(x: Any) -> bool:
    return isinstance(x, (Real, Decimal)) and not isinstance(x, bool)


def _is_finite(x: Any) -> bool:
    """Whether a number is finite, whatever its size (an int of any size is)."""
    if isinstance(x, Rational):
        return True
    if isinstance(x, Decimal):
        return x.is_finite()
    return math.isfinite(to_float(x))


def check_number(value: Any, name: str, owner: str, low: float = -math.inf,
                 high: float = math.inf, *, low_open: bool = False,
                 high_open: bool = False) -> float:
    """:func:`~fugue_ppl.checks.check_bounded`, a ``Decimal`` accepted too (and shown as
    given when refused)."""
    if not isinstance(value, Decimal):
        return check_bounded(value, name, owner, low, high, low_open=low_open,
                             high_open=high_open)
    try:
        return check_bounded(to_float(value), name, owner, low, high, low_open=low_open,
                             high_open=high_open)
    except InvalidArgument as e:
        err = invalid(owner, name, value, e.rule)
    raise err


# ---------------------------------------------------------------- durations


def _check_duration(value: Any, name: str, owner: str) -> None:
    """A timedelta, or a finite number of seconds (of any size)."""
    if isinstance(value, timedelta):
        return
    if not _is_number(value):
        raise type_error(owner, name, value, "a timedelta or a number of seconds")
    if not _is_finite(value):
        raise invalid(owner, name, value, "must be finite")


def duration_us(value: Any, name: str, owner: str, *, zero: bool = False,
                max_us: int = MAX_US) -> int:
    """A duration (timedelta or seconds) as whole microseconds, > 0 (>= 0 when ``zero``)
    and at most ``max_us``; exact at any size."""
    _check_duration(value, name, owner)
    us = value // ONE_US if isinstance(value, timedelta) else round(exact(value) * US_PER_S)
    if us < 0 or (us == 0 and not zero):
        raise invalid(owner, name, value, "must be >= 0" if zero else
                      "must be positive (at least 1 microsecond)")
    if us > max_us:
        raise invalid(owner, name, value, f"must be at most {timedelta(microseconds=max_us)} "
                      f"({max_us // US_PER_S} s)")
    return us


def duration_seconds(value: Any, name: str, owner: str, *, zero: bool = False) -> float:
    """A duration (timedelta or seconds) as float seconds, unrounded; > 0 (>= 0 when
    ``zero``)."""
    _check_duration(value, name, owner)
    v = value.total_seconds() if isinstance(value, timedelta) else to_float(value)
    if v < 0 or (v == 0 and not zero):
        raise invalid(owner, name, value, "must be >= 0" if zero else "must be positive")
    if math.isinf(v):
        raise invalid(owner, name, value, f"must be at most {_MAX_FLOAT:g} s")
    return v


def fmt_duration(us: int) -> str:
    """``3d``, ``6h``, ``30m``, ``90s`` or ``0.5s`` for a duration in microseconds."""
    for unit, size in (("d", 86_400 * US_PER_S), ("h", 3_600 * US_PER_S),
                       ("m", 60 * US_PER_S)):
        if us % size == 0:
            return f"{us // size}{unit}"
    return f"{us / US_PER_S:g}s"


# ---------------------------------------------------------------- clocks


def check_clock(clock: Any, name: str, owner: str) -> float:
    """Validate a clock by calling it once; returns its reading."""
    if not callable(clock):
        raise type_error(owner, name, clock, "callable (returning seconds)")
    return read_clock(clock, name, owner)


def read_clock(clock: Clock, name: str, owner: str) -> float:
    """The clock's reading as a finite float (TypeError naming the clock otherwise)."""
    now = clock()
    v = to_float(now) if _is_number(now) else math.nan
    if not math.isfinite(v):
        raise TypeError(f"{owner}: {name} must return a finite number of seconds, got "
                        f"{safe_repr(now)}")
    return v


# ---------------------------------------------------------------- counts of a runner


def metrics_of(source: Any, name: str, owner: str) -> ProductionMetrics:
    """The metrics of a runner, or the metrics themselves."""
    if isinstance(source, ModelRunner):
        if source.metrics is None:
            raise ValueError(f"{owner}: {name}: the ModelRunner has no metrics (built with "
                             f"metrics=False)")
        return source.metrics
    if isinstance(source, ProductionMetrics):
        return source
    raise type_error(owner, name, source, "a ModelRunner or a ProductionMetrics")


def request_counts(source: Any, name: str, owner: str,
                   count_rejected: bool = True) -> tuple[int, int]:
    """``(requests, bad requests)`` counted by a runner or metrics (see the package notes)."""
    counts = metrics_of(source, name, owner).counts()    # one moment: errors <= inferences
    total, bad = counts["inferences"], counts["errors"]
    if count_rejected and isinstance(source, ModelRunner):
        rejected = source.breaker.metrics["rejected_calls"]
        total += rejected
        bad += rejected
    return total, bad


def latency_counts(source: Any, name: str, owner: str, threshold: float) -> tuple[int, int]:
    """``(inferences, inferences slower than threshold)`` from the latency histogram."""
    (_, fast), (_, total) = metrics_of(source, name, owner).latency.cumulative_counts(
        (threshold,))
    return total, max(0, total - fast)
