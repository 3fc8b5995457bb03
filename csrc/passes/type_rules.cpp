// The shape and dtype rules (see type_rules.h): dimension arithmetic, the
// helpers rules share, the elementwise, conversion, reduction and linear
// algebra rules, and the dispatch by op kind (layout, indexing and window
// rules are in type_rules_shapes.cpp). Each mirrors its op's `meta` rule in
// src/janus/ops.
#include "passes/type_rules.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "ir/structural.h"
#include "passes/rule_helpers.h"

namespace janus::passes {

using ir::Attr;
using ir::Dim;
using ir::DType;
using ir::OpKind;
using ir::TensorType;

// ----- RuleInput -----

const TensorType& RuleInput::type(size_t k) const {
  if (!is_tensor(k)) throw RuleError("operand " + std::to_string(k) + " must be a tensor");
  return *operands[k];
}

const Attr* RuleInput::arg(size_t position, const char* name) const {
  const auto found = node.attrs.find(name);
  if (found != node.attrs.end()) return &found->second;
  if (position < node.operands.size()) {
    if (const auto* constant = std::get_if<Attr>(&node.operands[position])) return constant;
  }
  return nullptr;
}

const Attr& RuleInput::required(size_t position, const char* name) const {
  const Attr* attr = arg(position, name);
  if (attr == nullptr) throw RuleError(std::string("missing argument '") + name + "'");
  return *attr;
}

// ----- dimension arithmetic -----

namespace {

// A dim as a product: a known factor times symbols (sorted).
struct Factors {
  int64_t known = 1;
  std::vector<std::string> symbols;
};

Factors factors_of(const Dim& dim) {
  if (dim.is_known()) return {dim.size, {}};
  Factors f;
  size_t start = 0;
  while (start <= dim.symbol.size()) {
    const size_t stop = std::min(dim.symbol.find('*', start), dim.symbol.size());
    const std::string part = dim.symbol.substr(start, stop - start);
    if (!part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) {
      f.known *= std::stoll(part);
    } else if (!part.empty()) {
      f.symbols.push_back(part);
    }
    start = stop + 1;
  }
  std::sort(f.symbols.begin(), f.symbols.end());
  return f;
}

Dim dim_of(const Factors& f) {
  if (f.known == 0 || f.symbols.empty()) return Dim::known(f.known);
  std::string text;
  for (const std::string& s : f.symbols) text += (text.empty() ? "" : "*") + s;
  if (f.known != 1) text += "*" + std::to_string(f.known);
  return Dim::symbolic(text);
}

std::string dim_text(const Dim& d) { return d.is_known() ? std::to_string(d.size) : d.symbol; }

}  // namespace

namespace rules {

std::string shape_text(const Shape& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + dim_text(shape[i]);
  return text + "]";
}

}  // namespace rules

Dim multiply(const Dim& a, const Dim& b) {
  Factors fa = factors_of(a);
  const Factors fb = factors_of(b);
  fa.known *= fb.known;
  fa.symbols.insert(fa.symbols.end(), fb.symbols.begin(), fb.symbols.end());
  std::sort(fa.symbols.begin(), fa.symbols.end());
  return dim_of(fa);
}

std::optional<Dim> divide(const Dim& a, const Dim& b) {
  if (a.is_known() && b.is_known()) {
    if (b.size == 0 || a.size % b.size != 0) {
      throw RuleError("cannot split " + std::to_string(a.size) + " elements into parts of " +
                      std::to_string(b.size));
    }
    return Dim::known(a.size / b.size);
  }
  Factors fa = factors_of(a);
  const Factors fb = factors_of(b);
  if (fb.known == 0 || fa.known % fb.known != 0) return std::nullopt;
  fa.known /= fb.known;
  for (const std::string& s : fb.symbols) {
    const auto found = std::find(fa.symbols.begin(), fa.symbols.end(), s);
    if (found == fa.symbols.end()) return std::nullopt;
    fa.symbols.erase(found);
  }
  return dim_of(fa);
}

std::optional<Dim> broadcast_dim(const Dim& a, const Dim& b) {
  if (a == b) return a;
  if (a.is_known() && a.size == 1) return b;
  if (b.is_known() && b.size == 1) return a;
  if (a.is_known() && b.is_known()) {
    throw RuleError("sizes " + std::to_string(a.size) + " and " + std::to_string(b.size) +
                    " do not broadcast");
  }
  // A symbol against a known size n != 1: the symbol must be n (or 1).
  if (a.is_known()) return a;
  if (b.is_known()) return b;
  return std::nullopt;
}

namespace {

int category(DType t) {
  switch (t) {
    case DType::kBool:
      return 0;
    case DType::kFloat16:
    case DType::kFloat32:
    case DType::kFloat64:
      return 2;
    default:
      return 1;
  }
}

int width(DType t) {
  switch (t) {
    case DType::kFloat64:
    case DType::kInt64:
      return 8;
    case DType::kFloat32:
    case DType::kInt32:
      return 4;
    case DType::kFloat16:
    case DType::kInt16:
      return 2;
    default:
      return 1;
  }
}

}  // namespace

DType promote(DType a, DType b) {
  if (a == b) return a;
  if (category(a) != category(b)) return category(a) > category(b) ? a : b;
  if (a == DType::kUInt8 || b == DType::kUInt8) {  // uint8 with a signed type
    const DType other = a == DType::kUInt8 ? b : a;
    return other == DType::kInt8 ? DType::kInt16 : other;
  }
  return width(a) >= width(b) ? a : b;
}

// ----- helpers shared by the rules (rule_helpers.h) -----

namespace rules {

int64_t as_int(const Attr& attr, const char* what) {
  if (attr.kind == Attr::Kind::kInt) return attr.i;
  if (attr.kind == Attr::Kind::kBool) return attr.b;
  throw RuleError(std::string(what) + " must be an integer, got " + to_string(attr));
}

std::vector<int64_t> as_ints(const Attr& attr, const char* what) {
  if (attr.kind != Attr::Kind::kList) return {as_int(attr, what)};
  std::vector<int64_t> values;
  for (const Attr& item : attr.list) values.push_back(as_int(item, what));
  return values;
}

bool as_bool(const Attr* attr) {
  return attr != nullptr && (attr->kind == Attr::Kind::kBool ? attr->b : attr->i != 0);
}

int64_t wrap_dim(int64_t dim, size_t rank) {
  const int64_t n = static_cast<int64_t>(std::max<size_t>(rank, 1));
  if (dim < -n || dim >= n) {
    throw RuleError("dim " + std::to_string(dim) + " is out of range for rank " +
                    std::to_string(rank));
  }
  return dim < 0 ? dim + n : dim;
}

Shape known_shape(const std::vector<int64_t>& sizes) {
  Shape shape;
  for (int64_t s : sizes) shape.push_back(Dim::known(s));
  return shape;
}

DType dtype_named(const std::string& name) {
  static const std::map<std::string, DType> kLong = {
      {"float32", DType::kFloat32}, {"float64", DType::kFloat64}, {"float16", DType::kFloat16},
      {"int64", DType::kInt64},     {"int32", DType::kInt32},     {"int16", DType::kInt16},
      {"int8", DType::kInt8},       {"uint8", DType::kUInt8},     {"bool", DType::kBool}};
  const auto found = kLong.find(name);
  if (found != kLong.end()) return found->second;
  try {
    return ir::dtype_from_name(name);
  } catch (const std::invalid_argument& error) {
    throw RuleError(error.what());
  }
}

TensorType like(const TensorType& base, Shape shape, std::optional<DType> dtype) {
  return TensorType{dtype.value_or(base.dtype), std::move(shape), base.device};
}

const TensorType& first_tensor(const RuleInput& in) {
  for (const auto& operand : in.operands) {
    if (operand) return *operand;
  }
  throw RuleError("the op needs a tensor operand");
}

Shape broadcast_shapes(const RuleInput& in, const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape result(rank, Dim::known(1));
  for (const Shape& s : shapes) {
    const size_t offset = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      const std::optional<Dim> d = broadcast_dim(result[offset + i], s[i]);
      result[offset + i] = d ? *d : in.fresh();
    }
  }
  return result;
}

// Result dtype of a binary elementwise op by PyTorch's rules: tensors with
// dims decide, 0-d tensors only when of a higher kind, Python numbers only
// when of a higher kind (then float32 or int64).
DType result_dtype(const RuleInput& in) {
  std::optional<DType> dims, zero_dim;
  int scalar = -1;
  for (size_t k = 0; k < in.node.operands.size(); ++k) {
    if (in.is_tensor(k)) {
      const TensorType& t = *in.operands[k];
      auto& slot = t.shape.empty() ? zero_dim : dims;
      slot = slot ? promote(*slot, t.dtype) : t.dtype;
    } else {
      const Attr& c = std::get<Attr>(in.node.operands[k]);
      if (c.kind == Attr::Kind::kBool) scalar = std::max(scalar, 0);
      if (c.kind == Attr::Kind::kInt) scalar = std::max(scalar, 1);
      if (c.kind == Attr::Kind::kFloat) scalar = std::max(scalar, 2);
    }
  }
  DType result = dims ? *dims : zero_dim.value();
  if (dims && zero_dim && category(*zero_dim) > category(*dims)) result = *zero_dim;
  if (scalar > category(result)) result = scalar == 2 ? DType::kFloat32 : DType::kInt64;
  return result;
}

std::vector<Shape> tensor_shapes(const RuleInput& in) {
  std::vector<Shape> shapes;
  for (const auto& operand : in.operands) {
    if (operand) shapes.push_back(operand->shape);
  }
  return shapes;
}

// Axes a `dims` argument names (ir::reduced_axes), as a rule error.
std::vector<bool> reduced_axes(const Attr* dims, size_t rank) {
  try {
    return ir::reduced_axes(dims, rank);
  } catch (const std::invalid_argument& error) {
    throw RuleError(error.what());
  }
}

}  // namespace rules

