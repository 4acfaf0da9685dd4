"""``fugue-ppl models``: the real command (``cli.main`` in process, and once as
``python -m fugue_ppl``) against a real registry, SQLite and PostgreSQL (the
``backend`` fixture of conftest.py): output values, exit statuses and the
message of each refusal; the URL's password never shown."""

import json
import os
import subprocess
import sys

import pytest

from fugue_ppl import cli
from fugue_ppl.deploy import ModelRegistry

SENSOR = "fugue_ppl.models:sensor"
SCHEMA = {
    "type": "object",
    "required": ["prior", "noise"],
    "properties": {
        "prior": {"type": "object", "required": ["mean", "sd"],
                  "properties": {"mean": {"type": "number"},
                                 "sd": {"type": "number", "exclusiveMinimum": 0}}},
        "noise": {"type": "number", "minimum": 0},
    },
    "additionalProperties": False,
}
PARAMS = {"prior": {"mean": 20.0, "sd": 5.0}, "noise": 1.0}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    # no stray default registry file, no configuration from the environment
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("FUGUE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FUGUE_REGISTRY__TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("LOGNAME", "carol")        # the OS user name getpass reports


def _file(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content),
                    encoding="utf-8")
    return str(path)


class Cli:
    def __init__(self, capsys, url, password=None):
        self.capsys, self.url, self.password = capsys, url, password

    def __call__(self, *args, status=0):
        code = cli.main(["models", *args, "--url", self.url])
        out, err = self.capsys.readouterr()
        assert code == status, (out, err)
        for text in (out, err):
            assert "Traceback" not in text
            if self.password:
                assert self.password not in text and self.url not in text
        return out if status == 0 else err

    def json(self, *args):
        return json.loads(self(*args, "--json"))


@pytest.fixture
def run(backend, capsys):
    return Cli(capsys, backend.url, backend.password if backend.kind == "postgresql" else None)


# ---------------------------------------------------------------- what the commands do


def test_register_list_show_promote_and_roll_back(run, backend, tmp_path):
    params = _file(tmp_path, "params.json", PARAMS)
    schema = _file(tmp_path, "schema.json", SCHEMA)
    out = run("register", "sensor", "1", SENSOR, "--params", params, "--params-schema", schema,
              "--outputs", "temperature:float,valid:bool",
              "--input-schema", "fugue_ppl.models:SENSOR_SCHEMA", "--actor", "alice")
    assert out == "registered sensor 1 (staged, revision 1): fugue_ppl.models:sensor\n"
    v2 = run.json("register", "sensor", "2", SENSOR, "--params", params, "--params-schema",
                  schema)
    assert (v2["name"], v2["version"], v2["status"], v2["revision"], v2["params"]) == (
        "sensor", "2", "staged", 1, PARAMS)

    listed = run.json("list")
    assert [(v["name"], v["version"], v["status"], v["revision"]) for v in listed] == [
        ("sensor", "1", "staged", 1), ("sensor", "2", "staged", 1)]
    text = run("list", "sensor").splitlines()
    assert text[0].split() == ["NAME", "VERSION", "STATUS", "REVISION", "UPDATED", "MODEL"]
    assert [line.split()[:4] for line in text[1:]] == [["sensor", "1", "staged", "1"],
                                                       ["sensor", "2", "staged", "1"]]

    out = run("promote", "sensor", "1")
    assert out == "promoted sensor 1 to live (revision 2)\n"
    promoted = run.json("promote", "sensor", "2", "--actor", "bob")
    assert (promoted["version"]["version"], promoted["version"]["status"],
            promoted["version"]["revision"], promoted["standby"]) == ("2", "live", 2, ["1"])
    again = run.json("promote", "sensor", "2")
    assert again["changed"] is False and again["version"]["revision"] == 2
    assert [v["version"] for v in run.json("list", "--status", "live")] == ["2"]
    assert run("list", "sensor", "--status", "canary") == (
        "no versions of sensor registered with status canary\n")

    shown = run.json("show", "sensor", "1")
    v = shown["version"]
    assert (v["status"], v["revision"], v["params"], v["params_schema"], v["input_schema"],
            v["outputs"]) == ("standby", 3, PARAMS, SCHEMA, "fugue_ppl.models:SENSOR_SCHEMA",
                              [{"name": "temperature", "type": "float"},
                               {"name": "valid", "type": "bool"}])
    assert [(e["actor"], e["action"], e["revision"]) for e in shown["history"]] == [
        ("alice", "register", 1), ("carol", "promote", 2), ("bob", "standby", 3)]
    text = run("show", "sensor", "1")
    for line in ("sensor 1", "  status        standby (revision 3)",
                 "  model         fugue_ppl.models:sensor",
                 '  params        {"noise": 1.0, "prior": {"mean": 20.0, "sd": 5.0}}',
                 "  input schema  fugue_ppl.models:SENSOR_SCHEMA",
                 "  outputs       temperature:float, valid:bool", "history"):
        assert line in text.splitlines(), line
    assert "revision 3  standby       by bob status: live -> standby (promoted 2)" in text

    out = run("rollback", "sensor", "--actor", "dave")
    assert out == "rolled back sensor: 1 is live again (revision 4); 2 retired\n"
    assert [(v["version"], v["status"], v["revision"]) for v in run.json("list")] == [
        ("1", "live", 4), ("2", "retired", 3)]
    history = run.json("show", "sensor", "2")["history"]
    assert (history[-1]["actor"], history[-1]["action"], history[-1]["after"]) == (
        "dave", "retire", {"status": "retired", "rolled_back_to": "1"})
    # what the command wrote, the library reads
    reg = backend.registry()
    assert reg.get("sensor", "1").status == "live" and reg.params("sensor", "1") == PARAMS
    assert reg.load_input_schema(reg.get("sensor", "1")) is not None


