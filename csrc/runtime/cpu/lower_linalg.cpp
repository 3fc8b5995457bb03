// matmul (numpy's rules: 1-D operands promoted, batch dims broadcast) and
// linear, on GEMM (gemm.h: BLAS when the build has it).
#include <algorithm>
#include <cstring>
#include <utility>

#include "runtime/cpu/dtype.h"
#include "runtime/cpu/gemm.h"
#include "runtime/cpu/lower.h"

namespace janus::cpu {
namespace {

bool flag(const LowerContext& ctx, const char* name) {
  const ir::Attr* attr = ctx.attr_or_null(name);
  return attr != nullptr && (attr->kind == ir::Attr::Kind::kBool ? attr->b : attr->i != 0);
}

Kernel lower_matmul(const LowerContext& ctx) {
  const ir::DType dtype = ctx.out_type().dtype;
  Shape a = shape_of(ctx.value(0)->type), b = shape_of(ctx.value(1)->type);
  if (ctx.value(0)->type.dtype != dtype || ctx.value(1)->type.dtype != dtype) {
    throw Unsupported("matmul of mixed dtypes");
  }
  if (a.empty() || b.empty()) throw Unsupported("matmul of a scalar");
  // A transposed operand (passes/fold_transposes.cpp) is read through BLAS's
  // transpose flag: its matrices are stored [k, m] (a) or [n, k] (b).
  const bool trans_a = flag(ctx, "transpose_a"), trans_b = flag(ctx, "transpose_b");
  if ((trans_a && a.size() < 2) || (trans_b && b.size() < 2)) {
    throw Unsupported("matmul: a transposed operand must be a matrix");
  }
  if (trans_a) std::swap(a[a.size() - 2], a.back());
  if (trans_b) std::swap(b[b.size() - 2], b.back());
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  const int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  if (b[b.size() - 2] != k) throw Unsupported("matmul: inner dims differ");
  const Shape a_batch(a.begin(), a.end() - 2), b_batch(b.begin(), b.end() - 2);
  Shape batch(std::max(a_batch.size(), b_batch.size()), 1);
  for (size_t d = 0; d < batch.size(); ++d) {
    const size_t da = d + a_batch.size(), db = d + b_batch.size();
    const int64_t sa = da >= batch.size() ? a_batch[da - batch.size()] : 1;
    const int64_t sb = db >= batch.size() ? b_batch[db - batch.size()] : 1;
    batch[d] = std::max(sa, sb);
  }
  // Per batch element: the offsets of its a and b matrices (broadcast).
  const Strides a_str = broadcast_strides(a_batch, batch),
                b_str = broadcast_strides(b_batch, batch);
  const int64_t count = numel(batch);
  std::vector<std::pair<int64_t, int64_t>> offsets;
  std::vector<int64_t> index(batch.size(), 0);
  for (int64_t e = 0; e < count; ++e) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < batch.size(); ++d) {
      oa += index[d] * a_str[d] * m * k;
      ob += index[d] * b_str[d] * k * n;
    }
    offsets.emplace_back(oa, ob);
    for (size_t d = batch.size(); d-- > 0;) {
      if (++index[d] < batch[d]) break;
      index[d] = 0;
    }
  }
  // b shared by every batch element, a contiguous (and not transposed): one
  // GEMM with m * count rows.
  const bool one_gemm = !trans_a && (b_batch.empty() || numel(b_batch) == 1);
  const int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
  const bool a_full = numel(a_batch) == count;
  const int sa = ctx.operand_slots[0], sb = ctx.operand_slots[1], so = ctx.output_slots[0];
  return visit_float(dtype, [&](auto tag) -> Kernel {
    using T = typename decltype(tag)::type;
    return [=](void* const* slots) {
      const T* x = static_cast<const T*>(slots[sa]);
      const T* y = static_cast<const T*>(slots[sb]);
      T* z = static_cast<T*>(slots[so]);
      if (one_gemm && a_full) {
        gemm<T>(false, trans_b, m * count, n, k, T(1), x, k, y, ldb, T(0), z, n);
        return;
      }
      for (int64_t e = 0; e < count; ++e) {
        gemm<T>(trans_a, trans_b, m, n, k, T(1), x + offsets[e].first, lda, y + offsets[e].second,
                ldb, T(0), z + e * m * n, n);
      }
    };
  });
}

// linear(x, w, b): x[..., in] @ w[out, in]^T + b[out].
Kernel lower_linear(const LowerContext& ctx) {
  const ir::DType dtype = ctx.out_type().dtype;
  const Shape x = shape_of(ctx.value(0)->type), w = shape_of(ctx.value(1)->type);
  if (x.empty() || w.size() != 2 || ctx.value(0)->type.dtype != dtype ||
      ctx.value(1)->type.dtype != dtype) {
    throw Unsupported("linear shapes or dtypes");
  }
  const bool has_bias = ctx.node.operands.size() > 2 && ctx.is_value(2);
  if (has_bias &&
      (shape_of(ctx.value(2)->type) != Shape{w[0]} || ctx.value(2)->type.dtype != dtype)) {
    throw Unsupported("linear bias");
  }
  const int64_t in = w[1], out = w[0], rows = numel(x) / std::max<int64_t>(in, 1);
  const int sx = ctx.operand_slots[0], sw = ctx.operand_slots[1];
  const int sb = has_bias ? ctx.operand_slots[2] : -1, so = ctx.output_slots[0];
  return visit_float(dtype, [&](auto tag) -> Kernel {
    using T = typename decltype(tag)::type;
    return [=](void* const* slots) {
      T* y = static_cast<T*>(slots[so]);
      if (sb >= 0) {
        const T* bias = static_cast<const T*>(slots[sb]);
        for (int64_t r = 0; r < rows; ++r) std::memcpy(y + r * out, bias, sizeof(T) * out);
      }
      gemm<T>(false, true, rows, out, in, T(1), static_cast<const T*>(slots[sx]), in,
              static_cast<const T*>(slots[sw]), in, sb >= 0 ? T(1) : T(0), y, out);
    };
  });
}

}  // namespace

Kernel lower_linalg(const LowerContext& ctx) {
  const std::string op = ir::op_name(ctx.node.kind);
  if (op == "matmul") return lower_matmul(ctx);
  return lower_linear(ctx);
}

}  // namespace janus::cpu
