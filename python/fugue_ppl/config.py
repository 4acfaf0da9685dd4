"""Configuration: every component's settings type, composed into one frozen
:class:`Config` and layered by :func:`load_config`::

    defaults  <  environment profile  <  TOML file  <  FUGUE_* environment variables

Each section is the settings type of its component, which owns its defaults
and limits; this module only composes and layers them. ``docs/configuration.md``
lists every key (:mod:`fugue_ppl.config_reference` writes it).

Examples
--------
>>> cfg = load_config(env={"FUGUE_ENVIRONMENT": "development",
...                        "FUGUE_BREAKER__FAILURE_THRESHOLD": "0.4",
...                        "FUGUE_SECRETS__API_KEYS": "k-123,k-456"})
>>> cfg.environment, cfg.log_level, cfg.breaker.failure_threshold
('development', 'DEBUG', 0.4)
>>> cfg.secrets.api_keys
(Secret('***'), Secret('***'))
>>> cfg.dump()["secrets"]
{'api_keys': ['***', '***'], 'database_url': None, 'audit_key': None}
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import json
import logging
import math
import os
import re
import sys
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from fugue_ppl.checks import (
    LOG_LEVELS,
    MASK,
    Choice,
    Custom,
    Secret,
    Settings,
    closest,
    declaration,
    invalid,
    is_secret_name,
    log_level_name,
    masked,
    safe_repr,
    safe_text,
    section,
    setting,
    settings,
    settings_defaults,
    thaw,
    type_error,
    validate_settings,
)
from fugue_ppl.deploy import RegistryConfig, RolloutConfig
from fugue_ppl.deploy.analysis import AnalysisConfig
from fugue_ppl.errors import ConfigError
from fugue_ppl.inference import InferenceConfig
from fugue_ppl.monitoring import CUSUMConfig, EWMAConfig, MetricsConfig
from fugue_ppl.service._audit_config import AuditConfig
from fugue_ppl.service._auth_config import AuthConfig
from fugue_ppl.service._ratelimit_config import RateLimitConfig
from fugue_ppl.service._service_config import ServiceConfig
from fugue_ppl.service._status_config import StatusPageConfig
from fugue_ppl.serving import BreakerConfig, ModelConfig, RuntimeConfig
from fugue_ppl.serving.drift import DriftSettings
from fugue_ppl.serving.health import HealthSettings
from fugue_ppl.serving.slo import SLOConfig

__all__ = [
    "ENVIRONMENTS",
    "ENV_PREFIX",
    "LOG_LEVELS",
    "PROFILES",
    "BreakerConfig",
    "CUSUMConfig",
    "Config",
    "ConfigProblem",
    "EWMAConfig",
    "HealthSettings",
    "MetricsConfig",
    "ModelConfig",
    "MonitorConfig",
    "RegistryConfig",
    "RateLimitConfig",
    "RolloutConfig",
    "AnalysisConfig",
    "AuditConfig",
    "AuthConfig",
    "RuntimeConfig",
    "SLOConfig",
    "Secret",
    "SecretsConfig",
    "ServiceConfig",
    "StatusPageConfig",
    "load_config",
]

#: The environments, each a profile of defaults.
ENVIRONMENTS = ("development", "staging", "production")
#: Prefix of the environment variables read by :func:`load_config`.
ENV_PREFIX = "FUGUE_"
#: Deepest nesting of tables and lists a layer may hold.
MAX_DEPTH = 32

# --------------------------------------------------------------------- config's own sections


def _api_keys(value: Any, name: str, owner: str) -> tuple[Secret, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not all(
            isinstance(k, (str, Secret)) for k in value):
        raise type_error(owner, name, value, "a list of strings")
    keys = tuple(Secret(k) for k in value)
    for k in keys:
        v = k.reveal()
        if not v or not v.isprintable() or any(c.isspace() for c in v):
            raise invalid(owner, name, value, "must hold non-empty, printable keys without "
                          "spaces", secret=True)
    if len(set(keys)) != len(keys):
        raise invalid(owner, name, value, "must hold distinct keys", secret=True)
    return keys


def _database_url(value: Any, name: str, owner: str) -> Secret | None:
    if value is None:
        return None
    if not isinstance(value, (str, Secret)):
        raise type_error(owner, name, value, "a str")
    url = Secret(value)
    if not url.reveal().strip():
        raise invalid(owner, name, value, "must not be empty", secret=True)
    return url


def _audit_key(value: Any, name: str, owner: str) -> Secret | None:
    if value is None:
        return None
    if not isinstance(value, (str, Secret)):
        raise type_error(owner, name, value, "a str")
    key = Secret(value)
    if not key.reveal():
        raise invalid(owner, name, value, "must not be empty", secret=True)
    return key


@settings
class SecretsConfig(Settings):
    """Secrets, held as :class:`Secret` values (never in a file :meth:`Config.to_toml` writes)."""

    api_keys: tuple[Secret, ...] = setting(
        (), check=Custom(_api_keys, "non-empty, printable, without spaces, distinct"),
        secret=True,
        doc="The API keys accepted, each '<id>:<key>' or a bare key (whose id is key-<n>, "
            "its position); a JSON list or comma-separated in the environment.")
    database_url: Secret | None = setting(
        None, check=Custom(_database_url, "non-empty"), secret=True,
        doc="A database connection URL.")
    audit_key: Secret | None = setting(
        None, check=Custom(_audit_key, "non-empty"), secret=True,
        doc="The audit log's HMAC key (its UTF-8 bytes); see audit.ephemeral_hmac.")


@settings
class MonitorConfig(Settings):
    """The statistical monitors' settings: ``[monitor.ewma]`` and ``[monitor.cusum]``."""

    ewma: EWMAConfig = section(EWMAConfig, doc="The EWMA chart.")
    cusum: CUSUMConfig = section(CUSUMConfig, doc="The CUSUM chart.")


