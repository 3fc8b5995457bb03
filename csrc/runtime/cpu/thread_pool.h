// Running independent branches of a CPU program in parallel.
//
// The schedule comes from Nimble's stream assignment (passes/assign_streams.cpp):
// each stream, a chain of nodes, goes whole to one worker, which runs its
// nodes in graph order; a node whose operand another worker computes first
// waits until that node is done. Every wait points to an earlier node in
// graph order and each worker runs its nodes in graph order, so the earliest
// unfinished node can always run: the schedule cannot deadlock.
//
// Memory: the program's arena must be planned for this schedule
// (passes::plan_memory with the stream assignment), so that two results share
// a buffer only when the waits and each worker's own order already finish
// every use of one before the other is written.
//
// Threads: `WorkerPool` keeps its threads between runs (starting threads per
// run would cost more than a small program); the calling thread is worker 0.
// Programs share one pool per worker count (the JIT makes many programs, and
// idle threads per program would add up); a program that finds its pool busy
// with another program's run runs its own schedule serially, in graph order,
// which its arena plan allows too.
// While the workers run, OpenBLAS is limited to one worker's share of the
// cores (cpu/gemm.h), so that GEMMs in parallel branches do not
// oversubscribe them (on 2 cores with 2 workers: one BLAS thread each).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ir/graph.h"
#include "passes/passes.h"

namespace janus::cpu {

// The thread count programs built from now on use (janus._C.cpu.set_threads):
// 0 means the default, OMP_NUM_THREADS when set (as for PyTorch's intra-op
// threads) or else the number of cores; 1 is the serial schedule.
int program_threads();  // resolved: at least 1
void set_program_threads(int threads);

// Runs task(p) for every part p in [0, parts) at once, on the shared pool of
// `parts` workers (the caller being part 0), when that pool is free and the
// caller is not itself running on a pool: a kernel inside a parallel schedule
// already has its worker's share of the cores, and splitting it again would
// oversubscribe them. Otherwise the parts run one after another on this
// thread. Returns whether they ran in parallel. Intra-op parallelism: large
// elementwise kernels split their chunks this way (elementwise.cpp).
bool run_parts(int parts, const std::function<void(int)>& task);

// Threads that run task(w) for every worker w at once, the caller being
// worker 0. Not reentrant: one `run` at a time.
class WorkerPool {
 public:
  explicit WorkerPool(int workers);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int workers() const { return static_cast<int>(threads_.size()) + 1; }
  // Held by whoever runs on the pool (ParallelSchedule takes it with try_lock).
  std::mutex& busy() { return busy_; }
  // Returns when every worker's task has returned; then rethrows the
  // exception of the lowest worker whose task threw, if any.
  void run(const std::function<void(int)>& task);

 private:
  void loop(int worker);

  std::vector<std::thread> threads_;
  std::mutex busy_;
  std::mutex mutex_;
  std::condition_variable start_, finished_;
  const std::function<void(int)>* task_ = nullptr;  // guarded by mutex_
  uint64_t generation_ = 0;                         // guarded by mutex_
  int running_ = 0;                                 // guarded by mutex_
  bool stop_ = false;                               // guarded by mutex_
  std::vector<std::exception_ptr> errors_;          // one per worker, written by it
};

// The parallel schedule of one program's nodes.
class ParallelSchedule {
 public:
  // Streams of `streams` go to at most `threads` workers (balanced by node
  // count). `streams` must be the assignment the arena was planned with.
  ParallelSchedule(const ir::Graph& graph, const passes::StreamAssignment& streams, int threads);

  int workers() const { return static_cast<int>(chains_.size()); }
  // The nodes each worker runs, in order (for tests and explain output).
  const std::vector<std::vector<size_t>>& chains() const { return chains_; }
  // Runs step(i) for every node i on its worker, after the nodes it waits
  // for. A step that throws stops the others at their next node; the first
  // exception is rethrown here once every worker has stopped.
  void run(const std::function<void(size_t)>& step);

 private:
  bool wait_for(size_t node, uint64_t generation);

  std::vector<std::vector<size_t>> chains_;  // per worker: node indices, ascending
  std::vector<std::vector<size_t>> waits_;   // per node: nodes of other workers it reads
  std::vector<bool> awaited_;                // per node: some other worker waits for it
  WorkerPool* pool_ = nullptr;               // shared, lives for the process; null for one worker
  int blas_threads_ = 1;                     // per worker while running
  // done_[i] == generation_: node i finished in the current run.
  std::unique_ptr<std::atomic<uint64_t>[]> done_;
  uint64_t generation_ = 0;
  std::atomic<bool> failed_{false};
  std::mutex mutex_;  // with wake_: sleeping until a node is done
  std::condition_variable wake_;
};

}  // namespace janus::cpu
