// RFC 8785 canonical JSON: the writers of its strings and numbers, the order of
// its object members, and the canonical form of JSON text.
//
// The service's audit log HMACs the canonical JSON of each request's input and
// output. fugue_ppl.service._canonical walks Python values with these writers;
// canonical_text() reads the body's JSON text itself, with no Python object, so
// the audit writer can run without the interpreter's lock.
#pragma once

#include <cstddef>
#include <string>

namespace fugue::canonical {

// Appends the JSON string of the valid UTF-8 text p[0:n]: '"' and '\' escaped,
// the controls as \b \t \n \f \r or \u00xx, every other character as it is.
void put_string(std::string& out, const char* p, std::size_t n);

// Appends ECMAScript's Number::toString of v (RFC 8785 3.2.2.3); the non-finite
// values as the strings "NaN", "Infinity" and "-Infinity".
void put_number(std::string& out, double v);

// Appends the decimal digits of v.
void put_integer(std::string& out, long long v);

// The largest integer written as an integer: 2**53 - 1, exact in a double.
constexpr long long kIntLimit = 9007199254740991LL;

// UTF-8 bytes compare as code points do; UTF-16 code units put U+E000..U+FFFF
// (lead bytes EE, EF) after U+10000.. (surrogate pairs; lead bytes F0..F4).
inline unsigned utf16_rank(unsigned char c) noexcept {
    return c == 0xEE || c == 0xEF ? c + 0x10u : c;
}

// Whether the UTF-8 key a[0:an] sorts before b[0:bn] by UTF-16 code units. The
// first differing byte is a lead byte in both or a continuation byte in both
// (the prefix is the same); continuation bytes compare as code points do.
inline bool utf16_before(const char* a, std::size_t an, const char* b,
                         std::size_t bn) noexcept {
    std::size_t n = an < bn ? an : bn;
    for (std::size_t i = 0; i < n; ++i) {
        if (a[i] != b[i]) {
            return utf16_rank(static_cast<unsigned char>(a[i])) <
                   utf16_rank(static_cast<unsigned char>(b[i]));
        }
    }
    return an < bn;
}

// Appends the canonical JSON of the JSON text p[0:n] read as the service reads
// a request body (orjson, then Python's json for what orjson refuses): strict
// RFC 8259 text in UTF-8, no NaN or Infinity literals; duplicate keys keep their
// last value; an integer within 64 bits is an int, one beyond is a double; a
// number too large for a double is infinite (and then every integer is an int,
// as Python's json reads it). Returns false, leaving `out` as it was, when the
// text is not JSON or its value has no canonical form (an int beyond
// +-(2**53 - 1), a lone surrogate, containers nested deeper than max_depth).
bool canonical_text(const char* p, std::size_t n, int max_depth, std::string& out);

}  // namespace fugue::canonical
