# cython: boundscheck=False, wraparound=False
"""ModelRunner: a model behind validation, a circuit breaker, fallbacks, a
deadline and metrics, one call per request.

Every step of :meth:`ModelRunner.infer` is compiled: the breaker is C++, the
run goes through the runtime's C entry point, and the result is a small
extension object, so the whole pipeline costs little more than a bare pooled
run.
"""

cimport cython
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint64_t
from libcpp.memory cimport shared_ptr
from libcpp.vector cimport vector
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.object cimport PyTypeObject

cdef extern from "Python.h":
    PyTypeObject PyFloat_Type

import asyncio
import inspect
import logging
import math
import pickle
from collections import namedtuple

from fugue_ppl.core._capi cimport (
    PyCFunction_NewEx, PyMethodDef, PySequence_Fast_ITEMS, PyTuple_GET_ITEM, PyTuple_GET_SIZE,
    fastcall_def,
)
from fugue_ppl.serving._breaker cimport OUTCOME_FAILURE, OUTCOME_IGNORED, CircuitBreaker
from fugue_ppl.serving._cbreaker cimport BreakerStateC, CCircuitBreaker, CTransition
from fugue_ppl.core._cclock cimport seconds_per_tick, ticks
from fugue_ppl.core._cruntime cimport CTrace, CTraceHandle, kFlagFallback
from fugue_ppl.monitoring._metrics cimport ProductionMetrics, record_success
from fugue_ppl.core._runtime cimport (
    Handler, Trace, TracePool, check_seed, deadline_ticks, run_core,
)

from fugue_ppl.core._runtime import PooledPriorHandler
from fugue_ppl.core._runtime import _rng_state, _set_run_counter
from fugue_ppl.monitoring._metrics_config import MetricsConfig
from fugue_ppl.serving._breaker import BreakerConfig
from fugue_ppl.serving._robust import RobustHandler
from fugue_ppl.serving._runner_config import ModelConfig, RunnerConfig, RuntimeConfig
from fugue_ppl.checks import check_duration, check_int, check_real, invalid
from fugue_ppl.serving.logs import INFERENCE_LOGGER, request_id, traceparent
from fugue_ppl.validation import Schema, Violation
from fugue_ppl.errors import (
    CircuitOpenError,
    InferenceTimeout,
    OverloadedError,
    RedactedError,
    ValidationError,
    _already_initialised,
    new_error_id,
    public_error,
)

__all__ = ["ModelRunner", "InferenceResult", "TraceIssue", "validate_trace", "WorkerPool",
           "RunAbandoned"]

_log = logging.getLogger("fugue_ppl.serving.runner")


# ================================================================ results

cdef str OK = "ok"
cdef str FALLBACK = "fallback"
cdef str TIMEOUT = "timeout"
cdef str REJECTED = "rejected"
cdef str DEGRADED = "degraded"
cdef str SHED = "shed"
cdef str OVERLOADED = "overloaded"


# no_gc_clear: the garbage collector must not drop _pool before the C++
# handle has given the trace back to it (a result can sit in a cycle through
# its value).
@cython.final
@cython.freelist(64)
@cython.no_gc_clear
cdef class InferenceResult:
    """The outcome of one :meth:`ModelRunner.infer` call.

    Attributes
    ----------
    value : object
        The model's return value, or the configured fallback.
    status : {"ok", "fallback", "timeout", "rejected", "degraded", "shed", "overloaded"}
        ``"ok"``: the model ran and every site was sampled normally;
        ``"fallback"``: the model failed and the fallback was served, or it
        ran with fallback values at some sites (see :attr:`fallback_sites`);
        ``"timeout"``: the deadline passed (or the run ended after it) and
        the fallback was served;
        ``"rejected"``: the circuit breaker refused the call and the fallback
        was served (the model was not called);
        ``"degraded"``: the breaker was DEGRADED and the runner's
        ``degraded_model`` served the call;
        ``"shed"``: the breaker was DEGRADED and the call was shed to the
        fallback (``degraded_shed``; the model was not called);
        ``"overloaded"``: the asynchronous queue was full and the fallback
        was served at once (the model was not called).
    model_version : str
    duration : float
        Seconds spent in :meth:`~ModelRunner.infer`.
    trace : Trace or None
        The run's trace (None when the model did not complete).
    error : BaseException or None
        What made the runner serve the fallback (for the server: its text
        may hold anything; a client gets :meth:`to_dict`'s rendering).
    error_id : str or None
        The opaque id under which the runner logged ``error`` (logger
        ``fugue_ppl.serving.runner``, with its text and traceback).
    """

    cdef readonly object value
    cdef readonly str status
    cdef readonly object model_version
    cdef readonly double duration
    cdef readonly object error
    cdef readonly str error_id
    # The run's trace: held by the C++ handle until `trace` is first read,
    # which moves it into a Trace object (most callers never look at it, and
    # the object would cost as much as the rest of the result).
    cdef CTraceHandle _th
    cdef TracePool _pool          # keeps the pool of a pooled trace alive
    cdef Trace _trace

    @property
    def trace(self):
        """The run's trace (a :class:`~fugue_ppl.Trace`); None when the model did not complete."""
        if self._trace is None and self._th.get() != NULL:
            t = Trace.__new__(Trace)
            if self._trace is None:   # (creating t may have run other Python code)
                (<Trace>t)._t.swap(self._th)
                (<Trace>t)._pool = self._pool
                self._trace = <Trace>t
        return self._trace

    cdef CTrace* _ctrace(self) noexcept:
        return self._trace._t.get() if self._trace is not None else self._th.get()

    @property
    def ok(self):
        """True when ``status == "ok"``."""
        return self.status is OK

    @property
    def fallback_sites(self):
        """Addresses whose value was substituted by a fallback, in execution order."""
        if self._ctrace() == NULL:
            return ()
        return tuple(c.address for c in self.trace.choices if c.fallback)

    def summary(self):
        """The trace's log-weights and size (empty when there is no trace)."""
        cdef CTrace* t = self._ctrace()
        if t == NULL:
            return {}
        # Everything is read before any Python object is made (which could
        # run code that releases the trace).
        cdef size_t n = t.size(), nfb = t.count_flagged(kFlagFallback)
        cdef double lp = t.log_prior(), ll = t.log_likelihood(), lf = t.log_factors()
        return {"choices": n, "fallbacks": nfb, "log_prior": lp, "log_likelihood": ll,
                "log_factors": lf, "total_log_weight": lp + ll + lf}

    def to_dict(self):
        """A JSON-friendly rendering for a client: the value as is; the error as its kind,
        stable code and id (:func:`fugue_ppl.errors.public_error`), never its text."""
        return {"value": self.value, "status": self.status, "model_version": self.model_version,
                "duration_seconds": self.duration, "fallback_sites": list(self.fallback_sites),
                "trace": self.summary(),
                "error": None if self.error is None else public_error(self.error, self.error_id)}

    def __repr__(self):
        return (f"InferenceResult(status={self.status!r}, value={self.value!r}, "
                f"duration={self.duration:.3g}s)")

    def __reduce__(self):
        # The value, status, version, duration and trace; of the error, only
        # what to_dict() shows (kind, code, id): its text stays in this
        # process's log (the copy's error is a RedactedError).
        error = None
        if self.error is not None:
            public = public_error(self.error, self.error_id)
            error = (public["kind"], public["code"])
        return (_result_from_state, (self.value, self.status, self.model_version,
                                     self.duration, error, self.error_id, self.trace))


