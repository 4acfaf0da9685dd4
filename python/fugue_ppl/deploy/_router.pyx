# cython: boundscheck=False, wraparound=False
"""Router: each request goes to one model version, chosen by a stable hash of
its key against the current weights.

The hash is FNV-1a (64 bits) over the key's UTF-8 bytes, finished with
splitmix64's mixer, so the same key picks the same version in every process
and replica (Python's own ``hash`` is salted per process). The weights are
one immutable table swapped whole, so a call sees the old weights or the new
ones, never a mix. The choice and the call are compiled: routing adds a hash
and a comparison or two to ``ModelRunner.infer``.
"""

cimport cython
from cpython.object cimport PyObject
from libc.stdint cimport uint64_t
from libcpp.vector cimport vector

from fugue_ppl.core._capi cimport (
    PyCFunction_NewEx, PyMethodDef, PyObject_Vectorcall, PyTuple_GET_ITEM, PyTuple_GET_SIZE,
    fastcall_def,
)

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL

import math
import os
import sys
from collections.abc import Mapping
from types import MappingProxyType

from fugue_ppl.checks import check_real, check_text, check_type, invalid, safe_repr
from fugue_ppl.deploy.shadow import ShadowStats
from fugue_ppl.errors import _already_initialised
from fugue_ppl.serving import ModelRunner

__all__ = ["Router", "key_hash"]

# Weights may miss a sum of one by this much (rounding of fractions such as 1/3).
cdef double _SUM_TOLERANCE = 1e-9


cdef inline uint64_t _mix(uint64_t z) noexcept:
    # splitmix64's finaliser: every input bit reaches every output bit.
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef uint64_t _hash(object key) except? 0:
    # FNV-1a over the key's UTF-8 bytes (a str) or its bytes, then mixed.
    cdef const char* p
    cdef Py_ssize_t n, i
    cdef uint64_t h = 0xCBF29CE484222325ULL
    if type(key) is str:
        p = PyUnicode_AsUTF8AndSize(key, &n)
    elif isinstance(key, bytes):
        p = <bytes>key
        n = len(<bytes>key)
    elif isinstance(key, int) and not isinstance(key, bool):
        try:
            text = str(key)
        except ValueError:            # beyond the interpreter's limit on int digits
            raise invalid("Router", "key", key, "must be an int of at most "
                          f"{sys.get_int_max_str_digits()} digits") from None
        return _hash(text)
    else:
        raise TypeError(f"Router: key must be a str, bytes or an int, got {type(key).__name__}")
    for i in range(n):
        h = (h ^ <unsigned char>p[i]) * 0x100000001B3ULL
    return _mix(h)


def key_hash(key):
    """The 64-bit hash a :class:`Router` routes ``key`` by (a str, bytes or int):
    stable across processes, Python versions and machines."""
    return _hash(key)


@cython.final
cdef class _Table:
    # One set of weights: the versions in order, their runners, and the upper
    # bound (exclusive, in [0, 2^64)) of each version's share of the hash range.
    cdef tuple names
    cdef tuple infers              # each version's runner.infer
    cdef tuple runners
    cdef vector[uint64_t] upper
    cdef object weights            # a read-only {version: weight}

    cdef Py_ssize_t pick(self, uint64_t h) noexcept:
        cdef Py_ssize_t i, n = <Py_ssize_t>self.upper.size()
        for i in range(n - 1):
            if h < self.upper[i]:
                return i
        return n - 1


cdef object _route_fastcall(PyObject* self, PyObject** args, Py_ssize_t nargs,
                            PyObject* kwnames):
    return (<Router>self)._infer(args, nargs, kwnames)


cdef PyMethodDef* _infer_def = fastcall_def(_route_fastcall,
                                            "infer(*args, key=None, seed=None, **kwargs)", """\
Route one request and run it: the runner of the version its key picks
(ModelRunner.infer: its result's model_version is that version).

key (a str, bytes or int: a user or session id) picks the same version for
the same key while the weights stay; None picks at random, in proportion to
the weights. The other arguments go to the runner's infer.
""")


