"""The fugue-ppl exception hierarchy.

Every error raised by fugue-ppl derives from :class:`FugueError`. Where upstream
Fugue defines an error code, the class carries it as ``code``:

====  =========================================================
code  meaning
====  =========================================================
100   invalid mean / location
101   invalid variance / scale
102   invalid probability
103   invalid range
104   invalid shape
105   invalid rate
106   invalid count
301   address conflict (an address used twice in one run)
302   unexpected model structure (address missing from a base trace; a particle
      run's model branching on a sampled value)
500   trace address not found
600   type mismatch
601   invalid observation or factor (NaN / infinite)
====  =========================================================

What a client may see of an error is :func:`public_error`: its kind, a stable
code and an opaque id, never its text (which goes to the server's log under
the same id).
"""

from __future__ import annotations

import re
import uuid

__all__ = [
    "FugueError",
    "InvalidArgument",
    "InvalidParameters",
    "InvalidAddress",
    "AddressConflict",
    "UnexpectedModelStructure",
    "TraceAddressNotFound",
    "TypeMismatch",
    "InvalidObservation",
    "EffectOutsideRun",
    "BranchOnSample",
    "DegenerateWeights",
    "ValidationError",
    "ConfigError",
    "InferenceTimeout",
    "CircuitOpenError",
    "OverloadedError",
    "RegistryError",
    "UnknownModel",
    "UnknownVersion",
    "UnknownRollout",
    "RegistryConflict",
    "RegistryUnavailable",
    "ModelImportError",
    "InvalidModelParams",
    "RedactedError",
    "FugueWarning",
    "PUBLIC_CODES",
    "new_error_id",
    "public_error",
]


class FugueError(Exception):
    """Base class of every fugue-ppl error.

    Attributes
    ----------
    code : int or None
        Fugue's error code, when one applies.
    """

    code: int | None = None

    def __init__(self, message: str, *, code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        msg = super().__str__()
        return f"[{self.code}] {msg}" if self.code is not None else msg


class InvalidArgument(FugueError, ValueError):
    """A parameter got a bad value: the one ``ValueError`` of the argument checks.

    Raised through :mod:`fugue_ppl.checks`; a wrong *type* raises ``TypeError``
    instead. The message is ``"<owner>: <parameter> <rule>, got <value>"``,
    the value shown through :func:`~fugue_ppl.checks.safe_repr`.

    Attributes
    ----------
    owner : str
        What was being built or called, e.g. ``"Normal"``.
    parameter : str
        The parameter's name, e.g. ``"sigma"``.
    value : object
        The value as given (None for a secret).
    shown : str
        Its safe rendering (``'***'`` for a secret).
    rule : str
        What the value must satisfy, e.g. ``"must be finite and > 0"``.
    """

    def __init__(self, owner: str, parameter: str, value, rule: str, *,
                 code: int | None = None, secret: bool = False):
        from fugue_ppl.checks import safe_repr

        self.owner = owner
        self.parameter = parameter
        self.value = None if secret else value
        self.shown = safe_repr(value, secret=secret)
        self.rule = rule
        super().__init__(f"{owner}: {parameter} {rule}, got {self.shown}", code=code)

    def __reduce__(self):
        return (_rebuild, (type(self), self.owner, self.parameter, self.value, self.rule,
                           self.code, self.value is None and self.shown == "***"))


def _rebuild(cls, owner, parameter, value, rule, code, secret):
    # Unpickling: subclasses have constructors of their own.
    err = cls.__new__(cls)
    InvalidArgument.__init__(err, owner, parameter, value, rule, code=code, secret=secret)
    return err


class InvalidParameters(InvalidArgument):
    """A distribution parameter is invalid (codes 100-106).

    Attributes
    ----------
    distribution : str
        The distribution's name, e.g. ``"Normal"`` (also ``owner``).
    """

    def __init__(self, distribution: str, parameter: str, value, rule: str, code: int):
        super().__init__(distribution, parameter, value, rule, code=code)

    @property
    def distribution(self) -> str:
        return self.owner


class _AddressError(FugueError):
    def __init__(self, message: str, address: str | None = None):
        self.address = address
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (self.args[0], self.address))


class InvalidAddress(InvalidArgument):
    """An address that is empty, too long or holds non-printable characters.

    Checked once per new address string, so that a trace, a log line or a
    metric label never carries an injected newline or escape sequence.
    """

    def __init__(self, address, rule: str):
        super().__init__("address", "address", address, rule)
        self.args = (f"address {self.shown} {rule}",)

    @property
    def address(self):
        return self.value

    def __reduce__(self):
        return (type(self), (self.value, self.rule))


