// Batching of small matrix products into large ones: a Python loop over time
// (an RNN step) records one small GEMM per step and weight, which BLAS runs
// far below its speed on one large product, and whose gradients autograd sums
// one step at a time. Two rewrites:
//
// Rows: products that share their right operand (linear(x_i, W, b) or
// matmul(x_i, W)), none depending on another's result, become one product of
// the stacked rows, split back: cat(x_i) @ W -> split. The input projections
// of every time step (x_t W_ih^T) and their gradients (g_t W_ih) qualify; the
// recurrent ones (h_{t-1} W_hh^T) do not, each needs the one before.
//
// Sums: a tree of adds whose leaves include several products used only there,
// sum_i A_i @ B_i, becomes one product over the concatenated inner dimension,
// cat(A_i, dim=1) @ cat(B_i, dim=0), plus the other leaves. A weight's
// gradient over the steps (sum_t g_t^T x_t) is one GEMM instead of one per
// step and a pass over memory per addend. When every A_i is a transpose
// permute(a_i), the concatenation is permute(cat(a_i, dim=0)): one transpose.
//
// Both change the order of floating-point additions inside a GEMM (results
// agree within rounding, not bit for bit). Graphs with callbacks are left
// alone: moving nodes could reorder what Python sees.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "ir/structural.h"
#include "passes/passes.h"

namespace janus::passes {
namespace {

using ir::Attr;
using ir::Node;
using ir::OpKind;
using ir::TensorType;
using ir::Value;
using ir::value_operand;

bool is_matrix(const Value* v) {
  return v != nullptr && v->type.shape.size() == 2 && v->type.shape[0].is_known() &&
         v->type.shape[1].is_known();
}

int64_t dim(const Value* v, size_t d) { return v->type.shape[d].size; }

TensorType matrix(const TensorType& like, int64_t rows, int64_t cols) {
  TensorType type = like;
  type.shape = {ir::Dim::known(rows), ir::Dim::known(cols)};
  return type;
}

Attr int_list(const std::vector<int64_t>& items) {
  std::vector<Attr> list;
  for (int64_t item : items) list.push_back(Attr::integer(item));
  return Attr::of_list(std::move(list));
}

class Batcher {
 public:
  explicit Batcher(ir::Graph& graph) : graph_(graph) {
    const auto& nodes = graph.nodes();
    for (size_t i = 0; i < nodes.size(); ++i) rank_[nodes[i].get()] = static_cast<int64_t>(i);
    index();
  }

  int batch_rows() {
    index();
    // Candidates by what they share: op, right operand, bias, dtype.
    using Key = std::tuple<OpKind, const Value*, const Value*, ir::DType>;
    std::map<Key, std::vector<Node*>> groups;
    for (const auto& owned : graph_.nodes()) {
      Node& node = *owned;
      const bool linear = node.kind == OpKind::linear;
      if (!linear && node.kind != OpKind::matmul) continue;
      const Value* x = value_operand(node, 0);
      const Value* w = value_operand(node, 1);
      if (!is_matrix(x) || !is_matrix(w) || !node.attrs.empty()) continue;
      const Value* bias = nullptr;
      if (linear && node.operands.size() > 2) {
        bias = value_operand(node, 2);
        if (bias == nullptr && std::get<Attr>(node.operands[2]).kind != Attr::Kind::kNone) {
          continue;
        }
      }
      groups[{node.kind, w, bias, x->type.dtype}].push_back(&node);
    }
    int rewrites = 0;
    for (auto& [key, members] : groups) {
      while (members.size() > 1) {
        std::vector<Node*> batch = independent_prefix(members);
        if (batch.size() < 2) break;
        merge_rows(batch);
        index();  // the merged product orders what it reads before what reads it
        ++rewrites;
        std::vector<Node*> rest;
        for (Node* node : members) {
          if (std::find(batch.begin(), batch.end(), node) == batch.end()) rest.push_back(node);
        }
        members = std::move(rest);
      }
    }
    return rewrites;
  }

