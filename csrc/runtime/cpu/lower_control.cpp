// Lowering of the control ops (structural_ops.def, control.h): assert checks
// its condition and aborts the run by throwing AssertionFailed; cond, loop and
// call run Subprograms on the node's buffers; callback hands them to the host
// callable.
#include <cstring>
#include <limits>
#include <memory>

#include "ir/structural.h"
#include "passes/passes.h"
#include "runtime/cpu/control.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/lower.h"

namespace janus::cpu {
namespace {

ControlEnv& env_of(const LowerContext& ctx) {
  if (ctx.control == nullptr) {
    throw Unsupported(std::string(ir::op_name(ctx.node.kind)) + " outside a program");
  }
  return *ctx.control;
}

std::shared_ptr<Subprogram> compile_region(const LowerContext& ctx, size_t r) {
  auto region = std::make_shared<Subprogram>(*ctx.node.regions.at(r));
  region->compile(env_of(ctx));
  return region;
}

// The buffers of slots[first..] of `slot_list`, gathered for a run.
std::vector<void*> gather(void* const* slots, const std::vector<int>& slot_list, size_t first = 0) {
  std::vector<void*> buffers;
  buffers.reserve(slot_list.size() - first);
  for (size_t k = first; k < slot_list.size(); ++k) buffers.push_back(slots[slot_list[k]]);
  return buffers;
}

Kernel lower_assert(const LowerContext& ctx) {
  const ir::AssertSpec spec = ir::assert_spec(ctx.node);  // the verifier has checked it
  const int slot = ctx.operand_slots.at(0);
  const size_t count = passes::bytes_of(ctx.value(0)->type);  // bool: one byte each
  return [spec, slot, count](void* const* slots) {
    const bool* condition = static_cast<const bool*>(slots[slot]);
    for (size_t i = 0; i < count; ++i) {
      if (!condition[i]) throw AssertionFailed(spec.id, spec.message);
    }
  };
}

Kernel lower_cond(const LowerContext& ctx) {
  std::shared_ptr<Subprogram> then_branch = compile_region(ctx, 0);
  std::shared_ptr<Subprogram> else_branch = compile_region(ctx, 1);
  return [then_branch, else_branch, operands = ctx.operand_slots,
          results = ctx.output_slots](void* const* slots) {
    const bool predicate = *static_cast<const bool*>(slots[operands[0]]);
    (predicate ? then_branch : else_branch)
        ->run(gather(slots, operands, 1), gather(slots, results));
  };
}

// The carried values live in two buffer sets that the iterations alternate
// between (a body never writes the buffers it reads), allocated per loop run
// so that a loop inside a recursive function stays reentrant.
Kernel lower_loop(const LowerContext& ctx) {
  std::shared_ptr<Subprogram> body = compile_region(ctx, 0);
  const auto* trips_value = std::get_if<ir::Value*>(&ctx.node.operands[0]);
  const auto* go_value = std::get_if<ir::Value*>(&ctx.node.operands[1]);
  int64_t trips_constant = std::numeric_limits<int64_t>::max();  // none: no limit
  if (!trips_value && ctx.constant(0).kind == ir::Attr::Kind::kInt)
    trips_constant = ctx.constant(0).i;
  const bool go_constant = go_value ? true : ctx.constant(1).b;
  std::vector<size_t> sizes, offsets;
  size_t total = 0;
  for (const ir::Value* out : ctx.node.outputs) {
    const size_t bytes = passes::bytes_of(out->type);
    sizes.push_back(bytes);
    offsets.push_back(total);
    total += (bytes + 63) / 64 * 64;
  }
  const int trips_slot = ctx.operand_slots[0], go_slot = ctx.operand_slots[1];
  return [body, trips_constant, go_constant, trips_slot, go_slot, sizes, offsets, total,
          operands = ctx.operand_slots, results = ctx.output_slots](void* const* slots) {
    const int64_t trips =
        trips_slot >= 0 ? *static_cast<const int64_t*>(slots[trips_slot]) : trips_constant;
    bool go = go_slot >= 0 ? *static_cast<const bool*>(slots[go_slot]) : go_constant;
    std::vector<char> storage(2 * total);
    std::vector<void*> current = gather(slots, operands, 2);
    std::vector<void*> inputs(current.size() + 1), outputs(current.size() + 1);
    int64_t index = 0;
    bool flag = false;
    inputs[0] = &index;
    outputs[0] = &flag;
    for (; go && index < trips; ++index) {
      char* next = storage.data() + (index % 2) * total;
      for (size_t k = 0; k < current.size(); ++k) {
        inputs[k + 1] = current[k];
        outputs[k + 1] = next + offsets[k];
      }
      body->run(inputs, outputs);
      go = flag;
      for (size_t k = 0; k < current.size(); ++k) current[k] = outputs[k + 1];
    }
    for (size_t k = 0; k < current.size(); ++k) {
      if (sizes[k]) std::memcpy(slots[results[k]], current[k], sizes[k]);
    }
  };
}

Kernel lower_call(const LowerContext& ctx) {
  Subprogram* callee = &env_of(ctx).function(*ctx.node.graph, ir::callee_of(ctx.node));
  return [callee, operands = ctx.operand_slots, results = ctx.output_slots](void* const* slots) {
    callee->run(gather(slots, operands), gather(slots, results));
  };
}

Kernel lower_callback(const LowerContext& ctx) {
  const HostCall* callback = env_of(ctx).callback;
  if (callback == nullptr || !*callback) {
    throw std::invalid_argument("callback " + ir::target_of(ctx.node) +
                                ": the program was built without callbacks");
  }
  return [callback, node = &ctx.node, operands = ctx.operand_slots,
          results = ctx.output_slots](void* const* slots) {
    (*callback)(*node, gather(slots, operands), gather(slots, results));
  };
}

}  // namespace

Kernel lower_control(const LowerContext& ctx) {
  switch (ctx.node.kind) {
    case ir::OpKind::assert:
      return lower_assert(ctx);
    case ir::OpKind::cond:
      return lower_cond(ctx);
    case ir::OpKind::loop:
      return lower_loop(ctx);
    case ir::OpKind::call:
      return lower_call(ctx);
    case ir::OpKind::callback:
      return lower_callback(ctx);
    default:
      throw Unsupported(std::string("no control lowering for ") + ir::op_name(ctx.node.kind));
  }
}

}  // namespace janus::cpu
