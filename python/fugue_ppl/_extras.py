"""Optional dependencies ("extras"), imported only when a feature needs them.

``import fugue_ppl`` loads numpy and prometheus_client and nothing heavier.
The parts that need more come with an extra of the distribution and import
it lazily, at the point of use, through :func:`require`:

==========  =====================================  ==========================
extra       brings                                 for
==========  =====================================  ==========================
serve       starlette, uvicorn[standard],          the HTTP service (fugue-ppl serve),
            httptools, uvloop, python-json-logger  JSON logs, JSON bodies
            orjson
postgres    psycopg[binary] 3, psycopg_pool        the PostgreSQL registry
deploy      jsonschema, cachetools, PyYAML         the model registry (schemas, cache),
                                                   the Prometheus rules (``fugue-ppl rules``)
dask        dask[distributed]                      batch scale-out
all         all of the above
==========  =====================================  ==========================

Examples
--------
>>> from fugue_ppl._extras import require
>>> try:
...     require("dask", "fugue_ppl_no_such_module")
... except ModuleNotFoundError as err:
...     print(err.name)
...     print(*str(err).split("; "), sep="\\n")
fugue_ppl_no_such_module
fugue_ppl_no_such_module is not installed
it comes with the "dask" extra: pip install "fugue-ppl[dask]"
"""

from __future__ import annotations

import importlib
from types import ModuleType

from fugue_ppl.checks import check_choice, check_text

__all__ = ["EXTRAS", "require", "install_command"]

#: The extras and the top-level modules each one brings.
EXTRAS: dict[str, tuple[str, ...]] = {
    "serve": ("starlette", "uvicorn", "httptools", "uvloop", "pythonjsonlogger", "orjson"),
    "postgres": ("psycopg", "psycopg_pool"),
    "deploy": ("jsonschema", "cachetools", "yaml"),
    "dask": ("dask", "distributed"),
}
EXTRAS["all"] = tuple(m for mods in list(EXTRAS.values()) for m in mods)

_DISTRIBUTION = "fugue-ppl"


def install_command(extra: str) -> str:
    """The pip command that installs ``extra``, e.g. ``pip install "fugue-ppl[serve]"``.

    Raises
    ------
    TypeError
        ``extra`` is not a str.
    InvalidArgument
        ``extra`` is not one of the extras.
    """
    return _command(extra, "install_command")


def _command(extra: str, owner: str) -> str:
    check_text(extra, "extra", owner, max_length=40)
    check_choice(extra, "extra", owner, tuple(EXTRAS))
    return f'pip install "{_DISTRIBUTION}[{extra}]"'


def require(extra: str, module: str, *, feature: str | None = None) -> ModuleType:
    """Import and return ``module``, which the ``extra`` installs.

    Call it where the module is needed (not at the top of a module that
    ``import fugue_ppl`` loads), so that the extra stays optional.

    Parameters
    ----------
    extra : str
        The extra that brings the module: ``"serve"``, ``"postgres"``,
        ``"deploy"``, ``"dask"`` or ``"all"``.
    module : str
        The module to import (a dotted name, e.g. ``"psycopg_pool"``).
    feature : str, optional
        What needs it, for the message (e.g. ``"fugue-ppl serve"``).

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    ModuleNotFoundError
        The module is not installed. The message names the extra and the
        exact command that installs it; ``name`` is the missing module.
    ImportError
        The module is installed but its import failed (a dependency of it
        is missing or broken): the message says so, names the extra and the
        command, and the original error is chained.
    TypeError
        An argument is not a str.
    InvalidArgument
        ``extra`` is not one of the extras, or ``module`` is empty.

    Examples
    --------
    >>> try:
    ...     require("serve", "fugue_ppl_missing", feature="fugue-ppl serve")
    ... except ImportError as err:
    ...     print(*str(err).split("; "), sep="\\n")
    fugue-ppl serve needs fugue_ppl_missing, which is not installed
    it comes with the "serve" extra: pip install "fugue-ppl[serve]"
    """
    command = _command(extra, "require")
    check_text(module, "module", "require", max_length=200)
    if feature is not None:
        check_text(feature, "feature", "require", max_length=200)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        missing = err.name or module
        if module == missing or module.startswith(missing + "."):
            what = (f"{feature} needs {module}, which is not installed" if feature
                    else f"{module} is not installed")
            raise ModuleNotFoundError(
                f'{what}; it comes with the "{extra}" extra: {command}', name=module) from err
        raise _broken(extra, module, feature, command, err) from err
    except ImportError as err:
        raise _broken(extra, module, feature, command, err) from err


def _broken(extra: str, module: str, feature: str | None, command: str,
            err: ImportError) -> ImportError:
    what = f"{feature} needs {module}, but importing it" if feature else f"importing {module}"
    return ImportError(f'{what} failed ({type(err).__name__}: {err}); reinstall the "{extra}" '
                       f"extra: {command}", name=module)
