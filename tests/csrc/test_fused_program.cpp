// Fused execution against unfused: each graph runs as compiled (one kernel per
// node) and after the fusion pass (one kernel per group), on the same random
// inputs; the results must be bitwise equal (the same element functions run
// in both), and the fused program must have fewer steps and a smaller arena.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "ir/graph.h"
#include "passes/passes.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/program.h"
#include "runtime/cpu/thread_pool.h"

namespace janus::cpu {
namespace {

// A buffer of `type` filled with small random values (some negative, some
// zero, so comparisons and relu take both branches).
std::vector<char> random_buffer(const ir::TensorType& type, std::mt19937& rng) {
  std::vector<char> buffer(std::max<size_t>(passes::bytes_of(type), 1));
  std::uniform_int_distribution<int> pick(-8, 8);
  visit(type.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* data = reinterpret_cast<T*>(buffer.data());
    for (size_t i = 0; i < buffer.size() / sizeof(T); ++i) {
      if constexpr (std::is_same_v<T, bool>) {
        data[i] = pick(rng) > 0;
      } else if constexpr (std::is_floating_point_v<T>) {
        data[i] = static_cast<T>(pick(rng)) / T(4);
      } else {
        data[i] = static_cast<T>(pick(rng));
      }
    }
  });
  return buffer;
}

std::vector<std::vector<char>> run(Program& program, const std::vector<std::vector<char>>& in) {
  std::vector<void*> inputs, outputs;
  for (const auto& buffer : in) inputs.push_back(const_cast<char*>(buffer.data()));
  std::vector<std::vector<char>> out;
  for (const ir::Value* value : program.graph().outputs()) {
    out.emplace_back(std::max<size_t>(passes::bytes_of(value->type), 1));
  }
  for (auto& buffer : out) outputs.push_back(buffer.data());
  program.run(inputs, outputs);
  return out;
}

// Fuses `text` into `groups` fused nodes and checks it against the unfused run.
// Returns how many results the fused program writes over a dead operand.
size_t expect_fused_equals_unfused(const std::string& text, int groups) {
  Program plain(ir::parse(text), {});
  auto graph = ir::parse(text);
  EXPECT_EQ(passes::run_pass(*graph, "fuse"), groups) << text;
  EXPECT_TRUE(ir::verify(*graph).empty());
  Program fused(std::move(graph), {});
  EXPECT_LT(fused.steps(), plain.steps());
  EXPECT_LE(fused.arena_bytes(), plain.arena_bytes());
  EXPECT_TRUE(fused.fallback_ops().empty());
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<std::vector<char>> inputs;
    for (const ir::Value* input : plain.graph().inputs()) {
      inputs.push_back(random_buffer(input->type, rng));
    }
    const auto want = run(plain, inputs);
    const auto got = run(fused, inputs);
    EXPECT_EQ(got.size(), want.size());
    for (size_t k = 0; k < std::min(got.size(), want.size()); ++k) {
      EXPECT_EQ(std::memcmp(got[k].data(), want[k].data(), got[k].size()), 0)
          << "output " << k << " of\n"
          << text;
    }
  }
  return fused.in_place_count();
}

TEST(FusedProgram, LongChainAcrossManyChunks) {
  // 2500 float32: two full 1024-element chunks of the engine and a partial one.
  expect_fused_equals_unfused(R"(graph(%x: f32[2500]) {
  %a: f32[2500] = mul(%x, 1.5)
  %b: f32[2500] = add(%a, 0.25)
  %c: f32[2500] = tanh(%b)
  %d: f32[2500] = sub(%c, %x) {alpha=2}
  %e: f32[2500] = relu(%d)
  %f: f32[2500] = sqrt(%e)
  %g: f32[2500] = div(%f, 3.0)
  return %g
})",
                              1);
}

