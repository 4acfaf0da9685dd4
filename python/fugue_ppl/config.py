"""Configuration: one typed, frozen, validated config built from layers.

A :class:`Config` holds every setting of a fugue-ppl service: the model
(name, version, free parameters), runtime limits, circuit-breaker and
monitor settings, metrics, the log level, the environment, and secrets.
:func:`load_config` builds it from four layers, each overriding the one
before::

    defaults  <  environment profile  <  TOML file  <  FUGUE_* environment variables

* **defaults** are the dataclass defaults below; they equal the
  ``production`` profile, so ``Config()`` is a consistent production config
  (and a forgotten setting never gives DEBUG logs in production).
* **environment profile**: ``development``, ``staging`` or ``production``
  (:data:`PROFILES`). The environment is chosen by the ``environment``
  argument, else ``FUGUE_ENVIRONMENT``, else the file's ``environment`` key,
  else ``"production"``.
* **TOML file**: sections ``[model]`` (with ``[model.params]``),
  ``[runtime]``, ``[breaker]``, ``[monitor.ewma]``, ``[monitor.cusum]``,
  ``[metrics]``, ``[health]``, ``[slo]``, ``[secrets]``, and the top-level
  keys ``environment`` and ``log_level``.
* **environment variables**: ``FUGUE_<SECTION>__<KEY>`` (a double underscore
  between levels, names case-insensitive), e.g.
  ``FUGUE_BREAKER__FAILURE_THRESHOLD=0.4``, ``FUGUE_LOG_LEVEL=debug``,
  ``FUGUE_MONITOR__EWMA__LAM=0.1``, ``FUGUE_MODEL__PARAMS__PRIOR_MEAN=20``.
  Values are parsed to the field's type: booleans from
  ``true/false/1/0/yes/no/on/off``; ints; floats; optional values from
  ``""``, ``none`` or ``null``; lists as JSON (``["a", "b"]``) or
  comma-separated (``a,b``); model parameters as JSON when they parse
  (``20`` is an int, ``"[1, 2]"`` a list), else as the raw string. Every
  ``FUGUE_*`` variable must be a known key.

Errors: unknown keys, wrong types and invalid values raise one
:class:`~fugue_ppl.errors.ConfigError` listing every problem found, each
naming the dotted key, the layer it came from (``"defaults"``, ``"profile
production"``, ``"file config.toml"``, ``"environment variable
FUGUE_BREAKER__FAILURE_THRESHOLD"``, ``"arguments"``, ``"mapping"``), the
value (``'***'`` for secrets) and, for a misspelt key or choice, the closest
valid one.

Secrets are :class:`Secret` values: masked in ``repr``, ``str``, f-strings,
logging, :meth:`Config.dump` and error messages; compared in constant time;
:meth:`Secret.reveal` gives the value. A Secret refuses to be pickled (so
does a Config holding one): a pickle is a file, and a secret written to one
is no longer under control; load the config in each process instead.

Examples
--------
>>> from fugue_ppl.config import load_config
>>> cfg = load_config(env={"FUGUE_ENVIRONMENT": "development",
...                        "FUGUE_BREAKER__FAILURE_THRESHOLD": "0.4",
...                        "FUGUE_SECRETS__API_KEYS": "k-123,k-456"})
>>> cfg.environment, cfg.log_level, cfg.breaker.failure_threshold
('development', 'DEBUG', 0.4)
>>> cfg.secrets.api_keys
(Secret('***'), Secret('***'))
>>> cfg.secrets.api_keys[0].reveal()
'k-123'
>>> cfg.dump()["secrets"]
{'api_keys': ['***', '***'], 'database_url': None}
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime
import difflib
import hmac
import json
import math
import os
import re
import sys
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from fugue_ppl.errors import ConfigError
from fugue_ppl.validation import is_secret_name, safe_repr, safe_text

__all__ = [
    "Secret",
    "Config",
    "ModelConfig",
    "RuntimeConfig",
    "BreakerConfig",
    "MonitorConfig",
    "EWMAConfig",
    "CUSUMConfig",
    "MetricsConfig",
    "HealthConfig",
    "SLOConfig",
    "SecretsConfig",
    "ConfigProblem",
    "load_config",
    "ENVIRONMENTS",
    "LOG_LEVELS",
    "PROFILES",
    "ENV_PREFIX",
]

#: The environments, each a profile of defaults.
ENVIRONMENTS = ("development", "staging", "production")
#: The circuit breaker's window types (case-insensitive).
WINDOW_TYPES = ("count", "time")
#: Accepted log levels (case-insensitive; ``WARN`` and ``FATAL`` are aliases).
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")
_LOG_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
#: Prefix of the environment variables read by :func:`load_config`.
ENV_PREFIX = "FUGUE_"
_MASK = "***"

# --------------------------------------------------------------------- Secret


class Secret:
    """A secret string, masked everywhere it could be shown.

    ``repr`` gives ``Secret('***')``; ``str``, ``format`` and f-strings give
    ``'***'``; so logging with ``%s`` / ``%r`` and :meth:`Config.dump` never
    show it. Equality compares the values in constant time (a Secret never
    equals a plain ``str``). ``copy`` and ``deepcopy`` return the same
    object; pickling raises ``TypeError``.

    Parameters
    ----------
    value : str or Secret
        The secret.

    Raises
    ------
    TypeError
        ``value`` is not a str (the message does not show it).

    Examples
    --------
    >>> s = Secret("hunter2")
    >>> s, str(s), f"{s}", "%s" % s
    (Secret('***'), '***', '***', '***')
    >>> s.reveal()
    'hunter2'
    >>> s == Secret("hunter2"), s == "hunter2"
    (True, False)
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret):
        if isinstance(value, Secret):
            value = value._value
        elif not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, got {type(value).__name__}")
        object.__setattr__(self, "_value", str.__getitem__(value, slice(None)))

    def reveal(self) -> str:
        """The secret value.

        Returns
        -------
        str
        """
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        try:
            return format(_MASK, spec)
        except (TypeError, ValueError):
            return _MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        a = self._value.encode("utf-8", "surrogatepass")
        b = other._value.encode("utf-8", "surrogatepass")
        return hmac.compare_digest(a, b)

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Secret is immutable")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict) -> Secret:
        return self

    def __reduce_ex__(self, protocol):
        raise TypeError("Secret values cannot be pickled (the pickle would hold the secret in "
                        "clear); load the configuration in each process instead")

    __reduce__ = __reduce_ex__  # type: ignore[assignment]


