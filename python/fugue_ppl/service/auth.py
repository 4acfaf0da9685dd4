"""API keys: who a request comes from (:class:`Principal`) and whether it may do
what it asks (:class:`Authenticator`).

A key is looked up by a keyed hash: each configured key is stored as its
keyed BLAKE2b digest (a MAC) under a random per-process key, and a presented
key is hashed the same way and found by that digest. The time a lookup takes depends on the
digest alone, which an attacker cannot steer without the process's key, so no
early exit tells which prefix of a key matched; the keys themselves are kept
nowhere but in the digests. Only key ids ever reach logs, errors and the audit
log.

Over HTTP, a missing, malformed or unknown key is 401 with a
``WWW-Authenticate: Bearer`` challenge (RFC 6750); a valid key whose scope
excludes the action or the model is 403.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from fugue_ppl._extras import require
from fugue_ppl.checks import Secret, safe_repr, safe_text
from fugue_ppl.errors import ConfigError, InvalidArgument
from fugue_ppl.service._auth_config import ACTIONS, KEY_ID, AuthConfig

__all__ = ["MAX_KEY_LENGTH", "REALM", "Authenticator", "Principal", "parse_key_entry"]

HTTPException = require("serve", "starlette.exceptions", feature="fugue-ppl serve").HTTPException

log = logging.getLogger("fugue_ppl.service.auth")

#: The realm of the ``WWW-Authenticate`` challenge.
REALM = "fugue-ppl"
#: The longest API key accepted (longer ones are refused unhashed).
MAX_KEY_LENGTH = 1024
#: Keys shorter than this are accepted with a warning.
WEAK_KEY_LENGTH = 16
#: The most keys a keys file may hold.
MAX_FILE_KEYS = 10_000
#: The largest keys file read.
MAX_FILE_BYTES = 4 * 2**20

_CHALLENGE = f'Bearer realm="{REALM}"'
_REQUIRED = "an API key is required: send it as 'Authorization: Bearer <key>'"
_NEVER = float("inf")
_ALL = frozenset(ACTIONS)
_FORWARDING = ("x-forwarded-for", "forwarded", "x-real-ip")


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from and what it may do.

    Attributes
    ----------
    key_id : str or None
        The API key's id; None for an anonymous request (a public action, or
        a service without keys).
    actions : frozenset of str
        The actions allowed.
    models : frozenset of str or None
        The models allowed; None for every model.

    Examples
    --------
    >>> p = Principal("ci", frozenset({"infer"}), frozenset({"sensor"}))
    >>> p.allows("infer", "sensor"), p.allows("infer", "other"), p.allows("admin", None)
    (True, False, False)
    """

    key_id: str | None
    actions: frozenset[str]
    models: frozenset[str] | None = None

    @property
    def anonymous(self) -> bool:
        """Whether no key authenticated the request."""
        return self.key_id is None

    def allows(self, action: str, model: str | None = None) -> bool:
        """Whether ``action`` on ``model`` (None: an action without a model) is allowed."""
        if action not in self.actions:
            return False
        return model is None or self.models is None or model in self.models


def parse_key_entry(entry: Secret | str, position: int) -> tuple[str, Secret]:
    """(key id, key) of one ``secrets.api_keys`` entry.

    ``"<id>:<key>"``, where ``<id>`` is a valid key id (letters, digits,
    ``.``, ``_``, ``-``; at most 64 characters) and ``<key>`` non-empty, names
    its key; any other entry is a bare key, whose id is ``key-<position>``.

    Examples
    --------
    >>> parse_key_entry("ci:s3cr3t-t0ken", 1)
    ('ci', Secret('***'))
    >>> parse_key_entry("s3cr3t-t0ken", 2)[0]
    'key-2'
    """
    text = entry.reveal() if isinstance(entry, Secret) else entry
    key_id, sep, key = text.partition(":")
    if sep and key and KEY_ID.fullmatch(key_id):
        return key_id, Secret(key)
    return f"key-{position}", Secret(text)


