#include "fugue/streams.hpp"

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

// What fits on the stack: assembled entropy and pools up to this many words.
constexpr std::size_t kInlineWords = 64;

inline uint32_t hashmix(uint32_t value, uint32_t& hash_const) noexcept {
  value ^= hash_const;
  hash_const *= kMultA;
  value *= hash_const;
  value ^= value >> kXShift;
  return value;
}

inline uint32_t mix(uint32_t x, uint32_t y) noexcept {
  uint32_t result = kMixMultL * x - kMixMultR * y;
  result ^= result >> kXShift;
  return result;
}

// SeedSequence.mix_entropy
void mix_entropy(uint32_t* pool, std::size_t n_pool, const uint32_t* entropy,
                 std::size_t n_entropy) noexcept {
  uint32_t hash_const = kInitA;
  for (std::size_t i = 0; i < n_pool; ++i) {
    pool[i] = hashmix(i < n_entropy ? entropy[i] : 0u, hash_const);
  }
  for (std::size_t src = 0; src < n_pool; ++src) {
    for (std::size_t dst = 0; dst < n_pool; ++dst) {
      if (src != dst) pool[dst] = mix(pool[dst], hashmix(pool[src], hash_const));
    }
  }
  for (std::size_t src = n_pool; src < n_entropy; ++src) {
    for (std::size_t dst = 0; dst < n_pool; ++dst) {
      pool[dst] = mix(pool[dst], hashmix(entropy[src], hash_const));
    }
  }
}

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

  Buffer pool_buffer(pool_size);
  uint32_t* pool = pool_buffer.data();
  mix_entropy(pool, pool_size, e, total);

  // generate_state(n_out, uint64): 2 * n_out uint32 words, viewed as
  // little-endian uint64.
  uint32_t hash_const = kInitB;
  for (std::size_t i = 0; i < 2 * n_out; ++i) {
    uint32_t v = pool[i % pool_size];
    v ^= hash_const;
    hash_const *= kMultB;
    v *= hash_const;
    v ^= v >> kXShift;
    if (i % 2 == 0) {
      out[i / 2] = v;
    } else {
      out[i / 2] |= static_cast<uint64_t>(v) << 32;
    }
  }
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
}

void StreamSource::seed_from(Pcg64& out, Words key, bool forked) const {
  const Words base{entropy_.data(), entropy_.size()};
  const Words spawn{spawn_key_.data(), spawn_key_.size()};
  uint64_t state[4];
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
