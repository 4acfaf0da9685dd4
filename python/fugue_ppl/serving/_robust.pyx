# cython: boundscheck=False, wraparound=False
"""RobustHandler: a fallback value at every sampling site that fails, and
observations that cannot be scored kept with log-probability -inf. It plugs
into the core's runs as the effect hook of a HandlerWrapper."""

import fnmatch
import re

import numpy as np

from libc.math cimport isfinite

from fugue_ppl.core._cdist cimport CValue, ValueKind, box_value, log_prob_value, value_kind
from fugue_ppl.core._cruntime cimport (
    AddrId, CChoice, CEffectResult, ChoiceKind, CRun, Status, coerce,
)
from fugue_ppl.core._distributions cimport Distribution
from fugue_ppl.core._runtime cimport (
    HandlerWrapper, RunContext, effect_error_kind, raise_effect_error, unbox_value,
)

from fugue_ppl.errors import InvalidObservation

__all__ = ["RobustHandler"]


cdef set _FALLBACK_TYPES = {float, int, bool}


cdef int _fallback_value(object value, str where, CValue* out) except -1:
    if isinstance(value, (bool, np.bool_)):
        out[0] = CValue.of_bool(bool(value))
    elif isinstance(value, (int, np.integer)):
        if not -2**63 <= value < 2**63:
            raise ValueError(f"RobustHandler: fallback {where} must fit in int64, got {value!r}")
        out[0] = CValue.of_int(int(value))
    elif isinstance(value, (float, np.floating)):
        if not isfinite(value):
            raise ValueError(f"RobustHandler: fallback {where} must be finite, got {value!r}")
        out[0] = CValue.of_float(float(value))
    else:
        raise TypeError(f"RobustHandler: fallback {where} must be a float, an int or a bool, "
                        f"got {type(value).__name__}")
    return 0