def _check_key(key_id: str, key: Secret, where: str) -> None:
    text = key.reveal()
    if not text or len(text) > MAX_KEY_LENGTH or not text.isprintable() or any(
            c.isspace() for c in text):
        raise ConfigError(f"{where}: the key of id {key_id} must be 1 to {MAX_KEY_LENGTH} "
                          f"printable characters without spaces", key=where, value="***")


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by its lower-case name (a plain dict is searched case-insensitively)."""
    value = headers.get(name)
    if value is None and isinstance(headers, dict):
        for k, v in headers.items():
            if isinstance(k, str) and k.lower() == name:
                return v
    return value


def _credentials(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(Authorization, X-API-Key): one pass over Starlette's raw headers, else two lookups."""
    raw = getattr(headers, "raw", None)
    if type(raw) is not list:
        return _header(headers, "authorization"), _header(headers, "x-api-key")
    auth = api = None
    for name, value in raw:
        if name == b"authorization":
            if auth is None:
                auth = value.decode("latin-1")
        elif name == b"x-api-key" and api is None:
            api = value.decode("latin-1")
    return auth, api


# ---------------------------------------------------------------- the keys file


def _file_signature(path: str) -> tuple:
    """What changes when the file, or any file of the directory, is replaced."""
    st = os.stat(path)
    if not os.path.isdir(path):
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    parts = [(st.st_ino, st.st_mtime_ns)]
    with os.scandir(path) as it:
        for e in it:
            if not e.name.startswith("."):
                s = os.stat(e.path)
                parts.append((e.name, s.st_ino, s.st_mtime_ns, s.st_size))
    return tuple(sorted(parts, key=repr))


def _read_text(path: str, where: str) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        problem = "no such file"
    except PermissionError:
        problem = "permission denied"
    except IsADirectoryError:
        problem = "is a directory"
    except OSError as e:
        problem = f"cannot be read ({safe_text(e.strerror or type(e).__name__, 80)})"
    else:
        if len(data) > MAX_FILE_BYTES:
            problem = f"is larger than {MAX_FILE_BYTES} bytes"
        else:
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError as e:
                problem = f"is not UTF-8 text (byte {e.start})"
    raise ConfigError(f"{where}: {safe_text(path, 200)} {problem}", key=where)


def read_keys_file(path: str, where: str = "auth.file") -> dict[str, Secret]:
    """The keys of a keys file: key id -> key.

    A directory holds one file per key, named by its id (names starting with
    ``.`` are skipped: Kubernetes keeps its bookkeeping there); a file is a
    JSON object or a TOML table of id -> key. Surrounding whitespace of a key
    is dropped.

    Raises
    ------
    ConfigError
        The file cannot be read or parsed, an id or a key is invalid, or two
        ids hold the same key. The message names ids and never shows a key
        or the file's content.
    """
    out: dict[str, Secret] = {}
    is_dir = os.path.isdir(path)
    if is_dir:
        try:
            names = sorted(e.name for e in os.scandir(path)
                           if not e.name.startswith(".") and e.is_file())
        except OSError as e:
            raise ConfigError(f"{where}: {safe_text(path, 200)} cannot be listed "
                              f"({safe_text(e.strerror or type(e).__name__, 80)})",
                              key=where) from None
        if len(names) > MAX_FILE_KEYS:
            raise ConfigError(f"{where}: more than {MAX_FILE_KEYS} keys", key=where)
        raw = {n: _read_text(os.path.join(path, n), where) for n in names}
    else:
        text = _read_text(path, where)
        raw = _parse_keys(text, path, where)
    # A malformed file may hold a key where an id belongs (a TOML table named by
    # a key, a mapping written backwards): its entries are named by their
    # position until they are known to be well formed (a file of a directory by
    # its name, which is an id by construction).
    for n, (key_id, value) in enumerate(raw.items(), 1):
        entry = safe_repr(key_id) if is_dir else f"entry {n}"
        if not isinstance(key_id, str) or not KEY_ID.fullmatch(key_id):
            raise ConfigError(f"{where}: {entry}: not a valid key id (letters, digits, '.', "
                              f"'_', '-'; at most 64 characters)", key=where)
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {entry}: must map a key id to a key (a string), got "
                              f"{'a table' if isinstance(value, dict) else type(value).__name__}",
                              key=where)
        key = Secret(value.strip())
        _check_key(key_id, key, where)
        out[key_id] = key
    return out


