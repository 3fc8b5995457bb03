// The matmul batching pass: which products it merges (IR before and after)
// and that the rewritten graph computes what the original did.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/passes.h"
#include "runtime/cpu/program.h"

namespace janus::passes {
namespace {

// An RNN-like graph: input projections of two steps (independent: merged),
// a recurrent product (each needs the one before: not merged), and a weight
// gradient summed over the steps through transposes (one product).
const char* kSteps =
    R"(graph(%x0: f32[2,3], %x1: f32[2,3], %w: f32[4,3], %b: f32[4], %u: f32[4,4], %g0: f32[2,4], %g1: f32[2,4]) {
  %p0: f32[2,4] = linear(%x0, %w, %b)
  %h0: f32[2,4] = tanh(%p0)
  %r0: f32[2,4] = matmul(%h0, %u)
  %p1: f32[2,4] = linear(%x1, %w, %b)
  %a1: f32[2,4] = add(%p1, %r0)
  %h1: f32[2,4] = tanh(%a1)
  %r1: f32[2,4] = matmul(%h1, %u)
  %t0: f32[4,2] = permute(%g0) {dims=[1, 0]}
  %t1: f32[4,2] = permute(%g1) {dims=[1, 0]}
  %d0: f32[4,4] = matmul(%t0, %h0)
  %d1: f32[4,4] = matmul(%t1, %h1)
  %dw: f32[4,4] = add(%d0, %d1)
  return %r1, %dw
}
)";

std::map<std::string, int> op_counts(const ir::Graph& graph) {
  std::map<std::string, int> counts;
  for (const auto& node : graph.nodes()) ++counts[ir::op_name(node->kind)];
  return counts;
}

std::vector<std::vector<float>> run(const std::string& text, bool batched) {
  auto graph = ir::parse(text);
  if (batched) {
    EXPECT_GT(run_pass(*graph, "batch_matmuls"), 0);
    run_pass(*graph, "dce");
  }
  cpu::Program program(std::move(graph), {}, {}, 1);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> inputs;
  std::vector<void*> ins, outs;
  for (const ir::Value* in : program.graph().inputs()) {
    inputs.emplace_back(bytes_of(in->type) / sizeof(float));
    for (float& v : inputs.back()) v = normal(rng);
    ins.push_back(inputs.back().data());
  }
  std::vector<std::vector<float>> results;
  for (const ir::Value* out : program.graph().outputs()) {
    results.emplace_back(bytes_of(out->type) / sizeof(float));
  }
  for (auto& r : results) outs.push_back(r.data());
  program.run(ins, outs);
  return results;
}

TEST(BatchMatmuls, IndependentRowsAndSumsMergeRecurrenceDoesNot) {
  auto graph = ir::parse(kSteps);
  EXPECT_EQ(run_pass(*graph, "batch_matmuls"), 2);  // one row batch, one sum
  run_pass(*graph, "dce");
  EXPECT_TRUE(ir::verify(*graph).empty());
  const auto counts = op_counts(*graph);
  EXPECT_EQ(counts.at("linear"), 1);   // both projections, stacked
  EXPECT_EQ(counts.at("split"), 1);    // and split back
  EXPECT_EQ(counts.at("matmul"), 3);   // two recurrent, one for the gradient
  EXPECT_EQ(counts.at("permute"), 1);  // one transpose of the stacked g
  EXPECT_EQ(counts.count("add"), 1);   // the recurrence's; the sum is gone
  EXPECT_EQ(counts.at("cat"), 3);      // rows x; g; h
}

