// Nimble stream assignment on small DAGs with known answers.
#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "passes/passes.h"

namespace janus::passes {
namespace {

using Syncs = std::vector<std::pair<int, int>>;

TEST(AssignStreams, AChainRunsOnOneStreamWithoutSyncs) {
  auto g = ir::parse(R"(graph(%x: f32[3]) {
  %a: f32[3] = exp(%x)
  %b: f32[3] = neg(%a)
  %c: f32[3] = sin(%b)
  return %c
}
)");
  const StreamAssignment s = assign_streams(*g);
  EXPECT_EQ(s.streams, 1);
  EXPECT_EQ(s.stream, (std::vector<int>{0, 0, 0}));
  EXPECT_TRUE(s.syncs.empty());
}

TEST(AssignStreams, ADiamondUsesTwoStreamsAndTwoSyncs) {
  auto g = ir::parse(R"(graph(%x: f32[3]) {
  %a: f32[3] = exp(%x)
  %b: f32[3] = neg(%a)
  %c: f32[3] = sin(%a)
  %d: f32[3] = add(%b, %c)
  return %d
}
)");
  const StreamAssignment s = assign_streams(*g);
  EXPECT_EQ(s.streams, 2);
  EXPECT_NE(s.stream[1], s.stream[2]);  // the two branches overlap
  EXPECT_EQ(s.syncs.size(), 2u);        // fork and join, nothing else
}

TEST(AssignStreams, TransitiveEdgesNeedNoSync) {
  // a -> b -> d and a -> d: the direct edge is implied and must not cost a sync.
  auto g = ir::parse(R"(graph(%x: f32[3]) {
  %a: f32[3] = exp(%x)
  %b: f32[3] = neg(%a)
  %c: f32[3] = cos(%x)
  %d: f32[3] = where(%b, %a, %c)
  return %d
}
)");
  const StreamAssignment s = assign_streams(*g);
  EXPECT_EQ(s.streams, 2);
  for (const auto& [u, v] : s.syncs) EXPECT_FALSE(u == 0 && v == 3);
  EXPECT_EQ(s.syncs.size(), 1u);  // only c joins d across streams
}

TEST(AssignStreams, FourIndependentBranchesGetFourStreams) {
  // An Inception-style block: four branches from one input, joined by cat.
  auto g = ir::parse(R"(graph(%x: f32[4]) {
  %a: f32[4] = exp(%x)
  %b1: f32[4] = neg(%x)
  %b2: f32[4] = sin(%x)
  %b3: f32[4] = cos(%x)
  %b4: f32[4] = abs(%x)
  %c: f32[16] = cat(%a, %b1, %b2, %b3) {dim=0}
  %d: f32[20] = cat(%c, %b4) {dim=0}
  return %d
}
)");
  const StreamAssignment s = assign_streams(*g);
  EXPECT_EQ(s.streams, 5);  // five mutually unordered producers
  std::set<int> branch_streams;
  for (int k = 0; k < 5; ++k) branch_streams.insert(s.stream[k]);
  EXPECT_EQ(branch_streams.size(), 5u);
  // Every node is ordered after its producers: each reduced edge is either in a
  // stream (in graph order) or a sync.
  EXPECT_EQ(s.syncs.size(), 4u);  // four branches join cat (c) or the final cat
}

TEST(AssignStreams, OrderedChainsAreMerged) {
  // A hub: a and b feed c, which feeds d and e. The matching makes chains
  // [a, c, d], [b] and [e]; b precedes e, so those two share a stream and two
  // streams still run everything that can overlap (a with b, d with e).
  auto g = ir::parse(R"(graph(%x: f32[3]) {
  %a: f32[3] = exp(%x)
  %b: f32[3] = neg(%x)
  %c: f32[3] = add(%a, %b)
  %d: f32[3] = sin(%c)
  %e: f32[3] = cos(%c)
  return %d, %e
}
)");
  const StreamAssignment s = assign_streams(*g);
  EXPECT_EQ(s.streams, 2);
  EXPECT_NE(s.stream[0], s.stream[1]);  // a and b overlap
  EXPECT_NE(s.stream[3], s.stream[4]);  // d and e overlap
}

}  // namespace
}  // namespace janus::passes