// Scratch blocks of dead intermediates are reused: values read long after
// they are made (%a, %b) keep theirs, constants on either side of a binary op
// are broadcast, and a float64 register halves the chunk.
// In-place reuse: the group reads the GEMM result %m only in its first
// instruction and writes %v in its last, chunk by chunk (5000 floats: five
// chunks), so %v takes %m's block; the arena holds one block, not two.
TEST(FusedProgram, AGroupWritesItsResultOverADeadOperand) {
  const std::string text = R"(graph(%x: f32[50,100], %w: f32[100,100]) {
  %m: f32[50,100] = matmul(%x, %w)
  %t: f32[50,100] = tanh(%m)
  %u: f32[50,100] = mul(%t, 2.0)
  %v: f32[50,100] = add(%u, 0.5)
  %s: f32[50,100] = matmul(%v, %w)
  return %s
})";
  EXPECT_EQ(expect_fused_equals_unfused(text, 1), 1u);
  auto graph = ir::parse(text);
  passes::run_pass(*graph, "fuse");
  EXPECT_EQ(Program(std::move(graph), {}, {}, 1).arena_bytes(), 20032u + 64u);  // + alignment
}

// Not in place when the instruction writing the result also reads the
// operand (it would read what it just wrote through an aliasing pointer).
TEST(FusedProgram, NoInPlaceWhenTheWritingInstructionReadsTheOperand) {
  EXPECT_EQ(expect_fused_equals_unfused(R"(graph(%x: f32[50,100], %w: f32[100,100]) {
  %m: f32[50,100] = matmul(%x, %w)
  %t: f32[50,100] = tanh(%m)
  %v: f32[50,100] = add(%t, %m)
  %s: f32[50,100] = matmul(%v, %w)
  return %s
})",
                                        1),
            0u);
}

TEST(FusedProgram, ReusedBlocksKeepLongLivedValues) {
  expect_fused_equals_unfused(R"(graph(%x: f32[3000], %y: f32[3000]) {
  %a: f32[3000] = sub(0.5, %x)
  %b: f32[3000] = mul(%a, %y)
  %c: f32[3000] = div(2.0, %b)
  %d: f32[3000] = exp(%c)
  %e: f32[3000] = minimum(%d, 4.0)
  %f: f32[3000] = add(%e, %a)
  %g: f64[3000] = to_dtype(%f) {dtype="float64"}
  %h: f64[3000] = mul(%g, 0.1)
  %i: f32[3000] = to_dtype(%h) {dtype="float32"}
  %j: f32[3000] = maximum(%i, %b)
  %k: bool[3000] = gt(1.0, %j)
  %l: f32[3000] = where(%k, %a, %j)
  return %l, %e
})",
                              1);
}

TEST(FusedProgram, BroadcastingInputsOfSeveralRanks) {
  expect_fused_equals_unfused(R"(graph(%x: f64[3,5,7], %r: f64[5,1], %c: f64[7], %s: f64[]) {
  %a: f64[3,5,7] = add(%x, %r)
  %b: f64[3,5,7] = mul(%a, %c)
  %d: f64[3,5,7] = sub(%b, %s)
  %e: f64[3,5,7] = maximum(%d, %x)
  %t: f64[] = sum(%e) {dims=[0, 1, 2], keepdim=false}
  return %t, %d
})",
                              1);
}

TEST(FusedProgram, CastsComparisonsAndWhere) {
  expect_fused_equals_unfused(R"(graph(%i: i32[4,6], %f: f32[6], %m: bool[4,1]) {
  %a: f32[4,6] = to_dtype(%i) {dtype="float32"}
  %b: f32[4,6] = mul(%a, %f)
  %g: bool[4,6] = ge(%b, 0.5)
  %h: bool[4,6] = logical_and(%g, %m)
  %w: f32[4,6] = where(%h, %b, -1.0)
  %d: f64[4,6] = to_dtype(%w) {dtype="float64"}
  %e: f64[4,6] = exp(%d)
  %n: i64[4,6] = to_dtype(%e) {dtype="int64"}
  %q: i64[4,6] = floor_divide(%n, 3)
  return %q, %h
})",
                              1);
}

