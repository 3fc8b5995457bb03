// The op -> lowering dispatch, the context helpers, and elementwise lowering.
#include <map>

#include "runtime/cpu/dtype.h"
#include "runtime/cpu/lower.h"

namespace janus::cpu {

const ir::Value* LowerContext::value(size_t k) const {
  const auto* v = std::get_if<ir::Value*>(&node.operands.at(k));
  if (!v) throw Unsupported("operand " + std::to_string(k) + " is a constant");
  return *v;
}

const ir::Attr& LowerContext::constant(size_t k) const {
  const auto* a = std::get_if<ir::Attr>(&node.operands.at(k));
  if (!a) throw Unsupported("operand " + std::to_string(k) + " is a tensor");
  return *a;
}

const ir::Attr& LowerContext::attr(const std::string& name) const {
  const auto it = node.attrs.find(name);
  if (it == node.attrs.end()) throw Unsupported("missing attribute " + name);
  return it->second;
}

const ir::Attr* LowerContext::attr_or_null(const std::string& name) const {
  const auto it = node.attrs.find(name);
  return it == node.attrs.end() || it->second.kind == ir::Attr::Kind::kNone ? nullptr : &it->second;
}

std::vector<int64_t> int_list(const ir::Attr& attr) {
  std::vector<int64_t> out;
  if (attr.kind == ir::Attr::Kind::kInt) return {attr.i};
  if (attr.kind != ir::Attr::Kind::kList) throw Unsupported("expected a list of ints");
  for (const ir::Attr& item : attr.list) {
    if (item.kind != ir::Attr::Kind::kInt) throw Unsupported("expected a list of ints");
    out.push_back(item.i);
  }
  return out;
}

passes::InPlacePairs in_place_values(const LowerContext& ctx) {
  passes::InPlacePairs pairs;
  for (const auto& [operand_slot, output_slot] : ctx.in_place) {
    const ir::Value* operand = nullptr;
    for (size_t k = 0; k < ctx.operand_slots.size(); ++k) {
      if (ctx.operand_slots[k] == operand_slot) operand = ctx.value(k);
    }
    for (size_t k = 0; k < ctx.output_slots.size(); ++k) {
      if (ctx.output_slots[k] == output_slot && operand != nullptr) {
        pairs.emplace_back(operand, ctx.node.outputs[k]);
      }
    }
  }
  return pairs;
}

int emit_elementwise(ElementwiseBuilder& b, const std::string& op,
                     const std::map<std::string, ir::Attr>& attrs,
                     const std::vector<std::variant<int, ir::Attr>>& operands,
                     ir::DType out_dtype) {
  if (op == "to_dtype" || op == "clone") return b.instr("cast", {}, {operands.at(0)}, out_dtype);
  // overwrite(old, src): src broadcast and cast to old's type
  if (op == "overwrite") return b.instr("cast", {}, {operands.at(1)}, out_dtype);
  return b.instr(op, attrs, operands, out_dtype);
}

Kernel lower_elementwise(const LowerContext& ctx) {
  const ir::TensorType& out = ctx.out_type();
  ElementwiseBuilder b(shape_of(out));
  std::vector<std::variant<int, ir::Attr>> operands;
  for (size_t k = 0; k < ctx.node.operands.size(); ++k) {
    if (ctx.is_value(k)) {
      operands.emplace_back(b.source(ctx.operand_slots[k], ctx.value(k)->type));
    } else {
      operands.emplace_back(ctx.constant(k));
    }
  }
  const int result =
      emit_elementwise(b, ir::op_name(ctx.node.kind), ctx.node.attrs, operands, out.dtype);
  b.output(result, ctx.output_slots[0]);
  return b.build();
}

Kernel lower_node(LowerContext& ctx) {
  using Lowering = Kernel (*)(const LowerContext&);
  static const std::map<std::string, Lowering> families = [] {
    std::map<std::string, Lowering> m;
    for (const char* op : {"reshape", "permute", "expand", "index_basic", "index_basic_backward",
                           "flip", "cat", "split", "constant_pad", "tril_mask"}) {
      m[op] = &lower_layout;
    }
    for (const char* op : {"sum", "mean", "prod", "amax", "amin", "all", "any", "var", "norm2",
                           "logsumexp", "max_dim", "argmax", "cumsum", "cumprod"}) {
      m[op] = &lower_reduction;
    }
    for (const char* op : {"matmul", "linear"}) m[op] = &lower_linalg;
    for (const char* op : {"index_select", "embedding", "index_add", "gather", "scatter",
                           "scatter_add", "one_hot"}) {
      m[op] = &lower_indexing;
    }
    for (const char* op : {"softmax", "log_softmax", "nll_loss", "nll_loss_backward",
                           "philox_uniform", "philox_normal"}) {
      m[op] = &lower_nn;
    }
    for (const char* op : {"conv2d", "conv2d_input_grad", "conv2d_weight_grad"}) {
      m[op] = &lower_conv;
    }
    for (const char* op : {"max_pool2d", "avg_pool2d", "avg_pool2d_backward"}) {
      m[op] = &lower_pool;
    }
    for (const char* op : {"sort", "topk"}) m[op] = &lower_sort;
    for (const char* op : {"index", "index_put"}) m[op] = &lower_advanced_index;
    m["einsum"] = &lower_einsum;
    return m;
  }();
  const std::string op = ir::op_name(ctx.node.kind);
  for (const ir::Value* out : ctx.node.outputs) {
    if (out->type.device != "cpu") throw Unsupported("a value on " + out->type.device);
  }
  if (is_elementwise(op)) return lower_elementwise(ctx);
  if (ctx.node.kind == ir::OpKind::fused) return lower_fused(ctx);
  if (ctx.node.kind == ir::OpKind::constant) return lower_constant(ctx);
  if (ir::is_structural(ctx.node.kind)) return lower_control(ctx);
  const auto it = families.find(op);
  if (it == families.end()) throw Unsupported("no native kernel for " + op);
  return it->second(ctx);
}

}  // namespace janus::cpu
