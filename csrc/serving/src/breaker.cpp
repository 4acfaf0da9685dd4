#include "fugue/breaker.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <stdexcept>
#include <string>

#include "fugue/clock.hpp"

namespace fugue {

namespace {

// Longest representable duration: ~31.7 years, so that now + duration never
// overflows an int64 of nanoseconds.
constexpr int64_t kMaxNs = 1'000'000'000'000'000'000;
constexpr double kMaxSeconds = 1e9;
// Limits of the window's memory.
constexpr double kMaxCountWindow = 1e6;
constexpr double kMaxTimeWindow = 86400.0;
constexpr int64_t kMaxBuckets = 3600;
constexpr int64_t kMinBuckets = 10;

int64_t to_ns(double seconds) noexcept {
  if (!(seconds > 0)) return 0;
  if (seconds >= kMaxSeconds) return kMaxNs;
  return static_cast<int64_t>(std::llround(seconds * 1e9));
}

int64_t saturating_add(int64_t a, int64_t b) noexcept {
  return (b > 0 && a > std::numeric_limits<int64_t>::max() - b)
             ? std::numeric_limits<int64_t>::max()
             : a + b;
}

[[noreturn]] void invalid(const char* name, double value, const char* rule) {
  throw std::invalid_argument(std::string(name) + " must be " + rule + ", got " +
                              std::to_string(value));
}

}  // namespace

void BreakerConfig::validate() const {
  auto unit = [](const char* name, double v) {
    if (!(v >= 0.0 && v <= 1.0)) invalid(name, v, "in [0, 1]");
  };
  unit("recovery_threshold", recovery_threshold);
  unit("degraded_threshold", degraded_threshold);
  unit("failure_threshold", failure_threshold);
  if (!(recovery_threshold <= degraded_threshold))
    invalid("recovery_threshold", recovery_threshold, "<= degraded_threshold");
  if (!(degraded_threshold <= failure_threshold))
    invalid("degraded_threshold", degraded_threshold, "<= failure_threshold");
  if (window_type == WindowType::Count) {
    if (!(window_size >= 1 && window_size <= kMaxCountWindow && window_size == std::floor(window_size)))
      invalid("window_size", window_size, "an integer in [1, 1000000] for a count window");
  } else if (window_type == WindowType::Time) {
    if (!(window_size > 0 && window_size <= kMaxTimeWindow))
      invalid("window_size", window_size, "in (0, 86400] seconds for a time window");
  } else {
    throw std::invalid_argument("window_type must be count or time");
  }
  if (minimum_calls < 1) invalid("minimum_calls", static_cast<double>(minimum_calls), ">= 1");
  if (!(slow_call_duration > 0)) invalid("slow_call_duration", slow_call_duration, "> 0");
  if (!(open_duration > 0 && open_duration <= kMaxSeconds))
    invalid("open_duration", open_duration, "in (0, 1e9] seconds");
  if (!(backoff_factor >= 1 && std::isfinite(backoff_factor)))
    invalid("backoff_factor", backoff_factor, "finite and >= 1");
  if (!(max_open_duration >= open_duration))
    invalid("max_open_duration", max_open_duration, ">= open_duration");
  if (half_open_permits < 1)
    invalid("half_open_permits", static_cast<double>(half_open_permits), ">= 1");
  if (!(recovery_success_rate > 0.0 && recovery_success_rate <= 1.0))
    invalid("recovery_success_rate", recovery_success_rate, "in (0, 1]");
}

CircuitBreaker::CircuitBreaker(const BreakerConfig& config, std::shared_ptr<ManualClock> clock)
    : config_(config), manual_owner_(std::move(clock)), manual_(manual_owner_.get()) {
  config_.validate();
  ns_per_tick_ = manual_ ? 1.0 : seconds_per_tick() * 1e9;
  if (config_.window_type == WindowType::Count) {
    const auto n = static_cast<std::size_t>(config_.window_size);
    ring_.assign(n, 0);
    min_calls_ = std::min<uint64_t>(config_.minimum_calls, n);
  } else {
    const int64_t window_ns = to_ns(config_.window_size);
    const int64_t n = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(config_.window_size)),
                                          kMinBuckets, kMaxBuckets);
    buckets_.assign(static_cast<std::size_t>(n), Bucket{});
    bucket_ns_ = std::max<int64_t>(1, window_ns / n);
    min_calls_ = config_.minimum_calls;
  }
  // Successes among the permits that heal: ceil(sigma * permits), at least 1
  // (the small tolerance keeps 0.6 * 5 == 3 from rounding up to 4).
  const double need = std::ceil(config_.recovery_success_rate * config_.half_open_permits - 1e-9);
  trial_needed_ = static_cast<uint32_t>(
      std::clamp<double>(need, 1.0, static_cast<double>(config_.half_open_permits)));
  epoch_ns_ = now_ns();
}

int64_t CircuitBreaker::now_ns() const noexcept {
  if (manual_) return manual_->now_ns();
  return static_cast<int64_t>(static_cast<double>(ticks()) * ns_per_tick_);
}