# --------------------------------------------------------------------- read-only mapping


class _FrozenDict(Mapping):
    """A read-only, hashable mapping (model parameters).

    Its ``repr`` masks the values of secret-looking keys.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping | Iterator = ()):
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __setattr__(self, name, value):
        raise AttributeError("read-only mapping")

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {_MASK if is_secret_name(k) else repr(v)}"
                          for k, v in self._data.items())
        return "{" + inner + "}"

    def __reduce__(self):
        return (_FrozenDict, (self._data,))


def _freeze(value: Any) -> Any:
    """Deep-frozen copy: mappings -> _FrozenDict, lists -> tuples."""
    if isinstance(value, Mapping):
        return _FrozenDict((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any, mask: bool) -> Any:
    if isinstance(value, Mapping):
        return {k: (_MASK if mask and is_secret_name(k) else _thaw(v, mask))
                for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v, mask) for v in value]
    if isinstance(value, Secret):
        return _MASK
    return value


# --------------------------------------------------------------------- problems


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One configuration problem (see :attr:`ConfigError.problems`).

    Attributes
    ----------
    key : str
        The dotted key, e.g. ``"breaker.failure_threshold"`` (``""`` for the
        file as a whole).
    layer : str
        Where the value came from.
    message : str
        The full one-line description (names key, layer and value).
    value : str or None
        Safe rendering of the value (``'***'`` for a secret).
    suggestion : str or None
        The closest valid key or choice, for a misspelling.
    """

    key: str
    layer: str
    message: str
    value: str | None = None
    suggestion: str | None = None

    def __str__(self) -> str:
        return self.message


def _raise(problems: list[ConfigProblem]) -> typing.NoReturn:
    first = problems[0]
    if len(problems) == 1:
        message = first.message
    else:
        message = f"{len(problems)} configuration problems:\n" + "\n".join(
            f"  - {p.message}" for p in problems)
    raise ConfigError(message, key=first.key, layer=first.layer, value=first.value,
                      suggestion=first.suggestion, problems=problems)


class _Bad(Exception):
    """Internal: a value has the wrong type/format (``expected`` says what was)."""

    def __init__(self, expected: str):
        self.expected = expected


# --------------------------------------------------------------------- field kinds


def _kind(tp: Any) -> str:
    if dataclasses.is_dataclass(tp):
        return "section"
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if tp is float:
        return "float"
    if tp is str:
        return "str"
    if tp == (float | None):
        return "float?"
    if tp == (Secret | None):
        return "secret?"
    if tp == tuple[Secret, ...]:
        return "secrets"
    if tp == Mapping[str, Any]:
        return "mapping"
    raise TypeError(f"unsupported config field type {tp!r}")  # pragma: no cover


_EXPECTED = {
    "bool": "a boolean (true/false)",
    "int": "an integer",
    "float": "a number",
    "float?": "a number or none",
    "str": "a string",
    "secret?": "a string",
    "secrets": "a list of strings",
    "mapping": "a table",
    "section": "a table",
}

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_INT_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT_TEXT = re.compile(
    r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|infinity|nan)",
    re.ASCII | re.IGNORECASE)


def _convert(kind: str, raw: Any, from_env: bool) -> Any:
    """``raw`` as the field's type; raises _Bad (never with the value in it)."""
    if from_env:
        text = raw.strip()
        if kind == "bool":
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise _Bad(_EXPECTED[kind] + " (true/false, 1/0, yes/no, on/off)")
        if kind == "int":
            if _INT_TEXT.fullmatch(text) and len(text) <= 30:
                return int(text)
            raise _Bad(_EXPECTED[kind])
        if kind in ("float", "float?"):
            if kind == "float?" and text.lower() in ("", "none", "null"):
                return None
            if _FLOAT_TEXT.fullmatch(text) and len(text) <= 60:
                return float(text)
            raise _Bad(_EXPECTED[kind])
        if kind == "str":
            return raw
        if kind == "secret?":
            return Secret(raw) if text else None
        if kind == "secrets":
            if text.startswith("["):
                try:
                    items = json.loads(text)
                except ValueError:
                    items = None
                if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                    raise _Bad("a JSON list of strings or a comma-separated list")
                return tuple(Secret(i) for i in items)
            return tuple(Secret(i.strip()) for i in text.split(",") if i.strip())
        raise _Bad(_EXPECTED[kind])  # pragma: no cover - sections handled by the caller
    if kind == "bool":
        if raw is True or raw is False:
            return raw
        if isinstance(raw, np.bool_):
            return bool(raw)
        raise _Bad(_EXPECTED[kind])
    if kind == "int":
        if isinstance(raw, (bool, np.bool_)) or not isinstance(raw, (int, np.integer)):
            raise _Bad(_EXPECTED[kind])
        return int(raw)
    if kind in ("float", "float?"):
        if raw is None and kind == "float?":
            return None
        if isinstance(raw, (bool, np.bool_)) or not isinstance(raw, (int, float, np.integer,
                                                                      np.floating)):
            raise _Bad(_EXPECTED[kind])
        try:
            return float(raw)
        except OverflowError:
            raise _Bad("a number within the float range") from None
    if kind == "str":
        if isinstance(raw, str):
            return str.__getitem__(raw, slice(None))
        raise _Bad(_EXPECTED[kind])
    if kind == "secret?":
        if raw is None or isinstance(raw, Secret):
            return raw
        if isinstance(raw, str):
            return Secret(raw)
        raise _Bad(_EXPECTED[kind])
    if kind == "secrets":
        if isinstance(raw, (list, tuple)) and all(isinstance(i, (str, Secret)) for i in raw):
            return tuple(Secret(i) for i in raw)
        raise _Bad(_EXPECTED[kind])
    if kind == "mapping":
        if isinstance(raw, Mapping):
            return _freeze(raw)
        raise _Bad(_EXPECTED[kind])
    raise _Bad(_EXPECTED[kind])  # pragma: no cover


def _param_from_env(text: str) -> Any:
    """A model parameter from an environment variable: JSON if it parses, else the string."""
    try:
        return _freeze(json.loads(text))
    except ValueError:
        return text


# --------------------------------------------------------------------- value checks

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)


def _unit(x: float) -> str | None:
    return None if 0.0 <= x <= 1.0 else "must be in [0, 1]"


def _duration(x: float) -> str | None:
    return None if 0.0 < x < math.inf else "must be a positive, finite number of seconds"


