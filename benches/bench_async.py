"""Asynchronous calls: what ``await ModelRunner.infer_async`` costs.

The hand-off to a worker thread and back to the event loop dominates a small
model's run. Measured on the sensor model, awaited one call at a time from a
running loop, against the synchronous ``infer`` (the hand-off's price) and
against handing ``infer`` to a thread the standard way,
``loop.run_in_executor`` with a ``ThreadPoolExecutor``. Both are reported, not
judged: a thread's wake-up time is bimodal on a small shared machine (the
fastest rounds of either side land in one mode or the other from run to run),
so neither the minimum nor the median is a stable ratio.
"""

import asyncio
import concurrent.futures

import pytest

import fugue_ppl as fp
from fugue_ppl.models import sensor

SEED = 20240611
READING = 22.0
CALLS = 50


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _runner():
    return fp.ModelRunner(sensor, rng=SEED, deadline=1.0, fallback=(20.0, True))


@pytest.mark.benchmark(group="async: sensor")
def test_async_sensor_infer(bench):
    infer = _runner().infer

    def calls():
        for _ in range(CALLS):
            infer(READING)
    bench(calls)


@pytest.mark.benchmark(group="async: sensor")
def test_async_sensor_infer_async(bench, loop):
    runner = _runner()
    infer_async = runner.infer_async

    async def calls():
        for _ in range(CALLS):
            await infer_async(READING)
    bench(lambda: loop.run_until_complete(calls()))
    runner.close()
    assert runner.metrics.error_count == 0 and runner.workers.abandoned == 0


@pytest.mark.benchmark(group="async: sensor")
def test_async_sensor_run_in_executor(bench, loop):
    infer = _runner().infer
    executor = concurrent.futures.ThreadPoolExecutor(8)

    async def calls():
        for _ in range(CALLS):
            await loop.run_in_executor(executor, infer, READING)
    bench(lambda: loop.run_until_complete(calls()))
    executor.shutdown()


def test_ratio_infer_async_vs_infer(compare):
    compare("test_async_sensor_infer_async", "test_async_sensor_infer", kind="slowdown",
            target=None, description="sensor: infer_async vs infer (the thread hand-off)")


def test_ratio_infer_async_vs_run_in_executor(compare):
    compare("test_async_sensor_infer_async", "test_async_sensor_run_in_executor",
            kind="slowdown", target=None,
            description="sensor: infer_async vs loop.run_in_executor(infer)")
