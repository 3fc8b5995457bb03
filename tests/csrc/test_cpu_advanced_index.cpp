// index and index_put in the CPU executor, on x = arange(60) shaped [3,4,5]
// (each element is its own offset, so the expected results are offset
// formulas): numpy's placement of the broadcast index dims (adjacent or in
// front), integers as advanced indices, None and ellipsis, negative indices,
// boolean masks, accumulation over repeated indices, value broadcasting, and
// the errors (out of bounds, a mask count the graph was not compiled for).
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/program.h"

namespace janus::cpu {
namespace {

std::vector<float> arange(size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

// Runs `node` (producing %y of `out_type`) on x and the index inputs.
std::vector<float> run_index(const std::string& inputs, const std::string& node,
                             const std::string& out_type, std::vector<void*> args, size_t n) {
  const std::string text = "graph(%x: f32[3,4,5]" + inputs + ") {\n  %y: f32" + out_type + " = " +
                           node + "\n  return %y\n}";
  Program p(ir::parse(text), {});
  EXPECT_TRUE(p.fallback_ops().empty()) << text;
  std::vector<float> x = arange(60), y(n);
  args.insert(args.begin(), x.data());
  p.run(args, {y.data()});
  return y;
}

TEST(CpuAdvancedIndex, OneTensorAdjacentToSlices) {
  std::vector<int64_t> i = {2, -3};
  auto y = run_index(", %i: i64[2]", R"(index(%x, %i) {spec=[["t"]]})", "[2,4,5]", {i.data()}, 40);
  for (int b = 0; b < 2; ++b) {
    for (int k = 0; k < 20; ++k) EXPECT_EQ(y[b * 20 + k], (b ? 0 : 40) + k);
  }
  std::vector<int64_t> j = {3, 0};
  y = run_index(", %j: i64[2]", R"(index(%x, %j) {spec=[["s", none, none, none], ["t"]]})",
                "[3,2,5]", {j.data()}, 30);
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 2; ++b) {
      for (int c = 0; c < 5; ++c) EXPECT_EQ(y[(a * 2 + b) * 5 + c], a * 20 + j[b] * 5 + c);
    }
  }
}

TEST(CpuAdvancedIndex, TensorsBroadcastTogether) {
  std::vector<int64_t> i = {0, 2}, j = {1, 3, -1};
  auto y = run_index(", %i: i64[2,1], %j: i64[3]", R"(index(%x, %i, %j) {spec=[["t"], ["t"]]})",
                     "[2,3,5]", {i.data(), j.data()}, 30);
  const int jj[] = {1, 3, 3};
  for (int a = 0; a < 2; ++a) {
    for (int b = 0; b < 3; ++b) {
      for (int c = 0; c < 5; ++c) EXPECT_EQ(y[(a * 3 + b) * 5 + c], i[a] * 20 + jj[b] * 5 + c);
    }
  }
}

TEST(CpuAdvancedIndex, SeparatedIndicesGoInFrontAndIntegersCountAsAdvanced) {
  std::vector<int64_t> i = {0, 2}, j = {4, 1};
  auto y = run_index(", %i: i64[2], %j: i64[2]",
                     R"(index(%x, %i, %j) {spec=[["t"], ["s", none, none, none], ["t"]]})", "[2,4]",
                     {i.data(), j.data()}, 8);
  for (int b = 0; b < 2; ++b) {
    for (int m = 0; m < 4; ++m) EXPECT_EQ(y[b * 4 + m], i[b] * 20 + m * 5 + j[b]);
  }
  // x[1, 1::2, j]: the integer and j are separated by the slice, so j's dim leads.
  std::vector<int32_t> k = {0, 4};
  y = run_index(", %k: i32[2]", R"(index(%x, %k) {spec=[["i", 1], ["s", 1, none, 2], ["t"]]})",
                "[2,2]", {k.data()}, 4);
  for (int b = 0; b < 2; ++b) {
    for (int m = 0; m < 2; ++m) EXPECT_EQ(y[b * 2 + m], 20 + (1 + 2 * m) * 5 + k[b]);
  }
}

TEST(CpuAdvancedIndex, NoneAndEllipsis) {
  std::vector<int64_t> j = {2};
  auto y = run_index(", %j: i64[1]", R"(index(%x, %j) {spec=[["n"], ["e"], ["t"]]})", "[1,3,4,1]",
                     {j.data()}, 12);
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 4; ++b) EXPECT_EQ(y[a * 4 + b], a * 20 + b * 5 + 2);
  }
}

