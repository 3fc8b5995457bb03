// Lowering: each IR node becomes a kernel closure over buffer slots. The
// closure captures everything computed from the node's types and attributes
// (strides, offsets, instantiations), so running it does only the work.
//
// A lowering throws Unsupported for what it does not cover (an op without a
// native kernel, a dtype, an attribute value); the program then runs that node
// through the Python fallback (co-execution), never wrongly.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/passes.h"
#include "runtime/cpu/elementwise.h"

namespace janus::cpu {

struct ControlEnv;  // control.h

struct LowerContext {
  const ir::Node& node;
  std::vector<int> operand_slots;  // per operand: its slot, or -1 for a constant
  std::vector<int> output_slots;
  const int64_t* rng_shift;       // added to the stream offsets of random ops at run time
  ControlEnv* control = nullptr;  // for control ops (regions, functions, callbacks)
  // Filled by lowerings whose kernel may write an output over an operand's
  // buffer: (operand slot, output slot) pairs (ElementwiseBuilder::in_place_pairs).
  std::vector<std::pair<int, int>> in_place;

  const ir::Value* value(size_t k) const;  // operand k (throws if it is a constant)
  const ir::Attr& constant(size_t k) const;
  bool is_value(size_t k) const { return operand_slots.at(k) >= 0; }
  const ir::Attr& attr(const std::string& name) const;
  const ir::Attr* attr_or_null(const std::string& name) const;
  const ir::TensorType& out_type(size_t k = 0) const { return node.outputs.at(k)->type; }
};

// The kernel for ctx.node (throws Unsupported). One function per op family:
Kernel lower_node(LowerContext& ctx);
Kernel lower_elementwise(const LowerContext& ctx);     // one op of elementwise.h
Kernel lower_fused(LowerContext& ctx);                 // a fused group: one ElementwiseBuilder
Kernel lower_constant(const LowerContext& ctx);        // a copy of the decoded value
Kernel lower_layout(const LowerContext& ctx);          // reshape, views, cat, split, pads
Kernel lower_reduction(const LowerContext& ctx);       // sum ... logsumexp, max_dim, cumsum
Kernel lower_linalg(const LowerContext& ctx);          // matmul, linear
Kernel lower_indexing(const LowerContext& ctx);        // index_select, embedding, gather, ...
Kernel lower_nn(const LowerContext& ctx);              // softmax, nll_loss, random fills
Kernel lower_conv(const LowerContext& ctx);            // conv2d and its gradients, on GEMM
Kernel lower_pool(const LowerContext& ctx);            // max_pool2d, avg_pool2d and backward
Kernel lower_sort(const LowerContext& ctx);            // sort, topk
Kernel lower_advanced_index(const LowerContext& ctx);  // index, index_put (numpy's rules)
Kernel lower_einsum(const LowerContext& ctx);          // einsum: permutes and batched GEMM
Kernel lower_control(const LowerContext& ctx);         // assert, cond, loop, call, callback

// ctx.in_place as values: (operand, result) pairs for passes::plan_memory.
passes::InPlacePairs in_place_values(const LowerContext& ctx);

// Adds elementwise op `op` (an op-table name) to `b`; to_dtype and clone are
// casts, overwrite(old, src) a cast of src. Returns the result register.
int emit_elementwise(ElementwiseBuilder& b, const std::string& op,
                     const std::map<std::string, ir::Attr>& attrs,
                     const std::vector<std::variant<int, ir::Attr>>& operands, ir::DType out_dtype);

// Integer lists and dims from attributes.
std::vector<int64_t> int_list(const ir::Attr& attr);

}  // namespace janus::cpu
