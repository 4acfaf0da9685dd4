"""Router: stable hashing of request keys, weights within their binomial bounds,
atomic weight changes, and the calls it forwards."""

import asyncio
import math
import os
import subprocess
import sys
import textwrap
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fugue_ppl as fp
from fugue_ppl.deploy import Router, key_hash
from fugue_ppl.errors import InvalidArgument
from fugue_ppl.models import sensor
from fugue_ppl.serving import ModelConfig, RunnerConfig

MASK = (1 << 64) - 1


def _reference_hash(data: bytes) -> int:
    # FNV-1a 64 and splitmix64's finaliser, written out independently.
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & MASK
    return h ^ (h >> 31)


def _runner(version, model=sensor):
    return fp.ModelRunner(model, RunnerConfig(model=ModelConfig(version=version)), rng=3)


@pytest.fixture
def router():
    r = Router({"1": _runner("1"), "2": _runner("2")}, weights={"1": 0.9, "2": 0.1})
    yield r
    r.close()


# ---------------------------------------------------------------- the hash

@given(st.text(max_size=40))
def test_the_key_hash_is_fnv1a_of_the_utf8_bytes_mixed(key):
    assert key_hash(key) == _reference_hash(key.encode("utf-8"))
    assert key_hash(key.encode("utf-8")) == key_hash(key)


@given(st.integers(min_value=-10**30, max_value=10**30))
def test_an_int_key_hashes_as_its_decimal_text(key):
    assert key_hash(key) == key_hash(str(key))


