"""Batch inference: many requests through one runner, in process or on any executor.

:func:`infer_many` runs each input through :meth:`ModelRunner.infer
<fugue_ppl.serving.ModelRunner.infer>` (the same validation, breaker,
metrics and deadline as a single request) and returns one plain,
JSON-friendly record per input, in input order. A bad record never stops the
batch: it is reported with its index, its status and its error's kind and
message (never a traceback).

Record ``i`` runs with the key ``keys[i]`` of :func:`record_keys` (derived
from the batch's seed and ``i`` alone), so a batch's results do not depend
on how it is chunked nor on where the chunks run.

Chunks run in this process, on a ``ThreadPoolExecutor``'s threads or in
other processes (a ``ProcessPoolExecutor``, Dask distributed's
``Client.get_executor()``). For other processes, give either a
:class:`RunnerSpec` (the model and schema by import path: each process
builds its runner from the spec once and keeps it) or the
:class:`~fugue_ppl.serving.ModelRunner` itself: it is pickled once, when
the batch starts (a model that cannot be pickled, a lambda, is refused
then, by name), and each process unpickles it once per batch and keeps the
copy for the batch's chunks. A copy is a fresh runner of the same
configuration and seed (see ``ModelRunner``'s Notes): its breaker, metrics
and pool are its own, so the calls it serves do not reach the caller's
runner's breaker or metrics. A chunk whose future fails (its worker died:
``BrokenProcessPool``, Dask's ``KilledWorker``) is submitted again, a
bounded number of times, then reported per record.

Examples
--------
>>> from fugue_ppl.serving.batch import RunnerSpec, infer_many
>>> spec = RunnerSpec("fugue_ppl.models:sensor", schema="fugue_ppl.models:SENSOR_SCHEMA",
...                   seed=7)
>>> records = infer_many(spec, [{"reading": 22.0}, {"reading": float("nan")}], seed=1)
>>> [(r["index"], r["status"]) for r in records]
[(0, 'ok'), (1, 'invalid')]
>>> records[1]["error"]["kind"], records[1]["error"]["message"][:30]
('invalid_request', 'invalid input: reading: must b')
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import pickle
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fugue_ppl.checks import check_int, check_type, safe_text, type_error
from fugue_ppl.errors import (
    CircuitOpenError,
    InferenceTimeout,
    ModelImportError,
    OverloadedError,
    ValidationError,
    new_error_id,
    public_error,
)
from fugue_ppl.serving._import_path import resolve_import_path, split_import_path
from fugue_ppl.serving._runner import ModelRunner
from fugue_ppl.serving._runner_config import RunnerConfig

__all__ = ["RunnerSpec", "infer_many", "record_keys", "runner_for"]

_OWNER = "infer_many"
#: Records per chunk when ``chunk_size`` is not given.
DEFAULT_CHUNK_SIZE = 256
#: Runners a process keeps built from specs (least recently used dropped first).
_CACHE_SIZE = 8


@dataclasses.dataclass(frozen=True)
class RunnerSpec:
    """A picklable description of a :class:`~fugue_ppl.serving.ModelRunner`.

    Sent to worker processes in place of a runner; each process builds the
    runner once (:func:`runner_for`) and reuses it. Unlike a pickled
    :class:`~fugue_ppl.serving.ModelRunner`, it names the model by import
    path, restricted to ``allowed_prefixes``, and holds no code of its own.

    Parameters
    ----------
    model : str
        The model's import path, ``package.module:function``.
    schema : str, optional
        The input schema's import path (a :class:`~fugue_ppl.validation.Schema`).
    config : RunnerConfig or mapping, optional
        The runner's settings, or their :meth:`~RunnerConfig.to_dict` form.
    seed : int, optional
        The runner's base seed (its ``rng``): with it, record ``i`` of a
        batch draws the same stream in every process. None: fresh entropy
        in each process (results then differ between processes).
    allowed_prefixes : tuple of str, optional
        The modules (and their submodules) ``model`` and ``schema`` may be
        imported from; a path outside them is refused before importing.
        Default: the modules of ``model`` and ``schema`` themselves.

    Raises
    ------
    TypeError
        A field of the wrong type (the message names it).
    ModelImportError
        ``model`` or ``schema`` is not an import path, or is outside
        ``allowed_prefixes`` (nothing is imported here).
    InvalidArgument
        ``seed`` is negative, or ``config``'s dict form holds a bad value.

    Examples
    --------
    >>> spec = RunnerSpec("fugue_ppl.models:sensor", seed=3)
    >>> spec.build().infer(22.0).status
    'ok'
    """

    model: str
    schema: str | None = None
    config: RunnerConfig | None = None
    seed: int | None = None
    allowed_prefixes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        owner = "RunnerSpec"
        paths = [("model", self.model)] + ([("schema", self.schema)]
                                           if self.schema is not None else [])
        for name, path in paths:
            if not isinstance(path, str):
                raise type_error(owner, name, path, "an import path 'package.module:name'")
        prefixes = self.allowed_prefixes
        if prefixes is None:
            prefixes = tuple(dict.fromkeys(p.partition(":")[0] for _, p in paths))
        elif isinstance(prefixes, str) or not all(isinstance(p, str) for p in prefixes):
            raise type_error(owner, "allowed_prefixes", prefixes, "a tuple of module names")
        object.__setattr__(self, "allowed_prefixes", tuple(prefixes))
        for name, path in paths:
            split_import_path(path, self.allowed_prefixes, what=name, owner=owner)
        config = self.config
        if isinstance(config, Mapping):
            config = _runner_config(config)
        elif config is not None:
            check_type(config, "config", owner, RunnerConfig, "a RunnerConfig or its dict form")
        object.__setattr__(self, "config", config)
        if self.seed is not None:
            object.__setattr__(self, "seed", check_int(self.seed, "seed", owner, low=0))

    def build(self) -> ModelRunner:
        """A new runner of this description (prefer :func:`runner_for`, which caches it).

        Raises
        ------
        ModelImportError
            The model or schema does not import, or the model is not callable.
        """
        model = resolve_import_path(self.model, self.allowed_prefixes, what="model",
                                    owner="RunnerSpec")
        if not callable(model):
            raise ModelImportError(f"model {self.model!r} is a {type(model).__name__}, not a "
                                   "function", path=self.model)
        schema = None if self.schema is None else resolve_import_path(
            self.schema, self.allowed_prefixes, what="schema", owner="RunnerSpec")
        return ModelRunner(model, self.config, schema=schema, rng=self.seed)


def _runner_config(d: Mapping) -> RunnerConfig:
    # The dict form of a RunnerConfig, each section built by its own settings type.
    default = RunnerConfig()
    sections = {}
    for f in dataclasses.fields(RunnerConfig):
        if f.name in d:
            value = d[f.name]
            cls = type(getattr(default, f.name))
            sections[f.name] = cls(**value) if isinstance(value, Mapping) else value
    unknown = set(d) - {f.name for f in dataclasses.fields(RunnerConfig)}
    if unknown:
        raise TypeError(f"RunnerSpec: config has unknown sections {sorted(map(str, unknown))} "
                        f"(sections: model, runtime, breaker, metrics)")
    return RunnerConfig(**sections)


_runners: collections.OrderedDict[RunnerSpec, ModelRunner] = collections.OrderedDict()
_runners_lock = threading.Lock()


def runner_for(spec: RunnerSpec) -> ModelRunner:
    """This process's runner for ``spec``: built on first use, then reused."""
    with _runners_lock:
        runner = _runners.get(spec)
        if runner is None:
            runner = spec.build()
            _runners[spec] = runner
            while len(_runners) > _CACHE_SIZE:
                _runners.popitem(last=False)
        else:
            _runners.move_to_end(spec)
        return runner


