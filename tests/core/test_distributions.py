"""The distribution classes: construction and validation, the Python API
(properties, repr, equality, hashing, pickling), argument errors of sample and
log_prob, array versus scalar log-densities, and thread safety."""

import copy
import math
import pickle
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import fugue_ppl.core._distributions as D
from fugue_ppl.checks import safe_repr
from fugue_ppl.errors import FugueError, InvalidParameters

NAN, INF = math.nan, math.inf

# name -> (class, valid positional parameters, parameter names, value type)
SPECS = {
    "Normal": (D.Normal, (0.5, 2.0), ("mu", "sigma"), float),
    "Uniform": (D.Uniform, (-1.0, 3.0), ("low", "high"), float),
    "LogNormal": (D.LogNormal, (0.5, 2.0), ("mu", "sigma"), float),
    "Exponential": (D.Exponential, (2.0,), ("rate",), float),
    "Beta": (D.Beta, (2.0, 3.0), ("alpha", "beta"), float),
    "Gamma": (D.Gamma, (2.0, 3.0), ("shape", "rate"), float),
    "Bernoulli": (D.Bernoulli, (0.25,), ("p",), bool),
    "Binomial": (D.Binomial, (10, 0.25), ("n", "p"), int),
    "Categorical": (D.Categorical, ([0.25, 0.75],), ("probs",), int),
    "Poisson": (D.Poisson, (3.0,), ("rate",), int),
    "StudentT": (D.StudentT, (3.0, 0.5, 2.0), ("df", "loc", "scale"), float),
    "Cauchy": (D.Cauchy, (0.5, 2.0), ("loc", "scale"), float),
    "Laplace": (D.Laplace, (0.5, 2.0), ("loc", "scale"), float),
    "Weibull": (D.Weibull, (1.5, 2.0), ("shape", "scale"), float),
    "ChiSquared": (D.ChiSquared, (3.0,), ("k",), float),
    "InverseGamma": (D.InverseGamma, (3.0, 2.0), ("shape", "rate"), float),
    "DiscreteUniform": (D.DiscreteUniform, (1, 6), ("low", "high"), int),
    "NegativeBinomial": (D.NegativeBinomial, (2.5, 0.4), ("n", "p"), int),
    "Geometric": (D.Geometric, (0.3,), ("p",), int),
}
NAMES = sorted(SPECS)

CODES = {"mu": 100, "loc": 100, "sigma": 101, "scale": 101, "p": 102, "probs": 102,
         "low": 103, "high": 103, "alpha": 104, "beta": 104, "shape": 104, "df": 104,
         "k": 104, "rate": 105, "n": 106}
INT_PARAMS = {("Binomial", "n"), ("DiscreteUniform", "low"), ("DiscreteUniform", "high")}


def make(name):
    cls, args, _, _ = SPECS[name]
    return cls(*args)


def test_every_distribution_is_exported():
    import fugue_ppl
    import fugue_ppl.core

    assert len(SPECS) == 19
    assert sorted(D.__all__) == sorted([*NAMES, "Distribution", "as_generator"])
    for name in NAMES:
        assert issubclass(getattr(D, name), D.Distribution)
        assert getattr(fugue_ppl, name) is getattr(D, name) is getattr(fugue_ppl.core, name)
        assert name in fugue_ppl.__all__ and name in fugue_ppl.core.__all__


# ------------------------------------------------------------------ the Python API

@pytest.mark.parametrize("name", NAMES)
def test_properties_params_repr_eq_hash_pickle(name):
    cls, args, pnames, vtype = SPECS[name]
    d = cls(*args)
    assert d.name == name
    assert type(d) is cls
    params = d._params()
    assert list(params) == list(pnames)
    for pname, arg in zip(pnames, args):
        value = getattr(d, pname)
        if pname == "probs":
            assert isinstance(value, np.ndarray) and value.dtype == np.float64
            assert value.tolist() == list(arg)
            assert not value.flags.writeable
        else:
            assert value == arg
            assert type(value) is (int if (name, pname) in INT_PARAMS else float)
        assert params[pname] is value or np.array_equal(params[pname], value)
    assert repr(d).startswith(f"{name}(" + pnames[0] + "=")
    same = cls(*args)
    assert d == same
    assert not d != same  # noqa: SIM202 - __ne__ is defined separately
    assert hash(d) == hash(same)
    assert d != object() and d != 1.0
    for clone in (pickle.loads(pickle.dumps(d)), copy.copy(d), copy.deepcopy(d)):
        assert type(clone) is cls and clone == d and hash(clone) == hash(d)
        assert repr(clone) == repr(d)
    assert d.dtype == {float: np.float64, int: np.int64, bool: np.bool_}[vtype]


