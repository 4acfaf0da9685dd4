"""Batch inference (fugue_ppl.serving.batch): per-record results and failures, seeds that
do not depend on the chunking or the executor, and scale-out on threads, processes and a
real Dask distributed cluster, where a killed worker's chunk is retried."""

import concurrent.futures as cf
import multiprocessing
import os
import sys
import textwrap

import pytest

import fugue_ppl as fp
from fugue_ppl.errors import InvalidArgument, ModelImportError
from fugue_ppl.models import SENSOR_SCHEMA, sensor
from fugue_ppl.serving import RunnerSpec, infer_many
from fugue_ppl.serving.batch import record_keys

MODELS = "fugue_batch_models"
# Models the worker processes import by path (written to a directory on their sys.path).
SOURCE = textwrap.dedent('''\
    import os
    import time

    import fugue_ppl as fp


    def picky(x):
        """Fails on negative inputs; else x plus a standard normal draw."""
        if x < 0:
            raise ValueError(f"negative input {x}")
        return x + fp.sample("z", fp.Normal(0.0, 1.0))


    def crash_once(x, marker):
        """Kills its process the first time it runs on x == 3 (the marker file records it)."""
        if x == 3 and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        time.sleep(0.01)
        return x + fp.sample("z", fp.Normal(0.0, 1.0))
''')


@pytest.fixture(scope="module")
def models_dir(module_on_path):
    return module_on_path(MODELS, SOURCE)


@pytest.fixture(scope="module")
def process_pool(models_dir):
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.fixture(scope="module")
def dask_client(models_dir):
    pytest.importorskip("distributed")
    import dask
    from distributed import Client, LocalCluster

    # A worker's death fails its tasks at once (KilledWorker) instead of the scheduler
    # retrying them itself, so that infer_many's own retry is what is tested.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield client


SENSOR = RunnerSpec("fugue_ppl.models:sensor", schema="fugue_ppl.models:SENSOR_SCHEMA",
                    seed=11)
READINGS = [{"reading": 20.0 + 0.5 * i} for i in range(23)]


def _picky(models_dir):
    return RunnerSpec(f"{MODELS}:picky", seed=11)


# ---------------------------------------------------------------- records

def test_each_input_gives_one_record_in_order_with_its_seeded_value():
    records = infer_many(SENSOR, READINGS, seed=5, chunk_size=4)
    assert [r["index"] for r in records] == list(range(len(READINGS)))
    assert {r["status"] for r in records} == {"ok"} and all(r["error"] is None for r in records)
    assert {r["model_version"] for r in records} == {"1"}
    # Record i is the runner's run keyed by record_keys(5, n)[i].
    runner = fp.ModelRunner(sensor, schema=SENSOR_SCHEMA, rng=11)
    keys = record_keys(5, len(READINGS))
    for r, inp, key in zip(records, READINGS, keys, strict=True):
        temp, valid = runner.infer(**inp, seed=key).value
        assert r["value"] == [temp, valid]


def test_failures_are_per_record_with_their_index(models_dir):
    inputs = [{"reading": 21.0}, {"reading": float("nan")}, "21.0", [22.0], {"reading": "x"},
              {"reading": 21.0, "seed": 3}, None, (23.0,)]
    records = infer_many(SENSOR, inputs, seed=1, chunk_size=3)
    assert [(r["index"], r["status"]) for r in records] == [
        (0, "ok"), (1, "invalid"), (2, "invalid"), (3, "ok"), (4, "invalid"), (5, "invalid"),
        (6, "invalid"), (7, "ok")]
    errors = {r["index"]: r["error"] for r in records if r["error"]}
    assert errors[1] == {"kind": "invalid_request", "code": 700, "message":
                         "invalid input: reading: must be finite (not NaN or infinite) "
                         "(rule finite, got nan)"}
    assert errors[2] == {"kind": "invalid_input", "message":
                         "record 2 is a str, not a mapping of keyword arguments nor a list "
                         "of positional arguments"}
    assert errors[4]["message"] == ("invalid input: reading: must be a real number, got str "
                                    "(rule finite, got 'x')")
    assert errors[5]["message"] == ("record 5: a field named 'seed' is not allowed (the batch "
                                    "sets each record's seed)")
    assert errors[6]["message"].startswith("record 6 is a NoneType")
    assert all(r["value"] is None for r in records if r["error"])

    picky = infer_many(_picky(models_dir), [[1.0], [-2.0], [3.0]], seed=1)
    assert [r["status"] for r in picky] == ["ok", "error", "ok"]
    assert picky[1]["error"] == {"kind": "model_error", "code": 900,
                                 "message": "ValueError: negative input -2.0"}


