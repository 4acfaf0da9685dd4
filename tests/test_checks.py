"""The checking kit (fugue_ppl.checks) and its one exception rule across the package.

The first part tests every function and constraint of the kit at its edges
(bools, strings, None, numpy scalars, 0-d arrays, 10**400, NaN, infinities,
exact bounds); the second, every public constructor that takes numbers
(distributions apart): a wrong type raises TypeError, a bad value
InvalidArgument naming the parameter.
"""

import dataclasses
import doctest
import math
import pickle
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

import fugue_ppl as fp
from fugue_ppl import checks as K
from fugue_ppl.checks import (
    Bounded,
    Choice,
    Custom,
    Duration,
    Flag,
    FrozenMapping,
    Instance,
    Int,
    Optional,
    Params,
    Real,
    Relation,
    Settings,
    Text,
    as_number,
    check_bounded,
    check_choice,
    check_duration,
    check_exact,
    check_flag,
    check_int,
    check_real,
    check_text,
    check_type,
    closest,
    declaration,
    freeze,
    invalid,
    is_secret_name,
    masked,
    safe_repr,
    safe_text,
    section,
    setting,
    settings,
    settings_defaults,
    thaw,
    validate_settings,
)
from fugue_ppl.errors import ConfigError, InvalidArgument, InvalidParameters

HUGE = 10 ** 400


def raises(exc, call):
    """The exception ``call()`` raises, checked to be exactly of type ``exc``."""
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc, type(info.value)
    return info.value


