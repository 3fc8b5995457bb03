// The small CPU kernels (csrc/runtime/cpu/eager_kernels.*) against direct formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "runtime/cpu/eager_kernels.h"

namespace janus::cpu {
namespace {

TEST(EagerKernels, SoftmaxRowsSumToOneAndMatchTheFormula) {
  const std::vector<double> x = {1.0, 2.0, 3.0, -1000.0, 0.0, 1000.0};
  std::vector<double> y(6), logy(6);
  softmax_rows(x.data(), y.data(), 2, 3, false);
  softmax_rows(x.data(), logy.data(), 2, 3, true);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(y[0], std::exp(1.0) / z, 1e-15);
  EXPECT_NEAR(y[2], std::exp(3.0) / z, 1e-15);
  EXPECT_NEAR(y[3] + y[4] + y[5], 1.0, 1e-15);  // huge logits do not overflow
  EXPECT_DOUBLE_EQ(y[5], 1.0);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(std::exp(logy[i]), y[i], 1e-12);
  EXPECT_DOUBLE_EQ(logy[3], -2000.0);
}

TEST(EagerKernels, SoftmaxOfNegativeInfinityRowGivesNan) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {-inf, -inf};
  std::vector<float> y(2);
  softmax_rows(x.data(), y.data(), 1, 2, false);
  EXPECT_TRUE(std::isnan(y[0]));  // as PyTorch: 0/0
}

TEST(EagerKernels, SigmoidIsStableAtTheExtremes) {
  const std::vector<float> x = {0.0f, 2.0f, -2.0f, 100.0f, -100.0f};
  std::vector<float> y(5);
  sigmoid(x.data(), y.data(), 5);
  EXPECT_FLOAT_EQ(y[0], 0.5f);
  EXPECT_FLOAT_EQ(y[1], 1.0f / (1.0f + std::exp(-2.0f)));
  EXPECT_FLOAT_EQ(y[1] + y[2], 1.0f);
  EXPECT_FLOAT_EQ(y[3], 1.0f);
  EXPECT_GT(y[4], 0.0f);  // exp(-100) in float: tiny, not zero
  EXPECT_NEAR(y[4], 3.7200759760208356e-44, 1e-45);
}

}  // namespace
}  // namespace janus::cpu
