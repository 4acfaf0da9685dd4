"""The model registry and parameter store, against both real back-ends (SQLite and
PostgreSQL, see conftest.py): round trips, revisions and conflicts, the history,
JSON Schemas, import paths, migrations, concurrency across threads and processes,
the cache, an unavailable store, and secrets."""

import datetime
import doctest
import importlib
import importlib.util
import json
import os
import pathlib
import pickle
import subprocess
import sys
import threading
import time

import pytest

import fugue_ppl as fp
from fugue_ppl.checks import thaw
from fugue_ppl.config import ConfigError, load_config
from fugue_ppl.deploy import (
    STATUSES,
    HistoryEntry,
    InvalidModelParams,
    ModelImportError,
    ModelRegistry,
    ModelVersion,
    RegistryConfig,
    RegistryConflict,
    RegistryError,
    RegistryUnavailable,
    UnknownModel,
    UnknownVersion,
)
from fugue_ppl.errors import FugueError, InvalidArgument, ValidationError

HERE = pathlib.Path(__file__).resolve().parent
SENSOR = "fugue_ppl.models:sensor"
SCHEMA = {
    "type": "object",
    "required": ["prior", "noise"],
    "properties": {
        "prior": {"type": "object", "required": ["mean", "sd"],
                  "properties": {"mean": {"type": "number"},
                                 "sd": {"type": "number", "exclusiveMinimum": 0}}},
        "noise": {"type": "number", "minimum": 0},
        "db_password": {"type": "string", "minLength": 12},
    },
    "additionalProperties": False,
}
PARAMS = {"prior": {"mean": 20.0, "sd": 5.0}, "noise": 1.0}


