// Parallel branches in the CPU executor: the schedule, bit-identical results
// against the serial schedule, a memory plan that stays correct when buffers
// are reused across branches, and errors raised on a worker.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ir/graph.h"
#include "passes/passes.h"
#include "runtime/cpu/program.h"
#include "runtime/cpu/thread_pool.h"

namespace janus::cpu {
namespace {

// Four branches from one input, each GEMM then elementwise work whose
// temporaries the serial plan reuses across branches, joined at the end.
const char* kBranchy =
    R"(graph(%x: f32[32,64], %w1: f32[64,64], %w2: f32[64,64], %w3: f32[64,64], %w4: f32[64,64]) {
  %a0: f32[32,64] = matmul(%x, %w1)
  %a1: f32[32,64] = tanh(%a0)
  %a2: f32[32,64] = mul(%a1, 3.0)
  %a3: f32[32,64] = matmul(%a2, %w1)
  %b0: f32[32,64] = matmul(%x, %w2)
  %b1: f32[32,64] = sigmoid(%b0)
  %b2: f32[32,64] = add(%b1, %b0)
  %b3: f32[32,64] = matmul(%b2, %w2)
  %c0: f32[32,64] = matmul(%x, %w3)
  %c1: f32[32,64] = relu(%c0)
  %c2: f32[32,64] = sub(%c1, 0.5)
  %c3: f32[32,64] = matmul(%c2, %w3)
  %d0: f32[32,64] = matmul(%x, %w4)
  %d1: f32[32,64] = exp(%d0)
  %d2: f32[32,64] = div(%d1, 7.0)
  %d3: f32[32,64] = matmul(%d2, %w4)
  %j0: f32[32,64] = add(%a3, %b3)
  %j1: f32[32,64] = add(%c3, %d3)
  %j2: f32[32,64] = mul(%j0, %j1)
  return %j2, %a2
}
)";

std::vector<std::vector<float>> random_inputs(const ir::Graph& graph, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.2f);
  std::vector<std::vector<float>> inputs;
  for (const ir::Value* in : graph.inputs()) {
    inputs.emplace_back(passes::bytes_of(in->type) / sizeof(float));
    for (float& v : inputs.back()) v = normal(rng);
  }
  return inputs;
}

std::vector<std::vector<float>> run(Program& program, std::vector<std::vector<float>>& inputs) {
  std::vector<void*> ins;
  for (auto& in : inputs) ins.push_back(in.data());
  std::vector<std::vector<float>> outs;
  std::vector<void*> out_ptrs;
  for (const ir::Value* out : program.graph().outputs()) {
    outs.emplace_back(passes::bytes_of(out->type) / sizeof(float));
  }
  for (auto& out : outs) out_ptrs.push_back(out.data());
  program.run(ins, out_ptrs);
  return outs;
}

bool same_bits(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].size() != b[k].size() ||
        std::memcmp(a[k].data(), b[k].data(), a[k].size() * sizeof(float)) != 0) {
      return false;
    }
  }
  return true;
}

TEST(ThreadPool, WorkersRunEveryTaskAndReportTheFirstError) {
  WorkerPool pool(3);
  EXPECT_EQ(pool.workers(), 3);
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> mask{0};
    pool.run([&](int w) { mask |= 1 << w; });
    EXPECT_EQ(mask.load(), 7);
  }
  EXPECT_THROW(pool.run([](int w) {
    if (w == 2) throw std::runtime_error("worker 2 failed");
  }),
               std::runtime_error);
  std::atomic<int> count{0};
  pool.run([&](int) { ++count; });  // still usable after an error
  EXPECT_EQ(count.load(), 3);
}

// run_parts: every part once, on as many threads as parts when the pool is
// free; one after another on the caller when it already runs on a pool (a
// kernel inside a parallel schedule must not split again).
TEST(ThreadPool, RunPartsSplitsOnlyOutsideAPool) {
  for (int round = 0; round < 20; ++round) {
    std::vector<std::thread::id> ran(3);
    EXPECT_TRUE(run_parts(3, [&](int p) { ran[p] = std::this_thread::get_id(); }));
    EXPECT_EQ(ran[0], std::this_thread::get_id());
    EXPECT_NE(ran[1], ran[0]);
    EXPECT_NE(ran[2], ran[0]);
    EXPECT_NE(ran[2], ran[1]);
  }
  EXPECT_FALSE(run_parts(1, [](int) {}));
  WorkerPool outer(2);
  std::atomic<int> nested_parallel{0}, parts_run{0};
  outer.run([&](int) {
    const std::thread::id me = std::this_thread::get_id();
    const bool parallel = run_parts(3, [&](int) {
      ++parts_run;
      EXPECT_EQ(std::this_thread::get_id(), me);
    });
    if (parallel) ++nested_parallel;
  });
  EXPECT_EQ(nested_parallel.load(), 0);
  EXPECT_EQ(parts_run.load(), 6);
  EXPECT_THROW(run_parts(2,
                         [](int p) {
                           if (p == 1) throw std::runtime_error("part 1 failed");
                         }),
               std::runtime_error);
}

