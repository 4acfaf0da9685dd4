"""The audit log: the lines and their fields, the HMACs against an independent
computation (hmac + rfc8785 here), canonicalisation (the compiled canonicaliser
against the rfc8785 package: floats, integers, strings, key order, numpy values,
Mappings, depth; its JSON text reader against the service's parser), values
without a JSON form, rotation, a writer that never slows requests, close, and
threads."""

import datetime
import doctest
import hashlib
import hmac
import json
import logging
import math
import os
import random
import struct
import subprocess
import sys
import textwrap
import threading
import time
import types
from collections import OrderedDict, defaultdict, namedtuple
from collections.abc import Mapping
from enum import Enum, IntEnum

import numpy as np
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from fugue_ppl.checks import Secret
from fugue_ppl.config import Config, load_config
from fugue_ppl.errors import ConfigError, InvalidArgument
from fugue_ppl.service import _audit_config, _canonical, audit
from fugue_ppl.service._audit_config import AuditConfig
from fugue_ppl.service._canonical import Canonicaliser, NoCanonicalForm
from fugue_ppl.service.audit import FIELDS, AuditLog, open_handler

KEY = "audit-Pp0Oo9Ii8Uu7Yy6T"
API_KEY = "ci-7Kq2mZr9Vw4xYb1T"


def reference_hmac(value, key=KEY):
    return hmac.new(key.encode(), rfc8785.dumps(value), hashlib.sha256).hexdigest()


def fields(**overrides):
    base = dict(request_id="req-1", traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-"
                "00f067aa0ba902b7-01", key_id="ci", model="sensor", version="2",
                action="infer", outcome="ok", http_status=200, duration=0.0123,
                input={"inputs": [{"name": "reading", "data": [22.0]}]},
                output={"outputs": [{"name": "temperature", "data": [21.5]}]})
    base.update(overrides)
    return base


def file_log(tmp_path, name="audit.log", **settings):
    s = AuditConfig(path=str(tmp_path / name), **settings)
    return AuditLog(open_handler(s), key=Secret(KEY), queue_size=s.queue_size)


def lines(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh.read().splitlines()]


class Slow(logging.Handler):
    """A handler that takes its time (or waits for a gate) for every line."""

    def __init__(self, delay=0.0, gate=None):
        super().__init__()
        self.delay, self.gate, self.lines = delay, gate, []

    def emit(self, record):
        if self.gate is not None:
            self.gate.wait()
        time.sleep(self.delay)
        self.lines.append(self.format(record))


def test_docstring_examples_run():
    for module in (audit, _audit_config, _canonical):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted >= 1


# ---------------------------------------------------------------- the line

def test_a_line_holds_exactly_the_fields_in_order(tmp_path):
    log = file_log(tmp_path)
    f = fields()
    log.record(**f, timestamp=1700000000.123456)
    log.close()
    (line,) = lines(tmp_path / "audit.log")
    assert list(line) == list(FIELDS)
    assert line == {
        "timestamp": "2023-11-14T22:13:20.123456Z",
        "request_id": "req-1",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "key_id": "ci", "model": "sensor", "version": "2", "action": "infer", "outcome": "ok",
        "http_status": 200, "duration": 0.0123,
        "input_hmac": reference_hmac(f["input"]),
        "output_hmac": reference_hmac(f["output"]),
    }
    assert len(line["input_hmac"]) == 64 and line["input_hmac"] != line["output_hmac"]
    assert log.written == 1 and log.dropped == 0 and log.errors == 0


def test_the_timestamp_is_now_in_utc_by_default_and_nulls_are_null(tmp_path):
    log = file_log(tmp_path)
    before = datetime.datetime.now(datetime.timezone.utc)
    log.record(**fields(traceparent=None, key_id=None, model=None, version=None,
                        input=None, output=None))
    log.close()
    (line,) = lines(tmp_path / "audit.log")
    ts = line["timestamp"]
    assert ts.endswith("Z") and len(ts) == len("2023-11-14T22:13:20.123456Z")
    when = datetime.datetime.fromisoformat(ts[:-1] + "+00:00")
    assert abs((when - before).total_seconds()) < 5
    assert (line["traceparent"], line["key_id"], line["model"], line["version"]) == (None,) * 4
    # no document (a request refused before its body was read): no HMAC
    assert line["input_hmac"] is None


def test_never_the_raw_input_output_or_an_api_key(tmp_path):
    log = file_log(tmp_path)
    marker_in, marker_out = "patient-9876-secret-reading", "diagnosis-4321"
    log.record(**fields(input={"note": marker_in, "auth": API_KEY},
                        output={"result": marker_out}))
    log.close()
    text = (tmp_path / "audit.log").read_text(encoding="utf-8")
    for hidden in (marker_in, marker_out, API_KEY, KEY):
        assert hidden not in text
    assert KEY not in repr(log)


# ---------------------------------------------------------------- HMACs

