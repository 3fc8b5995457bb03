// Sliding-window arithmetic shared by convolution and pooling: output sizes
// (janus.ops.convolution._out_size) and the range of output positions whose
// window tap lands inside the input, so inner loops need no bounds checks.
#pragma once

#include <algorithm>
#include <cstdint>

namespace janus::cpu {

// Floor and ceiling of a / b for b > 0 (C++ division truncates toward zero).
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// Output length along one dim: input `size`, kernel `k`, stride `s`, padding
// `p` (both sides), dilation `d`. In ceil mode the last window must start
// inside the input or the left padding (PyTorch's rule).
inline int64_t window_out_size(int64_t size, int64_t k, int64_t s, int64_t p, int64_t d,
                               bool ceil_mode) {
  const int64_t span = size + 2 * p - d * (k - 1) - 1;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? ceil_div(span, s) : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= size + p) --out;
  return out;
}

// Output positions o in [lo, hi) read input index o * s + offset inside
// [0, size); the others read padding. lo <= hi always.
struct Inside {
  int64_t lo, hi;
};
inline Inside inside_range(int64_t offset, int64_t s, int64_t size, int64_t out) {
  const int64_t lo = std::clamp<int64_t>(ceil_div(-offset, s), 0, out);
  const int64_t hi = std::clamp<int64_t>(floor_div(size - 1 - offset, s) + 1, lo, out);
  return {lo, hi};
}

}  // namespace janus::cpu
