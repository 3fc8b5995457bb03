// Elementwise fusion: a group of elementwise ops (chains and trees; inputs may
// broadcast) that compute over one shape becomes one `fused` node holding the
// group as its body (ir/structural.h). The CPU runtime runs a fused node as
// one pass over memory in chunks that stay in cache (runtime/cpu/elementwise.h),
// so the group's intermediate values never get a buffer: memory planning sees
// only the fused node's inputs and results.
//
// Removes: the group's intermediates. A value of the group stays materialized
// (a result of the fused node) when a node outside the group uses it or it is
// a graph output.
//
// Groups grow greedily in execution order: a fusible node joins the groups of
// its operands' fusible producers that compute over its own shape, as long as
// the union stays convex (no path leaves it and re-enters it through an
// outside node, which would make the fused node depend on itself) and small
// (kMaxOps). Then a group takes the reductions (sum, mean, amax, amin) of its
// values as its last instructions, when the CPU engine runs them (the kept
// dims one block, floats): a reduced value then needs no buffer of its
// own unless something else reads it, and is read once, in cache
// (structural.h). CUDA groups take none: its fused kernels are elementwise.
// A group input made by `expand` to the group's shape is read from the
// expand's operand instead (group inputs broadcast alike), and an expand
// left with no users is removed: a mean's gradient, expand(g / n), is never
// materialized.
// The nodes are then re-sorted so that every use of a group value follows
// its fused node.
#include <algorithm>
#include <map>
#include <set>

#include "ir/structural.h"
#include "passes/passes.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/elementwise.h"
#include "runtime/cpu/lower.h"

namespace janus::passes {
namespace {

using ir::Node;
using ir::Value;

// Enough to cover long chains; bounds the registers (scratch) of one kernel.
constexpr size_t kMaxOps = 64;

// Whether the CPU engine runs `node` natively (its dtypes, attributes and
// operand kinds): a group holding one node the engine refuses would run
// through the Python fallback as a whole. Asking the engine itself keeps one
// list of what it covers (it refuses float16, operands of mixed dtypes,
// operand counts or attributes it does not know, and symbolic shapes).
bool engine_runs(const Node& node) {
  try {
    cpu::ElementwiseBuilder builder(cpu::shape_of(node.outputs[0]->type));
    std::vector<std::variant<int, ir::Attr>> operands;
    int slot = 0;
    for (const ir::Operand& operand : node.operands) {
      if (const auto* attr = std::get_if<ir::Attr>(&operand)) {
        operands.emplace_back(*attr);
      } else {
        operands.emplace_back(builder.source(slot++, std::get<Value*>(operand)->type));
      }
    }
    cpu::emit_elementwise(builder, ir::op_name(node.kind), node.attrs, operands,
                          node.outputs[0]->type.dtype);
    return true;
  } catch (const std::exception&) {  // Unsupported, or a malformed node
    return false;
  }
}

// A node fusion may merge: one result, an op of the elementwise engine other
// than `overwrite` (an effect), every tensor on one device, run natively. A
// 0-d CPU operand of a GPU node is the exception: a scalar that the program
// copies to the device with its host inputs, as eager moves it.
bool fusible(const Node& node) {
  const std::string op = ir::op_name(node.kind);
  if (ir::is_structural(node.kind) || !cpu::is_elementwise(op) || op == "overwrite") return false;
  if (node.outputs.size() != 1) return false;
  for (const ir::Operand& operand : node.operands) {
    const auto* value = std::get_if<Value*>(&operand);
    if (value == nullptr || (*value)->type.device == node.outputs[0]->type.device) continue;
    if ((*value)->type.device != "cpu" || !(*value)->type.shape.empty()) return false;
  }
  return engine_runs(node);
}

// What a group member computing over `shape` reads for `value`: the operand
// of the expand that made it, when the expand's shape is the group's (the
// group broadcasts its inputs as expand does), else `value`.
Value* broadcast_source(Value* value, const std::vector<ir::Dim>& shape) {
  const Node* expand = value->producer;
  if (expand == nullptr || expand->kind != ir::OpKind::expand || value->type.shape != shape) {
    return value;
  }
  Value* source = ir::value_operand(*expand, 0);
  return source != nullptr && source->type.dtype == value->type.dtype &&
                 source->type.device == value->type.device
             ? source
             : value;
}

// Whether the CPU engine runs reduction `node` at the end of a group: one
// value operand computed over a static shape on the CPU, of a float dtype it
// keeps, over dims the engine can fold (ElementwiseBuilder::reduce).
bool reduction_fusible(const Node& node) {
  if (!ir::is_fused_reduction(node.kind) || node.operands.size() != 1) return false;
  const auto* value = std::get_if<Value*>(&node.operands[0]);
  if (value == nullptr || *value == nullptr) return false;
  const ir::TensorType& in = (*value)->type;
  const ir::TensorType& out = node.outputs.at(0)->type;
  if (in.device != "cpu" || out.dtype != in.dtype) return false;
  for (const ir::Dim& dim : in.shape) {
    if (!dim.is_known()) return false;
  }
  try {
    if (ir::reduced_shape(in.shape, node.attrs) != out.shape) return false;
    cpu::ElementwiseBuilder builder(cpu::shape_of(in));
    builder.reduce(builder.source(0, in), 1, ir::op_name(node.kind),
                   ir::reduced_axes(node.attrs, in.shape.size()));
    return true;
  } catch (const std::exception&) {  // Unsupported, or malformed dims
    return false;
  }
}

class Grouping {
 public:
  explicit Grouping(const ir::Graph& graph) : nodes_(graph.nodes()) {
    for (size_t i = 0; i < nodes_.size(); ++i) position_[nodes_[i].get()] = static_cast<int>(i);
    users_.resize(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) {
      for (const ir::Operand& operand : nodes_[i]->operands) {
        const int p = producer(operand);
        if (p >= 0 && (users_[p].empty() || users_[p].back() != static_cast<int>(i))) {
          users_[p].push_back(static_cast<int>(i));
        }
      }
    }
    group_.assign(nodes_.size(), -1);
  }

