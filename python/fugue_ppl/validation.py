"""Input validation: validators that check and coerce one value, and the
:class:`Schema` that checks a model's inputs and reports every violation at
once in one :class:`~fugue_ppl.errors.ValidationError`.

:class:`Validator` describes the validators, how they compose and coerce;
:class:`Schema` the fields, defaults and cross-field rules. Numbers are
coerced by the checking kit (:func:`fugue_ppl.checks.as_number`); values are
rendered by :func:`fugue_ppl.checks.safe_repr` (``'***'`` for secrets).

Examples
--------
>>> from fugue_ppl.validation import Schema, Field, Finite, Range, Probability
>>> schema = Schema({
...     "reading": Finite() & Range(-50, 150),
...     "p_valid": Field(Probability(), default=0.95),
... })
>>> schema.validate({"reading": 22})
{'reading': 22.0, 'p_valid': 0.95}
>>> try:
...     schema.validate({"reading": float("nan"), "p_valid": 2, "extra": 1})
... except ValueError as e:
...     for v in e.violations:
...         print(v.field, v.rule, v.value)
reading finite nan
p_valid probability 2
extra unknown 1
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from fugue_ppl.checks import (
    MESSAGE_LIMIT,
    RENDER_LIMIT,
    _clip,
    _type_name,
    as_number,
    check_choice,
    check_int,
    invalid,
    is_secret_name,
    safe_repr,
    safe_text,
)
from fugue_ppl.errors import ValidationError

__all__ = [
    "MESSAGE_LIMIT",
    "MISSING",
    "RENDER_LIMIT",
    "AddressComponent",
    "Boolean",
    "Chain",
    "Field",
    "Finite",
    "Float",
    "Integer",
    "Length",
    "OneOf",
    "Positive",
    "Probability",
    "Range",
    "Rule",
    "Schema",
    "String",
    "Validator",
    "Violation",
    "is_secret_name",
    "safe_repr",
    "safe_text",
]

#: Maximum length of a :class:`~fugue_ppl.errors.ValidationError` message.
ERROR_MESSAGE_LIMIT = 2000
#: Violations listed in the error message (all are in ``violations``).
_LISTED = 10
#: Unknown fields reported one by one; the rest are summarised in one violation.
_MAX_UNKNOWN = 20
_INF = math.inf
_DBL_MAX = 1.7976931348623157e308


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self):
        return "MISSING"


#: Sentinel: no default (the field is required).
MISSING: Any = _Missing()

# --------------------------------------------------------------------- rendering

def _field_label(name: object) -> str:
    """A field name as shown in a violation: plain if a str, else its rendering."""
    if isinstance(name, str):
        return safe_text(name, RENDER_LIMIT)
    return safe_repr(name)


# --------------------------------------------------------------------- violations


@dataclass(frozen=True, slots=True)
class Violation:
    """One validation problem.

    Attributes
    ----------
    field : str
        The field's name (``"(input)"`` for a problem with the input as a
        whole, ``"(args)"`` for positional arguments, the comma-joined field
        names for a cross-field rule).
    rule : str
        The rule that failed, e.g. ``"finite"``, ``"range"``, ``"required"``,
        ``"unknown"``, or a custom rule's name.
    message : str
        What is wrong, single-line and at most 200 characters.
    value : str
        A safe rendering of the offending value (:func:`safe_repr`): at most
        40 characters, printable, ``'***'`` for a secret.

    Examples
    --------
    >>> Violation("x", "finite", "must be finite", "nan")
    Violation(field='x', rule='finite', message='must be finite', value='nan')
    >>> str(Violation("x", "finite", "must be finite", "nan"))
    'x: must be finite (rule finite, got nan)'
    """

    field: str
    rule: str
    message: str
    value: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} (rule {self.rule}, got {self.value})"


class _Invalid(Exception):
    """Internal: a check failed (never escapes this module)."""

    __slots__ = ("fatal", "message", "rule")

    def __init__(self, rule: str, message: str, fatal: bool = False):
        self.rule = rule
        self.message = message
        self.fatal = fatal


def _error(violations: list[Violation], schema_name: str | None) -> ValidationError:
    n = len(violations)
    where = f" for {safe_text(schema_name, 60)}" if schema_name else ""
    head = f"invalid input{where}: " if n == 1 else f"{n} invalid inputs{where}: "
    listed = "; ".join(str(v) for v in violations[:_LISTED])
    if n > _LISTED:
        listed += f"; and {n - _LISTED} more"
    return ValidationError(_clip(head + listed, ERROR_MESSAGE_LIMIT), violations=violations)


# --------------------------------------------------------------------- coercion helpers

_np_bool = np.bool_
_np_str = np.str_


def _real(value: Any, rule: str, strings: bool = False) -> int | float:
    """A Python int or float (the kit's coercion of numbers); fatal _Invalid else."""
    t = type(value)
    if t is float or t is int:
        return value
    if strings and isinstance(value, str):
        text = str.__getitem__(value, slice(0, 101)).strip()
        if len(text) <= 100 and text.isascii():
            try:
                return int(text)
            except ValueError:
                pass
            try:
                return float(text)
            except ValueError:
                pass
        raise _Invalid(rule, "is not a number", True)
    try:
        return as_number(value, "value", rule)
    except TypeError as e:
        expected = getattr(e, "expected", "a real number")
        raise _Invalid(rule, f"must be {expected}, got {_type_name(value)}", True) from None
    except Exception:  # noqa: BLE001 - a subclass whose __float__ / __int__ raises
        raise _Invalid(rule, f"must be a real number, got {_type_name(value)}", True) from None


def _as_float(value: Any, rule: str, strings: bool = False) -> float:
    if type(value) is float:
        return value
    v = _real(value, rule, strings)
    if type(v) is float:
        return v
    try:
        return float(v)
    except OverflowError:
        raise _Invalid(rule, "is too large for a float", True) from None


def _num(x: float) -> str:
    return safe_repr(x, 30)


def _interval(lo, hi, lo_incl: bool, hi_incl: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'[' if lo_incl else '('}{_num(lo)}, {_num(hi)}{']' if hi_incl else ')'}"
    if lo is not None:
        return f"{'>=' if lo_incl else '>'} {_num(lo)}"
    if hi is not None:
        return f"{'<=' if hi_incl else '<'} {_num(hi)}"
    return "a number"


# --------------------------------------------------------------------- validators


class Validator:
    """Base class of validators.

    A validator checks one value and returns it, possibly coerced. Compose
    with ``&`` (``Finite() & Range(0, 100)``) or as a list: a chain runs left
    to right, each step receiving the previous step's result. Call a
    validator to check a single value.

    =========================  ==================================================
    :class:`Float`             a real number, returned as a Python ``float``
    :class:`Integer`           an integer, returned as a Python ``int``
    :class:`Boolean`           ``True`` / ``False`` (or ``numpy.bool_``)
    :class:`String`            a ``str``
    :class:`Finite`            a finite real number, returned as a ``float``
    :class:`Range`             ``min <= x <= max`` (each bound optional, each
                               inclusive or exclusive)
    :class:`Probability`       a ``float`` in ``[0, 1]``
    :class:`Positive`          a real number ``> 0``
    :class:`OneOf`             one of a fixed set of values
    :class:`Length`            ``len(x)`` within bounds (strings, sequences)
    :class:`AddressComponent`  ASCII letters, digits, ``_`` and ``-``
    :class:`Rule`              a custom business rule (a callable)
    =========================  ==================================================

    Notes
    -----
    Coercion, decided once for every validator: numbers go through the
    kit's :func:`~fugue_ppl.checks.as_number` (numpy scalars and 0-d arrays
    become Python numbers; ``bool`` is never a number); ``int`` becomes
    ``float`` where a float is asked for (:class:`Float`, :class:`Finite`,
    :class:`Probability`) while :class:`Range` and :class:`Positive` keep the
    number's type; ``numpy.str_`` becomes ``str``; numeric strings are parsed
    only when asked for (``Float(strings=True)``): a number arriving as a
    string usually means the caller skipped a parsing step; :class:`Integer`
    accepts integral floats (``3.0`` -> ``3``).

    Within one field, a failed type step (a string where a number is
    expected, a non-finite number for :class:`Finite`) ends that field's
    chain; a failed constraint (range, length, rule) is recorded and the
    chain goes on, so every applicable rule is reported.

    A violation never holds the raw value, only its
    :func:`~fugue_ppl.checks.safe_repr`: bounded, printable, and ``'***'``
    for a secret field (``Field(secret=True)``, or a secret-looking name,
    :func:`~fugue_ppl.checks.is_secret_name`). Messages are single-line and
    bounded too, so they are safe to log.

    Subclasses implement ``_checks()``, returning the flat list of check
    functions the validator compiles to (each returns the value, possibly
    coerced, or raises the module's internal failure).

    Examples
    --------
    >>> from fugue_ppl.validation import Finite, Range
    >>> v = Finite() & Range(0, 100)
    >>> v(42)
    42.0
    >>> v(101)
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.ValidationError: invalid input: value: must be in [0, 100] (rule ...)
    """

    __slots__ = ()
    #: The name violations report.
    rule: str = "custom"

    def _checks(self) -> list[Callable[[Any], Any]]:
        raise NotImplementedError

    def _float_bounds(self) -> tuple[float, float, bool] | None:
        """``(lo, hi, nan_ok)`` such that a ``float`` x passes unchanged iff
        ``lo <= x <= hi`` (or x is NaN and ``nan_ok``); None if unknown."""
        return None

    def __and__(self, other) -> Chain:
        return Chain(self, other)

    def __rand__(self, other) -> Chain:
        return Chain(other, self)

    def __call__(self, value: Any, *, field: str = "value") -> Any:
        """Check one value.

        Parameters
        ----------
        value : object
            The value.
        field : str
            The name used in the error.

        Returns
        -------
        object
            The cleaned value.

        Raises
        ------
        ValidationError
            With every violation of this validator.
        """
        secret = is_secret_name(field)
        checks = self._checks(secret) if isinstance(self, (Rule, Chain)) else self._checks()
        original = value
        try:
            for check in checks:
                value = check(value)
            return value
        except Exception:  # noqa: BLE001, S110 - validation never raises but ValidationError
            pass
        violations: list[Violation] = []
        ok, value = _check_field(checks, original, _field_label(field), secret, violations)
        if ok:  # pragma: no cover - only a non-deterministic rule gets here
            return value
        raise _error(violations, None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _as_validator(v) -> Validator:
    if isinstance(v, Validator):
        return v
    if isinstance(v, (list, tuple)):
        return Chain(*v)
    if callable(v):
        return Rule(v)
    raise TypeError(f"expected a Validator, a list of validators or a callable, got "
                    f"{_type_name(v)}")


class Chain(Validator):
    """Validators applied in order; ``a & b`` builds one.

    Parameters
    ----------
    *validators : Validator, list or callable
        Nested chains and lists are flattened; a bare callable becomes a
        :class:`Rule`.

    Examples
    --------
    >>> Chain(Finite(), Range(0, 1)) == (Finite() & Range(0, 1))
    True
    >>> Chain(Finite(), [Range(0, 1), Positive()]).validators
    (Finite(), Range(0, 1), Positive())
    """

    __slots__ = ("validators",)

    def __init__(self, *validators):
        flat: list[Validator] = []
        for v in validators:
            v = _as_validator(v)
            if isinstance(v, Chain):
                flat.extend(v.validators)
            else:
                flat.append(v)
        self.validators = tuple(flat)

    @property
    def rule(self) -> str:  # type: ignore[override]
        return "chain"

    def _checks(self, secret: bool = False):
        out = []
        for v in self.validators:
            out.extend(v._checks(secret) if isinstance(v, Rule) else v._checks())
        return out

    def _float_bounds(self):
        lo, hi, nan_ok = -_INF, _INF, True
        for v in self.validators:
            b = v._float_bounds()
            if b is None:
                return None
            lo, hi, nan_ok = max(lo, b[0]), min(hi, b[1]), nan_ok and b[2]
        return lo, hi, nan_ok

    def __eq__(self, other) -> bool:
        return isinstance(other, Chain) and self.validators == other.validators

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return " & ".join(repr(v) for v in self.validators) if self.validators else "Chain()"


class _Simple(Validator):
    """Validators fully described by their constructor arguments."""

    __slots__ = ()

    def _key(self) -> tuple:
        return ()

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash((type(self), self._key()))


class Float(_Simple):
    """A real number, returned as a Python ``float`` (NaN and infinities allowed).

    Parameters
    ----------
    strings : bool
        Also parse numeric strings (``"1.5"``; at most 100 characters).

    Examples
    --------
    >>> import numpy as np
    >>> Float()(3), Float()(np.float32(0.5)), Float(strings=True)(" 2.5 ")
    (3.0, 0.5, 2.5)
    """

    __slots__ = ("strings",)
    rule = "float"

    def __init__(self, *, strings: bool = False):
        self.strings = bool(strings)

    def _key(self):
        return (self.strings,)

    def _checks(self):
        strings = self.strings

        def check_float(v):
            return v if type(v) is float else _as_float(v, "float", strings)
        return [check_float]

    def _float_bounds(self):
        return (-_INF, _INF, True)

    def __repr__(self):
        return "Float(strings=True)" if self.strings else "Float()"


class Finite(_Simple):
    """A finite real number (not NaN, not infinite), returned as a ``float``.

    Examples
    --------
    >>> Finite()(2)
    2.0
    >>> Finite()(float("inf"))
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.ValidationError: invalid input: value: must be finite (not NaN or ...)
    """

    __slots__ = ()
    rule = "finite"

    def _checks(self):
        isfinite = math.isfinite

        def check_finite(v):
            if type(v) is not float:
                v = _as_float(v, "finite")
            if not isfinite(v):
                raise _Invalid("finite", "must be finite (not NaN or infinite)", True)
            return v
        return [check_finite]

    def _float_bounds(self):
        return (-_DBL_MAX, _DBL_MAX, False)


class Range(_Simple):
    """A real number within bounds; keeps the number's type (int or float).

    Parameters
    ----------
    min, max : real, optional
        The bounds (None: unbounded on that side).
    min_inclusive, max_inclusive : bool
        Whether each bound is allowed.

    Raises
    ------
    TypeError
        A bound is not a real number.
    InvalidArgument
        A bound is NaN, or ``min > max`` (compared exactly, whatever their types).

    Examples
    --------
    >>> Range(0, 10)(10), Range(0, 10)(2.5)
    (10, 2.5)
    >>> Range(0, 10, max_inclusive=False)(10)
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.ValidationError: invalid input: value: must be in [0, 10) (rule range, got 10)
    """

    __slots__ = ("max", "max_inclusive", "min", "min_inclusive")
    rule = "range"

    def __init__(self, min=None, max=None, *, min_inclusive: bool = True,
                 max_inclusive: bool = True):
        bounds = []
        for name, b in (("min", min), ("max", max)):
            if b is not None:
                b = as_number(b, name, "Range")
                if isinstance(b, float) and math.isnan(b):
                    raise invalid("Range", name, b, "must not be NaN")
            bounds.append(b)
        min, max = bounds
        # (exact: an int bound is compared with a float bound as numbers, not as floats)
        if min is not None and max is not None and min > max:
            raise invalid("Range", "min", min, f"must not exceed max ({safe_repr(max)})")
        self.min, self.max = min, max
        self.min_inclusive, self.max_inclusive = bool(min_inclusive), bool(max_inclusive)

    def _key(self):
        return (self.min, self.max, self.min_inclusive, self.max_inclusive)

    def _describe(self) -> str:
        return "must be " + _interval(self.min, self.max, self.min_inclusive, self.max_inclusive)

    def _checks(self):
        return [_range_check(self.rule, self.min, self.max, self.min_inclusive,
                             self.max_inclusive, self._describe())]

    def _float_bounds(self):
        return _bounds_as_float(self.min, self.max, self.min_inclusive, self.max_inclusive)

    def __repr__(self):
        args = [repr(self.min), repr(self.max)]
        if not self.min_inclusive:
            args.append("min_inclusive=False")
        if not self.max_inclusive:
            args.append("max_inclusive=False")
        return f"Range({', '.join(args)})"


def _bounds_as_float(lo, hi, lo_incl, hi_incl):
    """Inclusive float bounds equivalent to the given ones for float inputs."""
    try:
        flo = -_INF if lo is None else float(lo)
        fhi = _INF if hi is None else float(hi)
    except OverflowError:
        return None
    # an exclusive bound, or an int bound not exactly a float: be exact via nextafter
    if lo is not None and (flo < lo or (flo == lo and not lo_incl)):
        flo = math.nextafter(flo, _INF)
    if hi is not None and (fhi > hi or (fhi == hi and not hi_incl)):
        fhi = math.nextafter(fhi, -_INF)
    return (flo, fhi, lo is None and hi is None)


def _range_check(rule, lo, hi, lo_incl, hi_incl, message):
    def check_range(v):
        t = type(v)
        if t is not float and t is not int:
            v = _real(v, rule)
        try:
            ok = ((lo is None or (v >= lo if lo_incl else v > lo))
                  and (hi is None or (v <= hi if hi_incl else v < hi)))
        except Exception:  # noqa: BLE001  # pragma: no cover - int/float comparisons do not raise
            ok = False
        if not ok:
            raise _Invalid(rule, message)
        return v
    return check_range


class Positive(_Simple):
    """A real number ``> 0`` (``+inf`` included; combine with :class:`Finite`
    to exclude it); keeps the number's type.

    Examples
    --------
    >>> Positive()(3), Positive()(0.5)
    (3, 0.5)
    >>> Positive()(0)
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.ValidationError: invalid input: value: must be > 0 (rule positive, got 0)
    """

    __slots__ = ()
    rule = "positive"

    def _checks(self):
        return [_range_check("positive", 0, None, False, True, "must be > 0")]

    def _float_bounds(self):
        return _bounds_as_float(0, None, False, True)


class Probability(_Simple):
    """A probability: a ``float`` in ``[0, 1]`` (ints 0 and 1 accepted).

    Examples
    --------
    >>> Probability()(1), Probability()(0.25)
    (1.0, 0.25)
    """

    __slots__ = ()
    rule = "probability"

    def _checks(self):
        def check_probability(v):
            if type(v) is not float:
                v = _as_float(v, "probability")
            if not 0.0 <= v <= 1.0:
                raise _Invalid("probability", "must be a probability in [0, 1]")
            return v
        return [check_probability]

    def _float_bounds(self):
        return (0.0, 1.0, False)


class Integer(_Simple):
    """An integer, returned as a Python ``int``.

    Accepts ``int`` (not ``bool``), numpy integers and integral finite floats
    (``3.0`` -> ``3``).

    Parameters
    ----------
    strings : bool
        Also parse integer strings (``"42"``).

    Examples
    --------
    >>> import numpy as np
    >>> Integer()(np.int64(3)), Integer()(4.0), Integer(strings=True)("42")
    (3, 4, 42)
    >>> Integer()(2.5)
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.ValidationError: invalid input: value: must be an integer (rule ...)
    """

    __slots__ = ("strings",)
    rule = "integer"

    def __init__(self, *, strings: bool = False):
        self.strings = bool(strings)

    def _key(self):
        return (self.strings,)

    def _checks(self):
        strings = self.strings

        def check_integer(v):
            if type(v) is int:
                return v
            v = _real(v, "integer", strings)
            if type(v) is int:
                return v
            if math.isfinite(v) and v.is_integer():
                return int(v)
            raise _Invalid("integer", "must be an integer", True)
        return [check_integer]

    def __repr__(self):
        return "Integer(strings=True)" if self.strings else "Integer()"


class Boolean(_Simple):
    """``True`` or ``False`` (``numpy.bool_`` accepted); no truthiness coercion.

    Examples
    --------
    >>> import numpy as np
    >>> Boolean()(np.bool_(True))
    True
    """

    __slots__ = ()
    rule = "boolean"

    def _checks(self):
        def check_boolean(v):
            if v is True or v is False:
                return v
            if isinstance(v, _np_bool):
                return bool(v)
            raise _Invalid("boolean", f"must be a bool, got {_type_name(v)}", True)
        return [check_boolean]


def _as_str(v, rule: str) -> str:
    if type(v) is str:
        return v
    if isinstance(v, str):
        return str.__getitem__(v, slice(None))  # a plain-str copy (numpy.str_, subclasses)
    raise _Invalid(rule, f"must be a string, got {_type_name(v)}", True)


class String(_Simple):
    """A string, returned as a plain ``str`` (``numpy.str_`` accepted).

    Examples
    --------
    >>> String()("abc")
    'abc'
    """

    __slots__ = ()
    rule = "string"

    def _checks(self):
        def check_string(v):
            return v if type(v) is str else _as_str(v, "string")
        return [check_string]


class Length(_Simple):
    """``len(value)`` within bounds, for strings and sequences.

    Parameters
    ----------
    min : int
        Minimum length.
    max : int, optional
        Maximum length.

    Raises
    ------
    ValueError
        ``min < 0`` or ``max < min``.

    Examples
    --------
    >>> Length(1, 3)("abc"), Length(max=2)([1, 2])
    ('abc', [1, 2])
    >>> Length(1, 3)("")
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.ValidationError: invalid input: value: length must be between 1 and 3 ...
    """

    __slots__ = ("max", "min")
    rule = "length"

    def __init__(self, min: int = 0, max: int | None = None):
        min = check_int(min, "min", "Length", low=0)
        if max is not None:
            max = check_int(max, "max", "Length", low=min)
        self.min, self.max = min, max

    def _key(self):
        return (self.min, self.max)

    def _checks(self):
        lo, hi = self.min, self.max
        if hi is None:
            message = f"length must be at least {lo}"
        elif lo == 0:
            message = f"length must be at most {hi}"
        elif lo == hi:
            message = f"length must be exactly {lo}"
        else:
            message = f"length must be between {lo} and {hi}"

        def check_length(v):
            if isinstance(v, (str, bytes, bytearray, list, tuple, dict, set, frozenset, range)):
                n = len(v)
            else:
                try:
                    n = len(v)
                except Exception:  # noqa: BLE001 - validation never raises but ValidationError
                    raise _Invalid("length", f"has no length ({_type_name(v)})", True) from None
                if type(n) is not int:  # pragma: no cover - len() always gives an int
                    raise _Invalid("length", "has no length", True)
            if n < lo or (hi is not None and n > hi):
                raise _Invalid("length", message)
            return v
        return [check_length]

    def __repr__(self):
        return f"Length({self.min}, {self.max})"


_ADDRESS_COMPONENT = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


class AddressComponent(_Simple):
    """One component of a trace address: ASCII letters, digits, ``_`` and ``-``.

    Non-empty and at most ``max_length`` characters. Such a component can be
    used in addresses without escaping and cannot smuggle separators,
    quotes, control or look-alike characters.

    Parameters
    ----------
    max_length : int
        Maximum number of characters.

    Examples
    --------
    >>> AddressComponent()("sensor-1_a")
    'sensor-1_a'
    >>> AddressComponent()("a b")
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.ValidationError: invalid input: value: may contain only ASCII letters, ...
    """

    __slots__ = ("max_length",)
    rule = "address_component"

    def __init__(self, max_length: int = 50):
        self.max_length = check_int(max_length, "max_length", "AddressComponent", low=1)

    def _key(self):
        return (self.max_length,)

    def _checks(self):
        hi = self.max_length
        fullmatch = _ADDRESS_COMPONENT.fullmatch
        size_message = f"must have 1 to {hi} characters"

        def check_address_component(v):
            if type(v) is not str:
                v = _as_str(v, "address_component")
            if not 0 < len(v) <= hi:
                raise _Invalid("address_component", size_message)
            if fullmatch(v) is None:
                raise _Invalid("address_component",
                               "may contain only ASCII letters, digits, '_' and '-'")
            return v
        return [check_address_component]

    def __repr__(self):
        return f"AddressComponent({self.max_length})"


class OneOf(_Simple):
    """One of a fixed set of values (equal *and* of the same type).

    ``OneOf([1, 2])`` rejects ``1.0`` and ``True``; numpy scalars count as
    their Python type. The value returned is the canonical choice.

    Parameters
    ----------
    choices : iterable of hashable
        The allowed values (non-empty).

    Examples
    --------
    >>> OneOf(["low", "high"])("high")
    'high'
    >>> OneOf(["low", "high"])("medium")
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.ValidationError: invalid input: value: must be one of 'low', 'high' ...
    """

    __slots__ = ("_lookup", "choices")
    rule = "one_of"

    def __init__(self, choices: Iterable):
        choices = tuple(choices)
        if not choices:
            raise invalid("OneOf", "choices", choices, "must not be empty")
        lookup: dict = {}
        for c in choices:
            if isinstance(c, np.generic):
                c = c.item()
            lookup.setdefault((type(c), c), c)
        self.choices = tuple(lookup.values())
        self._lookup = lookup

    def _key(self):
        return (frozenset(self._lookup),)

    def _checks(self):
        lookup = self._lookup
        shown = ", ".join(safe_repr(c, 30) for c in self.choices[:10])
        if len(self.choices) > 10:
            shown += f", ... ({len(self.choices)} choices)"
        message = f"must be one of {shown}"

        def check_one_of(v):
            if isinstance(v, np.generic):
                v = v.item()
            try:
                return lookup[(type(v), v)]
            except KeyError:
                raise _Invalid("one_of", message) from None
            except Exception:  # noqa: BLE001 - unhashable, or a raising __hash__/__eq__
                raise _Invalid("one_of", message, True) from None
        return [check_one_of]

    def __repr__(self):
        return f"OneOf({list(self.choices)!r})"


def _callable_name(fn) -> str:
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier():
        return "custom"
    return name


class Rule(Validator):
    """A custom business rule: a callable that checks a value.

    The rule passes when the callable returns a truthy value or ``None``
    (so checkers that only raise work); it fails when the callable returns
    another falsy value (``False``, ``0``, ``""``) or raises an
    ``Exception``. On failure the violation's message is ``message`` if
    given, else the exception's text (bounded, escaped; not used for secret
    fields), else ``"failed rule <name>"``.

    As a field validator the callable receives the field's value (already
    cleaned by the chain before it). In ``Schema(rules=[...])`` it receives
    the mapping of cleaned values; ``fields`` names the fields it reads: it
    runs only if those are all valid (without ``fields``, only if every field
    is valid), and its violation is reported under those names.

    Parameters
    ----------
    fn : callable
        The check.
    name : str, optional
        The rule's name in violations (default: the callable's name, or
        ``"custom"`` for a lambda).
    message : str, optional
        The message on failure.
    fields : iterable of str, optional
        For a cross-field rule: the fields it reads.

    Examples
    --------
    >>> even = Rule(lambda n: n % 2 == 0, name="even", message="must be even")
    >>> (Integer() & even)(4)
    4
    >>> (Integer() & even)(3)
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.ValidationError: invalid input: value: must be even (rule even, got 3)
    """

    __slots__ = ("fields", "fn", "message", "name")

    def __init__(self, fn: Callable[[Any], Any], *, name: str | None = None,
                 message: str | None = None, fields: Iterable[str] = ()):
        if not callable(fn):
            raise TypeError(f"Rule: fn must be callable, got {_type_name(fn)}")
        if name is not None and not isinstance(name, str):
            raise TypeError("Rule: name must be a str")
        if message is not None and not isinstance(message, str):
            raise TypeError("Rule: message must be a str")
        self.fn = fn
        self.name = safe_text(name, 60) if name else _callable_name(fn)
        self.message = None if message is None else safe_text(message)
        self.fields = tuple(fields)

    @property
    def rule(self) -> str:  # type: ignore[override]
        return self.name

    def _checks(self, secret: bool = False):
        return [self._compile(secret)]

    def _compile(self, secret: bool):
        fn, name, message = self.fn, self.name, self.message
        default = f"failed rule {name}"

        def check_rule(v):
            try:
                ok = fn(v)
                passed = ok is None or bool(ok)
            except Exception as e:  # noqa: BLE001 - validation never raises but ValidationError
                text = message or (default if secret else safe_text(e) or default)
                raise _Invalid(name, text) from None
            if not passed:
                raise _Invalid(name, message or default)
            return v
        return check_rule

    def __repr__(self):
        return f"Rule({self.name})"


# --------------------------------------------------------------------- fields and schema


class Field:
    """One input of a :class:`Schema`.

    Parameters
    ----------
    validator : Validator, list, callable or None
        The chain (a list or a callable is wrapped; None: any value).
    default : object, optional
        Makes the field optional; used when the field is missing. It is
        validated when the schema is built and returned as is (use immutable
        defaults).
    nullable : bool
        Accept ``None`` (returned as ``None``, the chain skipped).
    secret : bool, optional
        Render the value as ``'***'`` in violations. Default: whether the
        name looks secret (:func:`is_secret_name`).

    Examples
    --------
    >>> Field(Finite(), default=0.0).required
    False
    """

    __slots__ = ("default", "nullable", "secret", "validator")

    def __init__(self, validator=None, *, default: Any = MISSING, nullable: bool = False,
                 secret: bool | None = None):
        self.validator = Chain() if validator is None else _as_validator(validator)
        self.default = default
        self.nullable = bool(nullable)
        self.secret = secret

    @property
    def required(self) -> bool:
        """True when the field has no default."""
        return self.default is MISSING

    def __repr__(self) -> str:
        parts = [repr(self.validator)]
        if not self.required:
            parts.append(f"default={self.default!r}")
        if self.nullable:
            parts.append("nullable=True")
        if self.secret is not None:
            parts.append(f"secret={self.secret}")
        return f"Field({', '.join(parts)})"


def _run_chain(checks):
    if len(checks) == 1:
        return checks[0]
    if not checks:
        return lambda v: v
    checks = tuple(checks)

    def run(v):
        for c in checks:
            v = c(v)
        return v
    return run


def _check_field(checks, value, label: str, secret: bool, violations: list) -> tuple[bool, Any]:
    """Run a field's checks collecting every violation; (valid, cleaned value)."""
    ok = True
    for check in checks:
        try:
            value = check(value)
        except _Invalid as e:
            ok = False
            violations.append(Violation(label, e.rule, safe_text(e.message),
                                        safe_repr(value, secret=secret)))
            if e.fatal:
                break
        except Exception:  # noqa: BLE001 - validation never raises but ValidationError
            ok = False
            violations.append(Violation(label, "error", "could not be checked",
                                        safe_repr(value, secret=secret)))
            break
    return ok, value


class _Compiled:
    __slots__ = ("bounds", "checks", "default", "label", "name", "nullable", "run", "secret")


def _generate(schema: Schema):
    """Build ``validate`` and ``validate_args`` for one schema, as straight-line code.

    Like :mod:`dataclasses`, the functions are generated as source and
    compiled once; field names and every other value enter through the
    namespace, never the source text. A float field with known bounds is
    checked inline (``type(v) is float and lo <= v <= hi``); any other value
    goes through the field's compiled chain. Any failure falls back to the
    slow path, which collects every violation.
    """
    ns: dict[str, Any] = {"_slow": schema._validate_slow, "_args_slow": schema._validate_args_slow,
                          "_Invalid": _Invalid, "_N": len(schema._compiled),
                          "_rules": tuple(check for _, check in schema._rule_checks)}
    body: list[str] = []
    keys: list[str] = []
    reject = schema.unknown == "reject"
    for i, c in enumerate(schema._compiled):
        ns[f"_k{i}"], ns[f"_run{i}"], ns[f"_d{i}"] = c.name, c.run, c.default
        keys.append(f"_k{i}: v{i}")
        if c.bounds is None:
            test = None
        elif c.bounds[2] and c.bounds[0] == -_INF and c.bounds[1] == _INF:
            test = f"type(v{i}) is not float"
        else:
            ns[f"_lo{i}"], ns[f"_hi{i}"] = c.bounds[0], c.bounds[1]
            test = f"type(v{i}) is not float or not _lo{i} <= v{i} <= _hi{i}"
        check = [f"v{i} = _run{i}(v{i})"] if test is None else \
            [f"if {test}:", f"    v{i} = _run{i}(v{i})"]
        if c.nullable:
            check = [f"if v{i} is not None:"] + ["    " + line for line in check]
        body.append((i, c.default is MISSING, check))

    def field_code(indent: str, source: str) -> list[str]:
        lines = []
        for i, required, check in body:
            if required:
                lines.append(f"{indent}v{i} = {source(i)}")
                lines += [indent + line for line in check]
            else:
                lines.append(f"{indent}if _k{i} in data:")
                lines.append(f"{indent}    v{i} = data[_k{i}]")
                lines += [indent + "    " + line for line in check]
                lines.append(f"{indent}else:")
                lines.append(f"{indent}    v{i} = _d{i}")
                if reject:
                    lines.append(f"{indent}    n += 1")
        return lines

    out_line = "out = {" + ", ".join(keys) + "}"
    tail = [out_line]
    if ns["_rules"]:
        tail += ["for _check in _rules:", "    _check(out)"]
    tail.append("return out")

    src = ["def validate(data):", "    if type(data) is dict:", "        try:"]
    if reject:
        src.append("            n = len(data)")
    src += field_code("            ", lambda i: f"data[_k{i}]")
    if reject:
        src.append("            if n != _N:")
        src.append("                raise _Invalid('unknown', '')")
    src += ["            " + line for line in tail]
    src += ["        except Exception:", "            pass", "    return _slow(data)", ""]

    n = len(schema._compiled)
    src += ["def validate_args(*args, **kwargs):", "    if not kwargs and len(args) == _N:"]
    if n:
        unpack = ", ".join(f"v{i}" for i in range(n)) + ("," if n == 1 else "")
        src.append(f"        {unpack} = args")
    src.append("        try:")
    for _, _, check in body:
        src += ["            " + line for line in check]
    src += ["            " + line for line in tail]
    src += ["        except Exception:", "            pass",
            "    return _args_slow(args, kwargs)", ""]
    # (the generated code is the schema's own, built above from its compiled fields)
    exec(compile("\n".join(src), f"<fugue_ppl.validation.Schema {id(schema):#x}>", "exec"),  # noqa: S102
         ns)
    validate, validate_args = ns["validate"], ns["validate_args"]
    for fn, ref in ((validate, Schema.validate), (validate_args, Schema.validate_args)):
        fn.__doc__, fn.__qualname__ = ref.__doc__, ref.__qualname__
    return validate, validate_args


# Annotations Schema.from_signature turns into validators (types, and the
# strings postponed annotations leave).
_ANNOTATED: dict[Any, type[Validator]] = {}
for _t, _v in ((float, Finite), (int, Integer), (bool, Boolean), (str, String)):
    _ANNOTATED[_t] = _ANNOTATED[_t.__name__] = _v


def _hashable(x: Any) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


class Schema:
    """The inputs of a model: named fields, each with a validator chain.

    Parameters
    ----------
    fields : mapping of str to Field, Validator, list or callable
        The fields in argument order (a bare validator makes a required
        field).
    unknown : {"reject", "ignore"}
        What to do with keys the schema does not know: report each as a
        violation (rule ``"unknown"``; the first 20 one by one, the rest as
        one), or drop them from the result.
    rules : iterable of Rule or callable, optional
        Cross-field rules, called with the mapping of cleaned values (see
        :class:`Rule`).
    name : str, optional
        The model's name, used in error messages.

    Raises
    ------
    TypeError
        A field name is not a str, or a field spec is not a validator.
    ValueError
        A default fails its field's chain, or ``unknown`` is not one of the
        two options.

    Notes
    -----
    The chain of each field is compiled once, when the schema is built, into
    a flat list of check functions; a field whose chain is made only of
    numeric checks (:class:`Float`, :class:`Finite`, :class:`Range`,
    :class:`Probability`, :class:`Positive`) gets a fast path for ``float``
    values (one type test and one chained comparison). ``validate`` allocates
    nothing but the result dict when the input is valid; on any failure it
    re-runs the slow path that collects every violation.

    Examples
    --------
    >>> schema = Schema(
    ...     {"lo": Finite(), "hi": Finite(), "label": Field(AddressComponent(), default="x")},
    ...     rules=[Rule(lambda d: d["lo"] <= d["hi"], name="ordered",
    ...                 message="lo must not exceed hi", fields=("lo", "hi"))],
    ...     name="interval")
    >>> schema.validate({"lo": 1, "hi": 2})
    {'lo': 1.0, 'hi': 2.0, 'label': 'x'}
    >>> try:
    ...     schema.validate({"lo": 3, "hi": 2, "label": "bad label"})
    ... except ValueError as e:
    ...     for v in e.violations:
    ...         print(v.field, v.rule, v.value)
    label address_component 'bad label'
    lo, hi ordered (3.0, 2.0)
    """

    def __init__(self, fields: Mapping[str, Any], *, unknown: str = "reject",
                 rules: Iterable = (), name: str | None = None):
        check_choice(unknown, "unknown", "Schema", ("reject", "ignore"))
        if not isinstance(fields, Mapping):
            raise TypeError("Schema: fields must be a mapping of name to Field")
        self.name = name
        self.unknown = unknown
        self.fields: dict[str, Field] = {}
        compiled: list[_Compiled] = []
        for fname, spec in fields.items():
            if not isinstance(fname, str):
                raise TypeError(f"Schema: field names must be str, got {_type_name(fname)}")
            if not fname:
                raise invalid("Schema", "fields", fname, "must have non-empty names")
            f = spec if isinstance(spec, Field) else Field(spec)
            self.fields[fname] = f
            compiled.append(self._compile_field(fname, f))
        self.rules: tuple[Rule, ...] = tuple(r if isinstance(r, Rule) else Rule(r) for r in rules)
        for r in self.rules:
            for fn in r.fields:
                if fn not in self.fields:
                    raise invalid("Schema", f"rule {r.name}", fn, "must read fields of the schema")
        self._compiled = tuple(compiled)
        self._names = tuple(self.fields)
        self._nfields = len(compiled)
        self._reject = unknown == "reject"
        secret = {c.name: c.secret for c in compiled}
        # a rule reading a secret field never reports its exception's text (it may quote the value)
        self._rule_checks = tuple(
            (r, r._compile(any(secret[f] for f in r.fields) if r.fields else any(secret.values())))
            for r in self.rules)
        for c in compiled:  # defaults must pass their own chain
            if c.default is not MISSING and not (c.default is None and c.nullable):
                try:
                    c.run(c.default)
                    continue
                except _Invalid as e:
                    err = invalid("Schema", f"default of {c.label}", c.default, e.message,
                                  secret=c.secret)
                raise err   # (outside the handler: the error has no context to show)
        # the per-call entry points: generated straight-line code (instance attributes
        # shadow the methods below, which document them and are what they fall back to)
        self.validate, self.validate_args = _generate(self)

    @classmethod
    def from_signature(cls, func: Callable[..., Any], *, name: str | None = None) -> Schema:
        """The schema of ``func``'s parameters, from their annotations.

        ``float`` gives :class:`Finite`, ``int`` :class:`Integer`, ``bool``
        :class:`Boolean` and ``str`` :class:`String` (as types or as the
        strings postponed annotations make); any other annotation, or none,
        accepts any value. A default makes a field optional (nullable when
        the default is ``None``).

        Raises
        ------
        TypeError
            ``func`` has no signature, or takes ``*args`` or ``**kwargs``
            (a schema has a fixed set of fields).

        Examples
        --------
        >>> def sensor(reading: float, unit: str = "C"): ...
        >>> Schema.from_signature(sensor).validate_args(21)
        {'reading': 21.0, 'unit': 'C'}
        """
        label = getattr(func, "__name__", type(func).__name__)
        try:
            sig = inspect.signature(func)
        except (TypeError, ValueError):
            raise TypeError(f"Schema.from_signature: {label} has no "
                            f"signature") from None
        fields: dict[str, Field] = {}
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"Schema.from_signature: {label} takes "
                                f"{'*' if p.kind is p.VAR_POSITIONAL else '**'}{p.name}")
            make = _ANNOTATED.get(p.annotation) if _hashable(p.annotation) else None
            validator = make() if make is not None else None
            if p.default is p.empty:
                fields[p.name] = Field(validator)
            else:
                fields[p.name] = Field(validator, default=p.default, nullable=p.default is None)
        return cls(fields, name=name)

    @property
    def typed(self) -> bool:
        """Whether every field checks its values (none accepts any value)."""
        return all(not (isinstance(f.validator, Chain) and not f.validator.validators)
                   for f in self.fields.values())

    @staticmethod
    def _compile_field(fname: str, f: Field) -> _Compiled:
        c = _Compiled()
        c.name = fname
        c.label = _field_label(fname)
        c.secret = is_secret_name(fname) if f.secret is None else bool(f.secret)
        v = f.validator
        checks = v._checks(c.secret) if isinstance(v, (Rule, Chain)) else v._checks()
        c.checks = tuple(checks)
        c.run = _run_chain(checks)
        c.bounds = f.validator._float_bounds() if checks else None
        c.default = f.default
        c.nullable = f.nullable
        return c

    @property
    def names(self) -> tuple[str, ...]:
        """The field names, in argument order."""
        return self._names

    @property
    def float_bounds(self) -> tuple[tuple[float, float, bool] | None, ...]:
        """Per field, the float fast path: ``(lo, hi, nan_ok)`` or None.

        For a field whose chain is made only of :class:`Float`,
        :class:`Finite`, :class:`Range`, :class:`Probability` and
        :class:`Positive`, a ``float`` value x is valid *and returned
        unchanged* exactly when ``lo <= x <= hi`` or (x is NaN and
        ``nan_ok``). Exclusive bounds are already turned into inclusive float
        bounds. None for any other field. A caller (e.g. a compiled runner)
        may skip :meth:`validate_args` when every argument is a float within
        its field's bounds, all fields are given positionally, and the schema
        has no cross-field ``rules``.

        Examples
        --------
        >>> Schema({"x": Finite() & Range(0, 1), "s": String()}).float_bounds
        ((0.0, 1.0, False), None)
        >>> Schema({"p": Positive()}).float_bounds
        ((5e-324, inf, False),)
        """
        return tuple(c.bounds for c in self._compiled)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {v!r}" for k, v in self.fields.items())
        return f"Schema({{{inner}}}, unknown={self.unknown!r})"

    # -------------------------------------------------------------- fast path

    def validate(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a mapping of inputs.

        Parameters
        ----------
        data : mapping
            The inputs. Anything else is reported as one violation of field
            ``"(input)"``.

        Returns
        -------
        dict
            The cleaned values, in field order, defaults filled in (unknown
            keys dropped when ``unknown="ignore"``).

        Raises
        ------
        ValidationError
            With every violation (``violations``). Nothing else is raised,
            whatever the input.

        Examples
        --------
        >>> Schema({"x": Finite()}).validate({"x": 1})
        {'x': 1.0}
        """
        return self._validate_slow(data)

    def _validate_slow(self, data: Any) -> dict[str, Any]:
        if type(data) is not dict:
            data = self._as_dict(data)
            return self.validate(data)
        raise self._report(data, ())

    def validate_args(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Validate a call's arguments, positional ones mapped to fields in order.

        Parameters
        ----------
        *args
            Values for the first fields, in order.
        **kwargs
            Values by name.

        Returns
        -------
        dict
            As :meth:`validate`; ``model(*result.values())`` calls the model
            with the cleaned values in field order.

        Raises
        ------
        ValidationError
            As :meth:`validate`, plus violations ``"arity"`` (more positional
            arguments than fields, under field ``"(args)"``) and
            ``"duplicate"`` (a field given positionally and by name).

        Examples
        --------
        >>> s = Schema({"a": Finite(), "b": Field(Finite(), default=0.0)})
        >>> s.validate_args(1, b=2)
        {'a': 1.0, 'b': 2.0}
        """
        return self._validate_args_slow(args, kwargs)

    def _validate_args_slow(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        if len(args) <= self._nfields:
            data = dict(zip(self._names, args, strict=False))
            if not kwargs:
                return self.validate(data)
            if not any(k in data for k in kwargs):
                data.update(kwargs)
                return self.validate(data)
        # report arity / duplicates together with everything else
        extra: list[Violation] = []
        data = dict(zip(self._names, args, strict=False))
        if len(args) > self._nfields:
            extra.append(Violation(
                "(args)", "arity",
                f"takes at most {self._nfields} positional arguments, got {len(args)}",
                safe_repr(len(args))))
        for k, v in kwargs.items():
            if k in data:
                c = self._compiled[self._names.index(k)]
                extra.append(Violation(c.label, "duplicate",
                                       "given both positionally and by name",
                                       safe_repr(v, secret=c.secret)))
            else:
                data[k] = v
        if not extra:
            return self.validate(data)
        raise self._report(data, extra)

    # -------------------------------------------------------------- slow path

    def _as_dict(self, data: Any) -> dict:
        if isinstance(data, dict):
            try:
                return dict(data)
            except Exception:  # noqa: BLE001, S110 - validation never raises but ValidationError
                pass
        elif isinstance(data, Mapping):
            try:
                return dict(data.items())
            except Exception:  # noqa: BLE001, S110 - validation never raises but ValidationError
                pass
        # The input as a whole is never rendered: any part of it may be a secret (the
        # pairs of d.items() are the fields and their values).
        v = Violation("(input)", "mapping",
                      f"expected a mapping of field names to values, got {_type_name(data)}",
                      f"<{_type_name(data)}>")
        raise _error([v], self.name)

    def _report(self, data: dict, extra: Iterable[Violation]) -> ValidationError:
        """Collect every violation (the input is known to be invalid, or was)."""
        try:
            violations = self._collect(data)[0]
        except Exception:  # noqa: BLE001  # pragma: no cover - _collect guards every user call
            violations = [Violation("(input)", "error", "could not be validated",
                                    "<unavailable>")]
        violations = list(extra) + violations
        if not violations:
            # the fast path failed on something that succeeds now (a flaky rule):
            # report it rather than guess
            violations = [Violation("(input)", "error", "validation was not repeatable",
                                    "<unavailable>")]
        return _error(violations, self.name)

    def _collect(self, data: dict) -> tuple[list[Violation], dict]:
        violations: list[Violation] = []
        out: dict[str, Any] = {}
        failed: set[str] = set()
        for c in self._compiled:
            try:
                present = c.name in data
                if present:
                    v = data[c.name]
            except Exception:  # noqa: BLE001 - validation never raises but ValidationError
                violations.append(Violation(c.label, "input", "could not be read",
                                            "<unavailable>"))
                failed.add(c.name)
                continue
            if not present:
                if c.default is MISSING:
                    violations.append(Violation(c.label, "required", "is required", "<missing>"))
                    failed.add(c.name)
                else:
                    out[c.name] = c.default
                continue
            if v is None and c.nullable:
                out[c.name] = None
                continue
            ok, cur = _check_field(c.checks, v, c.label, c.secret, violations)
            if ok:
                out[c.name] = cur
            else:
                failed.add(c.name)
        if self._reject:
            violations.extend(self._unknown(data))
        for rule, check in self._rule_checks:
            if rule.fields:
                if any(f in failed for f in rule.fields):
                    continue
            elif failed:
                continue
            try:
                check(out)
            except _Invalid as e:
                names = rule.fields
                label = ", ".join(self._compiled[self._names.index(f)].label for f in names) \
                    if names else "(input)"
                secret = any(self._compiled[self._names.index(f)].secret for f in names)
                shown = tuple(out.get(f) for f in names) if names else None
                violations.append(Violation(
                    label, e.rule, safe_text(e.message),
                    safe_repr(shown, secret=secret) if names else "<input>"))
        return violations, out

    def _unknown(self, data: dict) -> list[Violation]:
        fields = self.fields
        unknown = []
        n = 0
        for k in data:  # noqa: PLC0206 - reading a value may raise: each is read on its own
            try:
                known = isinstance(k, str) and k in fields
            except Exception:  # noqa: BLE001  # pragma: no cover - str keys hash and compare safely
                known = False
            if known:
                continue
            n += 1
            if n <= _MAX_UNKNOWN:
                try:
                    v = data[k]
                except Exception:  # noqa: BLE001 - validation never raises but ValidationError
                    v = None
                unknown.append(Violation(_field_label(k), "unknown", "is not an input of this "
                                         "model", safe_repr(v, secret=is_secret_name(k))))
        if n > _MAX_UNKNOWN:
            unknown.append(Violation("(input)", "unknown",
                                     f"{n - _MAX_UNKNOWN} more unknown fields", "..."))
        return unknown
