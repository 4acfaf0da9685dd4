# cython: boundscheck=False, wraparound=False
"""The runtime: effects (sample / observe / factor), run, traces, handlers
and the trace pool.

The state of a run lives in a C++ ``Run`` on the stack of :func:`run`; the
innermost run of each thread is found through a C++ ``thread_local``, so runs
in different threads never see each other and nested runs restore the outer
one.
"""

cimport cython
from cpython.dict cimport PyDict_GetItemWithError
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.exc cimport PyErr_Clear, PyErr_Occurred
from cpython.long cimport PyLong_AsLongLong
from cpython.object cimport PyObject
from cython.operator cimport dereference as deref
from libc.math cimport INFINITY, isfinite
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libcpp.memory cimport unique_ptr
from libcpp.vector cimport vector

import fnmatch
import math
import operator
import re
import warnings
from collections import namedtuple

import numpy as np

from fugue_ppl.core._cdist cimport (
    CDist, CValue, ValueKind, bitgen_t, box_value, log_prob_value, value_kind,
)
from fugue_ppl.core._cruntime cimport (
    CRunLock, coerce,
    AddrId, CAddressTable, CChoice, CEffectResult, ChoiceKind, CPoolStats, CRun, CTrace,
    CTraceHandle, CTracePool, HandlerMode, Status, current_run, kFlagFallback, kNoAddr,
    set_current_run,
)
from fugue_ppl.core._capi cimport (
    METH_FASTCALL, METH_KEYWORDS, PyCFunction, PyCFunction_NewEx, PyMethodDef,
    PyObject_Vectorcall, PySequence_Fast_ITEMS, PyTuple_GET_ITEM, PyTuple_GET_SIZE,
)
from fugue_ppl.core._distributions cimport Distribution, as_generator, bitgen_of
from fugue_ppl.monitoring._metrics cimport ProductionMetrics
from fugue_ppl.core._cclock cimport seconds_per_tick, ticks

from fugue_ppl.errors import (
    _already_initialised, AddressConflict, EffectOutsideRun, FugueError, FugueWarning, InferenceTimeout,
    InvalidObservation, TraceAddressNotFound, TypeMismatch, UnexpectedModelStructure,
)

__all__ = [
    "sample", "observe", "factor", "run", "addr", "Trace", "Choice", "TracePool", "PoolStats",
    "Handler", "PriorHandler", "ReplayHandler", "ScoreGivenTrace", "SafeReplayHandler",
    "SafeScoreGivenTrace", "PooledPriorHandler", "MetricsHandler", "RobustHandler",
    "trace_buffer_allocations",
]


# Calibrate the tick clock at import (a few ms, once), not inside the first
# run that sets a deadline.
seconds_per_tick()


# ================================================================ addresses

# The C++ AddressTable owns the addresses; these two mirror it for Python
# (str -> id as a Python int, id -> str, None for a freed id). Both, and the
# caches below, change only with the GIL held, inside _intern and _sweep.
cdef dict _ids = {}
cdef list _names = []
# Table size at which the next _intern first frees the addresses no trace
# refers to; after a sweep it is twice what is left (at least _SWEEP_MIN), so
# sweeping costs O(1) per new address.
cdef size_t _SWEEP_MIN = 4096
cdef size_t _sweep_at = _SWEEP_MIN
cdef vector[AddrId] _freed


cdef AddrId _intern(object a) except? 0xFFFFFFFF:
    if type(a) is not str:
        if isinstance(a, str):
            a = str(a)
            return _addr_id(a)
        raise TypeError(f"an address must be a str (use fp.addr(name, i) for indexed "
                        f"addresses), got {type(a).__name__}")
    if not a:
        raise ValueError("an address must not be empty")
    try:
        encoded = (<str>a).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"address {a!r} is not valid unicode") from None
    cdef CAddressTable* table = &CAddressTable.global_()
    if table.size() >= _sweep_at:
        _sweep()
    cdef AddrId i = table.intern(encoded)
    while len(_names) <= i:
        _names.append(None)
    _names[i] = a
    _ids[a] = i
    return i


cdef int _sweep() except -1:
    # Frees the addresses no trace refers to, in the table and in the caches.
    # Callers hold no unreferenced id across it (ids are taken and recorded
    # with no Python code in between, or pinned with acquire()).
    global _sweep_at
    cdef CAddressTable* table = &CAddressTable.global_()
    cdef AddrId i
    cdef size_t h
    _freed.clear()
    table.sweep(_freed)
    for i in _freed:
        name = _names[i]
        _names[i] = None
        if name is not None:
            del _ids[name]
    for h in range(_N_SLOTS):
        _addr_slots[h].key = NULL
    _addr_slot_refs[:] = [None] * _N_SLOTS
    _sweep_at = max(_SWEEP_MIN, 2 * table.size())
    return 0


def _address_table_info():
    """Sizes of the address table and its caches (for tests and debugging)."""
    cdef CAddressTable* table = &CAddressTable.global_()
    return {"live": table.size(), "capacity": table.capacity(), "sweep_at": _sweep_at,
            "mirrored": len(_ids), "addr_cache_slots": _addr_cache_slots}


def _address_references(address):
    """References held on ``address`` (0 when it is not in the table)."""
    cdef AddrId i = _find_id(address)
    return 0 if i == kNoAddr else CAddressTable.global_().references(i)


# A direct-mapped cache from str object to id, in front of the dict: model
# code passes the same str objects on every run (literals, addr()'s cache),
# so a pointer compare usually settles it. The list keeps each cached str
# alive, so its address cannot be reused by another object while cached.
cdef struct _AddrSlot:
    PyObject* key
    AddrId id

cdef enum:
    _N_SLOTS = 512
cdef _AddrSlot _addr_slots[_N_SLOTS]
cdef list _addr_slot_refs = [None] * _N_SLOTS


cdef inline AddrId _addr_id(object a) except? 0xFFFFFFFF:
    cdef size_t h = (<size_t><PyObject*>a >> 4) & (_N_SLOTS - 1)
    if _addr_slots[h].key == <PyObject*>a:
        return _addr_slots[h].id
    return _addr_id_slow(a, h)


cdef AddrId _addr_id_slow(object a, size_t h) except? 0xFFFFFFFF:
    cdef PyObject* o
    cdef AddrId i
    if type(a) is not str:
        return _intern(a)
    o = PyDict_GetItemWithError(_ids, a)
    i = <AddrId><object>o if o != NULL else _intern(a)
    _addr_slot_refs[h] = a
    _addr_slots[h].key = <PyObject*>a
    _addr_slots[h].id = i
    return i


cdef inline AddrId _find_id(object a) except? 0xFFFFFFFE:
    # The id of `a` or kNoAddr when `a` was never used as an address.
    cdef PyObject* o
    if type(a) is not str:
        if not isinstance(a, str):
            raise TypeError(f"trace addresses are str, got {type(a).__name__}")
        a = str(a)
    o = PyDict_GetItemWithError(_ids, a)
    if o != NULL:
        return <AddrId><object>o
    return kNoAddr


cdef inline str _name(AddrId i):
    return <str>_names[i]


