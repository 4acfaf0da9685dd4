"""The circuit breaker (fugue_ppl.serving._breaker), in the style of resilience4j's
CircuitBreakerStateMachineTest: a manual clock, the state and the metrics
checked after every step, every transition (backoff growth and cap included),
count and time windows, slow calls, forced opening, listeners, configuration
errors, threads (with and without the GIL) and a hypothesis comparison with
a pure-Python reference model.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import threading
from collections import Counter, deque

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fugue_ppl.errors import CircuitOpenError, FugueError, InvalidArgument
from fugue_ppl.serving import _breaker as brk
from fugue_ppl.serving._breaker import BreakerConfig, BreakerState, CircuitBreaker, ManualClock

H, D, F, R = BreakerState.HEALTHY, BreakerState.DEGRADED, BreakerState.FAILED, BreakerState.RECOVERY
EDGES = {f"{a}->{b}" for a, b in brk.TRANSITIONS}

# A small breaker: 10-call window, rate evaluated from 5 calls, tau0/tau1/tau2 =
# 0.1/0.2/0.5, 10 s open, 3 trial permits.
SMALL = {"window_size": 10, "minimum_calls": 5, "recovery_threshold": 0.1,
         "degraded_threshold": 0.2,
             "failure_threshold": 0.5, "open_duration": 10.0, "half_open_permits": 3}


def small(clock=None, **kw):
    clock = ManualClock() if clock is None else clock
    return CircuitBreaker(clock=clock, **{**SMALL, **kw}), clock


def check(b, state, transitions=None, **expected):
    """Assert the state and the given metrics (transitions: the non-zero edges)."""
    assert b.state is state
    m = b.metrics
    assert m["state"] == state.name
    assert m["allow_calls"] == m["permitted_calls"] + m["rejected_calls"]
    assert m["total_calls"] == m["successful_calls"] + m["failed_calls"]
    assert set(m["transitions"]) == EDGES
    if transitions is not None:
        want = dict.fromkeys(EDGES, 0)
        want.update(transitions)
        assert m["transitions"] == want
    for k, v in expected.items():
        assert m[k] == pytest.approx(v) if isinstance(v, float) else m[k] == v, (k, m[k], v)
    if state is not F:
        assert m["retry_after"] == 0.0 and b.retry_after == 0.0
    return m


def trip(b, n=5):
    for _ in range(n):
        assert b.allow()
        b.record_failure()


# ================================================================ basics


def test_public_names_and_states():
    assert set(brk.__all__) == {"BreakerState", "BreakerConfig", "CircuitBreaker", "ManualClock"}
    assert [s.name for s in BreakerState] == ["HEALTHY", "DEGRADED", "FAILED", "RECOVERY"]
    assert [int(s) for s in BreakerState] == [0, 1, 2, 3]
    assert str(F) == "FAILED" and f"{R}" == "RECOVERY" and f"{R:d}" == "3"
    assert len(brk.TRANSITIONS) == 8


def test_defaults():
    cfg = BreakerConfig()
    assert cfg.to_dict() == {
        "failure_threshold": 0.5, "degraded_threshold": 0.05, "recovery_threshold": 0.02,
        "window_type": "count", "window_size": 100, "window_seconds": 60.0, "minimum_calls": 20,
        "slow_call_duration": None, "open_duration": 30.0, "backoff_factor": 1.0,
        "max_open_duration": None, "half_open_permits": 5, "recovery_success_rate": 1.0}
    assert BreakerConfig(window_type=" Time ").window_type == "time"
    b = CircuitBreaker()
    assert b.config == cfg and b.clock is None and b.name == "circuit_breaker"
    check(b, H, transitions={}, window_calls=0, failure_rate=0.0, slow_rate=0.0, allow_calls=0,
          total_calls=0, open_duration=0.0, backoff_level=0, forced_open=False, minimum_calls=20)
    assert repr(b) == "<CircuitBreaker 'circuit_breaker' HEALTHY>"


def test_real_clock_breaker_opens_and_reports_retry_after():
    b = CircuitBreaker(window_size=4, minimum_calls=4, open_duration=60.0)
    trip(b, 4)
    assert b.state is F and not b.allow()
    assert 59.0 < b.retry_after <= 60.0


# ================================================================ closed states and the window


def test_minimum_calls_is_honoured():
    b, _ = small()
    for k in range(1, 5):
        assert b.allow()
        b.record_failure()
        check(b, H, transitions={}, window_calls=k, window_failures=k, failure_rate=1.0,
              failed_calls=k, permitted_calls=k)
    b.record_failure()   # the fifth: rate 1.0 > 0.5
    check(b, F, transitions={"HEALTHY->FAILED": 1}, window_calls=0, failed_calls=5,
          open_duration=10.0, retry_after=10.0)


def test_minimum_calls_is_capped_by_a_count_window():
    b, _ = small(window_size=4, minimum_calls=50)
    assert b.metrics["minimum_calls"] == 4
    trip(b, 3)
    check(b, H, window_calls=3)
    trip(b, 1)
    check(b, F, transitions={"HEALTHY->FAILED": 1})


def test_healthy_degraded_healthy_with_hysteresis():
    b, _ = small(minimum_calls=10)
    for _ in range(9):
        b.record_success()
    check(b, H, window_calls=9, failure_rate=0.0)
    b.record_failure()                                    # [s*9, f]: 0.1, not above 0.2
    check(b, H, window_calls=10, window_failures=1, failure_rate=0.1)
    b.record_failure()                                    # [s*8, f, f]: 0.2, not above 0.2
    check(b, H, window_calls=10, window_failures=2, failure_rate=0.2)
    b.record_failure()                                    # [s*7, f, f, f]: 0.3 > 0.2
    check(b, D, transitions={"HEALTHY->DEGRADED": 1}, window_failures=3, failure_rate=0.3)
    for _ in range(7):                                    # the successes leave first
        b.record_success()
        check(b, D, window_calls=10, window_failures=3, failure_rate=0.3)
    b.record_success()                                    # [f, f, s*8]: 0.2
    check(b, D, window_failures=2, failure_rate=0.2)
    b.record_success()                                    # [f, s*9]: 0.1, at tau0: healthy
    check(b, H, transitions={"HEALTHY->DEGRADED": 1, "DEGRADED->HEALTHY": 1},
          window_failures=1, failure_rate=0.1, successful_calls=18, failed_calls=3)


def test_degraded_stays_between_the_thresholds():
    b, _ = small(minimum_calls=10, recovery_threshold=0.05)
    for _ in range(7):
        b.record_success()
    for _ in range(3):
        b.record_failure()
    check(b, D, failure_rate=0.3)
    for _ in range(8):                                    # [f, f, s*8] then [f, s*9]
        b.record_success()
    check(b, D, failure_rate=0.2)
    b.record_success()
    check(b, D, failure_rate=0.1)                         # 0.1 > 0.05: still degraded
    b.record_success()
    check(b, H, failure_rate=0.0, transitions={"HEALTHY->DEGRADED": 1, "DEGRADED->HEALTHY": 1})


def test_degraded_to_failed():
    b, _ = small(minimum_calls=10)
    for _ in range(7):
        b.record_success()
    for _ in range(3):
        b.record_failure()
    check(b, D, failure_rate=0.3)
    b.record_failure()                                    # 0.4
    check(b, D, failure_rate=0.4)
    b.record_failure()                                    # 0.5: not above
    check(b, D, failure_rate=0.5)
    b.record_failure()                                    # 0.6 > 0.5
    check(b, F, transitions={"HEALTHY->DEGRADED": 1, "DEGRADED->FAILED": 1}, window_calls=0,
          failure_rate=0.0, retry_after=10.0)


def test_healthy_jumps_to_failed():
    b, _ = small(minimum_calls=10)
    for _ in range(10):
        b.record_failure()
    check(b, F, transitions={"HEALTHY->FAILED": 1})


def test_count_window_slides():
    b, _ = small(window_size=4, minimum_calls=4, degraded_threshold=0.5, recovery_threshold=0.5,
                 failure_threshold=0.75)
    for outcome, rate in [(0, 0.0), (1, 0.5), (0, 1 / 3), (1, 0.5), (0, 0.5), (0, 0.25),
                          (1, 0.5), (0, 0.25), (0, 0.25), (0, 0.25), (0, 0.0)]:
        b.record_failure() if outcome else b.record_success()
        assert b.metrics["failure_rate"] == pytest.approx(rate)
        assert b.metrics["window_calls"] == min(4, b.metrics["total_calls"])
    check(b, H, transitions={})


def test_time_window_expires_old_outcomes():
    clock = ManualClock()
    b = CircuitBreaker(window_type="time", window_seconds=10, minimum_calls=4, clock=clock,
                       failure_threshold=0.5, degraded_threshold=0.5, recovery_threshold=0.5)
    assert b.config.window_seconds == 10.0
    for _ in range(3):
        b.record_failure()                                # bucket [0, 1)
    check(b, H, window_calls=3, window_failures=3)
    clock.advance(5.5)
    b.record_failure()                                    # bucket [5, 6): 4 calls, 4 failures
    check(b, F, transitions={"HEALTHY->FAILED": 1})

    b.reset()
    check(b, H, window_calls=0)
    for _ in range(3):
        b.record_failure()                                # at t = 5.5
    clock.advance(10.0)                                   # t = 15.5: they have left
    check(b, H, window_calls=0)
    b.record_failure()
    check(b, H, window_calls=1, window_failures=1, transitions={
        "HEALTHY->FAILED": 1, "FAILED->HEALTHY": 1})


def test_time_window_expiry_step_by_step():
    clock = ManualClock()
    b = CircuitBreaker(window_type="time", window_seconds=10, minimum_calls=4, clock=clock,
                       failure_threshold=0.9, degraded_threshold=0.9, recovery_threshold=0.9)
    clock.advance(0.5)
    b.record_failure()
    b.record_failure()                                    # 2 failures in bucket [0, 1)
    clock.advance(5.0)
    b.record_failure()                                    # 1 failure in bucket [5, 6)
    check(b, H, window_calls=3, window_failures=3)
    clock.advance(4.49)                                   # t = 9.99: everything counts
    check(b, H, window_calls=3, window_failures=3)
    clock.advance(0.01)                                   # t = 10: bucket 0 leaves
    check(b, H, window_calls=1, window_failures=1)
    clock.advance(5.0)                                    # t = 15: bucket 5 leaves
    check(b, H, window_calls=0, window_failures=0, failure_rate=0.0)
    for _ in range(3):                                    # had nothing expired, 6 failures
        b.record_failure()
    check(b, H, window_calls=3, transitions={})
    b.record_failure()
    check(b, F, transitions={"HEALTHY->FAILED": 1})


def test_time_window_long_idle_clears_everything():
    clock = ManualClock()
    b = CircuitBreaker(window_type="time", window_seconds=3.0, minimum_calls=2, clock=clock)
    b.record_success()
    clock.advance(1e6)
    check(b, H, window_calls=0)
    b.record_success()
    check(b, H, window_calls=1)


def test_fractional_time_window_has_sub_second_buckets():
    clock = ManualClock()
    b = CircuitBreaker(window_type="time", window_seconds=0.5, minimum_calls=100, clock=clock)
    b.record_failure()                                    # 10 buckets of 50 ms
    clock.advance(0.3)
    b.record_failure()
    check(b, H, window_calls=2)
    clock.advance(0.2)                                    # t = 0.5: the first one left
    check(b, H, window_calls=1)
    clock.advance(0.3)
    check(b, H, window_calls=0)


# ================================================================ slow calls


def test_slow_successes_count_as_failures():
    b, _ = small(slow_call_duration=1.0)
    b.record_success(0.5)
    b.record_success(1.0)                                 # not slower than 1.0
    b.record_success(2.0)                                 # slow: a failure
    b.record_failure(3.0)                                 # slow failure
    check(b, H, window_calls=4, window_failures=2, window_slow_calls=2, failure_rate=0.5,
          slow_rate=0.5, successful_calls=2, failed_calls=2, slow_calls=2, transitions={})
    b.record_failure()                                    # unknown duration: not slow
    # 3 failures in 5 calls: 0.6 > 0.5
    check(b, F, transitions={"HEALTHY->FAILED": 1}, successful_calls=2, failed_calls=3,
          slow_calls=2, window_calls=0)


def test_slow_rate_in_the_window():
    b, _ = small(slow_call_duration=0.1, minimum_calls=10)
    b.record_success(0.2)
    b.record_failure(0.2)
    b.record_success(0.05)
    check(b, H, window_calls=3, window_failures=2, window_slow_calls=2,
          failure_rate=2 / 3, slow_rate=2 / 3, slow_calls=2, successful_calls=1, failed_calls=2)


def test_slow_calls_off_by_default():
    b, _ = small()
    for _ in range(6):
        b.record_success(1e6)
    check(b, H, slow_calls=0, window_slow_calls=0, successful_calls=6)


def test_slow_trial_fails_the_recovery():
    b, clock = small(slow_call_duration=1.0)
    trip(b)
    clock.advance(10)
    assert b.allow()
    b.record_success(5.0)
    check(b, F, backoff_level=1, slow_calls=1)


@pytest.mark.parametrize("bad, exc, rest", [
    (-1.0, InvalidArgument, "must be a finite number of seconds >= 0, got -1.0"),
    (math.nan, InvalidArgument, "must be a finite number of seconds >= 0, got nan"),
    (math.inf, InvalidArgument, "must be a finite number of seconds >= 0, got inf"),
    (10 ** 400, InvalidArgument,
     "must be a finite number of seconds >= 0, got <int of 1329 bits>"),
    ("1", TypeError, "must be a real number, got str"),
    (True, TypeError, "must be a real number, got bool"),
])
def test_bad_duration_is_rejected_and_nothing_is_recorded(bad, exc, rest):
    b, _ = small()
    for method, name in ((b.record_success, "record_success"),
                         (b.record_failure, "record_failure")):
        with pytest.raises(exc) as info:
            method(bad)
        assert type(info.value) is exc
        assert str(info.value) == f"CircuitBreaker.{name}: duration {rest}"
    check(b, H, total_calls=0, window_calls=0)


# ================================================================ open, recovery, backoff


def test_failed_rejects_then_recovery_admits_exactly_the_permits():
    b, clock = small()
    trip(b)
    check(b, F, retry_after=10.0, permitted_calls=5, rejected_calls=0)
    assert not b.allow()
    check(b, F, retry_after=10.0, rejected_calls=1)
    clock.advance(4.0)
    assert b.retry_after == pytest.approx(6.0)
    assert not b.allow()
    check(b, F, retry_after=6.0, rejected_calls=2)
    clock.advance(6.0)
    # Reading never transitions: FAILED until the next allow().
    check(b, F, retry_after=0.0, rejected_calls=2)
    assert b.allow()                                      # FAILED -> RECOVERY, trial 1
    check(b, R, transitions={"HEALTHY->FAILED": 1, "FAILED->RECOVERY": 1},
          trial_permits_used=1, permitted_calls=6)
    assert b.allow() and b.allow()                        # trials 2 and 3
    check(b, R, trial_permits_used=3, permitted_calls=8)
    for k in range(3):
        assert not b.allow()
        check(b, R, trial_permits_used=3, rejected_calls=3 + k)
    b.record_ignored()                                    # gives one permit back
    check(b, R, trial_permits_used=2, ignored_calls=1)
    assert b.allow()
    assert not b.allow()
    check(b, R, trial_permits_used=3, permitted_calls=9, rejected_calls=6, allow_calls=15)


def test_recovery_to_healthy_when_all_trials_succeed():
    b, clock = small()
    trip(b)
    clock.advance(10)
    for _ in range(3):
        assert b.allow()
    b.record_success()
    check(b, R, trial_successes=1)
    b.record_success()
    check(b, R, trial_successes=2)
    b.record_success()
    check(b, H, window_calls=0, backoff_level=0, trial_permits_used=0, transitions={
        "HEALTHY->FAILED": 1, "FAILED->RECOVERY": 1, "RECOVERY->HEALTHY": 1})
    assert b.allow()
    # The window starts empty: four failures are below minimum_calls.
    trip(b, 4)
    check(b, H, window_calls=4)


def test_recovery_back_to_failed_with_backoff_growth_and_cap():
    b, clock = small(backoff_factor=2.0, max_open_duration=35.0)
    trip(b)
    check(b, F, open_duration=10.0, retry_after=10.0, backoff_level=0)
    expected = [20.0, 35.0, 35.0]                         # 10 * 2, 10 * 4 capped, capped
    for level, duration in enumerate(expected, start=1):
        clock.advance(b.retry_after)
        assert b.allow()
        check(b, R, trial_permits_used=1)
        b.record_failure()                                # sigma = 1: one failure decides
        check(b, F, open_duration=duration, retry_after=duration, backoff_level=level)
        clock.advance(duration - 0.5)
        assert not b.allow()
        assert b.retry_after == pytest.approx(0.5)
    clock.advance(0.5)
    for _ in range(3):
        assert b.allow()
        b.record_success()
    check(b, H, backoff_level=0, transitions={
        "HEALTHY->FAILED": 1, "FAILED->RECOVERY": 4, "RECOVERY->FAILED": 3,
        "RECOVERY->HEALTHY": 1})
    trip(b)                                               # back to the base duration
    check(b, F, open_duration=10.0, retry_after=10.0, backoff_level=0)


def test_backoff_without_cap_keeps_growing():
    b, clock = small(backoff_factor=3.0, open_duration=1.0)
    trip(b)
    for level in range(1, 6):
        clock.advance(b.retry_after)
        assert b.allow()
        b.record_failure()
        check(b, F, open_duration=3.0 ** level, backoff_level=level)


def test_partial_recovery_success_rate():
    b, clock = small(half_open_permits=4, recovery_success_rate=0.5)   # 2 of 4 heal
    trip(b)
    clock.advance(10)
    for _ in range(4):
        assert b.allow()
    b.record_success()
    b.record_failure()
    check(b, R, trial_successes=1, trial_failures=1)
    b.record_success()                                    # 2 successes: sure to reach 0.5
    check(b, H, transitions={"HEALTHY->FAILED": 1, "FAILED->RECOVERY": 1,
                             "RECOVERY->HEALTHY": 1})
    b.record_failure()                                    # the last trial, now in HEALTHY
    check(b, H, window_calls=1)

    trip(b, 4)
    check(b, F)
    clock.advance(10)
    for _ in range(4):
        assert b.allow()
    b.record_failure()
    b.record_failure()
    check(b, R, trial_failures=2)
    b.record_failure()                                    # 3 failures: 0.5 out of reach
    check(b, F, backoff_level=1)


def test_recovery_needs_rounding_up():
    b, clock = small(half_open_permits=5, recovery_success_rate=0.61)   # ceil(3.05) = 4
    trip(b)
    clock.advance(10)
    for _ in range(5):
        assert b.allow()
    for _ in range(3):
        b.record_success()
    check(b, R, trial_successes=3)
    b.record_success()
    check(b, H)


def test_late_outcomes_do_not_count_as_trials():
    b, clock = small()
    for _ in range(5):
        assert b.allow()                                  # five calls in flight
    for _ in range(3):
        b.record_failure()
    b.record_failure()
    b.record_failure()                                    # fifth failure: open
    check(b, F, failed_calls=5)
    b.record_success()                                    # admitted before the open
    check(b, F, successful_calls=1, window_calls=0)
    clock.advance(10)
    assert b.allow()
    b.record_success()                                    # the trial
    b.record_success()                                    # a stray: no trial outstanding
    check(b, R, trial_permits_used=1, trial_successes=1, successful_calls=3)
    b.record_ignored()                                    # nothing outstanding: no permit back
    check(b, R, trial_permits_used=1, ignored_calls=1)


def test_record_ignored_outside_recovery_only_counts():
    b, _ = small()
    b.record_ignored()
    check(b, H, ignored_calls=1, total_calls=0, window_calls=0)


# ================================================================ force_open, reset, retry_after


def test_force_open_until_reset():
    b, clock = small()
    seen = []
    b.add_listener(lambda old, new: seen.append((old, new)))
    b.record_success()
    b.force_open()
    check(b, F, transitions={"HEALTHY->FAILED": 1}, forced_open=True, window_calls=0)
    assert b.retry_after == math.inf and b.metrics["open_duration"] == math.inf
    clock.advance(1e6)
    assert not b.allow()
    check(b, F, rejected_calls=1)
    b.force_open()                                        # already open: no transition
    assert seen == [(H, F)]
    b.reset()
    check(b, H, transitions={"HEALTHY->FAILED": 1, "FAILED->HEALTHY": 1}, forced_open=False,
          successful_calls=1, rejected_calls=1)           # cumulative counters kept
    assert seen == [(H, F), (F, H)]


def test_force_open_for_a_duration_then_recovers():
    b, clock = small()
    b.force_open(5.0)
    check(b, F, forced_open=False, open_duration=5.0, retry_after=5.0)
    clock.advance(5.0)
    assert b.allow()
    check(b, R, transitions={"HEALTHY->FAILED": 1, "FAILED->RECOVERY": 1})
    b.force_open(2.0)
    check(b, F, transitions={"HEALTHY->FAILED": 1, "FAILED->RECOVERY": 1,
                             "RECOVERY->FAILED": 1}, retry_after=2.0, backoff_level=0)


@pytest.mark.parametrize("bad, exc, rest", [
    (0, InvalidArgument, "must be a finite number of seconds > 0 and <= 1e+09, got 0"),
    (-1.0, InvalidArgument, "must be a finite number of seconds > 0 and <= 1e+09, got -1.0"),
    (math.nan, InvalidArgument, "must be a finite number of seconds > 0 and <= 1e+09, got nan"),
    (math.inf, InvalidArgument, "must be a finite number of seconds > 0 and <= 1e+09, got inf"),
    (2e9, InvalidArgument,
     "must be a finite number of seconds > 0 and <= 1e+09, got 2000000000.0"),
    ("5", TypeError, "must be a real number, got str"),
])
def test_force_open_rejects_a_bad_duration(bad, exc, rest):
    b, _ = small()
    with pytest.raises(exc) as info:
        b.force_open(bad)
    assert type(info.value) is exc
    assert str(info.value) == f"CircuitBreaker.force_open: duration {rest}"
    check(b, H, transitions={})


def test_reset_from_every_state():
    for target in (H, D, F, R):
        b, clock = small(minimum_calls=10)
        if target is D:
            for _ in range(7):
                b.record_success()
            for _ in range(3):
                b.record_failure()
        elif target in (F, R):
            for _ in range(10):
                b.record_failure()
            if target is R:
                clock.advance(10)
                assert b.allow()
        assert b.state is target
        b.reset()
        changed = {} if target is H else {f"{target.name}->HEALTHY": 1}
        m = check(b, H, window_calls=0, backoff_level=0, trial_permits_used=0)
        assert {e: n for e, n in m["transitions"].items() if e.endswith("->HEALTHY") and n} \
            == changed


def test_retry_after_in_each_state():
    b, clock = small(backoff_factor=2.0)
    assert b.retry_after == 0.0                           # HEALTHY
    trip(b)
    assert b.retry_after == 10.0
    clock.advance(2.5)
    assert b.retry_after == 7.5
    clock.advance(7.5 - 1e-9)
    assert b.retry_after == pytest.approx(1e-9)
    clock.advance(100)
    assert b.retry_after == 0.0                           # due, not yet moved
    assert b.allow()
    assert b.retry_after == 0.0                           # RECOVERY
    b.record_failure()
    assert b.retry_after == 20.0                          # backoff


# ================================================================ call() and CircuitOpenError


def test_call_records_outcomes_and_durations():
    b, clock = small(slow_call_duration=1.0)
    assert b.call(lambda x, y=1: x + y, 2, y=3) == 5
    check(b, H, successful_calls=1, permitted_calls=1)

    def slow():
        clock.advance(2.0)
        return "late"
    assert b.call(slow) == "late"
    check(b, H, failed_calls=1, slow_calls=1)

    with pytest.raises(ZeroDivisionError):
        b.call(lambda: 1 / 0)
    check(b, H, failed_calls=2)

    def interrupted():
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        b.call(interrupted)
    check(b, H, ignored_calls=1, total_calls=3)


def test_call_refused_raises_circuit_open_error():
    b, clock = small(name="model-a")
    trip(b)
    clock.advance(4.0)
    with pytest.raises(CircuitOpenError) as info:
        b.call(lambda: 1)
    e = info.value
    assert isinstance(e, FugueError) and isinstance(e, RuntimeError)
    assert e.retry_after == pytest.approx(6.0) and e.state == "FAILED"
    assert "'model-a' is FAILED" in str(e) and "retry after 6 s" in str(e)
    again = pickle.loads(pickle.dumps(e))
    assert (type(again), again.retry_after, again.state, str(again)) == \
        (CircuitOpenError, e.retry_after, "FAILED", str(e))
    check(b, F, rejected_calls=1)


def test_circuit_open_error_stays_backward_compatible():
    e = CircuitOpenError("refused")
    assert str(e) == "refused" and e.retry_after is None and e.state is None
    assert str(CircuitOpenError()) == "the circuit breaker refuses calls"


# ================================================================ listeners


def test_listeners_are_called_in_order_on_each_transition():
    b, clock = small(minimum_calls=10)
    calls = []
    b.add_listener(lambda old, new: calls.append(("first", old, new)))
    b.add_listener(lambda old, new: calls.append(("second", old, new)))
    for _ in range(7):
        b.record_success()
    for _ in range(3):
        b.record_failure()
    assert calls == [("first", H, D), ("second", H, D)]
    for _ in range(3):
        b.record_failure()
    clock.advance(10)
    b.allow()
    b.allow()
    b.record_success()
    b.record_failure()
    assert [(o, n) for who, o, n in calls if who == "first"] == [
        (H, D), (D, F), (F, R), (R, F)]
    assert [who for who, *_ in calls] == ["first", "second"] * 4
    assert all(type(o) is BreakerState and type(n) is BreakerState for _, o, n in calls)


def test_listener_exceptions_are_logged_and_swallowed(caplog):
    b, _ = small()
    after = []

    def bad(old, new):
        raise RuntimeError("listener bug")
    b.add_listener(bad)
    b.add_listener(lambda old, new: after.append((old, new)))
    with caplog.at_level(logging.INFO, logger="fugue_ppl.breaker"):
        trip(b)
    check(b, F, transitions={"HEALTHY->FAILED": 1})
    assert after == [(H, F)]                              # the next listener still ran
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "listener" in errors[0].getMessage()
    assert errors[0].exc_info[0] is RuntimeError
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "circuit breaker 'circuit_breaker': HEALTHY -> FAILED"]
    assert not b.allow()                                  # the breaker works on


def test_listener_runs_outside_the_lock_and_may_use_the_breaker():
    b, _ = small()
    seen = []

    def listener(old, new):
        m = b.metrics                                     # would deadlock under the C++ lock
        seen.append((new, m["state"], b.state, b.allow()))
        if new is F:
            b.reset()                                     # a transition from inside a listener
    b.add_listener(listener)
    trip(b)
    assert seen == [(F, "FAILED", F, False), (H, "HEALTHY", H, True)]
    check(b, H, transitions={"HEALTHY->FAILED": 1, "FAILED->HEALTHY": 1})


def test_listener_is_called_from_the_thread_that_caused_the_transition():
    b, _ = small()
    where = []
    b.add_listener(lambda old, new: where.append(threading.get_ident()))
    done = []

    def work():
        trip(b)
        done.append(threading.get_ident())
    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert where == done and where[0] != threading.get_ident()


def test_add_and_remove_listeners():
    b, _ = small()
    calls = []
    fn = calls.append
    b.add_listener(lambda o, n: calls.append(1))
    with pytest.raises(TypeError, match="callable"):
        b.add_listener(42)
    b.add_listener(fn)
    assert len(b.listeners) == 2
    b.remove_listener(fn)
    assert len(b.listeners) == 1
    with pytest.raises(ValueError):
        b.remove_listener(fn)
    trip(b)
    assert calls == [1]


# ================================================================ configuration


_SECONDS = "must be a finite number of seconds > 0 and <= 1e+09"


@pytest.mark.parametrize("kwargs, exc, message", [
    pytest.param({"failure_threshold": 1.5}, InvalidArgument,
                 "failure_threshold must be in [0, 1], got 1.5", id="failure_threshold>1"),
    pytest.param({"failure_threshold": math.nan}, InvalidArgument,
                 "failure_threshold must be in [0, 1], got nan", id="failure_threshold-nan"),
    pytest.param({"failure_threshold": "0.5"}, TypeError,
                 "failure_threshold must be a real number, got str", id="failure_threshold-str"),
    pytest.param({"degraded_threshold": -0.1}, InvalidArgument,
                 "degraded_threshold must be in [0, 1], got -0.1", id="degraded_threshold<0"),
    pytest.param({"degraded_threshold": True}, TypeError,
                 "degraded_threshold must be a real number, got bool",
                 id="degraded_threshold-bool"),
    pytest.param({"recovery_threshold": 2}, InvalidArgument,
                 "recovery_threshold must be in [0, 1], got 2", id="recovery_threshold>1"),
    pytest.param({"degraded_threshold": 0.6}, InvalidArgument,
                 "degraded_threshold must not exceed failure_threshold (0.5), got 0.6",
                 id="degraded_above_failure"),
    pytest.param({"recovery_threshold": 0.1}, InvalidArgument,
                 "recovery_threshold must not exceed degraded_threshold (0.05), got 0.1",
                 id="recovery_above_degraded"),
    pytest.param({"window_size": 0}, InvalidArgument,
                 "window_size must be in [1, 1000000], got 0", id="window_size<1"),
    pytest.param({"window_size": 2.5}, InvalidArgument,
                 "window_size must be an integer, got 2.5", id="window_size-float"),
    pytest.param({"window_size": 10 ** 7}, InvalidArgument,
                 "window_size must be in [1, 1000000], got 10000000", id="window_size-huge"),
    pytest.param({"window_seconds": 0.0}, InvalidArgument,
                 "window_seconds must be a finite number of seconds > 0 and <= 86400, got 0.0",
                 id="window_seconds<=0"),
    pytest.param({"window_type": "time", "window_seconds": 1e6}, InvalidArgument,
                 "window_seconds must be a finite number of seconds > 0 and <= 86400, "
                 "got 1000000.0", id="window_seconds-huge"),
    pytest.param({"window_type": "sliding"}, InvalidArgument,
                 "window_type must be one of 'count', 'time', got 'sliding'",
                 id="window_type-unknown"),
    pytest.param({"window_type": 1}, TypeError, "window_type must be a str, got int",
                 id="window_type-int"),
    pytest.param({"minimum_calls": 0}, InvalidArgument,
                 "minimum_calls must be in [1, 4611686018427387904], got 0", id="minimum_calls<1"),
    pytest.param({"minimum_calls": 5.5}, InvalidArgument,
                 "minimum_calls must be an integer, got 5.5", id="minimum_calls-fraction"),
    pytest.param({"slow_call_duration": 0}, InvalidArgument,
                 f"slow_call_duration {_SECONDS}, got 0", id="slow_call_duration<=0"),
    pytest.param({"open_duration": 0}, InvalidArgument, f"open_duration {_SECONDS}, got 0",
                 id="open_duration<=0"),
    pytest.param({"open_duration": -5.0}, InvalidArgument,
                 f"open_duration {_SECONDS}, got -5.0", id="open_duration<0"),
    pytest.param({"open_duration": math.inf}, InvalidArgument,
                 f"open_duration {_SECONDS}, got inf", id="open_duration-inf"),
    pytest.param({"open_duration": None}, TypeError,
                 "open_duration must be a real number, got NoneType", id="open_duration-None"),
    pytest.param({"backoff_factor": 0.5}, InvalidArgument,
                 "backoff_factor must be finite and >= 1, got 0.5", id="backoff_factor<1"),
    pytest.param({"backoff_factor": math.inf}, InvalidArgument,
                 "backoff_factor must be finite and >= 1, got inf", id="backoff_factor-inf"),
    pytest.param({"max_open_duration": 5.0}, InvalidArgument,
                 "max_open_duration must be at least open_duration (30.0), got 5.0",
                 id="max_open_duration<open_duration"),
    pytest.param({"half_open_permits": 0}, InvalidArgument,
                 "half_open_permits must be in [1, 2147483648], got 0", id="half_open_permits<1"),
    pytest.param({"half_open_permits": "3"}, TypeError,
                 "half_open_permits must be an integer, got str", id="half_open_permits-str"),
    pytest.param({"recovery_success_rate": 0.0}, InvalidArgument,
                 "recovery_success_rate must be in (0, 1], got 0.0",
                 id="recovery_success_rate=0"),
    pytest.param({"recovery_success_rate": 1.01}, InvalidArgument,
                 "recovery_success_rate must be in (0, 1], got 1.01",
                 id="recovery_success_rate>1"),
    pytest.param({"failure_rate": 0.5}, TypeError,
                 "unknown setting 'failure_rate'; did you mean 'failure_threshold'?",
                 id="unknown-setting"),
])
def test_bad_setting_raises_naming_it(kwargs, exc, message):
    for make in (CircuitBreaker, BreakerConfig):
        with pytest.raises(exc) as info:
            make(**kwargs)
        assert type(info.value) is exc
        assert str(info.value) == f"BreakerConfig: {message}"
        if exc is InvalidArgument:
            assert isinstance(info.value, ValueError) and isinstance(info.value, FugueError)
            assert (info.value.owner, info.value.parameter) == ("BreakerConfig",
                                                                message.split()[0])


def test_bad_clock_config_or_name():
    cases = [
        (lambda: CircuitBreaker(clock=lambda: 0.0), TypeError,
         "CircuitBreaker: clock must be a ManualClock or None, got function"),
        (lambda: CircuitBreaker(config=0.5), TypeError,
         "CircuitBreaker: config must be a BreakerConfig, a mapping or None, got float"),
        (lambda: CircuitBreaker(name=""), InvalidArgument,
         ("CircuitBreaker: name must be a printable, non-empty str of at most 200 characters, "
          "got ''")),
        (lambda: CircuitBreaker(name="a\nb"), InvalidArgument,
         ("CircuitBreaker: name must be a printable, non-empty str of at most 200 characters, "
          "got 'a\\nb'")),
        (lambda: CircuitBreaker(name=5), TypeError, "CircuitBreaker: name must be a str, got int"),
    ]
    for call, exc, message in cases:
        with pytest.raises(exc) as info:
            call()
        assert type(info.value) is exc and str(info.value) == message


def test_config_objects():
    cfg = BreakerConfig(failure_threshold=0.3, window_size=50, slow_call_duration=2,
                        max_open_duration=600, minimum_calls=5.0)
    assert (cfg.failure_threshold, cfg.window_size, cfg.slow_call_duration,
            cfg.max_open_duration, cfg.minimum_calls) == (0.3, 50, 2.0, 600.0, 5)
    assert type(cfg.slow_call_duration) is float and type(cfg.minimum_calls) is int
    again = BreakerConfig(**cfg.to_dict())
    assert again == cfg and hash(again) == hash(cfg)
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert cfg.replace(window_size=60) != cfg and cfg.replace(window_size=60).window_size == 60
    with pytest.raises(InvalidArgument) as info:
        cfg.replace(window_size=0)
    assert str(info.value) == "BreakerConfig: window_size must be in [1, 1000000], got 0"
    for call in (lambda: cfg.replace(size=0), lambda: CircuitBreaker({"size": 3})):
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value) == ("BreakerConfig: unknown setting 'size' (settings: "
                                   "failure_threshold, degraded_threshold, recovery_threshold, "
                                   "window_type, window_size, window_seconds, minimum_calls, "
                                   "slow_call_duration, open_duration, backoff_factor, "
                                   "max_open_duration, half_open_permits, "
                                   "recovery_success_rate)")
    assert repr(cfg).startswith("BreakerConfig(failure_threshold=0.3, ")
    b = CircuitBreaker(cfg, half_open_permits=2)
    assert b.config == cfg.replace(half_open_permits=2)
    assert CircuitBreaker({"window_size": 7}, minimum_calls=3).config == \
        BreakerConfig(window_size=7, minimum_calls=3)
    with pytest.raises(AttributeError):
        cfg.failure_threshold = 0.9
    with pytest.raises(RuntimeError) as info:
        BreakerConfig.__init__(cfg, window_size=7)
    assert str(info.value) == ("BreakerConfig.__init__ was called on an initialised "
                               "BreakerConfig; create a new BreakerConfig instead")
    assert cfg.window_size == 50


def test_a_time_window_ignores_window_size_and_a_count_window_window_seconds():
    timed = CircuitBreaker(window_type="time", window_seconds=30, window_size=1,
                           minimum_calls=500)
    assert timed.metrics["minimum_calls"] == 500
    counted = CircuitBreaker(window_size=10, window_seconds=1.0, minimum_calls=500)
    assert counted.metrics["minimum_calls"] == 10


def test_thresholds_may_coincide():
    b, _ = small(recovery_threshold=0.0, degraded_threshold=0.0, failure_threshold=1.0,
                 minimum_calls=1)
    b.record_failure()
    check(b, D, failure_rate=1.0)                         # 1.0 is not above 1.0: never opens
    for _ in range(10):
        b.record_success()
    check(b, H, failure_rate=0.0)


def test_manual_clock():
    c = ManualClock(5.0)
    assert c.now() == 5.0 and c() == 5.0 and repr(c) == "ManualClock(5.0)"
    c.advance(0.25)
    assert c.now() == 5.25
    for bad, shown in ((-1.0, "-1.0"), (math.nan, "nan"), (math.inf, "inf"),
                       (1e10, "10000000000.0")):
        with pytest.raises(InvalidArgument) as info:
            c.advance(bad)
        assert str(info.value) == f"ManualClock.advance: seconds must be in [0, 1e+09], got {shown}"
    with pytest.raises(TypeError) as info:
        c.advance("1")
    assert str(info.value) == "ManualClock.advance: seconds must be a real number, got str"
    assert c.now() == 5.25
    for bad, shown in ((2e9, "2000000000.0"), (-math.inf, "-inf")):
        with pytest.raises(InvalidArgument) as info:
            ManualClock(bad)
        assert str(info.value) == f"ManualClock: start must be in [-1e+09, 1e+09], got {shown}"
    with pytest.raises(TypeError) as info:
        ManualClock(None)
    assert str(info.value) == "ManualClock: start must be a real number, got NoneType"


def test_metrics_are_json_serialisable():
    b, clock = small()
    trip(b)
    clock.advance(10)
    b.allow()
    assert json.loads(json.dumps(b.metrics))["state"] == "RECOVERY"


# ================================================================ threads


@pytest.fixture
def fast_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def test_eight_threads_open_the_breaker_exactly_once(fast_switching):
    b = CircuitBreaker(window_size=50, minimum_calls=20, open_duration=3600.0,
                       clock=ManualClock())
    opened, lock = [], threading.Lock()
    b.add_listener(lambda old, new: opened.append((old, new, threading.get_ident())))
    barrier = threading.Barrier(8)
    counts = Counter()

    def worker():
        barrier.wait()
        for _ in range(2000):
            ok = b.allow()
            if ok:
                b.record_failure()
            with lock:
                counts[ok] += 1
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [(o, n) for o, n, _ in opened] == [(H, F)]
    assert opened[0][2] in {t.ident for t in threads}
    m = check(b, F, transitions={"HEALTHY->FAILED": 1})
    assert m["allow_calls"] == 16000
    assert m["permitted_calls"] == counts[True] and m["rejected_calls"] == counts[False]
    assert m["failed_calls"] == counts[True] and counts[True] >= 20


def test_eight_threads_never_exceed_the_recovery_permits(fast_switching):
    clock = ManualClock()
    b = CircuitBreaker(window_size=10, minimum_calls=5, open_duration=1.0, half_open_permits=3,
                       clock=clock)
    trip(b)
    clock.advance(1.0)
    lock = threading.Lock()
    state = {"out": 0, "peak": 0, "admitted": 0, "refused": 0}
    wrong_state = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        for _ in range(1500):
            if b.allow():
                with lock:
                    state["out"] += 1
                    state["admitted"] += 1
                    state["peak"] = max(state["peak"], state["out"])
                    if b.state is not R:
                        wrong_state.append(b.state)
                with lock:
                    state["out"] -= 1                   # before the permit goes back
                b.record_ignored()
            else:
                with lock:
                    state["refused"] += 1
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 1 <= state["peak"] <= 3 and wrong_state == []
    m = check(b, R, trial_permits_used=0, ignored_calls=state["admitted"])
    assert m["permitted_calls"] == 5 + state["admitted"]
    assert m["rejected_calls"] == state["refused"]
    assert state["admitted"] + state["refused"] == 8 * 1500


# ---------------------------------------------------------------- threads without the GIL
#
# Python threads take turns under the GIL, so the breaker's lock is never
# contended by them. tests/serving/breaker_threads.cpp drives one C++ breaker
# from 8 native threads; it is built here against the installed library (it
# is not part of the package).

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = pathlib.Path(__file__).with_name("breaker_threads.cpp")


@pytest.fixture(scope="module")
def breaker_threads(tmp_path_factory):
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    headers = [ROOT / "csrc" / "core" / "include", ROOT / "csrc" / "serving" / "include"]
    if not all(h.is_dir() for h in headers):
        pytest.skip("the C++ headers (csrc/) are not next to the tests")
    if compiler is None:
        if os.environ.get("CI"):
            pytest.fail("no C++ compiler (c++) to build tests/serving/breaker_threads.cpp")
        pytest.skip("no C++ compiler (c++): apt-get install g++")
    lib = pathlib.Path(brk.__file__).resolve().parents[1]      # the package's directory
    assert (lib / "libfugue_serving.so").exists() or sys.platform == "darwin", lib
    exe = tmp_path_factory.mktemp("breaker_threads") / "breaker_threads"
    cmd = [compiler, "-std=c++17", "-O2", "-pthread", *(f"-I{h}" for h in headers),
           str(SOURCE), "-o", str(exe), f"-L{lib}", "-lfugue_serving", "-lfugue_core",
           f"-Wl,-rpath,{lib}"]
    built = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr

    def run(scenario):
        out = subprocess.run([str(exe), scenario], capture_output=True, text=True, timeout=300,
                             check=False)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)
    return run


def test_eight_threads_without_the_gil_open_exactly_once(breaker_threads):
    r = breaker_threads("open")
    assert r["caused"] == [["HEALTHY", "FAILED"]]
    assert (r["state"], r["transitions"]) == ("FAILED", {"HEALTHY->FAILED": 1})
    assert r["permitted"] + r["rejected"] == 800_000
    assert r["permitted"] == r["permitted_by_threads"] == r["failures"] >= 50


def test_eight_threads_without_the_gil_respect_the_permits(breaker_threads):
    r = breaker_threads("permits")
    assert 1 <= r["peak"] <= 3 and r["in_flight"] == 0
    assert (r["state"], r["trial_admitted"]) == ("RECOVERY", 0)
    assert r["transitions"] == {"HEALTHY->FAILED": 1, "FAILED->RECOVERY": 1}
    assert r["ignored"] == r["permitted_by_threads"] > 0
    assert r["permitted"] == 5 + r["permitted_by_threads"]
    assert r["permitted"] + r["rejected"] == 5 + 400_000


def test_eight_threads_without_the_gil_recover_exactly_once(breaker_threads):
    r = breaker_threads("recover")
    assert sorted(r["caused"]) == [["FAILED", "RECOVERY"], ["RECOVERY", "HEALTHY"]]
    assert r["state"] == "HEALTHY"
    assert r["transitions"] == {"HEALTHY->FAILED": 1, "FAILED->RECOVERY": 1,
                                "RECOVERY->HEALTHY": 1}
    assert r["successes"] == r["permitted"] == r["permitted_by_threads"]


# ================================================================ property: a reference model


class Reference:
    """A pure-Python model of a count-window breaker on a manual clock (ns)."""

    def __init__(self, cfg):
        self.c = cfg
        self.state = "HEALTHY"
        self.window = deque(maxlen=cfg["window_size"])
        self.min_calls = min(cfg["minimum_calls"], cfg["window_size"])
        self.need = max(1, math.ceil(cfg["recovery_success_rate"] * cfg["half_open_permits"]
                                     - 1e-9))
        self.now = 0
        self.open_until = 0
        self.open_ns = 0
        self.level = 0
        self.forced = False
        self.adm = self.ok = self.bad = 0
        self.n = Counter()
        self.edges = Counter()

    def move(self, to):
        self.edges[f"{self.state}->{to}"] += 1
        self.state = to

    def open(self, ns):
        self.open_ns = ns
        self.open_until = self.now + ns
        self.window.clear()
        self.adm = self.ok = self.bad = 0
        if self.state != "FAILED":
            self.move("FAILED")

    def backoff_ns(self):
        c = self.c
        d = c["open_duration"] * c["backoff_factor"] ** self.level
        if c["max_open_duration"] is not None:
            d = min(d, c["max_open_duration"])
        return math.floor(d * 1e9 + 0.5)                 # llround

    def allow(self):
        if self.state in ("HEALTHY", "DEGRADED"):
            self.n["permitted"] += 1
            return True
        if self.state == "FAILED":
            if self.forced or self.now < self.open_until:
                self.n["rejected"] += 1
                return False
            self.adm = self.ok = self.bad = 0
            self.move("RECOVERY")
        if self.adm < self.c["half_open_permits"]:
            self.adm += 1
            self.n["permitted"] += 1
            return True
        self.n["rejected"] += 1
        return False

    def record(self, failed, duration):
        slow = duration is not None and self.c["slow_call_duration"] is not None \
            and duration > self.c["slow_call_duration"]
        fail = failed or slow
        self.n["failed" if fail else "ok"] += 1
        self.n["slow"] += slow
        if self.state in ("HEALTHY", "DEGRADED"):
            self.window.append(fail)
            if len(self.window) < self.min_calls:
                return
            rate = sum(self.window) / len(self.window)
            if rate > self.c["failure_threshold"]:
                self.open(self.backoff_ns())
            elif self.state == "HEALTHY" and rate > self.c["degraded_threshold"]:
                self.move("DEGRADED")
            elif self.state == "DEGRADED" and rate <= self.c["recovery_threshold"]:
                self.move("HEALTHY")
        elif self.state == "RECOVERY" and self.ok + self.bad < self.adm:
            if fail:
                self.bad += 1
            else:
                self.ok += 1
            if self.ok >= self.need:
                self.level = 0
                self.window.clear()
                self.move("HEALTHY")
            elif self.bad > self.c["half_open_permits"] - self.need:
                self.level += 1
                self.open(self.backoff_ns())

    def ignored(self):
        self.n["ignored"] += 1
        if self.state == "RECOVERY" and self.ok + self.bad < self.adm:
            self.adm -= 1

    def force_open(self, seconds):
        self.open(round(seconds * 1e9) if seconds is not None else 10 ** 18)
        self.forced = seconds is None

    def reset(self):
        self.forced = False
        self.open_until = 0
        self.level = 0
        self.adm = self.ok = self.bad = 0
        self.window.clear()
        if self.state != "HEALTHY":
            self.move("HEALTHY")

    def retry_after(self):
        if self.state != "FAILED":
            return 0.0
        if self.forced:
            return math.inf
        return max(0, self.open_until - self.now) * 1e-9


configs = st.fixed_dictionaries({
    "window_size": st.integers(1, 10),
    "minimum_calls": st.integers(1, 6),
    "recovery_threshold": st.sampled_from([0.0, 0.1, 0.25]),
    "degraded_threshold": st.sampled_from([0.25, 0.3, 0.5]),
    "failure_threshold": st.sampled_from([0.5, 0.6, 0.75, 1.0]),
    "open_duration": st.sampled_from([0.5, 1.0, 2.0]),
    "backoff_factor": st.sampled_from([1.0, 1.5, 2.0]),
    "max_open_duration": st.sampled_from([None, 2.0, 4.0]),
    "half_open_permits": st.integers(1, 4),
    "recovery_success_rate": st.sampled_from([0.25, 0.5, 0.75, 1.0]),
    "slow_call_duration": st.sampled_from([None, 1.0]),
})
durations = st.sampled_from([None, 0.5, 2.0])
# Weighted so that a run visits every state: mostly calls and outcomes, the
# clock often enough to leave FAILED, forced opening and reset rarely.
operations = st.lists(st.one_of(
    st.just(("allow",)), st.just(("allow",)), st.just(("allow",)), st.just(("allow",)),
    st.tuples(st.just("success"), durations), st.tuples(st.just("success"), durations),
    st.tuples(st.just("failure"), durations), st.tuples(st.just("failure"), durations),
    st.just(("ignored",)),
    st.tuples(st.just("advance"), st.sampled_from([0.25, 0.5, 1.0, 4.0])),
    st.tuples(st.just("advance"), st.sampled_from([1.0, 4.0])),
    st.tuples(st.just("force_open"), st.sampled_from([None, 1.0])),
    st.just(("reset",)),
), min_size=20, max_size=150)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs, ops=operations)
def test_matches_the_reference_model_and_keeps_the_invariants(cfg, ops):
    cfg = dict(cfg)
    cfg["max_open_duration"] = (None if cfg["max_open_duration"] is None
                                else max(cfg["max_open_duration"], cfg["open_duration"]))
    clock = ManualClock()
    b = CircuitBreaker(clock=clock, **cfg)
    ref = Reference(cfg)
    heard = []
    b.add_listener(lambda old, new: heard.append((old.name, new.name)))
    allows = 0
    held = 0                 # trial permits held in the current RECOVERY episode
    for op in ops:
        before, used_before = b.state, b.metrics["trial_permits_used"]
        kind = op[0]
        if kind == "allow":
            allows += 1
            got = b.allow()
            assert got == ref.allow()
            if b.state is R and before is not R:
                held = 0
            if got and b.state is R:
                held += 1
        elif kind in ("success", "failure"):
            (b.record_success if kind == "success" else b.record_failure)(op[1])
            ref.record(kind == "failure", op[1])
        elif kind == "ignored":
            b.record_ignored()
            ref.ignored()
            if b.state is R and b.metrics["trial_permits_used"] == used_before - 1:
                held -= 1                                 # a permit given back
        elif kind == "advance":
            clock.advance(op[1])
            ref.now += round(op[1] * 1e9)
        elif kind == "force_open":
            b.force_open(op[1])
            ref.force_open(op[1])
        else:
            b.reset()
            ref.reset()
        # the same state and counters as the reference
        m = b.metrics
        assert m["state"] == ref.state
        assert m["transitions"] == {e: ref.edges[e] for e in EDGES}
        assert m["window_calls"] == len(ref.window)
        assert m["window_failures"] == sum(ref.window)
        assert m["permitted_calls"] == ref.n["permitted"]
        assert m["rejected_calls"] == ref.n["rejected"]
        assert m["successful_calls"] == ref.n["ok"] and m["failed_calls"] == ref.n["failed"]
        assert m["slow_calls"] == ref.n["slow"] and m["ignored_calls"] == ref.n["ignored"]
        assert m["backoff_level"] == ref.level
        assert b.retry_after == pytest.approx(ref.retry_after())
        # the invariants
        assert m["allow_calls"] == allows == m["permitted_calls"] + m["rejected_calls"]
        assert m["trial_permits_used"] <= cfg["half_open_permits"]
        if b.state is R:
            assert held == m["trial_permits_used"] <= cfg["half_open_permits"]
        assert 0.0 <= m["failure_rate"] <= 1.0 and m["window_calls"] <= cfg["window_size"]
        assert sum(m["transitions"].values()) == len(heard)
    assert all(f"{a}->{b_}" in EDGES for a, b_ in heard)
    for (_, new), (old, _) in itertools.pairwise(heard):
        assert new == old                       # each transition starts where the last ended
    if heard:
        assert heard[-1][1] == b.state.name


def test_no_lock_is_held_across_the_guarded_call():
    # Two calls are inside call() at the same time, and the guarded function
    # may use the breaker itself: both would hang if call() held a lock.
    b = CircuitBreaker(minimum_calls=10, window_size=10)
    inside = threading.Barrier(2, timeout=10)
    results = []

    def guarded():
        assert b.state is BreakerState.HEALTHY and b.metrics["permitted_calls"] >= 1
        inside.wait()                       # the other thread is inside call() too
        return b.call(lambda: 7)            # and the breaker answers re-entrantly

    def caller():
        results.append(b.call(guarded))

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in threads) and results == [7, 7]
    m = b.metrics
    assert (m["permitted_calls"], m["successful_calls"]) == (4, 4)
