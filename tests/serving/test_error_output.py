"""What a client sees of an error: its kind, a stable code and an id, never its text."""

import json
import logging
import re

import pytest

import fugue_ppl as fp
from fugue_ppl.errors import PUBLIC_CODES, public_error

SECRET = "open /srv/app/secrets.toml failed: token=sk-live-4f9a8b7c6d5e"


class LeakyError(Exception):
    pass


def leaky(x):
    fp.sample("a", fp.Normal(0.0, 1.0))
    raise LeakyError(SECRET)


def slow(x):
    fp.sample("a", fp.Normal(0.0, 1.0))
    fp.sample("b", fp.Normal(0.0, 1.0))


def _records(caplog, error_id):
    return [r for r in caplog.records
            if r.name == "fugue_ppl.serving.runner" and error_id in r.getMessage()]


def test_a_model_error_reaches_the_client_as_kind_code_and_id_and_the_log_has_the_rest(caplog):
    runner = fp.ModelRunner(leaky, fallback=0.0, rng=1)
    with caplog.at_level(logging.DEBUG, logger="fugue_ppl"):
        res = runner.infer(1.0)
    body = json.dumps(res.to_dict())
    assert "secrets" not in body and "sk-live" not in body and "LeakyError" not in body
    err = res.to_dict()["error"]
    assert err == {"kind": "model_error", "code": 900, "id": res.error_id}
    assert re.fullmatch(r"[0-9a-f]{32}", res.error_id)
    (record,) = _records(caplog, res.error_id)
    assert record.levelno == logging.ERROR
    text = caplog.text
    assert SECRET in text and "Traceback" in text and "LeakyError" in text
    assert res.error is not None and str(res.error) == SECRET     # the server keeps it


def test_each_failed_call_gets_its_own_id():
    runner = fp.ModelRunner(leaky, fallback=0.0, rng=1)
    ids = {runner.infer(1.0).error_id for _ in range(50)}
    assert len(ids) == 50


def test_without_a_fallback_the_raised_exception_carries_the_logged_id(caplog):
    runner = fp.ModelRunner(leaky, rng=1)
    with caplog.at_level(logging.ERROR, logger="fugue_ppl"), pytest.raises(LeakyError) as info:
        runner.infer(1.0)
    error_id = info.value.fugue_error_id
    (record,) = _records(caplog, error_id)
    assert "(raised)" in record.getMessage() and record.exc_info[1] is info.value


def test_a_timeout_and_a_rejection_are_kind_timeout_and_circuit_open(caplog):
    clock = fp.ManualClock()
    breaker = fp.CircuitBreaker(failure_threshold=0.5, minimum_calls=2, clock=clock)
    runner = fp.ModelRunner(leaky, fallback=0.0, rng=1, breaker=breaker)
    with caplog.at_level(logging.DEBUG, logger="fugue_ppl"):
        for _ in range(5):
            res = runner.infer(1.0)
    assert res.status == "rejected"
    assert res.to_dict()["error"] == {"kind": "circuit_open", "code": 801, "id": res.error_id}
    (record,) = _records(caplog, res.error_id)
    assert record.levelno == logging.DEBUG and record.exc_info is None

    timed = fp.ModelRunner(slow, fallback=0.0, rng=1, deadline=1e-9)
    with caplog.at_level(logging.DEBUG, logger="fugue_ppl"):
        res = timed.infer(1.0)
    assert res.status == "timeout"
    assert res.to_dict()["error"] == {"kind": "timeout", "code": 800, "id": res.error_id}
    (record,) = _records(caplog, res.error_id)
    assert record.levelno == logging.WARNING


def test_an_ok_result_has_no_error_and_no_id():
    res = fp.ModelRunner(slow, rng=1).infer(1.0)
    assert res.error is None and res.error_id is None and res.to_dict()["error"] is None


@pytest.mark.parametrize("exc, kind, code", [
    (fp.ValidationError("reading: " + SECRET), "invalid_request", 700),
    (fp.errors.InvalidArgument("m", "p", SECRET, "must be short"), "invalid_argument", 701),
    (fp.InvalidAddress(SECRET + "\n", "must hold printable characters only"),
     "invalid_address", 702),
    (fp.InferenceTimeout(SECRET), "timeout", 800),
    (fp.CircuitOpenError(SECRET), "circuit_open", 801),
    (fp.InvalidParameters("Normal", "sigma", -1.0, "must be > 0", 101),
     "invalid_parameters", 101),
    (fp.AddressConflict(SECRET, "x"), "address_conflict", 301),
    (fp.UnexpectedModelStructure(SECRET, "x"), "unexpected_model_structure", 302),
    (fp.TypeMismatch(SECRET, "x"), "type_mismatch", 600),
    (fp.InvalidObservation(SECRET, "x"), "invalid_observation", 601),
    (fp.errors.UnknownModel(SECRET, model="m"), "unknown_model", 703),
    (fp.errors.UnknownVersion(SECRET, model="m", version="2"), "unknown_version", 704),
    (fp.errors.InvalidModelParams(SECRET, model="m", version="1"), "invalid_model_params",
     705),
    (fp.errors.RegistryConflict(SECRET, model="m", version="1", expected=1, actual=2),
     "registry_conflict", 706),
    (fp.errors.UnknownRollout(SECRET), "unknown_rollout", 707),
    (fp.errors.RegistryUnavailable(SECRET, store="SQLite file 'x'"), "registry_unavailable",
     803),
    (LeakyError(SECRET), "model_error", 900),
    (KeyError(SECRET), "model_error", 900),
])
def test_public_error_gives_kind_code_and_id_only(exc, kind, code):
    out = public_error(exc, "abc")
    assert out == {"kind": kind, "code": code, "id": "abc"}
    assert "secrets" not in json.dumps(out)


def test_the_public_codes_are_stable_and_distinct_from_fugue_codes():
    assert PUBLIC_CODES == {"invalid_request": 700, "invalid_argument": 701,
                            "invalid_address": 702, "unknown_model": 703,
                            "unknown_version": 704, "invalid_model_params": 705,
                            "registry_conflict": 706, "unknown_rollout": 707,
                            "timeout": 800, "circuit_open": 801,
                            "overloaded": 802, "registry_unavailable": 803,
                            "model_error": 900}
