# C++ declarations: per-run random streams (numpy's SeedSequence and PCG64 in
# C++, csrc/core/include/fugue/streams.hpp).
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libcpp.vector cimport vector

from fugue_ppl.core._cdist cimport bitgen_t


cdef extern from "fugue/streams.hpp" namespace "fugue" nogil:
    cdef struct CWords "fugue::Words":
        const uint32_t* data
        size_t size

    # numpy's PCG64; not copyable (its bitgen_t points at it).
    cdef cppclass CPcg64 "fugue::Pcg64":
        CPcg64() noexcept
        bitgen_t* bitgen() noexcept

    cdef enum class KeyPlace "fugue::StreamSource::KeyPlace" (uint8_t):
        Entropy
        SpawnKey

    # A handler's base seed and run counter (immutable but for the atomic counter).
    cdef cppclass CStreamSource "fugue::StreamSource":
        CStreamSource(vector[uint32_t], vector[uint32_t], uint32_t, KeyPlace) except +
        void seed_keyed(CPcg64&, CWords) except +
        void seed_keyed(CPcg64&, uint64_t) except +
        uint64_t seed_next(CPcg64&) except +
        uint64_t counter() noexcept
        void set_counter(uint64_t) noexcept

    void set_fork_key(const uint32_t*) noexcept
