#pragma once
// A circuit breaker with four states -- Healthy (closed), Degraded (closed,
// error rate elevated), Failed (open: calls refused) and Recovery (half-open:
// a fixed number of trial calls) -- driven by the failure rate over a sliding
// window of the last N calls or the last T seconds.
//
// Thread-safe: every operation takes one short spin lock (a few dozen
// instructions, no allocation, no system call) and returns; the guarded call
// runs outside it. The caller learns about a state change it caused through a
// Transition out-parameter, so listeners can be called outside the lock, from
// that thread.
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "fugue/spin_lock.hpp"

namespace fugue {

enum class BreakerState : uint8_t { Healthy = 0, Degraded = 1, Failed = 2, Recovery = 3 };
constexpr int kBreakerStates = 4;

enum class WindowType : uint8_t { Count = 0, Time = 1 };

struct BreakerConfig {
  static constexpr double kOff = std::numeric_limits<double>::infinity();

  double failure_threshold = 0.5;     // tau2: Healthy/Degraded -> Failed when the rate exceeds it
  double degraded_threshold = 0.05;   // tau1: Healthy -> Degraded when the rate exceeds it
  double recovery_threshold = 0.02;   // tau0: Degraded -> Healthy when the rate is at or below it
  WindowType window_type = WindowType::Count;
  double window_size = 100;           // calls (Count, an integer) or seconds (Time)
  uint64_t minimum_calls = 20;        // calls in the window before the rate is evaluated
  double slow_call_duration = kOff;   // seconds; a slower success counts as a failure
  double open_duration = 30;          // seconds in Failed before Recovery
  double backoff_factor = 1;          // open duration multiplier per Recovery -> Failed
  double max_open_duration = kOff;    // cap of the grown open duration (seconds)
  uint32_t half_open_permits = 5;     // trial calls admitted in Recovery
  double recovery_success_rate = 1;   // sigma: trial successes / permits needed to heal

  // Throws std::invalid_argument naming the first invalid parameter.
  void validate() const;
};

// What one call changed: `changed` is set (with from/to) when the call moved
// the breaker to another state. Calls leave it untouched otherwise, so
// initialise it to {} before the call.
struct Transition {
  bool changed = false;
  BreakerState from = BreakerState::Healthy;
  BreakerState to = BreakerState::Healthy;
};

// A consistent copy of the breaker's state and counters.
struct BreakerSnapshot {
  BreakerState state;
  bool forced;                    // force_open() without a duration: held until reset()
  uint64_t window_calls;          // outcomes in the window
  uint64_t window_failures;       // ... of which failures (slow successes included)
  uint64_t window_slow;           // ... of which slow (either outcome)
  uint64_t permitted;             // allow() calls that returned true
  uint64_t rejected;              // allow() calls that returned false
  uint64_t successes;             // recorded successes that were not slow
  uint64_t failures;              // recorded failures + slow successes
  uint64_t slow;                  // recorded outcomes slower than slow_call_duration
  uint64_t ignored;               // record_ignored() calls
  uint64_t transitions[kBreakerStates][kBreakerStates];  // [from][to]
  double open_duration;           // seconds of the current or last open period (0: none yet)
  double retry_after;             // seconds until Failed admits a trial (0 unless Failed)
  uint32_t backoff_level;         // Recovery -> Failed since the breaker was last Healthy
  uint32_t trial_admitted;        // Recovery: permits handed out (and not given back)
  uint32_t trial_successes;       // Recovery: trial successes recorded
  uint32_t trial_failures;        // Recovery: trial failures recorded
  int64_t now_ns;                 // the clock's reading for this snapshot
};

// A clock that only moves when told to: inject it into breakers under test.
// Thread-safe (atomic).
class ManualClock {
 public:
  explicit ManualClock(int64_t start_ns = 0) noexcept : now_(start_ns) {}
  int64_t now_ns() const noexcept { return now_.load(std::memory_order_acquire); }
  // Moves the time forward by `ns` (>= 0; the caller checks). Never throws.
  void advance_ns(int64_t ns) noexcept { now_.fetch_add(ns, std::memory_order_acq_rel); }

