#include "fugue/canonical.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <locale.h>
#include <vector>

namespace fugue::canonical {

namespace {

const char kHex[] = "0123456789abcdef";

// Whether none of the 8 bytes at p is a control, '"' or '\' (SWAR).
inline bool plain8(const char* p) noexcept {
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    std::uint64_t q = x ^ 0x2222222222222222ULL;
    std::uint64_t b = x ^ 0x5C5C5C5C5C5C5C5CULL;
    return ((((x - 0x2020202020202020ULL) & ~x) | ((q - 0x0101010101010101ULL) & ~q) |
             ((b - 0x0101010101010101ULL) & ~b)) &
            0x8080808080808080ULL) == 0;
}

inline bool plain(unsigned char c) noexcept { return c >= 0x20 && c != 0x22 && c != 0x5C; }

}  // namespace

void put_string(std::string& out, const char* p, std::size_t n) {
    std::size_t start = 0, i = 0;
    out.push_back('"');
    for (;;) {
        // The run of bytes written as they are, 8 at a time, then one at a time.
        while (i + 8 <= n && plain8(p + i)) i += 8;
        while (i < n && plain(static_cast<unsigned char>(p[i]))) ++i;
        out.append(p + start, i - start);
        if (i == n) break;
        unsigned char c = static_cast<unsigned char>(p[i]);
        start = ++i;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        switch (c) {
            case 0x22: case 0x5C: esc[1] = static_cast<char>(c); break;
            case 0x08: esc[1] = 'b'; break;
            case 0x09: esc[1] = 't'; break;
            case 0x0A: esc[1] = 'n'; break;
            case 0x0C: esc[1] = 'f'; break;
            case 0x0D: esc[1] = 'r'; break;
            default:
                esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
                esc[4] = kHex[c >> 4]; esc[5] = kHex[c & 15];
                out.append(esc, 6);
                continue;
        }
        out.append(esc, 2);
    }
    out.push_back('"');
}

void put_integer(std::string& out, long long v) {
    char buf[24];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr - buf);
}

void put_number(std::string& out, double f) {
    if (std::isnan(f)) { out.append("\"NaN\""); return; }
    if (std::isinf(f)) { out.append(f > 0 ? "\"Infinity\"" : "\"-Infinity\""); return; }
    if (f == 0.0) { out.push_back('0'); return; }           // (and -0.0)
    char text[40];
    char* t = text;
    if (f < 0.0) { *t++ = '-'; f = -f; }
    if (f < 9007199254740992.0 && f == static_cast<double>(static_cast<long long>(f))) {
        // an integer below 2**53: its digits
        t = std::to_chars(t, text + sizeof text, static_cast<long long>(f)).ptr;
        out.append(text, t - text);
        return;
    }
    char buf[32];                   // the shortest round-trip digits, "d[.ddd]e[+-]XX"
    char* end = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific).ptr;
    char* digits = buf;
    int k = 1;                      // the number of significant digits
    int i = 1;
    if (buf[1] == '.') {            // move d1 next to d2..dk: the digits are contiguous
        buf[1] = buf[0];
        digits = buf + 1;
        i = 2;
        while (buf[i] != 'e') ++i;
        k = i - 1;
    }
    int e = 0;
    for (char* c = buf + i + 2; c < end; ++c) e = e * 10 + (*c - '0');
    int n = (buf[i + 1] == '-' ? -e : e) + 1;       // f = 0.d1..dk x 10**n
    if (k <= n && n <= 21) {        // digits, then n - k zeros
        std::memcpy(t, digits, k);
        std::memset(t + k, '0', n - k);
        t += n;
    } else if (0 < n && n <= 21) {  // the point after n digits
        std::memcpy(t, digits, n);
        t[n] = '.';
        std::memcpy(t + n + 1, digits + n, k - n);
        t += k + 1;
    } else if (-6 < n && n <= 0) {  // "0.", -n zeros, the digits
        std::memcpy(t, "0.", 2);
        std::memset(t + 2, '0', -n);
        std::memcpy(t + 2 - n, digits, k);
        t += 2 - n + k;
    } else {                        // d1[.d2..dk]e+-(n - 1)
        *t++ = digits[0];
        if (k > 1) {
            *t = '.';
            std::memcpy(t + 1, digits + 1, k - 1);
            t += k;
        }
        t[0] = 'e';
        t[1] = n > 0 ? '+' : '-';
        t = std::to_chars(t + 2, text + sizeof text,
                          static_cast<long long>(n > 0 ? n - 1 : 1 - n)).ptr;
    }
    out.append(text, t - text);
}

namespace {

// Why a reading stopped: the text is not JSON or has no canonical form (both
// final), or, reading as orjson does, a number overflowed a double (orjson
// refuses it; the service then reads the text with Python's json).
enum class Stop { none, fail, overflow };

struct Member {
    std::string key;                // its UTF-8
    std::size_t begin, end;         // its value's canonical JSON, in the object's text
};

class Reader {
public:
    Reader(const char* p, std::size_t n, int max_depth, bool python_ints, std::string& out)
        : p_(reinterpret_cast<const unsigned char*>(p)),
          end_(reinterpret_cast<const unsigned char*>(p) + n),
          max_depth_(max_depth), python_ints_(python_ints), out_(out) {
        members_.reserve(32);
    }

