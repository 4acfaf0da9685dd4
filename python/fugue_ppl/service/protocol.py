"""The Open Inference Protocol (KServe V2) over REST: its JSON documents.

Parses an inference request (``id``, ``parameters``, ``inputs`` as named
tensors with ``shape``, ``datatype`` and ``data``, flat or nested, and the
requested ``outputs``), binds its inputs to a model's arguments by the model's
input specs, and encodes the response (``model_name``, ``model_version``,
``id``, ``parameters`` and ``outputs``), the metadata documents and the error
body (``{"error": "..."}``). Tensors travel as JSON only: Triton's binary
tensor data extension is not implemented. Binary inputs are refused (clients
pass ``binary_data=False``); a request for binary outputs
(``binary_data_output``, an output's ``binary_data``, which tritonclient asks
for by default) is answered in JSON, which such clients read as well.

What a response carries besides the model's return value (one tensor per
declared output): ``status`` (the runner's: ok, fallback, timeout, ...), the
trace's log-weights (``log_prior``, ``log_likelihood``, ``log_factors``,
``total_log_weight``) and, when the request's parameters ask
(``"choices": true``), its choices (``choice_address``, ``choice_kind``,
``choice_value``, ``choice_log_prob``, ``choice_fallback``, one element per
choice in execution order). JSON has no infinities: a non-finite value in a
response (a ``-inf`` log-weight of an impossible trace) is ``null``.

Every problem of a request raises :class:`InvalidRequest` (a
:class:`~fugue_ppl.errors.ValidationError`) whose message names the field,
e.g. ``inputs[0].shape``; nothing of the request beyond a short safe rendering
is echoed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fugue_ppl._extras import require
from fugue_ppl.checks import safe_repr, safe_text
from fugue_ppl.errors import ValidationError
from fugue_ppl.inference.importance import QUANTILES
from fugue_ppl.validation import (
    AddressComponent,
    Boolean,
    Chain,
    Finite,
    Float,
    Integer,
    OneOf,
    Positive,
    Probability,
    Range,
    Schema,
    String,
    Violation,
)

orjson = require("serve", "orjson", feature="the inference service")

__all__ = [
    "DATATYPES",
    "EXTRA_OUTPUTS",
    "CHOICE_OUTPUTS",
    "POSTERIOR_OUTPUTS",
    "InferRequest",
    "InputTensor",
    "InvalidRequest",
    "OutputMismatch",
    "TensorSpec",
    "bind_inputs",
    "encode_outputs",
    "error_body",
    "input_specs",
    "metadata_outputs",
    "output_specs",
    "parse_infer_request",
    "parse_json",
    "posterior_outputs",
    "select_outputs",
    "trace_outputs",
]

#: The tensor datatypes of the protocol, each with the range of its integers
#: (None: not an integer type).
DATATYPES: dict[str, tuple[int, int] | None] = {
    "BOOL": None,
    "UINT8": (0, 2**8 - 1), "UINT16": (0, 2**16 - 1), "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
    "INT8": (-2**7, 2**7 - 1), "INT16": (-2**15, 2**15 - 1), "INT32": (-2**31, 2**31 - 1),
    "INT64": (-2**63, 2**63 - 1),
    "FP16": None, "FP32": None, "FP64": None,
    "BYTES": None,
}
_FLOAT_MAX = {"FP16": 65504.0, "FP32": float(np.finfo(np.float32).max),
              "FP64": float(np.finfo(np.float64).max)}
_NUMERIC = frozenset(t for t in DATATYPES if t not in ("BOOL", "BYTES"))
_INTEGER = frozenset(t for t, r in DATATYPES.items() if r is not None)

#: Outputs every response may carry besides the model's own: name -> datatype.
EXTRA_OUTPUTS: dict[str, str] = {
    "status": "BYTES", "log_prior": "FP64", "log_likelihood": "FP64", "log_factors": "FP64",
    "total_log_weight": "FP64",
}
#: The trace's choices, on request: name -> datatype (one element per choice).
CHOICE_OUTPUTS: dict[str, str] = {
    "choice_address": "BYTES", "choice_kind": "BYTES", "choice_value": "FP64",
    "choice_log_prob": "FP64", "choice_fallback": "BOOL",
}
_LOG_WEIGHTS = ("log_prior", "log_likelihood", "log_factors", "total_log_weight")
#: A posterior's outputs (a runner serving ``inference=``): name -> datatype. The
#: ``posterior_*`` tensors hold one element per summarised site, in ``posterior_site``'s
#: order; the others one element.
POSTERIOR_OUTPUTS: dict[str, str] = {
    "posterior_site": "BYTES", "posterior_mean": "FP64", "posterior_sd": "FP64",
    **{f"posterior_q{round(100 * p):02d}": "FP64" for p in QUANTILES},
    "posterior_mcse_mean": "FP64",
    "ess": "FP64", "log_evidence": "FP64", "khat": "FP64", "reliable": "BOOL",
}
#: The output types a registry version declares, as datatypes.
_DECLARED = {"float": "FP64", "int": "INT64", "bool": "BOOL", "str": "BYTES"}

_MAX_INPUTS = 256
_MAX_ELEMENTS = 1_000_000
_MAX_DIMS = 32
_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,128}", re.ASCII)
_ID_LIMIT = 256


class InvalidRequest(ValidationError):
    """An inference request the protocol or the model's inputs refuse (HTTP 400).

    The message names the field (``inputs[0].datatype``, ``parameters.seed``,
    ...) and the rule; ``violations`` holds one
    :class:`~fugue_ppl.validation.Violation` per problem found.
    """


def _invalid(field: str, rule: str, message: str, value: Any = None) -> InvalidRequest:
    shown = "..." if value is None else safe_repr(value)
    return InvalidRequest(f"invalid inference request: {field}: {message}",
                          violations=[Violation(field, rule, message, shown)])


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One input or output of a model as its metadata shows it.

    Attributes
    ----------
    name : str
    datatype : str
        One of :data:`DATATYPES`; for an input, what it expects (numeric
        datatypes widen to a floating-point input, integer ones to an integer
        input).
    shape : tuple of int
        ``-1`` for a dimension of any size.
    optional : bool
        An input the request may leave out (it has a default).
    checked : bool
        An input whose datatype the model's schema checks (False: any
        datatype is passed on as it is).
    """

    name: str
    datatype: str
    shape: tuple[int, ...] = (1,)
    optional: bool = False
    checked: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The ``$metadata_tensor`` document: name, datatype, shape."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True, slots=True)