namespace {

using namespace rules;

// ----- rules by family -----

std::vector<TensorType> elementwise(const RuleInput& in) {
  const OpKind kind = in.node.kind;
  const TensorType& x = first_tensor(in);
  switch (kind) {
    case OpKind::eq:
    case OpKind::ne:
    case OpKind::lt:
    case OpKind::le:
    case OpKind::gt:
    case OpKind::ge:
    case OpKind::logical_and:
    case OpKind::logical_or:
    case OpKind::logical_xor:
      return {like(x, broadcast_shapes(in, tensor_shapes(in)), DType::kBool)};
    case OpKind::add:
    case OpKind::sub:
    case OpKind::mul:
    case OpKind::div:
    case OpKind::floor_divide:
    case OpKind::remainder:
    case OpKind::pow:
    case OpKind::maximum:
    case OpKind::minimum:
    case OpKind::fmod:
    case OpKind::bitwise_and:
    case OpKind::bitwise_or:
    case OpKind::bitwise_xor:
      return {like(x, broadcast_shapes(in, tensor_shapes(in)), result_dtype(in))};
    case OpKind::where: {  // where(cond, a, b): a's dtype, or b's when a is a number
      const DType dtype = in.is_tensor(1) ? in.type(1).dtype : in.type(2).dtype;
      return {like(in.type(0), broadcast_shapes(in, tensor_shapes(in)), dtype)};
    }
    case OpKind::logical_not:
    case OpKind::isnan:
    case OpKind::isinf:
    case OpKind::isfinite:
      return {like(in.type(0), in.type(0).shape, DType::kBool)};
    default:  // unary ops and the *_backward(y, g) pairs: the first operand's type
      return {in.type(0)};
  }
}

std::vector<TensorType> conversion(const RuleInput& in) {
  const TensorType& x = in.type(0);
  if (in.node.kind == OpKind::to_dtype) {
    const Attr& dtype = in.required(1, "dtype");
    if (dtype.kind != Attr::Kind::kString) throw RuleError("dtype must be a name");
    return {like(x, x.shape, dtype_named(dtype.s))};
  }
  if (in.node.kind == OpKind::to_device) {
    const Attr& device = in.required(1, "device");
    if (device.kind != Attr::Kind::kString) throw RuleError("device must be a name");
    TensorType out = x;
    out.device = device.s;
    return {out};
  }
  return {x};  // clone, overwrite(old, src): the old value's type
}

std::vector<TensorType> reduction(const RuleInput& in) {
  const TensorType& x = in.type(0);
  const OpKind kind = in.node.kind;
  if (kind == OpKind::max_dim || kind == OpKind::argmax) {
    const Attr* dim = in.arg(1, "dim");
    const bool keepdim = as_bool(in.arg(2, "keepdim"));
    Shape shape;
    if (dim == nullptr || dim->kind == Attr::Kind::kNone) {
      if (keepdim) shape.assign(x.shape.size(), Dim::known(1));
    } else if (!x.shape.empty()) {
      std::vector<bool> reduced(x.shape.size(), false);
      reduced[wrap_dim(as_int(*dim, "dim"), x.shape.size())] = true;
      shape = ir::reduced_shape(x.shape, reduced, keepdim);
    }
    if (kind == OpKind::argmax) return {like(x, shape, DType::kInt64)};
    return {like(x, shape), like(x, shape, DType::kInt64)};
  }
  const Shape shape =
      ir::reduced_shape(x.shape, rules::reduced_axes(in.arg(1, "dims"), x.shape.size()),
                        as_bool(in.arg(2, "keepdim")));
  const bool logical = kind == OpKind::all || kind == OpKind::any;
  return {like(x, shape, logical ? std::optional<DType>(DType::kBool) : std::nullopt)};
}

std::vector<TensorType> scans_and_sorts(const RuleInput& in) {
  const TensorType& x = in.type(0);
  switch (in.node.kind) {
    case OpKind::sort:
      return {x, like(x, x.shape, DType::kInt64)};
    case OpKind::topk: {
      Shape shape = x.shape;
      const int64_t k = as_int(in.required(1, "k"), "k");
      if (!shape.empty())
        shape[wrap_dim(as_int(in.required(2, "dim"), "dim"), shape.size())] = Dim::known(k);
      return {like(x, shape), like(x, shape, DType::kInt64)};
    }
    case OpKind::unique: {  // sizes depend on the data
      const Attr* dim = in.arg(4, "dim");
      const bool by_dim = dim != nullptr && dim->kind != Attr::Kind::kNone;
      const int64_t axis = by_dim ? wrap_dim(as_int(*dim, "dim"), x.shape.size()) : -1;
      Shape values = {in.fresh()};
      if (by_dim) {
        values = x.shape;
        values[axis] = in.fresh();
      }
      std::vector<TensorType> out = {like(x, values)};
      if (as_bool(in.arg(2, "return_inverse"))) {
        out.push_back(like(x, by_dim ? Shape{x.shape[axis]} : x.shape, DType::kInt64));
      }
      if (as_bool(in.arg(3, "return_counts"))) out.push_back(like(x, {in.fresh()}, DType::kInt64));
      return out;
    }
    case OpKind::tril_mask:
      return {like(x, x.shape, DType::kBool)};
    default:  // cumsum, cumprod, softmax, log_softmax
      return {x};
  }
}

std::vector<TensorType> linalg(const RuleInput& in) {
  const TensorType& a = in.type(0);
  if (in.node.kind == OpKind::linear) {  // linear(x, w, b): x[..., in] @ w[out, in].T
    const TensorType& w = in.type(1);
    if (a.shape.empty() || w.shape.size() != 2)
      throw RuleError("linear needs x[..., in], w[out, in]");
    Shape shape(a.shape.begin(), a.shape.end() - 1);
    shape.push_back(w.shape[0]);
    return {like(a, shape)};
  }
  Shape sa = a.shape, sb = in.type(1).shape;
  if (sa.empty() || sb.empty()) throw RuleError("matmul needs operands with dims");
  // An operand the compiler marked transposed (passes/fold_transposes.cpp) is
  // stored with its last two dims swapped.
  for (auto [shape, flag] : {std::pair{&sa, "transpose_a"}, std::pair{&sb, "transpose_b"}}) {
    const auto found = in.node.attrs.find(flag);
    if (found == in.node.attrs.end() || !as_bool(&found->second)) continue;
    if (shape->size() < 2) throw RuleError(std::string(flag) + " needs a matrix operand");
    std::swap((*shape)[shape->size() - 2], shape->back());
  }
  const bool vector_a = sa.size() == 1, vector_b = sb.size() == 1;
  if (vector_a) sa.insert(sa.begin(), Dim::known(1));
  if (vector_b) sb.push_back(Dim::known(1));
  const Dim& inner_a = sa.back();
  const Dim& inner_b = sb[sb.size() - 2];
  if (inner_a.is_known() && inner_b.is_known() && inner_a.size != inner_b.size) {
    throw RuleError("shapes " + shape_text(a.shape) + " and " + shape_text(in.type(1).shape) +
                    " cannot be multiplied");
  }
  Shape shape =
      broadcast_shapes(in, {Shape(sa.begin(), sa.end() - 2), Shape(sb.begin(), sb.end() - 2)});
  if (!vector_a) shape.push_back(sa[sa.size() - 2]);
  if (!vector_b) shape.push_back(sb.back());
  return {like(a, shape)};
}

std::vector<TensorType> einsum(const RuleInput& in) {
  const Attr& equation = in.required(in.node.operands.size(), "equation");
  if (equation.kind != Attr::Kind::kString) throw RuleError("equation must be a string");
  std::string text;
  for (char c : equation.s) {
    if (c != ' ') text += c;
  }
  if (text.find('.') != std::string::npos) throw RuleError("einsum with '...' is not supported");
  const size_t arrow = text.find("->");
  const std::string inputs = text.substr(0, arrow);
  std::vector<std::string> subs(1);
  for (char c : inputs) {
    if (c == ',') {
      subs.emplace_back();
    } else {
      subs.back() += c;
    }
  }
  if (subs.size() != in.node.operands.size()) throw RuleError("einsum: operand count mismatch");
  std::string output;
  if (arrow != std::string::npos) {
    output = text.substr(arrow + 2);
  } else {  // implicit: letters used once, in alphabetical order
    std::map<char, int> count;
    for (char c : inputs) {
      if (c != ',') ++count[c];
    }
    for (const auto& [c, n] : count) {
      if (n == 1) output += c;
    }
  }
  std::map<char, Dim> sizes;
  for (size_t k = 0; k < subs.size(); ++k) {
    const Shape& shape = in.type(k).shape;
    if (shape.size() != subs[k].size()) throw RuleError("einsum: subscripts do not match ranks");
    for (size_t i = 0; i < shape.size(); ++i) {
      const auto found = sizes.find(subs[k][i]);
      if (found == sizes.end()) {
        sizes.emplace(subs[k][i], shape[i]);
      } else {
        const std::optional<Dim> d = broadcast_dim(found->second, shape[i]);
        found->second = d ? *d : in.fresh();
      }
    }
  }
  Shape shape;
  for (char c : output) {
    const auto found = sizes.find(c);
    if (found == sizes.end())
      throw RuleError(std::string("einsum: output letter ") + c + " is unbound");
    shape.push_back(found->second);
  }
  return {like(in.type(0), shape)};
}

// reshape's target: -1 is the size that keeps the element count.
}  // namespace

