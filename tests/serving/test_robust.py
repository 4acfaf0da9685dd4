"""RobustHandler: fallbacks at failing sampling sites, observations never dropped."""

import math

import numpy as np
import pytest
from scipy import stats

import fugue_ppl as fp


def _empty_score():
    return fp.ScoreGivenTrace(fp.Trace.from_dict({}))


def test_missing_site_in_a_scored_trace_gets_the_type_fallback():
    h = fp.RobustHandler(_empty_score(), fallbacks={float: 1.5, bool: True, int: 3})

    def model():
        return (fp.sample("x", fp.Normal(0.0, 2.0)), fp.sample("b", fp.Bernoulli(0.25)),
                fp.sample("k", fp.Poisson(4.0)))

    value, trace = fp.run(h, model)
    assert value == (1.5, True, 3)
    assert [c.fallback for c in trace.choices] == [True, True, True]
    expected = [stats.norm(0, 2).logpdf(1.5), math.log(0.25), stats.poisson(4.0).logpmf(3)]
    assert [c.log_prob for c in trace.choices] == pytest.approx(expected, rel=1e-12)
    assert trace.log_prior == pytest.approx(sum(expected), rel=1e-12)
    assert h.error_counts == {"UnexpectedModelStructure": 3}


def test_lookup_order_exact_then_pattern_then_type():
    h = fp.RobustHandler(_empty_score(), fallbacks={
        "x[*]": 2.0, "x[1]": 5.0, "y?": 7.0, float: -1.0})

    def model():
        return [fp.sample(fp.addr("x", 0), fp.Normal(0.0, 1.0)),
                fp.sample(fp.addr("x", 1), fp.Normal(0.0, 1.0)),
                fp.sample("y1", fp.Normal(0.0, 1.0)),
                fp.sample("y12", fp.Normal(0.0, 1.0)),
                fp.sample("z[0]", fp.Normal(0.0, 1.0))]

    value, _ = fp.run(h, model)
    assert value == [2.0, 5.0, 7.0, -1.0, -1.0]


def test_brackets_in_patterns_are_literal():
    h = fp.RobustHandler(_empty_score(), fallbacks={"x[*]": 2.0})
    with pytest.raises(fp.UnexpectedModelStructure, match="'x7'"):
        fp.run(h, lambda: fp.sample("x7", fp.Normal(0.0, 1.0)))