def test_an_empty_registry_and_a_factory(run, backend):
    backend.registry()                 # (creates the SQLite file; a database exists already)
    assert run("list") == "no versions registered\n"
    assert run.json("list") == []
    out = run("register", "m", "f", "fugue_ppl.models:sensor", "--factory",
              "--no-load-check")
    assert out.startswith("registered m f (staged, revision 1)")
    assert run.json("show", "m", "f")["version"]["factory"] is True
    assert "fugue_ppl.models:sensor (factory)" in run("list")


def test_a_concurrent_change_makes_promote_a_conflict(run, backend, monkeypatch):
    run("register", "sensor", "1", SENSOR)
    other = backend.registry()
    real_get = ModelRegistry.get

    def get_then_someone_writes(self, name, version, **kw):
        found = real_get(self, name, version, **kw)
        if self is not other:      # another writer, between the read and the promotion
            other.set_status(name, version, "canary", expected_revision=found.revision,
                             actor="mallory")
        return found
    monkeypatch.setattr(ModelRegistry, "get", get_then_someone_writes)
    err = run("promote", "sensor", "1", status=1)
    assert err == ("fugue-ppl models promote: conflict: sensor 1: expected revision 1, but "
                   "the registry holds revision 2 (another writer changed it); read it again "
                   "and retry\n")
    monkeypatch.undo()
    v = other.get("sensor", "1", cached=False)
    assert (v.status, v.revision) == ("canary", 2)


# ---------------------------------------------------------------- refusals (exit status 1)


def test_unknown_models_and_versions(run):
    run("register", "sensor", "1", SENSOR)
    cases = [
        (("show", "nope", "1"), "fugue-ppl models show: model 'nope' is not registered"),
        (("show", "sensor", "9"),
         "fugue-ppl models show: model 'sensor' has no version '9' (versions: 1)"),
        (("list", "nope"), "fugue-ppl models list: model 'nope' is not registered"),
        (("promote", "sensor", "9"),
         "fugue-ppl models promote: model 'sensor' has no version '9' (versions: 1)"),
        (("rollback", "nope"), "fugue-ppl models rollback: model 'nope' is not registered"),
        (("rollback", "sensor"),
         "fugue-ppl models rollback: conflict: sensor: no version is live, nothing to roll "
         "back"),
        (("register", "sensor", "1", SENSOR),
         "fugue-ppl models register: conflict: sensor 1 is already registered"),
    ]
    for args, message in cases:
        assert run(*args, status=1) == message + "\n", args


@pytest.mark.parametrize("path, message", [
    ("os:system", "m 1: model 'os:system' is outside the allowed module prefixes "
                  "(fugue_ppl.models); refused without importing it"),
    ("fugue_ppl.models.sensor", "m 1: model 'fugue_ppl.models.sensor' is not an import path "
                                "'package.module:function'"),
    ("fugue_ppl.models:no_such_model", "m 1: model 'fugue_ppl.models:no_such_model': module "
                                       "'fugue_ppl.models' has no 'no_such_model'"),
    ("fugue_ppl.models:SENSOR_SCHEMA", "m 1: model 'fugue_ppl.models:SENSOR_SCHEMA' is a "
                                       "Schema, not a function"),
])
def test_a_bad_import_path_is_refused(run, path, message):
    assert run("register", "m", "1", path, status=1) == (
        f"fugue-ppl models register: {message}\n")
    assert run("register", "m", "1", SENSOR, "--input-schema", "os:environ", status=1) == (
        "fugue-ppl models register: m 1: input_schema 'os:environ' is outside the allowed "
        "module prefixes (fugue_ppl.models); refused without importing it\n")
    assert run.json("list") == []


