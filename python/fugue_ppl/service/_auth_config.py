"""The API keys' settings (``[auth]``): where keys come from besides
``[secrets] api_keys``, what each key may do, which actions need no key, and
who is served when no key is configured at all.

:mod:`fugue_ppl.config` composes them; :class:`~fugue_ppl.service.auth.Authenticator`
takes them (with the secrets) through ``Authenticator.from_config``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fugue_ppl.checks import (
    Choice,
    Custom,
    Duration,
    FrozenMapping,
    Settings,
    invalid,
    setting,
    settings,
    type_error,
)

__all__ = ["ACTIONS", "ANONYMOUS_MODES", "AuthConfig", "KEY_ID", "PUBLIC_ACTIONS"]

#: What a request does: run a model, read metadata, administer rollouts, read
#: health, read metrics.
ACTIONS = ("infer", "read", "admin", "health", "metrics")
#: The actions that may be public (``admin`` always needs a key).
PUBLIC_ACTIONS = ("health", "metrics", "read", "infer")
#: Who is served when no API key is configured (see :class:`AuthConfig`).
ANONYMOUS_MODES = ("local", "open", "refuse")
#: A key id: what logs and the audit log show in place of the key.
KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
#: The most model names one scope may list.
MAX_MODELS = 1000
_MODEL = re.compile(r"[^\s/]{1,200}")


def _strings(value: Any, name: str, owner: str) -> list[str]:
    if isinstance(value, str):          # (comma-separated, as from the environment)
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise type_error(owner, name, value, "a list of strings")
    return list(value)


def _actions(value: Any, name: str, owner: str, allowed: tuple[str, ...] = ACTIONS
             ) -> tuple[str, ...]:
    items = _strings(value, name, owner)
    for a in items:
        if a not in allowed:
            raise invalid(owner, name, value, "must hold actions among "
                          + ", ".join(repr(c) for c in allowed))
    return tuple(dict.fromkeys(items))


def _public(value: Any, name: str, owner: str) -> tuple[str, ...]:
    return _actions(value, name, owner, PUBLIC_ACTIONS)


def _models(value: Any, name: str, owner: str) -> tuple[str, ...]:
    items = _strings(value, name, owner)
    if len(items) > MAX_MODELS:
        raise invalid(owner, name, value, f"must hold at most {MAX_MODELS} model names")
    for m in items:
        if not _MODEL.fullmatch(m) or not m.isprintable():
            raise invalid(owner, name, value, "must hold model names (printable, without "
                          "spaces or '/', at most 200 characters) or '*'")
    return tuple(dict.fromkeys(items))


def _scopes(value: Any, name: str, owner: str) -> FrozenMapping:
    if not isinstance(value, Mapping):
        raise type_error(owner, name, value, "a table of key ids")
    out = {}
    for key_id, entry in value.items():
        if not isinstance(key_id, str) or not KEY_ID.fullmatch(key_id):
            raise invalid(owner, name, key_id, "must name key ids (letters, "
                          "digits, '.', '_', '-'; at most 64 characters)")
        where = f"{name}.{key_id}"
        if not isinstance(entry, Mapping):
            raise type_error(owner, where, entry, "a table with models and actions")
        unknown = [k for k in entry if k not in ("models", "actions")]
        if unknown:
            raise invalid(owner, where, unknown[0], "may hold only 'models' and 'actions'")
        if "models" not in entry or "actions" not in entry:
            raise invalid(owner, where, dict(entry), "must give both 'models' and 'actions'")
        out[key_id] = FrozenMapping({
            "models": _models(entry["models"], f"{where}.models", owner),
            "actions": _actions(entry["actions"], f"{where}.actions", owner)})
    return FrozenMapping(out)


def _file(value: Any, name: str, owner: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise type_error(owner, name, value, "a str")
    if not value.strip() or not value.isprintable() or len(value) > 4096:
        raise invalid(owner, name, value, "must be a printable path")
    return value


@settings
class AuthConfig(Settings):
    """API keys: their sources besides ``[secrets] api_keys``, their scopes, the
    public actions, and who is served when no key is configured.

    Keys come from ``secrets.api_keys`` (an entry ``"<id>:<key>"`` names its
    key; a bare key gets the id ``key-<n>``, its 1-based position) and from
    ``file``: a JSON or TOML file mapping key id to key, or a directory with
    one file per key (the file name is the id, as a Kubernetes Secret is
    mounted). The ids are what logs and the audit log show.

    Health and metrics are public by default: the kubelet's probes and
    Prometheus's scrapes come from inside the cluster without credentials,
    and neither endpoint shows a request's data (restrict the network path to
    them rather than handing keys to probes). Without any key, ``anonymous``
    decides: ``'local'`` serves loopback clients only (every action; a request
    carrying forwarding headers is not local), so a fresh ``fugue-ppl serve``
    works on its own machine and refuses the network; ``'open'`` serves every
    client every action (the development profile); ``'refuse'`` stops the
    service from starting (a deployment whose keys went missing fails loudly).

    Examples
    --------
    >>> cfg = AuthConfig(scopes={"ci": {"models": ["sensor"], "actions": ["infer"]}})
    >>> cfg.scopes["ci"]
    {'models': ('sensor',), 'actions': ('infer',)}
    >>> cfg.public_actions
    ('health', 'metrics')
    """

    file: str | None = setting(
        None, check=Custom(_file, "none, or a path"),
        doc="A JSON or TOML file of key id -> API key, or a directory holding one file per "
            "key (its name the id), e.g. a mounted Kubernetes Secret.")
    reload_seconds: float = setting(
        30.0, check=Duration(maximum=86_400.0, zero=True),
        doc="How often the keys file is checked for changes (0: read once, at start).")
    public_actions: tuple[str, ...] = setting(
        ("health", "metrics"), check=Custom(_public, "actions among 'health', 'metrics', "
                                                     "'read', 'infer'"),
        doc="Actions served without a key ('admin' never is).")
    default_models: tuple[str, ...] = setting(
        ("*",), check=Custom(_models, "model names, or '*' for every model"),
        doc="The models a key without an entry in scopes may use.")
    default_actions: tuple[str, ...] = setting(
        ("infer", "read", "health", "metrics"),
        check=Custom(_actions, "actions among " + ", ".join(repr(a) for a in ACTIONS)),
        doc="The actions a key without an entry in scopes may do.")
    scopes: Mapping[str, Any] = setting(
        check=Custom(_scopes, "a table of key id -> {models = [...], actions = [...]}"),
        factory=FrozenMapping,
        doc="Each key's scope by key id: the models (names, or '*') and actions it may use "
            "(an id set through the environment is lower-case).")
    anonymous: str = setting(
        "local", check=Choice(ANONYMOUS_MODES, str.lower),
        doc="Without any API key configured: 'local' (loopback clients only), 'open' "
            "(everyone) or 'refuse' (the service does not start).")