def _parse_keys(text: str, path: str, where: str) -> dict:
    shown = safe_text(path, 200)
    problem = None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:       # (its message quotes no content)
            problem = f"is not valid JSON (line {e.lineno}, column {e.colno})"
        except RecursionError:
            problem = "is not valid JSON (nested too deeply)"
    else:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError):
            problem = "is neither a JSON object nor valid TOML"
    if problem is None and not isinstance(data, dict):
        problem = "must hold an object of key id -> key"
    if problem is None and len(data) > MAX_FILE_KEYS:
        problem = f"holds more than {MAX_FILE_KEYS} keys"
    if problem is not None:
        raise ConfigError(f"{where}: {shown} {problem}", key=where)
    return data


# ---------------------------------------------------------------- the authenticator


class Authenticator:
    """Checks a request's API key and its scope.

    Parameters
    ----------
    keys : mapping of str to Secret or str, optional
        API keys by id (``secrets.api_keys``, already split into ids by
        :func:`parse_key_entry`).
    settings : AuthConfig, optional
        Scopes, the public actions, the keys file, and who is served without
        keys (see :class:`~fugue_ppl.service._auth_config.AuthConfig`).
    clock : callable, optional
        Monotonic seconds, for the keys file's reload interval.

    Raises
    ------
    ConfigError
        A key or the keys file is invalid, two ids share a key or an id is
        used twice, a scope names no configured key, or no key is configured
        and ``settings.anonymous`` is ``'refuse'``.

    Examples
    --------
    >>> auth = Authenticator({"ci": "k-0123456789abcdef"}, settings=AuthConfig(
    ...     scopes={"ci": {"models": ["sensor"], "actions": ["infer"]}}))
    >>> auth.authenticate({"Authorization": "Bearer k-0123456789abcdef"}, "infer", "sensor")
    Principal(key_id='ci', actions=frozenset({'infer'}), models=frozenset({'sensor'}))
    >>> auth.authenticate({}, "health", None).anonymous
    True
    """

    def __init__(self, keys: Mapping[str, Secret | str] | None = None, *,
                 settings: AuthConfig | None = None,
                 clock: Callable[[], float] = time.monotonic):
        if settings is None:
            settings = AuthConfig()
        if not isinstance(settings, AuthConfig):
            raise TypeError(f"Authenticator: settings must be an AuthConfig, got "
                            f"{type(settings).__name__}")
        if not callable(clock):
            raise TypeError(f"Authenticator: clock must be callable, got {type(clock).__name__}")
        self._settings = settings
        self._clock = clock
        self._hash_key = os.urandom(32)
        given: dict[str, Secret] = {}
        for key_id, key in (keys or {}).items():
            if not isinstance(key_id, str) or not KEY_ID.fullmatch(key_id):
                raise ConfigError(f"secrets.api_keys: {safe_repr(key_id)} is not a valid key "
                                  f"id (letters, digits, '.', '_', '-'; at most 64 characters)",
                                  key="secrets.api_keys")
            if not isinstance(key, (str, Secret)):
                raise TypeError(f"Authenticator: the key of id {key_id} must be a str or a "
                                f"Secret, got {type(key).__name__}")
            secret = Secret(key)
            _check_key(key_id, secret, "secrets.api_keys")
            given[key_id] = secret
        self._fixed = self._digests(given)
        self._public = frozenset(settings.public_actions)
        self._anonymous_public = Principal(None, self._public, None)
        self._anonymous_all = Principal(None, _ALL, None)
        self._reload_lock = threading.Lock()
        self._file_signature: tuple | None = None
        self._next_check = (self._clock() + settings.reload_seconds
                            if settings.file is not None and settings.reload_seconds > 0
                            else _NEVER)
        file_keys = {}
        if settings.file is not None:
            self._file_signature = self._signature()
            file_keys = self._digests(read_keys_file(settings.file))
        self._table: dict[bytes, Principal] = self._build(file_keys)
        unknown = sorted(set(settings.scopes) - set(self._fixed) - set(file_keys))
        if unknown:
            raise ConfigError(f"auth.scopes.{unknown[0]}: no API key has the id {unknown[0]} "
                              f"(configured ids: {', '.join(self.key_ids) or 'none'})",
                              key=f"auth.scopes.{unknown[0]}")
        self._keyless = not self._table
        if self._keyless:
            if settings.anonymous == "refuse":
                raise ConfigError("no API key is configured (secrets.api_keys, auth.file) and "
                                  "auth.anonymous is 'refuse'", key="auth.anonymous")
            log.warning("no API key is configured: %s", {
                "open": "every client may do everything (auth.anonymous = 'open')",
                "local": "only local clients are served (auth.anonymous = 'local')",
            }[settings.anonymous])

    # ------------------------------------------------------------ building

    @classmethod
    def from_config(cls, config: Any) -> Authenticator:
        """The authenticator of a :class:`fugue_ppl.config.Config`: ``secrets.api_keys`` and
        ``[auth]``."""
        keys: dict[str, Secret] = {}
        for i, entry in enumerate(config.secrets.api_keys, 1):
            key_id, key = parse_key_entry(entry, i)
            if key_id in keys:
                raise ConfigError(f"secrets.api_keys: the key id {key_id} is used twice",
                                  key="secrets.api_keys")
            keys[key_id] = key
        return cls(keys, settings=config.auth)

    def _signature(self) -> tuple | None:
        try:
            return _file_signature(self._settings.file)
        except OSError:
            return None

    def _digests(self, keys: Mapping[str, Secret]) -> dict[str, bytes]:
        """Key id -> digest (warning about short keys); the keys themselves are not kept."""
        out = {}
        for key_id, key in keys.items():
            text = key.reveal()
            if len(text) < WEAK_KEY_LENGTH:
                log.warning("the API key of id %s is shorter than %d characters: easy to guess",
                            key_id, WEAK_KEY_LENGTH)
            out[key_id] = self._digest(text)
        return out

    def _build(self, file_keys: Mapping[str, bytes]) -> dict[bytes, Principal]:
        """The lookup table (digest -> principal) of the fixed keys and the file's."""
        s = self._settings
        clash = sorted(set(self._fixed) & set(file_keys))
        if clash:
            raise ConfigError(f"auth.file: the key id {clash[0]} is also in secrets.api_keys",
                              key="auth.file")
        table: dict[bytes, Principal] = {}
        default = (s.default_models, s.default_actions)
        for key_id, digest in (*self._fixed.items(), *file_keys.items()):
            if digest in table:
                raise ConfigError(f"the keys of ids {table[digest].key_id} and {key_id} are the "
                                  f"same key", key="secrets.api_keys" if key_id in self._fixed
                                  else "auth.file")
            scope = s.scopes.get(key_id)
            models, actions = (scope["models"], scope["actions"]) if scope else default
            table[digest] = Principal(key_id, frozenset(actions),
                                      None if "*" in models else frozenset(models))
        return table

    def _digest(self, key: str) -> bytes:
        return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), key=self._hash_key,
                               digest_size=32).digest()

    # ------------------------------------------------------------ reloading

    def reload(self) -> bool:
        """Read the keys file again if it changed; True when the keys were replaced.

        A file that no longer parses leaves the keys as they were (with a
        warning naming the problem, never a key).
        """
        if self._settings.file is None:
            return False
        with self._reload_lock:
            return self._reload()

    def _reload(self) -> bool:
        signature = self._signature()
        if signature == self._file_signature:
            return False
        self._file_signature = signature
        try:
            table = self._build(self._digests(read_keys_file(self._settings.file)))
        except ConfigError as e:
            log.warning("the keys file was not reloaded: %s", e)
            return False
        self._table = table
        self._keyless = self._keyless and not table
        log.info("API keys reloaded: %d keys", len(table))
        return True

    def _maybe_reload(self) -> None:
        if not self._reload_lock.acquire(blocking=False):
            return          # (another request is reloading)
        try:
            if self._clock() >= self._next_check:
                self._next_check = self._clock() + self._settings.reload_seconds
                self._reload()
        finally:
            self._reload_lock.release()

    # ------------------------------------------------------------ checking

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the keys accepted now, sorted."""
        return tuple(sorted(p.key_id for p in self._table.values()))

    @property
    def keyless(self) -> bool:
        """Whether no key is configured (``auth.anonymous`` decides who is served)."""
        return self._keyless

    def authenticate(self, headers: Mapping[str, str], action: str, model: str | None,
                     *, client_host: str | None = None) -> Principal:
        """Who sent a request, if it may do ``action`` on ``model``.

        The key comes from ``Authorization: Bearer <key>`` or ``X-API-Key``
        (both given, they must agree). A public action is allowed to anyone,
        and a key, if given, must still be valid. With no key configured,
        ``auth.anonymous`` decides: ``'local'`` serves only a ``client_host``
        on loopback whose request carries no forwarding header.

        Parameters
        ----------
        headers : mapping of str to str
            The request's headers (Starlette's, or a dict).
        action : str
            One of ``"infer"``, ``"read"``, ``"admin"``, ``"health"``, ``"metrics"``.
        model : str or None
            The model the request addresses, if any.
        client_host : str, optional
            The connection's peer address (for ``auth.anonymous = 'local'``).

        Returns
        -------
        Principal

        Raises
        ------
        starlette.exceptions.HTTPException
            401 (with ``WWW-Authenticate``) when a key is needed and none is
            given, or the one given is malformed or unknown; 403 when the
            key's scope excludes the action or the model.
        InvalidArgument
            ``action`` is not one of the actions.
        """
        if action not in _ALL:
            raise InvalidArgument("Authenticator.authenticate", "action", action,
                                  "must be one of " + ", ".join(map(repr, ACTIONS)))
        if self._next_check != _NEVER and self._clock() >= self._next_check:
            self._maybe_reload()
        if self._keyless:       # (no key to check a credential against: it is ignored)
            if self._settings.anonymous == "open" or (
                    _loopback(client_host)
                    and not any(_header(headers, h) is not None for h in _FORWARDING)):
                return self._anonymous_all
            if action in self._public:
                return self._anonymous_public
            raise _unauthorized(_REQUIRED, None)
        token = self._token(headers)
        if token is None:
            if action in self._public:
                return self._anonymous_public
            raise _unauthorized(_REQUIRED, None)
        principal = self._table.get(self._digest(token)) if len(token) <= MAX_KEY_LENGTH \
            else None
        if principal is None:
            raise _unauthorized("the API key is not valid", "invalid_token")
        if action in self._public or principal.allows(action, model):
            return principal
        what = f"{action!r}" if model is None else f"{action!r} on model {safe_repr(model)}"
        raise HTTPException(403, f"the API key's scope does not include {what}", headers={
            "WWW-Authenticate": f'{_CHALLENGE}, error="insufficient_scope"'})

    def _token(self, headers: Mapping[str, str]) -> str | None:
        auth, api = _credentials(headers)
        token = None
        if auth is not None:
            parts = auth.split(None, 1)
            scheme = parts[0] if parts else ""
            token = parts[1].strip() if len(parts) > 1 else ""
            if scheme.lower() != "bearer":
                raise _unauthorized("the Authorization header must use the Bearer scheme: "
                                    "'Bearer <key>'", None)
            if not token:
                raise _unauthorized("the Authorization header holds no key", "invalid_token")
        if api is not None:
            api = api.strip()
            if not api:
                raise _unauthorized("the X-API-Key header is empty", "invalid_token")
            if token is not None and not hmac.compare_digest(
                    token.encode("utf-8", "surrogatepass"), api.encode("utf-8", "surrogatepass")):
                raise _unauthorized("Authorization and X-API-Key carry different keys",
                                    "invalid_token")
            token = api
        return token

    def __repr__(self) -> str:
        return (f"Authenticator(keys={list(self.key_ids)!r}, public="
                f"{sorted(self._public)!r}, anonymous={self._settings.anonymous!r})")


def _unauthorized(detail: str, error: str | None) -> Exception:
    challenge = _CHALLENGE if error is None else f'{_CHALLENGE}, error="{error}"'
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})
