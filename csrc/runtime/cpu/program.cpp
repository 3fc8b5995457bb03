#include "runtime/cpu/program.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "ir/structural.h"
#include "passes/passes.h"
#include "runtime/cpu/control.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/lower.h"

namespace janus::cpu {
namespace {

std::string describe(const ir::Node& node) {
  std::string text;
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    text += (k ? ", %" : "%") + node.outputs[k]->name;
  }
  return text + " = " + ir::op_name(node.kind) + "(...)";
}

size_t bytes(const ir::TensorType& type) { return passes::bytes_of(type); }

}  // namespace

Program::Program(std::unique_ptr<ir::Graph> graph, Fallback fallback, Callback callback,
                 int threads, const std::vector<int>& staged_outputs)
    : graph_(std::move(graph)),
      fallback_(std::move(fallback)),
      callback_(std::move(callback)),
      control_(std::make_shared<ControlEnv>()) {
  ir::check(*graph_);
  control_->fallback = &fallback_;
  control_->callback = &callback_;
  control_->rng_shift = &rng_shift_;
  std::map<const ir::Value*, int> slot;
  auto slot_of = [&](const ir::Value* v) {
    auto [it, added] = slot.emplace(v, static_cast<int>(slot.size()));
    return it->second;
  };
  for (const ir::Value* in : graph_->inputs()) {
    for (const ir::Dim& d : in->type.shape) {
      if (!d.is_known()) throw std::invalid_argument("the CPU executor needs static shapes");
    }
    input_slots_.push_back(slot_of(in));
  }
  // Branches run in parallel when there are threads and branches for it; the
  // arena is then planned for that schedule (see thread_pool.h).
  if (threads < 0) throw std::invalid_argument("the thread count must be >= 0");
  if (threads == 0) threads = program_threads();
  // Callbacks run Python in program order: never beside another node (an
  // assert on another worker could abort the run before a callback that
  // precedes it in the program).
  if (ir::has_callbacks(*graph_)) threads = 1;
  std::optional<passes::StreamAssignment> streams;
  if (threads > 1) streams = passes::assign_streams(*graph_);
  if (streams && streams->streams < 2) streams.reset();
  if (streams) parallel_ = std::make_unique<ParallelSchedule>(*graph_, *streams, threads);

  // Kernels first: they bind slots, not addresses, and say which of their
  // results may be written over an operand (in-place reuse in the plan).
  for (const auto& node : graph_->nodes()) {
    for (const ir::Value* out : node->outputs) slot_of(out);
  }
  passes::InPlacePairs in_place;
  std::vector<LoweredNode> lowered = lower_nodes(*graph_, slot, *control_, in_place);
  for (size_t i = 0; i < lowered.size(); ++i) {
    steps_.push_back({std::move(lowered[i].kernel), graph_->nodes()[i].get(), lowered[i].native});
  }

  const passes::MemoryPlan plan =
      passes::plan_memory(*graph_, streams ? &*streams : nullptr, in_place);
  in_place_count_ = plan.reused.size();
  constexpr size_t kAlign = passes::MemoryPlan::kAlignment;
  // Outputs a node computes are written straight into the caller's buffer
  // (the first time a value appears); inputs and repeats are copied at the end.
  // Staged outputs live in the arena, after the planned blocks (the plan
  // leaves outputs to the caller), and are copied out after the last step: all
  // of them in a graph with effects (control.h), else those `staged_outputs`
  // names (a caller's buffer that some step may still read, such as a
  // parameter updated in place, is written only once every step has run).
  const bool stage_all = ir::has_effects(*graph_);
  std::set<const ir::Value*> in_arena;
  for (size_t k = 0; k < graph_->outputs().size(); ++k) {
    const bool late = std::find(staged_outputs.begin(), staged_outputs.end(),
                                static_cast<int>(k)) != staged_outputs.end();
    if (stage_all || late) in_arena.insert(graph_->outputs()[k]);
    staged_.push_back(stage_all || late);
  }
  for (int k : staged_outputs) {
    if (k < 0 || static_cast<size_t>(k) >= graph_->outputs().size()) {
      throw std::invalid_argument("staged output " + std::to_string(k) + " out of range");
    }
  }
  std::map<const ir::Value*, size_t> offsets = plan.offset;
  size_t arena_bytes = plan.arena_bytes;
  for (const ir::Value* out : plan.caller_owned) {
    if (!in_arena.count(out)) continue;
    offsets[out] = arena_bytes;
    arena_bytes += (std::max<size_t>(bytes(out->type), 1) + kAlign - 1) / kAlign * kAlign;
  }
  arena_.resize(arena_bytes + kAlign);
  char* base = arena_.data();
  base += (kAlign - reinterpret_cast<uintptr_t>(base) % kAlign) % kAlign;
  slots_.assign(slot.size(), nullptr);
  for (const auto& [value, offset] : offsets) slots_[slot.at(value)] = base + offset;

  std::map<const ir::Value*, int> bound;
  for (size_t k = 0; k < graph_->outputs().size(); ++k) {
    const ir::Value* out = graph_->outputs()[k];
    if (!in_arena.count(out) && out->producer != nullptr && !bound.count(out)) {
      bound[out] = static_cast<int>(k);
      output_slots_.push_back(slot.at(out));
    } else {
      output_slots_.push_back(-1);
      copies_.emplace_back(static_cast<int>(k), slot.at(out));
    }
  }
  // Copies that read a caller's input buffer go first: a later copy may
  // write a caller's buffer that is also an input (a staged output).
  std::stable_partition(copies_.begin(), copies_.end(), [this](const std::pair<int, int>& c) {
    return graph_->outputs()[c.first]->producer == nullptr;
  });
}

