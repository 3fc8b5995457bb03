// The AVX2 + FMA transcendental functions against the C library: within a few
// ulp over wide input ranges, exact on special values (inf, nan, +-0,
// denormals, overflow and underflow), and independent of the array length.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "runtime/cpu/vector_math.h"

namespace janus::cpu {
namespace {

template <typename T>
using ArrayFn = void (*)(const T*, T*, int64_t);

// Distance in representable numbers (0 for equal values and for two NaNs).
template <typename T>
int64_t ulp_distance(T a, T b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
  if (a == b) return 0;  // also +0 and -0: checked separately where the sign matters
  if (std::isinf(a) || std::isinf(b)) return INT64_MAX;
  auto ordered = [](T v) {
    using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
    I bits;
    std::memcpy(&bits, &v, sizeof v);
    const int64_t wide = bits;
    return wide < 0 ? std::numeric_limits<I>::min() - wide : wide;
  };
  const int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

template <typename T>
T scalar_sigmoid(T x) {  // the scalar kernel's formula
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

template <typename T>
struct Case {
  std::string name;
  ArrayFn<T> vector;
  T (*reference)(T);
  int64_t max_ulp;
  // Inputs not compared: silu where sigmoid(x) is a denormal, whose few
  // significant bits make the scalar kernel's product as inexact as ours.
  bool (*skip)(T) = nullptr;
};

template <typename T>
std::vector<Case<T>> cases() {
  return {
      {"exp", &vmath::exp, [](T x) { return std::exp(x); }, 2},
      {"expm1", &vmath::expm1, [](T x) { return std::expm1(x); }, 3},
      {"log", &vmath::log, [](T x) { return std::log(x); }, 2},
      {"tanh", &vmath::tanh, [](T x) { return std::tanh(x); }, 4},
      {"sigmoid", &vmath::sigmoid, &scalar_sigmoid<T>, 3},
      {"silu", &vmath::silu, [](T x) { return x * scalar_sigmoid(x); }, 4,
       [](T x) { return scalar_sigmoid(x) < std::numeric_limits<T>::min(); }},
  };
}

// Inputs: dense near 0, uniform over the ranges where results change, log-
// uniform magnitudes from the smallest denormal to the largest finite number,
// and the special values.
template <typename T>
std::vector<T> inputs() {
  using L = std::numeric_limits<T>;
  std::vector<T> xs = {0,
                       -T(0),
                       L::infinity(),
                       -L::infinity(),
                       L::quiet_NaN(),
                       -L::quiet_NaN(),
                       L::denorm_min(),
                       -L::denorm_min(),
                       L::min(),
                       -L::min(),
                       L::min() / 3,
                       L::max(),
                       -L::max(),
                       L::epsilon(),
                       1,
                       -1,
                       T(0.5),
                       T(88.72),
                       T(-87.33),
                       T(-103.9),
                       T(709.78),
                       T(-708.4),
                       T(-745.1)};
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<T> near(-2, 2), wide(-120, 120), huge(-800, 800);
  std::uniform_real_distribution<double> exponent(std::log2(static_cast<double>(L::denorm_min())),
                                                  std::log2(static_cast<double>(L::max())) - 1);
  for (int k = 0; k < 40000; ++k) {
    xs.push_back(near(rng));
    xs.push_back(wide(rng));
    xs.push_back(huge(rng));
    const T magnitude = static_cast<T>(std::exp2(exponent(rng)));
    xs.push_back(k % 2 ? magnitude : -magnitude);
  }
  return xs;
}

template <typename T>
void check_against_libm() {
  if (!vector_math_available()) GTEST_SKIP() << "no AVX2 + FMA on this CPU";
  const std::vector<T> xs = inputs<T>();
  std::vector<T> ys(xs.size());
  for (const Case<T>& c : cases<T>()) {
    c.vector(xs.data(), ys.data(), static_cast<int64_t>(xs.size()));
    int64_t worst = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      if (c.skip != nullptr && c.skip(xs[i])) continue;
      const T want = c.reference(xs[i]);
      const int64_t d = ulp_distance(ys[i], want);
      worst = std::max(worst, d);
      EXPECT_LE(d, c.max_ulp) << c.name << "(" << xs[i] << ") = " << ys[i] << ", libm " << want;
      if (want == 0 && !std::isnan(xs[i])) {
        EXPECT_EQ(std::signbit(ys[i]), std::signbit(want)) << c.name << "(" << xs[i] << ")";
      }
      if (d > c.max_ulp) break;  // one report per function is enough
    }
    std::printf("%-8s %s: worst %lld ulp\n", c.name.c_str(), sizeof(T) == 4 ? "f32" : "f64",
                static_cast<long long>(worst));
  }
}

TEST(VectorMath, Float32WithinAFewUlpOfLibm) { check_against_libm<float>(); }
TEST(VectorMath, Float64WithinAFewUlpOfLibm) { check_against_libm<double>(); }

TEST(VectorMath, SpecialValuesExactly) {
  if (!vector_math_available()) GTEST_SKIP() << "no AVX2 + FMA on this CPU";
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {inf, -inf, 0.0f, -0.0f, 100.0f, -120.0f, -1.0f};
  std::vector<float> y(x.size());
  vmath::exp(x.data(), y.data(), 7);
  EXPECT_EQ(y[0], inf);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_EQ(y[2], 1.0f);
  EXPECT_EQ(y[4], inf);
  EXPECT_EQ(y[5], 0.0f);
  vmath::log(x.data(), y.data(), 7);
  EXPECT_EQ(y[0], inf);
  EXPECT_TRUE(std::isnan(y[1]));
  EXPECT_EQ(y[2], -inf);
  EXPECT_EQ(y[3], -inf);
  EXPECT_TRUE(std::isnan(y[6]));
  vmath::tanh(x.data(), y.data(), 7);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_TRUE(y[3] == 0.0f && std::signbit(y[3]));
  vmath::sigmoid(x.data(), y.data(), 7);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_EQ(y[2], 0.5f);
  vmath::expm1(x.data(), y.data(), 7);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_TRUE(y[3] == 0.0f && std::signbit(y[3]));
}

// The partial last vector goes through a padded copy: the same bits as in a
// full vector, and nothing past the end is written.
TEST(VectorMath, ResultsDoNotDependOnTheLength) {
  if (!vector_math_available()) GTEST_SKIP() << "no AVX2 + FMA on this CPU";
  std::vector<double> x(13);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.37 * static_cast<double>(i) - 2.0;
  std::vector<double> all(13);
  vmath::tanh(x.data(), all.data(), 13);
  for (int64_t n = 0; n <= 13; ++n) {
    std::vector<double> part(14, 42.0);
    vmath::tanh(x.data(), part.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(part[i], all[i]) << n << " " << i;
    EXPECT_EQ(part[n], 42.0) << n;
  }
  // In place.
  std::vector<double> y = x;
  vmath::tanh(y.data(), y.data(), 13);
  EXPECT_EQ(y, all);
}

}  // namespace
}  // namespace janus::cpu