def _signed(signature):
    # A function with `signature`, for the checks a runner derives from one.
    def request(*args, **kwargs):
        pass
    request.__signature__ = signature
    return request


cdef inline bint _fast_valid(const vector[double]& lo, const vector[double]& hi,
                             const vector[char]& nan_ok, PyObject** args,
                             Py_ssize_t nargs) noexcept:
    # The schema's compiled check: exactly one float per field, each within
    # its bounds (NaN where allowed).
    cdef Py_ssize_t k
    cdef double x
    if <size_t>nargs != lo.size():
        return False
    for k in range(nargs):
        if args[k].ob_type != &PyFloat_Type:
            return False
        x = PyFloat_AS_DOUBLE(<object>args[k])
        if not (lo[k] <= x <= hi[k]) and not (x != x and nan_ok[k]):
            return False
    return True


cdef InferenceResult _result(object value, str status, object version, double duration,
                             object error, str error_id):
    # A result without a trace (the model did not complete).
    cdef InferenceResult res = InferenceResult.__new__(InferenceResult)
    res.value = value
    res.status = status
    res.model_version = version
    res.duration = duration
    res.error = error
    res.error_id = error_id
    return res


# ================================================================ runner

cdef class ModelRunner

include "_workers.pxi"

cdef object _MISSING = object()


cdef object _infer_fastcall(PyObject* self, PyObject** args, Py_ssize_t nargs,
                            PyObject* kwnames):
    return (<ModelRunner>self)._infer(args, nargs, kwnames)


cdef PyMethodDef* _infer_def = fastcall_def(_infer_fastcall, "infer(*args, seed=None, **kwargs)",
                                            """\
Run the model on one request; returns an InferenceResult.

Validates the inputs (ValidationError on bad input; the model is not called),
asks the circuit breaker, runs the model (pooled, robust, under the
deadline, recorded in the metrics) and reports the outcome to the breaker.
When the model fails, times out or the breaker refuses the call, the
configured fallback is returned with the matching status; without one the
error is raised (CircuitOpenError carries retry_after).

seed (an int >= 0) is the run's key: the run draws the stream of
numpy.random.default_rng([s, seed]) for a runner seeded with s (a
SeedSequence: seed appended to its spawn key), so the same request key gives
the same trace in any thread and any replica. Default: the runner's run
counter. A bad seed raises TypeError or InvalidArgument before anything is
counted; a runner drawing from a Generator refuses it.
""")


# The sections of a config the runner reads, and their settings types.
_SECTIONS = (("model", ModelConfig), ("runtime", RuntimeConfig), ("breaker", BreakerConfig),
             ("metrics", MetricsConfig))