class AddressConflict(_AddressError, ValueError):
    """An address was used twice in one run (code 301)."""

    code = 301


class UnexpectedModelStructure(_AddressError, KeyError):
    """The model visited an address the base trace does not have (code 302)."""

    code = 302

    def __str__(self) -> str:  # KeyError would quote the message
        return f"[{self.code}] {self.args[0]}"


class TraceAddressNotFound(_AddressError, KeyError):
    """A trace has no choice at the requested address (code 500)."""

    code = 500

    def __str__(self) -> str:
        return f"[{self.code}] {self.args[0]}"


class TypeMismatch(_AddressError, TypeError):
    """A value has a different type than expected (code 600)."""

    code = 600


class InvalidObservation(_AddressError, ValueError):
    """An observed value or a factor is NaN or infinite where it may not be (code 601)."""

    code = 601


class EffectOutsideRun(FugueError, RuntimeError):
    """``sample``, ``observe`` or ``factor`` was called outside ``run``."""


class BranchOnSample(FugueError, TypeError):
    """A particle run's model asked for one value of per-particle values (code 302).

    In :func:`~fugue_ppl.run_particles` a sampled value holds one value per
    particle, so a model whose structure depends on it (``if valid:``,
    ``while x > 0:``, ``int(k)`` as a loop bound, ``math.exp(x)``) cannot run
    once for all particles. Raised by the truth value or the scalar
    conversion of such values, and by ``run_particles`` when the model
    caught that error; ``run_particles(..., on_branch="per_particle")`` runs
    the particles one by one instead.
    """

    code = 302


class DegenerateWeights(FugueError, ValueError):
    """Every particle has weight zero (log-weight ``-inf``): no weighted statistic exists."""


class ValidationError(FugueError, ValueError):
    """Input validation failed.

    Raised by :mod:`fugue_ppl.validation` with every problem found at once.

    Parameters
    ----------
    message : str
        The summary message (bounded in length, free of control characters when
        built by :mod:`fugue_ppl.validation`).
    violations : iterable of Violation, optional
        One :class:`fugue_ppl.validation.Violation` per problem.
    code : int, optional
        An error code.

    Attributes
    ----------
    violations : list of Violation
        The problems, in field order (empty when raised with a message only).
        Each has ``field``, ``rule``, ``message`` and ``value`` (a safe
        rendering, ``'***'`` for secret fields; never the raw value).
    """

    def __init__(self, message: str, *, violations=(), code: int | None = None):
        super().__init__(message, code=code)
        self.violations = list(violations)


class ConfigError(InvalidArgument):
    """The configuration is invalid.

    Parameters
    ----------
    message : str
        The message.
    key : str, optional
        The dotted key at fault, e.g. ``"breaker.failure_threshold"``.
    layer : str, optional
        Where the value came from, e.g. ``"file config.toml"``,
        ``"environment variable FUGUE_BREAKER__FAILURE_THRESHOLD"``.
    value : str, optional
        A safe rendering of the offending value (``'***'`` for secrets).
    suggestion : str, optional
        The closest valid key, for a misspelt one.
    problems : iterable, optional
        Every problem found when several were (each with the attributes above
        and ``message``); ``key``, ``layer``, ``value`` and ``suggestion``
        describe the first.
    code : int, optional
        An error code.
    """

    def __init__(self, message: str, *, key: str | None = None, layer: str | None = None,
                 value: str | None = None, suggestion: str | None = None, problems=(),
                 code: int | None = None):
        FugueError.__init__(self, message, code=code)
        self.owner = "config"
        self.parameter = key
        self.key = key
        self.layer = layer
        self.value = self.shown = value
        self.rule = message
        self.suggestion = suggestion
        self.problems = tuple(problems)

    def __reduce__(self):
        return Exception.__reduce__(self)


class InferenceTimeout(FugueError, TimeoutError):
    """A run exceeded its deadline."""


class CircuitOpenError(FugueError, RuntimeError):
    """The circuit breaker refuses calls.

    Attributes
    ----------
    retry_after : float or None
        Seconds until the breaker admits a trial call (0.0 when it may do so
        now or is in recovery, ``inf`` when forced open until reset); None
        when unknown.
    state : str or None
        The breaker's state name (``"FAILED"`` or ``"RECOVERY"``), when known.
    """

    def __init__(self, message: str = "the circuit breaker refuses calls", *,
                 retry_after: float | None = None, state: str | None = None,
                 code: int | None = None):
        self.retry_after = retry_after
        self.state = state
        super().__init__(message, code=code)

    def __reduce__(self):
        return (_circuit_open_error, (self.args[0], self.retry_after, self.state, self.code))


