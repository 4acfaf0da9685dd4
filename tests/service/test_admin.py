"""The admin API: its routes in a Starlette app, called through httpx in process
(``httpx.ASGITransport``) and once through a real uvicorn server on a loopback port,
against a real registry (a SQLite file; PostgreSQL too for the outage): versions
registered, promoted and rolled back, rollouts started, watched (long poll and
server-sent events) and aborted, and every bad input answered with a 4xx naming the
field in the protocol's ``{"error": ...}`` form."""

import asyncio
import json
import socket
import threading
import time

import httpx
import pytest

pytest.importorskip("starlette")

from starlette.applications import Starlette  # noqa: E402

from fugue_ppl.deploy import ModelDeployment, ModelRegistry, RolloutConfig  # noqa: E402
from fugue_ppl.service.admin import MAX_BODY_BYTES, admin_routes  # noqa: E402

SENSOR = "fugue_ppl.models:sensor"


def make_app(registry, **options):
    options.setdefault("actor", lambda request: request.headers.get("x-key-id", "anonymous"))
    options.setdefault("poll_interval", 0.05)
    return Starlette(routes=admin_routes(registry, **options))


@pytest.fixture
def registry(tmp_path):
    reg = ModelRegistry(url=str(tmp_path / "models.sqlite3"))
    yield reg
    reg.close()


@pytest.fixture
def sensor_registry(registry):
    registry.register("sensor", "1", SENSOR, actor="ci", status="live")
    registry.register("sensor", "2", SENSOR, actor="ci")
    return registry


def call(app, method, path, body=None, *, raw=None, headers=None, status=200):
    """One request through the app in process; the JSON answer (its status checked)."""
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
            return await client.request(method, path, json=body, content=raw,
                                        headers={"x-key-id": "key-alice", **(headers or {})})
    response = asyncio.run(go())
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    return response.json() if response.headers.get("content-type", "").startswith(
        "application/json") else response


# ---------------------------------------------------------------- versions


def test_register_promote_and_roll_back(registry):
    app = make_app(registry)
    out = call(app, "POST", "/admin/models/sensor/versions",
               {"version": "1", "model": SENSOR, "outputs": [
                   {"name": "temperature", "type": "float"}, {"name": "valid", "type": "bool"}],
                "input_schema": "fugue_ppl.models:SENSOR_SCHEMA"}, status=201)
    v = out["version"]
    assert (v["name"], v["version"], v["status"], v["revision"], v["model"]) == (
        "sensor", "1", "staged", 1, SENSOR)
    call(app, "POST", "/admin/models/sensor/versions",
         {"version": "2", "model": SENSOR, "params": {"note": "second"}}, status=201)
    listed = call(app, "GET", "/admin/models/sensor/versions")["versions"]
    assert [(v["version"], v["status"]) for v in listed] == [("1", "staged"), ("2", "staged")]

    out = call(app, "POST", "/admin/models/sensor/versions/1/promote")
    assert (out["version"]["status"], out["standby"], out["changed"]) == ("live", [], True)
    out = call(app, "POST", "/admin/models/sensor/versions/1/promote")
    assert out["changed"] is False                              # (already live)
    out = call(app, "POST", "/admin/models/sensor/versions/2/promote",
               {"expected_revision": 1}, headers={"x-key-id": "key-bob"})
    assert (out["version"]["version"], out["version"]["status"], out["standby"]) == (
        "2", "live", ["1"])
    out = call(app, "POST", "/admin/models/sensor/rollback", {"expected_live": "2"})
    assert (out["version"]["version"], out["version"]["status"], out["retired"]) == (
        "1", "live", "2")
    shown = call(app, "GET", "/admin/models/sensor/versions/2")
    assert shown["version"]["params"] == {"note": "second"}
    assert [(e["actor"], e["action"]) for e in shown["history"]] == [
        ("key-alice", "register"), ("key-bob", "promote"), ("key-alice", "retire")]
    assert registry.get("sensor", "1", cached=False).status == "live"


# ---------------------------------------------------------------- rollouts