  // Forms the groups; returns them, each in execution order.
  std::vector<std::vector<int>> run() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      const Node& node = *nodes_[i];
      if (!fusible(node)) continue;
      new_group(static_cast<int>(i));
      for (const ir::Operand& operand : node.operands) {
        const int p = producer(operand);
        if (p < 0 || group_[p] < 0 || group_[p] == group_[i]) continue;
        const ir::TensorType& from = nodes_[p]->outputs[0]->type;
        const ir::TensorType& to = node.outputs[0]->type;
        if (from.shape != to.shape || from.device != to.device) continue;
        if (members_[group_[p]].size() + members_[group_[i]].size() > kMaxOps) continue;
        if (convex_union(group_[p], group_[i])) merge(group_[p], group_[i]);
      }
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      const Node& node = *nodes_[i];
      if (!reduction_fusible(node)) continue;
      const int p = producer(node.operands[0]);
      // Reductions join elementwise members only (not another reduction).
      if (p < 0 || group_[p] < 0 || ir::is_fused_reduction(nodes_[p]->kind)) continue;
      const int g = group_[p];
      if (members_[g].size() + 1 > kMaxOps) continue;
      new_group(static_cast<int>(i));
      if (!convex_union(group_[i], g)) {  // a member reads the reduction
        members_.pop_back();
        group_[i] = -1;
        continue;
      }
      merge(group_[i], g);
    }
    std::vector<std::vector<int>> groups;
    for (std::vector<int>& members : members_) {
      if (members.size() < 2) continue;
      std::sort(members.begin(), members.end());
      // Reductions go last, in order: no member depends on one (convexity).
      std::stable_partition(members.begin(), members.end(),
                            [&](int m) { return !ir::is_fused_reduction(nodes_[m]->kind); });
      groups.push_back(members);
    }
    return groups;
  }

  const std::vector<int>& users(int node) const { return users_[node]; }

 private:
  int producer(const ir::Operand& operand) const {
    const auto* value = std::get_if<Value*>(&operand);
    if (value == nullptr || (*value)->producer == nullptr) return -1;
    const auto found = position_.find((*value)->producer);
    return found == position_.end() ? -1 : found->second;
  }

  void new_group(int node) {
    group_[node] = static_cast<int>(members_.size());
    members_.push_back({node});
  }

  // Whether no path from groups a or b re-enters them through an outside node.
  // Only nodes before the union's last member can lead back into it.
  bool convex_union(int a, int b) const {
    auto inside = [&](int n) { return group_[n] == a || group_[n] == b; };
    int last = 0;
    for (int g : {a, b}) {
      for (int m : members_[g]) last = std::max(last, m);
    }
    std::vector<int> stack;
    std::set<int> seen;
    for (int g : {a, b}) {
      for (int m : members_[g]) {
        for (int u : users_[m]) {
          if (!inside(u) && u < last) stack.push_back(u);
        }
      }
    }
    while (!stack.empty()) {
      const int n = stack.back();
      stack.pop_back();
      if (!seen.insert(n).second) continue;
      for (int u : users_[n]) {
        if (inside(u)) return false;
        if (u < last) stack.push_back(u);
      }
    }
    return true;
  }