class InputTensor:
    """One input of a request: its name, shape, datatype and elements (flat, row-major)."""

    name: str
    shape: tuple[int, ...]
    datatype: str
    data: list[Any]


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A parsed inference request.

    Attributes
    ----------
    id : str or None
        The client's identifier of the request, echoed in the response.
    parameters : dict
        The request's parameters as sent (JSON scalars).
    inputs : tuple of InputTensor
    outputs : tuple of str or None
        The outputs asked for (None: all).
    choices : bool
        ``parameters.choices``: return the trace's choices.
    key : str or None
        ``parameters.key``: the routing key (the same key reaches the same
        version).
    seed : int or None
        ``parameters.seed``: the run's random stream (the same seed gives the
        same draws).
    """

    id: str | None
    parameters: dict[str, Any]
    inputs: tuple[InputTensor, ...]
    outputs: tuple[str, ...] | None
    choices: bool = False
    key: str | None = None
    seed: int | None = None


# ---------------------------------------------------------------- JSON text


def _no_constant(name: str) -> Any:
    raise _invalid("(body)", "finite", f"{name} is not a JSON number (the protocol's numbers "
                   "are finite)")


def parse_json(body: bytes) -> Any:
    """The request body as a JSON value.

    Raises
    ------
    InvalidRequest
        The body is empty, not UTF-8, not JSON (the message gives the line
        and column), nested too deeply, or holds a ``NaN`` or ``Infinity``
        literal.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass        # (the standard parser says why, and takes integers beyond 64 bits)
    if not body.strip():
        raise _invalid("(body)", "required", "is empty; expected a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _invalid("(body)", "utf8", f"is not UTF-8 text (byte {e.start})") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise _invalid("(body)", "json", f"is not valid JSON: {safe_text(e.msg, 80)} at line "
                       f"{e.lineno} column {e.colno}") from None
    except RecursionError:
        raise _invalid("(body)", "json", "is nested too deeply") from None


