"""Optional dependencies: the extras, their lazy import and the light ``import fugue_ppl``."""

import importlib.metadata as md
import importlib.util
import json
import re
import subprocess
import sys
import textwrap

import pytest

import fugue_ppl
from fugue_ppl._extras import EXTRAS, install_command, require
from fugue_ppl.errors import InvalidArgument

#: What ``import fugue_ppl`` (and each layer) must not load.
HEAVY = ("starlette", "uvicorn", "pythonjsonlogger", "rfc8785", "orjson", "granian", "httpx",
         "psycopg",
         "psycopg_pool", "dask", "distributed", "scipy", "pandas", "jsonschema", "cachetools")

#: Imported in this order in one fresh interpreter, the heavy modules checked after each.
TARGETS = ("fugue_ppl", "fugue_ppl.core", "fugue_ppl.inference", "fugue_ppl.monitoring",
           "fugue_ppl.serving",
           "fugue_ppl.monitoring.prometheus", "fugue_ppl.serving.prometheus",
           "fugue_ppl.serving.health", "fugue_ppl.serving.slo", "fugue_ppl.deploy",
           "fugue_ppl.config",
           "fugue_ppl.validation", "fugue_ppl.models", "fugue_ppl.cli", "fugue_ppl._extras")


def _names(requirements):
    return {re.split(r"[<>=!~ ;\[]", r)[0].lower().replace("-", "_") for r in requirements}


def _extra(name):
    reqs = md.requires("fugue-ppl") or []
    return [r.split(";")[0].strip() for r in reqs
            if re.search(rf"""extra\s*==\s*["']{name}["']""", r)]


# ---------------------------------------------------------------- the light import