@dataclasses.dataclass(frozen=True)
class _ShippedRunner:
    # A ModelRunner pickled once by the caller and sent with each chunk of a
    # batch: a worker process unpickles it once (per token) and keeps the copy.
    token: str
    payload: bytes = dataclasses.field(repr=False, compare=False)

    @classmethod
    def of(cls, runner: ModelRunner, executor: cf.Executor) -> _ShippedRunner:
        try:
            payload = pickle.dumps(runner, pickle.HIGHEST_PROTOCOL)
        except (TypeError, AttributeError, pickle.PicklingError) as exc:
            raise TypeError(f"{_OWNER}: runner cannot be sent to a {type(executor).__name__} "
                            f"({exc}); or describe it with a RunnerSpec") from exc
        return cls(uuid.uuid4().hex, payload)


_shipped: collections.OrderedDict[str, ModelRunner] = collections.OrderedDict()


def _runner_shipped(shipped: _ShippedRunner) -> ModelRunner:
    # This process's copy of a shipped runner: unpickled on first use, then reused.
    with _runners_lock:
        runner = _shipped.get(shipped.token)
        if runner is not None:
            _shipped.move_to_end(shipped.token)
            return runner
    runner = pickle.loads(shipped.payload)   # (outside the lock: it imports the model)
    with _runners_lock:
        runner = _shipped.setdefault(shipped.token, runner)
        while len(_shipped) > _CACHE_SIZE:
            _shipped.popitem(last=False)
        return runner