def _breaker_duration(x: float | None) -> str | None:
    # the circuit breaker's own limit (fugue_ppl.serving._breaker): 0 < seconds <= 1e9
    return None if x is None or 0.0 < x <= 1e9 else "must be > 0 and <= 1e9 seconds"


def _at_least(n: int):
    def check(x: int) -> str | None:
        return None if x >= n else f"must be >= {n}"
    return check


def _between(lo: int, hi: int):
    def check(x: int) -> str | None:
        return None if lo <= x <= hi else f"must be between {lo} and {hi}"
    return check


def _name(x: str) -> str | None:
    return None if _NAME.fullmatch(x) else \
        "must be 1 to 64 ASCII letters, digits, '_', '-' or '.'"


def _choice(choices: tuple[str, ...], normalize):
    def check(x: str) -> str | None:
        return None if normalize(x) in choices else \
            "must be one of " + ", ".join(repr(c) for c in choices)
    check.choices = choices  # type: ignore[attr-defined]
    check.normalize = normalize  # type: ignore[attr-defined]
    return check


def _norm_env(x: str) -> str:
    return x.strip().lower()


def _norm_level(x: str) -> str:
    up = x.strip().upper()
    return _LOG_ALIASES.get(up, up)


def _secret_list(keys: tuple[Secret, ...]) -> str | None:
    for k in keys:
        v = k.reveal()
        if not v or not v.isprintable() or any(c.isspace() for c in v):
            return "each key must be non-empty, printable and without spaces"
    if len(set(keys)) != len(keys):
        return "keys must be distinct"
    return None


def _nonempty_secret(x: Secret | None) -> str | None:
    return None if x is None or x.reveal().strip() else "must not be empty"


def _f(default: Any = dataclasses.MISSING, *, check=None, factory=None, doc: str = ""):
    meta = {"check": check, "doc": doc}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------- sections

_SOURCES: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "fugue_config_sources", default=None)


def _layer_of(key: str) -> str:
    sources = _SOURCES.get()
    if sources is None:
        return "arguments"
    return sources.get(key, "defaults")


def _show(key: str, kind: str, value: Any) -> str:
    secret = kind in ("secret?", "secrets") or isinstance(value, Secret) or \
        is_secret_name(key.rsplit(".", 1)[-1])
    return safe_repr(value, secret=secret)


class _Section:
    """Mixin: validation of a frozen config section after construction."""

    __slots__ = ()
    _PATH: ClassVar[str] = ""

    def __post_init__(self) -> None:
        problems: list[ConfigProblem] = []
        kinds = _KINDS[type(self)]
        bad: set[str] = set()
        for f in fields(self):  # type: ignore[arg-type]
            key = f"{self._PATH}.{f.name}" if self._PATH else f.name
            kind = kinds[f.name]
            value = getattr(self, f.name)
            if kind == "section":
                section_type = _SECTION_TYPES[type(self)][f.name]
                if not isinstance(value, section_type):
                    problems.append(_type_problem(key, _layer_of(key),
                                                  f"a {section_type.__name__}",
                                                  _show(key, kind, value)))
                continue
            try:
                new = _convert(kind, value, from_env=False)
            except _Bad as e:
                problems.append(_type_problem(key, _layer_of(key), e.expected,
                                              _show(key, kind, value)))
                bad.add(f.name)
                continue
            check = f.metadata.get("check")
            if kind == "str" and check is not None and hasattr(check, "normalize") \
                    and check.normalize(new) in check.choices:
                new = check.normalize(new)
            if new is not value:
                object.__setattr__(self, f.name, new)
            if check is not None:
                message = check(new)
                if message is not None:
                    problems.append(_value_problem(key, _layer_of(key), _show(key, kind, new),
                                                   message, getattr(check, "choices", None),
                                                   new if kind == "str" else None))
                    bad.add(f.name)
        if not bad:
            for names, message in self._relations():
                keys = [f"{self._PATH}.{n}" if self._PATH else n for n in names]
                parts = [f"{k} = {_show(k, kinds[n], getattr(self, n))} ({_layer_of(k)})"
                         for k, n in zip(keys, names, strict=True)]
                problems.append(ConfigProblem(
                    keys[0], _layer_of(keys[0]), f"{' and '.join(parts)}: {message}",
                    _show(keys[0], kinds[names[0]], getattr(self, names[0]))))
        if problems:
            _raise(problems)

    def _relations(self) -> list[tuple[tuple[str, ...], str]]:
        return []


def _type_problem(key: str, layer: str, expected: str, shown: str) -> ConfigProblem:
    return ConfigProblem(key, layer, f"{key}: expected {expected}, got {shown} ({layer})", shown)


def _value_problem(key, layer, shown, message, choices=None, raw=None) -> ConfigProblem:
    suggestion = None
    text = f"{key} = {shown} ({layer}): {message}"
    if choices and isinstance(raw, str):
        close = difflib.get_close_matches(raw.strip().lower(), [c.lower() for c in choices], 1)
        if close:
            suggestion = next(c for c in choices if c.lower() == close[0])
            text += f"; did you mean {suggestion!r}?"
    return ConfigProblem(key, layer, text, shown, suggestion)


@dataclass(frozen=True, slots=True)
class ModelConfig(_Section):
    """The model served.

    Attributes
    ----------
    name : str, default "default"
        1 to 64 ASCII letters, digits, ``_``, ``-`` or ``.``.
    version : str, default "1"
        Same characters as ``name``.
    params : mapping, default empty
        Free model parameters (read-only; nested tables and lists are frozen
        to read-only mappings and tuples). Layers merge key by key.

    Examples
    --------
    >>> m = ModelConfig(name="sensor", params={"prior_mean": 20.0})
    >>> m.params["prior_mean"]
    20.0
    """

    _PATH: ClassVar[str] = "model"
    name: str = _f("default", check=_name)
    version: str = _f("1", check=_name)
    params: Mapping[str, Any] = _f(factory=_FrozenDict)


@dataclass(frozen=True, slots=True)
class RuntimeConfig(_Section):
    """Runtime limits.

    Attributes
    ----------
    max_inference_time : float, default 1.0
        Deadline of one inference, in seconds (> 0).
    pool_max_size : int, default 64
        Trace pool capacity (>= 1).
    pool_min_size : int, default 0
        Traces the pool keeps when shrinking (>= 0, <= ``pool_max_size``).
    error_threshold : float, default 0.05
        Error rate in [0, 1] above which the service reports itself degraded
        (the health check's ``error_rate_degraded``; below
        ``health.error_rate_unhealthy``).
    """

    _PATH: ClassVar[str] = "runtime"
    max_inference_time: float = _f(1.0, check=_duration)
    pool_max_size: int = _f(64, check=_at_least(1))
    pool_min_size: int = _f(0, check=_at_least(0))
    error_threshold: float = _f(0.05, check=_unit)

    def _relations(self):
        if self.pool_min_size > self.pool_max_size:
            return [(("pool_min_size", "pool_max_size"), "pool_min_size must not exceed "
                     "pool_max_size")]
        return []


