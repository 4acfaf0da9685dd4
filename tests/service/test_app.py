"""The service's application in process (httpx through its ASGI transport): every
route, the Open Inference Protocol's documents, the mapping of each outcome to its
HTTP status and error body, request ids and traceparent in the JSON logs, the
metrics, and the hooks of the authenticator, the rate limiter and the audit log
(exercised with small fakes written here)."""

import asyncio
import io
import json
import logging
import math
import re
import time

import httpx
import pytest

import fugue_ppl as fp
from fugue_ppl._cli_serve import builtin_deployment
from fugue_ppl.inference import ImportanceSampling, MetropolisHastings
from fugue_ppl.models import SENSOR_SCHEMA, sensor, sensor_posterior
from fugue_ppl.service._service_config import ServiceConfig
from fugue_ppl.service.app import create_app, parse_traceparent
from fugue_ppl.service.catalog import Catalog, StaticDeployment
from fugue_ppl.service.protocol import POSTERIOR_OUTPUTS
from fugue_ppl.serving import ModelConfig, RunnerConfig, RuntimeConfig
from fugue_ppl.serving.logs import INFERENCE_LOGGER, json_handler

SENSOR_OUTPUTS = [{"name": "temperature", "type": "float"}, {"name": "valid", "type": "bool"}]
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SECRET_TEXT = "hunter2-connection-string"
_NO = object()


def reading(value=22.0, datatype="FP64", shape=(1,), name="reading"):
    return {"name": name, "shape": list(shape), "datatype": datatype, "data": value}


def body(*inputs, **extra):
    return {"inputs": list(inputs) or [reading([22.0])], **extra}


def runner(model, name, version="1", *, schema=None, fallback=_NO, deadline=1.0, workers=2,
           queue=8, rng=42, **kwargs):
    cfg = RunnerConfig(model=ModelConfig(name=name, version=version),
                       runtime=RuntimeConfig(max_inference_time=deadline, workers=workers,
                                             queue_size=queue, inference_log_rate=1.0))
    if fallback is not _NO:
        kwargs["fallback"] = fallback
    return fp.ModelRunner(model, cfg, schema=schema, rng=rng, **kwargs)


def failing(reading):
    fp.sample("temperature", fp.Normal(20.0, 5.0))
    raise RuntimeError(f"cannot reach {SECRET_TEXT}")


def slow(reading):
    for i in range(10_000_000):
        fp.sample(fp.addr("t", i), fp.Normal(0.0, 1.0))


def blocking(reading):
    time.sleep(0.4)
    return fp.sample("temperature", fp.Normal(reading, 1.0)), True


def mismatch(reading):
    return 1.0, True, "three"


def typed(count: int, flag: bool, label: str, scale: float = 1.0):
    fp.sample("noise", fp.Normal(0.0, 1.0))
    return count * scale, flag, label


def untyped(x):
    return x * 2.0, int(x)


def deployment(name, model, *, version="1", schema=None, outputs=SENSOR_OUTPUTS, **kwargs):
    return StaticDeployment(name, {version: runner(model, name, version, schema=schema,
                                                   **kwargs)}, outputs=outputs)


def catalog(*extra):
    sensor_dep = StaticDeployment("sensor", {"1": runner(sensor, "sensor",
                                                         schema=SENSOR_SCHEMA)},
                                  outputs=SENSOR_OUTPUTS)
    return Catalog([sensor_dep, *extra])


def exercise(app, scenario, client=("10.0.0.7", 51000), root_path=""):
    """Run ``scenario(httpx client)`` against ``app`` inside its lifespan."""
    async def main():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=client, root_path=root_path)
            async with httpx.AsyncClient(transport=transport, base_url="http://fugue.test",
                                         timeout=30) as c:
                return await scenario(c)
    return asyncio.run(main())


def get(app, path, **kwargs):
    async def scenario(c):
        return await c.get(path, **kwargs)
    return exercise(app, scenario)


def post(app, path, content=None, **kwargs):
    async def scenario(c):
        if isinstance(content, (bytes, str)):
            return await c.post(path, content=content, **kwargs)
        return await c.post(path, json=content, **kwargs)
    return exercise(app, scenario)


def outputs(response):
    return {o["name"]: o for o in response.json()["outputs"]}


def assert_error(response, status, *fragments):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert isinstance(doc["error"], str) and doc["error"]
    for f in fragments:
        assert f in doc["error"], (f, doc["error"])
    assert "Traceback" not in response.text and "File \"" not in response.text
    assert SECRET_TEXT not in response.text
    assert re.fullmatch(r"[A-Za-z0-9._~:+/=-]{1,128}", response.headers["x-request-id"])
    return doc


@pytest.fixture(scope="module")
def app():
    return create_app(catalog(
        deployment("typed", typed, outputs=[{"name": "scaled", "type": "float"},
                                            {"name": "flag", "type": "bool"},
                                            {"name": "label", "type": "str"}]),
        deployment("untyped", untyped, outputs=()),
        deployment("mismatch", mismatch),
        deployment("failing", failing),
        deployment("failing_fallback", failing, fallback=(20.0, False)),
        deployment("slow", slow, deadline=0.05),
        deployment("slow_fallback", slow, deadline=0.05, fallback=(20.0, False)),
    ), settings=ServiceConfig(max_body_bytes=4096, body_timeout_seconds=0.5))


# ---------------------------------------------------------------- health and metadata


def test_liveness_and_readiness(app):
    assert get(app, "/v2/health/live").json() == {"live": True}
    r = get(app, "/v2/health/ready")
    assert r.status_code == 200 and r.json() == {"ready": True}
    r = get(app, "/livez")
    assert r.status_code == 200 and r.headers["content-type"] == "application/health+json"
    assert r.json()["status"] == "pass"
    r = get(app, "/readyz")
    doc = r.json()
    assert r.status_code == 200 and doc["status"] == "pass"
    assert doc["models"]["sensor"] == {"1": "pass"}
    keys = [c["componentId"] for c in doc["checks"]["model:warmup"]]
    assert "sensor/1:sensor" in keys


def test_health_reports_every_version_with_the_levels(app):
    r = get(app, "/health")
    assert r.status_code == 200 and r.headers["content-type"] == "application/health+json"
    doc = r.json()
    assert doc["status"] in ("pass", "warn") and doc["serviceId"] == "fugue-ppl"
    assert set(doc["levels"]) == {"system", "model", "inference", "resource"}
    assert {"score", "status", "thresholds"} <= set(doc["levels"]["system"])
    assert doc["models"]["sensor"]["1"]["status"] in ("pass", "warn")
    assert set(doc["models"]) == {"sensor", "typed", "untyped", "mismatch", "failing",
                                  "failing_fallback", "slow", "slow_fallback"}
    execution = {c["componentId"] for c in doc["checks"]["model:execution"]}
    assert "sensor/1:sensor" in execution


