// GEMM (BLAS when built with it) against a direct triple loop.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "runtime/cpu/gemm.h"

namespace janus::cpu {
namespace {

template <typename T>
void check(bool ta, bool tb, int64_t m, int64_t n, int64_t k) {
  std::mt19937 rng(static_cast<unsigned>(m * 131 + n * 7 + k));
  std::normal_distribution<double> normal;
  std::vector<T> a(m * k), b(k * n), c(m * n, T(1)), expected(m * n);
  for (T& x : a) x = static_cast<T>(normal(rng));
  for (T& x : b) x = static_cast<T>(normal(rng));
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        sum += double(ta ? a[p * lda + i] : a[i * lda + p]) *
               double(tb ? b[j * ldb + p] : b[p * ldb + j]);
      }
      expected[i * n + j] = static_cast<T>(2.0 * sum + 0.5 * 1.0);
    }
  }
  gemm<T>(ta, tb, m, n, k, T(2), a.data(), lda, b.data(), ldb, T(0.5), c.data(), n);
  const double tolerance = sizeof(T) == 4 ? 1e-4 : 1e-10;
  for (int64_t i = 0; i < m * n; ++i) {
    ASSERT_NEAR(c[i], expected[i], tolerance * (1 + std::abs(double(expected[i])))) << i;
  }
}

TEST(Gemm, MatchesTheDefinitionForEveryTransposition) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      check<float>(ta, tb, 20, 33, 17);
      check<double>(ta, tb, 7, 5, 64);
    }
  }
}

TEST(Gemm, ReportsWhetherBlasIsUsed) {
#if defined(JANUS_HAS_BLAS)
  EXPECT_TRUE(has_blas());
#else
  EXPECT_FALSE(has_blas());
#endif
}

}  // namespace
}  // namespace janus::cpu
