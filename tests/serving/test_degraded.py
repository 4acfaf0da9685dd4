"""Degraded mode does something: a cheaper model, or shedding a fraction of the calls."""

import pytest

import fugue_ppl as fp
from fugue_ppl.errors import InvalidArgument


class Switch:
    """A model that fails while `failing` is set, counting its calls."""

    def __init__(self):
        self.failing = False
        self.calls = 0

    def __call__(self, reading):
        self.calls += 1
        t = fp.sample("t", fp.Normal(reading, 1.0))
        if self.failing:
            raise RuntimeError("sensor offline")
        return t


def cheap(reading):
    return reading


def _degraded_runner(**kwargs):
    model = Switch()
    clock = fp.ManualClock()
    breaker = fp.CircuitBreaker(window_size=20, minimum_calls=10, degraded_threshold=0.1,
                                failure_threshold=0.6, clock=clock)
    runner = fp.ModelRunner(model, rng=1, breaker=breaker, fallback=-1.0, **kwargs)
    for _ in range(18):
        runner.infer(20.0)
    model.failing = True
    for _ in range(3):                     # 3 of the last 20 failed: above 0.1, DEGRADED
        runner.infer(20.0)
    model.failing = False
    assert breaker.state is fp.BreakerState.DEGRADED
    return runner, model


def test_by_default_a_degraded_breaker_changes_nothing():
    runner, model = _degraded_runner()
    before = model.calls
    statuses = {runner.infer(20.0).status for _ in range(10)}
    assert statuses == {"ok"} and model.calls == before + 10


def test_a_cheaper_model_serves_while_degraded_and_the_breaker_still_counts():
    runner, model = _degraded_runner(degraded_model=cheap)
    before = model.calls
    results = [runner.infer(21.5) for _ in range(5)]
    assert [r.status for r in results] == ["degraded"] * 5
    assert [r.value for r in results] == [21.5] * 5 and model.calls == before
    # successes of the cheaper model bring the breaker back; then the model serves again
    statuses = [runner.infer(21.5).status for _ in range(40)]
    assert runner.breaker.state is fp.BreakerState.HEALTHY
    k = statuses.index("ok")               # once HEALTHY, the model serves again
    assert set(statuses[:k]) == {"degraded"} and set(statuses[k:]) == {"ok"}
    assert model.calls == before + 40 - k


def test_shedding_serves_the_fallback_to_an_even_fraction_of_calls():
    runner, model = _degraded_runner(degraded_shed=0.25)
    before, permitted = model.calls, runner.breaker.metrics["permitted_calls"]
    fallbacks = runner.metrics.fallbacks
    results = [runner.infer(20.0) for _ in range(8)]
    statuses = [r.status for r in results]
    assert statuses.count("shed") == 2 and statuses.count("ok") == 6
    shed = [r for r in results if r.status == "shed"]
    assert all(r.value == -1.0 for r in shed)
    assert all(r.to_dict()["error"]["kind"] == "circuit_open" for r in shed)
    assert model.calls == before + 6
    assert runner.breaker.metrics["permitted_calls"] == permitted + 6   # shed calls never asked
    assert runner.metrics.fallbacks == fallbacks + 2


def test_a_healthy_breaker_sheds_nothing():
    model = Switch()
    runner = fp.ModelRunner(model, rng=1, fallback=-1.0, degraded_shed=1.0)
    assert {runner.infer(20.0).status for _ in range(20)} == {"ok"}


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"degraded_model": 3}, TypeError, "ModelRunner: degraded_model must be callable, got int"),
    ({"degraded_shed": 1.5, "fallback": 0.0}, InvalidArgument,
     "ModelRunner: degraded_shed must be in [0, 1], got 1.5"),
    ({"degraded_shed": float("nan"), "fallback": 0.0}, InvalidArgument,
     "ModelRunner: degraded_shed must be in [0, 1], got nan"),
    ({"degraded_shed": 10**400, "fallback": 0.0}, InvalidArgument,
     "ModelRunner: degraded_shed must be in [0, 1]"),
    ({"degraded_shed": True, "fallback": 0.0}, TypeError,
     "ModelRunner: degraded_shed must be a real number, got bool"),
    ({"degraded_shed": "half", "fallback": 0.0}, TypeError,
     "ModelRunner: degraded_shed must be a real number, got str"),
    ({"degraded_shed": 0.5}, InvalidArgument,
     "ModelRunner: degraded_shed needs a fallback to serve the calls it sheds, got 0.5"),
    ({"degraded_shed": 0.5, "degraded_model": cheap, "fallback": 0.0}, InvalidArgument,
     "ModelRunner: degraded_shed must be 0 with a degraded_model (one degradation policy)"),
])
def test_bad_policies_are_refused(kwargs, exc, message):
    with pytest.raises(exc) as info:
        fp.ModelRunner(Switch(), rng=1, **kwargs)
    assert str(info.value).startswith(message)
