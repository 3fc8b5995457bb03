#include "ir/graph.h"

#include <queue>
#include <set>
#include <stdexcept>

#include "ir/structural.h"

namespace janus::ir {

Value* value_operand(const Node& node, size_t index) {
  if (index >= node.operands.size()) return nullptr;
  const auto* value = std::get_if<Value*>(&node.operands[index]);
  return value ? *value : nullptr;
}

Value* Graph::new_value(const std::string& name, TensorType type) {
  auto value = std::make_unique<Value>();
  // A fresh name skips names given explicitly (a parsed or built graph names
  // its values itself; a pass adding nodes later must not reuse them).
  std::string chosen = name;
  while (chosen.empty() || (name.empty() && names_.count(chosen))) {
    chosen = std::to_string(next_id_++);
  }
  names_.insert(chosen);
  value->name = std::move(chosen);
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
  node->graph = this;
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

Graph* Graph::add_region(Node* node, std::unique_ptr<Graph> region) {
  if (!region->functions_.empty()) {
    throw std::invalid_argument("a region cannot hold functions (the module holds them)");
  }
  region->parent_ = this;
  node->regions.push_back(std::move(region));
  return node->regions.back().get();
}

Graph* Graph::add_function(const std::string& name, std::unique_ptr<Graph> function) {
  if (parent_ != nullptr) throw std::invalid_argument("functions belong to the outermost graph");
  if (!function->functions_.empty()) {
    throw std::invalid_argument("function " + name + " cannot hold functions of its own");
  }
  if (functions_.count(name)) throw std::invalid_argument("function " + name + " is defined twice");
  function->parent_ = this;
  return functions_.emplace(name, std::move(function)).first->second.get();
}

const Graph* Graph::function(const std::string& name) const {
  const auto& table = module().functions_;
  const auto found = table.find(name);
  return found == table.end() ? nullptr : found->second.get();
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

void Graph::replace_uses(const std::map<const Value*, Value*>& replacement) {
  for (auto& node : nodes_) {
    for (Operand& operand : node->operands) {
      auto* value = std::get_if<Value*>(&operand);
      if (value == nullptr) continue;
      const auto found = replacement.find(*value);
      if (found != replacement.end()) *value = found->second;
    }
  }
  for (Value*& out : outputs_) {
    const auto found = replacement.find(out);
    if (found != replacement.end()) out = found->second;
  }
}

void Graph::sort_topologically(const std::function<int64_t(const Node&)>& rank) {
  // Kahn's algorithm over node -> consumer edges, with a heap of ready nodes
  // keyed by (rank, current position).
  const size_t count = nodes_.size();
  std::map<const Node*, size_t> position;
  for (size_t i = 0; i < count; ++i) position[nodes_[i].get()] = i;
  std::vector<std::vector<size_t>> consumers(count);
  std::vector<int> waiting(count, 0);
  for (size_t i = 0; i < count; ++i) {
    std::set<size_t> producers;
    for (const Operand& operand : nodes_[i]->operands) {
      const auto* value = std::get_if<Value*>(&operand);
      if (value == nullptr || (*value)->producer == nullptr) continue;
      const auto found = position.find((*value)->producer);
      if (found != position.end()) producers.insert(found->second);
    }
    for (size_t p : producers) consumers[p].push_back(i);
    waiting[i] = static_cast<int>(producers.size());
  }
  using Key = std::pair<int64_t, size_t>;
  std::priority_queue<Key, std::vector<Key>, std::greater<Key>> ready;
  for (size_t i = 0; i < count; ++i) {
    if (waiting[i] == 0) ready.emplace(rank(*nodes_[i]), i);
  }
  std::vector<std::unique_ptr<Node>> sorted;
  sorted.reserve(count);
  while (!ready.empty()) {
    const size_t i = ready.top().second;
    ready.pop();
    for (size_t c : consumers[i]) {
      if (--waiting[c] == 0) ready.emplace(rank(*nodes_[c]), c);
    }
    sorted.push_back(std::move(nodes_[i]));
  }
  if (sorted.size() != count) {
    // Leave the graph as it was (the moved-from entries are put back).
    for (auto& node : sorted) nodes_[position.at(node.get())] = std::move(node);
    throw std::logic_error("the graph's nodes form a cycle");
  }
  nodes_ = std::move(sorted);
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

namespace {

// Appends the problems of `graph` to `problems`, each prefixed with `where`
// (empty for the module, "cond (node 2), then: " for a region).
void verify_into(const Graph& graph, const std::string& prefix,
                 std::vector<std::string>& problems) {
  std::set<const Value*> defined;
  std::set<std::string> names;
  auto define = [&](const Value* value) {
    defined.insert(value);
    if (!names.insert(value->name).second) {
      problems.push_back(prefix + "value name %" + value->name + " is defined twice");
    }
  };
  for (const Value* input : graph.inputs()) define(input);
  int position = 0;
  for (const auto& node : graph.nodes()) {
    const std::string where =
        prefix + op_name(node->kind) + " (node " + std::to_string(position++) + ")";
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
    // Only effect ops (assert, callback) exist for something besides results.
    if (node->outputs.empty() && expected != 0 && node->kind != OpKind::callback) {
      problems.push_back(where + ": has no results");
    }
    for (const std::string& problem : verify_structural(*node)) {
      problems.push_back(where + ": " + problem);
    }
    const std::vector<std::string> region_names = ir::region_names(node->kind);
    for (size_t r = 0; r < node->regions.size() && r < region_names.size(); ++r) {
      verify_into(*node->regions[r], where + ", " + region_names[r] + ": ", problems);
    }
    for (const Value* out : node->outputs) {
      if (!out->typed) problems.push_back(where + ": result %" + out->name + " has no type");
      define(out);
    }
  }
  for (const Value* out : graph.outputs()) {
    if (out == nullptr || !defined.count(out)) {
      problems.push_back(prefix + "graph output " + (out ? "%" + out->name : std::string("null")) +
                         " is not defined in the graph");
    }
  }
  for (const auto& [name, function] : graph.functions()) {
    verify_into(*function, prefix + "function " + name + ": ", problems);
  }
}

}  // namespace

std::vector<std::string> verify(const Graph& graph) {
  std::vector<std::string> problems;
  verify_into(graph, "", problems);
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
