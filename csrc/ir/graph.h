// The typed dataflow graph: values with types, nodes applying op-table ops.
//
// A node mirrors one call `apply(op, *args, **attrs)` of the eager layer: its
// operands are, position by position, either values (tensors) or constants
// (the Python numbers and None that ops take), and its attributes are the
// keyword arguments. Nodes are kept in a valid execution order.
//
// Ownership: the Graph owns every Value and Node; the raw pointers handed out
// stay valid for the Graph's lifetime.
//
// Subgraphs: a control node (cond, loop) owns its regions, each a Graph of its
// own whose inputs receive the node's operands; values cross into a region
// only that way, never by reference (a region's nodes may use only its own
// values). The outermost graph (the module) also owns a table of named
// functions, graphs that `call` nodes anywhere in the module run by name,
// recursion included.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "ir/attr.h"
#include "ir/op_kind.h"
#include "ir/types.h"

namespace janus::ir {

struct Node;
class Graph;

struct Value {
  std::string name;  // unique in its graph; printed as %name
  TensorType type;
  // False when the type is not known yet (IR text that left it out): only
  // passes::infer_types fills it in; every other pass and the executor need it.
  bool typed = true;
  Node* producer = nullptr;  // nullptr for a graph input
  int index = 0;             // which output of the producer
};

// An operand: a value, or a constant such as the 2.0 of `x * 2.0`.
using Operand = std::variant<Value*, Attr>;

struct Node {
  OpKind kind;
  std::vector<Operand> operands;
  std::map<std::string, Attr> attrs;
  std::vector<Value*> outputs;
  // The subgraphs it owns, in the order ir::region_names(kind) names them.
  std::vector<std::unique_ptr<Graph>> regions;
  Graph* graph = nullptr;  // the graph the node belongs to
};

// Operand `index` of `node` when it is a value; nullptr for a constant
// operand or an index past the last one.
Value* value_operand(const Node& node, size_t index);

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  Value* add_input(const std::string& name, TensorType type);
  // Appends a node; its outputs get fresh names (%0, %1, ...) unless `names` are given.
  Node* add_node(OpKind kind, std::vector<Operand> operands, std::map<std::string, Attr> attrs,
                 std::vector<TensorType> output_types, std::vector<std::string> names = {});
  void set_outputs(std::vector<Value*> outputs) { outputs_ = std::move(outputs); }

  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  // Whether `value` was created by this graph.
  bool owns(const Value* value) const;

  // Makes `region` (empty by default) the next region of `node`, a node of
  // this graph. Throws std::invalid_argument if `region` has functions (only
  // the module holds them).
  Graph* add_region(Node* node, std::unique_ptr<Graph> region = std::make_unique<Graph>());
  // Adds a function to the module's table; throws std::invalid_argument when
  // this graph is not the module, the name is taken, or `function` has
  // functions of its own.
  Graph* add_function(const std::string& name, std::unique_ptr<Graph> function);
  // The module's function called `name` (nullptr if none), from any graph in it.
  const Graph* function(const std::string& name) const;
  const std::map<std::string, std::unique_ptr<Graph>>& functions() const { return functions_; }
  // The graph whose node owns this region, or the module for a function
  // (nullptr for the module itself).
  const Graph* parent() const { return parent_; }
  const Graph& module() const { return parent_ ? parent_->module() : *this; }

  // Rewriting (used by passes). Every operand and graph output that is `from`
  // becomes `to`.
  void replace_all_uses(const Value* from, Value* to);
  // The same for many values in one sweep: every use of a key becomes its value.
  void replace_uses(const std::map<const Value*, Value*>& replacement);
  // Removes the nodes `remove` selects; returns how many. Their values stay
  // owned by the graph (so pointers stay valid) but are no longer defined.
  int erase_nodes_if(const std::function<bool(const Node&)>& remove);
  // Restores the execution order after a rewrite appended nodes: each node
  // comes after the producers of its operands, and among the nodes that may
  // run next the one of lowest `rank` goes first (ties: the current order).
  // Throws std::logic_error if the nodes form a cycle.
  void sort_topologically(const std::function<int64_t(const Node&)>& rank);

 private:
  Value* new_value(const std::string& name, TensorType type);

  std::vector<std::unique_ptr<Value>> values_;
  std::set<std::string> names_;  // of values_
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Node>> dead_nodes_;  // erased, kept so no pointer dangles
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::map<std::string, std::unique_ptr<Graph>> functions_;  // the module's only
  Graph* parent_ = nullptr;
  int next_id_ = 0;
};

// The problems that make a graph malformed (empty when it is well formed):
// operands used before they are defined or from another graph, result counts
// that do not match the op, repeated names, undefined graph outputs, and
// malformed structural ops (ir/structural.h), values without a type (run
// passes::infer_types first); regions and functions are verified the same
// way, their problems prefixed with where they are.
std::vector<std::string> verify(const Graph& graph);
// Throws std::invalid_argument listing every problem `verify` finds.
void check(const Graph& graph);

// The text form (see text.cpp) and its parser, which throws
// std::invalid_argument with a line number on malformed text. A node result
// may leave out its type (`%y = relu(%x)`); it is then parsed with
// typed = false, for passes::infer_types to fill in.
std::string print(const Graph& graph);
std::unique_ptr<Graph> parse(const std::string& text);

}  // namespace janus::ir
