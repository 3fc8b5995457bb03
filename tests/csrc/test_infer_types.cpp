// Shape and dtype inference on IR text: results written without a type, the
// graph expected once they are filled in; and the errors for wrong types.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "ir/graph.h"
#include "passes/passes.h"
#include "passes/type_rules.h"

namespace janus::passes {
namespace {

std::string inferred(const std::string& before) {
  auto graph = ir::parse(before);
  infer_types(*graph);
  EXPECT_TRUE(ir::verify(*graph).empty()) << ir::print(*graph);
  return ir::print(*graph);
}

std::string error_of(const std::string& text) {
  try {
    auto graph = ir::parse(text);
    infer_types(*graph);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "no error";
}

TEST(InferTypes, UntypedResultsAreMarkedAndRejectedByTheVerifier) {
  auto graph = ir::parse("graph(%x: f32[3]) {\n  %y = relu(%x)\n  return %y\n}\n");
  EXPECT_FALSE(graph->nodes()[0]->outputs[0]->typed);
  ASSERT_EQ(ir::verify(*graph).size(), 1u);
  EXPECT_NE(ir::verify(*graph)[0].find("%y has no type"), std::string::npos);
  EXPECT_EQ(infer_types(*graph), 1);
  EXPECT_TRUE(ir::verify(*graph).empty());
}

TEST(InferTypes, ABatchSymbolFlowsThroughAnMlp) {
  EXPECT_EQ(
      inferred(
          R"(graph(%x: f32[?B,784], %w1: f32[128,784], %b1: f32[128], %w2: f32[10,128], %t: i64[?B]) {
  %h = linear(%x, %w1, %b1)
  %r = relu(%h)
  %o = linear(%r, %w2, none)
  %p = log_softmax(%o) {dim=1}
  %l = nll_loss(%p, %t, none, -100, "mean")
  %m, %i = max_dim(%o) {dim=-1, keepdim=false, largest=true}
  return %l, %i
}
)"),
      R"(graph(%x: f32[?B,784], %w1: f32[128,784], %b1: f32[128], %w2: f32[10,128], %t: i64[?B]) {
  %h: f32[?B,128] = linear(%x, %w1, %b1)
  %r: f32[?B,128] = relu(%h)
  %o: f32[?B,10] = linear(%r, %w2, none)
  %p: f32[?B,10] = log_softmax(%o) {dim=1}
  %l: f32[] = nll_loss(%p, %t, none, -100, "mean")
  %m: f32[?B], %i: i64[?B] = max_dim(%o) {dim=-1, keepdim=false, largest=true}
  return %l, %i
}
)");
}

TEST(InferTypes, PromotionAndBroadcasting) {
  EXPECT_EQ(
      inferred(
          R"(graph(%a: f32[?B,1,3], %b: f64[4,1], %i: i64[3], %u: u8[3], %s: i8[3], %z: f64[]) {
  %0 = add(%a, %b)
  %1 = mul(%i, 2.5)
  %2 = mul(%i, 2)
  %3 = add(%u, %s)
  %4 = sub(%a, %z)
  %5 = mul(%i, %z)
  %6 = lt(%a, %b)
  %7 = where(%6, %a, 0.0)
  return %0, %1, %2, %3, %4, %5, %7
}
)"),
      R"(graph(%a: f32[?B,1,3], %b: f64[4,1], %i: i64[3], %u: u8[3], %s: i8[3], %z: f64[]) {
  %0: f64[?B,4,3] = add(%a, %b)
  %1: f32[3] = mul(%i, 2.5)
  %2: i64[3] = mul(%i, 2)
  %3: i16[3] = add(%u, %s)
  %4: f32[?B,1,3] = sub(%a, %z)
  %5: f64[3] = mul(%i, %z)
  %6: bool[?B,4,3] = lt(%a, %b)
  %7: f32[?B,4,3] = where(%6, %a, 0.0)
  return %0, %1, %2, %3, %4, %5, %7
}
)");
}

