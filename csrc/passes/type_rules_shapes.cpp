// The layout, indexing, window (conv, pool) and fused-node rules of
// type_rules.h, each mirroring its op's `meta` rule in src/janus/ops.
#include <algorithm>
#include <set>

#include "ir/structural.h"
#include "passes/rule_helpers.h"
#include "runtime/cpu/window.h"

namespace janus::passes::rules {

using ir::Attr;
using ir::Dim;
using ir::DType;
using ir::OpKind;
using ir::TensorType;

namespace {

Shape reshaped(const RuleInput& in, const Shape& from, const std::vector<int64_t>& sizes) {
  Dim total = Dim::known(1);
  for (const Dim& d : from) total = multiply(total, d);
  Shape out;
  Dim rest = Dim::known(1);
  int unknown = -1;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == -1) {
      if (unknown >= 0) throw RuleError("only one dimension can be inferred");
      unknown = static_cast<int>(i);
      out.push_back(Dim::known(-1));
    } else {
      out.push_back(Dim::known(sizes[i]));
      rest = multiply(rest, out.back());
    }
  }
  if (unknown >= 0) {
    const std::optional<Dim> d = divide(total, rest);
    out[unknown] = d ? *d : in.fresh();
  } else if (total.is_known() && rest.is_known() && total.size != rest.size) {
    throw RuleError("shape " + shape_text(out) + " is invalid for input of size " +
                    std::to_string(total.size));
  }
  return out;
}

Dim sum_dims(const RuleInput& in, const std::vector<Dim>& dims) {
  int64_t total = 0;
  for (const Dim& d : dims) {
    if (!d.is_known()) return dims.size() == 1 ? d : in.fresh();
    total += d.size;
  }
  return Dim::known(total);
}

}  // namespace

std::vector<TensorType> layout(const RuleInput& in) {
  switch (in.node.kind) {
    case OpKind::reshape:
      return {like(in.type(0),
                   reshaped(in, in.type(0).shape, as_ints(in.required(1, "shape"), "shape")))};
    case OpKind::permute: {
      const TensorType& x = in.type(0);
      const std::vector<int64_t> dims = as_ints(in.required(1, "dims"), "dims");
      if (dims.size() != x.shape.size()) throw RuleError("permute needs one dim per axis");
      Shape shape;
      std::set<int64_t> seen;
      for (int64_t d : dims) {
        const int64_t axis = wrap_dim(d, x.shape.size());
        if (!seen.insert(axis).second) throw RuleError("permute repeats a dim");
        shape.push_back(x.shape[axis]);
      }
      return {like(x, shape)};
    }
    case OpKind::expand: {  // -1 keeps a size; new leading dims are added
      const TensorType& x = in.type(0);
      const std::vector<int64_t> sizes = as_ints(in.required(1, "shape"), "shape");
      if (sizes.size() < x.shape.size()) throw RuleError("expand cannot drop dims");
      Shape shape;
      const size_t offset = sizes.size() - x.shape.size();
      for (size_t i = 0; i < sizes.size(); ++i) {
        shape.push_back(sizes[i] == -1 && i >= offset ? x.shape[i - offset] : Dim::known(sizes[i]));
      }
      return {like(x, shape)};
    }
    case OpKind::cat: {
      const TensorType& x = in.type(0);
      const int64_t dim =
          wrap_dim(as_int(in.required(in.node.operands.size(), "dim"), "dim"), x.shape.size());
      std::vector<Dim> parts;
      for (size_t k = 0; k < in.node.operands.size(); ++k)
        parts.push_back(in.type(k).shape.at(dim));
      Shape shape = x.shape;
      shape[dim] = sum_dims(in, parts);
      return {like(x, shape)};
    }
    case OpKind::split: {
      const TensorType& x = in.type(0);
      const int64_t dim = wrap_dim(as_int(in.required(2, "dim"), "dim"), x.shape.size());
      std::vector<TensorType> out;
      for (int64_t size : as_ints(in.required(1, "sizes"), "sizes")) {
        Shape shape = x.shape;
        shape[dim] = Dim::known(size);
        out.push_back(like(x, shape));
      }
      return out;
    }
    case OpKind::constant_pad: {
      const TensorType& x = in.type(0);
      const std::vector<int64_t> pads = as_ints(in.required(1, "pads"), "pads");
      Shape shape = x.shape;
      if (pads.size() / 2 > shape.size()) throw RuleError("more pads than dims");
      for (size_t i = 0; i < pads.size() / 2; ++i) {
        Dim& d = shape[shape.size() - 1 - i];
        const int64_t extra = pads[2 * i] + pads[2 * i + 1];
        if (d.is_known()) {
          d = Dim::known(d.size + extra);
        } else if (extra != 0) {
          d = in.fresh();
        }
      }
      return {like(x, shape)};
    }
    default:  // flip
      return {in.type(0)};
  }
}

