# numpy's array C API: the few pieces the compiled modules use to make and
# read arrays on the effect path without a Python call. Declared here (as the
# BitGenerator interface is in _cdist.pxd) rather than cimported from numpy's
# own .pxd files; each module using them calls _import_array() at import.
from cpython.object cimport PyObject, PyTypeObject


cdef extern from "numpy/arrayobject.h":
    ctypedef Py_ssize_t npy_intp

    ctypedef struct PyArrayObject:
        pass

    ctypedef struct PyArray_Descr:
        pass

    enum:
        NPY_BOOL
        NPY_INT64
        NPY_DOUBLE
        NPY_ARRAY_WRITEABLE
        NPY_ARRAY_CARRAY

    int _import_array() except -1
    bint PyArray_Check(object)
    int PyArray_NDIM(PyArrayObject*)
    npy_intp PyArray_DIM(PyArrayObject*, int)
    int PyArray_TYPE(PyArrayObject*)
    # C-contiguous, aligned and in the machine's byte order.
    bint PyArray_ISCARRAY_RO(PyArrayObject*)
    void* PyArray_DATA(PyArrayObject*) nogil
    void PyArray_CLEARFLAGS(PyArrayObject*, int)
    object PyArray_New(PyTypeObject*, int, npy_intp*, int, npy_intp*, void*, int, int,
                       PyObject*)
    object PyArray_ZEROS(int, npy_intp*, int, int)
    # Steals the reference to the base.
    int PyArray_SetBaseObject(PyArrayObject*, PyObject*) except -1
    object PyArray_View(PyArrayObject*, PyArray_Descr*, PyTypeObject*)