def test_server_metadata_names_the_unsupported_binary_extension(app):
    doc = get(app, "/v2").json()
    assert doc["name"] == "fugue-ppl" and doc["version"] == fp.__version__
    assert doc["extensions"] == [] and doc["unsupported_extensions"] == ["binary_tensor_data"]


def test_model_metadata_from_the_schema_and_the_declared_outputs(app):
    doc = get(app, "/v2/models/sensor").json()
    assert doc["name"] == "sensor" and doc["versions"] == ["1"] and doc["platform"] == "fugue-ppl"
    assert doc["inputs"] == [{"name": "reading", "datatype": "FP64", "shape": [1]}]
    names = [(o["name"], o["datatype"]) for o in doc["outputs"]]
    assert names[:7] == [("temperature", "FP64"), ("valid", "BOOL"), ("status", "BYTES"),
                         ("log_prior", "FP64"), ("log_likelihood", "FP64"),
                         ("log_factors", "FP64"), ("total_log_weight", "FP64")]
    assert ("choice_address", "BYTES") in names and ("choice_value", "FP64") in names
    assert get(app, "/v2/models/sensor/versions/1").json() == doc
    typed_doc = get(app, "/v2/models/typed").json()
    assert [(i["name"], i["datatype"]) for i in typed_doc["inputs"]] == [
        ("count", "INT64"), ("flag", "BOOL"), ("label", "BYTES"), ("scale", "FP64")]
    assert [o["datatype"] for o in typed_doc["outputs"][:3]] == ["FP64", "BOOL", "BYTES"]


def test_model_and_version_readiness(app):
    assert get(app, "/v2/models/sensor/ready").json() == {"name": "sensor", "ready": True}
    r = get(app, "/v2/models/sensor/versions/1/ready")
    assert r.status_code == 200 and r.json() == {"name": "sensor", "ready": True, "version": "1"}


@pytest.mark.parametrize("method, path, fragment", [
    ("GET", "/v2/models/nope", "no model 'nope'"),
    ("GET", "/v2/models/nope/ready", "no model 'nope'"),
    ("POST", "/v2/models/nope/infer", "no model 'nope'"),
    ("GET", "/v2/models/sensor/versions/7", "no served version '7'"),
    ("GET", "/v2/models/sensor/versions/7/ready", "no served version '7'"),
    ("POST", "/v2/models/sensor/versions/7/infer", "no served version '7'"),
])
def test_unknown_models_and_versions_are_404(app, method, path, fragment):
    async def scenario(c):
        return await c.request(method, path, json=body())
    doc = assert_error(exercise(app, scenario), 404, fragment)
    assert doc["kind"] in ("unknown_model", "unknown_version")
    assert doc["code"] == (703 if doc["kind"] == "unknown_model" else 704)


def test_unknown_routes_and_methods(app):
    assert_error(get(app, "/v3/nothing"), 404, "no route GET /v3/nothing")
    assert_error(get(app, "/v2/models/sensor/infer"), 405, "method GET is not allowed")


# ---------------------------------------------------------------- inference


SAME_EITHER_WAY = [
    ("/v2/models/sensor/infer", json.dumps(body(parameters={"seed": 3})), {}),
    ("/v2/models/sensor/versions/1/infer", json.dumps(body(parameters={"seed": 3})), {}),
    ("/v2/models/sensor/infer", json.dumps(body(parameters={"seed": 3, "choices": True},
                                                outputs=[{"name": "choice_address"},
                                                         {"name": "temperature"}])), {}),
    ("/v2/models/sensor/infer", '{"inputs": [', {}),
    ("/v2/models/sensor/infer", '{"inputs": [{"name": "reading", "shape": [1], '
                                '"datatype": "FP64", "data": [NaN]}]}', {}),
    ("/v2/models/sensor/infer", json.dumps(body(reading(["x"], "BYTES"))), {}),
    ("/v2/models/sensor/infer", json.dumps(body(reading([1.0, 2.0], shape=(2,)))), {}),
    ("/v2/models/nope/infer", json.dumps(body()), {}),
    ("/v2/models/sensor/versions/9/infer", json.dumps(body()), {}),
    ("/v2/models/sensor/infer", "x" * 5000, {}),
    ("/v2/models/sensor/infer", json.dumps(body()),
     {"content-type": "application/octet-stream"}),
    ("/v2/models/failing/infer", json.dumps(body()), {}),
    ("/v2/models/slow_fallback/infer", json.dumps(body()), {}),
    ("/v2/models//infer", json.dumps(body()), {}),
    ("/v2/models/sensor/infer/", json.dumps(body()), {}),
    ("/v2/infer", json.dumps(body()), {}),
]


def test_inference_requests_are_answered_alike_with_and_without_starlettes_routing(app):
    # The gate serves an inference route itself; behind a root path (a proxy's prefix)
    # Starlette's routing does. Both must give the same statuses, headers and bodies.
    def send(root):
        async def scenario(c):
            out = []
            for i, (path, content, headers) in enumerate(SAME_EITHER_WAY):
                r = await c.post(root + path, content=content, headers={
                    "content-type": "application/json", "x-request-id": f"alike-{i}",
                    **headers})
                out.append((r.status_code, r.headers.get("content-type"),
                            r.headers.get("retry-after"), r.headers.get("connection"),
                            r.content))
            return out
        return exercise(app, scenario, root_path=root)

    direct, routed = send(""), send("/prefix")
    # (the model fault's error id is new each time)
    ids = re.compile(rb"[0-9a-f]{32}")
    for i, (a, b) in enumerate(zip(direct, routed, strict=True)):
        assert a[:4] == b[:4], SAME_EITHER_WAY[i][0]
        # (a 404 names the path it was sent to, the prefix included)
        assert ids.sub(b"ID", a[4]) == ids.sub(b"ID", b[4].replace(b"/prefix", b"")), \
            SAME_EITHER_WAY[i][0]
    statuses = [a[0] for a in direct]
    assert statuses == [200, 200, 200, 400, 400, 400, 400, 404, 404, 413, 400, 500, 200, 404,
                        307, 404]            # (307: Starlette's redirect to the path without /)
    assert json.loads(direct[0][4])["parameters"]["request_id"] == "alike-0"


