"""``fugue-ppl serve`` as a real server: a subprocess on a free loopback port, hit
with NVIDIA's ``tritonclient.http`` (a client of the same protocol, not written
here), httpx and raw sockets: inference, metadata, readiness, errors, slow
clients, the JSON logs, the metrics through the real ``promtool``, and the
graceful shutdown on SIGTERM with requests in flight."""

import json
import re
import signal
import socket
import subprocess
import threading
import time

import httpx
import numpy as np
import pytest

tritonclient = pytest.importorskip("tritonclient.http", reason='tritonclient is in the [test] '
                                   'extra: pip install ".[test]"')
from tritonclient.utils import InferenceServerException  # noqa: E402

from fugue_ppl.models import sensor_posterior  # noqa: E402

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
READING = {"name": "reading", "shape": [1], "datatype": "FP64", "data": [22.0]}
GOOD = json.dumps({"inputs": [READING]}).encode()

SLOW_MODEL = '''
import time

import fugue_ppl as fp


def slow(reading: float):
    time.sleep(float(reading))
    return fp.sample("temperature", fp.Normal(reading, 1.0))
'''


CONFIG = """\
    log_level = "INFO"

    [runtime]
    inference_log_rate = 1.0

    [service]
    header_timeout_seconds = 1.0
    body_timeout_seconds = 1.0
    max_body_bytes = 65536
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, serve_process):
    s = serve_process(tmp_path_factory.mktemp("serve"), CONFIG)
    yield s
    assert s.stop() == 0, s.logs()


@pytest.fixture(scope="module")
def triton(server):
    client = tritonclient.InferenceServerClient(url=server.url[len("http://"):])
    yield client
    client.close()


def still_serving(server):
    r = httpx.post(f"{server.url}/v2/models/sensor/infer", content=GOOD)
    assert r.status_code == 200 and r.json()["parameters"]["status"] == "ok"


def assert_error(r, status, *fragments):
    assert r.status_code == status, r.text
    doc = r.json()
    assert isinstance(doc["error"], str)
    for f in fragments:
        assert f in doc["error"], (f, doc["error"])
    assert "Traceback" not in r.text and 'File "' not in r.text


# ---------------------------------------------------------------- tritonclient


def test_tritonclient_health_and_metadata(triton):
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready("sensor") and triton.is_model_ready("sensor", "1")
    assert not triton.is_model_ready("nope")
    meta = triton.get_server_metadata()
    assert meta["name"] == "fugue-ppl" and "binary_tensor_data" in meta["unsupported_extensions"]
    model = triton.get_model_metadata("sensor")
    assert model["name"] == "sensor" and model["versions"] == ["1"]
    assert model["inputs"] == [{"name": "reading", "datatype": "FP64", "shape": [1]}]
    assert [o["name"] for o in model["outputs"][:2]] == ["temperature", "valid"]


def test_tritonclient_inference(triton):
    inp = tritonclient.InferInput("reading", [1], "FP64")
    inp.set_data_from_numpy(np.array([22.0]), binary_data=False)
    outs = [tritonclient.InferRequestedOutput(n, binary_data=False)
            for n in ("temperature", "valid", "total_log_weight", "choice_address")]
    result = triton.infer("sensor", [inp], outputs=outs, request_id="triton-1",
                          parameters={"seed": 5})
    temperature = result.as_numpy("temperature")
    assert temperature.dtype == np.float64 and temperature.shape == (1,)
    assert -10.0 < temperature[0] < 50.0
    assert result.as_numpy("valid").dtype == np.bool_
    assert result.as_numpy("choice_address").tolist() == ["temperature", "valid", "sensor"]
    assert np.isfinite(result.as_numpy("total_log_weight")[0])
    response = result.get_response()
    assert response["id"] == "triton-1" and response["model_name"] == "sensor"
    assert response["parameters"]["status"] == "ok"
    again = triton.infer("sensor", [inp], outputs=outs, parameters={"seed": 5})
    assert again.as_numpy("temperature")[0] == temperature[0]       # (the same seed)
    plain = triton.infer("sensor", [inp], model_version="1")
    assert plain.as_numpy("status").tolist() == ["ok"]


def test_tritonclient_errors_carry_the_servers_message(triton, server):
    inp = tritonclient.InferInput("reading", [1], "FP64")
    inp.set_data_from_numpy(np.array([22.0]), binary_data=False)
    with pytest.raises(InferenceServerException) as info:
        triton.infer("nope", [inp])
    assert info.value.status() == "404" and "no model 'nope'" in info.value.message()
    with pytest.raises(InferenceServerException) as info:
        triton.infer("sensor", [inp], model_version="9")
    assert info.value.status() == "404" and "no served version '9'" in info.value.message()
    text = tritonclient.InferInput("reading", [1], "BYTES")
    text.set_data_from_numpy(np.array([b"warm"], dtype=np.object_), binary_data=False)
    with pytest.raises(InferenceServerException) as info:
        triton.infer("sensor", [text])
    assert info.value.status() == "400"
    assert "input 'reading' takes FP64, got BYTES" in info.value.message()
    batch = tritonclient.InferInput("reading", [2], "FP64")
    batch.set_data_from_numpy(np.array([22.0, 23.0]), binary_data=False)
    with pytest.raises(InferenceServerException) as info:
        triton.infer("sensor", [batch])
    assert info.value.status() == "400" and "a batch of 2" in info.value.message()
    hot = tritonclient.InferInput("reading", [1], "FP64")
    hot.set_data_from_numpy(np.array([400.0]), binary_data=False)
    with pytest.raises(InferenceServerException) as info:
        triton.infer("sensor", [hot])
    assert "reading: must be in [-50.0, 150.0]" in info.value.message()
    still_serving(server)


# ---------------------------------------------------------------- httpx


@pytest.mark.parametrize("content, status, fragments", [
    (b'{"inputs": [', 400, ["is not valid JSON", "line 1 column 13"]),
    (b'{"inputs": [{"name": "reading", "shape": [1], "datatype": "FP64", "data": [NaN]}]}',
     400, ["NaN is not a JSON number"]),
    (b'{"inputs": [{"name": "reading", "shape": [1], "datatype": "FP64", "data": [Infinity]}]}',
     400, ["Infinity is not a JSON number"]),
    (b'{"inputs": [{"name": "reading", "shape": [1], "datatype": "FP64", "data": [-1e400]}]}',
     400, ["inputs[0].data", "finite"]),
    (b'{"inputs": [{"name": "reading", "shape": [1], "datatype": "BOOL", "data": [true]}]}',
     400, ["takes FP64, got BOOL"]),
    (b'{"inputs": [{"name": "reading", "shape": [3], "datatype": "FP64", "data": [1, 2]}]}',
     400, ["holds 2 elements; shape [3] needs 3"]),
    (b'{"inputs": [{"name": "reading", "shape": [1], "datatype": "FP65", "data": [1]}]}',
     400, ["inputs[0].datatype: must be one of"]),
], ids=["malformed", "nan", "infinity", "overflow", "datatype", "shape", "unknown-datatype"])
def test_bad_input_over_http_is_a_protocol_error_and_the_server_keeps_serving(
        server, content, status, fragments):
    r = httpx.post(f"{server.url}/v2/models/sensor/infer", content=content)
    assert_error(r, status, *fragments)
    assert r.headers["content-type"] == "application/json"
    still_serving(server)


def test_unknown_models_and_versions_over_http(server):
    for path in ("/v2/models/nope/infer", "/v2/models/sensor/versions/3/infer"):
        assert_error(httpx.post(server.url + path, content=GOOD), 404)
    assert_error(httpx.get(server.url + "/v2/models/nope"), 404, "no model 'nope'")
    still_serving(server)


def test_an_oversized_body_is_413_and_the_connection_stays_usable(server):
    big = json.dumps({"inputs": [READING], "pad": "x" * 100_000}).encode()
    with httpx.Client(base_url=server.url) as c:
        assert_error(c.post("/v2/models/sensor/infer", content=big), 413,
                     "exceeds 65536 bytes")
        assert c.post("/v2/models/sensor/infer", content=GOOD).status_code == 200
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /v2/models/sensor/infer HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 1000000000\r\n\r\n")
        reply = _read_all(s, 5.0)
    assert reply.startswith(b"HTTP/1.1 413 ") and b"exceeds 65536 bytes" in reply
    assert b"connection: close" in reply.lower()
    still_serving(server)


def _read_all(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def test_a_slow_loris_client_gets_408_and_others_are_served_meanwhile(server):
    served = []

    def others():
        with httpx.Client(base_url=server.url) as c:
            for _ in range(5):
                served.append(c.post("/v2/models/sensor/infer", content=GOOD).status_code)
                time.sleep(0.1)

    t = threading.Thread(target=others)
    request = b"GET /v2/health/live HTTP/1.1\r\nHost: slow\r\nX-Pad: abcdefghijklmnop\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        t.start()
        t0 = time.monotonic()
        reply = b""
        s.settimeout(0.25)
        for i in range(len(request)):
            # (near the 1 s timeout, only read: a byte sent after the server closed would
            # be answered by a reset, which can discard its 408 on a loaded machine)
            if reply or time.monotonic() - t0 > 0.9:
                break
            try:
                s.sendall(request[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
            except TimeoutError:
                pass
            except ConnectionResetError:
                break
        reply += _read_all(s, 2.0)
        took = time.monotonic() - t0
    t.join()
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout")
    body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert body == {"error": "the request headers were not received within 1 s"}
    assert 0.9 < took < 3.0
    assert served == [200] * 5
    still_serving(server)


def test_a_kept_alive_connection_times_each_requests_headers_from_its_first_byte(server):
    # One timer per connection: armed at the connection's opening, it must be moved to
    # the second request's deadline (from its first byte), neither cut that request
    # early at the first deadline nor forget it.
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.settimeout(2.0)
        s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first:          # (the head and the body may come apart)
            first += s.recv(4096)
        head, body = first.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
        while len(body) < length:
            body += s.recv(4096)
        assert head.startswith(b"HTTP/1.1 200 ") and json.loads(body) == {"live": True}
        time.sleep(0.6)                          # (past half the first deadline of 1 s)
        s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        reply = _read_all(s, 4.0)
        took = time.monotonic() - t0
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout"), reply[:80]
    assert 0.9 < took < 2.5, took
    still_serving(server)


def _read_response(sock):
    """One response from a kept-alive connection: (head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head, body[:length], body[length:]


def test_head_and_body_go_in_one_write_and_every_response_shape_still_arrives(server):
    # (_OneWrite holds a response's head for its body: a HEAD response, which has no
    # body, an interim 100 Continue, which the client waits for, and pipelined
    # requests must still get all their bytes, in order)
    r = httpx.head(f"{server.url}/v2/health/live")
    assert r.status_code == 200 and r.content == b""
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.settimeout(3.0)
        s.sendall(b"POST /v2/models/sensor/infer HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                  b"Content-Length: " + str(len(GOOD)).encode() + b"\r\n\r\n")
        interim = s.recv(4096)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(GOOD)
        head, body, rest = _read_response(s)
        assert head.startswith(b"HTTP/1.1 200 ") and rest == b""
        assert json.loads(body)["parameters"]["status"] == "ok"
        # three requests in one send: three responses, in order
        s.sendall(b"".join(b"GET /v2/models/sensor/versions/" + v + b" HTTP/1.1\r\nHost: x\r\n\r\n"
                           for v in (b"1", b"nope", b"1")))
        statuses, pending = [], b""
        for _ in range(3):
            data = pending
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
            head, body = data.split(b"\r\n\r\n", 1)
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
            while len(body) < length:
                body += s.recv(65536)
            body, pending = body[:length], body[length:]
            statuses.append(int(head.split()[1]))
            json.loads(body)
        assert statuses == [200, 404, 200] and pending == b""
    still_serving(server)


def test_one_write_holds_only_a_final_response_s_head():
    from fugue_ppl.service.server import _OneWrite

    class Transport:
        def __init__(self):
            self.writes, self.closed = [], False

        def write(self, data):
            self.writes.append(bytes(data))

        def close(self):
            self.closed = True

        def is_closing(self):
            return self.closed

    t = Transport()
    w = _OneWrite(t)
    w.write(b"HTTP/1.1 100 Continue\r\n\r\n")          # (at once: the client waits)
    w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert t.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    w.write(b"{}")
    assert t.writes[1:] == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    w.write(b"HTTP/1.1 204 No Content\r\n\r\n")        # (no body: sent at the end)
    w.flush()
    w.flush()
    assert t.writes[2:] == [b"HTTP/1.1 204 No Content\r\n\r\n"]
    w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    w.close()                                            # (a HEAD response, then close)
    assert t.writes[3:] == [b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close"
                            b"\r\n\r\n"]
    assert t.closed and w.is_closing()


def test_a_body_sent_too_slowly_gets_408(server):
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /v2/models/sensor/infer HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 100\r\nContent-Type: application/json\r\n\r\n{")
        reply = _read_all(s, 4.0)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert b"not received within 1 s" in reply and b"Traceback" not in reply
    still_serving(server)


def test_request_ids_and_traceparent_in_the_json_logs(server):
    r = httpx.post(f"{server.url}/v2/models/sensor/infer", content=GOOD,
                   headers={"X-Request-ID": "serve-log-1", "traceparent": PARENT})
    assert r.headers["x-request-id"] == "serve-log-1"
    fresh = httpx.post(f"{server.url}/v2/models/sensor/infer", content=GOOD)
    rid = fresh.headers["x-request-id"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        events = {e.get("request_id"): e for e in server.events()
                  if e.get("message") == "inference"}
        if "serve-log-1" in events and rid in events:
            break
        time.sleep(0.1)
    assert events["serve-log-1"]["traceparent"] == PARENT
    assert events["serve-log-1"]["model"] == "sensor"
    assert events["serve-log-1"]["status"] == "ok"
    assert events[rid]["traceparent"] is None
    assert all("unparsed" not in e for e in server.events())       # (every line JSON)


def test_health_probes_over_http(server):
    assert httpx.get(server.url + "/livez").json()["status"] == "pass"
    r = httpx.get(server.url + "/readyz")
    assert r.status_code == 200 and r.headers["content-type"] == "application/health+json"
    r = httpx.get(server.url + "/health")
    assert r.status_code == 200 and set(r.json()["levels"]) == {"system", "model", "inference",
                                                                "resource"}


def test_metrics_pass_promtool(server, promtool):
    for _ in range(3):
        still_serving(server)
    text = httpx.get(server.url + "/metrics").text
    assert 'fugue_inference_total{model="sensor",version="1"}' in text
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
    problems = (check.stdout + check.stderr).strip()
    assert check.returncode == 0 and problems == "", problems


# ---------------------------------------------------------------- shutdown


@pytest.fixture
def slow_server(tmp_path, serve_process):
    models = tmp_path / "models"
    models.mkdir()
    (models / "fugue_slow_models.py").write_text(SLOW_MODEL, encoding="utf-8")
    registry = tmp_path / "registry.sqlite3"
    from fugue_ppl.deploy import ModelRegistry

    with ModelRegistry(url=str(registry),
                       allowed_prefixes=["fugue_ppl.models", "fugue_slow_models"]) as reg:
        reg.register("slow", "1", "fugue_slow_models:slow", actor="test", status="live",
                     params={"smoke_inputs": {"reading": 0.0}},
                     outputs=[{"name": "temperature", "type": "float"}])

    def start(grace):
        return serve_process(tmp_path, f"""\
            log_level = "INFO"

            [runtime]
            max_inference_time = 20.0

            [registry]
            url = "{registry}"
            allowed_prefixes = ["fugue_ppl.models", "fugue_slow_models"]

            [service]
            shutdown_grace_seconds = {grace}
        """, env={"PYTHONPATH": str(models)})
    return start


def _infer_slow(url, seconds, out):
    t0 = time.monotonic()
    try:
        body = {"inputs": [dict(READING, data=[seconds])]}
        r = httpx.post(f"{url}/v2/models/slow/infer", json=body, timeout=30)
        out.append((r.status_code, r.json(), time.monotonic() - t0))
    except httpx.HTTPError as e:
        out.append((type(e).__name__, None, time.monotonic() - t0))


def test_sigterm_drains_the_requests_in_flight_with_readiness_failing_then_exits_0(
        slow_server):
    server = slow_server(grace=15)
    done = []
    with httpx.Client(base_url=server.url) as kept:
        assert kept.get("/v2/health/ready").status_code == 200      # (a kept-alive connection)
        threads = [threading.Thread(target=_infer_slow, args=(server.url, 2.0, done))
                   for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.7)                                             # (all three in flight)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        ready = kept.get("/v2/health/ready")
    assert ready.status_code == 503 and ready.json() == {"ready": False}
    assert ready.headers["connection"] == "close"
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/v2/health/live", timeout=2)       # (no new connection)
    for t in threads:
        t.join(30)
    assert server.proc.wait(30) == 0, server.logs()
    assert [d[0] for d in done] == [200, 200, 200], done
    assert all(d[1]["model_version"] == "1" and d[2] >= 2.0 for d in done)
    warnings = [e["message"] for e in server.events() if e.get("level") == "WARNING"]
    assert any(m.startswith("shutting down: readiness fails, no new connection, 3 request(s) "
                            "in flight") for m in warnings), warnings


def test_requests_past_the_grace_period_are_cancelled_and_the_exit_is_still_0(slow_server):
    server = slow_server(grace=0.5)
    done = []
    t = threading.Thread(target=_infer_slow, args=(server.url, 4.0, done))
    t.start()
    time.sleep(0.7)
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(30) == 0, server.logs()
    assert time.monotonic() - t0 < 3.5
    t.join(30)
    assert done[0][0] == 503 and "shut down before the request completed" in done[0][1]["error"]
    assert any("cancelling 1 request(s) still in flight" in e.get("message", "")
               for e in server.events())


# ---------------------------------------------------------------- a posterior over HTTP


def test_a_model_configured_with_inference_answers_with_its_posterior(tmp_path, serve_process):
    s = serve_process(tmp_path, """\
        [inference]
        algorithm = "importance"
        particles = 2000
        sites = ["temperature"]

        [drift]
        warmup = 20
        window = 5
    """)
    try:
        client = tritonclient.InferenceServerClient(url=s.url[len("http://"):])
        try:
            meta = client.get_model_metadata("sensor")
            assert [o["name"] for o in meta["outputs"]][:3] == [
                "posterior_site", "posterior_mean", "posterior_sd"]
            inp = tritonclient.InferInput("reading", [1], "FP64")
            inp.set_data_from_numpy(np.array([22.0]), binary_data=False)
            outs = [tritonclient.InferRequestedOutput(n, binary_data=False)
                    for n in ("posterior_site", "posterior_mean", "posterior_sd", "ess",
                              "log_evidence")]
            result = client.infer("sensor", [inp], outputs=outs, parameters={"seed": 3})
            assert result.as_numpy("posterior_site").tolist() == ["temperature"]
            mean, sd = sensor_posterior(22.0)
            ess = result.as_numpy("ess")[0]
            assert 0 < ess <= 2000
            assert abs(result.as_numpy("posterior_mean")[0] - mean) < 5 * sd / np.sqrt(ess)
            again = client.infer("sensor", [inp], outputs=outs, parameters={"seed": 3})
            assert again.as_numpy("log_evidence")[0] == result.as_numpy("log_evidence")[0]
        finally:
            client.close()
        # The drift monitor charts the posteriors: after its warm-up on in-control
        # readings, readings far from the prior's range raise the drift alarm in /health.
        for _ in range(20):
            r = httpx.post(f"{s.url}/v2/models/sensor/infer", content=GOOD)
            assert r.status_code == 200
        for _ in range(10):
            httpx.post(f"{s.url}/v2/models/sensor/infer", content=json.dumps(
                {"inputs": [{"name": "reading", "shape": [1], "datatype": "FP64",
                             "data": [45.0]}]}))
        health = httpx.get(f"{s.url}/health").json()
        (check,) = health["checks"]["model:drift"]
        assert check["status"] == "warn" and "model drift: alarms" in check["output"]
        assert health["levels"]["inference"]["status"] == "warn"
        drift = httpx.get(f"{s.url}/status/data").json()
        assert any(r.get("drift", {}).get("drifting") for r in drift["runners"]), drift
    finally:
        assert s.stop() == 0, s.logs()