TEST(ThreadPool, StreamsGoWholeToWorkersInGraphOrder) {
  auto graph = ir::parse(kBranchy);
  const passes::StreamAssignment streams = passes::assign_streams(*graph);
  EXPECT_GE(streams.streams, 4);
  const ParallelSchedule schedule(*graph, streams, 2);
  ASSERT_EQ(schedule.workers(), 2);
  std::vector<int> worker_of(graph->nodes().size(), -1);
  for (int w = 0; w < 2; ++w) {
    const auto& chain = schedule.chains()[w];
    EXPECT_TRUE(std::is_sorted(chain.begin(), chain.end()));
    for (size_t v : chain) worker_of[v] = w;
  }
  for (size_t v = 0; v < worker_of.size(); ++v) {
    EXPECT_GE(worker_of[v], 0) << "node " << v << " has no worker";
    for (size_t u = 0; u < v; ++u) {
      if (streams.stream[u] == streams.stream[v]) EXPECT_EQ(worker_of[u], worker_of[v]);
    }
  }
}

TEST(ThreadPool, ParallelResultsAreBitIdenticalToTheSerialSchedule) {
  Program serial(ir::parse(kBranchy), {}, {}, 1);
  Program parallel(ir::parse(kBranchy), {}, {}, 4);
  EXPECT_EQ(serial.workers(), 1);
  EXPECT_EQ(parallel.workers(), 4);
  for (unsigned seed = 0; seed < 30; ++seed) {
    auto inputs = random_inputs(serial.graph(), seed);
    const auto want = run(serial, inputs);
    const auto got = run(parallel, inputs);
    ASSERT_TRUE(same_bits(want, got)) << "seed " << seed;
  }
}

// Two results may share bytes only if every use of one is ordered before the
// other's producer by data dependences and stream order.
TEST(ThreadPool, ParallelMemoryPlanNeverSharesBetweenConcurrentBranches) {
  auto graph = ir::parse(kBranchy);
  const passes::StreamAssignment streams = passes::assign_streams(*graph);
  const passes::MemoryPlan serial = passes::plan_memory(*graph);
  const passes::MemoryPlan parallel = passes::plan_memory(*graph, &streams);
  std::map<const ir::Value*, size_t> index;
  std::map<const ir::Node*, size_t> position;
  for (size_t v = 0; v < graph->nodes().size(); ++v) {
    position[graph->nodes()[v].get()] = v;
    for (const ir::Value* out : graph->nodes()[v]->outputs) {
      if (serial.offset.count(out)) index[out] = v;  // graph outputs are the caller's
    }
  }
  auto shares = [](const passes::MemoryPlan& plan, const ir::Value* a, const ir::Value* b) {
    const size_t ea = plan.offset.at(a) + passes::bytes_of(a->type);
    const size_t eb = plan.offset.at(b) + passes::bytes_of(b->type);
    return plan.offset.at(a) < eb && plan.offset.at(b) < ea;
  };
  // The serial plan reuses a buffer across branches (what makes this test
  // meaningful): some pair in different streams shares bytes.
  bool serial_crosses = false;
  for (const auto& [a, ia] : index) {
    for (const auto& [b, ib] : index) {
      if (a != b && streams.stream[ia] != streams.stream[ib] && shares(serial, a, b)) {
        serial_crosses = true;
      }
    }
  }
  EXPECT_TRUE(serial_crosses);
  // In the parallel plan, values that share bytes are on ordered nodes: the
  // later one's producer depends (transitively) on every reader of the earlier.
  auto reaches = [&](size_t from, size_t to) {
    std::vector<size_t> stack = {from};
    std::vector<bool> seen(graph->nodes().size(), false);
    while (!stack.empty()) {
      const size_t u = stack.back();
      stack.pop_back();
      if (u == to) return true;
      if (seen[u]) continue;
      seen[u] = true;
      for (size_t v = u + 1; v < graph->nodes().size(); ++v) {
        bool edge = streams.stream[u] == streams.stream[v];
        for (const ir::Operand& operand : graph->nodes()[v]->operands) {
          const auto* value = std::get_if<ir::Value*>(&operand);
          edge = edge || (value && (*value)->producer == graph->nodes()[u].get());
        }
        if (edge) stack.push_back(v);
      }
    }
    return false;
  };
  auto finished_before = [&](const ir::Value* a, const ir::Value* b) {
    const size_t producer_b = index.at(b);
    if (!reaches(index.at(a), producer_b) || index.at(a) == producer_b) return false;
    for (size_t v = 0; v < graph->nodes().size(); ++v) {
      for (const ir::Operand& operand : graph->nodes()[v]->operands) {
        const auto* value = std::get_if<ir::Value*>(&operand);
        if (value && *value == a && (v == producer_b || !reaches(v, producer_b))) return false;
      }
    }
    for (const ir::Value* out : graph->outputs()) {
      if (out == a) return false;
    }
    return true;
  };
  for (const auto& [a, ia] : index) {
    for (const auto& [b, ib] : index) {
      if (a < b && shares(parallel, a, b)) {
        EXPECT_TRUE(finished_before(a, b) || finished_before(b, a))
            << "%" << a->name << " and %" << b->name << " share memory but may run concurrently";
      }
    }
  }
  EXPECT_LE(parallel.arena_bytes, parallel.unshared_bytes);
  EXPECT_GE(parallel.arena_bytes, serial.arena_bytes);
}