    Stop document() {
        ws();
        if (!value(0)) return stop_;
        ws();
        return p_ == end_ ? Stop::none : Stop::fail;
    }

private:
    bool fail() { stop_ = Stop::fail; return false; }

    void ws() {
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
    }

    bool value(int depth) {
        if (p_ == end_) return fail();
        switch (*p_) {
            case '{': return object(depth);
            case '[': return array(depth);
            case '"':
                scratch_.clear();
                if (!string(scratch_)) return false;
                put_string(out_, scratch_.data(), scratch_.size());
                return true;
            case 't': return literal("true", 4);
            case 'f': return literal("false", 5);
            case 'n': return literal("null", 4);
            default: return number();
        }
    }

    bool literal(const char* word, std::size_t n) {
        if (static_cast<std::size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0)
            return fail();
        out_.append(word, n);
        p_ += n;
        return true;
    }

    bool array(int depth) {
        if (depth >= max_depth_) return fail();
        ++p_;
        out_.push_back('[');
        ws();
        if (p_ < end_ && *p_ == ']') { ++p_; out_.push_back(']'); return true; }
        for (;;) {
            ws();
            if (!value(depth + 1)) return false;
            ws();
            if (p_ == end_) return fail();
            if (*p_ == ']') { ++p_; out_.push_back(']'); return true; }
            if (*p_ != ',') return fail();
            ++p_;
            out_.push_back(',');
        }
    }

    bool object(int depth) {
        if (depth >= max_depth_) return fail();
        ++p_;
        ws();
        if (p_ < end_ && *p_ == '}') { ++p_; out_.append("{}"); return true; }
        // The members of the objects being read are a stack (this object's from
        // `first`); their values are written to `out` from `base` as they are read.
        std::size_t base = out_.size(), first = members_.size();
        for (;;) {
            ws();
            if (p_ == end_ || *p_ != '"') return fail();
            std::size_t i = members_.size();
            members_.emplace_back();
            if (!string(members_[i].key)) return false;
            ws();
            if (p_ == end_ || *p_ != ':') return fail();
            ++p_;
            ws();
            members_[i].begin = out_.size() - base;
            if (!value(depth + 1)) return false;
            members_[i].end = out_.size() - base;
            ws();
            if (p_ == end_) return fail();
            if (*p_ == '}') { ++p_; break; }
            if (*p_ != ',') return fail();
            ++p_;
        }
        // Sort by key, stably (of equal keys, the last read is the last kept), keep
        // the last value of each key, then write the members in order over the values.
        auto m0 = members_.begin() + static_cast<std::ptrdiff_t>(first);
        auto before = [](const Member& a, const Member& b) {
            return utf16_before(a.key.data(), a.key.size(), b.key.data(), b.key.size());
        };
        if (members_.end() - m0 > 16) {
            std::stable_sort(m0, members_.end(), before);
        } else {                                    // (insertion sort for the usual few)
            for (auto it = m0 + 1; it < members_.end(); ++it) {
                for (auto j = it; j > m0 && before(*j, *(j - 1)); --j) std::swap(*j, *(j - 1));
            }
        }
        values_.assign(out_, base, std::string::npos);
        out_.resize(base);
        out_.push_back('{');
        bool comma = false;
        for (auto it = m0; it < members_.end(); ++it) {
            if (it + 1 < members_.end() && (it + 1)->key == it->key) continue;
            if (comma) out_.push_back(',');
            comma = true;
            put_string(out_, it->key.data(), it->key.size());
            out_.push_back(':');
            out_.append(values_, it->begin, it->end - it->begin);
        }
        out_.push_back('}');
        members_.resize(first);
        return true;
    }

