"""Structured inference logs: one event per sampled inference, JSON through python-json-logger."""

import io
import json
import logging
import threading

import pytest

import fugue_ppl as fp
from fugue_ppl.config import load_config
from fugue_ppl.models import sensor
from fugue_ppl.serving import RunnerConfig, RuntimeConfig
from fugue_ppl.serving.logs import FIELDS, INFERENCE_LOGGER, json_handler, request_id


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def events():
    log = logging.getLogger(INFERENCE_LOGGER)
    handler, level = Collect(), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield handler.records
    log.removeHandler(handler)
    log.setLevel(level)


def _runner(model=sensor, rate=1.0, level="INFO", **kwargs):
    cfg = RunnerConfig(runtime=RuntimeConfig(inference_log_rate=rate, inference_log_level=level,
                                             max_inference_time=kwargs.pop("deadline", 1.0)))
    return fp.ModelRunner(model, cfg, rng=1, **kwargs)


def _fields(record):
    return {f: getattr(record, f) for f in FIELDS}


def test_every_inference_is_one_event_with_its_fields(events):
    runner = _runner()
    token = request_id.set("req-42")
    try:
        res = runner.infer(22.0)
    finally:
        request_id.reset(token)
    (rec,) = events
    assert rec.getMessage() == "inference" and rec.levelno == logging.INFO
    f = _fields(rec)
    assert f["request_id"] == "req-42" and f["model"] == "default"
    assert f["model_version"] == "1" and f["status"] == "ok" and f["error_id"] is None
    assert 0 < f["duration_seconds"] <= res.duration + 1e-3


def test_failed_calls_carry_their_status_and_error_id(events):
    def failing(x):
        fp.sample("t", fp.Normal(0.0, 1.0))
        raise RuntimeError("down")

    def slow(x):
        for i in range(100_000):
            fp.sample(fp.addr("t", i), fp.Normal(0.0, 1.0))

    with_fallback = _runner(failing, fallback=0.0)
    res = with_fallback.infer(1.0)
    raising = _runner(failing)
    with pytest.raises(RuntimeError) as info:
        raising.infer(1.0)
    timed = _runner(slow, fallback=0.0, deadline=0.001)
    late = timed.infer(1.0)
    statuses = [(r.status, r.error_id) for r in events]
    assert statuses == [("fallback", res.error_id), ("error", info.value.fugue_error_id),
                        ("timeout", late.error_id)]
    assert all(_fields(r)["request_id"] is None for r in events)


def test_the_rate_samples_evenly_and_zero_logs_nothing(events):
    runner = _runner(rate=0.25)
    for _ in range(100):
        runner.infer(22.0)
    assert len(events) == 25
    events.clear()
    quiet = fp.ModelRunner(sensor, rng=1)          # the default: off
    for _ in range(100):
        quiet.infer(22.0)
    assert events == []


def test_the_level_is_configurable_and_the_logger_level_filters(events):
    runner = _runner(level="debug")
    runner.infer(22.0)
    assert [r.levelno for r in events] == [logging.DEBUG]
    logging.getLogger(INFERENCE_LOGGER).setLevel(logging.INFO)
    runner.infer(22.0)
    assert len(events) == 1


def test_threads_log_one_event_per_call(events):
    runner = _runner()

    def work(i):
        token = request_id.set(f"t{i}")
        for _ in range(200):
            runner.infer(22.0)
        request_id.reset(token)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(events) == 800
    assert sorted({r.request_id for r in events}) == ["t0", "t1", "t2", "t3"]


def test_json_lines_through_python_json_logger():
    stream = io.StringIO()
    log = logging.getLogger(INFERENCE_LOGGER)
    handler, level = json_handler(stream), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        token = request_id.set("abc")
        _runner().infer(22.0)
        request_id.reset(token)
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    (line,) = stream.getvalue().splitlines()
    doc = json.loads(line)
    assert doc["message"] == "inference" and doc["level"] == "INFO"
    assert doc["logger"] == INFERENCE_LOGGER and doc["request_id"] == "abc"
    assert doc["status"] == "ok" and doc["error_id"] is None
    assert doc["timestamp"].startswith("20") and "T" in doc["timestamp"]
    assert set(FIELDS) <= set(doc)


@pytest.mark.parametrize("key, value, message", [
    ("inference_log_rate", 1.5, "inference_log_rate must be in [0, 1], got 1.5"),
    ("inference_log_rate", -0.1, "inference_log_rate must be in [0, 1], got -0.1"),
    ("inference_log_rate", float("nan"), "inference_log_rate must be in [0, 1], got nan"),
    ("inference_log_rate", 10**400, "inference_log_rate must be in [0, 1]"),
    ("inference_log_level", "LOUD", "inference_log_level must be one of"),
    ("inference_log_level", "INFO\nforged", "inference_log_level must be one of"),
])
def test_bad_settings_are_refused_naming_them(key, value, message):
    with pytest.raises(fp.errors.InvalidArgument) as info:
        RuntimeConfig(**{key: value})
    assert message in str(info.value)


def test_the_settings_come_from_the_configuration_layers(events):
    cfg = load_config(env={"FUGUE_RUNTIME__INFERENCE_LOG_RATE": "1",
                           "FUGUE_RUNTIME__INFERENCE_LOG_LEVEL": "warning"})
    assert cfg.runtime.inference_log_rate == 1.0
    assert cfg.runtime.inference_log_level == "WARNING"
    fp.ModelRunner(sensor, cfg, rng=1).infer(22.0)
    assert [r.levelno for r in events] == [logging.WARNING]


def test_asynchronous_calls_log_their_callers_ids_from_the_worker_thread(events):
    import asyncio

    from fugue_ppl.serving.logs import traceparent

    runner = _runner()
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    async def call(i):
        request_id.set(f"a{i}")
        traceparent.set(parent if i % 2 else None)
        return await runner.infer_async(22.0)

    async def main():
        return await asyncio.gather(*(call(i) for i in range(6)))

    results = asyncio.run(main())
    runner.close()
    assert [r.status for r in results] == ["ok"] * 6
    seen = sorted((r.request_id, r.traceparent) for r in events)
    assert seen == [(f"a{i}", parent if i % 2 else None) for i in range(6)]
    assert all(r.threadName != threading.main_thread().name for r in events)
