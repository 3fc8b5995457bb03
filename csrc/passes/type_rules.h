// The shape and dtype rules of the op kinds, for passes/infer_types.cpp (in
// type_rules.cpp and type_rules_shapes.cpp): the C++ twin of each op's `meta`
// rule in the Python op table (src/janus/ops).
// tests/ir/test_infer_types.py runs every op-table test case and checks
// that these rules give the types the eager kernels produced, so a rule that
// drifts from its `meta` (or an op without a rule) fails there.
//
// Dimensions may be symbolic. Products of sizes and symbols are symbols
// written as factors joined by '*' (?B*T, ?B*T*4: symbols sorted, the known
// factor last), so `reshape` of [B, T, C] to [-1, C] gives [B*T, C]. Where a
// size cannot be expressed (a data-dependent size, a slice of a symbolic dim)
// the rule asks for a fresh symbol (?s0, ?s1, ...).
#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace janus::passes {

// What a rule sees of one node: the types of its value operands (nullopt for
// constant operands) and a source of fresh symbols.
struct RuleInput {
  const ir::Node& node;
  std::vector<std::optional<ir::TensorType>> operands;
  std::function<ir::Dim()> fresh;

  const ir::TensorType& type(size_t k) const;  // operand k, a tensor (throws otherwise)
  bool is_tensor(size_t k) const { return k < operands.size() && operands[k].has_value(); }
  // An argument the op table passes either by position (a constant operand at
  // `position`) or by keyword (the attribute `name`); nullptr when absent.
  const ir::Attr* arg(size_t position, const char* name) const;
  const ir::Attr& required(size_t position, const char* name) const;
};

// Bad input to a rule (a wrong operand count, a shape mismatch): the pass
// adds the node's name to the message.
struct RuleError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// The result types of `in.node`. Throws RuleError.
std::vector<ir::TensorType> infer_result_types(const RuleInput& in);

// Dimension arithmetic, exposed for the tests.
ir::Dim multiply(const ir::Dim& a, const ir::Dim& b);
// a / b when it is exact and expressible, else nullopt (the caller makes a
// fresh symbol). Throws RuleError when both are known and b does not divide a.
std::optional<ir::Dim> divide(const ir::Dim& a, const ir::Dim& b);
// NumPy broadcasting of two dims; nullopt when the result depends on what
// the symbols stand for. Throws RuleError for two known sizes that differ
// and are not 1.
std::optional<ir::Dim> broadcast_dim(const ir::Dim& a, const ir::Dim& b);
// PyTorch's promotion of two dtypes of tensors with dims (bool < integers <
// floats; within a kind the wider type, and uint8 with int8 is int16).
ir::DType promote(ir::DType a, ir::DType b);

}  // namespace janus::passes