cdef object _NO_INDEX = object()
# name -> list of cached "name[i]" strings, for i < _ADDR_CACHE_MAX; emptied
# when its lists hold more than _ADDR_CACHE_SLOTS entries in all, so that
# indexed names made from request data cannot grow it without bound.
cdef dict _addr_cache = {}
cdef Py_ssize_t _ADDR_CACHE_MAX = 1 << 16
cdef Py_ssize_t _ADDR_CACHE_SLOTS = 1 << 18
cdef Py_ssize_t _addr_cache_slots = 0


cdef str _escape(str s):
    if not any(ch in s for ch in "\\[],'"):
        return s
    return (s.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
             .replace(",", "\\,").replace("'", "\\'"))


cdef str _component(object i):
    if isinstance(i, (bool, np.bool_)):
        raise TypeError("addr: an index must be an int or a str, got bool")
    if isinstance(i, str):
        return "'" + _escape(i) + "'"
    try:
        return str(operator.index(i))
    except TypeError:
        raise TypeError(f"addr: an index must be an int or a str, got {type(i).__name__}") from None


cdef str _addr_slow(object name, tuple indices):
    if not isinstance(name, str):
        raise TypeError(f"addr: name must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError("addr: name must not be empty")
    cdef str base = _escape(name)
    if not indices:
        return base
    cdef str s = base + "[" + ",".join([_component(i) for i in indices]) + "]"
    cdef list lst
    cdef Py_ssize_t k
    global _addr_cache_slots
    if len(indices) == 1 and type(indices[0]) is int and 0 <= indices[0] < _ADDR_CACHE_MAX:
        k = indices[0]
        lst = _addr_cache.get(name)
        if lst is None or len(lst) <= k:
            if _addr_cache_slots + k + 1 > _ADDR_CACHE_SLOTS:
                _addr_cache.clear()
                _addr_cache_slots = 0
                lst = None
            if lst is None:
                lst = []
                _addr_cache[name] = lst
            _addr_cache_slots += k + 1 - len(lst)
            lst.extend([None] * (k + 1 - len(lst)))
        lst[k] = s
        _addr_id(s)           # intern now: later lookups hit the same object
    return s


def addr(name, i=_NO_INDEX, *indices):
    """Build an indexed address, e.g. ``addr("x", 3)`` -> ``"x[3]"``.

    The encoding is injective: two different ``(name, *indices)`` inputs never
    give the same address (``[``, ``]``, ``,``, ``'`` and ``\\`` in names and
    string indices are escaped; string indices are quoted). Addresses with one
    small non-negative int index are cached (a bounded cache), so
    ``addr("x", i)`` in a loop costs no string formatting after the first run.

    Addresses are interned while a trace records them and reclaimed once no
    trace does, so addresses made from request data do not grow memory.

    Parameters
    ----------
    name : str
        Non-empty base name.
    *indices : int or str
        Index components.

    Returns
    -------
    str

    Raises
    ------
    TypeError
        ``name`` is not a str, or an index is not an int or a str.

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> fp.addr("x", 3), fp.addr("w", 1, 2), fp.addr("y", "a")
    ('x[3]', 'w[1,2]', "y['a']")
    """
    cdef list lst
    if type(i) is int and type(name) is str and not indices:
        lst = <list>_addr_cache.get(name)
        if lst is not None and 0 <= i < len(lst):
            s = lst[i]
            if s is not None:
                return s
    if i is _NO_INDEX:
        return _addr_slow(name, ())
    return _addr_slow(name, (i,) + indices)


# ================================================================ values

cdef str _kind_name(ValueKind k):
    if k == ValueKind.Float:
        return "float"
    if k == ValueKind.Int:
        return "int"
    return "bool"


cdef int _unbox(object x, CValue* out) except -1:
    # A Python value as a CValue; -1 with TypeError for non-numbers.
    t = type(x)
    if t is float:
        out[0] = CValue.of_float(PyFloat_AS_DOUBLE(x))
    elif t is bool:
        out[0] = CValue.of_bool(x is True)
    elif t is int:
        try:
            out[0] = CValue.of_int(PyLong_AsLongLong(x))
        except OverflowError:
            out[0] = CValue.of_float(_int_as_float(x))
    elif isinstance(x, (np.bool_, bool)):
        out[0] = CValue.of_bool(bool(x))
    elif isinstance(x, (np.integer, int)):
        return _unbox(int(x), out)
    elif isinstance(x, (np.floating, float)):
        out[0] = CValue.of_float(float(x))
    elif isinstance(x, np.ndarray) and (<object>x).ndim == 0:
        return _unbox((<object>x).item(), out)
    else:
        raise TypeError(type(x).__name__)
    return 0


cdef double _int_as_float(object x):
    # An int as the nearest float; one beyond the float range is infinite.
    try:
        return float(x)
    except OverflowError:
        return INFINITY if x > 0 else -INFINITY


# ================================================================ traces

Choice = namedtuple("Choice", ["address", "value", "log_prob", "kind", "fallback"],
                    module="fugue_ppl.core._runtime")
Choice.__doc__ = """One choice of a trace.

Attributes
----------
address : str
value : float, int or bool
log_prob : float
    Log-probability of the value under the distribution at the site.
kind : {"sample", "observe"}
fallback : bool
    True when the value was substituted by a fallback.
"""


cdef object _make_choice(const CChoice* c):
    return Choice(_name(c.addr), box_value(c.value), c.log_prob,
                  "sample" if c.kind == ChoiceKind.Sample else "observe",
                  (c.flags & kFlagFallback) != 0)


@cython.freelist(32)
@cython.no_gc
cdef class Trace:
    """The record of one model run.

    Choices are kept in execution order, observations included. A trace is a
    read-only mapping from address to value (``trace["x"]``, ``in``, ``len``,
    iteration over addresses) with the run's log-weights.

    A trace produced by a pooled run goes back to its pool when released
    (:meth:`release`, a ``with`` block, or garbage collection); using it after
    an explicit release raises :class:`~fugue_ppl.errors.FugueError`.

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> def model():
    ...     return fp.sample("x", fp.Normal(0.0, 1.0))
    >>> value, trace = fp.run(fp.PriorHandler(rng=1), model)
    >>> trace["x"] == value, len(trace), trace.log_prior == trace.choice("x").log_prob
    (True, 1, True)
    """

    def __init__(self):
        if self._t.get() == NULL and not self._release_pending:
            self._t.own(new CTrace())

    cdef CTrace* _get(self) except NULL:
        cdef CTrace* t = self._t.get()
        if t == NULL or self._release_pending:
            raise FugueError("this trace was released to its pool and can no longer be used")
        return t

    cdef CTrace* _borrow(self) except NULL:
        cdef CTrace* t = self._get()
        self._borrows += 1
        return t

    cdef void _unborrow(self) noexcept:
        self._borrows -= 1
        if self._borrows == 0 and self._release_pending:
            self._release_pending = False
            self._t.reset()

    cdef const CChoice* _lookup(self, object address) except? NULL:
        cdef AddrId i = _find_id(address)    # (may run a str subclass's code)
        cdef CTrace* t = self._get()
        cdef const CChoice* c = NULL
        if i != kNoAddr:
            c = t.find(i)
        if c == NULL:
            raise TraceAddressNotFound(f"trace has no choice at address {address!r}", address)
        return c

    # ---- weights
    @property
    def log_prior(self):
        """Sum of the log-probabilities of the sampled choices."""
        return self._get().log_prior()

    @property
    def log_likelihood(self):
        """Sum of the log-probabilities of the observations."""
        return self._get().log_likelihood()

    @property
    def log_factors(self):
        """Sum of the ``factor`` log-weights."""
        return self._get().log_factors()

    @property
    def total_log_weight(self):
        """``log_prior + log_likelihood + log_factors``."""
        return self._get().total_log_weight()

    @property
    def released(self):
        """True once the trace went back to its pool."""
        return self._t.get() == NULL or self._release_pending

    # ---- mapping
    def __len__(self):
        return self._get().size()

    def __contains__(self, address):
        self._get()
        if not isinstance(address, str):
            return False
        cdef AddrId i = _find_id(address)
        return i != kNoAddr and self._get().find(i) != NULL

    def __getitem__(self, address):
        return box_value(self._lookup(address).value)

    def get(self, address, default=None):
        """The value at ``address``, or ``default`` when absent."""
        self._get()
        if not isinstance(address, str):
            return default
        cdef AddrId i = _find_id(address)
        cdef const CChoice* c = self._get().find(i) if i != kNoAddr else NULL
        return default if c == NULL else box_value(c.value)

    def __iter__(self):
        return iter(self.keys())

    def keys(self):
        """Addresses in execution order."""
        cdef CTrace* t = self._borrow()
        try:
            return [_name(t.at(k).addr) for k in range(t.size())]
        finally:
            self._unborrow()

    def values(self):
        """Values in execution order."""
        cdef CTrace* t = self._borrow()
        try:
            return [box_value(t.at(k).value) for k in range(t.size())]
        finally:
            self._unborrow()

    def items(self):
        """``(address, value)`` pairs in execution order."""
        cdef CTrace* t = self._borrow()
        try:
            return [(_name(t.at(k).addr), box_value(t.at(k).value)) for k in range(t.size())]
        finally:
            self._unborrow()

    def to_dict(self):
        """``{address: value}`` in execution order."""
        return dict(self.items())

    def choice(self, address):
        """The :class:`Choice` at ``address``.

        Raises
        ------
        TraceAddressNotFound
            No choice at ``address`` (code 500).
        """
        return _make_choice(self._lookup(address))

    @property
    def choices(self):
        """All choices, as :class:`Choice` tuples in execution order."""
        cdef CTrace* t = self._borrow()
        try:
            return [_make_choice(&t.at(k)) for k in range(t.size())]
        finally:
            self._unborrow()

    def to_numpy(self):
        """The choices as a numpy structured array.

        Fields: ``address`` (object), ``kind`` (``"sample"``/``"observe"``),
        ``value`` (float64; bools and ints converted), ``log_prob`` (float64),
        ``fallback`` (bool).
        """
        cdef CTrace* t = self._borrow()
        cdef Py_ssize_t n = t.size(), k
        try:
            out = np.empty(n, dtype=[("address", object), ("kind", "U7"), ("value", np.float64),
                                     ("log_prob", np.float64), ("fallback", np.bool_)])
            for k in range(n):
                c = &t.at(k)
                out[k] = (_name(c.addr), "sample" if c.kind == ChoiceKind.Sample else "observe",
                          c.value.as_double(), c.log_prob, (c.flags & kFlagFallback) != 0)
            return out
        finally:
            self._unborrow()

    # ---- typed access
    cdef object _typed(self, object address, ValueKind want):
        cdef CValue v = self._lookup(address).value
        if v.kind != want:
            raise TypeMismatch(f"address {address!r} holds a {_kind_name(v.kind)}, "
                               f"not a {_kind_name(want)}", address)
        return box_value(v)

    def get_float(self, address):
        """The float at ``address``.

        Raises
        ------
        TraceAddressNotFound
            No choice at ``address`` (code 500).
        TypeMismatch
            The value is an int or a bool (code 600).
        """
        return self._typed(address, ValueKind.Float)

    def get_int(self, address):
        """The int at ``address`` (raises like :meth:`get_float`)."""
        return self._typed(address, ValueKind.Int)

    def get_bool(self, address):
        """The bool at ``address`` (raises like :meth:`get_float`)."""
        return self._typed(address, ValueKind.Bool)

    get_f64 = get_float
    get_i64 = get_int

    # ---- copy, equality, pickle
    def copy(self):
        """An independent (unpooled) copy."""
        cdef Trace other = Trace.__new__(Trace)
        other._t.own(new CTrace(deref(self._get())))
        return other

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __eq__(self, other):
        if not isinstance(other, Trace):
            return NotImplemented
        return deref(self._get()) == deref((<Trace>other)._get())

    __hash__ = None

    def __reduce__(self):
        cdef CTrace* t = self._borrow()
        cdef Py_ssize_t k
        try:
            state = []
            for k in range(t.size()):
                c = &t.at(k)
                state.append((_name(c.addr), <int>c.kind, <int>c.flags, <int>c.value.kind,
                              box_value(c.value), c.log_prob))
            return (_trace_from_state,
                    (state, t.log_prior(), t.log_likelihood(), t.log_factors()))
        finally:
            self._unborrow()

    @staticmethod
    def from_dict(values):
        """A trace holding the sampled values ``{address: value}``.

        Useful as the base of :class:`ScoreGivenTrace` or
        :class:`ReplayHandler` with values from elsewhere. Log-probabilities
        are 0; bools, ints and floats keep their type.

        Raises
        ------
        TypeError
            A value is not a number or a bool, or an address is not a str.
        """
        cdef Trace tr = Trace()
        cdef CChoice c
        for a, v in dict(values).items():
            c.kind = ChoiceKind.Sample
            c.flags = 0
            c.log_prob = 0.0
            try:
                _unbox(v, &c.value)
            except TypeError:
                raise TypeMismatch(f"Trace.from_dict: the value at {a!r} must be a number or a "
                                   f"bool, got {type(v).__name__}", a) from None
            if c.value.kind == ValueKind.Float and not isfinite(c.value.f):
                raise InvalidObservation(f"Trace.from_dict: the value at {a!r} is NaN, infinite "
                                         "or beyond the range of a float", a)
            c.addr = _addr_id(a)          # recorded at once: nothing runs in between
            if not tr._t.get().add(c):
                raise AddressConflict(f"Trace.from_dict: address {a!r} appears twice", a)
        return tr

    # ---- pool
    def release(self):
        """Give the trace back to its pool (no-op for an unpooled trace).

        Afterwards the trace can no longer be used. Releasing twice is an
        error.
        """
        if self._pool is None:
            return
        if self._t.get() == NULL or self._release_pending:
            raise FugueError("this trace was already released to its pool")
        self._give_back()

    cdef int _give_back(self) except -1:
        if self._borrows:
            self._release_pending = True   # the last borrower releases it
        else:
            self._t.reset()
        return 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._pool is not None and not self._release_pending:
            self._give_back()
        return False

    def __repr__(self):
        if self._t.get() == NULL or self._release_pending:
            return "Trace(<released>)"
        cdef CTrace* t = self._borrow()
        try:
            n = t.size()
            weights = (t.log_prior(), t.log_likelihood(), t.log_factors())
            items = ", ".join(f"{a!r}: {v!r}" for a, v in self.items()[:8])
        finally:
            self._unborrow()
        more = ", ..." if n > 8 else ""
        return (f"Trace({{{items}{more}}}, log_prior={weights[0]:.6g}, "
                f"log_likelihood={weights[1]:.6g}, log_factors={weights[2]:.6g})")


def _trace_from_state(state, double log_prior, double log_likelihood, double log_factors):
    cdef Trace tr = Trace()
    cdef CChoice c
    for a, kind, flags, vkind, value, lp in state:
        c.kind = <ChoiceKind><uint8_t>kind
        c.flags = flags
        if vkind == <int>ValueKind.Float:
            c.value = CValue.of_float(value)
        elif vkind == <int>ValueKind.Int:
            c.value = CValue.of_int(value)
        else:
            c.value = CValue.of_bool(value)
        c.log_prob = lp
        c.addr = _addr_id(a)              # recorded at once: nothing runs in between
        tr._t.get().add(c)
    tr._t.get().set_accumulators(log_prior, log_likelihood, log_factors)
    return tr


def trace_buffer_allocations():
    """Buffer allocations made by all traces of the process so far.

    A pooled run of a model of fixed shape allocates nothing after warm-up,
    so this counter stays put across such runs.
    """
    return CTrace.buffer_allocations()


# ================================================================ pool

class PoolStats(namedtuple("PoolStats", ["hits", "misses", "returns", "drops", "size"])):
    """Counters of a :class:`TracePool`.

    Attributes
    ----------
    hits, misses : int
        Acquisitions served from the pool / that built a new trace.
    returns, drops : int
        Releases taken back / destroyed because the pool was full.
    size : int
        Idle traces in the pool now.
    hit_ratio : float
        ``hits / (hits + misses)`` (0.0 before any acquisition).
    """

    __slots__ = ()

    @property
    def hit_ratio(self):
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def to_dict(self):
        d = self._asdict()
        d["hit_ratio"] = self.hit_ratio
        return d


cdef size_t _size_arg(object x, str name) except? 0:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"TracePool: {name} must be an int, got {type(x).__name__}")
    if x < 0:
        raise ValueError(f"TracePool: {name} must be >= 0, got {x}")
    if x > 1 << 20:
        raise ValueError(f"TracePool: {name} must be <= 2**20 (1048576), got {x}")
    return x