def test_a_model_runner_runs_in_place_and_on_threads():
    runner = fp.ModelRunner(sensor, schema=SENSOR_SCHEMA, rng=11)
    local = infer_many(runner, READINGS, seed=5, chunk_size=5)
    with cf.ThreadPoolExecutor(3) as pool:
        threaded = infer_many(runner, READINGS, seed=5, chunk_size=2, executor=pool)
    assert threaded == local == infer_many(SENSOR, READINGS, seed=5)
    assert local != infer_many(runner, READINGS, seed=6)
    # the runner's own method is the same function
    assert runner.infer_many(READINGS, seed=5, chunk_size=3) == local


def test_progress_is_reported_after_each_chunk():
    seen = []
    infer_many(SENSOR, READINGS, seed=5, chunk_size=10, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(10, 23), (20, 23), (23, 23)]


# ---------------------------------------------------------------- executors

def test_the_results_do_not_depend_on_the_chunking_or_the_executor(process_pool, dask_client,
                                                                    models_dir):
    inputs = [*READINGS[:10], {"reading": float("inf")}, *READINGS[10:]]
    reference = infer_many(SENSOR, inputs, seed=5, chunk_size=len(inputs))
    assert reference[10]["status"] == "invalid"
    with cf.ThreadPoolExecutor(2) as pool:
        assert infer_many(SENSOR, inputs, seed=5, chunk_size=3, executor=pool) == reference
    assert infer_many(SENSOR, inputs, seed=5, chunk_size=4, executor=process_pool) == reference
    dask_executor = dask_client.get_executor()
    assert infer_many(SENSOR, inputs, seed=5, chunk_size=5, executor=dask_executor) == reference

    picky = _picky(models_dir)
    xs = [[float(x)] for x in range(-3, 9)]
    expected = infer_many(picky, xs, seed=2)
    assert [r["status"] for r in expected] == ["error"] * 3 + ["ok"] * 9
    assert infer_many(picky, xs, seed=2, chunk_size=5, executor=dask_executor) == expected


def test_a_model_runner_is_sent_to_processes_and_dask_workers(process_pool, dask_client,
                                                              models_dir):
    # A runner pickles (its configuration and seed); each worker process keeps one copy
    # per batch, a fresh runner: the records equal the in-process ones.
    runner = fp.ModelRunner(sensor, schema=SENSOR_SCHEMA, rng=11,
                            site_fallbacks={"valid": True})
    inputs = [*READINGS[:7], {"reading": float("nan")}, *READINGS[7:]]
    reference = infer_many(runner, inputs, seed=5)
    assert reference == infer_many(SENSOR, inputs, seed=5)
    assert reference[7]["status"] == "invalid"
    counted = runner.metrics.inference_count
    assert infer_many(runner, inputs, seed=5, chunk_size=4, executor=process_pool) == reference
    dask_executor = dask_client.get_executor()
    assert infer_many(runner, inputs, seed=5, chunk_size=5, executor=dask_executor) == reference
    # the calls ran on the copies: the caller's runner counted none of them
    assert runner.metrics.inference_count == counted

    # a runner of a model the workers import by name, with a fallback
    mod = __import__(MODELS)
    picky = fp.ModelRunner(mod.picky, rng=11, fallback=-1.0)
    xs = [[float(x)] for x in range(-3, 9)]
    expected = infer_many(picky, xs, seed=2)
    assert [r["status"] for r in expected] == ["fallback"] * 3 + ["ok"] * 9
    assert [r["value"] for r in expected[:3]] == [-1.0] * 3
    assert expected[0]["error"]["kind"] == "model_error"
    assert infer_many(picky, xs, seed=2, chunk_size=5, executor=dask_executor) == expected
    assert infer_many(picky, xs, seed=2, chunk_size=3, executor=process_pool) == expected


def test_a_runner_that_does_not_load_in_the_worker_fails_its_records(process_pool, tmp_path):
    # The model's module is importable here but not in the workers.
    d = tmp_path / "only_here"
    d.mkdir()
    (d / "fugue_only_here.py").write_text(textwrap.dedent("""\
        import fugue_ppl as fp

        def model(x):
            return x + fp.sample("z", fp.Normal(0.0, 1.0))
    """), encoding="utf-8")
    sys.path.insert(0, str(d))
    try:
        mod = __import__("fugue_only_here")
        runner = fp.ModelRunner(mod.model, rng=1)
        records = infer_many(runner, [[1.0], [2.0]], seed=1, executor=process_pool)
    finally:
        sys.path.remove(str(d))
        sys.modules.pop("fugue_only_here", None)
    assert [(r["index"], r["status"]) for r in records] == [(0, "error"), (1, "error")]
    error = records[0]["error"]
    assert error["kind"] == "model_import_error"
    assert error["message"].startswith("the runner could not be unpickled in this process: "
                                       "ModuleNotFoundError: ")
    assert "fugue_only_here" in error["message"]


