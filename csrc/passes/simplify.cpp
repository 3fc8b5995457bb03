// Algebraic simplification: local rewrites that remove ops computing nothing
// new (x + 0, x * 1, reshape to the same shape, ...) or merge two ops into one
// (reshape of reshape, permute of permute). A rewritten node's uses are moved
// to the simpler value and the node is removed.
#include <set>

#include "ir/structural.h"
#include "passes/passes.h"
#include "runtime/cpu/elementwise.h"

namespace janus::passes {
namespace {

using ir::Attr;
using ir::Node;
using ir::OpKind;
using ir::Value;
using ir::value_operand;

bool is_constant(const Node& node, size_t index, double number) {
  if (index >= node.operands.size()) return false;
  const auto* attr = std::get_if<Attr>(&node.operands[index]);
  if (attr == nullptr) return false;
  if (attr->kind == Attr::Kind::kInt) return static_cast<double>(attr->i) == number;
  if (attr->kind == Attr::Kind::kFloat) return attr->f == number;
  return false;
}

const Node* producer_of(const Value* value, OpKind kind) {
  return value && value->producer && value->producer->kind == kind ? value->producer : nullptr;
}

std::vector<int64_t> int_list(const Attr& attr) {
  std::vector<int64_t> out;
  for (const Attr& item : attr.list) out.push_back(item.i);
  return out;
}

// The value `node` computes, when it equals an existing one (nullptr if not).
Value* same_as(const Node& node) {
  const ir::TensorType& result = node.outputs[0]->type;
  Value* a = value_operand(node, 0);
  Value* b = value_operand(node, 1);
  auto keep = [&](Value* v) { return v && v->type == result ? v : nullptr; };
  switch (node.kind) {
    case OpKind::add:
      if (is_constant(node, 1, 0)) return keep(a);
      if (is_constant(node, 0, 0)) return keep(b);
      return nullptr;
    case OpKind::sub:
      return is_constant(node, 1, 0) ? keep(a) : nullptr;
    case OpKind::mul:
      if (is_constant(node, 1, 1)) return keep(a);
      if (is_constant(node, 0, 1)) return keep(b);
      return nullptr;
    case OpKind::div:
    case OpKind::pow:
      return is_constant(node, 1, 1) ? keep(a) : nullptr;
    case OpKind::neg:
      if (const Node* inner = producer_of(a, OpKind::neg)) return keep(value_operand(*inner, 0));
      return nullptr;
    case OpKind::reshape:
    case OpKind::expand:
    case OpKind::to_dtype:
      return keep(a);  // a no-op exactly when the type does not change
    default:
      return nullptr;
  }
}

// Merges `node` with the op producing its input, in place; true if it did.
bool merge_with_producer(Node& node) {
  Value* input = value_operand(node, 0);
  if (node.kind == OpKind::reshape) {
    if (const Node* inner = producer_of(input, OpKind::reshape)) {
      node.operands[0] = value_operand(*inner, 0);  // only the last shape matters
      return true;
    }
  }
  if (node.kind == OpKind::permute && node.attrs.count("dims")) {
    const Node* inner = producer_of(input, OpKind::permute);
    if (inner && inner->attrs.count("dims")) {
      const std::vector<int64_t> outer = int_list(node.attrs.at("dims"));
      const std::vector<int64_t> first = int_list(inner->attrs.at("dims"));
      std::vector<Attr> composed;
      for (int64_t d : outer) composed.push_back(Attr::integer(first[d]));  // y[i] = x[p1[p2[i]]]
      node.operands[0] = value_operand(*inner, 0);
      node.attrs["dims"] = Attr::of_list(std::move(composed));
      return true;
    }
  }
  return false;
}

// Whether broadcasting `shapes` (NumPy's rules, known sizes only) gives `want`.
bool broadcasts_to(const std::vector<const std::vector<ir::Dim>*>& shapes,
                   const std::vector<ir::Dim>& want) {
  std::vector<int64_t> out;
  for (const auto* shape : shapes) {
    if (shape->size() > out.size()) out.insert(out.begin(), shape->size() - out.size(), 1);
    const size_t lead = out.size() - shape->size();
    for (size_t d = 0; d < shape->size(); ++d) {
      const ir::Dim& dim = (*shape)[d];
      if (!dim.is_known()) return false;
      int64_t& size = out[lead + d];
      if (size == 1) {
        size = dim.size;
      } else if (dim.size != 1 && dim.size != size) {
        return false;
      }
    }
  }
  if (out.size() != want.size()) return false;
  for (size_t d = 0; d < want.size(); ++d) {
    if (!want[d].is_known() || want[d].size != out[d]) return false;
  }
  return true;
}

// An elementwise op reading expand(x) where its other operands broadcast with
// x to its result shape anyway (a mean's gradient, expand(g / n), times the
// input): it reads x, broadcasting, and the expanded copy is never made.
// True if it rewrote an operand.
bool read_past_expands(Node& node) {
  if (ir::is_structural(node.kind) || node.kind == OpKind::overwrite ||
      !cpu::is_elementwise(ir::op_name(node.kind))) {
    return false;
  }
  bool rewrote = false;
  for (size_t k = 0; k < node.operands.size(); ++k) {
    const Node* expand = producer_of(value_operand(node, k), OpKind::expand);
    if (expand == nullptr) continue;
    Value* source = value_operand(*expand, 0);
    std::vector<const std::vector<ir::Dim>*> shapes;
    for (size_t j = 0; j < node.operands.size(); ++j) {
      const Value* operand = j == k ? source : value_operand(node, j);
      if (operand != nullptr) shapes.push_back(&operand->type.shape);
    }
    if (broadcasts_to(shapes, node.outputs[0]->type.shape)) {
      node.operands[k] = source;
      rewrote = true;
    }
  }
  return rewrote;
}

bool is_identity_permute(const Node& node) {
  if (node.kind != OpKind::permute || !node.attrs.count("dims")) return false;
  const std::vector<int64_t> dims = int_list(node.attrs.at("dims"));
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

}  // namespace

int simplify_algebra(ir::Graph& graph) {
  int rewrites = 0;
  std::set<const Node*> replaced;
  for (const auto& owned : graph.nodes()) {
    Node& node = *owned;
    if (node.outputs.size() != 1) continue;
    if (merge_with_producer(node)) ++rewrites;
    if (read_past_expands(node)) ++rewrites;
    Value* simpler = is_identity_permute(node) ? value_operand(node, 0) : same_as(node);
    if (simpler != nullptr && simpler->type == node.outputs[0]->type) {
      graph.replace_all_uses(node.outputs[0], simpler);
      replaced.insert(&node);
      ++rewrites;
    }
  }
  graph.erase_nodes_if([&](const Node& node) { return replaced.count(&node) > 0; });
  return rewrites;
}

}  // namespace janus::passes