// ------------------------------------------------------------------ window

void CircuitBreaker::window_clear() noexcept {
  window_ = Bucket{};
  ring_next_ = 0;
  std::fill(buckets_.begin(), buckets_.end(), Bucket{});
  if (!buckets_.empty()) head_ = std::max<int64_t>(0, now_ns() - epoch_ns_) / bucket_ns_;
}

void CircuitBreaker::window_expire(int64_t now) noexcept {
  const int64_t idx = std::max<int64_t>(0, now - epoch_ns_) / bucket_ns_;
  if (idx <= head_) return;  // same bucket (or a reading taken before the newest one)
  const auto n = static_cast<int64_t>(buckets_.size());
  if (idx - head_ >= n) {
    std::fill(buckets_.begin(), buckets_.end(), Bucket{});
    window_ = Bucket{};
  } else {
    for (int64_t k = head_ + 1; k <= idx; ++k) {
      Bucket& b = buckets_[static_cast<std::size_t>(k % n)];
      window_.calls -= b.calls;
      window_.failures -= b.failures;
      window_.slow -= b.slow;
      b = Bucket{};
    }
  }
  head_ = idx;
}

void CircuitBreaker::window_add(uint8_t code) noexcept {
  const uint64_t fail = code & kFail, slow = (code & kSlow) >> 1;
  if (!ring_.empty()) {
    if (window_.calls == ring_.size()) {  // full: the oldest outcome leaves
      const uint8_t old = ring_[ring_next_];
      window_.failures -= old & kFail;
      window_.slow -= (old & kSlow) >> 1;
    } else {
      ++window_.calls;
    }
    ring_[ring_next_] = code;
    if (++ring_next_ == ring_.size()) ring_next_ = 0;
  } else {
    window_expire(now_ns());
    Bucket& b = buckets_[static_cast<std::size_t>(head_ % static_cast<int64_t>(buckets_.size()))];
    ++b.calls;
    b.failures += fail;
    b.slow += slow;
    ++window_.calls;
  }
  window_.failures += fail;
  window_.slow += slow;
}

// ------------------------------------------------------------------ transitions

void CircuitBreaker::move_to(BreakerState to, Transition& t) noexcept {
  const auto from = state();
  ++transitions_[static_cast<int>(from)][static_cast<int>(to)];
  state_.store(static_cast<uint8_t>(to), std::memory_order_release);
  t.changed = true;
  t.from = from;
  t.to = to;
}

int64_t CircuitBreaker::backoff_duration_ns() const noexcept {
  const double d = std::min(
      config_.open_duration * std::pow(config_.backoff_factor, static_cast<double>(backoff_level_)),
      config_.max_open_duration);
  return to_ns(d);
}

void CircuitBreaker::open(int64_t duration_ns, Transition& t) noexcept {
  open_ns_ = duration_ns;
  open_until_ns_ = saturating_add(now_ns(), duration_ns);
  window_clear();
  trial_admitted_ = trial_successes_ = trial_failures_ = 0;
  if (state() != BreakerState::Failed) move_to(BreakerState::Failed, t);
}

void CircuitBreaker::evaluate(Transition& t) noexcept {
  if (window_.calls < min_calls_) return;
  const double rate = static_cast<double>(window_.failures) / static_cast<double>(window_.calls);
  const BreakerState s = state();
  if (rate > config_.failure_threshold) {
    open(backoff_duration_ns(), t);
  } else if (s == BreakerState::Healthy && rate > config_.degraded_threshold) {
    move_to(BreakerState::Degraded, t);
  } else if (s == BreakerState::Degraded && rate <= config_.recovery_threshold) {
    move_to(BreakerState::Healthy, t);
  }
}

// ------------------------------------------------------------------ operations

bool CircuitBreaker::allow(Transition& t) noexcept {
  std::lock_guard<SpinLock> lock(mu_);
  switch (state()) {
    case BreakerState::Healthy:
    case BreakerState::Degraded:
      ++permitted_;
      return true;
    case BreakerState::Failed:
      if (forced_ || now_ns() < open_until_ns_) {
        ++rejected_;
        return false;
      }
      trial_admitted_ = trial_successes_ = trial_failures_ = 0;
      move_to(BreakerState::Recovery, t);
      [[fallthrough]];
    case BreakerState::Recovery:
      if (trial_admitted_ < config_.half_open_permits) {
        ++trial_admitted_;
        ++permitted_;
        return true;
      }
      ++rejected_;
      return false;
  }
  return false;
}

