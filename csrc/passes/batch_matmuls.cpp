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
// The same two for embeddings, the other per-step product of an RNN
// language model: lookups of one table, embedding(W, idx_t), become one
// lookup of the stacked indices, split back; and a sum of index_adds into
// one zero tensor, sum_t index_add(0, idx_t, g_t) (the table's gradient),
// becomes one index_add of the stacked indices and sources. Stacks of a
// split's results in order are its source, and a stack of the rows x[0],
// x[1], ... of all of x is a reshape of x (the loop's `tokens[t]`).
//
// Both change the order of floating-point additions inside a GEMM or an
// index_add (results agree within rounding, not bit for bit). Graphs with
// callbacks are left alone: moving nodes could reorder what Python sees.
#include <algorithm>
#include <limits>
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

// `like` with `rows` as its first dim.
TensorType with_rows(const TensorType& like, int64_t rows) {
  TensorType type = like;
  type.shape[0] = ir::Dim::known(rows);
  return type;
}

bool all_known(const Value* v) {
  return v != nullptr && std::all_of(v->type.shape.begin(), v->type.shape.end(),
                                     [](const ir::Dim& d) { return d.is_known(); });
}

// The operand a row batch stacks: the rows x of x @ W (linear, matmul) or
// the indices of embedding(W, idx); -1 for other nodes or shapes.
int row_operand(const Node& node) {
  if (node.kind == OpKind::linear || node.kind == OpKind::matmul) {
    const bool plain = node.attrs.empty() && is_matrix(value_operand(node, 0)) &&
                       is_matrix(value_operand(node, 1));
    return plain ? 0 : -1;
  }
  if (node.kind == OpKind::embedding) {
    const Value* idx = value_operand(node, 1);
    return value_operand(node, 0) && all_known(idx) && !idx->type.shape.empty() ? 1 : -1;
  }
  return -1;
}

// Whether `v` is all zeros: a zero constant, or an expand of one.
bool is_zero(const Value* v) {
  const Node* p = v ? v->producer : nullptr;
  if (p == nullptr) return false;
  if (p->kind == OpKind::expand) return is_zero(value_operand(*p, 0));
  if (p->kind != OpKind::constant || !p->attrs.count("value")) return false;
  const Attr& value = p->attrs.at("value");
  const auto zero = [](const Attr& a) {
    return (a.kind == Attr::Kind::kFloat && a.f == 0.0) || (a.kind == Attr::Kind::kInt && a.i == 0);
  };
  if (value.kind != Attr::Kind::kList) return zero(value);
  return std::all_of(value.list.begin(), value.list.end(), zero);
}

// sum(x, dims=[0]) of x with known dims: leaves a sum of such leaves can
// merge into one reduction of their stack (a bias's gradient over the steps).
bool is_sum_over_rows(const Node* p) {
  if (p == nullptr || p->kind != OpKind::sum || p->operands.size() != 1) return false;
  const auto dims = p->attrs.find("dims");
  const auto keepdim = p->attrs.find("keepdim");
  const bool rows = dims != p->attrs.end() && dims->second.kind == Attr::Kind::kList &&
                    dims->second.list.size() == 1 &&
                    dims->second.list[0].kind == Attr::Kind::kInt && dims->second.list[0].i == 0;
  const bool dropped = keepdim == p->attrs.end() ||
                       (keepdim->second.kind == Attr::Kind::kBool && !keepdim->second.b);
  const Value* x = value_operand(*p, 0);
  return rows && dropped && all_known(x) && !x->type.shape.empty();
}

