// Index ops with integer index tensors: index_select, embedding (and its
// gradient's index_add), gather, scatter, scatter_add, one_hot. Indices are
// bounds-checked; a bad one raises IndexError with PyTorch's message.
#include <cstring>
#include <stdexcept>
#include <string>

#include "runtime/cpu/dtype.h"
#include "runtime/cpu/lower.h"

namespace janus::cpu {
namespace {

struct Axis {
  int64_t outer = 1, size = 1, inner = 1;
};
Axis axis_of(const Shape& shape, int64_t dim) {
  Axis a;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) a.outer *= shape[d];
    if (d == dim) a.size = shape[d];
    if (d > dim) a.inner *= shape[d];
  }
  return a;
}

// The index, wrapped if negative (as numpy does for take) and bounds-checked.
inline int64_t checked(int64_t i, int64_t size, bool allow_negative) {
  if (i < 0 && allow_negative) i += size;
  if (i < 0 || i >= size) throw std::out_of_range("index out of range in self");
  return i;
}

template <typename F>
decltype(auto) visit_index(ir::DType dtype, F&& f) {
  if (dtype == ir::DType::kInt64) return f(Tag<int64_t>{});
  if (dtype == ir::DType::kInt32) return f(Tag<int32_t>{});
  throw Unsupported("index tensors must be int64 or int32");
}

// out[o, j, i] = x[o, idx[j], i] (index_select along dim; embedding is dim 0).
Kernel lower_take(const LowerContext& ctx, int64_t dim, bool allow_negative) {
  const Shape x = shape_of(ctx.value(0)->type);
  const int64_t count = numel(shape_of(ctx.value(1)->type));
  const Axis axis = axis_of(x, dim);
  const size_t row = static_cast<size_t>(axis.inner) * itemsize(ctx.out_type().dtype);
  const int sx = ctx.operand_slots[0], si = ctx.operand_slots[1], so = ctx.output_slots[0];
  return visit_index(ctx.value(1)->type.dtype, [&](auto tag) -> Kernel {
    using I = typename decltype(tag)::type;
    return [=](void* const* slots) {
      const char* src = static_cast<const char*>(slots[sx]);
      const I* idx = static_cast<const I*>(slots[si]);
      char* dst = static_cast<char*>(slots[so]);
      for (int64_t o = 0; o < axis.outer; ++o) {
        for (int64_t j = 0; j < count; ++j) {
          const int64_t i = checked(idx[j], axis.size, allow_negative);
          std::memcpy(dst + (o * count + j) * row, src + (o * axis.size + i) * row, row);
        }
      }
    };
  });
}

// out = x; out[o, idx[j], i] += alpha * src[o, j, i].
Kernel lower_index_add(const LowerContext& ctx) {
  const Shape x = shape_of(ctx.value(0)->type);
  const int64_t dim = wrap_dim(ctx.attr("dim").i, static_cast<int64_t>(x.size()));
  const Axis axis = axis_of(x, dim);
  const int64_t count = numel(shape_of(ctx.value(1)->type));
  const ir::Attr& alpha_attr = ctx.attr("alpha");
  const double alpha =
      alpha_attr.kind == ir::Attr::Kind::kFloat ? alpha_attr.f : static_cast<double>(alpha_attr.i);
  const ir::DType dtype = ctx.out_type().dtype;
  if (ctx.value(2)->type.dtype != dtype) throw Unsupported("index_add dtypes");
  const int64_t n = numel(x);
  const int sx = ctx.operand_slots[0], si = ctx.operand_slots[1], ss = ctx.operand_slots[2];
  const int so = ctx.output_slots[0];
  return visit_float(dtype, [&](auto tag) -> Kernel {
    using T = typename decltype(tag)::type;
    return visit_index(ctx.value(1)->type.dtype, [&](auto itag) -> Kernel {
      using I = typename decltype(itag)::type;
      return [=](void* const* slots) {
        T* out = static_cast<T*>(slots[so]);
        std::memcpy(out, slots[sx], sizeof(T) * n);
        const I* idx = static_cast<const I*>(slots[si]);
        const T* src = static_cast<const T*>(slots[ss]);
        const T a = static_cast<T>(alpha);
        for (int64_t o = 0; o < axis.outer; ++o) {
          for (int64_t j = 0; j < count; ++j) {
            const int64_t i = checked(idx[j], axis.size, true);
            T* d = out + (o * axis.size + i) * axis.inner;
            const T* s = src + (o * count + j) * axis.inner;
            for (int64_t k = 0; k < axis.inner; ++k) d[k] += a * s[k];
          }
        }
      };
    });
  });
}

