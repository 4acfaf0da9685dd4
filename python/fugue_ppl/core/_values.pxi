# Values: Python numbers and bools as C++ Values.

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


cdef int unbox_value(object x, CValue* out) except -1:
    return _unbox(x, out)