TEST(ThreadPool, AnErrorOnAWorkerNamesItsNodeAndLeavesTheProgramUsable) {
  const char* text = R"(graph(%x: f32[4,2], %i: i64[3], %y: f32[4]) {
  %a: f32[3,2] = index_select(%x, %i) {dim=0}
  %b: f32[3,2] = exp(%a)
  %c: f32[4] = neg(%y)
  %d: f32[4] = sin(%c)
  return %b, %d
}
)";
  Program program(ir::parse(text), {}, {}, 2);
  ASSERT_EQ(program.workers(), 2);
  std::vector<float> x(8, 0.0f), y(4, 1.0f), b(6), d(4);
  std::vector<int64_t> bad = {0, 99, 1}, good = {0, 3, 1};
  for (int round = 0; round < 20; ++round) {
    try {
      program.run({x.data(), bad.data(), y.data()}, {b.data(), d.data()});
      FAIL() << "expected std::out_of_range";
    } catch (const std::out_of_range& error) {
      EXPECT_NE(std::string(error.what()).find("%a = index_select(...)"), std::string::npos);
    }
    program.run({x.data(), good.data(), y.data()}, {b.data(), d.data()});
    EXPECT_FLOAT_EQ(b[2], 1.0f);
    EXPECT_FLOAT_EQ(d[0], -std::sin(1.0f));
  }
}

// Programs share one pool per worker count: two programs run at once from two
// threads (one gets the pool, the other runs serially) and still agree.
TEST(ThreadPool, ProgramsRunningAtOnceShareThePool) {
  Program serial(ir::parse(kBranchy), {}, {}, 1);
  Program first(ir::parse(kBranchy), {}, {}, 2), second(ir::parse(kBranchy), {}, {}, 2);
  auto inputs = random_inputs(serial.graph(), 7);
  const auto want = run(serial, inputs);
  std::atomic<int> mismatches{0};
  auto hammer = [&](Program* program) {
    auto mine = inputs;
    for (int k = 0; k < 40; ++k) {
      if (!same_bits(run(*program, mine), want)) ++mismatches;
    }
  };
  std::thread a(hammer, &first), b(hammer, &second);
  a.join();
  b.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// A callback runs Python in program order: a program holding one runs
// serially, whatever its branches (an assert on another worker must not
// abort the run before a callback that precedes it).
TEST(ThreadPool, ProgramsWithCallbacksRunSerially) {
  std::string text = kBranchy;
  text.replace(text.find("  %j0:"), 0, "  callback(%a2) {target=\"log\"}\n");
  int calls = 0;
  Program::Callback log = [&calls](const ir::Node&, const std::vector<void*>&,
                                   const std::vector<void*>&) { ++calls; };
  Program with_callback(ir::parse(text), {}, log, 4);
  EXPECT_EQ(with_callback.workers(), 1);
  EXPECT_EQ(Program(ir::parse(kBranchy), {}, {}, 4).workers() > 1, true);
  auto inputs = random_inputs(with_callback.graph(), 5);
  run(with_callback, inputs);
  EXPECT_EQ(calls, 1);
}

TEST(ThreadPool, ThreadCountSetting) {
  const int before = program_threads();
  EXPECT_GE(before, 1);
  set_program_threads(1);
  EXPECT_EQ(Program(ir::parse(kBranchy), {}).workers(), 1);
  set_program_threads(3);
  EXPECT_EQ(Program(ir::parse(kBranchy), {}).workers(), 3);
  set_program_threads(0);
  EXPECT_EQ(program_threads(), before);
  EXPECT_THROW(set_program_threads(-1), std::invalid_argument);
  // The default follows OMP_NUM_THREADS, as PyTorch's threads do.
  const char* was = std::getenv("OMP_NUM_THREADS");
  const std::string saved = was ? was : "";
  setenv("OMP_NUM_THREADS", "1", 1);
  EXPECT_EQ(program_threads(), 1);
  setenv("OMP_NUM_THREADS", "5", 1);
  EXPECT_EQ(program_threads(), 5);
  if (was) {
    setenv("OMP_NUM_THREADS", saved.c_str(), 1);
  } else {
    unsetenv("OMP_NUM_THREADS");
  }
}

}  // namespace
}  // namespace janus::cpu
