"""Validators: the checks of one value, how they compose and how they coerce.

:class:`Validator` is the base class; its docstring lists every validator and
the coercion rules they share. :class:`Chain` composes validators
(``Finite() & Range(0, 100)``), :class:`Rule` turns a callable into one. Each
compiles to a flat list of check functions that return the value (possibly
coerced) or raise ``_Invalid`` (:mod:`~fugue_ppl.validation.violations`).
:mod:`~fugue_ppl.validation.schema` puts them together into the fields of a
schema.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from fugue_ppl.checks import (
    _type_name,
    as_number,
    check_int,
    invalid,
    is_secret_name,
    safe_repr,
    safe_text,
)
from fugue_ppl.validation.violations import Violation, _check_field, _error, _field_label, _Invalid

__all__ = [
    "AddressComponent",
    "Boolean",
    "Chain",
    "Finite",
    "Float",
    "Integer",
    "Length",
    "OneOf",
    "Positive",
    "Probability",
    "Range",
    "Rule",
    "String",
    "Validator",
]

_INF = math.inf
_DBL_MAX = 1.7976931348623157e308

# --------------------------------------------------------------------- coercion helpers

_np_bool = np.bool_


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
    coerced, or raises ``_Invalid``).

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


class _StringsOption(_Simple):
    """A number validator that may also parse strings (``strings=True``)."""

    __slots__ = ("strings",)

    def __init__(self, *, strings: bool = False):
        self.strings = bool(strings)

    def _key(self):
        return (self.strings,)


class Float(_StringsOption):
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

    __slots__ = ()
    rule = "float"

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


class Integer(_StringsOption):
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

    __slots__ = ()
    rule = "integer"

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