def test_repr_examples():
    assert repr(D.Normal(0.0, 1.0)) == "Normal(mu=0.0, sigma=1.0)"
    assert repr(D.Binomial(10, 0.5)) == "Binomial(n=10, p=0.5)"
    assert repr(D.StudentT(3, 0, 1)) == "StudentT(df=3.0, loc=0.0, scale=1.0)"
    assert repr(D.DiscreteUniform(1, 6)) == "DiscreteUniform(low=1, high=6)"
    assert repr(D.NegativeBinomial(3, 0.5)) == "NegativeBinomial(n=3.0, p=0.5)"
    assert repr(D.Geometric(0.25)) == "Geometric(p=0.25)"


def test_equality_distinguishes_parameters_and_types():
    assert D.Normal(0.0, 1.0) == D.Normal(0, 1)
    assert D.Normal(0.0, 1.0) != D.Normal(0.0, 2.0)
    assert D.Normal(0.0, 1.0) != D.LogNormal(0.0, 1.0)
    assert D.Categorical([0.5, 0.5]) == D.Categorical(np.array([0.5, 0.5]))
    assert D.Categorical([0.5, 0.5]) != D.Categorical([0.25, 0.75])
    assert len({D.Normal(0.0, 1.0), D.Normal(0, 1), D.Normal(1.0, 1.0)}) == 2


def test_keyword_construction():
    assert D.Normal(mu=1.0, sigma=2.0) == D.Normal(1.0, 2.0)
    assert D.StudentT(df=3.0, loc=1.0, scale=2.0) == D.StudentT(3.0, 1.0, 2.0)
    assert D.Binomial(n=5, p=0.5) == D.Binomial(5, 0.5)
    with pytest.raises(TypeError):
        D.Normal(1.0)
    with pytest.raises(TypeError):
        D.Normal(1.0, 2.0, 3.0)


def test_numpy_and_integer_parameters_accepted():
    assert D.Normal(np.float64(1.0), np.float32(2.0)) == D.Normal(1.0, 2.0)
    assert D.Normal(np.int64(1), 2) == D.Normal(1.0, 2.0)
    assert D.Binomial(np.int32(7), 0.5).n == 7
    assert D.Binomial(7.0, 0.5).n == 7
    assert D.DiscreteUniform(np.int64(-3), np.uint8(4)) == D.DiscreteUniform(-3, 4)
    assert D.Normal(np.array(1.5), 1.0).mu == 1.5  # 0-d array


def test_distribution_base_is_abstract():
    base = D.Distribution()
    with pytest.raises(TypeError, match="abstract"):
        base.sample(0)
    with pytest.raises(TypeError, match="abstract"):
        base.log_prob(0.0)
    with pytest.raises(TypeError, match="abstract"):
        base._params()


# ------------------------------------------------------------------ validation

# The rule a non-finite value breaks first, per real parameter.
FIRST_RULE = {"mu": "must be finite", "loc": "must be finite", "low": "must be finite",
              "high": "must be finite", "p": "must be in [0, 1]"}
UNIT_P = {"NegativeBinomial", "Geometric"}   # p in (0, 1]
POSITIVE_RULE = "must be finite and > 0"
INT64_RULE = "must be in [-9223372036854775808, 9223372036854775807]"


def _bad_values(name, pname):
    """(value of the right type that breaks a rule, the rule) pairs for one parameter."""
    if pname == "probs":
        return [([0.5, 0.6], "must sum to 1 (within 1e-6); they sum to 1.1"),
                ([1.5, -0.5], "must hold probabilities in [0, 1]"),
                ([NAN, 1.0], "must hold probabilities in [0, 1]"),
                ([], "must not be empty"),
                ([INF, 0.0], "must hold probabilities in [0, 1]")]
    if (name, pname) in INT_PARAMS:
        out = [(2.5, "must be an integer"), (INF, "must be an integer"),
               (NAN, "must be an integer"), (np.float64(2.5), "must be an integer"),
               (2**64, INT64_RULE), (-(2**63) - 1, INT64_RULE)]
        if pname == "n":
            out += [(-1, "must be >= 0"), (-(2**63), "must be >= 0")]
        return out
    first = FIRST_RULE.get(pname, POSITIVE_RULE)
    if pname == "p" and name in UNIT_P:
        first = "must be in (0, 1]"
    # (an int beyond the double range is infinite)
    out = [(NAN, first), (INF, first), (-INF, first), (10**400, first), (-(10**400), first)]
    if first == POSITIVE_RULE:
        out += [(0.0, first), (-1.0, first), (-1e-300, first)]
    if pname == "p":
        out += [(-1e-12, first), (1.0 + 2**-52, first)]
    if pname == "p" and name in UNIT_P:
        out += [(0.0, first), (-0.0, first), (-5e-324, first)]
    return out