// The input's gradient (rows: g_t @ W, W shared) and the weight's
// (a sum: sum_t g_t^T x_t) stack the same g_t: one cat of them.
TEST(BatchMatmuls, RowsAndSumsStackingTheSameOperandsShareTheStack) {
  const char* text =
      R"(graph(%g0: f32[2,4], %g1: f32[2,4], %w: f32[4,3], %x0: f32[2,5], %x1: f32[2,5]) {
  %i0: f32[2,3] = matmul(%g0, %w)
  %i1: f32[2,3] = matmul(%g1, %w)
  %t0: f32[4,2] = permute(%g0) {dims=[1, 0]}
  %t1: f32[4,2] = permute(%g1) {dims=[1, 0]}
  %e0: f32[4,5] = matmul(%t0, %x0)
  %e1: f32[4,5] = matmul(%t1, %x1)
  %dv: f32[4,5] = add(%e0, %e1)
  return %i0, %i1, %dv
}
)";
  auto graph = ir::parse(text);
  EXPECT_EQ(run_pass(*graph, "batch_matmuls"), 2);  // a row batch, a sum
  run_pass(*graph, "dce");
  EXPECT_TRUE(ir::verify(*graph).empty());
  const auto counts = op_counts(*graph);
  EXPECT_EQ(counts.at("cat"), 2);  // g; x
  EXPECT_EQ(counts.at("matmul"), 2);
  const auto want = run(text, false);
  const auto got = run(text, true);
  for (size_t k = 0; k < want.size(); ++k) {
    for (size_t i = 0; i < want[k].size(); ++i) EXPECT_NEAR(want[k][i], got[k][i], 1e-5);
  }
}

// An RNN language model's table: the lookups of the rows tokens[t] become
// one lookup of all the tokens (a reshape, no cat), and the table's gradient,
// a sum of index_adds of the split gradient into zeros, one index_add of
// the whole gradient (the split's source).
const char* kEmbeddings =
    R"(graph(%w: f32[10,4], %tok: i64[3,2], %g: f32[6,4]) {
  %i0: i64[2] = index_basic(%tok) {spec=[["i", 0]]}
  %i1: i64[2] = index_basic(%tok) {spec=[["i", 1]]}
  %i2: i64[2] = index_basic(%tok) {spec=[["i", 2]]}
  %e0: f32[2,4] = embedding(%w, %i0) {padding_idx=none}
  %e1: f32[2,4] = embedding(%w, %i1) {padding_idx=none}
  %e2: f32[2,4] = embedding(%w, %i2) {padding_idx=none}
  %h: f32[2,4] = add(%e0, %e2)
  %g0: f32[2,4], %g1: f32[2,4], %g2: f32[2,4] = split(%g) {dim=0, sizes=[2, 2, 2]}
  %z0: f32[] = constant() {value=[0.0]}
  %z: f32[10,4] = expand(%z0) {shape=[10, 4]}
  %a2: f32[10,4] = index_add(%z, %i2, %g2) {alpha=1, dim=0}
  %a0: f32[10,4] = index_add(%z, %i0, %g0) {alpha=1, dim=0}
  %a1: f32[10,4] = index_add(%z, %i1, %g1) {alpha=1, dim=0}
  %s: f32[10,4] = add(%a2, %a0)
  %dw: f32[10,4] = add(%s, %a1)
  return %h, %e1, %dw
}
)";

// The same with the gradient's parts in backward order (g0 for the last
// step): the stacked indices are then the rows backwards, flip(tokens).
std::string backward_embeddings() {
  std::string text = kEmbeddings;
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"(%z, %i2, %g2)", "(%z, %i2, %g0)"}, {"(%z, %i0, %g0)", "(%z, %i0, %g2)"}}) {
    text.replace(text.find(from), from.size(), to);
  }
  return text;
}

std::vector<std::vector<float>> run_embeddings(bool batched,
                                               const std::string& text = kEmbeddings) {
  auto graph = ir::parse(text);
  if (batched) {
    EXPECT_EQ(run_pass(*graph, "batch_matmuls"), 2);
    run_pass(*graph, "dce");
  }
  cpu::Program program(std::move(graph), {}, {}, 1);
  std::vector<float> w(40), g(24);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(1.0f + i);
  for (size_t i = 0; i < g.size(); ++i) g[i] = std::cos(2.0f + i);
  std::vector<int64_t> tok = {3, 9, 0, 3, 7, 1};  // (3 twice: its gradients add)
  std::vector<std::vector<float>> results = {std::vector<float>(8), std::vector<float>(8),
                                             std::vector<float>(40)};
  program.run({w.data(), tok.data(), g.data()},
              {results[0].data(), results[1].data(), results[2].data()});
  return results;
}

