// Lowering of the structural ops: a fused group becomes one ElementwiseBuilder
// program (one pass over memory, intermediates in per-chunk scratch), a
// constant a copy of its value decoded once.
#include <cstring>
#include <memory>

#include "ir/structural.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/lower.h"

namespace janus::cpu {

Kernel lower_fused(LowerContext& ctx) {
  const ir::FusedBody body = ir::fused_body(ctx.node);  // the verifier has checked it
  ir::TensorType iteration = ctx.out_type(0);
  iteration.shape = body.iteration_shape;
  ElementwiseBuilder b(shape_of(iteration));
  // The reductions ending the body are the builder's epilogue, not instructions.
  const size_t elementwise = body.elementwise_count();
  std::vector<int> inputs(ctx.node.operands.size(), -1);  // source registers, made on first use
  std::vector<int> temps;                                 // per instruction: its register
  for (size_t i = 0; i < elementwise; ++i) {
    const ir::FusedInstr& instr = body.instrs[i];
    std::vector<std::variant<int, ir::Attr>> operands;
    for (const ir::FusedOperand& operand : instr.operands) {
      const auto* ref = std::get_if<ir::FusedRef>(&operand);
      if (ref == nullptr) {
        operands.emplace_back(std::get<ir::Attr>(operand));
      } else if (ref->kind == ir::FusedRef::kTemp) {
        operands.emplace_back(temps.at(ref->index));
      } else {
        int& reg = inputs.at(ref->index);
        if (reg < 0) reg = b.source(ctx.operand_slots.at(ref->index), ctx.value(ref->index)->type);
        operands.emplace_back(reg);
      }
    }
    temps.push_back(
        emit_elementwise(b, ir::op_name(instr.kind), instr.attrs, operands, instr.dtype));
  }
  for (size_t k = 0; k < body.results.size(); ++k) {
    if (static_cast<size_t>(body.results[k]) >= elementwise) {  // a reduction's result
      const ir::FusedInstr& reduction = body.instrs[body.results[k]];
      const int reg = temps.at(std::get<ir::FusedRef>(reduction.operands.at(0)).index);
      b.reduce(reg, ctx.output_slots.at(k), ir::op_name(reduction.kind),
               ir::reduced_axes(reduction.attrs, body.iteration_shape.size()));
    } else {
      b.output(temps.at(body.results[k]), ctx.output_slots.at(k));
    }
  }
  ctx.in_place = b.in_place_pairs();
  return b.build();
}

Kernel lower_constant(const LowerContext& ctx) {
  const ir::TensorType& type = ctx.out_type();
  const std::vector<ir::Attr>& items = ctx.attr("value").list;
  auto data = std::make_shared<std::vector<char>>(items.size() * itemsize(type.dtype));
  visit(type.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* out = reinterpret_cast<T*>(data->data());
    for (size_t i = 0; i < items.size(); ++i) {
      const ir::Attr& item = items[i];
      out[i] = item.kind == ir::Attr::Kind::kFloat  ? static_cast<T>(item.f)
               : item.kind == ir::Attr::Kind::kBool ? static_cast<T>(item.b)
                                                    : static_cast<T>(item.i);
    }
  });
  const int slot = ctx.output_slots.at(0);
  return [data, slot](void* const* slots) {
    if (!data->empty()) std::memcpy(slots[slot], data->data(), data->size());
  };
}

}  // namespace janus::cpu
