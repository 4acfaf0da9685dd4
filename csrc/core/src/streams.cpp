#include "fugue/streams.hpp"

#include "fugue/rng.hpp"

#include <array>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace fugue {
namespace {

// numpy/random/bit_generator.pyx
constexpr uint32_t kInitA = 0x43b0d7e5u;
constexpr uint32_t kMultA = 0x931e8875u;
constexpr uint32_t kInitB = 0x8b51f9ddu;
constexpr uint32_t kMultB = 0x58f38dedu;
constexpr uint32_t kMixMultL = 0xca01f9ddu;
constexpr uint32_t kMixMultR = 0x4973f715u;
constexpr unsigned kXShift = 16;  // half the bits of a uint32

// The hash constants do not depend on the data: the n-th call of hashmix
// (counting from 0 in one mix_entropy) xors with kInitA * kMultA^n and
// multiplies by kInitA * kMultA^(n+1); generate_state's i-th word likewise
// with kInitB * kMultB^i. Tabulated, they leave only the data's own
// dependencies on the critical path.
constexpr std::size_t kTable = 512;

template <uint32_t Init, uint32_t Mult>
constexpr std::array<uint32_t, kTable + 1> powers() {
  std::array<uint32_t, kTable + 1> t{};
  uint32_t h = Init;
  for (std::size_t i = 0; i <= kTable; ++i) {
    t[i] = h;
    h *= Mult;
  }
  return t;
}
constexpr std::array<uint32_t, kTable + 1> kHashA = powers<kInitA, kMultA>();
constexpr std::array<uint32_t, kTable + 1> kHashB = powers<kInitB, kMultB>();

// The n-th hashmix of a mix_entropy call.
class HashA {
 public:
  uint32_t operator()(uint32_t value) noexcept {
    uint32_t before, after;
    if (n_ < kTable) {
      before = kHashA[n_];
      after = kHashA[n_ + 1];
    } else {  // beyond the table (entropy of more than ~120 words)
      before = h_;
      after = h_ * kMultA;
    }
    if (++n_ >= kTable) h_ = after;
    value ^= before;
    value *= after;
    value ^= value >> kXShift;
    return value;
  }

 private:
  std::size_t n_ = 0;
  uint32_t h_ = 0;
};

inline uint32_t mix(uint32_t x, uint32_t y) noexcept {
  uint32_t result = kMixMultL * x - kMixMultR * y;
  result ^= result >> kXShift;
  return result;
}

// SeedSequence.mix_entropy into a pool of 4 words (numpy's default), kept
// in registers: the loops have constant bounds and unroll.
inline void mix_entropy4(uint32_t pool[4], const uint32_t* entropy, std::size_t n) noexcept {
  HashA hash;
#pragma GCC unroll 4
  for (std::size_t i = 0; i < 4; ++i) pool[i] = hash(i < n ? entropy[i] : 0u);
#pragma GCC unroll 4
  for (std::size_t src = 0; src < 4; ++src) {
#pragma GCC unroll 4
    for (std::size_t dst = 0; dst < 4; ++dst) {
      if (src != dst) pool[dst] = mix(pool[dst], hash(pool[src]));
    }
  }
  for (std::size_t src = 4; src < n; ++src) {
#pragma GCC unroll 4
    for (std::size_t dst = 0; dst < 4; ++dst) pool[dst] = mix(pool[dst], hash(entropy[src]));
  }
}

// SeedSequence.mix_entropy, any pool size.
void mix_entropy(uint32_t* pool, std::size_t n_pool, const uint32_t* entropy,
                 std::size_t n_entropy) noexcept {
  HashA hash;
  for (std::size_t i = 0; i < n_pool; ++i) pool[i] = hash(i < n_entropy ? entropy[i] : 0u);
  for (std::size_t src = 0; src < n_pool; ++src) {
    for (std::size_t dst = 0; dst < n_pool; ++dst) {
      if (src != dst) pool[dst] = mix(pool[dst], hash(pool[src]));
    }
  }
  for (std::size_t src = n_pool; src < n_entropy; ++src) {
    for (std::size_t dst = 0; dst < n_pool; ++dst) {
      pool[dst] = mix(pool[dst], hash(entropy[src]));
    }
  }
}

// SeedSequence.generate_state(n_out, uint64) from `pool`: 2 * n_out uint32
// words viewed as little-endian uint64.
inline void generate_state(const uint32_t* pool, std::size_t n_pool, uint64_t* out,
                           std::size_t n_out) noexcept {
  uint32_t hash_const = kInitB;
#pragma GCC unroll 8
  for (std::size_t i = 0; i < 2 * n_out; ++i) {
    uint32_t before, after;
    if (i < kTable) {
      before = kHashB[i];
      after = kHashB[i + 1];
    } else {
      before = hash_const;
      after = hash_const * kMultB;
    }
    hash_const = after;
    uint32_t v = pool[i % n_pool];
    v ^= before;
    v *= after;
    v ^= v >> kXShift;
    if (i % 2 == 0) {
      out[i / 2] = v;
    } else {
      out[i / 2] |= static_cast<uint64_t>(v) << 32;
    }
  }
}

// What fits on the stack: assembled entropy and pools up to this many words.
constexpr std::size_t kInlineWords = 64;

// A word buffer on the stack, on the heap when it is larger.
class Buffer {
 public:
  explicit Buffer(std::size_t n) {
    if (n > kInlineWords) {
      heap_.resize(n);
      data_ = heap_.data();
    } else {
      data_ = inline_;
    }
  }
  uint32_t* data() noexcept { return data_; }