void Program::run_step(const Step& step) {
  try {
    step.kernel(slots_.data());
  } catch (const std::out_of_range& e) {
    throw std::out_of_range(std::string(e.what()) + " (in " + describe(*step.node) + ")");
  } catch (const Unsupported& e) {
    throw std::runtime_error(std::string(e.what()) + " (in " + describe(*step.node) + ")");
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(e.what()) + " (in " + describe(*step.node) + ")");
  } catch (const ShapeSpeculationFailed& e) {
    throw ShapeSpeculationFailed(std::string(e.what()) + " (in " + describe(*step.node) + ")");
  }
}

void Program::set_profiling(bool on) {
  profiling_ = on;
  step_seconds_.assign(on ? steps_.size() : 0, 0.0);
}

std::vector<std::string> Program::fallback_ops() const {
  std::vector<std::string> ops;
  for (const Step& step : steps_) {
    if (!step.native) ops.push_back(ir::op_name(step.node->kind));
  }
  return ops;
}

void Program::run(const std::vector<void*>& inputs, const std::vector<void*>& outputs,
                  int64_t rng_shift) {
  if (inputs.size() != input_slots_.size() || outputs.size() != output_slots_.size()) {
    throw std::invalid_argument("program expects " + std::to_string(input_slots_.size()) +
                                " inputs and " + std::to_string(output_slots_.size()) +
                                " outputs, got " + std::to_string(inputs.size()) + " and " +
                                std::to_string(outputs.size()));
  }
  if (running_.exchange(true)) throw std::logic_error("a program cannot run concurrently");
  struct Done {
    std::atomic<bool>& flag;
    ~Done() { flag = false; }
  } done{running_};
  for (size_t k = 0; k < inputs.size(); ++k) slots_[input_slots_[k]] = inputs[k];
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (output_slots_[k] >= 0) slots_[output_slots_[k]] = outputs[k];
  }
  rng_shift_ = rng_shift;
  if (profiling_) {
    for (size_t i = 0; i < steps_.size(); ++i) {
      const auto start = std::chrono::steady_clock::now();
      run_step(steps_[i]);
      step_seconds_[i] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  } else if (parallel_) {
    parallel_->run([this](size_t i) { run_step(steps_[i]); });
  } else {
    for (const Step& step : steps_) run_step(step);
  }
  for (const auto& [k, source] : copies_) {
    std::memcpy(outputs[k], slots_[source], bytes(graph_->outputs()[k]->type));
  }
}

}  // namespace janus::cpu