def test_canonicalisation_makes_key_order_and_number_spelling_irrelevant(tmp_path):
    log = file_log(tmp_path)
    a = {"b": [1, 2.0, {"y": True, "x": None}], "a": "é"}
    b = {"a": "é", "b": [1.0, 2, {"x": None, "y": True}]}
    c = {"a": "é", "b": [1, 2, {"x": None, "y": False}]}
    for value in (a, b, c):
        log.record(**fields(input=value, output=(1, 2)))
    log.close()
    got = lines(tmp_path / "audit.log")
    assert got[0]["input_hmac"] == got[1]["input_hmac"] == reference_hmac(a) == \
        reference_hmac(b)
    assert got[2]["input_hmac"] == reference_hmac(c) != got[0]["input_hmac"]
    assert got[0]["output_hmac"] == reference_hmac([1, 2])     # a tuple is a list


def test_non_finite_numbers_and_numpy_values(tmp_path):
    log = file_log(tmp_path)
    log.record(**fields(input={"x": float("nan"), "y": [float("inf"), -float("inf"), 1.5]},
                        output={"a": np.array([[1.0, 2.0]]), "n": np.int64(3),
                                "f": np.float32(0.5), "b": np.bool_(True)}))
    log.close()
    (line,) = lines(tmp_path / "audit.log")
    assert line["input_hmac"] == reference_hmac({"x": "NaN",
                                                 "y": ["Infinity", "-Infinity", 1.5]})
    assert line["output_hmac"] == reference_hmac({"a": [[1.0, 2.0]], "n": 3, "f": 0.5,
                                                  "b": True})


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)


@given(json_values, st.sampled_from([bytes, bytearray, memoryview]),
       st.sampled_from([{}, {"indent": 2}, {"ensure_ascii": False}]))
@settings(max_examples=300, deadline=None)
def test_json_text_is_canonicalised_as_the_value_it_parses_to(value, kind, style):
    # (the service hands the audit log the bodies it received and sent, as bytes)
    text = kind(json.dumps(value, **style).encode("utf-8"))
    assert audit.canonical(text) == rfc8785.dumps(value)
    assert audit.audit_hmac(KEY.encode(), text) == audit.audit_hmac(KEY.encode(), value) \
        == reference_hmac(value)


@pytest.mark.parametrize("text", [b"", b"{", b'{"a": NaN}', b'{"a": Infinity}', b"\xff{}",
                                  b'{"a": 1} 2', b"[" * 100_000])
def test_text_that_is_not_json_has_no_canonical_form(text):
    assert audit.canonical(text) is None and audit.audit_hmac(b"k", text) is None


def test_json_text_is_read_as_the_service_parses_a_body():
    from fugue_ppl.service.protocol import parse_json
    for text in (b'{"n": 123456789012345678901234567890}', b'{"n": 9007199254740991}',
                 b'{"n": 9007199254740992}', b'[1.0, -0.0, 1e400]'):
        try:
            expected = audit.canonical(parse_json(text))
        except ValueError:
            expected = None
        assert audit.canonical(text) == expected, text
    assert audit.canonical(b'{"n": 9007199254740991}') == b'{"n":9007199254740991}'
    assert audit.canonical(b'{"n": 9007199254740992}') is None      # (beyond 2**53 - 1)


def as_the_service_reads(text):
    """The canonical form of JSON text through Python: parse_json, then its value's."""
    from fugue_ppl.service.protocol import parse_json
    try:
        value = parse_json(bytes(text))
    except ValueError:
        return None
    return audit.canonical(value)


@pytest.mark.parametrize("text", [
    b"", b"  ", b"\xef\xbb\xbf{}", b"nul", b"null", b"true ", b"[true,false,null]", b"[]", b"{}",
    b"1e400", b"-1e400", b"1e-400", b"4.9e-324", b"2.4e-324", b"1.7976931348623157e309",
    b"18446744073709551615", b"18446744073709551616", b"-9223372036854775808",
    b"-9223372036854775809", b"[1e400, 18446744073709551616]", b"[1e400, 5]",
    b"[18446744073709551616, 5]", b"1" + b"0" * 400, b"-0", b"-0.0", b"0.1e1", b"1E+2",
    b"9007199254740991", b"9007199254740992", b"-9007199254740992", b"01", b"-", b"1.",
    b".5", b"1e", b"+1", b"0x10", b"[1,]", b'{"a":1,}', b"1 2", b'{"a":1,"a":2}',
    b'{"b":1,"a":2,"b":3}', b'"\\ud800"', b'"\\udc00\\ud800"', b'"\\ud83d\\ude00"',
    b'"\xed\xa0\x80"', b'"\xc0\xaf"', b'"\xf4\x90\x80\x80"', b'"\x7f"', b'"\\u0000"',
    b'"\\/"', b'"\\x"', b'"a\tb"', b'"\\u12"', b'"abc', b'{"\xee\x80\x80":1,"\xf0\x9f\x98\x80":2}',
    b"[" * 100 + b"]" * 100, b"[" * 101 + b"]" * 101, b'{"a":' * 100 + b"1" + b"}" * 100,
    b'{"a":' * 101 + b"1" + b"}" * 101, b"NaN", b"-Infinity", b"[1, 2", b'{"a" 1}',
    b'{"inputs": [{"name": "reading", "shape": [1], "datatype": "FP64", "data": [22.0]}]}',
])
def test_the_compiled_reader_reads_text_as_the_service_s_parser_does(text):
    # (the audit writer canonicalises bodies without the interpreter: through its own
    # reader, which must give what parse_json's value gives, refusals included)
    assert audit.canonical(text) == as_the_service_reads(text)


