#include "runtime/cpu/thread_pool.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>

#include "runtime/cpu/gemm.h"

namespace janus::cpu {
namespace {

std::atomic<int> g_program_threads{0};

// Whether this thread is running a task of a WorkerPool (worker 0 included).
thread_local bool t_on_pool = false;

// Sets t_on_pool for a task's duration.
class OnPool {
 public:
  OnPool() : was_(t_on_pool) { t_on_pool = true; }
  ~OnPool() { t_on_pool = was_; }
  OnPool(const OnPool&) = delete;
  OnPool& operator=(const OnPool&) = delete;

 private:
  bool was_;
};

// Read once: hardware_concurrency() reads /sys (microseconds), and
// program_threads() is asked on every run of a large kernel.
int cores() {
  static const int count = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return count;
}

// OpenBLAS's thread count while parallel runs are in flight: the first run
// to start sets it to its workers' share of the cores, the last to finish
// puts back what it was (several programs may run at once from different
// Python threads; the setting is process-wide).
class SharedBlasThreads {
 public:
  explicit SharedBlasThreads(int threads) {
    std::lock_guard<std::mutex> lock(mutex());
    if (active()++ == 0) {
      saved() = blas_threads();
      if (saved() != threads) set_blas_threads(threads);
    }
  }
  ~SharedBlasThreads() {
    std::lock_guard<std::mutex> lock(mutex());
    if (--active() == 0 && blas_threads() != saved()) set_blas_threads(saved());
  }
  SharedBlasThreads(const SharedBlasThreads&) = delete;
  SharedBlasThreads& operator=(const SharedBlasThreads&) = delete;

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static int& active() {
    static int count = 0;
    return count;
  }
  static int& saved() {
    static int threads = 1;
    return threads;
  }
};

// The pool for `workers`, made on first use and kept for the process (never
// destroyed: joining threads during static destruction at exit is fragile).
WorkerPool& shared_pool(int workers) {
  static std::mutex mutex;
  static auto* pools = new std::map<int, std::unique_ptr<WorkerPool>>();
  std::lock_guard<std::mutex> lock(mutex);
  auto& pool = (*pools)[workers];
  if (!pool) pool = std::make_unique<WorkerPool>(workers);
  return *pool;
}

}  // namespace

// The default worker count: OMP_NUM_THREADS when set to a positive number
// (as PyTorch takes its intra-op threads from it), else one per core.
int default_threads() {
  const char* text = std::getenv("OMP_NUM_THREADS");
  const int threads = text != nullptr ? std::atoi(text) : 0;
  return threads > 0 ? threads : cores();
}

int program_threads() {
  const int threads = g_program_threads.load();
  return threads > 0 ? threads : default_threads();
}

void set_program_threads(int threads) {
  if (threads < 0) throw std::invalid_argument("the thread count must be >= 0 (0: one per core)");
  g_program_threads = threads;
}

bool run_parts(int parts, const std::function<void(int)>& task) {
  if (parts > 1 && !t_on_pool) {
    WorkerPool& pool = shared_pool(parts);
    std::unique_lock<std::mutex> busy(pool.busy(), std::try_to_lock);
    if (busy.owns_lock()) {
      pool.run(task);
      return true;
    }
  }
  for (int p = 0; p < parts; ++p) task(p);
  return false;
}

// ----- WorkerPool -----

WorkerPool::WorkerPool(int workers) : errors_(static_cast<size_t>(std::max(workers, 1))) {
  for (int w = 1; w < workers; ++w) threads_.emplace_back([this, w] { loop(w); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  start_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void WorkerPool::loop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int)>* task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      task = task_;
    }
    try {
      OnPool on_pool;
      (*task)(worker);
    } catch (...) {
      errors_[worker] = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --running_;
    }
    finished_.notify_one();
  }
}

void WorkerPool::run(const std::function<void(int)>& task) {
  std::fill(errors_.begin(), errors_.end(), nullptr);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    running_ = static_cast<int>(threads_.size());
    ++generation_;
  }
  start_.notify_all();
  try {
    OnPool on_pool;
    task(0);
  } catch (...) {
    errors_[0] = std::current_exception();
  }
  {
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return running_ == 0; });
    task_ = nullptr;
  }
  for (const std::exception_ptr& error : errors_) {
    if (error) std::rethrow_exception(error);
  }
}