namespace {

// The result shape of x[spec] with index tensors `indices` (NumPy's rules, as
// indexing.py's _meta_by_numpy): ints drop a dim, slices keep one, none adds
// one, tensors index together (their broadcast shape goes where the first
// one was when they are adjacent, else in front); a bool mask's result size
// depends on the data.
Shape indexed(const RuleInput& in, const Shape& x, const Attr& spec, size_t first_index) {
  if (spec.kind != Attr::Kind::kList) throw RuleError("spec must be a list");
  size_t consumed = 0;
  size_t next_index = first_index;
  bool any_tensor = false;
  for (const Attr& entry : spec.list) {
    const std::string kind = entry.list.empty() ? "" : entry.list[0].s;
    if (kind == "t") {
      any_tensor = true;
      const TensorType& t = in.type(next_index++);
      consumed += t.dtype == DType::kBool ? t.shape.size() : 1;
    } else if (kind == "i" || kind == "s") {
      ++consumed;
    }
  }
  if (consumed > x.size())
    throw RuleError("too many indices for a tensor of rank " + std::to_string(x.size()));
  const size_t ellipsis = x.size() - consumed;
  Shape out, advanced;
  bool have_advanced = false, split_advanced = false;
  size_t advanced_at = 0, axis = 0;
  bool last_was_advanced = false;
  next_index = first_index;
  auto add_advanced = [&](const Shape& shape) {
    if (have_advanced && !last_was_advanced) split_advanced = true;
    if (!have_advanced) advanced_at = out.size();
    advanced = have_advanced ? broadcast_shapes(in, {advanced, shape}) : shape;
    have_advanced = last_was_advanced = true;
  };
  for (const Attr& entry : spec.list) {
    const std::string kind = entry.list.empty() ? "" : entry.list[0].s;
    if (kind == "i") {
      ++axis;
      // Next to an index tensor, NumPy treats an int as a 0-d index tensor.
      if (any_tensor) {
        add_advanced({});
      } else {
        last_was_advanced = false;
      }
    } else if (kind == "s") {
      const Dim& size = x[axis++];
      const Attr& start = entry.list.at(1);
      const Attr& stop = entry.list.at(2);
      const Attr& step = entry.list.at(3);
      const int64_t s = step.kind == Attr::Kind::kNone ? 1 : step.i;
      if (size.is_known()) {
        // Python's slice.indices then the length of range(start, stop, s).
        auto clip = [&](const Attr& v, int64_t fallback) {
          if (v.kind == Attr::Kind::kNone) return fallback;
          int64_t i = v.i < 0 ? v.i + size.size : v.i;
          if (s > 0) return std::clamp<int64_t>(i, 0, size.size);
          return std::clamp<int64_t>(i, -1, size.size - 1);
        };
        const int64_t lo = clip(start, s > 0 ? 0 : size.size - 1);
        const int64_t hi = clip(stop, s > 0 ? size.size : -1);
        const int64_t length =
            s > 0 ? (hi > lo ? (hi - lo + s - 1) / s : 0) : (lo > hi ? (lo - hi - s - 1) / -s : 0);
        out.push_back(Dim::known(length));
      } else if (start.kind == Attr::Kind::kNone && stop.kind == Attr::Kind::kNone && s == 1) {
        out.push_back(size);
      } else {
        out.push_back(in.fresh());
      }
      last_was_advanced = false;
    } else if (kind == "n") {
      out.push_back(Dim::known(1));
      last_was_advanced = false;
    } else if (kind == "e") {
      for (size_t i = 0; i < ellipsis; ++i) out.push_back(x[axis++]);
      last_was_advanced = false;
    } else if (kind == "t") {
      const TensorType& t = in.type(next_index++);
      if (t.dtype == DType::kBool) {  // as many elements as the mask has true entries
        axis += t.shape.size();
        add_advanced({in.fresh()});
      } else {
        ++axis;
        add_advanced(t.shape);
      }
    } else {
      throw RuleError("unknown index entry " + to_string(entry));
    }
  }
  // Dims the spec leaves out are kept, as if a trailing ellipsis.
  while (axis < x.size()) out.push_back(x[axis++]);
  if (have_advanced) {
    const size_t at = split_advanced ? 0 : advanced_at;
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), advanced.begin(), advanced.end());
  }
  return out;
}

}  // namespace

