#pragma once
// A value produced by a sampling site: float, int64 or bool.
#include <cstdint>

namespace fugue {

enum class ValueKind : uint8_t { Float = 0, Int = 1, Bool = 2 };

struct Value {
  ValueKind kind;
  union {
    double f;
    int64_t i;
    bool b;
  };

  static Value of_float(double x) noexcept { Value v; v.kind = ValueKind::Float; v.f = x; return v; }
  static Value of_int(int64_t x) noexcept { Value v; v.kind = ValueKind::Int; v.i = x; return v; }
  static Value of_bool(bool x) noexcept { Value v; v.kind = ValueKind::Bool; v.i = 0; v.b = x; return v; }

  // The value as a double (bool -> 0/1, int -> nearest double).
  double as_double() const noexcept {
    switch (kind) {
      case ValueKind::Float: return f;
      case ValueKind::Int: return static_cast<double>(i);
      default: return b ? 1.0 : 0.0;
    }
  }

  // Equality of kind and payload; a NaN equals a NaN (safe handlers may
  // record a NaN observation, and a trace must equal its copy).
  bool operator==(const Value& o) const noexcept {
    if (kind != o.kind) return false;
    switch (kind) {
      case ValueKind::Float: return f == o.f || (f != f && o.f != o.f);
      case ValueKind::Int: return i == o.i;
      default: return b == o.b;
    }
  }
  bool operator!=(const Value& o) const noexcept { return !(*this == o); }
};

}  // namespace fugue