TEST(InferTypes, ReshapeExpressesProductsOfSymbolsOrMakesAFreshOne) {
  EXPECT_EQ(inferred(R"(graph(%x: f32[?B,?T,8]) {
  %0 = reshape(%x) {shape=[-1, 8]}
  %1 = reshape(%x) {shape=[-1, 4]}
  %2 = reshape(%x) {shape=[-1, 3]}
  %3 = reshape(%0) {shape=[2, 4, -1]}
  %4 = permute(%x) {dims=[2, 0, 1]}
  %5 = sum(%x) {dims=[1], keepdim=true}
  %6 = sum(%x) {dims=[0, -1], keepdim=false}
  %7 = cat(%x, %x) {dim=2}
  %8 = cat(%x, %x) {dim=1}
  return %0, %1, %2, %3, %4, %5, %6, %7, %8
}
)"),
            R"(graph(%x: f32[?B,?T,8]) {
  %0: f32[?B*T,8] = reshape(%x) {shape=[-1, 8]}
  %1: f32[?B*T*2,4] = reshape(%x) {shape=[-1, 4]}
  %2: f32[?s0,3] = reshape(%x) {shape=[-1, 3]}
  %3: f32[2,4,?B*T] = reshape(%0) {shape=[2, 4, -1]}
  %4: f32[8,?B,?T] = permute(%x) {dims=[2, 0, 1]}
  %5: f32[?B,1,8] = sum(%x) {dims=[1], keepdim=true}
  %6: f32[?T] = sum(%x) {dims=[0, -1], keepdim=false}
  %7: f32[?B,?T,16] = cat(%x, %x) {dim=2}
  %8: f32[?B,?s1,8] = cat(%x, %x) {dim=1}
  return %0, %1, %2, %3, %4, %5, %6, %7, %8
}
)");
}

TEST(InferTypes, MatmulConvPoolAndIndexing) {
  EXPECT_EQ(
      inferred(
          R"(graph(%a: f32[?B,2,3], %b: f32[3,5], %v: f32[3], %x: f32[?N,3,32,32], %w: f32[8,3,5,5], %i: i64[4]) {
  %0 = matmul(%a, %b)
  %1 = matmul(%a, %v)
  %2 = conv2d(%x, %w) {dilation=[1, 1], groups=1, padding=[2, 2], stride=[2, 2]}
  %3, %4 = max_pool2d(%2) {ceil_mode=true, dilation=[1, 1], kernel=[3, 3], padding=[0, 0], stride=[2, 2]}
  %5 = index_basic(%x) {spec=[["i", 0], ["s", 1, none, none], ["n"], ["e"], ["s", none, none, -2]]}
  %6 = index(%x, %i) {spec=[["s", none, none, none], ["t"]]}
  %7 = index(%x, %i, %i) {spec=[["t"], ["s", none, none, none], ["t"]]}
  %8 = einsum(%a, %b) {equation="bij,jk->bik"}
  return %0, %1, %3, %4, %5, %6, %7, %8
}
)"),
      R"(graph(%a: f32[?B,2,3], %b: f32[3,5], %v: f32[3], %x: f32[?N,3,32,32], %w: f32[8,3,5,5], %i: i64[4]) {
  %0: f32[?B,2,5] = matmul(%a, %b)
  %1: f32[?B,2] = matmul(%a, %v)
  %2: f32[?N,8,16,16] = conv2d(%x, %w) {dilation=[1, 1], groups=1, padding=[2, 2], stride=[2, 2]}
  %3: f32[?N,8,8,8], %4: i64[?N,8,8,8] = max_pool2d(%2) {ceil_mode=true, dilation=[1, 1], kernel=[3, 3], padding=[0, 0], stride=[2, 2]}
  %5: f32[2,1,32,16] = index_basic(%x) {spec=[["i", 0], ["s", 1, none, none], ["n"], ["e"], ["s", none, none, -2]]}
  %6: f32[?N,4,32,32] = index(%x, %i) {spec=[["s", none, none, none], ["t"]]}
  %7: f32[4,3,32] = index(%x, %i, %i) {spec=[["t"], ["s", none, none, none], ["t"]]}
  %8: f32[?B,2,5] = einsum(%a, %b) {equation="bij,jk->bik"}
  return %0, %1, %3, %4, %5, %6, %7, %8
}
)");
}

TEST(InferTypes, DataDependentSizesGetFreshSymbols) {
  EXPECT_EQ(inferred(R"(graph(%x: f32[5,3], %m: bool[5,3]) {
  %0 = nonzero(%m)
  %1 = index(%x, %m) {spec=[["t"]]}
  return %0, %1
}
)"),
            R"(graph(%x: f32[5,3], %m: bool[5,3]) {
  %0: i64[?s0,2] = nonzero(%m)
  %1: f32[?s1] = index(%x, %m) {spec=[["t"]]}
  return %0, %1
}
)");
}

