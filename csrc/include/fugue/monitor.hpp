#pragma once
// What the statistical process control monitors (EWMA, Shewhart, CUSUM) have
// in common: the result of one update, the output of an array update, the
// rule bits, and the warm-up that estimates an unknown baseline.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
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

}  // namespace fugue
