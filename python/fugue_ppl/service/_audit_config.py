"""The audit log's settings (``[audit]``): where its lines go, when the file
rotates, how many lines may wait for the writer, and what happens without an
HMAC key in the secrets.

:mod:`fugue_ppl.config` composes them; an :class:`~fugue_ppl.service.audit.AuditLog`
takes them (with ``secrets.audit_key``) through ``AuditLog.from_config``.
"""

from __future__ import annotations

from typing import Any

from fugue_ppl.checks import (
    Custom,
    Flag,
    Int,
    Settings,
    invalid,
    setting,
    settings,
    type_error,
)

__all__ = ["STDERR", "AuditConfig"]

#: The ``path`` that sends the lines to standard error (no rotation).
STDERR = "-"


def _path(value: Any, name: str, owner: str) -> str:
    if not isinstance(value, str):
        raise type_error(owner, name, value, "a str")
    if not value.strip() or not value.isprintable() or len(value) > 4096:
        raise invalid(owner, name, value, "must be a printable path, or '-' for standard error")
    return value


@settings
class AuditConfig(Settings):
    """The audit log: one JSON line per request, written off the request path.

    Without ``secrets.audit_key``, ``ephemeral_hmac`` decides: true, the
    HMACs use a random key made at start (with a warning: they can be
    checked only while the process lives, since the key dies with it);
    false, the service refuses to start.

    Examples
    --------
    >>> AuditConfig(path="/var/log/fugue/audit.log", max_bytes=10_000_000).backup_count
    10
    """

    enabled: bool = setting(True, check=Flag(), doc="Whether requests are audited.")
    path: str = setting(
        "fugue-audit.log", check=Custom(_path, "a path, or '-' for standard error"),
        doc="The audit file (relative paths: to the working directory), or '-' for "
            "standard error.")
    max_bytes: int = setting(
        100 * 2**20, check=Int(0, 2**50),
        doc="Size at which the file rotates (0: never).")
    backup_count: int = setting(
        10, check=Int(1, 10_000),
        doc="Rotated files kept (audit.log.1 is the newest).")
    queue_size: int = setting(
        10_000, check=Int(1, 10**7),
        doc="Lines that may wait for the writer; beyond, lines are dropped and counted "
            "rather than slowing requests.")
    ephemeral_hmac: bool = setting(
        True, check=Flag(),
        doc="Without secrets.audit_key: HMAC with a random per-process key (true, with a "
            "warning) or refuse to start (false).")
