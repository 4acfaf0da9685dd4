#include "fugue/handlers.hpp"

#include <cmath>
#include <limits>

namespace fugue {
namespace detail {
thread_local Run* t_current_run __attribute__((tls_model("initial-exec"))) = nullptr;
}  // namespace detail

namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

inline Status warned(Status s) noexcept {
  return static_cast<Status>(static_cast<uint8_t>(s) | static_cast<uint8_t>(Status::Warned));
}
inline bool is_safe(HandlerMode m) noexcept {
  return m == HandlerMode::SafeReplay || m == HandlerMode::SafeScore;
}
}  // namespace

Value coerce(const Value& v, ValueKind kind) noexcept {
  if (v.kind == kind) return v;
  switch (kind) {
    case ValueKind::Float:
      if (v.kind == ValueKind::Int) {
        double d = static_cast<double>(v.i);
        if (d < 9223372036854775808.0 && static_cast<int64_t>(d) == v.i) return Value::of_float(d);
        return v;
      }
      return Value::of_float(v.b ? 1.0 : 0.0);
    case ValueKind::Int:
      if (v.kind == ValueKind::Float) {
        if (std::isfinite(v.f) && v.f == std::floor(v.f) && std::fabs(v.f) < 9.2e18)
          return Value::of_int(static_cast<int64_t>(v.f));
        return v;
      }
      return Value::of_int(v.b ? 1 : 0);
    case ValueKind::Bool:
      if (v.kind == ValueKind::Int && (v.i == 0 || v.i == 1)) return Value::of_bool(v.i == 1);
      if (v.kind == ValueKind::Float && (v.f == 0.0 || v.f == 1.0)) return Value::of_bool(v.f == 1.0);
      return v;
  }
  return v;
}

Value default_value(ValueKind kind) noexcept {
  switch (kind) {
    case ValueKind::Float: return Value::of_float(0.0);
    case ValueKind::Int: return Value::of_int(0);
    default: return Value::of_bool(false);
  }
}

EffectResult Run::on_sample(AddrId addr, const Dist& d) {
  if (past_deadline()) return {default_value(value_kind(d.kind)), Status::DeadlineExceeded};
  const ValueKind vk = value_kind(d.kind);
  Value v;
  double lp;
  Status st = Status::Ok;
  switch (mode) {
    case HandlerMode::Prior:
      v = sample(d, bg);
      lp = log_prob_value(d, v);
      break;
    case HandlerMode::Replay:
    case HandlerMode::SafeReplay: {
      const Choice* b = base->find(addr);
      if (b != nullptr && b->value.kind == vk) {
        v = b->value;
        lp = log_prob_value(d, v);
      } else {
        if (b != nullptr) {  // type clash
          if (mode == HandlerMode::Replay) return {default_value(vk), Status::TypeMismatch};
          st = warned(Status::TypeMismatch);
        }
        v = sample(d, bg);
        lp = st == Status::Ok ? log_prob_value(d, v) : kNegInf;
      }
      break;
    }
    case HandlerMode::Score:
    case HandlerMode::SafeScore: {
      const Choice* b = base->find(addr);
      if (b == nullptr) {
        if (mode == HandlerMode::Score) return {default_value(vk), Status::MissingAddress};
        v = default_value(vk);
        lp = kNegInf;
        st = warned(Status::MissingAddress);
      } else if (b->value.kind != vk) {
        if (mode == HandlerMode::Score) return {default_value(vk), Status::TypeMismatch};
        v = default_value(vk);
        lp = kNegInf;
        st = warned(Status::TypeMismatch);
      } else {
        v = b->value;
        lp = log_prob_value(d, v);
      }
      break;
    }
    default:
      return {default_value(vk), Status::Ok};
  }
  if (check_finite && v.kind == ValueKind::Float && !std::isfinite(v.f)) return {v, Status::NonFiniteSample};
  if (!trace->add(Choice{addr, ChoiceKind::Sample, kFlagNone, v, lp})) {
    if (!is_safe(mode)) return {v, Status::AddressConflict};
    trace->add_log_prior(kNegInf);
    return {v, warned(Status::AddressConflict)};
  }
  if (st != Status::Ok) {
    // A safe handler's substitute: its choice's log-prob is -inf too.
    trace->add_log_prior(kNegInf);
    return {v, st};
  }
  trace->add_log_prior(lp);
  return {v, Status::Ok};
}

Status Run::on_observe(AddrId addr, const Dist& d, Value v) {
  if (past_deadline()) return Status::DeadlineExceeded;
  v = coerce(v, value_kind(d.kind));
  Status st = Status::Ok;
  double lp;
  if (v.kind == ValueKind::Float && !std::isfinite(v.f)) {
    if (!is_safe(mode)) return Status::NonFiniteObservation;
    st = warned(Status::NonFiniteObservation);
    lp = kNegInf;
  } else {
    lp = log_prob_value(d, v);
  }
  if (!trace->add(Choice{addr, ChoiceKind::Observe, kFlagNone, v, lp})) {
    if (!is_safe(mode)) return Status::AddressConflict;
    trace->add_log_likelihood(kNegInf);
    return warned(Status::AddressConflict);
  }
  trace->add_log_likelihood(lp);
  return st;
}

Status Run::on_factor(double w) noexcept {
  if (past_deadline()) return Status::DeadlineExceeded;
  if (std::isnan(w) || w == std::numeric_limits<double>::infinity()) {
    if (!is_safe(mode)) return Status::NonFiniteFactor;
    trace->add_log_factor(kNegInf);
    return warned(Status::NonFiniteFactor);
  }
  trace->add_log_factor(w);
  return Status::Ok;
}

bool Run::add_fallback(AddrId addr, const Value& v, double lp) {
  if (!trace->add(Choice{addr, ChoiceKind::Sample, kFlagFallback, v, lp})) return false;
  trace->add_log_prior(lp);
  return true;
}

void Run::add_unscorable_observation(AddrId addr, const Value& v) {
  trace->add(Choice{addr, ChoiceKind::Observe, kFlagFallback, v, kNegInf});
  trace->add_log_likelihood(kNegInf);
}

}  // namespace fugue