    static int hex(unsigned char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    bool hex4(unsigned* cp) {
        if (end_ - p_ < 4) return false;
        unsigned v = 0;
        for (int i = 0; i < 4; ++i) {
            int d = hex(p_[i]);
            if (d < 0) return false;
            v = v << 4 | static_cast<unsigned>(d);
        }
        p_ += 4;
        *cp = v;
        return true;
    }

    static void utf8(std::string& s, unsigned cp) {
        if (cp < 0x80) {
            s.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            s.push_back(static_cast<char>(0xC0 | cp >> 6));
            s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            s.push_back(static_cast<char>(0xE0 | cp >> 12));
            s.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
            s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            s.push_back(static_cast<char>(0xF0 | cp >> 18));
            s.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
            s.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
            s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }

    // The length of the well-formed UTF-8 sequence at p_ (lead byte >= 0x80), or 0.
    std::size_t sequence() const {
        unsigned char c = p_[0];
        std::size_t avail = static_cast<std::size_t>(end_ - p_);
        auto cont = [&](std::size_t i, unsigned char lo, unsigned char hi) {
            return i < avail && p_[i] >= lo && p_[i] <= hi;
        };
        if (c >= 0xC2 && c <= 0xDF) return cont(1, 0x80, 0xBF) ? 2 : 0;
        if (c >= 0xE0 && c <= 0xEF) {
            unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            return cont(1, lo, hi) && cont(2, 0x80, 0xBF) ? 3 : 0;
        }
        if (c >= 0xF0 && c <= 0xF4) {
            unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            return cont(1, lo, hi) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
        }
        return 0;
    }

    // Reads the string at p_ (its opening quote) into s, as UTF-8.
    bool string(std::string& s) {
        ++p_;
        for (;;) {
            const unsigned char* run = p_;
            while (p_ < end_ && *p_ >= 0x20 && *p_ < 0x80 && *p_ != '"' && *p_ != '\\') ++p_;
            s.append(reinterpret_cast<const char*>(run), p_ - run);
            if (p_ == end_) return fail();
            unsigned char c = *p_;
            if (c == '"') { ++p_; return true; }
            if (c < 0x20) return fail();                    // (a raw control)
            if (c >= 0x80) {
                std::size_t k = sequence();
                if (k == 0) return fail();                  // (not UTF-8, or a surrogate)
                s.append(reinterpret_cast<const char*>(p_), k);
                p_ += k;
                continue;
            }
            // an escape
            if (++p_ == end_) return fail();
            c = *p_++;
            switch (c) {
                case '"': s.push_back('"'); break;
                case '\\': s.push_back('\\'); break;
                case '/': s.push_back('/'); break;
                case 'b': s.push_back('\b'); break;
                case 'f': s.push_back('\f'); break;
                case 'n': s.push_back('\n'); break;
                case 'r': s.push_back('\r'); break;
                case 't': s.push_back('\t'); break;
                case 'u': {
                    unsigned cp;
                    if (!hex4(&cp)) return fail();
                    if (cp >= 0xD800 && cp <= 0xDBFF) {     // a pair, or a lone surrogate
                        unsigned lo;
                        if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return fail();
                        p_ += 2;
                        if (!hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return fail();
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        return fail();
                    }
                    utf8(s, cp);
                    break;
                }
                default: return fail();
            }
        }
    }

    static double parse_double(const char* first, const char* last) {
        double v = 0.0;
        auto r = std::from_chars(first, last, v);
        if (r.ec == std::errc()) return v;
        // Out of a double's range: infinite or zero, as strtod rounds it (in the C
        // locale: the point is '.').
        static locale_t c_locale = newlocale(LC_ALL_MASK, "C", locale_t(0));
        std::string text(first, last);
        return strtod_l(text.c_str(), nullptr, c_locale);
    }

    bool number() {
        const unsigned char* start = p_;
        bool negative = p_ < end_ && *p_ == '-';
        if (negative) ++p_;
        if (p_ == end_ || *p_ < '0' || *p_ > '9') return fail();
        const unsigned char* digits = p_;
        if (*p_ == '0') {
            ++p_;
        } else {
            while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
        }
        std::size_t ndigits = static_cast<std::size_t>(p_ - digits);
        bool integer = true;
        if (p_ < end_ && *p_ == '.') {
            integer = false;
            ++p_;
            const unsigned char* f = p_;
            while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
            if (p_ == f) return fail();
        }
        if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
            integer = false;
            ++p_;
            if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
            const unsigned char* e = p_;
            while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
            if (p_ == e) return fail();
        }
        if (integer) {
            // Within 64 bits (orjson: -2**63 .. 2**64 - 1), or always (Python): an int.
            std::uint64_t v = 0;
            bool fits = ndigits <= 20;
            for (const unsigned char* d = digits; fits && d < p_; ++d) {
                unsigned x = *d - '0';
                if (v > (UINT64_MAX - x) / 10) fits = false;
                else v = v * 10 + x;
            }
            if (fits && negative && v > (std::uint64_t(1) << 63)) fits = false;
            if (fits || python_ints_) {
                if (!fits || v > static_cast<std::uint64_t>(kIntLimit)) return fail();
                put_integer(out_, negative ? -static_cast<long long>(v)
                                           : static_cast<long long>(v));
                return true;
            }
        }
        double v = parse_double(reinterpret_cast<const char*>(start),
                                reinterpret_cast<const char*>(p_));
        if (std::isinf(v) && !python_ints_) {
            stop_ = Stop::overflow;
            return false;
        }
        put_number(out_, v);
        return true;
    }

    const unsigned char* p_;
    const unsigned char* end_;
    int max_depth_;
    bool python_ints_;
    std::string& out_;
    std::string scratch_;                   // (a string value's text)
    std::string values_;                    // (an object's values, while it is rewritten)
    std::vector<Member> members_;
    Stop stop_ = Stop::none;
};

}  // namespace

bool canonical_text(const char* p, std::size_t n, int max_depth, std::string& out) {
    std::size_t base = out.size();
    Stop stop = Reader(p, n, max_depth, false, out).document();
    if (stop == Stop::overflow) {
        out.resize(base);
        stop = Reader(p, n, max_depth, true, out).document();
    }
    if (stop != Stop::none) {
        out.resize(base);
        return false;
    }
    return true;
}

}  // namespace fugue::canonical
