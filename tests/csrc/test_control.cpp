// The control ops (structural_ops.def: assert, ...): their text form prints
// and parses back, the verifier names what is wrong with malformed ones, the
// passes keep their effects, and the CPU executor runs them, against values
// computed by hand.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/structural.h"
#include "passes/passes.h"
#include "runtime/cpu/control.h"
#include "runtime/cpu/program.h"

namespace janus {
namespace {

// The verifier's complaints about `text`, joined (empty when well formed).
std::string problems_of(const std::string& text) {
  std::string joined;
  for (const std::string& problem : ir::verify(*ir::parse(text))) joined += problem + "\n";
  return joined;
}

std::unique_ptr<cpu::Program> compile(const std::string& text) {
  return std::make_unique<cpu::Program>(ir::parse(text), cpu::Program::Fallback{});
}

// ----- assert -----

const char* kAssert = R"(graph(%x: f32[3], %limit: f32[]) {
  %0: bool[3] = lt(%x, %limit)
  assert(%0) {id=7, message="x < limit"}
  %1: f32[3] = overwrite(%x, 5.0)
  return %1
}
)";

TEST(Assert, RoundTripsAndVerifies) {
  const auto graph = ir::parse(kAssert);
  EXPECT_EQ(ir::print(*graph), kAssert);
  EXPECT_TRUE(ir::verify(*graph).empty());
  const ir::AssertSpec spec = ir::assert_spec(*graph->nodes()[1]);
  EXPECT_EQ(spec.id, 7);
  EXPECT_EQ(spec.message, "x < limit");
  EXPECT_TRUE(ir::has_effects(*graph->nodes()[1]));
  EXPECT_FALSE(ir::has_effects(*graph->nodes()[0]));
}

TEST(Assert, VerifierRejectsMalformedAsserts) {
  const std::string head = "graph(%x: f32[3], %b: bool[]) {\n  ";
  const std::string tail = "\n  return %x\n}\n";
  const std::string cases[][2] = {
      {"assert(%x) {id=0, message=\"m\"}", "the condition %x is f32, not bool"},
      {"assert(true) {id=0, message=\"m\"}", "must be a value, not a constant"},
      {"assert(%b, %b) {id=0, message=\"m\"}", "takes one operand"},
      {"assert(%b) {message=\"m\"}", "attribute 'id'"},
      {"assert(%b) {id=0, message=3}", "attribute 'message'"},
      {"%r: bool[] = assert(%b) {id=0, message=\"m\"}", "has 1 results, the op has 0"},
      {"%r: f32[3] = abs(%x)\n  abs(%x)", "abs (node 1): has no results"},
  };
  for (const auto& [statement, complaint] : cases) {
    const std::string problems = problems_of(head + statement + tail);
    EXPECT_NE(problems.find(complaint), std::string::npos) << statement << "\ngave: " << problems;
  }
}

TEST(Assert, PassesKeepTheCheck) {
  // DCE keeps an assert nothing uses; CSE does not merge two equal ones.
  auto graph = ir::parse(R"(graph(%x: f32[3]) {
  %0: bool[3] = gt(%x, 0.0)
  assert(%0) {id=1, message="x > 0"}
  assert(%0) {id=1, message="x > 0"}
  return %x
})");
  EXPECT_EQ(passes::eliminate_common_subexpressions(*graph), 0);
  EXPECT_EQ(passes::eliminate_dead_code(*graph), 0);
  EXPECT_EQ(graph->nodes().size(), 3u);
  for (const std::string& pass : passes::pass_names()) passes::run_pass(*graph, pass);
  EXPECT_EQ(graph->nodes().size(), 3u);
}

TEST(Assert, PassingAssertLetsTheProgramRun) {
  auto program = compile(kAssert);
  std::vector<float> x = {1, 2, 3}, out(3);
  float limit = 4;
  program->run({x.data(), &limit}, {out.data()});
  EXPECT_EQ(out, (std::vector<float>{5, 5, 5}));
}

TEST(Assert, FailingAssertAbortsWithItsIdAndMessage) {
  auto program = compile(kAssert);
  std::vector<float> x = {1, 9, 3}, out = {-1, -1, -1};
  float limit = 4;
  try {
    program->run({x.data(), &limit}, {out.data()});
    FAIL() << "the assert did not fail";
  } catch (const cpu::AssertionFailed& failed) {
    EXPECT_EQ(failed.id, 7);
    EXPECT_EQ(failed.message, "x < limit");
    EXPECT_STREQ(failed.what(), "assertion 7 failed: x < limit");
  }
  EXPECT_EQ(out, (std::vector<float>{-1, -1, -1}));
}

