#pragma once
// What the statistical process control monitors (EWMA, Shewhart, CUSUM) have
// in common: the result of one update, the output of an array update, the
// rule bits, the warm-up that estimates an unknown baseline, and the locking
// and all-or-nothing array update around each chart's own step (LockedChart).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "fugue/welford.hpp"

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define FUGUE_HAVE_SSE2 1
#endif

namespace fugue {

// Bits of Signal::rules. WE1..WE4 are the Western Electric rules of a
// Shewhart chart; Upper / Lower name the side of an EWMA limit (UCL / LCL)
// or of a CUSUM (C+ / C-).
enum RuleBits : uint8_t {
  kRuleWE1 = 1,
  kRuleWE2 = 2,
  kRuleWE3 = 4,
  kRuleWE4 = 8,
  kRuleUpper = 16,
  kRuleLower = 32,
};

constexpr double kMonitorNaN = std::numeric_limits<double>::quiet_NaN();

// max(0, a) exactly as `a > 0 ? a : 0`, without a branch: compilers tend to
// branch on the comparison, and on data hovering around 0 (a CUSUM in
// control) that branch is mispredicted half the time. Never throws.
inline double positive_part(double a) noexcept {
#ifdef FUGUE_HAVE_SSE2
  return _mm_cvtsd_f64(_mm_max_sd(_mm_set_sd(a), _mm_setzero_pd()));  // a > 0 ? a : 0
#else
  return a > 0.0 ? a : 0.0;
#endif
}

// The result of one update.
struct Signal {
  double x = kMonitorNaN;      // the observation (a subgroup's mean for an X-bar chart)
  double value = kMonitorNaN;  // the charted statistic (NaN during warm-up)
  double lcl = kMonitorNaN;    // lower control limit (NaN during warm-up)
  double ucl = kMonitorNaN;    // upper control limit (NaN during warm-up)
  uint64_t count = 0;          // observations so far, this one included
  uint8_t rules = 0;           // RuleBits that fired (0 unless alarm)
  int8_t direction = 0;        // +1 upward alarm, -1 downward alarm, 0 none
  bool alarm = false;
  bool warmup = false;         // the baseline was still being estimated
};

// Where an array update writes. The optional arrays (length n, or null) get
// the statistic and the limits of every observation; `alarms` gets the index
// of every observation that raised an alarm.
struct BatchOutput {
  double* values = nullptr;
  double* lcl = nullptr;
  double* ucl = nullptr;
  std::vector<int64_t> alarms;
  Signal last;  // the last observation's signal (count == 0: empty input)
};

// Result of a scalar update.
enum class UpdateStatus : uint8_t {
  Updated = 0,
  Busy = 1,       // another thread holds the monitor (only when not waiting)
  NonFinite = 2,  // the observation is NaN or infinite: nothing changed
  BadSize = 3,    // a subgroup of the wrong size: nothing changed
};

// How a monitor learns an unknown centre (mu0) and spread (sigma): from the
// first `warmup` observations, which raise no alarms. The centre is their
// mean; the spread either their sample standard deviation (Welford) or,
// for a Shewhart chart, their average moving range / 1.128. A warm-up whose
// spread comes out zero (constant data) goes on until the spread is positive.
struct Baseline {
  // configuration
  double mu0 = 0, sigma = 0;  // given values (used when not estimated)
  bool estimate_mu = false, estimate_sigma = false;
  bool moving_range = false;  // spread from the moving range, not the std
  uint64_t warmup = 0;        // minimum warm-up length (>= 2 when estimating)
  // state
  bool ready = false;
  Moments moments;
  double mr_sum = 0, prev = 0;
  uint64_t mr_n = 0;

  // d2 for ranges of two consecutive values.
  static constexpr double kD2 = 1.128;

  bool needs_warmup() const noexcept { return estimate_mu || estimate_sigma; }

  // Back to the state before any observation. Never throws.
  void restart() noexcept {
    ready = !needs_warmup();
    moments = Moments{};
    mr_sum = prev = 0;
    mr_n = 0;
  }