def test_start_status_and_abort_a_rollout(sensor_registry):
    changed = []
    app = make_app(sensor_registry, on_change=changed.append,
                   rollout_config=RolloutConfig(steps=[0.1, 0.5, 1.0]))
    response = call(app, "POST", "/admin/models/sensor/rollouts",
                    {"candidate": "2", "strategy": "canary", "metrics": ["errors"]},
                    status=201)
    assert response["rollout"]["id"] == 1
    doc = response
    ro = doc["rollout"]
    assert (ro["strategy"], ro["state"], ro["actor"], ro["baseline"], ro["candidate"]) == (
        "canary", "canary", "key-alice", "1", "2")
    assert ro["settings"]["rollout"]["steps"] == [0.1, 0.5, 1.0]
    assert ro["settings"]["options"] == {"metrics": ["errors"]}
    assert doc["weights"] == {"1": 0.9, "2": 0.1}
    assert [e["action"] for e in doc["events"]] == ["start"]
    assert changed == ["sensor"]
    assert call(app, "GET", "/admin/models/sensor/rollout") == doc
    assert call(app, "GET", "/admin/rollouts/1") == doc
    polled = call(app, "GET", "/admin/rollouts/1/events?after=1&wait=0")
    assert (polled["events"], polled["after"], polled["rollout"]["state"]) == ([], 1, "canary")

    err = call(app, "POST", "/admin/models/sensor/rollouts",
               {"candidate": "2", "strategy": "shadow"}, status=409)
    assert err == {"error": "sensor: rollout 1 (canary of 2) is active; abort it or wait for "
                            "its end"}
    out = call(app, "POST", "/admin/models/sensor/rollout/abort",
               headers={"x-key-id": "key-bob"})
    assert (out["rollout"]["state"], out["weights"]) == ("aborted", {"1": 1.0, "2": 0.0})
    assert [(e["action"], e["actor"]) for e in out["events"]] == [("start", "key-alice"),
                                                                 ("abort", "key-bob")]
    assert call(app, "POST", "/admin/rollouts/1/abort", status=409) == {
        "error": "rollout 1 of sensor is over (aborted)"}
    assert call(app, "POST", "/admin/models/sensor/rollout/abort", status=404) == {
        "error": "model 'sensor' has no active rollout"}
    assert call(app, "GET", "/admin/models/sensor/rollout")["rollout"]["state"] == "aborted"
    assert changed == ["sensor", "sensor"]


def test_a_rollout_started_here_is_driven_by_a_deployment(sensor_registry):
    dep = ModelDeployment(sensor_registry, "sensor", rng=1)
    dep.refresh()
    app = make_app(sensor_registry, on_change=lambda name: dep.refresh())
    call(app, "POST", "/admin/models/sensor/rollouts",
         {"candidate": "2", "strategy": "immediate", "smoke_args": [22.0]}, status=201)
    # (the hook refreshed the deployment: it ran the smoke run and switched)
    assert (dep.live_version, dict(dep.router.weights)) == ("2", {"2": 1.0, "1": 0.0})
    doc = call(app, "GET", "/admin/rollouts/1")
    assert doc["rollout"]["state"] == "promoted"
    assert doc["events"][-1]["details"]["smoke"]["ok"] is True
    dep.close()


def _sse(text):
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines()
                      if not line.startswith(":"))
        events.append((fields.get("id"), fields["event"], json.loads(fields["data"])))
    return events


