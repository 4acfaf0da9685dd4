"""Reliability functions: R(t), P(trip in T) and the mean time to trip, against closed forms."""

import math
from datetime import timedelta

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fugue_ppl as fp
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.serving.slo import (
    BreakerHistory,
    mean_time_to_trip,
    reliability,
    trip_probability,
)

rates = st.floats(0.0, 1e3, allow_nan=False)
times = st.floats(0.0, 1e6, allow_nan=False)


@pytest.mark.parametrize("t, rate", [(0.0, 0.0), (1.0, 0.0), (3600.0, 1 / 7200), (10.0, 0.5),
                                     (1e6, 1e-9), (5.0, 100.0), (0.0, 3.0)])
def test_reliability_and_trip_probability_match_the_closed_forms(t, rate):
    assert reliability(t, rate) == pytest.approx(math.exp(-rate * t), rel=1e-15, abs=0)
    with mpmath.workdps(40):
        want = 1 - mpmath.exp(-mpmath.mpf(rate) * mpmath.mpf(t))
    assert trip_probability(t, rate) == pytest.approx(float(want), rel=1e-14, abs=0)
    assert reliability(timedelta(seconds=t), rate) == reliability(t, rate)


def test_a_tiny_trip_probability_keeps_its_digits():
    # 1 - exp(-x) computed naively loses everything at x = 1e-18
    assert trip_probability(1e-6, 1e-12) == pytest.approx(1e-18, rel=1e-15)


@given(times, times, rates)
def test_reliability_is_memoryless_and_trips_complement_it(t1, t2, rate):
    r = reliability(t1 + t2, rate)
    assert r == pytest.approx(reliability(t1, rate) * reliability(t2, rate), rel=1e-9, abs=1e-300)
    assert trip_probability(t1, rate) == pytest.approx(1 - reliability(t1, rate), abs=1e-15)
    assert 0.0 <= r <= 1.0


@given(st.lists(st.tuples(st.floats(1e-3, 1e4), rates), min_size=1, max_size=6), st.data())
def test_a_piecewise_rate_integrates_exactly(pieces, data):
    total = sum(d for d, _ in pieces)
    horizon = data.draw(st.floats(0.0, total))
    # the integral of the piecewise-constant rate over [0, horizon], by hand
    hazard, start = 0.0, 0.0
    for d, lam in pieces:
        hazard += lam * max(0.0, min(d, horizon - start))
        start += d
    got = trip_probability(horizon, pieces)
    assert got == pytest.approx(-math.expm1(-hazard), rel=1e-9, abs=1e-300)
    # equal pieces are the constant rate
    lam = pieces[0][1]
    assert trip_probability(horizon, [(d, lam) for d, _ in pieces]) == pytest.approx(
        trip_probability(horizon, lam), rel=1e-9, abs=1e-300)


def test_the_mean_time_to_trip_is_the_mean_of_the_exponential_law():
    assert mean_time_to_trip(0.25) == 4.0 and mean_time_to_trip(0.0) == math.inf
    # the integral of R(t) over [0, inf) is the mean time to trip
    rate = 0.3
    integral = mpmath.quad(lambda t: reliability(float(t), rate), [0, mpmath.inf])
    assert float(integral) == pytest.approx(mean_time_to_trip(rate), rel=1e-10)
    # and simulated exponential times to trip agree at a fixed seed
    draws = np.random.default_rng(7).exponential(1 / rate, 200_000)
    assert draws.mean() == pytest.approx(mean_time_to_trip(rate), rel=0.01)
    assert (draws > 2.0).mean() == pytest.approx(reliability(2.0, rate), abs=0.005)