TEST(CpuAdvancedIndex, BooleanMasks) {
  bool m[12] = {};
  m[1] = m[6] = m[11] = true;  // (0, 1), (1, 2), (2, 3)
  auto y = run_index(", %m: bool[3,4]", R"(index(%x, %m) {spec=[["t"]]})", "[3,5]", {m}, 15);
  const int rows[] = {1, 6, 11};
  for (int b = 0; b < 3; ++b) {
    for (int c = 0; c < 5; ++c) EXPECT_EQ(y[b * 5 + c], rows[b] * 5 + c);
  }
  bool m1[5] = {true, false, false, true, false};
  y = run_index(", %m: bool[5]",
                R"(index(%x, %m) {spec=[["s", none, none, none], ["s", 2, none, none], ["t"]]})",
                "[3,2,2]", {m1}, 12);
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 2; ++b) {
      EXPECT_EQ(y[(a * 2 + b) * 2], a * 20 + (2 + b) * 5);
      EXPECT_EQ(y[(a * 2 + b) * 2 + 1], a * 20 + (2 + b) * 5 + 3);
    }
  }
}

TEST(CpuAdvancedIndex, BadIndicesAndMaskCountsRaise) {
  Program p(ir::parse(R"(graph(%x: f32[3,4,5], %i: i64[2], %m: bool[3]) {
  %0: f32[2,4,5] = index(%x, %i) {spec=[["t"]]}
  %1: f32[2,4,5] = index(%x, %m) {spec=[["t"]]}
  return %0, %1
})"),
            {});
  std::vector<float> x = arange(60), a(40), b(40);
  std::vector<int64_t> good = {0, -1}, bad = {0, 3}, low = {-4, 0};
  bool two[3] = {true, false, true}, one[3] = {false, false, true};
  p.run({x.data(), good.data(), two}, {a.data(), b.data()});
  EXPECT_EQ(a[20], 40);
  EXPECT_EQ(b[20], 40);
  EXPECT_THROW(p.run({x.data(), bad.data(), two}, {a.data(), b.data()}), std::out_of_range);
  EXPECT_THROW(p.run({x.data(), low.data(), two}, {a.data(), b.data()}), std::out_of_range);
  EXPECT_THROW(p.run({x.data(), good.data(), one}, {a.data(), b.data()}), ShapeSpeculationFailed);
}

TEST(CpuAdvancedIndex, PutAccumulatesRepeatsAndBroadcastsValues) {
  // y = x; y[i, :, 0] += v with i = [1, 1, 0]: row 1 gets both of its values.
  Program p(ir::parse(R"(graph(%x: f32[3,4,5], %v: f32[3,4], %i: i64[3]) {
  %0: f32[3,4,5] = index_put(%x, %v, %i) {accumulate=true, spec=[["t"], ["s", none, none, none], ["i", 0]]}
  %1: f32[3,4,5] = index_put(%x, %v, %i) {accumulate=false, spec=[["t"], ["s", none, none, none], ["i", 0]]}
  %2: f32[3,4,5] = index_put(%x, 7.0, %i) {accumulate=false, spec=[["t"]]}
  return %0, %1, %2
})"),
            {});
  std::vector<float> x = arange(60), v(12), acc(60), set(60), fill(60);
  std::iota(v.begin(), v.end(), 100.0f);
  std::vector<int64_t> i = {1, 1, 0};
  p.run({x.data(), v.data(), i.data()}, {acc.data(), set.data(), fill.data()});
  for (int k = 0; k < 60; ++k) {
    const int a = k / 20, m = (k / 5) % 4, c = k % 5;
    float want_acc = k, want_set = k;
    if (c == 0 && a == 1) want_acc += v[0 * 4 + m] + v[1 * 4 + m], want_set = v[1 * 4 + m];
    if (c == 0 && a == 0) want_acc += v[2 * 4 + m], want_set = v[2 * 4 + m];
    EXPECT_EQ(acc[k], want_acc) << k;
    EXPECT_EQ(set[k], want_set) << k;
    EXPECT_EQ(fill[k], a == 2 ? k : 7.0f) << k;
  }
}

