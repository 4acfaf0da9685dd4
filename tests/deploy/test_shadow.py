"""Shadow traffic: copies of served calls go to a candidate off the request path;
the served responses never change and never wait; the outputs are compared.
Also ModelRunner.infer_background, which carries the copies."""

import threading
import time

import pytest

import fugue_ppl as fp
from fugue_ppl.deploy import Router
from fugue_ppl.errors import InvalidArgument, OverloadedError
from fugue_ppl.models import sensor
from fugue_ppl.serving import ModelConfig, RunnerConfig, RuntimeConfig
from fugue_ppl.validation import Finite, Schema


def _runner(version, model=sensor, workers=8, queue_size=64, **kw):
    config = RunnerConfig(model=ModelConfig(version=version),
                          runtime=RuntimeConfig(workers=workers, queue_size=queue_size))
    return fp.ModelRunner(model, config, rng=3, **kw)


def _settled(stats, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        d = stats.to_dict()
        if d["compared"] + d["failed"] + d["skipped"] == d["sent"]:
            return d
        time.sleep(0.005)
    return stats.to_dict()


def _offset(reading):
    temp, valid = sensor(reading)
    return temp + 0.5, valid


@pytest.fixture
def pair():
    runners = {"1": _runner("1"), "2": _runner("2", _offset)}
    router = Router(runners, weights={"1": 1.0})
    yield router, runners
    router.close()


def test_the_served_responses_do_not_change(pair):
    router, runners = pair
    plain = [runners["1"].infer(22.0, seed=k).value for k in range(50)]
    router.set_shadow("2", 1.0)
    shadowed = [router.infer(22.0, seed=k, key=f"u{k}") for k in range(50)]
    assert [r.value for r in shadowed] == plain
    assert {r.model_version for r in shadowed} == {"1"}
    d = _settled(router.shadow)
    assert (d["sent"], d["compared"], d["differing"], d["failed"]) == (50, 50, 50, 0)
    # the same key drew the same stream: the outputs differ by the offset exactly
    assert d["abs_diff_mean"] == pytest.approx(0.25)      # temp off by 0.5, valid equal
    assert d["abs_diff_max"] == pytest.approx(0.5) and d["divergence_rate"] == 1.0


def test_an_identical_candidate_never_diverges():
    runners = {"1": _runner("1"), "2": _runner("2")}
    router = Router(runners)
    router.set_shadow("2", 1.0)
    for k in range(40):
        router.infer(22.0, seed=k)
    d = _settled(router.shadow)
    assert (d["compared"], d["differing"], d["abs_diff_max"]) == (40, 0, 0.0)
    router.close()


def test_a_slow_candidate_adds_no_latency_and_its_overflow_is_dropped():
    def slow(reading):
        time.sleep(0.2)
        return sensor(reading)

    runners = {"1": _runner("1"), "2": _runner("2", slow, workers=1, queue_size=1)}
    router = Router(runners)
    router.set_shadow("2", 1.0)
    t = time.perf_counter()
    results = [router.infer(22.0) for _ in range(20)]
    elapsed = time.perf_counter() - t
    assert all(r.ok for r in results)
    assert elapsed < 0.2                      # one candidate call alone takes 0.2 s
    d = _settled(router.shadow, timeout=5.0)
    assert d["sent"] == 20 and d["compared"] == 2          # one running, one queued
    assert d["by_status"] == {"ok": 2, "OverloadedError": 18}
    router.close()


def test_a_fraction_of_the_calls_is_shadowed_evenly(pair):
    router, _ = pair
    router.set_shadow("2", 0.25)
    for _ in range(100):
        router.infer(22.0)
    assert _settled(router.shadow)["sent"] == 25
    router.set_shadow(None)
    for _ in range(100):
        router.infer(22.0)
    assert router.shadow.sent == 25


def test_a_failing_candidate_is_counted_and_changes_nothing(pair):
    router, runners = pair

    def broken(reading):
        raise RuntimeError("candidate bug")

    bad = Router({"1": runners["1"], "2": _runner("2", broken)})
    bad.set_shadow("2", 1.0)
    assert all(bad.infer(22.0).ok for _ in range(10))
    d = _settled(bad.shadow)
    assert (d["failed"], d["compared"], d["by_status"]) == (10, 0, {"RuntimeError": 10})
    bad.close()


@pytest.mark.parametrize("version, fraction, error, match", [
    ("3", 0.5, InvalidArgument, "unknown version"),
    ("2", 1.5, InvalidArgument, "fraction"),
    ("2", float("nan"), InvalidArgument, "fraction"),
    ("2", True, TypeError, "fraction"),
])
def test_bad_shadow_settings_are_refused(pair, version, fraction, error, match):
    router, _ = pair
    with pytest.raises(error, match=match):
        router.set_shadow(version, fraction)
    assert router.shadow is None and router.infer(22.0).ok


@pytest.mark.parametrize("tolerance, error", [
    (float("nan"), InvalidArgument), (-1.0, InvalidArgument), (float("inf"), InvalidArgument),
    ("0.1", TypeError), (True, TypeError)])
def test_a_bad_tolerance_is_refused_and_the_shadow_left_as_it_was(pair, tolerance, error):
    router, _ = pair
    router.set_shadow("2", 0.5)
    before = router.shadow
    with pytest.raises(error, match="tolerance"):
        router.set_shadow("2", 1.0, tolerance=tolerance)
    assert router.shadow is before
    router.infer(22.0)
    router.infer(22.0)
    assert _settled(router.shadow)["sent"] == 1            # still half the calls


# ---------------------------------------------------------------- infer_background

def test_infer_background_hands_the_result_to_the_callback():
    r = _runner("1")
    got, done = [], threading.Event()
    assert r.infer_background(lambda out, raised: (got.append((out, raised)), done.set()),
                              22.0, seed=9) is True
    assert done.wait(5)
    (out, raised), = got
    assert raised is False and out.value == r.infer(22.0, seed=9).value
    r.close()


def test_a_call_settled_at_admission_reaches_the_callback_at_once():
    r = _runner("1", schema=Schema({"reading": Finite()}))
    got = []
    assert r.infer_background(lambda out, raised: got.append((out, raised)), "hot") is False
    assert len(got) == 1 and got[0][1] is True and isinstance(got[0][0], fp.ValidationError)
    r.breaker.force_open()
    assert r.infer_background(lambda out, raised: got.append((out, raised)), 1.0) is False
    assert isinstance(got[1][0], fp.CircuitOpenError)
    r.close()


def test_a_full_queue_refuses_a_background_call_at_once():
    gate = threading.Event()

    def model(x):
        gate.wait(5)
        return x

    r = _runner("1", model, workers=1, queue_size=0)
    got = []
    assert r.infer_background(lambda out, raised: got.append(raised), 1.0) is True
    assert r.infer_background(lambda out, raised: got.append(out), 2.0) is False
    assert isinstance(got[0], OverloadedError)
    gate.set()
    r.close()


def test_a_raising_callback_is_logged_and_the_worker_survives(caplog):
    r = _runner("1")
    done = threading.Event()

    def bad(out, raised):
        done.set()
        raise ValueError("callback bug")

    r.infer_background(bad, 22.0)
    assert done.wait(5)
    # (the worker logs the failure after the callback has returned)
    end = time.monotonic() + 5
    while time.monotonic() < end and not any(
            "callback raised" in rec.getMessage() for rec in caplog.records):
        time.sleep(0.005)
    assert any("callback raised" in rec.getMessage() for rec in caplog.records)
    got = threading.Event()
    r.infer_background(lambda out, raised: got.set(), 22.0)
    assert got.wait(5)
    r.close()


def test_infer_background_refuses_bad_arguments():
    r = _runner("1")
    with pytest.raises(TypeError, match="callback must be callable"):
        r.infer_background(None, 22.0)
    with pytest.raises(TypeError, match="seed"):
        r.infer_background(lambda o, e: None, 22.0, seed="x")
    r.close()
    with pytest.raises(RuntimeError, match="closed"):
        r.infer_background(lambda o, e: None, 22.0)