 private:
  uint32_t inline_[kInlineWords];
  std::vector<uint32_t> heap_;
  uint32_t* data_;
};

uint64_t pcg64_uint64(void* st) { return static_cast<Pcg64*>(st)->next_uint64(); }
uint32_t pcg64_uint32(void* st) { return static_cast<Pcg64*>(st)->next_uint32(); }
double pcg64_double(void* st) { return static_cast<Pcg64*>(st)->next_double(); }

// The fork key: written only by set_fork_key, in a forked child before it
// starts threads, and read by every counter-keyed derivation afterwards.
std::atomic<uint32_t> g_fork_key[4];
std::atomic<bool> g_forked{false};

}  // namespace

void seed_sequence_state(const Words* run, std::size_t n_run, const Words* spawn,
                         std::size_t n_spawn, uint32_t pool_size, uint64_t* out,
                         std::size_t n_out) {
  std::size_t run_words = 0, spawn_words = 0;
  for (std::size_t i = 0; i < n_run; ++i) run_words += run[i].size;
  for (std::size_t i = 0; i < n_spawn; ++i) spawn_words += spawn[i].size;
  // get_assembled_entropy: the run entropy is padded with zeros to the pool
  // size when there is a spawn key (numpy >= 1.19, gh-16539).
  const std::size_t padded =
      spawn_words > 0 && run_words < pool_size ? pool_size : run_words;
  const std::size_t total = padded + spawn_words;
  Buffer entropy(total);
  uint32_t* e = entropy.data();
  std::size_t at = 0;
  for (std::size_t i = 0; i < n_run; ++i) {
    for (std::size_t j = 0; j < run[i].size; ++j) e[at++] = run[i].data[j];
  }
  while (at < padded) e[at++] = 0u;
  for (std::size_t i = 0; i < n_spawn; ++i) {
    for (std::size_t j = 0; j < spawn[i].size; ++j) e[at++] = spawn[i].data[j];
  }
  if (pool_size == 4) {
    uint32_t pool[4];
    mix_entropy4(pool, e, total);
    generate_state(pool, 4, out, n_out);
    return;
  }
  Buffer pool(pool_size);
  mix_entropy(pool.data(), pool_size, e, total);
  generate_state(pool.data(), pool_size, out, n_out);
}

// ------------------------------------------------------------ standard normals
//
// numpy's random_standard_normal, step for step, on a generator inlined into
// the loop (a local copy of the state, kept in registers): 99.3% of draws
// take one 64-bit value (8 bits pick a layer, 1 the sign, 52 the magnitude);
// the rest are decided by one more uniform, or in the base layer by the tail
// algorithm. The tables are numpy's own (CMakeLists.txt makes them linkable),
// so the draws are numpy's bit for bit (tests/core/test_streams.py).

#if FUGUE_ZIGGURAT
extern "C" {
extern const uint64_t ki_double[256];
extern const double wi_double[256];
extern const double fi_double[256];
}

namespace {

// The ziggurat's base-layer edge r and 1 / r.
constexpr double kZigR = 3.6541528853610087963519472518;
constexpr double kZigInvR = 0.27366123732975827203338247596;

template <class G>
inline double ziggurat_normal(G& g) noexcept {
  for (;;) {
    uint64_t r = g.next_uint64();
    const int idx = static_cast<int>(r & 0xff);
    r >>= 8;
    const uint64_t rabs = (r >> 1) & 0x000fffffffffffffULL;
    double x = static_cast<double>(rabs) * wi_double[idx];
    if (r & 0x1) x = -x;
    if (rabs < ki_double[idx]) return x;
    if (idx == 0) {
      for (;;) {
        // (1 - U, as numpy: log(0) cannot happen)
        const double xx = -kZigInvR * std::log1p(-g.next_double());
        const double yy = -std::log1p(-g.next_double());
        if (yy + yy > xx * xx) return ((rabs >> 8) & 0x1) ? -(kZigR + xx) : kZigR + xx;
      }
    }
    if ((fi_double[idx - 1] - fi_double[idx]) * g.next_double() + fi_double[idx] <
        std::exp(-0.5 * x * x))
      return x;
  }
}

}  // namespace
#endif

