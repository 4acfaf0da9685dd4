"""``fugue-ppl serve`` with its access controls, as a real server on loopback: API keys
and their scopes, per-client rate limits, the HMAC audit log, the status page and,
with a registry, the admin API recording the caller's key id."""

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from fugue_ppl.service.audit import FIELDS, audit_hmac

CI_KEY = "k-ci-0123456789abcdef"
OPS_KEY = "k-ops-0123456789abcdef"
ADMIN_KEY = "k-admin-0123456789abcdef"
AUDIT_KEY = "audit-hmac-key-for-tests"
KEYS = f"ci:{CI_KEY},ops:{OPS_KEY},admin:{ADMIN_KEY}"
ENV = {"FUGUE_SECRETS__API_KEYS": KEYS, "FUGUE_SECRETS__AUDIT_KEY": AUDIT_KEY}
BODY = {"inputs": [{"name": "reading", "shape": [1], "datatype": "FP64", "data": [22.0]}]}

CONFIG = """\
    [auth]
    public_actions = ["health"]
    scopes = {ops = {models = ["other"], actions = ["infer", "read"]}, \
admin = {models = ["*"], actions = ["infer", "read", "admin", "metrics"]}}

    [rate_limit]
    rate = 1.0
    burst = 3
    overrides = {ci = {rate = 1000.0, burst = 1000}}

    [audit]
    path = "audit.log"

    [status]
    interval_seconds = 0.2
"""


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def audit_lines(path, request_ids, timeout=10.0):
    """The audit file's lines of ``request_ids``, once all are written (its writer is a
    thread), by request id."""
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        found = {x["request_id"]: x for x in map(json.loads, text.splitlines())
                 if x["request_id"] in request_ids}
        if len(found) == len(request_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory, serve_process):
    s = serve_process(tmp_path_factory.mktemp("access"), CONFIG, env=ENV)
    yield s
    assert s.stop() == 0, s.logs()


def test_keys_scopes_and_public_probes(server):
    url = f"{server.url}/v2/models/sensor/infer"
    assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200      # public
    missing = httpx.post(url, json=BODY)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith(
        "Bearer")
    wrong = httpx.post(url, json=BODY, headers=bearer("k-not-a-key-0123456789"))
    assert wrong.status_code == 401
    assert "k-not-a-key" not in wrong.text
    scoped = httpx.post(url, json=BODY, headers=bearer(OPS_KEY))    # ops may use "other"
    assert scoped.status_code == 403 and "sensor" in scoped.json()["error"]
    metrics = httpx.get(f"{server.url}/metrics", headers=bearer(CI_KEY))   # ci: the defaults
    assert metrics.status_code == 200
    assert httpx.get(f"{server.url}/metrics").status_code == 401          # not public here
    for r in (missing, wrong, scoped):
        assert CI_KEY not in r.text and "Traceback" not in r.text


def test_each_key_has_its_own_bucket_and_a_refusal_says_when_to_retry(server):
    url = f"{server.url}/v2/models/sensor/infer"
    with httpx.Client(headers=bearer(ADMIN_KEY)) as admin:
        codes = [admin.post(url, json=BODY) for _ in range(6)]
    statuses = [r.status_code for r in codes]
    # a burst of 3 at 1/s: the first three pass, then refusals (a fourth may pass when
    # a second has gone by)
    assert statuses[:3] == [200, 200, 200] and statuses.count(429) >= 2, statuses
    refused = next(r for r in codes if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-limit"] == "3"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-policy"] == "3;w=3"
    assert "too many requests" in refused.json()["error"]
    ok = codes[0]
    assert ok.headers["ratelimit-limit"] == "3" and int(ok.headers["ratelimit-remaining"]) >= 1
    # another key is not limited by the first one's use, and has its own policy
    other = httpx.post(url, json=BODY, headers=bearer(CI_KEY))
    assert other.status_code == 200, other.text
    assert other.headers["ratelimit-limit"] == "1000"
    # nor are clients without a key (counted by address)
    assert httpx.get(f"{server.url}/v2/health/live").status_code == 200


def test_the_audit_log_has_one_hmac_line_per_request(server, tmp_path):
    rid = "audit-test-0001"
    r = httpx.post(f"{server.url}/v2/models/sensor/infer", json=BODY,
                   headers={**bearer(CI_KEY), "X-Request-ID": rid})
    assert r.status_code == 200, r.text
    denied = httpx.post(f"{server.url}/v2/models/sensor/infer", json=BODY,
                        headers={"X-Request-ID": "audit-test-0002"})
    assert denied.status_code == 401
    path = server.log.parent / "audit.log"
    mine = audit_lines(path, (rid, "audit-test-0002"))
    line = mine[rid]
    assert (line["key_id"], line["model"], line["version"], line["action"], line["outcome"],
            line["http_status"]) == ("ci", "sensor", r.json()["model_version"], "infer", "ok",
                                     200)
    assert line["input_hmac"] == audit_hmac(AUDIT_KEY.encode(), BODY)
    assert line["output_hmac"] == audit_hmac(AUDIT_KEY.encode(), r.json())
    assert 0 < line["duration"] < 30
    refused = mine["audit-test-0002"]
    assert (refused["key_id"], refused["http_status"], refused["input_hmac"]) == (
        None, 401, None)
    text = path.read_text(encoding="utf-8")
    # the fields, never the documents ("22.0" may be in a timestamp's seconds) or a key
    assert all(list(json.loads(x)) == list(FIELDS) for x in text.splitlines())
    assert "reading" not in text and "temperature" not in text
    assert CI_KEY not in text and AUDIT_KEY not in text


