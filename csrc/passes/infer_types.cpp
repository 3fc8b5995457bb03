// Shape and dtype inference: from the types of the graph's inputs, every
// node's result types by its op's rule (type_rules.cpp), in graph order.
// Results without a type (IR text that left it out) get the inferred one;
// results that have one are checked against it: the declared type may be
// more specific than the inferred one (a symbol there, a size here), but never
// contradict it, and one symbol stands for one size throughout the graph.
#include <set>
#include <stdexcept>

#include "ir/structural.h"
#include "passes/passes.h"
#include "passes/type_rules.h"

namespace janus::passes {
namespace {

std::string describe(const ir::Node& node) {
  std::string text;
  for (size_t k = 0; k < node.outputs.size(); ++k)
    text += (k ? ", %" : "%") + node.outputs[k]->name;
  return text + " = " + ir::op_name(node.kind) + "(...)";
}

void collect_symbols(const ir::TensorType& type, std::set<std::string>& symbols) {
  for (const ir::Dim& d : type.shape) {
    if (!d.is_known()) symbols.insert(d.symbol);
  }
}

class Inference {
 public:
  explicit Inference(const ir::Graph& graph) {
    for (const ir::Value* input : graph.inputs()) collect_symbols(input->type, used_);
    for (const auto& node : graph.nodes()) {
      for (const ir::Value* out : node->outputs) {
        if (out->typed) collect_symbols(out->type, used_);
      }
    }
  }

  // Fills or checks the result types of `node`; returns how many it filled.
  int visit(ir::Node& node) {
    if (node.kind == ir::OpKind::constant) {  // its data has no shape: the type must be given
      if (!node.outputs.at(0)->typed) fail(node, "a constant's type cannot be inferred");
      return 0;
    }
    if (ir::is_control(node.kind)) {
      // assert has no results; cond, loop and call take their result types
      // from their regions or callee, a callback from its declaration, and
      // the verifier checks those signatures (ir/structural.h).
      for (const ir::Value* out : node.outputs) {
        if (!out->typed) fail(node, "a control op's result types must be written in the IR");
      }
      return 0;
    }
    RuleInput in{node, {}, [this] { return fresh(); }};
    for (const ir::Operand& operand : node.operands) {
      const auto* value = std::get_if<ir::Value*>(&operand);
      if (value == nullptr) {
        in.operands.emplace_back(std::nullopt);
      } else if (!(*value)->typed) {
        fail(node, "operand %" + (*value)->name + " has no type");
      } else {
        in.operands.emplace_back((*value)->type);
      }
    }
    std::vector<ir::TensorType> inferred;
    try {
      inferred = infer_result_types(in);
    } catch (const RuleError& error) {
      fail(node, error.what());
    }
    if (inferred.size() != node.outputs.size()) {
      fail(node, "has " + std::to_string(node.outputs.size()) + " results, its operands give " +
                     std::to_string(inferred.size()));
    }
    int filled = 0;
    for (size_t k = 0; k < inferred.size(); ++k) {
      ir::Value* out = node.outputs[k];
      if (!out->typed) {
        out->type = inferred[k];
        out->typed = true;
        ++filled;
      } else if (!agrees(inferred[k], out->type)) {
        fail(node, "%" + out->name + " is declared " + ir::to_string(out->type) +
                       " but its operands give " + ir::to_string(inferred[k]));
      }
    }
    return filled;
  }

 private:
  // Whether `declared` is `inferred`, or a specialization of it that is
  // consistent with what each symbol was bound to before.
  bool agrees(const ir::TensorType& inferred, const ir::TensorType& declared) {
    if (inferred.dtype != declared.dtype || inferred.device != declared.device ||
        inferred.shape.size() != declared.shape.size()) {
      return false;
    }
    for (size_t i = 0; i < inferred.shape.size(); ++i) {
      const ir::Dim& want = inferred.shape[i];
      const ir::Dim& have = declared.shape[i];
      if (want.is_known()) {
        if (!(want == have)) return false;
        continue;
      }
      const auto [bound, added] = bindings_.emplace(want.symbol, have);
      if (!added && !(bound->second == have)) return false;
    }
    return true;
  }

  ir::Dim fresh() {
    std::string name;
    do name = "s" + std::to_string(next_fresh_++);
    while (used_.count(name));
    used_.insert(name);
    return ir::Dim::symbolic(name);
  }

  [[noreturn]] static void fail(const ir::Node& node, const std::string& what) {
    throw std::invalid_argument("infer_types: " + describe(node) + ": " + what);
  }

  std::set<std::string> used_;
  std::map<std::string, ir::Dim> bindings_;  // symbol -> the dim a declared type gave it
  int next_fresh_ = 0;
};

}  // namespace

int infer_types(ir::Graph& graph) {
  Inference inference(graph);
  int filled = 0;
  for (const auto& node : graph.nodes()) filled += inference.visit(*node);
  return filled;
}

}  // namespace janus::passes