def test_inference_returns_the_models_value_status_and_log_weights(app):
    twin = runner(sensor, "sensor", schema=SENSOR_SCHEMA)
    expected = twin.infer(22.0, seed=7)
    r = post(app, "/v2/models/sensor/infer", body(parameters={"seed": 7}, id="req-1"))
    assert r.status_code == 200
    doc = r.json()
    assert doc["model_name"] == "sensor" and doc["model_version"] == "1"
    assert doc["id"] == "req-1" and doc["parameters"]["status"] == "ok"
    assert doc["parameters"]["request_id"] == r.headers["x-request-id"]
    out = outputs(r)
    assert out["temperature"] == {"name": "temperature", "datatype": "FP64", "shape": [1],
                                  "data": [expected.value[0]]}
    assert out["valid"]["data"] == [expected.value[1]] and out["valid"]["datatype"] == "BOOL"
    assert out["status"]["data"] == ["ok"]
    assert out["total_log_weight"]["data"] == [expected.trace.total_log_weight]
    assert out["log_likelihood"]["data"] == [expected.trace.log_likelihood]
    assert "choice_address" not in out


def test_choices_are_returned_when_the_parameters_ask(app):
    r = post(app, "/v2/models/sensor/infer", body(parameters={"choices": True, "seed": 3}))
    out = outputs(r)
    assert out["choice_address"]["data"] == ["temperature", "valid", "sensor"]
    assert out["choice_kind"]["data"] == ["sample", "sample", "observe"]
    assert out["choice_address"]["shape"] == [3]
    values = out["choice_value"]["data"]
    assert values[0] == out["temperature"]["data"][0] and values[2] == 22.0
    assert values[1] == float(out["valid"]["data"][0])
    assert math.isclose(math.fsum(out["choice_log_prob"]["data"]),
                        out["total_log_weight"]["data"][0], rel_tol=1e-12)
    assert out["choice_fallback"]["data"] == [False, False, False]


def test_requested_outputs_only_in_their_order(app):
    r = post(app, "/v2/models/sensor/infer", body(outputs=[
        {"name": "valid", "parameters": {"binary_data": False}}, {"name": "choice_address"},
        {"name": "temperature"}]))
    assert [o["name"] for o in r.json()["outputs"]] == ["valid", "choice_address", "temperature"]
    assert_error(post(app, "/v2/models/sensor/infer", body(outputs=[{"name": "nope"}])), 400,
                 "outputs[0].name", "no output 'nope'")
    # (a request for binary outputs, tritonclient's default, is answered in JSON)
    r = post(app, "/v2/models/sensor/infer",
             body(outputs=[{"name": "temperature", "parameters": {"binary_data": True}}],
                  parameters={"binary_data_output": True}))
    assert r.status_code == 200 and "inference-header-content-length" not in r.headers
    assert [o["name"] for o in r.json()["outputs"]] == ["temperature"]
    binary_input = body(dict(reading([22.0]), parameters={"binary_data_size": 8}))
    assert_error(post(app, "/v2/models/sensor/infer", binary_input), 400,
                 "inputs[0].parameters.binary_data_size", "binary tensor data is not supported")


def test_nested_data_and_scalar_shapes(app):
    for inp in (reading([[22.0]], shape=(1, 1)), reading(22.0, shape=()),
                reading([22], datatype="INT32"), reading([22.0], datatype="FP32"),
                reading([22.0], datatype="INT8")):       # (a whole number: an integer)
        r = post(app, "/v2/models/sensor/infer", body(inp))
        assert r.status_code == 200, (inp, r.text)


def test_typed_inputs_map_by_name_and_outputs_keep_their_types(app):
    r = post(app, "/v2/models/typed/infer", body(
        reading([3], "INT64", name="count"), reading([True], "BOOL", name="flag"),
        reading(["abc"], "BYTES", name="label"), reading([0.5], "FP64", name="scale")))
    out = outputs(r)
    assert out["scaled"]["data"] == [1.5] and out["flag"]["data"] == [True]
    assert out["label"] == {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["abc"]}
    r = post(app, "/v2/models/typed/infer", body(
        reading(["x"], "BYTES", name="label"), reading([False], "BOOL", name="flag"),
        reading([4], "UINT8", name="count")))
    assert outputs(r)["scaled"]["data"] == [4.0]


def test_a_model_without_declared_outputs_gets_numbered_ones(app):
    r = post(app, "/v2/models/untyped/infer", body(reading([2.5], name="x")))
    out = outputs(r)
    assert out["output_0"] == {"name": "output_0", "datatype": "FP64", "shape": [1],
                               "data": [5.0]}
    assert out["output_1"]["datatype"] == "INT64" and out["output_1"]["data"] == [2]


def test_routing_keys_pick_one_version_the_same_way_every_time():
    dep = StaticDeployment("sensor", {
        "1": runner(sensor, "sensor", "1", schema=SENSOR_SCHEMA),
        "2": runner(sensor, "sensor", "2", schema=SENSOR_SCHEMA)},
        weights={"1": 0.5, "2": 0.5}, outputs=SENSOR_OUTPUTS)
    app = create_app(Catalog([dep]))

    async def scenario(c):
        seen = {}
        for k in range(12):
            key = f"user-{k}"
            by_header = [(await c.post("/v2/models/sensor/infer", json=body(),
                                       headers={"X-Request-Key": key})).json()["model_version"]
                         for _ in range(3)]
            by_param = (await c.post("/v2/models/sensor/infer", json=body(
                parameters={"key": key}))).json()["model_version"]
            seen[key] = (by_header, by_param)
        pinned = (await c.post("/v2/models/sensor/versions/2/infer",
                               json=body())).json()["model_version"]
        return seen, pinned

    seen, pinned = exercise(app, scenario)
    for key, (by_header, by_param) in seen.items():
        assert by_header == [dep.router.route(key)] * 3 and by_param == by_header[0]
    assert {v for h, _ in seen.values() for v in h} == {"1", "2"}
    assert pinned == "2"


# ---------------------------------------------------------------- bad requests


