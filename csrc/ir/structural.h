// The attributes of the structural ops (structural_ops.def), decoded and
// checked: the body of a `fused` node, the data of a `constant` node, the
// check of an `assert`. They are ordinary attributes, so the text form prints and parses them as
// is:
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
// node's iteration shape: its outputs' shape (the inputs broadcast to it).
//
// A body may end with reductions (sum, mean, amax or amin, with the
// reduction's dims and keepdim attributes), each of an elementwise
// instruction's result: reductions at the end of a fused group. Their results
// are node outputs of the reduced shapes; the iteration shape is then the
// other outputs' shape, or the inputs' broadcast shape when only reductions
// are output:
//
//   %s: f32[3] = fused(%x, %y) {body=[["sub", "f32", ["in0", "in1"], []],
//       ["mul", "f32", ["t0", "t0"], []],
//       ["sum", "f32", ["t1"], [["dims", [0]], ["keepdim", false]]]], results=[2]}
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
  // The instructions compute over this shape (checked by fused_body).
  std::vector<Dim> iteration_shape;
  // How many instructions come before the reductions at the end
  // (is_fused_reduction); instructions from there on are reductions.
  size_t elementwise_count() const;
};

// The reductions a fused body may end with: sum, mean, amax, amin.
bool is_fused_reduction(OpKind kind);
// The dims of a rank-`rank` shape that a reduction's `dims` attribute names:
// absent, none and [] name every dim (as reduction.py's normalize_dims); an
// integer or a list of integers names those dims, negative ones from the end.
// The type rules, the fusion pass and the CPU kernels all read `dims` here.
// Throws std::invalid_argument for a dim out of range or a non-integer.
std::vector<bool> reduced_axes(const Attr* dims, size_t rank);
std::vector<bool> reduced_axes(const std::map<std::string, Attr>& attrs, size_t rank);
// `shape` without its reduced dims, or with them as size 1 (keepdim).
std::vector<Dim> reduced_shape(const std::vector<Dim>& shape, const std::vector<bool>& reduced,
                               bool keepdim);
// The shape `shape` reduces to under a reduction's dims/keepdim attributes.
std::vector<Dim> reduced_shape(const std::vector<Dim>& shape,
                               const std::map<std::string, Attr>& attrs);

// The attributes of a fused node with this body (body=..., results=...).
std::map<std::string, Attr> fused_attrs(const FusedBody& body);
// Decodes a fused node's body and checks it against the node: operands in
// range and defined before use, known non-structural ops, result types equal
// to the node's output types, one iteration shape that every input
// broadcasts to, reductions only at the end, each of an elementwise
// instruction's result.
// Throws std::invalid_argument saying what is wrong.
FusedBody fused_body(const Node& node);

// Checks a constant node: a value list with one number per element, in C
// order, of a kind its dtype holds (bool for bool, int for integers, int or
// float for floats). Throws std::invalid_argument.
void check_constant(const Node& node);

// An assert node's check: which one it is and what it says when it fails.
struct AssertSpec {
  int64_t id = 0;
  std::string message;
};
// Decodes and checks an assert node: one bool tensor operand, attributes id
// (int) and message (string), no results. Throws std::invalid_argument.
AssertSpec assert_spec(const Node& node);

// The control kinds (assert, cond, loop, call, callback): run by the
// executor's control lowering, never folded.
bool is_control(OpKind kind);
// The regions a node of `kind` owns, by name (cond: then, else; loop: body).
std::vector<std::string> region_names(OpKind kind);
// The function a call node runs (its `callee`), or the host callable a
// callback names (its `target`). Throws std::invalid_argument.
std::string callee_of(const Node& node);
std::string target_of(const Node& node);

// Whether running `node` does more than compute its results: an assert may
// abort the run, a callback runs Python, and so does a cond, loop or call
// whose regions or callee (transitively) hold one. DCE keeps such nodes
// although nothing uses their results, CSE never merges them, and the
// executor stages a graph's outputs when one is present (so an abort leaves
// caller-owned buffers untouched).
bool has_effects(const Node& node);
bool has_effects(const Graph& graph);  // any node of `graph`
// Whether `node` (or any node of `graph`) is or runs a callback: Python sees
// those run, in program order, so nothing may reorder them or run them
// concurrently with other nodes (asserts only abort).
bool has_callbacks(const Node& node);
bool has_callbacks(const Graph& graph);

// What is wrong with a structural node (empty when nothing is, or when `node`
// is a table op): used by the verifier. For cond, loop and call it checks the
// operand and result types against the regions' or callee's signatures (the
// regions themselves are verified by ir::verify).
std::vector<std::string> verify_structural(const Node& node);

}  // namespace janus::ir
