// Internal to the type rules (type_rules.cpp, type_rules_shapes.cpp): the
// helpers they share and the rule families the second file defines.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "passes/type_rules.h"

namespace janus::passes {

using Shape = std::vector<ir::Dim>;

namespace rules {

std::string shape_text(const Shape& shape);  // [2,?B]
// Attribute values, with a RuleError naming `what` when of the wrong kind.
int64_t as_int(const ir::Attr& attr, const char* what);
std::vector<int64_t> as_ints(const ir::Attr& attr, const char* what);  // an int counts as [int]
bool as_bool(const ir::Attr* attr);                                    // absent: false
int64_t wrap_dim(int64_t dim, size_t rank);  // Python-style negative dims, checked
Shape known_shape(const std::vector<int64_t>& sizes);
ir::DType dtype_named(const std::string& name);  // "float32" or "f32"
// `base`'s device with this shape (and dtype, else base's).
ir::TensorType like(const ir::TensorType& base, Shape shape,
                    std::optional<ir::DType> dtype = std::nullopt);
const ir::TensorType& first_tensor(const RuleInput& in);
std::vector<Shape> tensor_shapes(const RuleInput& in);  // of the tensor operands
// NumPy broadcasting; dims whose result depends on the symbols get fresh ones.
Shape broadcast_shapes(const RuleInput& in, const std::vector<Shape>& shapes);

// The families of type_rules_shapes.cpp.
std::vector<ir::TensorType> layout(const RuleInput& in);    // reshape ... constant_pad
std::vector<ir::TensorType> indexing(const RuleInput& in);  // index ops, embedding
std::vector<ir::TensorType> nn(const RuleInput& in);        // conv, pools, losses, random
std::vector<ir::TensorType> fused(const RuleInput& in);     // a fused node's outputs

}  // namespace rules
}  // namespace janus::passes