TEST(Assert, AbortLeavesAnOverwrittenInputBufferUnchanged) {
  // The overwrite runs before the assert fails, and the caller passes the
  // input's own buffer as the output (an in-place commit): staging keeps the
  // write in the arena until every check has passed.
  auto program = compile(R"(graph(%x: f32[3], %ok: bool[]) {
  %0: f32[3] = overwrite(%x, 5.0)
  %1: f32[3] = mul(%0, 2.0)
  assert(%ok) {id=2, message="ok"}
  return %0, %1
})");
  std::vector<float> x = {1, 2, 3}, doubled(3);
  bool ok = false;
  EXPECT_THROW(program->run({x.data(), &ok}, {x.data(), doubled.data()}), cpu::AssertionFailed);
  EXPECT_EQ(x, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(doubled, (std::vector<float>{0, 0, 0}));
  ok = true;
  program->run({x.data(), &ok}, {x.data(), doubled.data()});
  EXPECT_EQ(x, (std::vector<float>{5, 5, 5}));
  EXPECT_EQ(doubled, (std::vector<float>{10, 10, 10}));
}

// ----- cond -----

const char* kCond = R"(graph(%p: bool[], %x: f32[3]) {
  %r: f32[3], %n: i64[] = cond(%p, %x) then(%a: f32[3]) {
    %0: f32[3] = mul(%a, 2.0)
    %1: i64[] = constant() {value=[1]}
    return %0, %1
  } else(%a: f32[3]) {
    %0: i64[] = constant() {value=[0]}
    return %a, %0
  }
  return %r, %n
}
)";

TEST(Cond, RoundTripsAndVerifies) {
  const auto graph = ir::parse(kCond);
  EXPECT_EQ(ir::print(*graph), kCond);
  EXPECT_TRUE(ir::verify(*graph).empty()) << problems_of(kCond);
  EXPECT_EQ(graph->nodes()[0]->regions.size(), 2u);
  EXPECT_EQ(graph->nodes()[0]->regions[0]->parent(), graph.get());
}

TEST(Cond, VerifierRejectsMismatchedRegions) {
  const std::string cases[][2] = {
      // the predicate is not a bool scalar
      {R"(graph(%p: bool[2], %x: f32[3]) {
  %r: f32[3] = cond(%p, %x) then(%a: f32[3]) {
    return %a
  } else(%a: f32[3]) {
    return %a
  }
  return %r
})",
       "the predicate is bool[2], not bool[]"},
      // a region takes other inputs than the node passes
      {R"(graph(%p: bool[], %x: f32[3]) {
  %r: f32[3] = cond(%p, %x) then(%a: f64[3]) {
    %0: f32[3] = to_dtype(%a) {dtype="float32"}
    return %0
  } else(%a: f32[3]) {
    return %a
  }
  return %r
})",
       "cond: then takes (f64[3]), the node passes (f32[3])"},
      // a region returns other types than the node's results
      {R"(graph(%p: bool[], %x: f32[3]) {
  %r: f32[3] = cond(%p, %x) then(%a: f32[3]) {
    return %a
  } else(%a: f32[3]) {
    return %a, %a
  }
  return %r
})",
       "cond: else returns (f32[3], f32[3]), the node expects (f32[3])"},
      // a region's own problems are reported with where they are
      {R"(graph(%p: bool[], %x: f32[3]) {
  %r: f32[3] = cond(%p, %x) then(%a: f32[3]) {
    return %a
  } else(%a: f32[3]) {
    assert(%a) {id=0, message="m"}
    return %a
  }
  return %r
})",
       "cond (node 0), else: assert (node 0): assert: the condition %a is f32, not bool"},
  };
  for (const auto& [text, complaint] : cases) {
    const std::string problems = problems_of(text);
    EXPECT_NE(problems.find(complaint), std::string::npos) << text << "\ngave: " << problems;
  }
}

TEST(Cond, RegionsCannotReachOutsideValues) {
  // The parser gives each region a scope of its own...
  try {
    ir::parse(R"(graph(%p: bool[], %x: f32[3]) {
  %r: f32[3] = cond(%p) then() {
    return %x
  } else() {
    return %x
  }
  return %r
})");
    FAIL() << "an outside value was visible in a region";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("values enter a region only as its inputs"),
              std::string::npos);
  }
  // ...and the verifier catches a region built with an outside value.
  auto graph = ir::parse(kCond);
  ir::Graph& then_region = *graph->nodes()[0]->regions[0];
  then_region.add_node(ir::OpKind::abs, {graph->inputs()[1]}, {}, {graph->inputs()[1]->type});
  std::string problems;
  for (const std::string& p : ir::verify(*graph)) problems += p;
  EXPECT_NE(
      problems.find("cond (node 0), then: abs (node 2): operand 0 is not a value of this graph"),
      std::string::npos)
      << problems;
}