def test_the_status_page_is_served_to_a_reader(server):
    with httpx.Client(base_url=server.url, headers=bearer(CI_KEY)) as c:
        page = c.get("/status")
        assert page.status_code == 200 and "<html" in page.text.lower()
        deadline = time.monotonic() + 10
        while True:
            data = c.get("/status/data")
            assert data.status_code == 200, data.text
            models = {m["model"] for m in data.json().get("runners", ())}
            if "sensor" in models or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert "sensor" in models, data.json()
    assert httpx.get(f"{server.url}/status").status_code == 401


# ---------------------------------------------------------------- the admin API


@pytest.fixture(scope="module")
def registry_server(tmp_path_factory, serve_process):
    from fugue_ppl.deploy import ModelRegistry

    tmp = tmp_path_factory.mktemp("admin")
    url = str(tmp / "registry.sqlite3")
    with ModelRegistry(url=url) as reg:
        reg.register("sensor", "1", "fugue_ppl.models:sensor", actor="setup", status="live",
                     params={"smoke_inputs": {"reading": 22.0}},
                     outputs=[{"name": "temperature", "type": "float"}])
    config = f"""\
        [registry]
        url = "{url}"

        [auth]
        scopes = {{admin = {{models = ["*"], actions = ["admin", "read", "infer"]}}}}

        [service]
        refresh_interval_seconds = 60.0
    """
    s = serve_process(tmp, config, env=ENV)
    yield s, url
    assert s.stop() == 0, s.logs()


def test_the_admin_api_needs_the_admin_action_and_records_the_key(registry_server):
    server, url = registry_server
    new = {"version": "2", "model": "fugue_ppl.models:sensor",
           "params": {"smoke_inputs": {"reading": 22.0}},
           "outputs": [{"name": "temperature", "type": "float"}]}
    path = f"{server.url}/admin/models/sensor/versions"
    assert httpx.post(path, json=new).status_code == 401
    assert httpx.post(path, json=new, headers=bearer(CI_KEY)).status_code == 403
    made = httpx.post(path, json=new, headers=bearer(ADMIN_KEY))
    assert made.status_code == 201, made.text
    promoted = httpx.post(f"{path}/2/promote", json={}, headers=bearer(ADMIN_KEY))
    assert promoted.status_code == 200, promoted.text
    from fugue_ppl.deploy import ModelRegistry

    with ModelRegistry(url=url) as reg:
        actors = [h.actor for h in reg.history("sensor")]
    assert actors.count("admin") >= 2 and "setup" in actors
    # the change reached the catalog at once (on_change), not at the 60 s refresh
    meta = httpx.get(f"{server.url}/v2/models/sensor", headers=bearer(ADMIN_KEY)).json()
    assert "2" in meta["versions"]
    r = httpx.post(f"{server.url}/v2/models/sensor/infer", json=BODY,
                   headers=bearer(ADMIN_KEY))
    assert r.status_code == 200 and r.json()["model_version"] == "2", r.text


# ---------------------------------------------------------------- refusing to start


def _refused(tmp_path, config, env=None, port=None):
    """``fugue-ppl serve`` that must refuse to start: its exit status and stderr."""
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    cfg = tmp_path / "serve.toml"
    cfg.write_text(config, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FUGUE_")}
    done = subprocess.run([sys.executable, "-m", "fugue_ppl", "serve", "--port", str(port),
                           "--config", str(cfg)], env={**clean, **(env or {})}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stderr


def test_an_id_given_two_keys_is_refused_without_showing_them(tmp_path):
    status, err = _refused(tmp_path, "", env={
        "FUGUE_SECRETS__API_KEYS": f"ci:{CI_KEY},ci:{OPS_KEY}"})
    assert status == 1
    assert "secrets.api_keys: the key id ci is used twice" in err
    assert CI_KEY not in err and OPS_KEY not in err and "Traceback" not in err


def test_an_audit_file_that_cannot_be_opened_is_refused(tmp_path):
    status, err = _refused(tmp_path, '[audit]\npath = "no/such/dir/audit.log"\n')
    assert status == 1
    assert "fugue-ppl serve: audit.path: no/such/dir/audit.log cannot be opened" in err


def test_a_registry_that_is_not_a_database_is_refused(tmp_path):
    (tmp_path / "registry.sqlite3").write_text("not a database", encoding="utf-8")
    status, err = _refused(tmp_path, '[registry]\nurl = "registry.sqlite3"\n')
    assert status == 1
    assert "fugue-ppl serve: the models cannot be loaded (RegistryUnavailable" in err


def test_a_port_in_use_is_refused(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        status, err = _refused(tmp_path, "", port=taken.getsockname()[1])
    assert status == 1 and "address already in use" in err
