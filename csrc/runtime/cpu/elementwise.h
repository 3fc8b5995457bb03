// The elementwise engine: one kernel runs a small program of elementwise
// instructions over one iteration shape, chunk by chunk, so a fused chain
// reads its inputs once and writes its outputs once while the intermediates
// stay in cache (numexpr's idea). A single elementwise op is a one-instruction
// program; so are the layout ops (expand, permute, slicing, flip), which are
// casts from a strided source.
//
// Registers hold one chunk of a value: a source (pointing into a dense input,
// or gathered from a strided/broadcast one, or a constant), or an instruction
// result (in scratch, or directly in the output buffer).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "ir/attr.h"
#include "ir/types.h"
#include "runtime/cpu/strided.h"

namespace janus::cpu {

using Kernel = std::function<void(void* const* slots)>;

class ElementwiseBuilder {
 public:
  explicit ElementwiseBuilder(Shape iteration_shape);

  // A tensor operand in slot `slot`, read through `view` (by default its
  // contiguous layout broadcast to the iteration shape). Returns a register.
  int source(int slot, const ir::TensorType& type);
  int source(int slot, ir::DType dtype, const View& view);
  // An instruction: `op` is an elementwise op-table name (add, exp, where,
  // clamp, ...) or "cast". Operands are registers or constants; constants take
  // the instruction's compute dtype. Throws Unsupported for a dtype or attribute
  // the engine does not cover.
  int instr(const std::string& op, const std::map<std::string, ir::Attr>& attrs,
            const std::vector<std::variant<int, ir::Attr>>& operands, ir::DType out_dtype);
  // Register `reg` is written to slot `slot` (a contiguous buffer of the
  // iteration shape).
  void output(int reg, int slot);
  // Register `reg` (float32 or float64) reduced by `op` (sum, mean, amax,
  // amin) over the iteration dims flagged in `reduced`, into slot `slot`
  // (contiguous, of the kept dims), after the instructions: a reduction at
  // the end of a fused group. Each output element accumulates its inputs in
  // the unfused reduction kernel's order (sums in double), so the results are
  // the same bits. The kept dims must be one block of the iteration shape
  // (dims of size 1 aside: a batch norm's channels of NCHW are); throws
  // Unsupported otherwise. A kernel with reductions runs on one thread: a
  // split would change the summation order.
  void reduce(int reg, int slot, const std::string& op, const std::vector<bool>& reduced);

  ir::DType dtype_of(int reg) const { return regs_.at(reg).dtype; }
  Kernel build() const;

  // (source slot, output slot) pairs whose buffers may be one and the same
  // buffer (in-place reuse by the memory plan): every register reading the
  // source is dense from its first element (chunk k of the register is chunk
  // k of the buffer), of the output's itemsize, and every instruction reading
  // it comes strictly before the one writing the output. A chunk of the
  // source is then read completely before that chunk of the output is written,
  // and no instruction's operand aliases its own result.
  std::vector<std::pair<int, int>> in_place_pairs() const;

  struct Register {
    ir::DType dtype;
    int slot = -1;  // source or output slot
    View view;      // sources: how to read the slot
    bool dense = false;
    bool constant = false;
    ir::Attr value;  // constants
  };
  // A reduction at the end. Rows: the trailing dims are reduced,
  // output o accumulates elements [o * inner, (o + 1) * inner). Columns: the
  // leading dims are reduced, output k accumulates the elements e with
  // e % inner == k.
  struct Reduction {
    enum class Op { kSum, kMean, kMax, kMin } op = Op::kSum;
    int reg = -1, slot = -1;
    bool rows = true;
    int64_t inner = 1;    // rows: elements per run of an output's; columns: outputs
    int64_t outputs = 1;  // output elements
    int64_t count = 1;    // elements per output
    // Sums of long rows keep partial sums per output, as the unfused sum
    // does (reduction_order.h).
    bool lanes = false;
  };
  struct Instr;
  using InstrFn = void (*)(const Instr&, void* const* regs, int64_t n);
  struct Instr {
    InstrFn fn = nullptr;
    int a = -1, b = -1, c = -1, out = -1;
    double p0 = 0, p1 = 0;  // op parameters (slopes, bounds, ...)
    bool f0 = false, f1 = false;
  };

 private:
  int add_constant(const ir::Attr& value, ir::DType dtype);

  Shape shape_;
  std::vector<Register> regs_;
  std::vector<Instr> instrs_;
  std::vector<Reduction> reductions_;
};

// The instruction set the loops of newly built kernels use: AVX2 where the
// CPU has it (x86-64), else the baseline. Kernels keep the choice they were
// built with. set_kernel_isa throws Unsupported for AVX2 on a CPU without it;
// it is for benchmarks and tests (both give the same results).
enum class Isa { kBaseline, kAvx2 };
Isa kernel_isa();
void set_kernel_isa(Isa isa);

// Whether `op` is an elementwise op the engine runs (and fusion may merge).
bool is_elementwise(const std::string& op);

}  // namespace janus::cpu