  // Feeds one warm-up observation; returns true when the baseline became
  // ready with it (mu, sigma then hold the estimates). Never throws.
  bool add(double x, double& mu, double& sig) noexcept {
    if (moving_range && moments.n > 0) {
      mr_sum += std::fabs(x - prev);
      ++mr_n;
    }
    prev = x;
    moments.add(x);
    if (moments.n < warmup) return false;
    double s = sigma;
    if (estimate_sigma) {
      s = moving_range ? (mr_sum / static_cast<double>(mr_n)) / kD2
                       : std::sqrt(moments.variance(1));
      if (!(s > 0.0) || !std::isfinite(s)) return false;  // no spread yet: go on
    }
    mu = estimate_mu ? moments.mean() : mu0;
    sig = s;
    ready = true;
    return true;
  }

  // Observations seen during the warm-up so far. Never throws.
  uint64_t seen() const noexcept { return moments.n; }
};

// What the state of every chart holds besides its statistic.
struct ChartState {
  Baseline base;
  uint64_t count = 0, alarm_count = 0;  // observations (warm-up included), alarms
};

// The public methods the charts (Ewma, Cusum, ShewhartChart) share: the
// locking, the all-or-nothing array update, the warm-up, restart and reset.
// CRTP, so the loops are compiled into each chart's source file and
// inlined, without virtual calls. Derived declares LockedChart a friend and
// supplies
//   void begin_chart(State&, double mu0, double sigma) const noexcept;
//       the baseline is known (given, or estimated by the warm-up): start;
//   void chart_step(State&, double x, Signal& sig) const noexcept;
//       one observation after the warm-up (s.count and sig.x / sig.count
//       already set, the rest of sig cleared);
//   void restart_chart(State&) const noexcept;      restart() after the warm-up;
//   template <bool kFull>
//   int64_t run(State&, const double* x, std::size_t n, BatchOutput&) const;
//       the array loop (kFull: out.values / lcl / ucl are written);
// its source file instantiates LockedChart<Derived, Config, State>
// explicitly, and its header declares that instantiation `extern`. Config
// has mu0, sigma, has_mu0, has_sigma and warmup; State derives from ChartState.
// Thread-safe: every public method takes the object's mutex.
template <class Derived, class Config, class State>
class LockedChart {
 public:
  LockedChart(const LockedChart&) = delete;
  LockedChart& operator=(const LockedChart&) = delete;

  // Adds one observation. With wait == false returns Busy instead of
  // blocking when another thread holds the monitor. Never throws.
  UpdateStatus update(double x, Signal& out, bool wait) noexcept;
  // Adds x[0..n). Returns -1, or the index of the first non-finite value,
  // in which case the state is left as it was. Throws std::bad_alloc
  // (growing out.alarms).
  int64_t update_many(const double* x, std::size_t n, BatchOutput& out);
  // Restarts the statistic (see the chart); keeps counts and the baseline. Never throws.
  void restart() noexcept;
  // Back to the state after construction (an estimated baseline is forgotten). Never throws.
  void reset() noexcept;
  const Config& config() const noexcept { return cfg_; }

 protected:
  explicit LockedChart(const Config& cfg) : cfg_(cfg) {}
  ~LockedChart() = default;

  // Checks the given mu0 and sigma. Throws std::invalid_argument
  // ("<who>: mu0 must be finite", "<who>: sigma must be > 0 and finite").
  void check_baseline(const char* who) const;
  // The constructor's last step: sets up the warm-up from cfg_, starts the
  // chart when the baseline is given, and keeps that state for reset().
  // Throws std::invalid_argument ("<who>: warmup must be >= 2").
  void start(const char* who, bool moving_range);
  // A copy of the state, taken under the lock. Never throws.
  State state() const noexcept;
  // Adds the finite value x under the lock (see update). Never throws.
  UpdateStatus locked_step(double x, Signal& out, bool wait) noexcept;
  // One observation: counted, then fed to the warm-up or to chart_step. Never throws.
  void step(State& s, double x, Signal& sig) const noexcept;

  // step() for observation i of an array of n, recorded in `out`. Throws std::bad_alloc.
  template <bool kFull>
  void step_into(State& s, double x, std::size_t i, std::size_t n, BatchOutput& out) const {
    Signal sig;
    step(s, x, sig);
    if (kFull) {
      out.values[i] = sig.value;
      out.lcl[i] = sig.lcl;
      out.ucl[i] = sig.ucl;
    }
    if (sig.alarm) out.alarms.push_back(static_cast<int64_t>(i));
    if (i + 1 == n) out.last = sig;
  }

