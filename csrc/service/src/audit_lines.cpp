#include "fugue/audit_lines.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <utility>

#include "fugue/canonical.hpp"

namespace fugue::audit {

LineQueue::LineQueue(const std::string& key, const std::vector<std::string>& names,
                     std::size_t limit, int max_depth)
    : limit_(limit), max_depth_(max_depth), mac_(key.data(), key.size()) {
    for (std::size_t i = 0; i < names.size(); ++i) {
        std::string s(i == 0 ? "{" : ",");
        canonical::put_string(s, names[i].data(), names[i].size());
        s.push_back(':');
        names_.push_back(std::move(s));
    }
}

bool LineQueue::push(Entry& e) {
    std::unique_lock<std::mutex> lock(mu_);
    if (closed_ || outstanding_ >= limit_) return false;
    queue_.push_back(std::move(e));
    ++outstanding_;
    ++accepted_;
    bool wake = idle_;
    idle_ = false;
    lock.unlock();
    if (wake) cv_.notify_all();
    return true;
}

long LineQueue::take(std::string& out, double linger, std::size_t max_batch) {
    {
        std::unique_lock<std::mutex> lock(mu_);
        if (queue_.empty() && !closed_ && !woken_) {
            idle_ = true;
            cv_.wait(lock, [this] { return !queue_.empty() || closed_ || woken_; });
            idle_ = false;
            if (!closed_ && !woken_ && linger > 0.0) {     // caught up: let lines gather
                cv_.wait_for(lock, std::chrono::duration<double>(linger),
                             [this] { return closed_ || woken_; });
            }
        }
        woken_ = false;
        if (queue_.empty()) return closed_ ? -1 : 0;
        std::size_t n = queue_.size() < max_batch ? queue_.size() : max_batch;
        batch_.clear();
        for (std::size_t i = 0; i < n; ++i) {
            batch_.push_back(std::move(queue_.front()));
            queue_.pop_front();
        }
    }
    for (const Entry& e : batch_) format(e, out);
    long n = static_cast<long>(batch_.size());
    batch_.clear();
    return n;
}

void LineQueue::done(std::size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    outstanding_ -= n < outstanding_ ? n : outstanding_;
}

void LineQueue::wake() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        woken_ = true;
    }
    cv_.notify_all();
}

void LineQueue::close() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        closed_ = true;
    }
    cv_.notify_all();
}

std::size_t LineQueue::queued() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
}

std::uint64_t LineQueue::accepted() const {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
}

namespace {

// RFC 3339 in UTC with microseconds ("2023-11-14T22:13:20.123456Z"), the
// microseconds rounded half to even; false outside years 1..9999.
bool rfc3339(double t, std::string& out) {
    if (!std::isfinite(t) || std::fabs(t) > 253402300800.0) return false;
    long long us = static_cast<long long>(std::nearbyint(t * 1e6));
    long long sec = us / 1000000, frac = us % 1000000;
    if (frac < 0) { frac += 1000000; sec -= 1; }
    std::time_t tt = static_cast<std::time_t>(sec);
    std::tm tm;
    if (gmtime_r(&tt, &tm) == nullptr || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
        return false;
    char buf[40];
    int n = std::snprintf(buf, sizeof buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ\"",
                          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                          tm.tm_sec, frac);
    out.append(buf, n);
    return true;
}

}  // namespace

void LineQueue::format(const Entry& e, std::string& out) {
    out += names_[0];
    if (!rfc3339(e.created, out)) out += "null";
    for (int i = 0; i < kTexts; ++i) {
        out += names_[1 + i];
        if (e.present >> i & 1u) canonical::put_string(out, e.text[i].data(), e.text[i].size());
        else out += "null";
    }
    out += names_[8];
    if (e.has_status) canonical::put_integer(out, e.status);
    else out += "null";
    out += names_[9];
    if (e.has_duration) canonical::put_number(out, e.duration);
    else out += "null";
    for (int d = 0; d < 2; ++d) {
        out += names_[10 + d];
        const std::string* data = &e.doc[d];
        if (e.kind[d] == kJsonText) {
            scratch_.clear();
            data = canonical::canonical_text(e.doc[d].data(), e.doc[d].size(), max_depth_,
                                             scratch_) ? &scratch_ : nullptr;
        } else if (e.kind[d] != kCanonical) {
            data = nullptr;
        }
        if (data == nullptr) {
            out += "null";
        } else {
            out.push_back('"');
            mac_.hex(data->data(), data->size(), out);
            out.push_back('"');
        }
    }
    out += "}\n";
}

}  // namespace fugue::audit