def _wrong_types(name, pname):
    """(value of a wrong type, the type the message names) pairs for one parameter."""
    if pname == "probs":
        return [(None, "NoneType"), ("ab", "str"), (b"ab", "bytes"), (0.5, "float"),
                (["0.5", "0.5"], "list"), ([0.5, None], "list"), ([[0.5, 0.5]], "list"),
                ([0.5, [0.5]], "list"), (np.array([True, False]), "ndarray"),
                (np.array(1.0), "ndarray"), ({0.5, 0.25}, "set")]
    common = [("1.0", "str"), (None, "NoneType"), (True, "bool"), (np.bool_(True), "bool"),
              (b"1", "bytes"), ([1.0], "list"), (1 + 2j, "complex")]
    if (name, pname) in INT_PARAMS:
        return common
    return common + [(np.array([1.0, 2.0]), "ndarray"), (np.array("1"), "ndarray")]


def _cases(cases):
    for name in NAMES:
        pnames = SPECS[name][2]
        for i, pname in enumerate(pnames):
            for bad, expected in cases(name, pname):
                yield name, i, pname, bad, expected


VALUE_CASES = list(_cases(_bad_values))
TYPE_CASES = list(_cases(_wrong_types))


@pytest.mark.parametrize("name,i,pname,bad,rule", VALUE_CASES,
                         ids=[f"{c[0]}.{c[2]}={safe_repr(c[3])}" for c in VALUE_CASES])
def test_invalid_parameter_value_raises_invalid_parameters(name, i, pname, bad, rule):
    cls, args, _, _ = SPECS[name]
    args = list(args)
    args[i] = bad
    with pytest.raises(InvalidParameters) as info:
        cls(*args)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, FugueError)
    assert (err.code, err.distribution, err.parameter, err.rule) == (CODES[pname], name, pname,
                                                                     rule)
    # the value as given, except for one element of a probabilities array
    shown = bad[0] if rule.startswith("must hold") else bad
    assert str(err) == f"[{CODES[pname]}] {name}: {pname} {rule}, got {safe_repr(shown)}"


@pytest.mark.parametrize("name,i,pname,bad,tname", TYPE_CASES,
                         ids=[f"{c[0]}.{c[2]}={safe_repr(c[3])}" for c in TYPE_CASES])
def test_parameter_of_a_wrong_type_raises_type_error(name, i, pname, bad, tname):
    cls, args, _, _ = SPECS[name]
    args = list(args)
    args[i] = bad
    with pytest.raises(TypeError) as info:
        cls(*args)
    assert not isinstance(info.value, ValueError)
    expected = {"probs": "a one-dimensional sequence of real numbers"}.get(
        pname, "an integer" if (name, pname) in INT_PARAMS else "a real number")
    assert str(info.value) == f"{name}: {pname} must be {expected}, got {tname}"


def _message(call):
    with pytest.raises(InvalidParameters) as info:
        call()
    return str(info.value), info.value


def test_range_errors_name_both_bounds():
    assert _message(lambda: D.Uniform(2.0, 1.0))[0] == \
        "[103] Uniform: high must be > low (low=2.0), got 1.0"
    assert _message(lambda: D.Uniform(1.0, 1.0))[0] == \
        "[103] Uniform: high must be > low (low=1.0), got 1.0"
    assert _message(lambda: D.Uniform(-1e308, 1e308))[0] == \
        "[103] Uniform: high must make high - low finite (low=-1e+308), got 1e+308"
    assert _message(lambda: D.Uniform(2, 1))[0] == \
        "[103] Uniform: high must be > low (low=2.0), got 1"
    assert _message(lambda: D.DiscreteUniform(5, 4))[0] == \
        "[103] DiscreteUniform: high must be >= low (low=5), got 4"
    msg, err = _message(lambda: D.DiscreteUniform(2**62 + 1, 2**62))
    assert msg == "[103] DiscreteUniform: high must be >= low (low=4611686018427387905), got " \
                  "4611686018427387904"
    assert err.value == 2**62 and err.code == 103 and err.rule == \
        "must be >= low (low=4611686018427387905)"


