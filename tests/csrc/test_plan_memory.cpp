// Memory planning: reuse where lifetimes allow, never overlap where they do not.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "ir/graph.h"
#include "passes/passes.h"

namespace janus::passes {
namespace {

const ir::Value* named(const ir::Graph& g, const std::string& name) {
  for (const auto& node : g.nodes()) {
    for (const ir::Value* out : node->outputs) {
      if (out->name == name) return out;
    }
  }
  return nullptr;
}

TEST(PlanMemory, AChainReusesTwoBuffers) {
  // 1000 floats = 4000 bytes, aligned to 4032.
  auto g = ir::parse(R"(graph(%x: f32[1000]) {
  %a: f32[1000] = exp(%x)
  %b: f32[1000] = neg(%a)
  %c: f32[1000] = sin(%b)
  %d: f32[1000] = cos(%c)
  %e: f32[1000] = tanh(%d)
  return %e
}
)");
  const MemoryPlan plan = plan_memory(*g);
  EXPECT_EQ(plan.unshared_bytes, 4u * 4032u);  // %e is the caller's
  EXPECT_EQ(plan.arena_bytes, 2u * 4032u);
  EXPECT_NE(plan.offset.at(named(*g, "a")), plan.offset.at(named(*g, "b")));
  EXPECT_EQ(plan.offset.at(named(*g, "a")), plan.offset.at(named(*g, "c")));
}

TEST(PlanMemory, OutputsTakeNoArenaAndSymbolicShapesAreLeftDynamic) {
  auto g = ir::parse(R"(graph(%x: f32[16], %y: f32[?n]) {
  %a: f32[16] = exp(%x)
  %b: f32[16] = neg(%a)
  %c: f32[16] = sin(%b)
  %d: f32[?n] = exp(%y)
  return %a, %c, %d, %a, %x
}
)");
  const MemoryPlan plan = plan_memory(*g);
  ASSERT_EQ(plan.dynamic.size(), 1u);
  EXPECT_EQ(plan.dynamic[0]->name, "d");
  // %a and %c are written into the caller's buffers (%a once, though returned
  // twice); %x is the caller's input. Only %b needs the arena.
  ASSERT_EQ(plan.caller_owned.size(), 2u);
  EXPECT_EQ(plan.caller_owned[0]->name, "a");
  EXPECT_EQ(plan.caller_owned[1]->name, "c");
  EXPECT_EQ(plan.offset.size(), 1u);
  EXPECT_EQ(plan.offset.count(named(*g, "b")), 1u);
  EXPECT_EQ(plan.arena_bytes, 64u);
  EXPECT_EQ(plan.unshared_bytes, 64u);
}

// A graph whose output dominates: the 64 KiB result is the caller's, so the
// arena holds only the intermediates.
TEST(PlanMemory, LargeOutputsDoNotInflateTheArena) {
  auto g = ir::parse(R"(graph(%x: f32[1]) {
  %a: f32[1] = exp(%x)
  %big: f32[16384] = expand(%a) {shape=[16384]}
  %big2: f32[16384] = neg(%big)
  %s: f32[1] = neg(%a)
  return %big2, %s
}
)");
  const MemoryPlan plan = plan_memory(*g);
  EXPECT_EQ(plan.arena_bytes, 65536u + 64u);  // %big beside %a, which %s reads later
  EXPECT_EQ(plan.offset.count(named(*g, "big2")), 0u);
  EXPECT_EQ(plan.offset.count(named(*g, "s")), 0u);
}

// In-place reuse: a chain of results, each allowed over the one before,
// lives in one block.
TEST(PlanMemory, AChainWrittenInPlaceTakesOneBlock) {
  auto g = ir::parse(R"(graph(%x: f32[1000]) {
  %a: f32[1000] = exp(%x)
  %b: f32[1000] = neg(%a)
  %c: f32[1000] = sin(%b)
  %d: f32[1000] = cos(%c)
  return %d
}
)");
  const auto* a = named(*g, "a");
  const auto* b = named(*g, "b");
  const auto* c = named(*g, "c");
  const MemoryPlan plan = plan_memory(*g, nullptr, {{a, b}, {b, c}, {c, named(*g, "d")}});
  EXPECT_EQ(plan.arena_bytes, 4032u);  // %d is the caller's: nothing takes over %c
  EXPECT_EQ(plan.offset.at(a), plan.offset.at(b));
  EXPECT_EQ(plan.offset.at(b), plan.offset.at(c));
  EXPECT_EQ(plan.reused.size(), 2u);
  EXPECT_EQ(plan.reused.at(c), b);
}