cdef class ModelRunner:
    """Serve a model in production: validation, breaker, fallbacks, deadline, metrics.

    Parameters
    ----------
    model : callable
        The model function, called as ``model(*args, **kwargs)``.
    config : RunnerConfig or fugue_ppl.config.Config, optional
        The settings, read from four sections: ``model`` (the version
        reported and the breaker's name), ``runtime`` (the deadline and the
        trace pool's sizes), ``breaker`` and ``metrics``. Anything with those
        sections of those types works. None: the components' own defaults
        (a :class:`~fugue_ppl.serving.RunnerConfig`). Kept as
        :attr:`config`.
    schema : fugue_ppl.validation.Schema, optional
        Validates the inputs; its fields are in the model's argument order
        and the model gets the cleaned values positionally.
    fallback : object or callable, optional
        Served when the model fails, times out or the breaker refuses the
        call; a callable is called with the exception to produce it.
        Without a fallback those errors are raised.
    site_fallbacks : mapping, optional
        Per-site fallbacks for a :class:`~fugue_ppl.RobustHandler` (keys: an
        address, a pattern or a value type).
    rng : None, int, SeedSequence or Generator
        As for :class:`~fugue_ppl.PriorHandler`: a seed gives each call its
        own stream (keyed by ``infer(..., seed=k)`` or the runner's call
        counter) and calls proceed in parallel; a Generator is one stream,
        drawn from by one call at a time.
    breaker : CircuitBreaker, optional
        Default: one built from ``config.breaker``.
    metrics : ProductionMetrics or None, optional
        Default: a new one over ``config.metrics.window_seconds`` when
        ``config.metrics.enabled``, else none. ``False`` turns metrics off.
    deadline : float or None, optional
        Overrides ``config.runtime.max_inference_time`` (seconds; None: no
        deadline).
    degraded_model : callable, optional
        The degradation policy "serve a cheaper model": while the breaker is
        DEGRADED, calls run this model instead (same arguments, status
        ``"degraded"``).
    inference : ImportanceSampling, MetropolisHastings or SequentialMonteCarlo, optional
        Answer each request with a posterior instead of one prior run: the
        algorithm's ``posterior`` method runs on this runner's stream
        (``infer(..., seed=k)`` gives the same posterior in any replica) by
        the call's deadline, and the result's value is a
        :class:`~fugue_ppl.inference.Posterior`: an
        :class:`~fugue_ppl.inference.ImportanceResult` (one particle run; its
        quantiles and k̂ computed when first read), or a
        :class:`~fugue_ppl.inference.PosteriorSummary` of the chains, or of
        the filter over the request's data series (the model is then the
        step model). Not with ``site_fallbacks``. Default: what
        ``config.inference`` builds, when the config has that section.
    degraded_shed : float, optional
        The policy "shed load": while the breaker is DEGRADED, this fraction
        of the calls (evenly spread) is served the fallback at once (status
        ``"shed"``; needs a fallback). Without either policy (the default) a
        DEGRADED breaker changes nothing: calls are served normally.

    Raises
    ------
    TypeError
        An argument of the wrong type (``config`` without the four sections).
    InvalidArgument
        A bad value (the deadline, ``degraded_shed`` outside [0, 1], both
        policies at once, or shedding without a fallback).

    Notes
    -----
    A runner pickles (to be sent to worker processes: a
    ``ProcessPoolExecutor``, Dask) as its configuration: the model, the
    ``degraded_model`` and a callable fallback by reference (a module-level
    function pickles by its import name; a lambda or a closure is refused with
    a TypeError naming it), the config (a
    :class:`~fugue_ppl.serving.RunnerConfig` of the sections it reads, so a
    full ``Config``'s secrets stay behind), the inference it serves, the
    schema, the fallback, the site fallbacks, the deadline, the breaker's
    settings (config, name, ``record`` / ``ignore``), the metrics' settings
    (window, latency range; or none) and the random state of its handler (seed
    and run counter, or the Generator, as handlers pickle: the copy gives the
    same result as the original for the same ``infer(..., seed=k)``). It
    unpickles as a fresh runner: a new breaker in HEALTHY, new metrics at
    zero, a new empty pool, new idle workers. The live state (the breaker's
    state and window, the metrics' counts, the breaker's listeners and the
    metrics' monitors, calls in flight) is deliberately not carried.

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.models import sensor
    >>> runner = fp.ModelRunner(sensor, rng=42, fallback=(20.0, True))
    >>> result = runner.infer(22.0)
    >>> result.status, result.model_version
    ('ok', '1')
    """

    cdef readonly object model
    cdef readonly object config
    cdef readonly object schema
    cdef readonly CircuitBreaker breaker
    cdef readonly ProductionMetrics metrics
    cdef readonly TracePool pool
    cdef readonly Handler handler
    cdef readonly object version
    cdef readonly object infer
    cdef object _validate
    # Without a schema: the model's arity, compiled from its signature once
    # (_max_pos < 0: any number of positional arguments; _kw_ok None: any keyword).
    cdef bint _check_arity
    cdef Py_ssize_t _min_pos, _max_pos
    cdef object _kw_ok
    cdef dict _pos_index
    cdef tuple _required_kw
    cdef object _signature
    cdef object _derived              # the model's Schema.from_signature, or None
    # The degradation policy while the breaker is DEGRADED: a cheaper model,
    # or a fraction of the calls shed to the fallback (evenly spread).
    cdef readonly object degraded_model
    cdef readonly double degraded_shed
    cdef double _shed_acc
    # The inference algorithm answering each call (None: one run per call),
    # and its posterior method.
    cdef readonly object inference
    cdef object _posterior
    cdef bint _degrade
    # Inference events: a fraction _log_rate of the calls, sampled evenly.
    cdef double _log_rate, _log_acc
    cdef int _log_level
    cdef object _log
    # The schema's compiled fast path: every field a float check lo <= x <= hi
    # (NaN passing where nan_ok). A call of exactly those floats, positional,
    # is valid and unchanged; anything else goes through the schema.
    cdef bint _fast
    cdef vector[double] _lo
    cdef vector[double] _hi
    cdef vector[char] _nan_ok
    cdef object _fallback
    cdef bint _has_fallback
    cdef bint _fallback_callable
    cdef object _deadline
    cdef double _deadline_s          # _deadline in seconds, 0 for none
    cdef int64_t _deadline_ticks     # _deadline in clock ticks, 0 for none
    cdef readonly WorkerPool workers
    cdef _Deadlines _deadlines       # the deadlines of the calls awaited in the last loop
    cdef CCircuitBreaker* _br        # self.breaker's C++ breaker, kept alive by _brk
    cdef shared_ptr[CCircuitBreaker] _brk
    cdef double _spt

    def __init__(self, model, config=None, schema=None, fallback=_MISSING, *,
                 site_fallbacks=None, rng=None, breaker=None, metrics=None,
                 deadline=_MISSING, degraded_model=None, degraded_shed=0.0, inference=None):
        if self.infer is not None:
            raise _already_initialised(self)
        if not callable(model):
            raise TypeError(f"ModelRunner: model must be callable, got {type(model).__name__}")
        if config is None:
            config = RunnerConfig()
        # (duck-typed: a fugue_ppl.config.Config has these sections too)
        for name, section_type in _SECTIONS:
            if not isinstance(getattr(config, name, None), section_type):
                raise TypeError(f"ModelRunner: config must be a RunnerConfig or a "
                                f"fugue_ppl.config.Config (its {name} a "
                                f"{section_type.__name__}), got {type(config).__name__}")
        if inference is None:
            section = getattr(config, "inference", None)     # (an optional section)
            if section is not None:
                inference = section.build()
        if schema is None:
            # (an algorithm whose requests are not the model's arguments, such as a
            # filter's data series, says what they are)
            signature = getattr(inference, "request_signature", None)
            schema = self._from_signature(
                model if signature is None else _signed(signature(model)), config.model.name)
        if schema is not None:
            validate_args = getattr(schema, "validate_args", None)
            if not callable(validate_args):
                raise TypeError(f"ModelRunner: schema must be a fugue_ppl.validation.Schema, "
                                f"got {type(schema).__name__}")
            self._validate = validate_args
            self._compile_fast_path(schema)
        self.model = model
        self.config = config
        self.schema = schema
        self.version = config.model.version
        self._has_fallback = fallback is not _MISSING
        self._fallback = None if fallback is _MISSING else fallback
        self._fallback_callable = self._has_fallback and callable(fallback)
        if breaker is None:
            breaker = CircuitBreaker(config.breaker, name=config.model.name)
        elif not isinstance(breaker, CircuitBreaker):
            raise TypeError(f"ModelRunner: breaker must be a CircuitBreaker, got "
                            f"{type(breaker).__name__}")
        self.breaker = breaker
        self._brk = self.breaker.c
        self._br = self._brk.get()
        if metrics is None:
            metrics = (ProductionMetrics(window=config.metrics.window_seconds)
                       if config.metrics.enabled else None)
        elif metrics is False:
            metrics = None
        elif not isinstance(metrics, ProductionMetrics):
            raise TypeError(f"ModelRunner: metrics must be a ProductionMetrics, None or False, "
                            f"got {type(metrics).__name__}")
        self.metrics = metrics
        if deadline is _MISSING:
            deadline = config.runtime.max_inference_time
        if deadline is not None:
            deadline = check_duration(deadline, "deadline", "ModelRunner")
        self._deadline = deadline
        self._deadline_s = 0.0 if deadline is None else deadline
        self._spt = seconds_per_tick()
        self._deadline_ticks = 0 if deadline is None else deadline_ticks(deadline, self._spt)
        if inference is not None:
            self._posterior = getattr(inference, "posterior", None)
            if not callable(self._posterior):
                raise TypeError(f"ModelRunner: inference must be an inference algorithm with a "
                                f"posterior() method (ImportanceSampling, MetropolisHastings, "
                                f"SequentialMonteCarlo), got "
                                f"{type(inference).__name__}")
            if site_fallbacks:
                raise invalid("ModelRunner", "site_fallbacks", site_fallbacks,
                              "must be empty with inference= (an algorithm's runs have no "
                              "per-site fallbacks)")
            self.inference = inference
        self.pool = TracePool(config.runtime.pool_max_size, config.runtime.pool_min_size)
        h = PooledPriorHandler(rng=rng, pool=self.pool)
        if site_fallbacks:
            h = RobustHandler(h, fallbacks=site_fallbacks)
        # The runner times each call itself and records it into the metrics
        # (one clock read at each end serves the breaker and the metrics).
        self.handler = h
        self.workers = WorkerPool(config.runtime.workers, config.runtime.queue_size,
                                  config.metrics.window_seconds)
        if degraded_model is not None and not callable(degraded_model):
            raise TypeError(f"ModelRunner: degraded_model must be callable, got "
                            f"{type(degraded_model).__name__}")
        degraded_shed = check_real(degraded_shed, "degraded_shed", "ModelRunner", "probability")
        if degraded_model is not None and degraded_shed > 0.0:
            raise invalid("ModelRunner", "degraded_shed", degraded_shed,
                          "must be 0 with a degraded_model (one degradation policy)")
        if degraded_shed > 0.0 and not self._has_fallback:
            raise invalid("ModelRunner", "degraded_shed", degraded_shed,
                          "needs a fallback to serve the calls it sheds")
        self.degraded_model = degraded_model
        self.degraded_shed = degraded_shed
        self._degrade = degraded_model is not None or degraded_shed > 0.0
        self._log_rate = config.runtime.inference_log_rate
        self._log_level = logging.getLevelName(config.runtime.inference_log_level)
        self._log = logging.getLogger(INFERENCE_LOGGER)
        self.infer = PyCFunction_NewEx(_infer_def, <PyObject*>self, NULL)

    cdef object _from_signature(self, object model, str name):
        # The schema the model's annotations give when each parameter has a
        # checked type; else an arity check compiled from its signature.
        try:
            sig = inspect.signature(model)
        except (TypeError, ValueError):
            return None                   # (a callable without one: nothing to check)
        try:
            derived = Schema.from_signature(model, name=name)
        except TypeError:
            derived = None
        if derived is not None and derived.fields and derived.typed and not any(
                p.kind is p.KEYWORD_ONLY for p in sig.parameters.values()):
            return derived
        self._signature = sig
        self._derived = derived
        pos = [p for p in sig.parameters.values()
               if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        kinds = {p.kind for p in sig.parameters.values()}
        self._min_pos = sum(1 for p in pos if p.default is p.empty)
        self._max_pos = -1 if inspect.Parameter.VAR_POSITIONAL in kinds else len(pos)
        self._kw_ok = None if inspect.Parameter.VAR_KEYWORD in kinds else frozenset(
            p.name for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        self._pos_index = {p.name: i for i, p in enumerate(pos)}
        self._required_kw = tuple(p.name for p in sig.parameters.values()
                                  if p.kind is p.KEYWORD_ONLY and p.default is p.empty)
        self._check_arity = True
        return None

    cdef bint _arity_ok(self, Py_ssize_t nargs, dict kwargs):
        cdef Py_ssize_t i
        if nargs < self._min_pos and kwargs is None:
            return False
        if self._max_pos >= 0 and nargs > self._max_pos:
            return False
        if kwargs is None:
            return not self._required_kw
        for name in kwargs:
            if self._kw_ok is not None and name not in self._kw_ok:
                return False
            i = self._pos_index.get(name, nargs)
            if i < nargs:
                return False              # given positionally too
        names = list(self._pos_index)
        for i in range(nargs, self._min_pos):
            if names[i] not in kwargs:
                return False
        for name in self._required_kw:
            if name not in kwargs:
                return False
        return True

    cdef int _reject(self, PyObject** args, Py_ssize_t nargs, dict kwargs) except -1:
        # A call that does not fit the model's signature: a client error,
        # counted as such, raised with every violation the signature shows.
        if self.metrics is not None:
            self.metrics.add_invalid()
        a = [<object>args[k] for k in range(nargs)]
        kw = kwargs or {}
        if self._derived is not None:
            self._derived.validate_args(*a, **kw)     # raises with every violation
        try:
            self._signature.bind(*a, **kw)
        except TypeError as e:
            message = str(e)
        else:   # (the compiled check and bind disagree: trust bind's wording)
            message = "the arguments do not match the model's signature"
        raise ValidationError(f"invalid input: (args): {message}",
                              violations=[Violation("(args)", "arity", message, "...")])

    cdef int _compile_fast_path(self, object schema) except -1:
        cdef char nan_ok
        bounds = getattr(schema, "float_bounds", None)
        if bounds is None or getattr(schema, "rules", ()):
            return 0   # (a schema of no fields has the fast path too: no arguments)
        for b in bounds:
            if b is None:
                return 0
            self._lo.push_back(b[0])
            self._hi.push_back(b[1])
            # A typed local, not the conditional expression itself: Cython
            # binds push_back's const char& to a temporary that is gone by the call.
            nan_ok = 1 if b[2] else 0
            self._nan_ok.push_back(nan_ok)
        self._fast = True
        return 0

    cdef object _serve_fallback(self, str status, double t0, object error):
        # The fallback for a failed call, or the error when there is none.
        # Either way the error is logged under a fresh id that goes with it.
        error_id = new_error_id()
        self._log_error(status if self._has_fallback else "raised", error, error_id)
        if not self._has_fallback:
            if self._log_rate > 0.0:
                self._log_event("error" if status is FALLBACK else status,
                                (ticks() - t0) * self._spt, error_id)
            try:
                error.fugue_error_id = error_id
            except AttributeError:          # (an exception type with __slots__)
                pass
            raise error
        value = self._fallback(error) if self._fallback_callable else self._fallback
        if self.metrics is not None:
            self.metrics.add_fallbacks(1)
        cdef double seconds = (ticks() - t0) * self._spt
        if self._log_rate > 0.0:
            self._log_event(status, seconds, error_id)
        return _result(value, status, self.version, seconds, error, error_id)

    cdef int _log_event(self, str status, double seconds, str error_id) except -1:
        # One structured event for every 1 / _log_rate calls (fugue_ppl.serving.logs).
        self._log_acc += self._log_rate
        if self._log_acc < 1.0:
            return 0
        self._log_acc -= 1.0
        if self._log.isEnabledFor(self._log_level):
            self._log.log(self._log_level, "inference", extra={
                "request_id": request_id.get(), "traceparent": traceparent.get(),
                "model": self.config.model.name,
                "model_version": self.version, "status": status, "duration_seconds": seconds,
                "error_id": error_id})
        return 0

    cdef int _log_error(self, str status, object error, str error_id) except -1:
        # A rejected call is routine while the breaker is open: debug, no traceback.
        if isinstance(error, (CircuitOpenError, OverloadedError)):
            _log.debug("error %s: model %s version %s: call %s: %s", error_id,
                       self.config.model.name, self.version, status, error)
        elif isinstance(error, InferenceTimeout):
            _log.warning("error %s: model %s version %s: %s", error_id,
                         self.config.model.name, self.version, error)
        else:
            _log.error("error %s: model %s version %s: %s (%s)", error_id,
                       self.config.model.name, self.version, type(error).__name__, status,
                       exc_info=error)
        return 0

    cdef object _infer(self, PyObject** args, Py_ssize_t nargs, PyObject* kwnames):
        cdef int64_t t0 = ticks()
        cdef dict kwargs = None
        cdef object seed = None
        cdef Py_ssize_t k, nk
        if kwnames != NULL:
            nk = PyTuple_GET_SIZE(<object>kwnames)
            for k in range(nk):
                name = <object>PyTuple_GET_ITEM(<object>kwnames, k)
                if name == "seed":
                    seed = <object>args[nargs + k]
                else:
                    if kwargs is None:
                        kwargs = {}
                    kwargs[name] = <object>args[nargs + k]
            if seed is not None:
                # (checked first: a bad seed changes nothing, not even the counts)
                seed = check_seed(self.handler, seed, "ModelRunner.infer")
        cdef object values = self._validated(args, nargs, kwargs)
        if values is not None:
            args = PySequence_Fast_ITEMS(values)
            nargs = PyTuple_GET_SIZE(values)
            kwargs = None
        # The result of a successful call, allocated before the breaker is
        # asked: a failure to allocate it leaves nothing to undo.
        cdef InferenceResult res = InferenceResult.__new__(InferenceResult)
        cdef bint degraded = False, admitted = False
        settled = self._admit(t0, &degraded, &admitted)
        if settled is not None:
            return settled
        if degraded:
            return self._execute(res, self.degraded_model, DEGRADED, admitted, args, nargs,
                                 kwargs, seed, t0, None)
        return self._execute(res, self.model, OK, admitted, args, nargs, kwargs, seed, t0, None)

    cdef object _admit(self, int64_t t0, bint* degraded, bint* admitted):
        # The degradation policy and the breaker: the settled result of a call
        # shed or rejected here, else None with the call admitted (degraded:
        # to the degraded_model). A closed breaker admits without its lock;
        # the permit is counted with the outcome. Otherwise allow() decides
        # (and counts).
        if self._degrade and self._br.state() == BreakerStateC.Degraded:
            if self.degraded_model is not None:
                degraded[0] = True
            elif self._shed():
                return self._serve_fallback(SHED, t0, self._shed_error())
        admitted[0] = self._br.admit_closed()
        if not admitted[0] and not self.breaker.c_allow():
            return self._serve_fallback(REJECTED, t0, self.breaker.open_error())
        return None

    cdef object _validated(self, PyObject** args, Py_ssize_t nargs, dict kwargs):
        # The checked arguments: None when they go to the model as they are,
        # else the schema's cleaned values (a tuple, positional). A client
        # error raises ValidationError and is counted as invalid.
        cdef Py_ssize_t k
        if self._validate is not None and not (
                self._fast and kwargs is None
                and _fast_valid(self._lo, self._hi, self._nan_ok, args, nargs)):
            try:
                if kwargs is None:
                    cleaned = self._validate(*[<object>args[k] for k in range(nargs)])
                else:
                    cleaned = self._validate(*[<object>args[k] for k in range(nargs)], **kwargs)
            except ValidationError:
                if self.metrics is not None:
                    self.metrics.add_invalid()
                raise
            return tuple(cleaned.values())
        if self._check_arity and not self._arity_ok(nargs, kwargs):
            self._reject(args, nargs, kwargs)
        return None

    cdef bint _shed(self) noexcept:
        # Whether this call is one of the degraded_shed fraction (evenly spread).
        self._shed_acc += self.degraded_shed
        if self._shed_acc >= 1.0:
            self._shed_acc -= 1.0
            return True
        return False

    cdef object _shed_error(self):
        return CircuitOpenError(
            f"circuit breaker {self.breaker.name!r} is DEGRADED: the call was shed "
            f"(degraded_shed={self.degraded_shed:g})", retry_after=0.0, state="DEGRADED")

    cdef object _execute(self, InferenceResult res, object model, str served, bint admitted,
                         PyObject** args, Py_ssize_t nargs, dict kwargs, object seed,
                         int64_t t0, _Job job):
        # Runs an admitted call and settles it: the breaker, the metrics, the
        # result. For an asynchronous call (job), only when the worker claims
        # the call; else (the caller stopped waiting) it returns None and the
        # run's trace goes back to the pool with the result dropped.
        cdef int64_t t1 = 0
        cdef size_t nfb
        res._pool = self.pool         # the run's trace comes from it: keep it alive
        try:
            # (a run past its deadline, however it ended, raises InferenceTimeout;
            # the clock read that checked it is t1)
            if self._posterior is None:
                value = run_core(self.handler, model, args, nargs, kwargs,
                                 self._deadline_ticks, t0, &res._th, None, seed, &t1)
            else:
                value = self._run_posterior(model, args, nargs, kwargs, seed, t0, &t1)
        except InferenceTimeout as exc:
            t1 = ticks()
            if job is not None and not job.claim():
                return None
            self._failed(admitted, t0, t1, exc)
            return self._serve_fallback(TIMEOUT, t0, exc)
        except Exception as exc:
            t1 = ticks()
            if job is not None and not job.claim():
                return None
            self._failed(admitted, t0, t1, exc)
            return self._serve_fallback(FALLBACK, t0, exc)
        except BaseException as exc:
            # Cancelled (KeyboardInterrupt, SystemExit, CancelledError, ...):
            # ignored by the breaker unless it records them (which gives the
            # permit back); the metrics count the call as an error of its kind.
            t1 = ticks()
            if job is not None and not job.claim():
                return None
            self._failed(admitted, t0, t1, exc)
            raise
        if t1 == 0:
            t1 = ticks()
        if job is not None and not job.claim():
            return None
        cdef double seconds = (t1 - t0) * self._spt
        # The result is filled before the breaker and the metrics are updated:
        # their locked instructions wait for the clock read to complete, and
        # this work, which does not, overlaps it instead.
        nfb = res._th.get().count_flagged(kFlagFallback) if res._th.get() != NULL else 0
        res.value = value
        res.status = FALLBACK if nfb else served
        res.model_version = self.version
        res.duration = seconds
        cdef CTransition tr
        tr.changed = False
        if admitted:
            self._br.record_admitted(False, seconds, tr)
        else:
            self._br.record_success(seconds, tr)
        if self.metrics is not None:
            record_success(self.metrics, seconds, t1, nfb)
        if tr.changed:
            self.breaker.c_notify(tr)            # listeners last: every count is settled
        if self._log_rate > 0.0:
            self._log_event(res.status, seconds, None)
        return res

    cdef object _run_posterior(self, object model, PyObject** args, Py_ssize_t nargs,
                               dict kwargs, object seed, int64_t t0, int64_t* t1):
        # The inference algorithm's posterior for one call, on the runner's
        # handler (the run's stream), by the call's deadline.
        cdef Py_ssize_t k
        cdef double left = 0.0
        if self._deadline_ticks:
            left = self._deadline_s - (ticks() - t0) * self._spt
            if left <= 0.0:
                raise InferenceTimeout(f"the call passed its deadline of {self._deadline_s:g} s "
                                       "before the model ran")
        a = [<object>args[k] for k in range(nargs)]
        value = self._posterior(self.handler, model, *a, seed=seed,
                                deadline=left if left > 0.0 else None, **(kwargs or {}))
        t1[0] = ticks()
        if self._deadline_ticks and t1[0] - t0 > self._deadline_ticks:
            raise InferenceTimeout(f"the run took {(t1[0] - t0) * self._spt:.6g} s, past its "
                                   f"deadline of {self._deadline_s:g} s")
        return value

    cdef int _failed(self, bint admitted, int64_t t0, int64_t t1, object exc) except -1:
        # A call that raised: the breaker counts it as its record / ignore
        # classes say (a failure by default); the metrics as an error.
        cdef CTransition tr
        tr.changed = False
        cdef int outcome = self.breaker.c_classify(exc)
        cdef double seconds = (t1 - t0) * self._spt
        if outcome == OUTCOME_IGNORED:
            if admitted:
                self._br.record_admitted_ignored()
            else:
                self._br.record_ignored()
        elif admitted:
            self._br.record_admitted(outcome == OUTCOME_FAILURE, seconds, tr)
        elif outcome == OUTCOME_FAILURE:
            self._br.record_failure(seconds, tr)
        else:
            self._br.record_success(seconds, tr)
        if self.metrics is not None:
            self.metrics.record_call(t0, t1, exc, 0)
        if tr.changed:
            self.breaker.c_notify(tr)
        return 0

    # ------------------------------------------------------------ asynchronous calls

    async def infer_async(self, *args, seed=None, **kwargs):
        """Run the model on one request in a worker thread; returns an InferenceResult.

        The call is checked as :meth:`infer` checks it (ValidationError at
        once), then queued for one of the runner's ``config.runtime.workers``
        threads (:attr:`workers`). It returns by the deadline, counted from
        this call, whatever the model does: at the deadline the caller gets
        the fallback with status ``"timeout"`` (or InferenceTimeout) and the
        run is abandoned: stopped at its next effect or by
        :class:`RunAbandoned` raised in its thread; a run blocked in a C call
        stays in flight until the call returns, its result dropped. When
        ``config.runtime.queue_size`` calls already wait, the call is refused
        at once: the fallback with status ``"overloaded"``, or
        OverloadedError. Cancelling the awaiting task abandons the run too.

        Raises
        ------
        RuntimeError
            The runner was closed (:meth:`close`), or no event loop runs.
        """
        loop = asyncio.get_running_loop()
        out = self._submit(loop, args, kwargs, seed)
        if type(out) is not _Job:
            return out
        try:
            return await (<_Job>out).future
        except asyncio.CancelledError:
            self._cancel(<_Job>out)
            raise

    def infer_background(self, callback, *args, seed=None, **kwargs):
        """Queue a call for the worker threads without waiting for it (shadow traffic).

        ``callback(outcome, raised)`` gets the InferenceResult (``raised``
        False) or the exception the call raised (``raised`` True): in the
        worker thread that ran it, or at once in this thread when the call is
        settled at admission (invalid, overloaded, shed or rejected). The
        deadline is enforced at the run's effects and on its end, as for
        :meth:`infer`; no caller waits for it. A callback that raises is
        logged and ignored.

        Returns
        -------
        bool
            True when the call was queued; False when it was settled at once.

        Raises
        ------
        TypeError
            ``callback`` is not callable.
        RuntimeError
            The runner was closed.
        """
        if not callable(callback):
            raise TypeError(f"ModelRunner.infer_background: callback must be callable, "
                            f"got {type(callback).__name__}")
        if seed is not None:
            # (a bad key is the caller's error: raised here, not handed to the callback)
            seed = check_seed(self.handler, seed, "ModelRunner.infer_background")
        try:
            out = self._submit(None, args, kwargs, seed, callback)
        except (ValidationError, OverloadedError, CircuitOpenError) as exc:
            _call_back(callback, exc, True)
            return False
        if type(out) is not _Job:
            _call_back(callback, out, False)
            return False
        return True

    cdef object _submit(self, object loop, tuple args, dict kwargs, object seed,
                        object callback=None):
        # Checks and admits an asynchronous call: a result when it is settled
        # at once (overloaded, shed, rejected), else the queued job (with a
        # future and a timer at its deadline in `loop`; none for a background call).
        cdef int64_t t0 = ticks()
        cdef WorkerPool w = self.workers
        cdef _Deadlines dl
        if seed is not None:
            seed = check_seed(self.handler, seed, "ModelRunner.infer_async")
        if not kwargs:
            kwargs = None
        cdef object values = self._validated(PySequence_Fast_ITEMS(args),
                                             PyTuple_GET_SIZE(args), kwargs)
        if values is not None:
            args = values
            kwargs = None
        if w._closed:
            raise RuntimeError("ModelRunner.infer_async: the runner is closed")
        w.arrive()
        if w.full():
            w.overloaded += 1
            return self._serve_fallback(OVERLOADED, t0, OverloadedError(
                f"the runner is overloaded: {w.size} workers busy and {w.queue_size} calls "
                "waiting", retry_after=w.service_time))
        cdef bint degraded = False, admitted = False
        settled = self._admit(t0, &degraded, &admitted)
        if settled is not None:
            return settled
        cdef _Job job = _Job.__new__(_Job)
        job.runner = self
        job.model = self.degraded_model if degraded else self.model
        job.served = DEGRADED if degraded else OK
        job.admitted = admitted
        job.args = args
        job.kwargs = kwargs
        job.seed = seed
        job.t0 = t0
        job.loop = loop
        job.callback = callback
        if self._log_rate > 0.0:
            # (the worker thread logs the call's event under the caller's ids)
            job.log_ids = (request_id.get(), traceparent.get())
        job.future = None if loop is None else loop.create_future()
        job.state = QUEUED
        try:
            w.submit(job)
        except BaseException as exc:
            job.state = SETTLED
            self._failed(admitted, t0, ticks(), exc)
            raise
        if self._deadline_ticks and loop is not None:
            dl = self._deadlines
            if dl is None or dl.loop is not loop:
                dl = self._deadlines = _Deadlines(loop)
            job.deadline = loop.time() + self._deadline_s - (ticks() - t0) * self._spt
            dl.add(job)
        return job

    cdef int _run_job(self, _Job job) except -1:
        # In a worker thread: run the call and hand its outcome to the
        # caller's loop, unless the caller stopped waiting.
        cdef InferenceResult res = InferenceResult.__new__(InferenceResult)
        cdef tuple a = job.args
        cdef bint raised = False
        ids = job.log_ids
        if ids is not None:
            id_token, trace_token = request_id.set(ids[0]), traceparent.set(ids[1])
        try:
            out = self._execute(res, job.model, job.served, job.admitted,
                                PySequence_Fast_ITEMS(a), PyTuple_GET_SIZE(a), job.kwargs,
                                job.seed, job.t0, job)
        except BaseException as exc:
            out = exc
            raised = True
        finally:
            if ids is not None:
                request_id.reset(id_token)
                traceparent.reset(trace_token)
        res = None
        if job.state != CLAIMED:
            # Abandoned: the stop request sent to this thread may be pending still.
            PyThreadState_SetAsyncExc(job.thread, NULL)
            return 0
        if job.loop is None:
            _call_back(job.callback, out, raised)
            return 0
        try:
            job.loop.call_soon_threadsafe(_deliver, job, out, raised)
        except RuntimeError:          # the caller's loop is closed: nobody to tell
            pass
        return 0

    cdef int _timed_out(self, _Job job) except -1:
        # In the caller's loop, at the deadline: the call is a timeout, the
        # run (if any) abandoned.
        cdef bint ran = job.state == RUNNING
        self.workers.abandon(job)
        exc = InferenceTimeout(
            f"the call passed its deadline of {self._deadline_s:g} s "
            + ("running: the run was abandoned" if ran else "waiting for a worker"))
        self._failed(job.admitted, job.t0, ticks(), exc)
        try:
            out = self._serve_fallback(TIMEOUT, job.t0, exc)
        except BaseException as e:
            if not job.future.done():
                job.future.set_exception(e)
        else:
            if not job.future.done():
                job.future.set_result(out)
        return 0

    cdef int _cancel(self, _Job job) except -1:
        # The awaiting task was cancelled: the call ends as cancelled (the
        # breaker ignores it unless it records CancelledError).
        if job.state != QUEUED and job.state != RUNNING:
            return 0
        self.workers.abandon(job)
        self._failed(job.admitted, job.t0, ticks(), asyncio.CancelledError())
        return 0

    def infer_many(self, inputs, **options):
        """Run many requests through this runner: one plain record per input, in
        order, each failure in its record (see :func:`fugue_ppl.serving.infer_many`,
        which takes the same ``options``: ``executor``, ``chunk_size``, ``seed``,
        ``retries``, ``progress``)."""
        from fugue_ppl.serving.batch import infer_many
        return infer_many(self, inputs, **options)

    def close(self):
        """Stop the worker threads of :meth:`infer_async` once their runs end; a later
        ``infer_async`` raises RuntimeError (``infer`` keeps working)."""
        self.workers.close()

    def __del__(self):
        # (before the collector clears the fields of a runner in a cycle)
        if self.workers is not None:
            self.workers.close()

    @property
    def deadline(self):
        """Seconds one call may take (checked at every effect), or None."""
        return self._deadline

    def __repr__(self):
        name = getattr(self.model, "__name__", type(self.model).__name__)
        return (f"ModelRunner({name}, version={self.version!r}, "
                f"breaker={self.breaker.state!r})")

    def __reduce__(self):
        """Pickle as the configuration and the random state (see the class's Notes)."""
        return (_runner_from_state, (type(self), _runner_state(self)),
                getattr(self, "__dict__", None) or None)


# ================================================================ pickling

cdef dict _STATUSES = {s: s for s in (OK, FALLBACK, TIMEOUT, REJECTED, DEGRADED, SHED,
                                      OVERLOADED)}


def _result_from_state(value, status, model_version, duration, error, error_id, trace):
    """Unpickle an :class:`InferenceResult`; ``error`` is ``(kind, code)`` or None."""
    if trace is not None and not isinstance(trace, Trace):
        raise TypeError(f"InferenceResult: trace must be a Trace or None, got "
                        f"{type(trace).__name__}")
    cdef InferenceResult res = _result(
        value, _STATUSES.get(status, status), model_version, duration,
        None if error is None else RedactedError(error[0], error[1], error_id), error_id)
    res._trace = trace
    return res


cdef str _qualified_name(object obj):
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if name is None:
        return f"a {type(obj).__name__} object"
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if module else name


cdef int _check_picklable(object obj, str what) except -1:
    # A runner pickles its callables by reference (a module-level function by
    # its import name): one without an importable name is refused here, with
    # its name, rather than by the pickler deep inside the runner.
    try:
        pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        if callable(obj):
            hint = ("a lambda, a function defined inside another function or a bound "
                    "method of an object that does not pickle has no name a pickle can "
                    "refer to: define it at module level")
        else:
            hint = "give the runner a value that pickles"
        raise TypeError(f"ModelRunner does not pickle: its {what} {_qualified_name(obj)!r} "
                        f"cannot be pickled ({type(e).__name__}); {hint}") from e
    return 0


cdef dict _runner_state(ModelRunner r):
    # What an unpickled runner is built from: the runner's configuration and
    # its random state (seed and run counter, or its Generator). Its live
    # state (breaker state, metrics counts, pool, workers, calls in flight) is
    # deliberately left behind: the copy starts fresh.
    _check_picklable(r.model, "model")
    if r.degraded_model is not None:
        _check_picklable(r.degraded_model, "degraded_model")
    if r._has_fallback:
        _check_picklable(r._fallback, "fallback")
    if r.inference is not None:
        _check_picklable(r.inference, "inference")
    cfg = r.config
    if type(cfg) is not RunnerConfig:
        # (a fugue_ppl.config.Config: only the sections the runner reads, so
        # that the service's secrets stay behind)
        # (the inference the runner serves is pickled itself, below)
        cfg = RunnerConfig(model=cfg.model, runtime=cfg.runtime, breaker=cfg.breaker,
                           metrics=cfg.metrics)
    rng, counter = _rng_state(r.handler)
    b = r.breaker
    m = r.metrics
    return {
        "model": r.model,
        "config": cfg,
        "schema": r.schema,
        "fallback": (r._fallback,) if r._has_fallback else None,
        "site_fallbacks": (r.handler.fallbacks if isinstance(r.handler, RobustHandler)
                           else None),
        "rng": rng,
        "counter": counter,
        "breaker": (b.config, b.name, b.record_exceptions, b.ignore_exceptions, b.clock),
        "metrics": (None if m is None else
                    (m.window, m.latency.lowest, m.latency.highest)),
        "deadline": r._deadline,
        "degraded_model": r.degraded_model,
        "degraded_shed": r.degraded_shed,
        "inference": r.inference,
    }


def _runner_from_state(cls, state):
    """Unpickle a :class:`ModelRunner`: a fresh runner of the pickled configuration
    (a new HEALTHY breaker of the same settings, new metrics, a new pool and new
    workers), its run counter where the original's was."""
    b_config, b_name, record, ignore, clock = state["breaker"]
    breaker = CircuitBreaker(b_config, clock=clock, name=b_name, record=record, ignore=ignore)
    m = state["metrics"]
    fallback = state["fallback"]
    runner = cls.__new__(cls)
    ModelRunner.__init__(
        runner, state["model"], state["config"], schema=state["schema"],
        fallback=_MISSING if fallback is None else fallback[0],
        site_fallbacks=state["site_fallbacks"], rng=state["rng"], breaker=breaker,
        metrics=False if m is None else ProductionMetrics(*m), deadline=state["deadline"],
        degraded_model=state["degraded_model"], degraded_shed=state["degraded_shed"],
        inference=state["inference"])
    if state["counter"]:
        _set_run_counter(runner.handler, state["counter"])
    return runner


# ================================================================ trace checks

TraceIssue = namedtuple("TraceIssue", ["address", "kind", "message"],
                        module="fugue_ppl.serving._runner")
TraceIssue.__doc__ = """A problem found by :func:`validate_trace`.

Attributes
----------
address : str or None
    The choice concerned (None for a trace-wide issue).
kind : str
    ``"non_finite_weight"``, ``"rejected"``, ``"non_finite_value"``,
    ``"extreme_value"`` or ``"fallback"``.
message : str
"""


def validate_trace(trace, max_abs=1e6):
    """The production checks of a trace: weights, extreme values, fallbacks.

    Parameters
    ----------
    trace : Trace
    max_abs : float
        Values with a larger magnitude are reported as extreme.

    Returns
    -------
    list of TraceIssue
        Empty when the trace looks healthy. A ``-inf`` total log-weight is
        reported as ``"rejected"`` (a legitimate outcome, but never a usable
        sample); NaN or ``+inf`` weights as ``"non_finite_weight"``.

    Raises
    ------
    TypeError
        ``trace`` is not a Trace; ``max_abs`` is not a number.
    ValueError
        ``max_abs`` is not positive.
    """
    if not isinstance(trace, Trace):
        raise TypeError(f"validate_trace: trace must be a Trace, got {type(trace).__name__}")
    if isinstance(max_abs, (bool, str, bytes)) or not isinstance(max_abs, (int, float)):
        raise TypeError(f"validate_trace: max_abs must be a number, got {type(max_abs).__name__}")
    if not max_abs > 0:
        raise ValueError(f"validate_trace: max_abs must be > 0, got {max_abs!r}")
    issues = []
    for name in ("log_prior", "log_likelihood", "log_factors", "total_log_weight"):
        w = getattr(trace, name)
        if math.isnan(w) or w == math.inf:
            issues.append(TraceIssue(None, "non_finite_weight", f"{name} is {w!r}"))
    if trace.total_log_weight == -math.inf:
        issues.append(TraceIssue(None, "rejected", "total_log_weight is -inf: the trace has "
                                                   "zero probability"))
    for c in trace.choices:
        v = float(c.value)
        if not math.isfinite(v):
            issues.append(TraceIssue(c.address, "non_finite_value",
                                     f"{c.kind} value at {c.address!r} is {v!r}"))
        elif abs(v) > max_abs:
            issues.append(TraceIssue(c.address, "extreme_value",
                                     f"{c.kind} value at {c.address!r} is {v!r} "
                                     f"(|value| > {max_abs!r})"))
        if c.fallback:
            issues.append(TraceIssue(c.address, "fallback",
                                     f"{c.kind} at {c.address!r} holds a fallback value"))
    return issues