def _environment(text: str) -> str:
    return text.strip().lower()


@settings
class Config(Settings):
    """The whole configuration: frozen; build it with :func:`load_config`.

    Every section is its component's settings type. Constructing ``Config(...)``
    checks each value (TypeError / InvalidArgument) but applies no profile;
    :func:`load_config` and :meth:`from_dict` layer the values and report every
    problem in one :class:`~fugue_ppl.errors.ConfigError`.

    Examples
    --------
    >>> cfg = Config()
    >>> cfg.environment, cfg.log_level, cfg.log_level_number
    ('production', 'WARNING', 30)
    >>> Config.from_dict({"breaker": {"failure_threshold": 0.3}}).breaker.failure_threshold
    0.3
    """

    environment: str = setting("production", check=Choice(ENVIRONMENTS, _environment),
                               doc="The environment, whose profile applies.")
    log_level: str = setting("WARNING", check=Choice(LOG_LEVELS, log_level_name),
                             doc="Level of the fugue_ppl loggers (see configure_logging).")
    model: ModelConfig = section(ModelConfig, doc="The model served.")
    runtime: RuntimeConfig = section(RuntimeConfig, doc="The runner's runtime limits.")
    breaker: BreakerConfig = section(BreakerConfig, doc="The circuit breaker.")
    monitor: MonitorConfig = section(MonitorConfig, doc="The statistical monitors.")
    metrics: MetricsConfig = section(MetricsConfig, doc="The production metrics.")
    inference: InferenceConfig = section(
        InferenceConfig, doc="Whether a served model answers with a posterior.")
    health: HealthSettings = section(HealthSettings, doc="The health checks.")
    drift: DriftSettings = section(DriftSettings,
                                   doc="Model drift monitoring of the served versions.")
    slo: SLOConfig = section(SLOConfig, doc="The service-level objectives.")
    registry: RegistryConfig = section(RegistryConfig,
                                       doc="The model registry and parameter store.")
    rollout: RolloutConfig = section(RolloutConfig, doc="Rollouts of model versions.")
    analysis: AnalysisConfig = section(AnalysisConfig,
                                       doc="The rollouts' sequential analysis.")
    service: ServiceConfig = section(ServiceConfig, doc="The HTTP service (fugue-ppl serve).")
    auth: AuthConfig = section(AuthConfig, doc="The service's API keys and their scopes.")
    rate_limit: RateLimitConfig = section(RateLimitConfig,
                                          doc="The service's rate limits per client.")
    audit: AuditConfig = section(AuditConfig, doc="The service's audit log.")
    status: StatusPageConfig = section(StatusPageConfig, doc="The service's status page.")
    secrets: SecretsConfig = section(SecretsConfig, doc="Secrets.")

    @property
    def log_level_number(self) -> int:
        """The numeric :mod:`logging` level of ``log_level``."""
        return logging.getLevelName(self.log_level)

    def configure_logging(self, logger: str = "fugue_ppl") -> logging.Logger:
        """Set the level of fugue-ppl's loggers to ``log_level``.

        Only the level of ``logger`` (the package's: the breaker, the runtime
        and the health checks log under it) changes; where records go stays
        the application's choice.

        Examples
        --------
        >>> load_config(environment="development").configure_logging().level
        10
        >>> _ = load_config(env={}).configure_logging()    # back to WARNING
        """
        log = logging.getLogger(logger)
        log.setLevel(self.log_level_number)
        return log

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, environment: str | None = None) -> Config:
        """Build a config from a nested mapping (the shape of the TOML file).

        Layers: defaults < the environment's profile < ``data`` (layer
        ``"mapping"``). The environment is ``environment``, else
        ``data["environment"]``, else ``"production"``.

        Raises
        ------
        ConfigError
            Unknown keys, wrong types, invalid values: every problem.

        Examples
        --------
        >>> Config.from_dict({"environment": "staging"}).log_level
        'INFO'
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"Config.from_dict: expected a mapping, got {type(data).__name__}",
                              layer="mapping")
        return _load(("mapping", data), (), environment)

    def dump(self) -> dict[str, Any]:
        """The config as nested plain values, every secret ``'***'``.

        Secrets, and the values of secret-looking keys at any depth of
        ``model.params``, are masked; tuples become lists.

        Examples
        --------
        >>> Config().dump()["breaker"]["failure_threshold"]
        0.5
        """
        return _dump(self)

    def to_toml(self) -> str:
        """The config as TOML text that :func:`load_config` reads back.

        The ``[secrets]`` section, and every secret-looking key at any depth
        of ``model.params`` (and of any table), are left out with a comment
        saying so; ``None`` values are left out (they are the defaults).

        Examples
        --------
        >>> print(Config().to_toml().splitlines()[0])
        environment = "production"
        """
        return _to_toml(self)


#: Environment profiles: what each environment changes (the defaults are production's).
PROFILES: dict[str, dict[str, Any]] = {
    "development": {
        "log_level": "DEBUG",
        "runtime": {"max_inference_time": 30.0},
        "metrics": {"enabled": False},
        "auth": {"anonymous": "open"},
    },
    "staging": {
        "log_level": "INFO",
        "runtime": {"max_inference_time": 5.0},
    },
    "production": {},
}


# --------------------------------------------------------------------- problems


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One configuration problem (see :attr:`~fugue_ppl.errors.ConfigError.problems`).

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


def _error(problems: list[ConfigProblem]) -> ConfigError:
    first = problems[0]
    if len(problems) == 1:
        message = first.message
    else:
        message = f"{len(problems)} configuration problems:\n" + "\n".join(
            f"  - {p.message}" for p in problems)
    return ConfigError(message, key=first.key, layer=first.layer, value=first.value,
                       suggestion=first.suggestion, problems=problems)


# --------------------------------------------------------------------- the fields


@dataclasses.dataclass(frozen=True)
class FieldKind:
    """A field of a settings type as the layering reads it (see :func:`field_kinds`).

    Attributes
    ----------
    name : str
    kind : str
        ``"section"`` (a settings type), ``"mapping"`` (a table merged key by
        key), ``"bool"``, ``"int"``, ``"float"``, ``"str"``, ``"strs"`` (a list
        of str), ``"secrets"`` (a list of secrets), ``"secret"`` or ``"any"``.
    optional : bool
        None is allowed.
    item : type
        A section's settings type; a mapping's value type.
    secret : bool
    check : Constraint
    """

    name: str
    kind: str
    optional: bool
    item: Any
    secret: bool
    check: Any


def field_kinds(cls: type) -> dict[str, FieldKind]:
    """The fields of the settings type ``cls``, by name, as the layering reads them."""
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
        found = {f.name: _field(f, hints[f.name]) for f in dataclasses.fields(cls)}
        _FIELDS[cls] = found
    return found


_FIELDS: dict[type, dict[str, FieldKind]] = {}


def _field(f: dataclasses.Field, tp: Any) -> FieldKind:
    d = declaration(f)
    optional = False
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        tp = args[0] if len(args) == 1 else Any
    origin = typing.get_origin(tp)
    if d["section"]:
        kind, item = "section", tp
    elif origin is collections.abc.Mapping:
        kind, item = "mapping", typing.get_args(tp)[1]
    elif origin is tuple and typing.get_args(tp)[0] is Secret:
        kind, item = "secrets", None
    elif origin is tuple and typing.get_args(tp)[0] is str:
        kind, item = "strs", None
    elif tp is Secret:
        kind, item = "secret", None
    elif tp in (bool, int, float, str):
        kind, item = tp.__name__, None
    else:
        kind, item = "any", None
    return FieldKind(f.name, kind, optional, item, d["secret"], d["check"])


# --------------------------------------------------------------------- text from the environment


class _Bad(Exception):
    """Internal: text that does not parse as the field's type (``expected`` says what does)."""

    def __init__(self, expected: str):
        self.expected = expected


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_INT_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT_TEXT = re.compile(
    r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|infinity|nan)",
    re.ASCII | re.IGNORECASE)


