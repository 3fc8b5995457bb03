// Each pass on IR text: the graph before, the graph expected after.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "ir/graph.h"
#include "passes/passes.h"

namespace janus::passes {
namespace {

std::string after(const std::string& pass, const std::string& before, int* rewrites = nullptr) {
  auto graph = ir::parse(before);
  const int count = run_pass(*graph, pass);
  if (rewrites) *rewrites = count;
  EXPECT_TRUE(ir::verify(*graph).empty());
  return ir::print(*graph);
}

TEST(Passes, DeadCodeEliminationKeepsOnlyWhatOutputsNeed) {
  int removed = 0;
  EXPECT_EQ(after("dce", R"(graph(%x: f32[3]) {
  %a: f32[3] = exp(%x)
  %b: f32[3] = log(%a)
  %c: f32[3], %d: i64[] = max_dim(%x) {dim=0, keepdim=false, largest=true}
  %e: f32[3] = neg(%a)
  return %e, %d
}
)",
                  &removed),
            R"(graph(%x: f32[3]) {
  %a: f32[3] = exp(%x)
  %c: f32[3], %d: i64[] = max_dim(%x) {dim=0, keepdim=false, largest=true}
  %e: f32[3] = neg(%a)
  return %e, %d
}
)");
  EXPECT_EQ(removed, 1);
}

TEST(Passes, CommonSubexpressionsAreComputedOnce) {
  EXPECT_EQ(after("cse", R"(graph(%x: f32[3], %y: f32[3]) {
  %a: f32[3] = mul(%x, %y)
  %b: f32[3] = mul(%x, %y)
  %c: f32[3] = add(%a, %b)
  %d: f32[3] = add(%a, %b)
  %e: f32[3] = add(%a, %b) {alpha=2}
  %f: f32[3] = mul(%y, %x)
  %g: f32[3] = philox_uniform() {offset=0, seed=1}
  %h: f32[3] = philox_uniform() {offset=4, seed=1}
  return %c, %d, %e, %f, %g, %h
}
)"),
            R"(graph(%x: f32[3], %y: f32[3]) {
  %a: f32[3] = mul(%x, %y)
  %c: f32[3] = add(%a, %a)
  %e: f32[3] = add(%a, %a) {alpha=2}
  %f: f32[3] = mul(%y, %x)
  %g: f32[3] = philox_uniform() {offset=0, seed=1}
  %h: f32[3] = philox_uniform() {offset=4, seed=1}
  return %c, %c, %e, %f, %g, %h
}
)");
}

TEST(Passes, AlgebraicIdentitiesDisappear) {
  int rewrites = 0;
  EXPECT_EQ(after("simplify", R"(graph(%x: f32[2,3], %i: i64[2,3]) {
  %a: f32[2,3] = add(%x, 0.0)
  %b: f32[2,3] = mul(1, %a)
  %c: f32[2,3] = neg(%b)
  %d: f32[2,3] = neg(%c)
  %e: f32[2,3] = to_dtype(%d) {dtype="float32"}
  %f: f32[2,3] = add(%i, 0.0)
  %g: f32[2,3] = div(%e, 2)
  return %g, %f
}
)",
                  &rewrites),
            R"(graph(%x: f32[2,3], %i: i64[2,3]) {
  %c: f32[2,3] = neg(%x)
  %f: f32[2,3] = add(%i, 0.0)
  %g: f32[2,3] = div(%x, 2)
  return %g, %f
}
)");
  EXPECT_EQ(rewrites, 4);  // add, mul, neg(neg), to_dtype; the i64 + 0.0 changes the type
}

TEST(Passes, ReshapesAndPermutesCompose) {
  EXPECT_EQ(after("simplify", R"(graph(%x: f32[2,3,4]) {
  %a: f32[6,4] = reshape(%x) {shape=[6, 4]}
  %b: f32[24] = reshape(%a) {shape=[24]}
  %c: f32[2,3,4] = reshape(%b) {shape=[2, 3, 4]}
  %p: f32[3,4,2] = permute(%c) {dims=[1, 2, 0]}
  %q: f32[4,2,3] = permute(%p) {dims=[1, 2, 0]}
  %r: f32[2,3,4] = permute(%q) {dims=[1, 2, 0]}
  %s: f32[4,3,2] = permute(%x) {dims=[2, 1, 0]}
  return %b, %r, %s
}
)"),
            R"(graph(%x: f32[2,3,4]) {
  %a: f32[6,4] = reshape(%x) {shape=[6, 4]}
  %b: f32[24] = reshape(%x) {shape=[24]}
  %p: f32[3,4,2] = permute(%x) {dims=[1, 2, 0]}
  %q: f32[4,2,3] = permute(%x) {dims=[2, 0, 1]}
  %s: f32[4,3,2] = permute(%x) {dims=[2, 1, 0]}
  return %b, %x, %s
}
)");
}

TEST(Passes, PipelineAndUnknownNames) {
  auto graph = ir::parse(R"(graph(%x: f32[3]) {
  %a: f32[3] = add(%x, 0)
  %b: f32[3] = exp(%a)
  %c: f32[3] = exp(%x)
  %d: f32[3] = mul(%b, %c)
  return %d
}
)");
  for (const std::string& name : pass_names()) run_pass(*graph, name);
  EXPECT_EQ(ir::print(*graph), R"(graph(%x: f32[3]) {
  %b: f32[3] = exp(%x)
  %d: f32[3] = mul(%b, %b)
  return %d
}
)");
  EXPECT_THROW(run_pass(*graph, "frobnicate"), std::invalid_argument);
}

}  // namespace
}  // namespace janus::passes
