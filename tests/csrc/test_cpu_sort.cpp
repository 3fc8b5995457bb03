// sort and topk in the CPU executor against std::stable_sort of each line,
// with many ties and NaNs, along every dim of 2-D and 3-D shapes, for floats,
// int64 (with its lowest value) and uint8, and k from 0 to the full size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/program.h"

namespace janus::cpu {
namespace {

std::string dims(const std::vector<int64_t>& v) {
  std::string text = "[";
  for (size_t i = 0; i < v.size(); ++i) text += (i ? "," : "") + std::to_string(v[i]);
  return text + "]";
}

// The expected (values, indices): each line stably sorted, NaN above numbers.
template <typename T>
void reference(const std::vector<T>& x, const std::vector<int64_t>& shape, int64_t dim, int64_t k,
               bool descending, std::vector<T>& values, std::vector<int64_t>& indices) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) outer *= shape[d];
    if (d > dim) inner *= shape[d];
  }
  const int64_t size = shape[dim];
  auto rank = [](T v) { return std::make_pair(v != v ? 1 : 0, v != v ? T(0) : v); };
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t j) { return x[(o * size + j) * inner + i]; };
      std::vector<int64_t> order(size);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return descending ? rank(at(b)) < rank(at(a)) : rank(at(a)) < rank(at(b));
      });
      for (int64_t j = 0; j < k; ++j) {
        values[(o * k + j) * inner + i] = at(order[j]);
        indices[(o * k + j) * inner + i] = order[j];
      }
    }
  }
}

template <typename T>
void check(const std::string& dt, const std::vector<T>& x, const std::vector<int64_t>& shape,
           int64_t dim, bool descending, int64_t k = -1) {
  const bool topk = k >= 0;
  std::vector<int64_t> out_shape = shape;
  if (topk) out_shape[dim] = k;
  const int64_t kk = out_shape[dim];
  const std::string attrs = topk ? "dim=" + std::to_string(dim) + ", k=" + std::to_string(k) +
                                       ", largest=" + (descending ? "true" : "false") +
                                       ", sorted=true"
                                 : "descending=" + std::string(descending ? "true" : "false") +
                                       ", dim=" + std::to_string(dim) + ", stable=true";
  const std::string text = "graph(%x: " + dt + dims(shape) + ") {\n  %v: " + dt + dims(out_shape) +
                           ", %i: i64" + dims(out_shape) + " = " + (topk ? "topk" : "sort") +
                           "(%x) {" + attrs + "}\n  return %v, %i\n}";
  Program p(ir::parse(text), {});
  ASSERT_TRUE(p.fallback_ops().empty());
  size_t n = 1;
  for (int64_t d : out_shape) n *= d;
  std::vector<T> values(n), want_values(n);
  std::vector<int64_t> indices(n), want_indices(n);
  p.run({const_cast<T*>(x.data())}, {values.data(), indices.data()});
  reference(x, shape, dim, kk, descending, want_values, want_indices);
  EXPECT_EQ(indices, want_indices) << text;
  for (size_t i = 0; i < n; ++i) {
    const bool both_nan = values[i] != values[i] && want_values[i] != want_values[i];
    EXPECT_TRUE(both_nan || values[i] == want_values[i]) << text << " at " << i;
  }
}

std::vector<float> coarse_floats(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  for (auto& e : v) {
    seed = seed * 1664525u + 1013904223u;
    const uint32_t r = (seed >> 8) % 9;
    e = r == 0 ? std::nanf("") : r == 1 ? -std::numeric_limits<float>::infinity() : float(r) / 2;
  }
  return v;
}

TEST(CpuSort, SortAlongEveryDimWithTiesAndNaN) {
  const auto x2 = coarse_floats(5 * 7, 1), x3 = coarse_floats(3 * 4 * 5, 2);
  for (bool descending : {false, true}) {
    for (int64_t dim : {0, 1}) check<float>("f32", x2, {5, 7}, dim, descending);
    for (int64_t dim : {0, 1, 2}) check<float>("f32", x3, {3, 4, 5}, dim, descending);
  }
}

TEST(CpuSort, TopkFromNothingToEverything) {
  const auto x = coarse_floats(4 * 6, 3);
  for (bool largest : {true, false}) {
    for (int64_t k : {0, 1, 3, 6}) check<float>("f32", x, {4, 6}, 1, largest, k);
    check<float>("f32", x, {4, 6}, 0, largest, 2);
  }
}

TEST(CpuSort, IntegersIncludingTheirExtremes) {
  const int64_t low = std::numeric_limits<int64_t>::min();
  const std::vector<int64_t> x = {3, low, 0, 3, -1, std::numeric_limits<int64_t>::max(), low, 2};
  check<int64_t>("i64", x, {2, 4}, 1, true);
  check<int64_t>("i64", x, {2, 4}, 0, false);
  check<int64_t>("i64", x, {8}, 0, true, 3);
  const std::vector<uint8_t> u = {0, 3, 255, 3, 0, 128};
  check<uint8_t>("u8", u, {6}, 0, true);
  check<uint8_t>("u8", u, {6}, 0, false, 4);
}

TEST(CpuSort, BoolTopkAndBadKAreLeftToTheFallback) {
  for (const std::string node : {
           "%v: bool[2], %i: i64[2] = topk(%x) {dim=0, k=2, largest=true, sorted=true}",
       }) {
    EXPECT_THROW(Program(ir::parse("graph(%x: bool[4]) {\n  " + node + "\n  return %v, %i\n}"), {}),
                 Unsupported);
  }
  EXPECT_THROW(Program(ir::parse(R"(graph(%x: f32[4]) {
  %v: f32[5], %i: i64[5] = topk(%x) {dim=0, k=5, largest=true, sorted=true}
  return %v, %i
})"),
                       {}),
               Unsupported);
}

}  // namespace
}  // namespace janus::cpu