cdef class RobustHandler(HandlerWrapper):
    """Run ``inner`` with a fallback at every sampling site that fails.

    At each ``sample``: an error of the handler (address conflict, a site
    missing from a scored trace, a type clash) or a non-finite sampled value
    is replaced by a fallback value, recorded in the trace with
    ``Choice.fallback`` set (its log-prob scored under the site's
    distribution), and counted by kind in :attr:`error_counts`. Observations
    are never skipped: one that cannot be scored (NaN, wrong type, duplicate
    address) is recorded with log-probability ``-inf``. A ``-inf`` factor is
    kept (a legitimate rejection); a NaN factor, a deadline and any exception
    raised by the model's own code still propagate.

    Parameters
    ----------
    inner : Handler
    fallbacks : mapping, optional
        Keys: an exact address, a pattern (``*`` matches any characters,
        ``?`` one; brackets are literal, so ``"x[*]"`` matches every
        ``addr("x", i)``) or a value type (``float``, ``int``, ``bool``); values: the
        substitute. Lookup order: exact address, then the first matching
        pattern (in mapping order), then the site's value type. A site with
        no fallback raises the original error.
    on_nonfinite : {"fallback", "raise", "keep"}
        What to do with a NaN or infinite sampled value (default
        ``"fallback"``).

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> h = fp.RobustHandler(fp.ScoreGivenTrace(fp.Trace.from_dict({})), fallbacks={float: 0.0})
    >>> value, trace = fp.run(h, lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
    >>> value, trace.choice("x").fallback, h.error_counts
    (0.0, True, {'UnexpectedModelStructure': 1})
    """

    cdef dict _exact
    cdef list _globs
    cdef dict _by_kind
    cdef dict _cache
    cdef str _on_nonfinite
    cdef dict _errors
    cdef dict _fallbacks              # the fallbacks as given (a copy, for pickling)

    def __init__(self, inner, fallbacks=None, on_nonfinite="fallback"):
        cdef CValue v
        cdef ValueKind kind
        self._claim()
        self._wrap(inner, True, False)
        self._spec.check_finite = True
        if on_nonfinite not in ("fallback", "raise", "keep"):
            raise ValueError(f"RobustHandler: on_nonfinite must be 'fallback', 'raise' or "
                             f"'keep', got {on_nonfinite!r}")
        self._on_nonfinite = on_nonfinite
        self._exact = {}
        self._globs = []
        self._by_kind = {}
        self._cache = {}
        self._errors = {}
        if fallbacks is None:
            fallbacks = {}
        if not hasattr(fallbacks, "items"):
            raise TypeError(f"RobustHandler: fallbacks must be a mapping, got "
                            f"{type(fallbacks).__name__}")
        self._fallbacks = dict(fallbacks.items())
        for key, value in fallbacks.items():
            if isinstance(key, type):
                if key not in _FALLBACK_TYPES:
                    raise TypeError(f"RobustHandler: a type key must be float, int or bool, "
                                    f"got {key.__name__}")
                _fallback_value(value, f"for {key.__name__}", &v)
                if key is float:
                    kind = ValueKind.Float
                elif key is int:
                    kind = ValueKind.Int
                else:
                    kind = ValueKind.Bool
                v = coerce(v, kind)
                if v.kind != kind:
                    raise TypeError(f"RobustHandler: the fallback for {key.__name__} must be a "
                                    f"{key.__name__}, got {value!r}")
                self._by_kind[<int>kind] = box_value(v)
            elif isinstance(key, str) and key:
                _fallback_value(value, f"for {key!r}", &v)
                if "*" in key or "?" in key:
                    # "*" any run of characters, "?" one; brackets are literal
                    # (they are part of indexed addresses: "x[*]").
                    rx = re.compile(fnmatch.translate(key.replace("[", "[[]")))
                    self._globs.append((rx, box_value(v)))
                else:
                    self._exact[key] = box_value(v)
            else:
                raise TypeError(f"RobustHandler: a fallbacks key must be an address, a pattern "
                                f"or a type, got {key!r}")

    cdef bint _lookup(self, object addr, ValueKind kind, CValue* out) except -1:
        # The fallback for `addr` as a value of `kind`; False when none fits.
        key = (addr, <int>kind)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._exact.get(addr)
            if hit is None:
                for pattern, value in self._globs:
                    if pattern.match(addr):
                        hit = value
                        break
            if hit is None:
                hit = self._by_kind.get(<int>kind)
            if hit is not None:
                unbox_value(hit, out)
                out[0] = coerce(out[0], kind)
                if out[0].kind != kind:
                    hit = None
            if len(self._cache) < 4096:
                self._cache[key] = _NO_FALLBACK if hit is None else hit
        if hit is None or hit is _NO_FALLBACK:
            return False
        unbox_value(hit, out)
        out[0] = coerce(out[0], kind)
        return True

    cdef int _count(self, str kind) except -1:
        self._errors[kind] = self._errors.get(kind, 0) + 1
        return 0

    cdef object _sample_failed(self, CRun* r, CEffectResult res, AddrId aid, object addr,
                               Distribution dist):
        cdef Status st = res.status
        cdef CValue v
        cdef CChoice c
        self._count(effect_error_kind(st))
        if st == Status.NonFiniteSample:
            if self._on_nonfinite == "keep":
                c.addr = aid
                c.kind = ChoiceKind.Sample
                c.flags = 0
                c.value = res.value
                c.log_prob = log_prob_value(dist.c, res.value)
                if r.trace.add(c):
                    r.trace.add_log_prior(c.log_prob)
                return box_value(res.value)
            if self._on_nonfinite == "raise":
                raise InvalidObservation(f"sample({addr!r}): {dist.name} produced a non-finite "
                                         f"value ({box_value(res.value)!r})", addr)
        if not self._lookup(addr, value_kind(dist.c.kind), &v):
            if st == Status.NonFiniteSample:
                raise InvalidObservation(f"sample({addr!r}): {dist.name} produced a non-finite "
                                         "value and no fallback is configured for it", addr)
            raise_effect_error(st, "sample", addr, dist)   # no fallback for this site
        # Recorded as a flagged choice; at a taken address (a conflict) it is
        # substituted without being recorded.
        r.add_fallback(aid, v, log_prob_value(dist.c, v))
        (<RunContext*>r.binding).substituted += 1
        return box_value(v)

    cdef int _observe_failed(self, CRun* r, Status st, AddrId aid, object addr, object dist,
                             CValue v) except -1:
        # Evidence is never dropped: the observation is recorded with
        # log-probability -inf (a duplicate address adds the -inf only).
        self._count(effect_error_kind(st))
        r.add_unscorable_observation(aid, v)
        return 0

    @property
    def on_nonfinite(self):
        return self._on_nonfinite

    @property
    def fallbacks(self):
        """The fallbacks as given (a copy: ``{address, pattern or type: value}``)."""
        return dict(self._fallbacks)

    def __reduce__(self):
        # Its settings and inner handler (pickled as handlers are); the error
        # counts are this process's and start again at zero.
        return (_rebuild_robust, (type(self), self.inner, self._fallbacks, self._on_nonfinite),
                getattr(self, "__dict__", None) or None)

    @property
    def error_counts(self):
        """``{kind: count}`` of the problems met at sampling and observation sites."""
        return dict(self._errors)

    def reset_counts(self):
        """Forget :attr:`error_counts`."""
        self._errors.clear()


cdef object _NO_FALLBACK = object()


def _rebuild_robust(cls, inner, fallbacks, on_nonfinite):
    """Unpickle a :class:`RobustHandler`."""
    h = cls.__new__(cls)
    RobustHandler.__init__(h, inner, fallbacks, on_nonfinite)
    return h