def _parse(kind: str, optional: bool, raw: str) -> Any:
    """An environment variable's text as a value of the field's type (raises _Bad)."""
    text = raw.strip()
    if optional and kind != "secret" and text.lower() in ("", "none", "null"):
        return None
    if kind == "bool":
        low = text.lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise _Bad("a bool (true/false, 1/0, yes/no, on/off)")
    if kind == "int":
        if _INT_TEXT.fullmatch(text) and len(text) <= 30:
            return int(text)
        raise _Bad("an integer")
    if kind == "float":
        if _FLOAT_TEXT.fullmatch(text) and len(text) <= 60:
            return float(text)
        raise _Bad("a real number" + (" or none" if optional else ""))
    if kind == "secret":
        return raw if text else None        # an empty variable unsets it
    if kind in ("secrets", "strs"):
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                items = None
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise _Bad("a JSON list of strings or a comma-separated list")
            return items
        return [i.strip() for i in text.split(",") if i.strip()]
    if kind == "any":           # a free parameter: JSON when it parses, else the text
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return raw
    return raw


# --------------------------------------------------------------------- layering


class _State:
    """The merged raw values (nested dicts), the layer of each key, the problems."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.problems: list[ConfigProblem] = []

    def layer(self, key: str) -> str:
        return self.sources.get(key, "defaults")


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _env_name(key: str) -> str:
    return ENV_PREFIX + key.upper().replace(".", "__")


def _leaf_keys(cls: type, prefix: str = "") -> list[str]:
    out = []
    for f in field_kinds(cls).values():
        key = _key(prefix, f.name)
        out.extend(_leaf_keys(f.item, key) if f.kind == "section" else [key])
    return out


def _show(key: str, value: Any, secret: bool = False) -> str:
    """A value as an error shows it: masked when secret, secret-looking keys masked inside."""
    last = key.rsplit(".", 1)[-1]
    secret = secret or isinstance(value, Secret) or is_secret_name(last)
    return safe_repr(masked(value), secret=secret)


def _depth(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests tables and lists deeper than ``limit`` (without recursion)."""
    stack = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, Mapping):
            items = v.values()
        elif isinstance(v, (list, tuple)):
            items = v
        else:
            continue
        if d >= limit:
            return True
        stack.extend((x, d + 1) for x in items)
    return False