BAD_BODIES = [
    (b"{not json", "is not valid JSON", "line 1 column 2"),
    (b"", "is empty"),
    (b"\xff\xfe", "is not UTF-8"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"inputs": [{"name": "reading", "shape": [1], "datatype": "FP64", "data": [NaN]}]}',
     "NaN is not a JSON number"),
    (b'{"inputs": [{"name": "reading", "shape": [1], "datatype": "FP64", "data": [Infinity]}]}',
     "Infinity is not a JSON number"),
    (b'{"inputs": [{"name": "reading", "shape": [1], "datatype": "FP64", "data": [-Infinity]}]}',
     "-Infinity is not a JSON number"),
    (b'{"inputs": [{"name": "reading", "shape": [1], "datatype": "FP64", "data": [1e999]}]}',
     "inputs[0].data", "finite"),
    (b'{"inputs": [{"name": "reading", "shape": [1], "datatype": "FP32", "data": [1e39]}]}',
     "inputs[0].data", "FP32 elements must be finite"),
    (b"[" * 100_000 + b"]" * 100_000, "(body)"),
]


@pytest.mark.parametrize("raw, fragments", [(c[0], c[1:]) for c in BAD_BODIES],
                         ids=[c[1][:24] for c in BAD_BODIES])
def test_malformed_bodies_are_400_naming_the_problem(app, raw, fragments):
    settings = ServiceConfig(max_body_bytes=1 << 20)
    big = create_app(app.state.service.catalog, settings=settings)
    doc = assert_error(post(big, "/v2/models/sensor/infer", raw), 400, *fragments)
    assert doc["kind"] == "invalid_request" and doc["code"] == 700


INVALID = [
    ({}, "inputs: is required"),
    ({"inputs": []}, "inputs: must hold at least one"),
    ({"inputs": {"name": "reading"}}, "inputs: must be an array"),
    (body(reading([22.0], datatype="BYTES")), "inputs[0].data", "BYTES elements must be strings"),
    (body(reading(["22"], datatype="BYTES")), "inputs[0].datatype", "takes FP64, got BYTES"),
    (body(reading([True], datatype="BOOL")), "inputs[0].datatype", "takes FP64, got BOOL"),
    (body(reading([22.0], datatype="FP128")), "inputs[0].datatype", "must be one of"),
    (body(reading([True], datatype="FP64")), "FP64 elements must be numbers, got a boolean"),
    (body(reading([22.0, 23.0], shape=(2,))), "inputs[0].shape", "a batch of 2",
     "not served"),
    (body(reading([22.0, 23.0], shape=(1, 2))), "inputs[0].shape", "must hold one element"),
    (body(reading([22.0], shape=(2,))), "inputs[0].data", "holds 1 elements; shape [2] needs 2"),
    (body(reading([[22.0], [1.0, 2.0]], shape=(2, 1))), "inputs[0].data", "does not match"),
    (body(reading([22.0], shape=(-1,))), "inputs[0].shape", "integers >= 0"),
    (body(reading([1000.0])), "reading", "must be in [-50.0, 150.0]"),
    (body(reading([22.0], name="temperature")), "inputs[0].name", "no input 'temperature'",
     "its inputs: reading"),
    (body(reading([22.0]), reading([21.0])), "inputs[1].name", "'reading' is given twice"),
    (body({"name": "reading", "shape": [1], "datatype": "FP64"}), "inputs[0].data: is required"),
    (body(reading([22.0], name="bad name!")), "inputs[0].name"),
    (body(id=17), "id: must be a string"),
    (body(parameters={"seed": -1}), "parameters.seed"),
    (body(parameters={"choices": "yes"}), "parameters.choices: must be true or false"),
    (body(parameters={"nested": {"a": 1}}), "parameters.nested"),
]


@pytest.mark.parametrize("request_body, fragments", [(c[0], c[1:]) for c in INVALID])
def test_invalid_requests_are_400_naming_the_field(app, request_body, fragments):
    assert_error(post(app, "/v2/models/sensor/infer", request_body), 400, *fragments)


def test_integer_inputs_are_range_checked(app):
    assert_error(post(app, "/v2/models/typed/infer", body(
        reading([300], "UINT8", name="count"), reading([True], "BOOL", name="flag"),
        reading(["a"], "BYTES", name="label"))), 400, "UINT8 elements must be in [0, 255]")
    assert_error(post(app, "/v2/models/typed/infer", body(
        reading([2.5], "INT64", name="count"), reading([True], "BOOL", name="flag"),
        reading(["a"], "BYTES", name="label"))), 400, "INT64 elements must be integers")
    assert_error(post(app, "/v2/models/typed/infer", body(
        reading([2], "INT64", name="count"), reading(["a"], "BYTES", name="label"))),
        400, "the model's input 'flag' is missing")
    assert_error(post(app, "/v2/models/typed/infer", body(
        reading([2.0], "FP64", name="count"), reading([True], "BOOL", name="flag"),
        reading(["a"], "BYTES", name="label"))), 400, "input 'count' takes INT64, got FP64")


def test_the_binary_extension_is_refused(app):
    r = post(app, "/v2/models/sensor/infer", b"\x00\x00",
             headers={"Inference-Header-Content-Length": "0",
                      "Content-Type": "application/octet-stream"})
    assert_error(r, 400, "binary tensor data is not supported", "binary_data=False")


def test_a_body_over_the_limit_is_413_with_and_without_a_length(app):
    big = json.dumps(body(reading([22.0]), extra="x" * 8000)).encode()
    assert len(big) > 4096
    r = post(app, "/v2/models/sensor/infer", big)
    assert_error(r, 413, "exceeds 4096 bytes")

    async def chunks():
        for _ in range(10):
            yield b" " * 1000

    async def scenario(c):
        return await c.post("/v2/models/sensor/infer", content=chunks())
    assert_error(exercise(app, scenario), 413, "exceeds 4096 bytes")
    r = post(app, "/v2/models/sensor/infer", b"{}", headers={"Content-Length": "2"})
    assert_error(r, 400)
    assert post(app, "/v2/models/sensor/infer", body()).status_code == 200


def test_a_body_arriving_too_slowly_is_408_and_closes_the_connection(app):
    async def slow_body():
        yield b'{"inputs": '
        await asyncio.sleep(1.0)
        yield b"[]}"

    async def scenario(c):
        return await c.post("/v2/models/sensor/infer", content=slow_body())
    r = exercise(app, scenario)
    assert_error(r, 408, "not received within 0.5 s")
    assert r.headers["connection"] == "close"


# ---------------------------------------------------------------- outcomes


