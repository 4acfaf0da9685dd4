"""The checking kit: argument checks with one exception rule, safe renderings,
and the settings mechanism every component's settings type is built on.

A wrong type raises ``TypeError``; a bad value raises
:class:`~fugue_ppl.errors.InvalidArgument` naming the owner and the parameter
(the value shown through :func:`safe_repr`). :func:`settings` makes a frozen
dataclass whose fields declare their default, constraint and description
once (:func:`setting`); :mod:`fugue_ppl.config` composes those types.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hmac
import math
import numbers
import operator
import re
import reprlib
from collections.abc import Callable, Collection, Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from fugue_ppl.errors import InvalidArgument, _already_initialised

__all__ = [
    "CONSTRAINTS",
    "LOG_LEVELS",
    "MASK",
    "MESSAGE_LIMIT",
    "RENDER_LIMIT",
    "Bounded",
    "Choice",
    "Constraint",
    "Custom",
    "Duration",
    "Flag",
    "FrozenMapping",
    "Instance",
    "Int",
    "Optional",
    "Params",
    "Real",
    "Relation",
    "Secret",
    "Settings",
    "Text",
    "as_number",
    "log_level_name",
    "check_bounded",
    "check_choice",
    "check_duration",
    "check_exact",
    "check_flag",
    "check_int",
    "check_real",
    "check_site_names",
    "check_text",
    "check_type",
    "closest",
    "declaration",
    "freeze",
    "invalid",
    "is_secret_name",
    "masked",
    "safe_repr",
    "safe_text",
    "section",
    "setting",
    "settings",
    "settings_defaults",
    "thaw",
    "type_error",
    "validate_settings",
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
    except Exception:  # noqa: BLE001 - renderings never raise
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
    limit : int
        Maximum length of the result; longer renderings end in ``...``.
    secret : bool
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
    except Exception:  # noqa: BLE001 - renderings never raise
        text, truncated = f"<{_type_name(value)} object>", False
    return _clip(_escape(text), limit, truncated)


def safe_text(text: object, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` (a message) made single-line, printable and bounded; never raises.

    Parameters
    ----------
    text : object
        Usually a ``str``; anything else is converted with ``str`` (an
        object whose ``__str__`` raises gives ``'<unprintable>'``).
    limit : int
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
    except Exception:  # noqa: BLE001 - renderings never raise
        return "<unprintable>"
    return _clip(_escape(text), limit)


# --------------------------------------------------------------------- secrets


class Secret:
    """A secret string, masked everywhere it could be shown.

    ``repr`` gives ``Secret('***')``; ``str``, ``format`` and f-strings give
    ``'***'``; so logging with ``%s`` / ``%r`` and the configuration's
    ``dump`` never show it. Equality compares the values in constant time (a
    Secret never equals a plain ``str``). ``copy`` and ``deepcopy`` return the
    same object; pickling raises ``TypeError`` (a pickle is a file: load the
    configuration in each process instead). Any layer's settings may hold one
    (a setting declared ``secret=True``); :mod:`fugue_ppl.config` re-exports it.

    Raises
    ------
    TypeError
        ``value`` is not a str (the message does not show it).

    Examples
    --------
    >>> s = Secret("hunter2")
    >>> s, str(s), f"{s}", "%s" % s
    (Secret('***'), '***', '***', '***')
    >>> s.reveal()
    'hunter2'
    >>> s == Secret("hunter2"), s == "hunter2"
    (True, False)
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret):
        if isinstance(value, Secret):
            value = value._value
        elif not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, got {type(value).__name__}")
        object.__setattr__(self, "_value", str.__getitem__(value, slice(None)))

    def reveal(self) -> str:
        """The secret value."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        try:
            return format(MASK, spec)
        except (TypeError, ValueError):
            return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        a = self._value.encode("utf-8", "surrogatepass")
        b = other._value.encode("utf-8", "surrogatepass")
        return hmac.compare_digest(a, b)

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Secret is immutable")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict) -> Secret:
        return self

    def __reduce_ex__(self, protocol):
        raise TypeError("Secret values cannot be pickled (the pickle would hold the secret in "
                        "clear); load the configuration in each process instead")

    __reduce__ = __reduce_ex__  # type: ignore[assignment]


# --------------------------------------------------------------------- checks

#: Named constraints on a real number: ``name -> (low, high, low_open, high_open, rule)``.
#: Accepted log levels (case-insensitive; ``WARN`` and ``FATAL`` are aliases).
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")
_LOG_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}


def log_level_name(text: str) -> str:
    """A log level's canonical name (``"warn"`` gives ``"WARNING"``)."""
    up = text.strip().upper()
    return _LOG_ALIASES.get(up, up)


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


