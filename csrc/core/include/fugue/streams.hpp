#pragma once
// Per-run random streams: numpy's SeedSequence (its entropy mixing and
// generate_state) and numpy's PCG64 bit generator, in C++, so that deriving a
// run's stream builds no Python object and takes no lock. The stream of key k
// is bit-identical to numpy's:
//   an int seed s:          numpy.random.default_rng([s, k])
//   a SeedSequence ss:      Generator(PCG64(SeedSequence(ss.entropy,
//                             spawn_key=ss.spawn_key + (k,), pool_size=ss.pool_size)))
// A Pcg64 exposes numpy's bitgen_t, so numpy's samplers (libnpyrandom) draw
// from it unchanged.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "numpy/random/bitgen.h"

#if !defined(__SIZEOF_INT128__)
#error "fugue/streams.hpp needs a compiler with unsigned __int128 (GCC, Clang)"
#endif

namespace fugue {

// A view of uint32 words, lowest first: numpy's coercion of a non-negative
// int (0 is one word 0; no high zero words) or of a sequence of ints.
struct Words {
  const uint32_t* data = nullptr;
  std::size_t size = 0;
};

// The words of `v` as numpy coerces an int (1 or 2 words) into `out`;
// returns their count. Never throws.
inline std::size_t int_words(uint64_t v, uint32_t out[2]) noexcept {
  out[0] = static_cast<uint32_t>(v);
  out[1] = static_cast<uint32_t>(v >> 32);
  return out[1] != 0 ? 2 : 1;
}

// numpy's SeedSequence reduced to what seeds a bit generator. The run
// entropy is the concatenation of `run` (n_run parts), the spawn key that of
// `spawn` (n_spawn parts); they are assembled as get_assembled_entropy does
// (the run entropy zero-padded to pool_size when the spawn key is not empty),
// mixed into a pool of pool_size words (mix_entropy), and
// generate_state(n_out, uint64) is written to `out`. pool_size >= 1.
// Allocates only when the assembled entropy or the pool exceeds 64 words
// (throws std::bad_alloc then); otherwise never throws.
void seed_sequence_state(const Words* run, std::size_t n_run, const Words* spawn,
                         std::size_t n_spawn, uint32_t pool_size, uint64_t* out,
                         std::size_t n_out);

// numpy's PCG64 (PCG XSL RR 128/64): the same seeding, the same 64-bit, 32-bit
// (one 64-bit draw serves two, low half first) and double draws. Holds the
// bitgen_t numpy's samplers call; not copyable (the bitgen_t points at it).
class Pcg64 {
 public:
  Pcg64() noexcept;
  Pcg64(const Pcg64&) = delete;
  Pcg64& operator=(const Pcg64&) = delete;

  // numpy's pcg64_set_seed with s = generate_state(4, uint64): initstate =
  // s[0] << 64 | s[1], initseq = s[2] << 64 | s[3]; clears the buffered
  // 32-bit half. Never throws.
  void seed(const uint64_t s[4]) noexcept {
    const unsigned __int128 initstate = (static_cast<unsigned __int128>(s[0]) << 64) | s[1];
    const unsigned __int128 initseq = (static_cast<unsigned __int128>(s[2]) << 64) | s[3];
    state_ = 0;
    inc_ = (initseq << 1) | 1u;
    step();
    state_ += initstate;
    step();
    has_uint32_ = false;
    uinteger_ = 0;
  }

  // The next 64 bits (advance, then output). Never throws.
  uint64_t next_uint64() noexcept {
    step();
    return output(state_);
  }

  // The next 32 bits: the low half of a 64-bit draw, then its high half.
  // Never throws.
  uint32_t next_uint32() noexcept {
    if (has_uint32_) {
      has_uint32_ = false;
      return uinteger_;
    }
    const uint64_t next = next_uint64();
    has_uint32_ = true;
    uinteger_ = static_cast<uint32_t>(next >> 32);
    return static_cast<uint32_t>(next);
  }

  // A double in [0, 1): the top 53 bits of a 64-bit draw. Never throws.
  double next_double() noexcept {
    return static_cast<double>(next_uint64() >> 11) * (1.0 / 9007199254740992.0);
  }