# ---------------------------------------------------------------- requests


def _text(value: Any, field: str, limit: int = _ID_LIMIT) -> str:
    if not isinstance(value, str):
        raise _invalid(field, "type", f"must be a string, got {_json_type(value)}", value)
    if not value or len(value) > limit or not value.isprintable():
        raise _invalid(field, "text", f"must be 1 to {limit} printable characters", value)
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _parameters(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(field, "type", f"must be an object, got {_json_type(value)}", value)
    for k, v in value.items():
        if v is not None and not isinstance(v, (str, int, float, bool)):
            raise _invalid(f"{field}.{safe_text(k, 40)}", "type",
                           f"must be a string, number or boolean, got {_json_type(v)}", v)
    return value


def parse_infer_request(doc: Any) -> InferRequest:
    """Check an inference request document and return it parsed.

    Parameters
    ----------
    doc : object
        The request body as parsed JSON (:func:`parse_json`).

    Returns
    -------
    InferRequest

    Raises
    ------
    InvalidRequest
        Naming the first field at fault: the document is not an object;
        ``id`` is not a short printable string; ``parameters`` is not an
        object of scalars (``choices`` a boolean, ``key`` a string, ``seed``
        an integer >= 0); ``inputs`` is missing,
        empty or not an array; an input lacks ``name``, ``shape``,
        ``datatype`` or ``data``, names a datatype the protocol does not
        have, has a negative or non-integer dimension, data whose count or
        nesting does not match its shape, or elements of the wrong kind
        (a boolean for a number, a fraction for an integer, an integer out of
        its datatype's range, a number beyond FP16 or FP32's range); two
        inputs share a name; an input's parameters announce binary data;
        ``outputs`` names an output twice.
    """
    if not isinstance(doc, dict):
        raise _invalid("(body)", "type", f"must be a JSON object, got {_json_type(doc)}")
    request_id = doc.get("id")
    if request_id is not None:
        request_id = _text(request_id, "id")
    params = _parameters(doc.get("parameters"), "parameters")
    choices = params.get("choices", False)
    if not isinstance(choices, bool):
        raise _invalid("parameters.choices", "type",
                       f"must be true or false, got {_json_type(choices)}", choices)
    key = params.get("key")
    if key is not None:
        key = _text(key, "parameters.key")
    seed = params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed < 2**64):
        raise _invalid("parameters.seed", "seed", "must be an integer in [0, 2**64)", seed)
    inputs = doc.get("inputs")
    if inputs is None:
        raise _invalid("inputs", "required", "is required (an array of input tensors)")
    if not isinstance(inputs, list):
        raise _invalid("inputs", "type", f"must be an array, got {_json_type(inputs)}", inputs)
    if not inputs:
        raise _invalid("inputs", "length", "must hold at least one input tensor")
    if len(inputs) > _MAX_INPUTS:
        raise _invalid("inputs", "length", f"must hold at most {_MAX_INPUTS} input tensors")
    parsed = []
    seen: set[str] = set()
    for i, item in enumerate(inputs):
        tensor = _input(item, f"inputs[{i}]")
        if tensor.name in seen:
            raise _invalid(f"inputs[{i}].name", "unique", f"{tensor.name!r} is given twice")
        seen.add(tensor.name)
        parsed.append(tensor)
    outputs = _requested_outputs(doc.get("outputs"))
    return InferRequest(request_id, params, tuple(parsed), outputs, choices, key, seed)


def _binary(field: str) -> InvalidRequest:
    return _invalid(field, "binary_data", "binary tensor data is not supported: send tensors "
                    "as JSON (binary_data=False)")


