"""Routing: ``Router.infer`` with two live versions against one version's
``ModelRunner.infer``, on the sensor model, each call with a request key.
Target: at most 1.25x (the hash and the choice add to the same pipeline)."""

import pytest

import fugue_ppl as fp
from fugue_ppl.deploy import Router
from fugue_ppl.models import sensor
from fugue_ppl.serving import ModelConfig, RunnerConfig

SEED = 20240611
READING = 22.0
CALLS = 200
KEYS = [f"user-{i}" for i in range(CALLS)]


def _runner(version):
    return fp.ModelRunner(sensor, RunnerConfig(model=ModelConfig(version=version)), rng=SEED,
                          deadline=1.0, fallback=(20.0, True))


@pytest.mark.benchmark(group="routing: sensor")
def test_router_one_version(bench):
    infer = _runner("1").infer

    def calls():
        for _ in KEYS:
            infer(READING)
    bench(calls)


@pytest.mark.benchmark(group="routing: sensor")
def test_router_two_versions(bench):
    router = Router({"1": _runner("1"), "2": _runner("2")}, weights={"1": 0.9, "2": 0.1})
    infer = router.infer

    def calls():
        for key in KEYS:
            infer(READING, key=key)
    bench(calls)
    assert {router.route(k) for k in KEYS} == {"1", "2"}


def test_ratio_routing(compare):
    compare("test_router_two_versions", "test_router_one_version", kind="slowdown",
            target=1.25, description="sensor: Router.infer (two versions, keyed) vs one runner")