def test_a_model_that_does_not_import_is_refused_unless_unchecked(run):
    err = run("register", "m", "1", "fugue_ppl.models.missing:model", status=1)
    assert err.startswith("fugue-ppl models register: m 1: model "
                          "'fugue_ppl.models.missing:model' does not import "
                          "(ModuleNotFoundError: No module named 'fugue_ppl.models.missing'")
    run("register", "m", "1", "fugue_ppl.models.missing:model", "--no-load-check")
    assert [v["version"] for v in run.json("list")] == ["1"]


def test_malformed_parameters_files_are_refused_naming_the_file(run, tmp_path):
    schema = _file(tmp_path, "schema.json", SCHEMA)
    not_json = _file(tmp_path, "p1.json", '{"noise": 1.0,,}')
    array = _file(tmp_path, "p2.json", "[1, 2]")
    nan = _file(tmp_path, "p3.json", '{"noise": NaN}')
    missing = str(tmp_path / "missing.json")
    bad_schema = _file(tmp_path, "s2.json", {"type": "objekt"})
    binary = tmp_path / "p4.json"
    binary.write_bytes(b"\xff\xfe\x00{")
    cases = [
        (("--params", not_json),
         f"--params {not_json}: not JSON (Expecting property name enclosed in double quotes "
         "at line 1, column 15)"),
        (("--params", array), f"--params {array}: must hold a JSON object, holds an array"),
        (("--params", nan), f"--params {nan}: not JSON (NaN is not a JSON number)"),
        (("--params", missing),
         f"--params {missing}: cannot be read (No such file or directory)"),
        (("--params", str(tmp_path)), f"--params {tmp_path}: cannot be read (Is a directory)"),
        (("--params", str(binary)), f"--params {binary}: not UTF-8 text"),
        (("--params-schema", bad_schema),
         f"sensor 1: --params-schema {bad_schema}: must be a valid JSON Schema ($.type: "),
    ]
    for extra, message in cases:
        err = run("register", "sensor", "1", SENSOR, *extra, status=1)
        assert err.startswith(f"fugue-ppl models register: {message}"), (err, message)
    bad = _file(tmp_path, "bad.json", {"prior": {"mean": "warm", "sd": -1}, "extra": 1})
    err = run("register", "sensor", "1", SENSOR, "--params", bad, "--params-schema", schema,
              status=1)
    assert err.splitlines() == [
        f"fugue-ppl models register: sensor 1: the parameters in {bad} fail the version's "
        "JSON Schema (4 violations):",
        "  $: Additional properties are not allowed ('extra' was unexpected) "
        "(additionalProperties)",
        "  $: 'noise' is a required property (required)",
        "  $.prior.mean: 'warm' is not of type 'number' (type)",
        "  $.prior.sd: -1 is less than or equal to the minimum of 0 (exclusiveMinimum)"]
    assert run.json("list") == []


def test_a_store_that_is_down(run, backend):
    run("register", "sensor", "1", SENSOR)
    with backend.outage():
        err = run("promote", "sensor", "1", status=1)
    assert err.startswith("fugue-ppl models promote: the registry's ")
    assert " is unavailable (" in err
    assert run.json("list")[0]["status"] == "staged"          # nothing was written


def test_an_unreachable_postgresql_server_never_shows_its_password(capsys, password):
    pytest.importorskip("psycopg")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://svc:{password}@127.0.0.1:{port}/models"
    err = Cli(capsys, url, password)("list", status=1)
    assert err == (f"fugue-ppl models list: the registry's PostgreSQL database 'models' on "
                   f"127.0.0.1:{port} is unavailable (pool initialization incomplete after "
                   "1.0 sec)\n")