def _requested_outputs(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _invalid("outputs", "type", f"must be an array, got {_json_type(value)}", value)
    names: list[str] = []
    for i, item in enumerate(value):
        field = f"outputs[{i}]"
        if not isinstance(item, dict):
            raise _invalid(field, "type", f"must be an object, got {_json_type(item)}", item)
        name = _text(item.get("name"), f"{field}.name", 128)
        _parameters(item.get("parameters"), f"{field}.parameters")
        if name in names:
            raise _invalid(f"{field}.name", "unique", f"{name!r} is asked for twice")
        names.append(name)
    return tuple(names)


def _input(item: Any, field: str) -> InputTensor:
    if not isinstance(item, dict):
        raise _invalid(field, "type", f"must be an object, got {_json_type(item)}", item)
    for k in ("name", "shape", "datatype", "data"):
        if k not in item:
            raise _invalid(f"{field}.{k}", "required", "is required")
    name = item["name"]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _invalid(f"{field}.name", "name", "must be 1 to 128 letters, digits or "
                       "'_', '.', ':', '/', '-'", name)
    params = _parameters(item.get("parameters"), f"{field}.parameters")
    if params.get("binary_data_size") is not None:
        raise _binary(f"{field}.parameters.binary_data_size")
    datatype = item["datatype"]
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise _invalid(f"{field}.datatype", "datatype",
                       f"must be one of {', '.join(DATATYPES)}", datatype)
    shape = item["shape"]
    if not isinstance(shape, list) or len(shape) > _MAX_DIMS or not _dimensions(shape):
        raise _invalid(f"{field}.shape", "shape", f"must be an array of at most {_MAX_DIMS} "
                       "integers >= 0", shape)
    count = math.prod(shape)
    if count > _MAX_ELEMENTS:
        raise _invalid(f"{field}.shape", "shape", f"must hold at most {_MAX_ELEMENTS} elements",
                       shape)
    data = item["data"]
    if not isinstance(data, list):
        data = [data]                     # (a scalar for a one-element tensor)
    flat = _flatten(data, shape, f"{field}.data") if _nested(data) else data
    if len(flat) != count:
        raise _invalid(f"{field}.data", "shape", f"holds {len(flat)} elements; shape "
                       f"{shape} needs {count}")
    return InputTensor(name, tuple(shape), datatype,
                       _elements(flat, datatype, f"{field}.data"))


def _dimensions(shape: list) -> bool:
    for d in shape:                  # (a loop: a generator costs more than a short shape)
        if type(d) is not int or d < 0:
            return False
    return True


def _nested(data: list) -> bool:
    for x in data:
        if type(x) is list:
            return True
    return False


def _flatten(data: list, shape: list[int], field: str) -> list:
    """Nested arrays as a flat row-major list, their nesting checked against ``shape``."""
    out: list = []

    def walk(node: Any, depth: int) -> None:
        if depth == len(shape):
            if isinstance(node, list):
                raise _invalid(field, "shape", f"is nested deeper than shape {shape}")
            out.append(node)
            return
        if not isinstance(node, list) or len(node) != shape[depth]:
            raise _invalid(field, "shape", f"does not match shape {shape} (dimension {depth})")
        for x in node:
            walk(x, depth + 1)

    walk(data, 0)
    return out


def _elements(flat: list, datatype: str, field: str) -> list:
    if datatype == "BYTES":
        for x in flat:
            if not isinstance(x, str):
                raise _invalid(field, "datatype", f"BYTES elements must be strings, got "
                               f"{_json_type(x)}", x)
        return flat
    if datatype == "BOOL":
        for x in flat:
            if not isinstance(x, bool):
                raise _invalid(field, "datatype", f"BOOL elements must be true or false, got "
                               f"{_json_type(x)}", x)
        return flat
    bounds = DATATYPES[datatype]
    if bounds is not None:
        lo, hi = bounds
        for x in flat:
            if type(x) is not int:
                if isinstance(x, float) and x.is_integer() and lo <= x <= hi:
                    continue
                raise _invalid(field, "datatype", f"{datatype} elements must be integers, got "
                               f"{_json_type(x) if not isinstance(x, float) else 'a fraction'}",
                               x)
            if not lo <= x <= hi:
                raise _invalid(field, "range", f"{datatype} elements must be in [{lo}, {hi}]",
                               x)
        return [int(x) for x in flat]
    top = _FLOAT_MAX[datatype]
    for x in flat:
        if type(x) is not float and type(x) is not int:
            raise _invalid(field, "datatype", f"{datatype} elements must be numbers, got "
                           f"{_json_type(x)}", x)
        if not -top <= x <= top:     # (also refuses an overflow to inf: 1e999)
            raise _invalid(field, "finite", f"{datatype} elements must be finite numbers "
                           f"within +-{top:.6g}", x)
    return flat


# ---------------------------------------------------------------- model inputs and outputs


_FLOAT_VALIDATORS = (Float, Finite, Range, Positive, Probability)


def _datatype_of(validator: Any) -> str | None:
    parts = validator.validators if isinstance(validator, Chain) else (validator,)
    for v in parts:
        if isinstance(v, Boolean):
            return "BOOL"
        if isinstance(v, Integer):
            return "INT64"
        if isinstance(v, (String, AddressComponent)):
            return "BYTES"
        if isinstance(v, _FLOAT_VALIDATORS):
            return "FP64"
        if isinstance(v, OneOf):
            choices = getattr(v, "choices", ())
            if choices and all(isinstance(c, str) for c in choices):
                return "BYTES"
    return None


def input_specs(schema: Schema | None, names: Sequence[tuple[str, bool]] = ()
                ) -> tuple[TensorSpec, ...]:
    """A model's inputs as tensor specs: from its input schema, else from ``names``.

    Each input is a scalar (shape ``[1]``). A schema field's datatype comes
    from its validators (a number: FP64, an integer: INT64, a flag: BOOL, a
    string: BYTES); a field that checks no type, and each of ``names``
    (``(name, optional)`` pairs, e.g. from the model's signature), is shown
    as FP64 and accepts any datatype.
    """
    if schema is None:
        return tuple(TensorSpec(n, "FP64", (1,), bool(opt), False) for n, opt in names)
    out = []
    for name, f in schema.fields.items():
        dt = _datatype_of(f.validator)
        out.append(TensorSpec(name, dt or "FP64", (1,), not f.required, dt is not None))
    return tuple(out)


def output_specs(declared: Sequence[Mapping[str, str]]) -> tuple[TensorSpec, ...]:
    """A version's declared outputs (``{"name", "type"}``) as tensor specs (shape ``[1]``)."""
    return tuple(TensorSpec(o["name"], _DECLARED.get(o["type"], "BYTES"), (1,))
                 for o in declared)


def metadata_outputs(outputs: Sequence[TensorSpec], *, posterior: bool = False
                     ) -> list[dict[str, Any]]:
    """The model's outputs, then :data:`EXTRA_OUTPUTS` and :data:`CHOICE_OUTPUTS`; for
    a posterior (``posterior``), :data:`POSTERIOR_OUTPUTS`, the declared outputs (a
    fallback's value) and the status."""
    docs = [o.to_dict() for o in outputs]
    if posterior:
        return ([{"name": n, "datatype": dt, "shape": [-1 if n.startswith("posterior_") else 1]}
                 for n, dt in POSTERIOR_OUTPUTS.items()]
                + docs + [{"name": "status", "datatype": "BYTES", "shape": [1]}])
    docs += [{"name": n, "datatype": dt, "shape": [1]} for n, dt in EXTRA_OUTPUTS.items()]
    docs += [{"name": n, "datatype": dt, "shape": [-1]} for n, dt in CHOICE_OUTPUTS.items()]
    return docs


def _accepts(expected: TensorSpec, given: str) -> bool:
    if not expected.checked or expected.datatype == given:
        return True
    if expected.datatype in ("FP16", "FP32", "FP64"):
        return given in _NUMERIC
    if expected.datatype in _INTEGER:
        return given in _INTEGER
    return False


def bind_inputs(request: InferRequest, specs: Sequence[TensorSpec]) -> tuple[Any, ...]:
    """The request's inputs as the model's positional arguments, in the specs' order.

    Each input holds one element (a scalar); an optional input left out ends
    the arguments (the model's default applies to it and to the ones after).

    Raises
    ------
    InvalidRequest
        An input the model does not take (the message lists those it
        takes); a required input missing; a datatype the input does not
        accept (e.g. BYTES for a number); more than one element (a batch
        dimension, shape ``[N]`` with N > 1, is refused: there is no batch
        path yet).
    """
    by_name = {t.name: (i, t) for i, t in enumerate(request.inputs)}
    known = {s.name for s in specs}
    for i, t in enumerate(request.inputs):
        if t.name not in known:
            raise _invalid(f"inputs[{i}].name", "unknown", f"the model has no input {t.name!r} "
                           f"(its inputs: {', '.join(s.name for s in specs) or 'none'})")
    args: list[Any] = []
    missing_optional = None
    for spec in specs:
        found = by_name.get(spec.name)
        if found is None:
            if not spec.optional:
                raise _invalid("inputs", "required", f"the model's input {spec.name!r} is "
                               "missing")
            missing_optional = spec.name
            continue
        i, t = found
        if missing_optional is not None:
            raise _invalid(f"inputs[{i}].name", "order", f"{t.name!r} is given while the "
                           f"optional input {missing_optional!r} before it is not")
        if not _accepts(spec, t.datatype):
            raise _invalid(f"inputs[{i}].datatype", "datatype", f"input {t.name!r} takes "
                           f"{spec.datatype}, got {t.datatype}", t.datatype)
        if len(t.data) != 1:
            if t.shape and t.shape[0] > 1:
                raise _invalid(f"inputs[{i}].shape", "batch", f"input {t.name!r} is a scalar: "
                               f"a batch of {t.shape[0]} (shape {list(t.shape)}) is not served; "
                               "send one request per element", list(t.shape))
            raise _invalid(f"inputs[{i}].shape", "shape", f"input {t.name!r} is a scalar: "
                           f"shape {list(t.shape)} must hold one element", list(t.shape))
        args.append(t.data[0])
    return tuple(args)


# ---------------------------------------------------------------- responses


def _number(x: Any) -> Any:
    """A float for JSON: None for NaN and the infinities."""
    x = float(x)
    return x if math.isfinite(x) else None


def _tensor(name: str, datatype: str, values: list[Any], shape: list[int]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": values}


class OutputMismatch(Exception):
    """The model's return value does not fit the version's declared outputs (a model fault)."""


_SCALARS = {"FP64": float, "BOOL": bool, "INT64": int}


def _convert(value: Any, datatype: str, name: str) -> tuple[list[Any], list[int]]:
    t = type(value)
    if t is _SCALARS.get(datatype) and (t is not float or math.isfinite(value)):
        return [value], [1]              # (the common case: a Python scalar of the type)
    arr = value if isinstance(value, np.ndarray) else None
    if arr is None and isinstance(value, (list, tuple)):
        arr = np.asarray(value)
    if arr is not None:
        shape = list(arr.shape)
        flat = arr.reshape(-1).tolist()
    else:
        shape, flat = [1], [value]
    try:
        if datatype == "FP64":
            return [_number(v) for v in flat], shape
        if datatype == "INT64":
            out = []
            for v in flat:
                if isinstance(v, float) and not v.is_integer():
                    raise OutputMismatch(f"output {name!r} is declared int, got a fraction")
                out.append(int(v))
            return out, shape
        if datatype == "BOOL":
            return [bool(v) for v in flat], shape
        return [v if isinstance(v, str) else str(v) for v in flat], shape
    except (TypeError, ValueError, OverflowError) as e:
        raise OutputMismatch(f"output {name!r} ({datatype}) cannot hold a "
                             f"{type(flat[0]).__name__ if flat else 'value'}") from e


def _inferred(value: Any) -> str:
    v = value
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        return {"b": "BOOL", "i": "INT64", "u": "INT64", "f": "FP64"}.get(kind, "BYTES")
    if isinstance(value, (list, tuple)) and value:
        v = value[0]
    if isinstance(v, (bool, np.bool_)):
        return "BOOL"
    if isinstance(v, (int, np.integer)):
        return "INT64"
    if isinstance(v, (float, np.floating)):
        return "FP64"
    return "BYTES"


def encode_outputs(value: Any, specs: Sequence[TensorSpec]) -> list[dict[str, Any]]:
    """The model's return value as output tensors.

    With declared outputs: one output takes the whole value (or a tuple's
    only element); several take a tuple or list element by element, or a
    mapping by name. Without: ``output_0``, ``output_1``, ... (a mapping's
    keys), each datatype taken from its value.

    Raises
    ------
    OutputMismatch
        The value does not fit the declared outputs (a count, a missing
        name, a value the datatype cannot hold).
    """
    if not specs:
        if isinstance(value, Mapping):
            items = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, tuple):
            items = [(f"output_{i}", v) for i, v in enumerate(value)]
        else:
            items = [("output_0", value)]
        out = []
        for name, v in items:
            dt = _inferred(v)
            data, shape = _convert(v, dt, name)
            out.append(_tensor(name, dt, data, shape))
        return out
    if not isinstance(value, (tuple, list)) and isinstance(value, Mapping):  # (ABC: last)
        missing = [s.name for s in specs if s.name not in value]
        if missing:
            raise OutputMismatch(f"the model's value lacks the outputs {missing}")
        values = [value[s.name] for s in specs]
    elif len(specs) == 1:
        values = [value[0] if isinstance(value, tuple) and len(value) == 1 else value]
    elif isinstance(value, (tuple, list)) and len(value) == len(specs):
        values = list(value)
    else:
        got = len(value) if isinstance(value, (tuple, list)) else 1
        raise OutputMismatch(f"the model returned {got} value(s) for {len(specs)} declared "
                             "outputs")
    out = []
    for spec, v in zip(specs, values, strict=True):
        data, shape = _convert(v, spec.datatype, spec.name)
        out.append(_tensor(spec.name, spec.datatype, data, shape))
    return out


def posterior_outputs(result: Any) -> list[dict[str, Any]]:
    """A posterior (:class:`~fugue_ppl.inference.Posterior`) as :data:`POSTERIOR_OUTPUTS`
    (its site summaries, ESS, log evidence, k̂ and reliability; a figure that is not
    finite, such as an MCMC posterior's log evidence, as null)."""
    sites = result.sites
    k = [len(sites)]
    out = [_tensor("posterior_site", "BYTES", list(sites), k)]
    out.append(_tensor("posterior_mean", "FP64", [_number(s.mean) for s in sites.values()], k))
    out.append(_tensor("posterior_sd", "FP64", [_number(s.sd) for s in sites.values()], k))
    for p in QUANTILES:
        out.append(_tensor(f"posterior_q{round(100 * p):02d}", "FP64",
                           [_number(s.quantiles[p]) for s in sites.values()], k))
    out.append(_tensor("posterior_mcse_mean", "FP64",
                       [_number(s.mcse_mean) for s in sites.values()], k))
    for name in ("ess", "log_evidence", "khat"):
        out.append(_tensor(name, "FP64", [_number(getattr(result, name))], [1]))
    out.append(_tensor("reliable", "BOOL", [bool(result.reliable)], [1]))
    return out


def trace_outputs(status: str, trace: Any, choices: bool) -> list[dict[str, Any]]:
    """The ``status`` tensor, the trace's log-weights and (``choices``) its choices."""
    out = [_tensor("status", "BYTES", [status], [1])]
    if trace is None:
        return out
    for name in _LOG_WEIGHTS:
        out.append(_tensor(name, "FP64", [_number(getattr(trace, name))], [1]))
    if choices:
        cs = trace.choices
        n = [len(cs)]
        out.append(_tensor("choice_address", "BYTES", [c.address for c in cs], n))
        out.append(_tensor("choice_kind", "BYTES", [c.kind for c in cs], n))
        out.append(_tensor("choice_value", "FP64", [_number(c.value) for c in cs], n))
        out.append(_tensor("choice_log_prob", "FP64", [_number(c.log_prob) for c in cs], n))
        out.append(_tensor("choice_fallback", "BOOL", [bool(c.fallback) for c in cs], n))
    return out


def select_outputs(outputs: list[dict[str, Any]], requested: tuple[str, ...] | None,
                   available: Sequence[str]) -> list[dict[str, Any]]:
    """The outputs the request asked for, in its order (all when it named none).

    Raises
    ------
    InvalidRequest
        A requested output the model does not have.
    """
    if requested is None:
        return outputs
    by_name = {o["name"]: o for o in outputs}
    chosen = []
    for i, name in enumerate(requested):
        if name not in available:
            raise _invalid(f"outputs[{i}].name", "unknown", f"the model has no output {name!r} "
                           f"(its outputs: {', '.join(available)})")
        if name in by_name:        # (a log-weight of a result without a trace: left out)
            chosen.append(by_name[name])
    return chosen


def error_body(message: str, **extra: Any) -> dict[str, Any]:
    """The protocol's error document: ``{"error": message}`` and any extra fields."""
    return {"error": message, **extra}