def _unknown(state: _State, cls: type, prefix: str, part: Any, layer: str,
             from_env: bool) -> None:
    shown = safe_text(part, 60) if isinstance(part, str) else safe_repr(part)
    key = _key(prefix, shown)
    names = list(field_kinds(cls))
    if from_env:
        # the whole variable name, so FUGUE_BREAKER_FAILURE_THRESHOLD (one
        # underscore) finds FUGUE_BREAKER__FAILURE_THRESHOLD
        suggestion = closest(_env_name(key), [_env_name(k) for k in _leaf_keys(Config)], 0.75)
    else:
        near = closest(part, names)
        suggestion = _key(prefix, near) if near else None
    text = f"unknown key {key} ({layer})"
    if suggestion:
        text += f"; did you mean {suggestion}?"
    elif not from_env:
        text += f"; valid keys here: {', '.join(names)}"
    state.problems.append(ConfigProblem(key, layer, text, None, suggestion))


def _merge(node: dict, path: list[str], value: Any) -> None:
    """Set ``path`` in the nested dict ``node``, tables merged key by key."""
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = thaw(child) if isinstance(child, Mapping) else {}
            node[part] = child
        node = child
    node[path[-1]] = value


def _apply_table(state: _State, f: FieldKind, values: dict, data: Mapping, key: str,
                 layer: str, path: list[str]) -> None:
    """Merge one layer's table into a mapping field (``model.params``), key by key."""
    for k, v in data.items():
        if not isinstance(k, str):
            state.problems.append(ConfigProblem(
                key, layer, f"{key}: keys must be strings, got {safe_repr(k)} ({layer})",
                safe_repr(k)))
            continue
        sub = path + [k]
        if isinstance(v, Mapping) and v:
            _apply_table(state, f, values, v, key, layer, sub)
        else:
            _merge(values.setdefault(f.name, {}), sub, v)
            state.sources[_key(key, ".".join(sub))] = layer
            state.sources.setdefault(key, layer)


