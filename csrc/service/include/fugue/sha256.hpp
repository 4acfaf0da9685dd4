// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for the audit log's HMACs,
// computed by its writer without the interpreter's lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fugue {

class Sha256 {
public:
    // portable: the portable block function even where the CPU has SHA extensions
    // (which are used otherwise).
    explicit Sha256(bool portable = false) noexcept;
    void update(const void* data, std::size_t n) noexcept;
    void digest(unsigned char out[32]) noexcept;      // (ends the hash)

private:
    friend class HmacSha256;
    void block(const unsigned char* p) noexcept { block_(h_, p); }
    void (*block_)(std::uint32_t*, const unsigned char*) noexcept;
    std::uint32_t h_[8];
    unsigned char buf_[64];
    std::size_t used_ = 0;
    std::uint64_t bytes_ = 0;
};

// Whether this CPU's SHA extensions compute the blocks.
bool sha256_accelerated() noexcept;

// HMAC-SHA256 under one key, its padded-key states made once.
class HmacSha256 {
public:
    explicit HmacSha256(const void* key = nullptr, std::size_t n = 0) noexcept;
    // Appends the lowercase hex of the HMAC of data[0:n] to `out`.
    void hex(const void* data, std::size_t n, std::string& out) const;

private:
    Sha256 inner_, outer_;
};

}  // namespace fugue