def _circuit_open_error(message, retry_after, state, code):
    return CircuitOpenError(message, retry_after=retry_after, state=state, code=code)


class OverloadedError(FugueError, RuntimeError):
    """The runner's queue is full: the call was refused at admission (load shedding).

    Attributes
    ----------
    retry_after : float or None
        Seconds after which a retry may find room: the measured mean service
        time of a run (None before any run was measured).
    """

    def __init__(self, message: str = "the runner is overloaded", *,
                 retry_after: float | None = None, code: int | None = None):
        self.retry_after = retry_after
        super().__init__(message, code=code)

    def __reduce__(self):
        return (_overloaded_error, (self.args[0], self.retry_after, self.code))


def _overloaded_error(message, retry_after, code):
    return OverloadedError(message, retry_after=retry_after, code=code)


class RegistryError(FugueError):
    """An error of the model registry (:mod:`fugue_ppl.deploy`).

    Messages name the model, the version and the field at fault, never the
    store's URL or its password.

    Attributes
    ----------
    model : str or None
        The model's name, when one applies.
    version : str or None
        The version, when one applies.
    """

    def __init__(self, message: str, *, model: str | None = None,
                 version: str | None = None, code: int | None = None):
        self.model = model
        self.version = version
        super().__init__(message, code=code)