def _apply_mapping(state: _State, cls: type, data: Mapping, prefix: str, layer: str,
                   values: dict) -> None:
    """Apply a nested mapping layer (profile, file, from_dict) to the section ``cls``."""
    fields = field_kinds(cls)
    for part, raw in data.items():
        f = fields.get(part) if isinstance(part, str) else None
        if f is None:
            _unknown(state, cls, prefix, part, layer, False)
            continue
        key = _key(prefix, f.name)
        if f.kind in ("section", "mapping"):
            if not isinstance(raw, Mapping):
                state.problems.append(ConfigProblem(
                    key, layer, f"{key}: expected a table, got {_show(key, raw)} ({layer})",
                    _show(key, raw)))
                continue
            if f.kind == "section":
                _apply_mapping(state, f.item, raw, key, layer, values.setdefault(f.name, {}))
            else:
                _apply_table(state, f, values, raw, key, layer, [])
            continue
        if not _wrong_type(state, cls, prefix, f, raw, key, layer):
            values[f.name] = raw
            state.sources[key] = layer


def _wrong_type(state: _State, cls: type, prefix: str, f: FieldKind, raw: Any, key: str,
                layer: str) -> bool:
    """Records a value of the wrong type for its field (kept out of the layering)."""
    try:
        cls.check_field(f.name, raw)
    except TypeError as e:
        e.field = f.name
        saved = state.sources.get(key)
        state.sources[key] = layer
        state.problems.append(_problem(state, cls, prefix, {f.name: raw}, e))
        if saved is None:
            del state.sources[key]
        else:
            state.sources[key] = saved
        return True
    except ValueError:          # a bad value: reported with the relations, once layered
        pass
    return False