// gather: out[p] = x[p with dim replaced by idx[p]]; scatter(_add): out = x,
// out[p with dim replaced by idx[p]] (+)= src[p], over the positions p of idx.
Kernel lower_gather_scatter(const LowerContext& ctx, const std::string& op) {
  const Shape x = shape_of(ctx.value(0)->type);
  const Shape idx_shape = shape_of(ctx.value(1)->type);
  if (idx_shape.size() != x.size()) throw Unsupported(op + ": index rank differs");
  const int64_t dim = wrap_dim(ctx.attr("dim").i, static_cast<int64_t>(x.size()));
  const Strides xs = contiguous_strides(x);
  // For each position of idx: the offset in x with dim's coordinate zeroed.
  std::vector<int64_t> base(static_cast<size_t>(numel(idx_shape)));
  std::vector<int64_t> index(idx_shape.size(), 0);
  for (auto& b : base) {
    b = 0;
    for (size_t d = 0; d < x.size(); ++d) {
      if (static_cast<int64_t>(d) != dim) b += index[d] * xs[d];
    }
    for (size_t d = idx_shape.size(); d-- > 0;) {
      if (++index[d] < idx_shape[d]) break;
      index[d] = 0;
    }
  }
  for (size_t d = 0; d < x.size(); ++d) {
    if (static_cast<int64_t>(d) != dim && idx_shape[d] > x[d]) {
      throw Unsupported(op + ": index larger than the input");
    }
  }
  const int64_t size = x[dim], stride = xs[dim], n = numel(x);
  const int sx = ctx.operand_slots[0], si = ctx.operand_slots[1];
  // scatter's src: a tensor shaped like the index, or a number (scatter(dim, idx, 2.5)).
  const int ss = op == "gather" ? -1 : ctx.operand_slots.at(2);
  const bool scalar_src = op != "gather" && ss < 0;
  if (op != "gather" && !scalar_src &&
      (ctx.value(2)->type.dtype != ctx.out_type().dtype ||
       shape_of(ctx.value(2)->type) != idx_shape)) {
    throw Unsupported(op + ": src must be shaped like the index");
  }
  const ir::Attr fill = scalar_src ? ctx.constant(2) : ir::Attr::none();
  if (scalar_src && fill.kind != ir::Attr::Kind::kFloat && fill.kind != ir::Attr::Kind::kInt) {
    throw Unsupported(op + ": src must be a number or a tensor");
  }
  const int so = ctx.output_slots[0];
  const int mode = op == "gather" ? 0 : op == "scatter" ? 1 : 2;
  return visit(ctx.out_type().dtype, [&](auto tag) -> Kernel {
    using T = typename decltype(tag)::type;
    return visit_index(ctx.value(1)->type.dtype, [&](auto itag) -> Kernel {
      using I = typename decltype(itag)::type;
      return [=](void* const* slots) {
        const T* in = static_cast<const T*>(slots[sx]);
        const I* idx = static_cast<const I*>(slots[si]);
        T* out = static_cast<T*>(slots[so]);
        if (mode == 0) {
          for (size_t p = 0; p < base.size(); ++p) {
            out[p] = in[base[p] + checked(idx[p], size, true) * stride];
          }
          return;
        }
        std::memcpy(out, in, sizeof(T) * n);
        const T* src = ss >= 0 ? static_cast<const T*>(slots[ss]) : nullptr;
        const T number = static_cast<T>(fill.kind == ir::Attr::Kind::kFloat ? fill.f : fill.i);
        for (size_t p = 0; p < base.size(); ++p) {
          T& target = out[base[p] + checked(idx[p], size, true) * stride];
          const T value = src ? src[p] : number;
          target = mode == 1 ? value : static_cast<T>(target + value);
        }
      };
    });
  });
}

Kernel lower_one_hot(const LowerContext& ctx) {
  const int64_t count = numel(shape_of(ctx.value(0)->type));
  const int64_t classes = ctx.attr("num_classes").i;
  const int si = ctx.operand_slots[0], so = ctx.output_slots[0];
  if (ctx.out_type().dtype != ir::DType::kInt64) throw Unsupported("one_hot dtype");
  return visit_index(ctx.value(0)->type.dtype, [&](auto tag) -> Kernel {
    using I = typename decltype(tag)::type;
    return [=](void* const* slots) {
      const I* idx = static_cast<const I*>(slots[si]);
      int64_t* out = static_cast<int64_t*>(slots[so]);
      std::memset(out, 0, sizeof(int64_t) * count * classes);
      for (int64_t j = 0; j < count; ++j) {
        if (idx[j] < 0 || idx[j] >= classes) {
          throw std::out_of_range("Class values must be smaller than num_classes.");
        }
        out[j * classes + idx[j]] = 1;
      }
    };
  });
}

}  // namespace

Kernel lower_indexing(const LowerContext& ctx) {
  const std::string op = ir::op_name(ctx.node.kind);
  if (op == "index_select") {
    const int64_t rank = static_cast<int64_t>(ctx.value(0)->type.shape.size());
    return lower_take(ctx, wrap_dim(ctx.attr("dim").i, rank), true);
  }
  if (op == "embedding") return lower_take(ctx, 0, false);
  if (op == "index_add") return lower_index_add(ctx);
  if (op == "one_hot") return lower_one_hot(ctx);
  return lower_gather_scatter(ctx, op);
}

}  // namespace janus::cpu
