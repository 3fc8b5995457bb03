// The elementwise engine's operations (elementwise.cpp), one functor each,
// with numpy's semantics, which the eager layer has: `f(a, b, instr)` or
// `f(x, instr)` per element, the instruction's parameters (p0, p1, f0) for
// ops with attributes, and `array(x, y, n)` for ops with a vector_math.h
// array function. Included by elementwise.cpp only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "runtime/cpu/elementwise.h"
#include "runtime/cpu/vector_math.h"

namespace janus::cpu::elementwise_ops {

using Instr = ElementwiseBuilder::Instr;

template <typename T>
T python_mod(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    T mod = std::fmod(a, b);
    if (b == 0) return mod;  // nan, as numpy
    if (mod != 0) {
      if ((b < 0) != (mod < 0)) mod += b;
    } else {
      mod = std::copysign(T(0), b);
    }
    return mod;
  } else {
    if (b == 0) return 0;  // numpy: 0 (with a warning)
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) return 0;  // (the lowest int % -1 traps in C++)
    }
    T mod = a % b;
    if (mod != 0 && ((mod < 0) != (b < 0))) mod += b;
    return mod;
  }
}

template <typename T>
T python_floordiv(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (b == 0) return a / b;
    T mod = std::fmod(a, b);
    T div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
    if (div != 0) {
      T floor = std::floor(div);
      if (div - floor > T(0.5)) floor += 1;
      return floor;
    }
    return std::copysign(T(0), a / b);
  } else {
    if (b == 0) return 0;
    if constexpr (std::is_signed_v<T>) {
      // The lowest int / -1 traps in C++ (SIGFPE); numpy wraps to it.
      using U = std::make_unsigned_t<T>;
      if (b == -1) return static_cast<T>(U(0) - static_cast<U>(a));
    }
    T q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
  }
}

template <typename T>
T int_pow(T base, T exp) {
  if (exp < 0) return base == 1 ? 1 : (base == T(-1) ? ((exp & 1) ? T(-1) : T(1)) : 0);
  T result = 1;
  while (exp) {
    if (exp & 1) result = static_cast<T>(result * base);
    base = static_cast<T>(base * base);
    exp >>= 1;
  }
  return result;
}

// The functors with a special case (NaN, a missing bound) are written as
// selects rather than early returns: loops over them then vectorize.
// `x != x` is the NaN test (std::isnan is a call on some libraries).

// numpy's maximum/minimum: a NaN operand gives NaN.
template <typename T>
T nan_max(T a, T b) {
  T m = a > b ? a : b;
  if constexpr (std::is_floating_point_v<T>) {
    m = b != b ? b : m;
    m = a != a ? a : m;
  }
  return m;
}
template <typename T>
T nan_min(T a, T b) {
  T m = a < b ? a : b;
  if constexpr (std::is_floating_point_v<T>) {
    m = b != b ? b : m;
    m = a != a ? a : m;
  }
  return m;
}