@pytest.mark.parametrize("low", [0.1, -0.0, 1e-5, 1.5e-5, 1e-4, 0.00012345, 123456.789,
                                 1e15, 9999999999999998.0, 1e16, 1.2345678901234567e16, 1e22,
                                 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                                 -2.5, -1e100, 3.0, 100.0, 0.30000000000000004, 2.0**60])
def test_context_values_are_written_as_python_writes_them(low):
    # The C++ core composes the message; a float appears as repr() shows it.
    high = math.nextafter(low, -INF)
    assert _message(lambda: D.Uniform(low, high))[1].rule == f"must be > low (low={low!r})"


@given(hs.floats(allow_nan=False, allow_infinity=False, min_value=-1e307, max_value=1e307))
@settings(max_examples=300, deadline=None)
def test_context_floats_round_trip(low):
    rule = _message(lambda: D.Uniform(low, low))[1].rule
    assert rule == f"must be > low (low={low!r})"


@pytest.mark.parametrize("call,constraint", [
    (lambda: D.Normal(NAN, 1.0), "finite"), (lambda: D.Normal(0.0, 0.0), "positive"),
    (lambda: D.Bernoulli(1.5), "probability"), (lambda: D.Geometric(0.0), "unit")])
def test_rules_are_worded_as_the_checking_kit_words_them(call, constraint):
    from fugue_ppl.checks import CONSTRAINTS

    assert _message(call)[1].rule == CONSTRAINTS[constraint][4]


def test_count_error_reports_the_integer():
    with pytest.raises(InvalidParameters) as info:
        D.Binomial(-(2**60), 0.5)
    assert info.value.value == -(2**60) and info.value.code == 106
    assert str(info.value) == "[106] Binomial: n must be >= 0, got -1152921504606846976"


def test_categorical_sum_error_reports_the_sum():
    msg, err = _message(lambda: D.Categorical([0.5, 0.6]))
    assert msg == "[102] Categorical: probs must sum to 1 (within 1e-6); they sum to 1.1, " \
                  "got [0.5, 0.6]"
    assert err.value == [0.5, 0.6]
    D.Categorical([0.5, 0.5 - 9e-7])   # within tolerance, kept as given
    msg, err = _message(lambda: D.Categorical((0.5, 0.5 - 2e-6)))
    assert repr(0.5 + (0.5 - 2e-6)) == "0.9999979999999999"
    assert msg == "[102] Categorical: probs must sum to 1 (within 1e-6); they sum to " \
                  "0.9999979999999999, got (0.5, 0.499998)"
    msg, err = _message(lambda: D.Categorical(np.array([0.25, 1.25])))
    assert msg == "[102] Categorical: probs must hold probabilities in [0, 1], got 1.25"
    assert err.value == 1.25


def test_poisson_rate_limited_to_numpy_sampling_range():
    D.Poisson(9.2e18)
    assert _message(lambda: D.Poisson(1e19))[0] == \
        "[105] Poisson: rate must be <= 9.223372006484771e18 (int64 range), got 1e+19"


def _smallest_p_numpy_accepts(n):
    # Bisection on the doubles between two probabilities, one refused by
    # Generator.negative_binomial(n, p) and one accepted.
    g = np.random.default_rng(0)

    def accepted(p):
        try:
            g.negative_binomial(n, p)
        except ValueError:
            return False
        return True

    lo, hi = 1e-300, 1.0   # refused, accepted
    assert not accepted(lo) and accepted(hi)
    ilo, ihi = (int(np.float64(v).view(np.int64)) for v in (lo, hi))
    while ihi - ilo > 1:
        mid = (ilo + ihi) // 2
        if accepted(float(np.int64(mid).view(np.float64))):
            ihi = mid
        else:
            ilo = mid
    return float(np.int64(ihi).view(np.float64))