def _apply_env(state: _State, var: str, path: list[str], raw: Any) -> None:
    layer = f"environment variable {safe_text(var, 80)}"
    if not isinstance(raw, str):
        state.problems.append(ConfigProblem(
            "", layer, f"{layer}: value must be a string, got {type(raw).__name__}"))
        return
    cls: type = Config
    values = state.values
    prefix = ""
    for i, part in enumerate(path):
        if not part:
            state.problems.append(ConfigProblem(
                prefix, layer, f"malformed name {safe_text(var, 80)}: empty key (use one '__' "
                "between levels, e.g. FUGUE_BREAKER__FAILURE_THRESHOLD)"))
            return
        fields = field_kinds(cls)
        f = fields.get(part) or next((g for n, g in fields.items() if n.lower() == part), None)
        if f is None:
            _unknown(state, cls, prefix, part, layer, True)
            return
        key = _key(prefix, f.name)
        last = i == len(path) - 1
        if f.kind == "section":
            if last:
                state.problems.append(ConfigProblem(
                    key, layer, f"{key} is a section ({layer}); set its keys as "
                    f"{_env_name(key)}__<KEY>"))
                return
            cls, values, prefix = f.item, values.setdefault(f.name, {}), key
            continue
        if f.kind == "mapping":
            rest = path[i + 1:]
            if not rest or not all(rest):
                state.problems.append(ConfigProblem(
                    key, layer, f"{key} is a table ({layer}); set one entry as "
                    f"{_env_name(key)}__<NAME>"))
                return
            item = "any" if f.item is Any else getattr(f.item, "__name__", "any")
            sub = _key(key, ".".join(rest))
            try:
                value = _parse(item, False, raw)
            except _Bad as e:
                state.problems.append(ConfigProblem(
                    sub, layer, f"{sub}: expected {e.expected}, got {_show(sub, raw)} ({layer})",
                    _show(sub, raw)))
                return
            _merge(values.setdefault(f.name, {}), rest, value)
            state.sources[sub] = layer
            state.sources.setdefault(key, layer)
            return
        if not last:
            state.problems.append(ConfigProblem(
                key, layer, f"{key} is not a section ({layer}); use {_env_name(key)}"))
            return
        try:
            value = _parse(f.kind, f.optional, raw)
        except _Bad as e:
            shown = _show(key, raw, f.secret)
            state.problems.append(ConfigProblem(
                key, layer, f"{key}: expected {e.expected}, got {shown} ({layer})", shown))
            return
        if not _wrong_type(state, cls, prefix, f, value, key, layer):
            values[f.name] = value
            state.sources[key] = layer
        return


# --------------------------------------------------------------------- building


def _problem(state: _State, cls: type, prefix: str, values: dict, e: Exception) -> ConfigProblem:
    """A settings type's TypeError / InvalidArgument as a problem naming key and layer."""
    fields = field_kinds(cls)
    name = getattr(e, "field", None) or getattr(e, "parameter", None) or ""
    f = fields.get(name)
    key = _key(prefix, name)
    layer = state.layer(key)
    secret = f is not None and f.secret
    shown = _show(key, values.get(name), secret)
    if isinstance(e, TypeError):
        expected = getattr(e, "expected", None)
        parameter = getattr(e, "parameter", name)
        if expected is not None and parameter != name:      # a part of the value: no value
            label = _key(prefix, parameter)
            return ConfigProblem(key, layer, f"{label}: expected {expected} ({layer})")
        if expected is not None:
            text = f"{key}: expected {expected}, got {shown} ({layer})"
        else:
            owner = getattr(e, "owner", None) or cls.__name__
            detail = str(e).removeprefix(f"{owner}: ")
            text = f"{key}: {detail}, got {shown} ({layer})"
        return ConfigProblem(key, layer, text, shown)
    shown = e.shown                                     # (masked by the check when secret)
    others = getattr(e, "others", ())
    if others:
        parts = [f"{key} = {shown} ({layer})"]
        for other in others:
            okey = _key(prefix, other)
            of = fields.get(other)
            parts.append(f"{okey} = {_show(okey, values.get(other), of is not None and of.secret)}"
                         f" ({state.layer(okey)})")
        return ConfigProblem(key, layer, f"{' and '.join(parts)}: {name} {e.relation}", shown)
    label = _key(prefix, e.parameter) if e.parameter.startswith(name) else key
    text = f"{label} = {shown} ({layer}): {e.rule}"
    suggestion = None
    check = f.check if f is not None else None
    raw = values.get(name)
    if isinstance(check, Choice) and isinstance(raw, str):
        near = closest(raw.strip().lower(), [c.lower() for c in check.choices])
        if near is not None:
            suggestion = next(c for c in check.choices if c.lower() == near)
            text += f"; did you mean {suggestion!r}?"
    return ConfigProblem(key, layer, text, shown, suggestion)


