// Stream assignment by Nimble's method (Kwon et al., NeurIPS'20); see passes.h.
#include <algorithm>
#include <map>
#include <vector>

#include "passes/passes.h"

namespace janus::passes {
namespace {

using Bits = std::vector<bool>;

// Data-dependence edges between nodes (indices in graph order, so u < v).
std::vector<std::vector<int>> successors(const ir::Graph& graph) {
  std::map<const ir::Node*, int> index;
  for (size_t k = 0; k < graph.nodes().size(); ++k) index[graph.nodes()[k].get()] = int(k);
  std::vector<std::vector<int>> next(graph.nodes().size());
  for (size_t v = 0; v < graph.nodes().size(); ++v) {
    for (const ir::Operand& operand : graph.nodes()[v]->operands) {
      const auto* value = std::get_if<ir::Value*>(&operand);
      if (value == nullptr || (*value)->producer == nullptr) continue;  // graph inputs
      const int u = index.at((*value)->producer);
      auto& out = next[u];
      if (std::find(out.begin(), out.end(), int(v)) == out.end()) out.push_back(int(v));
    }
  }
  return next;
}

// reach[u][v]: v is reachable from u by a path of one or more edges.
std::vector<Bits> reachability(const std::vector<std::vector<int>>& next) {
  const size_t n = next.size();
  std::vector<Bits> reach(n, Bits(n, false));
  for (size_t u = n; u-- > 0;) {  // successors have larger indices: done first
    for (int v : next[u]) {
      reach[u][v] = true;
      for (size_t w = 0; w < n; ++w) {
        if (reach[v][w]) reach[u][w] = true;
      }
    }
  }
  return reach;
}

// Keeps edge u->v only if no other successor of u reaches v.
std::vector<std::vector<int>> transitive_reduction(const std::vector<std::vector<int>>& next,
                                                   const std::vector<Bits>& reach) {
  std::vector<std::vector<int>> reduced(next.size());
  for (size_t u = 0; u < next.size(); ++u) {
    for (int v : next[u]) {
      bool implied = false;
      for (int w : next[u]) implied = implied || (w != v && reach[w][v]);
      if (!implied) reduced[u].push_back(v);
    }
  }
  return reduced;
}

// Kuhn's augmenting paths: match[v] = the predecessor v is chained after, or -1.
bool augment(int u, const std::vector<std::vector<int>>& edges, std::vector<int>& match,
             std::vector<bool>& visited) {
  for (int v : edges[u]) {
    if (visited[v]) continue;
    visited[v] = true;
    if (match[v] < 0 || augment(match[v], edges, match, visited)) {
      match[v] = u;
      return true;
    }
  }
  return false;
}

}  // namespace

StreamAssignment assign_streams(const ir::Graph& graph) {
  const int n = static_cast<int>(graph.nodes().size());
  const auto next = successors(graph);
  const auto reach = reachability(next);
  const auto reduced = transitive_reduction(next, reach);

  std::vector<int> match(n, -1);  // match[v] = u: edge u->v is inside a chain
  for (int u = 0; u < n; ++u) {
    std::vector<bool> visited(n, false);
    augment(u, reduced, match, visited);
  }
  std::vector<int> follower(n, -1);
  for (int v = 0; v < n; ++v) {
    if (match[v] >= 0) follower[match[v]] = v;
  }

  // Chains, from their heads (nodes matched to no predecessor).
  std::vector<std::vector<int>> chains;
  for (int v = 0; v < n; ++v) {
    if (match[v] >= 0) continue;
    chains.emplace_back();
    for (int w = v; w >= 0; w = follower[w]) chains.back().push_back(w);
  }

  // Merge chains that are totally ordered with respect to each other: running
  // them on one stream cannot serialize anything that could have overlapped.
  auto ordered = [&](int a, int b) { return a == b || reach[a][b] || reach[b][a]; };
  std::vector<std::vector<int>> streams;
  for (const auto& chain : chains) {
    bool placed = false;
    for (auto& stream : streams) {
      bool all_ordered = true;
      for (int a : chain) {
        for (int b : stream) all_ordered = all_ordered && ordered(a, b);
      }
      if (all_ordered) {
        stream.insert(stream.end(), chain.begin(), chain.end());
        std::sort(stream.begin(), stream.end());
        placed = true;
        break;
      }
    }
    if (!placed) streams.push_back(chain);
  }

  StreamAssignment result;
  result.stream.assign(n, 0);
  result.streams = static_cast<int>(streams.size());
  for (size_t s = 0; s < streams.size(); ++s) {
    for (int v : streams[s]) result.stream[v] = static_cast<int>(s);
  }
  for (int u = 0; u < n; ++u) {
    for (int v : reduced[u]) {
      if (result.stream[u] != result.stream[v]) result.syncs.emplace_back(u, v);
    }
  }
  std::sort(result.syncs.begin(), result.syncs.end());
  return result;
}

}  // namespace janus::passes