@pytest.mark.parametrize("n", [1.0, 2.5, 1e6, 1e12, 1e18])
def test_negative_binomial_refuses_exactly_what_numpy_refuses(n):
    # numpy refuses (1 - p)/p * (n + 10 sqrt(n)) > 9.223372006484771e18: the
    # Poisson rate its sampler could reach.
    p = _smallest_p_numpy_accepts(n)
    assert D.NegativeBinomial(n, p).p == p
    below = math.nextafter(p, 0.0)
    msg, err = _message(lambda: D.NegativeBinomial(n, below))
    assert msg == ("[102] NegativeBinomial: p must be large enough that (1 - p)/p * "
                   f"(n + 10 sqrt(n)) <= 9.223372006484771e18, numpy's sampling limit "
                   f"(n={n!r}), got {below!r}")
    assert (err.parameter, err.value, err.code) == ("p", below, 102)
    with pytest.raises(ValueError, match="n too large or p too small"):
        np.random.default_rng(0).negative_binomial(n, below)


def test_negative_binomial_and_geometric_as_effects():
    import fugue_ppl as fp

    def model():
        k = fp.sample("k", fp.NegativeBinomial(3.5, 0.25))
        t = fp.sample("t", fp.Geometric(0.125))
        fp.observe("y", fp.Geometric(0.5), 3)
        return k, t

    (k, t), trace = fp.run(fp.PriorHandler(rng=SEED_EFFECTS), model)
    assert type(k) is int and type(t) is int
    g = np.random.default_rng([SEED_EFFECTS, 0])
    assert (k, t) == (int(g.negative_binomial(3.5, 0.25)), int(g.geometric(0.125)))
    expected = (D.NegativeBinomial(3.5, 0.25).log_prob(k) + D.Geometric(0.125).log_prob(t)
                + 3 * math.log(0.5))
    assert trace.total_log_weight == pytest.approx(expected, rel=1e-15)


SEED_EFFECTS = 20240613


def test_the_value_reported_is_the_one_given():
    # Not its conversion: the message shows what the caller passed.
    assert _message(lambda: D.Normal(0.0, np.float32(-2.0)))[1].value == np.float32(-2.0)
    assert _message(lambda: D.Normal(0.0, -3))[0] == \
        "[101] Normal: sigma must be finite and > 0, got -3"
    assert _message(lambda: D.Binomial(-4.0, 0.5))[0] == "[106] Binomial: n must be >= 0, got -4.0"
    assert _message(lambda: D.Normal(0.0, 10**400))[0] == \
        "[101] Normal: sigma must be finite and > 0, got <int of 1329 bits>"


def test_errors_pickle():
    with pytest.raises(InvalidParameters) as info:
        D.Normal(0.0, -1.0)
    clone = pickle.loads(pickle.dumps(info.value))
    assert str(clone) == str(info.value) and clone.code == 101


def test_extreme_but_valid_parameters():
    for d in (D.Normal(0.0, 5e-324), D.Normal(-1e308, 1e308), D.Exponential(5e-324),
              D.Gamma(1e-300, 1e300), D.Beta(1e-300, 1e300), D.StudentT(1e300, 0.0, 1e-300),
              D.Binomial(2**63 - 1, 0.5), D.DiscreteUniform(-2**63, 2**63 - 1),
              D.Categorical([1.0])):
        assert d == pickle.loads(pickle.dumps(d))
    assert D.Normal(0.0, 5e-324).log_prob(0.0) > 700


# ------------------------------------------------------------------ sample / log_prob arguments

@pytest.mark.parametrize("size", [-1, (2, -1), (-3,)])
def test_negative_size_rejected(size):
    with pytest.raises(ValueError, match="size must not be negative"):
        D.Normal(0.0, 1.0).sample(0, size=size)


@pytest.mark.parametrize("size", [2.5, "3", True, (2, 1.5), [np.bool_(True)], object()])
def test_non_integer_size_rejected(size):
    with pytest.raises(TypeError, match="size must be"):
        D.Poisson(1.0).sample(0, size=size)


def test_size_shapes():
    d = D.Gamma(2.0, 1.0)
    assert d.sample(0, size=0).shape == (0,)
    assert d.sample(0, size=(2, 0, 3)).shape == (2, 0, 3)
    assert d.sample(0, size=()).shape == ()
    assert d.sample(0, size=np.int64(4)).shape == (4,)
    assert d.sample(0, size=[2, 3]).shape == (2, 3)
    assert D.Bernoulli(0.5).sample(0, size=(3, 2)).dtype == np.bool_
    assert D.Poisson(2.0).sample(0, size=(3, 2)).dtype == np.int64