  int batch_sums() {
    int rewrites = 0;
    std::vector<Node*> nodes;  // merging appends nodes: walk the ones there were
    for (const auto& owned : graph_.nodes()) nodes.push_back(owned.get());
    for (Node* node : nodes) {
      Node& root = *node;
      if (!is_plain_add(root) || part_of_larger_sum(root)) continue;
      std::vector<Value*> leaves;
      collect_leaves(root, root.outputs[0]->type, leaves);
      std::vector<Node*> products;
      std::vector<Value*> others;
      for (Value* leaf : leaves) {
        Node* p = leaf->producer;
        const bool product = p && p->kind == OpKind::matmul && p->attrs.empty() &&
                             uses_[leaf] == 1 && is_matrix(value_operand(*p, 0)) &&
                             is_matrix(value_operand(*p, 1)) && leaf->type == root.outputs[0]->type;
        if (product) {
          products.push_back(p);
        } else {
          others.push_back(leaf);
        }
      }
      std::set<const Value*> rights;
      for (const Node* p : products) rights.insert(value_operand(*p, 1));
      // (A shared right operand would be repeated in the concatenation.)
      if (products.size() < 2 || rights.size() < products.size()) continue;
      merge_sum(root, products, others);
      ++rewrites;
    }
    return rewrites;
  }

  void finish() {
    graph_.sort_topologically([this](const Node& node) { return rank_.at(&node); });
  }

 private:
  // Uses and consumers, of the graph as it is now.
  void index() {
    uses_.clear();
    consumers_.clear();
    for (const auto& node : graph_.nodes()) {
      for (const ir::Operand& operand : node->operands) {
        const auto* value = std::get_if<Value*>(&operand);
        if (value == nullptr) continue;
        ++uses_[*value];
        if ((*value)->producer) consumers_[(*value)->producer].push_back(node.get());
      }
    }
    for (const Value* out : graph_.outputs()) ++uses_[out];
  }

  // The longest run of `members` (in graph order) in which none depends on
  // another's result, greedily from the first.
  std::vector<Node*> independent_prefix(const std::vector<Node*>& members) {
    std::set<const Node*> downstream;
    std::vector<Node*> batch;
    for (Node* node : members) {
      if (downstream.count(node)) continue;
      batch.push_back(node);
      std::vector<const Node*> stack = {node};
      while (!stack.empty()) {
        const Node* n = stack.back();
        stack.pop_back();
        for (const Node* c : consumers_[n]) {
          if (downstream.insert(c).second) stack.push_back(c);
        }
      }
    }
    return batch;
  }

  // cat(x_i, dim=0) @ W, split back by rows.
  void merge_rows(const std::vector<Node*>& batch) {
    const Node& first = *batch.front();
    std::vector<ir::Operand> rows;
    std::vector<int64_t> sizes;
    int64_t total = 0;
    for (const Node* node : batch) {
      Value* x = value_operand(*node, 0);
      rows.emplace_back(x);
      sizes.push_back(dim(x, 0));
      total += dim(x, 0);
    }
    const Value* x0 = value_operand(first, 0);
    const Value* out0 = first.outputs[0];
    Node* cat = graph_.add_node(OpKind::cat, rows, {{"dim", Attr::integer(0)}},
                                {matrix(x0->type, total, dim(x0, 1))});
    std::vector<ir::Operand> operands = first.operands;
    operands[0] = cat->outputs[0];
    Node* product =
        graph_.add_node(first.kind, operands, {}, {matrix(out0->type, total, dim(out0, 1))});
    std::vector<TensorType> parts;
    for (const Node* node : batch) parts.push_back(node->outputs[0]->type);
    Node* split = graph_.add_node(OpKind::split, {product->outputs[0]},
                                  {{"dim", Attr::integer(0)}, {"sizes", int_list(sizes)}}, parts);
    const int64_t at = rank_.at(&first);
    for (const Node* added : {cat, product, split}) rank_[added] = at;
    for (size_t k = 0; k < batch.size(); ++k) {
      graph_.replace_all_uses(batch[k]->outputs[0], split->outputs[k]);
    }
  }

  // One product over the concatenated inner dimension, added to the other leaves.
  void merge_sum(Node& root, const std::vector<Node*>& products,
                 const std::vector<Value*>& others) {
    const int64_t at = rank_.at(&root);
    std::vector<Value*> lefts, rights;
    for (const Node* p : products) {
      lefts.push_back(value_operand(*p, 0));
      rights.push_back(value_operand(*p, 1));
    }
    Value* left = concat_inner(lefts, at);
    Value* right = concat(rights, 0, at);
    const TensorType& type = root.outputs[0]->type;
    Value* sum = add(OpKind::matmul, {left, right}, {}, type, at);
    for (Value* other : others) sum = add(OpKind::add, {sum, other}, {}, type, at);
    graph_.replace_all_uses(root.outputs[0], sum);
  }