TEST(FusedProgram, SeveralGroupsAroundAReduction) {
  expect_fused_equals_unfused(R"(graph(%x: f32[8,33]) {
  %a: f32[8,33] = mul(%x, %x)
  %b: f32[8,33] = add(%a, 1.0)
  %m: f32[8,1] = amax(%b) {dims=[1], keepdim=true}
  %c: f32[8,33] = sub(%b, %m)
  %e: f32[8,33] = exp(%c)
  %l: f32[8,33] = log1p(%e)
  return %l, %a
})",
                              2);
}

TEST(FusedProgram, ScalarsAndIntegers) {
  expect_fused_equals_unfused(R"(graph(%x: i64[], %y: i64[]) {
  %a: i64[] = mul(%x, %y)
  %b: i64[] = remainder(%a, 5)
  %c: i64[] = bitwise_xor(%b, %x)
  %d: bool[] = lt(%c, %y)
  return %d, %c
})",
                              1);
}

// The select-form functors (NaN tests without branches, so that their loops
// vectorize) keep numpy's NaN semantics, in both instruction sets.
TEST(FusedProgram, NanPropagatesInEveryInstructionSet) {
  const std::string text = R"(graph(%x: f32[12]) {
  %r: f32[12] = relu(%x)
  %c: f32[12] = clamp(%x) {max=0.5, min=-0.5}
  %m: f32[12] = maximum(%x, 0.0)
  %n: f32[12] = minimum(0.0, %x)
  %s: f32[12] = sign(%x)
  return %r, %c, %m, %n, %s
})";
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {nan, -2, -0.25f, 0, 0.25f, 2, nan, 1, -1, nan, 3, -3};
  const Isa before = kernel_isa();
  for (Isa isa : {Isa::kBaseline, Isa::kAvx2}) {
    try {
      set_kernel_isa(isa);
    } catch (const Unsupported&) {
      continue;  // no AVX2 here
    }
    Program p(ir::parse(text), {});
    std::vector<std::vector<float>> out(5, std::vector<float>(12));
    p.run({x.data()}, {out[0].data(), out[1].data(), out[2].data(), out[3].data(), out[4].data()});
    for (size_t i = 0; i < x.size(); ++i) {
      for (const auto& o : out) EXPECT_EQ(std::isnan(o[i]), std::isnan(x[i])) << i;
    }
    EXPECT_EQ(out[0][1], 0.0f);
    EXPECT_EQ(out[1][5], 0.5f);
    EXPECT_EQ(out[1][1], -0.5f);
    EXPECT_EQ(out[2][4], 0.25f);
    EXPECT_EQ(out[3][4], 0.0f);
    EXPECT_EQ(out[4][2], -1.0f);
  }
  set_kernel_isa(before);
}

// Kernels built for the baseline ISA and for AVX2 give the same bits (no FMA
// contraction in either), on a long fused chain with a partial last chunk.
TEST(FusedProgram, BaselineAndAvx2KernelsAgreeBitwise) {
  const Isa before = kernel_isa();
  try {
    set_kernel_isa(Isa::kAvx2);
  } catch (const Unsupported&) {
    GTEST_SKIP() << "no AVX2 on this CPU";
  }
  const std::string text = R"(graph(%x: f32[1500], %y: f32[1500]) {
  %a: f32[1500] = mul(%x, %y)
  %b: f32[1500] = add(%a, %x) {alpha=3}
  %c: f32[1500] = div(%b, %y)
  %d: f32[1500] = sqrt(%c)
  %e: f64[1500] = to_dtype(%d) {dtype="float64"}
  %f: f64[1500] = mul(%e, 1.1)
  return %f
})";
  auto fused = [&] {
    auto graph = ir::parse(text);
    passes::run_pass(*graph, "fuse");
    return std::make_unique<Program>(std::move(graph), Program::Fallback{});
  };
  auto wide = fused();
  set_kernel_isa(Isa::kBaseline);
  auto narrow = fused();
  set_kernel_isa(before);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> pick(0.1f, 4.0f);
  std::vector<float> x(1500), y(1500);
  for (size_t i = 0; i < x.size(); ++i) x[i] = pick(rng), y[i] = pick(rng);
  std::vector<double> a(1500), b(1500);
  wide->run({x.data(), y.data()}, {a.data()});
  narrow->run({x.data(), y.data()}, {b.data()});
  EXPECT_EQ(a, b);
}

