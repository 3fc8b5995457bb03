// How the CPU runtime combines a reduction's elements, in one place so that
// the unfused reduction kernels (lower_reduction.cpp) and the reductions
// folded into a fused group (elementwise_reduce.cpp) give the same bits.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

namespace janus::cpu {

// Float sums along a contiguous run of at least kLaneMinRun elements keep
// kSumLanes partial sums in double: element p of the run goes to lane
// p % kSumLanes, and the lanes are added in lane order at the end. The
// lanes' adds do not wait on each other (a single double add chain waits on
// every add, about 4x slower), and the order is still fixed. Shorter or
// strided runs use one sum in element order.
constexpr int64_t kSumLanes = 8;
constexpr int64_t kLaneMinRun = 64;

// Adds x[0..n) to `lanes` (kSumLanes of them): x[j] to lane (pos + j) % kSumLanes.
template <typename T>
void add_to_lanes(double* lanes, const T* x, int64_t pos, int64_t n) {
  double local[kSumLanes];  // kept in registers across the loop
  std::copy_n(lanes, kSumLanes, local);
  int64_t j = 0;
  for (; j < n && (pos + j) % kSumLanes != 0; ++j) local[(pos + j) % kSumLanes] += x[j];
  for (; j + kSumLanes <= n; j += kSumLanes) {
    for (int64_t k = 0; k < kSumLanes; ++k) local[k] += x[j + k];
  }
  for (; j < n; ++j) local[(pos + j) % kSumLanes] += x[j];
  std::copy_n(local, kSumLanes, lanes);
}

inline double total_of_lanes(const double* lanes) {
  double total = lanes[0];
  for (int64_t k = 1; k < kSumLanes; ++k) total += lanes[k];
  return total;
}

// amax/amin folding in one more element: NaN when either is NaN, as numpy.
template <bool kMax, typename T>
T fold_extreme(T acc, T x) {
  if (x != x || acc != acc) return std::numeric_limits<T>::quiet_NaN();
  return kMax ? std::max(acc, x) : std::min(acc, x);
}

}  // namespace janus::cpu
