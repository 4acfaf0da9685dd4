"""Schemas: the inputs of a model as named fields, checked together.

A :class:`Field` is one input: a validator chain, a default (:data:`MISSING`:
none, the field is required), nullable or not, secret or not. A
:class:`Schema` holds the fields and cross-field rules, written by hand or
read from a function's signature (:meth:`Schema.from_signature`). It compiles
each field's chain once and generates straight-line ``validate`` and
``validate_args`` for valid inputs; on any failure a slow path collects every
violation. The validators are in :mod:`~fugue_ppl.validation.validators`,
violations and the error in :mod:`~fugue_ppl.validation.violations`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fugue_ppl.checks import _type_name, check_choice, invalid, is_secret_name, safe_repr, safe_text
from fugue_ppl.errors import ValidationError
from fugue_ppl.validation.validators import (
    _INF,
    AddressComponent,  # noqa: F401 - the examples below use it
    Boolean,
    Chain,
    Finite,
    Integer,
    Positive,  # noqa: F401 - the examples below use it
    Range,  # noqa: F401 - the examples below use it
    Rule,
    String,
    Validator,
    _as_validator,
)
from fugue_ppl.validation.violations import Violation, _check_field, _error, _field_label, _Invalid

__all__ = ["MISSING", "Field", "Schema"]

#: Unknown fields reported one by one; the rest are summarised in one violation.
_MAX_UNKNOWN = 20


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self):
        return "MISSING"


#: Sentinel: no default (the field is required).
MISSING: Any = _Missing()


# --------------------------------------------------------------------- fields


class Field:
    """One input of a :class:`Schema`.

    Parameters
    ----------
    validator : Validator, list, callable or None
        The chain (a list or a callable is wrapped; None: any value).
    default : object, optional
        Makes the field optional; used when the field is missing. It is
        validated when the schema is built and returned as is (use immutable
        defaults).
    nullable : bool
        Accept ``None`` (returned as ``None``, the chain skipped).
    secret : bool, optional
        Render the value as ``'***'`` in violations. Default: whether the
        name looks secret (:func:`is_secret_name`).

    Examples
    --------
    >>> Field(Finite(), default=0.0).required
    False
    """

    __slots__ = ("default", "nullable", "secret", "validator")

    def __init__(self, validator=None, *, default: Any = MISSING, nullable: bool = False,
                 secret: bool | None = None):
        self.validator = Chain() if validator is None else _as_validator(validator)
        self.default = default
        self.nullable = bool(nullable)
        self.secret = secret

    @property
    def required(self) -> bool:
        """True when the field has no default."""
        return self.default is MISSING

    def __repr__(self) -> str:
        parts = [repr(self.validator)]
        if not self.required:
            parts.append(f"default={self.default!r}")
        if self.nullable:
            parts.append("nullable=True")
        if self.secret is not None:
            parts.append(f"secret={self.secret}")
        return f"Field({', '.join(parts)})"


# --------------------------------------------------------------------- schema


def _run_chain(checks):
    if len(checks) == 1:
        return checks[0]
    if not checks:
        return lambda v: v
    checks = tuple(checks)

    def run(v):
        for c in checks:
            v = c(v)
        return v
    return run


class _Compiled:
    __slots__ = ("bounds", "checks", "default", "label", "name", "nullable", "run", "secret")


def _generate(schema: Schema):
    """Build ``validate`` and ``validate_args`` for one schema, as straight-line code.

    Like :mod:`dataclasses`, the functions are generated as source and
    compiled once; field names and every other value enter through the
    namespace, never the source text. A float field with known bounds is
    checked inline (``type(v) is float and lo <= v <= hi``); any other value
    goes through the field's compiled chain. Any failure falls back to the
    slow path, which collects every violation.
    """
    ns: dict[str, Any] = {"_slow": schema._validate_slow, "_args_slow": schema._validate_args_slow,
                          "_Invalid": _Invalid, "_N": len(schema._compiled),
                          "_rules": tuple(check for _, check in schema._rule_checks)}
    body: list[str] = []
    keys: list[str] = []
    reject = schema.unknown == "reject"
    for i, c in enumerate(schema._compiled):
        ns[f"_k{i}"], ns[f"_run{i}"], ns[f"_d{i}"] = c.name, c.run, c.default
        keys.append(f"_k{i}: v{i}")
        if c.bounds is None:
            test = None
        elif c.bounds[2] and c.bounds[0] == -_INF and c.bounds[1] == _INF:
            test = f"type(v{i}) is not float"
        else:
            ns[f"_lo{i}"], ns[f"_hi{i}"] = c.bounds[0], c.bounds[1]
            test = f"type(v{i}) is not float or not _lo{i} <= v{i} <= _hi{i}"
        check = [f"v{i} = _run{i}(v{i})"] if test is None else \
            [f"if {test}:", f"    v{i} = _run{i}(v{i})"]
        if c.nullable:
            check = [f"if v{i} is not None:"] + ["    " + line for line in check]
        body.append((i, c.default is MISSING, check))

    def field_code(indent: str, source: str) -> list[str]:
        lines = []
        for i, required, check in body:
            if required:
                lines.append(f"{indent}v{i} = {source(i)}")
                lines += [indent + line for line in check]
            else:
                lines.append(f"{indent}if _k{i} in data:")
                lines.append(f"{indent}    v{i} = data[_k{i}]")
                lines += [indent + "    " + line for line in check]
                lines.append(f"{indent}else:")
                lines.append(f"{indent}    v{i} = _d{i}")
                if reject:
                    lines.append(f"{indent}    n += 1")
        return lines

    out_line = "out = {" + ", ".join(keys) + "}"
    tail = [out_line]
    if ns["_rules"]:
        tail += ["for _check in _rules:", "    _check(out)"]
    tail.append("return out")

    src = ["def validate(data):", "    if type(data) is dict:", "        try:"]
    if reject:
        src.append("            n = len(data)")
    src += field_code("            ", lambda i: f"data[_k{i}]")
    if reject:
        src.append("            if n != _N:")
        src.append("                raise _Invalid('unknown', '')")
    src += ["            " + line for line in tail]
    src += ["        except Exception:", "            pass", "    return _slow(data)", ""]

    n = len(schema._compiled)
    src += ["def validate_args(*args, **kwargs):", "    if not kwargs and len(args) == _N:"]
    if n:
        unpack = ", ".join(f"v{i}" for i in range(n)) + ("," if n == 1 else "")
        src.append(f"        {unpack} = args")
    src.append("        try:")
    for _, _, check in body:
        src += ["            " + line for line in check]
    src += ["            " + line for line in tail]
    src += ["        except Exception:", "            pass",
            "    return _args_slow(args, kwargs)", ""]
    # (the generated code is the schema's own, built above from its compiled fields)
    exec(compile("\n".join(src), f"<fugue_ppl.validation.Schema {id(schema):#x}>", "exec"),  # noqa: S102
         ns)
    validate, validate_args = ns["validate"], ns["validate_args"]
    for fn, ref in ((validate, Schema.validate), (validate_args, Schema.validate_args)):
        fn.__doc__, fn.__qualname__ = ref.__doc__, ref.__qualname__
    return validate, validate_args


# Annotations Schema.from_signature turns into validators (types, and the
# strings postponed annotations leave).
_ANNOTATED: dict[Any, type[Validator]] = {}
for _t, _v in ((float, Finite), (int, Integer), (bool, Boolean), (str, String)):
    _ANNOTATED[_t] = _ANNOTATED[_t.__name__] = _v


def _hashable(x: Any) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


class Schema:
    """The inputs of a model: named fields, each with a validator chain.

    Parameters
    ----------
    fields : mapping of str to Field, Validator, list or callable
        The fields in argument order (a bare validator makes a required
        field).
    unknown : {"reject", "ignore"}
        What to do with keys the schema does not know: report each as a
        violation (rule ``"unknown"``; the first 20 one by one, the rest as
        one), or drop them from the result.
    rules : iterable of Rule or callable, optional
        Cross-field rules, called with the mapping of cleaned values (see
        :class:`Rule`).
    name : str, optional
        The model's name, used in error messages.

    Raises
    ------
    TypeError
        A field name is not a str, or a field spec is not a validator.
    ValueError
        A default fails its field's chain, or ``unknown`` is not one of the
        two options.

    Notes
    -----
    The chain of each field is compiled once, when the schema is built, into
    a flat list of check functions; a field whose chain is made only of
    numeric checks (:class:`Float`, :class:`Finite`, :class:`Range`,
    :class:`Probability`, :class:`Positive`) gets a fast path for ``float``
    values (one type test and one chained comparison). ``validate`` allocates
    nothing but the result dict when the input is valid; on any failure it
    re-runs the slow path that collects every violation.

    Examples
    --------
    >>> schema = Schema(
    ...     {"lo": Finite(), "hi": Finite(), "label": Field(AddressComponent(), default="x")},
    ...     rules=[Rule(lambda d: d["lo"] <= d["hi"], name="ordered",
    ...                 message="lo must not exceed hi", fields=("lo", "hi"))],
    ...     name="interval")
    >>> schema.validate({"lo": 1, "hi": 2})
    {'lo': 1.0, 'hi': 2.0, 'label': 'x'}
    >>> try:
    ...     schema.validate({"lo": 3, "hi": 2, "label": "bad label"})
    ... except ValueError as e:
    ...     for v in e.violations:
    ...         print(v.field, v.rule, v.value)
    label address_component 'bad label'
    lo, hi ordered (3.0, 2.0)
    """

    def __init__(self, fields: Mapping[str, Any], *, unknown: str = "reject",
                 rules: Iterable = (), name: str | None = None):
        check_choice(unknown, "unknown", "Schema", ("reject", "ignore"))
        if not isinstance(fields, Mapping):
            raise TypeError("Schema: fields must be a mapping of name to Field")
        self.name = name
        self.unknown = unknown
        self.fields: dict[str, Field] = {}
        compiled: list[_Compiled] = []
        for fname, spec in fields.items():
            if not isinstance(fname, str):
                raise TypeError(f"Schema: field names must be str, got {_type_name(fname)}")
            if not fname:
                raise invalid("Schema", "fields", fname, "must have non-empty names")
            f = spec if isinstance(spec, Field) else Field(spec)
            self.fields[fname] = f
            compiled.append(self._compile_field(fname, f))
        self.rules: tuple[Rule, ...] = tuple(r if isinstance(r, Rule) else Rule(r) for r in rules)
        for r in self.rules:
            for fn in r.fields:
                if fn not in self.fields:
                    raise invalid("Schema", f"rule {r.name}", fn, "must read fields of the schema")
        self._compiled = tuple(compiled)
        self._names = tuple(self.fields)
        self._nfields = len(compiled)
        self._reject = unknown == "reject"
        secret = {c.name: c.secret for c in compiled}
        # a rule reading a secret field never reports its exception's text (it may quote the value)
        self._rule_checks = tuple(
            (r, r._compile(any(secret[f] for f in r.fields) if r.fields else any(secret.values())))
            for r in self.rules)
        for c in compiled:  # defaults must pass their own chain
            if c.default is not MISSING and not (c.default is None and c.nullable):
                try:
                    c.run(c.default)
                    continue
                except _Invalid as e:
                    err = invalid("Schema", f"default of {c.label}", c.default, e.message,
                                  secret=c.secret)
                raise err   # (outside the handler: the error has no context to show)
        # the per-call entry points: generated straight-line code (instance attributes
        # shadow the methods below, which document them and are what they fall back to)
        self.validate, self.validate_args = _generate(self)

    @classmethod
    def from_signature(cls, func: Callable[..., Any], *, name: str | None = None) -> Schema:
        """The schema of ``func``'s parameters, from their annotations.

        ``float`` gives :class:`Finite`, ``int`` :class:`Integer`, ``bool``
        :class:`Boolean` and ``str`` :class:`String` (as types or as the
        strings postponed annotations make); any other annotation, or none,
        accepts any value. A default makes a field optional (nullable when
        the default is ``None``).

        Raises
        ------
        TypeError
            ``func`` has no signature, or takes ``*args`` or ``**kwargs``
            (a schema has a fixed set of fields).

        Examples
        --------
        >>> def sensor(reading: float, unit: str = "C"): ...
        >>> Schema.from_signature(sensor).validate_args(21)
        {'reading': 21.0, 'unit': 'C'}
        """
        label = getattr(func, "__name__", type(func).__name__)
        try:
            sig = inspect.signature(func)
        except (TypeError, ValueError):
            raise TypeError(f"Schema.from_signature: {label} has no "
                            f"signature") from None
        fields: dict[str, Field] = {}
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"Schema.from_signature: {label} takes "
                                f"{'*' if p.kind is p.VAR_POSITIONAL else '**'}{p.name}")
            make = _ANNOTATED.get(p.annotation) if _hashable(p.annotation) else None
            validator = make() if make is not None else None
            if p.default is p.empty:
                fields[p.name] = Field(validator)
            else:
                fields[p.name] = Field(validator, default=p.default, nullable=p.default is None)
        return cls(fields, name=name)

    @property
    def typed(self) -> bool:
        """Whether every field checks its values (none accepts any value)."""
        return all(not (isinstance(f.validator, Chain) and not f.validator.validators)
                   for f in self.fields.values())

    @staticmethod
    def _compile_field(fname: str, f: Field) -> _Compiled:
        c = _Compiled()
        c.name = fname
        c.label = _field_label(fname)
        c.secret = is_secret_name(fname) if f.secret is None else bool(f.secret)
        v = f.validator
        checks = v._checks(c.secret) if isinstance(v, (Rule, Chain)) else v._checks()
        c.checks = tuple(checks)
        c.run = _run_chain(checks)
        c.bounds = f.validator._float_bounds() if checks else None
        c.default = f.default
        c.nullable = f.nullable
        return c

    @property
    def names(self) -> tuple[str, ...]:
        """The field names, in argument order."""
        return self._names

    @property
    def float_bounds(self) -> tuple[tuple[float, float, bool] | None, ...]:
        """Per field, the float fast path: ``(lo, hi, nan_ok)`` or None.

        For a field whose chain is made only of :class:`Float`,
        :class:`Finite`, :class:`Range`, :class:`Probability` and
        :class:`Positive`, a ``float`` value x is valid *and returned
        unchanged* exactly when ``lo <= x <= hi`` or (x is NaN and
        ``nan_ok``). Exclusive bounds are already turned into inclusive float
        bounds. None for any other field. A caller (e.g. a compiled runner)
        may skip :meth:`validate_args` when every argument is a float within
        its field's bounds, all fields are given positionally, and the schema
        has no cross-field ``rules``.

        Examples
        --------
        >>> Schema({"x": Finite() & Range(0, 1), "s": String()}).float_bounds
        ((0.0, 1.0, False), None)
        >>> Schema({"p": Positive()}).float_bounds
        ((5e-324, inf, False),)
        """
        return tuple(c.bounds for c in self._compiled)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {v!r}" for k, v in self.fields.items())
        return f"Schema({{{inner}}}, unknown={self.unknown!r})"

    def __reduce__(self):
        # Its fields, rules and options (compiled again when unpickled; a
        # Rule's function pickles by reference).
        return (_schema, (self.fields, self.unknown, self.rules, self.name))

    # -------------------------------------------------------------- fast path

    def validate(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a mapping of inputs.

        Parameters
        ----------
        data : mapping
            The inputs. Anything else is reported as one violation of field
            ``"(input)"``.

        Returns
        -------
        dict
            The cleaned values, in field order, defaults filled in (unknown
            keys dropped when ``unknown="ignore"``).

        Raises
        ------
        ValidationError
            With every violation (``violations``). Nothing else is raised,
            whatever the input.

        Examples
        --------
        >>> Schema({"x": Finite()}).validate({"x": 1})
        {'x': 1.0}
        """
        return self._validate_slow(data)

    def _validate_slow(self, data: Any) -> dict[str, Any]:
        if type(data) is not dict:
            data = self._as_dict(data)
            return self.validate(data)
        raise self._report(data, ())

    def validate_args(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Validate a call's arguments, positional ones mapped to fields in order.

        Parameters
        ----------
        *args
            Values for the first fields, in order.
        **kwargs
            Values by name.

        Returns
        -------
        dict
            As :meth:`validate`; ``model(*result.values())`` calls the model
            with the cleaned values in field order.

        Raises
        ------
        ValidationError
            As :meth:`validate`, plus violations ``"arity"`` (more positional
            arguments than fields, under field ``"(args)"``) and
            ``"duplicate"`` (a field given positionally and by name).

        Examples
        --------
        >>> s = Schema({"a": Finite(), "b": Field(Finite(), default=0.0)})
        >>> s.validate_args(1, b=2)
        {'a': 1.0, 'b': 2.0}
        """
        return self._validate_args_slow(args, kwargs)

    def _validate_args_slow(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        if len(args) <= self._nfields:
            data = dict(zip(self._names, args, strict=False))
            if not kwargs:
                return self.validate(data)
            if not any(k in data for k in kwargs):
                data.update(kwargs)
                return self.validate(data)
        # report arity / duplicates together with everything else
        extra: list[Violation] = []
        data = dict(zip(self._names, args, strict=False))
        if len(args) > self._nfields:
            extra.append(Violation(
                "(args)", "arity",
                f"takes at most {self._nfields} positional arguments, got {len(args)}",
                safe_repr(len(args))))
        for k, v in kwargs.items():
            if k in data:
                c = self._compiled[self._names.index(k)]
                extra.append(Violation(c.label, "duplicate",
                                       "given both positionally and by name",
                                       safe_repr(v, secret=c.secret)))
            else:
                data[k] = v
        if not extra:
            return self.validate(data)
        raise self._report(data, extra)

    # -------------------------------------------------------------- slow path

    def _as_dict(self, data: Any) -> dict:
        if isinstance(data, dict):
            try:
                return dict(data)
            except Exception:  # noqa: BLE001, S110 - validation never raises but ValidationError
                pass
        elif isinstance(data, Mapping):
            try:
                return dict(data.items())
            except Exception:  # noqa: BLE001, S110 - validation never raises but ValidationError
                pass
        # The input as a whole is never rendered: any part of it may be a secret (the
        # pairs of d.items() are the fields and their values).
        v = Violation("(input)", "mapping",
                      f"expected a mapping of field names to values, got {_type_name(data)}",
                      f"<{_type_name(data)}>")
        raise _error([v], self.name)

    def _report(self, data: dict, extra: Iterable[Violation]) -> ValidationError:
        """Collect every violation (the input is known to be invalid, or was)."""
        try:
            violations = self._collect(data)[0]
        except Exception:  # noqa: BLE001  # pragma: no cover - _collect guards every user call
            violations = [Violation("(input)", "error", "could not be validated",
                                    "<unavailable>")]
        violations = list(extra) + violations
        if not violations:
            # the fast path failed on something that succeeds now (a flaky rule):
            # report it rather than guess
            violations = [Violation("(input)", "error", "validation was not repeatable",
                                    "<unavailable>")]
        return _error(violations, self.name)

    def _collect(self, data: dict) -> tuple[list[Violation], dict]:
        violations: list[Violation] = []
        out: dict[str, Any] = {}
        failed: set[str] = set()
        for c in self._compiled:
            try:
                present = c.name in data
                if present:
                    v = data[c.name]
            except Exception:  # noqa: BLE001 - validation never raises but ValidationError
                violations.append(Violation(c.label, "input", "could not be read",
                                            "<unavailable>"))
                failed.add(c.name)
                continue
            if not present:
                if c.default is MISSING:
                    violations.append(Violation(c.label, "required", "is required", "<missing>"))
                    failed.add(c.name)
                else:
                    out[c.name] = c.default
                continue
            if v is None and c.nullable:
                out[c.name] = None
                continue
            ok, cur = _check_field(c.checks, v, c.label, c.secret, violations)
            if ok:
                out[c.name] = cur
            else:
                failed.add(c.name)
        if self._reject:
            violations.extend(self._unknown(data))
        for rule, check in self._rule_checks:
            if rule.fields:
                if any(f in failed for f in rule.fields):
                    continue
            elif failed:
                continue
            try:
                check(out)
            except _Invalid as e:
                names = rule.fields
                label = ", ".join(self._compiled[self._names.index(f)].label for f in names) \
                    if names else "(input)"
                secret = any(self._compiled[self._names.index(f)].secret for f in names)
                shown = tuple(out.get(f) for f in names) if names else None
                violations.append(Violation(
                    label, e.rule, safe_text(e.message),
                    safe_repr(shown, secret=secret) if names else "<input>"))
        return violations, out

    def _unknown(self, data: dict) -> list[Violation]:
        fields = self.fields
        unknown = []
        n = 0
        for k in data:  # noqa: PLC0206 - reading a value may raise: each is read on its own
            try:
                known = isinstance(k, str) and k in fields
            except Exception:  # noqa: BLE001  # pragma: no cover - str keys hash and compare safely
                known = False
            if known:
                continue
            n += 1
            if n <= _MAX_UNKNOWN:
                try:
                    v = data[k]
                except Exception:  # noqa: BLE001 - validation never raises but ValidationError
                    v = None
                unknown.append(Violation(_field_label(k), "unknown", "is not an input of this "
                                         "model", safe_repr(v, secret=is_secret_name(k))))
        if n > _MAX_UNKNOWN:
            unknown.append(Violation("(input)", "unknown",
                                     f"{n - _MAX_UNKNOWN} more unknown fields", "..."))
        return unknown


def _schema(fields, unknown, rules, name):
    """Unpickle a :class:`Schema`."""
    return Schema(fields, unknown=unknown, rules=rules, name=name)