// Reductions at the end of a group give the unfused kernels' bits: rows
// (trailing dims) whose rows straddle the engine's 1024-element chunks (sums
// in lanes), short rows (one partial sum), runs around a kept block,
// columns (leading dims), a full reduction, keepdim, size-1 dims, float64,
// the reduced value kept as an output too (%c) or not (%e), and several
// reductions in one kernel.
TEST(FusedProgram, ReductionsAtTheEndMatchTheUnfusedKernels) {
  expect_fused_equals_unfused(R"(graph(%x: f32[37,301], %y: f32[301]) {
  %a: f32[37,301] = mul(%x, %y)
  %b: f32[37,301] = tanh(%a)
  %s: f32[37] = sum(%b) {dims=[1], keepdim=false}
  return %s
})",
                              1);
  expect_fused_equals_unfused(R"(graph(%x: f32[37,301], %y: f32[301]) {
  %a: f32[37,301] = sub(%x, %y)
  %c: f32[37,301] = mul(%a, %a)
  %m: f32[1,301] = mean(%c) {dims=[0], keepdim=true}
  return %m, %c
})",
                              1);
  expect_fused_equals_unfused(R"(graph(%x: f64[5,1,7,3], %y: f64[3]) {
  %a: f64[5,1,7,3] = add(%x, %y)
  %e: f64[5,1,7,3] = exp(%a)
  %s: f64[1] = sum(%e) {dims=[0, 2, 3], keepdim=false}
  return %s
})",
                              1);
  expect_fused_equals_unfused(R"(graph(%x: f32[50,40]) {
  %a: f32[50,40] = mul(%x, %x)
  %s: f32[50,1] = sum(%a) {dims=[1], keepdim=true}
  return %s
})",
                              1);
  expect_fused_equals_unfused(R"(graph(%x: f32[4,2,600]) {
  %a: f32[4,2,600] = mul(%x, 3.0)
  %m: f32[4,1,1] = amax(%a) {dims=[1, 2], keepdim=true}
  return %m
})",
                              1);
  expect_fused_equals_unfused(R"(graph(%x: f32[3000]) {
  %a: f32[3000] = sub(%x, 0.5)
  %m: f32[] = amin(%a) {dims=none, keepdim=false}
  return %m
})",
                              1);
  // dims=[] names every dim, as the type rules read it.
  expect_fused_equals_unfused(R"(graph(%x: f32[30,7]) {
  %a: f32[30,7] = sub(%x, 0.5)
  %s: f32[] = sum(%a) {dims=[], keepdim=false}
  return %s
})",
                              1);
  // Over the dims around a kept block (a batch norm's N, H, W of NCHW): runs
  // of 80 (in lanes) and of 6 (in order), across chunks, and a max.
  expect_fused_equals_unfused(R"(graph(%x: f32[5,13,8,10], %y: f32[1,13,1,1]) {
  %a: f32[5,13,8,10] = mul(%x, %y)
  %b: f32[5,13,8,10] = tanh(%a)
  %s: f32[13] = sum(%b) {dims=[0, 2, 3], keepdim=false}
  %m: f32[1,13,1,1] = mean(%a) {dims=[0, 2, 3], keepdim=true}
  %n: f32[1,13,1,1] = amax(%b) {dims=[0, 2, 3], keepdim=true}
  return %s, %m, %n
})",
                              1);
  expect_fused_equals_unfused(R"(graph(%x: f64[40,7,1,2,3]) {
  %a: f64[40,7,1,2,3] = mul(%x, %x)
  %s: f64[1,7,1,1,1] = sum(%a) {dims=[0, 3, 4], keepdim=true}
  return %s
})",
                              1);
  // Several reductions of one group's values, of both kinds, in one pass.
  expect_fused_equals_unfused(R"(graph(%x: f32[37,301], %y: f32[37,1]) {
  %a: f32[37,301] = mul(%x, %y)
  %b: f32[37,301] = exp(%a)
  %s: f32[37] = sum(%a) {dims=[1], keepdim=false}
  %m: f32[301] = amax(%b) {dims=[0], keepdim=false}
  %n: f32[] = mean(%b) {dims=none, keepdim=false}
  return %s, %m, %n
})",
                              1);
}