number_texts = st.from_regex(r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,3})?",
                             fullmatch=True)


@given(st.lists(number_texts, min_size=1, max_size=4))
@settings(max_examples=500, deadline=None)
def test_numbers_are_read_as_the_service_reads_them(numbers):
    text = ("[" + ", ".join(numbers) + "]").encode()
    assert audit.canonical(text) == as_the_service_reads(text)


string_parts = st.sampled_from(["a", "\\n", "\\u00e9", "\\ud83d\\ude00", "\\uD834\\uDD1E",
                                "\\ud800", "\\udc00", "\u00e9", "\U0001f600", "\\\"", "\\/",
                                "\\u0000", "\\x", "\\", "\t", "\x7f", "\ue000"])


@given(st.lists(string_parts, max_size=6), st.lists(string_parts, max_size=3))
@settings(max_examples=300, deadline=None)
def test_strings_and_keys_are_read_as_the_service_reads_them(value, key):
    text = ('{"' + "".join(key) + '": "' + "".join(value) + '", "z": 1}').encode()
    assert audit.canonical(text) == as_the_service_reads(text)


@given(json_values, st.lists(st.tuples(st.sampled_from(["insert", "delete", "replace"]),
                                       st.integers(0, 10_000),
                                       st.sampled_from(list(b'{}[]",:\\ 019-+.eEtrufalsn')
                                                       + [0, 0x1F, 0x7F, 0x80, 0xC3, 0xA9,
                                                          0xED, 0xA0, 0xF0, 0xFF])),
                             min_size=1, max_size=3))
