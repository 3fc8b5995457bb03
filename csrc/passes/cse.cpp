// Common-subexpression elimination: a node computing what an earlier node
// already computed (same op, same operands, same attributes) is replaced by it.
// Nodes with effects (ir::has_effects) are never merged.
#include <map>
#include <set>
#include <string>

#include "ir/structural.h"
#include "passes/passes.h"

namespace janus::passes {
namespace {

// A key that is equal exactly when two nodes compute the same thing.
std::string signature(const ir::Node& node) {
  std::string key = ir::op_name(node.kind);
  key += "(";
  for (const ir::Operand& operand : node.operands) {
    if (const auto* value = std::get_if<ir::Value*>(&operand)) {
      // Value addresses identify values uniquely within one graph.
      key += "%" + std::to_string(reinterpret_cast<uintptr_t>(*value));
    } else {
      key += ir::to_string(std::get<ir::Attr>(operand));
    }
    key += ",";
  }
  key += "){";
  for (const auto& [name, attr] : node.attrs) key += name + "=" + ir::to_string(attr) + ",";
  key += "}";
  for (const ir::Value* out : node.outputs) key += ir::to_string(out->type);
  // A cond or loop is what its regions compute: equal text, equal node.
  for (const auto& region : node.regions) key += ir::print(*region);
  return key;
}

}  // namespace

int eliminate_common_subexpressions(ir::Graph& graph) {
  std::map<std::string, const ir::Node*> seen;
  std::set<const ir::Node*> duplicates;
  for (const auto& node : graph.nodes()) {
    if (ir::has_effects(*node)) continue;      // each check or effect runs as written
    const std::string key = signature(*node);  // operands already point at survivors
    auto [first, inserted] = seen.emplace(key, node.get());
    if (inserted) continue;
    for (size_t k = 0; k < node->outputs.size(); ++k) {
      graph.replace_all_uses(node->outputs[k], first->second->outputs[k]);
    }
    duplicates.insert(node.get());
  }
  return graph.erase_nodes_if([&](const ir::Node& node) { return duplicates.count(&node) > 0; });
}

}  // namespace janus::passes
