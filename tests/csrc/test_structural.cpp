// The structural ops (fused, constant): their attributes print and parse back
// through the text form, decode to bodies, and the verifier names what is
// wrong with malformed ones.
#include <gtest/gtest.h>

#include <string>

#include "ir/graph.h"
#include "ir/structural.h"

namespace janus::ir {
namespace {

const char* kFused = R"(graph(%x: f32[4,3], %b: f32[3]) {
  %k: i64[2] = constant() {value=[7, -1]}
  %y: f32[4,3], %m: bool[4,3] = fused(%x, %b) {body=[["mul", "f32", ["in0", "in1"], []], ["add", "f32", ["t0", 1.5], [["alpha", 2]]], ["gt", "bool", ["t1", 0.0], []]], results=[1, 2]}
  return %y, %m, %k
}
)";

TEST(Structural, FusedAndConstantRoundTripAndDecode) {
  const auto graph = parse(kFused);
  EXPECT_EQ(print(*graph), kFused);
  EXPECT_TRUE(verify(*graph).empty());
  EXPECT_TRUE(is_structural(OpKind::fused));
  EXPECT_FALSE(is_structural(OpKind::add));
  const FusedBody body = fused_body(*graph->nodes()[1]);
  ASSERT_EQ(body.instrs.size(), 3u);
  EXPECT_EQ(body.instrs[1].kind, OpKind::add);
  EXPECT_EQ(body.instrs[1].attrs.at("alpha"), Attr::integer(2));
  EXPECT_EQ(body.instrs[2].dtype, DType::kBool);
  const auto& ref = std::get<FusedRef>(body.instrs[0].operands[1]);
  EXPECT_EQ(ref.kind, FusedRef::kInput);
  EXPECT_EQ(ref.index, 1);
  EXPECT_EQ(std::get<Attr>(body.instrs[1].operands[1]), Attr::real(1.5));
  EXPECT_EQ(body.results, (std::vector<int>{1, 2}));
  // Encoding the decoded body gives the attributes back.
  EXPECT_EQ(fused_attrs(body), graph->nodes()[1]->attrs);
}

// Each malformed node, and a piece of the verifier's complaint.
TEST(Structural, VerifierNamesMalformedBodies) {
  const std::string cases[][2] = {
      {R"(%y: f32[3] = fused(%x) {body=[["exp", "f32", ["t0"], []]], results=[0]})",
       "\"t0\" is not defined"},
      {R"(%y: f32[3] = fused(%x) {body=[["exp", "f32", ["in1"], []]], results=[0]})",
       "\"in1\" is not defined"},
      {R"(%y: f32[3] = fused(%x) {body=[["exp", "f32", ["x0"], []]], results=[0]})",
       "bad operand reference"},
      {R"(%y: f32[3] = fused(%x) {body=[["frob", "f32", ["in0"], []]], results=[0]})",
       "unknown op 'frob'"},
      {R"(%y: f32[3] = fused(%x) {body=[["fused", "f32", ["in0"], []]], results=[0]})",
       "unknown op 'fused'"},
      {R"(%y: f32[3] = fused(%x) {body=[["exp", "f64", ["in0"], []]], results=[0]})",
       "its instruction computes f64"},
      {R"(%y: f32[3] = fused(%x) {body=[["exp", "f32", ["in0"], []]], results=[1]})",
       "is not an instruction"},
      {R"(%y: f32[3] = fused(%x) {body=[["exp", "f32", ["in0"], []]], results=[]})",
       "0 results for 1 outputs"},
      {R"(%y: f32[3] = fused(%x) {body=[["exp", "f32", ["in0"]]], results=[0]})",
       "expected [op, dtype"},
      {R"(%y: f32[3] = fused(%x) {results=[0]})", "attribute 'body'"},
      {R"(%y: f32[2] = fused(%x) {body=[["exp", "f32", ["in0"], []]], results=[0]})",
       "does not broadcast"},
      {R"(%y: f32[3] = fused(%x, 2.0) {body=[["exp", "f32", ["in0"], []]], results=[0]})",
       "operand 1 is not a value"},
      {R"(%y: f32[] = fused(%x) {body=[["sum", "f32", ["in0"], [["dims", [0]]]]], results=[0]})",
       "a reduction reads one elementwise instruction's result"},
      {R"(%y: f32[3] = fused(%x) {body=[["exp", "f32", ["in0"], []], ["sum", "f32", ["t0"], [["dims", [0]]]], ["neg", "f32", ["t0"], []]], results=[2]})",
       "reductions must come last"},
      {R"(%y: f32[3] = fused(%x) {body=[["exp", "f32", ["in0"], []], ["sum", "f32", ["t0"], [["dims", [0]], ["keepdim", false]]]], results=[1]})",
       "does not have the reduction's shape"},
      {R"(%y: f32[2] = constant() {value=[1.0]})", "1 values for 2 elements"},
      {R"(%y: i64[1] = constant() {value=[1.5]})", "1.5 is not a i64"},
      {R"(%y: f32[1] = constant(%x) {value=[1.0]})", "takes no operands"},
  };
  for (const auto& [node, message] : cases) {
    const auto graph = parse("graph(%x: f32[3]) {\n  " + std::string(node) + "\n  return %y\n}");
    const std::vector<std::string> problems = verify(*graph);
    ASSERT_EQ(problems.size(), 1u) << node;
    EXPECT_NE(problems[0].find(message), std::string::npos) << problems[0];
  }
}

// A body ending in a reduction: its output has the reduced shape, and with
// no other output the iteration shape is the inputs' broadcast shape.
TEST(Structural, AReductionEndsABody) {
  const std::string text = R"(graph(%x: f32[4,1], %y: f32[3]) {
  %s: f32[4] = fused(%x, %y) {body=[["sub", "f32", ["in0", "in1"], []], ["mul", "f32", ["t0", "t0"], []], ["mean", "f32", ["t1"], [["dims", [1]], ["keepdim", false]]]], results=[2]}
  return %s
}
)";
  const auto graph = parse(text);
  EXPECT_EQ(print(*graph), text);
  EXPECT_TRUE(verify(*graph).empty());
  const FusedBody body = fused_body(*graph->nodes()[0]);
  EXPECT_EQ(body.elementwise_count(), 2u);
  EXPECT_EQ(body.iteration_shape, (std::vector<Dim>{Dim::known(4), Dim::known(3)}));
  EXPECT_EQ(reduced_shape(body.iteration_shape, body.instrs[2].attrs),
            std::vector<Dim>{Dim::known(4)});
  EXPECT_EQ(fused_attrs(body), graph->nodes()[0]->attrs);
}

TEST(Structural, SortingRestoresTheExecutionOrder) {
  auto graph = parse(R"(graph(%x: f32[3]) {
  %a: f32[3] = exp(%x)
  %b: f32[3] = neg(%a)
  %c: f32[3] = sin(%x)
  return %b, %c
}
)");
  // Rank c first: it goes first; b must still follow a.
  graph->sort_topologically([](const Node& node) {
    return node.kind == OpKind::sin ? -1 : node.kind == OpKind::neg ? -2 : 0;
  });
  EXPECT_EQ(print(*graph), R"(graph(%x: f32[3]) {
  %c: f32[3] = sin(%x)
  %a: f32[3] = exp(%x)
  %b: f32[3] = neg(%a)
  return %b, %c
}
)");
}

}  // namespace
}  // namespace janus::ir