TEST(Cond, RunsTheChosenRegion) {
  auto program = compile(kCond);
  std::vector<float> x = {1, -2, 3}, r(3);
  int64_t n = -1;
  bool p = true;
  program->run({&p, x.data()}, {r.data(), &n});
  EXPECT_EQ(r, (std::vector<float>{2, -4, 6}));
  EXPECT_EQ(n, 1);
  p = false;
  program->run({&p, x.data()}, {r.data(), &n});
  EXPECT_EQ(r, (std::vector<float>{1, -2, 3}));
  EXPECT_EQ(n, 0);
}

TEST(Cond, AssertInARegionAbortsAndStagesOutputs) {
  auto program = compile(R"(graph(%p: bool[], %x: f32[2]) {
  %y: f32[2] = overwrite(%x, 7.0)
  %r: f32[2] = cond(%p, %y) then(%a: f32[2]) {
    %0: bool[] = constant() {value=[false]}
    assert(%0) {id=4, message="then is never taken"}
    return %a
  } else(%a: f32[2]) {
    return %a
  }
  return %y, %r
})");
  EXPECT_TRUE(ir::has_effects(program->graph()));
  std::vector<float> x = {1, 2}, r(2);
  bool p = true;
  try {
    program->run({&p, x.data()}, {x.data(), r.data()});
    FAIL() << "the assert in the region did not fail";
  } catch (const cpu::AssertionFailed& failed) {
    EXPECT_EQ(failed.id, 4);
  }
  EXPECT_EQ(x, (std::vector<float>{1, 2}));
  p = false;
  program->run({&p, x.data()}, {x.data(), r.data()});
  EXPECT_EQ(x, (std::vector<float>{7, 7}));
  EXPECT_EQ(r, (std::vector<float>{7, 7}));
}

TEST(Cond, PassesRunInsideRegionsAndCseComparesThem) {
  auto graph = ir::parse(R"(graph(%p: bool[], %x: f32[3]) {
  %r: f32[3] = cond(%p, %x) then(%a: f32[3]) {
    %0: f32[3] = add(%a, 0.0)
    %1: f32[3] = exp(%0)
    return %a
  } else(%a: f32[3]) {
    return %a
  }
  %s: f32[3] = cond(%p, %x) then(%a: f32[3]) {
    %0: f32[3] = neg(%a)
    return %0
  } else(%a: f32[3]) {
    return %a
  }
  return %r, %s
})");
  // Different regions: not merged. The dead exp inside the first is dropped.
  EXPECT_EQ(passes::eliminate_common_subexpressions(*graph), 0);
  EXPECT_EQ(passes::run_pass(*graph, "dce"), 2);
  EXPECT_TRUE(graph->nodes()[0]->regions[0]->nodes().empty());
}

// ----- loop -----

const char* kFactorialAndSquares = R"(graph(%n: i64[], %one: i64[]) {
  %f: i64[], %s: i64[] = loop(%n, true, %one, %one) body(%i: i64[], %acc: i64[], %sum: i64[]) {
    %0: i64[] = add(%i, 1)
    %1: i64[] = mul(%acc, %0)
    %2: i64[] = mul(%0, %0)
    %3: i64[] = add(%sum, %2)
    %4: bool[] = lt(%1, 1000)
    return %4, %1, %3
  }
  return %f, %s
}
)";

TEST(Loop, RoundTripsAndRunsWithAnEarlyExit) {
  const auto graph = ir::parse(kFactorialAndSquares);
  EXPECT_EQ(ir::print(*graph), kFactorialAndSquares);
  EXPECT_TRUE(ir::verify(*graph).empty()) << problems_of(kFactorialAndSquares);
  auto program = compile(kFactorialAndSquares);
  int64_t one = 1, f = 0, s = 0;
  for (int64_t n : {0, 1, 4, 20}) {
    program->run({&n, &one}, {&f, &s});
    // Iterations run while i < n and the previous product was below 1000.
    int64_t want_f = 1, want_s = 1;
    for (int64_t i = 0; i < n; ++i) {
      want_f *= i + 1;
      want_s += (i + 1) * (i + 1);
      if (want_f >= 1000) break;
    }
    EXPECT_EQ(f, want_f) << "n=" << n;
    EXPECT_EQ(s, want_s) << "n=" << n;
  }
}

