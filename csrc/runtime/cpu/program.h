// A compiled CPU program: a flat schedule of kernels over slots. Graph inputs
// and outputs are the caller's buffers (zero-copy); every other result lives
// in one arena laid out by the memory plan. Running it touches no Python
// except for nodes without a native kernel, which call the fallback
// (co-execution: the eager kernel runs on the same buffers).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/cpu/elementwise.h"
#include "runtime/cpu/thread_pool.h"

namespace janus::cpu {

struct ControlEnv;

class Program {
 public:
  // Runs `node` on operand buffers (nullptr for constant operands) and writes
  // its results into `outputs`, each a C-contiguous buffer of its type.
  using Fallback = std::function<void(const ir::Node& node, const std::vector<void*>& operands,
                                      const std::vector<void*>& outputs)>;

  // Runs a callback node's host callable (the node's `target`) on its operand
  // buffers, writing its results into `outputs` (control.h).
  using Callback = Fallback;

  // Takes the graph (its own copy: later passes on the caller's graph do not
  // affect the program). `callback` runs callback nodes. `threads`: how many
  // workers may run independent branches at once (thread_pool.h); 0 takes
  // program_threads(), 1 is the serial schedule. Results are the same either
  // way, bit for bit. `staged_outputs`: output indices computed in the arena
  // and copied to the caller's buffer only after the last step (see
  // `staged`), so that buffer may also be one of the inputs.
  Program(std::unique_ptr<ir::Graph> graph, Fallback fallback, Callback callback = {},
          int threads = 0, const std::vector<int>& staged_outputs = {});

  // `inputs` and `outputs`: one C-contiguous buffer per graph input/output, of
  // its type. `rng_shift` moves the stream offset of every random op (the
  // generator's position now minus where the recording started). Not
  // reentrant: concurrent calls on one program throw std::logic_error.
  // Errors name the node that raised them.
  void run(const std::vector<void*>& inputs, const std::vector<void*>& outputs,
           int64_t rng_shift = 0);

  const ir::Graph& graph() const { return *graph_; }
  size_t arena_bytes() const { return arena_.size(); }
  // Results the memory plan wrote over a dead operand's buffer (in-place reuse).
  size_t in_place_count() const { return in_place_count_; }
  size_t steps() const { return steps_.size(); }
  // Threads that run the schedule: 1 unless branches run in parallel.
  int workers() const { return parallel_ ? parallel_->workers() : 1; }
  // Whether output k is written to the caller's buffer only after every step
  // has run (a staged output, or every output of a graph with effects): a run
  // that fails leaves that buffer as it was.
  bool staged(size_t k) const { return staged_.at(k); }
  // The ops run through the fallback, one entry per node, in schedule order.
  std::vector<std::string> fallback_ops() const;

  // Profiling: while on, runs take the serial schedule and add each step's
  // wall time to `step_seconds()` (one entry per step, in schedule order;
  // `step_node(i)` is the node of step i). Turning it on clears the totals.
  void set_profiling(bool on);
  const std::vector<double>& step_seconds() const { return step_seconds_; }
  const ir::Node& step_node(size_t i) const { return *steps_.at(i).node; }

 private:
  struct Step {
    Kernel kernel;
    const ir::Node* node;
    bool native;
  };

  void run_step(const Step& step);

  std::unique_ptr<ir::Graph> graph_;
  Fallback fallback_;
  Callback callback_;
  std::shared_ptr<ControlEnv> control_;  // regions and functions (control.h)
  std::vector<char> arena_;
  size_t in_place_count_ = 0;
  std::vector<void*> slots_;
  std::vector<int> input_slots_;
  std::vector<int> output_slots_;            // -1: copied at the end (see copies_)
  std::vector<std::pair<int, int>> copies_;  // (output index, source slot)
  std::vector<bool> staged_;                 // per output
  std::vector<Step> steps_;
  std::unique_ptr<ParallelSchedule> parallel_;  // null: the serial schedule
  int64_t rng_shift_ = 0;
  std::atomic<bool> running_{false};
  bool profiling_ = false;
  std::vector<double> step_seconds_;
};

}  // namespace janus::cpu