def test_watching_a_rollout_by_long_poll_and_by_server_sent_events(sensor_registry):
    app = make_app(sensor_registry)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin",
                                     timeout=30.0) as client:
            r = await client.post("/admin/models/sensor/rollouts",
                                  json={"candidate": "2", "strategy": "shadow"})
            assert r.status_code == 201

            async def abort_later():
                await asyncio.sleep(0.3)
                return await client.post("/admin/rollouts/1/abort")
            started = time.monotonic()
            poll, aborted = await asyncio.gather(
                client.get("/admin/rollouts/1/events", params={"after": 1, "wait": 10}),
                abort_later())
            waited = time.monotonic() - started
            assert aborted.status_code == 200
            watched = await client.get("/admin/rollouts/1/watch")   # (over: ends at once)
            resumed = await client.get("/admin/rollouts/1/watch",
                                       headers={"Last-Event-ID": "1"})
            return poll, waited, watched, resumed
    poll, waited, watched, resumed = asyncio.run(scenario())
    assert poll.status_code == 200 and 0.25 <= waited < 10.0       # (it waited for the abort)
    doc = poll.json()
    assert ([e["action"] for e in doc["events"]], doc["after"]) == (["abort"], 2)
    assert watched.headers["content-type"].startswith("text/event-stream")
    events = _sse(watched.text)
    assert [(i, name) for i, name, _ in events] == [("1", "start"), ("2", "abort"),
                                                    (None, "end")]
    assert events[1][2]["state_after"] == "aborted" and events[1][2]["actor"] == "anonymous"
    assert events[-1][2]["rollout"]["state"] == "aborted"
    assert [name for _, name, _ in _sse(resumed.text)] == ["abort", "end"]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("method, path, body, status, error", [
    ("POST", "/admin/models/sensor/versions", {"version": "3"}, 400, "model: required"),
    ("POST", "/admin/models/sensor/versions", {"versoin": "3", "model": SENSOR}, 400,
     "versoin: unknown field (fields: version, model, params, params_schema, factory, "
     "input_schema, outputs, status, load_check)"),
    ("POST", "/admin/models/sensor/versions", {"version": 3, "model": SENSOR}, 400,
     "version: must be a string, got a number"),
    ("POST", "/admin/models/sensor/versions", {"version": "a b", "model": SENSOR}, 400,
     "version: must be 1 to 64 ASCII letters, digits, '_', '-' or '.', got 'a b'"),
    ("POST", "/admin/models/sensor/versions", {"version": "3", "model": SENSOR,
                                               "params": [1]}, 400,
     "params: must be an object, got an array"),
    ("POST", "/admin/models/sensor/versions", {"version": "3", "model": SENSOR,
                                               "status": "gone"}, 400,
     "status: must be one of staged, live, canary, shadow, standby, retired, got 'gone'"),
    ("POST", "/admin/models/sensor/versions", {"version": "3", "model": SENSOR,
                                               "factory": "yes"}, 400,
     "factory: must be true or false, got a string"),
    ("POST", "/admin/models/sensor/versions", {"version": "3", "model": SENSOR,
                                               "outputs": [3]}, 400,
     "outputs[0]: must be an object of name and type, got a number"),
    ("POST", "/admin/models/sensor/versions", {"version": "3", "model": SENSOR,
                                               "outputs": [{"name": "t", "type": "tensor"}]},
     400, "outputs[0].type: must be one of 'float', 'int', 'bool', 'str', got 'tensor'"),
    ("POST", "/admin/models/sensor/versions", {"version": "3", "model": "os:system"}, 400,
     "sensor 3: model 'os:system' is outside the allowed module prefixes (fugue_ppl.models); "
     "refused without importing it"),
    ("POST", "/admin/models/sensor/versions", {"version": "3",
                                               "model": "fugue_ppl.models:nothing"}, 400,
     "sensor 3: model 'fugue_ppl.models:nothing': module 'fugue_ppl.models' has no "
     "'nothing'"),
    ("POST", "/admin/models/sensor/versions", {"version": "1", "model": SENSOR}, 409,
     "sensor 1 is already registered"),
    ("POST", "/admin/models/sensor/versions/2/promote", {"expected_revision": 7}, 409,
     "sensor 2: expected revision 7, but the registry holds revision 1 (another writer "
     "changed it); read it again and retry"),
    ("POST", "/admin/models/sensor/versions/2/promote", {"expected_revision": "1"}, 400,
     "expected_revision: must be an integer, got a string"),
    ("POST", "/admin/models/sensor/versions/9/promote", None, 404,
     "model 'sensor' has no version '9' (versions: 1, 2)"),
    ("GET", "/admin/models/nope/versions", None, 404, "model 'nope' is not registered"),
    ("GET", "/admin/models/bad%20name/versions", None, 400,
     "name: must be 1 to 64 ASCII letters, digits, '_', '-' or '.', got 'bad name'"),
    ("POST", "/admin/models/sensor/rollback", {"expected_live": "2"}, 409,
     "sensor: 1 is live, not 2; nothing rolled back"),
    ("POST", "/admin/models/sensor/rollouts", {"candidate": "2"}, 400, "strategy: required"),
    ("POST", "/admin/models/sensor/rollouts", {"candidate": "2", "strategy": "linear"}, 400,
     "strategy: must be one of immediate, blue-green, canary, rolling, ab, shadow, got "
     "'linear'"),
    ("POST", "/admin/models/sensor/rollouts", {"candidate": "2", "strategy": "canary",
                                               "steps": [0.5, 0.2]}, 400,
     "steps: must increase strictly, got [0.5, 0.2]"),
    ("POST", "/admin/models/sensor/rollouts", {"candidate": "2", "strategy": "canary",
                                               "steps": "0.5,1"}, 400,
     "steps: must be an array, got a string"),
    ("POST", "/admin/models/sensor/rollouts", {"candidate": "2", "strategy": "ab",
                                               "metrics": ["errors"]}, 400,
     "metrics: applies to the strategy canary only, not ab"),
    ("POST", "/admin/models/sensor/rollouts", {"candidate": "2", "strategy": "canary",
                                               "metrics": ["throughput"]}, 400,
     "metrics: must name distinct tests among 'errors', 'latency', got ('throughput',)"),
    ("POST", "/admin/models/sensor/rollouts", {"candidate": "2", "strategy": "rolling",
                                               "replicas": 0}, 400,
     "replicas: must be 1 to 10000, got 0"),
    ("POST", "/admin/models/sensor/rollouts", {"candidate": "2", "strategy": "immediate",
                                               "smoke_args": {"reading": 1}}, 400,
     "smoke_args: must be an array, got an object"),
    ("POST", "/admin/models/sensor/rollouts", {"candidate": "2", "strategy": "ab",
                                               "ab_metric": "clicks"}, 400,
     "ab_metric: must be latency or observed, got 'clicks'"),
    ("POST", "/admin/models/sensor/rollouts", {"candidate": "1", "strategy": "canary"}, 400,
     "candidate: must differ from the baseline (1 is live), got '1'"),
    ("POST", "/admin/models/sensor/rollouts", {"candidate": "7", "strategy": "canary"}, 404,
     "model 'sensor' has no version '7' (versions: 1, 2)"),
    ("GET", "/admin/models/sensor/rollout", None, 404, "model 'sensor' has no rollout"),
    ("GET", "/admin/rollouts/abc", None, 400, "id: must be a rollout's number (1 or more), "
                                              "got 'abc'"),
    ("GET", "/admin/rollouts/99", None, 404, "no rollout 99 in the registry"),
    ("GET", "/admin/rollouts/99/watch", None, 404, "no rollout 99 in the registry"),
    ("GET", "/admin/rollouts/1/events?after=x", None, 400,
     "after: must be an event id (0 or more), got 'x'"),
    ("GET", "/admin/rollouts/1/events?wait=100", None, 400,
     "wait: must be 0 to 30 seconds, got '100'"),
    ("GET", "/admin/rollouts/1/events?since=1", None, 400,
     "since: unknown query parameter (parameters: after, wait)"),
])
def test_bad_requests_name_the_field(sensor_registry, method, path, body, status, error):
    app = make_app(sensor_registry)
    if "/rollouts/1/" in path:
        call(app, "POST", "/admin/models/sensor/rollouts",
             {"candidate": "2", "strategy": "shadow"}, status=201)
    assert call(app, method, path, body, status=status) == {"error": error}