// amax/amin of a NaN is NaN wherever it is, as unfused; amax of -inf is -inf.
TEST(FusedProgram, FusedExtremesPropagateNan) {
  const std::string text = R"(graph(%x: f32[3,4]) {
  %a: f32[3,4] = mul(%x, 1.0)
  %m: f32[3] = amax(%a) {dims=[1], keepdim=false}
  return %m
})";
  auto graph = ir::parse(text);
  ASSERT_EQ(passes::run_pass(*graph, "fuse"), 1);
  Program fused(std::move(graph), {});
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {1, nan, 3, 2, -inf, -inf, -inf, -inf, 5, 4, 3, nan};
  std::vector<float> m(3);
  fused.run({x.data()}, {m.data()});
  EXPECT_TRUE(std::isnan(m[0]));
  EXPECT_EQ(m[1], -inf);
  EXPECT_TRUE(std::isnan(m[2]));
}

// A large group splits its chunks across threads (intra-op parallelism):
// 1000x301 float32 is 294 chunks of 1024 (the last one partial) and enough
// work for up to 4 parts, with a broadcast row, a gathered permuted source,
// constants, a result written over a dead GEMM operand and two outputs. Every
// split gives the same bits as one thread.
TEST(FusedProgram, LargeGroupsSplitAcrossThreadsGiveTheSameBits) {
  const std::string text =
      R"(graph(%x: f32[1000,64], %w: f32[64,301], %r: f32[301], %p: f32[301,1000]) {
  %m: f32[1000,301] = matmul(%x, %w)
  %q: f32[1000,301] = permute(%p) {dims=[1, 0]}
  %a: f32[1000,301] = add(%m, %r)
  %b: f32[1000,301] = tanh(%a)
  %c: f32[1000,301] = mul(%b, %q)
  %d: f32[1000,301] = sub(0.5, %c)
  %e: f32[1000,301] = maximum(%d, %r)
  %f: f32[1000,301] = exp(%e)
  return %f, %c
})";
  auto fused = [&] {
    auto graph = ir::parse(text);
    passes::run_pass(*graph, "fuse");
    return std::make_unique<Program>(std::move(graph), Program::Fallback{}, Program::Callback{}, 1);
  };
  auto program = fused();
  std::mt19937 rng(11);
  std::vector<std::vector<char>> inputs;
  for (const ir::Value* input : program->graph().inputs()) {
    inputs.push_back(random_buffer(input->type, rng));
  }
  const int before = program_threads();
  set_program_threads(1);
  const auto want = run(*program, inputs);
  for (int threads : {2, 3, 4, 1}) {
    set_program_threads(threads);
    const auto got = run(*program, inputs);
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(std::memcmp(got[k].data(), want[k].data(), got[k].size()), 0)
          << "output " << k << " with " << threads << " threads";
    }
  }
  set_program_threads(before);
}

}  // namespace
}  // namespace janus::cpu