@settings(max_examples=500, deadline=None)
def test_broken_json_text_is_refused_or_read_as_the_service_reads_it(value, edits):
    text = bytearray(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    for op, at, byte in edits:
        at %= len(text) + 1
        if op == "insert":
            text.insert(at, byte)
        elif at < len(text):
            if op == "delete":
                del text[at]
            else:
                text[at] = byte
    assert audit.canonical(bytes(text)) == as_the_service_reads(text)


def test_the_text_reader_checks_its_argument():
    c = Canonicaliser(100)
    with pytest.raises(TypeError):
        c.dumps_text("{}")                      # (text, not bytes)
    with pytest.raises(TypeError):
        c.dumps_text(None)
    assert c.dumps_text(bytearray(b' {"b": 1, "a": [1.0]} ')) == b'{"a":[1],"b":1}'
    assert Canonicaliser(0).dumps_text(b"1.5") == b"1.5"
    with pytest.raises(NoCanonicalForm):
        Canonicaliser(0).dumps_text(b"[]")


@given(json_values)
@settings(max_examples=400, deadline=None)
def test_the_canonical_form_is_the_rfc8785_package_s(value):
    assert audit.canonical(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("f", [
    0.0, -0.0, 1.0, -2.0, 1e-7, 1.5e-7, 9.999e-5, 1e-4, 0.1, 123.456, 2.0**53, 1e15 + 0.5, 1e16,
    1.2345e16, 1e20, 1e21, 1.7976931348623157e308, 5e-324, -1e-300, 123456789012345680000.0])
def test_floats_are_written_as_ecmascript_numbers(f):
    assert audit.canonical(f) == rfc8785.dumps(f)
    assert audit.canonical({"\U0001f600": 1, "\ufb01": 2, "a": [f]}) == rfc8785.dumps(
        {"\U0001f600": 1, "\ufb01": 2, "a": [f]})


def deep(n):
    v = []
    for _ in range(n):
        v = [v]
    return v


@pytest.mark.parametrize("value", [
    {1: "int key"}, {"s": {1, 2}}, object(), b"bytes", 2**60, "\ud800", deep(1000),
    {"x": float}, [lambda: 0]])
def test_a_value_without_a_canonical_form_gets_null_and_the_line_is_written(tmp_path, value):
    log = file_log(tmp_path)
    log.record(**fields(input=value, output={"ok": 1}))
    log.record(**fields(request_id="req-2"))
    log.close()
    first, second = lines(tmp_path / "audit.log")
    assert first["input_hmac"] is None and first["output_hmac"] == reference_hmac({"ok": 1})
    assert second["request_id"] == "req-2" and second["input_hmac"] is not None
    assert log.errors == 0


# ---------------------------------------------------------------- the canonical form

@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=3000, deadline=None)
def test_every_finite_float_is_written_as_the_rfc8785_package_writes_it(f):
    assert audit.canonical(f) == rfc8785.dumps(f)
    assert audit.canonical([f, {"x": -f}]) == rfc8785.dumps([f, {"x": -f}])


@given(st.integers(0, 2**64 - 1))
@settings(max_examples=3000, deadline=None)
def test_floats_of_any_bit_pattern(bits):
    # (uniform over the exponents, where st.floats favours simple values)
    (f,) = struct.unpack("<d", struct.pack("<Q", bits))
    if math.isfinite(f):
        assert audit.canonical(f) == rfc8785.dumps(f)
    else:
        assert audit.canonical(f) == (b'"NaN"' if f != f else
                                      b'"Infinity"' if f > 0 else b'"-Infinity"')


def test_forty_thousand_random_floats_from_a_fixed_seed():
    # A fixed seed: the same floats every run (no false failures).
    rng = random.Random(8785)
    floats = [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
              for _ in range(20_000)]
    floats += [float(f"{rng.randint(1, 10**rng.randint(1, 17))}e{rng.randint(-25, 25)}")
               for _ in range(20_000)]
    floats = [f for f in floats if math.isfinite(f)]
    assert audit.canonical(floats) == rfc8785.dumps(floats)


@pytest.mark.parametrize("f, text", [
    (1e21, "1e+21"), (1e-7, "1e-7"), (1e-6, "0.000001"),
    (123456789012345680000.0, "123456789012345680000"), (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"), (-0.0, "0"), (0.0, "0"),
    (0.1 + 0.2, "0.30000000000000004"), (1e16, "10000000000000000"),
    (9007199254740993.0, "9007199254740992"), (9007199254740991.0, "9007199254740991"),
    (999999999999999900000.0, "999999999999999900000"), (1.234e21, "1.234e+21"),
    (1.5e-7, "1.5e-7"), (-1e-7, "-1e-7"), (0.000001234, "0.000001234"),
    (2.2250738585072014e-308, "2.2250738585072014e-308"), (-123.456, "-123.456"),
    (16.618351406970806, "16.618351406970806"), (1e15 + 0.5, "1000000000000000.5"),
])
def test_float_edge_cases_are_written_as_ecmascript_writes_them(f, text):
    assert audit.canonical(f) == text.encode() == rfc8785.dumps(f)
    assert audit.canonical({"v": [f]}) == rfc8785.dumps({"v": [f]})


def test_non_finite_floats_are_strings():
    nan, inf = float("nan"), float("inf")
    assert audit.canonical([nan, inf, -inf, np.float32("nan"), -np.float64("inf")]) == \
        b'["NaN","Infinity","-Infinity","NaN","-Infinity"]'


@pytest.mark.parametrize("n", [0, -1, 1, 2**31, -(2**31) - 1, 2**53 - 1, -(2**53 - 1)])
def test_integers_up_to_2_53_minus_1_are_written(n):
    assert audit.canonical(n) == str(n).encode() == rfc8785.dumps(n)
    assert audit.canonical({"n": [n]}) == rfc8785.dumps({"n": [n]})


@pytest.mark.parametrize("n", [2**53, -(2**53), 2**63 - 1, 2**63, -(2**63), -(2**63) - 1,
                               10**30, -(10**30)])
def test_integers_beyond_2_53_minus_1_have_no_canonical_form(n):
    assert audit.canonical(n) is None and audit.canonical([1, {"n": n}]) is None
    with pytest.raises(rfc8785.IntegerDomainError):
        rfc8785.dumps(n)


def test_booleans_and_none():
    assert audit.canonical([True, False, None, {"t": True}]) == b'[true,false,null,{"t":true}]'


CONTROLS = "".join(map(chr, range(0x20)))


@pytest.mark.parametrize("s", [
    "", CONTROLS, '"\\/\x7f', "é", "\u2028\u2029", "日本語", "\ufeff", "\U0001f600",
    "\U0010ffff", "a\x00b", "x" * 37 + '"' + "y" * 9 + "\\" + "\n" * 3 + "z" * 8,
    "é" * 9 + "\x1f", "\U0001f600\x01" * 5, "é\n" * 500,
])
def test_strings_are_escaped_as_json_stringify_escapes_them(s):
    assert audit.canonical(s) == rfc8785.dumps(s)
    assert audit.canonical({s: [s]}) == rfc8785.dumps({s: [s]})


def test_the_escapes():
    assert audit.canonical("\x00\x08\t\n\x0b\x0c\r\x1f\"\\\x7f/é") == \
        b'"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\\"\\\\\x7f/\xc3\xa9"'


@given(st.text(st.characters(exclude_categories=("Cs",))))
@settings(max_examples=1000, deadline=None)
def test_any_text_is_written_as_the_rfc8785_package_writes_it(s):
    assert audit.canonical([s, {s: s}]) == rfc8785.dumps([s, {s: s}])


# Characters on both sides of where UTF-16 order and code point order part: U+E000..U+FFFF
# sort after U+10000.. (their surrogate pairs) in UTF-16.
KEY_CHARS = ["", "a", "B", "\x00", "\x7f", "\x80", "é", "\u07ff", "\u0800", "\ud7ff", "\ue000",
             "\ufb01", "\uffff", "\U00010000", "\U0001f600", "\U0010ffff"]
keys = st.lists(st.sampled_from(KEY_CHARS), max_size=4).map("".join)


@given(st.dictionaries(keys, st.integers(0, 9), max_size=40))
@settings(max_examples=500, deadline=None)
def test_keys_sort_by_utf16_code_units(d):
    assert audit.canonical(d) == rfc8785.dumps(d)


def test_keys_sort_by_utf16_code_units_in_small_and_large_objects():
    assert audit.canonical({"\ufb01": 1, "\U0001f600": 2, "a": 3, "": 4}) == \
        '{"":4,"a":3,"\U0001f600":2,"\ufb01":1}'.encode()
    names = ["".join(p) for p in zip(KEY_CHARS * 3, KEY_CHARS[3:] * 3 + KEY_CHARS[:3] * 3)]
    random.Random(1).shuffle(names)
    big = {name: i for i, name in enumerate(names)}
    assert len(big) > 16       # (beyond the insertion sort)
    assert audit.canonical(big) == rfc8785.dumps(big)


@pytest.mark.parametrize("value", [
    "\ud800", "a\udfffb", "é\udc00", "\ud83d\ude00", {"\ud83d": 1}, ["ok", {"k": "x\udc00"}],
    {"k": "\U0001f600\udbff"}])
def test_a_lone_surrogate_has_no_canonical_form(value):
    assert audit.canonical(value) is None
    with pytest.raises((rfc8785.CanonicalizationError, UnicodeEncodeError)):   # (a key: the
        rfc8785.dumps(value)                                                  # latter)
    assert audit.canonical("next") == b'"next"'        # (no error left behind)


def nested_dicts(n):
    v = {}
    for _ in range(n - 1):
        v = {"k": v}
    return v


def test_nesting_is_refused_beyond_the_depth_limit():
    limit = audit.MAX_DEPTH
    for ok, refused in [(deep(limit - 1), deep(limit)), (nested_dicts(limit),
                                                         nested_dicts(limit + 1))]:
        assert audit.canonical(ok) == rfc8785.dumps(ok)
        assert audit.canonical(refused) is None
    scalar = np.int64(7)             # (a scalar inside the deepest container is no deeper)
    for _ in range(limit):
        scalar = (scalar,)
    assert audit.canonical(scalar) == b"[" * limit + b"7" + b"]" * limit
    assert Canonicaliser(0).dumps(1.5) == b"1.5"
    with pytest.raises(NoCanonicalForm, match=r"^more than 0 containers deep$"):
        Canonicaliser(0).dumps([])
    with pytest.raises(NoCanonicalForm, match=r"^more than 2 containers deep$"):
        Canonicaliser(2).dumps({"a": [types.MappingProxyType({})]})


@pytest.mark.parametrize("value, message", [
    ({1: "x"}, "a key is not a str but int"),
    ({"a": {("t",): 1}}, "a key is not a str but tuple"),
    (2**53, r"an int beyond \+-\(2\*\*53 - 1\)"),
    ("\ud800", "a str holds a lone surrogate"),
    ({"\udfff": 1}, "a str holds a lone surrogate"),
    ([object()], "object has no JSON form"),
    ({1, 2}, "set has no JSON form"),
    (b"x", "bytes has no JSON form"),
    (np.datetime64("2020-01-01"), "date has no JSON form"),
])
def test_each_refusal_names_its_reason_and_never_the_value(value, message):
    with pytest.raises(NoCanonicalForm, match=f"^{message}$"):
        Canonicaliser(10).dumps(value)
    assert audit.canonical(value) is None


@pytest.mark.parametrize("max_depth, error, message", [
    (-1, InvalidArgument, "Canonicaliser: max_depth must be in [0, 1000], got -1"),
    (1001, InvalidArgument, "Canonicaliser: max_depth must be in [0, 1000], got 1001"),
    ("5", TypeError, "Canonicaliser: max_depth must be an integer, got str"),
    (True, TypeError, "Canonicaliser: max_depth must be an integer, got bool"),
])
def test_the_canonicaliser_checks_its_depth_limit(max_depth, error, message):
    with pytest.raises(error) as info:
        Canonicaliser(max_depth)
    assert str(info.value) == message


@pytest.mark.parametrize("value, plain", [
    (np.float64(0.1), 0.1), (np.float32(0.1), float(np.float32(0.1))), (np.float16(1.5), 1.5),
    (np.int64(-3), -3), (np.uint8(200), 200), (np.int64(2**53 - 1), 2**53 - 1),
    (np.bool_(False), False), (np.str_("é\n"), "é\n"), (np.array(3), 3),
    (np.array([[1.5, -0.0], [1e21, 5e-324]]), [[1.5, -0.0], [1e21, 5e-324]]),
    (np.zeros((2, 0)), [[], []]), (np.arange(3, dtype=np.int32), [0, 1, 2]),
    ({"a": np.array([True, False]), "b": [np.float64(2.0)]}, {"a": [True, False], "b": [2]}),
])
def test_numpy_values_are_their_python_values(value, plain):
    assert audit.canonical(value) == rfc8785.dumps(plain)


def test_numpy_values_without_a_canonical_form():
    assert audit.canonical(np.uint64(2**60)) is None
    assert audit.canonical(np.array([1, 2**62])) is None
    assert audit.canonical(np.array([object()])) is None


def test_tuples_are_arrays():
    Point = namedtuple("Point", "x y")
    value = (1, (2.5, "x"), {"k": ()}, [()], Point(3, (4,)))
    assert audit.canonical(value) == rfc8785.dumps(value) == \
        b'[1,[2.5,"x"],{"k":[]},[[]],[3,[4]]]'


class Frozen(Mapping):
    def __init__(self, data):
        self._data = dict(data)

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


@pytest.mark.parametrize("make", [types.MappingProxyType, Frozen, OrderedDict,
                                  lambda d: defaultdict(list, d)])
def test_other_mappings_are_objects(make):
    d = {"b": [1, {"z": 2.5}], "a": "x", "\U0001f600": None, "\ufb01": ()}
    assert audit.canonical(make(d)) == rfc8785.dumps(d)
    assert audit.canonical([make({})]) == b"[{}]"
    assert audit.canonical(make({1: "x"})) is None


class Colour(str, Enum):
    RED = "red\n"


class Level(IntEnum):
    HIGH = 3


class Metres(float):
    pass


class Text(str):
    def __str__(self):
        return "not this"


def test_str_int_and_float_subclasses_are_their_values():
    value = {"c": Colour.RED, "l": Level.HIGH, "m": Metres(1e21), "t": Text("é"),
             Text("k"): [Level.HIGH, Metres(-0.5)]}
    assert audit.canonical(value) == rfc8785.dumps(value) == \
        '{"c":"red\\n","k":[3,-0.5],"l":3,"m":1e+21,"t":"é"}'.encode()
    assert audit.canonical(IntEnum("Big", {"N": 2**53})["N"]) is None


def test_a_large_document_grows_the_buffer():
    value = {"floats": [i / 7 for i in range(3000)], "text": "é\"\\\n\x01" * 3000,
             "keys": {f"k{i}": [i, -i] for i in range(500)}}
    assert audit.canonical(value) == rfc8785.dumps(value)


def test_a_document_changed_while_it_is_written_does_not_crash_the_interpreter():
    # Writing a Mapping runs its Python code, which may empty the dict or list being
    # written around it: the writer holds what it has read (a dict is written as it
    # was read; a list up to its new end).
    code = textwrap.dedent("""
        from collections.abc import Mapping
        from fugue_ppl.service._canonical import Canonicaliser

        class Clears(Mapping):
            def __init__(self, victim):
                self.victim = victim
            def __getitem__(self, key):
                self.victim.clear()
                return 1
            def __iter__(self):
                return iter(["k"])
            def __len__(self):
                return 1

        d = {"a": None, "b": ["x" * 1000, {"y": 1.5}]}
        d["a"] = Clears(d)
        print(Canonicaliser(100).dumps(d).decode())
        items = [None, "x" * 1000, 2.5]
        items[0] = Clears(items)
        print(Canonicaliser(100).dumps(items).decode())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ['{"a":{"k":1},"b":["' + "x" * 1000 + '",{"y":1.5}]}',
                                       '[{"k":1}]']


def test_odd_scalar_fields_are_written_safely(tmp_path):
    log = file_log(tmp_path)
    log.record(**fields(request_id="r" * 5000, model=5, http_status="200",
                        duration=float("nan")))
    log.record(**fields(duration=True, http_status=True))
    log.close()
    first, second = lines(tmp_path / "audit.log")
    assert first["request_id"] == "r" * audit.MAX_TEXT and first["model"] == "5"
    assert (first["http_status"], first["duration"]) == (None, None)
    assert (second["http_status"], second["duration"]) == (None, None)


@pytest.mark.parametrize("key_size", [1, 32, 63, 64, 65, 200])
def test_the_hmacs_are_hmac_sha256_across_block_boundaries(tmp_path, key_size):
    # (the writer's own SHA-256 against hashlib: keys below, at and above the block
    # size, documents of every length across the padding boundaries)
    key = bytes((7 * i + 1) % 256 for i in range(key_size))
    log = AuditLog(open_handler(AuditConfig(path=str(tmp_path / "a.log"))), key=key)
    docs = [json.dumps("x" * k).encode() for k in range(200)]
    for k, doc in enumerate(docs):
        log.record(**fields(request_id=f"r{k}", input=doc, output=None))
    log.close()
    got = lines(tmp_path / "a.log")
    assert [g["request_id"] for g in got] == [f"r{k}" for k in range(200)]
    for doc, g in zip(docs, got):
        assert g["input_hmac"] == hmac.new(key, doc, hashlib.sha256).hexdigest()
        assert g["output_hmac"] is None


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_sha256_portable_and_accelerated_are_hashlib_s(data):
    from fugue_ppl.service._audit_lines import _sha256
    for portable in (True, False):
        digest, _ = _sha256(data, portable)
        assert digest == hashlib.sha256(data).digest()


@pytest.mark.parametrize("size", [55, 56, 63, 64, 65, 119, 120, 128, 1000, 100_003])
def test_sha256_across_block_and_padding_boundaries(size):
    from fugue_ppl.service._audit_lines import _sha256
    data = bytes((31 * i + 7) % 256 for i in range(size))
    for portable in (True, False):
        assert _sha256(data, portable)[0] == hashlib.sha256(data).digest()
    assert _sha256(data, True)[1] is False      # (the portable code was used)


def test_a_lone_surrogate_in_a_field_and_a_bad_timestamp_still_give_a_line(tmp_path):
    log = file_log(tmp_path)
    log.record(**fields(request_id="r-\udc80", model="m\ud800"), timestamp=float("nan"))
    log.record(**fields(request_id="r2"), timestamp="soon")
    log.record(**fields(request_id="r3", http_status=2**70, duration=10**400))
    log.close()
    first, second, third = lines(tmp_path / "audit.log")
    assert (first["request_id"], first["model"]) == ("r-\\udc80", "m\\ud800")
    assert first["timestamp"] is None and second["timestamp"] is None
    assert (third["http_status"], third["duration"]) == (None, None)
    assert log.errors == 0 and log.written == 3


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(key=b"k", names=FIELDS[:11], limit=1, max_depth=1), ValueError, "12 field names"),
    (dict(key=b"k", names=FIELDS, limit=0, max_depth=1), InvalidArgument, "limit"),
    (dict(key=b"k", names=FIELDS, limit=1.5, max_depth=1), InvalidArgument, "limit"),
    (dict(key=b"k", names=FIELDS, limit="1", max_depth=1), TypeError, "limit"),
    (dict(key=b"k", names=FIELDS, limit=1, max_depth=1001), InvalidArgument, "max_depth"),
    (dict(key="k", names=FIELDS, limit=1, max_depth=1), TypeError, "key"),
])
def test_the_line_queue_checks_its_arguments(kwargs, error, message):
    from fugue_ppl.service._audit_lines import AuditLines
    with pytest.raises(error, match=message):
        AuditLines(**kwargs)


def test_the_line_queue_limits_what_is_outstanding_and_drains_after_close():
    from fugue_ppl.service._audit_lines import AuditLines
    q = AuditLines(b"k", FIELDS, 2, 10)
    args = (1.0, "r", None, None, None, None, "infer", "ok", 200, 0.5, b"[1]", True, None, False)
    assert q.push(*args) and q.push(*args) and not q.push(*args)      # (the limit)
    text, n = q.take(0.0)
    assert n == 2 and q.queued == 0 and not q.push(*args)            # (taken, not done)
    q.done(n)
    assert q.push(*args) and q.accepted == 3
    q.close()
    assert not q.push(*args)
    text, n = q.take(0.0)
    assert n == 1 and json.loads(text)["input_hmac"] == hmac.new(
        b"k", b"[1]", hashlib.sha256).hexdigest()
    assert q.take(0.0) is None
    q.wake()
    assert q.take(10.0) is None


# ---------------------------------------------------------------- the file

def test_the_file_rotates_at_its_size_and_keeps_every_line_whole(tmp_path):
    log = file_log(tmp_path, max_bytes=2000, backup_count=30)
    for i in range(50):
        log.record(**fields(request_id=f"req-{i:03d}"))
    log.close()
    names = sorted(os.listdir(tmp_path))
    files = ["audit.log"] + [f"audit.log.{k}" for k in range(1, len(names))]
    assert sorted(files) == names and len(files) > 5
    assert all(os.path.getsize(tmp_path / n) <= 2000 for n in files)
    ordered = [r["request_id"] for n in reversed(files) for r in lines(tmp_path / n)]
    assert ordered == [f"req-{i:03d}" for i in range(50)]


def test_rotation_keeps_backup_count_files(tmp_path):
    log = file_log(tmp_path, max_bytes=1000, backup_count=2)
    for i in range(40):
        log.record(**fields(request_id=f"req-{i:03d}"))
    log.close()
    assert sorted(os.listdir(tmp_path)) == ["audit.log", "audit.log.1", "audit.log.2"]
    kept = [r["request_id"] for n in ("audit.log.2", "audit.log.1", "audit.log")
            for r in lines(tmp_path / n)]
    assert kept[-1] == "req-039" and kept == [f"req-{i:03d}" for i in range(40 - len(kept), 40)]


def test_a_write_that_fails_is_counted_and_warned_about_without_the_line(tmp_path, caplog):
    handler = open_handler(AuditConfig(path=str(tmp_path / "a.log")))
    log = AuditLog(handler, key=KEY.encode())
    handler.stream.close()
    handler.stream = open(os.devnull, encoding="utf-8")   # (read-only: writes fail)
    with caplog.at_level(logging.WARNING, "fugue_ppl.service.audit"):
        log.record(**fields(request_id="req-lost"))
        log.record(**fields(request_id="req-lost-2"))
        log.flush()
    assert log.errors == 2 and log.written == 2
    assert "an audit line could not be written to the file (UnsupportedOperation)" in \
        caplog.text
    assert "req-lost" not in caplog.text
    log.close()


# ---------------------------------------------------------------- off the request path

def test_record_does_not_wait_for_a_slow_writer_and_close_writes_everything():
    slow = Slow(delay=0.05)
    log = AuditLog(slow, key=KEY.encode())
    start = time.perf_counter()
    for i in range(40):
        log.record(**fields(request_id=f"req-{i}"))
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5            # (writing takes 40 x 50 ms = 2 s)
    assert len(slow.lines) < 40
    log.close()
    assert [json.loads(x)["request_id"] for x in slow.lines] == [f"req-{i}" for i in range(40)]
    assert log.written == 40 and log.dropped == 0


def test_a_full_queue_drops_and_counts_instead_of_waiting(caplog):
    gate = threading.Event()
    slow = Slow(gate=gate)
    log = AuditLog(slow, key=KEY.encode(), queue_size=5)
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING, "fugue_ppl.service.audit"):
        for i in range(30):
            log.record(**fields(request_id=f"req-{i}"))
    assert time.perf_counter() - start < 0.5
    assert 24 <= log.dropped <= 25          # (one line may be in the writer's hands)
    assert caplog.text.count("audit lines are being dropped") == 1
    gate.set()
    log.close()
    assert log.written + log.dropped == 30 == len(slow.lines) + log.dropped


def test_close_flushes_is_idempotent_and_later_records_are_dropped(tmp_path):
    log = file_log(tmp_path)
    for i in range(300):
        log.record(**fields(request_id=f"req-{i}"))
    log.close()
    assert len(lines(tmp_path / "audit.log")) == 300
    log.close()
    log.record(**fields(request_id="late"))
    assert log.dropped == 1 and len(lines(tmp_path / "audit.log")) == 300
    with file_log(tmp_path, name="b.log") as other:
        other.record(**fields())
    assert len(lines(tmp_path / "b.log")) == 1


def test_threads_recording_at_once_give_whole_lines(tmp_path):
    log = file_log(tmp_path, queue_size=100_000)
    barrier = threading.Barrier(8)

    def record(t):
        barrier.wait()
        for i in range(250):
            log.record(**fields(request_id=f"t{t}-{i}", input={"t": t, "i": i}))
    threads = [threading.Thread(target=record, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    log.close()
    got = lines(tmp_path / "audit.log")
    assert len(got) == 2000
    assert sorted(r["request_id"] for r in got) == sorted(f"t{t}-{i}" for t in range(8)
                                                          for i in range(250))
    for r in got[::97]:
        t, i = (int(x) for x in r["request_id"][1:].split("-"))
        assert r["input_hmac"] == reference_hmac({"t": t, "i": i})


# ---------------------------------------------------------------- from the configuration

def test_from_config_uses_the_audit_key_of_the_secrets(tmp_path):
    cfg = load_config(env={"FUGUE_SECRETS__AUDIT_KEY": KEY,
                           "FUGUE_AUDIT__PATH": str(tmp_path / "a.log")})
    log = AuditLog.from_config(cfg)
    log.record(**fields(input=[1, 2, 3]))
    log.close()
    assert lines(tmp_path / "a.log")[0]["input_hmac"] == reference_hmac([1, 2, 3])


def test_without_an_audit_key_a_random_one_or_a_refusal(tmp_path, caplog):
    path = str(tmp_path / "a.log")
    with caplog.at_level(logging.WARNING, "fugue_ppl.service.audit"):
        log = AuditLog.from_config(load_config(env={"FUGUE_AUDIT__PATH": path}))
    assert ("secrets.audit_key is not set: the audit log's HMACs use a random key that dies "
            "with this process (set FUGUE_SECRETS__AUDIT_KEY)") in caplog.text
    log.record(**fields(input=[1]))
    log.close()
    h = lines(path)[0]["input_hmac"]
    assert len(h) == 64 and h != reference_hmac([1])
    with pytest.raises(ConfigError) as info:
        AuditLog.from_config(load_config(env={"FUGUE_AUDIT__PATH": path,
                                              "FUGUE_AUDIT__EPHEMERAL_HMAC": "false"}))
    assert str(info.value) == ("secrets.audit_key is not set and audit.ephemeral_hmac is "
                               "false: set FUGUE_SECRETS__AUDIT_KEY")


def test_a_disabled_log_and_standard_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    off = AuditLog.from_config(load_config(env={"FUGUE_AUDIT__ENABLED": "false"}))
    off.record(**fields())
    off.close()
    assert not off.enabled and os.listdir(tmp_path) == [] and off.dropped == 0
    err = AuditLog.from_config(load_config(env={"FUGUE_AUDIT__PATH": "-",
                                                "FUGUE_SECRETS__AUDIT_KEY": KEY}))
    err.record(**fields())
    err.close()
    (line,) = capsys.readouterr().err.splitlines()
    assert json.loads(line)["input_hmac"] == reference_hmac(fields()["input"])


def test_an_audit_file_that_cannot_be_opened_is_a_config_error(tmp_path):
    path = str(tmp_path / "missing" / "a.log")
    with pytest.raises(ConfigError) as info:
        AuditLog.from_config(load_config(env={"FUGUE_AUDIT__PATH": path}))
    assert str(info.value) == f"audit.path: {path} cannot be opened (No such file or directory)"
    assert info.value.key == "audit.path"


@pytest.mark.parametrize("data, message", [
    ({"path": ""}, "audit.path = '' (mapping): must be a printable path, or '-' for standard "
                   "error"),
    ({"path": 5}, "audit.path: expected a str, got 5 (mapping)"),
    ({"max_bytes": -1}, "audit.max_bytes = -1 (mapping): must be in [0, 1125899906842624]"),
    ({"backup_count": 0}, "audit.backup_count = 0 (mapping): must be in [1, 10000]"),
    ({"queue_size": 0}, "audit.queue_size = 0 (mapping): must be in [1, 10000000]"),
    ({"ephemeral_hmac": "maybe"}, "audit.ephemeral_hmac: expected a bool, got 'maybe' "
                                  "(mapping)"),
])
def test_bad_audit_settings_name_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"audit": data})
    assert str(info.value) == message


def test_bad_constructor_arguments_never_show_the_key():
    with pytest.raises(TypeError) as info:
        AuditLog(logging.NullHandler(), key=KEY)
    assert str(info.value) == "AuditLog: key must be bytes or a Secret, got str"
    with pytest.raises(ConfigError, match="the HMAC key must not be empty"):
        AuditLog(logging.NullHandler(), key=b"")
    with pytest.raises(TypeError, match="handler must be a logging.Handler, got str"):
        AuditLog("audit.log", key=b"k")
    with pytest.raises(InvalidArgument, match="queue_size must be in"):
        AuditLog(logging.NullHandler(), key=b"k", queue_size=0)
