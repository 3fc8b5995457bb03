#include "ir/types.h"

#include <stdexcept>

namespace janus::ir {
namespace {

struct DTypeName {
  DType dtype;
  const char* name;
};

// Short names keep the text form readable; they map 1:1 onto janus.dtypes.
constexpr DTypeName kNames[] = {
    {DType::kFloat32, "f32"}, {DType::kFloat64, "f64"}, {DType::kFloat16, "f16"},
    {DType::kInt64, "i64"},   {DType::kInt32, "i32"},   {DType::kInt16, "i16"},
    {DType::kInt8, "i8"},     {DType::kUInt8, "u8"},    {DType::kBool, "bool"},
};

}  // namespace

const char* dtype_name(DType dtype) {
  for (const DTypeName& entry : kNames) {
    if (entry.dtype == dtype) return entry.name;
  }
  return "?";
}

DType dtype_from_name(const std::string& name) {
  for (const DTypeName& entry : kNames) {
    if (name == entry.name) return entry.dtype;
  }
  throw std::invalid_argument("unknown dtype '" + name + "'");
}

std::string to_string(const TensorType& type) {
  std::string text = dtype_name(type.dtype);
  text += "[";
  for (size_t i = 0; i < type.shape.size(); ++i) {
    if (i) text += ",";
    const Dim& dim = type.shape[i];
    text += dim.is_known() ? std::to_string(dim.size) : "?" + dim.symbol;
  }
  text += "]";
  if (type.device != "cpu") text += "@" + type.device;
  return text;
}

}  // namespace janus::ir
