// einsum in the CPU executor against a brute-force loop over every assignment
// of the letters: products, batches with broadcast size-1 dims, three
// operands, outer products, full and partial sums, permutations, implicit
// outputs, float64, and equations the kernel must leave to the fallback.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/program.h"

namespace janus::cpu {
namespace {

using Shape = std::vector<int64_t>;

std::string dims(const Shape& s) {
  std::string text = "[";
  for (size_t i = 0; i < s.size(); ++i) text += (i ? "," : "") + std::to_string(s[i]);
  return text + "]";
}

// out[output letters] = sum over the other letters of the operands' product;
// a size-1 dim repeats along its letter.
std::vector<double> reference(const std::vector<std::string>& subs, const std::string& output,
                              const std::vector<Shape>& shapes,
                              const std::vector<std::vector<double>>& values) {
  std::map<char, int64_t> size;
  for (size_t i = 0; i < subs.size(); ++i) {
    for (size_t d = 0; d < subs[i].size(); ++d) {
      size[subs[i][d]] = std::max(size[subs[i][d]], shapes[i][d]);
    }
  }
  std::string letters;
  for (const auto& [c, n] : size) letters += c;
  int64_t out_count = 1;
  for (char c : output) out_count *= size[c];
  std::vector<double> out(static_cast<size_t>(out_count), 0.0);
  std::map<char, int64_t> at;
  for (char c : letters) at[c] = 0;
  for (const auto& [c, n] : size) {
    if (n == 0) return out;  // no assignments: every sum is empty
  }
  while (true) {
    double product = 1;
    for (size_t i = 0; i < subs.size(); ++i) {
      int64_t offset = 0;
      for (size_t d = 0; d < subs[i].size(); ++d) {
        offset = offset * shapes[i][d] + (shapes[i][d] == 1 ? 0 : at[subs[i][d]]);
      }
      product *= values[i][offset];
    }
    int64_t o = 0;
    for (char c : output) o = o * size[c] + at[c];
    out[o] += product;
    size_t k = letters.size();
    while (k-- > 0) {
      if (++at[letters[k]] < size[letters[k]]) break;
      at[letters[k]] = 0;
    }
    if (k == static_cast<size_t>(-1)) break;
  }
  return out;
}

void check(const std::string& equation, const std::vector<std::string>& subs,
           const std::string& output, const std::vector<Shape>& shapes, const std::string& dt) {
  std::map<char, int64_t> size;
  for (size_t i = 0; i < subs.size(); ++i) {
    for (size_t d = 0; d < subs[i].size(); ++d) {
      size[subs[i][d]] = std::max(size[subs[i][d]], shapes[i][d]);
    }
  }
  Shape out_shape;
  for (char c : output) out_shape.push_back(size[c]);
  std::string text = "graph(", args;
  for (size_t i = 0; i < shapes.size(); ++i) {
    text += (i ? ", %x" : "%x") + std::to_string(i) + ": " + dt + dims(shapes[i]);
    args += (i ? ", %x" : "%x") + std::to_string(i);
  }
  text += ") {\n  %y: " + dt + dims(out_shape) + " = einsum(" + args + ") {equation=\"" + equation +
          "\"}\n  return %y\n}";
  Program p(ir::parse(text), {});
  ASSERT_TRUE(p.fallback_ops().empty());
  std::vector<std::vector<double>> values;
  std::vector<std::vector<float>> f32;
  std::vector<void*> inputs;
  uint32_t seed = 9;
  for (const Shape& s : shapes) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    values.emplace_back(static_cast<size_t>(n));
    for (double& v : values.back()) {
      seed = seed * 1664525u + 1013904223u;
      v = static_cast<double>((seed >> 8) % 201) / 100.0 - 1.0;
    }
    f32.emplace_back(values.back().begin(), values.back().end());
  }
  for (size_t i = 0; i < shapes.size(); ++i) {
    inputs.push_back(dt == "f32" ? static_cast<void*>(f32[i].data()) : values[i].data());
  }
  const std::vector<double> want = reference(subs, output, shapes, values);
  std::vector<float> got32(want.size());
  std::vector<double> got64(want.size());
  p.run(inputs, {dt == "f32" ? static_cast<void*>(got32.data()) : got64.data()});
  for (size_t i = 0; i < want.size(); ++i) {
    const double got = dt == "f32" ? got32[i] : got64[i];
    ASSERT_NEAR(got, want[i], 1e-4 * (1 + std::abs(want[i]))) << equation << " at " << i;
  }
}

TEST(CpuEinsum, ProductsAndBatches) {
  check("ij,jk->ik", {"ij", "jk"}, "ik", {{3, 4}, {4, 2}}, "f32");
  check("bij,bjk->bik", {"bij", "bjk"}, "bik", {{2, 3, 4}, {2, 4, 5}}, "f32");
  check("bij,bkj->bki", {"bij", "bkj"}, "bki", {{2, 3, 4}, {1, 5, 4}}, "f32");  // broadcast batch
  check("ij,jk", {"ij", "jk"}, "ik", {{3, 4}, {4, 2}}, "f64");                  // implicit output
}

TEST(CpuEinsum, SumsOuterProductsAndPermutations) {
  check("ij->j", {"ij"}, "j", {{3, 4}}, "f32");
  check("ijk->kij", {"ijk"}, "kij", {{2, 3, 4}}, "f32");
  check("i,j->ij", {"i", "j"}, "ij", {{3}, {4}}, "f32");
  check("ij,ij->", {"ij", "ij"}, "", {{2, 3}, {2, 3}}, "f32");
  check("ab,cd->", {"ab", "cd"}, "", {{2, 3}, {4, 5}}, "f64");
  check("ij,j->i", {"ij", "j"}, "i", {{3, 4}, {1}}, "f32");  // a size-1 dim repeats
  check("j,ij->i", {"j", "ij"}, "i", {{1}, {3, 4}}, "f32");
  check("ij,jk->ik", {"ij", "jk"}, "ik", {{3, 0}, {0, 2}}, "f32");  // an empty sum: zeros
}

TEST(CpuEinsum, ThreeOperands) {
  check("abc,cd,ad->b", {"abc", "cd", "ad"}, "b", {{2, 3, 4}, {4, 5}, {2, 5}}, "f32");
  check("ij,jk,kl->il", {"ij", "jk", "kl"}, "il", {{2, 3}, {3, 4}, {4, 5}}, "f64");
  check("bi,bj,bk->bijk", {"bi", "bj", "bk"}, "bijk", {{2, 3}, {2, 2}, {2, 4}}, "f32");
}

TEST(CpuEinsum, EquationsTheKernelDoesNotCoverAreLeftToTheFallback) {
  for (const std::string text : {
           R"(graph(%x: f32[3,3]) {
  %y: f32[3] = einsum(%x) {equation="ii->i"}
  return %y
})",
           R"(graph(%x: f32[3,3]) {
  %y: f32[3,3] = einsum(%x) {equation="...->..."}
  return %y
})",
           R"(graph(%x: i64[3,3], %z: i64[3]) {
  %y: i64[3] = einsum(%x, %z) {equation="ij,j->i"}
  return %y
})",
           R"(graph(%x: f32[3,4], %z: f32[5]) {
  %y: f32[3] = einsum(%x, %z) {equation="ij,j->i"}
  return %y
})",
           R"(graph(%x: f32[3,0], %z: f32[5]) {
  %y: f32[3] = einsum(%x, %z) {equation="ij,j->i"}
  return %y
})",
       }) {
    EXPECT_THROW(Program(ir::parse(text), {}), Unsupported) << text;
  }
}

}  // namespace
}  // namespace janus::cpu
