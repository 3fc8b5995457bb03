// conv2d and its gradient ops in the CPU executor, against direct loops over
// the definition: strides, padding, dilation, groups, 1x1 kernels, chunks of
// several images (with a remainder), blocks of output rows of large feature
// maps (with a remainder), a transposed-convolution shape (an input
// larger than the windows cover), float64, and geometry the kernel must refuse.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/program.h"

namespace janus::cpu {
namespace {

struct Conv {
  int64_t n, c, h, w, o, kh, kw, groups, sh, sw, ph, pw, dh, dw;
  int64_t extra_h = 0, extra_w = 0;  // input rows/cols past the last window (output_padding)

  int64_t oh() const { return (h - extra_h + 2 * ph - dh * (kh - 1) - 1) / sh + 1; }
  int64_t ow() const { return (w - extra_w + 2 * pw - dw * (kw - 1) - 1) / sw + 1; }
  int64_t cg() const { return c / groups; }
  int64_t og() const { return o / groups; }
};

std::string shape(const std::string& dtype, std::vector<int64_t> dims) {
  std::string text = dtype + "[";
  for (size_t i = 0; i < dims.size(); ++i) text += (i ? "," : "") + std::to_string(dims[i]);
  return text + "]";
}

std::string list(std::vector<int64_t> v) {
  std::string text = "[";
  for (size_t i = 0; i < v.size(); ++i) text += (i ? ", " : "") + std::to_string(v[i]);
  return text + "]";
}

std::string conv_graph(const Conv& k, const std::string& dt, bool forward) {
  const std::string x = shape(dt, {k.n, k.c, k.h, k.w}), w = shape(dt, {k.o, k.cg(), k.kh, k.kw});
  const std::string y = shape(dt, {k.n, k.o, k.oh(), k.ow()});
  const std::string attrs = "dilation=" + list({k.dh, k.dw}) +
                            ", groups=" + std::to_string(k.groups) +
                            ", padding=" + list({k.ph, k.pw}) + ", stride=" + list({k.sh, k.sw});
  std::string text = "graph(%x: " + x + ", %w: " + w + ", %gy: " + y + ") {\n";
  if (forward) text += "  %y: " + y + " = conv2d(%x, %w) {" + attrs + "}\n";
  text += "  %dx: " + x + " = conv2d_input_grad(%gy, %w) {" + attrs +
          ", x_shape=" + list({k.n, k.c, k.h, k.w}) + "}\n";
  text += "  %dw: " + w + " = conv2d_weight_grad(%x, %gy) {" + attrs +
          ", w_shape=" + list({k.o, k.cg(), k.kh, k.kw}) + "}\n";
  return text + (forward ? "  return %y, %dx, %dw\n}" : "  return %dx, %dw\n}");
}

// Calls f(n, o, y, x, ci, i, j, input pixel offset) for every tap that lands on
// an input pixel: the definition all three references share.
template <typename F>
void for_each_tap(const Conv& k, F f) {
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t o = 0; o < k.o; ++o)
      for (int64_t y = 0; y < k.oh(); ++y)
        for (int64_t x = 0; x < k.ow(); ++x)
          for (int64_t ci = 0; ci < k.cg(); ++ci)
            for (int64_t i = 0; i < k.kh; ++i)
              for (int64_t j = 0; j < k.kw; ++j) {
                const int64_t r = y * k.sh - k.ph + i * k.dh, s = x * k.sw - k.pw + j * k.dw;
                if (r < 0 || r >= k.h || s < 0 || s >= k.w) continue;
                const int64_t c = (o / k.og()) * k.cg() + ci;
                f(((n * k.o + o) * k.oh() + y) * k.ow() + x,
                  ((o * k.cg() + ci) * k.kh + i) * k.kw + j, ((n * k.c + c) * k.h + r) * k.w + s);
              }
}

template <typename T>
std::vector<T> random_values(size_t count, uint32_t seed) {
  std::vector<T> v(count);
  for (auto& e : v) {
    seed = seed * 1664525u + 1013904223u;
    e = static_cast<T>((seed >> 8) % 2001) / T(1000) - T(1);
  }
  return v;
}

template <typename T>
void check(const Conv& k, const std::string& dt, bool forward = true) {
  const size_t nx = k.n * k.c * k.h * k.w, nw = k.o * k.cg() * k.kh * k.kw;
  const size_t ny = k.n * k.o * k.oh() * k.ow();
  const auto x = random_values<T>(nx, 1), w = random_values<T>(nw, 2), gy = random_values<T>(ny, 3);
  std::vector<double> y_ref(ny), dx_ref(nx), dw_ref(nw);
  for_each_tap(k, [&](int64_t yo, int64_t wo, int64_t xo) {
    y_ref[yo] += double(x[xo]) * w[wo];
    dx_ref[xo] += double(gy[yo]) * w[wo];
    dw_ref[wo] += double(gy[yo]) * x[xo];
  });
  Program p(ir::parse(conv_graph(k, dt, forward)), {});
  EXPECT_TRUE(p.fallback_ops().empty());
  std::vector<T> y(ny), dx(nx), dw(nw);
  std::vector<void*> outs = {dx.data(), dw.data()};
  if (forward) outs.insert(outs.begin(), y.data());
  p.run({const_cast<T*>(x.data()), const_cast<T*>(w.data()), const_cast<T*>(gy.data())}, outs);
  const double tol = sizeof(T) == 4 ? 1e-4 : 1e-10;
  auto expect_near = [&](const std::vector<T>& got, const std::vector<double>& want,
                         const char* what) {
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << what << " at " << i;
    }
  };
  if (forward) expect_near(y, y_ref, "y");
  expect_near(dx, dx_ref, "dx");
  expect_near(dw, dw_ref, "dw");
}

