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
  %c: f32[], %d: i64[] = max_dim(%x) {dim=0, keepdim=false, largest=true}
  %e: f32[3] = neg(%a)
  return %e, %d
}
)",
                  &removed),
            R"(graph(%x: f32[3]) {
  %a: f32[3] = exp(%x)
  %c: f32[], %d: i64[] = max_dim(%x) {dim=0, keepdim=false, largest=true}
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
  %g: f32[3] = philox_uniform() {device="cpu", dtype="float32", offset=0, seed=1, shape=[3]}
  %h: f32[3] = philox_uniform() {device="cpu", dtype="float32", offset=4, seed=1, shape=[3]}
  return %c, %d, %e, %f, %g, %h
}
)"),
            R"(graph(%x: f32[3], %y: f32[3]) {
  %a: f32[3] = mul(%x, %y)
  %c: f32[3] = add(%a, %a)
  %e: f32[3] = add(%a, %a) {alpha=2}
  %f: f32[3] = mul(%y, %x)
  %g: f32[3] = philox_uniform() {device="cpu", dtype="float32", offset=0, seed=1, shape=[3]}
  %h: f32[3] = philox_uniform() {device="cpu", dtype="float32", offset=4, seed=1, shape=[3]}
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

// An elementwise op reads the operand of an expand when its other operands
// broadcast with it to the op's shape anyway (%a; %b, every operand); %c
// (relu: nothing else restores the shape) and %d (the other operand is as
// small) keep it.
TEST(Passes, ElementwiseOpsReadPastExpands) {
  int rewrites = 0;
  EXPECT_EQ(
      after("simplify", R"(graph(%s: f32[1,3,1], %x: f32[2,3,4], %t: f32[3,1], %m: bool[3,1]) {
  %e: f32[2,3,4] = expand(%s) {shape=[2, 3, 4]}
  %k: bool[2,3,4] = expand(%m) {shape=[2, 3, 4]}
  %a: f32[2,3,4] = mul(%e, %x)
  %b: f32[2,3,4] = where(%k, %x, %e)
  %c: f32[2,3,4] = relu(%e)
  %d: f32[2,3,4] = add(%e, %t)
  return %a, %b, %c, %d
}
)",
            &rewrites),
      R"(graph(%s: f32[1,3,1], %x: f32[2,3,4], %t: f32[3,1], %m: bool[3,1]) {
  %e: f32[2,3,4] = expand(%s) {shape=[2, 3, 4]}
  %k: bool[2,3,4] = expand(%m) {shape=[2, 3, 4]}
  %a: f32[2,3,4] = mul(%s, %x)
  %b: f32[2,3,4] = where(%m, %x, %s)
  %c: f32[2,3,4] = relu(%e)
  %d: f32[2,3,4] = add(%e, %t)
  return %a, %b, %c, %d
}
)");
  EXPECT_EQ(rewrites, 2);
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

TEST(Passes, FusionMergesAChainWithBroadcastInputsAndItsReduction) {
  int fused = 0;
  EXPECT_EQ(after("fuse", R"(graph(%x: f32[4,3], %b: f32[3]) {
  %a: f32[4,3] = mul(%x, %b)
  %c: f32[4,3] = add(%a, 1.0) {alpha=2}
  %d: f32[4,3] = relu(%c)
  %s: f32[] = sum(%d) {dims=[0, 1], keepdim=false}
  return %s
}
)",
                  &fused),
            R"(graph(%x: f32[4,3], %b: f32[3]) {
  %s: f32[] = fused(%x, %b) {body=[["mul", "f32", ["in0", "in1"], []], ["add", "f32", ["t0", 1.0], [["alpha", 2]]], ["relu", "f32", ["t1"], []], ["sum", "f32", ["t2"], [["dims", [0, 1]], ["keepdim", false]]]], results=[3]}
  return %s
}
)");
  EXPECT_EQ(fused, 1);
}

TEST(Passes, FusionOfATreeKeepsValuesUsedOutside) {
  // %e is a graph output and stays materialized; %a feeds only the sum,
  // which joins the group as its last instruction (it ran before the group
  // ended; the fused node runs where the group's last member did).
  EXPECT_EQ(after("fuse", R"(graph(%x: f32[2,3], %y: f32[2,3]) {
  %a: f32[2,3] = exp(%x)
  %b: f32[2,3] = sin(%y)
  %m: f32[3] = sum(%a) {dims=[0], keepdim=false}
  %c: f32[2,3] = add(%a, %b)
  %d: bool[2,3] = gt(%c, 0.0)
  %e: f32[2,3] = where(%d, %c, %x)
  %i: i32[2,3] = to_dtype(%e) {dtype="int32"}
  return %i, %m, %e
}
)"),
            R"(graph(%x: f32[2,3], %y: f32[2,3]) {
  %e: f32[2,3], %i: i32[2,3], %m: f32[3] = fused(%x, %y) {body=[["exp", "f32", ["in0"], []], ["sin", "f32", ["in1"], []], ["add", "f32", ["t0", "t1"], []], ["gt", "bool", ["t2", 0.0], []], ["where", "f32", ["t3", "t2", "in0"], []], ["to_dtype", "i32", ["t4"], [["dtype", "int32"]]], ["sum", "f32", ["t0"], [["dims", [0]], ["keepdim", false]]]], results=[4, 5, 6]}
  return %i, %m, %e
}
)");
}