def record_keys(seed: int | np.random.SeedSequence | None, n: int) -> list[int]:
    """The run keys of records ``0..n-1`` of a batch seeded with ``seed``.

    Key ``i`` is word ``i`` of ``SeedSequence(seed).generate_state(n, uint64)``,
    which depends on ``seed`` and ``i`` only, never on ``n`` or the chunking.
    None: fresh entropy (a batch that differs each time).

    Examples
    --------
    >>> record_keys(1, 3)[:2] == record_keys(1, 2)
    True
    """
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [int(k) for k in ss.generate_state(n, np.uint64)] if n else []


# ---------------------------------------------------------------- one record

def _failed(index: int, status: str, kind: str, message: str, version: Any = None,
            code: int | None = None) -> dict[str, Any]:
    error = {"kind": kind, "message": message}
    if code is not None:
        error["code"] = code
    return {"index": index, "status": status, "value": None, "model_version": version,
            "error": error}


def _error_status(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return "invalid"
    if isinstance(exc, InferenceTimeout):
        return "timeout"
    if isinstance(exc, CircuitOpenError):
        return "rejected"
    if isinstance(exc, OverloadedError):
        return "overloaded"
    return "error"


def _message(exc: BaseException) -> str:
    text = safe_text(exc, 300)
    if isinstance(exc, (ValidationError, InferenceTimeout, CircuitOpenError, OverloadedError)):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _NotPlain(TypeError):
    pass


def _plain(value: Any) -> Any:
    # A JSON-friendly copy of a model's value: numbers, str, bool, None, lists, dicts.
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _plain(v) for k, v in value.items()}
    raise _NotPlain(type(value).__name__)


