#include "ir/graph.h"

#include <set>
#include <stdexcept>

namespace janus::ir {

Value* Graph::new_value(const std::string& name, TensorType type) {
  auto value = std::make_unique<Value>();
  value->name = name.empty() ? std::to_string(next_id_++) : name;
  value->type = std::move(type);
  values_.push_back(std::move(value));
  return values_.back().get();
}

Value* Graph::add_input(const std::string& name, TensorType type) {
  Value* value = new_value(name, std::move(type));
  inputs_.push_back(value);
  return value;
}

Node* Graph::add_node(OpKind kind, std::vector<Operand> operands, std::map<std::string, Attr> attrs,
                      std::vector<TensorType> output_types, std::vector<std::string> names) {
  auto node = std::make_unique<Node>();
  node->kind = kind;
  node->operands = std::move(operands);
  node->attrs = std::move(attrs);
  for (size_t k = 0; k < output_types.size(); ++k) {
    Value* out = new_value(k < names.size() ? names[k] : "", std::move(output_types[k]));
    out->producer = node.get();
    out->index = static_cast<int>(k);
    node->outputs.push_back(out);
  }
  nodes_.push_back(std::move(node));
  return nodes_.back().get();
}

bool Graph::owns(const Value* value) const {
  for (const auto& v : values_) {
    if (v.get() == value) return true;
  }
  return false;
}

void Graph::replace_all_uses(const Value* from, Value* to) {
  for (auto& node : nodes_) {
    for (Operand& operand : node->operands) {
      if (auto* value = std::get_if<Value*>(&operand); value && *value == from) *value = to;
    }
  }
  for (Value*& out : outputs_) {
    if (out == from) out = to;
  }
}

int Graph::erase_nodes_if(const std::function<bool(const Node&)>& remove) {
  const size_t before = nodes_.size();
  std::vector<std::unique_ptr<Node>> kept;
  kept.reserve(nodes_.size());
  for (auto& node : nodes_) {
    if (remove(*node)) {
      for (Value* out : node->outputs) out->producer = nullptr;
      dead_nodes_.push_back(std::move(node));  // keep alive: values point at them
    } else {
      kept.push_back(std::move(node));
    }
  }
  nodes_ = std::move(kept);
  return static_cast<int>(before - nodes_.size());
}

std::vector<std::string> verify(const Graph& graph) {
  std::vector<std::string> problems;
  std::set<const Value*> defined;
  std::set<std::string> names;
  auto define = [&](const Value* value) {
    defined.insert(value);
    if (!names.insert(value->name).second) {
      problems.push_back("value name %" + value->name + " is defined twice");
    }
  };
  for (const Value* input : graph.inputs()) define(input);
  int position = 0;
  for (const auto& node : graph.nodes()) {
    const std::string where =
        std::string(op_name(node->kind)) + " (node " + std::to_string(position++) + ")";
    for (size_t k = 0; k < node->operands.size(); ++k) {
      const auto* value = std::get_if<Value*>(&node->operands[k]);
      if (value == nullptr) continue;
      if (*value == nullptr || !graph.owns(*value)) {
        problems.push_back(where + ": operand " + std::to_string(k) +
                           " is not a value of this graph");
      } else if (!defined.count(*value)) {
        problems.push_back(where + ": operand %" + (*value)->name +
                           " is used before it is defined");
      }
    }
    const int expected = op_outputs(node->kind);
    if (expected >= 0 && static_cast<int>(node->outputs.size()) != expected) {
      problems.push_back(where + ": has " + std::to_string(node->outputs.size()) +
                         " results, the op has " + std::to_string(expected));
    }
    if (node->outputs.empty()) problems.push_back(where + ": has no results");
    for (const Value* out : node->outputs) define(out);
  }
  for (const Value* out : graph.outputs()) {
    if (out == nullptr || !defined.count(out)) {
      problems.push_back("graph output " + (out ? "%" + out->name : std::string("null")) +
                         " is not defined in the graph");
    }
  }
  return problems;
}

void check(const Graph& graph) {
  const std::vector<std::string> problems = verify(graph);
  if (problems.empty()) return;
  std::string text = "malformed graph:";
  for (const std::string& problem : problems) text += "\n  " + problem;
  throw std::invalid_argument(text);
}

}  // namespace janus::ir
