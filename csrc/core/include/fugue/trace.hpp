#pragma once
// An execution trace: the choices of one model run in execution order, with
// their log-probabilities and the run's log-weight accumulators.
#include <atomic>
#include <cstdint>
#include <vector>

#include "fugue/address.hpp"
#include "fugue/value.hpp"

namespace fugue {

enum class ChoiceKind : uint8_t { Sample = 0, Observe = 1 };

// Flags of a choice.
enum ChoiceFlags : uint8_t {
  kFlagNone = 0,
  kFlagFallback = 1,  // value substituted by a fallback (RobustHandler)
};

struct Choice {
  AddrId addr;
  ChoiceKind kind;
  uint8_t flags;
  Value value;
  double log_prob;
};

// Every choice holds a reference on its address in the AddressTable. A
// cleared trace keeps the references of its last run's choices until the
// next run overwrites them (a reused trace usually records the same
// addresses again, so a pooled run touches no reference count), and gives
// them all back when destroyed.
class Trace {
 public:
  // An empty trace; buffers are allocated on first use. Never throws.
  Trace() = default;
  // A copy of `o`'s choices and accumulators. Throws std::bad_alloc.
  Trace(const Trace& o);
  Trace& operator=(const Trace&) = delete;
  ~Trace();

  // Forgets every choice and zeroes the accumulators, keeping the buffers'
  // capacity (no deallocation). Never throws.
  void clear() noexcept;

  // Appends a choice unless its address is already present; returns false
  // (appending nothing) on a duplicate. Throws std::bad_alloc.
  bool add(const Choice& c);

  // The choice at `addr`, or nullptr. Never throws.
  const Choice* find(AddrId addr) const noexcept;

  std::size_t size() const noexcept { return size_; }
  const Choice& at(std::size_t k) const noexcept { return slots_[k]; }

  double log_prior() const noexcept { return log_prior_; }
  double log_likelihood() const noexcept { return log_likelihood_; }
  double log_factors() const noexcept { return log_factors_; }
  // log_prior + log_likelihood + log_factors. Never throws.
  double total_log_weight() const noexcept { return log_prior_ + log_likelihood_ + log_factors_; }

  void add_log_prior(double x) noexcept { log_prior_ += x; }
  void add_log_likelihood(double x) noexcept { log_likelihood_ += x; }
  void add_log_factor(double x) noexcept { log_factors_ += x; }
  void set_accumulators(double prior, double lik, double fac) noexcept {
    log_prior_ = prior; log_likelihood_ = lik; log_factors_ = fac;
  }

  // Number of choices with all of `flags` set. Never throws.
  std::size_t count_flagged(uint8_t flags) const noexcept {
    std::size_t n = 0;
    for (std::size_t k = 0; k < size_; ++k) n += (slots_[k].flags & flags) == flags;
    return n;
  }

  // Equal choices (address, kind, flags, value, log-prob) in the same order and
  // equal accumulators. Never throws.
  bool operator==(const Trace& o) const noexcept;

  // Number of buffer (re)allocations made by all traces of the process since
  // start: a pooled run of a fixed-shape model must not move it. Never throws.
  static uint64_t buffer_allocations() noexcept;

 private:
  void rebuild_index();
  void index_insert(AddrId addr, uint32_t pos) noexcept;

  // slots_[0, size_) are the choices in execution order; slots beyond
  // size_ are the previous run's, still holding their address references.
  static constexpr std::size_t kInitialSlots = 8;
  std::vector<Choice> slots_;
  std::size_t size_ = 0;
  bool counted_ = false;  // some slot holds a counted (not pinned) address reference
  // Open-addressing index addr -> position, used once the trace is larger than
  // kLinearLimit (smaller traces are scanned linearly).
  std::vector<uint64_t> index_;  // (addr << 32 | pos), kEmpty when free
  bool indexed_ = false;
  double log_prior_ = 0.0;
  double log_likelihood_ = 0.0;
  double log_factors_ = 0.0;

  static constexpr std::size_t kLinearLimit = 16;
  static constexpr uint64_t kEmpty = ~uint64_t(0);
};

}  // namespace fugue
