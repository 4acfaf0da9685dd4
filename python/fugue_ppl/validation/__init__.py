"""Input validation: a model's inputs are checked before the model runs, and
every problem is reported at once in one
:class:`~fugue_ppl.errors.ValidationError`.

Numbers are coerced by the checking kit (:func:`fugue_ppl.checks.as_number`);
values are rendered by :func:`fugue_ppl.checks.safe_repr` (``'***'`` for
secrets). Where to look next:

- :mod:`~fugue_ppl.validation.validators`: :class:`Validator` (every
  validator, how they compose and coerce), :class:`Chain`, :class:`Rule` and
  the value validators (:class:`Finite`, :class:`Range`, ...);
- :mod:`~fugue_ppl.validation.schema`: :class:`Field`, :data:`MISSING` and
  :class:`Schema` (fields, defaults, cross-field rules, the generated fast
  path, :meth:`Schema.from_signature`);
- :mod:`~fugue_ppl.validation.violations`: :class:`Violation` and the error
  that carries them.

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

from fugue_ppl.checks import MESSAGE_LIMIT, RENDER_LIMIT, is_secret_name, safe_repr, safe_text
from fugue_ppl.validation.schema import MISSING, Field, Schema
from fugue_ppl.validation.validators import (
    AddressComponent,
    Boolean,
    Chain,
    Finite,
    Float,
    Integer,
    Length,
    OneOf,
    Positive,
    Probability,
    Range,
    Rule,
    String,
    Validator,
)
from fugue_ppl.validation.violations import ERROR_MESSAGE_LIMIT as ERROR_MESSAGE_LIMIT
from fugue_ppl.validation.violations import Violation

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
