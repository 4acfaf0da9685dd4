# C++ declarations: particle execution (csrc/core/include/fugue/particles.hpp).
from libc.stdint cimport int64_t
from libcpp cimport bool as cbool

from fugue_ppl.core._cdist cimport CDist, CParamError, bitgen_t


cdef extern from "fugue/particles.hpp" namespace "fugue" nogil:
    # A distribution's per-particle parameters (NULL: the Dist's own value).
    cdef struct CParticleParams "fugue::ParticleParams":
        const double** p        # by slot of CDist.p (an array)
        const int64_t** i       # by slot of CDist.i (an array)
        const double* probs     # n rows of CDist.n_probs probabilities

    # The per-particle log-weights of a particle run (CRun.particles).
    cdef struct CParticleRun "fugue::ParticleRun":
        size_t n
        double* log_prior
        double* log_likelihood
        double* log_factors
        cbool branched
        void* binding

    size_t kNoParticle "fugue::kNoParticle"

    size_t check_particle_params(const CDist&, const CParticleParams&, size_t,
                                 CParamError*) noexcept
    void sample_particles(const CDist&, const CParticleParams&, bitgen_t*, void*, double*,
                          size_t) noexcept
    # The score mode: given values (elements as value_kind says) into the log-prior.
    void score_particles(const CDist&, const CParticleParams&, const void*, double*,
                         size_t) noexcept
    void observe_particles(const CDist&, const CParticleParams&, const double*, size_t,
                           double*, size_t) noexcept
    void observe_particles_i64(const CDist&, const CParticleParams&, const int64_t*, size_t,
                               double*, size_t) noexcept
    size_t first_non_finite(const double*, size_t, cbool) noexcept
    void add_particles(double*, const double*, size_t, size_t) noexcept
