// Pooling over 2-D windows (janus.ops.pooling): max_pool2d (values and the
// flat index of each maximum in its H x W plane, as PyTorch returns it; its
// gradient is a scatter_add, lowered elsewhere), avg_pool2d and
// avg_pool2d_backward. Attributes: kernel, stride, padding, dilation (max
// only), ceil_mode, count_include_pad and divisor_override (average only).
//
// The taps of each window that land inside the input are precomputed per
// output row and column, so padding (and the extra cells of ceil mode) is
// never read: it holds -inf for max and 0 for sums, which the loops skip.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "runtime/cpu/dtype.h"
#include "runtime/cpu/lower.h"
#include "runtime/cpu/window.h"

namespace janus::cpu {
namespace {

// Per output row (or column): the kernel taps [lo, hi) inside the input.
struct Axis {
  int64_t in = 0, out = 0, kernel = 0, stride = 1, padding = 0, dilation = 1;
  std::vector<Inside> taps;
  int64_t start(int64_t o) const { return o * stride - padding; }  // input index of tap 0
};

Axis make_axis(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
               int64_t dilation) {
  if (kernel <= 0 || stride <= 0 || dilation <= 0 || padding < 0) {
    throw Unsupported("pool: bad kernel, stride, padding or dilation");
  }
  Axis a{in, out, kernel, stride, padding, dilation, {}};
  for (int64_t o = 0; o < out; ++o) {
    a.taps.push_back(inside_range(a.start(o), dilation, in, kernel));
    // Eager max pooling would report a padding cell here; leave it that case.
    if (a.taps.back().lo == a.taps.back().hi) throw Unsupported("pool: a window misses the input");
  }
  return a;
}

struct Pool {
  int64_t planes = 0;  // N * C
  Axis rows, cols;
};

// The geometry of (N, C, H, W) -> (N, C, OH, OW), checked against the output
// size the attributes give.
Pool make_pool(const LowerContext& ctx, const Shape& x, const Shape& y, bool dilated) {
  if (x.size() != 4 || y.size() != 4 || x[0] != y[0] || x[1] != y[1]) {
    throw Unsupported("pool: 4-D tensors of one batch and channel count");
  }
  const std::vector<int64_t> k = int_list(ctx.attr("kernel")), s = int_list(ctx.attr("stride")),
                             p = int_list(ctx.attr("padding"));
  const std::vector<int64_t> d =
      dilated ? int_list(ctx.attr("dilation")) : std::vector<int64_t>{1, 1};
  if (k.size() != 2 || s.size() != 2 || p.size() != 2 || d.size() != 2) {
    throw Unsupported("pool: kernel, stride, padding and dilation are pairs");
  }
  const bool ceil_mode = ctx.attr("ceil_mode").b;
  for (int i = 0; i < 2; ++i) {
    if (s[i] > 0 && window_out_size(x[2 + i], k[i], s[i], p[i], d[i], ceil_mode) != y[2 + i]) {
      throw Unsupported("pool: output shape disagrees with the attributes");
    }
  }
  return {x[0] * x[1], make_axis(x[2], y[2], k[0], s[0], p[0], d[0]),
          make_axis(x[3], y[3], k[1], s[1], p[1], d[1])};
}

Kernel lower_max_pool(const LowerContext& ctx) {
  const ir::DType dtype = ctx.value(0)->type.dtype;
  if (dtype == ir::DType::kBool || ctx.out_type(0).dtype != dtype ||
      ctx.out_type(1).dtype != ir::DType::kInt64) {
    throw Unsupported("max_pool2d dtypes");
  }
  const Pool pool = make_pool(ctx, shape_of(ctx.value(0)->type), shape_of(ctx.out_type()), true);
  const int sx = ctx.operand_slots[0], sv = ctx.output_slots[0], si = ctx.output_slots[1];
  return visit(dtype, [&](auto tag) -> Kernel {
    using T = typename decltype(tag)::type;
    return [=](void* const* slots) {
      const T* x = static_cast<const T*>(slots[sx]);
      T* values = static_cast<T*>(slots[sv]);
      int64_t* indices = static_cast<int64_t*>(slots[si]);
      const Axis &r = pool.rows, &c = pool.cols;
      for (int64_t plane = 0; plane < pool.planes; ++plane, x += r.in * c.in) {
        for (int64_t oy = 0; oy < r.out; ++oy) {
          for (int64_t ox = 0; ox < c.out; ++ox, ++values, ++indices) {
            // PyTorch's scan: the first tap inside the input, then any tap
            // that is greater or NaN (the first maximum, or the last NaN).
            int64_t best = -1;
            for (int64_t i = r.taps[oy].lo; i < r.taps[oy].hi; ++i) {
              const int64_t row = (r.start(oy) + i * r.dilation) * c.in;
              for (int64_t j = c.taps[ox].lo; j < c.taps[ox].hi; ++j) {
                const int64_t at = row + c.start(ox) + j * c.dilation;
                const T v = x[at];
                if (best < 0 || v > x[best] || v != v) best = at;
              }
            }
            *values = x[best];  // every window has a tap inside (make_axis)
            *indices = best;
          }
        }
      }
    };
  });
}

// The divisor of every output cell: the window's cells inside the input, or
// inside the padded input (count_include_pad), or divisor_override.
std::vector<double> avg_divisors(const LowerContext& ctx, const Pool& pool) {
  const bool include_pad = ctx.attr("count_include_pad").b;
  const ir::Attr* override_attr = ctx.attr_or_null("divisor_override");
  int64_t fixed = 0;
  if (override_attr) {
    if (override_attr->kind != ir::Attr::Kind::kInt) throw Unsupported("divisor_override");
    fixed = override_attr->i;  // 0 means none, as the eager op's truth test
  }
  auto counts = [&](const Axis& a) {
    std::vector<int64_t> n;
    for (int64_t o = 0; o < a.out; ++o) {
      const Inside in =
          include_pad ? inside_range(o * a.stride, 1, a.in + 2 * a.padding, a.kernel) : a.taps[o];
      n.push_back(in.hi - in.lo);
    }
    return n;
  };
  const std::vector<int64_t> rows = counts(pool.rows), cols = counts(pool.cols);
  std::vector<double> divisors;
  for (int64_t r : rows) {
    for (int64_t c : cols) divisors.push_back(static_cast<double>(fixed ? fixed : r * c));
  }
  return divisors;
}

// avg_pool2d(x) and avg_pool2d_backward(g): the same windows, read or written.
Kernel lower_avg_pool(const LowerContext& ctx, bool backward) {
  const ir::DType dtype = ctx.out_type().dtype;
  if (ctx.value(0)->type.dtype != dtype) throw Unsupported("avg_pool2d dtypes");
  const Shape in = shape_of(ctx.value(0)->type), out = shape_of(ctx.out_type());
  if (backward && int_list(ctx.attr("x_shape")) != out) throw Unsupported("avg_pool2d x_shape");
  const Pool pool = backward ? make_pool(ctx, out, in, false) : make_pool(ctx, in, out, false);
  const std::vector<double> divisors = avg_divisors(ctx, pool);
  const int sa = ctx.operand_slots[0], so = ctx.output_slots[0];
  return visit_float(dtype, [&](auto tag) -> Kernel {
    using T = typename decltype(tag)::type;
    return [=](void* const* slots) {
      const T* a = static_cast<const T*>(slots[sa]);
      T* b = static_cast<T*>(slots[so]);
      const Axis &r = pool.rows, &c = pool.cols;
      const int64_t plane_in = r.in * c.in, plane_out = r.out * c.out;
      if (backward) std::fill(b, b + pool.planes * plane_in, T(0));
      const T* x = backward ? nullptr : a;
      T* dx = backward ? b : nullptr;
      for (int64_t plane = 0; plane < pool.planes; ++plane) {
        for (int64_t oy = 0, cell = 0; oy < r.out; ++oy) {
          for (int64_t ox = 0; ox < c.out; ++ox, ++cell) {
            const int64_t o = plane * plane_out + cell;
            const T share = backward ? static_cast<T>(a[o] / divisors[cell]) : T(0);
            double sum = 0;
            for (int64_t i = r.taps[oy].lo; i < r.taps[oy].hi; ++i) {
              const int64_t row = plane * plane_in + (r.start(oy) + i) * c.in + c.start(ox);
              for (int64_t j = c.taps[ox].lo; j < c.taps[ox].hi; ++j) {
                if (backward) {
                  dx[row + j] += share;
                } else {
                  sum += x[row + j];
                }
              }
            }
            if (!backward) b[o] = static_cast<T>(sum / divisors[cell]);
          }
        }
      }
    };
  });
}

}  // namespace

Kernel lower_pool(const LowerContext& ctx) {
  const std::string op = ir::op_name(ctx.node.kind);
  if (op == "max_pool2d") return lower_max_pool(ctx);
  if (op == "avg_pool2d") return lower_avg_pool(ctx, false);
  if (op == "avg_pool2d_backward") return lower_avg_pool(ctx, true);
  throw Unsupported("no kernel for " + op);
}

}  // namespace janus::cpu
