// The CPU executor on graphs written in the text form, against values
// computed by hand: elementwise with broadcasting and constants, fused-style
// chains, reductions, layout ops, GEMM, indexing with bounds errors, and the
// fallback contract.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "ir/graph.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/program.h"

namespace janus::cpu {
namespace {

std::unique_ptr<Program> compile(const std::string& text, Program::Fallback fallback = {}) {
  return std::make_unique<Program>(ir::parse(text), std::move(fallback));
}

TEST(CpuProgram, BroadcastingArithmeticWithConstants) {
  auto p = compile(R"(graph(%x: f32[2,3], %b: f32[3]) {
  %0: f32[2,3] = add(%x, %b)
  %1: f32[2,3] = mul(%0, 2.0)
  %2: f32[2,3] = relu(%1)
  return %2
})");
  std::vector<float> x = {1, -2, 3, -4, 5, -6}, b = {0.5f, 0.5f, -1}, out(6);
  p->run({x.data(), b.data()}, {out.data()});
  const std::vector<float> want = {3, 0, 4, 0, 11, 0};
  EXPECT_EQ(out, want);
}

TEST(CpuProgram, ComparisonWhereAndCast) {
  auto p = compile(R"(graph(%x: f64[4]) {
  %0: bool[4] = gt(%x, 0)
  %1: f64[4] = where(%0, %x, 0.5)
  %2: i64[4] = to_dtype(%1) {dtype="int64"}
  return %1, %2
})");
  std::vector<double> x = {-1, 2.5, 0, 7}, y(4);
  std::vector<int64_t> z(4);
  p->run({x.data()}, {y.data(), z.data()});
  EXPECT_EQ(y, (std::vector<double>{0.5, 2.5, 0.5, 7}));
  EXPECT_EQ(z, (std::vector<int64_t>{0, 2, 0, 7}));
}

TEST(CpuProgram, PythonStyleIntegerDivision) {
  auto p = compile(R"(graph(%a: i64[4], %b: i64[4]) {
  %0: i64[4] = floor_divide(%a, %b)
  %1: i64[4] = remainder(%a, %b)
  return %0, %1
})");
  std::vector<int64_t> a = {7, -7, 7, -7}, b = {2, 2, -2, -2}, q(4), r(4);
  p->run({a.data(), b.data()}, {q.data(), r.data()});
  EXPECT_EQ(q, (std::vector<int64_t>{3, -4, -4, 3}));
  EXPECT_EQ(r, (std::vector<int64_t>{1, 1, -1, -1}));
}

