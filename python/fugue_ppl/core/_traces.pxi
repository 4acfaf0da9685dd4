# Traces: the record of one run, a read-only mapping over the C++ trace.

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
