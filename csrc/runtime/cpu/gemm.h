// Matrix products for the CPU runtime, through BLAS (scipy-openblas64) when the
// build found it (`has_blas()`), else through a plain loop kept for builds
// without it: C = alpha * op(A) @ op(B) + beta * C, row-major.
#pragma once

#include <cstdint>

namespace janus::cpu {

bool has_blas();

// The most OpenBLAS threads one product may use, process-wide (this OpenBLAS
// exports no per-thread setting); each product asks for fewer when it is too
// small to gain from more (gemm.cpp). It starts at the library's own count.
// While a program runs branches in parallel, its workers share the cores
// (runtime/cpu/thread_pool.cpp). Without BLAS these do nothing and report 1.
int blas_threads();
void set_blas_threads(int threads);

template <typename T>
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace janus::cpu