def _worker_module():
    spec = importlib.util.spec_from_file_location("fugue_registry_worker", HERE / "_worker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_workers(jobs, timeout=90):
    env = dict(os.environ, SKBUILD_EDITABLE_VERBOSE="0")
    procs = [subprocess.Popen([sys.executable, str(HERE / "_worker.py"), json.dumps(job)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for job in jobs]
    return procs, lambda: [_result(p, timeout) for p in procs]


def _result(proc, timeout):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


# ---------------------------------------------------------------- round trips


def test_register_get_list_round_trip(backend):
    reg = backend.registry()
    v1 = reg.register("sensor", "1", SENSOR, actor="alice", params=PARAMS, params_schema=SCHEMA,
                      input_schema="fugue_ppl.models:SENSOR_SCHEMA",
                      outputs=[{"name": "temperature", "type": "float"},
                               {"name": "valid", "type": "bool"}])
    assert (v1.name, v1.version, v1.model, v1.factory, v1.status, v1.revision) == (
        "sensor", "1", SENSOR, False, "staged", 1)
    assert v1.params == PARAMS and thaw(v1.params_schema) == SCHEMA   # (lists as tuples)
    assert v1.outputs == ({"name": "temperature", "type": "float"},
                          {"name": "valid", "type": "bool"})
    assert v1.created == v1.updated and v1.created.tzinfo is datetime.timezone.utc
    assert abs((datetime.datetime.now(datetime.timezone.utc) - v1.created).total_seconds()) < 60
    reg.register("sensor", "2", SENSOR, actor="alice")
    reg.register("other", "a", SENSOR, actor="bob", status="canary")

    # a second registry on the same store reads what the first wrote, field by field
    again = backend.registry().get("sensor", "1")
    assert again == v1 and again.to_dict() == v1.to_dict()
    assert json.loads(json.dumps(again.to_dict()))["params"] == PARAMS
    assert [(v.name, v.version) for v in reg.list()] == [("other", "a"), ("sensor", "1"),
                                                         ("sensor", "2")]
    assert [v.version for v in reg.versions("sensor")] == ["1", "2"]
    assert [v.name for v in reg.list(status="canary")] == ["other"]
    assert reg.list("sensor", status="live") == []
    assert reg.models() == ["other", "sensor"]
    assert reg.params("sensor", "1")["prior"]["sd"] == 5.0
    assert reg.load_input_schema(v1) is fp.models.SENSOR_SCHEMA
    assert reg.load_input_schema(reg.get("sensor", "2")) is None
    assert reg.load_model(v1) is fp.models.sensor


def test_params_are_read_only(backend):
    reg = backend.registry()
    v = reg.register("sensor", "1", SENSOR, actor="a", params={"xs": [1, 2], "t": {"a": 1}})
    with pytest.raises(TypeError):
        v.params["t"]["a"] = 2
    assert v.params["xs"] == (1, 2)             # lists come back as tuples
    assert v.to_dict()["params"] == {"xs": [1, 2], "t": {"a": 1}}


def test_history_records_who_what_when_and_before_after(backend):
    reg = backend.registry()
    t0 = datetime.datetime.now(datetime.timezone.utc)
    v = reg.register("sensor", "1", SENSOR, actor="alice", params=PARAMS, params_schema=SCHEMA)
    v = reg.update_params("sensor", "1", {**PARAMS, "noise": 2.0}, expected_revision=1,
                          actor="bob")
    v = reg.set_status("sensor", "1", "canary", expected_revision=2, actor="carol")
    reg.register("sensor", "2", SENSOR, actor="alice")
    h = reg.history("sensor")
    assert all(isinstance(e, HistoryEntry) for e in h)
    assert [(e.version, e.actor, e.action, e.revision) for e in h] == [
        ("1", "alice", "register", 1), ("1", "bob", "update_params", 2),
        ("1", "carol", "set_status", 3), ("2", "alice", "register", 1)]
    assert h[0].before is None and h[0].after["params"] == PARAMS
    assert h[1].before == {"params": PARAMS} and h[1].after == {"params": {**PARAMS,
                                                                           "noise": 2.0}}
    assert h[2].before == {"status": "staged"} and h[2].after == {"status": "canary"}
    assert [e.id for e in h] == sorted(e.id for e in h)
    assert all(t0 - datetime.timedelta(seconds=1) <= e.at for e in h)
    assert [e.at for e in h] == sorted(e.at for e in h)
    assert h[2].at == v.updated
    assert [e.action for e in reg.history("sensor", "2")] == ["register"]


def test_the_history_is_append_only_in_the_database(backend):
    reg = backend.registry()
    reg.register("sensor", "1", SENSOR, actor="alice")
    conn = backend.connect()
    try:
        for sql in ("UPDATE fugue_model_history SET actor = 'mallory'",
                    "DELETE FROM fugue_model_history"):
            with pytest.raises(Exception, match="append-only"):
                conn.execute(sql)
    finally:
        conn.close()
    assert [e.actor for e in reg.history("sensor")] == ["alice"]


# ---------------------------------------------------------------- statuses and revisions


def test_status_transitions_and_revisions(backend):
    reg = backend.registry()
    reg.register("sensor", "1", SENSOR, actor="ops")
    reg.register("sensor", "2", SENSOR, actor="ops")
    v1 = reg.promote("sensor", "1", expected_revision=1, actor="ops")
    assert (v1.status, v1.revision) == ("live", 2)
    v2 = reg.set_status("sensor", "2", "canary", expected_revision=1, actor="ops")
    assert (v2.status, v2.revision) == ("canary", 2)
    # promoting 2 moves 1 to standby, in the same transaction
    v2 = reg.promote("sensor", "2", expected_revision=2, actor="ops")
    assert (v2.status, v2.revision) == ("live", 3)
    assert [(v.version, v.status, v.revision) for v in reg.versions("sensor")] == [
        ("1", "standby", 3), ("2", "live", 3)]
    assert reg.get("sensor", "1").status == "standby"        # the cache saw the move
    assert [(e.version, e.action) for e in reg.history("sensor")][-2:] == [
        ("1", "standby"), ("2", "promote")]
    assert reg.history("sensor")[-2].after == {"status": "standby", "promoted": "2"}
    # rollback: promote the standby colour again
    v1 = reg.promote("sensor", "1", expected_revision=3, actor="ops")
    assert (v1.status, v1.revision) == ("live", 4)
    assert reg.get("sensor", "2").status == "standby"
    # every status is reachable with set_status, except a second live version
    for i, status in enumerate(s for s in STATUSES if s != "live"):
        v2 = reg.set_status("sensor", "2", status, expected_revision=4 + i, actor="ops")
        assert v2.status == status
    with pytest.raises(RegistryConflict) as info:
        reg.set_status("sensor", "2", "live", expected_revision=v2.revision, actor="ops")
    assert str(info.value) == "sensor 1 is live: promote('sensor', '2') moves it to standby"
    assert len(reg.list("sensor", status="live")) == 1


def test_rollback_puts_the_last_standby_version_back_and_retires_the_live_one(backend):
    reg = backend.registry()
    for v in ("1", "2", "3"):
        reg.register("sensor", v, SENSOR, actor="ops")
    reg.promote("sensor", "1", expected_revision=1, actor="ops")
    reg.promote("sensor", "2", expected_revision=1, actor="ops")     # 1 -> standby
    reg.promote("sensor", "3", expected_revision=1, actor="ops")     # 2 -> standby (later)
    assert reg.get("sensor", "3").status == "live"
    with pytest.raises(RegistryConflict, match="^sensor: 3 is live, not 2; nothing rolled "
                                               "back$"):
        reg.rollback("sensor", actor="bot", expected_live="2")
    back = reg.rollback("sensor", actor="alice", expected_live="3")
    assert (back.version, back.status, back.revision) == ("2", "live", 4)
    assert reg.get("sensor", "3").status == "retired"                 # the cache saw it
    assert [(v.version, v.status) for v in reg.versions("sensor")] == [
        ("1", "standby"), ("2", "live"), ("3", "retired")]
    h = reg.history("sensor")
    assert [(e.version, e.actor, e.action) for e in h[-2:]] == [
        ("3", "alice", "retire"), ("2", "alice", "rollback")]
    assert (h[-2].before, h[-2].after) == ({"status": "live"},
                                           {"status": "retired", "rolled_back_to": "2"})
    assert (h[-1].before, h[-1].after) == ({"status": "standby"},
                                           {"status": "live", "rolled_back": "3"})
    # again: the older standby version; then none is left
    assert reg.rollback("sensor", actor="alice").version == "1"
    before = reg.history("sensor")
    with pytest.raises(RegistryConflict) as info:
        reg.rollback("sensor", actor="alice")
    assert str(info.value) == "sensor: no version is in standby to roll back to (live: 1)"
    assert reg.history("sensor") == before
    reg.set_status("sensor", "1", "retired", expected_revision=4, actor="ops")
    with pytest.raises(RegistryConflict, match="^sensor: no version is live, nothing to "
                                               "roll back$"):
        reg.rollback("sensor", actor="alice")
    with pytest.raises(UnknownModel, match="^model 'nope' is not registered$"):
        reg.rollback("nope", actor="alice")
    with pytest.raises(TypeError, match="actor must be a str"):
        reg.rollback("sensor", actor=None)


def test_a_stale_revision_is_a_conflict_and_writes_nothing(backend):
    reg = backend.registry()
    reg.register("sensor", "1", SENSOR, actor="a", params=PARAMS)
    reg.update_params("sensor", "1", {"noise": 3.0}, expected_revision=1, actor="a")
    before = reg.history("sensor")
    for call in (lambda: reg.update_params("sensor", "1", {"noise": 9.0}, expected_revision=1,
                                           actor="b"),
                 lambda: reg.set_status("sensor", "1", "retired", expected_revision=1,
                                        actor="b"),
                 lambda: reg.promote("sensor", "1", expected_revision=3, actor="b")):
        with pytest.raises(RegistryConflict) as info:
            call()
        err = info.value
        assert err.model == "sensor" and err.version == "1" and err.actual == 2
        assert err.expected in (1, 3)
        assert str(err) == (f"sensor 1: expected revision {err.expected}, but the registry "
                            "holds revision 2 (another writer changed it); read it again and "
                            "retry")
        assert isinstance(err, RegistryError) and isinstance(err, FugueError)
    v = reg.get("sensor", "1", cached=False)
    assert (v.revision, v.status, dict(v.params)) == (2, "staged", {"noise": 3.0})
    assert reg.history("sensor") == before


def test_registering_a_version_twice_is_a_conflict(backend):
    reg = backend.registry()
    reg.register("sensor", "1", SENSOR, actor="a")
    with pytest.raises(RegistryConflict, match="^sensor 1 is already registered$"):
        reg.register("sensor", "1", SENSOR, actor="b", params={"x": 1})
    assert reg.get("sensor", "1", cached=False).params == {}
    assert len(reg.history("sensor")) == 1


def test_unknown_model_and_version(backend):
    reg = backend.registry()
    with pytest.raises(UnknownModel) as info:
        reg.get("nope", "1")
    assert type(info.value) is UnknownModel and isinstance(info.value, KeyError)
    assert str(info.value) == "model 'nope' is not registered"
    reg.register("sensor", "1", SENSOR, actor="a")
    reg.register("sensor", "2", SENSOR, actor="a")
    with pytest.raises(UnknownVersion) as info:
        reg.get("sensor", "3")
    assert isinstance(info.value, UnknownModel) and isinstance(info.value, KeyError)
    assert str(info.value) == "model 'sensor' has no version '3' (versions: 1, 2)"
    assert (info.value.model, info.value.version) == ("sensor", "3")
    for call in (lambda: reg.promote("sensor", "3", expected_revision=1, actor="a"),
                 lambda: reg.update_params("sensor", "3", {}, expected_revision=1, actor="a"),
                 lambda: reg.history("sensor", "3")):
        with pytest.raises(UnknownVersion, match="no version '3'"):
            call()
    for call in (lambda: reg.versions("nope"), lambda: reg.history("nope"),
                 lambda: reg.set_status("nope", "1", "live", expected_revision=1, actor="a")):
        with pytest.raises(UnknownModel, match="'nope' is not registered"):
            call()


# ---------------------------------------------------------------- parameters and schemas


def test_json_schema_violations_are_named_by_path(backend):
    reg = backend.registry()
    bad = {"prior": {"mean": "warm", "sd": -1}, "extra": 1,
           "db_password": "short-secret"[:5]}
    with pytest.raises(InvalidModelParams) as info:
        reg.register("sensor", "1", SENSOR, actor="a", params=bad, params_schema=SCHEMA)
    err = info.value
    assert isinstance(err, ValidationError) and isinstance(err, RegistryError)
    assert [(v.field, v.rule) for v in err.violations] == [
        ("$", "additionalProperties"), ("$", "required"), ("$.db_password", "minLength"),
        ("$.prior.mean", "type"), ("$.prior.sd", "exclusiveMinimum")]
    assert str(err).startswith("sensor 1: params fail the version's JSON Schema: $: ")
    assert "$.prior.sd: -1 is less than or equal to the minimum of 0" in str(err)
    assert "$.prior.mean: 'warm' is not of type 'number'" in str(err)
    # a secret-looking key's value is never shown
    assert "short" not in str(err) and err.violations[2].value == "***"
    assert err.violations[2].message == "fails minLength"
    with pytest.raises(UnknownModel):
        reg.get("sensor", "1")                   # nothing was registered

    reg.register("sensor", "1", SENSOR, actor="a", params=PARAMS, params_schema=SCHEMA)
    with pytest.raises(InvalidModelParams) as info:
        reg.update_params("sensor", "1", {**PARAMS, "noise": -0.5}, expected_revision=1,
                          actor="a")
    assert [(v.field, v.rule, v.value) for v in info.value.violations] == [
        ("$.noise", "minimum", "-0.5")]
    assert reg.get("sensor", "1", cached=False).revision == 1


def test_bad_schemas_and_documents_are_refused(backend):
    reg = backend.registry()
    with pytest.raises(InvalidArgument) as info:
        reg.register("m", "1", SENSOR, actor="a", params_schema={"type": "objekt"})
    assert str(info.value).startswith("ModelRegistry.register: params_schema must be a valid "
                                      "JSON Schema ($.type: ")
    with pytest.raises(InvalidArgument, match="params must be a JSON document"):
        reg.register("m", "1", SENSOR, actor="a", params={"x": float("nan")})
    with pytest.raises(InvalidArgument, match="params must be a JSON document"):
        reg.register("m", "1", SENSOR, actor="a", params={"x": object()})
    with pytest.raises(TypeError, match="params must be a mapping"):
        reg.register("m", "1", SENSOR, actor="a", params=[1, 2])
    with pytest.raises(InvalidArgument, match="name must be 1 to 64 ASCII"):
        reg.register("bad name", "1", SENSOR, actor="a")
    with pytest.raises(InvalidArgument, match="status must be one of 'staged', 'live'"):
        reg.register("m", "1", SENSOR, actor="a", status="on")
    with pytest.raises(InvalidArgument, match=r"outputs\[0\].type must be one of 'float'"):
        reg.register("m", "1", SENSOR, actor="a", outputs=[{"name": "t", "type": "double"}])
    with pytest.raises(InvalidArgument, match="outputs must have distinct names"):
        reg.register("m", "1", SENSOR, actor="a", outputs=[{"name": "t", "type": "float"}] * 2)
    with pytest.raises(TypeError, match="actor must be a str"):
        reg.register("m", "1", SENSOR, actor=None)
    reg.register("m", "1", SENSOR, actor="a")
    with pytest.raises(TypeError, match="^ModelRegistry.get: name must be a str, got list$"):
        reg.get(["m"], "1")
    with pytest.raises(TypeError, match="version must be a str, got int"):
        reg.params("m", 1)
    with pytest.raises(InvalidArgument, match="expected_revision must be >= 1"):
        reg.promote("m", "1", expected_revision=0, actor="a")
    with pytest.raises(TypeError, match="expected_revision must be an integer"):
        reg.promote("m", "1", expected_revision="1", actor="a")
    assert [v.version for v in reg.list()] == ["1"]


# ---------------------------------------------------------------- import paths


def test_a_disallowed_import_path_is_refused_without_importing(backend, model_modules):
    marker = model_modules["marker"]
    reg = backend.registry()
    for path in ("fugue_registry_sideeffect:model", "os:system",
                 "fugue_ppl.modelsx:sensor", "fugue_ppl:run"):
        with pytest.raises(ModelImportError) as info:
            reg.register("m", "1", path, actor="a")
        assert str(info.value) == (f"m 1: model {path!r} is outside the allowed module "
                                   "prefixes (fugue_ppl.models); refused without importing it")
        assert info.value.path == path
    with pytest.raises(ModelImportError, match="input_schema 'os:environ' is outside"):
        reg.register("m", "1", SENSOR, actor="a", input_schema="os:environ")
    # registered by a registry that allows it, loaded by one that does not
    permissive = backend.registry(allowed_prefixes=["fugue_registry_sideeffect"])
    permissive.register("m", "1", "fugue_registry_sideeffect:model", actor="a")
    with pytest.raises(ModelImportError, match="outside the allowed module prefixes"):
        reg.load_model(reg.get("m", "1"))
    assert "fugue_registry_sideeffect" not in sys.modules
    assert not os.path.exists(marker)


@pytest.mark.parametrize("path, message", [
    ("fugue_ppl.models:no_such_model",
     "m 1: model 'fugue_ppl.models:no_such_model': module 'fugue_ppl.models' has no "
     "'no_such_model'"),
    ("fugue_ppl.models.missing:model",
     "m 1: model 'fugue_ppl.models.missing:model' does not import (ModuleNotFoundError: No "
     "module named 'fugue_ppl.models.missing'; 'fugue_ppl.models' is not a package)"),
    ("fugue_registry_broken:model",
     "m 1: model 'fugue_registry_broken:model' does not import (RuntimeError: broken at "
     "import)"),
    ("fugue_registry_models:NOT_CALLABLE",
     "m 1: model 'fugue_registry_models:NOT_CALLABLE' is a int, not a function"),
])
def test_a_path_that_does_not_load_is_a_clear_error(backend, model_modules, path, message):
    reg = backend.registry(allowed_prefixes=("fugue_ppl.models", "fugue_registry_broken",
                                             "fugue_registry_models"))
    v = reg.register("m", "1", path, actor="a")
    with pytest.raises(ModelImportError) as info:
        reg.load_model(v)
    assert str(info.value) == message
    assert isinstance(info.value, ImportError) and info.value.path == path


@pytest.mark.parametrize("path", ["sensor", "fugue_ppl.models.sensor", "fugue_ppl.models:",
                                  ":sensor", "fugue_ppl..models:sensor", "a:b:c",
                                  "fugue_ppl.models:sensor()"])
def test_a_malformed_path_is_refused(backend, path):
    reg = backend.registry()
    with pytest.raises(ModelImportError, match="is not an import path 'package.module:function'"):
        reg.register("m", "1", path, actor="a")


def test_a_factory_is_called_with_the_params(backend, model_modules):
    reg = backend.registry(allowed_prefixes=["fugue_registry_models"])
    v = reg.register("sensor", "hot", "fugue_registry_models:make", factory=True, actor="a",
                     params={"prior": {"mean": 1000.0, "sd": 1.0}, "noise": 0.5},
                     params_schema=SCHEMA, input_schema="fugue_registry_models:INPUTS")
    model = reg.load_model(v)
    temp, trace = fp.run(fp.PriorHandler(rng=7), model, 1000.0)
    assert 990.0 < temp < 1010.0
    assert trace.log_likelihood == pytest.approx(fp.Normal(temp, 0.5).log_prob(1000.0))
    assert reg.load_input_schema(v).validate({"reading": 3.0}) == {"reading": 3.0}
    for path, message in (
            ("fugue_registry_models:failing_factory",
             "factory 'fugue_registry_models:failing_factory' failed on the version's params "
             "(ValueError: no prior given)"),
            ("fugue_registry_models:not_a_factory",
             "factory 'fugue_registry_models:not_a_factory' returned a int, not a model "
             "function")):
        bad = reg.register("sensor", path.rsplit(":", 1)[1], path, factory=True, actor="a")
        with pytest.raises(ModelImportError, match="^sensor .*: " + message.replace(
                "(", r"\(").replace(")", r"\)")):
            reg.load_model(bad)


# ---------------------------------------------------------------- migrations


def test_migrations_are_versioned_and_idempotent(backend):
    first = backend.registry()
    assert first.applied_migrations == (1, 2, 3) and first.schema_version() == 3
    first.register("sensor", "1", SENSOR, actor="a")
    for _ in range(2):
        again = backend.registry()
        assert again.applied_migrations == () and again.schema_version() == 3
        assert again.get("sensor", "1").revision == 1
    conn = backend.connect()
    try:
        rows = conn.execute("SELECT version, description FROM fugue_schema_version "
                            "ORDER BY version").fetchall()
    finally:
        conn.close()
    assert [tuple(r) for r in rows] == [
        (1, "model versions and their history"),
        (2, "one live version per model; the history is append-only"),
        (3, "rollouts and their events")]
    if backend.kind == "sqlite":
        conn = backend.connect()
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            conn.close()


def test_a_store_newer_than_the_code_is_refused(backend):
    backend.registry().close()
    conn = backend.connect()
    try:
        conn.execute("INSERT INTO fugue_schema_version (version, description, applied_at) "
                     "VALUES (4, 'from the future', '2030-01-01T00:00:00+00:00')")
    finally:
        conn.close()
    with pytest.raises(RegistryError, match=r"has schema version 4, newer than this fugue-ppl "
                                            r"knows \(3\): upgrade fugue-ppl"):
        backend.registry()


def test_two_processes_opening_a_fresh_store_at_once_migrate_it_once(backend):
    url = backend.fresh_url()
    start_at = time.time() + 2.0
    _, results = _run_workers([{"task": "migrate", "url": url, "start_at": start_at}] * 2)
    out = results()
    assert sorted(r["applied"] for r in out) == [[], [1, 2, 3]]
    assert [r["schema"] for r in out] == [3, 3]
    assert backend.registry(url=url).applied_migrations == ()


# ---------------------------------------------------------------- concurrency


def test_threads_and_processes_never_lose_an_update(backend):
    rounds, threads, processes = 4, 8, 2
    reg = backend.registry(timeout_seconds=20.0)
    reg.register("shared", "base", SENSOR, actor="setup", params={"count": 0, "check": 0})
    start_at = time.time() + 2.5
    _, results = _run_workers([{"task": "hammer", "url": backend.url, "wid": 100 + i,
                                "rounds": rounds, "start_at": start_at}
                               for i in range(processes)])
    worker = _worker_module()
    done, errors = [], []

    def run(wid):
        try:
            done.append(worker.hammer(reg, wid, rounds, start_at))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert errors == []
    done += results()
    workers = threads + processes
    total = workers * rounds
    assert len(done) == workers
    assert sum(d["registered"] for d in done) == total
    assert sum(d["increments"] for d in done) == total
    assert sum(d["promoted"] for d in done) == total
    assert sum(d["torn"] for d in done) == 0

    versions = reg.list("shared")
    assert len(versions) == total + 1
    base = reg.get("shared", "base", cached=False)
    assert base.params["count"] == total and base.params["check"] == 7 * total
    assert base.revision == 1 + total
    assert len(reg.list("shared", status="live")) == 1
    history = reg.history("shared")
    actions = [e.action for e in history]
    assert actions.count("register") == total + 1
    assert actions.count("update_params") == total
    assert actions.count("promote") == total
    assert actions.count("standby") == total - 1
    for v in versions:      # each revision is one recorded change: none lost, none doubled
        mine = [e for e in history if e.version == v.version]
        assert v.revision == len(mine) == mine[-1].revision
        assert [e.revision for e in mine] == list(range(1, v.revision + 1))
    assert sum(d["conflicts"] for d in done) > 0      # the writers did race
    began = min(d["began"] for d in done[:threads])
    ended = max(d["ended"] for d in done[:threads])
    for d in done[threads:]:                            # the processes ran meanwhile
        assert d["began"] < ended and d["ended"] > began


def test_sqlite_connections_of_ended_threads_are_closed(tmp_path):
    reg = ModelRegistry(url=str(tmp_path / "r.sqlite3"))
    try:
        reg.register("m", "1", SENSOR, actor="a")
        for _ in range(20):
            t = threading.Thread(target=lambda: reg.get("m", "1", cached=False))
            t.start()
            t.join()
        assert len(reg._store._connections) <= 2
    finally:
        reg.close()
    assert reg._store._connections == {}


# ---------------------------------------------------------------- the cache


def test_a_cached_read_is_served_within_the_ttl_and_replaced_on_own_write(backend):
    reg = backend.registry(cache_ttl_seconds=60.0)
    reg.register("sensor", "1", SENSOR, actor="a", params={"noise": 1.0})
    stats = reg.cache_stats
    first = reg.get("sensor", "1")
    assert reg.get("sensor", "1") is first and reg.params("sensor", "1") is first.params
    assert reg.cache_stats["hits"] == stats["hits"] + 3
    v = reg.update_params("sensor", "1", {"noise": 2.0}, expected_revision=1, actor="a")
    assert reg.get("sensor", "1") is v and reg.params("sensor", "1") == {"noise": 2.0}
    assert reg.get("sensor", "1", cached=False) == v
    # the cache is bounded
    small = backend.registry(cache_size=2)
    for i in range(5):
        small.register("m", str(i), SENSOR, actor="a")
        small.get("m", str(i))
    assert small.cache_stats["size"] == 2


def test_another_process_write_is_seen_once_the_ttl_expires(backend):
    ttl = 0.4
    a = backend.registry(cache_ttl_seconds=ttl, notify=False)
    b = backend.registry(cache_ttl_seconds=ttl, notify=False)
    a.register("sensor", "1", SENSOR, actor="a", params={"noise": 1.0})
    assert b.params("sensor", "1") == {"noise": 1.0}
    written = time.monotonic()
    a.update_params("sensor", "1", {"noise": 2.0}, expected_revision=1, actor="a")
    assert a.params("sensor", "1") == {"noise": 2.0}        # its own write: at once
    stale = b.params("sensor", "1")
    if time.monotonic() - written < ttl:                     # within the TTL: may be stale
        assert stale == {"noise": 1.0}
    time.sleep(ttl + 0.05)
    assert b.params("sensor", "1") == {"noise": 2.0}        # past it: never
    assert b.get("sensor", "1").revision == 2


def test_postgresql_notifications_invalidate_other_processes_at_once(pg_backend):
    a = pg_backend.registry(cache_ttl_seconds=3600.0)
    b = pg_backend.registry(cache_ttl_seconds=3600.0)
    a.register("sensor", "1", SENSOR, actor="a", params={"noise": 1.0})
    assert b.params("sensor", "1") == {"noise": 1.0}
    time.sleep(0.3)             # (the listener is connected)
    a.update_params("sensor", "1", {"noise": 2.0}, expected_revision=1, actor="a")
    deadline = time.monotonic() + 5.0
    while b.params("sensor", "1") != {"noise": 2.0} and time.monotonic() < deadline:
        time.sleep(0.02)
    assert b.params("sensor", "1") == {"noise": 2.0}
    assert a.get("sensor", "1") == b.get("sensor", "1")


# ---------------------------------------------------------------- an unavailable store


def test_an_unavailable_store_keeps_cached_reads_and_refuses_writes(backend):
    reg = backend.registry(cache_ttl_seconds=60.0, timeout_seconds=1.0)
    reg.register("sensor", "1", SENSOR, actor="a", params=PARAMS)
    reg.register("sensor", "2", SENSOR, actor="a")
    backend.registry().register("sensor", "9", SENSOR, actor="b")     # never read by reg
    reg.get("sensor", "1")
    before = [(v.version, v.revision, v.status) for v in reg.list()]
    with backend.outage():
        assert reg.params("sensor", "1") == PARAMS               # from the cache
        calls = (lambda: reg.update_params("sensor", "1", {}, expected_revision=1, actor="a"),
                 lambda: reg.promote("sensor", "2", expected_revision=1, actor="a"),
                 lambda: reg.register("sensor", "3", SENSOR, actor="a"))
        for call in calls:
            with pytest.raises(RegistryUnavailable) as info:
                call()
            err = info.value
            assert err.store == reg.store
            assert str(err).startswith(f"the registry's {reg.store} is unavailable (")
            assert backend.password not in str(err) and backend.password not in repr(err)
            assert err.__cause__ is None and err.__suppress_context__
            assert isinstance(err, ConnectionError) and isinstance(err, RegistryError)
        if backend.kind == "postgresql":
            with pytest.raises(RegistryUnavailable):
                reg.get("sensor", "9")                  # never read: nothing to serve
            assert reg.get("sensor", "1", cached=False).params == PARAMS  # the last known
            t0 = time.monotonic()                 # ... then fresh again: no wait
            assert reg.params("sensor", "1") == PARAMS
            assert time.monotonic() - t0 < 0.5
    # back (the pool reconnects within about a timeout): nothing was written, nothing is
    # corrupted, writes work again
    deadline = time.monotonic() + 10.0
    while True:
        try:
            after = [(v.version, v.revision, v.status) for v in reg.list()]
            break
        except RegistryUnavailable:
            assert time.monotonic() < deadline
    assert after == before
    assert [e.action for e in reg.history("sensor")] == ["register"] * 3
    v = reg.promote("sensor", "2", expected_revision=1, actor="a")
    assert (v.status, v.revision) == ("live", 2)


def test_an_unreachable_postgresql_server_is_a_clear_error(password):
    pytest.importorskip("psycopg")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]           # closed once the block ends
    url = f"postgresql://svc:{password}@127.0.0.1:{port}/models"
    t0 = time.monotonic()
    with pytest.raises(RegistryUnavailable) as info:
        ModelRegistry(url=url, timeout_seconds=0.5)
    assert time.monotonic() - t0 < 10
    err = info.value
    assert err.store == f"PostgreSQL database 'models' on 127.0.0.1:{port}"
    assert str(err).startswith(f"the registry's {err.store} is unavailable (")
    for text in (str(err), repr(err), repr(err.args)):
        assert password not in text


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "not-a-db.sqlite3"
    path.write_bytes(b"definitely not SQLite " * 100)
    with pytest.raises(RegistryUnavailable) as info:
        ModelRegistry(url=str(path))
    assert str(info.value) == (f"the registry's SQLite file {str(path)!r} is unavailable "
                               "(file is not a database)")
    with pytest.raises(RegistryUnavailable, match="unable to open database file"):
        ModelRegistry(url=str(tmp_path / "no" / "such" / "dir.sqlite3"))


# ---------------------------------------------------------------- settings and secrets


def test_the_url_is_a_secret_everywhere(backend):
    reg = backend.registry()
    cfg = reg.config
    assert isinstance(cfg, RegistryConfig)
    shown = [repr(reg), str(reg), reg.store, repr(cfg), str(cfg), str(cfg.to_dict()),
             repr(cfg.url), str(cfg.url), f"{cfg.url}"]
    assert cfg.url.reveal() == backend.url
    for text in shown:
        assert backend.password not in text
        if backend.kind == "postgresql":
            assert backend.url not in text
    for text in shown[3:]:          # the settings show nothing of it
        assert backend.url not in text
    if backend.kind == "postgresql":
        assert reg.store == (f"PostgreSQL database {backend.database!r} on "
                             f"{backend.url.split('host=')[1]}")
    else:
        assert reg.store == f"SQLite file {backend.url!r}"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(cfg)


def test_the_registry_section_of_the_configuration(password):
    url = f"postgresql://svc:{password}@db.internal:5432/models"
    cfg = load_config(env={"FUGUE_REGISTRY__URL": url,
                           "FUGUE_REGISTRY__ALLOWED_PREFIXES": "fugue_ppl.models, acme.models",
                           "FUGUE_REGISTRY__CACHE_TTL_SECONDS": "2.5"})
    r = cfg.registry
    assert r.url.reveal() == url and r.allowed_prefixes == ("fugue_ppl.models", "acme.models")
    assert r.cache_ttl_seconds == 2.5 and r.cache_size == RegistryConfig.default("cache_size")
    assert cfg.dump()["registry"]["url"] == "***"
    text = cfg.to_toml()
    assert "# url omitted (a secret): set it in the environment (FUGUE_REGISTRY__URL)" in text
    for rendering in (repr(cfg), str(cfg.dump()), text):
        assert password not in rendering and "db.internal" not in rendering
    assert RegistryConfig().url is None
    assert RegistryConfig().store_url == "fugue-registry.sqlite3"
    assert pickle.loads(pickle.dumps(RegistryConfig())) == RegistryConfig()
    with pytest.raises(ConfigError) as info:
        load_config(env={"FUGUE_REGISTRY__URL": f"mysql://svc:{password}@db/models"})
    assert str(info.value) == ("registry.url = *** (environment variable FUGUE_REGISTRY__URL): "
                               "must be a SQLite file path (or sqlite:///path) or a "
                               "postgresql:// URL")
    with pytest.raises(ConfigError, match="allowed_prefixes = .*must hold dotted module names"):
        load_config(env={"FUGUE_REGISTRY__ALLOWED_PREFIXES": "os;sys"})
    with pytest.raises(InvalidArgument, match="pool_min_size must not exceed pool_max_size"):
        RegistryConfig(pool_min_size=5, pool_max_size=2)
    with pytest.raises(TypeError, match="unknown setting 'cache_ttl'"):
        ModelRegistry(cache_ttl=1)


def test_a_sqlite_url_and_the_default_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with ModelRegistry() as reg:
        reg.register("sensor", "1", SENSOR, actor="a")
    assert (tmp_path / "fugue-registry.sqlite3").is_file()
    with ModelRegistry(url=f"sqlite:///{tmp_path / 'fugue-registry.sqlite3'}") as reg:
        assert reg.get("sensor", "1").revision == 1


def test_a_missing_extra_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "cachetools", None)
    with pytest.raises(ModuleNotFoundError) as info:
        ModelRegistry(url=str(tmp_path / "r.sqlite3"))
    assert str(info.value) == ("the registry's parameter cache needs cachetools, which is not "
                               "installed; it comes with the \"deploy\" extra: pip install "
                               "\"fugue-ppl[deploy]\"")


def test_registry_errors_pickle_with_their_attributes():
    errs = [RegistryConflict("c", model="m", version="1", expected=1, actual=2),
            RegistryUnavailable("down", store="SQLite file 'x'"),
            UnknownVersion("no", model="m", version="2"),
            ModelImportError("bad", path="a:b", model="m", version="1"),
            InvalidModelParams("bad", violations=[], model="m", version="1")]
    for e in errs:
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and str(back) == str(e)
        assert vars(back) == vars(e)
    assert isinstance(ModelVersion, type)


@pytest.mark.parametrize("module", ["fugue_ppl.deploy.registry",
                                    "fugue_ppl.deploy._registry_config"])
def test_the_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 2