def _build(state: _State, cls: type, given: Mapping, prefix: str) -> Any:
    """The section ``cls`` from the layered values; None (problems recorded) when invalid."""
    values = settings_defaults(cls)
    failed = False
    for name, raw in given.items():
        f = field_kinds(cls)[name]
        if f.kind == "section":
            sub = _build(state, f.item, raw, _key(prefix, name))
            failed = failed or sub is None
            # (a section that failed stands in with its defaults: the rest is still checked)
            values[name] = f.item() if sub is None else sub
        elif f.kind == "mapping" and name in values and isinstance(raw, Mapping):
            merged = thaw(values[name])
            for k, v in raw.items():
                _merge(merged, [k], v)
            values[name] = merged
        else:
            values[name] = raw
    for name, v in values.items():
        if field_kinds(cls)[name].kind == "mapping" and _depth(v):
            key = _key(prefix, name)
            state.problems.append(ConfigProblem(
                key, state.layer(key), f"{key}: nested deeper than {MAX_DEPTH} tables or "
                f"lists ({state.layer(key)})"))
            return None
    out, problems = validate_settings(cls, values)
    if problems:
        state.problems.extend(_problem(state, cls, prefix, values, e) for e in problems)
        return None
    return None if failed else cls(**out)


def _choose_environment(argument: Any, file_layer: tuple[str, Mapping] | None,
                        env_items: Iterable[tuple[str, list[str], Any]]) -> tuple[str, str]:
    """(environment, its layer): the argument > FUGUE_ENVIRONMENT > the file > production."""
    candidates = []
    if argument is not None:
        candidates.append((argument, "arguments"))
    for var, path, raw in env_items:
        if path == ["environment"]:
            candidates.append((raw, f"environment variable {var}"))
    if file_layer is not None and "environment" in file_layer[1]:
        candidates.append((file_layer[1]["environment"], file_layer[0]))
    if not candidates:
        return Config.default("environment"), "defaults"
    value, layer = candidates[0]
    state = _State()
    state.sources["environment"] = layer
    try:
        return Config.check_field("environment", value), layer
    except (TypeError, ValueError) as e:
        e.field = "environment"
        problem = _problem(state, Config, "", {"environment": value}, e)
    raise _error([problem])


def _env_items(env: Mapping[str, str]) -> list[tuple[str, list[str], Any]]:
    """The ``FUGUE_*`` variables as (variable name, lower-cased path, raw value)."""
    out = []
    for name in sorted(k for k in env if isinstance(k, str) and k.startswith(ENV_PREFIX)):
        out.append((name, name[len(ENV_PREFIX):].lower().split("__"), env[name]))
    return out


def _load(file_layer: tuple[str, Mapping] | None, env_items, environment: Any) -> Config:
    environment, env_layer = _choose_environment(environment, file_layer, env_items)
    state = _State()
    _apply_mapping(state, Config, PROFILES[environment], "", f"profile {environment}",
                   state.values)
    if file_layer is not None:
        if _depth(file_layer[1]):
            raise _error([ConfigProblem("", file_layer[0], f"{file_layer[0]}: nested deeper "
                                        f"than {MAX_DEPTH} tables or lists")])
        _apply_mapping(state, Config, file_layer[1], "", file_layer[0], state.values)
    for var, path, raw in env_items:
        _apply_env(state, var, path, raw)
    state.values["environment"] = environment
    state.sources["environment"] = env_layer
    cfg = _build(state, Config, state.values, "")
    if state.problems:
        raise _error(state.problems)
    return cfg


def _read_toml(path: str | os.PathLike) -> tuple[str, dict]:
    """The file's layer name and parsed content (raises ConfigError)."""
    layer = f"file {safe_text(os.fspath(path), 200)}"
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
    except UnicodeDecodeError as e:
        problem = f"{layer}: is not UTF-8 text (byte {e.start} of the file)"
    except RecursionError:
        problem = f"{layer}: invalid TOML: tables or lists nested too deeply"
    except tomllib.TOMLDecodeError as e:
        problem = f"{layer}: invalid TOML: {safe_text(e, 200)}"
    if problem is not None:   # (raised outside the handler: nothing of the file in context)
        raise ConfigError(problem, layer=layer)
    return layer, data


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
                environment: str | None = None) -> Config:
    """Build the configuration from its layers.

    defaults < environment profile < TOML file (``path``) < the ``FUGUE_*``
    variables of ``env``. A variable is ``FUGUE_<SECTION>__<KEY>`` (``__``
    between levels, case-insensitive below the prefix); its text is parsed
    by the field's type (booleans from true/false, 1/0, yes/no, on/off;
    ``""``, ``none`` or ``null`` for an optional value; a list as JSON or
    comma-separated; a model parameter as JSON when it parses).

    Parameters
    ----------
    path : str or os.PathLike, optional
        A TOML file (sections ``[model]``, ``[runtime]``, ``[breaker]``, ...).
    env : mapping of str to str, optional
        The environment variables (``os.environ`` when None).
    environment : str, optional
        The environment, overriding ``FUGUE_ENVIRONMENT`` and the file.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        The file cannot be read or is not valid TOML; a key is unknown (with
        the closest valid key); a value has the wrong type or is invalid
        (naming the key, the layer and the value, masked if secret). Every
        problem found is listed (``problems``).

    Examples
    --------
    >>> cfg = load_config(env={"FUGUE_RUNTIME__POOL_MAX_SIZE": "128"}, environment="staging")
    >>> cfg.runtime.pool_max_size, cfg.log_level
    (128, 'INFO')
    >>> load_config(env={"FUGUE_BREAKER__FAILURE_TRESHOLD": "0.4"})
    Traceback (most recent call last):
    ...
    fugue_ppl.errors.ConfigError: unknown key breaker.failure_treshold (...); did you mean ...?
    """
    if env is None:
        env = os.environ
    file_layer = _read_toml(path) if path is not None else None
    return _load(file_layer, _env_items(env), environment)