def test_the_configured_registry_is_used_without_url(capsys, tmp_path, monkeypatch):
    path = tmp_path / "configured.sqlite3"
    with ModelRegistry(url=str(path)) as reg:
        reg.register("sensor", "1", SENSOR, actor="a")
    config = _file(tmp_path, "fugue.toml", f'[registry]\nurl = "{path}"\n')
    assert cli.main(["models", "list", "--config", config, "--json"]) == 0
    assert [v["version"] for v in json.loads(capsys.readouterr().out)] == ["1"]
    monkeypatch.setenv("FUGUE_REGISTRY__URL", str(path))
    assert cli.main(["models", "show", "sensor", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"]["revision"] == 1
    # without any: the default file in the working directory, created by register only
    monkeypatch.delenv("FUGUE_REGISTRY__URL")
    default = tmp_path / "fugue-registry.sqlite3"
    for argv in (["list"], ["show", "sensor", "1"], ["promote", "sensor", "1"],
                 ["rollback", "sensor"]):
        assert cli.main(["models", *argv]) == 1
        assert capsys.readouterr().err == (
            f"fugue-ppl models {argv[0]}: no registry at SQLite file {str(default)!r}: the "
            "file does not exist (register a version to create it, or name another with "
            "--url or FUGUE_REGISTRY__URL)\n")
    assert not default.exists()
    assert cli.main(["models", "register", "sensor", "1", SENSOR]) == 0
    assert capsys.readouterr().out.startswith("registered sensor 1 (staged, revision 1)")
    assert default.is_file()
    assert cli.main(["models", "list", "--json"]) == 0
    assert [v["version"] for v in json.loads(capsys.readouterr().out)] == ["1"]
    missing = str(tmp_path / "nope.toml")
    assert cli.main(["models", "list", "--config", missing]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fugue-ppl models list: ") and "nope.toml" in err


# ---------------------------------------------------------------- usage errors (exit status 2)


@pytest.mark.parametrize("argv, message", [
    (["models"], "the following arguments are required: SUBCOMMAND"),
    (["models", "show", "sensor"], "the following arguments are required: VERSION"),
    (["models", "show", "bad name", "1"], "argument NAME: must be 1 to 64 ASCII"),
    (["models", "list", "--status", "on"], "argument --status: invalid choice: 'on'"),
    (["models", "register", "m", "1", SENSOR, "--outputs", "t:double"],
     "argument --outputs: expected name:type pairs separated by commas, each type one of "
     "float, int, bool, str; got 't:double'"),
    (["models", "promote", "m", "1", "--actor", ""],
     "argument --actor: must be 1 to 200 printable characters, got ''"),
    (["models", "list", "--url", "mysql://svc:pw-Zq7-never-shown@db/models"],
     "argument --url: must be a SQLite file path (or sqlite:///path) or a postgresql:// URL "
     "(the value is not shown: it may hold a password)"),
    (["models", "rollback"], "the following arguments are required: NAME"),
])
def test_bad_arguments_exit_2(capsys, argv, message, password):
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "usage: fugue-ppl models" in err and message in err
    assert password not in err and "Traceback" not in err


def test_help_lists_the_subcommands(capsys):
    assert cli.main(["models", "--help"]) == 0
    out = capsys.readouterr().out
    for name in ("list", "show", "register", "promote", "rollback"):
        assert name in out
    assert cli.main(["models", "register", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--params", "--params-schema", "--factory", "--outputs", "--input-schema",
                   "--actor", "--url", "--json", "--no-load-check"):
        assert option in out


# ---------------------------------------------------------------- as a process


def test_python_dash_m_fugue_ppl_models_list(tmp_path):
    path = tmp_path / "r.sqlite3"
    with ModelRegistry(url=str(path)) as reg:
        v = reg.register("sensor", "1", SENSOR, actor="a", params={"noise": 1.0})
        reg.promote("sensor", "1", expected_revision=v.revision, actor="a")
        reg.register("sensor", "2", SENSOR, actor="a")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUGUE_")}
    env.update(SKBUILD_EDITABLE_VERBOSE="0", FUGUE_REGISTRY__URL=str(path))
    proc = subprocess.run([sys.executable, "-m", "fugue_ppl", "models", "list", "--json"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert [(v["version"], v["status"], v["revision"], v["params"])
            for v in json.loads(proc.stdout)] == [("1", "live", 2, {"noise": 1.0}),
                                                   ("2", "staged", 1, {})]
    proc = subprocess.run([sys.executable, "-m", "fugue_ppl", "models", "show", "sensor", "7"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == ("fugue-ppl models show: model 'sensor' has no version '7' "
                           "(versions: 1, 2)\n")
