// Reductions at the end of an elementwise kernel (ElementwiseBuilder::reduce):
// the engine folds each chunk of a reduced register into per-output
// accumulators as the chunks stream by, in the order of reduction_order.h,
// so a fused group's sums give the unfused kernels' bits.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/types.h"
#include "runtime/cpu/elementwise.h"

namespace janus::cpu {

class ReductionFold {
 public:
  using Reduction = ElementwiseBuilder::Reduction;
  // `dtype`: the reduced register's, float32 or float64.
  ReductionFold(const Reduction& reduction, ir::DType dtype);

  const Reduction& reduction() const { return reduction_; }
  // Before a run: every accumulator at the op's starting value.
  void start();
  // Elements [start, start + n) of the iteration space, from one chunk.
  void add(const void* chunk, int64_t start, int64_t n);
  // After a run: the results, in the register's dtype, into `out`.
  void finish(void* out) const;

 private:
  using FoldFn = void (*)(const Reduction&, const void* chunk, int64_t start, int64_t n,
                          double* acc);
  using FinishFn = void (*)(const Reduction&, const double* acc, void* out);

  Reduction reduction_;
  std::vector<double> acc_;  // per output element: one, or kSumLanes partial sums
  FoldFn fold_;
  FinishFn finish_;
};

}  // namespace janus::cpu