@dataclass(frozen=True, slots=True)
class BreakerConfig(_Section):
    """Circuit-breaker settings.

    The settings of :class:`fugue_ppl.CircuitBreaker` (same names, defaults
    and limits). The three thresholds are failure rates over the sliding
    window of the last ``window_size`` calls, ordered
    ``recovery_threshold <= degraded_threshold <= failure_threshold``.

    Attributes
    ----------
    degraded_threshold : float, default 0.05
        Failure rate above which Healthy becomes Degraded.
    failure_threshold : float, default 0.5
        Failure rate above which the breaker opens (Failed); in (0, 1].
    recovery_threshold : float, default 0.02
        Failure rate at or below which Degraded returns to Healthy.
    window_size : int, default 100
        Calls in the sliding window (1 to 1,000,000).
    minimum_calls : int, default 20
        Calls needed before the rate is acted on (1 to ``window_size``).
    open_duration : float, default 30.0
        Seconds the breaker stays open before Recovery (> 0, <= 1e9).
    backoff_factor : float, default 1.0
        Factor applied to the open duration after each failed recovery
        (finite, >= 1; 1 means no backoff).
    max_open_duration : float or None, default None
        Cap of the backed-off open duration (>= ``open_duration``, <= 1e9;
        None: no cap).
    half_open_permits : int, default 5
        Trial calls admitted in Recovery (1 to 2**31).
    slow_call_duration : float or None, default None
        Calls slower than this many seconds count as failures (None: off;
        else > 0, <= 1e9).
    window_type : {"count", "time"}, default "count"
        ``"count"``: the window is the last ``window_size`` calls;
        ``"time"``: the calls of the last ``window_seconds`` seconds.
    window_seconds : float, default 60.0
        Length of a time window (> 0, at most a day); used when
        ``window_type`` is ``"time"``.
    recovery_success_rate : float, default 1.0
        Fraction of the Recovery trial calls that must succeed to close the
        breaker again, in (0, 1].
    """

    _PATH: ClassVar[str] = "breaker"
    degraded_threshold: float = _f(0.05, check=_unit)
    failure_threshold: float = _f(0.5, check=_unit)
    recovery_threshold: float = _f(0.02, check=_unit)
    window_size: int = _f(100, check=_between(1, 1_000_000))
    minimum_calls: int = _f(20, check=_at_least(1))
    open_duration: float = _f(30.0, check=_breaker_duration)
    backoff_factor: float = _f(1.0, check=lambda x: None if 1.0 <= x < math.inf
                               else "must be a finite number >= 1")
    max_open_duration: float | None = _f(None, check=_breaker_duration)
    half_open_permits: int = _f(5, check=_between(1, 2 ** 31))
    slow_call_duration: float | None = _f(None, check=_breaker_duration)
    window_type: str = _f("count", check=_choice(WINDOW_TYPES, _norm_env))
    window_seconds: float = _f(60.0, check=lambda x: None if 0.0 < x <= 86400.0
                               else "must be > 0 and <= 86400 seconds")
    recovery_success_rate: float = _f(1.0, check=lambda x: None if 0.0 < x <= 1.0
                                      else "must be in (0, 1]")

    def breaker_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :class:`fugue_ppl.CircuitBreaker` these settings give.

        Unset optional settings are left out (the breaker's defaults apply);
        a time window's ``window_size`` is ``window_seconds``.

        Examples
        --------
        >>> BreakerConfig(window_type="time", window_seconds=30.0).breaker_kwargs()["window_seconds"]
        30.0
        """
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    def _relations(self):
        out = []
        if self.failure_threshold == 0.0:
            out.append((("failure_threshold",), "must be > 0 (an error rate of 0 would open "
                        "the breaker on every call)"))
        if self.recovery_threshold > self.degraded_threshold:
            out.append((("recovery_threshold", "degraded_threshold"),
                        "recovery_threshold must not exceed degraded_threshold"))
        if self.degraded_threshold > self.failure_threshold:
            out.append((("degraded_threshold", "failure_threshold"),
                        "degraded_threshold must not exceed failure_threshold"))
        if self.window_type == "count" and self.minimum_calls > self.window_size:
            out.append((("minimum_calls", "window_size"),
                        "minimum_calls must not exceed window_size"))
        if self.max_open_duration is not None and self.open_duration > self.max_open_duration:
            out.append((("open_duration", "max_open_duration"),
                        "open_duration must not exceed max_open_duration"))
        return out


@dataclass(frozen=True, slots=True)
class EWMAConfig(_Section):
    """EWMA chart settings (the arguments of :class:`fugue_ppl.monitoring.EWMA`).

    Attributes
    ----------
    lam : float, default 0.2
        Smoothing weight lambda, in (0, 1].
    L : float, default 2.962
        Control-limit width in sigmas (> 0).
    warmup : int, default 30
        Observations used to estimate the baseline (>= 2).
    """

    _PATH: ClassVar[str] = "monitor.ewma"
    lam: float = _f(0.2, check=lambda x: None if 0.0 < x <= 1.0 else "must be in (0, 1]")
    L: float = _f(2.962, check=lambda x: None if 0.0 < x < math.inf else "must be > 0")
    warmup: int = _f(30, check=_at_least(2))


@dataclass(frozen=True, slots=True)
class CUSUMConfig(_Section):
    """CUSUM chart settings (the arguments of :class:`fugue_ppl.monitoring.CUSUM`).

    Attributes
    ----------
    k : float, default 0.5
        Reference value in sigmas (>= 0).
    h : float, default 5.0
        Decision interval in sigmas (> 0).
    warmup : int, default 30
        Observations used to estimate the baseline (>= 2).
    """

    _PATH: ClassVar[str] = "monitor.cusum"
    k: float = _f(0.5, check=lambda x: None if 0.0 <= x < math.inf else "must be >= 0")
    h: float = _f(5.0, check=lambda x: None if 0.0 < x < math.inf else "must be > 0")
    warmup: int = _f(30, check=_at_least(2))


@dataclass(frozen=True, slots=True)
class MonitorConfig(_Section):
    """Statistical monitor settings: ``ewma`` and ``cusum``."""

    _PATH: ClassVar[str] = "monitor"
    ewma: EWMAConfig = _f(factory=EWMAConfig)
    cusum: CUSUMConfig = _f(factory=CUSUMConfig)


def _metrics_window(x: float) -> str | None:
    if not 0.0 < x < math.inf:
        return "must be a positive, finite number of seconds"
    return None if x <= 120.0 and x == int(x) else \
        "must be a whole number of seconds, at most 120"


@dataclass(frozen=True, slots=True)
class MetricsConfig(_Section):
    """Metrics settings.

    Attributes
    ----------
    enabled : bool, default True
        Record and export metrics.
    window_seconds : float, default 60.0
        Window of the throughput and rate gauges: a whole number of seconds
        from 1 to 120 (the window of :class:`fugue_ppl.ProductionMetrics`).
    """

    _PATH: ClassVar[str] = "metrics"
    enabled: bool = _f(True)
    window_seconds: float = _f(60.0, check=_metrics_window)


def _open_unit(x: float) -> str | None:
    return None if 0.0 < x < 1.0 else "must be strictly between 0 and 1"


def _fraction(x: float) -> str | None:
    return None if 0.0 < x < math.inf else "must be a positive, finite number"


def _optional(check):
    def opt(x):
        return None if x is None else check(x)
    return opt


@dataclass(frozen=True, slots=True)
class HealthConfig(_Section):
    """Health-check settings (the fields of :class:`fugue_ppl.serving.health.HealthSettings`).

    The latency reference is ``runtime.max_inference_time`` and the error
    rate above which the service is degraded ``runtime.error_threshold``.

    Attributes
    ----------
    error_rate_unhealthy : float, default 0.2
        Error rates above this are unhealthy (> ``runtime.error_threshold``,
        above which they are degraded).
    latency_quantile : float, default 0.99
        The latency quantile judged, in (0, 1].
    latency_fraction : float, default 0.8
        The quantile above this fraction of the timeout is degraded.
    latency_unhealthy_fraction : float, default 1.0
        The quantile above this fraction of the timeout is unhealthy
        (> ``latency_fraction``).
    pool_min_hit_ratio : float, default 0.8
        A trace-pool hit ratio below this is degraded, in [0, 1].
    min_calls : int, default 10
        Fewer inferences in the window are not judged (>= 1).
    window : float, default 60.0
        Seconds the windowed checks span (> 0).
    warmup : int, default 10
        Smoke runs of the warm-up (>= 0; 0: no warm-up needed).
    healthy_threshold : float, default 0.96
        Scores at or above this are healthy.
    degraded_threshold : float, default 0.75
        Scores at or above this are degraded (<= ``healthy_threshold``).
    trend_window : int, default 10
        Scores fitted for the trend (>= 2).
    trend_delta : float, default 0.001
        The early warning's slope threshold, score per second (>= 0).
    trend_consecutive : int, default 3
        Consecutive falling checks that raise the early warning (>= 1).
    forecast_horizon : float, default 60.0
        Seconds ahead of the forecast (>= 0).
    history_size : int, default 256
        Scores kept (>= ``trend_window``).
    """

    _PATH: ClassVar[str] = "health"
    error_rate_unhealthy: float = _f(0.2, check=_unit)
    latency_quantile: float = _f(0.99, check=lambda x: None if 0.0 < x <= 1.0
                                 else "must be in (0, 1]")
    latency_fraction: float = _f(0.8, check=_fraction)
    latency_unhealthy_fraction: float = _f(1.0, check=_fraction)
    pool_min_hit_ratio: float = _f(0.8, check=_unit)
    min_calls: int = _f(10, check=_at_least(1))
    window: float = _f(60.0, check=_duration)
    warmup: int = _f(10, check=_at_least(0))
    healthy_threshold: float = _f(0.96, check=_unit)
    degraded_threshold: float = _f(0.75, check=_unit)
    trend_window: int = _f(10, check=_at_least(2))
    trend_delta: float = _f(0.001, check=lambda x: None if 0.0 <= x < math.inf
                            else "must be a finite number >= 0")
    trend_consecutive: int = _f(3, check=_at_least(1))
    forecast_horizon: float = _f(60.0, check=lambda x: None if 0.0 <= x < math.inf
                                 else "must be a finite number >= 0")
    history_size: int = _f(256, check=_at_least(2))

    def _relations(self):
        out = []
        if not self.latency_fraction < self.latency_unhealthy_fraction:
            out.append((("latency_fraction", "latency_unhealthy_fraction"),
                        "latency_fraction must be below latency_unhealthy_fraction"))
        if self.degraded_threshold > self.healthy_threshold:
            out.append((("degraded_threshold", "healthy_threshold"),
                        "degraded_threshold must not exceed healthy_threshold"))
        if self.history_size < self.trend_window:
            out.append((("history_size", "trend_window"),
                        "history_size must be at least trend_window"))
        return out


@dataclass(frozen=True, slots=True)
class SLOConfig(_Section):
    """Service-level objectives (the arguments of :class:`fugue_ppl.serving.slo.ServiceLevelObjectives`).

    Attributes
    ----------
    availability_target : float, default 0.999
        Share of good requests, strictly between 0 and 1.
    latency_p99 : float or None, default None
        The p99 latency must be at most this many seconds (None: no latency
        objective).
    error_rate_threshold : float or None, default None
        The error rate must be at most this, strictly between 0 and 1 (None:
        no error-rate objective).
    period_days : float, default 30.0
        The SLO period in days (> 0).
    """

    _PATH: ClassVar[str] = "slo"
    availability_target: float = _f(0.999, check=_open_unit)
    latency_p99: float | None = _f(None, check=_optional(_duration))
    error_rate_threshold: float | None = _f(None, check=_optional(_open_unit))
    period_days: float = _f(30.0, check=lambda x: None if 0.0 < x <= 3650.0
                            else "must be > 0 and <= 3650 days")


@dataclass(frozen=True, slots=True)
class SecretsConfig(_Section):
    """Secrets, as :class:`Secret` values.

    Attributes
    ----------
    api_keys : tuple of Secret, default ()
        Accepted API keys (each non-empty, printable, without spaces;
        distinct). From an environment variable: a JSON list or
        comma-separated.
    database_url : Secret or None, default None
        Database connection URL.
    """

    _PATH: ClassVar[str] = "secrets"
    api_keys: tuple[Secret, ...] = _f((), check=_secret_list)
    database_url: Secret | None = _f(None, check=_nonempty_secret)


@dataclass(frozen=True, slots=True)
class Config(_Section):
    """The whole configuration (frozen; build it with :func:`load_config`).

    Constructing ``Config(...)`` directly validates the values but applies no
    environment profile; :func:`load_config` and :meth:`from_dict` do.

    Attributes
    ----------
    environment : str, default "production"
        ``"development"``, ``"staging"`` or ``"production"``.
    log_level : str, default "WARNING"
        A :mod:`logging` level name (normalised to upper case).
    model : ModelConfig
    runtime : RuntimeConfig
    breaker : BreakerConfig
    monitor : MonitorConfig
    metrics : MetricsConfig
    health : HealthConfig
    slo : SLOConfig
    secrets : SecretsConfig

    Examples
    --------
    >>> cfg = Config()
    >>> cfg.environment, cfg.log_level, cfg.log_level_number
    ('production', 'WARNING', 30)
    >>> Config.from_dict({"breaker": {"failure_threshold": 0.3}}).breaker.failure_threshold
    0.3
    """

    environment: str = _f("production", check=_choice(ENVIRONMENTS, _norm_env))
    log_level: str = _f("WARNING", check=_choice(LOG_LEVELS, _norm_level))
    model: ModelConfig = _f(factory=ModelConfig)
    runtime: RuntimeConfig = _f(factory=RuntimeConfig)
    breaker: BreakerConfig = _f(factory=BreakerConfig)
    monitor: MonitorConfig = _f(factory=MonitorConfig)
    metrics: MetricsConfig = _f(factory=MetricsConfig)
    health: HealthConfig = _f(factory=HealthConfig)
    slo: SLOConfig = _f(factory=SLOConfig)
    secrets: SecretsConfig = _f(factory=SecretsConfig)

    @property
    def log_level_number(self) -> int:
        """The numeric :mod:`logging` level of ``log_level``."""
        import logging
        return logging.getLevelName(self.log_level)

    def configure_logging(self, logger: str = "fugue_ppl") -> Any:
        """Set the level of fugue-ppl's loggers to ``log_level``.

        Only the level of ``logger`` (by default the package's, which the
        breaker, the runtime and the health checks log under) changes; where
        records go (handlers, format) stays the application's choice.

        Returns
        -------
        logging.Logger
            The logger configured.

        Examples
        --------
        >>> load_config(environment="development").configure_logging().level
        10
        >>> _ = load_config(env={}).configure_logging()    # back to WARNING
        """
        import logging
        log = logging.getLogger(logger)
        log.setLevel(self.log_level_number)
        return log

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, environment: str | None = None) -> Config:
        """Build a config from a nested mapping (the shape of the TOML file).

        Layers: defaults < the environment's profile < ``data``. The
        environment is ``environment`` if given, else ``data["environment"]``,
        else ``"production"``.

        Parameters
        ----------
        data : mapping
            Nested sections, e.g. ``{"breaker": {"failure_threshold": 0.4}}``.
        environment : str, optional
            Overrides ``data["environment"]``.

        Returns
        -------
        Config

        Raises
        ------
        ConfigError
            Unknown keys, wrong types, invalid values (layer ``"mapping"``).

        Examples
        --------
        >>> Config.from_dict({"environment": "staging"}).log_level
        'INFO'
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"Config.from_dict: expected a mapping, got {type(data).__name__}",
                              layer="mapping")
        return _load(file_layer=("mapping", data), env_items=(), environment=environment)

    def dump(self) -> dict[str, Any]:
        """The config as a nested dict of plain values, secrets masked.

        ``Secret`` values (and model parameters with secret-looking names)
        become ``'***'``; tuples become lists; the result is JSON-serialisable
        (except datetimes a TOML file may hold in ``model.params``).

        Returns
        -------
        dict

        Examples
        --------
        >>> Config().dump()["breaker"]["failure_threshold"]
        0.5
        """
        return _dump(self)

    def to_toml(self) -> str:
        """The config as TOML text, without the ``[secrets]`` section.

        Secrets (and model parameters with secret-looking names) are left out
        (a comment says so) rather than masked, so the text loads back
        (:func:`load_config`) into an equal config minus those. ``None``
        values are left out (they are the defaults).

        Returns
        -------
        str

        Examples
        --------
        >>> print(Config().to_toml().splitlines()[0])
        environment = "production"
        """
        return _to_toml(self)