TEST(BatchMatmuls, LookupsOfOneTableAndTheirGradientsMerge) {
  auto graph = ir::parse(kEmbeddings);
  EXPECT_EQ(run_pass(*graph, "batch_matmuls"), 2);  // the lookups; the sum
  run_pass(*graph, "dce");
  EXPECT_TRUE(ir::verify(*graph).empty());
  const auto counts = op_counts(*graph);
  EXPECT_EQ(counts.at("embedding"), 1);
  EXPECT_EQ(counts.at("index_add"), 1);
  EXPECT_EQ(counts.count("cat"), 0);   // stacks of rows: reshapes; of the split: %g
  EXPECT_EQ(counts.at("reshape"), 1);  // (one, shared by the lookup and the sum)
  EXPECT_EQ(counts.count("index_basic"), 0);
  const auto want = run_embeddings(false);
  const auto got = run_embeddings(true);
  for (size_t k = 0; k < want.size(); ++k) {
    for (size_t i = 0; i < want[k].size(); ++i) EXPECT_NEAR(want[k][i], got[k][i], 1e-6);
  }
}

TEST(BatchMatmuls, GradientsInBackwardOrderStackFlippedRows) {
  auto graph = ir::parse(backward_embeddings());
  EXPECT_EQ(run_pass(*graph, "batch_matmuls"), 2);
  run_pass(*graph, "dce");
  EXPECT_TRUE(ir::verify(*graph).empty());
  const auto counts = op_counts(*graph);
  EXPECT_EQ(counts.at("flip"), 1);
  EXPECT_EQ(counts.count("cat"), 0);
  EXPECT_EQ(counts.count("index_basic"), 0);
  const auto want = run_embeddings(false, backward_embeddings());
  const auto got = run_embeddings(true, backward_embeddings());
  for (size_t k = 0; k < want.size(); ++k) {
    for (size_t i = 0; i < want[k].size(); ++i) EXPECT_NEAR(want[k][i], got[k][i], 1e-6);
  }
}

// A bias's gradient over the steps, sum_t sum(g_t, dims=[0]): one reduction
// of the stacked g_t, which is the split's source for %a, %b, a stack of
// %u and %v in the order they were made for %c (the row batch of %u and %v
// by %w shares it), and a plain add of the one that does not merge (%d).
TEST(BatchMatmuls, ASumOfColumnSumsIsOneReductionOfTheStack) {
  const char* text = R"(graph(%g: f32[6,4], %x: f32[3,4], %y: f32[2,4], %w: f32[4,5], %d: f32[4]) {
  %g0: f32[2,4], %g1: f32[2,4], %g2: f32[2,4] = split(%g) {dim=0, sizes=[2, 2, 2]}
  %u: f32[3,4] = exp(%x)
  %v: f32[2,4] = exp(%y)
  %s2: f32[4] = sum(%g2) {dims=[0], keepdim=false}
  %s0: f32[4] = sum(%g0) {dims=[0], keepdim=false}
  %s1: f32[4] = sum(%g1) {dims=[0], keepdim=false}
  %a: f32[4] = add(%s2, %s0)
  %b: f32[4] = add(%a, %s1)
  %sv: f32[4] = sum(%v) {dims=[0], keepdim=false}
  %su: f32[4] = sum(%u) {dims=[0], keepdim=false}
  %e: f32[4] = add(%sv, %d)
  %c: f32[4] = add(%e, %su)
  %pu: f32[3,5] = matmul(%u, %w)
  %pv: f32[2,5] = matmul(%v, %w)
  return %b, %c, %pu, %pv
}
)";
  auto graph = ir::parse(text);
  EXPECT_EQ(run_pass(*graph, "batch_matmuls"), 3);  // two sums, a row batch
  run_pass(*graph, "dce");
  EXPECT_TRUE(ir::verify(*graph).empty());
  const auto counts = op_counts(*graph);
  EXPECT_EQ(counts.at("sum"), 2);
  EXPECT_EQ(counts.at("cat"), 1);  // %u, %v: for the sum and the product
  EXPECT_EQ(counts.at("matmul"), 1);
  const auto want = run(text, false);
  const auto got = run(text, true);
  for (size_t k = 0; k < want.size(); ++k) {
    for (size_t i = 0; i < want[k].size(); ++i) EXPECT_NEAR(want[k][i], got[k][i], 1e-5);
  }
}

