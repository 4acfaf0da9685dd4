"""``fugue-ppl batch`` (fugue_ppl._cli_batch), run through its argparse parser: JSON lines
round trips, per-record failures, the exit statuses and the messages of a refused run."""

import argparse
import dataclasses
import json

import pytest

from fugue_ppl import _cli_batch
from fugue_ppl.serving import RunnerSpec, infer_many


def _run(*argv):
    parser = argparse.ArgumentParser(prog="fugue-ppl")
    _cli_batch.add_parser(parser.add_subparsers(dest="command"))
    return _cli_batch.run(parser.parse_args(["batch", *argv]))


def _records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


SENSOR = RunnerSpec("fugue_ppl.models:sensor", schema="fugue_ppl.models:SENSOR_SCHEMA")


def test_a_jsonl_batch_round_trips_with_the_library_results(tmp_path, capsys):
    requests = [{"reading": 20.0 + i} for i in range(7)]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in requests), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert _run(str(src), str(out), "--seed", "3", "--chunk-size", "2") == 0
    records = _records(out)
    assert [r["index"] for r in records] == list(range(7))
    # The batch seed is the runner's base seed too: the records are the library's for a
    # runner seeded with it, whatever the chunking.
    assert records == infer_many(dataclasses.replace(SENSOR, seed=3), requests, seed=3)
    assert {r["status"] for r in records} == {"ok"}
    assert all(isinstance(r["value"][0], float) and isinstance(r["value"][1], bool)
               for r in records)
    out2 = tmp_path / "out2.jsonl"
    assert _run(str(src), str(out2), "--seed", "3", "--chunk-size", "5") == 0
    assert _records(out2) == records
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"fugue-ppl batch: 7 records, 7 served, 0 failed; written to {out2}")


def test_bad_records_fail_alone_with_their_index(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"reading": 21.0}\n'
                   '{"reading": NaN}\n'
                   'not json\n'
                   '\n'
                   '[22.0]\n'
                   '"22.0"\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert _run(str(src), str(out), "--seed", "1") == 3
    records = _records(out)
    assert [(r["index"], r["status"]) for r in records] == [
        (0, "ok"), (1, "invalid"), (2, "invalid"), (3, "ok"), (4, "invalid")]
    assert records[1]["error"]["message"] == ("invalid input: reading: must be finite (not NaN "
                                              "or infinite) (rule finite, got nan)")
    assert records[2]["error"]["kind"] == "invalid_input"
    assert records[2]["error"]["message"].startswith("line 3 is not JSON (Expecting value")
    assert records[4]["error"]["message"] == (
        "record 4 is a str, not a mapping of keyword arguments nor a list of positional "
        "arguments")
    assert "traceback" not in out.read_text(encoding="utf-8").lower()
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        "fugue-ppl batch: 5 records, 2 served, 3 failed")


def test_a_model_by_import_path_runs_in_worker_processes(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(f'[{x}.5]\n' for x in range(5)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert _run(str(src), str(out), "--model", "fugue_ppl.models:sensor_prior", "--seed", "8",
                "--workers", "2", "--chunk-size", "2") == 0
    records = _records(out)
    assert [r["status"] for r in records] == ["ok"] * 5
    assert records[0]["model_version"] == "1"
    assert all(len(r["value"]) == 2 for r in records)


@pytest.mark.parametrize(("argv", "message"), [
    (["in.csv", "out.jsonl"], "INPUT 'in.csv' must end in .jsonl or .parquet"),
    (["missing.jsonl", "out.jsonl"], "INPUT 'missing.jsonl' cannot be read (FileNotFoundError"),
    (["in.jsonl", "out.jsonl", "--model", "fugue_ppl.models:nothing"],
     "the model cannot be loaded (model 'fugue_ppl.models:nothing': module "
     "'fugue_ppl.models' has no 'nothing')"),
    (["in.jsonl", "out.jsonl", "--model", "sensor"],
     "the model cannot be loaded (model 'sensor' is not an import path "
     "'package.module:function')"),
])
def test_a_refused_run_exits_1_with_one_message(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text('{"reading": 1.0}\n', encoding="utf-8")
    assert _run(*argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fugue-ppl batch: {message}"), err
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("argv", [["a.jsonl", "b.jsonl", "--chunk-size", "0"],
                                  ["a.jsonl", "b.jsonl", "--seed", "-1"],
                                  ["a.jsonl", "b.jsonl", "--workers", "2", "--scheduler", "x"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        _run(*argv)
    assert info.value.code == 2
    assert "fugue-ppl batch: error:" in capsys.readouterr().err


def test_parquet_without_pyarrow_is_a_clear_error(tmp_path, capsys):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pyarrow is installed (the round trip is tested instead)")
    (tmp_path / "in.jsonl").write_text('{"reading": 1.0}\n', encoding="utf-8")
    assert _run(str(tmp_path / "in.jsonl"), str(tmp_path / "out.parquet")) == 1
    assert capsys.readouterr().err == (
        "fugue-ppl batch: Parquet needs pyarrow, which is not installed: pip install pyarrow "
        "(or use .jsonl files)\n")


def test_a_parquet_batch_round_trips(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"reading": [21.0, float("nan"), 23.0]}), src)
    out = tmp_path / "out.parquet"
    assert _run(str(src), str(out), "--seed", "2") == 3
    rows = pq.read_table(out).to_pylist()
    assert [(r["index"], r["status"]) for r in rows] == [(0, "ok"), (1, "invalid"), (2, "ok")]
    expected = infer_many(dataclasses.replace(SENSOR, seed=2), [{"reading": 21.0}], seed=2)
    assert json.loads(rows[0]["value"]) == expected[0]["value"]
    assert rows[1]["error_kind"] == "invalid_request" and rows[1]["error_code"] == 700
