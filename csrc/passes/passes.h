// Graph passes: each one file, each doing one thing, each returning how many
// rewrites it made. `run_pass` runs one by name on the graph and every subgraph
// in it (regions, functions) and, in debug builds, verifies the graph afterwards.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace janus::passes {

// Shape and dtype inference: each node's result types from its operands'
// types by its op's rule (passes/type_rules.h: PyTorch's promotion and
// broadcasting, reductions, matmul, reshape with -1, indexing, window
// arithmetic, ...), with symbolic dims carried through (?B stays ?B, a
// reshape of [B, T, C] to [-1, C] gives [B*T, C], a size that cannot be
// expressed gets a fresh symbol ?s0). Results without a type get the inferred
// one; typed results are checked against it. Returns how many types it filled
// in; throws std::invalid_argument naming the node whose type is wrong.
int infer_types(ir::Graph& graph);

// Removes nodes none of whose results reach a graph output (every op in the
// table is pure: random ops take their stream position as attributes); nodes
// with effects (ir::has_effects: asserts) always stay.
int eliminate_dead_code(ir::Graph& graph);

// Replaces a node by an earlier one with the same op, operands and attributes
// (never one with effects).
int eliminate_common_subexpressions(ir::Graph& graph);

// Local algebraic rewrites that remove work: x + 0, x * 1, x / 1, x ** 1,
// neg(neg(x)), reshape to the same shape, reshape of reshape, permute of
// permute, casts to the dtype a value already has.
int simplify_algebra(ir::Graph& graph);

// Evaluates, at compile time and with the CPU kernels, nodes whose tensor
// operands are all constants and whose results are small; their results
// become `constant` nodes.
int fold_constants(ir::Graph& graph);

// Batches small matrix products into large ones (batch_matmuls.cpp): products
// sharing their right operand and independent of each other become one
// product of the stacked rows, split back; a sum of products becomes one
// product over the concatenated inner dimension. Graphs with effects are left
// as they are.
int batch_matmuls(ir::Graph& graph);

// Folds a permute that swaps the last two dims of a float matmul operand into
// the product (fold_transposes.cpp): matmul(x, b) {transpose_a=true} reads x
// through the GEMM's transpose flag instead of a transposed copy.
int fold_transposes(ir::Graph& graph);

// Merges groups of elementwise ops over one shape into `fused` nodes that run
// as one pass over memory; only values used outside a group stay materialized.
int fuse_elementwise(ir::Graph& graph);

// Nimble's ahead-of-time stream assignment (an analysis: the graph is not
// changed). On the transitive reduction of the node DAG, a maximum bipartite
// matching links each node to at most one successor and one predecessor; the
// resulting chains are a minimum cover of the DAG by chains, each run in order
// on one stream, so that nodes not ordered by data dependences can overlap and
// the matched edges need no synchronization. Chains whose nodes are all
// ordered with respect to each other are then merged (no concurrency is lost).
// `syncs` are the remaining cross-stream edges (u, v): v waits for u's event.
struct StreamAssignment {
  std::vector<int> stream;  // per node, in graph order
  int streams = 0;
  std::vector<std::pair<int, int>> syncs;  // node indices, in graph order
};
StreamAssignment assign_streams(const ir::Graph& graph);

// Liveness-based memory planning (an analysis): every node result with a
// static shape gets an offset in one arena, shared with results whose
// lifetimes do not overlap. A result lives from its node to its last use; a
// node's inputs and outputs share memory only by in-place reuse (below). Placement is
// greedy by size (largest first, lowest fitting offset). Results with symbolic
// dims are left to run-time allocation (`dynamic`). Graph outputs computed by
// a node take no arena space (`caller_owned`): executors write them straight
// into the buffers the caller hands in, as graph inputs are read from the
// caller's buffers, so reserving arena for them would only inflate the peak
// (an executor that stages outputs places them after `arena_bytes` itself).
//
// With `parallel` (a stream assignment whose streams run concurrently, as the
// CPU thread pool runs them), "alive at the same time" is judged by the order
// the streams guarantee rather than by graph order: two results may share
// memory only when every node touching one (its producer and its readers)
// is ordered, by data dependences and by each stream's own sequence, before
// the producer of the other.
//
// In-place reuse: `in_place` lists (operand, result) pairs where the result's
// node may write the result over the operand's buffer (its kernel reads each
// part of the operand before writing that part of the result; the executor's
// lowering knows which kernels do). The result then takes the operand's block
// when both are planned, have the same size, and the node is the operand's
// last reader (with `parallel`: every other reader is ordered before it). A
// chain of such pairs shares one block.
//
// Aliases: `aliases` lists (operand, result) pairs whose result is the
// operand's bytes as they are, or a part of them (a reshape, a split's result
// read in place, for a runtime that then writes nothing for it). The result
// takes the operand's block when both are planned and it fits, whoever else
// reads the operand; the block then lives until the last reader of either,
// and no in-place result is written over it.
struct MemoryPlan {
  std::map<const ir::Value*, size_t> offset;  // bytes, aligned to kAlignment
  size_t arena_bytes = 0;                     // peak with reuse
  size_t unshared_bytes = 0;                  // every planned result in its own buffer
  std::vector<const ir::Value*> dynamic;
  std::vector<const ir::Value*> caller_owned;  // graph outputs, in definition order
  // Results written over an operand: result -> the operand whose block it took.
  std::map<const ir::Value*, const ir::Value*> reused;
  // Aliases that share their operand's block: result -> operand.
  std::map<const ir::Value*, const ir::Value*> aliased;
  static constexpr size_t kAlignment = 64;
};
using InPlacePairs = std::vector<std::pair<const ir::Value*, const ir::Value*>>;
size_t bytes_of(const ir::TensorType& type);  // 0 when a dim is symbolic
MemoryPlan plan_memory(const ir::Graph& graph, const StreamAssignment* parallel = nullptr,
                       const InPlacePairs& in_place = {}, const InPlacePairs& aliases = {});

// Slots for `nodes` (indices in graph order, ascending) that each need a
// scratch area of their own while they run (the CUDA runtime's cuBLAS
// workspaces): two share a slot only if one is sure to finish before the
// other starts when the streams of `parallel` run concurrently (null: one
// stream, so always). Greedy in graph order; returns a slot per node.
std::vector<int> exclusive_slots(const ir::Graph& graph, const StreamAssignment* parallel,
                                 const std::vector<int>& nodes);

// The names `run_pass` accepts, in the order a default pipeline runs them.
std::vector<std::string> pass_names();
// Throws std::invalid_argument for an unknown name.
int run_pass(ir::Graph& graph, const std::string& name);

}  // namespace janus::passes