_SECTION_CLASSES = (ModelConfig, RuntimeConfig, BreakerConfig, EWMAConfig, CUSUMConfig,
                    MonitorConfig, MetricsConfig, HealthConfig, SLOConfig, SecretsConfig, Config)
_KINDS: dict[type, dict[str, str]] = {}
_SECTION_TYPES: dict[type, dict[str, type]] = {}
for _cls in _SECTION_CLASSES:
    _hints = typing.get_type_hints(_cls)
    _KINDS[_cls] = {f.name: _kind(_hints[f.name]) for f in fields(_cls)}
    _SECTION_TYPES[_cls] = {f.name: _hints[f.name] for f in fields(_cls)
                            if _KINDS[_cls][f.name] == "section"}
del _cls, _hints

#: Environment profiles: the defaults each environment changes (read-only by convention).
PROFILES: dict[str, dict[str, Any]] = {
    "development": {
        "log_level": "DEBUG",
        "runtime": {"max_inference_time": 30.0},
        "metrics": {"enabled": False},
    },
    "staging": {
        "log_level": "INFO",
        "runtime": {"max_inference_time": 5.0},
        "metrics": {"enabled": True},
    },
    "production": {
        "log_level": "WARNING",
        "runtime": {"max_inference_time": 1.0},
        "metrics": {"enabled": True},
    },
}


