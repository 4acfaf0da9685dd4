"""The checking kit: argument checks with one exception rule, and safe
renderings of values.

Every public constructor that takes numbers checks them here (numpy's
``check_constraint`` model): a wrong type raises ``TypeError``; a bad value
raises :class:`~fugue_ppl.errors.InvalidArgument` (a ``ValueError``) naming the
owner and the parameter and showing the value through :func:`safe_repr`.
Compiled fast paths test the common case inline and call these on failure.
Input validation (:mod:`fugue_ppl.validation`) and the configuration use the
same renderings.
"""

from __future__ import annotations

import math
import numbers
import operator
import re
import reprlib
from collections.abc import Collection
from typing import Any

import numpy as np

from fugue_ppl.errors import InvalidArgument

__all__ = [
    "safe_repr", "safe_text", "is_secret_name", "RENDER_LIMIT", "MESSAGE_LIMIT", "MASK",
    "CONSTRAINTS", "check_real", "check_bounded", "check_int", "check_duration", "check_choice", "check_flag",
    "check_text", "check_type", "invalid",
]

#: Maximum length of a rendered value (:func:`safe_repr`).
RENDER_LIMIT = 40
#: Maximum length of a message rendered by :func:`safe_text`.
MESSAGE_LIMIT = 200
#: What a secret renders as.
MASK = "***"
_ELLIPSIS = "..."

# --------------------------------------------------------------------- rendering

_SECRET_NAME = re.compile(r"password|passwd|passphrase|token|secret|key|credential|private",
                          re.IGNORECASE)


def is_secret_name(name: object) -> bool:
    """Whether a field name looks like it holds a secret.

    Parameters
    ----------
    name : object
        A field name; anything but a ``str`` is not secret-looking.

    Returns
    -------
    bool
        True when ``name`` contains ``password``, ``passwd``, ``passphrase``,
        ``token``, ``secret``, ``key``, ``credential`` or ``private``
        (case-insensitive). Over-masking is harmless; leaking is not.

    Examples
    --------
    >>> is_secret_name("api_key"), is_secret_name("DB_PASSWORD"), is_secret_name("reading")
    (True, True, False)
    """
    return isinstance(name, str) and _SECRET_NAME.search(name) is not None