def test_docstring_examples_run():
    result = doctest.testmod(K, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 15 and result.failed == 0


def test_the_error_hierarchy():
    assert issubclass(InvalidArgument, ValueError)
    assert issubclass(InvalidParameters, InvalidArgument)
    assert issubclass(ConfigError, InvalidArgument)
    e = invalid("Owner", "p", 5, "must be small", code=103)
    assert type(e) is InvalidArgument and str(e) == "[103] Owner: p must be small, got 5"
    assert (e.owner, e.parameter, e.value, e.shown, e.rule, e.code) == (
        "Owner", "p", 5, "5", "must be small", 103)
    s = invalid("Owner", "token", "tok-1", "must be long", secret=True)
    assert str(s) == "Owner: token must be long, got ***" and s.value is None
    assert str(pickle.loads(pickle.dumps(s))) == str(s)


# ---------------------------------------------------------------- renderings


def test_safe_repr_and_safe_text():
    assert safe_repr("abc\n") == "'abc\\n'" and safe_repr(HUGE) == "<int of 1329 bits>"
    assert safe_repr("x" * 100) == "'" + "x" * 36 + "..."
    assert safe_repr("pw", secret=True) == "***"

    class Evil:
        def __repr__(self):
            raise RuntimeError("no")
    assert safe_repr(Evil()).startswith("<Evil instance at 0x")        # (reprlib's fallback)
    assert safe_text("a\nb") == "a\\nb" and safe_text("x" * 300) == "x" * 197 + "..."


def test_is_secret_name():
    assert [is_secret_name(n) for n in ("api_key", "DB_PASSWORD", "private_pem", "Token",
                                        "reading", 5, None)] == [True] * 4 + [False] * 3


def test_masked_at_any_depth_keeps_container_types():
    value = {"a": 1, "password": "p", "nested": {"x": [{"secret": "s", "y": 2}],
                                                  "t": ({"token": 1},)}}
    assert masked(value) == {"a": 1, "password": "***", "nested": {
        "x": [{"secret": "***", "y": 2}], "t": ({"token": "***"},)}}
    assert masked(5) == 5 and masked("token") == "token"
    deep = []
    node = deep
    for _ in range(100):
        node.append([])
        node = node[0]
    assert "..." in repr(masked(deep))                    # bounded, no RecursionError


def test_frozen_mappings_freeze_and_thaw():
    m = freeze({"a": [1, {"b": 2}], "password": "p"})
    assert isinstance(m, FrozenMapping) and m["a"] == (1, FrozenMapping({"b": 2}))
    assert freeze(m) is m and repr(m) == "{'a': (1, {'b': 2}), 'password': '***'}"
    with pytest.raises(TypeError):
        m["a"] = 1
    with pytest.raises(AttributeError):
        m.x = 1
    with pytest.raises(AttributeError):
        del m._data
    assert hash(m) == hash(freeze({"password": "p", "a": (1, {"b": 2})}))
    assert pickle.loads(pickle.dumps(m)) == m and len(m) == 2 and list(m) == ["a", "password"]
    assert thaw(m) == {"a": [1, {"b": 2}], "password": "p"}
    assert thaw(m, mask=True) == {"a": [1, {"b": 2}], "password": "***"}


def test_closest():
    assert closest("windw_size", ["window_size", "window_type"]) == "window_size"
    assert closest("zzz", ["window_size"]) is None and closest(5, ["a"]) is None
    assert closest("abcd", ["abce"], 0.9) is None and closest("abcd", ["abce"], 0.7) == "abce"


# ---------------------------------------------------------------- numbers

NOT_NUMBERS = [(True, "bool"), (np.bool_(False), "bool"), ("1", "str"), (None, "NoneType"),
               (1j, "complex"), (Decimal(1), "Decimal"), (np.array([1.0]), "ndarray"),
               (np.array(True), "ndarray"), ([1.0], "list"), (b"1", "bytes")]


@pytest.mark.parametrize("value, kind", NOT_NUMBERS)
def test_as_number_refuses_what_is_not_a_real_number(value, kind):
    e = raises(TypeError, lambda: as_number(value, "x", "Owner"))
    assert str(e) == f"Owner: x must be a real number, got {kind}"
    assert (e.owner, e.parameter, e.expected) == ("Owner", "x", "a real number")


@pytest.mark.parametrize("value, expected", [
    (3, 3), (2.5, 2.5), (HUGE, HUGE), (np.int64(-4), -4), (np.uint64(2 ** 64 - 1), 2 ** 64 - 1),
    (np.float32(0.5), 0.5), (np.float64(math.inf), math.inf), (np.array(7), 7),
    (np.array(1.25), 1.25), (np.longdouble(1.5), 1.5), (Fraction(1, 4), 0.25),
    (Fraction(HUGE), math.inf), (-Fraction(HUGE), -math.inf),
])
def test_as_number_gives_a_python_int_or_float(value, expected):
    out = as_number(value, "x", "Owner")
    assert out == expected and type(out) in (int, float)
    assert type(out) is (int if isinstance(expected, int) else float)


@pytest.mark.parametrize("constraint, inside, outside, rule", [
    ("finite", [-1e308, 0.0, 1e308, HUGE - HUGE], [math.nan, math.inf, -math.inf, HUGE],
     "must be finite"),
    ("positive", [5e-324, 1.0, 1e308], [0.0, -0.0, -1.0, math.inf, HUGE],
     "must be finite and > 0"),
    ("non_negative", [0.0, -0.0, 1.0], [-5e-324, math.nan, math.inf],
     "must be finite and >= 0"),
    ("probability", [0, 0.0, 1, 1.0, np.float32(0.5)], [-5e-324, math.nextafter(1.0, 2.0),
                                                        math.nan], "must be in [0, 1]"),
    ("open_unit", [5e-324, 0.5, math.nextafter(1.0, 0.0)], [0.0, 1.0, math.nan],
     "must be in (0, 1)"),
    ("unit", [5e-324, 1.0], [0.0, math.nextafter(1.0, 2.0)], "must be in (0, 1]"),
])
def test_check_real_at_the_bounds(constraint, inside, outside, rule):
    for v in inside:
        out = check_real(v, "x", "T", constraint)
        assert type(out) is float and out == float(v)
    for v in outside:
        e = raises(InvalidArgument, lambda v=v: check_real(v, "x", "T", constraint))
        assert str(e) == f"T: x {rule}, got {safe_repr(v)}" and e.parameter == "x"
    for v, kind in NOT_NUMBERS:
        assert str(raises(TypeError, lambda v=v: check_real(v, "x", "T", constraint))) == \
            f"T: x must be a real number, got {kind}"
    assert str(raises(InvalidArgument, lambda: check_real(-1, "s", "N", "positive", code=101))) \
        == "[101] N: s must be finite and > 0, got -1"


def test_check_bounded():
    assert check_bounded(1, "x", "T", 1.0, 2.0) == 1.0 and check_bounded(2.0, "x", "T", 1, 2) == 2.0
    cases = [
        ({"low": 1.0, "high": 2.0, "low_open": True}, 1.0, "must be in (1, 2]"),
        ({"low": 1.0, "high": 2.0, "high_open": True}, 2.0, "must be in [1, 2)"),
        ({"low": 0.0}, -1, "must be finite and >= 0"),
        ({"low": 0.0, "low_open": True}, 0, "must be finite and > 0"),
        ({"high": 5.0}, 6, "must be finite and <= 5"),
        ({"high": 5.0, "high_open": True}, 5, "must be finite and < 5"),
        ({}, math.inf, "must be finite"),
        ({"low": -1e9, "high": 1e9}, HUGE, "must be in [-1e+09, 1e+09]"),
    ]
    for kw, v, rule in cases:
        e = raises(InvalidArgument, lambda v=v, kw=kw: check_bounded(v, "x", "T", **kw))
        assert str(e) == f"T: x {rule}, got {safe_repr(v)}"
    assert str(raises(TypeError, lambda: check_bounded("1", "x", "T"))) == \
        "T: x must be a real number, got str"


def test_check_int():
    assert check_int(3, "n", "T") == 3 and check_int(3.0, "n", "T") == 3
    assert check_int(np.int64(3), "n", "T") == 3 and check_int(np.array(3), "n", "T") == 3
    assert type(check_int(np.float64(4.0), "n", "T")) is int and check_int(HUGE, "n", "T") == HUGE
    assert check_int(1, "n", "T", low=1, high=1) == 1
    for v, kind in [(True, "bool"), (np.bool_(True), "bool"), ("3", "str"), (None, "NoneType"),
                    (np.array(3.0), "ndarray"), (Fraction(3), "Fraction")]:
        assert str(raises(TypeError, lambda v=v: check_int(v, "n", "T"))) == \
            f"T: n must be an integer, got {kind}"
    for v in (2.5, math.nan, math.inf, -math.inf, np.float32(0.5)):
        assert str(raises(InvalidArgument, lambda v=v: check_int(v, "n", "T"))) == \
            f"T: n must be an integer, got {safe_repr(v)}"
    assert str(raises(InvalidArgument, lambda: check_int(0, "n", "T", low=1))) == \
        "T: n must be >= 1, got 0"
    assert str(raises(InvalidArgument, lambda: check_int(11, "n", "T", high=10))) == \
        "T: n must be <= 10, got 11"
    assert str(raises(InvalidArgument, lambda: check_int(HUGE, "n", "T", low=0, high=10))) == \
        "T: n must be in [0, 10], got <int of 1329 bits>"


def test_check_duration():
    assert check_duration(1, "d", "T") == 1.0 and check_duration(0, "d", "T", zero=True) == 0.0
    assert check_duration(5.0, "d", "T", maximum=5.0) == 5.0
    for v, kw, rule in [(0, {}, "must be a finite number of seconds > 0"),
                        (-1e-300, {"zero": True}, "must be a finite number of seconds >= 0"),
                        (math.inf, {}, "must be a finite number of seconds > 0"),
                        (HUGE, {}, "must be a finite number of seconds > 0"),
                        (math.nan, {}, "must be a finite number of seconds > 0"),
                        (5.5, {"maximum": 5.0},
                         "must be a finite number of seconds > 0 and <= 5")]:
        e = raises(InvalidArgument, lambda v=v, kw=kw: check_duration(v, "d", "T", **kw))
        assert str(e) == f"T: d {rule}, got {safe_repr(v)}"
    assert str(raises(TypeError, lambda: check_duration(timedelta(1), "d", "T"))) == \
        "T: d must be a real number, got timedelta"


def test_check_exact():
    assert check_exact(0.999, "t", "T", "open_unit") == Fraction(999, 1000)
    assert check_exact(Decimal("0.999"), "t", "T", "open_unit") == Fraction(999, 1000)
    assert check_exact(Fraction(2, 3), "t", "T", "open_unit") == Fraction(2, 3)
    assert check_exact(np.float32(0.5), "t", "T") == Fraction(1, 2)
    assert check_exact(HUGE, "t", "T") == HUGE and check_exact(np.int64(2), "t", "T") == 2
    assert check_exact(1, "t", "T", "probability") == 1
    for v in (0, 1, 1.0, HUGE, Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), math.nan,
              math.inf, Fraction(3, 2)):
        e = raises(InvalidArgument, lambda v=v: check_exact(v, "t", "T", "open_unit"))
        assert str(e) == f"T: t must be in (0, 1), got {safe_repr(v)}"
    for v, kind in [(True, "bool"), ("0.5", "str"), (None, "NoneType")]:
        assert str(raises(TypeError, lambda v=v: check_exact(v, "t", "T"))) == \
            f"T: t must be a real number, got {kind}"


