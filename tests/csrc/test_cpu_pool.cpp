// max_pool2d, avg_pool2d and avg_pool2d_backward in the CPU executor, against
// direct loops over the definition: strides, padding, dilation, ceil mode,
// count_include_pad, divisor_override, ties and NaN (PyTorch: the last NaN), integer inputs, and
// attributes the kernel must refuse.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/program.h"

namespace janus::cpu {
namespace {

struct PoolCase {
  int64_t n, c, h, w, kh, kw, sh, sw, ph, pw, dh = 1, dw = 1;
  bool ceil_mode = false;

  static int64_t out(int64_t size, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
    const double span = double(size + 2 * p - d * (k - 1) - 1) / s;
    int64_t o = static_cast<int64_t>(ceil ? std::ceil(span) : std::floor(span)) + 1;
    if (ceil && (o - 1) * s >= size + p) --o;
    return o;
  }
  int64_t oh() const { return out(h, kh, sh, ph, dh, ceil_mode); }
  int64_t ow() const { return out(w, kw, sw, pw, dw, ceil_mode); }
  std::string x_type() const { return dims({n, c, h, w}); }
  std::string y_type() const { return dims({n, c, oh(), ow()}); }
  static std::string dims(std::vector<int64_t> v) {
    std::string text = "[";
    for (size_t i = 0; i < v.size(); ++i) text += (i ? "," : "") + std::to_string(v[i]);
    return text + "]";
  }
  std::string pairs(bool dilation) const {
    std::string text = "ceil_mode=" + std::string(ceil_mode ? "true" : "false") + ", kernel=[" +
                       std::to_string(kh) + ", " + std::to_string(kw) + "], padding=[" +
                       std::to_string(ph) + ", " + std::to_string(pw) + "], stride=[" +
                       std::to_string(sh) + ", " + std::to_string(sw) + "]";
    if (dilation) text += ", dilation=[" + std::to_string(dh) + ", " + std::to_string(dw) + "]";
    return text;
  }
};

std::vector<float> random_values(size_t count, uint32_t seed) {
  std::vector<float> v(count);
  for (auto& e : v) {
    seed = seed * 1664525u + 1013904223u;
    e = static_cast<float>((seed >> 8) % 41) / 8.0f - 2.5f;  // coarse: ties happen
  }
  return v;
}

void check_max(const PoolCase& k) {
  const std::string text = "graph(%x: f32" + k.x_type() + ") {\n  %v: f32" + k.y_type() +
                           ", %i: i64" + k.y_type() + " = max_pool2d(%x) {" + k.pairs(true) +
                           "}\n  return %v, %i\n}";
  Program p(ir::parse(text), {});
  const auto x = random_values(k.n * k.c * k.h * k.w, 7);
  const size_t ny = k.n * k.c * k.oh() * k.ow();
  std::vector<float> v(ny);
  std::vector<int64_t> idx(ny);
  p.run({const_cast<float*>(x.data())}, {v.data(), idx.data()});
  size_t o = 0;
  for (int64_t plane = 0; plane < k.n * k.c; ++plane) {
    for (int64_t y = 0; y < k.oh(); ++y) {
      for (int64_t z = 0; z < k.ow(); ++z, ++o) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t at = -1;
        for (int64_t i = 0; i < k.kh; ++i) {
          for (int64_t j = 0; j < k.kw; ++j) {
            const int64_t r = y * k.sh - k.ph + i * k.dh, s = z * k.sw - k.pw + j * k.dw;
            if (r < 0 || r >= k.h || s < 0 || s >= k.w) continue;
            const float e = x[plane * k.h * k.w + r * k.w + s];
            if (at < 0 || e > best) best = e, at = r * k.w + s;
          }
        }
        ASSERT_EQ(v[o], best) << "at " << o;
        ASSERT_EQ(idx[o], at) << "at " << o;
      }
    }
  }
}

void check_avg(const PoolCase& k, bool include_pad, int64_t divisor_override) {
  const std::string attrs =
      k.pairs(false) + ", count_include_pad=" + (include_pad ? "true" : "false") +
      ", divisor_override=" + (divisor_override ? std::to_string(divisor_override) : "none");
  const std::string text = "graph(%x: f32" + k.x_type() + ", %g: f32" + k.y_type() +
                           ") {\n  %y: f32" + k.y_type() + " = avg_pool2d(%x) {" + attrs +
                           "}\n  %dx: f32" + k.x_type() + " = avg_pool2d_backward(%g) {" + attrs +
                           ", x_shape=" + k.x_type() + "}\n  return %y, %dx\n}";
  Program p(ir::parse(text), {});
  const size_t nx = k.n * k.c * k.h * k.w, ny = k.n * k.c * k.oh() * k.ow();
  const auto x = random_values(nx, 3), g = random_values(ny, 5);
  std::vector<float> y(ny), dx(nx);
  p.run({const_cast<float*>(x.data()), const_cast<float*>(g.data())}, {y.data(), dx.data()});
  std::vector<double> dx_ref(nx);
  size_t o = 0;
  for (int64_t plane = 0; plane < k.n * k.c; ++plane) {
    for (int64_t a = 0; a < k.oh(); ++a) {
      for (int64_t b = 0; b < k.ow(); ++b, ++o) {
        double sum = 0, cells = 0;
        std::vector<int64_t> inside;
        for (int64_t r = a * k.sh - k.ph; r < a * k.sh - k.ph + k.kh; ++r) {
          for (int64_t s = b * k.sw - k.pw; s < b * k.sw - k.pw + k.kw; ++s) {
            const bool in_input = r >= 0 && r < k.h && s >= 0 && s < k.w;
            const bool in_padded = r < k.h + k.ph && s < k.w + k.pw;  // not ceil mode's extra
            if (in_input) inside.push_back(plane * k.h * k.w + r * k.w + s);
            if (in_input) sum += x[inside.back()];
            if (include_pad ? in_padded : in_input) cells += 1;
          }
        }
        const double divisor = divisor_override ? divisor_override : cells;
        ASSERT_NEAR(y[o], sum / divisor, 1e-5) << "at " << o;
        for (int64_t at : inside) dx_ref[at] += g[o] / divisor;
      }
    }
  }
  for (size_t i = 0; i < nx; ++i) ASSERT_NEAR(dx[i], dx_ref[i], 1e-5) << "dx at " << i;
}

const std::vector<PoolCase> kCases = {
    {2, 3, 6, 6, 2, 2, 2, 2, 0, 0},
    {1, 2, 7, 7, 3, 3, 2, 2, 1, 1},
    {1, 1, 5, 5, 2, 2, 2, 2, 0, 0, 1, 1, true},
    {1, 2, 8, 7, 3, 2, 2, 1, 1, 1, 1, 1, true},  // ceil mode with padding
    {2, 1, 9, 6, 3, 3, 1, 2, 1, 0},
    {1, 1, 4, 4, 4, 4, 1, 1, 2, 2},  // windows far into the padding
};

TEST(CpuPool, MaxMatchesTheDefinition) {
  for (const PoolCase& k : kCases) check_max(k);
  check_max({1, 2, 9, 9, 3, 2, 2, 2, 1, 1, 2, 3});          // dilation
  check_max({1, 1, 10, 10, 3, 3, 3, 3, 1, 1, 2, 2, true});  // dilation in ceil mode
}

TEST(CpuPool, AverageAndItsGradientMatchTheDefinition) {
  for (const PoolCase& k : kCases) {
    check_avg(k, true, 0);
    check_avg(k, false, 0);
  }
  check_avg({1, 2, 7, 7, 3, 3, 2, 2, 1, 1}, true, 5);
}

TEST(CpuPool, MaxTakesTheFirstMaximumAndTheLastNaNAsPyTorch) {
  Program p(ir::parse(R"(graph(%x: f64[1,1,2,4]) {
  %v: f64[1,1,1,2], %i: i64[1,1,1,2] = max_pool2d(%x) {ceil_mode=false, dilation=[1, 1], kernel=[2, 2], padding=[0, 0], stride=[2, 2]}
  return %v, %i
})"),
            {});
  const double nan = std::nan("");
  std::vector<double> x = {1, 3, nan, 2, 3, 0, 9, nan}, v(2);
  std::vector<int64_t> i(2);
  p.run({x.data()}, {v.data(), i.data()});
  EXPECT_EQ(v[0], 3);
  EXPECT_EQ(i[0], 1);
  EXPECT_TRUE(std::isnan(v[1]));
  EXPECT_EQ(i[1], 7);  // window {nan@2, 2@3, 9@6, nan@7}: the last NaN
}