@pytest.mark.parametrize("rng,exc,match", [
    (-1, ValueError, "non-negative"), (np.int64(-5), ValueError, "non-negative"),
    ("seed", TypeError, "got str"), (1.5, TypeError, "got float"), (True, TypeError, "got bool"),
    (np.random.RandomState(0), TypeError, "got RandomState"), ([1, 2], TypeError, "got list"),
])
def test_bad_rng_rejected(rng, exc, match):
    with pytest.raises(exc, match=match):
        D.Normal(0.0, 1.0).sample(rng)
    with pytest.raises(exc, match=match):
        D.Normal(0.0, 1.0).sample(rng, size=3)


@pytest.mark.parametrize("x", ["1.0", b"1", None, np.array(["a", "b"]),
                               np.array([1, None], dtype=object),
                               1 + 2j, np.array([1j]), {"x": 1}])
def test_bad_log_prob_input_rejected(x):
    with pytest.raises(TypeError, match="log_prob: x must be"):
        D.Normal(0.0, 1.0).log_prob(x)


def test_rng_none_draws_fresh_entropy():
    d = D.Normal(0.0, 1.0)
    a, b = d.sample(size=4), d.sample(None, size=4)
    assert a.shape == b.shape == (4,) and not np.array_equal(a, b)


# ------------------------------------------------------------------ arrays versus scalars

def _points(name):
    base = [-INF, -1e300, -7.0, -1.0, -0.5, 0.0, 1e-300, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
            10.0, 1e300, INF, NAN]
    return np.array(base)


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_array_equals_scalar_calls(name):
    d = make(name)
    x = _points(name)
    out = d.log_prob(x)
    assert out.dtype == np.float64 and out.shape == x.shape
    expected = np.array([d.log_prob(float(v)) for v in x])
    np.testing.assert_array_equal(out, expected)  # NaN-aware, exact
    # list input, 2-D shape, non-contiguous views, float32
    np.testing.assert_array_equal(d.log_prob(list(x)), expected)
    x2 = np.concatenate([x, x[:5]]).reshape(4, 6)
    out2 = d.log_prob(x2)
    assert out2.shape == (4, 6)
    np.testing.assert_array_equal(out2.reshape(-1)[:len(x)], expected)
    np.testing.assert_array_equal(d.log_prob(x2[:, ::2]), out2[:, ::2])
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    np.testing.assert_array_equal(d.log_prob(x32), [d.log_prob(float(v)) for v in x32])


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_integer_arrays_are_exact(name):
    d = make(name)
    xi = np.array([-(2**62), -3, -1, 0, 1, 2, 3, 5, 6, 7, 10, 11, 2**53 + 1, 2**62], dtype=np.int64)
    out = d.log_prob(xi)
    np.testing.assert_array_equal(out, [d.log_prob(int(v)) for v in xi])
    for dtype in (np.int8, np.int32, np.uint16, np.uint32, np.bool_):
        xs = (np.array([0, 1, 2, 5], dtype=dtype) if dtype is not np.bool_
              else np.array([False, True]))
        np.testing.assert_array_equal(d.log_prob(xs), [d.log_prob(int(v)) for v in xs])
    np.testing.assert_array_equal(d.log_prob(np.array([0, 3, 2**64 - 1], dtype=np.uint64)),
                                  [d.log_prob(0.0), d.log_prob(3.0), d.log_prob(2.0**64)])


def test_scalar_input_types_give_floats():
    d = D.Poisson(3.0)
    for x in (2, 2.0, np.int64(2), np.float64(2.0), np.float32(2.0), np.array(2), np.array(2.0),
              np.uint8(2)):
        r = d.log_prob(x)
        assert type(r) is float and r == d.log_prob(2)
    assert D.Bernoulli(0.3).log_prob(np.bool_(True)) == math.log(0.3)
    assert D.Normal(0.0, 1.0).log_prob(10**400) == -INF
    assert D.Normal(0.0, 1.0).log_prob(-(10**400)) == -INF
    assert D.Poisson(3.0).log_prob(2**70) == D.Poisson(3.0).log_prob(float(2**70))
    assert -INF < D.Poisson(3.0).log_prob(2**70) < -1e22
    assert D.DiscreteUniform(0, 2**62).log_prob(2**64) == -INF
    assert d.log_prob(np.array([])).shape == (0,)
    assert d.log_prob(np.zeros((0, 3))).shape == (0, 3)


