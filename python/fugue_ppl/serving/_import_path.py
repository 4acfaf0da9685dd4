"""Loading a model (or an input schema) by import path, ``package.module:function``.

The one loader of the package: the model registry
(:class:`~fugue_ppl.deploy.ModelRegistry`) and the batch runner's
:class:`~fugue_ppl.serving.batch.RunnerSpec` both import through it. Only
modules under the allowed prefixes are imported; any other path is refused
before anything is imported, so a path read from a file or a database cannot
run arbitrary code.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from typing import Any

from fugue_ppl.checks import safe_repr, safe_text, type_error
from fugue_ppl.errors import ModelImportError

__all__ = ["IMPORT_PATH", "resolve_import_path", "split_import_path"]

#: An import path: dotted module names, a colon, dotted attribute names.
IMPORT_PATH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
                         r":([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)", re.ASCII)


def split_import_path(path: Any, allowed_prefixes: Iterable[str], *, what: str, owner: str,
                      model: str | None = None, version: str | None = None) -> tuple[str, str]:
    """``(module, attribute)`` of an import path under an allowed prefix; nothing imported.

    ``what`` names the path in messages (``"model"``, ``"input_schema"``);
    ``model`` and ``version``, when given, prefix them (``"m 1: ..."``).

    Raises
    ------
    TypeError
        ``path`` is not a str (the message names ``owner`` and ``what``).
    ModelImportError
        ``path`` is malformed or outside the allowed prefixes.
    """
    label = f"{model} {version}: " if model is not None else ""
    if not isinstance(path, str):
        raise type_error(owner, what, path, "an import path 'package.module:name'")
    m = IMPORT_PATH.fullmatch(path)
    if m is None:
        raise ModelImportError(
            f"{label}{what} {safe_repr(path)} is not an import path "
            "'package.module:function'", path=path, model=model, version=version)
    module = m.group(1)
    prefixes = tuple(allowed_prefixes)
    if not any(module == p or module.startswith(p + ".") for p in prefixes):
        raise ModelImportError(
            f"{label}{what} {safe_repr(path)} is outside the allowed module prefixes "
            f"({', '.join(prefixes)}); refused without importing it",
            path=path, model=model, version=version)
    return module, m.group(2)


def resolve_import_path(path: Any, allowed_prefixes: Iterable[str], *, what: str, owner: str,
                        model: str | None = None, version: str | None = None) -> Any:
    """The object an import path names, imported only under an allowed prefix.

    Raises
    ------
    TypeError
        ``path`` is not a str.
    ModelImportError
        As :func:`split_import_path`, or the module does not import, or has
        no such attribute.
    """
    module_name, attr = split_import_path(path, allowed_prefixes, what=what, owner=owner,
                                          model=model, version=version)
    label = f"{model} {version}: " if model is not None else ""
    try:
        obj = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any failure of the import is reported
        raise ModelImportError(
            f"{label}{what} {safe_repr(path)} does not import ({type(e).__name__}: "
            f"{safe_text(e, 120)})", path=path, model=model, version=version) from e
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ModelImportError(
                f"{label}{what} {safe_repr(path)}: module {module_name!r} has no "
                f"{attr!r}", path=path, model=model, version=version) from None
    return obj