TEST(PlanMemory, InPlaceOnlyOverAnOperandThatDiesThereAndFits) {
  auto g = ir::parse(R"(graph(%x: f32[1000]) {
  %a: f32[1000] = exp(%x)
  %b: f32[1000] = neg(%a)
  %c: f32[1000] = sin(%a)
  %d: f32[500] = index_basic(%c) {spec=[["s", 0, 500, none]]}
  %e: f32[1000] = exp(%x)
  %f: f32[1000] = add(%b, %c)
  return %d, %e, %f
}
)");
  const auto* a = named(*g, "a");
  const auto* b = named(*g, "b");
  const auto* c = named(*g, "c");
  const MemoryPlan plan = plan_memory(
      *g, nullptr, {{a, b}, {a, c}, {c, named(*g, "d")}, {g->inputs()[0], named(*g, "e")}});
  // %b: %a is still read by %c; %c: takes %a (its last reader); %d: outputs
  // are the caller's; %e over %x: an input is the caller's buffer.
  EXPECT_EQ(plan.reused.size(), 1u);
  EXPECT_EQ(plan.reused.at(c), a);
  EXPECT_NE(plan.offset.at(a), plan.offset.at(b));
}

TEST(PlanMemory, InPlaceWithParallelStreamsWaitsForEveryReader) {
  // %b and %c read %a on two streams; %c may not write over %a while %b,
  // unordered with it, may still be reading.
  auto g = ir::parse(R"(graph(%x: f32[1000]) {
  %a: f32[1000] = exp(%x)
  %b: f32[1000] = neg(%a)
  %c: f32[1000] = sin(%a)
  %d: f32[1000] = add(%b, %c)
  return %d
}
)");
  const auto* a = named(*g, "a");
  const auto* c = named(*g, "c");
  const StreamAssignment streams = assign_streams(*g);
  ASSERT_EQ(streams.streams, 2);
  EXPECT_TRUE(plan_memory(*g, &streams, {{a, c}}).reused.empty());
  EXPECT_EQ(plan_memory(*g, nullptr, {{a, c}}).reused.size(), 1u);  // serial: %b ran first
}

// Aliases: %r is %a's bytes (a reshape), %h a part of them, and both share
// its block, which then lives until their last reader, %k: %c and %s may not
// take it though %a dies at %b, and %d may not be written in place over it.
// %s, of the input, and %t, a graph output, are not aliased (the runtime
// copies them).
TEST(PlanMemory, AnAliasSharesItsOperandsBlockAndKeepsItAlive) {
  auto g = ir::parse(R"(graph(%x: f32[1000]) {
  %a: f32[1000] = exp(%x)
  %r: f32[10,100] = reshape(%a) {shape=[10, 100]}
  %h: f32[500] = index_basic(%a) {spec=[["s", 500, 1000, none]]}
  %b: f32[1000] = neg(%a)
  %c: f32[1000] = sin(%b)
  %d: f32[10,100] = cos(%r)
  %s: f32[10,100] = reshape(%x) {shape=[10, 100]}
  %t: f32[10,100] = reshape(%c) {shape=[10, 100]}
  %e: f32[10,100] = add(%d, %s)
  %k: f32[500] = exp(%h)
  return %e, %t, %k
}
)");
  const auto* a = named(*g, "a");
  const auto* r = named(*g, "r");
  const auto* d = named(*g, "d");
  const auto* h = named(*g, "h");
  const MemoryPlan plan = plan_memory(
      *g, nullptr, {{r, d}},
      {{a, r}, {a, h}, {g->inputs()[0], named(*g, "s")}, {named(*g, "c"), named(*g, "t")}});
  ASSERT_EQ(plan.aliased.size(), 2u);  // %h: a part of %a's bytes, read in place
  EXPECT_EQ(plan.aliased.at(r), a);
  EXPECT_EQ(plan.aliased.at(h), a);
  EXPECT_EQ(plan.offset.at(r), plan.offset.at(a));
  EXPECT_TRUE(plan.reused.empty());                 // %d over %r: the block holds an alias
  for (const char* other : {"b", "c", "d", "s"}) {  // (alive with %a, %r or %h)
    EXPECT_NE(plan.offset.at(named(*g, other)), plan.offset.at(a)) << other;
  }
  EXPECT_EQ(plan.offset.count(named(*g, "t")), 0u);  // the caller's
  EXPECT_EQ(plan.offset.count(named(*g, "s")), 1u);  // planned, not aliased
}