  // numpy's standard normal (random_standard_normal: its 256-layer
  // ziggurat), one draw or n, the same values from the same state, with the
  // generator inlined where the build has numpy's ziggurat tables (else
  // through numpy's sampler). Never throws.
  double standard_normal() noexcept;
  void fill_standard_normal(double* out, std::size_t n) noexcept;

  // numpy's interface to this generator (valid as long as *this). Never throws.
  bitgen_t* bitgen() noexcept { return &bg_; }

 private:
  void step() noexcept { state_ = state_ * kMultiplier + inc_; }
  // XSL RR: the 64-bit output of a state.
  static uint64_t output(unsigned __int128 state) noexcept {
    const uint64_t hi = static_cast<uint64_t>(state >> 64);
    const uint64_t lo = static_cast<uint64_t>(state);
    const unsigned rot = static_cast<unsigned>(hi >> 58);
    const uint64_t x = hi ^ lo;
    return (x >> rot) | (x << ((-rot) & 63u));
  }

  static constexpr unsigned __int128 kMultiplier =
      (static_cast<unsigned __int128>(2549297995355413924ULL) << 64) | 4865540595714422341ULL;

  unsigned __int128 state_ = 0;
  unsigned __int128 inc_ = 0;
  bool has_uint32_ = false;
  uint32_t uinteger_ = 0;
  bitgen_t bg_;
};

// numpy's random_standard_normal / random_standard_normal_fill on `bg`,
// through Pcg64::standard_normal / fill_standard_normal when bg is a Pcg64's
// (the same values either way). Never throws.
double standard_normal(bitgen_t* bg) noexcept;
void standard_normal_fill(bitgen_t* bg, std::size_t n, double* out) noexcept;

// Where a handler's runs get their streams: the base seed and a run counter.
// Thread-safe: the base is immutable and the counter atomic, so runs derive
// their streams in parallel, taking no lock.
class StreamSource {
 public:
  // Where a run's key goes: into the entropy (an int seed s: [s, k]) or at
  // the end of the spawn key (a SeedSequence).
  enum class KeyPlace : uint8_t { Entropy = 0, SpawnKey = 1 };

  // `entropy` and `spawn_key` as numpy coerces them (uint32 words). Throws
  // std::invalid_argument when pool_size < 4, std::bad_alloc.
  StreamSource(std::vector<uint32_t> entropy, std::vector<uint32_t> spawn_key,
               uint32_t pool_size, KeyPlace place);

  // Seeds `out` with the stream of `key` (numpy's coercion of an int:
  // non-empty, no high zero word). Allocates nothing unless the assembled
  // entropy or the pool exceeds 64 words (then it may throw std::bad_alloc).
  void seed_keyed(Pcg64& out, Words key) const;
  void seed_keyed(Pcg64& out, uint64_t key) const;

  // Takes the next counter key k (atomically) and seeds `out` with its
  // stream: seed_keyed(out, k), or in a process forked after the counter
  // began, the stream of spawn key spawn_key + (fork key, k) (see
  // set_fork_key). Returns k. Throws as seed_keyed.
  uint64_t seed_next(Pcg64& out);

  // The counter: how many counter-keyed streams were taken. Never throws.
  uint64_t counter() const noexcept { return counter_.load(std::memory_order_relaxed); }

  // Sets the counter: the next counter-keyed stream is that of key `k` (an
  // unpickled handler continues its original's key sequence). Never throws.
  void set_counter(uint64_t k) noexcept { counter_.store(k, std::memory_order_relaxed); }

 private:
  void seed_from(Pcg64& out, Words key, bool forked) const;

  std::vector<uint32_t> entropy_;
  std::vector<uint32_t> spawn_key_;
  uint32_t pool_size_;
  KeyPlace place_;
  bool small_;  // an int seed below 2**64 and a 4-word pool: the fast path
  std::atomic<uint64_t> counter_{0};
};

// Called in a forked child before it starts any thread (os.register_at_fork):
// from now on, the counter-keyed streams of every StreamSource derive from the
// spawn key spawn_key + (key, k), `key` being fresh entropy (4 words, lowest
// first, the highest non-zero), so that the child never draws what its parent
// (or a sibling) draws. Explicitly keyed streams are unchanged. Never throws.
void set_fork_key(const uint32_t key[4]) noexcept;

// The fork key in force (all zero in a process that was not forked). Never throws.
void fork_key(uint32_t out[4]) noexcept;

}  // namespace fugue
