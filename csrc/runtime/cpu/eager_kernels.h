// Small CPU kernels the eager layer calls where numpy needs several passes and
// calls (softmax, sigmoid); the CPU runtime will run the same code. All take
// contiguous buffers.
#pragma once

#include <cstddef>

namespace janus::cpu {

template <typename T>
void softmax_rows(const T* in, T* out, size_t rows, size_t cols, bool log);

// 1 / (1 + exp(-x)), without overflow for large |x|.
template <typename T>
void sigmoid(const T* in, T* out, size_t n);

}  // namespace janus::cpu