void CircuitBreaker::record_locked(uint8_t code, Transition& t) noexcept {
  // The common case: a success while Healthy with a full count window holding
  // no failure. Every slot is 0 already and the rate stays 0, so only the
  // ring's position moves.
  if (code == 0 && state() == BreakerState::Healthy && !ring_.empty() &&
      window_.calls == ring_.size() && window_.failures == 0 && window_.slow == 0) {
    ++successes_;
    if (++ring_next_ == ring_.size()) ring_next_ = 0;
    return;
  }
  if (code & kFail) ++failures_; else ++successes_;
  if (code & kSlow) ++slow_;
  switch (state()) {
    case BreakerState::Healthy:
    case BreakerState::Degraded:
      window_add(code);
      evaluate(t);
      return;
    case BreakerState::Recovery:
      // Only as many outcomes as trials outstanding are trial outcomes; any
      // other (a call admitted before the breaker opened) is counted above only.
      if (trial_successes_ + trial_failures_ >= trial_admitted_) return;
      if (code & kFail) ++trial_failures_; else ++trial_successes_;
      if (trial_successes_ >= trial_needed_) {
        backoff_level_ = 0;
        trial_admitted_ = trial_successes_ = trial_failures_ = 0;
        window_clear();
        move_to(BreakerState::Healthy, t);
      } else if (trial_failures_ > config_.half_open_permits - trial_needed_) {
        if (backoff_level_ < 1000) ++backoff_level_;
        open(backoff_duration_ns(), t);
      }
      return;
    case BreakerState::Failed:
      return;  // a call admitted before the breaker opened
  }
}

void CircuitBreaker::record_success(double seconds, Transition& t) noexcept {
  const uint8_t code = seconds > config_.slow_call_duration ? (kSlow | kFail) : 0;
  std::lock_guard<SpinLock> lock(mu_);
  record_locked(code, t);
}

void CircuitBreaker::record_failure(double seconds, Transition& t) noexcept {
  const uint8_t code = seconds > config_.slow_call_duration ? (kSlow | kFail) : kFail;
  std::lock_guard<SpinLock> lock(mu_);
  record_locked(code, t);
}

void CircuitBreaker::record_admitted(bool failed, double seconds, Transition& t) noexcept {
  const uint8_t code =
      seconds > config_.slow_call_duration ? (kSlow | kFail) : (failed ? kFail : 0);
  std::lock_guard<SpinLock> lock(mu_);
  ++permitted_;
  record_locked(code, t);
}

void CircuitBreaker::record_ignored() noexcept {
  std::lock_guard<SpinLock> lock(mu_);
  ++ignored_;
  if (state() == BreakerState::Recovery &&
      trial_successes_ + trial_failures_ < trial_admitted_) {
    --trial_admitted_;  // the permit goes back
  }
}

void CircuitBreaker::record_admitted_ignored() noexcept {
  std::lock_guard<SpinLock> lock(mu_);
  ++permitted_;
  ++ignored_;
}

void CircuitBreaker::force_open(double seconds, Transition& t) noexcept {
  std::lock_guard<SpinLock> lock(mu_);
  const bool hold = !(seconds < kMaxSeconds);  // infinite (or NaN): until reset()
  open(hold ? kMaxNs : to_ns(seconds), t);
  forced_ = hold;
}

void CircuitBreaker::reset(Transition& t) noexcept {
  std::lock_guard<SpinLock> lock(mu_);
  forced_ = false;
  open_until_ns_ = 0;
  backoff_level_ = 0;
  trial_admitted_ = trial_successes_ = trial_failures_ = 0;
  window_clear();
  if (state() != BreakerState::Healthy) move_to(BreakerState::Healthy, t);
}

double CircuitBreaker::retry_after() noexcept {
  std::lock_guard<SpinLock> lock(mu_);
  if (state() != BreakerState::Failed) return 0.0;
  if (forced_) return std::numeric_limits<double>::infinity();
  const int64_t left = open_until_ns_ - now_ns();
  return left > 0 ? static_cast<double>(left) / 1e9 : 0.0;
}

BreakerSnapshot CircuitBreaker::snapshot() noexcept {
  BreakerSnapshot s{};
  std::lock_guard<SpinLock> lock(mu_);
  const int64_t now = now_ns();
  if (!buckets_.empty() && (state() == BreakerState::Healthy || state() == BreakerState::Degraded))
    window_expire(now);
  s.state = state();
  s.forced = forced_;
  s.window_calls = window_.calls;
  s.window_failures = window_.failures;
  s.window_slow = window_.slow;
  s.permitted = permitted_;
  s.rejected = rejected_;
  s.successes = successes_;
  s.failures = failures_;
  s.slow = slow_;
  s.ignored = ignored_;
  for (int i = 0; i < kBreakerStates; ++i)
    for (int j = 0; j < kBreakerStates; ++j) s.transitions[i][j] = transitions_[i][j];
  s.open_duration = forced_ ? std::numeric_limits<double>::infinity()
                            : static_cast<double>(open_ns_) / 1e9;
  if (s.state == BreakerState::Failed) {
    s.retry_after = forced_ ? std::numeric_limits<double>::infinity()
                            : static_cast<double>(std::max<int64_t>(0, open_until_ns_ - now)) / 1e9;
  }
  s.backoff_level = backoff_level_;
  s.trial_admitted = trial_admitted_;
  s.trial_successes = trial_successes_;
  s.trial_failures = trial_failures_;
  s.now_ns = now;
  return s;
}

}  // namespace fugue