_repr = reprlib.Repr()
_repr.maxlevel = 2
_repr.maxstring = RENDER_LIMIT
_repr.maxother = RENDER_LIMIT
_repr.maxlong = RENDER_LIMIT
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = 4
_repr.maxdeque = _repr.maxarray = 4
_repr.maxdict = 3


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(c: str) -> str:
    short = _SHORT_ESCAPES.get(c)
    if short is not None:
        return short
    o = ord(c)
    if o < 0x100:
        return f"\\x{o:02x}"
    if o < 0x10000:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def _escape(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


def _clip(text: str, limit: int, truncated: bool = False) -> str:
    if truncated or len(text) > limit:
        return text[: max(limit - len(_ELLIPSIS), 0)] + _ELLIPSIS
    return text


def _type_name(value: object) -> str:
    try:
        name = type(value).__name__
        if not isinstance(name, str):
            return "object"
        return _clip(_escape(str.__str__(name)), 40)
    except Exception:
        return "object"


def _raw_repr(value: object, limit: int) -> tuple[str, bool]:
    t = type(value)
    if t is float or t is bool or value is None:
        return repr(value), False
    if t is int:
        if value.bit_length() > 128:
            return f"<int of {value.bit_length()} bits>", False
        return repr(value), False
    if isinstance(value, str):
        head = str.__getitem__(value, slice(0, limit + 1))
        return str.__repr__(head), len(head) > limit
    if isinstance(value, (bytes, bytearray)):
        head = bytes(value[: limit + 1]) if isinstance(value, bytearray) \
            else bytes.__getitem__(value, slice(0, limit + 1))
        return bytes.__repr__(head), len(head) > limit
    text = _repr.repr(value)
    if not isinstance(text, str):
        raise TypeError
    return str.__str__(text), False


def safe_repr(value: object, limit: int = RENDER_LIMIT, *, secret: bool = False) -> str:
    """A bounded, printable rendering of any value; never raises.

    Parameters
    ----------
    value : object
        Anything, including objects whose ``__repr__`` raises.
    limit : int, default 40
        Maximum length of the result; longer renderings end in ``...``.
    secret : bool, default False
        Render ``'***'`` instead.

    Returns
    -------
    str
        ``repr``-like text with every non-printable character (control,
        format — zero-width, bidirectional — and surrogate code points)
        escaped as ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``.

    Examples
    --------
    >>> safe_repr("abc\\n")
    "'abc\\\\n'"
    >>> safe_repr("x" * 100)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."
    >>> safe_repr("hunter2", secret=True)
    '***'
    >>> safe_repr(2 ** 1000)
    '<int of 1001 bits>'
    """
    if secret:
        return MASK
    try:
        text, truncated = _raw_repr(value, limit)
    except Exception:
        text, truncated = f"<{_type_name(value)} object>", False
    return _clip(_escape(text), limit, truncated)


def safe_text(text: object, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` (a message) made single-line, printable and bounded; never raises.

    Parameters
    ----------
    text : object
        Usually a ``str``; anything else is converted with ``str`` (an
        object whose ``__str__`` raises gives ``'<unprintable>'``).
    limit : int, default 200
        Maximum length.

    Returns
    -------
    str

    Examples
    --------
    >>> safe_text("line one\\nline two")
    'line one\\\\nline two'
    """
    try:
        if not isinstance(text, str):
            text = str(text)
        text = str.__getitem__(text, slice(0, limit + 1))
    except Exception:
        return "<unprintable>"
    return _clip(_escape(text), limit)



# --------------------------------------------------------------------- checks

#: Named constraints on a real number: ``name -> (low, high, low_open, high_open, rule)``.
CONSTRAINTS = {
    "finite": (-math.inf, math.inf, False, False, "must be finite"),
    "positive": (0.0, math.inf, True, False, "must be finite and > 0"),
    "non_negative": (0.0, math.inf, False, False, "must be finite and >= 0"),
    "probability": (0.0, 1.0, False, False, "must be in [0, 1]"),
    "open_unit": (0.0, 1.0, True, True, "must be in (0, 1)"),
    "unit": (0.0, 1.0, True, False, "must be in (0, 1]"),
}


def invalid(owner: str, name: str, value: Any, rule: str, *, code: int | None = None,
            secret: bool = False) -> InvalidArgument:
    """The :class:`~fugue_ppl.errors.InvalidArgument` for ``owner``'s ``name`` (to raise)."""
    return InvalidArgument(owner, name, value, rule, code=code, secret=secret)


def _type_error(owner: str, name: str, value: Any, expected: str) -> TypeError:
    return TypeError(f"{owner}: {name} must be {expected}, got {_type_name(value)}")


def _as_real(value: Any, name: str, owner: str) -> float:
    t = type(value)
    if t is float:
        return value
    if t is int:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray)):
        raise _type_error(owner, name, value, "a real number")
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "iuf":
            raise _type_error(owner, name, value, "a real number")
        value = value.item()
    if isinstance(value, numbers.Integral):
        return _as_real(int(value), name, owner)
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        raise _type_error(owner, name, value, "a real number") from None


def check_real(value: Any, name: str, owner: str, constraint: str = "finite", *,
               code: int | None = None) -> float:
    """``value`` as a float that meets ``constraint`` (a key of :data:`CONSTRAINTS`).

    Raises
    ------
    TypeError
        ``value`` is not a real number (bools and strings are not).
    InvalidArgument
        ``value`` breaks the constraint (an int beyond the float range is infinite).

    Examples
    --------
    >>> check_real(0.25, "p", "Bernoulli", "probability")
    0.25
    >>> check_real(-1, "sigma", "Normal", "positive")
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.InvalidArgument: Normal: sigma must be finite and > 0, got -1
    """
    x = _as_real(value, name, owner)
    low, high, low_open, high_open, rule = CONSTRAINTS[constraint]
    if not (math.isfinite(x) and (low < x if low_open else low <= x)
            and (x < high if high_open else x <= high)):
        raise InvalidArgument(owner, name, value, rule, code=code)
    return x


def check_bounded(value: Any, name: str, owner: str, low: float = -math.inf,
                  high: float = math.inf, *, low_open: bool = False, high_open: bool = False,
                  code: int | None = None) -> float:
    """``value`` as a finite float in the interval from ``low`` to ``high``."""
    x = _as_real(value, name, owner)
    if not (math.isfinite(x) and (low < x if low_open else low <= x)
            and (x < high if high_open else x <= high)):
        raise InvalidArgument(owner, name, value, "must be " + _interval(low, high, low_open,
                                                                           high_open), code=code)
    return x


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if math.isinf(high):
        return f"finite and {'>' if low_open else '>='} {low:g}" if math.isfinite(low) \
            else "finite"
    if math.isinf(low):
        return f"finite and {'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_int(value: Any, name: str, owner: str, *, low: int | None = None,
              high: int | None = None, code: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (an integral float is accepted).

    Raises
    ------
    TypeError
        ``value`` is not an integer (bools are not).
    InvalidArgument
        ``value`` is out of range, or a float that is not integral.
    """
    if type(value) is not int:
        if isinstance(value, (bool, np.bool_)):
            raise _type_error(owner, name, value, "an integer")
        if isinstance(value, (float, np.floating)):
            if not (math.isfinite(value) and float(value).is_integer()):
                raise InvalidArgument(owner, name, value, "must be an integer", code=code)
            value = int(value)
        else:
            try:
                value = operator.index(value)
            except TypeError:
                raise _type_error(owner, name, value, "an integer") from None
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            rule = f"must be >= {low}"
        elif low is None:
            rule = f"must be <= {high}"
        else:
            rule = f"must be in [{low}, {high}]"
        raise InvalidArgument(owner, name, value, rule, code=code)
    return value


def check_duration(value: Any, name: str, owner: str, *, maximum: float = math.inf,
                   zero: bool = False) -> float:
    """``value`` as a number of seconds: finite, > 0 (>= 0 when ``zero``), <= ``maximum``."""
    x = _as_real(value, name, owner)
    if not (math.isfinite(x) and (x >= 0.0 if zero else x > 0.0) and x <= maximum):
        limit = "" if math.isinf(maximum) else f" and <= {maximum:g}"
        raise InvalidArgument(owner, name, value,
                              f"must be a finite number of seconds {'>=' if zero else '>'} 0"
                              f"{limit}")
    return x


def check_choice(value: Any, name: str, owner: str, choices: Collection[Any]) -> Any:
    """``value`` when it is one of ``choices`` (compared by equality and type)."""
    for c in choices:
        if type(value) is type(c) and value == c:
            return c
    raise InvalidArgument(owner, name, value,
                          "must be one of " + ", ".join(repr(c) for c in choices))


def check_flag(value: Any, name: str, owner: str) -> bool:
    """``value`` as a bool (``numpy.bool_`` accepted; nothing else)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise _type_error(owner, name, value, "a bool")


def check_text(value: Any, name: str, owner: str, *, max_length: int = 200) -> str:
    """``value`` as a non-empty, printable str of at most ``max_length`` characters."""
    if not isinstance(value, str):
        raise _type_error(owner, name, value, "a str")
    if not value or len(value) > max_length or not value.isprintable():
        raise InvalidArgument(owner, name, value,
                              f"must be a printable, non-empty str of at most {max_length} "
                              "characters")
    return str(value)


def check_type(value: Any, name: str, owner: str, types: type | tuple[type, ...],
               expected: str) -> Any:
    """``value`` when it is an instance of ``types``; else ``TypeError`` naming ``expected``."""
    if not isinstance(value, types):
        raise _type_error(owner, name, value, expected)
    return value
