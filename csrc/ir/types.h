// Value types of the IR: element type, shape (static or symbolic dims) and device.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace janus::ir {

// The element types of janus.dtypes, by the same names.
enum class DType { kFloat32, kFloat64, kFloat16, kInt64, kInt32, kInt16, kInt8, kUInt8, kBool };

const char* dtype_name(DType dtype);
// Throws std::invalid_argument for a name janus does not have.
DType dtype_from_name(const std::string& name);

// A dimension: a known size (>= 0), or a symbol standing for a size that is
// only known at run time (a dynamic batch or sequence length).
struct Dim {
  int64_t size = -1;
  std::string symbol;

  static Dim known(int64_t size) { return Dim{size, ""}; }
  static Dim symbolic(std::string name) { return Dim{-1, std::move(name)}; }
  bool is_known() const { return size >= 0; }
  bool operator==(const Dim& other) const { return size == other.size && symbol == other.symbol; }
};

struct TensorType {
  DType dtype = DType::kFloat32;
  std::vector<Dim> shape;
  std::string device = "cpu";  // "cpu" or "cuda:<index>"

  bool operator==(const TensorType& other) const {
    return dtype == other.dtype && shape == other.shape && device == other.device;
  }
  bool operator!=(const TensorType& other) const { return !(*this == other); }
};

// Text form: f32[2,?n,3] with "@cuda:0" appended for a non-CPU device.
std::string to_string(const TensorType& type);

}  // namespace janus::ir