  // An array update, all or nothing: under the lock, calls
  // run(State& copy, std::bool_constant<full>) -> -1 or the index of a bad
  // value, and keeps the copy only on -1 (else `out` is emptied of what
  // run added). Throws what run throws.
  template <class Run>
  int64_t transact(BatchOutput& out, const Run& run) {
    std::lock_guard<std::mutex> lock(mu_);
    State s = st_;  // work on a copy: all or nothing, and kept in registers
    const std::size_t a0 = out.alarms.size();
    const bool full = out.values != nullptr && out.lcl != nullptr && out.ucl != nullptr;
    const int64_t bad = full ? run(s, std::true_type{}) : run(s, std::false_type{});
    if (bad >= 0) {
      out.alarms.resize(a0);
      out.last = Signal{};
      return bad;
    }
    st_ = s;
    return -1;
  }

  // The fields every snapshot has: count, alarm_count, warmup_seen, in_warmup. Never throws.
  template <class Snapshot>
  static void fill_counts(const State& s, Snapshot& r) noexcept {
    r.count = s.count;
    r.alarm_count = s.alarm_count;
    r.warmup_seen = s.base.seen();
    r.in_warmup = !s.base.ready;
  }

  const Config cfg_;

 private:
  const Derived& derived() const noexcept { return static_cast<const Derived&>(*this); }

  mutable std::mutex mu_;
  State st_;
  State init_;  // the state after construction
};

// The members that call Derived's hooks are defined out of the class (not
// inline), so that `extern template` keeps them, and the loops, in the
// chart's own source file.

template <class Derived, class Config, class State>
UpdateStatus LockedChart<Derived, Config, State>::update(double x, Signal& out, bool wait) noexcept {
  if (!std::isfinite(x)) return UpdateStatus::NonFinite;
  return locked_step(x, out, wait);
}

template <class Derived, class Config, class State>
int64_t LockedChart<Derived, Config, State>::update_many(const double* x, std::size_t n,
                                                         BatchOutput& out) {
  return transact(out, [&](State& s, auto full) {
    return derived().template run<decltype(full)::value>(s, x, n, out);
  });
}

template <class Derived, class Config, class State>
void LockedChart<Derived, Config, State>::restart() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  if (st_.base.ready) derived().restart_chart(st_);
}

template <class Derived, class Config, class State>
void LockedChart<Derived, Config, State>::reset() noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  st_ = init_;
}

template <class Derived, class Config, class State>
void LockedChart<Derived, Config, State>::check_baseline(const char* who) const {
  if (cfg_.has_mu0 && !std::isfinite(cfg_.mu0))
    throw std::invalid_argument(std::string(who) + ": mu0 must be finite");
  if (cfg_.has_sigma && (!(cfg_.sigma > 0.0) || !std::isfinite(cfg_.sigma)))
    throw std::invalid_argument(std::string(who) + ": sigma must be > 0 and finite");
}

template <class Derived, class Config, class State>
void LockedChart<Derived, Config, State>::start(const char* who, bool moving_range) {
  Baseline& b = st_.base;
  b.mu0 = cfg_.mu0;
  b.sigma = cfg_.sigma;
  b.estimate_mu = !cfg_.has_mu0;
  b.estimate_sigma = !cfg_.has_sigma;
  b.moving_range = moving_range;
  b.warmup = cfg_.warmup;
  if (b.needs_warmup() && cfg_.warmup < 2)
    throw std::invalid_argument(std::string(who) + ": warmup must be >= 2");
  b.restart();
  if (b.ready) derived().begin_chart(st_, cfg_.mu0, cfg_.sigma);
  init_ = st_;
}

template <class Derived, class Config, class State>
State LockedChart<Derived, Config, State>::state() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return st_;
}

template <class Derived, class Config, class State>
UpdateStatus LockedChart<Derived, Config, State>::locked_step(double x, Signal& out,
                                                              bool wait) noexcept {
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  if (wait) {
    lock.lock();
  } else if (!lock.try_lock()) {
    return UpdateStatus::Busy;
  }
  step(st_, x, out);
  return UpdateStatus::Updated;
}

template <class Derived, class Config, class State>
void LockedChart<Derived, Config, State>::step(State& s, double x, Signal& sig) const noexcept {
  ++s.count;
  sig = Signal{};
  sig.x = x;
  sig.count = s.count;
  if (!s.base.ready) {
    sig.warmup = true;
    double mu = 0, sd = 0;
    if (s.base.add(x, mu, sd)) derived().begin_chart(s, mu, sd);
    return;
  }
  derived().chart_step(s, x, sig);
}

}  // namespace fugue