cdef class TracePool:
    """A bounded, thread-safe pool of reusable traces.

    A pooled run (:class:`PooledPriorHandler`) takes an idle trace from the
    pool and reuses its buffers, so a model of fixed shape makes no heap
    allocation per run after warm-up.

    Parameters
    ----------
    max_size : int
        Most idle traces kept (>= 1); a release beyond it destroys the trace.
    min_size : int, optional
        Traces pre-built at construction and kept by :meth:`shrink`
        (default 0; at most ``max_size``).

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> pool = fp.TracePool(max_size=8)
    >>> handler = fp.PooledPriorHandler(rng=0, pool=pool)
    >>> for _ in range(3):
    ...     value, trace = fp.run(handler, lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
    ...     trace.release()
    >>> pool.stats.hits, pool.stats.misses
    (2, 1)
    """

    def __init__(self, max_size=64, min_size=None):
        if self.c.get() != NULL:
            raise _already_initialised(self)
        cdef size_t mx = _size_arg(max_size, "max_size")
        cdef size_t mn = 0 if min_size is None else _size_arg(min_size, "min_size")
        if mx < 1:
            raise ValueError(f"TracePool: max_size must be >= 1, got {max_size}")
        if mn > mx:
            raise ValueError(f"TracePool: min_size ({min_size}) must be <= max_size ({max_size})")
        self.c.reset(new CTracePool(mx, mn))

    @property
    def max_size(self):
        return self.c.get().max_size()

    @property
    def min_size(self):
        return self.c.get().min_size()

    @property
    def stats(self):
        """A :class:`PoolStats` snapshot."""
        cdef CPoolStats s = self.c.get().stats()
        return PoolStats(s.hits, s.misses, s.returns, s.drops, s.size)

    def __len__(self):
        return self.c.get().stats().size

    def release(self, Trace trace not None):
        """Give ``trace`` back to this pool.

        Raises
        ------
        ValueError
            ``trace`` did not come from this pool.
        FugueError
            ``trace`` was already released.
        """
        if trace._pool is not self:
            raise ValueError("TracePool.release: this trace did not come from this pool")
        trace.release()

    def shrink(self):
        """Destroy idle traces beyond ``min_size``; return how many."""
        return self.c.get().shrink_to(self.c.get().min_size())

    def shrink_to(self, n):
        """Destroy idle traces beyond ``n``; return how many."""
        return self.c.get().shrink_to(_size_arg(n, "n"))

    def clear(self):
        """Destroy every idle trace; return how many."""
        return self.c.get().shrink_to(0)

    def __repr__(self):
        s = self.stats
        return (f"TracePool(max_size={self.max_size}, min_size={self.min_size}, size={s.size}, "
                f"hits={s.hits}, misses={s.misses}, hit_ratio={s.hit_ratio:.3f})")