double Pcg64::standard_normal() noexcept {
#if FUGUE_ZIGGURAT
  return ziggurat_normal(*this);
#else
  return random_standard_normal(&bg_);
#endif
}

void Pcg64::fill_standard_normal(double* out, std::size_t n) noexcept {
#if FUGUE_ZIGGURAT
  struct Local {
    unsigned __int128 state, inc;
    uint64_t next_uint64() noexcept {
      state = state * kMultiplier + inc;
      return output(state);
    }
    double next_double() noexcept {
      return static_cast<double>(next_uint64() >> 11) * (1.0 / 9007199254740992.0);
    }
  } g{state_, inc_};
  for (std::size_t k = 0; k < n; ++k) out[k] = ziggurat_normal(g);
  state_ = g.state;
#else
  random_standard_normal_fill(&bg_, static_cast<intptr_t>(n), out);
#endif
}

double standard_normal(bitgen_t* bg) noexcept {
  if (bg->next_uint64 == &pcg64_uint64) return static_cast<Pcg64*>(bg->state)->standard_normal();
  return random_standard_normal(bg);
}

void standard_normal_fill(bitgen_t* bg, std::size_t n, double* out) noexcept {
  if (bg->next_uint64 == &pcg64_uint64) {
    static_cast<Pcg64*>(bg->state)->fill_standard_normal(out, n);
    return;
  }
  random_standard_normal_fill(bg, static_cast<intptr_t>(n), out);
}

Pcg64::Pcg64() noexcept {
  bg_.state = this;
  bg_.next_uint64 = &pcg64_uint64;
  bg_.next_uint32 = &pcg64_uint32;
  bg_.next_double = &pcg64_double;
  bg_.next_raw = &pcg64_uint64;
}

StreamSource::StreamSource(std::vector<uint32_t> entropy, std::vector<uint32_t> spawn_key,
                           uint32_t pool_size, KeyPlace place)
    : entropy_(std::move(entropy)), spawn_key_(std::move(spawn_key)), pool_size_(pool_size),
      place_(place) {
  if (pool_size_ < 4) throw std::invalid_argument("StreamSource: pool_size must be >= 4");
  // The common case, an int seed below 2**64 and a 4-word pool: the key's
  // words go into the pool directly (see seed_from).
  small_ = place_ == KeyPlace::Entropy && spawn_key_.empty() && pool_size_ == 4 &&
           entropy_.size() <= 2;
}

void StreamSource::seed_from(Pcg64& out, Words key, bool forked) const {
  uint64_t state[4];
  if (!forked && small_ && key.size <= 2) {
    // default_rng([s, k]) with s and k below 2**64: at most 4 words, no
    // spawn key, no padding.
    uint32_t e[4];
    std::size_t n = 0;
    for (uint32_t w : entropy_) e[n++] = w;
    for (std::size_t j = 0; j < key.size; ++j) e[n++] = key.data[j];
    uint32_t pool[4];
    mix_entropy4(pool, e, n);
    generate_state(pool, 4, state, 4);
    out.seed(state);
    return;
  }
  const Words base{entropy_.data(), entropy_.size()};
  const Words spawn{spawn_key_.data(), spawn_key_.size()};
  if (forked) {
    uint32_t fk[4];
    fork_key(fk);
    const Words parts[3] = {spawn, Words{fk, 4}, key};
    seed_sequence_state(&base, 1, parts, 3, pool_size_, state, 4);
  } else if (place_ == KeyPlace::Entropy) {
    const Words parts[2] = {base, key};
    seed_sequence_state(parts, 2, &spawn, 1, pool_size_, state, 4);
  } else {
    const Words parts[2] = {spawn, key};
    seed_sequence_state(&base, 1, parts, 2, pool_size_, state, 4);
  }
  out.seed(state);
}

void StreamSource::seed_keyed(Pcg64& out, Words key) const { seed_from(out, key, false); }

void StreamSource::seed_keyed(Pcg64& out, uint64_t key) const {
  uint32_t w[2];
  seed_from(out, Words{w, int_words(key, w)}, false);
}

uint64_t StreamSource::seed_next(Pcg64& out) {
  const uint64_t k = counter_.fetch_add(1, std::memory_order_relaxed);
  uint32_t w[2];
  seed_from(out, Words{w, int_words(k, w)}, g_forked.load(std::memory_order_acquire));
  return k;
}

void set_fork_key(const uint32_t key[4]) noexcept {
  for (int i = 0; i < 4; ++i) g_fork_key[i].store(key[i], std::memory_order_relaxed);
  g_forked.store(true, std::memory_order_release);
}

void fork_key(uint32_t out[4]) noexcept {
  for (int i = 0; i < 4; ++i) out[i] = g_fork_key[i].load(std::memory_order_relaxed);
}

}  // namespace fugue