 private:
  std::atomic<int64_t> now_;
};

class CircuitBreaker {
 public:
  // Throws std::invalid_argument (an invalid config) or std::bad_alloc.
  // `clock` null: the process's monotonic clock (fugue::ticks()).
  CircuitBreaker(const BreakerConfig& config, std::shared_ptr<ManualClock> clock);
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // Whether a call may run now. Healthy / Degraded: yes. Failed: no, unless
  // the open duration has passed (then Recovery, and this is its first trial).
  // Recovery: yes while fewer than half_open_permits trials have been handed
  // out. Never throws.
  bool allow(Transition& t) noexcept;

  // Records the outcome of a call allow() admitted, `seconds` long (< 0:
  // unknown, never slow). Never throws.
  void record_success(double seconds, Transition& t) noexcept;
  void record_failure(double seconds, Transition& t) noexcept;

  // Lock-free admission for a caller that always records the outcome (a
  // ModelRunner): true when the breaker is closed (Healthy or Degraded),
  // where every call is admitted. Such a call's permit is counted when its
  // outcome is recorded with record_admitted(); when this returns false the
  // caller asks allow() as usual. Never throws.
  bool admit_closed() const noexcept {
    const BreakerState s = state();
    return s == BreakerState::Healthy || s == BreakerState::Degraded;
  }
  // record_success (failed false) or record_failure of a call admit_closed()
  // admitted, counting its permit too. Never throws.
  void record_admitted(bool failed, double seconds, Transition& t) noexcept;

  // Records a call that is to count neither way; in Recovery it gives its
  // trial permit back. Never throws.
  void record_ignored() noexcept;
  // record_ignored() for a call admit_closed() admitted, counting its permit too.
  void record_admitted_ignored() noexcept;

  // Opens the breaker for `seconds` (infinite: until reset()). Never throws.
  void force_open(double seconds, Transition& t) noexcept;

  // Back to Healthy with an empty window and no backoff; cumulative counters
  // are kept. Never throws.
  void reset(Transition& t) noexcept;

  BreakerState state() const noexcept {
    return static_cast<BreakerState>(state_.load(std::memory_order_acquire));
  }
  // Seconds until a Failed breaker admits a trial call (infinite when forced
  // open until reset()); 0 in the other states. Never throws.
  double retry_after() noexcept;
  BreakerSnapshot snapshot() noexcept;
  const BreakerConfig& config() const noexcept { return config_; }
  // The breaker's clock in nanoseconds. Never throws.
  int64_t now_ns() const noexcept;

 private:
  // Outcome codes in the window: bit 0 = failure (toward the rate), bit 1 = slow.
  static constexpr uint8_t kFail = 1, kSlow = 2;
  struct Bucket { uint64_t calls = 0, failures = 0, slow = 0; };

  void record_locked(uint8_t code, Transition& t) noexcept;
  void window_add(uint8_t code) noexcept;
  void window_expire(int64_t now) noexcept;  // time windows: drops buckets older than the window
  void window_clear() noexcept;
  void evaluate(Transition& t) noexcept;
  void move_to(BreakerState to, Transition& t) noexcept;
  void open(int64_t duration_ns, Transition& t) noexcept;
  int64_t backoff_duration_ns() const noexcept;

  const BreakerConfig config_;
  std::shared_ptr<ManualClock> manual_owner_;
  const ManualClock* manual_;          // manual_owner_.get(), read on every clock access
  double ns_per_tick_;
  uint64_t min_calls_;                 // minimum_calls, at most the count window's size
  uint32_t trial_needed_;              // successes among the permits that heal the breaker

  SpinLock mu_;
  std::atomic<uint8_t> state_{0};
  bool forced_ = false;
  int64_t open_until_ns_ = 0;
  int64_t open_ns_ = 0;                // current or last open period
  uint32_t backoff_level_ = 0;
  uint32_t trial_admitted_ = 0, trial_successes_ = 0, trial_failures_ = 0;

  // The window: counts over the last `ring_.size()` codes (Count) or over
  // `buckets_` of `bucket_ns_` each (Time).
  std::vector<uint8_t> ring_;
  std::size_t ring_next_ = 0;
  std::vector<Bucket> buckets_;
  int64_t bucket_ns_ = 0;
  int64_t epoch_ns_ = 0;
  int64_t head_ = 0;                   // index (since epoch) of the newest bucket
  Bucket window_;                      // the window's totals

  uint64_t permitted_ = 0, rejected_ = 0, successes_ = 0, failures_ = 0, slow_ = 0,
           ignored_ = 0;
  uint64_t transitions_[kBreakerStates][kBreakerStates] = {};
};

}  // namespace fugue
