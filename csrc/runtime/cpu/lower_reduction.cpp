// Reductions over a set of dims (sum, mean, prod, amax, amin, all, any, var,
// norm2, logsumexp), max_dim/argmax, and scans (cumsum, cumprod).
//
// A reduction reads, for output element o, the input elements base[o] +
// inner[r]: `base` walks the kept dims and `inner` the reduced ones, both
// precomputed. Float sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "ir/structural.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/lower.h"
#include "runtime/cpu/reduction_order.h"

namespace janus::cpu {
namespace {

struct Layout {
  std::vector<int64_t> base;   // per output element
  std::vector<int64_t> inner;  // per reduced element
};

// Offsets for reducing `shape` over `reduced` (sorted, wrapped).
Layout reduction_layout(const Shape& shape, const std::vector<bool>& reduced) {
  const Strides strides = contiguous_strides(shape);
  Shape kept_shape, red_shape;
  Strides kept_strides, red_strides;
  for (size_t d = 0; d < shape.size(); ++d) {
    (reduced[d] ? red_shape : kept_shape).push_back(shape[d]);
    (reduced[d] ? red_strides : kept_strides).push_back(strides[d]);
  }
  auto offsets = [](const Shape& s, const Strides& st) {
    std::vector<int64_t> out(static_cast<size_t>(numel(s)));
    std::vector<int64_t> index(s.size(), 0);
    int64_t off = 0;
    for (auto& o : out) {
      o = off;
      for (size_t k = s.size(); k-- > 0;) {
        off += st[k];
        if (++index[k] < s[k]) break;
        off -= index[k] * st[k];
        index[k] = 0;
      }
    }
    return out;
  };
  return Layout{offsets(kept_shape, kept_strides), offsets(red_shape, red_strides)};
}

// As the type rules read `dims` (none or []: every dim).
std::vector<bool> reduced_dims(const LowerContext& ctx, size_t rank) {
  return ir::reduced_axes(ctx.node.attrs, rank);
}

template <typename T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// The length of the contiguous runs a reduction's elements per output come
// in, when they come in runs of one length long enough to be summed in lanes
// (reduction_order.h), else 0. One run: the reduced dims are the innermost
// ones. Several: a batch norm's sum over (N, H, W) of NCHW, N runs of H * W.
int64_t lane_run(const std::vector<int64_t>& inner) {
  const int64_t count = static_cast<int64_t>(inner.size());
  int64_t run = 1;
  while (run < count && inner[run] == inner[0] + run) ++run;
  if (run < kLaneMinRun || count % run != 0) return 0;
  for (int64_t r = 0; r < count; ++r) {
    if (inner[r] != inner[r - r % run] + r % run) return 0;
  }
  return run;
}

// Reduces output o's elements (row = the input at base[o], its elements at
// row[inner[r]]) with `fold_row(row, inner)`, then `finish(acc, count)`.
template <typename In, typename Out, typename FoldRow, typename Finish>
Kernel reduce_rows(const LowerContext& ctx, const Layout& layout, FoldRow fold_row, Finish finish) {
  auto shared = std::make_shared<Layout>(layout);
  const int in_slot = ctx.operand_slots[0], out_slot = ctx.output_slots[0];
  return [=](void* const* slots) {
    const In* x = static_cast<const In*>(slots[in_slot]);
    Out* y = static_cast<Out*>(slots[out_slot]);
    const auto& inner = shared->inner;
    const int64_t count = static_cast<int64_t>(inner.size());
    for (size_t o = 0; o < shared->base.size(); ++o) {
      y[o] = finish(fold_row(x + shared->base[o], inner), count);
    }
  };
}

// Reduces with `combine(acc, x)` from `init`, element by element, then
// `finish(acc, count)`.
template <typename In, typename Out, typename AccT, typename Combine, typename Finish>
Kernel reduce(const LowerContext& ctx, const Layout& layout, AccT init, Combine combine,
              Finish finish) {
  return reduce_rows<In, Out>(
      ctx, layout,
      [init, combine](const In* row, const std::vector<int64_t>& inner) {
        AccT acc = init;
        for (int64_t r : inner) acc = combine(acc, row[r]);
        return acc;
      },
      finish);
}

// Whether `layout` reduces leading dims and keeps the trailing ones: output
// o at o, its elements a row of outputs apart.
bool columns(const Layout& layout) {
  const int64_t outputs = static_cast<int64_t>(layout.base.size());
  for (int64_t o = 0; o < outputs; ++o) {
    if (layout.base[o] != o) return false;
  }
  for (size_t r = 0; r < layout.inner.size(); ++r) {
    if (layout.inner[r] != static_cast<int64_t>(r) * outputs) return false;
  }
  return outputs > 1 && layout.inner.size() > 1;
}

// Sum (or mean) of float T over `layout`, accumulated in double: in lanes
// where its elements come in runs (lane_run; element p of the output's
// elements to lane p % kSumLanes, runs one after the other), else in
// element order.
template <typename T>
Kernel float_sum(const LowerContext& ctx, const Layout& layout, bool mean) {
  auto finish = [mean](double acc, int64_t count) {
    if (mean) {
      acc = count ? acc / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN();
    }
    return static_cast<T>(acc);
  };
  const int64_t run = lane_run(layout.inner);
  if (run == 0 && columns(layout)) {
    // Leading dims reduced, trailing kept (a bias's gradient over stacked
    // rows): row by row into one accumulator per output, which reads memory
    // in order. Each output still adds its elements in element order.
    const int64_t outputs = static_cast<int64_t>(layout.base.size());
    const int64_t rows = static_cast<int64_t>(layout.inner.size());
    const int in_slot = ctx.operand_slots[0], out_slot = ctx.output_slots[0];
    auto acc = std::make_shared<std::vector<double>>(static_cast<size_t>(outputs));
    return [=](void* const* slots) {
      const T* x = static_cast<const T*>(slots[in_slot]);
      T* y = static_cast<T*>(slots[out_slot]);
      double* a = acc->data();
      std::fill(a, a + outputs, 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        const T* row = x + r * outputs;
        for (int64_t o = 0; o < outputs; ++o) a[o] += row[o];
      }
      for (int64_t o = 0; o < outputs; ++o) y[o] = finish(a[o], rows);
    };
  }
  if (run == 0) {
    return reduce<T, T>(
        ctx, layout, 0.0, [](double acc, T v) { return acc + v; }, finish);
  }
  return reduce_rows<T, T>(
      ctx, layout,
      [run](const T* row, const std::vector<int64_t>& inner) {
        double lanes[kSumLanes] = {};
        const int64_t count = static_cast<int64_t>(inner.size());
        for (int64_t p = 0; p < count; p += run) add_to_lanes(lanes, row + inner[p], p, run);
        return total_of_lanes(lanes);
      },
      finish);
}

Kernel lower_reduce(const LowerContext& ctx, const std::string& op) {
  const ir::DType in_dtype = ctx.value(0)->type.dtype;
  const ir::DType out_dtype = ctx.out_type().dtype;
  const Shape shape = shape_of(ctx.value(0)->type);
  const Layout layout = reduction_layout(shape, reduced_dims(ctx, shape.size()));
  if (op == "all" || op == "any") {
    if (out_dtype != ir::DType::kBool) throw Unsupported("all/any result dtype");
    const bool is_all = op == "all";
    return visit(in_dtype, [&](auto tag) -> Kernel {
      using T = typename decltype(tag)::type;
      return reduce<T, bool>(
          ctx, layout, is_all,
          [is_all](bool acc, T v) { return is_all ? (acc && v != T(0)) : (acc || v != T(0)); },
          [](bool acc, int64_t) { return acc; });
    });
  }
  if (op == "sum" || op == "prod") {
    const bool is_sum = op == "sum";
    if (is_float(in_dtype)) {
      if (out_dtype != in_dtype) throw Unsupported("sum result dtype");
      return visit_float(in_dtype, [&](auto tag) -> Kernel {
        using T = typename decltype(tag)::type;
        if (is_sum) return float_sum<T>(ctx, layout, false);
        return reduce<T, T>(
            ctx, layout, is_sum ? 0.0 : 1.0,
            [is_sum](double acc, T v) { return is_sum ? acc + v : acc * v; },
            [](double acc, int64_t) { return static_cast<T>(acc); });
      });
    }
    if (out_dtype != ir::DType::kInt64) throw Unsupported("integer sum result dtype");
    return visit(in_dtype, [&](auto tag) -> Kernel {
      using T = typename decltype(tag)::type;
      return reduce<T, int64_t>(
          ctx, layout, int64_t{is_sum ? 0 : 1},
          [is_sum](int64_t acc, T v) {
            return is_sum ? acc + static_cast<int64_t>(v) : acc * static_cast<int64_t>(v);
          },
          [](int64_t acc, int64_t) { return acc; });
    });
  }
  if (op == "amax" || op == "amin") {
    if (out_dtype != in_dtype) throw Unsupported("amax result dtype");
    const bool is_max = op == "amax";
    return visit(in_dtype, [&](auto tag) -> Kernel {
      using T = typename decltype(tag)::type;
      if constexpr (std::is_same_v<T, bool>) {
        throw Unsupported("amax of bool");
      } else {
        // Floats start from -inf/+inf, so that amax of [-inf] is -inf.
        using Limits = std::numeric_limits<T>;
        const T init = Limits::has_infinity ? (is_max ? -Limits::infinity() : Limits::infinity())
                                            : (is_max ? Limits::lowest() : Limits::max());
        return reduce<T, T>(
            ctx, layout, init,
            [is_max](T acc, T v) {
              return is_max ? fold_extreme<true>(acc, v) : fold_extreme<false>(acc, v);
            },
            [](T acc, int64_t) { return acc; });
      }
    });
  }
  if (!is_float(in_dtype) || out_dtype != in_dtype) throw Unsupported(op + " needs floats");
  return visit_float(in_dtype, [&](auto tag) -> Kernel {
    using T = typename decltype(tag)::type;
    if (op == "mean") return float_sum<T>(ctx, layout, true);
    if (op == "norm2") {
      return reduce<T, T>(
          ctx, layout, 0.0, [](double acc, T v) { return acc + double(v) * v; },
          [](double acc, int64_t) { return static_cast<T>(std::sqrt(acc)); });
    }
    auto shared = std::make_shared<Layout>(layout);
    const int in_slot = ctx.operand_slots[0], out_slot = ctx.output_slots[0];
    if (op == "var") {  // two passes: the mean, then squared deviations
      const double correction = static_cast<double>(
          ctx.attr("correction").kind == ir::Attr::Kind::kFloat ? ctx.attr("correction").f
                                                                : ctx.attr("correction").i);
      return [=](void* const* slots) {
        const T* x = static_cast<const T*>(slots[in_slot]);
        T* y = static_cast<T*>(slots[out_slot]);
        const auto& inner = shared->inner;
        const double n = static_cast<double>(inner.size());
        for (size_t o = 0; o < shared->base.size(); ++o) {
          const T* row = x + shared->base[o];
          double mean = 0, sq = 0;
          for (int64_t r : inner) mean += row[r];
          mean /= n;
          for (int64_t r : inner) sq += (row[r] - mean) * (row[r] - mean);
          y[o] = static_cast<T>(sq / std::max(0.0, n - correction));
        }
      };
    }
    if (op == "logsumexp") {
      return [=](void* const* slots) {
        const T* x = static_cast<const T*>(slots[in_slot]);
        T* y = static_cast<T*>(slots[out_slot]);
        for (size_t o = 0; o < shared->base.size(); ++o) {
          const T* row = x + shared->base[o];
          T top = -std::numeric_limits<T>::infinity();
          for (int64_t r : shared->inner) top = std::max(top, row[r]);
          if (!std::isfinite(top)) top = 0;
          double sum = 0;
          for (int64_t r : shared->inner) sum += std::exp(double(row[r]) - top);
          y[o] = static_cast<T>(std::log(sum) + top);
        }
      };
    }
    throw Unsupported("no reduction kernel for " + op);
  });
}

// Along one dim: (outer, size, inner) with the dim's stride = inner.
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

Kernel lower_arg_reduce(const LowerContext& ctx, const std::string& op) {
  const ir::TensorType& in = ctx.value(0)->type;
  Shape shape = shape_of(in);
  const ir::Attr& dim_attr = ctx.attr("dim");
  Axis axis;
  if (dim_attr.kind == ir::Attr::Kind::kNone) {  // argmax over the flattened input
    axis.size = numel(shape);
  } else {
    axis = axis_of(shape, wrap_dim(dim_attr.i, static_cast<int64_t>(shape.size())));
  }
  const bool largest = ctx.attr("largest").b;
  const bool values = op == "max_dim";
  const int in_slot = ctx.operand_slots[0];
  const int value_slot = values ? ctx.output_slots[0] : -1;
  const int index_slot = ctx.output_slots[values ? 1 : 0];
  if (values && ctx.out_type(0).dtype != in.dtype) throw Unsupported("max_dim dtype");
  return visit(in.dtype, [&](auto tag) -> Kernel {
    using T = typename decltype(tag)::type;
    return [=](void* const* slots) {
      const T* x = static_cast<const T*>(slots[in_slot]);
      T* out_v = values ? static_cast<T*>(slots[value_slot]) : nullptr;
      int64_t* out_i = static_cast<int64_t*>(slots[index_slot]);
      for (int64_t o = 0; o < axis.outer; ++o) {
        for (int64_t i = 0; i < axis.inner; ++i) {
          const T* p = x + o * axis.size * axis.inner + i;
          int64_t best = 0;
          for (int64_t k = 1; k < axis.size; ++k) {
            const T v = p[k * axis.inner], b = p[best * axis.inner];
            if constexpr (std::is_floating_point_v<T>) {
              if (std::isnan(b)) break;  // the first NaN wins, as numpy
              if (std::isnan(v)) {
                best = k;
                break;
              }
            }
            if (largest ? v > b : v < b) best = k;
          }
          if (out_v) out_v[o * axis.inner + i] = p[best * axis.inner];
          out_i[o * axis.inner + i] = best;
        }
      }
    };
  });
}

Kernel lower_scan(const LowerContext& ctx, bool product) {
  const ir::TensorType& in = ctx.value(0)->type;
  const Shape shape = shape_of(in);
  if (shape.empty()) throw Unsupported("scan of a scalar");
  const Axis axis = axis_of(shape, wrap_dim(ctx.attr("dim").i, static_cast<int64_t>(shape.size())));
  const ir::DType out_dtype = ctx.out_type().dtype;
  const int in_slot = ctx.operand_slots[0], out_slot = ctx.output_slots[0];
  auto make = [&](auto in_tag, auto out_tag) -> Kernel {
    using T = typename decltype(in_tag)::type;
    using R = typename decltype(out_tag)::type;
    return [=](void* const* slots) {
      const T* x = static_cast<const T*>(slots[in_slot]);
      R* y = static_cast<R*>(slots[out_slot]);
      for (int64_t o = 0; o < axis.outer; ++o) {
        for (int64_t i = 0; i < axis.inner; ++i) {
          const int64_t at = o * axis.size * axis.inner + i;
          R acc = product ? R(1) : R(0);
          for (int64_t k = 0; k < axis.size; ++k) {
            const R v = static_cast<R>(x[at + k * axis.inner]);
            acc = product ? static_cast<R>(acc * v) : static_cast<R>(acc + v);
            y[at + k * axis.inner] = acc;
          }
        }
      }
    };
  };
  if (is_float(in.dtype)) {
    if (out_dtype != in.dtype) throw Unsupported("scan dtype");
    return visit_float(in.dtype, [&](auto tag) { return make(tag, tag); });
  }
  if (out_dtype != ir::DType::kInt64) throw Unsupported("integer scan dtype");
  return visit(in.dtype, [&](auto tag) { return make(tag, Tag<int64_t>{}); });
}

}  // namespace

Kernel lower_reduction(const LowerContext& ctx) {
  const std::string op = ir::op_name(ctx.node.kind);
  if (op == "max_dim" || op == "argmax") return lower_arg_reduce(ctx, op);
  if (op == "cumsum") return lower_scan(ctx, false);
  if (op == "cumprod") return lower_scan(ctx, true);
  return lower_reduce(ctx, op);
}

}  // namespace janus::cpu
