"""The model registry's settings (``[registry]``): where it is stored, which
modules its versions may load models from, and its parameter cache.

:mod:`fugue_ppl.config` composes them; a :class:`~fugue_ppl.deploy.ModelRegistry`
takes them directly.
"""

from __future__ import annotations

import re
from typing import Any

from fugue_ppl.checks import (
    Custom,
    Duration,
    Flag,
    Int,
    Relation,
    Secret,
    Settings,
    invalid,
    setting,
    settings,
    type_error,
)

__all__ = ["DEFAULT_FILE", "RegistryConfig", "store_kind"]

#: The SQLite file of a registry whose ``url`` is not set (in the working directory).
DEFAULT_FILE = "fugue-registry.sqlite3"

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SCHEME = "sqlite:///"


def store_kind(url: str) -> str:
    """``"postgresql"`` for a ``postgresql://`` (or ``postgres://``) URL, else ``"sqlite"``."""
    return "postgresql" if url.lower().startswith(_POSTGRES_SCHEMES) else "sqlite"


def _url(value: Any, name: str, owner: str) -> Secret | None:
    if value is None:
        return None
    if not isinstance(value, (str, Secret)):
        raise type_error(owner, name, value, "a str")
    url = Secret(value)
    text = url.reveal()
    if not text.strip() or not text.isprintable():
        raise invalid(owner, name, value, "must be a non-empty, printable path or URL",
                      secret=True)
    scheme = text.split("://", 1)[0].lower() + "://" if "://" in text else None
    if scheme is not None and scheme not in _POSTGRES_SCHEMES and not text.lower().startswith(
            _SQLITE_SCHEME):
        raise invalid(owner, name, value, "must be a SQLite file path (or sqlite:///path) or a "
                      "postgresql:// URL", secret=True)
    if text.lower().startswith(_SQLITE_SCHEME) and not text[len(_SQLITE_SCHEME):].strip():
        raise invalid(owner, name, value, "must name a file after sqlite:///", secret=True)
    return url


def _prefixes(value: Any, name: str, owner: str) -> tuple[str, ...]:
    if isinstance(value, str):          # (comma-separated, as from the environment)
        value = [p.strip() for p in value.split(",") if p.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise type_error(owner, name, value, "a list of module names")
    if not value:
        raise invalid(owner, name, value, "must name at least one module")
    for p in value:
        if not _MODULE.fullmatch(p):
            raise invalid(owner, name, value, "must hold dotted module names such as "
                          "'fugue_ppl.models'")
    return tuple(value)


@settings
class RegistryConfig(Settings):
    """The model registry and parameter store: its storage, the modules models
    may be imported from, and the parameter cache.

    Examples
    --------
    >>> cfg = RegistryConfig(url="postgresql://svc:pw@db.internal/models")
    >>> cfg.url, store_kind(cfg.url.reveal())
    (Secret('***'), 'postgresql')
    >>> cfg
    RegistryConfig(url='***', allowed_prefixes=('fugue_ppl.models',), cache_size=1024, \
cache_ttl_seconds=5.0, timeout_seconds=5.0, pool_min_size=1, pool_max_size=8, notify=True)
    """

    url: Secret | None = setting(
        None,
        check=Custom(_url, "a SQLite file path (or sqlite:///path) or a postgresql:// URL"),
        secret=True,
        doc=f"Where the registry is stored: a SQLite file (one machine; none: "
            f"{DEFAULT_FILE} in the working directory) or a PostgreSQL URL (replicas "
            "sharing one registry); masked everywhere.")
    allowed_prefixes: tuple[str, ...] = setting(
        ("fugue_ppl.models",), check=Custom(_prefixes, "dotted module names"),
        doc="The only modules (and their submodules) a version's model and input schema may "
            "be imported from; anything else is refused before importing.")
    cache_size: int = setting(1024, check=Int(1, 1_000_000),
                              doc="Versions the parameter cache holds (least recently used "
                                  "dropped first).")
    cache_ttl_seconds: float = setting(
        5.0, check=Duration(maximum=86_400.0),
        doc="How long a cached version is served without asking the store: bounds how stale "
            "a read can be after another process's write.")
    timeout_seconds: float = setting(
        5.0, check=Duration(maximum=600.0),
        doc="How long an operation waits for the store (a connection, a locked file) before "
            "it fails as unavailable.")
    pool_min_size: int = setting(1, check=Int(0, 1000),
                                 doc="PostgreSQL: connections the pool keeps open.")
    pool_max_size: int = setting(8, check=Int(1, 1000),
                                 doc="PostgreSQL: most connections the pool opens.")
    notify: bool = setting(
        True, check=Flag(),
        doc="PostgreSQL: invalidate other processes' caches at once through LISTEN/NOTIFY "
            "(else the TTL bounds their staleness).")

    _relations = (Relation("pool_min_size", "<=", "pool_max_size"),)

    @property
    def store_url(self) -> str:
        """The store's URL or path, revealed (``url``, or the default file)."""
        return DEFAULT_FILE if self.url is None else self.url.reveal()
