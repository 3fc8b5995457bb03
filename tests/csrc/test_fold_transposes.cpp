// The transpose folding pass: which permutes it folds into a product (IR
// before and after) and that the rewritten graph computes what the original
// did, on the CPU runtime's GEMM with transpose flags.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/passes.h"
#include "runtime/cpu/program.h"

namespace janus::passes {
namespace {

std::map<std::string, int> op_counts(const ir::Graph& graph) {
  std::map<std::string, int> counts;
  for (const auto& node : graph.nodes()) ++counts[ir::op_name(node->kind)];
  return counts;
}

const ir::Node& only(const ir::Graph& graph, const char* op) {
  const ir::Node* found = nullptr;
  for (const auto& node : graph.nodes()) {
    if (std::string(ir::op_name(node->kind)) == op) {
      EXPECT_EQ(found, nullptr) << "more than one " << op;
      found = node.get();
    }
  }
  EXPECT_NE(found, nullptr) << "no " << op;
  return *found;
}

bool flag(const ir::Node& node, const char* name) {
  const auto found = node.attrs.find(name);
  return found != node.attrs.end() && found->second.b;
}

// Outputs of `text` on fixed random inputs; `folded` runs the pass (and DCE) first.
std::vector<std::vector<double>> run(const std::string& text, bool folded) {
  auto graph = ir::parse(text);
  if (folded) {
    EXPECT_GT(run_pass(*graph, "fold_transposes"), 0);
    run_pass(*graph, "dce");
  }
  cpu::Program program(std::move(graph), {}, {}, 1);
  std::mt19937 rng(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<std::vector<char>> inputs, results;
  std::vector<void*> ins, outs;
  auto fill = [&](const ir::TensorType& type, std::vector<char>& bytes) {
    bytes.resize(bytes_of(type));
    if (type.dtype == ir::DType::kFloat64) {
      auto* data = reinterpret_cast<double*>(bytes.data());
      for (size_t i = 0; i < bytes.size() / sizeof(double); ++i) data[i] = normal(rng);
    } else {
      auto* data = reinterpret_cast<float*>(bytes.data());
      for (size_t i = 0; i < bytes.size() / sizeof(float); ++i) data[i] = float(normal(rng));
    }
  };
  for (const ir::Value* in : program.graph().inputs()) {
    inputs.emplace_back();
    fill(in->type, inputs.back());
  }
  for (auto& bytes : inputs) ins.push_back(bytes.data());
  for (const ir::Value* out : program.graph().outputs()) results.emplace_back(bytes_of(out->type));
  for (auto& bytes : results) outs.push_back(bytes.data());
  program.run(ins, outs);
  std::vector<std::vector<double>> values;
  for (size_t k = 0; k < results.size(); ++k) {
    const bool f64 = program.graph().outputs()[k]->type.dtype == ir::DType::kFloat64;
    values.emplace_back();
    const size_t count = results[k].size() / (f64 ? sizeof(double) : sizeof(float));
    for (size_t i = 0; i < count; ++i) {
      values.back().push_back(f64 ? reinterpret_cast<const double*>(results[k].data())[i]
                                  : reinterpret_cast<const float*>(results[k].data())[i]);
    }
  }
  return values;
}

void expect_same_results(const std::string& text) {
  const auto want = run(text, false);
  const auto got = run(text, true);
  ASSERT_EQ(want.size(), got.size());
  for (size_t k = 0; k < want.size(); ++k) {
    ASSERT_EQ(want[k].size(), got[k].size());
    for (size_t i = 0; i < want[k].size(); ++i) EXPECT_NEAR(want[k][i], got[k][i], 1e-4);
  }
}

// A weight gradient g^T h, and a product with a transposed right operand.
const char* kMatrices = R"(graph(%g: f32[5,4], %h: f32[5,3], %x: f32[2,3], %w: f32[4,3]) {
  %gt: f32[4,5] = permute(%g) {dims=[1, 0]}
  %dw: f32[4,3] = matmul(%gt, %h)
  %wt: f32[3,4] = permute(%w) {dims=[-1, -2]}
  %y: f32[2,4] = matmul(%x, %wt)
  return %dw, %y
}
)";

TEST(FoldTransposes, PermutesOfEitherOperandBecomeFlags) {
  auto graph = ir::parse(kMatrices);
  EXPECT_EQ(run_pass(*graph, "fold_transposes"), 2);
  run_pass(*graph, "dce");
  EXPECT_TRUE(ir::verify(*graph).empty());
  EXPECT_EQ(op_counts(*graph).count("permute"), 0u);
  const std::string text = ir::print(*graph);
  EXPECT_NE(text.find("matmul(%g, %h) {transpose_a=true}"), std::string::npos) << text;
  EXPECT_NE(text.find("matmul(%x, %w) {transpose_b=true}"), std::string::npos) << text;
  EXPECT_EQ(run_pass(*graph, "infer_types"), 0);  // the types still check
  expect_same_results(kMatrices);
}

TEST(FoldTransposes, BatchedAndDoubleTransposedProducts) {
  const char* text = R"(graph(%a: f64[2,4,3], %b: f64[2,5,4], %c: f32[3,6,2], %d: f32[6,2]) {
  %at: f64[2,3,4] = permute(%a) {dims=[0, 2, 1]}
  %bt: f64[2,4,5] = permute(%b) {dims=[0, 2, 1]}
  %p: f64[2,3,5] = matmul(%at, %bt)
  %ct: f32[3,2,6] = permute(%c) {dims=[0, 2, 1]}
  %q: f32[3,2,2] = matmul(%ct, %d)
  return %p, %q
}
)";
  auto graph = ir::parse(text);
  EXPECT_EQ(run_pass(*graph, "fold_transposes"), 3);
  run_pass(*graph, "dce");
  EXPECT_EQ(op_counts(*graph).count("permute"), 0u);
  expect_same_results(text);
}