# --------------------------------------------------------------------- dump / TOML


def _dump(obj: Any) -> Any:
    if isinstance(obj, _Section):
        return {f.name: _dump(getattr(obj, f.name)) for f in fields(obj)}  # type: ignore
    if isinstance(obj, Mapping):
        return _thaw(obj, mask=True)
    if isinstance(obj, tuple):
        return [_dump(v) for v in obj]
    if isinstance(obj, Secret):
        return _MASK
    return obj


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _toml_value(v: Any) -> str:
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _to_toml(cfg: Config) -> str:
    lines: list[str] = []

    def section(obj: _Section, path: str) -> None:
        scalars, subs = [], []
        for f in fields(obj):  # type: ignore[arg-type]
            v = getattr(obj, f.name)
            if isinstance(v, _Section):
                subs.append((f.name, v))
            elif isinstance(v, Mapping):
                subs.append((f.name, v))
            elif v is not None:
                scalars.append(f"{_toml_key(f.name)} = {_toml_value(v)}")
        if path:
            lines.append("")
            lines.append(f"[{path}]")
        lines.extend(scalars)
        for name, v in subs:
            sub = f"{path}.{name}" if path else name
            if isinstance(v, _Section):
                if isinstance(v, SecretsConfig):
                    lines.append("")
                    lines.append("# [secrets] omitted: set them in the environment "
                                 "(FUGUE_SECRETS__API_KEYS, FUGUE_SECRETS__DATABASE_URL)")
                    continue
                section(v, sub)
            else:
                lines.append("")
                lines.append(f"[{'.'.join(_toml_key(p) for p in sub.split('.'))}]")
                for k, x in v.items():
                    if is_secret_name(k):
                        lines.append(f"# {_toml_key(k)} omitted (a secret-looking name)")
                    else:
                        lines.append(f"{_toml_key(k)} = {_toml_value(x)}")

    section(cfg, "")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------- loading