def test_check_choice_flag_text_type():
    assert check_choice("a", "c", "T", ("a", "b")) == "a"
    assert str(raises(InvalidArgument, lambda: check_choice(1, "c", "T", ("1",)))) == \
        "T: c must be one of '1', got 1"
    assert check_flag(np.bool_(True), "f", "T") is True and check_flag(False, "f", "T") is False
    for v, kind in [(1, "int"), ("true", "str"), (None, "NoneType")]:
        assert str(raises(TypeError, lambda v=v: check_flag(v, "f", "T"))) == \
            f"T: f must be a bool, got {kind}"
    assert check_text("name", "n", "T") == "name" and check_text("x" * 5, "n", "T", max_length=5)
    for v in ("", "x" * 6, "a\nb", "a\u200bb"):
        assert str(raises(InvalidArgument, lambda v=v: check_text(v, "n", "T", max_length=5))) == \
            f"T: n must be a printable, non-empty str of at most 5 characters, got {safe_repr(v)}"
    assert str(raises(TypeError, lambda: check_text(b"x", "n", "T"))) == \
        "T: n must be a str, got bytes"
    assert check_type(3, "v", "T", int, "an int") == 3
    assert str(raises(TypeError, lambda: check_type("3", "v", "T", (int, float), "a number"))) \
        == "T: v must be a number, got str"


