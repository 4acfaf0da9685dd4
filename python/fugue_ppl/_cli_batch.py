"""``fugue-ppl batch INPUT OUTPUT``: batch inference from a file to a file.

Reads requests from INPUT (JSON lines, ``.jsonl``: one JSON object of
keyword arguments or one JSON array of positional arguments per line; or
Parquet, ``.parquet``, one row per request, which needs pyarrow), runs them
through :func:`~fugue_ppl.serving.infer_many` with the built-in sensor model
or ``--model package.module:function``, and writes one record per request,
in order, to OUTPUT (same formats: JSON lines as
:func:`~fugue_ppl.serving.infer_many` returns them; Parquet with the value
as a JSON string and the error flattened). A line that is not JSON is a
failed record like any other. ``--workers N`` runs the chunks in N
processes; ``--scheduler ADDRESS`` on a Dask distributed cluster (the
``dask`` extra). A progress bar is drawn on stderr when it is a terminal.

Exit statuses: 0 every record served; 3 some records failed (the output is
complete, each failure in its record); 1 the input cannot be read, the
model cannot be loaded, the configuration is invalid or an extra is
missing; 2 bad arguments.

Examples
--------
.. code-block:: console

    $ printf '{"reading": 22.0}\\n{"reading": 19.5}\\n' > requests.jsonl
    $ fugue-ppl batch requests.jsonl results.jsonl --seed 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fugue_ppl.checks import safe_text
from fugue_ppl.errors import ConfigError, ModelImportError

__all__ = ["add_parser", "run"]

_PROG = "fugue-ppl batch"
# The statuses of a record the model's answer (or its fallback) was served for.
_SERVED = ("ok", "fallback", "degraded", "shed")
_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class _Refused(Exception):
    """A failure of the command as a whole: its message, exit status 1."""


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {safe_text(text, 40)!r}")
    return int(text)


def _seed(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {safe_text(text, 40)!r}")
    return int(text)


def add_parser(sub: Any) -> None:
    """Add ``batch`` to the ``fugue-ppl`` subparsers ``sub``."""
    p = sub.add_parser(
        "batch", help="run many requests from a file (JSON lines or Parquet) into a file",
        description="Run every request of INPUT through the model (validation, circuit "
                    "breaker and metrics as for one request) and write one record per "
                    "request, in order, to OUTPUT. A bad request fails its record only. "
                    "Formats by extension: .jsonl (JSON lines) or .parquet (needs pyarrow).")
    p.add_argument("input", metavar="INPUT", help="the requests (.jsonl or .parquet)")
    p.add_argument("output", metavar="OUTPUT", help="where the records go (.jsonl or .parquet)")
    p.add_argument("--model", metavar="PATH",
                   help="the model's import path, package.module:function (default: the "
                        "built-in sensor model)")
    p.add_argument("--schema", metavar="PATH",
                   help="the input schema's import path (default: the sensor's, with the "
                        "built-in model; none with --model)")
    p.add_argument("--config", metavar="FILE",
                   help="a TOML configuration file ([model], [runtime], [breaker], "
                        "[metrics]); the FUGUE_* environment variables override it")
    p.add_argument("--seed", type=_seed, default=None,
                   help="the batch's seed: the same seed gives the same results, however the "
                        "batch is run (default: fresh entropy)")
    p.add_argument("--chunk-size", type=_positive, default=256,
                   help="requests per task (default: 256)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive, default=None,
                       help="run the chunks in this many processes (default: in this process)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run the chunks on the Dask distributed cluster at ADDRESS (the "
                            "dask extra)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar, even on a terminal")


# ---------------------------------------------------------------- reading and writing

def _format(path: str, what: str) -> str:
    fmt = _FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise _Refused(f"{what} {safe_text(path, 200)!r} must end in .jsonl or .parquet")
    return fmt


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise _Refused("Parquet needs pyarrow, which is not installed: pip install pyarrow "
                       "(or use .jsonl files)") from None
    return pyarrow


class _BadLine:
    """A JSON lines record that did not parse (reported in its record)."""

    def __init__(self, line: int, error: str):
        self.line, self.error = line, error


def _read(path: str, fmt: str) -> list[Any]:
    try:
        if fmt == "parquet":
            pa = _pyarrow()
            return pa.parquet.read_table(path).to_pylist()
        out: list[Any] = []
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError as e:
                    out.append(_BadLine(number, safe_text(e, 120)))
        return out
    except _Refused:
        raise
    except (OSError, UnicodeDecodeError) as e:
        raise _Refused(f"INPUT {safe_text(path, 200)!r} cannot be read "
                       f"({type(e).__name__}: {safe_text(e, 200)})") from None
    except Exception as e:  # noqa: BLE001 - a Parquet file that does not decode
        raise _Refused(f"INPUT {safe_text(path, 200)!r} is not a readable {fmt} file "
                       f"({type(e).__name__}: {safe_text(e, 200)})") from None


def _write(path: str, fmt: str, records: list[dict[str, Any]]) -> None:
    try:
        if fmt == "parquet":
            pa = _pyarrow()
            rows = [{"index": r["index"], "status": r["status"],
                     "value": json.dumps(r["value"]), "model_version": r["model_version"],
                     "error_kind": (r["error"] or {}).get("kind"),
                     "error_code": (r["error"] or {}).get("code"),
                     "error_message": (r["error"] or {}).get("message")} for r in records]
            schema = pa.schema([("index", pa.int64()), ("status", pa.string()),
                                ("value", pa.string()), ("model_version", pa.string()),
                                ("error_kind", pa.string()), ("error_code", pa.int64()),
                                ("error_message", pa.string())])
            pa.parquet.write_table(pa.Table.from_pylist(rows, schema=schema), path)
            return
        with open(path, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
    except _Refused:
        raise
    except OSError as e:
        raise _Refused(f"OUTPUT {safe_text(path, 200)!r} cannot be written "
                       f"({type(e).__name__}: {safe_text(e, 200)})") from None


# ---------------------------------------------------------------- progress

class _Progress:
    """A progress bar on stderr when it is a terminal: tqdm if installed, else one line."""

    def __init__(self, total: int, enabled: bool):
        self.total, self._bar, self._line = total, None, False
        if not enabled or not sys.stderr.isatty():
            return
        try:
            from tqdm import tqdm
        except ImportError:
            self._line = True
        else:
            self._bar = tqdm(total=total, unit="record", desc=_PROG, file=sys.stderr)

    def __call__(self, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
        elif self._line:
            sys.stderr.write(f"\r{_PROG}: {done}/{total} records ({100 * done // max(total, 1)}%)")
            sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._line:
            sys.stderr.write("\n")


# ---------------------------------------------------------------- the command

def _spec(args: argparse.Namespace) -> Any:
    from fugue_ppl.config import load_config
    from fugue_ppl.serving import ModelConfig, RunnerConfig, RunnerSpec

    try:
        config = load_config(args.config)
    except ConfigError as e:
        raise _Refused(str(e)) from None
    if args.model is None:
        model, schema, name = "fugue_ppl.models:sensor", "fugue_ppl.models:SENSOR_SCHEMA", "sensor"
        schema = args.schema or schema
    else:
        model, schema, name = args.model, args.schema, args.model.rpartition(":")[2] or "model"
    rc = RunnerConfig(model=ModelConfig(name=name, version=config.model.version,
                                        params=config.model.params),
                      runtime=config.runtime, breaker=config.breaker, metrics=config.metrics)
    try:
        # The paths come from the command line, so their own modules are allowed.
        # (the runner's base seed too: a record's stream is its key under the base)
        spec = RunnerSpec(model, schema=schema, config=rc, seed=args.seed)
        spec.build()          # fails here, once, rather than in every record
    except (ModelImportError, TypeError, ValueError) as e:
        raise _Refused(f"the model cannot be loaded ({safe_text(e, 300)})") from None
    return spec


def _executor(args: argparse.Namespace) -> tuple[Any, Any]:
    """(executor, close) for --workers or --scheduler; (None, None) in process."""
    if args.workers:
        import concurrent.futures as cf
        import multiprocessing

        pool = cf.ProcessPoolExecutor(args.workers,
                                      mp_context=multiprocessing.get_context("spawn"))
        return pool, pool.shutdown
    if args.scheduler:
        from fugue_ppl._extras import require

        try:
            distributed = require("dask", "distributed", feature=f"{_PROG} --scheduler")
        except ImportError as e:
            raise _Refused(str(e)) from None
        try:
            client = distributed.Client(args.scheduler, timeout=30)
        except Exception as e:  # noqa: BLE001 - the cluster is not there: say why
            raise _Refused(f"cannot connect to the Dask scheduler {safe_text(args.scheduler)!r} "
                           f"({type(e).__name__}: {safe_text(e, 200)})") from None
        return client.get_executor(), client.close
    return None, None


def _bad_line(index: int, bad: _BadLine) -> dict[str, Any]:
    return {"index": index, "status": "invalid", "value": None, "model_version": None,
            "error": {"kind": "invalid_input",
                      "message": f"line {bad.line} is not JSON ({bad.error})"}}


def run(args: argparse.Namespace) -> int:
    """Run ``fugue-ppl batch`` with parsed arguments; the exit status."""
    from fugue_ppl.serving import infer_many

    try:
        in_fmt, out_fmt = _format(args.input, "INPUT"), _format(args.output, "OUTPUT")
        if "parquet" in (in_fmt, out_fmt):
            _pyarrow()
        spec = _spec(args)
        requests = _read(args.input, in_fmt)
        executor, close = _executor(args)
        progress = _Progress(len(requests), not args.no_progress)
        try:
            # (A line that is not JSON goes through too, as a record that is neither a
            # mapping nor a list, so that every record keeps its index and its seed.)
            records = infer_many(spec, requests, executor=executor, chunk_size=args.chunk_size,
                                 seed=args.seed, progress=progress)
        finally:
            progress.close()
            if close is not None:
                close()
        for i, r in enumerate(requests):
            if isinstance(r, _BadLine):
                records[i] = _bad_line(i, r)
        _write(args.output, out_fmt, records)
    except _Refused as e:
        print(f"{_PROG}: {e}", file=sys.stderr)
        return 1
    failed = sum(r["status"] not in _SERVED for r in records)
    print(f"{_PROG}: {len(records)} records, {len(records) - failed} served, {failed} failed; "
          f"written to {args.output}", file=sys.stderr)
    return 3 if failed else 0
