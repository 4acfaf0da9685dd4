"""deploy/Dockerfile's steps replayed without Docker (no image can be pulled or built
here): the builder stage's wheel command run on a copy of what it copies, the wheel
installed with the runtime stage's extras into a fresh virtual environment, and the
image's command run there as the image's non-root user on a free loopback port,
probed on /livez and stopped with SIGTERM as Kubernetes stops it.

The wheel build compiles the C++ core in pip's isolated build environment (minutes).
"""

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

import fugue_ppl

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="replays a Linux image's steps")

#: What the build context leaves out (as .dockerignore does): build outputs, and the
#: C++ that Cython generates next to the package's sources.
_BUILT = shutil.ignore_patterns("__pycache__", "*.so", "*.pyc", "*.egg-info")
_GENERATED = shutil.ignore_patterns("__pycache__", "*.so", "*.pyc", "*.egg-info", "*.cpp",
                                    "*.c", "*.html")
#: A fixture's failure, kept so the tests that need it fail at once, not by redoing it.
_FAILED = {}


def _once(name, make):
    if name in _FAILED:
        pytest.fail(f"{name} failed already: {_FAILED[name]}", pytrace=False)
    try:
        return make()
    except BaseException as exc:
        _FAILED[name] = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise


def _instructions(stage, instruction):
    return [v for i, v in stage if i == instruction]


@pytest.fixture(scope="module")
def image_user(dockerfile):
    """The image's ``USER`` as (uid, gid); the current user's when this is not root
    (a non-root user already)."""
    (user,) = _instructions(dockerfile["stages"]["runtime"], "USER")
    uid, gid = (int(x) for x in user.split(":"))
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    return uid, gid


@pytest.fixture(scope="module")
def workdir(image_user):
    """A directory every user can read, removed at the end."""
    path = tempfile.mkdtemp(prefix="fugue-image-replay-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def wheel(dockerfile, deploy_dir, workdir):
    """The builder stage: its COPY lines into a fresh context, then its wheel command."""
    return _once("the wheel build", lambda: _build_wheel(dockerfile, deploy_dir, workdir))


def _build_wheel(dockerfile, deploy_dir, workdir):
    root = deploy_dir.parent
    builder = dockerfile["stages"]["builder"]
    src = os.path.join(workdir, "src")
    os.makedirs(src)
    for value in _instructions(builder, "COPY"):
        *sources, dest = value.split()
        for source in sources:
            origin = root / source
            target = os.path.join(src, dest, source.rstrip("/").rsplit("/", 1)[-1]) \
                if dest.endswith("/") and not source.endswith("/") else os.path.join(src, dest)
            if origin.is_dir():
                shutil.copytree(origin, target,
                                ignore=_GENERATED if source.startswith("python") else _BUILT)
            else:
                shutil.copy2(origin, target)
    (command,) = [r for r in _instructions(builder, "RUN") if r.startswith("pip wheel")]
    dist = os.path.join(workdir, "dist")
    args = [dist if a == "/dist" else a for a in shlex.split(command)]
    assert args[:2] == ["pip", "wheel"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_NO_BUILD_ISOLATION", "SKBUILD_"))}
    result = subprocess.run([sys.executable, "-m", *args], cwd=src, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (built,) = os.listdir(dist)
    return os.path.join(dist, built)


@pytest.fixture(scope="module")
def venv(dockerfile, wheel, workdir):
    """The runtime stage: a fresh venv with the wheel and the extras its RUN names."""
    return _once("the venv install", lambda: _install(dockerfile, wheel, workdir))


def _install(dockerfile, wheel, workdir):
    runtime = dockerfile["stages"]["runtime"]
    (install,) = [r for r in _instructions(runtime, "RUN") if "pip install" in r]
    extras = re.search(r"\.whl'\)(\[[a-z,]+\])", install).group(1)
    path = os.path.join(workdir, "venv")
    subprocess.run([sys.executable, "-m", "venv", path], check=True, timeout=300)
    result = subprocess.run([os.path.join(path, "bin", "python"), "-m", "pip", "install",
                             "--no-cache-dir", "--disable-pip-version-check", wheel + extras],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    subprocess.run(["chmod", "-R", "a+rX", workdir], check=True, timeout=120)
    return path


def _as_user(image_user, venv, home):
    uid, gid = image_user
    env = {"PATH": f"{os.path.join(venv, 'bin')}:/usr/bin:/bin", "HOME": home,
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
    kw = {"env": env, "cwd": home}
    if os.geteuid() == 0:
        kw.update(user=uid, group=gid, extra_groups=[])
    return kw


@pytest.fixture(scope="module")
def home(image_user, workdir):
    """The image's WORKDIR: the image user's own directory."""
    path = os.path.join(workdir, "home")
    os.makedirs(path)
    os.chown(path, *image_user)
    return path


def test_the_builder_stage_builds_a_wheel_of_this_version(wheel):
    name = os.path.basename(wheel)
    assert name.startswith(f"fugue_ppl-{fugue_ppl.__version__}-") and name.endswith(".whl")


def test_the_runtime_stage_installs_the_service_extras(venv):
    code = ("import fugue_ppl, starlette, uvicorn, psycopg, psycopg_pool, jsonschema, yaml; "
            "print(fugue_ppl.__file__)")
    out = subprocess.run([os.path.join(venv, "bin", "python"), "-c", code], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(venv)                   # the venv's, not this checkout's


def test_the_command_runs_as_the_image_user(venv, image_user, home):
    out = subprocess.run(["fugue-ppl", "--version"], capture_output=True, text=True,
                         timeout=120, **_as_user(image_user, venv, home))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"fugue-ppl {fugue_ppl.__version__}"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_image_command_serves_livez_as_the_image_user(dockerfile, venv, image_user, home,
                                                          service_defaults):
    parser, runtime = dockerfile["parser"], dockerfile["stages"]["runtime"]
    (entrypoint,) = _instructions(runtime, "ENTRYPOINT")
    command = json.loads(entrypoint) + json.loads(parser.cmd)
    port = _free_port()
    # the image's command on a free loopback port instead of 0.0.0.0:8080
    command = ["127.0.0.1" if a == "0.0.0.0" else str(port)
               if a == str(service_defaults["port"]) else a for a in command]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **_as_user(image_user, venv, home))
    url = f"http://127.0.0.1:{port}{service_defaults['liveness']}"
    status, deadline = None, time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    status = response.status
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        if status != 200:
            code = proc.poll()
            output = proc.stdout.read() if code is not None else ""
            pytest.fail(f"{shlex.join(command)} did not answer {url}: exit status {code}, "
                        f"output:\n{output[-3000:]}")
        with open(f"/proc/{proc.pid}/status", encoding="ascii") as f:
            uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
        assert {int(u) for u in uids} == {image_user[0]}
        # stopped as Kubernetes stops a pod: SIGTERM, then its grace period
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=service_defaults["grace_seconds"] + 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