def test_a_site_without_fallback_raises_the_original_error_and_counts_it():
    h = fp.RobustHandler(_empty_score(), fallbacks={"other": 1.0})
    with pytest.raises(fp.UnexpectedModelStructure, match="'x'"):
        fp.run(h, lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
    assert h.error_counts == {"UnexpectedModelStructure": 1}


def test_a_fallback_of_the_wrong_kind_does_not_apply():
    h = fp.RobustHandler(_empty_score(), fallbacks={"b": 2.5})
    with pytest.raises(fp.UnexpectedModelStructure):
        fp.run(h, lambda: fp.sample("b", fp.Bernoulli(0.5)))
    # an exact int 1 does fit a bool site
    h = fp.RobustHandler(_empty_score(), fallbacks={"b": 1})
    assert fp.run(h, lambda: fp.sample("b", fp.Bernoulli(0.5)))[0] is True


def _overflowing():
    return fp.sample("big", fp.LogNormal(800.0, 1.0))    # exp(800) overflows to inf


def test_non_finite_sample_is_replaced_by_default():
    h = fp.RobustHandler(fp.PriorHandler(rng=0), fallbacks={"big": 1.0})
    value, trace = fp.run(h, _overflowing)
    assert value == 1.0 and trace.choice("big").fallback
    # log-density of LogNormal(800, 1) at 1: -log(sqrt(2 pi)) - 800**2 / 2
    assert trace.choice("big").log_prob == pytest.approx(
        -0.5 * math.log(2 * math.pi) - 800.0 ** 2 / 2, rel=1e-12)
    assert h.error_counts == {"NonFiniteSample": 1}


def test_non_finite_sample_without_fallback_raises():
    h = fp.RobustHandler(fp.PriorHandler(rng=0))
    with pytest.raises(fp.InvalidObservation, match="'big'.*non-finite.*no fallback"):
        fp.run(h, _overflowing)


def test_on_nonfinite_raise_and_keep():
    h = fp.RobustHandler(fp.PriorHandler(rng=0), fallbacks={float: 0.0}, on_nonfinite="raise")
    with pytest.raises(fp.InvalidObservation, match="non-finite"):
        fp.run(h, _overflowing)
    h = fp.RobustHandler(fp.PriorHandler(rng=0), on_nonfinite="keep")
    value, trace = fp.run(h, _overflowing)
    assert value == math.inf and not trace.choice("big").fallback


def test_without_robust_a_non_finite_sample_is_recorded_as_drawn():
    value, trace = fp.run(fp.PriorHandler(rng=0), _overflowing)
    assert value == math.inf and trace["big"] == math.inf


def test_duplicate_address_returns_the_fallback_and_keeps_the_first_choice():
    h = fp.RobustHandler(fp.PriorHandler(rng=1), fallbacks={"a": 9.0})

    def model():
        a = fp.sample("a", fp.Normal(0.0, 1.0))
        b = fp.sample("a", fp.Normal(0.0, 1.0))
        return a, b

    (a, b), trace = fp.run(h, model)
    assert b == 9.0 and trace["a"] == a and len(trace) == 1
    assert h.error_counts == {"AddressConflict": 1}


def test_replay_type_clash_gets_a_fallback():
    base = fp.Trace.from_dict({"v": 0.7})
    h = fp.RobustHandler(fp.ReplayHandler(base, rng=2), fallbacks={bool: False})
    value, trace = fp.run(h, lambda: fp.sample("v", fp.Bernoulli(0.5)))
    assert value is False and trace.choice("v").fallback
    assert h.error_counts == {"TypeMismatch": 1}


@pytest.mark.parametrize("bad", [math.nan, math.inf, "text"])
def test_observations_are_never_dropped(bad):
    h = fp.RobustHandler(fp.PriorHandler(rng=3))

    def model():
        x = fp.sample("x", fp.Normal(0.0, 1.0))
        fp.observe("y", fp.Normal(x, 1.0), bad)
        fp.observe("z", fp.Normal(x, 1.0), 0.5)
        return x

    x, trace = fp.run(h, model)
    assert list(trace) == ["x", "y", "z"]
    y = trace.choice("y")
    assert y.kind == "observe" and y.fallback and y.log_prob == -math.inf
    assert trace.log_likelihood == -math.inf
    assert trace.choice("z").log_prob == pytest.approx(stats.norm(x, 1).logpdf(0.5), rel=1e-12)
    kind = "TypeMismatch" if isinstance(bad, str) else "InvalidObservation"
    assert h.error_counts == {kind: 1}


def test_duplicate_observation_adds_minus_inf():
    h = fp.RobustHandler(fp.PriorHandler(rng=3))

    def model():
        fp.observe("y", fp.Normal(0.0, 1.0), 0.1)
        fp.observe("y", fp.Normal(0.0, 1.0), 0.2)

    _, trace = fp.run(h, model)
    assert len(trace) == 1 and trace["y"] == 0.1
    assert trace.log_likelihood == -math.inf
    assert h.error_counts == {"AddressConflict": 1}


def test_minus_inf_factor_is_kept_nan_factor_is_an_error():
    h = fp.RobustHandler(fp.PriorHandler(rng=4))
    _, trace = fp.run(h, lambda: fp.factor(-math.inf))
    assert trace.log_factors == -math.inf and trace.total_log_weight == -math.inf
    with pytest.raises(fp.InvalidObservation, match="NaN"):
        fp.run(h, lambda: fp.factor(math.nan))


def test_deadlines_and_model_errors_still_propagate():
    h = fp.RobustHandler(fp.PriorHandler(rng=5), fallbacks={float: 0.0})

    def runaway():
        i = 0
        while True:
            fp.sample(fp.addr("w", i), fp.Normal(0.0, 1.0))
            i += 1

    with pytest.raises(fp.InferenceTimeout):
        fp.run(h, runaway, deadline=0.01)

    def broken():
        fp.sample("x", fp.Normal(0.0, 1.0))
        raise KeyError("model bug")

    with pytest.raises(KeyError, match="model bug"):
        fp.run(h, broken)


def test_same_trace_as_the_inner_handler_when_nothing_fails():
    def model():
        mu = fp.sample("mu", fp.Normal(0.0, 1.0))
        fp.observe("y", fp.Normal(mu, 0.5), 0.3)
        return mu

    _, plain = fp.run(fp.PriorHandler(rng=11), model)
    _, robust = fp.run(fp.RobustHandler(fp.PriorHandler(rng=11), fallbacks={float: 0.0}), model)
    assert robust == plain


def test_fallbacks_are_counted_in_metrics():
    m = fp.ProductionMetrics()
    h = fp.MetricsHandler(fp.RobustHandler(_empty_score(), fallbacks={float: 0.0}), m)
    for _ in range(4):
        fp.run(h, lambda: (fp.sample("a", fp.Normal(0.0, 1.0)),
                           fp.sample("b", fp.Normal(0.0, 1.0))))
    assert m.inference_count == 4 and m.fallbacks == 8 and m.error_count == 0
    # and the other way round
    m2 = fp.ProductionMetrics()
    h2 = fp.RobustHandler(fp.MetricsHandler(_empty_score(), m2), fallbacks={float: 0.0})
    fp.run(h2, lambda: fp.sample("a", fp.Normal(0.0, 1.0)))
    assert m2.inference_count == 1 and m2.fallbacks == 1


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(inner=object()), TypeError, "inner must be a Handler"),
    (dict(fallbacks=[1.0]), TypeError, "fallbacks must be a mapping"),
    (dict(fallbacks={str: "a"}), TypeError, "type key must be float, int or bool"),
    (dict(fallbacks={float: math.nan}), ValueError, "must be finite"),
    (dict(fallbacks={"x": "text"}), TypeError, "must be a float, an int or a bool"),
    (dict(fallbacks={int: 2.5}), TypeError, "fallback for int must be a int"),
    (dict(fallbacks={3: 1.0}), TypeError, "key must be an address"),
    (dict(fallbacks={"x": 2 ** 70}), ValueError, "int64"),
    (dict(on_nonfinite="ignore"), ValueError, "on_nonfinite"),
])
def test_bad_arguments(kwargs, exc, match):
    args = dict(inner=fp.PriorHandler(rng=0))
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        fp.RobustHandler(args.pop("inner"), **args)


def test_wrapping_twice_is_refused():
    h = fp.RobustHandler(fp.PriorHandler(rng=0))
    with pytest.raises(TypeError, match="inner is already a RobustHandler"):
        fp.RobustHandler(h)
    with pytest.raises(TypeError, match="inner is already a RobustHandler"):
        fp.RobustHandler(fp.MetricsHandler(h, fp.ProductionMetrics()))


def test_numpy_scalars_as_fallbacks():
    h = fp.RobustHandler(_empty_score(), fallbacks={"x": np.float32(0.5), "k": np.int64(2)})
    value, _ = fp.run(h, lambda: (fp.sample("x", fp.Normal(0.0, 1.0)),
                                  fp.sample("k", fp.Poisson(1.0))))
    assert value == (0.5, 2) and type(value[1]) is int