std::vector<TensorType> indexing(const RuleInput& in) {
  const size_t count = in.node.operands.size();
  switch (in.node.kind) {
    case OpKind::index_basic:
      return {like(in.type(0), indexed(in, in.type(0).shape, in.required(1, "spec"), 1))};
    case OpKind::index:
      return {like(in.type(0), indexed(in, in.type(0).shape, in.required(count, "spec"), 1))};
    case OpKind::index_basic_backward:
      return {like(in.type(0), known_shape(as_ints(in.required(1, "shape"), "shape")))};
    case OpKind::gather:
      return {like(in.type(0), in.type(1).shape)};
    case OpKind::index_select: {
      const TensorType& x = in.type(0);
      Shape shape = x.shape;
      const Shape& index = in.type(1).shape;
      if (!shape.empty()) {
        shape[wrap_dim(as_int(in.required(2, "dim"), "dim"), shape.size())] =
            index.empty() ? Dim::known(1) : index[0];
      }
      return {like(x, shape)};
    }
    case OpKind::one_hot: {
      Shape shape = in.type(0).shape;
      shape.push_back(Dim::known(as_int(in.required(1, "num_classes"), "num_classes")));
      return {like(in.type(0), shape, DType::kInt64)};
    }
    case OpKind::nonzero:
      return {like(in.type(0), {in.fresh(), Dim::known(int64_t(in.type(0).shape.size()))},
                   DType::kInt64)};
    case OpKind::embedding: {  // embedding(w, idx): idx.shape + w.shape[1:]
      const TensorType& w = in.type(0);
      Shape shape = in.type(1).shape;
      if (w.shape.empty()) throw RuleError("embedding weights need dims");
      shape.insert(shape.end(), w.shape.begin() + 1, w.shape.end());
      return {like(w, shape)};
    }
    default:  // index_put, scatter, scatter_add, index_add: the target's type
      return {in.type(0)};
  }
}

namespace {

Dim window_dim(const RuleInput& in, const Dim& size, int64_t k, int64_t s, int64_t p, int64_t d,
               bool ceil_mode) {
  if (size.is_known()) return Dim::known(cpu::window_out_size(size.size, k, s, p, d, ceil_mode));
  if (k == 1 && s == 1 && p == 0) return size;  // every position is a window
  return in.fresh();
}

std::vector<int64_t> pair(const RuleInput& in, size_t position, const char* name,
                          int64_t fallback) {
  const Attr* attr = in.arg(position, name);
  if (attr == nullptr || attr->kind == Attr::Kind::kNone) return {fallback, fallback};
  std::vector<int64_t> v = as_ints(*attr, name);
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) throw RuleError(std::string(name) + " must have two entries");
  return v;
}

// NCHW window ops: conv2d and the pools.
Shape windowed(const RuleInput& in, const Shape& x, const Dim& channels, size_t first_attr,
               bool has_dilation, bool ceil_mode) {
  if (x.size() != 4) throw RuleError("expects an NCHW input, got " + shape_text(x));
  const auto kernel = pair(in, first_attr, "kernel", 1);
  const auto stride = pair(in, first_attr + 1, "stride", 1);
  const auto padding = pair(in, first_attr + 2, "padding", 0);
  const auto dilation =
      has_dilation ? pair(in, first_attr + 3, "dilation", 1) : std::vector<int64_t>{1, 1};
  Shape out = {x[0], channels};
  for (int i = 0; i < 2; ++i) {
    out.push_back(
        window_dim(in, x[2 + i], kernel[i], stride[i], padding[i], dilation[i], ceil_mode));
  }
  return out;
}

}  // namespace

