// Subprograms (regions and functions compiled for the CPU executor) and the
// table of compiled functions; see control.h for the memory model.
#include <cstring>

#include "passes/passes.h"
#include "runtime/cpu/control.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/lower.h"

namespace janus::cpu {

std::vector<LoweredNode> lower_nodes(const ir::Graph& graph,
                                     const std::map<const ir::Value*, int>& slot, ControlEnv& env,
                                     passes::InPlacePairs& in_place) {
  for (const auto& node : graph.nodes()) {
    for (const ir::Value* out : node->outputs) {
      for (const ir::Dim& d : out->type.shape) {
        if (!d.is_known()) {
          throw std::invalid_argument("the CPU executor needs static shapes (%" + out->name +
                                      " has a symbolic dim)");
        }
      }
    }
  }
  std::vector<LoweredNode> lowered;
  for (const auto& node : graph.nodes()) {
    LowerContext ctx{*node, {}, {}, env.rng_shift, &env, {}};
    for (const ir::Operand& operand : node->operands) {
      const auto* value = std::get_if<ir::Value*>(&operand);
      ctx.operand_slots.push_back(value ? slot.at(*value) : -1);
    }
    for (const ir::Value* out : node->outputs) ctx.output_slots.push_back(slot.at(out));
    try {
      lowered.push_back({lower_node(ctx), true});
      const passes::InPlacePairs pairs = in_place_values(ctx);
      in_place.insert(in_place.end(), pairs.begin(), pairs.end());
    } catch (const Unsupported&) {
      if (env.fallback == nullptr || !*env.fallback) throw;
      lowered.push_back({[n = node.get(), fallback = env.fallback, ins = ctx.operand_slots,
                          outs = ctx.output_slots](void* const* slots) {
                           std::vector<void*> operands, results;
                           for (int s : ins) operands.push_back(s >= 0 ? slots[s] : nullptr);
                           for (int s : outs) results.push_back(slots[s]);
                           (*fallback)(*n, operands, results);
                         },
                         false});
    }
  }
  return lowered;
}

Subprogram& ControlEnv::function(const ir::Graph& graph, const std::string& name) {
  const auto found = functions_.find(name);
  if (found != functions_.end()) return *found->second;
  const ir::Graph* body = graph.function(name);
  if (body == nullptr) throw std::invalid_argument("call: no function named " + name);
  Subprogram& compiled =
      *functions_.emplace(name, std::make_unique<Subprogram>(*body)).first->second;
  compiled.compile(*this);
  return compiled;
}

void Subprogram::compile(ControlEnv& env) {
  std::map<const ir::Value*, int> slot;
  auto slot_of = [&](const ir::Value* v) {
    return slot.emplace(v, static_cast<int>(slot.size())).first->second;
  };
  for (const ir::Value* in : graph_.inputs()) input_slots_.push_back(slot_of(in));
  for (const auto& node : graph_.nodes()) {
    for (const ir::Value* out : node->outputs) slot_of(out);
  }
  passes::InPlacePairs in_place;
  for (LoweredNode& lowered : lower_nodes(graph_, slot, env, in_place)) {
    steps_.push_back(std::move(lowered.kernel));
  }
  const passes::MemoryPlan plan = passes::plan_memory(graph_, nullptr, in_place);
  slot_count_ = slot.size();
  arena_bytes_ = plan.arena_bytes;
  for (const auto& [value, offset] : plan.offset) planned_.emplace_back(slot.at(value), offset);
  // As in Program: a computed output goes straight to the caller's buffer the
  // first time it appears; inputs passed through and repeats are copied.
  std::map<const ir::Value*, int> bound;
  for (size_t k = 0; k < graph_.outputs().size(); ++k) {
    const ir::Value* out = graph_.outputs()[k];
    if (out->producer != nullptr && !bound.count(out)) {
      bound[out] = static_cast<int>(k);
      output_slots_.push_back(slot.at(out));
    } else {
      output_slots_.push_back(-1);
      copies_.emplace_back(static_cast<int>(k), slot.at(out));
    }
  }
}

std::unique_ptr<Subprogram::Frame> Subprogram::acquire() const {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (!pool_.empty()) {
      std::unique_ptr<Frame> frame = std::move(pool_.back());
      pool_.pop_back();
      return frame;
    }
  }
  constexpr size_t kAlign = passes::MemoryPlan::kAlignment;
  auto frame = std::make_unique<Frame>();
  frame->arena.resize(arena_bytes_ + kAlign);
  char* base = frame->arena.data();
  base += (kAlign - reinterpret_cast<uintptr_t>(base) % kAlign) % kAlign;
  frame->slots.assign(slot_count_, nullptr);
  for (const auto& [s, offset] : planned_) frame->slots[s] = base + offset;
  return frame;
}

void Subprogram::release(std::unique_ptr<Frame> frame) const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  pool_.push_back(std::move(frame));
}

void Subprogram::run(const std::vector<void*>& inputs, const std::vector<void*>& outputs) const {
  // Per thread: the steps of one activation run on the thread that called it.
  thread_local int depth = 0;
  if (depth >= kMaxDepth) {
    throw std::runtime_error("subgraphs nested more than " + std::to_string(kMaxDepth) +
                             " activations deep (runaway recursion?)");
  }
  // Output slots bound to the caller's buffers are rebound by every run; the
  // planned slots keep pointing into the frame's arena.
  struct Activation {
    const Subprogram& owner;
    std::unique_ptr<Frame> frame;
    Activation(const Subprogram& s) : owner(s), frame(s.acquire()) { ++depth; }
    ~Activation() {
      --depth;
      owner.release(std::move(frame));
    }
  } activation(*this);
  void** slots = activation.frame->slots.data();
  for (size_t k = 0; k < inputs.size(); ++k) slots[input_slots_[k]] = inputs[k];
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (output_slots_[k] >= 0) slots[output_slots_[k]] = outputs[k];
  }
  for (const Kernel& step : steps_) step(slots);
  for (const auto& [k, source] : copies_) {
    std::memcpy(outputs[k], slots[source], passes::bytes_of(graph_.outputs()[k]->type));
  }
}

}  // namespace janus::cpu
