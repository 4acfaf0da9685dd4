"""Client errors are not model faults: bad calls raise ValidationError, never reach the
model or the breaker, and are counted as invalid requests."""

import pytest

import fugue_ppl as fp
from fugue_ppl.models import sensor


class Counting:
    """A model that counts its calls."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0
        self.__signature__ = __import__("inspect").signature(fn)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def _plain(reading, scale=1.0, *, unit="C"):
    return fp.sample("t", fp.Normal(reading, scale))


def _typed(reading: float, count: int = 1):
    return fp.sample("t", fp.Normal(reading, 1.0)) * count


def test_ten_thousand_garbage_calls_leave_the_breaker_healthy_and_the_model_uncalled():
    model = Counting(sensor)
    runner = fp.ModelRunner(model, rng=1, fallback=0.0)
    bad_calls = [((), {}), ((1.0, 2.0), {}), ((), {"temperature": 1.0}),
                 ((1.0,), {"reading": 1.0}), (("a", "b", "c"), {})]
    for i in range(10_000):
        args, kwargs = bad_calls[i % len(bad_calls)]
        with pytest.raises(fp.ValidationError):
            runner.infer(*args, **kwargs)
    assert model.calls == 0
    assert runner.breaker.state is fp.BreakerState.HEALTHY
    b = runner.breaker.metrics
    assert (b["permitted_calls"], b["failed_calls"], b["rejected_calls"]) == (0, 0, 0)
    counts = runner.metrics.counts()
    assert (counts["invalid"], counts["inferences"], counts["errors"]) == (10_000, 0, 0)
    assert runner.infer(22.0).status == "ok" and model.calls == 1


@pytest.mark.parametrize("args, kwargs, rules", [
    ((), {}, {("reading", "required")}),
    ((1.0, 2.0, 3.0), {}, {("(args)", "arity")}),
    ((1.0,), {"reading": 2.0}, {("reading", "duplicate")}),
    ((1.0,), {"colour": "red"}, {("colour", "unknown")}),
    ((), {"scale": 2.0, "colour": 1}, {("reading", "required"), ("colour", "unknown")}),
])
def test_every_violation_of_the_signature_is_listed(args, kwargs, rules):
    model = Counting(_plain)
    runner = fp.ModelRunner(model, rng=1)
    with pytest.raises(fp.ValidationError) as info:
        runner.infer(*args, **kwargs)
    assert {(v.field, v.rule) for v in info.value.violations} == rules
    assert model.calls == 0 and runner.metrics.counts()["invalid"] == 1


@pytest.mark.parametrize("args, kwargs", [
    ((1.0,), {}), ((1.0, 2.0), {}), ((1.0,), {"unit": "K"}), ((), {"reading": 1.0}),
    ((1.0,), {"scale": 0.5, "unit": "F"}),
])
def test_calls_that_fit_the_signature_reach_the_model(args, kwargs):
    model = Counting(_plain)
    runner = fp.ModelRunner(model, rng=1)
    assert runner.infer(*args, **kwargs).status == "ok" and model.calls == 1
    assert runner.metrics.counts()["invalid"] == 0


def test_a_required_keyword_only_parameter_is_checked():
    def model(x, *, key):
        return fp.sample("t", fp.Normal(x, 1.0))

    runner = fp.ModelRunner(model, rng=1)
    with pytest.raises(fp.ValidationError) as info:
        runner.infer(1.0)
    assert info.value.violations[0].field in ("key", "(args)")
    assert runner.infer(1.0, key="k").status == "ok"


def test_annotations_give_the_schema_when_none_is_given():
    model = Counting(_typed)
    runner = fp.ModelRunner(model, rng=1)
    assert runner.schema is not None and runner.schema.typed
    with pytest.raises(fp.ValidationError) as info:
        runner.infer(float("nan"), count="two")
    assert {(v.field, v.rule) for v in info.value.violations} == {("reading", "finite"),
                                                                  ("count", "integer")}
    res = runner.infer(3)                       # an int reading becomes a float
    assert res.status == "ok" and model.calls == 1
    assert runner.metrics.counts()["invalid"] == 1


def test_variadic_models_accept_what_their_signature_accepts():
    def star(*readings):
        return sum(fp.sample(fp.addr("x", i), fp.Normal(r, 1.0)) for i, r in enumerate(readings))

    def kw(reading, **extra):
        return fp.sample("t", fp.Normal(reading, 1.0))

    assert fp.ModelRunner(star, rng=1).infer().status == "ok"
    assert fp.ModelRunner(star, rng=1).infer(1.0, 2.0, 3.0).status == "ok"
    runner = fp.ModelRunner(kw, rng=1)
    assert runner.infer(1.0, anything=2).status == "ok"
    with pytest.raises(fp.ValidationError, match="missing a required argument: 'reading'"):
        runner.infer(anything=2)
    assert runner.metrics.counts()["invalid"] == 1


def test_an_explicit_schema_failure_is_counted_as_invalid_and_not_as_an_error():
    from fugue_ppl.validation import Finite, Schema

    runner = fp.ModelRunner(sensor, rng=1, schema=Schema({"reading": Finite()}))
    for bad in ("x", float("inf"), None):
        with pytest.raises(fp.ValidationError):
            runner.infer(bad)
    counts = runner.metrics.counts()
    assert (counts["invalid"], counts["errors"], counts["inferences"]) == (3, 0, 0)


def test_a_callable_without_a_signature_is_called_as_it_is():
    class Opaque:
        @property
        def __signature__(self):
            raise ValueError("no signature")

        def __call__(self, *args):
            return fp.sample("t", fp.Normal(0.0, 1.0))

    runner = fp.ModelRunner(Opaque(), rng=1)
    assert runner.infer(1, 2, 3).status == "ok"
