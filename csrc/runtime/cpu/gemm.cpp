#include "runtime/cpu/gemm.h"

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

int blas_threads() {
#if defined(JANUS_HAS_BLAS)
  return scipy_openblas_get_num_threads64_();
#else
  return 1;
#endif
}

void set_blas_threads(int threads) {
#if defined(JANUS_HAS_BLAS)
  scipy_openblas_set_num_threads64_(threads);
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
  scipy_cblas_dgemm64_(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                       tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                       ldc);
#else
  gemm_loops(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

}  // namespace janus::cpu
