// The attributes of the structural ops (structural_ops.def), decoded and
// checked: the body of a `fused` node and the data of a `constant` node. Both
// are ordinary attributes, so the text form prints and parses them as is:
//
//   %y: f32[4,3], %m: bool[4,3] = fused(%x, %b) {body=[["mul", "f32", ["in0", "in1"], []],
//       ["add", "f32", ["t0", 1.0], [["alpha", 2]]], ["gt", "bool", ["t1", 0.0], []]],
//       results=[1, 2]}
//   %k: f32[2] = constant() {value=[1.0, 2.5]}
//
// A body instruction is [op, result dtype, operands, attributes]: an operand is
// "inK" (the node's operand K), "tK" (the result of an earlier instruction K)
// or a number; attributes are [name, value] pairs. Output k of the node is the
// result of instruction results[k]. Every instruction computes over the
// node's output shape (all outputs have it; the inputs broadcast to it).
#pragma once

#include <map>
#include <string>
#include <variant>
#include <vector>

#include "ir/graph.h"

namespace janus::ir {

struct FusedRef {
  enum Kind { kInput, kTemp } kind;
  int index;
};
using FusedOperand = std::variant<FusedRef, Attr>;

struct FusedInstr {
  OpKind kind;
  DType dtype;  // of the result
  std::vector<FusedOperand> operands;
  std::map<std::string, Attr> attrs;
};

struct FusedBody {
  std::vector<FusedInstr> instrs;
  std::vector<int> results;  // per node output: the instruction computing it
};

// The attributes of a fused node with this body (body=..., results=...).
std::map<std::string, Attr> fused_attrs(const FusedBody& body);
// Decodes a fused node's body and checks it against the node: operands in
// range and defined before use, known non-structural ops, result types equal
// to the node's output types, one output shape that every input broadcasts to.
// Throws std::invalid_argument saying what is wrong.
FusedBody fused_body(const Node& node);

// Checks a constant node: a value list with one number per element, in C
// order, of a kind its dtype holds (bool for bool, int for integers, int or
// float for floats). Throws std::invalid_argument.
void check_constant(const Node& node);

// What is wrong with a structural node (empty when nothing is, or when `node`
// is a table op): used by the verifier.
std::vector<std::string> verify_structural(const Node& node);

}  // namespace janus::ir
