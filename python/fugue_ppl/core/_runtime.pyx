# cython: boundscheck=False, wraparound=False
"""The runtime: effects (sample / observe / factor), run, traces, the trace
pool and the handlers, compiled as one module from its parts (``_*.pxi``,
one concept each).

The state of a run lives in a C++ ``Run`` on the stack of :func:`run`; the
innermost run of each thread is found through a C++ ``thread_local``, so runs
in different threads never see each other and nested runs restore the outer
one. Each run of a seeded handler draws from its own stream, derived in C++
from the run's key, so runs of one handler proceed in parallel. A particle
run (:func:`run_particles`) is a run whose ``Run`` points at per-particle
log-weights instead of a trace: its effects draw (or, given a base, take)
and score n particles at once. Wrappers from the layers above plug in through ``HandlerWrapper``.
"""

cimport cython
from cpython.dict cimport PyDict_GetItemWithError
from cpython.exc cimport PyErr_Clear, PyErr_Occurred
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsLongLong
from cpython.object cimport PyObject, PyTypeObject
from cython.operator cimport dereference as deref
from libc.math cimport INFINITY, NAN, isfinite
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from cpython.ref cimport Py_INCREF
from libcpp.memory cimport unique_ptr
from libcpp.vector cimport vector

import operator
import os
import re
import warnings
import weakref
from collections import namedtuple
from collections.abc import Mapping

import numpy as np

from fugue_ppl.core._capi cimport (
    PyObject_Vectorcall, PyTuple_GET_ITEM, PyTuple_GET_SIZE, fastcall_builtin,
)
from fugue_ppl.core._cclock cimport seconds_per_tick, ticks
from fugue_ppl.core._cdist cimport CValue, ValueKind, bitgen_t, box_value, value_kind
from fugue_ppl.core._cnumpy cimport (
    NPY_ARRAY_CARRAY, NPY_ARRAY_WRITEABLE, NPY_BOOL, NPY_DOUBLE, NPY_INT64, PyArray_Check,
    PyArray_CLEARFLAGS, PyArray_DATA, PyArray_NDIM, PyArray_New, PyArray_SetBaseObject,
    PyArray_View, PyArray_ZEROS, PyArrayObject, _import_array, npy_intp,
)
from fugue_ppl.core._cparticles cimport (
    CParticleParams, CParticleRun, add_particles, first_non_finite, kNoParticle,
    observe_particles, observe_particles_i64, sample_particles, score_particles,
)
from fugue_ppl.core._cruntime cimport (
    AddrId, CAddressTable, CChoice, CEffectResult, ChoiceKind, CPoolStats, CRun, CTrace,
    CTraceHandle, CTracePool, HandlerMode, Status, coerce, current_run, kFlagFallback,
    kMaxPinned, kNoAddr, set_current_run,
)
from fugue_ppl.core._cstreams cimport CPcg64, CStreamSource, CWords, KeyPlace, set_fork_key
from fugue_ppl.core._distributions cimport Distribution, as_generator, bitgen_of

from fugue_ppl.checks import check_duration, check_int, invalid, safe_repr, type_error
from fugue_ppl.core.particles import Particles
from fugue_ppl.errors import (
    AddressConflict,
    BranchOnSample,
    EffectOutsideRun,
    FugueError,
    FugueWarning,
    InferenceTimeout,
    InvalidAddress,
    InvalidArgument,
    InvalidObservation,
    InvalidParameters,
    TraceAddressNotFound,
    TypeMismatch,
    UnexpectedModelStructure,
    _already_initialised,
)

__all__ = [
    "sample", "observe", "factor", "run", "addr", "Trace", "Choice", "TracePool", "PoolStats",
    "Handler", "PriorHandler", "ReplayHandler", "ScoreGivenTrace", "SafeReplayHandler",
    "SafeScoreGivenTrace", "PooledPriorHandler", "HandlerWrapper", "trace_buffer_allocations",
    "max_address_length", "set_max_address_length", "run_particles", "ParticleArray",
    "max_particles", "set_max_particles",
]


_import_array()

# Calibrate the tick clock at import (a few ms, once), not inside the first
# run that sets a deadline.
seconds_per_tick()


cdef str _doc_body(object fn):
    # A def's docstring without the signature line embedsignature puts first
    # (the fast-call builtin that replaces the def has its own).
    doc = fn.__doc__ or ""
    if doc.startswith(fn.__name__ + "("):
        doc = doc.split("\n", 1)[1].lstrip("\n") if "\n" in doc else ""
    return doc


include "_values.pxi"
include "_addresses.pxi"
include "_traces.pxi"
include "_pool.pxi"
include "_handlers.pxi"
include "_streams.pxi"
include "_effects.pxi"
include "_run.pxi"
include "_buffers.pxi"
include "_particles.pxi"