def test_a_breaker_history_forecasts_from_its_observed_failure_rate():
    clock = fp.ManualClock()
    breaker = fp.CircuitBreaker(window_size=10, minimum_calls=4, open_duration=5.0,
                                half_open_permits=2, clock=clock)
    history = BreakerHistory(breaker)
    clock.advance(100.0)
    assert history.failure_rate == 0.0
    assert history.reliability(1e6) == 1.0 and history.trip_probability(1e6) == 0.0
    assert history.mean_time_to_trip == math.inf
    for cycle in range(3):                       # three trips, each down 10 s
        for _ in range(4):
            breaker.record_failure()
        clock.advance(10.0)
        for _ in range(2):
            assert breaker.allow()
            breaker.record_success()
        clock.advance(90.0 if cycle < 2 else 80.0)
    report = history.report()
    assert (report.uptime, report.downtime, report.failures) == (360.0, 30.0, 3)
    assert history.failure_rate == report.failure_rate == 3 / 360
    assert history.mean_time_to_trip == pytest.approx(120.0) == report.mtbf
    assert history.reliability(120.0) == pytest.approx(math.exp(-1.0))
    assert history.trip_probability(timedelta(minutes=4)) == pytest.approx(1 - math.exp(-2.0))


def test_a_history_down_since_its_start_has_an_infinite_rate():
    clock = fp.ManualClock()
    breaker = fp.CircuitBreaker(window_size=10, minimum_calls=4, clock=clock)
    history = BreakerHistory(breaker)
    for _ in range(4):
        breaker.record_failure()
    clock.advance(3.0)
    assert history.report().uptime == 0.0 and history.failure_rate == math.inf
    assert history.reliability(0.0) == 1.0 and history.reliability(1e-6) == 0.0
    assert history.trip_probability(0.0) == 0.0 and history.trip_probability(1.0) == 1.0
    assert history.mean_time_to_trip == 0.0


@pytest.mark.parametrize("call, exc, message", [
    (lambda: reliability(-1.0, 0.1), InvalidArgument, "reliability: t must be >= 0, got -1.0"),
    (lambda: reliability(1.0, -0.1), InvalidArgument, "reliability: rate must be"),
    (lambda: reliability(1.0, math.nan), InvalidArgument, "reliability: rate must be"),
    (lambda: reliability("1", 0.1), TypeError, "reliability: t must be a timedelta or"),
    (lambda: reliability(1.0, "0.1"), TypeError, "reliability: rate must be a real number"),
    (lambda: trip_probability(math.inf, 0.1), InvalidArgument, "trip_probability: horizon"),
    (lambda: trip_probability(10.0, []), InvalidArgument,
     "trip_probability: rate must hold at least one (duration, rate) piece"),
    (lambda: trip_probability(10.0, [(5.0, 0.1)]), InvalidArgument,
     "trip_probability: horizon must be covered by the rate's pieces (5 s), got 10.0"),
    (lambda: trip_probability(10.0, [(5.0, 0.1, 1)]), TypeError,
     "trip_probability: rate[0] must be a (duration, rate) pair, got tuple"),
    (lambda: trip_probability(1.0, [(0.0, 0.1)]), InvalidArgument,
     "trip_probability: rate[0] duration must be positive"),
    (lambda: trip_probability(1.0, [(1.0, -2.0)]), InvalidArgument,
     "trip_probability: rate[0] rate must be"),
    (lambda: mean_time_to_trip(True), TypeError, "mean_time_to_trip: rate must be a real"),
    (lambda: mean_time_to_trip(10**400), InvalidArgument, "mean_time_to_trip: rate must be"),
    (lambda: trip_probability(1.0, float("inf")), InvalidArgument,
     "trip_probability: rate must be"),
    (lambda: trip_probability(1.0, "0.1"), TypeError, "trip_probability: rate must be a real"),
])
def test_bad_arguments_name_the_parameter(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert str(info.value).startswith(message)


def test_huge_finite_arguments_saturate_instead_of_failing():
    assert reliability(1e300, 1e300) == 0.0 and trip_probability(1e300, 1e300) == 1.0
    assert reliability(0.0, 1e308) == 1.0 and trip_probability(1e-300, 1e-300) == 0.0
    assert mean_time_to_trip(1e-308) == pytest.approx(1e308)
    assert trip_probability(1e300, [(1e300, 1e300)]) == 1.0