TEST(Passes, FusionStopsAtShapesCyclesAndOtherOps) {
  // {%e, %n} compute over [3], the rest over [4,3]. %c cannot join %a: the
  // path %a -> %s -> %c leaves the group and comes back; %a takes its
  // reduction %s instead. The engine refuses float16, the i64 + 0.5 of mixed dtypes and a clamp
  // with bounds as operands (it takes them as attributes): none is fused.
  EXPECT_EQ(after("fuse", R"(graph(%x: f32[4,3], %b: f32[3], %h: f16[3], %i: i64[3]) {
  %e: f32[3] = exp(%b)
  %n: f32[3] = neg(%e)
  %a: f32[4,3] = mul(%x, %n)
  %s: f32[4,1] = sum(%a) {dims=[1], keepdim=true}
  %c: f32[4,3] = sub(%a, %s)
  %d: f32[4,3] = exp(%c)
  %g: f16[3] = neg(%h)
  %k: f16[3] = abs(%g)
  %p: f32[3] = add(%i, 0.5)
  %q: f32[3] = neg(%p)
  %z: f32[3] = clamp(%q, -1.0, 1.0)
  return %d, %k, %z
}

)"),
            R"(graph(%x: f32[4,3], %b: f32[3], %h: f16[3], %i: i64[3]) {
  %n: f32[3] = fused(%b) {body=[["exp", "f32", ["in0"], []], ["neg", "f32", ["t0"], []]], results=[1]}
  %a: f32[4,3], %s: f32[4,1] = fused(%x, %n) {body=[["mul", "f32", ["in0", "in1"], []], ["sum", "f32", ["t0"], [["dims", [1]], ["keepdim", true]]]], results=[0, 1]}
  %d: f32[4,3] = fused(%a, %s) {body=[["sub", "f32", ["in0", "in1"], []], ["exp", "f32", ["t0"], []]], results=[1]}
  %g: f16[3] = neg(%h)
  %k: f16[3] = abs(%g)
  %p: f32[3] = add(%i, 0.5)
  %q: f32[3] = neg(%p)
  %z: f32[3] = clamp(%q, -1.0, 1.0)
  return %d, %k, %z
}
)");
}

// A group takes every reduction of its values that the CPU engine folds (%s,
// %p); %q (a middle dim), %r (of a graph input: no group), %t (integers: the
// engine's sums of ints are not fused) and %u (on CUDA, whose fused kernels
// are elementwise) stay as they are.
TEST(Passes, FusionTakesTheFoldableReductionsOfItsValues) {
  EXPECT_EQ(after("fuse", R"(graph(%x: f32[2,3,4], %i: i64[5], %c: f32[6]@cuda:0) {
  %a: f32[2,3,4] = exp(%x)
  %s: f32[3,4] = mean(%a) {dims=[0], keepdim=false}
  %p: f32[] = amax(%a) {dims=none, keepdim=false}
  %b: f32[2,3,4] = neg(%x)
  %q: f32[2,4] = sum(%b) {dims=[1], keepdim=false}
  %r: f32[2,3] = amin(%x) {dims=[-1], keepdim=false}
  %j: i64[5] = neg(%i)
  %t: i64[] = sum(%j) {dims=[0], keepdim=false}
  %e: f32[6]@cuda:0 = exp(%c)
  %u: f32[]@cuda:0 = sum(%e) {dims=[0], keepdim=false}
  return %s, %p, %q, %r, %t, %u
}
)"),
            R"(graph(%x: f32[2,3,4], %i: i64[5], %c: f32[6]@cuda:0) {
  %s: f32[3,4], %p: f32[] = fused(%x) {body=[["exp", "f32", ["in0"], []], ["mean", "f32", ["t0"], [["dims", [0]], ["keepdim", false]]], ["amax", "f32", ["t0"], [["dims", none], ["keepdim", false]]]], results=[1, 2]}
  %b: f32[2,3,4] = neg(%x)
  %q: f32[2,4] = sum(%b) {dims=[1], keepdim=false}
  %r: f32[2,3] = amin(%x) {dims=[-1], keepdim=false}
  %j: i64[5] = neg(%i)
  %t: i64[] = sum(%j) {dims=[0], keepdim=false}
  %e: f32[6]@cuda:0 = exp(%c)
  %u: f32[]@cuda:0 = sum(%e) {dims=[0], keepdim=false}
  return %s, %p, %q, %r, %t, %u
}
)");
}