TEST(CpuProgram, LowestIntOverMinusOneWrapsAsNumpyDoes) {
  // In C++ it traps (SIGFPE), which would kill the user's process.
  auto p = compile(R"(graph(%a: i64[3], %b: i64[3], %c: i32[2]) {
  %0: i64[3] = floor_divide(%a, %b)
  %1: i64[3] = remainder(%a, %b)
  %2: i32[2] = floor_divide(%c, -1)
  %3: i32[2] = remainder(%c, -1)
  return %0, %1, %2, %3
})");
  const int64_t lowest = std::numeric_limits<int64_t>::min();
  std::vector<int64_t> a = {lowest, lowest, 5}, b = {-1, 0, -1}, q(3), r(3);
  std::vector<int32_t> c = {std::numeric_limits<int32_t>::min(), 6}, cq(2), cr(2);
  p->run({a.data(), b.data(), c.data()}, {q.data(), r.data(), cq.data(), cr.data()});
  EXPECT_EQ(q, (std::vector<int64_t>{lowest, 0, -5}));
  EXPECT_EQ(r, (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(cq, (std::vector<int32_t>{std::numeric_limits<int32_t>::min(), -6}));
  EXPECT_EQ(cr, (std::vector<int32_t>{0, 0}));
}

TEST(CpuProgram, ReductionsOverDims) {
  auto p = compile(R"(graph(%x: f32[2,3]) {
  %0: f32[3] = sum(%x) {dims=[0], keepdim=false}
  %1: f32[2,1] = amax(%x) {dims=[1], keepdim=true}
  %2: f32[] = mean(%x) {dims=[0, 1], keepdim=false}
  %3: f32[2], %4: i64[2] = max_dim(%x) {dim=1, keepdim=false, largest=false}
  return %0, %1, %2, %3, %4
})");
  std::vector<float> x = {1, 5, 3, 4, 2, 6}, s(3), m(2), mean(1), v(2);
  std::vector<int64_t> i(2);
  p->run({x.data()}, {s.data(), m.data(), mean.data(), v.data(), i.data()});
  EXPECT_EQ(s, (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(m, (std::vector<float>{5, 6}));
  EXPECT_FLOAT_EQ(mean[0], 3.5f);
  EXPECT_EQ(v, (std::vector<float>{1, 2}));
  EXPECT_EQ(i, (std::vector<int64_t>{0, 1}));
}

// A sum whose elements per output come in contiguous runs (a batch norm's
// over N, H and W of NCHW) adds them in lanes, as one contiguous run is:
// element p of an output's elements goes to lane p % 8, in double, and the
// lanes are added in order. Float64 data of mixed magnitudes, so that
// another order gives other bits.
TEST(CpuProgram, SumsOverRunsOfElementsAddThemInLanes) {
  auto p = compile(R"(graph(%x: f64[3,2,5,20]) {
  %0: f64[2] = sum(%x) {dims=[0, 2, 3], keepdim=false}
  %1: f64[1,2,1,1] = mean(%x) {dims=[0, 2, 3], keepdim=true}
  return %0, %1
})");
  std::vector<double> x(3 * 2 * 100), sum(2), mean(2);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(1.0 + i) * std::pow(10.0, i % 7);
  p->run({x.data()}, {sum.data(), mean.data()});
  for (int c = 0; c < 2; ++c) {
    double lanes[8] = {};
    int64_t at = 0;
    for (int n = 0; n < 3; ++n) {
      for (int k = 0; k < 100; ++k, ++at) lanes[at % 8] += x[(n * 2 + c) * 100 + k];
    }
    double want = lanes[0];
    for (int l = 1; l < 8; ++l) want += lanes[l];
    EXPECT_EQ(sum[c], want) << "channel " << c;
    EXPECT_EQ(mean[c], want / 300) << "channel " << c;
  }
}

// A sum over leading dims keeping the trailing ones (a bias's gradient over
// stacked rows) reads row by row, each output adding its elements in order:
// the bits of a plain loop over the rows.
TEST(CpuProgram, ColumnSumsAddEachColumnInRowOrder) {
  auto p = compile(R"(graph(%x: f64[2,30,7]) {
  %0: f64[7] = sum(%x) {dims=[0, 1], keepdim=false}
  %1: f64[1,1,7] = mean(%x) {dims=[0, 1], keepdim=true}
  return %0, %1
})");
  std::vector<double> x(2 * 30 * 7), sum(7), mean(7);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(3.0 + i) * std::pow(10.0, i % 5);
  p->run({x.data()}, {sum.data(), mean.data()});
  for (int o = 0; o < 7; ++o) {
    double want = 0.0;
    for (int r = 0; r < 60; ++r) want += x[r * 7 + o];
    EXPECT_EQ(sum[o], want) << "column " << o;
    EXPECT_EQ(mean[o], want / 60) << "column " << o;
  }
}