def test_a_model_fault_is_500_with_an_opaque_id_logged_with_its_traceback(app, caplog):
    caplog.set_level(logging.ERROR, logger="fugue_ppl")
    r = post(app, "/v2/models/failing/infer", body())
    doc = assert_error(r, 500, "the model failed (error id ")
    assert doc["kind"] == "model_error" and doc["code"] == 900
    assert re.fullmatch(r"[0-9a-f]{32}", doc["id"]) and doc["id"] in doc["error"]
    logged = [rec for rec in caplog.records if doc["id"] in rec.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert SECRET_TEXT in str(logged[0].exc_info[1])        # (the text stays in the log)


def test_a_served_fallback_is_200_with_its_status_and_error_id(app):
    r = post(app, "/v2/models/failing_fallback/infer", body())
    assert r.status_code == 200
    doc = r.json()
    assert doc["parameters"]["status"] == "fallback"
    assert re.fullmatch(r"[0-9a-f]{32}", doc["parameters"]["error_id"])
    out = outputs(r)
    assert out["temperature"]["data"] == [20.0] and out["valid"]["data"] == [False]
    assert out["status"]["data"] == ["fallback"] and "total_log_weight" not in out


def test_timeouts_are_504_unless_a_fallback_is_served(app):
    doc = assert_error(post(app, "/v2/models/slow/infer", body()), 504,
                       "passed its deadline")
    assert doc["kind"] == "timeout" and doc["code"] == 800
    r = post(app, "/v2/models/slow_fallback/infer", body())
    assert r.status_code == 200 and r.json()["parameters"]["status"] == "timeout"
    assert outputs(r)["temperature"]["data"] == [20.0]


def test_an_open_breaker_is_503_with_retry_after_unless_a_fallback_is_served():
    plain = deployment("plain", sensor, schema=SENSOR_SCHEMA)
    covered = deployment("covered", sensor, schema=SENSOR_SCHEMA, fallback=(19.0, True))
    app = create_app(Catalog([plain, covered]))
    for dep in (plain, covered):
        dep.runner("1").breaker.force_open()
    r = post(app, "/v2/models/plain/infer", body())
    doc = assert_error(r, 503, "circuit breaker is open")
    assert doc["kind"] == "circuit_open" and int(r.headers["retry-after"]) >= 1
    r = post(app, "/v2/models/covered/infer", body())
    assert r.status_code == 200 and r.json()["parameters"]["status"] == "rejected"
    assert outputs(r)["temperature"]["data"] == [19.0]
    r = get(app, "/v2/models/plain/ready")
    assert r.status_code == 503 and r.json() == {"name": "plain", "ready": False}
    assert get(app, "/v2/health/ready").status_code == 503


def test_an_overloaded_runner_is_503_with_retry_after():
    app = create_app(Catalog([deployment("busy", blocking, workers=1, queue=0,
                                         schema=SENSOR_SCHEMA)]))

    async def scenario(c):
        return await asyncio.gather(*(c.post("/v2/models/busy/infer", json=body())
                                      for _ in range(3)))
    responses = exercise(app, scenario)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 503, 503]
    for r in responses:
        if r.status_code == 503:
            doc = assert_error(r, 503, "overloaded")
            assert doc["kind"] == "overloaded" and int(r.headers["retry-after"]) >= 1


def test_the_in_flight_limit_is_503_with_retry_after():
    app = create_app(Catalog([deployment("busy", blocking, schema=SENSOR_SCHEMA)]),
                     settings=ServiceConfig(max_in_flight=1))

    async def scenario(c):
        first = asyncio.ensure_future(c.post("/v2/models/busy/infer", json=body()))
        await asyncio.sleep(0.1)
        second = await c.get("/v2/health/live")
        return await first, second
    first, second = exercise(app, scenario)
    assert first.status_code == 200
    assert_error(second, 503, "limit of requests in flight")
    assert second.headers["retry-after"] == "1"


def test_a_value_that_does_not_fit_the_declared_outputs_is_a_500(app):
    doc = assert_error(post(app, "/v2/models/mismatch/infer", body()), 500,
                       "does not fit its outputs")
    assert re.fullmatch(r"[0-9a-f]{32}", doc["id"])


def test_every_error_leaves_the_service_serving(app):
    async def scenario(c):
        statuses = []
        for raw in (b"{", b"[]", json.dumps(body(reading(["x"], "BYTES"))).encode()):
            statuses.append((await c.post("/v2/models/sensor/infer", content=raw)).status_code)
        statuses.append((await c.post("/v2/models/failing/infer", json=body())).status_code)
        statuses.append((await c.post("/v2/models/sensor/infer", json=body())).status_code)
        return statuses
    assert exercise(app, scenario) == [400, 400, 400, 500, 200]


# ---------------------------------------------------------------- request ids, logs


@pytest.fixture
def json_events():
    stream = io.StringIO()
    log = logging.getLogger(INFERENCE_LOGGER)
    handler, level = json_handler(stream), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    log.removeHandler(handler)
    log.setLevel(level)


def test_request_ids_and_traceparent_reach_the_runners_json_events(app, json_events):
    async def scenario(c):
        out = []
        out.append(await c.post("/v2/models/sensor/infer", json=body(),
                                headers={"X-Request-ID": "order-17:a/b=", "traceparent": PARENT}))
        out.append(await c.post("/v2/models/sensor/infer", json=body(),
                                headers={"X-Request-ID": "bad id with spaces",
                                         "traceparent": "00-xyz"}))
        out.append(await c.post("/v2/models/sensor/infer", json=body(),
                                headers={"X-Request-ID": "x" * 129}))
        out.append(await c.post("/v2/models/failing/infer", json=body(),
                                headers={"X-Request-ID": "fails-1", "traceparent": PARENT}))
        return out
    r1, r2, r3, r4 = exercise(app, scenario)
    assert r1.headers["x-request-id"] == "order-17:a/b="
    assert r1.json()["parameters"]["request_id"] == "order-17:a/b="
    for r in (r2, r3):
        rid = r.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid) and r.json()["parameters"]["request_id"] == rid
    assert r2.headers["x-request-id"] != r3.headers["x-request-id"]
    events = {e["request_id"]: e for e in json_events()}
    assert events["order-17:a/b="]["traceparent"] == PARENT
    assert events["order-17:a/b="]["model"] == "sensor"
    assert events["order-17:a/b="]["status"] == "ok"
    assert events[r2.headers["x-request-id"]]["traceparent"] is None
    assert events["fails-1"]["status"] == "error"
    assert events["fails-1"]["error_id"] == r4.json()["id"]
    assert events["fails-1"]["traceparent"] == PARENT


