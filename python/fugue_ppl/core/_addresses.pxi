# Addresses: the C++ AddressTable interns them; the caches here map Python
# str objects to ids on the effect path, and addr() builds indexed names.
# Addresses that live as long as the program are pinned in the table (no
# reference counting, never reclaimed, a bounded number): the model's
# literals (strings CPython interned) and the strings addr() caches.
# Addresses built per request (f-strings) are counted and reclaimed.

cdef extern from "Python.h":
    int PyUnicode_CHECK_INTERNED(object) noexcept

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


# The longest address effects accept, in characters (set_max_address_length).
cdef Py_ssize_t _max_address_length = 1024
cdef Py_ssize_t _MAX_ADDRESS_LENGTH_LIMIT = 1 << 20


cdef int _check_address(str a) except -1:
    if not a:
        raise InvalidAddress(a, "must not be empty")
    if len(a) > _max_address_length:
        raise InvalidAddress(a, f"is longer than {_max_address_length} characters "
                                f"(fp.set_max_address_length)")
    if not a.isprintable():
        raise InvalidAddress(a, "must hold printable characters only (no control, format, "
                                "separator or surrogate characters)")
    return 0


def max_address_length():
    """The longest address, in characters, that ``sample``, ``observe`` and ``factor`` accept."""
    return _max_address_length


def set_max_address_length(max_length):
    """Set the longest address effects accept (for the whole process); returns the old limit.

    A longer address raises :class:`~fugue_ppl.errors.InvalidAddress`, as do
    empty ones and ones holding non-printable characters.
    """
    global _max_address_length
    n = check_int(max_length, "max_length", "set_max_address_length", low=1,
                  high=_MAX_ADDRESS_LENGTH_LIMIT)
    old = _max_address_length
    _max_address_length = n
    _clear_addr_slots()          # cached addresses are checked against the new limit
    return old


cdef void _clear_addr_slots() noexcept:
    cdef size_t h
    for h in range(_N_SLOTS):
        _addr_slots[h].key = NULL
    _addr_slot_refs[:] = [None] * _N_SLOTS


cdef AddrId _intern(object a) except? 0xFFFFFFFF:
    if type(a) is not str:
        if isinstance(a, str):
            a = str(a)
            return _addr_id(a)
        raise TypeError(f"an address must be a str (use fp.addr(name, i) for indexed "
                        f"addresses), got {type(a).__name__}")
    _check_address(<str>a)
    encoded = (<str>a).encode("utf-8")
    cdef CAddressTable* table = &CAddressTable.global_()
    if table.size() >= _sweep_at:
        _sweep()
    cdef AddrId i = table.intern(encoded)
    if PyUnicode_CHECK_INTERNED(a):
        table.pin(i)
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
    _freed.clear()
    table.sweep(_freed)
    for i in _freed:
        name = _names[i]
        _names[i] = None
        if name is not None:
            del _ids[name]
    _clear_addr_slots()
    _sweep_at = max(_SWEEP_MIN, 2 * table.size())
    return 0


def _address_table_info():
    """Sizes of the address table and its caches (for tests and debugging)."""
    cdef CAddressTable* table = &CAddressTable.global_()
    return {"live": table.size(), "capacity": table.capacity(), "sweep_at": _sweep_at,
            "mirrored": len(_ids), "addr_cache_slots": _addr_cache_slots,
            "pinned": table.pinned_count(), "max_pinned": kMaxPinned}


def _address_references(address):
    """References held on ``address`` (0 when it is not in the table)."""
    cdef AddrId i = _find_id(address)
    return 0 if i == kNoAddr else CAddressTable.global_().references(i)


def _address_pinned(address):
    """Whether ``address`` is pinned in the table (for tests and debugging)."""
    cdef AddrId i = _find_id(address)
    return i != kNoAddr and CAddressTable.global_().pinned(i)


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
    if o == NULL:
        i = _intern(a)
    elif len(<str>a) > _max_address_length:      # interned before the limit was lowered
        raise InvalidAddress(a, f"is longer than {_max_address_length} characters "
                                f"(fp.set_max_address_length)")
    else:
        i = <AddrId><object>o
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
    cdef str s = base + "[" + ",".join([_component(i) for i in indices]) + "]" if indices else base
    _check_address(s)
    if not indices:
        return s
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
        CAddressTable.global_().pin(_addr_id(s))   # cached: lives as long as the program
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


addr = fastcall_builtin(_addr_fastcall, "addr(name, *indices)", _doc_body(_addr_def),
                        "fugue_ppl.core._runtime")