def _infer_one(runner: ModelRunner, index: int, item: Any, key: int) -> dict[str, Any]:
    version = runner.version
    if isinstance(item, Mapping):
        if not all(isinstance(k, str) for k in item):
            return _failed(index, "invalid", "invalid_input",
                           f"record {index}: its field names must be str", version)
        if "seed" in item:
            return _failed(index, "invalid", "invalid_input",
                           f"record {index}: a field named 'seed' is not allowed (the batch "
                           "sets each record's seed)", version)
        args, kwargs = (), dict(item)
    elif isinstance(item, (list, tuple)):
        args, kwargs = tuple(item), {}
    else:
        return _failed(index, "invalid", "invalid_input",
                       f"record {index} is a {type(item).__name__}, not a mapping of keyword "
                       "arguments nor a list of positional arguments", version)
    try:
        res = runner.infer(*args, seed=key, **kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure is the record's
        public = public_error(exc, new_error_id())
        return _failed(index, _error_status(exc), public["kind"], _message(exc), version,
                       public["code"])
    try:
        value = _plain(res.value)
    except _NotPlain as e:
        return _failed(index, "error", "invalid_output",
                       f"the model returned a {e}, which is not JSON-friendly (numbers, str, "
                       "bool, None, lists, dicts of them)", res.model_version)
    error = None
    if res.error is not None:
        public = public_error(res.error, res.error_id)
        error = {"kind": public["kind"], "message": _message(res.error), "code": public["code"]}
    return {"index": index, "status": res.status, "value": value,
            "model_version": res.model_version, "error": error}


def _run_chunk(runner: ModelRunner | RunnerSpec | _ShippedRunner, start: int,
               items: Sequence[Any], keys: Sequence[int],
               attempt: int = 0) -> list[dict[str, Any]]:
    # One chunk, in whichever process runs it. (``attempt`` makes a resubmitted
    # chunk a new task for executors that name tasks by their arguments, as Dask does.)
    if isinstance(runner, RunnerSpec):
        try:
            runner = runner_for(runner)
        except (ModelImportError, TypeError, ValueError) as exc:
            return [_failed(start + k, "error", "model_import_error", _message(exc))
                    for k in range(len(items))]
    elif isinstance(runner, _ShippedRunner):
        try:
            runner = _runner_shipped(runner)
        except Exception as exc:  # noqa: BLE001 - e.g. the model's module is not importable here
            return [_failed(start + k, "error", "model_import_error",
                            f"the runner could not be unpickled in this process: "
                            f"{_message(exc)}") for k in range(len(items))]
    return [_infer_one(runner, start + k, item, key)
            for k, (item, key) in enumerate(zip(items, keys, strict=True))]


# ---------------------------------------------------------------- the batch

def infer_many(runner: ModelRunner | RunnerSpec, inputs: Sequence[Any], *,
               executor: cf.Executor | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
               seed: int | None = None, retries: int = 2,
               progress: Callable[[int, int], Any] | None = None) -> list[dict[str, Any]]:
    """Run every input through a runner; one plain record per input, in input order.

    Parameters
    ----------
    runner : ModelRunner or RunnerSpec
        What runs the inputs. A ``ModelRunner`` runs in this process (or in
        a ``ThreadPoolExecutor``'s threads); for any other executor it is
        pickled once and each worker process keeps a copy for the batch (a
        fresh runner of the same configuration and seed: the calls it runs
        reach neither this runner's breaker nor its metrics). A
        :class:`RunnerSpec` is built once in each process and kept.
    inputs : sequence
        One request per item: a mapping (keyword arguments) or a list or
        tuple (positional arguments). Any other item is a failed record.
    executor : concurrent.futures.Executor, optional
        Where chunks run (a ``ThreadPoolExecutor``, a ``ProcessPoolExecutor``,
        Dask's ``Client.get_executor()``); None: in this thread, in order.
    chunk_size : int, optional
        Records per task sent to the executor (>= 1).
    seed : int, optional
        The batch's seed: record ``i`` runs with the key ``record_keys(seed,
        n)[i]``, whatever the chunking or the executor. None: fresh entropy.
        A key selects a stream under the runner's own seed: the records repeat
        from run to run when the runner (or ``RunnerSpec.seed``) is seeded too.
    retries : int, optional
        How many times a chunk whose future failed (its worker died) is
        submitted again before its records are reported as failed (>= 0).
    progress : callable, optional
        Called as ``progress(done, total)`` (records) in this thread after
        each chunk.

    Returns
    -------
    list of dict
        Per input: ``index``, ``status`` (the runner's: ``ok``,
        ``fallback``, ``degraded``, ``shed``, ``timeout``, ``rejected``; or
        ``invalid``, ``overloaded``, ``error`` for a record that failed),
        ``value`` (JSON-friendly: tuples become lists), ``model_version`` and
        ``error`` (None, or ``kind``, ``message`` and, for the runner's
        errors, ``code``).

    Raises
    ------
    TypeError
        ``runner``, ``inputs`` (not a sequence), ``executor``, ``chunk_size``,
        ``seed``, ``retries`` or ``progress`` of the wrong type, or a
        ``ModelRunner`` that does not pickle (its model a lambda, say) with
        an executor other than a ``ThreadPoolExecutor``.
    InvalidArgument
        ``chunk_size`` < 1, ``seed`` or ``retries`` < 0.
    ModelImportError
        In-process with a :class:`RunnerSpec`: the model does not load.

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.models import sensor
    >>> records = infer_many(fp.ModelRunner(sensor, rng=3), [[22.0], "22"], seed=0)
    >>> [(r["index"], r["status"], r["error"] and r["error"]["kind"]) for r in records]
    [(0, 'ok', None), (1, 'invalid', 'invalid_input')]
    """
    check_type(runner, "runner", _OWNER, (ModelRunner, RunnerSpec), "a ModelRunner or a RunnerSpec")
    if not isinstance(inputs, Sequence) or isinstance(inputs, (str, bytes, bytearray)):
        raise type_error(_OWNER, "inputs", inputs, "a sequence (a list) of requests")
    if executor is not None:
        check_type(executor, "executor", _OWNER, cf.Executor,
                   "a concurrent.futures.Executor or None (Dask: client.get_executor())")
    chunk_size = check_int(chunk_size, "chunk_size", _OWNER, low=1)
    if seed is not None:
        seed = check_int(seed, "seed", _OWNER, low=0)
    retries = check_int(retries, "retries", _OWNER, low=0)
    if progress is not None and not callable(progress):
        raise type_error(_OWNER, "progress", progress, "a callable progress(done, total)")

    # What each chunk gets: the runner itself on threads, else a spec or a
    # runner pickled once here (each process keeps its copy for the batch).
    sent: ModelRunner | RunnerSpec | _ShippedRunner = runner
    if (executor is not None and isinstance(runner, ModelRunner)
            and not isinstance(executor, cf.ThreadPoolExecutor)):
        sent = _ShippedRunner.of(runner, executor)
    n = len(inputs)
    keys = record_keys(seed, n)
    starts = range(0, n, chunk_size)
    out: list[Any] = [None] * n
    done = 0
    if executor is None:
        local = runner_for(runner) if isinstance(runner, RunnerSpec) else runner
        for s in starts:
            out[s:s + chunk_size] = _run_chunk(local, s, inputs[s:s + chunk_size],
                                               keys[s:s + chunk_size])
            done += len(inputs[s:s + chunk_size])
            if progress is not None:
                progress(done, n)
        return out

    def submit(start: int, attempt: int) -> cf.Future:
        return executor.submit(_run_chunk, sent, start, list(inputs[start:start + chunk_size]),
                               keys[start:start + chunk_size], attempt)

    def give_up(start: int, attempt: int, exc: BaseException) -> None:
        nonlocal done
        count = len(inputs[start:start + chunk_size])
        message = (f"the chunk of records {start}..{start + count - 1} failed "
                   f"{attempt + 1} time(s) ({type(exc).__name__}: {safe_text(exc, 200)})")
        out[start:start + count] = [_failed(start + k, "error", "chunk_failed", message)
                                    for k in range(count)]
        done += count

    pending: dict[cf.Future, tuple[int, int]] = {}
    try:
        for s in starts:
            try:
                pending[submit(s, 0)] = (s, 0)
            except Exception as exc:  # noqa: BLE001 - an executor that refuses: per record
                give_up(s, 0, exc)
        while pending:
            finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                s, attempt = pending.pop(fut)
                try:
                    records = fut.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker, a broken pool
                    failure: BaseException = exc
                    if attempt < retries:
                        try:
                            pending[submit(s, attempt + 1)] = (s, attempt + 1)
                            continue
                        except Exception as again:  # noqa: BLE001 - e.g. a broken pool
                            failure = again
                    give_up(s, attempt, failure)
                else:
                    out[s:s + len(records)] = records
                    done += len(records)
                if progress is not None:
                    progress(done, n)
    finally:
        for fut in pending:
            fut.cancel()
    return out