@pytest.mark.parametrize("header, expected", [
    (PARENT, PARENT),
    (PARENT.upper(), None),
    ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),
    ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", None),
    ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),
    (PARENT + "-extra", None),
    ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future",
     PARENT.replace("00-", "01-", 1)),
    ("", None),
    (None, None),
])
def test_traceparent_headers_are_checked(header, expected):
    assert parse_traceparent(header) == expected


# ---------------------------------------------------------------- metrics


def test_metrics_in_the_prometheus_and_openmetrics_formats():
    app = create_app(catalog())

    async def scenario(c):
        for _ in range(3):
            await c.post("/v2/models/sensor/infer", json=body())
        await c.post("/v2/models/sensor/infer", json=body(reading([1000.0])))
        text = await c.get("/metrics")
        om = await c.get("/metrics", headers={"Accept": "application/openmetrics-text; "
                                                        "version=1.0.0"})
        return text, om
    text, om = exercise(app, scenario)
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    lines = text.text.splitlines()
    assert 'fugue_inference_total{model="sensor",version="1"} 3.0' in lines
    assert 'fugue_invalid_requests_total{model="sensor",version="1"} 1.0' in lines
    assert 'fugue_route_weight{model="sensor",version="1"} 1.0' in lines
    assert any(line.startswith("fugue_process_") for line in lines)
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.rstrip().endswith("# EOF")
    assert 'fugue_inference_total{model="sensor",version="1"} 3.0' in om.text


def test_metrics_of_runners_without_metrics_are_the_process_figures_only(caplog):
    from fugue_ppl.monitoring import MetricsConfig

    quiet = fp.ModelRunner(sensor, RunnerConfig(model=ModelConfig(name="quiet"),
                                                metrics=MetricsConfig(enabled=False)),
                           schema=SENSOR_SCHEMA)
    app = create_app(Catalog([StaticDeployment("quiet", {"1": quiet})]))
    r = get(app, "/metrics")
    assert r.status_code == 200 and "fugue_inference_total" not in r.text
    assert "fugue_process_" in r.text
    assert any("model 'quiet' is not exported" in rec.getMessage() for rec in caplog.records)
    assert post(app, "/v2/models/quiet/infer", body()).status_code == 200
    assert get(app, "/health").json()["models"]["quiet"]["1"]["status"] in ("pass", "warn")


# ---------------------------------------------------------------- shutdown, refresh


def test_shutdown_fails_readiness_at_once_and_liveness_stays():
    app = create_app(catalog())

    async def scenario(c):
        before = (await c.get("/readyz")).status_code
        app.state.service.begin_shutdown()
        return (before, await c.get("/v2/health/ready"), await c.get("/readyz"),
                await c.get("/v2/models/sensor/ready"), await c.get("/livez"),
                await c.post("/v2/models/sensor/infer", json=body()))
    before, ready, readyz, model_ready, livez, infer = exercise(app, scenario)
    assert before == 200
    assert ready.status_code == 503 and ready.json() == {"ready": False}
    assert readyz.status_code == 503 and readyz.json()["output"] == "shutting down"
    assert model_ready.status_code == 503
    assert livez.status_code == 200 and infer.status_code == 200


def test_the_lifespan_refreshes_the_registrys_models(tmp_path):
    from fugue_ppl.config import Config
    from fugue_ppl.deploy import ModelRegistry

    path = str(tmp_path / "registry.sqlite3")
    reg = ModelRegistry(url=path)
    reg.register("sensor", "1", "fugue_ppl.models:sensor", actor="t", status="live",
                 outputs=SENSOR_OUTPUTS)
    cfg = Config.from_dict({"registry": {"url": path}})
    cat = Catalog.from_config(cfg)
    app = create_app(cat, settings=ServiceConfig(refresh_interval_seconds=0.05))

    async def scenario(c):
        first = (await c.post("/v2/models/sensor/infer", json=body())).json()["model_version"]
        reg.register("sensor", "2", "fugue_ppl.models:sensor_prior", actor="t",
                     outputs=SENSOR_OUTPUTS)
        reg.promote("sensor", "2", expected_revision=1, actor="t")
        reg.register("other", "1", "fugue_ppl.models:sensor", actor="t", status="live")
        for _ in range(100):
            await asyncio.sleep(0.05)
            doc = (await c.get("/v2/models/sensor")).json()
            if doc["versions"][0] == "2" and (await c.get("/v2/models/other")).status_code == 200:
                break
        after = (await c.post("/v2/models/sensor/infer", json=body())).json()
        other = (await c.post("/v2/models/other/infer", json=body())).json()
        return first, after, other
    try:
        first, after, other = exercise(app, scenario)
    finally:
        cat.close()
        reg.close()
    assert first == "1" and after["model_version"] == "2"
    assert [o["name"] for o in after["outputs"]][:2] == ["temperature", "valid"]
    # (a version without declared outputs: numbered ones)
    assert other["model_name"] == "other" and other["outputs"][0]["name"] == "output_0"


def test_the_built_in_model_is_served_without_a_registry():
    from fugue_ppl.config import Config

    cat = Catalog.from_config(Config.from_dict({"model": {"version": "7"}}),
                              default=builtin_deployment)
    app = create_app(cat)
    try:
        doc = get(app, "/v2/models/sensor").json()
        r = post(app, "/v2/models/sensor/infer", body())
        ready = get(app, "/readyz").json()
    finally:
        cat.close()
    assert doc["versions"] == ["7"] and r.json()["model_version"] == "7"
    assert [c["observedValue"] for c in ready["checks"]["model:warmup"]] == [10]
    with pytest.raises(ValueError, match="no registry is configured"):
        Catalog.from_config(Config())
    with pytest.raises(TypeError, match="catalog must be a Catalog, got NoneType"):
        create_app(None)


# ---------------------------------------------------------------- the hooks


INFER_KEY = "k-infer-0123456789abcdef"
READ_KEY = "k-read-0123456789abcdef"


def authenticator():
    """A real authenticator: ``infer-key`` may infer on sensor only, ``read-key`` may
    read and scrape every model; health is public."""
    from fugue_ppl.service._auth_config import AuthConfig
    from fugue_ppl.service.auth import Authenticator

    return Authenticator({"infer-key": INFER_KEY, "read-key": READ_KEY}, settings=AuthConfig(
        public_actions=["health"],
        scopes={"infer-key": {"models": ["sensor"], "actions": ["infer"]},
                "read-key": {"models": ["*"], "actions": ["read", "metrics"]}}))