std::vector<TensorType> infer_result_types(const RuleInput& in) {
  using namespace rules;
  switch (in.node.kind) {
    case OpKind::to_dtype:
    case OpKind::to_device:
    case OpKind::clone:
    case OpKind::overwrite:
      return conversion(in);
    case OpKind::sum:
    case OpKind::mean:
    case OpKind::prod:
    case OpKind::amax:
    case OpKind::amin:
    case OpKind::max_dim:
    case OpKind::argmax:
    case OpKind::var:
    case OpKind::logsumexp:
    case OpKind::norm2:
    case OpKind::all:
    case OpKind::any:
      return reduction(in);
    case OpKind::sort:
    case OpKind::topk:
    case OpKind::cumsum:
    case OpKind::cumprod:
    case OpKind::unique:
    case OpKind::tril_mask:
    case OpKind::softmax:
    case OpKind::log_softmax:
      return scans_and_sorts(in);
    case OpKind::matmul:
    case OpKind::linear:
      return linalg(in);
    case OpKind::einsum:
      return einsum(in);
    case OpKind::reshape:
    case OpKind::permute:
    case OpKind::expand:
    case OpKind::cat:
    case OpKind::split:
    case OpKind::flip:
    case OpKind::constant_pad:
      return layout(in);
    case OpKind::index_basic:
    case OpKind::index_basic_backward:
    case OpKind::index:
    case OpKind::index_put:
    case OpKind::gather:
    case OpKind::scatter:
    case OpKind::scatter_add:
    case OpKind::index_select:
    case OpKind::index_add:
    case OpKind::one_hot:
    case OpKind::nonzero:
    case OpKind::embedding:
      return indexing(in);
    case OpKind::conv2d:
    case OpKind::conv2d_input_grad:
    case OpKind::conv2d_weight_grad:
    case OpKind::max_pool2d:
    case OpKind::avg_pool2d:
    case OpKind::avg_pool2d_backward:
    case OpKind::nll_loss:
    case OpKind::nll_loss_backward:
    case OpKind::philox_uniform:
    case OpKind::philox_normal:
      return nn(in);
    case OpKind::fused:
      return fused(in);
    case OpKind::constant:
      throw RuleError("a constant's type cannot be inferred: write it in the IR");
    default:
      return elementwise(in);
  }
}

}  // namespace janus::passes