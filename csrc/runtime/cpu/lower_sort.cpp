// sort and topk (janus.ops.sorting): values and int64 indices along one dim,
// in PyTorch's order, which the eager op follows: NaN above every number, ties
// in index order. Comparing (value, index) makes the order total, so the
// result is the stable one whatever sort algorithm runs, and topk can use a
// partial sort of its k first lines.
#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "runtime/cpu/dtype.h"
#include "runtime/cpu/lower.h"

namespace janus::cpu {
namespace {

template <typename T>
bool is_nan(T v) {
  return v != v;  // false for every integer type
}

// a strictly before b in ascending order (NaN last), or descending (NaN first).
template <typename T>
bool before(T a, T b, bool descending) {
  if (descending) std::swap(a, b);
  return a < b || (is_nan(b) && !is_nan(a));
}

struct Lines {
  int64_t outer = 1, size = 1, inner = 1;  // x viewed as (outer, size, inner), sorted along size
};

// sort (k == size) or topk: for each line, the first k positions of the order.
template <typename T>
Kernel select_kernel(Lines lines, int64_t k, bool descending, int sx, int sv, int si) {
  struct Scratch {
    std::vector<T> line;
    std::vector<int64_t> order;
  };
  auto scratch = std::make_shared<Scratch>();
  scratch->line.resize(static_cast<size_t>(lines.size));
  scratch->order.resize(static_cast<size_t>(lines.size));
  return [=](void* const* slots) {
    const T* x = static_cast<const T*>(slots[sx]);
    T* values = static_cast<T*>(slots[sv]);
    int64_t* indices = static_cast<int64_t*>(slots[si]);
    std::vector<T>& line = scratch->line;
    std::vector<int64_t>& order = scratch->order;
    auto less = [&](int64_t a, int64_t b) {
      if (before(line[a], line[b], descending)) return true;
      return !before(line[b], line[a], descending) && a < b;
    };
    for (int64_t o = 0; o < lines.outer; ++o) {
      for (int64_t i = 0; i < lines.inner; ++i) {
        const int64_t in = o * lines.size * lines.inner + i, out = o * k * lines.inner + i;
        for (int64_t j = 0; j < lines.size; ++j) line[j] = x[in + j * lines.inner];
        std::iota(order.begin(), order.end(), int64_t{0});
        if (k == lines.size) {
          std::sort(order.begin(), order.end(), less);
        } else {
          std::partial_sort(order.begin(), order.begin() + k, order.end(), less);
        }
        for (int64_t j = 0; j < k; ++j) {
          values[out + j * lines.inner] = line[order[j]];
          indices[out + j * lines.inner] = order[j];
        }
      }
    }
  };
}

}  // namespace

Kernel lower_sort(const LowerContext& ctx) {
  const std::string op = ir::op_name(ctx.node.kind);
  const ir::TensorType& in = ctx.value(0)->type;
  const Shape shape = shape_of(in);
  if (shape.empty()) throw Unsupported(op + " of a 0-d tensor");
  if (ctx.out_type(0).dtype != in.dtype || ctx.out_type(1).dtype != ir::DType::kInt64) {
    throw Unsupported(op + " dtypes");
  }
  const int64_t dim = wrap_dim(ctx.attr("dim").i, static_cast<int64_t>(shape.size()));
  Lines lines;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    (d < dim ? lines.outer : d == dim ? lines.size : lines.inner) *= shape[d];
  }
  int64_t k = lines.size;
  bool descending;
  if (op == "sort") {
    descending = ctx.attr("descending").b;
  } else {
    k = ctx.attr("k").i;
    descending = ctx.attr("largest").b;
    // The eager op raises for these (PyTorch has no bool topk).
    if (k < 0 || k > lines.size || in.dtype == ir::DType::kBool) throw Unsupported("topk");
  }
  Shape out = shape;
  out[dim] = k;
  if (shape_of(ctx.out_type(0)) != out || shape_of(ctx.out_type(1)) != out) {
    throw Unsupported(op + ": output shape");
  }
  const int sx = ctx.operand_slots[0], sv = ctx.output_slots[0], si = ctx.output_slots[1];
  return visit(in.dtype, [&](auto tag) -> Kernel {
    return select_kernel<typename decltype(tag)::type>(lines, k, descending, sx, sv, si);
  });
}

}  // namespace janus::cpu
