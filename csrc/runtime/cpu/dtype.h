// Element types for the CPU runtime: C++ types per IR dtype, and dispatch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "ir/types.h"

namespace janus::cpu {

template <typename T>
struct Tag {
  using type = T;
};

class Unsupported : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A data-dependent size (a boolean mask's count) differs from the one the
// program was compiled for: the speculation failed, nothing is wrong with the
// data. Python sees janus.jit.ShapeSpeculationError, as from the fallback.
class ShapeSpeculationFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

size_t itemsize(ir::DType dtype);

// Calls f(Tag<T>{}) with T the C++ type of `dtype`. float16 has no native
// kernels (Unsupported; such nodes run through the Python fallback).
template <typename F>
decltype(auto) visit(ir::DType dtype, F&& f) {
  switch (dtype) {
    case ir::DType::kFloat32:
      return f(Tag<float>{});
    case ir::DType::kFloat64:
      return f(Tag<double>{});
    case ir::DType::kInt64:
      return f(Tag<int64_t>{});
    case ir::DType::kInt32:
      return f(Tag<int32_t>{});
    case ir::DType::kInt16:
      return f(Tag<int16_t>{});
    case ir::DType::kInt8:
      return f(Tag<int8_t>{});
    case ir::DType::kUInt8:
      return f(Tag<uint8_t>{});
    case ir::DType::kBool:
      return f(Tag<bool>{});
    default:
      throw Unsupported(std::string("no native kernels for ") + ir::dtype_name(dtype));
  }
}

// The same, for float32 and float64 only.
template <typename F>
decltype(auto) visit_float(ir::DType dtype, F&& f) {
  switch (dtype) {
    case ir::DType::kFloat32:
      return f(Tag<float>{});
    case ir::DType::kFloat64:
      return f(Tag<double>{});
    default:
      throw Unsupported(std::string("a float32/float64 kernel got ") + ir::dtype_name(dtype));
  }
}

inline bool is_float(ir::DType d) { return d == ir::DType::kFloat32 || d == ir::DType::kFloat64; }

}  // namespace janus::cpu