TEST(Loop, ConstantTripCountAndNoLimit) {
  auto program = compile(R"(graph(%x: f32[3]) {
  %r: f32[3] = loop(3, true, %x) body(%i: i64[], %v: f32[3]) {
    %0: f32[3] = mul(%v, 2.0)
    %1: bool[] = constant() {value=[true]}
    return %1, %0
  }
  %s: f32[3] = loop(none, true, %x) body(%i: i64[], %v: f32[3]) {
    %0: f32[3] = add(%v, 1.0)
    %1: bool[] = lt(%i, 4)
    return %1, %0
  }
  %t: f32[3] = loop(5, false, %x) body(%i: i64[], %v: f32[3]) {
    %0: bool[] = constant() {value=[true]}
    return %0, %v
  }
  return %r, %s, %t
})");
  std::vector<float> x = {1, 2, 3}, r(3), s(3), t(3);
  program->run({x.data()}, {r.data(), s.data(), t.data()});
  EXPECT_EQ(r, (std::vector<float>{8, 16, 24}));
  EXPECT_EQ(s, (std::vector<float>{6, 7, 8}));  // i = 0..4 run, then the flag is false
  EXPECT_EQ(t, x);                              // never entered
}

TEST(Loop, VerifierRejectsMalformedLoops) {
  const std::string cases[][2] = {
      {R"(graph(%x: f32[3]) {
  %r: f32[3] = loop(2.5, true, %x) body(%i: i64[], %v: f32[3]) {
    %0: bool[] = constant() {value=[true]}
    return %0, %v
  }
  return %r
})",
       "the trip count constant 2.5 is not allowed"},
      {R"(graph(%x: f32[3], %n: i32[]) {
  %r: f32[3] = loop(%n, true, %x) body(%i: i64[], %v: f32[3]) {
    %0: bool[] = constant() {value=[true]}
    return %0, %v
  }
  return %r
})",
       "the trip count is i32[], not i64[]"},
      {R"(graph(%x: f32[3]) {
  %r: f32[3] = loop(2, true, %x) body(%v: f32[3]) {
    %0: bool[] = constant() {value=[true]}
    return %0, %v
  }
  return %r
})",
       "loop: body takes (f32[3]), the node passes (i64[], f32[3])"},
      {R"(graph(%x: f32[3]) {
  %r: f32[3] = loop(2, true, %x) body(%i: i64[], %v: f32[3]) {
    return %v
  }
  return %r
})",
       "loop: body returns (f32[3]), the node expects (bool[], f32[3])"},
      {R"(graph(%x: f32[3]) {
  %r: f64[3] = loop(2, true, %x) body(%i: i64[], %v: f32[3]) {
    %0: bool[] = constant() {value=[true]}
    return %0, %v
  }
  return %r
})",
       "the results (f64[3]) are not the carried values (f32[3])"},
  };
  for (const auto& [text, complaint] : cases) {
    const std::string problems = problems_of(text);
    EXPECT_NE(problems.find(complaint), std::string::npos) << text << "\ngave: " << problems;
  }
}

// ----- call -----

// The sum of a complete binary tree of depth d whose leaves hold x: a
// recursive function, as a recursive tree model is.
const char* kTreeSum = R"(graph(%d: i64[], %x: f32[2]) {
  %r: f32[2] = call(%d, %x) {callee="tree_sum"}
  return %r
}
function tree_sum(%d: i64[], %x: f32[2]) {
  %0: bool[] = le(%d, 0)
  %1: f32[2] = cond(%0, %d, %x) then(%e: i64[], %v: f32[2]) {
    return %v
  } else(%e: i64[], %v: f32[2]) {
    %0: i64[] = sub(%e, 1)
    %1: f32[2] = call(%0, %v) {callee="tree_sum"}
    %2: f32[2] = call(%0, %v) {callee="tree_sum"}
    %3: f32[2] = add(%1, %2)
    return %3
  }
  return %1
}
)";

