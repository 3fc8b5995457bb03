#include "runtime/cpu/elementwise_reduce.h"

#include <algorithm>
#include <limits>
#include <string>

#include "runtime/cpu/dtype.h"
#include "runtime/cpu/reduction_order.h"

namespace janus::cpu {

void ElementwiseBuilder::reduce(int reg, int slot, const std::string& op,
                                const std::vector<bool>& reduced) {
  if (reduced.size() != shape_.size()) throw Unsupported("reduction dims of another rank");
  const ir::DType dtype = regs_.at(reg).dtype;
  if (dtype != ir::DType::kFloat32 && dtype != ir::DType::kFloat64) {
    throw Unsupported(std::string("a fused reduction of ") + ir::dtype_name(dtype));
  }
  Reduction r;
  if (op == "sum") {
    r.op = Reduction::Op::kSum;
  } else if (op == "mean") {
    r.op = Reduction::Op::kMean;
  } else if (op == "amax") {
    r.op = Reduction::Op::kMax;
  } else if (op == "amin") {
    r.op = Reduction::Op::kMin;
  } else {
    throw Unsupported("no fused reduction " + op);
  }
  // The kept dims must be one block, size-1 dims aside: reduced dims before
  // it (`outer` elements), the kept ones, reduced dims after it (`run`).
  // Each output's elements then come in runs of `run`, one per outer index
  // (rows; one run when nothing is reduced before the kept block), or, when
  // nothing is reduced after it, one element per output in turn (columns).
  int64_t outer = 1, kept = 1, run = 1;
  bool any_kept = false, kept_block_ended = false;
  for (size_t d = 0; d < shape_.size(); ++d) {
    if (shape_[d] == 1) continue;
    if (!reduced[d]) {
      if (kept_block_ended) throw Unsupported("a fused reduction over dims between kept ones");
      kept *= shape_[d];
      any_kept = true;
    } else if (any_kept) {
      run *= shape_[d];
      kept_block_ended = true;
    } else {
      outer *= shape_[d];
    }
  }
  if (!any_kept) std::swap(outer, run);  // (everything reduced: one run)
  r.reg = reg;
  r.slot = slot;
  r.rows = run > 1 || outer == 1;
  r.inner = r.rows ? run : kept;
  r.outputs = kept;
  r.count = outer * run;
  r.lanes = r.rows && (r.op == Reduction::Op::kSum || r.op == Reduction::Op::kMean) &&
            r.inner >= kLaneMinRun;
  reductions_.push_back(r);
}

namespace {

using Reduction = ElementwiseBuilder::Reduction;

// Calls f(output, position among its elements, i, count) for each run of
// elements [i, i + count) of [start, start + n) that belong to one output,
// for rows: flat index e is element (e / (inner * outputs)) * inner +
// e % inner of output (e / inner) % outputs.
template <typename F>
void for_each_run(const Reduction& r, int64_t start, int64_t n, F f) {
  const int64_t block = r.inner * r.outputs;
  for (int64_t i = 0; i < n;) {
    const int64_t e = start + i, in_run = e % r.inner;
    const int64_t take = std::min(n - i, r.inner - in_run);
    f((e / r.inner) % r.outputs, (e / block) * r.inner + in_run, i, take);
    i += take;
  }
}

// Rows summed in lanes: acc holds kSumLanes partial sums per output.
template <typename T>
void fold_lanes(const Reduction& r, const T* v, int64_t start, int64_t n, double* acc) {
  for_each_run(r, start, n, [&](int64_t o, int64_t pos, int64_t i, int64_t take) {
    add_to_lanes(acc + o * kSumLanes, v + i, pos, take);
  });
}

// One accumulator per output, each output's elements folded in order.
template <typename T, typename Fold>
void fold_in_order(const Reduction& r, const T* v, int64_t start, int64_t n, double* acc,
                   Fold fold) {
  if (r.rows) {
    for_each_run(r, start, n, [&](int64_t o, int64_t, int64_t i, int64_t take) {
      double a = acc[o];
      for (int64_t j = 0; j < take; ++j) a = fold(a, v[i + j]);
      acc[o] = a;
    });
  } else {
    int64_t k = start % r.inner;
    for (int64_t i = 0; i < n;) {
      const int64_t take = std::min(n - i, r.inner - k);
      double* __restrict a = acc + k;
      const T* __restrict x = v + i;
      for (int64_t j = 0; j < take; ++j) a[j] = fold(a[j], x[j]);
      i += take;
      k += take;
      if (k == r.inner) k = 0;
    }
  }
}

template <typename T>
void fold_chunk(const Reduction& r, const void* chunk, int64_t start, int64_t n, double* acc) {
  const T* v = static_cast<const T*>(chunk);
  switch (r.op) {
    case Reduction::Op::kSum:
    case Reduction::Op::kMean:
      if (r.lanes) return fold_lanes(r, v, start, n, acc);
      return fold_in_order(r, v, start, n, acc, [](double a, T x) { return a + x; });
    case Reduction::Op::kMax:
      return fold_in_order(r, v, start, n, acc,
                           [](double a, T x) { return fold_extreme<true, double>(a, x); });
    case Reduction::Op::kMin:
      return fold_in_order(r, v, start, n, acc,
                           [](double a, T x) { return fold_extreme<false, double>(a, x); });
  }
}

template <typename T>
void finish_chunks(const Reduction& r, const double* acc, void* out) {
  T* y = static_cast<T*>(out);
  for (int64_t o = 0; o < r.outputs; ++o) {
    double v = r.lanes ? total_of_lanes(acc + o * kSumLanes) : acc[o];
    if (r.op == Reduction::Op::kMean) {
      v = r.count ? v / static_cast<double>(r.count) : std::numeric_limits<double>::quiet_NaN();
    }
    y[o] = static_cast<T>(v);
  }
}

}  // namespace

ReductionFold::ReductionFold(const Reduction& reduction, ir::DType dtype)
    : reduction_(reduction),
      acc_(static_cast<size_t>(reduction.outputs * (reduction.lanes ? kSumLanes : 1))) {
  const bool single = dtype == ir::DType::kFloat32;
  fold_ = single ? fold_chunk<float> : fold_chunk<double>;
  finish_ = single ? finish_chunks<float> : finish_chunks<double>;
}

void ReductionFold::start() {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const Reduction::Op op = reduction_.op;
  std::fill(acc_.begin(), acc_.end(),
            op == Reduction::Op::kMax   ? -kInf
            : op == Reduction::Op::kMin ? kInf
                                        : 0.0);
}

void ReductionFold::add(const void* chunk, int64_t start, int64_t n) {
  fold_(reduction_, chunk, start, n, acc_.data());
}

void ReductionFold::finish(void* out) const { finish_(reduction_, acc_.data(), out); }

}  // namespace janus::cpu
