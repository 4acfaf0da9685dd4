"""The distribution: metadata, console script, typing files, the C++ libraries' RPATH,
the sdist's contents and the wheel matrix."""

import importlib
import importlib.metadata as md
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile

import pytest

import fugue_ppl

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMPILED = ("core._runtime", "core._distributions", "monitoring._metrics", "monitoring._monitors",
            "serving._breaker", "serving._runner", "deploy._stats", "deploy._fresh")


def test_runtime_dependencies_are_numpy_and_prometheus_client():
    reqs = md.requires("fugue-ppl") or []
    runtime = [r for r in reqs if "extra ==" not in r]
    names = sorted(re.split(r"[<>=!~ ;\[]", r)[0].lower().replace("-", "_") for r in runtime)
    assert names == ["numpy", "prometheus_client"]


def test_test_extra_lists_the_test_tools():
    reqs = md.requires("fugue-ppl") or []
    test = {re.split(r"[<>=!~ ;\[]", r)[0].lower() for r in reqs if 'extra == "test"' in r}
    assert {"pytest", "hypothesis", "scipy", "mpmath", "pytest-benchmark", "httpx", "build",
            "cibuildwheel", "ruff", "cython-lint", "selenium", "fugue-ppl"} <= test


def test_python_requirement_and_console_script():
    meta = md.metadata("fugue-ppl")
    assert meta["Requires-Python"] == ">=3.10"
    scripts = {ep.name: ep.value for ep in md.entry_points(group="console_scripts")}
    assert scripts.get("fugue-ppl") == "fugue_ppl.cli:main"


def test_typing_files_ship_next_to_the_compiled_modules():
    pkg = pathlib.Path(fugue_ppl.__file__).parent
    assert (pkg / "py.typed").is_file()
    for mod in COMPILED:
        stub = pkg / (mod.replace(".", "/") + ".pyi")
        assert stub.is_file(), stub
        assert "def " in stub.read_text()


def test_every_public_name_is_exported():
    missing = [n for n in fugue_ppl.__all__ if not hasattr(fugue_ppl, n)]
    assert missing == []


def _extension_modules():
    # (where the import finds them: an editable install keeps them in its build tree)
    return {mod: pathlib.Path(importlib.import_module(f"fugue_ppl.{mod}").__file__)
            for mod in COMPILED}


# The sanitizer build (CMake option FUGUE_SANITIZE, used by .ci/sanitize) must
# never reach an installed package: its modules abort the interpreter unless
# libasan is preloaded.
_SANITIZER_MARKS = (b"__asan_", b"__ubsan_", b"libasan.so", b"libubsan.so", b"libtsan.so")


def test_installed_extension_modules_carry_no_sanitizer():
    for path in _extension_modules().values():
        data = path.read_bytes()
        marks = [m.decode() for m in _SANITIZER_MARKS if m in data]
        assert marks == [], f"{path.name} is built with sanitizers ({', '.join(marks)})"


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ldd") is None,
                    reason="ldd is Linux-only")
def test_installed_extension_modules_do_not_link_a_sanitizer_runtime():
    for path in _extension_modules().values():
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=60,
                             check=True).stdout
        assert not re.search(r"lib(asan|ubsan|tsan|lsan)\.so", out), \
            f"{path.name} links a sanitizer runtime:\n{out}"


@pytest.mark.skipif(not (ROOT / "CMakeLists.txt").exists(),
                    reason="the build files are not next to the tests")
def test_the_sanitizer_option_is_off_unless_asked_for():
    cmake = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    assert re.search(r'option\(FUGUE_SANITIZE "[^"]*" OFF\)', cmake)
    # dropped from the CMake cache once read: a reused build directory falls back to OFF
    assert "unset(FUGUE_SANITIZE CACHE)" in cmake
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "FUGUE_SANITIZE" not in pyproject
    assert "fsanitize" not in pyproject


def test_the_former_module_names_are_aliases_of_the_new_ones():
    import fugue_ppl.health
    import fugue_ppl.metrics
    import fugue_ppl.monitoring.prometheus
    import fugue_ppl.serving.health
    import fugue_ppl.serving.slo
    import fugue_ppl.slo

    assert fugue_ppl.health is fugue_ppl.serving.health
    assert fugue_ppl.slo is fugue_ppl.serving.slo
    assert fugue_ppl.metrics is fugue_ppl.monitoring.prometheus
    from fugue_ppl.health import HealthChecker
    from fugue_ppl.metrics import ProductionMetrics, PrometheusCollector
    from fugue_ppl.slo import BurnRateAlerts
    assert HealthChecker.__module__ == "fugue_ppl.serving.health.checker"
    assert BurnRateAlerts.__module__ == "fugue_ppl.serving.slo.burn_rate"
    assert PrometheusCollector.__module__ == "fugue_ppl.monitoring.prometheus"
    assert ProductionMetrics is fugue_ppl.ProductionMetrics


def _dynamic(path):
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    runpath = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]", out)
    return needed, runpath


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("readelf") is None,
                    reason="ELF dynamic sections: Linux with readelf")
def test_the_cpp_libraries_sit_in_the_package_and_load_through_origin():
    # What lets auditwheel and delocate keep them as they are: the extensions find
    # libfugue_*.so in the package's folder through $ORIGIN, and nothing outside it.
    modules = _extension_modules()
    pkg = modules["core._runtime"].parents[1]
    libs = sorted(p.name for p in pkg.glob("libfugue_*.so"))
    assert libs == ["libfugue_core.so", "libfugue_deploy.so", "libfugue_monitoring.so",
                    "libfugue_service.so", "libfugue_serving.so"]
    for mod, path in modules.items():
        needed, runpath = _dynamic(path)
        ours = [n for n in needed if n.startswith("libfugue_")]
        assert ours and set(ours) <= set(libs), (mod, needed)
        assert runpath == ["$ORIGIN/.."], (mod, runpath)
    for lib in libs:
        needed, runpath = _dynamic(pkg / lib)
        assert {n for n in needed if n.startswith("libfugue_")} <= set(libs)
        assert runpath == ["$ORIGIN"], (lib, runpath)