class UnknownModel(RegistryError, KeyError):
    """No version of the model is registered (a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownVersion(UnknownModel):
    """The model is registered, but not this version of it (a ``KeyError``)."""


class UnknownRollout(RegistryError, KeyError):
    """No rollout with this id, or no active rollout of the model (a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RegistryConflict(RegistryError):
    """A write lost a race or contradicts the registry's state; nothing was written.

    A stale ``expected_revision`` (another writer changed the version since
    it was read), a version registered twice, or a second live version.
    Read the version again and retry with its current revision.

    Attributes
    ----------
    expected : int or None
        The revision the write expected.
    actual : int or None
        The revision the registry holds.
    """

    def __init__(self, message: str, *, model: str | None = None, version: str | None = None,
                 expected: int | None = None, actual: int | None = None):
        self.expected = expected
        self.actual = actual
        super().__init__(message, model=model, version=version)


class RegistryUnavailable(RegistryError, ConnectionError):
    """The registry's store cannot be reached (or is locked past its timeout).

    Nothing was written. The message names the store (its kind, host and
    database or file) without its password.

    Attributes
    ----------
    store : str or None
        The store's description, e.g. ``"PostgreSQL database 'models' on db:5432"``.
    """

    def __init__(self, message: str, *, store: str | None = None, model: str | None = None,
                 version: str | None = None):
        self.store = store
        super().__init__(message, model=model, version=version)


class ModelImportError(RegistryError, ImportError):
    """A version's model (or input schema) cannot be loaded from its import path.

    The path is malformed, outside the allowed module prefixes (refused
    before anything is imported), does not import, names nothing, or names
    something that is not a model.

    Attributes
    ----------
    path : str or None
        The import path, ``package.module:function``.
    """

    def __init__(self, message: str, *, path: str | None = None, model: str | None = None,
                 version: str | None = None):
        super().__init__(message, model=model, version=version)
        self.path = path


class InvalidModelParams(RegistryError, ValidationError):
    """A version's parameters fail the JSON Schema the version declares.

    Attributes
    ----------
    violations : list of Violation
        One per failing part of the document, its ``field`` the JSON path
        (``"$.prior.sd"``), its ``rule`` the schema keyword (``"minimum"``).
    """

    def __init__(self, message: str, *, violations=(), model: str | None = None,
                 version: str | None = None):
        RegistryError.__init__(self, message, model=model, version=version)
        self.violations = list(violations)


class RedactedError(FugueError):
    """An error known only by what a client may see of it: its kind, code and id.

    The ``error`` of an :class:`~fugue_ppl.serving.InferenceResult` that was
    pickled (sent from a worker process, say): an exception's text may hold
    anything (paths, tokens), so only its :func:`public_error` rendering
    travels; the text and the traceback stay in the log of the process that
    ran the call, under ``error_id``. :func:`public_error` gives the
    original's kind and code back.

    Parameters
    ----------
    kind : str
        The original's public kind, e.g. ``"model_error"``.
    code : int
        Its public code, e.g. 900.
    error_id : str or None
        The id under which the original was logged.

    Examples
    --------
    >>> err = RedactedError("model_error", 900, "ab12")
    >>> public_error(err, err.error_id)
    {'kind': 'model_error', 'code': 900, 'id': 'ab12'}
    """

    def __init__(self, kind: str, code: int, error_id: str | None):
        self.kind = kind
        self.error_id = error_id
        where = f"logged under id {error_id}" if error_id else "not logged"
        super().__init__(f"{kind} ({where} by the process that ran the call)", code=code)

    def __reduce__(self):
        return (RedactedError, (self.kind, self.code, self.error_id))


class FugueWarning(UserWarning):
    """A safe handler continued past a problem (adding -inf to the log-weight)."""


def _already_initialised(obj) -> RuntimeError:
    # A second __init__ would replace C++ state that other objects point into.
    name = type(obj).__name__
    return RuntimeError(f"{name}.__init__ was called on an initialised {name}; "
                        f"create a new {name} instead")


#: The stable codes of the errors a client may see that carry no Fugue code, by kind.
PUBLIC_CODES = {
    "invalid_request": 700,      # ValidationError: the request's arguments
    "invalid_argument": 701,     # InvalidArgument raised by the model
    "invalid_address": 702,      # InvalidAddress
    "unknown_model": 703,        # UnknownModel: no such model in the registry (HTTP 404)
    "unknown_version": 704,      # UnknownVersion: the model has no such version (HTTP 404)
    "invalid_model_params": 705,  # InvalidModelParams: a version's params fail its schema
    "registry_conflict": 706,    # RegistryConflict: a stale revision, a duplicate (HTTP 409)
    "unknown_rollout": 707,      # UnknownRollout: no such rollout, or none active (HTTP 404)
    "timeout": 800,              # InferenceTimeout
    "circuit_open": 801,         # CircuitOpenError
    "overloaded": 802,           # OverloadedError
    "registry_unavailable": 803,  # RegistryUnavailable: the registry's store is down (503)
    "model_error": 900,          # any other exception of the model
}

_PUBLIC_KINDS = (
    # (the registry's kinds first: InvalidModelParams is a ValidationError, UnknownVersion
    # an UnknownModel)
    (InvalidModelParams, "invalid_model_params"),
    (UnknownVersion, "unknown_version"),
    (UnknownModel, "unknown_model"),
    (UnknownRollout, "unknown_rollout"),
    (RegistryConflict, "registry_conflict"),
    (RegistryUnavailable, "registry_unavailable"),
    (ValidationError, "invalid_request"),
    (InferenceTimeout, "timeout"),
    (CircuitOpenError, "circuit_open"),
    (OverloadedError, "overloaded"),
    (InvalidAddress, "invalid_address"),
)
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def new_error_id() -> str:
    """A fresh opaque error id (32 hex digits) linking a client's error to the server's log."""
    return uuid.uuid4().hex


def public_error(exc: BaseException, error_id: str) -> dict:
    """What a client may see of ``exc``: ``{"kind", "code", "id"}``, never its text.

    A :class:`FugueError` with a Fugue code keeps it (``invalid_parameters``
    100-106, ``address_conflict`` 301, ...); other errors get a kind and code
    of :data:`PUBLIC_CODES` (the registry's: ``unknown_model`` 703 and
    ``unknown_version`` 704, which a service answers with 404,
    ``invalid_model_params`` 705, ``registry_conflict`` 706 and
    ``registry_unavailable`` 803). A :class:`RedactedError` keeps the kind and
    code it stands for.
    """
    if isinstance(exc, RedactedError):
        return {"kind": exc.kind, "code": exc.code, "id": error_id}
    for cls, kind in _PUBLIC_KINDS:
        if isinstance(exc, cls):
            return {"kind": kind, "code": PUBLIC_CODES[kind], "id": error_id}
    code = getattr(exc, "code", None) if isinstance(exc, FugueError) else None
    if type(code) is int:
        return {"kind": _CAMEL.sub("_", type(exc).__name__).lower(), "code": code,
                "id": error_id}
    kind = "invalid_argument" if isinstance(exc, InvalidArgument) else "model_error"
    return {"kind": kind, "code": PUBLIC_CODES[kind], "id": error_id}