def test_bad_bodies(sensor_registry, tmp_path):
    app = make_app(sensor_registry)
    url = "/admin/models/sensor/versions"
    assert call(app, "POST", url, raw=b"{not json", status=400) == {
        "error": "body: not a JSON document"}
    assert call(app, "POST", url, raw=b"[1, 2]", status=400) == {
        "error": "body: must be a JSON object"}
    assert call(app, "POST", url, raw=b'{"version": NaN}', status=400) == {
        "error": "body: not a JSON document"}
    big = b'{"version": "3", "model": "%s", "params": {"x": "%s"}}' % (
        SENSOR.encode(), b"a" * MAX_BODY_BYTES)
    assert call(app, "POST", url, raw=big, status=413) == {
        "error": f"body: at most {MAX_BODY_BYTES} bytes"}
    # a model that does not import: the reason stays in the server's log
    out = call(app, "POST", url, {"version": "3", "model": "fugue_ppl.models.gone:model"},
               status=400)
    assert out["error"] == ("sensor 3: 'fugue_ppl.models.gone:model' does not load (the "
                            "server's log says why)")
    assert len(out["id"]) == 32 and set(out) == {"error", "id"}
    # parameters failing their schema: each violation by its JSON path
    out = call(app, "POST", url, {"version": "3", "model": SENSOR, "params": {"sd": -1},
                                  "params_schema": {"type": "object", "properties": {
                                      "sd": {"type": "number", "exclusiveMinimum": 0}}}},
               status=400)
    assert out["violations"] == [{"field": "$.sd", "rule": "exclusiveMinimum",
                                  "message": "-1 is less than or equal to the minimum of 0"}]
    assert str(tmp_path) not in json.dumps(out)
    assert [v.version for v in sensor_registry.list("sensor")] == ["1", "2"]


