# The Distribution base class and the randomness helpers shared by the
# compiled modules.
from fugue_ppl.core._cdist cimport CDist, bitgen_t
from fugue_ppl.core._cparticles cimport CParticleParams


cdef class _ParticleParams:
    # The parameters of a distribution built inside a particle run that hold
    # one value per particle.
    cdef CParticleParams c
    cdef size_t n             # the particle run's number of particles
    cdef dict arrays          # name -> its read-only array (owns the memory c points into)


cdef class Distribution:
    # The C++ distribution (parameters and derived constants; a per-particle
    # parameter holds particle 0's value here).
    cdef CDist c
    # Categorical only: the float64 array that owns c.probs.
    cdef object _probs
    # The per-particle parameters, or None.
    cdef _ParticleParams _pp


cpdef object as_generator(object rng)
# Returns numpy Generator for rng = None | int | SeedSequence | BitGenerator | Generator.

cdef bitgen_t* bitgen_of(object generator) except NULL
# The bitgen_t* behind a numpy Generator (borrowed: keep the Generator alive).