TEST(FoldTransposes, APermuteOfAFlaggedOperandCancelsTheFlag) {
  // A product already reading its operand transposed, of a permute:
  // matmul(permute(g)) {transpose_a} is matmul(g) with no flag.
  auto twice = ir::parse(R"(graph(%g: f32[4,5], %h: f32[5,3]) {
  %gt: f32[5,4] = permute(%g) {dims=[1, 0]}
  %dw: f32[4,3] = matmul(%gt, %h) {transpose_a=true}
  return %dw
}
)");
  EXPECT_EQ(run_pass(*twice, "fold_transposes"), 1);
  const ir::Node& product = only(*twice, "matmul");
  EXPECT_FALSE(flag(product, "transpose_a"));
  EXPECT_TRUE(product.attrs.empty());
  EXPECT_EQ(run_pass(*twice, "infer_types"), 0);
}

// autograd's gradient of x @ w.t() with respect to w: (x^T g)^T.
const char* kTransposedProduct = R"(graph(%x: f32[5,4], %g: f32[5,3], %h: f32[4,3]) {
  %xt: f32[4,5] = permute(%x) {dims=[1, 0]}
  %p: f32[4,3] = matmul(%xt, %g)
  %dw: f32[3,4] = permute(%p) {dims=[1, 0]}
  %q: f32[4,3] = matmul(%xt, %g)
  %r: f32[3,4] = permute(%q) {dims=[1, 0]}
  %s: f32[4,3] = add(%q, %h)
  return %dw, %r, %s
}
)";

TEST(FoldTransposes, ATransposedProductIsTheProductTheOtherWayRound) {
  auto graph = ir::parse(kTransposedProduct);
  // The operand permutes of p and q, and the transpose of p (q is read twice:
  // its transpose stays a permute).
  EXPECT_EQ(run_pass(*graph, "fold_transposes"), 3);
  run_pass(*graph, "dce");
  const std::string text = ir::print(*graph);
  EXPECT_NE(text.find("%dw: f32[3,4] = matmul(%g, %x) {transpose_a=true}"), std::string::npos)
      << text;
  EXPECT_EQ(op_counts(*graph).at("matmul"), 2);
  EXPECT_EQ(op_counts(*graph).at("permute"), 1);
  EXPECT_EQ(run_pass(*graph, "infer_types"), 0);
  expect_same_results(kTransposedProduct);
}

TEST(FoldTransposes, LeavesOtherPermutesAndDtypesAlone) {
  auto graph =
      ir::parse(R"(graph(%a: f32[2,3,4], %w: f32[4,5], %i: i64[3,2], %j: i64[3,2], %x: f32[2,3]) {
  %p: f32[3,2,4] = permute(%a) {dims=[1, 0, 2]}
  %q: f32[3,2,5] = matmul(%p, %w)
  %it: i64[2,3] = permute(%i) {dims=[1, 0]}
  %r: i64[2,2] = matmul(%it, %j)
  %xt: f32[3,2] = permute(%x) {dims=[1, 0]}
  %s: f32[3,3] = matmul(%xt, %x)
  %u: f32[3,2] = exp(%xt)
  return %q, %r, %s, %u
}
)");
  // Only %s qualifies (a leading-dims permute and an integer product do not);
  // its permute stays for exp, which reads it too.
  EXPECT_EQ(run_pass(*graph, "fold_transposes"), 1);
  run_pass(*graph, "dce");
  EXPECT_EQ(op_counts(*graph).at("permute"), 3);
  EXPECT_TRUE(ir::verify(*graph).empty());
}

TEST(FoldTransposes, TheTypeRuleRejectsAFlaggedVector) {
  auto graph = ir::parse(R"(graph(%v: f32[3], %m: f32[3,2]) {
  %y: f32[2] = matmul(%v, %m) {transpose_a=true}
  return %y
}
)");
  EXPECT_THROW(run_pass(*graph, "infer_types"), std::invalid_argument);
}

}  // namespace
}  // namespace janus::passes