# ------------------------------------------------------------------ hypothesis

pos = hs.floats(1e-2, 1e3)
real = hs.floats(-1e3, 1e3)
unit = hs.floats(0.0, 1.0)

STRATEGIES = {
    "Normal": (hs.tuples(real, pos), lambda a: hs.floats(-1e4, 1e4)),
    "Uniform": (hs.tuples(real, pos).map(lambda t: (t[0], t[0] + t[1])),
                lambda a: hs.floats(a[0], a[1], exclude_max=True)),
    "LogNormal": (hs.tuples(hs.floats(-5, 5), hs.floats(0.1, 10)),
                  lambda a: hs.floats(1e-300, 1e300)),
    "Exponential": (hs.tuples(pos), lambda a: hs.floats(0.0, 1e6)),
    "Beta": (hs.tuples(pos, pos),
             lambda a: hs.floats(0.0, 1.0, exclude_min=True, exclude_max=True)),
    "Gamma": (hs.tuples(pos, pos), lambda a: hs.floats(1e-300, 1e6)),
    "Bernoulli": (hs.tuples(hs.floats(1e-9, 1 - 1e-9)), lambda a: hs.sampled_from([0.0, 1.0])),
    "Binomial": (hs.tuples(hs.integers(0, 10**12), hs.floats(1e-6, 1 - 1e-6)),
                 lambda a: hs.integers(0, a[0]).map(float)),
    "Poisson": (hs.tuples(hs.floats(1e-3, 1e12)), lambda a: hs.integers(0, 10**13).map(float)),
    "StudentT": (hs.tuples(pos, real, pos), lambda a: hs.floats(-1e10, 1e10)),
    "Cauchy": (hs.tuples(real, pos), lambda a: hs.floats(-1e300, 1e300)),
    "Laplace": (hs.tuples(real, pos), lambda a: hs.floats(-1e10, 1e10)),
    "Weibull": (hs.tuples(hs.floats(0.1, 10.0), pos), lambda a: hs.floats(1e-300, 1e6)),
    "ChiSquared": (hs.tuples(pos), lambda a: hs.floats(1e-300, 1e6)),
    "InverseGamma": (hs.tuples(pos, pos), lambda a: hs.floats(1e-3, 1e300)),
    # x is drawn as a float here: bounds within 2**53 keep it exact (int64 x
    # beyond 2**53 is tested with integer arrays elsewhere).
    "DiscreteUniform": (hs.tuples(hs.integers(-2**52, 2**52), hs.integers(0, 2**40))
                        .map(lambda t: (t[0], t[0] + t[1])),
                        lambda a: hs.integers(a[0], a[1]).map(float)),
    "NegativeBinomial": (hs.tuples(hs.floats(1e-3, 1e6), hs.floats(1e-3, 1 - 1e-9)),
                         lambda a: hs.integers(0, 10**12).map(float)),
    "Geometric": (hs.tuples(hs.floats(1e-9, 1 - 1e-9)),
                  lambda a: hs.integers(1, 10**15).map(float)),
    "Categorical": (hs.lists(hs.floats(1e-3, 1.0), min_size=1, max_size=20)
                    .map(lambda w: (list(np.asarray(w) / math.fsum(w)),)),
                    lambda a: hs.integers(0, len(a[0]) - 1).map(float)),
}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=hs.data(), name=hs.sampled_from(NAMES))
def test_log_prob_finite_inside_support_and_array_matches_scalar(data, name):
    cls = SPECS[name][0]
    params_strategy, x_strategy = STRATEGIES[name]
    params = data.draw(params_strategy, label="params")
    d = cls(*params)
    xs = data.draw(hs.lists(x_strategy(params), min_size=1, max_size=8), label="x")
    arr = d.log_prob(np.array(xs, dtype=np.float64))
    for x, a in zip(xs, arr):
        s = d.log_prob(x)
        assert math.isfinite(s), (d, x, s)
        assert a == s, (d, x, a, s)


@settings(max_examples=60, deadline=None)
@given(name=hs.sampled_from(NAMES), seed=hs.integers(0, 2**32), n=hs.integers(1, 50))
def test_samples_have_finite_or_legitimate_log_prob(name, seed, n):
    d = make(name)
    v = d.sample(seed, size=n)
    lp = d.log_prob(v)
    assert np.all(np.isfinite(lp)), (d, v[~np.isfinite(lp)])
    assert [d.log_prob(x) for x in d.sample(seed, size=n).tolist()] == lp.tolist()


