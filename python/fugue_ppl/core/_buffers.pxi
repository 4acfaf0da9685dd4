# The data buffers of large particle arrays, kept for reuse. A particle run
# at n = 1,000,000 fills about 180 MB of fresh arrays, and the kernel's
# zeroing of freshly mapped pages costs about a fifth of such a run. An array
# of at least _CACHED_MIN bytes takes its buffer from here; when the array
# and every view of it are gone, its buffer comes back and is kept while the
# idle buffers hold at most _CACHED_MAX bytes (else it is freed). Plain C
# state, touched with the GIL held only.

cdef enum:
    _SLOTS = 64
cdef size_t _CACHED_MIN = 1 << 20
cdef size_t _CACHED_MAX = 256 << 20
cdef void* _idle[_SLOTS]
cdef size_t _idle_size[_SLOTS]
cdef int _n_idle = 0
cdef size_t _idle_bytes = 0


cdef void* _take_buffer(size_t nbytes) noexcept:
    # An idle buffer of exactly nbytes, else a new one (NULL: no memory).
    global _n_idle, _idle_bytes
    cdef int i
    for i in range(_n_idle):
        if _idle_size[i] == nbytes:
            p = _idle[i]
            _n_idle -= 1
            _idle[i] = _idle[_n_idle]
            _idle_size[i] = _idle_size[_n_idle]
            _idle_bytes -= nbytes
            return p
    return malloc(nbytes)


cdef void _give_back(void* p, size_t nbytes) noexcept:
    global _n_idle, _idle_bytes
    if _n_idle < _SLOTS and _idle_bytes + nbytes <= _CACHED_MAX:
        _idle[_n_idle] = p
        _idle_size[_n_idle] = nbytes
        _n_idle += 1
        _idle_bytes += nbytes
    else:
        free(p)


@cython.final
@cython.no_gc
cdef class _Buffer:
    # Owns one cached buffer: the base of the array built on it.
    cdef void* data
    cdef size_t nbytes

    def __dealloc__(self):
        if self.data != NULL:
            _give_back(self.data, self.nbytes)


cdef object _new_array(PyTypeObject* tp, npy_intp n, int typenum, size_t itemsize, bint zero):
    # A writeable 1-d array of n values (zeroed when `zero`), of type tp, its
    # buffer from the cache when large.
    cdef size_t nbytes = <size_t>n * itemsize
    if nbytes < _CACHED_MIN:
        if zero:
            return PyArray_ZEROS(1, &n, typenum, 0)
        return PyArray_New(tp, 1, &n, typenum, NULL, NULL, 0, 0, NULL)
    cdef _Buffer b = _Buffer.__new__(_Buffer)
    b.data = _take_buffer(nbytes)
    if b.data == NULL:
        raise MemoryError(f"no memory for {n} particles ({nbytes} bytes)")
    b.nbytes = nbytes
    if zero:
        memset(b.data, 0, nbytes)
    arr = PyArray_New(tp, 1, &n, typenum, NULL, b.data, 0, NPY_ARRAY_CARRAY, NULL)
    Py_INCREF(b)                                  # (the array's base takes this reference)
    PyArray_SetBaseObject(<PyArrayObject*>arr, <PyObject*>b)
    return arr
