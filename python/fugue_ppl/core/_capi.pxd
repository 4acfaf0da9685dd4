# CPython C-API pieces the compiled modules use to expose METH_FASTCALL
# builtins (run, sample, observe, addr, ModelRunner.infer) and to call models
# with the caller's argument vector.
from cpython.mem cimport PyMem_RawMalloc
from cpython.object cimport PyObject
from libc.string cimport strdup


cdef extern from "Python.h":
    ctypedef PyObject* (*PyCFunction)(PyObject*, PyObject*)
    ctypedef struct PyMethodDef:
        const char* ml_name
        PyCFunction ml_meth
        int ml_flags
        const char* ml_doc
    int METH_FASTCALL
    int METH_KEYWORDS
    object PyCFunction_NewEx(PyMethodDef*, PyObject*, PyObject*)
    object PyObject_Vectorcall(object callable, PyObject** args, size_t nargsf, PyObject* kwnames)
    Py_ssize_t PyTuple_GET_SIZE(object)
    PyObject* PyTuple_GET_ITEM(object, Py_ssize_t)
    PyObject** PySequence_Fast_ITEMS(object)


# The C signature of a fast-call builtin: (self, args, nargs, kwnames).
ctypedef object (*fastcall_fn)(PyObject*, PyObject**, Py_ssize_t, PyObject*)


cdef inline PyMethodDef* fastcall_def(fastcall_fn fn, str signature, str doc) except NULL:
    """A METH_FASTCALL | METH_KEYWORDS method definition calling ``fn``.

    ``signature`` (e.g. ``"run(handler, model, /, *args)"``) becomes the
    text signature. The definition and its strings live as long as the
    process, as CPython requires of a PyMethodDef.
    """
    cdef PyMethodDef* md = <PyMethodDef*>PyMem_RawMalloc(sizeof(PyMethodDef))
    if md == NULL:
        raise MemoryError()
    name = signature.split("(", 1)[0].encode("utf-8")
    text = (signature + "\n--\n\n" + doc).encode("utf-8")
    md.ml_name = strdup(name)
    md.ml_doc = strdup(text)
    if md.ml_name == NULL or md.ml_doc == NULL:
        raise MemoryError()
    md.ml_meth = <PyCFunction><void*>fn
    md.ml_flags = METH_FASTCALL | METH_KEYWORDS
    return md


cdef inline object fastcall_builtin(fastcall_fn fn, str signature, str doc, str module):
    """A module-level fast-call builtin (see fastcall_def)."""
    return PyCFunction_NewEx(fastcall_def(fn, signature, doc), NULL, <PyObject*>module)