# ------------------------------------------------------------------ threads

def test_concurrent_sampling_from_one_generator():
    # Four threads, four distinct Normal objects, one Generator: each fill
    # holds the BitGenerator's lock, so the draws partition numpy's stream.
    g = np.random.default_rng(11)
    dists = [D.Normal(0.0, 1.0) for _ in range(4)]
    results = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def work(k):
        barrier.wait()
        for i in range(40):
            if i % 4 == 0:
                results[k].append(np.array([dists[k].sample(g) for _ in range(25)]))
            else:
                results[k].append(dists[k].sample(g, size=2_000))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    allv = np.concatenate([np.concatenate(r) for r in results])
    total = 4 * (10 * 25 + 30 * 2_000)
    assert allv.shape == (total,)
    reference = np.random.default_rng(11).normal(size=total)
    np.testing.assert_array_equal(np.sort(allv), np.sort(reference))


def test_concurrent_sampling_of_different_kinds():
    g = np.random.default_rng(5)
    makers = [lambda: D.Poisson(4.0), lambda: D.Gamma(0.5, 2.0), lambda: D.Binomial(100, 0.3),
              lambda: D.DiscreteUniform(0, 9)]
    counts = [0] * 4
    errors = []

    def work(k):
        try:
            for _ in range(50):
                v = makers[k]().sample(g, size=1_000)
                counts[k] += v.size
        except Exception as e:  # noqa: BLE001 - any failure is reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert counts == [50_000] * 4


# ------------------------------------------------------------------ docstrings

def test_docstring_examples_run():
    import doctest

    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    globs = {name: getattr(D, name) for name in D.__all__}
    n = 0
    for name in NAMES:
        for test in finder.find(getattr(D, name), name, globs=dict(globs)):
            n += len(test.examples)
            runner.run(test)
    assert runner.failures == 0
    assert n >= 17


@pytest.mark.parametrize("name", NAMES)
def test_class_docstrings_document_parameters_support_and_values(name):
    doc = getattr(D, name).__doc__
    for section in ("Parameters", "Raises", "Notes", "Examples"):
        assert f"\n    {section}\n    ---" in doc, section
    for pname in SPECS[name][2]:
        assert f"\n    {pname} : " in doc
    assert "Support:" in doc and "Values:" in doc


def _python_runs_during(call):
    # Runs call() in a thread while this thread keeps taking timestamps; the
    # timestamps that fall in the middle half of the call's own interval.
    # Zero when the call held the GIL throughout.
    import time
    span, started, done = [], threading.Event(), threading.Event()

    def worker():
        started.set()
        t0 = time.perf_counter()
        call()
        span.extend((t0, time.perf_counter()))
        done.set()

    th = threading.Thread(target=worker)
    th.start()
    started.wait()
    stamps = []
    while not done.is_set():
        stamps.append(time.perf_counter())
    th.join()
    t0, t1 = span
    lo, hi = t0 + 0.25 * (t1 - t0), t0 + 0.75 * (t1 - t0)
    return sum(lo < s < hi for s in stamps)


@pytest.mark.parametrize("dist,size", [(D.Normal(0.0, 1.0), 4_000_000),
                                        (D.Binomial(50, 0.3), 2_000_000),
                                        (D.Bernoulli(0.3), 8_000_000)])
def test_array_sampling_releases_the_gil(dist, size):
    assert _python_runs_during(lambda: dist.sample(rng=1, size=size)) > 0


@pytest.mark.parametrize("dist,x", [(D.Normal(0.0, 1.0), np.linspace(-5.0, 5.0, 8_000_000)),
                                     (D.Beta(2.5, 3.5), np.linspace(0.01, 0.99, 2_000_000)),
                                     (D.Poisson(4.0), np.arange(2_000_000) % 30)])
def test_array_log_prob_releases_the_gil(dist, x):
    assert _python_runs_during(lambda: dist.log_prob(x)) > 0


def test_the_gil_probe_sees_a_call_that_holds_the_gil():
    # The probe above can fail: math.factorial keeps the GIL for its whole run.
    assert _python_runs_during(lambda: math.factorial(80_000)) == 0
