#include "fugue/sha256.hpp"

#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define FUGUE_SHA_NI 1
#endif

namespace fugue {

namespace {

constexpr std::uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

inline std::uint32_t rotr(std::uint32_t x, int n) noexcept { return x >> n | x << (32 - n); }

void block_portable(std::uint32_t* h_, const unsigned char* p) noexcept {
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
        w[i] = std::uint32_t(p[4 * i]) << 24 | std::uint32_t(p[4 * i + 1]) << 16 |
               std::uint32_t(p[4 * i + 2]) << 8 | std::uint32_t(p[4 * i + 3]);
    }
    for (int i = 16; i < 64; ++i) {
        std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5],
                  g = h_[6], h = h_[7];
    for (int i = 0; i < 64; ++i) {
        std::uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                           kRound[i] + w[i];
        std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h_[0] += a; h_[1] += b; h_[2] += c; h_[3] += d;
    h_[4] += e; h_[5] += f; h_[6] += g; h_[7] += h;
}

#ifdef FUGUE_SHA_NI
// The same block with the x86 SHA extensions (the state's words as ABEF and CDGH;
// the message schedule four words at a time: sha256msg1 adds sigma0, sha256msg2
// sigma1).
__attribute__((target("sha,sse4.1"))) void block_sha_ni(std::uint32_t* h,
                                                        const unsigned char* p) noexcept {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)), 0xB1);
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 4)),
                                   0x1B);
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);          // ABEF
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);               // CDGH
    const __m128i abef = s0, cdgh = s1;
    __m128i w[4];
    for (int g = 0; g < 16; ++g) {
        if (g < 4) {
            w[g] = _mm_shuffle_epi8(
                _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * g)), mask);
        } else {
            __m128i t = _mm_sha256msg1_epu32(w[(g - 4) & 3], w[(g - 3) & 3]);
            t = _mm_add_epi32(t, _mm_alignr_epi8(w[(g - 1) & 3], w[(g - 2) & 3], 4));
            w[g & 3] = _mm_sha256msg2_epu32(t, w[(g - 1) & 3]);
        }
        __m128i m = _mm_add_epi32(
            w[g & 3], _mm_loadu_si128(reinterpret_cast<const __m128i*>(kRound + 4 * g)));
        s1 = _mm_sha256rnds2_epu32(s1, s0, m);
        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0E));
    }
    s0 = _mm_add_epi32(s0, abef);
    s1 = _mm_add_epi32(s1, cdgh);
    tmp = _mm_shuffle_epi32(s0, 0x1B);                 // FEBA
    s1 = _mm_shuffle_epi32(s1, 0xB1);                  // DCHG
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h), _mm_blend_epi16(tmp, s1, 0xF0));   // DCBA
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + 4), _mm_alignr_epi8(s1, tmp, 8));  // HGFE
}

bool has_sha_ni() noexcept {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1)) return false;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1u);
}

using Block = void (*)(std::uint32_t*, const unsigned char*) noexcept;
const Block kBlock = has_sha_ni() ? block_sha_ni : block_portable;
#else
using Block = void (*)(std::uint32_t*, const unsigned char*) noexcept;
const Block kBlock = block_portable;
#endif

}  // namespace

bool sha256_accelerated() noexcept { return kBlock != block_portable; }

Sha256::Sha256(bool portable) noexcept
    : block_(portable ? block_portable : kBlock),
      h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
         0x5be0cd19} {}

void Sha256::update(const void* data, std::size_t n) noexcept {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    bytes_ += n;
    if (used_) {
        std::size_t take = 64 - used_ < n ? 64 - used_ : n;
        std::memcpy(buf_ + used_, p, take);
        used_ += take;
        p += take;
        n -= take;
        if (used_ < 64) return;
        block(buf_);
        used_ = 0;
    }
    for (; n >= 64; p += 64, n -= 64) block(p);
    std::memcpy(buf_, p, n);
    used_ = n;
}

void Sha256::digest(unsigned char out[32]) noexcept {
    std::uint64_t bits = bytes_ * 8;
    unsigned char pad[72] = {0x80};
    std::size_t n = (used_ < 56 ? 56 : 120) - used_;
    for (int i = 0; i < 8; ++i) pad[n + i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
    update(pad, n + 8);
    for (int i = 0; i < 8; ++i) {
        out[4 * i] = static_cast<unsigned char>(h_[i] >> 24);
        out[4 * i + 1] = static_cast<unsigned char>(h_[i] >> 16);
        out[4 * i + 2] = static_cast<unsigned char>(h_[i] >> 8);
        out[4 * i + 3] = static_cast<unsigned char>(h_[i]);
    }
}

HmacSha256::HmacSha256(const void* key, std::size_t n) noexcept {
    unsigned char k[64] = {0};
    if (n > 64) {
        Sha256 h;
        h.update(key, n);
        h.digest(k);
    } else if (n) {
        std::memcpy(k, key, n);
    }
    unsigned char pad[64];
    for (int i = 0; i < 64; ++i) pad[i] = k[i] ^ 0x36;
    inner_.update(pad, 64);
    for (int i = 0; i < 64; ++i) pad[i] = k[i] ^ 0x5c;
    outer_.update(pad, 64);
}

void HmacSha256::hex(const void* data, std::size_t n, std::string& out) const {
    static const char digits[] = "0123456789abcdef";
    unsigned char d[32];
    Sha256 inner = inner_;
    inner.update(data, n);
    inner.digest(d);
    Sha256 outer = outer_;
    outer.update(d, 32);
    outer.digest(d);
    char text[64];
    for (int i = 0; i < 32; ++i) {
        text[2 * i] = digits[d[i] >> 4];
        text[2 * i + 1] = digits[d[i] & 15];
    }
    out.append(text, 64);
}

}  // namespace fugue