template <typename T>
T stable_sigmoid(T x) {
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

#define BINARY(Name, expr)                     \
  struct Name {                                \
    template <typename T>                      \
    static auto f(T a, T b, const Instr& in) { \
      (void)in;                                \
      return expr;                             \
    }                                          \
  };
// add/sub with alpha (f0): a + b * alpha, as the eager kernel computes it.
BINARY(Add, static_cast<T>(in.f0 ? a + static_cast<T>(b* static_cast<T>(in.p0)) : a + b))
BINARY(Sub, static_cast<T>(in.f0 ? a - static_cast<T>(b* static_cast<T>(in.p0)) : a - b))
BINARY(Mul, static_cast<T>(a* b))
BINARY(Div, static_cast<T>(a / b))
BINARY(FloorDivide, python_floordiv(a, b))
BINARY(Remainder, python_mod(a, b))
BINARY(Maximum, nan_max(a, b))
BINARY(Minimum, nan_min(a, b))
BINARY(Eq, a == b)
BINARY(Ne, a != b)
BINARY(Lt, a < b)
BINARY(Le, a <= b)
BINARY(Gt, a > b)
BINARY(Ge, a >= b)
BINARY(LogicalAnd, static_cast<bool>(a) && static_cast<bool>(b))
BINARY(LogicalOr, static_cast<bool>(a) || static_cast<bool>(b))
BINARY(LogicalXor, static_cast<bool>(a) != static_cast<bool>(b))
BINARY(TanhBackward, static_cast<T>(b*(T(1) - a * a)))
BINARY(SigmoidBackward, static_cast<T>(b* a*(T(1) - a)))
#undef BINARY

struct Pow {
  template <typename T>
  static T f(T a, T b, const Instr&) {
    if constexpr (std::is_floating_point_v<T>) {
      return std::pow(a, b);
    } else {
      return int_pow(a, b);
    }
  }
};
struct Fmod {
  template <typename T>
  static T f(T a, T b, const Instr&) {
    if constexpr (std::is_floating_point_v<T>) {
      return std::fmod(a, b);
    } else {
      return b == 0 ? T(0) : static_cast<T>(a % b);
    }
  }
};
struct BitAnd {
  template <typename T>
  static T f(T a, T b, const Instr&) {
    return static_cast<T>(a & b);
  }
};
struct BitOr {
  template <typename T>
  static T f(T a, T b, const Instr&) {
    return static_cast<T>(a | b);
  }
};
struct BitXor {
  template <typename T>
  static T f(T a, T b, const Instr&) {
    return static_cast<T>(a ^ b);
  }
};

#define UNARY(Name, expr)                 \
  struct Name {                           \
    template <typename T>                 \
    static auto f(T x, const Instr& in) { \
      (void)in;                           \
      return expr;                        \
    }                                     \
  };
// Ops with an AVX2 + FMA array function (vector_math.h) name it: kernels
// built for AVX2 on a CPU with FMA run it on float32 and float64 instead of
// the C library's scalar function in a loop (see unary_fn).
#define UNARY_ARRAY(Name, expr, array_fn)            \
  struct Name {                                      \
    template <typename T>                            \
    static auto f(T x, const Instr&) {               \
      return expr;                                   \
    }                                                \
    template <typename T>                            \
    static void array(const T* x, T* y, int64_t n) { \
      array_fn(x, y, n);                             \
    }                                                \
  };
UNARY_ARRAY(Exp, std::exp(x), vmath::exp)
UNARY_ARRAY(Expm1, std::expm1(x), vmath::expm1)
UNARY_ARRAY(Log, std::log(x), vmath::log)
UNARY_ARRAY(Tanh, std::tanh(x), vmath::tanh)
UNARY_ARRAY(Sigmoid, stable_sigmoid(x), vmath::sigmoid)
UNARY_ARRAY(Silu, x* stable_sigmoid(x), vmath::silu)
#undef UNARY_ARRAY

UNARY(Exp2, std::exp2(x))
UNARY(Log2, std::log2(x))
UNARY(Log10, std::log10(x))
UNARY(Log1p, std::log1p(x))
UNARY(Sqrt, std::sqrt(x))
UNARY(Rsqrt, T(1) / std::sqrt(x))
UNARY(Reciprocal, T(1) / x)
UNARY(Sin, std::sin(x))
UNARY(Cos, std::cos(x))
UNARY(Tan, std::tan(x))
UNARY(Asin, std::asin(x))
UNARY(Acos, std::acos(x))
UNARY(Atan, std::atan(x))
UNARY(Sinh, std::sinh(x))
UNARY(Cosh, std::cosh(x))
UNARY(Erf, std::erf(x))
UNARY(LeakyRelu, x > 0 ? x : static_cast<T>(x * static_cast<T>(in.p0)))
UNARY(Elu, x > 0 ? x : static_cast<T>(static_cast<T>(in.p0) * std::expm1(x)))
UNARY(IsNan, static_cast<bool>(std::isnan(x)))
UNARY(IsInf, static_cast<bool>(std::isinf(x)))
UNARY(IsFinite, static_cast<bool>(std::isfinite(x)))
UNARY(Floor, static_cast<T>(std::floor(x)))
UNARY(Ceil, static_cast<T>(std::ceil(x)))
UNARY(Trunc, static_cast<T>(std::trunc(x)))
UNARY(Round, static_cast<T>(std::nearbyint(x)))  // half to even, as numpy
UNARY(LogicalNot, !static_cast<bool>(x))
#undef UNARY

struct Softplus {  // p0 = beta, p1 = threshold
  template <typename T>
  static T f(T x, const Instr& in) {
    const T scaled = x * static_cast<T>(in.p0);
    if (scaled > static_cast<T>(in.p1)) return x;
    // logaddexp(0, s) = max(s, 0) + log1p(exp(-|s|))
    const T soft = std::max(scaled, T(0)) + std::log1p(std::exp(-std::abs(scaled)));
    return static_cast<T>(soft / static_cast<T>(in.p0));
  }
};
struct Gelu {  // f0: the tanh approximation
  template <typename T>
  static T f(T x, const Instr& in) {
    if (in.f0) {
      const T inner = static_cast<T>(0.7978845608028654) * (x + T(0.044715) * x * x * x);
      return T(0.5) * x * (T(1) + std::tanh(inner));
    }
    return T(0.5) * x * (T(1) + std::erf(x / static_cast<T>(1.4142135623730951)));
  }
};
struct Neg {
  template <typename T>
  static T f(T x, const Instr&) {
    return static_cast<T>(-x);
  }
};
struct Abs {
  template <typename T>
  static T f(T x, const Instr&) {
    if constexpr (std::is_floating_point_v<T>) {
      return std::abs(x);
    } else {
      return static_cast<T>(x < 0 ? -x : x);
    }
  }
};
struct Sign {  // NaN stays NaN
  template <typename T>
  static T f(T x, const Instr&) {
    T s = static_cast<T>((x > 0) - (x < 0));
    if constexpr (std::is_floating_point_v<T>) s = x != x ? x : s;
    return s;
  }
};
struct Relu {  // NaN stays NaN
  template <typename T>
  static T f(T x, const Instr&) {
    T r = x > T(0) ? x : T(0);
    if constexpr (std::is_floating_point_v<T>) r = x != x ? x : r;
    return r;
  }
};
// f0/f1: has min/max; p0/p1: the bounds (0 when absent). numpy's clip: max
// wins; NaN stays NaN (both comparisons are false).
struct Clamp {
  template <typename T>
  static T f(T x, const Instr& in) {
    const T lo = static_cast<T>(in.p0), hi = static_cast<T>(in.p1);
    x = (in.f0 & (x < lo)) ? lo : x;
    return (in.f1 & (x > hi)) ? hi : x;
  }
};
struct BitNot {
  template <typename T>
  static T f(T x, const Instr&) {
    if constexpr (std::is_same_v<T, bool>) {
      return !x;
    } else {
      return static_cast<T>(~x);
    }
  }
};

}  // namespace janus::cpu::elementwise_ops
