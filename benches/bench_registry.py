"""The registry's parameter cache: ``ModelRegistry.params(name, version)`` on a
warm cache (a SQLite registry; the store is never asked) against a plain dict
lookup of the same shape (``table[name, version]``, a dict keyed by
``(name, version)`` holding the same read-only parameters).
Target: at most 3x.

Each benchmarked call makes ``CALLS_PER_ROUND`` reads, the bound method
hoisted out of the loop, so the harness's own per-call cost does not blur
the per-read cost.
"""

import pytest

from fugue_ppl.deploy import ModelRegistry

CALLS_PER_ROUND = 1000
PARAMS = {"prior": {"mean": 20.0, "sd": 5.0}, "noise": 1.0}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench-registry") / "registry.sqlite3"
    with ModelRegistry(url=str(path), cache_ttl_seconds=3600.0) as reg:
        reg.register("sensor", "1", "fugue_ppl.models:sensor", actor="bench", params=PARAMS)
        reg.register("sensor", "2", "fugue_ppl.models:sensor", actor="bench")
        yield reg


def _finish(bench):
    if bench.stats is not None:
        bench.extra_info["per_read_s"] = bench.stats.stats.min / CALLS_PER_ROUND


@pytest.mark.benchmark(group="registry: 1000 parameter reads")
def test_registry_cached_params(bench, registry):
    params = registry.params
    name, version = "sensor", "1"
    assert params(name, version) == PARAMS
    misses = registry.cache_stats["misses"]

    def reads():
        for _ in range(CALLS_PER_ROUND):
            params(name, version)
    bench(reads)
    _finish(bench)
    assert registry.cache_stats["misses"] == misses          # every read was a hit


@pytest.mark.benchmark(group="registry: 1000 parameter reads")
def test_dict_lookup(bench, registry):
    table = {("sensor", "1"): registry.params("sensor", "1"),
             ("sensor", "2"): registry.params("sensor", "2")}
    name, version = "sensor", "1"

    def reads():
        for _ in range(CALLS_PER_ROUND):
            table[name, version]
    bench(reads)
    _finish(bench)


def test_ratio_cached_params(compare):
    compare("test_registry_cached_params", "test_dict_lookup", kind="slowdown", target=3.0,
            description="ModelRegistry.params (warm cache) vs a dict lookup")