TEST(CpuProgram, LayoutOps) {
  auto p = compile(R"(graph(%x: f32[2,3]) {
  %0: f32[3,2] = permute(%x) {dims=[1, 0]}
  %1: f32[2,2] = index_basic(%x) {spec=[["s", none, none, none], ["s", 1, 3, none]]}
  %2: f32[2,3] = flip(%x) {dims=[1]}
  %3: f32[4,3] = cat(%x, %2) {dim=0}
  %4: f32[2,2,3] = expand(%x) {shape=[2, 2, 3]}
  return %0, %1, %3, %4
})");
  std::vector<float> x = {1, 2, 3, 4, 5, 6}, t(6), s(4), c(12), e(12);
  p->run({x.data()}, {t.data(), s.data(), c.data(), e.data()});
  EXPECT_EQ(t, (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(s, (std::vector<float>{2, 3, 5, 6}));
  EXPECT_EQ(c, (std::vector<float>{1, 2, 3, 4, 5, 6, 3, 2, 1, 6, 5, 4}));
  EXPECT_EQ(e, (std::vector<float>{1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6}));
}

// Transposes (the last two dims swapped) take a tiled kernel: sizes across
// tile edges, a batch, and every element size, against the strided path.
TEST(CpuProgram, TransposesAcrossTilesAndElementSizes) {
  auto p = compile(R"(graph(%x: f32[3,37,70], %i: i64[33,5], %b: bool[2,40]) {
  %0: f32[3,70,37] = permute(%x) {dims=[0, 2, 1]}
  %1: f32[70,37,3] = permute(%x) {dims=[2, 1, 0]}
  %2: i64[5,33] = permute(%i) {dims=[-1, -2]}
  %3: bool[40,2] = permute(%b) {dims=[1, 0]}
  return %0, %1, %2, %3
})");
  std::vector<float> x(3 * 37 * 70), t(x.size()), u(x.size());
  std::vector<int64_t> i(33 * 5), ti(i.size());
  std::vector<uint8_t> b(80), tb(80);  // bool: one byte each
  for (size_t k = 0; k < x.size(); ++k) x[k] = static_cast<float>(k);
  for (size_t k = 0; k < i.size(); ++k) i[k] = static_cast<int64_t>(k) * 1000003;
  for (size_t k = 0; k < b.size(); ++k) b[k] = k % 3 == 0;
  p->run({x.data(), i.data(), b.data()}, {t.data(), u.data(), ti.data(), tb.data()});
  for (int64_t n = 0; n < 3; ++n) {
    for (int64_t r = 0; r < 37; ++r) {
      for (int64_t c = 0; c < 70; ++c) {
        const float want = x[(n * 37 + r) * 70 + c];
        ASSERT_EQ(t[(n * 70 + c) * 37 + r], want);
        ASSERT_EQ(u[(c * 37 + r) * 3 + n], want);  // the strided path
      }
    }
  }
  for (int64_t r = 0; r < 33; ++r) {
    for (int64_t c = 0; c < 5; ++c) ASSERT_EQ(ti[c * 33 + r], i[r * 5 + c]);
  }
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t c = 0; c < 40; ++c) ASSERT_EQ(tb[c * 2 + r], b[r * 40 + c]);
  }
}

// A staged output goes to the caller's buffer after the last step, so that
// buffer may be an input the program still reads (a parameter updated in
// place): %b must see the old %w, and a failing run leaves %w alone.
TEST(CpuProgram, StagedOutputsMayOverwriteAnInput) {
  const char* text = R"(graph(%w: f32[3], %i: i64[1]) {
  %a: f32[3] = mul(%w, 2.0)
  %b: f32[3] = add(%a, %w)
  %e: f32[1] = embedding(%w, %i) {padding_idx=none}
  return %a, %b, %e
})";
  Program p(ir::parse(text), {}, {}, 1, {0});
  EXPECT_TRUE(p.staged(0));
  EXPECT_FALSE(p.staged(1));
  std::vector<float> w = {1, 2, 3}, b(3), e(1);
  std::vector<int64_t> good = {2}, bad = {5};
  p.run({w.data(), good.data()}, {w.data(), b.data(), e.data()});
  EXPECT_EQ(w, (std::vector<float>{2, 4, 6}));
  EXPECT_EQ(b, (std::vector<float>{3, 6, 9}));
  EXPECT_THROW(p.run({w.data(), bad.data()}, {w.data(), b.data(), e.data()}), std::out_of_range);
  EXPECT_EQ(w, (std::vector<float>{2, 4, 6}));
  EXPECT_THROW(Program(ir::parse(text), {}, {}, 1, {3}), std::invalid_argument);
}