# ---------------------------------------------------------------- constraints


@pytest.mark.parametrize("constraint, good, converted, bad, exc, message, describe", [
    (Real("probability"), 1, 1.0, 1.5, InvalidArgument, "must be in [0, 1], got 1.5",
     "in [0, 1]"),
    (Real(), np.float32(2.5), 2.5, True, TypeError, "must be a real number, got bool", "finite"),
    (Bounded(1.0), 1, 1.0, 0.5, InvalidArgument, "must be finite and >= 1, got 0.5",
     "finite and >= 1"),
    (Bounded(0.0, 1.0, high_open=True), 0, 0.0, 1.0, InvalidArgument,
     "must be in [0, 1), got 1.0", "in [0, 1)"),
    (Int(1, 10), 10.0, 10, 11, InvalidArgument, "must be in [1, 10], got 11", "in [1, 10]"),
    (Int(0), 0, 0, -1, InvalidArgument, "must be >= 0, got -1", ">= 0"),
    (Int(high=3), -5, -5, 4, InvalidArgument, "must be <= 3, got 4", "<= 3"),
    (Int(), HUGE, HUGE, "1", TypeError, "must be an integer, got str", "an integer"),
    (Duration(60.0), 60, 60.0, 61, InvalidArgument,
     "must be a finite number of seconds > 0 and <= 60, got 61", "seconds, > 0 and <= 60"),
    (Duration(zero=True), 0, 0.0, -1, InvalidArgument,
     "must be a finite number of seconds >= 0, got -1", "seconds, >= 0"),
    (Choice(("a", "b"), str.lower), "B", "b", "c", InvalidArgument,
     "must be one of 'a', 'b', got 'c'", "one of 'a', 'b'"),
    (Choice(("a",)), "a", "a", 1, TypeError, "must be a str, got int", "one of 'a'"),
    (Flag(), np.bool_(False), False, 0, TypeError, "must be a bool, got int", "true or false"),
    (Text(8, r"[a-z]+", "must be lower-case letters"), "abc", "abc", "ABC", InvalidArgument,
     "must be lower-case letters, got 'ABC'", "lower-case letters"),
    (Text(3), "abc", "abc", "abcd", InvalidArgument,
     "must be a printable, non-empty str of at most 3 characters, got 'abcd'",
     "printable, 1 to 3 characters"),
    (Optional(Real("positive")), None, None, -1.0, InvalidArgument,
     "must be finite and > 0, got -1.0", "none, or finite and > 0"),
    (Instance(int), 3, 3, "3", TypeError, "must be an int, got str", "an int"),
    (Instance((int, float), "a number"), 3.5, 3.5, None, TypeError,
     "must be a number, got NoneType", "a number"),
    (Params(), {"a": [1]}, FrozenMapping({"a": (1,)}), [1], TypeError,
     "must be a mapping, got list", "a table with string keys"),
    (Custom(lambda v, n, o: check_int(v, n, o) * 2, "doubled"), 2, 4, "2", TypeError,
     "must be an integer, got str", "doubled"),
])
def test_constraints(constraint, good, converted, bad, exc, message, describe):
    out = constraint(good, "p", "Owner")
    assert out == converted and type(out) is type(converted)
    e = raises(exc, lambda: constraint(bad, "p", "Owner"))
    assert str(e) == f"Owner: p {message}"
    assert constraint.describe() == describe
    assert repr(constraint) == f"{type(constraint).__name__}({describe!r})"