  void merge(int from, int into) {
    for (int m : members_[from]) group_[m] = into;
    members_[into].insert(members_[into].end(), members_[from].begin(), members_[from].end());
    members_[from].clear();
  }

  const std::vector<std::unique_ptr<Node>>& nodes_;
  std::map<const Node*, int> position_;
  std::vector<std::vector<int>> users_;  // per node: the nodes using its results
  std::vector<int> group_;               // per node: its group, -1 if not fusible
  std::vector<std::vector<int>> members_;
};

}  // namespace

int fuse_elementwise(ir::Graph& graph) {
  Grouping grouping(graph);
  const std::vector<std::vector<int>> groups = grouping.run();
  const auto& nodes = graph.nodes();
  const std::set<const Value*> graph_outputs(graph.outputs().begin(), graph.outputs().end());
  std::vector<const Node*> by_position;
  for (const auto& node : nodes) by_position.push_back(node.get());

  std::map<const Value*, Value*> replacement;
  std::map<const Node*, int64_t> rank;  // where each node goes in the new order
  for (size_t i = 0; i < by_position.size(); ++i) rank[by_position[i]] = static_cast<int64_t>(i);
  std::set<const Node*> fused_away;
  std::set<const Node*> looked_through;  // expands whose operand a group reads
  int made = 0;
  for (const std::vector<int>& members : groups) {
    std::map<const Value*, int> temp;  // member results by instruction
    std::map<const Value*, int> input;
    std::vector<ir::Operand> inputs;
    std::set<int> in_group(members.begin(), members.end());
    ir::FusedBody body;
    std::vector<const Value*> materialized;
    for (int m : members) {
      const Node& node = *by_position[m];
      ir::FusedInstr instr{node.kind, node.outputs[0]->type.dtype, {}, node.attrs};
      for (const ir::Operand& operand : node.operands) {
        if (const auto* attr = std::get_if<ir::Attr>(&operand)) {
          instr.operands.emplace_back(*attr);
        } else if (Value* value = std::get<Value*>(operand); temp.count(value)) {
          instr.operands.emplace_back(ir::FusedRef{ir::FusedRef::kTemp, temp.at(value)});
        } else {
          if (!ir::is_fused_reduction(node.kind)) {
            Value* source = broadcast_source(value, node.outputs[0]->type.shape);
            if (source != value) looked_through.insert(value->producer);
            value = source;
          }
          auto [it, added] = input.emplace(value, static_cast<int>(inputs.size()));
          if (added) inputs.emplace_back(value);
          instr.operands.emplace_back(ir::FusedRef{ir::FusedRef::kInput, it->second});
        }
      }
      const Value* out = node.outputs[0];
      temp[out] = static_cast<int>(body.instrs.size());
      body.instrs.push_back(std::move(instr));
      bool outside = graph_outputs.count(out) > 0;
      for (int u : grouping.users(m)) outside = outside || !in_group.count(u);
      if (outside) {
        body.results.push_back(temp[out]);
        materialized.push_back(out);
      }
    }
    if (materialized.empty()) continue;  // nothing uses the group: left to DCE
    std::vector<ir::TensorType> types;
    std::vector<std::string> names;
    for (const Value* value : materialized) {
      types.push_back(value->type);
      names.push_back(value->name);  // freed when the members are erased below
    }
    Node* fused = graph.add_node(ir::OpKind::fused, std::move(inputs), ir::fused_attrs(body),
                                 std::move(types), std::move(names));
    for (size_t k = 0; k < materialized.size(); ++k) {
      replacement[materialized[k]] = fused->outputs[k];
    }
    for (int m : members) fused_away.insert(by_position[m]);
    // Runs where its last member ran (a reduction, listed last, may have run earlier).
    rank[fused] = *std::max_element(members.begin(), members.end());
    ++made;
  }
  if (made == 0) return 0;
  graph.replace_uses(replacement);
  std::set<const Value*> used(graph.outputs().begin(), graph.outputs().end());
  for (const auto& node : nodes) {
    if (fused_away.count(node.get())) continue;
    for (const ir::Operand& operand : node->operands) {
      if (const auto* value = std::get_if<Value*>(&operand)) used.insert(*value);
    }
  }
  graph.erase_nodes_if([&](const Node& node) {
    return fused_away.count(&node) > 0 ||
           (looked_through.count(&node) > 0 && used.count(node.outputs[0]) == 0);
  });
  graph.sort_topologically([&](const Node& node) { return rank.at(&node); });
  return made;
}

}  // namespace janus::passes