def _read_toml(path: str | os.PathLike) -> tuple[str, dict]:
    """The file's layer name and parsed content (raises ConfigError)."""
    shown = safe_text(os.fspath(path), 200)
    layer = f"file {shown}"
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        try:
            import tomli as tomllib
        except ImportError:
            tomllib = None
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise ConfigError(f"{layer}: reading TOML files needs Python 3.11 or the 'tomli' "
                          f"package (pip install tomli)", layer=layer)
    problem = None
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        problem = f"{layer}: no such file"
    except IsADirectoryError:
        problem = f"{layer}: is a directory"
    except PermissionError:
        problem = f"{layer}: permission denied"
    except OSError as e:
        problem = f"{layer}: cannot be read ({safe_text(e.strerror or type(e).__name__, 80)})"
    except tomllib.TOMLDecodeError as e:
        problem = f"{layer}: invalid TOML: {safe_text(e, 200)}"
    if problem is not None:
        raise ConfigError(problem, layer=layer)
    return layer, data


def _env_items(env: Mapping[str, str]) -> list[tuple[str, list[str], Any]]:
    """The ``FUGUE_*`` variables as (variable name, lower-cased path, raw value)."""
    out = []
    for name in sorted(k for k in env if isinstance(k, str) and k.startswith(ENV_PREFIX)):
        path = name[len(ENV_PREFIX):].lower().split("__")
        out.append((name, path, env[name]))
    return out


