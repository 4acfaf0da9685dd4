#pragma once
// Effect handlers: what sample / observe / factor mean inside one model run.
// A run's state lives in a Run object on the caller's stack; the innermost
// run of each thread is found through a thread-local pointer.
#include <cstdint>

#include "fugue/clock.hpp"
#include "fugue/distributions.hpp"
#include "fugue/particles.hpp"
#include "fugue/trace.hpp"

namespace fugue {

enum class HandlerMode : uint8_t {
  Prior = 0,       // draw every sample from its distribution
  Replay = 1,      // reuse the base trace's value when present, else draw
  Score = 2,       // take every sample from the base trace (302 when absent)
  SafeReplay = 3,  // Replay that adds -inf and warns instead of failing
  SafeScore = 4,   // Score that adds -inf and warns instead of failing
};

// Outcome of an effect. Values >= kStatusWarned mean "the safe handler
// continued (adding -inf); the caller should warn".
enum class Status : uint8_t {
  Ok = 0,
  AddressConflict = 1,       // 301
  MissingAddress = 2,        // 302
  TypeMismatch = 3,          // 600
  NonFiniteObservation = 4,  // 601
  NonFiniteFactor = 5,       // 601
  DeadlineExceeded = 6,      // InferenceTimeout
  NonFiniteSample = 7,       // with check_finite only: a sampled float is NaN or infinite
  Warned = 0x80,             // OR-ed with one of the above
};

struct EffectResult {
  Value value;
  Status status;
};

struct Run {
  static constexpr uint32_t kDeadlineStride = 8;

  HandlerMode mode = HandlerMode::Prior;
  Trace* trace = nullptr;      // the trace being recorded
  const Trace* base = nullptr;  // Replay / Score base trace
  bitgen_t* bg = nullptr;      // randomness (Prior / Replay)
  Run* outer = nullptr;        // the enclosing run on this thread
  int64_t deadline_tick = 0;   // ticks() deadline; 0 = none
  int64_t start_tick = 0;      // ticks() at the start (set with a deadline)
  uint32_t unchecked = kDeadlineStride - 1;  // effects left before the deadline is read
  bool check_finite = false;   // report a NaN or infinite draw as NonFiniteSample
  void* binding = nullptr;     // the binding's state for this run (never read here)
  // A particle run's weights (null for a run of one trace): its effects are
  // the binding's particle effects, and it records into no trace.
  ParticleRun* particles = nullptr;

  // A clock read costs about as much as a small model's effect, so an effect
  // reads the deadline only every kDeadlineStride-th time: a run past its
  // deadline stops within that many effects (the end of the run is checked
  // too, by the binding). Never throws.
  bool past_deadline() noexcept {
    if (deadline_tick == 0) return false;
    if (unchecked != 0) {
      --unchecked;
      return false;
    }
    unchecked = kDeadlineStride - 1;
    return ticks() > deadline_tick;
  }

  // sample(addr, d). Never throws except std::bad_alloc.
  EffectResult on_sample(AddrId addr, const Dist& d);
  // observe(addr, d, v); v is coerced to d's value kind when exact. Never
  // throws except std::bad_alloc.
  Status on_observe(AddrId addr, const Dist& d, Value v);
  // factor(w). Never throws.
  Status on_factor(double w) noexcept;

  // Records a substituted sample (flagged as a fallback) and adds its
  // log-prob to log_prior; false (nothing recorded) when `addr` is taken.
  // Throws std::bad_alloc.
  bool add_fallback(AddrId addr, const Value& v, double lp);

  // Records an observation that could not be scored (log-prob -inf, added to
  // log_likelihood), so that no evidence is dropped. Throws std::bad_alloc.
  void add_unscorable_observation(AddrId addr, const Value& v);
};

namespace detail {
// The calling thread's innermost run. initial-exec: one pointer of static
// TLS, read with a single instruction instead of a __tls_get_addr call.
extern thread_local Run* t_current_run __attribute__((tls_model("initial-exec")));
}  // namespace detail

// The innermost run of the calling thread, or nullptr. Never throws.
inline Run* current_run() noexcept { return detail::t_current_run; }
// Makes `r` the calling thread's innermost run. Never throws.
inline void set_current_run(Run* r) noexcept { detail::t_current_run = r; }

// `v` converted to `kind` when the conversion is exact (int 3 -> float 3.0,
// float 2.0 -> int 2, int 0/1 -> bool); otherwise `v` unchanged. Never throws.
Value coerce(const Value& v, ValueKind kind) noexcept;

// The default value of a kind (0.0, 0, false). Never throws.
Value default_value(ValueKind kind) noexcept;

}  // namespace fugue
