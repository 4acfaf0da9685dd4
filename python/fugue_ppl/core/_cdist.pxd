# C++ declarations: values, numpy's BitGenerator interface, distributions.
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libcpp cimport bool as cbool


cdef extern from "numpy/random/bitgen.h":
    ctypedef struct bitgen_t:
        void* state


cdef extern from "fugue/value.hpp" namespace "fugue" nogil:
    cpdef enum class ValueKind "fugue::ValueKind" (uint8_t):
        Float
        Int
        Bool

    cdef cppclass CValue "fugue::Value":
        ValueKind kind
        double f
        int64_t i
        cbool b
        @staticmethod
        CValue of_float(double) noexcept
        @staticmethod
        CValue of_int(int64_t) noexcept
        @staticmethod
        CValue of_bool(cbool) noexcept
        double as_double() noexcept
        cbool operator==(const CValue&) noexcept


cdef extern from "fugue/distributions.hpp" namespace "fugue" nogil:
    # One per distribution, in the order of the distribution table
    # (_distribution_table.py); the rendered _distributions.pyx declares each
    # value it uses ("fugue::DistKind::Normal", ...).
    cdef enum class DistKind "fugue::DistKind" (uint8_t):
        pass

    # Why a parameter is invalid (filled by init_dist when it returns false).
    cdef struct CParamError "fugue::ParamError":
        int code            # Fugue's error code
        int index           # the parameter's position in the constructor
        const char* param   # its name
        double value        # the offending value (see element)
        cbool element       # value is one element of an array parameter
        char* rule          # what it must satisfy, with any context (a char array)

    cdef cppclass CDist "fugue::Dist":
        DistKind kind
        double* p           # real parameters, in constructor order (an array)
        int64_t* i          # integer parameters, in constructor order (an array)
        const double* probs
        int64_t n_probs
        double* c           # derived constants (an array)

    ValueKind value_kind(DistKind) noexcept
    const char* dist_name(DistKind) noexcept
    cbool init_dist(CDist&, CParamError*) noexcept
    CValue sample(const CDist&, bitgen_t*) noexcept
    double log_prob(const CDist&, double) noexcept
    double log_prob_value(const CDist&, const CValue&) noexcept
    void sample_fill_f64(const CDist&, bitgen_t*, double*, size_t) noexcept
    void sample_fill_i64(const CDist&, bitgen_t*, int64_t*, size_t) noexcept
    void sample_fill_bool(const CDist&, bitgen_t*, uint8_t*, size_t) noexcept
    void log_prob_fill(const CDist&, const double*, double*, size_t) noexcept
    void log_prob_fill_i64(const CDist&, const int64_t*, double*, size_t) noexcept


cdef inline object box_value(CValue v):
    # A CValue as the Python float, int or bool it holds.
    if v.kind == ValueKind.Float:
        return v.f
    if v.kind == ValueKind.Int:
        return v.i
    return True if v.b else False
