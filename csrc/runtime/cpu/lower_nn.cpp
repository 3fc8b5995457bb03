// Neural-network ops: softmax and log-softmax along any dim, the negative
// log-likelihood loss and its gradient, and the Philox random fills (the
// stream the eager generator uses, at offset attr + the run's shift).
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>

#include "runtime/cpu/dtype.h"
#include "runtime/cpu/eager_kernels.h"
#include "runtime/cpu/lower.h"
#include "runtime/rng/philox_cpu.h"

namespace janus::cpu {
namespace {

Kernel lower_softmax(const LowerContext& ctx, bool log) {
  const ir::TensorType& in = ctx.value(0)->type;
  const Shape shape = shape_of(in);
  if (in.dtype != ctx.out_type().dtype) throw Unsupported("softmax dtype");
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t dim = rank == 0 ? 0 : wrap_dim(ctx.attr("dim").i, rank);
  int64_t outer = 1, size = rank == 0 ? 1 : shape[dim], inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < dim) outer *= shape[d];
    if (d > dim) inner *= shape[d];
  }
  const int si = ctx.operand_slots[0], so = ctx.output_slots[0];
  return visit_float(in.dtype, [&](auto tag) -> Kernel {
    using T = typename decltype(tag)::type;
    if (inner == 1) {  // rows: the eager layer's kernel
      return [=](void* const* slots) {
        softmax_rows<T>(static_cast<const T*>(slots[si]), static_cast<T*>(slots[so]),
                        static_cast<size_t>(outer), static_cast<size_t>(size), log);
      };
    }
    return [=](void* const* slots) {
      const T* x = static_cast<const T*>(slots[si]);
      T* y = static_cast<T*>(slots[so]);
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          const T* p = x + o * size * inner + i;
          T* q = y + o * size * inner + i;
          T top = -std::numeric_limits<T>::infinity();
          for (int64_t k = 0; k < size; ++k) top = std::max(top, p[k * inner]);
          double sum = 0;
          for (int64_t k = 0; k < size; ++k) sum += std::exp(double(p[k * inner] - top));
          const double lse = std::log(sum);
          for (int64_t k = 0; k < size; ++k) {
            const double z = double(p[k * inner] - top);
            q[k * inner] = static_cast<T>(log ? z - lse : std::exp(z) / sum);
          }
        }
      }
    };
  });
}

// The per-row weights of nll_loss: weight[target] (1 without weights), 0 where
// target == ignore_index. Targets are bounds-checked as PyTorch does.
template <typename T>
void nll_row_weights(const int64_t* target, const T* weight, int64_t rows, int64_t classes,
                     int64_t ignore, T* w) {
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t t = target[i];
    if (t == ignore) {
      w[i] = 0;
      continue;
    }
    if (t < 0 || t >= classes) {
      throw std::out_of_range("Target " + std::to_string(t) + " is out of bounds.");
    }
    w[i] = weight ? weight[t] : T(1);
  }
}

Kernel lower_nll(const LowerContext& ctx, bool backward) {
  // nll_loss(logp[N, C], target[N], weight|none); nll_loss_backward(g, target, weight).
  const ir::TensorType& first = ctx.value(0)->type;
  const Shape target = shape_of(ctx.value(1)->type);
  if (target.size() != 1 || ctx.value(1)->type.dtype != ir::DType::kInt64) {
    throw Unsupported("nll_loss: target must be 1-D int64");
  }
  const int64_t rows = target[0];
  const int64_t classes = backward ? ctx.attr("classes").i : shape_of(first).at(1);
  if (!backward && shape_of(first).size() != 2) throw Unsupported("nll_loss: logp must be 2-D");
  const bool weighted = ctx.is_value(2);
  const int64_t ignore = ctx.attr("ignore_index").i;
  const std::string reduction = ctx.attr("reduction").s;
  const int s0 = ctx.operand_slots[0], st = ctx.operand_slots[1];
  const int sw = weighted ? ctx.operand_slots[2] : -1, so = ctx.output_slots[0];
  return visit_float(first.dtype, [&](auto tag) -> Kernel {
    using T = typename decltype(tag)::type;
    auto w = std::make_shared<std::vector<T>>(static_cast<size_t>(rows));
    return [=](void* const* slots) {
      const int64_t* t = static_cast<const int64_t*>(slots[st]);
      const T* weight = sw >= 0 ? static_cast<const T*>(slots[sw]) : nullptr;
      nll_row_weights<T>(t, weight, rows, classes, ignore, w->data());
      double total_w = 0;
      for (T v : *w) total_w += v;
      T* out = static_cast<T*>(slots[so]);
      if (!backward) {
        const T* logp = static_cast<const T*>(slots[s0]);
        double total = 0;
        for (int64_t i = 0; i < rows; ++i) {
          const int64_t c = (*w)[i] == T(0) && t[i] == ignore ? 0 : t[i];
          const T loss = -logp[i * classes + c] * (*w)[i];
          if (reduction == "none") out[i] = loss;
          total += loss;
        }
        if (reduction == "sum") out[0] = static_cast<T>(total);
        if (reduction == "mean") out[0] = static_cast<T>(total / total_w);
        return;
      }
      const T* g = static_cast<const T*>(slots[s0]);
      std::memset(out, 0, sizeof(T) * rows * classes);
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t c = t[i] == ignore ? 0 : t[i];
        const T gi = reduction == "none" ? g[i] : g[0];
        const T scale = reduction == "mean" ? static_cast<T>(1 / total_w) : T(1);
        out[i * classes + c] = -(*w)[i] * gi * scale;
      }
    };
  });
}

Kernel lower_philox(const LowerContext& ctx, bool normal) {
  const ir::TensorType& out = ctx.out_type();
  const size_t n = static_cast<size_t>(numel(shape_of(out)));
  const uint64_t seed = static_cast<uint64_t>(ctx.attr("seed").i);
  const int64_t offset = ctx.attr("offset").i;
  const int64_t* shift = ctx.rng_shift;
  const int so = ctx.output_slots[0];
  return visit_float(out.dtype, [&](auto tag) -> Kernel {
    using T = typename decltype(tag)::type;
    return [=](void* const* slots) {
      T* dst = static_cast<T*>(slots[so]);
      const uint64_t at = static_cast<uint64_t>(offset + *shift);
      if (normal) {
        rng::fill_normal(dst, n, seed, at);
      } else {
        rng::fill_uniform(dst, n, seed, at);
      }
    };
  });
}

}  // namespace

Kernel lower_nn(const LowerContext& ctx) {
  const std::string op = ir::op_name(ctx.node.kind);
  if (op == "softmax" || op == "log_softmax") return lower_softmax(ctx, op == "log_softmax");
  if (op == "nll_loss") return lower_nll(ctx, false);
  if (op == "nll_loss_backward") return lower_nll(ctx, true);
  if (op == "philox_uniform") return lower_philox(ctx, false);
  if (op == "philox_normal") return lower_philox(ctx, true);
  throw Unsupported("no kernel for " + op);
}

}  // namespace janus::cpu