def limiter():
    """A real rate limiter, two requests per client and then one every 2.5 s, on a
    clock that stands still."""
    from fugue_ppl.service._ratelimit_config import RateLimitConfig
    from fugue_ppl.service.ratelimit import RateLimiter

    return RateLimiter(RateLimitConfig(rate=0.4, burst=2), clock=lambda: 10**12)


class FakeAudit:
    def __init__(self):
        self.records = []

    def record(self, **fields):
        self.records.append(fields)


def test_the_authenticator_runs_first_and_its_errors_are_protocol_bodies():
    app = create_app(catalog(), authenticator=authenticator())

    async def scenario(c):
        return {
            "anonymous": await c.post("/v2/models/sensor/infer", json=body()),
            "wrong_scope": await c.post("/v2/models/sensor/infer", json=body(),
                                        headers={"X-API-Key": READ_KEY}),
            "other_model": await c.post("/v2/models/nope/infer", json=body(),
                                        headers={"X-API-Key": INFER_KEY}),
            "ok": await c.post("/v2/models/sensor/infer", json=body(),
                               headers={"X-API-Key": INFER_KEY}),
            "read": await c.get("/v2/models/sensor", headers={"X-API-Key": READ_KEY}),
            "metrics": await c.get("/metrics", headers={"X-API-Key": READ_KEY}),
            "health": await c.get("/v2/health/ready"),
            "admin": await c.get("/admin/models", headers={"X-API-Key": READ_KEY}),
        }
    r = exercise(app, scenario)
    assert_error(r["anonymous"], 401, "an API key is required")
    assert r["anonymous"].headers["www-authenticate"].startswith("Bearer realm=")
    assert_error(r["wrong_scope"], 403, "scope does not include 'infer' on model 'sensor'")
    assert_error(r["other_model"], 403, "'infer' on model 'nope'")
    assert_error(r["admin"], 403, "scope does not include 'admin'")
    assert 'error="insufficient_scope"' in r["admin"].headers["www-authenticate"]
    assert [r[k].status_code for k in ("ok", "read", "metrics", "health")] == [200] * 4


def test_the_rate_limiter_refuses_with_429_retry_after_and_its_headers():
    app = create_app(catalog(), authenticator=authenticator(), limiter=limiter())

    async def scenario(c):
        keyed = [await c.post("/v2/models/sensor/infer", json=body(),
                              headers={"X-API-Key": INFER_KEY}) for _ in range(3)]
        anonymous = [await c.get("/v2/health/live") for _ in range(3)]
        unauthenticated = await c.post("/v2/models/sensor/infer", json=body())
        return keyed, anonymous, unauthenticated
    keyed, anonymous, unauthenticated = exercise(app, scenario)
    assert [r.status_code for r in keyed] == [200, 200, 429]
    assert [r.status_code for r in anonymous] == [200, 200, 429]
    assert keyed[0].headers["ratelimit-remaining"] == "1"
    refused = assert_error(keyed[2], 429, "too many requests")
    assert refused and keyed[2].headers["retry-after"] == "3"
    assert keyed[2].headers["ratelimit-remaining"] == "0"
    assert unauthenticated.status_code == 401          # (authentication comes first)


def test_the_audit_hook_gets_one_record_per_request():
    audit = FakeAudit()
    app = create_app(catalog(), authenticator=authenticator(), audit=audit)
    sent = body(parameters={"seed": 1})

    async def scenario(c):
        ok = await c.post("/v2/models/sensor/infer", json=sent,
                          headers={"X-API-Key": INFER_KEY, "X-Request-ID": "audit-1",
                                   "traceparent": PARENT})
        await c.post("/v2/models/sensor/infer", json=sent)
        await c.get("/v2/models/nope", headers={"X-API-Key": READ_KEY})
        await c.post("/v2/models/sensor/infer", json=body(reading([1000.0])),
                     headers={"X-API-Key": INFER_KEY})
        await c.get("/metrics", headers={"X-API-Key": READ_KEY})
        return ok
    ok = exercise(app, scenario)
    first, anonymous, unknown, invalid, metrics = audit.records
    assert first["request_id"] == "audit-1" and first["traceparent"] == PARENT
    assert first["key_id"] == "infer-key" and first["model"] == "sensor"
    assert first["version"] == "1" and first["action"] == "infer"
    assert first["outcome"] == "ok" and first["http_status"] == 200
    assert 0 < first["duration"] < 10
    # (the documents as their JSON text: the body received, the body sent)
    assert json.loads(first["input"]) == sent and first["output"] == ok.content
    assert anonymous["outcome"] == "unauthenticated" and anonymous["http_status"] == 401
    assert anonymous["key_id"] is None and json.loads(anonymous["output"])["error"]
    assert anonymous["input"] is None                    # (refused before its body was read)
    assert unknown["outcome"] == "not_found" and unknown["http_status"] == 404
    assert unknown["action"] == "read" and unknown["model"] == "nope"
    assert invalid["outcome"] == "invalid" and invalid["http_status"] == 400
    assert "must be in [-50.0, 150.0]" in json.loads(invalid["output"])["error"]
    assert metrics["action"] == "metrics" and metrics["output"] is None
    assert metrics["http_status"] == 200


def test_an_audit_hook_that_raises_does_not_fail_the_request(caplog):
    class Broken:
        def record(self, **fields):
            raise OSError("disk full")
    app = create_app(catalog(), audit=Broken())
    assert post(app, "/v2/models/sensor/infer", body()).status_code == 200
    assert any("audit" in rec.getMessage() for rec in caplog.records)


def test_extra_routes_mount_after_the_protocols():
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def page(request):
        return PlainTextResponse(f"{len(request.app.state.service.catalog.models)} models")
    app = create_app(catalog(), extra_routes=[Route("/status", page)])
    r = get(app, "/status")
    assert r.text == "1 models" and "x-request-id" in r.headers


# ---------------------------------------------------------------- model drift