cdef class Router:
    """Send each request to a model version by a stable hash of its key.

    Parameters
    ----------
    runners : mapping of str to ModelRunner
        The live versions: each key is a version, the runner serving it
        (its ``version`` must be that key, so results carry it).
    weights : mapping of str to float, optional
        Each version's share of the traffic, summing to one (versions left
        out get none). Default: all traffic to the first version.

    Raises
    ------
    TypeError
        A runner that is not a ModelRunner, a version or weight of the wrong type.
    InvalidArgument
        No runners, a version that does not match its runner's, bad weights
        (see :meth:`set_weights`).

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.deploy import Router
    >>> from fugue_ppl.models import sensor
    >>> from fugue_ppl.serving import ModelConfig, RunnerConfig
    >>> def runner(version):
    ...     return fp.ModelRunner(sensor, RunnerConfig(model=ModelConfig(version=version)), rng=1)
    >>> router = Router({"1": runner("1"), "2": runner("2")}, weights={"1": 0.9, "2": 0.1})
    >>> router.route("user-42") == router.route("user-42")
    True
    >>> router.infer(22.0, key="user-42").model_version == router.route("user-42")
    True
    """

    cdef _Table _table
    cdef object _runners
    # Shadow traffic: a fraction of the calls (evenly spread) also goes to
    # this candidate's worker threads, off the request path.
    cdef object _shadow_runner
    cdef readonly object shadow            # its ShadowStats, or None
    cdef double _shadow_fraction, _shadow_acc
    cdef uint64_t _state            # the random keys' generator (splitmix64)
    cdef readonly object infer

    def __init__(self, runners, weights=None):
        if self.infer is not None:
            raise _already_initialised(self)
        if not isinstance(runners, Mapping):
            raise TypeError(f"Router: runners must be a mapping of version to ModelRunner, "
                            f"got {type(runners).__name__}")
        if not runners:
            raise invalid("Router", "runners", {}, "must hold at least one version")
        checked = {}
        for version, runner in runners.items():
            check_text(version, "runners", "Router", max_length=64)
            check_type(runner, f"runners[{version!r}]", "Router", ModelRunner, "a ModelRunner")
            if runner.version != version:
                raise invalid("Router", f"runners[{version!r}]", runner.version,
                              f"must serve version {version!r} (its config.model.version)")
            checked[version] = runner
        self._runners = MappingProxyType(checked)
        self._state = int.from_bytes(os.urandom(8), "little")
        self.set_weights({next(iter(checked)): 1.0} if weights is None else weights)
        self.infer = PyCFunction_NewEx(_infer_def, <PyObject*>self, NULL)

    def set_weights(self, weights):
        """Replace the weights at once: every later call routes by the new ones.

        Raises
        ------
        TypeError
            ``weights`` is not a mapping of str to real numbers.
        InvalidArgument
            An unknown version, a weight that is negative or not finite, or
            weights not summing to one.
        """
        if not isinstance(weights, Mapping):
            raise TypeError(f"Router.set_weights: weights must be a mapping of version to "
                            f"weight, got {type(weights).__name__}")
        clean = {}
        for version, w in weights.items():
            if version not in self._runners:
                raise invalid("Router.set_weights", "weights", safe_repr(version),
                              f"names an unknown version (live: {', '.join(self._runners)})")
            if isinstance(w, bool) or not isinstance(w, (int, float)):
                raise TypeError(f"Router.set_weights: weights[{version!r}] must be a real "
                                f"number, got {type(w).__name__}")
            w = float(w)
            if not math.isfinite(w) or w < 0.0:
                raise invalid("Router.set_weights", f"weights[{version!r}]", w,
                              "must be finite and >= 0")
            clean[version] = w
        total = math.fsum(clean.values())
        if not abs(total - 1.0) <= _SUM_TOLERANCE:
            raise invalid("Router.set_weights", "weights", clean,
                          f"must sum to 1 (they sum to {total!r})")
        cdef _Table t = _Table.__new__(_Table)
        names, runners, acc = [], [], 0.0
        for version, w in clean.items():
            if w == 0.0:
                continue
            acc += w
            names.append(version)
            runners.append(self._runners[version])
            # (2^64 * acc, saturated: the last share reaches the end of the range)
            t.upper.push_back(0xFFFFFFFFFFFFFFFF if acc >= 1.0 else <uint64_t>(acc * 2.0 ** 64))
        t.names = tuple(names)
        t.runners = tuple(runners)
        t.infers = tuple(r.infer for r in runners)
        t.weights = MappingProxyType({v: clean.get(v, 0.0) for v in self._runners})
        self._table = t            # (one reference swap: a call sees old or new, never a mix)

    @property
    def weights(self):
        """``{version: weight}`` now (read-only; zero for versions without traffic)."""
        return self._table.weights

    @property
    def runners(self):
        """``{version: ModelRunner}`` (read-only)."""
        return self._runners

    cdef uint64_t _random_key(self) noexcept:
        # (one add under the GIL: calls from several threads get distinct keys)
        self._state += 0x9E3779B97F4A7C15ULL
        return _mix(self._state)

    def set_shadow(self, version=None, fraction=0.0, tolerance=1e-9):
        """Send ``fraction`` of the calls to ``version`` too, off the request path.

        The served response never changes and waits for nothing: the copy is
        queued for the candidate runner's worker threads
        (:meth:`~fugue_ppl.ModelRunner.infer_background`; refused at once
        when its queue is full) with the same arguments and ``seed=``, and
        its output is compared with the served one in :attr:`shadow` (a
        :class:`~fugue_ppl.deploy.shadow.ShadowStats`). ``version=None``
        stops it.

        Raises
        ------
        InvalidArgument
            An unknown version, or ``fraction`` outside [0, 1].
        """
        if version is None:
            self._shadow_fraction = 0.0
            self._shadow_runner = None
            return
        if version not in self._runners:
            raise invalid("Router.set_shadow", "version", safe_repr(version),
                          f"names an unknown version (live: {', '.join(self._runners)})")
        fraction = check_real(fraction, "fraction", "Router.set_shadow", "probability")
        stats = ShadowStats(version, tolerance)
        self._shadow_fraction = 0.0            # (off while the parts change)
        self._shadow_runner = self._runners[version]
        self.shadow = stats
        self._shadow_acc = 0.0
        self._shadow_fraction = fraction

    cdef bint _shadow_pick(self) noexcept:
        # Whether this call is one of the shadowed fraction (evenly spread).
        self._shadow_acc += self._shadow_fraction
        if self._shadow_acc < 1.0:
            return False
        self._shadow_acc -= 1.0
        return True

    cdef int _shadow_send(self, object res, tuple args, dict kwargs) except -1:
        # A copy of the call for the candidate's worker threads; its outcome
        # is compared with the served one when it ends.
        runner, stats = self._shadow_runner, self.shadow
        if runner is None or stats is None:
            return 0
        served_ok = getattr(res, "status", None) == "ok"
        served = getattr(res, "value", None)
        stats.sent_one()
        runner.infer_background(
            lambda outcome, raised: stats.record(served, served_ok, outcome, raised),
            *args, **kwargs)
        return 0

    def route(self, key=None):
        """The version ``key`` goes to now (None: a random choice by the weights)."""
        cdef _Table t = self._table
        return t.names[t.pick(self._random_key() if key is None else _hash(key))]

    cdef object _infer(self, PyObject** args, Py_ssize_t nargs, PyObject* kwnames):
        cdef _Table t = self._table
        cdef Py_ssize_t nk = 0, k, at = -1
        cdef object key = None
        if kwnames != NULL:
            nk = PyTuple_GET_SIZE(<object>kwnames)
            for k in range(nk):
                if <object>PyTuple_GET_ITEM(<object>kwnames, k) == "key":
                    at = k
                    key = <object>args[nargs + k]
                    break
        infer = t.infers[t.pick(self._random_key() if key is None else _hash(key))]
        if at < 0:
            res = PyObject_Vectorcall(infer, args, <size_t>nargs, kwnames)
        elif nk == 1:
            res = PyObject_Vectorcall(infer, args, <size_t>nargs, NULL)
        else:
            kwargs = {<object>PyTuple_GET_ITEM(<object>kwnames, k): <object>args[nargs + k]
                      for k in range(nk) if k != at}
            res = infer(*[<object>args[k] for k in range(nargs)], **kwargs)
        if self._shadow_fraction > 0.0 and self._shadow_pick():
            nk = 0 if kwnames == NULL else PyTuple_GET_SIZE(<object>kwnames)
            self._shadow_send(res, tuple([<object>args[k] for k in range(nargs)]),
                              {<object>PyTuple_GET_ITEM(<object>kwnames, k): <object>args[nargs + k]
                               for k in range(nk) if k != at})
        return res

    async def infer_async(self, *args, key=None, **kwargs):
        """:meth:`infer` through the chosen runner's ``infer_async``."""
        cdef _Table t = self._table
        runner = t.runners[t.pick(self._random_key() if key is None else _hash(key))]
        res = await runner.infer_async(*args, **kwargs)
        if self._shadow_fraction > 0.0 and self._shadow_pick():
            self._shadow_send(res, args, kwargs)
        return res

    def close(self):
        """Close every version's runner (their worker threads)."""
        for runner in self._runners.values():
            runner.close()

    def __repr__(self):
        shares = ", ".join(f"{v}: {w:g}" for v, w in self._table.weights.items())
        return f"Router({{{shares}}})"