TEST(Call, RecursiveFunctionRoundTripsAndRuns) {
  const auto graph = ir::parse(kTreeSum);
  EXPECT_EQ(ir::print(*graph), kTreeSum);
  EXPECT_TRUE(ir::verify(*graph).empty()) << problems_of(kTreeSum);
  EXPECT_FALSE(ir::has_effects(*graph));  // recursion does not loop the analysis
  auto program = compile(kTreeSum);
  std::vector<float> x = {1.5f, -1}, r(2);
  for (int64_t d : {0, 1, 5}) {
    program->run({&d, x.data()}, {r.data()});
    const float leaves = static_cast<float>(int64_t{1} << d);
    EXPECT_EQ(r, (std::vector<float>{1.5f * leaves, -leaves})) << "depth " << d;
  }
}

TEST(Call, RunawayRecursionIsAnErrorNotACrash) {
  auto program = compile(R"(graph(%x: f32[1]) {
  %r: f32[1] = call(%x) {callee="forever"}
  return %r
}
function forever(%x: f32[1]) {
  %0: f32[1] = call(%x) {callee="forever"}
  return %0
}
)");
  std::vector<float> x = {1}, r(1);
  EXPECT_THROW(program->run({x.data()}, {r.data()}), std::runtime_error);
}

TEST(Call, VerifierChecksCalleeAndSignature) {
  const std::string cases[][2] = {
      {R"(graph(%x: f32[2]) {
  %r: f32[2] = call(%x) {callee="missing"}
  return %r
})",
       "call: no function named missing"},
      {R"(graph(%x: f32[2]) {
  %r: f32[2] = call(%x) {callee="f"}
  return %r
}
function f(%x: f32[3]) {
  return %x
})",
       "call: function f takes (f32[3]), the node passes (f32[2])"},
      {R"(graph(%x: f32[2]) {
  %r: f32[2] = call(%x) {target="f"}
  return %r
})",
       "attribute 'callee'"},
      {R"(graph(%x: f32[2]) {
  return %x
}
function f(%x: f32[2]) {
  %0: f32[2] = cond(%x, %x) then(%a: f32[2]) {
    return %a
  } else(%a: f32[2]) {
    return %a
  }
  return %0
})",
       "function f: cond (node 0): cond: the predicate is f32[2], not bool[]"},
  };
  for (const auto& [text, complaint] : cases) {
    const std::string problems = problems_of(text);
    EXPECT_NE(problems.find(complaint), std::string::npos) << text << "\ngave: " << problems;
  }
  EXPECT_THROW(
      ir::parse(
          "graph() {\n  return\n}\nfunction f() {\n  return\n}\nfunction f() {\n  return\n}\n"),
      std::invalid_argument);
}

// ----- callback -----

TEST(Callback, RunsTheHostCallAndMayHaveNoResults) {
  const char* text = R"(graph(%x: f32[3]) {
  %0: f32[3] = mul(%x, 3.0)
  %1: f32[3] = callback(%0) {target="plus_one"}
  callback(%1) {target="record"}
  return %1
}
)";
  EXPECT_EQ(ir::print(*ir::parse(text)), text);
  std::vector<float> recorded;
  cpu::Program::Callback host = [&](const ir::Node& node, const std::vector<void*>& ins,
                                    const std::vector<void*>& outs) {
    const float* in = static_cast<const float*>(ins.at(0));
    if (ir::target_of(node) == "plus_one") {
      for (int i = 0; i < 3; ++i) static_cast<float*>(outs.at(0))[i] = in[i] + 1;
    } else {
      recorded.assign(in, in + 3);
    }
  };
  cpu::Program program(ir::parse(text), {}, host);
  std::vector<float> x = {1, 2, 3}, r(3);
  program.run({x.data()}, {r.data()});
  EXPECT_EQ(r, (std::vector<float>{4, 7, 10}));
  EXPECT_EQ(recorded, r);
}

TEST(Callback, PassesKeepEveryCallback) {
  auto graph = ir::parse(R"(graph(%x: f32[3]) {
  %0: f32[3] = callback(%x) {target="f"}
  %1: f32[3] = callback(%x) {target="f"}
  callback(%x) {target="g"}
  return %x
})");
  for (const std::string& pass : passes::pass_names()) passes::run_pass(*graph, pass);
  EXPECT_EQ(graph->nodes().size(), 3u);
}

TEST(Callback, NeedsAHostAndAName) {
  const char* text = R"(graph(%x: f32[3]) {
  callback(%x) {target="f"}
  return %x
})";
  EXPECT_THROW(cpu::Program(ir::parse(text), {}), std::invalid_argument);
  EXPECT_NE(
      problems_of("graph(%x: f32[3]) {\n  callback(%x)\n  return %x\n}").find("attribute 'target'"),
      std::string::npos);
}

}  // namespace
}  // namespace janus