TEST(CpuProgram, MatmulAndLinear) {
  auto p = compile(R"(graph(%a: f32[2,2,3], %b: f32[3,2], %w: f32[2,3], %bias: f32[2]) {
  %0: f32[2,2,2] = matmul(%a, %b)
  %1: f32[2,2,2] = linear(%a, %w, %bias)
  return %0, %1
})");
  std::vector<float> a = {1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0};
  std::vector<float> b = {1, 0, 0, 1, 1, 1}, w = {1, 0, 1, 0, 1, 0}, bias = {10, 20};
  std::vector<float> m(8), l(8);
  p->run({a.data(), b.data(), w.data(), bias.data()}, {m.data(), l.data()});
  EXPECT_EQ(m, (std::vector<float>{4, 5, 10, 11, 1, 0, 0, 1}));
  EXPECT_EQ(l, (std::vector<float>{14, 22, 20, 25, 11, 20, 10, 21}));
}

TEST(CpuProgram, EmbeddingChecksIndicesAndNamesTheNode) {
  auto p = compile(R"(graph(%w: f32[3,2], %i: i64[2]) {
  %0: f32[2,2] = embedding(%w, %i) {padding_idx=none}
  return %0
})");
  std::vector<float> w = {1, 2, 3, 4, 5, 6}, out(4);
  std::vector<int64_t> good = {2, 0}, bad = {0, 3};
  p->run({w.data(), good.data()}, {out.data()});
  EXPECT_EQ(out, (std::vector<float>{5, 6, 1, 2}));
  try {
    p->run({w.data(), bad.data()}, {out.data()});
    FAIL() << "expected std::out_of_range";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("index out of range in self"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("%0 = embedding"), std::string::npos);
  }
}

TEST(CpuProgram, RandomOpsFollowTheShiftedStream) {
  auto p = compile(R"(graph() {
  %0: f32[4] = philox_uniform() {device="cpu", dtype="float32", offset=0, seed=7, shape=[4]}
  %1: f32[4] = philox_uniform() {device="cpu", dtype="float32", offset=4, seed=7, shape=[4]}
  return %0, %1
})");
  std::vector<float> a(4), b(4), c(4), d(4);
  p->run({}, {a.data(), b.data()});
  p->run({}, {c.data(), d.data()}, 4);  // shifted by one draw: the first is the old second
  EXPECT_EQ(c, b);
  EXPECT_NE(d, b);
}

TEST(CpuProgram, NodesWithoutKernelsNeedTheFallback) {
  // nonzero's result size depends on the data: it stays with the eager kernel.
  const std::string text = R"(graph(%x: f32[4]) {
  %0: i64[2,1] = nonzero(%x)
  return %0
})";
  EXPECT_THROW(compile(text), Unsupported);
  int calls = 0;
  auto p = compile(text, [&](const ir::Node& node, const std::vector<void*>& ins,
                             const std::vector<void*>& outs) {
    ++calls;
    EXPECT_STREQ(ir::op_name(node.kind), "nonzero");
    EXPECT_EQ(ins.size(), 1u);
    EXPECT_EQ(outs.size(), 1u);
    static_cast<int64_t*>(outs[0])[0] = 42;
  });
  std::vector<float> x(4);
  std::vector<int64_t> out(2);
  p->run({x.data()}, {out.data()});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(out[0], 42);
  EXPECT_EQ(p->fallback_ops(), std::vector<std::string>{"nonzero"});
}

TEST(CpuProgram, OutputsThatAreInputsOrRepeatsAreCopied) {
  auto p = compile(R"(graph(%x: f32[2]) {
  %0: f32[2] = neg(%x)
  return %x, %0, %0
})");
  std::vector<float> x = {1, 2}, a(2), b(2), c(2);
  p->run({x.data()}, {a.data(), b.data(), c.data()});
  EXPECT_EQ(a, x);
  EXPECT_EQ(b, (std::vector<float>{-1, -2}));
  EXPECT_EQ(c, b);
}

}  // namespace
}  // namespace janus::cpu
