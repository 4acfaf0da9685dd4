"""Schema.from_signature: a model's parameters and annotations as a schema."""

from __future__ import annotations

import math

import pytest

from fugue_ppl.errors import ValidationError
from fugue_ppl.validation import Boolean, Finite, Integer, Schema, String


def annotated(reading: float, count: int, flag: bool, label: str, extra=None, *,
              scale: float = 1.0):
    return reading


def test_annotations_become_validators_and_defaults_make_fields_optional():
    s = Schema.from_signature(annotated, name="annotated")
    kinds = {k: type(f.validator) for k, f in s.fields.items()}
    assert kinds["reading"] is Finite and kinds["count"] is Integer
    assert kinds["flag"] is Boolean and kinds["label"] is String and kinds["scale"] is Finite
    assert [k for k, f in s.fields.items() if f.required] == ["reading", "count", "flag",
                                                              "label"]
    assert s.fields["extra"].nullable and not s.typed
    assert s.validate_args(2, 3, True, "x") == {
        "reading": 2.0, "count": 3, "flag": True, "label": "x", "extra": None, "scale": 1.0}


def test_every_violation_is_listed_at_once():
    s = Schema.from_signature(annotated)
    with pytest.raises(ValidationError) as info:
        s.validate_args(math.inf, "3", 1, None, 1, 2, 3, scale="big", other=1)
    rules = sorted((v.field, v.rule) for v in info.value.violations)
    assert ("(args)", "arity") in rules
    assert ("reading", "finite") in rules and ("flag", "boolean") in rules
    assert ("other", "unknown") in rules
    assert len(rules) >= 5


def test_a_fully_annotated_float_model_is_typed_with_float_bounds():
    def sensor(reading: float):
        return reading

    s = Schema.from_signature(sensor)
    assert s.typed and s.float_bounds == (Finite()._float_bounds(),)


@pytest.mark.parametrize("func, message", [
    (lambda *a: 0, "Schema.from_signature: <lambda> takes *a"),
    (lambda x, **kw: 0, "Schema.from_signature: <lambda> takes **kw"),
])
def test_variadic_functions_have_no_schema(func, message):
    with pytest.raises(TypeError) as info:
        Schema.from_signature(func)
    assert str(info.value) == message


@pytest.mark.parametrize("func", [3, None, "sensor"])
def test_a_non_callable_has_no_schema(func):
    with pytest.raises(TypeError, match="^Schema.from_signature: .* has no signature$"):
        Schema.from_signature(func)


def test_a_callable_without_a_signature_has_no_schema():
    class NoSig:
        __signature__ = "not a signature"

        def __call__(self):
            return 0

    with pytest.raises(TypeError, match="has no signature"):
        Schema.from_signature(NoSig())