def test_drift_alarms_reach_health_and_metrics():
    import numpy as np

    from fugue_ppl.serving.drift import DriftSettings

    deployment = StaticDeployment("sensor", {"1": runner(sensor, "sensor", schema=SENSOR_SCHEMA)},
                                  outputs=SENSOR_OUTPUTS)
    app = create_app(Catalog([deployment], drift=DriftSettings(warmup=100, window=500)))
    rng = np.random.default_rng(5)
    steady = rng.normal(20.0, math.sqrt(26.0), 150)        # the model's prior predictive

    async def scenario(c):
        for y in steady:
            r = await c.post("/v2/models/sensor/infer", json=body(reading([float(y)])))
            assert r.status_code == 200
        before = (await c.get("/health")).json()
        for _ in range(20):                                 # a sensor 40 degrees off
            await c.post("/v2/models/sensor/infer", json=body(reading([60.0])))
        return before, (await c.get("/health")).json(), (await c.get("/metrics")).text
    before, after, metrics = exercise(app, scenario)
    (check,) = before["checks"]["model:drift"]
    assert check["status"] == "pass" and check["componentId"].startswith("sensor")
    (check,) = after["checks"]["model:drift"]
    assert check["status"] == "warn" and check["output"].startswith("model drift:")
    assert after["levels"]["inference"]["status"] != "pass"
    alarms = {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^fugue_drift_alarms_total\{chart="(\w+)",model="sensor",version="1"\} (\S+)$',
        metrics, re.MULTILINE)}
    assert set(alarms) == {"ewma", "cusum"} and sum(alarms.values()) >= 1, alarms
    assert re.search(r'^fugue_drift_drifting\{model="sensor",version="1"\} 1\.0$', metrics,
                     re.MULTILINE)


def test_drift_settings_of_the_wrong_type_or_range_are_refused():
    from fugue_ppl.config import load_config
    from fugue_ppl.errors import ConfigError

    with pytest.raises(TypeError, match="Catalog: drift must be a DriftSettings, got str"):
        Catalog([], drift="warmup=5")
    with pytest.raises(ConfigError) as info:
        load_config(env={"FUGUE_DRIFT__WARMUP": "1", "FUGUE_DRIFT__STATUS": "bad"})
    assert "drift.warmup = 1 (environment variable FUGUE_DRIFT__WARMUP): must be >= 2" in str(
        info.value)
    assert "drift.status = 'bad'" in str(info.value)


# ---------------------------------------------------------------- a posterior per request

POSTERIOR_N = 4000


@pytest.fixture(scope="module")
def posterior_app():
    def dep(name, model, **kwargs):
        return StaticDeployment(name, {"1": runner(model, name, schema=SENSOR_SCHEMA,
                                                   **kwargs)}, outputs=SENSOR_OUTPUTS)
    return create_app(Catalog([
        dep("sensor", sensor,
            inference=ImportanceSampling(n=POSTERIOR_N, sites=["temperature"])),
        dep("all_sites", sensor, inference=ImportanceSampling(n=POSTERIOR_N)),
        dep("failing", failing, inference=ImportanceSampling(n=10), fallback=(20.0, True)),
        dep("chains", sensor, inference=MetropolisHastings(
            "single_site", chains=4, draws=1000, warmup=300, sites=["temperature"])),
    ]), settings=ServiceConfig())


def test_the_posterior_summaries_are_output_tensors(posterior_app):
    r = post(posterior_app, "/v2/models/sensor/infer", body(parameters={"seed": 5}))
    assert r.status_code == 200, r.text
    out = outputs(r)
    assert set(out) == set(POSTERIOR_OUTPUTS) | {"status"}
    assert out["status"]["data"] == ["ok"]
    assert out["posterior_site"] == {"name": "posterior_site", "datatype": "BYTES",
                                     "shape": [1], "data": ["temperature"]}
    mean, sd = sensor_posterior(22.0)
    ess = out["ess"]["data"][0]
    assert 0 < ess <= POSTERIOR_N
    assert abs(out["posterior_mean"]["data"][0] - mean) < 5 * sd / math.sqrt(ess)
    assert out["posterior_sd"]["data"][0] == pytest.approx(sd, rel=0.1)
    q05, q50, q95 = (out[f"posterior_q{p}"]["data"][0] for p in ("05", "50", "95"))
    assert q05 < q50 < q95
    assert q50 == pytest.approx(mean, abs=0.2)
    assert out["reliable"]["data"] == [True] and out["khat"]["datatype"] == "FP64"
    # The same request key gives the same posterior.
    again = outputs(post(posterior_app, "/v2/models/sensor/infer", body(parameters={"seed": 5})))
    assert again["posterior_mean"] == out["posterior_mean"]
    assert again["log_evidence"] == out["log_evidence"]


def test_every_sampled_site_when_none_is_named_and_outputs_can_be_selected(posterior_app):
    out = outputs(post(posterior_app, "/v2/models/all_sites/infer", body()))
    assert out["posterior_site"]["data"] == ["temperature", "valid"]
    assert out["posterior_mean"]["shape"] == [2]
    assert 0.0 <= out["posterior_mean"]["data"][1] <= 1.0     # P(valid | reading)
    r = post(posterior_app, "/v2/models/sensor/infer",
             body(outputs=[{"name": "log_evidence"}, {"name": "posterior_mean"}]))
    assert [o["name"] for o in r.json()["outputs"]] == ["log_evidence", "posterior_mean"]


def test_a_metropolis_hastings_posterior_is_served_alike(posterior_app):
    r = post(posterior_app, "/v2/models/chains/infer", body(parameters={"seed": 3}))
    assert r.status_code == 200, r.text
    out = outputs(r)
    assert out["posterior_site"]["data"] == ["temperature"]
    mean, sd = sensor_posterior(22.0)
    ess = out["ess"]["data"][0]
    assert ess > 100
    assert abs(out["posterior_mean"]["data"][0] - mean) < 5 * sd / math.sqrt(ess)
    # MCMC estimates no evidence and fits no weights: null, as the protocol allows
    assert out["log_evidence"]["data"] == [None] and out["khat"]["data"] == [None]
    assert out["reliable"]["datatype"] == "BOOL"
    again = outputs(post(posterior_app, "/v2/models/chains/infer", body(parameters={"seed": 3})))
    assert again["posterior_mean"] == out["posterior_mean"]


def test_the_metadata_lists_the_posterior_outputs(posterior_app):
    doc = get(posterior_app, "/v2/models/sensor").json()
    names = [o["name"] for o in doc["outputs"]]
    assert names[:len(POSTERIOR_OUTPUTS)] == list(POSTERIOR_OUTPUTS)
    assert "status" in names and "log_likelihood" not in names
    shapes = {o["name"]: o["shape"] for o in doc["outputs"]}
    assert shapes["posterior_mean"] == [-1] and shapes["ess"] == [1]


def test_a_failed_posterior_serves_the_declared_fallback(posterior_app):
    out = outputs(post(posterior_app, "/v2/models/failing/infer", body()))
    assert out["status"]["data"] == ["fallback"]
    assert out["temperature"]["data"] == [20.0] and out["valid"]["data"] == [True]
