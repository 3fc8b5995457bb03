// The IR: building, printing and parsing back, and the verifier's rejections.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "ir/graph.h"

namespace janus::ir {
namespace {

TensorType f32(std::vector<Dim> shape) { return TensorType{DType::kFloat32, std::move(shape)}; }

const char* kText = R"(graph(%x: f32[2,?n], %w: f32[3,4]@cuda:0) {
  %0: f32[2,4] = matmul(%x, %w)
  %1: f32[2,4], %2: i64[2] = max_dim(%0) {dim=1, keepdim=false, largest=true}
  %3: f32[2,4] = add(%1, 2.5) {alpha=-3}
  %y: f32[2,4] = index_basic(%3) {spec=[["s", none, 2, 1], ["i", -1]], tag="a \"q\" b"}
  %5: f32[] = clamp(%y, -inf, 1e-07, nan)
  return %y, %2, %5
}
)";

TEST(IR, TextRoundTripsExactly) {
  const auto graph = parse(kText);
  EXPECT_EQ(print(*graph), kText);
  EXPECT_TRUE(verify(*graph).empty());
  ASSERT_EQ(graph->nodes().size(), 5u);
  const Node& max = *graph->nodes()[1];
  EXPECT_EQ(max.kind, OpKind::max_dim);
  EXPECT_EQ(max.outputs[1]->type.dtype, DType::kInt64);
  EXPECT_EQ(graph->inputs()[0]->type.shape[1], Dim::symbolic("n"));
  EXPECT_EQ(graph->inputs()[1]->type.device, "cuda:0");
  EXPECT_EQ(max.attrs.at("dim"), Attr::integer(1));
  const Node& index = *graph->nodes()[3];
  EXPECT_EQ(index.attrs.at("tag").s, "a \"q\" b");
  EXPECT_EQ(index.attrs.at("spec").list[0].list[1].kind, Attr::Kind::kNone);
}

TEST(IR, BuiltGraphsPrintWithFreshNames) {
  Graph g;
  Value* x = g.add_input("x", f32({Dim::known(3)}));
  Node* exp = g.add_node(OpKind::exp, {x}, {}, {f32({Dim::known(3)})});
  Node* sum = g.add_node(
      OpKind::sum, {exp->outputs[0]},
      {{"dims", Attr::of_list({Attr::integer(0)})}, {"keepdim", Attr::boolean(false)}}, {f32({})});
  g.set_outputs({sum->outputs[0]});
  EXPECT_EQ(print(g),
            "graph(%x: f32[3]) {\n"
            "  %0: f32[3] = exp(%x)\n"
            "  %1: f32[] = sum(%0) {dims=[0], keepdim=false}\n"
            "  return %1\n}\n");
  EXPECT_NO_THROW(check(g));
}

TEST(IR, VerifierRejectsMalformedGraphs) {
  Graph g;
  Value* x = g.add_input("x", f32({}));
  Graph other;
  Value* foreign = other.add_input("z", f32({}));
  g.add_node(OpKind::neg, {foreign}, {}, {f32({})});                // another graph's value
  g.add_node(OpKind::max_dim, {x}, {}, {f32({})});                  // 1 result, op has 2
  Node* late = g.add_node(OpKind::exp, {x}, {}, {f32({})}, {"x"});  // name reused
  g.set_outputs({late->outputs[0], foreign});                       // undefined output
  const std::vector<std::string> problems = verify(g);
  ASSERT_EQ(problems.size(), 4u);
  EXPECT_NE(problems[0].find("not a value of this graph"), std::string::npos);
  EXPECT_NE(problems[1].find("has 1 results, the op has 2"), std::string::npos);
  EXPECT_NE(problems[2].find("%x is defined twice"), std::string::npos);
  EXPECT_NE(problems[3].find("graph output %z"), std::string::npos);
  EXPECT_THROW(check(g), std::invalid_argument);
}

TEST(IR, ParserReportsTheLineOfAnError) {
  const std::string cases[][2] = {
      {"graph() {\n  %0: f32[] = frobnicate()\n  return %0\n}", "line 2: unknown op"},
      {"graph() {\n  return %a\n}", "line 2: value %a is used before it is defined"},
      {"graph(%x: q8[2]) {\n  return %x\n}", "line 1: unknown dtype 'q8'"},
      {"graph(%x: f32[2]) {\n  %x: f32[2] = neg(%x)\n  return %x\n}", "defined twice"},
      {"graph() {\n  %0: f32[] = neg(\n", "expected a constant"},
  };
  for (const auto& [text, message] : cases) {
    try {
      parse(text);
      ADD_FAILURE() << "no error for: " << text;
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find(message), std::string::npos) << error.what();
    }
  }
}

TEST(IR, OpKindsComeFromTheTable) {
  EXPECT_EQ(op_from_name("matmul"), OpKind::matmul);
  EXPECT_EQ(op_outputs(OpKind::split), -1);
  EXPECT_EQ(op_outputs(OpKind::sort), 2);
  EXPECT_FALSE(op_from_name("no_such_op").has_value());
  EXPECT_STREQ(op_name(OpKind::philox_normal), "philox_normal");
}

}  // namespace
}  // namespace janus::ir