class _State:
    """The merged values (nested dict of converted leaves) and where each came from."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.problems: list[ConfigProblem] = []


def _all_leaf_keys(cls: type, prefix: str = "") -> list[str]:
    out = []
    for f in fields(cls):
        key = prefix + f.name
        if _KINDS[cls][f.name] == "section":
            out.extend(_all_leaf_keys(_SECTION_TYPES[cls][f.name], key + "."))
        else:
            out.append(key)
    return out


def _env_name(key: str) -> str:
    return ENV_PREFIX + key.upper().replace(".", "__")


def _find_field(cls: type, part: str, from_env: bool) -> str | None:
    kinds = _KINDS[cls]
    if part in kinds:
        return part
    if from_env:
        for name in kinds:
            if name.lower() == part:
                return name
    return None


def _unknown(state: _State, cls: type, prefix: str, part: Any, layer: str,
             from_env: bool) -> None:
    shown = safe_text(part, 60) if isinstance(part, str) else safe_repr(part)
    key = f"{prefix}{shown}"
    candidates = list(_KINDS[cls])
    suggestion = None
    if isinstance(part, str):
        if from_env:
            # suggest the full variable name, so FUGUE_BREAKER_FAILURE_THRESHOLD (one
            # underscore) finds FUGUE_BREAKER__FAILURE_THRESHOLD
            wanted = _env_name(key)
            names = [_env_name(k) for k in _all_leaf_keys(Config)]
            close = difflib.get_close_matches(wanted, names, 1, 0.75)
            suggestion = close[0] if close else None
        else:
            close = difflib.get_close_matches(part, candidates, 1)
            suggestion = f"{prefix}{close[0]}" if close else None
    text = f"unknown key {key} ({layer})"
    if suggestion:
        text += f"; did you mean {suggestion}?"
    elif not from_env:
        text += f"; valid keys here: {', '.join(candidates)}"
    state.problems.append(ConfigProblem(key, layer, text, None, suggestion))


def _set_param(state: _State, path: list[str], value: Any, key: str, layer: str) -> None:
    """Merge one model parameter (dotted under model.params)."""
    params = state.values.setdefault("model", {}).setdefault("params", {})
    node = params
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {} if not isinstance(child, Mapping) else _thaw(child, mask=False)
            node[part] = child
        node = child
    node[path[-1]] = value
    state.sources[key] = layer


def _merge_params(state: _State, data: Mapping, path: list[str], layer: str) -> None:
    for k, v in data.items():
        if not isinstance(k, str):
            state.problems.append(ConfigProblem(
                "model.params", layer, f"model.params: keys must be strings, got "
                f"{safe_repr(k)} ({layer})", safe_repr(k)))
            continue
        sub = path + [k]
        if isinstance(v, Mapping) and v:
            _merge_params(state, v, sub, layer)
        else:
            _set_param(state, sub, _freeze(v), "model.params." + ".".join(sub), layer)


def _apply_mapping(state: _State, cls: type, data: Mapping, prefix: str, layer: str,
                   values: dict) -> None:
    """Apply a nested mapping layer (profile, file, from_dict) to section ``cls``."""
    for part, raw in data.items():
        name = _find_field(cls, part, False) if isinstance(part, str) else None
        if name is None:
            _unknown(state, cls, prefix, part, layer, False)
            continue
        key = prefix + name
        kind = _KINDS[cls][name]
        if kind == "section":
            if not isinstance(raw, Mapping):
                state.problems.append(_type_problem(key, layer, "a table", _show(key, kind, raw)))
                continue
            _apply_mapping(state, _SECTION_TYPES[cls][name], raw, key + ".", layer,
                           values.setdefault(name, {}))
        elif kind == "mapping":
            if not isinstance(raw, Mapping):
                state.problems.append(_type_problem(key, layer, "a table", _show(key, kind, raw)))
                continue
            _merge_params(state, raw, [], layer)
        else:
            try:
                values[name] = _convert(kind, raw, from_env=False)
            except _Bad as e:
                state.problems.append(_type_problem(key, layer, e.expected, _show(key, kind, raw)))
                continue
            state.sources[key] = layer


def _apply_env(state: _State, var: str, path: list[str], raw: Any) -> None:
    layer = f"environment variable {safe_text(var, 80)}"
    cls: type = Config
    values = state.values
    prefix = ""
    if not isinstance(raw, str):
        state.problems.append(ConfigProblem(
            "", layer, f"{layer}: value must be a string, got {type(raw).__name__}"))
        return
    for i, part in enumerate(path):
        if not part:
            state.problems.append(ConfigProblem(
                prefix.rstrip("."), layer, f"malformed name {safe_text(var, 80)}: empty key "
                "(use one '__' between levels, e.g. FUGUE_BREAKER__FAILURE_THRESHOLD)"))
            return
        name = _find_field(cls, part, True)
        if name is None:
            _unknown(state, cls, prefix, part, layer, True)
            return
        key = prefix + name
        kind = _KINDS[cls][name]
        last = i == len(path) - 1
        if kind == "section":
            if last:
                state.problems.append(ConfigProblem(
                    key, layer, f"{key} is a section ({layer}); set its keys as "
                    f"{_env_name(key)}__<KEY>"))
                return
            cls = _SECTION_TYPES[cls][name]
            values = values.setdefault(name, {})
            prefix = key + "."
            continue
        if kind == "mapping":
            rest = path[i + 1:]
            if not rest or not all(rest):
                state.problems.append(ConfigProblem(
                    key, layer, f"{key} is a table ({layer}); set one entry as "
                    f"{_env_name(key)}__<NAME>"))
                return
            _set_param(state, rest, _param_from_env(raw), key + "." + ".".join(rest), layer)
            return
        if not last:
            state.problems.append(ConfigProblem(
                key, layer, f"{key} is not a section ({layer}); use {_env_name(key)}"))
            return
        try:
            values[name] = _convert(kind, raw, from_env=True)
        except _Bad as e:
            state.problems.append(_type_problem(key, layer, e.expected, _show(key, kind, raw)))
            return
        state.sources[key] = layer
        return


def _build(cls: type, values: Mapping, problems: list[ConfigProblem]):
    """Construct section ``cls`` from converted values; collect its ConfigErrors."""
    kwargs = {}
    failed = False
    for name, v in values.items():
        if _KINDS[cls][name] == "section":
            sub = _build(_SECTION_TYPES[cls][name], v, problems)
            if sub is None:
                failed = True
            kwargs[name] = sub
        elif _KINDS[cls][name] == "mapping":
            kwargs[name] = _freeze(v)
        else:
            kwargs[name] = v
    if failed:
        return None
    try:
        return cls(**kwargs)
    except ConfigError as e:
        problems.extend(e.problems)
        return None


def _choose_environment(argument: str | None, file_layer, env_items) -> tuple[str, str]:
    """(environment, the layer it came from) — argument > FUGUE_ENVIRONMENT > file > default."""
    check = _choice(ENVIRONMENTS, _norm_env)
    candidates = []
    if argument is not None:
        candidates.append((argument, "arguments"))
    for var, path, raw in env_items:
        if path == ["environment"]:
            candidates.append((raw, f"environment variable {var}"))
    if file_layer is not None and isinstance(file_layer[1].get("environment"), str):
        candidates.append((file_layer[1]["environment"], file_layer[0]))
    if not candidates:
        return "production", "defaults"
    value, layer = candidates[0]
    if not isinstance(value, str) or check(value) is not None:
        shown = safe_repr(value)
        _raise([_value_problem("environment", layer, shown, check(value) if isinstance(
            value, str) else "must be a string", ENVIRONMENTS, value)])
    return _norm_env(value), layer


def _load(file_layer: tuple[str, Mapping] | None, env_items, environment: str | None) -> Config:
    environment, env_layer = _choose_environment(environment, file_layer, env_items)
    state = _State()
    profile = f"profile {environment}"
    _apply_mapping(state, Config, PROFILES[environment], "", profile, state.values)
    if file_layer is not None:
        _apply_mapping(state, Config, file_layer[1], "", file_layer[0], state.values)
    for var, path, raw in env_items:
        _apply_env(state, var, path, raw)
    state.values["environment"] = environment
    state.sources["environment"] = env_layer
    # unknown keys and wrong types were skipped: build from the rest, so value errors
    # are reported in the same ConfigError
    problems: list[ConfigProblem] = state.problems
    token = _SOURCES.set(state.sources)
    try:
        sections = {}
        for name, kind in _KINDS[Config].items():
            if kind == "section":
                sub = _build(_SECTION_TYPES[Config][name], state.values.get(name, {}), problems)
                if sub is not None:
                    sections[name] = sub
        top = {k: v for k, v in state.values.items() if _KINDS[Config][k] != "section"}
        cfg = None
        try:  # a section that failed falls back to its defaults here: the top level is checked
            cfg = Config(**top, **sections)
        except ConfigError as e:
            problems.extend(e.problems)
    finally:
        _SOURCES.reset(token)
    if problems:
        _raise(problems)
    return cfg  # type: ignore[return-value]


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
                environment: str | None = None) -> Config:
    """Build the configuration from its layers.

    defaults < environment profile < TOML file (``path``) < ``FUGUE_*``
    variables of ``env`` (see the module notes for names and parsing).

    Parameters
    ----------
    path : str or os.PathLike, optional
        A TOML file. None: no file layer.
    env : mapping of str to str, optional
        The environment variables (default ``os.environ``); only names
        starting with ``FUGUE_`` are read.
    environment : str, optional
        The environment, overriding ``FUGUE_ENVIRONMENT`` and the file.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        The file is missing or not valid TOML; a key is unknown (with the
        closest valid key); a value has the wrong type or is invalid
        (naming the key, the layer and the value, masked if secret). Every
        problem found is listed (``problems``). On Python 3.10 reading a file
        needs the ``tomli`` package.

    Examples
    --------
    >>> cfg = load_config(env={"FUGUE_RUNTIME__POOL_MAX_SIZE": "128"}, environment="staging")
    >>> cfg.runtime.pool_max_size, cfg.log_level
    (128, 'INFO')
    >>> load_config(env={"FUGUE_BREAKER__FAILURE_TRESHOLD": "0.4"})
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.ConfigError: unknown key breaker.failure_treshold (environment variable FUGUE_BREAKER__FAILURE_TRESHOLD); did you mean FUGUE_BREAKER__FAILURE_THRESHOLD?
    """
    if env is None:
        env = os.environ
    file_layer = _read_toml(path) if path is not None else None
    return _load(file_layer, _env_items(env), environment)
