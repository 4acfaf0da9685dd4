"""Violations: what a failed check reports, and the one error that carries them.

A :class:`Violation` is one problem (field, rule, message, a safe rendering of
the value). Checks signal a failure with the internal ``_Invalid``;
``_check_field`` runs one field's checks collecting every violation, and
``_error`` gathers them into one :class:`~fugue_ppl.errors.ValidationError`
with a bounded message. The checks are in
:mod:`~fugue_ppl.validation.validators`, the fields and schemas that run them
in :mod:`~fugue_ppl.validation.schema`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fugue_ppl.checks import RENDER_LIMIT, _clip, safe_repr, safe_text
from fugue_ppl.errors import ValidationError

__all__ = ["ERROR_MESSAGE_LIMIT", "Violation"]

#: Maximum length of a :class:`~fugue_ppl.errors.ValidationError` message.
ERROR_MESSAGE_LIMIT = 2000
#: Violations listed in the error message (all are in ``violations``).
_LISTED = 10


@dataclass(frozen=True, slots=True)
class Violation:
    """One validation problem.

    Attributes
    ----------
    field : str
        The field's name (``"(input)"`` for a problem with the input as a
        whole, ``"(args)"`` for positional arguments, the comma-joined field
        names for a cross-field rule).
    rule : str
        The rule that failed, e.g. ``"finite"``, ``"range"``, ``"required"``,
        ``"unknown"``, or a custom rule's name.
    message : str
        What is wrong, single-line and at most 200 characters.
    value : str
        A safe rendering of the offending value (:func:`safe_repr`): at most
        40 characters, printable, ``'***'`` for a secret.

    Examples
    --------
    >>> Violation("x", "finite", "must be finite", "nan")
    Violation(field='x', rule='finite', message='must be finite', value='nan')
    >>> str(Violation("x", "finite", "must be finite", "nan"))
    'x: must be finite (rule finite, got nan)'
    """

    field: str
    rule: str
    message: str
    value: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} (rule {self.rule}, got {self.value})"


class _Invalid(Exception):
    """Internal: a check failed (never escapes this package)."""

    __slots__ = ("fatal", "message", "rule")

    def __init__(self, rule: str, message: str, fatal: bool = False):
        self.rule = rule
        self.message = message
        self.fatal = fatal


# --------------------------------------------------------------------- reporting


def _field_label(name: object) -> str:
    """A field name as shown in a violation: plain if a str, else its rendering."""
    if isinstance(name, str):
        return safe_text(name, RENDER_LIMIT)
    return safe_repr(name)


def _check_field(checks, value, label: str, secret: bool, violations: list) -> tuple[bool, Any]:
    """Run a field's checks collecting every violation; (valid, cleaned value)."""
    ok = True
    for check in checks:
        try:
            value = check(value)
        except _Invalid as e:
            ok = False
            violations.append(Violation(label, e.rule, safe_text(e.message),
                                        safe_repr(value, secret=secret)))
            if e.fatal:
                break
        except Exception:  # noqa: BLE001 - validation never raises but ValidationError
            ok = False
            violations.append(Violation(label, "error", "could not be checked",
                                        safe_repr(value, secret=secret)))
            break
    return ok, value


def _error(violations: list[Violation], schema_name: str | None) -> ValidationError:
    n = len(violations)
    where = f" for {safe_text(schema_name, 60)}" if schema_name else ""
    head = f"invalid input{where}: " if n == 1 else f"{n} invalid inputs{where}: "
    listed = "; ".join(str(v) for v in violations[:_LISTED])
    if n > _LISTED:
        listed += f"; and {n - _LISTED} more"
    return ValidationError(_clip(head + listed, ERROR_MESSAGE_LIMIT), violations=violations)