def type_error(owner: str, name: str, value: Any, expected: str) -> TypeError:
    """The ``TypeError`` for ``owner``'s ``name`` (to raise): ``"<owner>: <name> must be
    <expected>, got <type>"``; its ``owner``, ``parameter`` and ``expected`` attributes let a
    caller word its own message (the configuration does)."""
    err = TypeError(f"{owner}: {name} must be {expected}, got {_type_name(value)}")
    err.owner, err.parameter, err.expected = owner, name, expected
    return err


_type_error = type_error


def as_number(value: Any, name: str, owner: str) -> int | float:
    """``value`` as a Python ``int`` or ``float``: the kit's coercion of numbers.

    ``int`` and ``float`` (and their subclasses) come back as the plain type,
    numpy scalars and 0-d numeric arrays unwrapped, other ``numbers.Real``
    (``Fraction``) as a float (beyond the float range: an infinity).

    Raises
    ------
    TypeError
        ``value`` is not a real number: a ``bool``, a ``str``, ``None``, a
        ``Decimal``, an array with dimensions, ...

    Examples
    --------
    >>> import numpy as np
    >>> as_number(np.int64(3), "n", "f"), as_number(np.array(0.5), "x", "f")
    (3, 0.5)
    """
    t = type(value)
    if t is float or t is int:
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray)):
        raise _type_error(owner, name, value, "a real number")
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "iuf":
            raise _type_error(owner, name, value, "a real number")
        return as_number(value.item(), name, owner)
    if isinstance(value, numbers.Integral):
        return int(value)
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        raise _type_error(owner, name, value, "a real number") from None


def _as_real(value: Any, name: str, owner: str) -> float:
    if type(value) is float:
        return value
    x = as_number(value, name, owner)
    if type(x) is float:
        return x
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


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


def check_site_names(value: Any, name: str, owner: str) -> tuple[str, ...]:
    """``value`` as a tuple of distinct, non-empty site names (a sequence, not one str)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise _type_error(owner, name, value, "a sequence of site names (str)")
    out = tuple(value)
    for s in out:
        if not isinstance(s, str):
            raise _type_error(owner, f"{name} element", s, "a site name (str)")
        if not s:
            raise InvalidArgument(owner, name, out, "must not name an empty site")
    if len(set(out)) != len(out):
        raise InvalidArgument(owner, name, out, "must not name a site twice")
    return out


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


def check_exact(value: Any, name: str, owner: str, constraint: str = "finite") -> Fraction:
    """``value`` as an exact ``Fraction`` that meets ``constraint`` (compared exactly).

    Ints of any size, ``Fraction`` and ``Decimal`` are taken as they are; a
    float as the shortest decimal that prints it (``0.999`` is
    ``999/1000``), so targets written as decimals compare as written.

    Raises
    ------
    TypeError
        ``value`` is not a real number (bools and strings are not).
    InvalidArgument
        ``value`` is NaN or infinite, or breaks the constraint.

    Examples
    --------
    >>> check_exact(0.999, "target", "SLO", "open_unit")
    Fraction(999, 1000)
    """
    low, high, low_open, high_open, rule = CONSTRAINTS[constraint]
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidArgument(owner, name, value, rule)
        x = Fraction(value)
    elif isinstance(value, numbers.Rational) and not isinstance(value, (bool, np.bool_)):
        x = Fraction(int(value)) if isinstance(value, numbers.Integral) else Fraction(value)
    else:
        f = as_number(value, name, owner)
        if type(f) is int:
            x = Fraction(f)
        elif not math.isfinite(f):
            raise InvalidArgument(owner, name, value, rule)
        else:
            x = Fraction(repr(f))
    if not ((low < x if low_open else low <= x) and (x < high if high_open else x <= high)):
        raise InvalidArgument(owner, name, value, rule)
    return x


def closest(word: object, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate closest to ``word`` (a misspelling's correction), or None."""
    if not isinstance(word, str):
        return None
    found = difflib.get_close_matches(word, list(candidates), 1, cutoff)
    return found[0] if found else None


