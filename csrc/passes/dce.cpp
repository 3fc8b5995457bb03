// Dead-code elimination: removes every node none of whose results is needed,
// directly or through other nodes, by a graph output or a node with effects
// (ir::has_effects: asserts), which always stays.
#include <set>

#include "ir/structural.h"
#include "passes/passes.h"

namespace janus::passes {

int eliminate_dead_code(ir::Graph& graph) {
  std::set<const ir::Value*> live(graph.outputs().begin(), graph.outputs().end());
  std::set<const ir::Node*> needed;
  const auto& nodes = graph.nodes();
  // Nodes are in execution order, so one backwards sweep sees every use first.
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    const ir::Node& node = **it;
    bool used = ir::has_effects(node);  // an assert is kept for its check
    for (const ir::Value* out : node.outputs) used = used || live.count(out);
    if (!used) continue;
    needed.insert(&node);
    for (const ir::Operand& operand : node.operands) {
      if (const auto* value = std::get_if<ir::Value*>(&operand)) live.insert(*value);
    }
  }
  return graph.erase_nodes_if([&](const ir::Node& node) { return !needed.count(&node); });
}

}  // namespace janus::passes
