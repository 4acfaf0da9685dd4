# Effects: sample / observe / factor, their errors, and the hook of a
# HandlerWrapper (RobustHandler) that answers failed effects.

cdef int raise_effect_error(Status st, str effect, object address, object dist) except -1:
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


cdef str effect_error_kind(Status st):
    cdef Status base = <Status>(<uint8_t>st & ~(<uint8_t>Status.Warned))
    if base == Status.AddressConflict:
        return "AddressConflict"
    if base == Status.MissingAddress:
        return "UnexpectedModelStructure"
    if base == Status.TypeMismatch:
        return "TypeMismatch"
    if base == Status.NonFiniteObservation or base == Status.NonFiniteFactor:
        return "InvalidObservation"
    if base == Status.NonFiniteSample:
        return "NonFiniteSample"
    if base == Status.DeadlineExceeded:
        return "InferenceTimeout"
    return "FugueError"


cdef inline bint _to_hook(CRun* r, Status st) noexcept:
    # Whether a failed effect goes to the run's effect hook: a safe handler's
    # warning and a deadline never do.
    return (r.binding != NULL and (<RunContext*>r.binding).effects != NULL
            and not (<uint8_t>st & <uint8_t>Status.Warned)
            and st != Status.DeadlineExceeded)


cdef object _sample_problem(CRun* r, CEffectResult res, AddrId aid, object addr,
                            Distribution dist):
    # A sample effect that did not simply succeed: a safe handler's warning,
    # the hook's answer, or the error. Python code may run before `aid` is
    # recorded, so it is pinned meanwhile (an address sweep cannot free it).
    if not _to_hook(r, res.status):
        raise_effect_error(res.status, "sample", addr, dist)
        return box_value(res.value)
    CAddressTable.global_().acquire(aid)
    try:
        return (<HandlerWrapper>(<RunContext*>r.binding).effects)._sample_failed(
            r, res, aid, addr, dist)
    finally:
        CAddressTable.global_().release(aid)


cdef int _observe_problem(CRun* r, Status st, AddrId aid, object addr, object dist,
                          CValue v) except -1:
    if not _to_hook(r, st):
        return raise_effect_error(st, "observe", addr, dist)
    CAddressTable.global_().acquire(aid)   # pinned while Python code runs (see above)
    try:
        return (<HandlerWrapper>(<RunContext*>r.binding).effects)._observe_failed(
            r, st, aid, addr, dist, v)
    finally:
        CAddressTable.global_().release(aid)


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
    if r.particles != NULL:
        return _particle_sample(r, addr, <Distribution>dist)
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
    if r.particles != NULL:
        _particle_observe(r, addr, <Distribution>dist, value)
        return
    cdef CValue v
    try:
        _unbox(value, &v)
    except TypeError:
        if r.binding != NULL and (<RunContext*>r.binding).effects != NULL:
            # The hook records it (as NaN) or raises.
            _observe_problem(r, Status.TypeMismatch, _addr_id(addr), addr, dist,
                             CValue.of_float(NAN))
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
    if r.particles != NULL and isinstance(log_weight, np.ndarray) and log_weight.ndim >= 1:
        _particle_factor_array(r, log_weight)
        return
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
    if r.particles != NULL:
        _particle_factor(r, w)
        return
    cdef Status st = r.on_factor(w)
    if st != Status.Ok:
        raise_effect_error(st, "factor", None, None)


# sample() and observe() with the METH_FASTCALL calling convention: positional
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
    if r.particles != NULL:
        return _particle_sample(r, a, <Distribution>dist)
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
    if r.particles != NULL:
        _particle_observe(r, a, <Distribution>dist, <object>args[2])
        return None
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


sample = fastcall_builtin(_sample_fastcall, "sample(addr, dist)", _doc_body(_sample_def),
                          "fugue_ppl.core._runtime")
observe = fastcall_builtin(_observe_fastcall, "observe(addr, dist, value)",
                           _doc_body(_observe_def), "fugue_ppl.core._runtime")
