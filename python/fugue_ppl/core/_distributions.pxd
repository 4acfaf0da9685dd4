# The Distribution base class and the randomness helpers shared by the
# compiled modules.
from fugue_ppl.core._cdist cimport CDist, bitgen_t


cdef class Distribution:
    # The C++ distribution (parameters and derived constants).
    cdef CDist c
    # Categorical only: the float64 array that owns c.probs.
    cdef object _probs


cpdef object as_generator(object rng)
# Returns numpy Generator for rng = None | int | SeedSequence | BitGenerator | Generator.

cdef bitgen_t* bitgen_of(object generator) except NULL
# The bitgen_t* behind a numpy Generator (borrowed: keep the Generator alive).