def test_import_fugue_ppl_loads_no_optional_dependency():
    code = textwrap.dedent(f"""
        import importlib, json, sys
        heavy = {HEAVY!r}
        loaded = {{}}
        for target in {TARGETS!r}:
            importlib.import_module(target)
            loaded[target] = sorted(m for m in heavy if m in sys.modules)
        loaded["numpy and prometheus_client"] = [
            m for m in ("numpy", "prometheus_client") if m in sys.modules]
        print(json.dumps(loaded))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert loaded == {**{t: [] for t in TARGETS},
                      "numpy and prometheus_client": ["numpy", "prometheus_client"]}


def test_import_fugue_ppl_does_not_import_the_deploy_layer():
    code = ("import sys, fugue_ppl; "
            "print(sorted(m for m in sys.modules if m.startswith('fugue_ppl.deploy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_heavy_modules_are_installed_so_the_light_import_test_means_something():
    # The [test] extra installs [all], httpx and scipy: each one could have been imported.
    missing = [m for m in HEAVY if m not in ("granian", "pandas")
               and importlib.util.find_spec(m) is None]
    assert missing == []


# ---------------------------------------------------------------- require

@pytest.mark.parametrize("extra, module", [
    ("serve", "starlette"), ("serve", "uvicorn"), ("postgres", "psycopg_pool"),
    ("dask", "dask"), ("all", "starlette.responses"),
])
def test_require_returns_an_installed_module(extra, module):
    mod = require(extra, module)
    assert mod is sys.modules[module]
    assert mod.__name__ == module


@pytest.mark.parametrize("extra", ["serve", "postgres", "dask", "all"])
def test_require_a_missing_module_names_the_extra_and_the_pip_command(extra):
    with pytest.raises(ModuleNotFoundError) as info:
        require(extra, "fugue_ppl_test_absent_module")
    err = info.value
    assert str(err) == (f'fugue_ppl_test_absent_module is not installed; it comes with the '
                        f'"{extra}" extra: pip install "fugue-ppl[{extra}]"')
    assert err.name == "fugue_ppl_test_absent_module"
    assert isinstance(err.__cause__, ModuleNotFoundError)
    assert "fugue_ppl_test_absent_module" not in sys.modules


def test_require_names_the_feature_and_a_missing_submodule():
    with pytest.raises(ModuleNotFoundError) as info:
        require("serve", "fugue_ppl_test_absent_module.sub", feature="fugue-ppl serve")
    assert str(info.value) == (
        'fugue-ppl serve needs fugue_ppl_test_absent_module.sub, which is not installed; '
        'it comes with the "serve" extra: pip install "fugue-ppl[serve]"')
    assert info.value.name == "fugue_ppl_test_absent_module.sub"


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    created = []

    def write(name, source):
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
        created.append(name)
        return name

    yield write
    for name in created:
        sys.modules.pop(name, None)


def test_an_installed_module_whose_dependency_is_missing_is_reported_as_broken(module_dir):
    name = module_dir("fugue_ppl_test_half_installed", "import fugue_ppl_test_gone_dependency\n")
    with pytest.raises(ImportError) as info:
        require("postgres", name)
    err = info.value
    assert type(err) is ImportError
    assert str(err) == (
        "importing fugue_ppl_test_half_installed failed (ModuleNotFoundError: No module named "
        "'fugue_ppl_test_gone_dependency'); reinstall the \"postgres\" extra: "
        'pip install "fugue-ppl[postgres]"')
    assert err.name == name
    assert isinstance(err.__cause__, ModuleNotFoundError)


def test_an_import_error_inside_the_module_is_reported_with_the_feature(module_dir):
    name = module_dir("fugue_ppl_test_no_libpq", "raise ImportError('no pq wrapper available')\n")
    with pytest.raises(ImportError) as info:
        require("postgres", name, feature="the PostgreSQL registry")
    assert str(info.value) == (
        "the PostgreSQL registry needs fugue_ppl_test_no_libpq, but importing it failed "
        "(ImportError: no pq wrapper available); reinstall the \"postgres\" extra: "
        'pip install "fugue-ppl[postgres]"')


def test_other_errors_of_the_import_propagate_unchanged(module_dir):
    name = module_dir("fugue_ppl_test_crashes", "raise RuntimeError('bad configuration')\n")
    with pytest.raises(RuntimeError, match="^bad configuration$"):
        require("dask", name)


@pytest.mark.parametrize("args, kwargs, exc, msg", [
    (("web", "starlette"), {}, InvalidArgument,
     "^require: extra must be one of 'serve', 'postgres', 'deploy', 'dask', 'all', got 'web'$"),
    (("Serve", "starlette"), {}, InvalidArgument, "extra must be one of"),
    ((None, "starlette"), {}, TypeError, "^require: extra must be a str, got NoneType$"),
    (("serve", 3), {}, TypeError, "^require: module must be a str, got int$"),
    (("serve", ""), {}, InvalidArgument,
     "^require: module must be a printable, non-empty str of at most 200 characters, got ''$"),
    (("serve", "starlette"), {"feature": b"x"}, TypeError,
     "^require: feature must be a str, got bytes$"),
])
def test_require_rejects_bad_arguments(args, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        require(*args, **kwargs)


def test_install_command():
    assert install_command("serve") == 'pip install "fugue-ppl[serve]"'
    assert install_command("all") == 'pip install "fugue-ppl[all]"'
    with pytest.raises(InvalidArgument, match="^install_command: extra must be one of"):
        install_command("test")


# ---------------------------------------------------------------- the distribution's extras

def test_the_distribution_declares_the_extras():
    provided = set(md.metadata("fugue-ppl").get_all("Provides-Extra") or [])
    assert {"serve", "postgres", "deploy", "dask", "all", "test"} <= provided
    assert set(EXTRAS) == {"serve", "postgres", "deploy", "dask", "all"}
    assert _names(_extra("deploy")) == {"jsonschema", "cachetools", "pyyaml"}
    assert _names(_extra("serve")) == {"starlette", "uvicorn", "httptools", "uvloop",
                                       "python_json_logger", "orjson"}
    assert any(r.replace(" ", "").startswith("uvicorn[standard]") for r in _extra("serve"))
    assert _names(_extra("postgres")) == {"psycopg", "psycopg_pool"}
    assert any(r.replace(" ", "").startswith("psycopg[binary]") for r in _extra("postgres"))
    assert [r.replace(" ", "")[:17] for r in _extra("dask")] == ["dask[distributed]"]
    (everything,) = _extra("all")
    assert re.fullmatch(r"fugue-ppl\[([a-z,]+)\]", everything.replace(" ", ""))
    assert set(everything.replace(" ", "")[10:-1].split(",")) == {"serve", "postgres", "deploy",
                                                                 "dask"}
    assert "pgserver" in _names(_extra("test"))
    assert "fugue-ppl[all]" in [r.replace(" ", "") for r in _extra("test")]


def test_every_module_of_an_extra_comes_with_it():
    # EXTRAS names the modules; the installed distributions that provide them
    # are the extra's requirements (or what they bring: distributed with dask[distributed]).
    provides = md.packages_distributions()
    brought = {"serve": {"starlette", "uvicorn", "httptools", "uvloop", "python_json_logger",
                         "orjson"},
               "postgres": {"psycopg", "psycopg_pool"},
               "deploy": {"jsonschema", "cachetools", "pyyaml"},
               "dask": {"dask", "distributed"}}
    brought["all"] = set().union(*brought.values())
    for extra, modules in EXTRAS.items():
        dists = {d.lower().replace("-", "_") for m in modules for d in provides[m]}
        assert dists == brought[extra], extra


def test_runtime_dependencies_stay_numpy_and_prometheus_client():
    reqs = md.requires("fugue-ppl") or []
    assert _names(r for r in reqs if "extra ==" not in r) == {"numpy", "prometheus_client"}
    assert fugue_ppl.__name__ == "fugue_ppl"