# ================================================================ handlers

cdef class Handler:
    """Base class of the handlers: decides what an effect means in a run.

    Use one of :class:`PriorHandler`, :class:`ReplayHandler`,
    :class:`ScoreGivenTrace`, :class:`SafeReplayHandler`,
    :class:`SafeScoreGivenTrace`, :class:`PooledPriorHandler`.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("Handler is abstract; use PriorHandler, ReplayHandler, ...")

    cdef int _claim(self) except -1:
        # Each handler is initialised once: a run in progress points into
        # its generator, base trace and pool.
        if self._ready:
            raise _already_initialised(self)
        self._ready = True
        return 0

    cdef int _set_rng(self, object rng) except -1:
        # A Generator (or BitGenerator) of the caller's may be used elsewhere:
        # hold numpy's own lock for each run. A generator we seeded ourselves
        # is private to the handler: a C++ run lock guards it, at a fraction of
        # the cost.
        self._gen = as_generator(rng)
        self._bg = bitgen_of(self._gen)
        if isinstance(rng, (np.random.Generator, np.random.BitGenerator)):
            lock = self._gen.bit_generator.lock
            self._acquire = lock.acquire
            self._release = lock.release
        else:
            self._mu.reset(new CRunLock())
        return 0

    cdef int _set_base(self, object base) except -1:
        if not isinstance(base, Trace):
            raise TypeError(f"{type(self).__name__}: base must be a Trace, got "
                            f"{type(base).__name__}")
        if (<Trace>base)._pool is not None:
            base = (<Trace>base).copy()   # a pooled trace can be released: keep our own
        else:
            (<Trace>base)._get()
        self._base = base
        return 0

    @property
    def base(self):
        """The base trace (Replay / Score handlers), else None."""
        return self._base

    def __repr__(self):
        return f"{type(self).__name__}()"


cdef class PriorHandler(Handler):
    """Draw every ``sample`` from its distribution.

    Parameters
    ----------
    rng : None, int, SeedSequence or Generator
        Source of randomness (SPEC 7). The same seed gives the same trace.
        A Generator of yours is locked (numpy's own lock) for the length of
        each run, as numpy locks it for a fill: do not call that Generator
        from inside the model. A seed gives the handler a private generator.
    """

    def __init__(self, rng=None):
        self._claim()
        self.mode = HandlerMode.Prior
        self._set_rng(rng)


cdef class PooledPriorHandler(Handler):
    """:class:`PriorHandler` that records into traces taken from a pool.

    Parameters
    ----------
    rng : None, int, SeedSequence or Generator
    pool : TracePool, optional
        Default: a new ``TracePool(max_size=64)``.
    """

    def __init__(self, rng=None, pool=None):
        self._claim()
        self.mode = HandlerMode.Prior
        self._set_rng(rng)
        if pool is None:
            pool = TracePool(64)
        if not isinstance(pool, TracePool):
            raise TypeError(f"PooledPriorHandler: pool must be a TracePool, got "
                            f"{type(pool).__name__}")
        self._pool = pool

    @property
    def pool(self):
        return self._pool


cdef class ReplayHandler(Handler):
    """Reuse the values of ``base`` where it has the address; draw elsewhere.

    Log-probabilities are recomputed under the model's current distributions.

    Raises (during a run)
    ---------------------
    TypeMismatch
        The base value's type differs from the distribution's (code 600).
    AddressConflict
        An address is used twice (code 301).
    """

    def __init__(self, base, rng=None):
        self._claim()
        self.mode = HandlerMode.Replay
        self._set_base(base)
        self._set_rng(rng)


cdef class SafeReplayHandler(Handler):
    """:class:`ReplayHandler` that never raises for a trace problem.

    A type clash draws a fresh value, a duplicate address keeps the first
    choice; either adds ``-inf`` to ``log_prior`` and issues a
    :class:`~fugue_ppl.errors.FugueWarning`.
    """

    def __init__(self, base, rng=None):
        self._claim()
        self.mode = HandlerMode.SafeReplay
        self._set_base(base)
        self._set_rng(rng)


cdef class ScoreGivenTrace(Handler):
    """Take every sampled value from ``base`` and score it.

    Raises (during a run)
    ---------------------
    UnexpectedModelStructure
        ``base`` has no value at a sampled address (code 302).
    TypeMismatch
        The base value's type differs from the distribution's (code 600).
    """

    def __init__(self, base):
        self._claim()
        self.mode = HandlerMode.Score
        self._set_base(base)


cdef class SafeScoreGivenTrace(Handler):
    """:class:`ScoreGivenTrace` that never raises for a trace problem.

    A missing address or a type clash yields the type's zero value with
    log-probability ``-inf`` and a :class:`~fugue_ppl.errors.FugueWarning`.
    """

    def __init__(self, base):
        self._claim()
        self.mode = HandlerMode.SafeScore
        self._set_base(base)


cdef class MetricsHandler(Handler):
    """Record every run of ``inner`` into ``metrics``.

    Exactly one inference per :func:`run`, with its duration (a fast
    monotonic clock) and its outcome: an exception leaving the model counts
    as an error of its kind (an ``InferenceTimeout`` also as a timeout) and
    is re-raised. The runs themselves are ``inner``'s.

    Parameters
    ----------
    inner : Handler
        Any handler except another MetricsHandler.
    metrics : ProductionMetrics

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> from fugue_ppl.monitoring.prometheus import ProductionMetrics
    >>> m = ProductionMetrics()
    >>> h = fp.MetricsHandler(fp.PooledPriorHandler(rng=1), m)
    >>> for _ in range(10):
    ...     _ = fp.run(h, lambda: fp.sample("x", fp.Normal(0.0, 1.0)))
    >>> m.inference_count
    10
    """

    def __init__(self, inner, metrics):
        self._claim()
        if not isinstance(inner, Handler):
            raise TypeError(f"MetricsHandler: inner must be a Handler, got {type(inner).__name__}")
        if _chain_has(<Handler>inner, True, False):
            raise TypeError("MetricsHandler: inner is already a MetricsHandler (or wraps one); "
                            "wrap the handler once")
        if not isinstance(metrics, ProductionMetrics):
            raise TypeError(f"MetricsHandler: metrics must be a ProductionMetrics, got "
                            f"{type(metrics).__name__}")
        self._inner = inner
        self._metrics = metrics
        self.mode = (<Handler>inner).mode

    @property
    def inner(self):
        return self._inner

    @property
    def metrics(self):
        return self._metrics

    @property
    def base(self):
        return self._inner.base

    def __repr__(self):
        return f"MetricsHandler({self._inner!r})"


cdef bint _chain_has(Handler h, bint metrics, bint robust):
    while h is not None:
        if metrics and h._metrics is not None:
            return True
        if robust and h._is_robust:
            return True
        h = h._inner
    return False


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


cdef class RobustHandler(Handler):
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

    def __init__(self, inner, fallbacks=None, on_nonfinite="fallback"):
        cdef CValue v
        cdef ValueKind kind
        self._claim()
        if not isinstance(inner, Handler):
            raise TypeError(f"RobustHandler: inner must be a Handler, got {type(inner).__name__}")
        if _chain_has(<Handler>inner, False, True):
            raise TypeError("RobustHandler: inner is already robust; wrap the handler once")
        if on_nonfinite not in ("fallback", "raise", "keep"):
            raise ValueError(f"RobustHandler: on_nonfinite must be 'fallback', 'raise' or "
                             f"'keep', got {on_nonfinite!r}")
        self._inner = inner
        self._is_robust = True
        self.mode = (<Handler>inner).mode
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
                _unbox(hit, out)
                out[0] = coerce(out[0], kind)
                if out[0].kind != kind:
                    hit = None
            if len(self._cache) < 4096:
                self._cache[key] = _NO_FALLBACK if hit is None else hit
        if hit is None or hit is _NO_FALLBACK:
            return False
        _unbox(hit, out)
        out[0] = coerce(out[0], kind)
        return True

    @property
    def inner(self):
        return self._inner

    @property
    def base(self):
        return self._inner.base

    @property
    def on_nonfinite(self):
        return self._on_nonfinite

    @property
    def error_counts(self):
        """``{kind: count}`` of the problems met at sampling and observation sites."""
        return dict(self._errors)

    def reset_counts(self):
        """Forget :attr:`error_counts`."""
        self._errors.clear()

    def __repr__(self):
        return f"RobustHandler({self._inner!r})"


cdef object _NO_FALLBACK = object()


# ================================================================ effects

cdef int _status(Status st, str effect, object address, object dist) except -1:
    cdef uint8_t code = <uint8_t>st
    cdef bint warned = (code & <uint8_t>Status.Warned) != 0
    cdef Status base = <Status>(code & ~(<uint8_t>Status.Warned))
    cdef CRun* r
    where = f"{effect}({address!r})" if address is not None else f"{effect}()"
    if base == Status.AddressConflict:
        exc = AddressConflict(f"{where}: address {address!r} was already used in this run",
                              address)
    elif base == Status.MissingAddress:
        exc = UnexpectedModelStructure(f"{where}: the base trace has no value at address "
                                       f"{address!r}", address)
    elif base == Status.TypeMismatch:
        exc = TypeMismatch(f"{where}: the base trace's value at {address!r} is not a "
                           f"{dist.dtype} as {dist.name} produces", address)
    elif base == Status.NonFiniteObservation:
        exc = InvalidObservation(f"{where}: the observed value is NaN, infinite or beyond the "
                                 "range of a float", address)
    elif base == Status.NonFiniteFactor:
        exc = InvalidObservation(f"{where}: the log-weight must not be NaN, +inf or beyond the "
                                 "range of a float", None)
    elif base == Status.DeadlineExceeded:
        r = current_run()
        elapsed = (ticks() - r.start_tick) * seconds_per_tick()
        budget = (r.deadline_tick - r.start_tick) * seconds_per_tick()
        exc = InferenceTimeout(f"run exceeded its deadline of {budget:.6g} s: {elapsed:.6g} s "
                               f"elapsed when the model reached {where}")
    else:
        exc = FugueError(f"{where}: unexpected status {code}")
    if warned:
        # Compiled frames are invisible to warnings: level 1 is the model's line.
        warnings.warn(f"{exc} (the safe handler added -inf)", FugueWarning, stacklevel=1)
        return 0
    raise exc


cdef CRun* _current(str effect) except NULL:
    cdef CRun* r = current_run()
    if r == NULL:
        raise EffectOutsideRun(f"{effect}() was called outside fp.run(handler, model): "
                               "effects need an active handler")
    return r


cdef dict _STATUS_KINDS = {
    <int>Status.AddressConflict: "AddressConflict",
    <int>Status.MissingAddress: "UnexpectedModelStructure",
    <int>Status.TypeMismatch: "TypeMismatch",
    <int>Status.NonFiniteObservation: "InvalidObservation",
    <int>Status.NonFiniteFactor: "InvalidObservation",
    <int>Status.NonFiniteSample: "NonFiniteSample",
}


cdef int _robust_count(CRun* r, str kind) except -1:
    cdef RobustHandler rh = <RobustHandler><PyObject*>r.robust_ctx
    rh._errors[kind] = rh._errors.get(kind, 0) + 1
    return 0


cdef object _sample_problem(CRun* r, CEffectResult res, AddrId aid, object addr,
                            Distribution dist):
    # A sample effect that did not simply succeed: a safe handler's warning,
    # a robust substitution, or the error. Python code runs before `aid` is
    # recorded, so it is pinned meanwhile (an address sweep cannot free it).
    CAddressTable.global_().acquire(aid)
    try:
        return _sample_problem_pinned(r, res, aid, addr, dist)
    finally:
        CAddressTable.global_().release(aid)


cdef object _sample_problem_pinned(CRun* r, CEffectResult res, AddrId aid, object addr,
                                   Distribution dist):
    cdef uint8_t code = <uint8_t>res.status
    cdef Status base = <Status>(code & ~(<uint8_t>Status.Warned))
    cdef RobustHandler rh
    cdef CValue v
    cdef CChoice c
    cdef double lp
    if (code & <uint8_t>Status.Warned) or not r.robust or base == Status.DeadlineExceeded:
        if base == Status.NonFiniteSample:
            raise FugueError(f"sample({addr!r}): unexpected status")
        _status(res.status, "sample", addr, dist)
        return box_value(res.value)
    rh = <RobustHandler><PyObject*>r.robust_ctx
    kind = _STATUS_KINDS.get(<int>base, "FugueError")
    _robust_count(r, kind)
    if base == Status.NonFiniteSample:
        if rh._on_nonfinite == "keep":
            c.addr = aid
            c.kind = ChoiceKind.Sample
            c.flags = 0
            c.value = res.value
            c.log_prob = log_prob_value(dist.c, res.value)
            if r.trace.add(c):
                r.trace.add_log_prior(c.log_prob)
            return box_value(res.value)
        if rh._on_nonfinite == "raise":
            raise InvalidObservation(f"sample({addr!r}): {dist.name} produced a non-finite value "
                                     f"({box_value(res.value)!r})", addr)
    if not rh._lookup(addr, value_kind(dist.c.kind), &v):
        if base == Status.NonFiniteSample:
            raise InvalidObservation(f"sample({addr!r}): {dist.name} produced a non-finite value "
                                     f"and no fallback is configured for it", addr)
        _status(res.status, "sample", addr, dist)   # raises: no fallback for this site
    lp = log_prob_value(dist.c, v)
    if not r.add_fallback(aid, v, lp):
        r.fallbacks += 1   # the address is taken (a conflict): substituted, not recorded
    return box_value(v)


cdef int _observe_problem(CRun* r, Status st, AddrId aid, object addr, object dist,
                          CValue v) except -1:
    CAddressTable.global_().acquire(aid)   # pinned while Python code runs (see above)
    try:
        return _observe_problem_pinned(r, st, aid, addr, dist, v)
    finally:
        CAddressTable.global_().release(aid)


cdef int _observe_problem_pinned(CRun* r, Status st, AddrId aid, object addr, object dist,
                                 CValue v) except -1:
    cdef uint8_t code = <uint8_t>st
    cdef Status base = <Status>(code & ~(<uint8_t>Status.Warned))
    if (code & <uint8_t>Status.Warned) or not r.robust or base == Status.DeadlineExceeded:
        return _status(st, "observe", addr, dist)
    # A robust run never drops evidence: the observation is recorded with
    # log-probability -inf (a duplicate address adds the -inf only).
    _robust_count(r, _STATUS_KINDS.get(<int>base, "FugueError"))
    r.add_unscorable_observation(aid, v)
    return 0


def sample(addr, dist):
    """Draw (or replay, or score) a value at ``addr`` from ``dist``.

    Parameters
    ----------
    addr : str
        The site's address (unique within a run).
    dist : Distribution

    Returns
    -------
    float, int or bool
        The value the active handler chose.

    Raises
    ------
    EffectOutsideRun
        No run is active in this thread.
    AddressConflict, UnexpectedModelStructure, TypeMismatch
        As the handler decides.
    """
    cdef CRun* r = current_run()
    if r == NULL:
        _current("sample")
    if not isinstance(dist, Distribution):
        raise TypeError(f"sample({addr!r}, dist): dist must be a Distribution, got "
                        f"{type(dist).__name__}")
    cdef AddrId aid = _addr_id(addr)
    cdef CEffectResult res = r.on_sample(aid, (<Distribution>dist).c)
    if res.status != Status.Ok:
        return _sample_problem(r, res, aid, addr, <Distribution>dist)
    return box_value(res.value)


def observe(addr, dist, value):
    """Condition the run on ``value`` having been observed from ``dist`` at ``addr``.

    The observation is recorded in the trace and its log-probability added to
    ``log_likelihood``.

    Raises
    ------
    InvalidObservation
        ``value`` is NaN or infinite (code 601).
    TypeMismatch
        ``value`` is not a number or a bool (code 600).
    """
    cdef CRun* r = current_run()
    if r == NULL:
        _current("observe")
    if not isinstance(dist, Distribution):
        raise TypeError(f"observe({addr!r}, dist, value): dist must be a Distribution, got "
                        f"{type(dist).__name__}")
    cdef CValue v
    try:
        _unbox(value, &v)
    except TypeError:
        if r.robust:
            _robust_count(r, "TypeMismatch")
            r.add_unscorable_observation(_addr_id(addr), CValue.of_float(float("nan")))
            return
        raise TypeMismatch(f"observe({addr!r}): the observed value must be a number or a bool, "
                           f"got {type(value).__name__}", addr) from None
    cdef AddrId aid = _addr_id(addr)
    cdef Status st = r.on_observe(aid, (<Distribution>dist).c, v)
    if st != Status.Ok:
        _observe_problem(r, st, aid, addr, dist, v)


def factor(log_weight):
    """Add ``log_weight`` to the run's log-weight (``-inf`` rejects the run).

    Raises
    ------
    InvalidObservation
        ``log_weight`` is NaN or +inf (code 601).
    TypeError
        ``log_weight`` is not a real number.
    """
    cdef CRun* r = current_run()
    if r == NULL:
        _current("factor")
    cdef double w
    if type(log_weight) is float:
        w = PyFloat_AS_DOUBLE(log_weight)
    elif (isinstance(log_weight, (str, bytes, bool, np.bool_)) or log_weight is None
          or isinstance(log_weight, np.ndarray) and log_weight.dtype == np.bool_):
        raise TypeError(f"factor: log_weight must be a real number, got "
                        f"{type(log_weight).__name__}")
    elif isinstance(log_weight, int):
        w = _int_as_float(log_weight)
    else:
        try:
            w = float(log_weight)
        except OverflowError:
            raise InvalidObservation("factor(): the log-weight is beyond the range of a float",
                                     None) from None
        except (TypeError, ValueError):
            raise TypeError(f"factor: log_weight must be a real number, got "
                            f"{type(log_weight).__name__}") from None
    cdef Status st = r.on_factor(w)
    if st != Status.Ok:
        _status(st, "factor", None, None)


cdef bint _holds(CRun* r, bitgen_t* bg) noexcept:
    while r != NULL:
        if r.bg == bg:
            return True
        r = r.outer
    return False




_RUN_DOC = """run(handler, model, /, *args, deadline=None, **kwargs)
--

Run ``model(*args, **kwargs)`` under ``handler``.

    Parameters
    ----------
    handler : Handler
    model : callable
        A plain Python function calling :func:`sample`, :func:`observe` and
        :func:`factor`.
    *args, **kwargs
        Passed to ``model``.
    deadline : float, optional
        Seconds the run may take; checked at every effect, raising
        :class:`~fugue_ppl.errors.InferenceTimeout` mid-model.

    Returns
    -------
    value : object
        What ``model`` returned.
    trace : Trace

    Examples
    --------
    >>> import fugue_ppl as fp
    >>> def sensor(reading):
    ...     temp = fp.sample("temperature", fp.Normal(20.0, 5.0))
    ...     fp.observe("sensor", fp.Normal(temp, 1.0), reading)
    ...     return temp
    >>> temp, trace = fp.run(fp.PriorHandler(rng=42), sensor, 22.0)
    >>> trace["temperature"] == temp, list(trace)
    (True, ['temperature', 'sensor'])
"""
cdef bytes _run_doc_bytes = _RUN_DOC.encode("utf-8")


cdef object _run_fastcall(PyObject* self, PyObject** args, Py_ssize_t nargs, PyObject* kwnames):
    # run() with the METH_FASTCALL calling convention: the model is called
    # with the caller's argument vector, building no tuple and no dict.
    cdef Py_ssize_t nk = 0, k
    cdef object deadline = None
    cdef dict kwargs = None
    if nargs < 2:
        raise TypeError(f"run() takes a handler and a model, got {nargs} positional "
                        "argument(s)")
    if kwnames != NULL:
        names = <object>kwnames
        nk = PyTuple_GET_SIZE(names)
        for k in range(nk):
            name = <object>PyTuple_GET_ITEM(names, k)
            if name == "deadline":
                deadline = <object>args[nargs + k]
            else:
                if kwargs is None:
                    kwargs = {}
                kwargs[name] = <object>args[nargs + k]
    handler = <object>args[0]
    if not isinstance(handler, Handler):
        raise TypeError(f"run: handler must be a fugue_ppl Handler, got {type(handler).__name__}")
    return run_impl(<Handler>handler, <object>args[1], args + 2, nargs - 2, kwargs, deadline, 0)


cdef tuple run_impl(Handler handler, object model, PyObject** args, Py_ssize_t nargs,
                    dict kwargs, object deadline, int64_t start_tick=0):
    if not callable(model):
        raise TypeError(f"run: model must be callable, got {type(model).__name__}")
    cdef double d = 0.0
    if deadline is not None:
        if isinstance(deadline, (str, bytes, bool)):
            raise TypeError(f"run: deadline must be a number of seconds, got "
                            f"{type(deadline).__name__}")
        d = deadline
        if not (d > 0) or not isfinite(d):
            raise ValueError(f"run: deadline must be a positive number of seconds, got {deadline!r}")
    cdef Trace t = Trace.__new__(Trace)
    value = run_core(handler, model, args, nargs, kwargs, d, start_tick, &t._t, t)
    return (value, t)


cdef object run_core(Handler handler, object model, PyObject** args, Py_ssize_t nargs,
                     dict kwargs, double deadline, int64_t start_tick, CTraceHandle* th,
                     Trace owner=None):
    cdef Handler h = handler
    cdef ProductionMetrics pm = None
    cdef int64_t t0 = 0
    cdef Handler robust = None
    while h._inner is not None:  # wrappers: the innermost handler runs the model
        if h._metrics is not None and pm is None:
            pm = h._metrics
        if h._is_robust and robust is None:
            robust = h
        h = h._inner
    cdef CRun r
    cdef int locked = 0
    if h._pool is not None:
        th.acquire(deref(h._pool.c.get()))
        if owner is not None:
            owner._pool = h._pool      # keeps the pool alive as long as the trace
    else:
        th.own(new CTrace())
    r.mode = h.mode
    r.trace = th.get()
    r.bg = h._bg
    if robust is not None:
        r.robust = True
        r.robust_ctx = <void*>robust
    if h._base is not None:
        r.base = h._base._get()
    if r.bg == NULL and (r.mode == HandlerMode.Prior or r.mode == HandlerMode.Replay
                         or r.mode == HandlerMode.SafeReplay):
        raise TypeError(f"run: {type(handler).__name__} has no random generator: a handler "
                        "subclass must call the base class's __init__")
    if r.base == NULL and r.mode != HandlerMode.Prior:
        raise TypeError(f"run: {type(handler).__name__} has no base trace: a handler "
                        "subclass must call the base class's __init__")
    r.outer = current_run()
    if deadline > 0:
        r.start_tick = start_tick if start_tick != 0 else ticks()
        # Saturate: a deadline beyond ~100 years is no deadline at all.
        r.deadline_tick = (r.start_tick + <int64_t>(deadline / seconds_per_tick())
                           if deadline < 3.0e9 else <int64_t>0x7FFFFFFFFFFFFFFF)
    if r.outer != NULL and r.outer.deadline_tick != 0 and (
            r.deadline_tick == 0 or r.outer.deadline_tick < r.deadline_tick):
        # A nested run never outlives the enclosing run's deadline.
        r.deadline_tick = r.outer.deadline_tick
        r.start_tick = r.outer.start_tick
    if pm is not None:
        t0 = ticks()   # the latency includes waiting for the handler's generator
    if r.bg != NULL and not _holds(r.outer, r.bg):
        if h._mu:
            if not h._mu.get().try_lock():
                with nogil:
                    h._mu.get().lock()
            locked = 1
        else:
            h._acquire()
            locked = 2
    set_current_run(&r)
    if pm is None:
        return _call_model(&r, h, locked, model, args, nargs, kwargs)
    try:
        value = _call_model(&r, h, locked, model, args, nargs, kwargs)
    except BaseException as exc:
        pm.record_run(t0, ticks(), exc)
        if r.fallbacks:
            pm.c.get().add_fallback(r.fallbacks)
        raise
    pm.record_run(t0, ticks(), None)
    if r.fallbacks:
        pm.c.get().add_fallback(r.fallbacks)
    return value


cdef object _call_model(CRun* r, Handler h, int locked, object model, PyObject** args,
                        Py_ssize_t nargs, dict kwargs):
    # Calls the model with `r` current; restores the outer run and releases
    # the generator's lock however the model ends.
    cdef Py_ssize_t k
    try:
        if kwargs is not None:
            return model(*[<object>args[k] for k in range(nargs)], **kwargs)
        return PyObject_Vectorcall(model, args, <size_t>nargs, NULL)
    finally:
        set_current_run(r.outer)
        if locked == 1:
            h._mu.get().unlock()
        elif locked == 2:
            h._release()


cdef PyMethodDef _run_def
_run_def.ml_name = "run"
_run_def.ml_meth = <PyCFunction><void*>_run_fastcall
_run_def.ml_flags = METH_FASTCALL | METH_KEYWORDS
_run_def.ml_doc = _run_doc_bytes
run = PyCFunction_NewEx(&_run_def, NULL, <PyObject*>"fugue_ppl.core._runtime")


# ---------------------------------------------------------------- fast effects
# sample(), observe() and addr() with the METH_FASTCALL calling convention: positional
# calls (the form model code uses) skip the keyword-argument machinery; any
# other call form goes to the documented def functions above.

cdef object _sample_def = sample
cdef object _observe_def = observe


cdef object _sample_fastcall(PyObject* self, PyObject** args, Py_ssize_t nargs, PyObject* kwnames):
    cdef CRun* r = current_run()
    if kwnames != NULL or nargs != 2 or r == NULL:
        return PyObject_Vectorcall(_sample_def, args, <size_t>nargs, kwnames)
    dist = <object>args[1]
    if not isinstance(dist, Distribution):
        return PyObject_Vectorcall(_sample_def, args, <size_t>nargs, kwnames)
    a = <object>args[0]
    cdef AddrId aid = _addr_id(a)
    cdef CEffectResult res = r.on_sample(aid, (<Distribution>dist).c)
    if res.status != Status.Ok:
        return _sample_problem(r, res, aid, a, <Distribution>dist)
    return box_value(res.value)


cdef object _observe_fastcall(PyObject* self, PyObject** args, Py_ssize_t nargs, PyObject* kwnames):
    cdef CRun* r = current_run()
    if kwnames != NULL or nargs != 3 or r == NULL:
        return PyObject_Vectorcall(_observe_def, args, <size_t>nargs, kwnames)
    dist = <object>args[1]
    if not isinstance(dist, Distribution):
        return PyObject_Vectorcall(_observe_def, args, <size_t>nargs, kwnames)
    a = <object>args[0]
    cdef CValue v
    try:
        _unbox(<object>args[2], &v)
    except TypeError:
        return PyObject_Vectorcall(_observe_def, args, <size_t>nargs, kwnames)
    cdef AddrId aid = _addr_id(a)
    cdef Status st = r.on_observe(aid, (<Distribution>dist).c, v)
    if st != Status.Ok:
        _observe_problem(r, st, aid, a, dist, v)
    return None


cdef object _addr_def = addr

cdef extern from "Python.h":
    # Without Cython's exception check: an overflow is cleared by the caller.
    Py_ssize_t _as_ssize "PyLong_AsSsize_t"(object) noexcept


cdef object _addr_fastcall(PyObject* self, PyObject** args, Py_ssize_t nargs, PyObject* kwnames):
    # addr(name, i) with a cached address: one dict lookup and one list read,
    # no argument tuple (the def's *indices would build one per call).
    cdef object i
    cdef list lst
    cdef Py_ssize_t k
    if kwnames == NULL and nargs == 2:
        i = <object>args[1]
        if type(i) is int and type(<object>args[0]) is str:
            lst = <list>_addr_cache.get(<object>args[0])
            if lst is not None:
                k = _as_ssize(i)
                if k == -1 and PyErr_Occurred():
                    PyErr_Clear()          # too large for the cache: the def decides
                elif 0 <= k < len(lst) and lst[k] is not None:
                    return lst[k]
    return PyObject_Vectorcall(_addr_def, args, <size_t>nargs, kwnames)


cdef bytes _sample_doc = ("sample(addr, dist)\n--\n\n" + _sample_def.__doc__).encode("utf-8")
cdef bytes _observe_doc = ("observe(addr, dist, value)\n--\n\n" + _observe_def.__doc__).encode("utf-8")

cdef PyMethodDef _sample_md
_sample_md.ml_name = "sample"
_sample_md.ml_meth = <PyCFunction><void*>_sample_fastcall
_sample_md.ml_flags = METH_FASTCALL | METH_KEYWORDS
_sample_md.ml_doc = _sample_doc
sample = PyCFunction_NewEx(&_sample_md, NULL, <PyObject*>"fugue_ppl.core._runtime")

cdef str _addr_text = _addr_def.__doc__
if _addr_text.startswith("addr("):   # the def's embedded signature: the one above replaces it
    _addr_text = _addr_text.split("\n", 1)[1].lstrip("\n")
cdef bytes _addr_doc = ("addr(name, *indices)\n--\n\n" + _addr_text).encode("utf-8")
cdef PyMethodDef _addr_md
_addr_md.ml_name = "addr"
_addr_md.ml_meth = <PyCFunction><void*>_addr_fastcall
_addr_md.ml_flags = METH_FASTCALL | METH_KEYWORDS
_addr_md.ml_doc = _addr_doc
addr = PyCFunction_NewEx(&_addr_md, NULL, <PyObject*>"fugue_ppl.core._runtime")

cdef PyMethodDef _observe_md
_observe_md.ml_name = "observe"
_observe_md.ml_meth = <PyCFunction><void*>_observe_fastcall
_observe_md.ml_flags = METH_FASTCALL | METH_KEYWORDS
_observe_md.ml_doc = _observe_doc
observe = PyCFunction_NewEx(&_observe_md, NULL, <PyObject*>"fugue_ppl.core._runtime")