def test_an_unexpected_error_is_a_500_with_an_id_only(sensor_registry, caplog):
    def actor(request):
        raise RuntimeError("secret-token-abc leaked?")
    app = make_app(sensor_registry, actor=actor)
    out = call(app, "POST", "/admin/models/sensor/versions/2/promote", status=500)
    assert out["error"] == "internal error" and len(out["id"]) == 32
    assert "secret-token-abc" not in json.dumps(out)
    assert out["id"] in caplog.text and "secret-token-abc" in caplog.text


def test_a_store_that_is_down_is_a_503_without_its_address(backend):
    reg = backend.registry()
    reg.register("sensor", "1", SENSOR, actor="ci", status="live")
    app = make_app(reg)
    with backend.outage():
        out = call(app, "POST", "/admin/models/sensor/versions",
                   {"version": "2", "model": SENSOR}, status=503)
        assert out == {"error": "the model registry is unavailable; retry later"}
        if backend.kind == "postgresql":        # (its reads fail too)
            response = call(app, "GET", "/admin/models/sensor/versions", status=503)
            assert response == {"error": "the model registry is unavailable; retry later"}
    assert call(app, "GET", "/admin/models/sensor/versions")["versions"][0]["version"] == "1"


def test_bad_arguments_of_the_routes(registry):
    with pytest.raises(TypeError, match="registry must be a ModelRegistry"):
        admin_routes("models.sqlite3")
    with pytest.raises(ValueError, match="poll_interval must be finite and > 0"):
        admin_routes(registry, poll_interval=0)
    routes = admin_routes(registry, prefix=None)
    assert "/models/{name}/rollouts" in [r.path for r in routes]


# ---------------------------------------------------------------- a real server


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_through_a_real_uvicorn_server(sensor_registry):
    uvicorn = pytest.importorskip("uvicorn")
    app = make_app(sensor_registry)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30.0
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30.0,
                          headers={"x-key-id": "key-carol"}) as client:
            r = client.post("/admin/models/sensor/rollouts",
                            json={"candidate": "2", "strategy": "canary"})
            assert r.status_code == 201 and r.headers["location"] == "/admin/rollouts/1"
            received = []
            with client.stream("GET", "/admin/rollouts/1/watch") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                block = []
                for line in stream.iter_lines():
                    if line:
                        block.append(line)
                        continue
                    fields = dict(x.split(": ", 1) for x in block if not x.startswith(":"))
                    block = []
                    if not fields:
                        continue
                    received.append((fields["event"], json.loads(fields["data"])))
                    if fields["event"] == "start":      # (streamed while the rollout runs)
                        assert client.post("/admin/rollouts/1/abort").status_code == 200
                    if fields["event"] == "end":
                        break
            assert [name for name, _ in received] == ["start", "abort", "end"]
            assert received[1][1]["actor"] == "key-carol"
            assert received[-1][1]["weights"] == {"1": 1.0, "2": 0.0}
            r = client.post("/admin/models/sensor/rollouts", json={"strategy": "canary"})
            assert (r.status_code, r.json()) == (400, {"error": "candidate: required"})
    finally:
        server.should_exit = True
        thread.join(timeout=30.0)