// ----- ParallelSchedule -----

ParallelSchedule::ParallelSchedule(const ir::Graph& graph, const passes::StreamAssignment& streams,
                                   int threads) {
  const size_t n = graph.nodes().size();
  // Streams to workers: largest stream first, onto the worker with the fewest nodes.
  std::vector<std::vector<size_t>> members(static_cast<size_t>(streams.streams));
  for (size_t v = 0; v < n; ++v) members.at(streams.stream.at(v)).push_back(v);
  std::vector<size_t> order(members.size());
  for (size_t s = 0; s < order.size(); ++s) order[s] = s;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return members[a].size() > members[b].size(); });
  const size_t workers = std::max<size_t>(1, std::min<size_t>(threads, members.size()));
  chains_.assign(workers, {});
  std::vector<size_t> worker_of(n, 0);
  for (size_t s : order) {
    size_t target = 0;
    for (size_t w = 1; w < workers; ++w) {
      if (chains_[w].size() < chains_[target].size()) target = w;
    }
    chains_[target].insert(chains_[target].end(), members[s].begin(), members[s].end());
    for (size_t v : members[s]) worker_of[v] = target;
  }
  for (auto& chain : chains_) std::sort(chain.begin(), chain.end());

  std::map<const ir::Node*, size_t> index;
  for (size_t v = 0; v < n; ++v) index[graph.nodes()[v].get()] = v;
  waits_.assign(n, {});
  awaited_.assign(n, false);
  for (size_t v = 0; v < n; ++v) {
    std::set<size_t> producers;
    for (const ir::Operand& operand : graph.nodes()[v]->operands) {
      const auto* value = std::get_if<ir::Value*>(&operand);
      if (value == nullptr || (*value)->producer == nullptr) continue;
      const size_t u = index.at((*value)->producer);
      if (worker_of[u] != worker_of[v]) producers.insert(u);
    }
    waits_[v].assign(producers.begin(), producers.end());
    for (size_t u : producers) awaited_[u] = true;
  }
  done_ = std::make_unique<std::atomic<uint64_t>[]>(n);
  for (size_t v = 0; v < n; ++v) done_[v] = 0;
  blas_threads_ = std::max(1, cores() / static_cast<int>(workers));
  if (workers > 1) pool_ = &shared_pool(static_cast<int>(workers));
}

bool ParallelSchedule::wait_for(size_t node, uint64_t generation) {
  auto ready = [&] {
    return done_[node].load(std::memory_order_acquire) == generation ||
           failed_.load(std::memory_order_relaxed);
  };
  // Branches are often short: spin a little before sleeping.
  for (int spin = 0; spin < 256; ++spin) {
    if (ready()) return !failed_.load();
    std::this_thread::yield();
  }
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait(lock, ready);
  return !failed_.load();
}

void ParallelSchedule::run(const std::function<void(size_t)>& step) {
  const uint64_t generation = ++generation_;
  failed_ = false;
  SharedBlasThreads blas(blas_threads_);
  auto work = [&](int worker) {
    for (size_t v : chains_[static_cast<size_t>(worker)]) {
      for (size_t u : waits_[v]) {
        if (!wait_for(u, generation)) return;
      }
      if (failed_.load(std::memory_order_relaxed)) return;
      try {
        step(v);
      } catch (...) {
        failed_ = true;
        { std::lock_guard<std::mutex> lock(mutex_); }
        wake_.notify_all();
        throw;
      }
      done_[v].store(generation, std::memory_order_release);
      if (awaited_[v]) {
        // Taking the lock orders this store before a waiter's check-then-sleep.
        { std::lock_guard<std::mutex> lock(mutex_); }
        wake_.notify_all();
      }
    }
  };
  if (pool_ != nullptr) {
    std::unique_lock<std::mutex> pool(pool_->busy(), std::try_to_lock);
    if (pool.owns_lock()) {
      pool_->run(work);
      return;
    }
  }
  // One worker, or the pool is running another program: every node in graph
  // order on this thread (no waits needed; the arena plan allows this order).
  for (size_t v = 0; v < waits_.size(); ++v) step(v);
}

}  // namespace janus::cpu