TEST(CpuConv, PlainAndPadded) {
  check<float>({2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 0, 0, 1, 1}, "f32");
  check<float>({2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1}, "f32");
  check<float>({1, 1, 5, 5, 1, 5, 5, 1, 1, 1, 2, 2, 1, 1}, "f32");  // kernel as large as the input
}

TEST(CpuConv, StrideDilationAndAsymmetricPadding) {
  check<float>({1, 4, 6, 6, 4, 3, 2, 2, 2, 2, 1, 1, 1, 1}, "f32");
  check<float>({1, 2, 7, 7, 3, 2, 2, 1, 1, 1, 1, 2, 2, 2}, "f32");
  check<float>({2, 2, 9, 8, 3, 3, 3, 1, 3, 2, 2, 0, 1, 3}, "f32");
  check<float>({1, 2, 9, 9, 2, 3, 3, 1, 4, 4, 0, 0, 1, 1}, "f32");  // stride past the kernel
}

TEST(CpuConv, Groups) {
  check<float>({2, 6, 5, 5, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1}, "f32");
  check<float>({1, 4, 6, 6, 4, 3, 3, 4, 1, 1, 1, 1, 1, 1}, "f32");  // depthwise
}

TEST(CpuConv, OneByOneKernelsReadTheImageInPlace) {
  check<float>({3, 8, 4, 5, 6, 1, 1, 1, 1, 1, 0, 0, 1, 1}, "f32");
  check<float>({2, 8, 4, 5, 6, 1, 1, 2, 1, 1, 0, 0, 1, 1}, "f32");
  check<float>({2, 8, 5, 5, 6, 1, 1, 1, 2, 2, 0, 0, 1, 1}, "f32");  // strided 1x1: im2col
}

TEST(CpuConv, ChunksOfSeveralImagesWithARemainder) {
  // 100 positions per image: chunks of 6 images, then 1.
  check<float>({7, 3, 12, 12, 5, 3, 3, 1, 1, 1, 0, 0, 1, 1}, "f32");
  check<float>({5, 4, 4, 4, 4, 3, 3, 2, 1, 1, 1, 1, 1, 1}, "f32");
}

TEST(CpuConv, LargeFeatureMapsInBlocksOfRowsWithARemainder) {
  // 900 positions and 576 taps: blocks of 18 output rows, then 12.
  check<float>({1, 64, 30, 30, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1}, "f32");
  // Strided, dilated, grouped (32 x 31 positions): blocks of 17 rows, then 15.
  check<float>({2, 128, 63, 61, 4, 3, 3, 2, 2, 2, 2, 1, 2, 1}, "f32");
}

TEST(CpuConv, TransposedConvolutionShapesAndFloat64) {
  // conv_transpose2d with output_padding: input rows the windows never reach.
  check<float>({1, 3, 6, 10, 4, 3, 2, 1, 2, 2, 1, 1, 1, 1, 1, 1}, "f32", false);
  check<double>({2, 4, 6, 6, 6, 3, 3, 2, 2, 1, 1, 0, 1, 2}, "f64");
}

TEST(CpuConv, EmptyBatch) { check<float>({0, 3, 5, 5, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1}, "f32"); }

TEST(CpuConv, InconsistentGeometryIsLeftToTheFallback) {
  // Channels that do not match the groups, a stride of 0, an output shape the
  // attributes do not give, mixed dtypes: the eager kernel reports them.
  for (const std::string node : {
           "%y: f32[1,2,3,3] = conv2d(%x, %w) {dilation=[1, 1], groups=2, padding=[0, 0], "
           "stride=[1, 1]}",
           "%y: f32[1,2,3,3] = conv2d(%x, %w) {dilation=[1, 1], groups=1, padding=[0, 0], "
           "stride=[0, 1]}",
           "%y: f32[1,2,4,3] = conv2d(%x, %w) {dilation=[1, 1], groups=1, padding=[0, 0], "
           "stride=[1, 1]}",
       }) {
    const std::string text =
        "graph(%x: f32[1,3,5,5], %w: f32[2,3,3,3]) {\n  " + node + "\n  return %y\n}";
    EXPECT_THROW(Program(ir::parse(text), {}), Unsupported) << node;
  }
  const std::string mixed = R"(graph(%x: f64[1,3,5,5], %w: f32[2,3,3,3]) {
  %y: f32[1,2,3,3] = conv2d(%x, %w) {dilation=[1, 1], groups=1, padding=[0, 0], stride=[1, 1]}
  return %y
})";
  EXPECT_THROW(Program(ir::parse(mixed), {}), Unsupported);
}

}  // namespace
}  // namespace janus::cpu
