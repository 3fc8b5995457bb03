// Advanced indexing, as the eager op does it (numpy's rules, janus.ops.indexing):
//   index(x, *idx) {spec}                          out = x[key]
//   index_put(x, values, *idx) {spec, accumulate}  out = x; out[key] = (or +=) values
// The spec has one entry per key item: ["t"] an index tensor (the next idx
// operand), ["i", n], ["s", start, stop, step], ["n"] (None), ["e"] (...).
//
// The result's dims are the basic dims (slices, None) in key order, with the
// broadcast shape B of the advanced indices inserted where the first of them
// stands if they are adjacent in the key, else in front; once any tensor is in
// the key, integers count as (0-d) advanced indices too. So every element of
// x[key] sits at x offset
//     base + pre[p] + adv[b] + post[q]      for result index (p, b, q),
// where pre and post (the basic dims before and after B) are fixed at
// lowering and adv, which reads the index tensors, is computed at run time
// with every index bounds-checked. A boolean mask (the only tensor of its key)
// stands for the coordinates of its true elements: B is their count, which
// for `index` must be the count the graph was compiled with.
#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/cpu/dtype.h"
#include "runtime/cpu/lower.h"

namespace janus::cpu {
namespace {

struct Dim {
  int64_t size, stride;  // stride in elements (0 for None); a slice's start is in the base
};

// Offsets of every element of `dims`, in C order.
std::vector<int64_t> offsets_of(const std::vector<Dim>& dims) {
  std::vector<int64_t> out = {0};
  for (const Dim& d : dims) {
    std::vector<int64_t> next;
    next.reserve(out.size() * static_cast<size_t>(d.size));
    for (int64_t o : out) {
      for (int64_t k = 0; k < d.size; ++k) next.push_back(o + k * d.stride);
    }
    out = std::move(next);
  }
  return out;
}

// An integer index tensor of the key and the x dim it indexes.
struct IndexTensor {
  int slot;
  ir::DType dtype;
  Shape shape;
  int64_t dim, size, stride;  // the x dim: number, size, stride
  std::vector<int64_t> at;    // its element read at each position of B (broadcast)
};

// A boolean mask (the key's only tensor): the x dims it covers.
struct Mask {
  int slot = -1;
  Shape shape;
  Strides x_strides;
};

struct Plan {
  int64_t base = 0;            // x offset of the integer entries and slice starts
  std::vector<Dim> pre, post;  // basic result dims before and after B
  Shape b_shape;               // B for integer tensors (a mask's count is known at run time)
  std::vector<IndexTensor> tensors;
  Mask mask;
  size_t b_rank() const { return mask.slot >= 0 ? 1 : b_shape.size(); }
};

int64_t wrap_index(int64_t i, int64_t size, int64_t dim) {
  if (i < -size || i >= size) {
    throw std::out_of_range("index " + std::to_string(i) + " is out of bounds for dimension " +
                            std::to_string(dim) + " with size " + std::to_string(size));
  }
  return i < 0 ? i + size : i;
}

int64_t int_or(const ir::Attr& a, int64_t otherwise) {
  if (a.kind == ir::Attr::Kind::kNone) return otherwise;
  if (a.kind != ir::Attr::Kind::kInt) throw Unsupported("index: slice bounds must be ints");
  return a.i;
}

// A slice entry ["s", start, stop, step] over a dim of `size`: Python's
// slice.indices for a positive step.
Dim slice_dim(const ir::Attr& entry, int64_t size, int64_t stride, int64_t& base) {
  const int64_t step = int_or(entry.list.at(3), 1);
  if (step <= 0) throw Unsupported("index: slice step must be positive");
  auto clamp = [&](int64_t v) {
    return v < 0 ? std::max<int64_t>(v + size, 0) : std::min(v, size);
  };
  const int64_t start = clamp(int_or(entry.list.at(1), 0));
  const int64_t stop = clamp(int_or(entry.list.at(2), size));
  base += start * stride;
  return {stop > start ? (stop - start + step - 1) / step : 0, step * stride};
}

// The plan for x[key]; `tensors` are the idx operands (slot and type), in order.
Plan make_plan(const Shape& x, const ir::Attr& spec,
               const std::vector<std::pair<int, const ir::TensorType*>>& tensors) {
  if (spec.kind != ir::Attr::Kind::kList) throw Unsupported("index: spec must be a list");
  std::vector<std::string> kinds;
  for (const ir::Attr& e : spec.list) {
    const size_t length = e.kind == ir::Attr::Kind::kList && !e.list.empty()
                              ? (e.list[0].s == "s"   ? 4
                                 : e.list[0].s == "i" ? 2
                                                      : 1)
                              : 0;
    if (!length || e.list.size() != length) throw Unsupported("index: malformed spec entry");
    kinds.push_back(e.list[0].s);
  }
  const Strides xs = contiguous_strides(x);
  const int64_t rank = static_cast<int64_t>(x.size());
  int64_t consumed = 0, ellipses = 0;  // x dims the entries take; the ellipsis takes the rest
  size_t t = 0;
  for (const std::string& kind : kinds) {
    if (kind == "i" || kind == "s") ++consumed;
    if (kind == "e") ++ellipses;
    if (kind == "t") {
      if (t == tensors.size()) throw Unsupported("index: fewer index tensors than the spec names");
      const ir::TensorType* type = tensors[t++].second;
      consumed += type->dtype == ir::DType::kBool ? static_cast<int64_t>(type->shape.size()) : 1;
    }
  }
  if (consumed > rank || ellipses > 1 || t != tensors.size()) {
    throw Unsupported("index: the key does not fit the tensor");
  }
  if (!ellipses) kinds.push_back("e");  // trailing dims: full slices
  const bool advanced = !tensors.empty();
  Plan plan;
  bool seen_adv = false, adjacent = true, ints_advanced = false;
  int last_adv = -1;
  int64_t dim = 0;
  t = 0;
  for (int pos = 0; pos < static_cast<int>(kinds.size()); ++pos) {
    const std::string& kind = kinds[pos];
    std::vector<Dim>& basic = seen_adv ? plan.post : plan.pre;
    if (kind == "t" || (kind == "i" && advanced)) {
      if (seen_adv && last_adv != pos - 1) adjacent = false;
      seen_adv = true;
      last_adv = pos;
    }
    if (kind == "e") {
      for (int64_t k = 0; k < rank - consumed; ++k, ++dim) basic.push_back({x[dim], xs[dim]});
    } else if (kind == "n") {
      basic.push_back({1, 0});
    } else if (kind == "s") {
      basic.push_back(slice_dim(spec.list[pos], x[dim], xs[dim], plan.base));
      ++dim;
    } else if (kind == "i") {
      const ir::Attr& n = spec.list[pos].list.at(1);
      if (n.kind != ir::Attr::Kind::kInt) throw Unsupported("index: int entry");
      // Out of range: the eager kernel raises it when the node runs, not now.
      if (n.i < -x[dim] || n.i >= x[dim]) throw Unsupported("index: int out of range");
      plan.base += wrap_index(n.i, x[dim], dim) * xs[dim];
      ints_advanced |= advanced;
      ++dim;
    } else if (kind == "t") {
      const auto [slot, type] = tensors[t++];
      const Shape s = shape_of(*type);
      if (type->dtype == ir::DType::kBool) {
        if (tensors.size() != 1) throw Unsupported("index: a boolean mask with other tensors");
        for (size_t k = 0; k < s.size(); ++k, ++dim) {
          if (s[k] != x[dim]) throw Unsupported("index: the mask's shape differs from the dims");
          plan.mask.shape.push_back(s[k]);
          plan.mask.x_strides.push_back(xs[dim]);
        }
        plan.mask.slot = slot;
      } else {
        if (type->dtype == ir::DType::kFloat16 || is_float(type->dtype)) {
          throw Unsupported("index: index tensors must be integers");
        }
        plan.tensors.push_back({slot, type->dtype, s, dim, x[dim], xs[dim], {}});
        ++dim;
      }
    } else {
      throw Unsupported("index: spec entry " + kind);
    }
  }
  if (plan.mask.slot >= 0 && ints_advanced) throw Unsupported("index: a mask with integers");
  if (!adjacent) {  // B goes in front: every basic dim comes after it
    plan.pre.insert(plan.pre.end(), plan.post.begin(), plan.post.end());
    plan.post = std::move(plan.pre);
    plan.pre.clear();
  }
  for (const IndexTensor& it : plan.tensors) {  // B: the shapes broadcast (numpy's rules)
    Shape& b = plan.b_shape;
    if (it.shape.size() > b.size()) b.insert(b.begin(), it.shape.size() - b.size(), 1);
    for (size_t k = 0; k < it.shape.size(); ++k) {
      int64_t& d = b[b.size() - it.shape.size() + k];
      if (it.shape[k] != d && it.shape[k] != 1 && d != 1) throw Unsupported("index: broadcast");
      if (d == 1) d = it.shape[k];
    }
  }
  for (IndexTensor& it : plan.tensors) {
    const Strides st = broadcast_strides(it.shape, plan.b_shape);
    std::vector<Dim> dims;
    for (size_t d = 0; d < st.size(); ++d) dims.push_back({plan.b_shape[d], st[d]});
    it.at = offsets_of(dims);
  }
  return plan;
}

template <typename I>
int64_t load(const void* p, int64_t k) {
  return static_cast<int64_t>(static_cast<const I*>(p)[k]);
}
using Loader = int64_t (*)(const void*, int64_t);

// The x offsets adv[b] of the advanced block: from the index tensors (every
// index checked), or the coordinates of the mask's true elements.
void advanced_offsets(const Plan& plan, const std::vector<Loader>& loaders, void* const* slots,
                      std::vector<int64_t>& adv) {
  adv.clear();
  if (plan.mask.slot >= 0) {
    const bool* m = static_cast<const bool*>(slots[plan.mask.slot]);
    const Shape& shape = plan.mask.shape;
    std::vector<int64_t> coord(shape.size(), 0);
    int64_t off = 0;
    for (int64_t e = 0, n = numel(shape); e < n; ++e) {
      if (m[e]) adv.push_back(off);
      for (size_t d = shape.size(); d-- > 0;) {  // next coordinate, C order
        off += plan.mask.x_strides[d];
        if (++coord[d] < shape[d]) break;
        off -= coord[d] * plan.mask.x_strides[d];
        coord[d] = 0;
      }
    }
    return;
  }
  adv.assign(static_cast<size_t>(numel(plan.b_shape)), 0);
  for (size_t j = 0; j < plan.tensors.size(); ++j) {
    const IndexTensor& it = plan.tensors[j];
    const void* idx = slots[it.slot];
    for (size_t b = 0; b < adv.size(); ++b) {
      adv[b] += wrap_index(loaders[j](idx, it.at[b]), it.size, it.dim) * it.stride;
    }
  }
}

std::vector<Loader> loaders_of(const Plan& plan) {
  std::vector<Loader> out;
  for (const IndexTensor& it : plan.tensors) {
    out.push_back(
        visit(it.dtype, [](auto tag) -> Loader { return &load<typename decltype(tag)::type>; }));
  }
  return out;
}

std::string shape_text(const Shape& s) {
  std::string text = "(";
  for (size_t i = 0; i < s.size(); ++i) text += (i ? ", " : "") + std::to_string(s[i]);
  return text + (s.size() == 1 ? ",)" : ")");
}

// The operands after the first `skip` ones: the index tensors.
std::vector<std::pair<int, const ir::TensorType*>> index_operands(const LowerContext& ctx,
                                                                  size_t skip) {
  std::vector<std::pair<int, const ir::TensorType*>> out;
  for (size_t k = skip; k < ctx.node.operands.size(); ++k) {
    out.emplace_back(ctx.operand_slots[k], &ctx.value(k)->type);
  }
  return out;
}

// index: out[p, b, q] = x[base + pre[p] + adv[b] + post[q]], copied as raw
// elements (any dtype).
template <typename E>
Kernel index_kernel(const Plan& plan, int64_t mask_count, int sx, int so) {
  const std::vector<int64_t> pre = offsets_of(plan.pre), post = offsets_of(plan.post);
  const std::vector<Loader> loaders = loaders_of(plan);
  auto adv = std::make_shared<std::vector<int64_t>>();
  return [=](void* const* slots) {
    advanced_offsets(plan, loaders, slots, *adv);
    if (mask_count >= 0 && static_cast<int64_t>(adv->size()) != mask_count) {
      throw ShapeSpeculationFailed("index: the boolean mask selects " +
                                   std::to_string(adv->size()) +
                                   " elements, the graph was compiled for " +
                                   std::to_string(mask_count) + " (a data-dependent shape)");
    }
    const E* x = static_cast<const E*>(slots[sx]) + plan.base;
    E* out = static_cast<E*>(slots[so]);
    for (int64_t p : pre) {
      for (int64_t b : *adv) {
        for (int64_t q : post) *out++ = x[p + b + q];
      }
    }
  };
}

Kernel lower_index(const LowerContext& ctx) {
  const ir::DType dtype = ctx.out_type().dtype;
  if (ctx.value(0)->type.dtype != dtype) throw Unsupported("index dtype");
  const Plan plan =
      make_plan(shape_of(ctx.value(0)->type), ctx.attr("spec"), index_operands(ctx, 1));
  const Shape out = shape_of(ctx.out_type());
  Shape want;
  for (const Dim& d : plan.pre) want.push_back(d.size);
  int64_t mask_count = -1;
  if (plan.mask.slot >= 0) {
    if (out.size() != plan.pre.size() + 1 + plan.post.size()) throw Unsupported("index: rank");
    mask_count = out[plan.pre.size()];
    want.push_back(mask_count);
  } else {
    want.insert(want.end(), plan.b_shape.begin(), plan.b_shape.end());
  }
  for (const Dim& d : plan.post) want.push_back(d.size);
  if (want != out) throw Unsupported("index: the output shape differs from the key's");
  const int sx = ctx.operand_slots[0], so = ctx.output_slots[0];
  switch (itemsize(dtype)) {
    case 1:
      return index_kernel<uint8_t>(plan, mask_count, sx, so);
    case 2:
      return index_kernel<uint16_t>(plan, mask_count, sx, so);
    case 4:
      return index_kernel<uint32_t>(plan, mask_count, sx, so);
    case 8:
      return index_kernel<uint64_t>(plan, mask_count, sx, so);
    default:
      throw Unsupported("index: element size");
  }
}

// Where index_put reads its values: offsets of the broadcast values tensor
// over pre, B and post (a mask's B: b * b_stride, with b_size 1 or the count).
struct ValueLayout {
  std::vector<int64_t> pre, b, post;
  int64_t b_stride = 0, b_size = 1;
  Shape shape;
};

ValueLayout value_layout(const Plan& plan, const Shape& v) {
  Shape region;  // the indexing result's shape (a mask's count: v's dim there, or 1)
  for (const Dim& d : plan.pre) region.push_back(d.size);
  const size_t b_at = region.size();
  if (plan.mask.slot < 0) region.insert(region.end(), plan.b_shape.begin(), plan.b_shape.end());
  if (plan.mask.slot >= 0) {
    const size_t from_end = plan.post.size() + 1;
    region.push_back(v.size() >= from_end ? v[v.size() - from_end] : 1);
  }
  for (const Dim& d : plan.post) region.push_back(d.size);
  if (v.size() > region.size()) throw Unsupported("index_put: values of a higher rank");
  for (size_t k = 0; k < v.size(); ++k) {
    const int64_t r = region[region.size() - v.size() + k];
    if (v[k] != r && v[k] != 1) throw Unsupported("index_put: values do not broadcast");
  }
  const Strides vs = broadcast_strides(v, region);
  auto offsets = [&](size_t from, size_t to) {
    std::vector<Dim> dims;
    for (size_t d = from; d < to; ++d) dims.push_back({region[d], vs[d]});
    return offsets_of(dims);
  };
  ValueLayout layout;
  layout.shape = v;
  layout.pre = offsets(0, b_at);
  layout.post = offsets(b_at + plan.b_rank(), region.size());
  if (plan.mask.slot >= 0) {
    layout.b_stride = vs[b_at];
    layout.b_size = region[b_at];
  } else {
    layout.b = offsets(b_at, b_at + plan.b_rank());
  }
  return layout;
}

// index_put: out = x, then out[base + pre[p] + adv[b] + post[q]] (+)= the
// value at (p, b, q); repeated indices accumulate (numpy's add.at) or the
// last write wins.
template <typename T>
Kernel index_put_kernel(const Plan& plan, const ValueLayout& vl, bool accumulate, int64_t n, int sx,
                        int sv, T constant, int so) {
  const std::vector<int64_t> pre = offsets_of(plan.pre), post = offsets_of(plan.post);
  const std::vector<Loader> loaders = loaders_of(plan);
  const bool mask = plan.mask.slot >= 0;
  auto adv = std::make_shared<std::vector<int64_t>>(),
       vb = std::make_shared<std::vector<int64_t>>();
  return [=](void* const* slots) {
    T* out = static_cast<T*>(slots[so]);
    if (out != slots[sx]) std::memcpy(out, slots[sx], sizeof(T) * n);
    advanced_offsets(plan, loaders, slots, *adv);
    const std::vector<int64_t>* value_b = &vl.b;
    if (mask) {
      const int64_t count = static_cast<int64_t>(adv->size());
      if (sv >= 0 && vl.b_size != 1 && vl.b_size != count) {
        throw std::invalid_argument("shape mismatch: value array of shape " + shape_text(vl.shape) +
                                    " could not be broadcast to the indexing result (the mask "
                                    "selects " +
                                    std::to_string(count) + " elements)");
      }
      vb->resize(adv->size());
      for (int64_t b = 0; b < count; ++b) (*vb)[b] = b * vl.b_stride;
      value_b = vb.get();
    }
    const T* values = sv >= 0 ? static_cast<const T*>(slots[sv]) : nullptr;
    T* x = out + plan.base;
    for (size_t p = 0; p < pre.size(); ++p) {
      for (size_t b = 0; b < adv->size(); ++b) {
        T* row = x + pre[p] + (*adv)[b];
        const int64_t v_row = vl.pre[p] + (*value_b)[b];
        for (size_t q = 0; q < post.size(); ++q) {
          const T v = values ? values[v_row + vl.post[q]] : constant;
          T& dst = row[post[q]];
          dst = accumulate ? static_cast<T>(dst + v) : v;
        }
      }
    }
  };
}

Kernel lower_index_put(const LowerContext& ctx) {
  const ir::DType dtype = ctx.out_type().dtype;
  const Shape x = shape_of(ctx.value(0)->type);
  if (ctx.value(0)->type.dtype != dtype || shape_of(ctx.out_type()) != x) {
    throw Unsupported("index_put: output type");
  }
  const Plan plan = make_plan(x, ctx.attr("spec"), index_operands(ctx, 2));
  const bool accumulate = ctx.attr("accumulate").b;
  const bool tensor_values = ctx.is_value(1);
  if (tensor_values && ctx.value(1)->type.dtype != dtype) throw Unsupported("index_put dtypes");
  const ValueLayout vl = value_layout(plan, tensor_values ? shape_of(ctx.value(1)->type) : Shape{});
  const ir::Attr number = tensor_values ? ir::Attr::none() : ctx.constant(1);
  if (!tensor_values && number.kind != ir::Attr::Kind::kFloat &&
      number.kind != ir::Attr::Kind::kInt && number.kind != ir::Attr::Kind::kBool) {
    throw Unsupported("index_put: values must be a number or a tensor");
  }
  const int sx = ctx.operand_slots[0], sv = ctx.operand_slots[1], so = ctx.output_slots[0];
  return visit(dtype, [&](auto tag) -> Kernel {
    using T = typename decltype(tag)::type;
    const T constant = number.kind == ir::Attr::Kind::kFloat  ? static_cast<T>(number.f)
                       : number.kind == ir::Attr::Kind::kBool ? static_cast<T>(number.b)
                                                              : static_cast<T>(number.i);
    return index_put_kernel<T>(plan, vl, accumulate, numel(x), sx, sv, constant, so);
  });
}

}  // namespace

Kernel lower_advanced_index(const LowerContext& ctx) {
  const std::string op = ir::op_name(ctx.node.kind);
  if (op == "index") return lower_index(ctx);
  if (op == "index_put") return lower_index_put(ctx);
  throw Unsupported("no kernel for " + op);
}

}  // namespace janus::cpu