TEST(InferTypes, DeclaredTypesAreCheckedAndMayBeMoreSpecific) {
  // A recorded graph: the symbol's size at recording time is fine...
  auto graph = ir::parse(R"(graph(%m: bool[5,3], %x: f32[?B,3]) {
  %0: i64[4,2] = nonzero(%m)
  %1: f32[?B,3] = relu(%x)
  return %0, %1
}
)");
  EXPECT_EQ(infer_types(*graph), 0);
  // ...a contradiction is an error naming the node.
  EXPECT_EQ(
      error_of(R"(graph(%a: f32[2,3], %b: f32[3,4]) {
  %c: f32[2,5] = matmul(%a, %b)
  return %c
}
)"),
      "infer_types: %c = matmul(...): %c is declared f32[2,5] but its operands give f32[2,4]");
  EXPECT_NE(error_of(R"(graph(%a: f32[2,3], %b: f32[4,5]) {
  %c = matmul(%a, %b)
  return %c
}
)")
                .find("%c = matmul(...): shapes [2,3] and [4,5] cannot be multiplied"),
            std::string::npos);
  EXPECT_NE(error_of(R"(graph(%a: f32[2,3], %b: f32[4,3]) {
  %c = add(%a, %b)
  return %c
}
)")
                .find("sizes 2 and 4 do not broadcast"),
            std::string::npos);
  EXPECT_NE(error_of(R"(graph(%a: f32[6]) {
  %c = reshape(%a) {shape=[4]}
  return %c
}
)")
                .find("is invalid for input of size 6"),
            std::string::npos);
  // One symbol, one size: ?s0 cannot be 4 in one place and 5 in another.
  EXPECT_NE(error_of(R"(graph(%m: bool[5,3]) {
  %0: i64[4,2] = nonzero(%m)
  %1: i64[5,2] = clone(%0)
  return %1
}
)")
                .find("%1 is declared i64[5,2] but its operands give i64[4,2]"),
            std::string::npos);
}

TEST(InferTypes, DimensionArithmetic) {
  using ir::Dim;
  EXPECT_EQ(multiply(Dim::symbolic("T"), Dim::symbolic("B")), Dim::symbolic("B*T"));
  EXPECT_EQ(multiply(Dim::symbolic("B"), Dim::known(0)), Dim::known(0));
  EXPECT_EQ(divide(Dim::symbolic("B*T*4"), Dim::known(2)), Dim::symbolic("B*T*2"));
  EXPECT_EQ(divide(Dim::symbolic("B*T"), Dim::symbolic("T")), Dim::symbolic("B"));
  EXPECT_FALSE(divide(Dim::symbolic("B"), Dim::known(3)).has_value());
  EXPECT_THROW(divide(Dim::known(7), Dim::known(2)), RuleError);
  EXPECT_EQ(broadcast_dim(Dim::symbolic("B"), Dim::known(1)), Dim::symbolic("B"));
  EXPECT_EQ(broadcast_dim(Dim::symbolic("B"), Dim::known(4)), Dim::known(4));
  EXPECT_FALSE(broadcast_dim(Dim::symbolic("B"), Dim::symbolic("C")).has_value());
  EXPECT_EQ(promote(ir::DType::kUInt8, ir::DType::kInt8), ir::DType::kInt16);
  EXPECT_EQ(promote(ir::DType::kBool, ir::DType::kFloat16), ir::DType::kFloat16);
  EXPECT_EQ(promote(ir::DType::kInt32, ir::DType::kInt64), ir::DType::kInt64);
}

TEST(InferTypes, ProductSymbolsPrintAndParseBack) {
  const std::string text = "graph(%x: f32[?B*T*2,4]) {\n  return %x\n}\n";
  EXPECT_EQ(ir::print(*ir::parse(text)), text);
  EXPECT_THROW(ir::parse("graph(%x: f32[?2*B]) {\n  return %x\n}\n"), std::invalid_argument);
}

TEST(InferTypes, IsTheFirstPassOfTheDefaultPipeline) {
  EXPECT_EQ(pass_names().front(), "infer_types");
  auto graph = ir::parse("graph(%x: f32[3]) {\n  %y = exp(%x)\n  return %y\n}\n");
  EXPECT_EQ(run_pass(*graph, "infer_types"), 1);
}

}  // namespace
}  // namespace janus::passes
