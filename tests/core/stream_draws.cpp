// Draws from fugue::StreamSource / fugue::Pcg64 with no interpreter in the
// way, for tests/core/test_streams.py to compare bit for bit with numpy.
// Built by the tests against the installed libfugue_core, never shipped.
//
// usage: stream_draws < cases
// One case per line (whitespace-separated):
//   place pool ne e_1 .. e_ne ns s_1 .. s_ns how count pattern
// place: E (an int seed: the key goes into the entropy) or S (a SeedSequence:
// the key ends the spawn key); e_*, s_*: the base's entropy and spawn key
// words; how: "key nk k_1 .. k_nk" (the stream of that key, as words) or
// "u64 k" (the same key through the uint64 overload) or
// "next n f_1 f_2 f_3 f_4" (the counter's n-th stream, counting from 0, after
// set_fork_key(f) unless f is all zero); count draws cycling through
// pattern: U = next_uint64, u = next_uint32, d = next_double, n =
// standard_normal(), each written to stdout as 8 little-endian bytes (u
// zero-extended, d and n their IEEE bits); or N alone: count standard
// normals by fill_standard_normal, in fills of 1, 3, 250 and 4096 in turn.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "fugue/streams.hpp"

namespace {

std::vector<uint32_t> read_words(std::istream& in) {
  std::size_t n = 0;
  in >> n;
  std::vector<uint32_t> w(n);
  for (auto& x : w) in >> x;
  return w;
}

void put(uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  std::fwrite(b, 1, 8, stdout);
}

uint64_t bits_of(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  return bits;
}

}  // namespace

int main() {
  std::string place;
  while (std::cin >> place) {
    uint32_t pool = 0;
    std::cin >> pool;
    std::vector<uint32_t> entropy = read_words(std::cin);
    std::vector<uint32_t> spawn = read_words(std::cin);
    fugue::StreamSource source(entropy, spawn, pool,
                               place == "E" ? fugue::StreamSource::KeyPlace::Entropy
                                            : fugue::StreamSource::KeyPlace::SpawnKey);
    fugue::Pcg64 g;
    std::string how;
    std::cin >> how;
    if (how == "key") {
      std::vector<uint32_t> key = read_words(std::cin);
      source.seed_keyed(g, fugue::Words{key.data(), key.size()});
    } else if (how == "u64") {
      uint64_t k = 0;
      std::cin >> k;
      source.seed_keyed(g, k);
    } else if (how == "next") {
      uint64_t n = 0;
      uint32_t f[4];
      std::cin >> n >> f[0] >> f[1] >> f[2] >> f[3];
      if (f[0] | f[1] | f[2] | f[3]) fugue::set_fork_key(f);
      for (uint64_t i = 0; i <= n; ++i) {
        if (source.seed_next(g) != i) return 3;
      }
    } else {
      return 2;
    }
    std::size_t count = 0;
    std::string pattern;
    std::cin >> count >> pattern;
    bitgen_t* bg = g.bitgen();
    if (pattern == "N") {
      const std::size_t sizes[4] = {1, 3, 250, 4096};
      std::vector<double> out(count);
      for (std::size_t i = 0, j = 0; i < count; ++j) {
        const std::size_t m = std::min(sizes[j % 4], count - i);
        g.fill_standard_normal(out.data() + i, m);
        i += m;
      }
      for (double d : out) put(bits_of(d));
      continue;
    }
    for (std::size_t i = 0; i < count; ++i) {
      switch (pattern[i % pattern.size()]) {
        case 'U': put(bg->next_uint64(bg->state)); break;
        case 'u': put(bg->next_uint32(bg->state)); break;
        case 'd': put(bits_of(bg->next_double(bg->state))); break;
        case 'n': put(bits_of(g.standard_normal())); break;
        default: return 2;
      }
    }
  }
  std::fflush(stdout);
  return 0;
}