def test_params_refuses_keys_that_are_not_strings():
    assert str(raises(TypeError, lambda: Params()({1: 2}, "params", "M"))) == \
        "M: params key must be a str, got int"


def test_relations():
    assert [Relation("a", op, "b").holds(1, 2) for op in ("<", "<=", ">", ">=")] == [
        True, True, False, False]
    assert Relation("a", "<=", "b").holds(2, 2) and not Relation("a", "<", "b").holds(2, 2)
    assert [Relation("a", op, "b").rule() for op in ("<", "<=", ">", ">=")] == [
        "must be below b", "must not exceed b", "must be above b", "must be at least b"]
    assert repr(Relation("a", "<", "b")) == "Relation('a', '<', 'b')"
    assert str(raises(InvalidArgument, lambda: Relation("a", "!=", "b"))) == \
        "Relation: op must be one of '<', '<=', '>', '>=', got '!='"


# ---------------------------------------------------------------- the settings mechanism


@settings
class Inner(Settings):
    """A small section."""

    rate: float = setting(0.5, check=Real("probability"), doc="A rate.")


@settings
class Sample(Settings):
    """A settings type of every kind of field."""

    low: float = setting(0.1, check=Real("probability"), doc="Low.")
    high: float = setting(0.9, check=Real("probability"), doc="High.")
    count: int = setting(3, check=Int(1, 10), doc="How many.")
    name: str = setting("x", check=Text(10), doc="A name.")
    token: str | None = setting(None, check=Optional(Text(40)), secret=True, doc="A secret.")
    params: dict = setting(check=Params(), factory=FrozenMapping, doc="Free values.")
    inner: Inner = section(Inner, doc="A section.")

    _relations = (Relation("low", "<", "high"),)


