// The audit log's lines, queued by the requests and formatted by the writer
// without the interpreter's lock: the writer thread shares the interpreter with
// the requests, so the canonical JSON and the HMACs are computed here.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "fugue/sha256.hpp"

namespace fugue::audit {

// What a line's input or output document is.
enum Kind : unsigned char {
    kAbsent = 0,      // none: the HMAC is null
    kJsonText = 1,    // JSON text (a body), canonicalised here
    kCanonical = 2,   // canonical JSON already
};

constexpr int kTexts = 7;     // request_id, traceparent, key_id, model, version, action, outcome

// One request's fields, copied from the request's thread.
struct Entry {
    double created = 0.0;                 // seconds since the epoch
    std::string text[kTexts];             // UTF-8
    unsigned present = 0;                 // bit i: text[i] is set (else null)
    long long status = 0;
    bool has_status = false;
    double duration = 0.0;                // finite
    bool has_duration = false;
    std::string doc[2];                   // input, output
    Kind kind[2] = {kAbsent, kAbsent};
};

class LineQueue {
public:
    // names: the 12 field names, in the order the line writes them; limit: the
    // lines that may be queued or in the writer's hands at once.
    LineQueue(const std::string& key, const std::vector<std::string>& names,
              std::size_t limit, int max_depth);

    // Queues a line (moved from e); false when `limit` lines are outstanding or the
    // queue is closed.
    bool push(Entry& e);

    // Waits for lines, formats up to max_batch of them into `out` (each ending in
    // '\n') and returns how many; 0 when woken with none queued; -1 once closed
    // and drained. Having waited for the first line, it waits `linger` seconds
    // more (unless woken or closed) so that lines arrive in batches.
    long take(std::string& out, double linger, std::size_t max_batch);

    // The writer handed on n lines taken: they are no longer outstanding.
    void done(std::size_t n);

    void wake();
    void close();
    std::size_t queued() const;
    std::uint64_t accepted() const;     // lines queued so far

private:
    void format(const Entry& e, std::string& out);     // one line (the writer's)

    std::vector<std::string> names_;      // ',"name":' ('{"name":' for the first)
    std::size_t limit_;
    int max_depth_;
    HmacSha256 mac_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Entry> queue_;
    std::size_t outstanding_ = 0;
    std::uint64_t accepted_ = 0;
    bool closed_ = false;
    bool woken_ = false;
    bool idle_ = false;                   // the writer waits for a first line

    std::vector<Entry> batch_;            // (the writer's)
    std::string scratch_;                 // (the writer's)
};

}  // namespace fugue::audit