# ---------------------------------------------------------------- the sdist

# What the sdist must carry: every tracked file under these folders, and these files.
SDIST_FOLDERS = ("python/", "csrc/", "tests/", "docs/", "deploy/")
SDIST_FILES = ("CMakeLists.txt", "pyproject.toml", "README.md", ".gitignore", ".dockerignore")


def _tracked_files():
    """The repository's tracked files: from git in a checkout; in an unpacked sdist (as
    .ci/run tests it), from the list .ci/run wrote (SDIST_TRACKED_FILES)."""
    listed = os.environ.get("SDIST_TRACKED_FILES")
    if listed:
        return pathlib.Path(listed).read_text(encoding="utf-8").split("\n")
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout and no SDIST_TRACKED_FILES list (.ci/run gives one)")
    out = subprocess.run([git, "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60,
                         check=True).stdout.decode()
    return out.split("\0")


@pytest.fixture(scope="module")
def sdist_names(tmp_path_factory):
    if importlib.util.find_spec("build") is None:
        pytest.skip('build is not installed: pip install ".[test]"')
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("the project files are not next to the tests")
    out = tmp_path_factory.mktemp("sdist")
    r = subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (archive,) = out.glob("fugue_ppl-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    top = {n.split("/", 1)[0] for n in names}
    assert top == {f"fugue_ppl-{md.version('fugue-ppl')}"}
    return {n.split("/", 1)[1] for n in names if "/" in n}


def test_the_sdist_holds_every_tracked_file_the_build_and_the_tests_need(sdist_names):
    tracked = [f for f in _tracked_files() if f]
    needed = {f for f in tracked if f.startswith(SDIST_FOLDERS) or f in SDIST_FILES}
    assert {"CMakeLists.txt", "pyproject.toml", "README.md", "docs/metrics.md",
            "docs/gen_metrics.py", "tests/conftest.py",
            "python/fugue_ppl/__init__.py"} <= needed
    assert any(f.startswith("csrc/core/src/") for f in needed)
    missing = sorted(needed - sdist_names)
    assert missing == [], f"missing from the sdist: {missing}"
    assert "PKG-INFO" in sdist_names


def test_the_sdist_carries_no_build_output(sdist_names):
    built = sorted(n for n in sdist_names
                   if n.startswith(("build/", "dist/")) or "/__pycache__/" in n
                   or n.endswith((".so", ".pyd", ".o", ".pyc"))
                   or (n.startswith("python/") and n.endswith((".cpp", ".c"))))
    assert built == []


# ---------------------------------------------------------------- wheels (cibuildwheel)

def _cibuildwheel(platform):
    if importlib.util.find_spec("cibuildwheel") is None:
        if sys.version_info >= (3, 11) and os.environ.get("CI") == "true":
            pytest.fail("cibuildwheel is missing under CI=true (it is in the [test] extra)")
        pytest.skip('cibuildwheel is not installed (it needs Python 3.11+): pip install ".[test]"')
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("the project files are not next to the tests")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBW_")}
    r = subprocess.run([sys.executable, "-m", "cibuildwheel", "--print-build-identifiers",
                        "--platform", platform], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


PYTHONS = ("cp310", "cp311", "cp312", "cp313")


def test_cibuildwheel_builds_cpython_310_to_313_manylinux_and_musllinux():
    expected = {f"{py}-{tag}" for py in PYTHONS
                for tag in ("manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64")}
    ids = _cibuildwheel("linux")
    assert len(ids) == len(set(ids)) == 12
    assert set(ids) == expected


def test_cibuildwheel_builds_cpython_310_to_313_for_both_macos_architectures():
    expected = {f"{py}-macosx_{arch}" for py in PYTHONS for arch in ("x86_64", "arm64")}
    ids = _cibuildwheel("macos")
    assert len(ids) == len(set(ids)) == 8
    assert set(ids) == expected


def _cibw_config():
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["cibuildwheel"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(),
                    reason="the project files are not next to the tests")
def test_cibuildwheel_images_and_repair():
    cfg = _cibw_config()
    assert cfg["manylinux-x86_64-image"] == cfg["manylinux-aarch64-image"] == "manylinux_2_28"
    assert cfg["musllinux-x86_64-image"] == "musllinux_1_2"
    # auditwheel / delocate with their defaults: no repair command of our own
    assert "repair-wheel-command" not in cfg
    assert "repair-wheel-command" not in cfg.get("linux", {})
    assert "repair-wheel-command" not in cfg.get("macos", {})


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
@pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(),
                    reason="the project files are not next to the tests")
def test_the_wheel_smoke_test_passes_against_this_install(tmp_path):
    # cibuildwheel runs these in a fresh environment holding the repaired wheel; here they run
    # against the installed package, from a directory without the sources.
    commands = _cibw_config()["test-command"]
    assert [c.split()[0] for c in commands] == ["fugue-ppl", "python", "fugue-ppl"]
    scripts = pathlib.Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in commands:
        r = subprocess.run(command.replace("python ", f"{sys.executable} ", 1), shell=True,
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{command}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    assert fugue_ppl.__version__ in subprocess.run(
        [scripts / "fugue-ppl", "--version"], capture_output=True, text=True, timeout=60,
        env=env).stdout