// index_add(0, idx, src) along dim 0 with alpha 1, idx 1-D: a leaf a sum of
// such leaves over one zero tensor can merge.
bool is_scatter_into_zero(const Node* p) {
  if (p == nullptr || p->kind != OpKind::index_add || p->operands.size() != 3) return false;
  for (const auto& [name, attr] : p->attrs) {
    if (name == "dim" && !(attr.kind == Attr::Kind::kInt && attr.i == 0)) return false;
    if (name == "alpha" && !((attr.kind == Attr::Kind::kInt && attr.i == 1) ||
                             (attr.kind == Attr::Kind::kFloat && attr.f == 1.0))) {
      return false;
    }
    if (name != "dim" && name != "alpha") return false;
  }
  const Value* idx = value_operand(*p, 1);
  const Value* src = value_operand(*p, 2);
  return is_zero(value_operand(*p, 0)) && all_known(idx) && idx->type.shape.size() == 1 &&
         all_known(src) && !src->type.shape.empty();
}

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
    // Candidates by what they share: op, the shared operand (W), bias,
    // dtype, attributes and the rows' shape past their first dim.
    using Key = std::tuple<OpKind, const Value*, const Value*, ir::DType, std::string>;
    std::map<Key, std::vector<Node*>> groups;
    for (const auto& owned : graph_.nodes()) {
      Node& node = *owned;
      const int rows = row_operand(node);
      if (rows < 0) continue;
      const Value* x = value_operand(node, rows);
      const Value* w = value_operand(node, 1 - rows);
      const Value* bias = nullptr;
      if (node.kind == OpKind::linear && node.operands.size() > 2) {
        bias = value_operand(node, 2);
        if (bias == nullptr && std::get<Attr>(node.operands[2]).kind != Attr::Kind::kNone) {
          continue;
        }
      }
      std::string rest;
      for (const auto& [name, attr] : node.attrs) rest += name + "=" + ir::to_string(attr) + ",";
      for (size_t d = 1; d < x->type.shape.size(); ++d) {
        rest += std::to_string(x->type.shape[d].size) + "x";
      }
      groups[{node.kind, w, bias, x->type.dtype, rest}].push_back(&node);
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
      std::vector<Node*> products, scatters, reductions;
      std::vector<Value*> others;
      for (Value* leaf : leaves) {
        Node* p = leaf->producer;
        const bool mine = p && uses_[leaf] == 1 && leaf->type == root.outputs[0]->type;
        const bool product = mine && p->kind == OpKind::matmul && p->attrs.empty() &&
                             is_matrix(value_operand(*p, 0)) && is_matrix(value_operand(*p, 1));
        // Scatters into one zero tensor (the first one's).
        const bool scatter =
            mine && is_scatter_into_zero(p) &&
            (scatters.empty() || value_operand(*p, 0) == value_operand(*scatters.front(), 0));
        if (product) {
          products.push_back(p);
        } else if (scatter) {
          scatters.push_back(p);
        } else if (mine && is_sum_over_rows(p)) {
          reductions.push_back(p);
        } else {
          others.push_back(leaf);
        }
      }
      std::set<const Value*> rights;
      for (const Node* p : products) rights.insert(value_operand(*p, 1));
      // (A shared right operand would be repeated in the concatenation.)
      const bool merge_products = products.size() >= 2 && rights.size() == products.size();
      const bool merge_scatters = scatters.size() >= 2;
      const bool merge_reductions = reductions.size() >= 2;
      if (!merge_products && !merge_scatters && !merge_reductions) continue;
      if (!merge_products) {
        for (Node* p : products) others.push_back(p->outputs[0]);
        products.clear();
      }
      if (merge_scatters) {
        others.push_back(merge_scatters_into_zero(scatters, rank_.at(&root)));
      } else {
        for (Node* p : scatters) others.push_back(p->outputs[0]);
      }
      if (merge_reductions) {
        // sum_i sum(x_i, dims=[0]) = sum(cat(x_i), dims=[0]).
        std::vector<Value*> rows;
        for (const Node* p : in_split_order(reductions, 0)) rows.push_back(value_operand(*p, 0));
        const int64_t at = rank_.at(&root);
        others.push_back(add(OpKind::sum, {stack_rows(rows, at)}, reductions.front()->attrs,
                             root.outputs[0]->type, at));
      } else {
        for (Node* p : reductions) others.push_back(p->outputs[0]);
      }
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

  // The product of the stacked rows (cat(x_i, dim=0) @ W, or the lookup of
  // the stacked indices), split back by rows.
  void merge_rows(const std::vector<Node*>& batch) {
    const Node& first = *batch.front();
    const int row = row_operand(first);
    const int64_t at = rank_.at(&first);
    std::vector<Value*> rows;
    std::vector<int64_t> sizes;
    int64_t total = 0;
    for (const Node* node : batch) {
      Value* x = value_operand(*node, row);
      rows.push_back(x);
      sizes.push_back(dim(x, 0));
      total += dim(x, 0);
    }
    std::vector<ir::Operand> operands = first.operands;
    operands[row] = stack_rows(rows, at);
    Value* product =
        add(first.kind, operands, first.attrs, with_rows(first.outputs[0]->type, total), at);
    std::vector<TensorType> parts;
    for (const Node* node : batch) parts.push_back(node->outputs[0]->type);
    Node* split = graph_.add_node(OpKind::split, {product},
                                  {{"dim", Attr::integer(0)}, {"sizes", int_list(sizes)}}, parts);
    rank_[split] = at;
    for (size_t k = 0; k < batch.size(); ++k) {
      graph_.replace_all_uses(batch[k]->outputs[0], split->outputs[k]);
    }
  }

  // One product over the concatenated inner dimension (when there are
  // products), added to the other leaves.
  void merge_sum(Node& root, const std::vector<Node*>& products,
                 const std::vector<Value*>& others) {
    const int64_t at = rank_.at(&root);
    const TensorType& type = root.outputs[0]->type;
    Value* sum = nullptr;
    if (!products.empty()) {
      std::vector<Value*> lefts, rights;
      for (const Node* p : products) {
        lefts.push_back(value_operand(*p, 0));
        rights.push_back(value_operand(*p, 1));
      }
      Value* left = concat_inner(lefts, at);
      Value* right = concat(rights, 0, at);
      sum = add(OpKind::matmul, {left, right}, {}, type, at);
    }
    for (Value* other : others) sum = sum ? add(OpKind::add, {sum, other}, {}, type, at) : other;
    graph_.replace_all_uses(root.outputs[0], sum);
  }

  // sum_i index_add(0, idx_i, src_i) = index_add(0, cat(idx_i), cat(src_i)).
  // The leaves go in the order of their sources' places in a split, when
  // they come from one (the stack is then the split's source).
  Value* merge_scatters_into_zero(std::vector<Node*> scatters, int64_t at) {
    scatters = in_split_order(scatters, 2);
    std::vector<Value*> indices, sources;
    for (const Node* p : scatters) {
      indices.push_back(value_operand(*p, 1));
      sources.push_back(value_operand(*p, 2));
    }
    const Node& first = *scatters.front();
    std::vector<ir::Operand> operands = {value_operand(first, 0), stack_rows(indices, at),
                                         stack_rows(sources, at)};
    return add(OpKind::index_add, operands, first.attrs, first.outputs[0]->type, at);
  }

  // `leaves` ordered by the place of their operand `k` among a split's
  // results, when it is one (their stack is then the split's source); the
  // others after them, in the order their operands were made (a row batch
  // of the same operands stacks them so: one stack serves both).
  std::vector<Node*> in_split_order(std::vector<Node*> leaves, size_t k) {
    auto place = [this, k](const Node* p) {
      const Value* v = value_operand(*p, k);
      const Node* split = v->producer;
      if (split == nullptr || split->kind != OpKind::split) {
        const int64_t made = split ? rank_.at(split) : -1;
        return std::pair<int64_t, size_t>{std::numeric_limits<int64_t>::max(),
                                          static_cast<size_t>(made + 1)};
      }
      const auto at = std::find(split->outputs.begin(), split->outputs.end(), v);
      return std::pair<int64_t, size_t>{rank_.at(split),
                                        static_cast<size_t>(at - split->outputs.begin())};
    };
    std::stable_sort(leaves.begin(), leaves.end(),
                     [&](const Node* a, const Node* b) { return place(a) < place(b); });
    return leaves;
  }

  // cat(parts, dim=0), any rank: the source of a split whose results the
  // parts are, in order; a reshape of x (or of flip(x)) when the parts are
  // its rows x[0], x[1], ... (or backwards), all of them; else a new cat.
  Value* stack_rows(const std::vector<Value*>& parts, int64_t at) {
    const auto found = concatenated_.find({parts, 0});
    if (found != concatenated_.end()) return found->second;
    const Node* p = parts.front()->producer;
    if (p && p->kind == OpKind::split && p->outputs.size() == parts.size() &&
        std::equal(parts.begin(), parts.end(), p->outputs.begin()) && p->attrs.count("dim") &&
        p->attrs.at("dim").kind == Attr::Kind::kInt && p->attrs.at("dim").i == 0) {
      return concatenated_[{parts, 0}] = value_operand(*p, 0);
    }
    int64_t total = 0;
    for (const Value* part : parts) total += dim(part, 0);
    Value* x = rows_of(parts, false);
    Value* backward = x ? nullptr : rows_of(parts, true);
    if (backward) x = add(OpKind::flip, {backward}, {{"dims", int_list({0})}}, backward->type, at);
    if (x) {
      std::vector<int64_t> shape = {total};
      for (size_t d = 1; d < parts.front()->type.shape.size(); ++d) {
        shape.push_back(dim(parts.front(), d));
      }
      return concatenated_[{parts, 0}] = add(OpKind::reshape, {x}, {{"shape", int_list(shape)}},
                                             with_rows(parts.front()->type, total), at);
    }
    std::vector<ir::Operand> operands(parts.begin(), parts.end());
    return concatenated_[{parts, 0}] = add(OpKind::cat, operands, {{"dim", Attr::integer(0)}},
                                           with_rows(parts.front()->type, total), at);
  }

  // x when `parts` are x[0], x[1], ..., x[n - 1] (index_basic by one integer
  // each; x[n - 1], ..., x[0] when `reversed`: a backward pass's order; the
  // stack is then of flip(x)) and x has n rows, else nullptr.
  static Value* rows_of(const std::vector<Value*>& parts, bool reversed) {
    Value* x = nullptr;
    for (size_t k = 0; k < parts.size(); ++k) {
      const int64_t row = static_cast<int64_t>(reversed ? parts.size() - 1 - k : k);
      const Node* p = parts[k]->producer;
      if (p == nullptr || p->kind != OpKind::index_basic || !p->attrs.count("spec")) return nullptr;
      const Attr& spec = p->attrs.at("spec");
      const bool row_k = spec.kind == Attr::Kind::kList && spec.list.size() == 1 &&
                         spec.list[0].kind == Attr::Kind::kList && spec.list[0].list.size() == 2 &&
                         spec.list[0].list[0].s == "i" &&
                         spec.list[0].list[1].kind == Attr::Kind::kInt &&
                         spec.list[0].list[1].i == row;
      Value* source = value_operand(*p, 0);
      if (!row_k || (x != nullptr && source != x)) return nullptr;
      x = source;
    }
    const bool whole = x && all_known(x) && x->type.shape.size() >= 2 &&
                       dim(x, 0) == static_cast<int64_t>(parts.size());
    return whole ? x : nullptr;
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
    if (axis == 0) return stack_rows(parts, at);
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
  // Stacks made so far, by parts and axis: a row batch and a sum stacking the
  // same parts (an RNN's gate gradients, for its input's and its weight's
  // gradients) share one.
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
  if (rewrites > 0) batcher.finish();
  return rewrites;
}

}  // namespace janus::passes