def test_a_killed_dask_worker_has_its_chunk_retried(dask_client, models_dir, tmp_path):
    spec = RunnerSpec(f"{MODELS}:crash_once", seed=4)
    marker = str(tmp_path / "killed")
    xs = [[float(x), marker] for x in range(8)]
    records = infer_many(spec, xs, seed=9, chunk_size=2, executor=dask_client.get_executor())
    assert os.path.exists(marker)              # a worker did die, on record 3
    assert [r["status"] for r in records] == ["ok"] * 8
    assert records == infer_many(spec, xs, seed=9)     # the marker now exists: no crash

    # Without retries, the killed chunk's records are reported (and those of any chunk
    # queued on the same worker, which died with it); the others are served.
    reference = records
    os.remove(marker)
    records = infer_many(spec, xs, seed=9, chunk_size=2, retries=0,
                         executor=dask_client.get_executor())
    assert [r["index"] for r in records] == list(range(8))
    assert [r["status"] for r in records[2:4]] == ["error"] * 2
    for r, ref in zip(records, reference, strict=True):
        assert r == ref or (r["status"] == "error" and r["error"]["kind"] == "chunk_failed")
    assert records[3]["error"]["message"].startswith(
        "the chunk of records 2..3 failed 1 time(s) (KilledWorker: ")


def test_a_broken_process_pool_is_reported_per_record(models_dir, tmp_path):
    # The pool cannot be resubmitted to once a worker died: every record says so.
    spec = RunnerSpec(f"{MODELS}:crash_once", seed=4)
    xs = [[float(x), str(tmp_path / "m")] for x in range(6)]
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        records = infer_many(spec, xs, seed=9, chunk_size=2, executor=pool)
    assert [r["index"] for r in records] == list(range(6))
    assert records[2]["status"] == "error" and records[2]["error"]["kind"] == "chunk_failed"
    assert "BrokenProcessPool" in records[2]["error"]["message"]


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"chunk_size": 0}, InvalidArgument, "chunk_size"),
    ({"chunk_size": 1.5}, InvalidArgument, "chunk_size"),
    ({"executor": "dask"}, TypeError,
     "infer_many: executor must be a concurrent.futures.Executor or None"),
    ({"seed": -1}, InvalidArgument, "seed"),
    ({"retries": -1}, InvalidArgument, "retries"),
    ({"progress": 3}, TypeError, "infer_many: progress must be a callable"),
])
def test_bad_arguments_are_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message) as info:
        infer_many(SENSOR, READINGS, **kwargs)
    if error is InvalidArgument:
        assert info.value.parameter == message


def test_inputs_and_runner_of_the_wrong_type_are_refused():
    with pytest.raises(TypeError, match="infer_many: inputs must be a sequence .*, got str"):
        infer_many(SENSOR, "22.0")
    with pytest.raises(TypeError, match="infer_many: inputs must be a sequence .*, got generator"):
        infer_many(SENSOR, ({"reading": r} for r in (1.0, 2.0)))
    with pytest.raises(TypeError, match="infer_many: runner must be a ModelRunner or a "
                                        "RunnerSpec, got function"):
        infer_many(sensor, READINGS)
    runner = fp.ModelRunner(lambda reading: reading, rng=1)
    with cf.ProcessPoolExecutor(1) as pool, pytest.raises(
            TypeError, match=r"^infer_many: runner cannot be sent to a ProcessPoolExecutor "
                             r"\(ModelRunner does not pickle: its model "
                             r"'.*test_batch\..*<lambda>' cannot be pickled .*\); or describe "
                             r"it with a RunnerSpec$"):
        infer_many(runner, READINGS, executor=pool)
    with cf.ThreadPoolExecutor(1) as pool:      # (threads share the runner: no pickle)
        assert infer_many(runner, [[1.0]], executor=pool)[0]["value"] == 1.0


def test_a_spec_is_checked_before_anything_is_imported():
    with pytest.raises(ModelImportError, match="model 'os:system' is outside the allowed "
                                               "module prefixes \\(fugue_ppl.models\\)"):
        RunnerSpec("os:system", allowed_prefixes=("fugue_ppl.models",))
    with pytest.raises(ModelImportError, match="is not an import path"):
        RunnerSpec("fugue_ppl.models.sensor")
    with pytest.raises(TypeError, match="RunnerSpec: model must be an import path"):
        RunnerSpec(sensor)
    with pytest.raises(InvalidArgument, match="seed"):
        RunnerSpec("fugue_ppl.models:sensor", seed=-2)
    spec = RunnerSpec("fugue_ppl.models:sensor",
                      config={"model": {"name": "s", "version": "7"}})
    assert spec.config.model.version == "7" and spec.build().version == "7"
    with pytest.raises(ModelImportError, match="has no 'nothing'"):
        infer_many(RunnerSpec("fugue_ppl.models:nothing"), READINGS)