# --------------------------------------------------------------------- dump / TOML


def _dump(obj: Any) -> Any:
    if isinstance(obj, Settings):
        out = {}
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            out[f.name] = MASK if declaration(f)["secret"] and v is not None and not isinstance(
                v, tuple) else _dump(v)
        return out
    if isinstance(obj, Mapping):
        return thaw(obj, mask=True)
    if isinstance(obj, tuple):
        return [_dump(v) for v in obj]
    if isinstance(obj, Secret):
        return MASK
    return obj


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _toml_value(v: Any, path: str, omitted: list[str]) -> str:
    """``v`` as a TOML value; secret-looking keys of inline tables left out (into ``omitted``)."""
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
        return "[" + ", ".join(_toml_value(x, f"{path}[{i}]", omitted)
                               for i, x in enumerate(v)) + "]"
    if isinstance(v, Mapping):
        kept = []
        for k, x in v.items():
            if is_secret_name(k):
                omitted.append(f"{path}.{k}")
            else:
                kept.append(f"{_toml_key(k)} = {_toml_value(x, f'{path}.{k}', omitted)}")
        return "{" + ", ".join(kept) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_table(lines: list[str], header: str, items: Iterable[tuple[str, Any]],
                path: str) -> None:
    """A table's scalar lines, then its sub-tables; secret-looking keys left out."""
    scalars, subs = [], []
    for k, v in items:
        if is_secret_name(k):
            scalars.append(f"# {_toml_key(k)} omitted (a secret-looking name)")
        elif isinstance(v, Mapping):
            subs.append((k, v))
        elif v is not None:
            omitted: list[str] = []
            text = f"{_toml_key(k)} = {_toml_value(v, k, omitted)}"
            scalars.extend(f"# {p} omitted (a secret-looking name)" for p in omitted)
            scalars.append(text)
    if header:
        lines.append("")
        lines.append(f"[{header}]")
    lines.extend(scalars)
    for k, v in subs:
        sub = f"{header}.{_toml_key(k)}" if header else _toml_key(k)
        _toml_table(lines, sub, v.items(), f"{path}.{k}")


def _to_toml(cfg: Config) -> str:
    lines: list[str] = []

    def section_items(obj: Settings, header: str) -> None:
        secret = [f.name for f in dataclasses.fields(obj) if declaration(f)["secret"]]
        scalars = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)
                   if not isinstance(getattr(obj, f.name), Settings) and f.name not in secret]
        _toml_table(lines, header, scalars, header)
        lines.extend(f"# {name} omitted (a secret): set it in the environment "
                     f"({_env_name(f'{header}.{name}' if header else name)})"
                     for name in secret)
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if isinstance(v, SecretsConfig):
                lines.append("")
                lines.append("# [secrets] omitted: set them in the environment ("
                             + ", ".join(_env_name(f"secrets.{n}") for n in field_kinds(
                                 SecretsConfig)) + ")")
            elif isinstance(v, Settings):
                section_items(v, f"{header}.{f.name}" if header else f.name)

    section_items(cfg, "")
    return "\n".join(lines) + "\n"
