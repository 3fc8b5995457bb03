// The CPU executor's control ops (structural_ops.def): assert, cond, loop,
// call and callback. Their regions and the module's functions run as
// Subprograms, lowered by lower_control.cpp.
//
// Invariant kept with program.cpp: a program containing a node with effects
// (ir::has_effects: an assert or callback, also inside regions and callees)
// writes its outputs into the caller's buffers only after every step has run.
// Until then they live in the arena, so a run aborted by a failed assert (or a
// raising callback) leaves every caller-owned buffer as it was, even when the
// caller passes an input's buffer as an output (an in-place commit of an
// `overwrite`). Callbacks themselves run in schedule order; what a callable
// does to the Python heap is its own affair.
//
// Memory inside subgraphs (the simplest correct choice): each Subprogram has
// its own memory plan, and each activation takes a frame (slot table plus
// arena) from the Subprogram's pool, so recursion and concurrent calls never
// share buffers; a loop reuses one frame for every iteration.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/passes.h"
#include "runtime/cpu/elementwise.h"

namespace janus::cpu {

// An assert node found its condition false: the speculation the graph was
// compiled under does not hold for these inputs. Python sees
// janus.jit.program.AssertionFailed with the same id and message.
class AssertionFailed : public std::runtime_error {
 public:
  AssertionFailed(int64_t id, const std::string& message)
      : std::runtime_error("assertion " + std::to_string(id) + " failed: " + message),
        id(id),
        message(message) {}

  int64_t id;
  std::string message;
};

// Runs a node on host buffers: operand buffers (nullptr for constants) in,
// result buffers out. Program::Fallback (a node without a native kernel) and
// Program::Callback (a callback node's Python callable) have this type; the
// binding acquires the GIL inside it, and only there.
using HostCall = std::function<void(const ir::Node& node, const std::vector<void*>& operands,
                                    const std::vector<void*>& outputs)>;

// One kernel per node of `graph` (every value has a slot in `slot`): its
// native kernel, else a call of env.fallback (Unsupported is rethrown when
// there is none). Kernels that may write a result over a dead operand add the
// pair to `in_place` for the memory plan. Throws std::invalid_argument for a
// result with a symbolic dim.
struct LoweredNode {
  Kernel kernel;
  bool native;
};
struct ControlEnv;
std::vector<LoweredNode> lower_nodes(const ir::Graph& graph,
                                     const std::map<const ir::Value*, int>& slot, ControlEnv& env,
                                     passes::InPlacePairs& in_place);

class Subprogram;

// What the control lowerings of one program share. Owned by the Program;
// outlives every kernel it lowers.
struct ControlEnv {
  const HostCall* fallback = nullptr;  // may hold an empty function: native kernels only
  const HostCall* callback = nullptr;  // likewise: callback nodes then cannot run
  const int64_t* rng_shift = nullptr;

  // The module's function `graph.function(name)`, compiled on first use (at
  // lowering time, on one thread). The entry exists before its body is
  // lowered, so a recursive call finds it. Throws std::invalid_argument when
  // there is no such function.
  Subprogram& function(const ir::Graph& graph, const std::string& name);

 private:
  std::map<std::string, std::unique_ptr<Subprogram>> functions_;
};

// A region or function compiled to a schedule of kernels over its own slots.
// `run` is reentrant and may run concurrently: each activation has a frame.
class Subprogram {
 public:
  explicit Subprogram(const ir::Graph& graph) : graph_(graph) {}
  // Lowers every node (nodes without a kernel go to env.fallback when set).
  void compile(ControlEnv& env);
  // One buffer per graph input (read) and output (written); outputs must not
  // overlap the inputs.
  void run(const std::vector<void*>& inputs, const std::vector<void*>& outputs) const;
  const ir::Graph& graph() const { return graph_; }

  // Activations nested deeper than this (runaway recursion) raise
  // std::runtime_error instead of overflowing the native stack.
  static constexpr int kMaxDepth = 1000;

 private:
  struct Frame {
    std::vector<char> arena;
    std::vector<void*> slots;
  };
  std::unique_ptr<Frame> acquire() const;
  void release(std::unique_ptr<Frame> frame) const;

  const ir::Graph& graph_;
  std::vector<Kernel> steps_;
  size_t slot_count_ = 0;
  size_t arena_bytes_ = 0;
  std::vector<std::pair<int, size_t>> planned_;  // (slot, arena offset)
  std::vector<int> input_slots_;
  std::vector<int> output_slots_;            // -1: copied at the end
  std::vector<std::pair<int, int>> copies_;  // (output index, source slot)
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<Frame>> pool_;  // frames not in use
};

}  // namespace janus::cpu