std::vector<TensorType> nn(const RuleInput& in) {
  switch (in.node.kind) {
    case OpKind::conv2d: {
      const TensorType& x = in.type(0);
      const Shape& w = in.type(1).shape;
      if (w.size() != 4) throw RuleError("conv2d weights must be [out, in/groups, kh, kw]");
      if (!w[2].is_known() || !w[3].is_known())
        throw RuleError("conv2d needs a static kernel size");
      // The kernel size comes from the weights, not from an attribute.
      const auto stride = pair(in, 2, "stride", 1);
      const auto padding = pair(in, 3, "padding", 0);
      const auto dilation = pair(in, 4, "dilation", 1);
      if (x.shape.size() != 4)
        throw RuleError("conv2d expects an NCHW input, got " + shape_text(x.shape));
      Shape shape = {x.shape[0], w[0]};
      for (int i = 0; i < 2; ++i) {
        shape.push_back(window_dim(in, x.shape[2 + i], w[2 + i].size, stride[i], padding[i],
                                   dilation[i], false));
      }
      return {like(x, shape)};
    }
    case OpKind::conv2d_input_grad:
      return {like(in.type(0), known_shape(as_ints(in.required(2, "x_shape"), "x_shape")))};
    case OpKind::conv2d_weight_grad:
      return {like(in.type(0), known_shape(as_ints(in.required(2, "w_shape"), "w_shape")))};
    case OpKind::max_pool2d: {
      const TensorType& x = in.type(0);
      const Shape shape = windowed(in, x.shape, x.shape.size() == 4 ? x.shape[1] : Dim{}, 1, true,
                                   as_bool(in.arg(5, "ceil_mode")));
      return {like(x, shape), like(x, shape, DType::kInt64)};
    }
    case OpKind::avg_pool2d: {
      const TensorType& x = in.type(0);
      return {like(x, windowed(in, x.shape, x.shape.size() == 4 ? x.shape[1] : Dim{}, 1, false,
                               as_bool(in.arg(4, "ceil_mode"))))};
    }
    case OpKind::avg_pool2d_backward:
      return {like(in.type(0), known_shape(as_ints(in.required(1, "x_shape"), "x_shape")))};
    case OpKind::nll_loss: {  // nll_loss(logp, target, weight, ignore_index, reduction)
      const Attr& reduction = in.required(4, "reduction");
      const bool none = reduction.kind == Attr::Kind::kString && reduction.s == "none";
      return {like(in.type(0), none ? in.type(1).shape : Shape{})};
    }
    case OpKind::nll_loss_backward: {  // (g, target, weight, classes): [N, classes]
      const Shape& target = in.type(1).shape;
      if (target.empty()) throw RuleError("nll_loss_backward needs a target with dims");
      return {
          like(in.type(0), {target[0], Dim::known(as_int(in.required(3, "classes"), "classes"))})};
    }
    default: {  // philox_uniform, philox_normal(shape, dtype, seed, offset, device)
      const Attr& dtype = in.required(1, "dtype");
      const Attr* device = in.arg(4, "device");
      TensorType out;
      out.shape = known_shape(as_ints(in.required(0, "shape"), "shape"));
      out.dtype = dtype_named(dtype.s);
      if (device != nullptr && device->kind == Attr::Kind::kString) out.device = device->s;
      return {out};
    }
  }
}

// A fused node: every output has the inputs' broadcast shape and its body
// instruction's dtype (structural.h); a reduction ending the body, the
// reduced shape.
std::vector<TensorType> fused(const RuleInput& in) {
  const Attr& body = in.required(in.node.operands.size(), "body");
  const Attr& results = in.required(in.node.operands.size(), "results");
  const Shape shape = broadcast_shapes(in, tensor_shapes(in));
  std::vector<TensorType> out;
  for (int64_t r : as_ints(results, "results")) {
    if (r < 0 || r >= int64_t(body.list.size()) || body.list[r].list.size() < 4) {
      throw RuleError("fused: result " + std::to_string(r) + " names no instruction");
    }
    const std::vector<Attr>& instr = body.list[r].list;
    const std::optional<ir::OpKind> kind = ir::op_from_name(instr[0].s);
    Shape result = shape;
    if (kind && ir::is_fused_reduction(*kind)) {
      std::map<std::string, Attr> attrs;
      for (const Attr& pair : instr[3].list) {
        if (pair.list.size() == 2) attrs[pair.list[0].s] = pair.list[1];
      }
      try {
        result = ir::reduced_shape(shape, attrs);
      } catch (const std::invalid_argument& error) {
        throw RuleError(std::string("fused: ") + error.what());
      }
    }
    out.push_back(like(first_tensor(in), result, dtype_named(instr[1].s)));
  }
  return out;
}

}  // namespace janus::passes::rules