TEST(CpuAdvancedIndex, PutThroughMasksAndBasicKeys) {
  Program p(ir::parse(R"(graph(%x: f32[3,4,5], %v: f32[5], %w: f32[2,1], %m: bool[3,4]) {
  %0: f32[3,4,5] = index_put(%x, %v, %m) {accumulate=false, spec=[["t"]]}
  %1: f32[3,4,5] = index_put(%x, %w, %m) {accumulate=true, spec=[["t"]]}
  %2: f32[3,4,5] = index_put(%x, %v) {accumulate=false, spec=[["i", 2], ["i", -1]]}
  return %0, %1, %2
})"),
            {});
  std::vector<float> x = arange(60), v = {-1, -2, -3, -4, -5}, w = {1000, 2000};
  std::vector<float> a(60), b(60), c(60);
  bool m[12] = {};
  m[3] = m[8] = true;  // rows (0, 3) and (2, 0): offsets 15 and 40
  p.run({x.data(), v.data(), w.data(), m}, {a.data(), b.data(), c.data()});
  for (int k = 0; k < 60; ++k) {
    const int row = k / 5;
    EXPECT_EQ(a[k], row == 3 || row == 8 ? v[k % 5] : k) << k;
    EXPECT_EQ(b[k], row == 3 ? k + 1000 : row == 8 ? k + 2000 : k) << k;
    EXPECT_EQ(c[k], row == 11 ? v[k % 5] : k) << k;
  }
  m[4] = true;  // three rows now: w's 2 rows no longer broadcast
  EXPECT_THROW(p.run({x.data(), v.data(), w.data(), m}, {a.data(), b.data(), c.data()}),
               std::invalid_argument);
}

TEST(CpuAdvancedIndex, KeysTheKernelDoesNotCoverAreLeftToTheFallback) {
  for (const std::string text : {
           // a mask with another index tensor, and float indices
           R"(graph(%x: f32[3,4], %m: bool[3], %i: i64[1]) {
  %0: f32[1] = index(%x, %m, %i) {spec=[["t"], ["t"]]}
  return %0
})",
           R"(graph(%x: f32[3,4], %i: f32[2]) {
  %0: f32[2,4] = index(%x, %i) {spec=[["t"]]}
  return %0
})",
           // more indices than dims, and an output shape the key does not give
           R"(graph(%x: f32[3], %i: i64[2]) {
  %0: f32[2] = index(%x, %i) {spec=[["t"], ["i", 0]]}
  return %0
})",
           R"(graph(%x: f32[3,4], %i: i64[2]) {
  %0: f32[2,3] = index(%x, %i) {spec=[["t"]]}
  return %0
})",
           // an int out of range: the eager kernel raises when the node runs
           R"(graph(%x: f32[3,4], %i: i64[2]) {
  %0: f32[2] = index(%x, %i) {spec=[["i", 3], ["t"]]}
  return %0
})",
       }) {
    EXPECT_THROW(Program(ir::parse(text), {}), Unsupported) << text;
  }
}

}  // namespace
}  // namespace janus::cpu
