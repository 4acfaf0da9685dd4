"""Which exceptions a circuit breaker counts: record / ignore classes, as resilience4j's."""

import pytest

import fugue_ppl as fp


class ClientError(ValueError):
    pass


def raiser(exc):
    def f():
        raise exc
    return f


def test_by_default_every_exception_is_a_failure_and_cancellations_are_ignored():
    b = fp.CircuitBreaker()
    assert b.record_exceptions == (Exception,) and b.ignore_exceptions == ()
    assert b.classify(RuntimeError()) == "failure" and b.classify(ClientError()) == "failure"
    assert b.classify(KeyboardInterrupt()) == "ignored"
    assert b.classify(SystemExit()) == "ignored"


def test_ignored_exceptions_never_trip_the_breaker():
    b = fp.CircuitBreaker(window_size=20, minimum_calls=5, ignore=ClientError)
    for _ in range(10_000):
        with pytest.raises(ClientError):
            b.call(raiser(ClientError("garbage")))
    m = b.metrics
    assert b.state is fp.BreakerState.HEALTHY
    assert (m["ignored_calls"], m["failed_calls"], m["window_calls"]) == (10_000, 0, 0)
    assert b.call(lambda: 42) == 42


def test_only_recorded_exceptions_are_failures_the_others_successes():
    b = fp.CircuitBreaker(window_size=10, minimum_calls=4, record=(ConnectionError, TimeoutError),
                          ignore=ConnectionResetError)
    assert b.classify(ConnectionRefusedError()) == "failure"     # a subclass is recorded
    assert b.classify(ConnectionResetError()) == "ignored"       # ignore wins over record
    assert b.classify(KeyError()) == "success"
    for exc in (KeyError("k"), ConnectionResetError(), KeyError("k")):
        with pytest.raises(type(exc)):
            b.call(raiser(exc))
    m = b.metrics
    assert (m["successful_calls"], m["failed_calls"], m["ignored_calls"]) == (2, 0, 1)
    for _ in range(3):          # 3 failures in 5 counted calls: above the 0.5 threshold
        with pytest.raises(TimeoutError):
            b.call(raiser(TimeoutError()))
    assert b.state is fp.BreakerState.FAILED and b.metrics["failed_calls"] == 3


def test_a_base_exception_can_be_recorded_when_listed():
    b = fp.CircuitBreaker(record=(Exception, KeyboardInterrupt))
    assert b.classify(KeyboardInterrupt()) == "failure"
    assert b.classify(SystemExit()) == "ignored"


def test_an_ignored_call_gives_its_recovery_permit_back():
    clock = fp.ManualClock()
    b = fp.CircuitBreaker(window_size=10, minimum_calls=4, open_duration=5.0,
                          half_open_permits=1, clock=clock, ignore=ClientError)
    for _ in range(4):
        b.record_failure()
    clock.advance(5.0)
    for _ in range(3):          # the one trial permit comes back each time
        with pytest.raises(ClientError):
            b.call(raiser(ClientError()))
    assert b.state is fp.BreakerState.RECOVERY
    assert b.call(lambda: "ok") == "ok"
    assert b.state is fp.BreakerState.HEALTHY


@pytest.mark.parametrize("kwargs, message", [
    ({"record": 1}, "CircuitBreaker: record must be an exception class or a tuple of them, "
                    "got int"),
    ({"record": (Exception, "ValueError")}, "CircuitBreaker: record must be an exception "
                                            "class or a tuple of them, got str"),
    ({"ignore": [ValueError]}, "CircuitBreaker: ignore must be an exception class or a tuple "
                               "of them, got list"),
    ({"ignore": (object,)}, "CircuitBreaker: ignore must be an exception class or a tuple of "
                            "them, got type"),
])
def test_bad_exception_classes_are_refused(kwargs, message):
    with pytest.raises(TypeError) as info:
        fp.CircuitBreaker(**kwargs)
    assert str(info.value) == message


def test_an_empty_record_is_refused():
    with pytest.raises(fp.errors.InvalidArgument) as info:
        fp.CircuitBreaker(record=())
    assert str(info.value) == ("CircuitBreaker: record must name at least one exception "
                               "class, got ()")


def test_classify_takes_an_exception():
    with pytest.raises(TypeError, match="^CircuitBreaker.classify: exc must be an exception, "
                                        "got type$"):
        fp.CircuitBreaker().classify(ValueError)


def _picky(reading):
    if not isinstance(reading, float):
        raise ClientError("reading must be a float")
    return fp.sample("t", fp.Normal(reading, 1.0))


def test_a_runner_counts_model_exceptions_as_its_breaker_classifies_them():
    breaker = fp.CircuitBreaker(window_size=20, minimum_calls=5, ignore=ClientError)
    runner = fp.ModelRunner(_picky, rng=1, breaker=breaker)
    for _ in range(10_000):
        with pytest.raises(ClientError):
            runner.infer("garbage")
    assert breaker.state is fp.BreakerState.HEALTHY
    m = breaker.metrics
    assert (m["ignored_calls"], m["failed_calls"], m["permitted_calls"]) == (10_000, 0, 10_000)
    assert runner.infer(22.0).status == "ok"
    counts = runner.metrics.counts()
    assert (counts["inferences"], counts["errors"]) == (10_001, 10_000)


def test_a_runner_with_the_default_breaker_trips_on_the_same_calls():
    breaker = fp.CircuitBreaker(window_size=20, minimum_calls=5)
    runner = fp.ModelRunner(_picky, rng=1, breaker=breaker, fallback=0.0)
    statuses = [runner.infer("garbage").status for _ in range(10)]
    assert statuses[:5] == ["fallback"] * 5 and statuses[-1] == "rejected"
    assert breaker.state is fp.BreakerState.FAILED


def test_a_runner_records_a_cancellation_only_when_the_breaker_lists_it():
    def cancelled(x):
        raise KeyboardInterrupt

    for record, failed, ignored in (((Exception,), 0, 1), ((Exception, KeyboardInterrupt), 1, 0)):
        breaker = fp.CircuitBreaker(record=record)
        runner = fp.ModelRunner(cancelled, rng=1, breaker=breaker, fallback=0.0)
        with pytest.raises(KeyboardInterrupt):
            runner.infer(1.0)
        m = breaker.metrics
        assert (m["failed_calls"], m["ignored_calls"], m["permitted_calls"]) == (failed, ignored, 1)
        assert runner.metrics.counts()["errors"] == 1
