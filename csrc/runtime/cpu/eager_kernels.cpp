#include "runtime/cpu/eager_kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace janus::cpu {

// Each row: subtract the max (so exp cannot overflow), exponentiate, normalize.
// Accumulates in double for float inputs so long rows keep full precision.
template <typename T>
void softmax_rows(const T* in, T* out, size_t rows, size_t cols, bool log) {
  for (size_t r = 0; r < rows; ++r) {
    const T* x = in + r * cols;
    T* y = out + r * cols;
    T peak = -std::numeric_limits<T>::infinity();
    for (size_t c = 0; c < cols; ++c) peak = std::max(peak, x[c]);
    if (!std::isfinite(peak)) peak = 0;  // all -inf (or +inf/nan): let the math propagate
    double total = 0;
    for (size_t c = 0; c < cols; ++c) {
      const T shifted = x[c] - peak;
      const T e = std::exp(shifted);
      total += e;
      y[c] = log ? shifted : e;
    }
    if (log) {
      const T log_total = static_cast<T>(std::log(total));
      for (size_t c = 0; c < cols; ++c) y[c] -= log_total;
    } else {
      const T scale = static_cast<T>(1.0 / total);
      for (size_t c = 0; c < cols; ++c) y[c] *= scale;
    }
  }
}

template <typename T>
void sigmoid(const T* in, T* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const T e = std::exp(-std::fabs(in[i]));  // in (0, 1]: never overflows
    out[i] = (in[i] >= 0 ? T(1) : e) / (T(1) + e);
  }
}

template void sigmoid<float>(const float*, float*, size_t);
template void sigmoid<double>(const double*, double*, size_t);
template void softmax_rows<float>(const float*, float*, size_t, size_t, bool);
template void softmax_rows<double>(const double*, double*, size_t, size_t, bool);

}  // namespace janus::cpu