# --------------------------------------------------------------------- frozen mappings


def masked(value: Any) -> Any:
    """``value`` with the values of secret-looking keys replaced by ``'***'``, at any depth.

    Mappings become dicts, lists and tuples keep their type; other values are
    returned as they are. For rendering only.

    Examples
    --------
    >>> masked({"db": {"password": "x", "port": 5432}, "tables": [{"secret": 1}]})
    {'db': {'password': '***', 'port': 5432}, 'tables': [{'secret': '***'}]}
    """
    return _masked(value, 0)


def _masked(value: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return _ELLIPSIS
    if isinstance(value, Mapping):
        return {k: (MASK if is_secret_name(k) else _masked(v, depth + 1))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_masked(v, depth + 1) for v in value) if type(value) in (
            list, tuple) else [_masked(v, depth + 1) for v in value]
    return value


#: Nesting beyond which :func:`masked` and :func:`thaw` stop descending.
_MAX_DEPTH = 64


class FrozenMapping(Mapping):
    """A read-only, hashable mapping (see :func:`freeze`).

    Its ``repr`` masks the values of secret-looking keys at any depth.

    Examples
    --------
    >>> m = freeze({"db": {"host": "h", "password": "pw"}, "xs": [1, 2]})
    >>> m
    {'db': {'host': 'h', 'password': '***'}, 'xs': (1, 2)}
    >>> m["db"]["password"], hash(m) == hash(freeze({"xs": [1, 2], "db": {"password": "pw",
    ...                                                                      "host": "h"}}))
    ('pw', True)
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping | Iterable = ()):
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __setattr__(self, name, value):
        raise AttributeError("read-only mapping")

    def __delattr__(self, name):
        raise AttributeError("read-only mapping")

    def __repr__(self) -> str:
        return repr(masked(self))

    def __reduce__(self):
        return (FrozenMapping, (self._data,))


def freeze(value: Any) -> Any:
    """A deep, read-only copy: mappings become :class:`FrozenMapping`, lists tuples."""
    if isinstance(value, FrozenMapping):
        return value
    if isinstance(value, Mapping):
        return FrozenMapping((k, freeze(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any, *, mask: bool = False) -> Any:
    """Plain containers from a frozen value: mappings as dicts, tuples as lists.

    With ``mask``, the values of secret-looking keys become ``'***'`` at any depth.
    """
    if isinstance(value, Mapping):
        return {k: (MASK if mask and is_secret_name(k) else thaw(v, mask=mask))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v, mask=mask) for v in value]
    return value


# --------------------------------------------------------------------- constraints


class Constraint:
    """What a setting's value must be: called as ``check(value, name, owner)``.

    Returns the value as the setting holds it (a float for a real number, a
    frozen copy of a mapping, ...); raises ``TypeError`` for a wrong type and
    :class:`~fugue_ppl.errors.InvalidArgument` for a bad value.
    :meth:`describe` gives the limit in words (for the reference).
    """

    __slots__ = ()

    def __call__(self, value: Any, name: str, owner: str) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"


def _words(rule: str) -> str:
    return rule.removeprefix("must be ")


class Real(Constraint):
    """A real number meeting a named constraint of :data:`CONSTRAINTS` (:func:`check_real`)."""

    __slots__ = ("constraint",)

    def __init__(self, constraint: str = "finite"):
        self.constraint = check_choice(constraint, "constraint", "Real", tuple(CONSTRAINTS))

    def __call__(self, value, name, owner):
        return check_real(value, name, owner, self.constraint)

    def describe(self):
        return _words(CONSTRAINTS[self.constraint][4])


class Bounded(Constraint):
    """A finite real number within bounds (:func:`check_bounded`)."""

    __slots__ = ("high", "high_open", "low", "low_open")

    def __init__(self, low: float = -math.inf, high: float = math.inf, *,
                 low_open: bool = False, high_open: bool = False):
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def __call__(self, value, name, owner):
        return check_bounded(value, name, owner, self.low, self.high, low_open=self.low_open,
                             high_open=self.high_open)

    def describe(self):
        return _interval(self.low, self.high, self.low_open, self.high_open)


class Int(Constraint):
    """An integer within bounds (:func:`check_int`)."""

    __slots__ = ("high", "low")

    def __init__(self, low: int | None = None, high: int | None = None):
        self.low, self.high = low, high

    def __call__(self, value, name, owner):
        return check_int(value, name, owner, low=self.low, high=self.high)

    def describe(self):
        if self.high is None:
            return "an integer" if self.low is None else f">= {self.low}"
        if self.low is None:
            return f"<= {self.high}"
        return f"in [{self.low}, {self.high}]"


class Duration(Constraint):
    """A number of seconds (:func:`check_duration`)."""

    __slots__ = ("maximum", "zero")

    def __init__(self, maximum: float = math.inf, *, zero: bool = False):
        self.maximum, self.zero = maximum, zero

    def __call__(self, value, name, owner):
        return check_duration(value, name, owner, maximum=self.maximum, zero=self.zero)

    def describe(self):
        limit = "" if math.isinf(self.maximum) else f" and <= {self.maximum:g}"
        return f"seconds, {'>=' if self.zero else '>'} 0{limit}"


class Choice(Constraint):
    """One of a few strings; ``normalize`` (e.g. ``str.lower``) is applied first."""

    __slots__ = ("choices", "normalize")

    def __init__(self, choices: Iterable[str], normalize: Callable[[str], str] | None = None):
        self.choices = tuple(choices)
        self.normalize = normalize

    def __call__(self, value, name, owner):
        if not isinstance(value, str):
            raise _type_error(owner, name, value, "a str")
        key = self.normalize(value) if self.normalize is not None else value
        for c in self.choices:
            if key == c:
                return c
        raise InvalidArgument(owner, name, value,
                              "must be one of " + ", ".join(repr(c) for c in self.choices))

    def describe(self):
        return "one of " + ", ".join(repr(c) for c in self.choices)


class Flag(Constraint):
    """A bool (:func:`check_flag`)."""

    __slots__ = ()

    def __call__(self, value, name, owner):
        return check_flag(value, name, owner)

    def describe(self):
        return "true or false"


class Text(Constraint):
    """A printable, non-empty str (:func:`check_text`), optionally matching ``pattern``."""

    __slots__ = ("max_length", "pattern", "rule")

    def __init__(self, max_length: int = 200, pattern: str | None = None,
                 rule: str | None = None):
        self.max_length = max_length
        self.pattern = None if pattern is None else re.compile(pattern)
        self.rule = rule

    def __call__(self, value, name, owner):
        if (self.pattern is not None and isinstance(value, str)
                and not self.pattern.fullmatch(value)):
            raise InvalidArgument(owner, name, value, self.rule or "has a wrong format")
        return check_text(value, name, owner, max_length=self.max_length)

    def describe(self):
        if self.rule is not None:
            return _words(self.rule)
        return f"printable, 1 to {self.max_length} characters"


class Optional(Constraint):
    """None, or what ``inner`` accepts."""

    __slots__ = ("inner",)

    def __init__(self, inner: Constraint):
        self.inner = inner

    def __call__(self, value, name, owner):
        return None if value is None else self.inner(value, name, owner)

    def describe(self):
        inner = self.inner.describe()
        return f"none, or {inner}" if inner else "none"


class Instance(Constraint):
    """An instance of a type (:func:`check_type`)."""

    __slots__ = ("expected", "types")

    def __init__(self, types: type | tuple[type, ...], expected: str | None = None):
        self.types = types
        if expected is None:
            if isinstance(types, type):
                article = "an" if types.__name__[:1].lower() in "aeiou" else "a"
                expected = f"{article} {types.__name__}"
            else:
                expected = "one of " + ", ".join(t.__name__ for t in types)
        self.expected = expected

    def __call__(self, value, name, owner):
        return check_type(value, name, owner, self.types, self.expected)

    def describe(self):
        return self.expected


class Params(Constraint):
    """A mapping with str keys, frozen (:func:`freeze`); values are free."""

    __slots__ = ()

    def __call__(self, value, name, owner):
        if not isinstance(value, Mapping):
            raise _type_error(owner, name, value, "a mapping")
        for k in value:
            if not isinstance(k, str):
                raise _type_error(owner, f"{name} key", k, "a str")
        return freeze(value)

    def describe(self):
        return "a table with string keys"


class Custom(Constraint):
    """A check written for one setting: ``fn(value, name, owner)`` returns the value."""

    __slots__ = ("fn", "text")

    def __init__(self, fn: Callable[[Any, str, str], Any], text: str):
        self.fn, self.text = fn, text

    def __call__(self, value, name, owner):
        return self.fn(value, name, owner)

    def describe(self):
        return self.text


_RELATIONS = {"<": ("must be below", operator.lt), "<=": ("must not exceed", operator.le),
              ">": ("must be above", operator.gt), ">=": ("must be at least", operator.ge)}


class Relation:
    """Between two settings: ``name`` compared with ``other`` by ``op``
    (``<``, ``<=``, ``>``, ``>=``); not checked when either is None."""

    __slots__ = ("name", "op", "other")

    def __init__(self, name: str, op: str, other: str):
        check_choice(op, "op", "Relation", tuple(_RELATIONS))
        self.name, self.op, self.other = name, op, other

    def holds(self, a: Any, b: Any) -> bool:
        return _RELATIONS[self.op][1](a, b)

    def rule(self) -> str:
        """In words, e.g. ``"must not exceed <other>"``."""
        return f"{_RELATIONS[self.op][0]} {self.other}"

    def __repr__(self) -> str:
        return f"Relation({self.name!r}, {self.op!r}, {self.other!r})"


# --------------------------------------------------------------------- settings types

#: The key of a setting's declaration in its field's metadata.
_META = "fugue_setting"


def setting(default: Any = dataclasses.MISSING, *, check: Constraint, doc: str,
            secret: bool = False, factory: Callable[[], Any] | None = None) -> Any:
    """Declare one setting of a :func:`settings` type: default, constraint, description.

    Parameters
    ----------
    default : object
        The default value (``factory`` for one built per instance).
    check : Constraint
        What the value must be; it also converts it (a float for a real number).
    doc : str
        One line saying what the setting does (the reference shows it).
    secret : bool
        Renderings show ``'***'`` instead of the value.
    """
    meta = {_META: {"check": check, "doc": doc, "secret": secret, "section": False}}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def section(cls: type, *, doc: str) -> Any:
    """A field holding a settings type (a section of a composed configuration)."""
    meta = {_META: {"check": Instance(cls), "doc": doc, "secret": False, "section": True}}
    return dataclasses.field(default_factory=cls, metadata=meta)


def _declaration(f: dataclasses.Field) -> dict:
    return f.metadata.get(_META) or {"check": None, "doc": "", "secret": False,
                                     "section": False}


def declaration(f: dataclasses.Field) -> dict:
    """A settings field's declaration: ``check`` (the Constraint), ``doc``, ``secret``,
    ``section`` (whether it holds a settings type)."""
    return dict(_declaration(f))


def settings_defaults(cls: type) -> dict[str, Any]:
    """The default of every field of a settings type (factories called)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def validate_settings(cls: type, values: Mapping[str, Any]) -> tuple[dict[str, Any], list]:
    """Check ``values`` (every field of ``cls``) by the fields' declarations.

    Returns
    -------
    (dict, list)
        The converted values, and every problem found: ``TypeError`` or
        :class:`~fugue_ppl.errors.InvalidArgument` (owner: the type's name),
        in field order, then the broken relations (each an
        ``InvalidArgument`` whose ``others`` names the other setting and
        whose ``relation`` says how they must compare); relations are checked
        only between valid values.
    """
    owner = cls.__name__
    out: dict[str, Any] = {}
    problems: list = []
    for f in dataclasses.fields(cls):
        value = values[f.name]
        check = _declaration(f)["check"]
        try:
            out[f.name] = value if check is None else check(value, f.name, owner)
        except (TypeError, InvalidArgument) as e:
            e.field = f.name        # (the setting at fault, whatever the message names)
            problems.append(e)
    for rel in getattr(cls, "_relations", ()):
        if rel.name not in out or rel.other not in out:
            continue
        a, b = out[rel.name], out[rel.other]
        if a is None or b is None or rel.holds(a, b):
            continue
        secret = _declaration(_field(cls, rel.other))["secret"]
        e = InvalidArgument(owner, rel.name, a,
                            f"{rel.rule()} ({safe_repr(b, secret=secret)})")
        e.field, e.others, e.relation = rel.name, (rel.other,), rel.rule()
        problems.append(e)
    return out, problems


def _field(cls: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def _initialised(obj: Any) -> bool:
    for f in dataclasses.fields(obj):
        try:
            object.__getattribute__(obj, f.name)
        except AttributeError:
            return False
        return True
    return False


class Settings:
    """Base of the settings types (see :func:`settings`).

    A settings type is a frozen, slotted dataclass whose fields are declared
    with :func:`setting` (or :func:`section`); one generic ``__post_init__``
    checks and converts every field by its declaration, then the type's
    ``_relations`` (a tuple of :class:`Relation`). The first problem is
    raised: ``TypeError`` for a wrong type, InvalidArgument for a bad value.
    """

    __slots__ = ()

    def __post_init__(self) -> None:
        cls = type(self)
        out, problems = validate_settings(
            cls, {f.name: getattr(self, f.name) for f in dataclasses.fields(cls)})
        if problems:
            raise problems[0]
        for name, value in out.items():
            object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> Any:
        """A copy with some settings changed (checked like the constructor).

        Raises
        ------
        TypeError
            An unknown setting (with the closest name).
        """
        names = [f.name for f in dataclasses.fields(self)]
        for k in changes:
            if k not in names:
                raise _unknown_setting(type(self), k, names)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a dict (sections and mappings as dicts, values as they are)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if isinstance(v, Settings) else (
                thaw(v) if isinstance(v, Mapping) else v)
        return out

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            shown = repr(MASK) if _declaration(f)["secret"] and v is not None else repr(v)
            parts.append(f"{f.name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @classmethod
    def check_field(cls, name: str, value: Any, owner: str | None = None) -> Any:
        """``value`` checked and converted as the setting ``name`` (errors name ``owner``)."""
        check = _declaration(_field(cls, name))["check"]
        return value if check is None else check(value, name, owner or cls.__name__)

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of the setting ``name``."""
        return settings_defaults(cls)[name]


def _unknown_setting(cls: type, name: Any, names: list[str]) -> TypeError:
    near = closest(name, names)
    hint = f"; did you mean {near!r}?" if near else f" (settings: {', '.join(names)})"
    return TypeError(f"{cls.__name__}: unknown setting {safe_repr(name)}{hint}")


def settings(cls: type) -> type:
    """Make ``cls`` (a subclass of :class:`Settings`) a settings type.

    A frozen, slotted, keyword-only dataclass; a second ``__init__`` on an
    instance is refused (``RuntimeError``), as for every stateful type.
    """
    if not issubclass(cls, Settings):
        raise TypeError(f"settings: {cls.__name__} must subclass Settings")
    dc = dataclasses.dataclass(frozen=True, slots=True, kw_only=True, repr=False)(cls)
    init = dc.__init__
    names = [f.name for f in dataclasses.fields(dc)]

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _initialised(self):
            raise _already_initialised(self)
        for k in kwargs:
            if k not in names:
                raise _unknown_setting(dc, k, names)
        init(self, *args, **kwargs)

    dc.__init__ = __init__
    return dc
