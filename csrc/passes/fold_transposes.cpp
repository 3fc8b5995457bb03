// Transposes folded into matrix products: matmul(permute(x), b), where the
// permute swaps the last two dims and keeps the leading ones, becomes
// matmul(x, b) {transpose_a=true}, read through BLAS's transpose flag (and
// likewise for b). Without it the permute writes a transposed copy of x that
// the product reads once; weight gradients are the usual case (g^T x, and
// the permute(cat(...)) that batch_matmuls makes of a sum of them). The
// permute is left for DCE when nothing else reads it. A transpose of a
// product read nowhere else is the product of the transposes the other way
// round, (op(x) op(y))^T = op(y)^T op(x)^T: permute(matmul(x, y)) becomes
// matmul(y, x) with both flags flipped (autograd's gradient of `x @ w.t()`
// with respect to w is such a permute).
//
// Only float products whose operands and result share a dtype are rewritten:
// the ones the executors run on a GEMM with transpose flags (CPU BLAS,
// cuBLAS); every other matmul keeps the op table's semantics. A permute of
// an operand that is already marked transposed cancels the mark.
#include <map>

#include "passes/passes.h"
#include "passes/rule_helpers.h"

namespace janus::passes {
namespace {

using ir::Attr;
using ir::Node;
using ir::OpKind;
using ir::Value;
using ir::value_operand;

constexpr const char* kFlags[] = {"transpose_a", "transpose_b"};

bool is_set(const Node& node, const char* flag) {
  const auto found = node.attrs.find(flag);
  return found != node.attrs.end() && rules::as_bool(&found->second);
}

// A permute that swaps the last two dims of a matrix or a batch of them.
bool swaps_last_two(const Node& node) {
  if (node.kind != OpKind::permute || node.outputs.size() != 1) return false;
  const auto dims = node.attrs.find("dims");
  if (dims == node.attrs.end() || dims->second.kind != Attr::Kind::kList) return false;
  const std::vector<Attr>& list = dims->second.list;
  const int64_t rank = static_cast<int64_t>(list.size());
  if (rank < 2) return false;
  for (int64_t d = 0; d < rank; ++d) {
    if (list[d].kind != Attr::Kind::kInt) return false;
    const int64_t wrapped = list[d].i < 0 ? list[d].i + rank : list[d].i;
    const int64_t expected = d < rank - 2 ? d : (d == rank - 2 ? rank - 1 : rank - 2);
    if (wrapped != expected) return false;
  }
  return true;
}

void flip(Node& node, const char* flag) {
  if (is_set(node, flag)) {
    node.attrs.erase(flag);
  } else {
    node.attrs[flag] = Attr::boolean(true);
  }
}

// A product every executor runs on one GEMM: float operands of the result's
// dtype (not a vector: a transposed operand must be a matrix).
bool gemm_product(const Node& node) {
  if (node.kind != OpKind::matmul || node.outputs.size() != 1) return false;
  const ir::DType dtype = node.outputs[0]->type.dtype;
  if (dtype != ir::DType::kFloat32 && dtype != ir::DType::kFloat64) return false;
  for (size_t k = 0; k < 2; ++k) {
    const Value* operand = value_operand(node, k);
    if (operand == nullptr || operand->type.dtype != dtype || operand->type.shape.size() < 2) {
      return false;
    }
  }
  return node.operands.size() == 2;
}

// Reads of each value: by nodes and as a graph output.
std::map<const Value*, int> use_counts(const ir::Graph& graph) {
  std::map<const Value*, int> uses;
  for (const auto& node : graph.nodes()) {
    for (const ir::Operand& operand : node->operands) {
      if (const auto* value = std::get_if<Value*>(&operand)) ++uses[*value];
    }
  }
  for (const Value* out : graph.outputs()) ++uses[out];
  return uses;
}

}  // namespace

int fold_transposes(ir::Graph& graph) {
  const std::map<const Value*, int> uses = use_counts(graph);
  int rewrites = 0;
  // In graph order: a product's operands are folded before a transpose of it
  // is turned around.
  for (const auto& owned : graph.nodes()) {
    Node& node = *owned;
    if (gemm_product(node)) {
      for (size_t k = 0; k < 2; ++k) {
        const Node* permute = value_operand(node, k)->producer;
        if (permute == nullptr || !swaps_last_two(*permute)) continue;
        node.operands[k] = value_operand(*permute, 0);
        flip(node, kFlags[k]);
        ++rewrites;
      }
      continue;
    }
    if (!swaps_last_two(node)) continue;
    const Value* product = value_operand(node, 0);
    if (product == nullptr || product->producer == nullptr || !gemm_product(*product->producer) ||
        uses.at(product) != 1) {
      continue;
    }
    const Node& inner = *product->producer;
    Value* x = value_operand(inner, 0);
    Value* y = value_operand(inner, 1);
    // matmul(y, x) broadcasts batch dims the same way; the CUDA lowering takes
    // a shared 2-D operand only on the right, so equal ranks only.
    if (x->type.shape.size() != y->type.shape.size()) continue;
    const bool x_transposed = is_set(inner, kFlags[0]), y_transposed = is_set(inner, kFlags[1]);
    node.kind = OpKind::matmul;
    node.operands = {y, x};
    node.attrs.clear();
    if (!y_transposed) node.attrs[kFlags[0]] = Attr::boolean(true);
    if (!x_transposed) node.attrs[kFlags[1]] = Attr::boolean(true);
    ++rewrites;
  }
  return rewrites;
}

}  // namespace janus::passes