// A group reads the operand of an expand to its shape (a mean's gradient,
// expand(g / n), scaled in the group), and the expand goes when nothing else
// uses it; %f, also a graph output, stays.
TEST(Passes, FusionReadsWhatAnExpandBroadcasts) {
  EXPECT_EQ(after("fuse", R"(graph(%g: f32[1,3,1,1], %x: f32[2,3,4,4], %h: f32[3,1,1]) {
  %e: f32[2,3,4,4] = expand(%g) {shape=[2, 3, 4, 4]}
  %a: f32[2,3,4,4] = div(%e, 32.0)
  %b: f32[2,3,4,4] = mul(%a, %x)
  %f: f32[2,3,4,4] = expand(%h) {shape=[2, 3, 4, 4]}
  %c: f32[2,3,4,4] = neg(%f)
  %d: f32[2,3,4,4] = add(%c, %b)
  return %d, %f
}
)"),
            R"(graph(%g: f32[1,3,1,1], %x: f32[2,3,4,4], %h: f32[3,1,1]) {
  %f: f32[2,3,4,4] = expand(%h) {shape=[2, 3, 4, 4]}
  %d: f32[2,3,4,4] = fused(%g, %x, %h) {body=[["div", "f32", ["in0", 32.0], []], ["mul", "f32", ["t0", "in1"], []], ["neg", "f32", ["in2"], []], ["add", "f32", ["t2", "t1"], []]], results=[3]}
  return %d, %f
}
)");
}

// A 0-d CPU scalar is an operand a GPU group may read (%s: copied to the
// device with the host inputs); a CPU tensor with elements (%v) is not.
TEST(Passes, FusionOnTheGpuReadsZeroDCpuScalars) {
  EXPECT_EQ(after("fuse", R"(graph(%x: f32[4]@cuda:0, %s: f32[], %v: f32[4]) {
  %a: f32[4]@cuda:0 = mul(%x, %s)
  %b: f32[4]@cuda:0 = exp(%a)
  %c: f32[4]@cuda:0 = add(%b, %v)
  %d: f32[4]@cuda:0 = neg(%c)
  return %d
}
)"),
            R"(graph(%x: f32[4]@cuda:0, %s: f32[], %v: f32[4]) {
  %b: f32[4]@cuda:0 = fused(%x, %s) {body=[["mul", "f32", ["in0", "in1"], []], ["exp", "f32", ["t0"], []]], results=[1]}
  %c: f32[4]@cuda:0 = add(%b, %v)
  %d: f32[4]@cuda:0 = neg(%c)
  return %d
}
)");
}

TEST(Passes, ConstantsFoldThroughTheCpuKernels) {
  int folded = 0;
  auto graph = ir::parse(R"(graph(%x: f32[3]) {
  %k: f32[3] = constant() {value=[1.0, 2.0, 3.0]}
  %a: f32[3] = mul(%k, 2.0)
  %b: f32[] = sum(%a) {dims=[0], keepdim=false}
  %i: i64[2] = constant() {value=[2, 0]}
  %w: f32[3,1] = reshape(%a) {shape=[3, 1]}
  %g: f32[2,1] = embedding(%w, %i) {padding_idx=none}
  %bad: i64[1] = constant() {value=[5]}
  %o: f32[1,1] = embedding(%w, %bad) {padding_idx=none}
  %r: f32[3] = philox_uniform() {device="cpu", dtype="float32", offset=0, seed=7, shape=[3]}
  %y: f32[3] = add(%x, %b)
  %z: f32[3] = add(%y, %r)
  return %z, %g, %o
}
)");
  folded = run_pass(*graph, "fold");
  run_pass(*graph, "dce");
  EXPECT_TRUE(ir::verify(*graph).empty());
  // The out-of-range lookup stays, to fail at run time as it would unfolded;
  // the random op stays (its stream position moves at run time).
  EXPECT_EQ(ir::print(*graph), R"(graph(%x: f32[3]) {
  %b: f32[] = constant() {value=[12.0]}
  %w: f32[3,1] = constant() {value=[2.0, 4.0, 6.0]}
  %g: f32[2,1] = constant() {value=[6.0, 2.0]}
  %bad: i64[1] = constant() {value=[5]}
  %o: f32[1,1] = embedding(%w, %bad) {padding_idx=none}
  %r: f32[3] = philox_uniform() {device="cpu", dtype="float32", offset=0, seed=7, shape=[3]}
  %y: f32[3] = add(%x, %b)
  %z: f32[3] = add(%y, %r)
  return %z, %g, %o
}
)");
  EXPECT_EQ(folded, 4);  // mul, sum, reshape, the good embedding
}

TEST(Passes, FoldingSkipsLargeResultsAndNodesWithoutKernels) {
  const std::string text = R"(graph() {
  %k: f32[1] = constant() {value=[1.0]}
  %big: f32[2000] = expand(%k) {shape=[2000]}
  %n: i64[1,1] = nonzero(%k)
  return %big, %n
}
)";
  int folded = -1;
  EXPECT_EQ(after("fold", text, &folded), text);
  EXPECT_EQ(folded, 0);
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
  %d: f32[3] = fused(%x) {body=[["exp", "f32", ["in0"], []], ["mul", "f32", ["t0", "t0"], []]], results=[1]}
  return %d
}
)");
  EXPECT_THROW(run_pass(*graph, "frobnicate"), std::invalid_argument);
}

}  // namespace
}  // namespace janus::passes
