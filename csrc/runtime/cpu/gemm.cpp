#include "runtime/cpu/gemm.h"

#include <algorithm>
#include <atomic>

#if defined(JANUS_HAS_BLAS)
#include <cblas.h>
#endif

namespace janus::cpu {

bool has_blas() {
#if defined(JANUS_HAS_BLAS)
  return true;
#else
  return false;
#endif
}

#if defined(JANUS_HAS_BLAS)
namespace {

// The most threads one product may use (blas_threads()); starts at the
// library's own count.
std::atomic<int>& thread_cap() {
  static std::atomic<int> cap{std::max(1, static_cast<int>(scipy_openblas_get_num_threads64_()))};
  return cap;
}

// The count last handed to the library (it is process-wide; set only on change).
std::atomic<int>& library_threads() {
  static std::atomic<int> current{thread_cap().load()};
  return current;
}

}  // namespace
#endif

int blas_threads() {
#if defined(JANUS_HAS_BLAS)
  return thread_cap().load(std::memory_order_relaxed);
#else
  return 1;
#endif
}

void set_blas_threads(int threads) {
#if defined(JANUS_HAS_BLAS)
  thread_cap().store(std::max(1, threads), std::memory_order_relaxed);
#else
  (void)threads;
#endif
}

namespace {

// Reference product, used only where no BLAS was found at build time.
template <typename T>
void gemm_loops(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      T sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        const T x = ta ? a[p * lda + i] : a[i * lda + p];
        const T y = tb ? b[j * ldb + p] : b[p * ldb + j];
        sum += x * y;
      }
      c[i * ldc + j] = alpha * sum + (beta == T(0) ? T(0) : beta * c[i * ldc + j]);
    }
  }
}

#if defined(JANUS_HAS_BLAS)
// OpenBLAS splits every product past a tiny size across all its threads,
// which costs more than it saves on the smallest products, and where the
// cores are shared (threads spinning while they wait for one) many times
// more: 20x256x1024 took 1.6 ms on 2 threads of a loaded 2-core machine
// against 0.18 ms on one. So each product asks for one thread per
// kWorkPerThread multiply-adds (about 70 us of one core's work), at most the
// cap (blas_threads()); the library's setting changes only when that number
// does. The size is where a second thread pays on a quiet machine: with 2^23,
// an LSTM step's 20x256x1024 and an MLP layer's 64x784x256 ran on one thread
// at 0.8x and 0.7x numpy's matmul (two threads); with 2^21 both take two and
// match it (bench/gemm.py). A parallel schedule's workers share the cap
// (thread_pool.cpp), so branch-parallel programs stay at one thread each.
// Concurrent products may see each other's setting: that changes how a
// product is split, never its result.
constexpr int64_t kWorkPerThread = int64_t{1} << 21;

void use_threads_for(int64_t m, int64_t n, int64_t k) {
  const int64_t work = m * n * k;
  const int want = static_cast<int>(std::min<int64_t>(thread_cap().load(std::memory_order_relaxed),
                                                      std::max<int64_t>(1, work / kWorkPerThread)));
  if (library_threads().exchange(want, std::memory_order_relaxed) != want) {
    scipy_openblas_set_num_threads64_(want);
  }
}
#endif

// Empty products: BLAS rejects leading dimensions of 0, and C = beta * C.
template <typename T>
bool empty_product(int64_t m, int64_t n, int64_t k, T beta, T* c, int64_t ldc) {
  if (m > 0 && n > 0 && k > 0) return false;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
  }
  return true;
}

}  // namespace

template <>
void gemm<float>(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                 int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (empty_product(m, n, k, beta, c, ldc)) return;
#if defined(JANUS_HAS_BLAS)
  use_threads_for(m, n, k);
  scipy_cblas_sgemm64_(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                       tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                       ldc);
#else
  gemm_loops(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

template <>
void gemm<double>(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                  int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (empty_product(m, n, k, beta, c, ldc)) return;
#if defined(JANUS_HAS_BLAS)
  use_threads_for(m, n, k);
  scipy_cblas_dgemm64_(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                       tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                       ldc);
#else
  gemm_loops(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

}  // namespace janus::cpu