def test_the_same_key_picks_the_same_version_in_another_process(router):
    keys = [f"user-{i}" for i in range(200)]
    code = textwrap.dedent(f"""
        import fugue_ppl as fp
        from fugue_ppl.deploy import Router
        from fugue_ppl.models import sensor
        from fugue_ppl.serving import ModelConfig, RunnerConfig
        def runner(v):
            return fp.ModelRunner(sensor, RunnerConfig(model=ModelConfig(version=v)), rng=1)
        r = Router({{"1": runner("1"), "2": runner("2")}}, weights={{"1": 0.9, "2": 0.1}})
        print("ROUTES", "".join(r.route(k) for k in {keys!r}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "PYTHONHASHSEED": "random"})
    assert out.returncode == 0, out.stderr
    line = [x for x in out.stdout.splitlines() if x.startswith("ROUTES ")][0]
    assert line.split()[1] == "".join(router.route(k) for k in keys)


# ---------------------------------------------------------------- weights

@pytest.mark.parametrize("weights", [{"1": 0.9, "2": 0.1}, {"1": 0.5, "2": 0.5},
                                     {"1": 0.99, "2": 0.01}, {"1": 1 / 3, "2": 2 / 3}])
def test_keys_split_within_the_binomial_bounds_of_the_weights(router, weights):
    router.set_weights(weights)
    n = 100_000
    for source in ([router.route(f"session-{i}") for i in range(n)],
                   [router.route() for _ in range(n)]):
        p = weights["2"]
        got = source.count("2")
        assert abs(got - n * p) <= 4.5 * math.sqrt(n * p * (1 - p))


def test_a_growing_share_keeps_the_keys_it_had(router):
    keys = [f"u{i}" for i in range(20_000)]
    before = {k for k in keys if router.route(k) == "2"}
    for share in (0.25, 0.5, 1.0):
        router.set_weights({"1": 1.0 - share, "2": share})
        now = {k for k in keys if router.route(k) == "2"}
        assert before <= now
        before = now
    assert len(before) == len(keys)


def test_versions_without_weight_get_no_traffic(router):
    router.set_weights({"2": 1.0})
    assert {router.route(f"k{i}") for i in range(2000)} == {"2"}
    assert {router.route() for _ in range(2000)} == {"2"}
    assert dict(router.weights) == {"1": 0.0, "2": 1.0}
    router.set_weights({"1": 0.0, "2": 1.0})
    assert router.route("any") == "2"


def test_the_default_sends_everything_to_the_first_version():
    r = Router({"a": _runner("a"), "b": _runner("b")})
    assert dict(r.weights) == {"a": 1.0, "b": 0.0}
    assert {r.route(f"k{i}") for i in range(500)} == {"a"}


def test_a_weight_change_is_atomic_for_concurrent_calls(router):
    stop = threading.Event()
    seen, errors = set(), []

    def caller():
        try:
            while not stop.is_set():
                seen.add(router.infer(22.0).model_version)
        except BaseException as exc:      # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(300):
        router.set_weights({"1": 1.0} if i % 2 else {"2": 1.0})
    router.set_weights({"2": 1.0})
    stop.set()
    for t in threads:
        t.join(10)
    assert errors == [] and seen == {"1", "2"}
    assert {router.infer(22.0).model_version for _ in range(200)} == {"2"}


# ---------------------------------------------------------------- forwarded calls

def test_the_result_carries_the_version_its_key_picked(router):
    for i in range(200):
        key = f"user-{i}"
        res = router.infer(22.0, key=key)
        assert res.ok and res.model_version == router.route(key)


def test_seed_and_keyword_arguments_reach_the_runner():
    def model(reading, *, scale=1.0):
        return scale * fp.sample("t", fp.Normal(reading, 1.0))

    runners = {"1": _runner("1", model), "2": _runner("2", model)}
    r = Router(runners, weights={"1": 0.5, "2": 0.5})
    key = "user-7"
    version = r.route(key)
    a = r.infer(22.0, key=key, seed=11, scale=2.0)
    b = runners[version].infer(22.0, seed=11, scale=2.0)
    assert a.value == b.value and a.model_version == version
    c = r.infer(22.0, seed=11, key=key)           # key in any keyword position
    assert c.value == runners[version].infer(22.0, seed=11).value
    assert r.infer(reading=22.0, key=key).ok


def test_async_calls_are_routed_too(router):
    async def main():
        return [await router.infer_async(22.0, key=f"u{i}") for i in range(20)]
    results = asyncio.run(main())
    assert [res.model_version for res in results] == [router.route(f"u{i}") for i in range(20)]


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("runners, error, match", [
    ({}, InvalidArgument, "at least one version"),
    ([("1", None)], TypeError, "runners must be a mapping"),
    ({"1": object()}, TypeError, r"runners\['1'\] must be a ModelRunner"),
    ({"1": "runner"}, TypeError, r"runners\['1'\] must be a ModelRunner"),
    ({1: None}, TypeError, "runners must be a str"),
])
def test_bad_runners_are_refused(runners, error, match):
    with pytest.raises(error, match=match):
        Router(runners)


def test_a_runner_of_another_version_is_refused():
    with pytest.raises(InvalidArgument, match=r"runners\['2'\].*must serve version '2'"):
        Router({"2": _runner("1")})


@pytest.mark.parametrize("weights, error, match", [
    ({"1": 0.5, "2": 0.4}, InvalidArgument, "must sum to 1"),
    ({"1": 1.5, "2": -0.5}, InvalidArgument, r"weights\['2'\] must be finite and >= 0"),
    ({"1": float("nan"), "2": 1.0}, InvalidArgument, "must be finite"),
    ({"1": float("inf")}, InvalidArgument, "must be finite"),
    ({"3": 1.0}, InvalidArgument, "unknown version"),
    ({"1": True}, TypeError, r"weights\['1'\] must be a real number, got bool"),
    ({"1": "1.0"}, TypeError, "must be a real number, got str"),
    ([("1", 1.0)], TypeError, "weights must be a mapping"),
    ({}, InvalidArgument, "must sum to 1"),
])
def test_bad_weights_are_refused_and_the_old_ones_kept(router, weights, error, match):
    with pytest.raises(error, match=match):
        router.set_weights(weights)
    assert dict(router.weights) == {"1": 0.9, "2": 0.1}
    assert router.infer(22.0, key="k").ok


@pytest.mark.parametrize("key", [1.5, None.__class__, ("a",), ["a"], True])
def test_a_key_of_the_wrong_type_is_refused(router, key):
    with pytest.raises(TypeError, match="key must be a str, bytes or an int"):
        router.infer(22.0, key=key)
    with pytest.raises(TypeError, match="key must be"):
        router.route(key)


def test_an_int_key_too_long_to_write_out_is_refused_by_name(router):
    with pytest.raises(InvalidArgument, match=r"key must be an int of at most \d+ digits"):
        router.route(10 ** 5000)
    with pytest.raises(InvalidArgument, match="key must be an int"):
        router.infer(22.0, key=-(10 ** 5000))
    assert router.infer(22.0, key=10 ** 4000).ok            # within the limit: routed


def test_a_second_init_is_refused(router):
    with pytest.raises(RuntimeError, match="initialised"):
        router.__init__({"1": _runner("1")})
    assert dict(router.weights) == {"1": 0.9, "2": 0.1}