// %m and %n run on two streams at once: each needs its own scratch slot. %p
// reads both, so it is sure to start after them and takes slot 0 again.
TEST(PlanMemory, ExclusiveSlotsAreSharedOnlyByNodesSureToRunApart) {
  auto g = ir::parse(R"(graph(%x: f32[4,4], %w: f32[4,4]) {
  %m: f32[4,4] = matmul(%x, %w)
  %n: f32[4,4] = matmul(%w, %x)
  %s: f32[4,4] = add(%m, %n)
  %p: f32[4,4] = matmul(%s, %w)
  return %p
}
)");
  const StreamAssignment streams = assign_streams(*g);
  ASSERT_EQ(streams.streams, 2);
  EXPECT_EQ(exclusive_slots(*g, &streams, {0, 1, 3}), (std::vector<int>{0, 1, 0}));
  EXPECT_EQ(exclusive_slots(*g, nullptr, {0, 1, 3}), (std::vector<int>{0, 0, 0}));
}

// On random DAGs: blocks alive at the same time never overlap in memory,
// except a result written in place over the operand that dies at its node.
TEST(PlanMemory, RandomGraphsNeverOverlapLiveBlocks) {
  std::mt19937 rng(7);
  size_t reused = 0;
  for (int trial = 0; trial < 50; ++trial) {
    ir::Graph g;
    InPlacePairs in_place;
    std::vector<ir::Value*> values = {
        g.add_input("x", ir::TensorType{ir::DType::kFloat32, {ir::Dim::known(8)}})};
    for (int k = 0; k < 30; ++k) {
      const int size = 1 + static_cast<int>(rng() % 300);
      ir::Value* a = values[rng() % values.size()];
      ir::Value* b = values[rng() % values.size()];
      ir::Node* node = g.add_node(ir::OpKind::add, {a, b}, {},
                                  {ir::TensorType{ir::DType::kFloat32, {ir::Dim::known(size)}}});
      values.push_back(node->outputs[0]);
      if (rng() % 2) in_place.emplace_back(rng() % 2 ? a : b, node->outputs[0]);
    }
    g.set_outputs({values.back(), values[values.size() / 2]});
    const MemoryPlan plan = plan_memory(g, nullptr, in_place);
    // Recompute lifetimes and check every pair.
    const auto& nodes = g.nodes();
    std::map<const ir::Value*, std::pair<int, int>> life;
    for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
      life[nodes[i]->outputs[0]] = {i, i};
      for (const ir::Operand& op : nodes[i]->operands) {
        const ir::Value* v = std::get<ir::Value*>(op);
        if (life.count(v)) life[v].second = i;
      }
    }
    for (const ir::Value* out : g.outputs()) {
      EXPECT_EQ(plan.offset.count(out), 0u) << "trial " << trial;
      life.erase(out);  // the caller's buffer, not the arena
    }
    for (const auto& [v, lv] : life) {
      for (const auto& [w, lw] : life) {
        if (v >= w || lv.first > lw.second || lw.first > lv.second) continue;
        const auto over = [&](const ir::Value* result, const ir::Value* operand) {
          const auto it = plan.reused.find(result);
          return it != plan.reused.end() && it->second == operand;
        };
        if (over(w, v) || over(v, w)) {
          // Only where the operand dies: the result's first node is its last.
          const auto& [first, last] = over(w, v) ? std::pair{lw, lv} : std::pair{lv, lw};
          EXPECT_EQ(first.first, last.second) << "trial " << trial;
          EXPECT_EQ(plan.offset.at(v), plan.offset.at(w));
          continue;
        }
        const size_t a0 = plan.offset.at(v), a1 = a0 + bytes_of(v->type);
        const size_t b0 = plan.offset.at(w), b1 = b0 + bytes_of(w->type);
        EXPECT_TRUE(a1 <= b0 || b1 <= a0) << "trial " << trial;
      }
    }
    EXPECT_LE(plan.arena_bytes, plan.unshared_bytes);
    reused += plan.reused.size();
  }
  EXPECT_GT(reused, 10u);  // the trials did exercise in-place reuse
}

}  // namespace
}  // namespace janus::passes