TEST(BatchMatmuls, TheRewrittenGraphComputesTheSame) {
  const auto want = run(kSteps, false);
  const auto got = run(kSteps, true);
  ASSERT_EQ(want.size(), got.size());
  for (size_t k = 0; k < want.size(); ++k) {
    ASSERT_EQ(want[k].size(), got[k].size());
    for (size_t i = 0; i < want[k].size(); ++i) EXPECT_NEAR(want[k][i], got[k][i], 1e-5);
  }
}

// Merging one row batch must not make another batch's members depend on each
// other: here b1 feeds a2's rows and a1 feeds b2's, so once a1 and a2 are one
// product, b2 needs b1 and the pair must stay apart.
TEST(BatchMatmuls, ABatchNeverDependsOnItself) {
  const char* text = R"(graph(%x: f32[2,3], %y: f32[2,3], %w: f32[3,3], %v: f32[3,3]) {
  %a1: f32[2,3] = matmul(%x, %w)
  %b1: f32[2,3] = matmul(%y, %v)
  %e1: f32[2,3] = exp(%b1)
  %a2: f32[2,3] = matmul(%e1, %w)
  %e2: f32[2,3] = exp(%a1)
  %b2: f32[2,3] = matmul(%e2, %v)
  %s: f32[2,3] = mul(%a2, %b2)
  return %s
}
)";
  auto graph = ir::parse(text);
  EXPECT_EQ(run_pass(*graph, "batch_matmuls"), 1);
  EXPECT_TRUE(ir::verify(*graph).empty());
  const auto want = run(text, false);
  const auto got = run(text, true);
  for (size_t i = 0; i < want[0].size(); ++i) {
    EXPECT_NEAR(want[0][i], got[0][i], 1e-5 * std::max(1.0f, std::abs(want[0][i])));
  }
}

TEST(BatchMatmuls, LeavesGraphsWithCallbacksAndSharedRightOperandsInSums) {
  // An assert may move (any failed one aborts the run); a callback may not.
  const char* text = R"(graph(%x0: f32[2,3], %x1: f32[2,3], %w: f32[3,3], %ok: bool[]) {
  %p0: f32[2,3] = matmul(%x0, %w)
  assert(%ok) {id=1, message="m"}
  %p1: f32[2,3] = matmul(%x1, %w)
  %s: f32[2,3] = sub(%p0, %p1)
  return %s
}
)";
  auto checked = ir::parse(text);
  EXPECT_EQ(run_pass(*checked, "batch_matmuls"), 1);
  std::string with_callback = text;
  with_callback.replace(with_callback.find("assert(%ok) {id=1, message=\"m\"}"), 31,
                        "callback(%ok) {target=\"print\"}");
  auto called = ir::parse(with_callback);
  EXPECT_EQ(run_pass(*called, "batch_matmuls"), 0);
  // sum_i g_i @ W: a row batch (W shared), not a sum over W repeated.
  auto shared = ir::parse(R"(graph(%g0: f32[2,3], %g1: f32[2,3], %w: f32[3,3]) {
  %p0: f32[2,3] = matmul(%g0, %w)
  %p1: f32[2,3] = matmul(%g1, %w)
  %s: f32[2,3] = add(%p0, %p1)
  return %s
}
)");
  EXPECT_EQ(run_pass(*shared, "batch_matmuls"), 1);
  EXPECT_EQ(op_counts(*shared).at("split"), 1);
}

}  // namespace
}  // namespace janus::passes