def test_a_settings_type_checks_converts_and_freezes():
    s = Sample(low=0, count=4.0, params={"db": {"password": "pw"}})
    assert (s.low, s.count, type(s.low), type(s.count)) == (0.0, 4, float, int)
    assert s.params == {"db": {"password": "pw"}} and isinstance(s.params, FrozenMapping)
    assert s == Sample(low=0.0, count=4, params={"db": {"password": "pw"}})
    assert hash(s) == hash(Sample(low=0.0, count=4, params={"db": {"password": "pw"}}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.low = 0.2
    assert not hasattr(s, "__dict__")
    assert pickle.loads(pickle.dumps(s)) == s
    with pytest.raises(TypeError):
        Sample(0.1)                                       # keywords only


def test_a_settings_type_raises_the_first_problem_in_field_order():
    e = raises(InvalidArgument, lambda: Sample(count="3", low=2.0))
    assert str(e) == "Sample: low must be in [0, 1], got 2.0"
    e = raises(TypeError, lambda: Sample(count="3", name=""))
    assert str(e) == "Sample: count must be an integer, got str"
    e = raises(InvalidArgument, lambda: Sample(low=0.95))
    assert str(e) == "Sample: low must be below high (0.9), got 0.95"
    assert (e.field, e.others, e.relation) == ("low", ("high",), "must be below high")
    e = raises(TypeError, lambda: Sample(inner={"rate": 1}))
    assert str(e) == "Sample: inner must be an Inner, got dict"
    e = raises(TypeError, lambda: Sample(cont=3))
    assert str(e) == "Sample: unknown setting 'cont'; did you mean 'count'?"
    e = raises(TypeError, lambda: Sample(zzz=3))
    assert str(e) == ("Sample: unknown setting 'zzz' (settings: low, high, count, name, token, "
                      "params, inner)")


def test_validate_settings_reports_every_problem():
    values = {**settings_defaults(Sample), "low": "x", "count": 0, "name": ""}
    out, problems = validate_settings(Sample, values)
    assert [(type(p), p.field) for p in problems] == [
        (TypeError, "low"), (InvalidArgument, "count"), (InvalidArgument, "name")]
    assert "low" not in out and out["high"] == 0.9
    # relations are checked between valid values only
    _, problems = validate_settings(Sample, {**settings_defaults(Sample), "low": 0.95})
    assert [p.field for p in problems] == ["low"]


def test_secret_settings_are_masked_and_relations_mask_the_other_value():
    s = Sample(token="tok-in-clear", params={"api_token": "t2", "x": 1})
    assert repr(s) == ("Sample(low=0.1, high=0.9, count=3, name='x', token='***', "
                       "params={'api_token': '***', 'x': 1}, inner=Inner(rate=0.5))")
    assert "tok-in-clear" not in repr(s) and "t2" not in repr(s)
    e = raises(InvalidArgument, lambda: Sample(token="a\nb"))
    assert str(e) == "Sample: token must be a printable, non-empty str of at most 40 " \
                     "characters, got 'a\\nb'"         # (a value in error: the field's check)


def test_settings_methods():
    s = Sample()
    assert s.replace(count=5).count == 5 and s.replace(count=5) != s
    assert str(raises(InvalidArgument, lambda: s.replace(count=11))) == \
        "Sample: count must be in [1, 10], got 11"
    assert str(raises(TypeError, lambda: s.replace(counts=1))) == \
        "Sample: unknown setting 'counts'; did you mean 'count'?"
    assert s.to_dict() == {"low": 0.1, "high": 0.9, "count": 3, "name": "x", "token": None,
                           "params": {}, "inner": {"rate": 0.5}}
    assert Sample.check_field("count", 2.0) == 2 and Sample.default("name") == "x"
    assert str(raises(InvalidArgument, lambda: Sample.check_field("count", 0, "Sampler"))) == \
        "Sampler: count must be in [1, 10], got 0"
    e = raises(RuntimeError, lambda: Sample.__init__(s, count=4))
    assert str(e) == "Sample.__init__ was called on an initialised Sample; create a new Sample " \
                     "instead"
    assert s.count == 3
    d = declaration(dataclasses.fields(Sample)[4])
    assert (d["doc"], d["secret"], d["section"]) == ("A secret.", True, False)
    assert declaration(dataclasses.fields(Sample)[6])["section"] is True
    assert settings_defaults(Sample)["inner"] == Inner()


def test_settings_needs_the_base_class():
    class Plain:
        pass
    assert str(raises(TypeError, lambda: settings(Plain))) == \
        "settings: Plain must subclass Settings"


# ---------------------------------------------------------------- every constructor taking numbers

def _runner():
    from fugue_ppl.models import sensor
    return fp.ModelRunner(sensor, rng=0)


def _store():
    from fugue_ppl.serving.slo import EventStore
    return EventStore(clock=fp.ManualClock())


# The settings types: every numeric field, a wrong type and a bad value from its constraint.

def _settings_types():
    from fugue_ppl import config as C
    seen, out = set(), []

    def walk(cls):
        if cls in seen:
            return
        seen.add(cls)
        out.append(cls)
        for f in C.field_kinds(cls).values():
            if f.kind == "section":
                walk(f.item)
    walk(C.Config)
    walk(fp.serving.RunnerConfig)
    return out


def _bad_value(check, kind):
    inner = check.inner if isinstance(check, Optional) else check
    if isinstance(inner, Custom) and kind in ("int", "float"):
        return -1.0
    if isinstance(inner, Real):
        return {"probability": 1.5, "open_unit": 1.0, "unit": 0.0, "positive": 0.0,
                "finite": math.nan, "non_negative": -1.0}[inner.constraint]
    if isinstance(inner, Bounded):
        return inner.low - 1 if math.isfinite(inner.low) else math.inf
    if isinstance(inner, Int):
        return inner.low - 1 if inner.low is not None else 0.5
    if isinstance(inner, Duration):
        return -1.0
    return None


def _numeric_setting_cases():
    from fugue_ppl import config as C
    cases = []
    for cls in _settings_types():
        kinds = C.field_kinds(cls)
        for f in dataclasses.fields(cls):
            check = declaration(f)["check"]
            bad = _bad_value(check, kinds[f.name].kind)
            if bad is None:
                continue
            cases.append(pytest.param(cls, f.name, bad, id=f"{cls.__name__}.{f.name}"))
    return cases


NUMERIC_SETTINGS = _numeric_setting_cases()


def test_the_sweep_covers_the_numeric_settings():
    names = {p.id for p in NUMERIC_SETTINGS}
    assert {"BreakerConfig.failure_threshold", "BreakerConfig.window_size",
            "RuntimeConfig.pool_max_size", "MetricsConfig.window_seconds", "EWMAConfig.lam",
            "CUSUMConfig.h", "HealthSettings.history_size", "SLOConfig.period_days"} <= names
    assert len(names) >= 40


@pytest.mark.parametrize("cls, name, bad", NUMERIC_SETTINGS)
def test_every_numeric_setting_refuses_a_wrong_type_and_a_bad_value(cls, name, bad):
    e = raises(TypeError, lambda: cls(**{name: "1"}))
    assert str(e).startswith(f"{cls.__name__}: {name} must be ") and str(e).endswith(", got str")
    e = raises(InvalidArgument, lambda: cls(**{name: bad}))
    assert (e.owner, e.parameter) == (cls.__name__, name)
    assert str(e).startswith(f"{cls.__name__}: {name} must ")


# The other constructors: (a call with a wrong type, the TypeError's start, a call with a bad
# value, the parameter the InvalidArgument names).

def _cases():
    from fugue_ppl.monitoring import CUSUM, EWMA, ShewhartChart, Welford
    from fugue_ppl.serving.health import HealthChecker, HealthSettings
    from fugue_ppl.serving.slo import (
        AlertRules,
        BreakerHistory,
        BurnRateAlerts,
        BurnRateRule,
        CapacityPlanner,
        EventStore,
        ServiceLevelObjectives,
    )
    from fugue_ppl.validation import AddressComponent, Length, Range
    return [
        ("CircuitBreaker", lambda: fp.CircuitBreaker(half_open_permits="5"),
         lambda: fp.CircuitBreaker(half_open_permits=0), "half_open_permits"),
        ("CircuitBreaker.force_open", lambda: fp.CircuitBreaker().force_open("1"),
         lambda: fp.CircuitBreaker().force_open(0), "duration"),
        ("CircuitBreaker.record_success", lambda: fp.CircuitBreaker().record_success("1"),
         lambda: fp.CircuitBreaker().record_success(-1), "duration"),
        ("ManualClock", lambda: fp.ManualClock("0"), lambda: fp.ManualClock(HUGE), "start"),
        ("ManualClock.advance", lambda: fp.ManualClock().advance(None),
         lambda: fp.ManualClock().advance(-1), "seconds"),
        ("EWMA", lambda: EWMA(lam="0.2"), lambda: EWMA(lam=0), "lam"),
        ("EWMA.L", lambda: EWMA(L=None), lambda: EWMA(L=-1), "L"),
        ("EWMA.sigma", lambda: EWMA(sigma="1"), lambda: EWMA(mu0=0, sigma=0), "sigma"),
        ("EWMA.warmup", lambda: EWMA(warmup=True), lambda: EWMA(warmup=1), "warmup"),
        ("CUSUM", lambda: CUSUM(k="0.5"), lambda: CUSUM(k=-1), "k"),
        ("CUSUM.mu0", lambda: CUSUM(mu0="0"), lambda: CUSUM(mu0=math.inf), "mu0"),
        ("ShewhartChart", lambda: ShewhartChart("1"), lambda: ShewhartChart(0), "n"),
        ("ShewhartChart.warmup", lambda: ShewhartChart(warmup=2.0 + 0j),
         lambda: ShewhartChart(warmup=0), "warmup"),
        ("Welford.var", lambda: Welford().var("1"), lambda: Welford().var(-1), "ddof"),
        ("ModelRunner", lambda: fp.ModelRunner(abs, deadline="1"),
         lambda: fp.ModelRunner(abs, deadline=0), "deadline"),
        ("HealthSettings", lambda: HealthSettings(window="60"),
         lambda: HealthSettings(window=0), "window"),
        ("HealthChecker", lambda: HealthChecker(_runner(), min_calls="1"),
         lambda: HealthChecker(_runner(), min_calls=0), "min_calls"),
        ("AlertRules", lambda: AlertRules(max_error_rate="1"),
         lambda: AlertRules(max_error_rate=2), "max_error_rate"),
        ("AlertRules.min_requests", lambda: AlertRules(min_requests="1"),
         lambda: AlertRules(min_requests=-1), "min_requests"),
        ("ServiceLevelObjectives", lambda: ServiceLevelObjectives("0.9"),
         lambda: ServiceLevelObjectives(1.5), "availability_target"),
        ("ServiceLevelObjectives.period", lambda: ServiceLevelObjectives(period="1d"),
         lambda: ServiceLevelObjectives(period=-1), "period"),
        ("EventStore", lambda: EventStore(resolution="60"), lambda: EventStore(resolution=0),
         "resolution"),
        ("EventStore.add", lambda: _store().add("1"), lambda: _store().add(-1), "total"),
        ("BurnRateRule", lambda: BurnRateRule("page", 3600, 300, "14"),
         lambda: BurnRateRule("page", 3600, 300, 0), "threshold"),
        ("BurnRateAlerts", lambda: BurnRateAlerts(_store(), slo="0.9"),
         lambda: BurnRateAlerts(_store(), slo=1), "slo"),
        ("BreakerHistory", lambda: BreakerHistory(fp.CircuitBreaker(), max_outages="1"),
         lambda: BreakerHistory(fp.CircuitBreaker(), max_outages=0), "max_outages"),
        ("CapacityPlanner", lambda: CapacityPlanner(scale_up_threshold="1"),
         lambda: CapacityPlanner(scale_up_threshold=0), "scale_up_threshold"),
        ("CapacityPlanner.min_replicas", lambda: CapacityPlanner(min_replicas="1"),
         lambda: CapacityPlanner(min_replicas=0), "min_replicas"),
        ("Range", lambda: Range("0", 1), lambda: Range(2, 1), "min"),
        ("Length", lambda: Length("1"), lambda: Length(-1), "min"),
        ("AddressComponent", lambda: AddressComponent("5"), lambda: AddressComponent(0),
         "max_length"),
        ("TracePool", lambda: fp.TracePool("4"), lambda: fp.TracePool(0), "max_size"),
        ("ProductionMetrics", lambda: fp.ProductionMetrics(window="60"),
         lambda: fp.ProductionMetrics(window=0), "window"),
        ("LatencyHistogram", lambda: fp.LatencyHistogram(lowest="1"),
         lambda: fp.LatencyHistogram(lowest=-1), "lowest"),
        ("HealthChecker.smoke_seed", lambda: HealthChecker(_runner(), smoke_seed="1"),
         lambda: HealthChecker(_runner(), smoke_seed=-1), "smoke_seed"),
    ]



CASES = [pytest.param(*c, id=c[0]) for c in _cases()]


@pytest.mark.parametrize("label, wrong_type, bad_value, parameter", CASES)
def test_a_wrong_type_raises_type_error(label, wrong_type, bad_value, parameter):
    e = raises(TypeError, wrong_type)
    assert parameter in str(e) and " must be " in str(e)


@pytest.mark.parametrize("label, wrong_type, bad_value, parameter", CASES)
def test_a_bad_value_raises_invalid_argument_naming_the_parameter(label, wrong_type, bad_value,
                                                                   parameter):
    with pytest.raises(InvalidArgument) as info:
        bad_value()
    assert info.value.parameter == parameter
    assert f"{info.value.owner}: {parameter} " in str(info.value)
