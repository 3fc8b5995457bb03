// Constant folding: a node whose tensor operands are all `constant` nodes and
// whose results are small (kMaxElements each) is run once at compile time, by
// the CPU runtime's own kernels (a one-node Program), and its results become
// `constant` nodes. Folding runs in execution order, so chains of such nodes
// fold in one sweep; the constants no longer used are left to DCE.
//
// Removes: work that gives the same result on every run.
// Leaves alone: control ops (asserts stay checks; cond, loop, call and
// callback are not evaluated at compile time); nodes without tensor operands
// (random ops, whose stream position moves at run time, and constants
// themselves); nodes with no native kernel; nodes whose evaluation fails (an
// index out of range, say: the error then happens at run time, as it would
// without folding); symbolic shapes.
#include <map>
#include <set>

#include "ir/structural.h"
#include "passes/passes.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/program.h"

namespace janus::passes {
namespace {

using ir::Node;
using ir::Value;

constexpr int64_t kMaxElements = 1024;

int64_t static_numel(const ir::TensorType& type) {
  int64_t count = 1;
  for (const ir::Dim& dim : type.shape) {
    if (!dim.is_known()) return -1;
    count *= dim.size;
  }
  return count;
}

bool foldable(const Node& node) {
  if (node.kind == ir::OpKind::constant || ir::is_control(node.kind)) return false;
  bool any_value = false;
  for (const ir::Operand& operand : node.operands) {
    const auto* value = std::get_if<Value*>(&operand);
    if (value == nullptr) continue;
    const Node* producer = (*value)->producer;
    if (producer == nullptr || producer->kind != ir::OpKind::constant) return false;
    any_value = true;
  }
  if (!any_value) return false;
  for (const Value* out : node.outputs) {
    const int64_t count = static_numel(out->type);
    if (count < 0 || count > kMaxElements) return false;
  }
  return true;
}

// The elements of a C-contiguous buffer of `type`, as constant values.
ir::Attr to_value_list(const ir::TensorType& type, const std::vector<char>& buffer) {
  const int64_t count = static_numel(type);
  std::vector<ir::Attr> items;
  items.reserve(static_cast<size_t>(count));
  cpu::visit(type.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* data = reinterpret_cast<const T*>(buffer.data());
    for (int64_t i = 0; i < count; ++i) {
      if constexpr (std::is_same_v<T, bool>) {
        items.push_back(ir::Attr::boolean(data[i]));
      } else if constexpr (std::is_floating_point_v<T>) {
        items.push_back(ir::Attr::real(static_cast<double>(data[i])));
      } else {
        items.push_back(ir::Attr::integer(static_cast<int64_t>(data[i])));
      }
    }
  });
  return ir::Attr::of_list(std::move(items));
}

// Runs `node` alone on its constant operands; one value list per result.
// Throws (cpu::Unsupported, or the kernel's error) when it cannot.
std::vector<ir::Attr> evaluate(const Node& node) {
  auto graph = std::make_unique<ir::Graph>();
  std::vector<ir::Operand> operands;
  for (const ir::Operand& operand : node.operands) {
    if (const auto* value = std::get_if<Value*>(&operand)) {
      const Node& constant = *(*value)->producer;
      operands.emplace_back(
          graph->add_node(ir::OpKind::constant, {}, constant.attrs, {(*value)->type})->outputs[0]);
    } else {
      operands.push_back(operand);
    }
  }
  std::vector<ir::TensorType> types;
  for (const Value* out : node.outputs) types.push_back(out->type);
  const Node* copy = graph->add_node(node.kind, std::move(operands), node.attrs, types);
  graph->set_outputs(copy->outputs);
  cpu::Program program(std::move(graph), {});  // no fallback: native kernels only
  std::vector<std::vector<char>> buffers;
  std::vector<void*> outputs;
  for (const ir::TensorType& type : types) {
    buffers.emplace_back(std::max<size_t>(bytes_of(type), 1));
    outputs.push_back(buffers.back().data());
  }
  program.run({}, outputs);
  std::vector<ir::Attr> values;
  for (size_t k = 0; k < types.size(); ++k) values.push_back(to_value_list(types[k], buffers[k]));
  return values;
}

}  // namespace

int fold_constants(ir::Graph& graph) {
  std::vector<Node*> order;
  std::map<const Node*, int64_t> rank;
  for (const auto& node : graph.nodes()) {
    rank[node.get()] = static_cast<int64_t>(order.size());
    order.push_back(node.get());
  }
  std::set<const Node*> folded;
  for (Node* node : order) {
    if (!foldable(*node)) continue;
    std::vector<ir::Attr> values;
    try {
      values = evaluate(*node);
    } catch (const std::exception&) {
      continue;  // not foldable here; the node runs (and reports) at run time
    }
    for (size_t k = 0; k < values.size(); ++k) {
      Value* out = node->outputs[k];
      // The old name is free once `node` is erased below.
      Node* constant = graph.add_node(ir::OpKind::constant, {}, {{"value", std::move(values[k])}},
                                      {out->type}, {out->name});
      graph.replace_all_uses(out, constant->outputs[0]);  // later nodes see a constant
      rank[constant] = rank.at(node);
    }
    folded.insert(node);
  }
  if (folded.empty()) return 0;
  graph.erase_nodes_if([&](const Node& node) { return folded.count(&node) > 0; });
  graph.sort_topologically([&](const Node& node) { return rank.at(&node); });
  return static_cast<int>(folded.size());
}

}  // namespace janus::passes