  // cat(A_i, dim=1), or permute(cat(a_i, dim=0)) when every A_i = permute(a_i).
  Value* concat_inner(const std::vector<Value*>& parts, int64_t at) {
    std::vector<Value*> sources;
    for (Value* part : parts) {
      const Node* p = part->producer;
      if (!p || p->kind != OpKind::permute || !p->attrs.count("dims") ||
          !(p->attrs.at("dims") == int_list({1, 0})) || !is_matrix(value_operand(*p, 0))) {
        return concat(parts, 1, at);
      }
      sources.push_back(value_operand(*p, 0));
    }
    const auto found = transposed_.find(sources);
    if (found != transposed_.end()) return found->second;
    Value* stacked = concat(sources, 0, at);
    Value* result = add(OpKind::permute, {stacked}, {{"dims", int_list({1, 0})}},
                        matrix(stacked->type, dim(stacked, 1), dim(stacked, 0)), at);
    return transposed_[sources] = result;
  }

  Value* concat(const std::vector<Value*>& parts, size_t axis, int64_t at) {
    const auto found = concatenated_.find({parts, axis});
    if (found != concatenated_.end()) return found->second;
    std::vector<ir::Operand> operands(parts.begin(), parts.end());
    int64_t total = 0;
    for (const Value* part : parts) total += dim(part, axis);
    const Value* first = parts.front();
    const TensorType type = axis == 0 ? matrix(first->type, total, dim(first, 1))
                                      : matrix(first->type, dim(first, 0), total);
    Value* result =
        add(OpKind::cat, operands, {{"dim", Attr::integer(static_cast<int64_t>(axis))}}, type, at);
    return concatenated_[{parts, axis}] = result;
  }

  Value* add(OpKind kind, std::vector<ir::Operand> operands, std::map<std::string, Attr> attrs,
             const TensorType& type, int64_t at) {
    Node* node = graph_.add_node(kind, std::move(operands), std::move(attrs), {type});
    rank_[node] = at;
    return node->outputs[0];
  }

  // add(a, b) of two values of the result's type (no broadcasting, no alpha).
  static bool is_plain_add(const Node& node) {
    if (node.kind != OpKind::add || node.operands.size() != 2 || !node.attrs.empty()) return false;
    const Value* a = value_operand(node, 0);
    const Value* b = value_operand(node, 1);
    const TensorType& type = node.outputs[0]->type;
    return a && b && a->type == type && b->type == type;
  }

  // Whether `node`'s only use is a plain add of the same type (it is then an
  // inner node of that add's tree, not a root).
  bool part_of_larger_sum(const Node& node) {
    const Value* out = node.outputs[0];
    if (uses_[out] != 1) return false;
    const auto found = consumers_.find(&node);
    if (found == consumers_.end() || found->second.size() != 1) return false;
    return is_plain_add(*found->second.front());
  }

  void collect_leaves(const Node& node, const TensorType& type, std::vector<Value*>& leaves) {
    for (size_t k = 0; k < 2; ++k) {
      Value* operand = value_operand(node, k);
      const Node* p = operand->producer;
      if (p && is_plain_add(*p) && uses_[operand] == 1 && operand->type == type) {
        collect_leaves(*p, type, leaves);
      } else {
        leaves.push_back(operand);
      }
    }
  }

  ir::Graph& graph_;
  std::map<const Node*, int64_t> rank_;  // the sort key: original position
  std::map<const Value*, int> uses_;     // operand uses plus graph outputs
  std::map<const Node*, std::vector<const Node*>> consumers_;
  std::map<std::pair<std::vector<Value*>, size_t>, Value*> concatenated_;
  std::map<std::vector<Value*>, Value*> transposed_;
};

}  // namespace

int batch_matmuls(ir::Graph& graph) {
  // Asserts may move (a failed one aborts the run, whichever it is);
  // callbacks may not (Python sees them run).
  if (ir::has_callbacks(graph)) return 0;
  Batcher batcher(graph);
  // Sums first: merging one adds no ordering the graph did not have (every
  // A_i and B_i was already before the root). A row batch does (all of its
  // rows before every use of its results), so each is checked against the
  // graph as the earlier batches left it.
  int rewrites = batcher.batch_sums();
  rewrites += batcher.batch_rows();
  if (rewrites > 0) {
    batcher.finish();
    // Products of the same stacked operand make the same cat (an RNN's
    // stacked gate gradients, for its input's and its weight's gradients):
    // one is enough.
    rewrites += eliminate_common_subexpressions(graph);
  }
  return rewrites;
}

}  // namespace janus::passes