TEST(CpuPool, MaxOnIntegers) {
  Program p(ir::parse(R"(graph(%x: i64[1,1,3,3]) {
  %v: i64[1,1,2,2], %i: i64[1,1,2,2] = max_pool2d(%x) {ceil_mode=false, dilation=[1, 1], kernel=[2, 2], padding=[1, 1], stride=[2, 2]}
  return %v, %i
})"),
            {});
  std::vector<int64_t> x = {-5, -7, -1, -9, -2, -3, -8, -4, -6}, v(4), i(4);
  p.run({x.data()}, {v.data(), i.data()});
  EXPECT_EQ(v, (std::vector<int64_t>{-5, -1, -8, -2}));
  EXPECT_EQ(i, (std::vector<int64_t>{0, 2, 6, 4}));
}

TEST(CpuPool, RefusedAttributesAreLeftToTheFallback) {
  const std::string head = "graph(%x: f32[1,1,4,4]) {\n  %v: f32[1,1,2,2], %i: i64[1,1,2,2] = ";
  for (const std::string attrs : {
           "ceil_mode=false, dilation=[1, 1], kernel=[2, 2], padding=[0, 0], stride=[0, 2]",
           "ceil_mode=false, dilation=[1, 1], kernel=[2, 2], padding=[0, 0], stride=[1, 1]",
           "ceil_mode=false, dilation=[1, 1], kernel=[2], padding=[0, 0], stride=[2, 2]",
       }) {
    const std::string text = head + "max_pool2d(%x) {" + attrs + "}\n  return %v, %i\n}";
    EXPECT_THROW(Program(ir::parse(text), {}), Unsupported) << attrs;
  }
  // A dilated window that misses a 1-row input entirely: eager reports padding there.
  EXPECT_THROW(Program(ir::parse(R"(graph(%x: f32[1,1,1,4]) {
  %v: f32[1,1,1,2], %i: i64[1,1,1,2] = max_pool2d(%x) {ceil_mode=false, dilation=[2, 1], kernel=[2, 2], padding=[1, 0], stride=[1, 2]}
  return %v, %i
})"),
                       {}),
               Unsupported);
}

}  // namespace
}  // namespace janus::cpu
