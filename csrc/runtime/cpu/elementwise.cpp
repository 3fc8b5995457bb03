#include "runtime/cpu/elementwise.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <type_traits>

#include "runtime/cpu/dtype.h"
#include "runtime/cpu/elementwise_ops.h"
#include "runtime/cpu/elementwise_reduce.h"
#include "runtime/cpu/thread_pool.h"
#include "runtime/cpu/vector_math.h"

namespace janus::cpu {
namespace {

using Instr = ElementwiseBuilder::Instr;
using InstrFn = ElementwiseBuilder::InstrFn;
using namespace elementwise_ops;  // the functors: this file dispatches to them

// Bytes per register block: a chunk is this many bytes of the program's widest
// dtype. Registers whose values are dead share blocks, so a chain keeps two or
// three blocks busy and they stay in L1 beside the streamed inputs and outputs,
// while each instruction call still covers enough elements (1024 float32) to
// make its dispatch negligible.
constexpr int64_t kBlockBytes = 4096;

// Element-instructions (elements x instructions of the program) per part
// when a kernel splits across threads: about 100 us of one core's work at
// the engine's speed on cheap ops, so waking a pool worker (tens of us on a
// busy VM) costs a small share of what it saves.
constexpr int64_t kWorkPerPart = int64_t{1} << 19;

// ----- instruction bodies: plain loops the compiler vectorizes -----
//
// Each loop is compiled twice: for the baseline ISA (x86-64: SSE2, 4 floats a
// vector) and, on x86-64, for AVX2 (8 floats), chosen when a kernel is built
// (kernel_isa()). The AVX2 copies are separate functions with a target
// attribute into which the plain loops inline, rather than a second
// translation unit built with -mavx2: an inline function that such a unit
// shares with baseline code could be linked in its AVX2 form and crash older
// CPUs. Neither copy may contract a * b + c into an FMA (baseline x86-64 has
// none; AVX2 without FMA has none either), so both give the same bits. The
// exceptions are the ops with an array function (exp, expm1, log, tanh,
// sigmoid, silu): their AVX2 kernels use vector_math.h, within a few ulp of
// the baseline's C library calls.

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define JANUS_HAS_AVX2_KERNELS 1
#endif

template <typename T, typename Op>
inline void run_unary(const Instr& in, void* const* r, int64_t n) {
  const T* __restrict a = static_cast<const T*>(r[in.a]);
  using R = decltype(Op::f(T{}, in));
  R* __restrict o = static_cast<R*>(r[in.out]);
  for (int64_t i = 0; i < n; ++i) o[i] = Op::f(a[i], in);
}

template <typename T, typename Op>
void run_array(const Instr& in, void* const* r, int64_t n) {
  Op::array(static_cast<const T*>(r[in.a]), static_cast<T*>(r[in.out]), n);
}

// Which operands of a binary instruction are constants: those are read once
// and broadcast (x * 1.5 then loads only x), rather than streamed from a
// filled block.
enum class Operands { kVectors, kScalarA, kScalarB };

template <typename T, typename Op>
inline void run_binary(const Instr& in, void* const* r, int64_t n) {
  const T* __restrict a = static_cast<const T*>(r[in.a]);
  const T* __restrict b = static_cast<const T*>(r[in.b]);
  using R = decltype(Op::f(T{}, T{}, in));
  R* __restrict o = static_cast<R*>(r[in.out]);
  for (int64_t i = 0; i < n; ++i) o[i] = Op::f(a[i], b[i], in);
}

template <typename T, typename Op>
inline void run_binary_scalar_a(const Instr& in, void* const* r, int64_t n) {
  const T a = *static_cast<const T*>(r[in.a]);
  const T* __restrict b = static_cast<const T*>(r[in.b]);
  using R = decltype(Op::f(T{}, T{}, in));
  R* __restrict o = static_cast<R*>(r[in.out]);
  for (int64_t i = 0; i < n; ++i) o[i] = Op::f(a, b[i], in);
}

template <typename T, typename Op>
inline void run_binary_scalar_b(const Instr& in, void* const* r, int64_t n) {
  const T* __restrict a = static_cast<const T*>(r[in.a]);
  const T b = *static_cast<const T*>(r[in.b]);
  using R = decltype(Op::f(T{}, T{}, in));
  R* __restrict o = static_cast<R*>(r[in.out]);
  for (int64_t i = 0; i < n; ++i) o[i] = Op::f(a[i], b, in);
}

template <typename T>
inline void run_where(const Instr& in, void* const* r, int64_t n) {
  const bool* __restrict c = static_cast<const bool*>(r[in.a]);
  const T* __restrict a = static_cast<const T*>(r[in.b]);
  const T* __restrict b = static_cast<const T*>(r[in.c]);
  T* __restrict o = static_cast<T*>(r[in.out]);
  for (int64_t i = 0; i < n; ++i) o[i] = c[i] ? a[i] : b[i];
}

template <typename From, typename To>
inline void run_cast(const Instr& in, void* const* r, int64_t n) {
  const From* __restrict a = static_cast<const From*>(r[in.a]);
  To* __restrict o = static_cast<To*>(r[in.out]);
  if constexpr (std::is_same_v<From, To>) {
    std::memcpy(o, a, static_cast<size_t>(n) * sizeof(To));
  } else if constexpr (std::is_same_v<To, bool>) {
    for (int64_t i = 0; i < n; ++i) o[i] = a[i] != From(0);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<To>(a[i]);
  }
}

template <InstrFn kLoop>
void baseline(const Instr& in, void* const* r, int64_t n) {
  kLoop(in, r, n);
}

#if JANUS_HAS_AVX2_KERNELS
template <InstrFn kLoop>
__attribute__((target("avx2"))) void avx2(const Instr& in, void* const* r, int64_t n) {
  kLoop(in, r, n);
}

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#else
bool cpu_has_avx2() { return false; }
#endif

std::atomic<Isa> g_isa{cpu_has_avx2() ? Isa::kAvx2 : Isa::kBaseline};

// `kLoop` compiled for the ISA kernels are built for now.
template <InstrFn kLoop>
InstrFn for_isa() {
#if JANUS_HAS_AVX2_KERNELS
  if (g_isa.load(std::memory_order_relaxed) == Isa::kAvx2) return &avx2<kLoop>;
#endif
  return &baseline<kLoop>;
}

// ----- choosing an instantiation -----

enum class Types { kFloat, kNumeric, kInteger, kAny };

template <typename T>
constexpr bool admits(Types types) {
  switch (types) {
    case Types::kFloat:
      return std::is_floating_point_v<T>;
    case Types::kNumeric:
      return !std::is_same_v<T, bool>;
    case Types::kInteger:
      return std::is_integral_v<T>;
    default:
      return true;
  }
}

template <typename Op, typename = void>
struct has_array : std::false_type {};
template <typename Op>
struct has_array<Op, std::void_t<decltype(&Op::template array<float>)>> : std::true_type {};

template <typename Op, Types kTypes>
InstrFn unary_fn(ir::DType dtype, Operands) {
  return visit(dtype, [&](auto tag) -> InstrFn {
    using T = typename decltype(tag)::type;
    if constexpr ((std::is_same_v<T, float> || std::is_same_v<T, double>)&&has_array<Op>::value) {
      if (g_isa.load(std::memory_order_relaxed) == Isa::kAvx2 && vector_math_available()) {
        return &run_array<T, Op>;
      }
    }
    if constexpr (admits<T>(kTypes)) {
      return for_isa<&run_unary<T, Op>>();
    } else {
      throw Unsupported(std::string("no kernel for this op on ") + ir::dtype_name(dtype));
    }
  });
}

template <typename Op, Types kTypes>
InstrFn binary_fn(ir::DType dtype, Operands operands) {
  return visit(dtype, [&](auto tag) -> InstrFn {
    using T = typename decltype(tag)::type;
    if constexpr (admits<T>(kTypes)) {
      if (operands == Operands::kScalarA) return for_isa<&run_binary_scalar_a<T, Op>>();
      if (operands == Operands::kScalarB) return for_isa<&run_binary_scalar_b<T, Op>>();
      return for_isa<&run_binary<T, Op>>();
    } else {
      throw Unsupported(std::string("no kernel for this op on ") + ir::dtype_name(dtype));
    }
  });
}

InstrFn cast_fn(ir::DType from, ir::DType to) {
  return visit(from, [&](auto a) -> InstrFn {
    using From = typename decltype(a)::type;
    return visit(to, [&](auto b) -> InstrFn {
      using To = typename decltype(b)::type;
      return for_isa<&run_cast<From, To>>();
    });
  });
}

double attr_number(const std::map<std::string, ir::Attr>& attrs, const std::string& key) {
  const ir::Attr& a = attrs.at(key);
  if (a.kind == ir::Attr::Kind::kFloat) return a.f;
  if (a.kind == ir::Attr::Kind::kInt) return static_cast<double>(a.i);
  if (a.kind == ir::Attr::Kind::kBool) return a.b ? 1.0 : 0.0;
  throw Unsupported("attribute " + key + " is not a number");
}

bool has_number(const std::map<std::string, ir::Attr>& attrs, const std::string& key) {
  const auto it = attrs.find(key);
  return it != attrs.end() && it->second.kind != ir::Attr::Kind::kNone;
}

// How each op's instruction is made: the dtypes it admits and its result type.
enum class Shape_ { kUnary, kBinary, kCompare, kLogical, kPredicate };

struct OpEntry {
  Shape_ shape;
  InstrFn (*make)(ir::DType, Operands);
};

template <typename Op, Types kTypes>
OpEntry unary() {
  return {Shape_::kUnary, &unary_fn<Op, kTypes>};
}
template <typename Op, Types kTypes>
OpEntry binary() {
  return {Shape_::kBinary, &binary_fn<Op, kTypes>};
}
template <typename Op>
OpEntry compare() {
  return {Shape_::kCompare, &binary_fn<Op, Types::kAny>};
}

const std::map<std::string, OpEntry>& op_entries() {
  static const std::map<std::string, OpEntry> table = {
      {"add", binary<Add, Types::kNumeric>()},
      {"sub", binary<Sub, Types::kNumeric>()},
      {"mul", binary<Mul, Types::kNumeric>()},
      {"div", binary<Div, Types::kFloat>()},
      {"floor_divide", binary<FloorDivide, Types::kNumeric>()},
      {"remainder", binary<Remainder, Types::kNumeric>()},
      {"fmod", binary<Fmod, Types::kNumeric>()},
      {"pow", binary<Pow, Types::kNumeric>()},
      {"maximum", binary<Maximum, Types::kNumeric>()},
      {"minimum", binary<Minimum, Types::kNumeric>()},
      {"tanh_backward", binary<TanhBackward, Types::kFloat>()},
      {"sigmoid_backward", binary<SigmoidBackward, Types::kFloat>()},
      {"bitwise_and", binary<BitAnd, Types::kInteger>()},
      {"bitwise_or", binary<BitOr, Types::kInteger>()},
      {"bitwise_xor", binary<BitXor, Types::kInteger>()},
      {"eq", compare<Eq>()},
      {"ne", compare<Ne>()},
      {"lt", compare<Lt>()},
      {"le", compare<Le>()},
      {"gt", compare<Gt>()},
      {"ge", compare<Ge>()},
      {"logical_and", {Shape_::kLogical, &binary_fn<LogicalAnd, Types::kAny>}},
      {"logical_or", {Shape_::kLogical, &binary_fn<LogicalOr, Types::kAny>}},
      {"logical_xor", {Shape_::kLogical, &binary_fn<LogicalXor, Types::kAny>}},
      {"logical_not", {Shape_::kPredicate, &unary_fn<LogicalNot, Types::kAny>}},
      {"isnan", {Shape_::kPredicate, &unary_fn<IsNan, Types::kFloat>}},
      {"isinf", {Shape_::kPredicate, &unary_fn<IsInf, Types::kFloat>}},
      {"isfinite", {Shape_::kPredicate, &unary_fn<IsFinite, Types::kFloat>}},
      {"bitwise_not", unary<BitNot, Types::kInteger>()},
      {"neg", unary<Neg, Types::kNumeric>()},
      {"abs", unary<Abs, Types::kNumeric>()},
      {"sign", unary<Sign, Types::kNumeric>()},
      {"relu", unary<Relu, Types::kNumeric>()},
      {"clamp", unary<Clamp, Types::kNumeric>()},
      {"floor", unary<Floor, Types::kNumeric>()},
      {"ceil", unary<Ceil, Types::kNumeric>()},
      {"trunc", unary<Trunc, Types::kNumeric>()},
      {"round", unary<Round, Types::kNumeric>()},
      {"exp", unary<Exp, Types::kFloat>()},
      {"exp2", unary<Exp2, Types::kFloat>()},
      {"expm1", unary<Expm1, Types::kFloat>()},
      {"log", unary<Log, Types::kFloat>()},
      {"log2", unary<Log2, Types::kFloat>()},
      {"log10", unary<Log10, Types::kFloat>()},
      {"log1p", unary<Log1p, Types::kFloat>()},
      {"sqrt", unary<Sqrt, Types::kFloat>()},
      {"rsqrt", unary<Rsqrt, Types::kFloat>()},
      {"reciprocal", unary<Reciprocal, Types::kFloat>()},
      {"sin", unary<Sin, Types::kFloat>()},
      {"cos", unary<Cos, Types::kFloat>()},
      {"tan", unary<Tan, Types::kFloat>()},
      {"asin", unary<Asin, Types::kFloat>()},
      {"acos", unary<Acos, Types::kFloat>()},
      {"atan", unary<Atan, Types::kFloat>()},
      {"sinh", unary<Sinh, Types::kFloat>()},
      {"cosh", unary<Cosh, Types::kFloat>()},
      {"tanh", unary<Tanh, Types::kFloat>()},
      {"sigmoid", unary<Sigmoid, Types::kFloat>()},
      {"erf", unary<Erf, Types::kFloat>()},
      {"silu", unary<Silu, Types::kFloat>()},
      {"leaky_relu", unary<LeakyRelu, Types::kFloat>()},
      {"elu", unary<Elu, Types::kFloat>()},
      {"softplus", unary<Softplus, Types::kFloat>()},
      {"gelu", unary<Gelu, Types::kFloat>()},
  };
  return table;
}

}  // namespace

Isa kernel_isa() { return g_isa.load(); }

void set_kernel_isa(Isa isa) {
  if (isa == Isa::kAvx2 && !cpu_has_avx2()) throw Unsupported("this CPU has no AVX2");
  g_isa = isa;
}

bool is_elementwise(const std::string& op) {
  return op_entries().count(op) > 0 || op == "where" || op == "to_dtype" || op == "clone" ||
         op == "overwrite" || op == "cast";
}

ElementwiseBuilder::ElementwiseBuilder(Shape iteration_shape)
    : shape_(std::move(iteration_shape)) {}

int ElementwiseBuilder::source(int slot, const ir::TensorType& type) {
  View view{0, shape_, broadcast_strides(shape_of(type), shape_)};
  return source(slot, type.dtype, view);
}

int ElementwiseBuilder::source(int slot, ir::DType dtype, const View& view) {
  Register reg;
  reg.dtype = dtype;
  reg.slot = slot;
  reg.view = view;
  reg.dense = view.shape == shape_ && view.strides == contiguous_strides(shape_);
  regs_.push_back(reg);
  return static_cast<int>(regs_.size()) - 1;
}

int ElementwiseBuilder::add_constant(const ir::Attr& value, ir::DType dtype) {
  if (value.kind != ir::Attr::Kind::kInt && value.kind != ir::Attr::Kind::kFloat &&
      value.kind != ir::Attr::Kind::kBool) {
    throw Unsupported("an elementwise constant must be a number, got " + ir::to_string(value));
  }
  Register reg;
  reg.dtype = dtype;
  reg.constant = true;
  reg.value = value;
  regs_.push_back(reg);
  return static_cast<int>(regs_.size()) - 1;
}

int ElementwiseBuilder::instr(const std::string& op, const std::map<std::string, ir::Attr>& attrs,
                              const std::vector<std::variant<int, ir::Attr>>& operands,
                              ir::DType out_dtype) {
  // The compute dtype: the first register operand's (where: of the branches).
  const size_t first_data = op == "where" ? 1 : 0;
  std::optional<ir::DType> compute;
  for (size_t k = first_data; k < operands.size(); ++k) {
    if (const int* reg = std::get_if<int>(&operands[k])) {
      compute = regs_.at(*reg).dtype;
      break;
    }
  }
  const bool is_cast = op == "cast";
  if (!compute) compute = out_dtype;
  std::vector<int> regs;
  for (size_t k = 0; k < operands.size(); ++k) {
    if (const int* reg = std::get_if<int>(&operands[k])) {
      const ir::DType want = (op == "where" && k == 0) ? ir::DType::kBool : *compute;
      if (regs_.at(*reg).dtype != want) {
        throw Unsupported(op + ": operands of different dtypes");
      }
      regs.push_back(*reg);
    } else {
      regs.push_back(add_constant(std::get<ir::Attr>(operands[k]), *compute));
    }
  }
  Instr in;
  if (is_cast) {
    if (regs.size() != 1) throw Unsupported("cast takes one operand");
    in.fn = cast_fn(*compute, out_dtype);
  } else if (op == "where") {
    if (regs.size() != 3 || out_dtype != *compute) throw Unsupported("where: dtypes");
    in.fn = visit(*compute, [](auto tag) -> InstrFn {
      return for_isa<&run_where<typename decltype(tag)::type>>();
    });
  } else {
    const auto it = op_entries().find(op);
    if (it == op_entries().end()) throw Unsupported(op + " is not an elementwise op");
    const OpEntry& entry = it->second;
    const bool two = entry.shape == Shape_::kBinary || entry.shape == Shape_::kCompare ||
                     entry.shape == Shape_::kLogical;
    if (regs.size() != (two ? 2u : 1u)) throw Unsupported(op + ": operand count");
    const bool to_bool = entry.shape == Shape_::kCompare || entry.shape == Shape_::kLogical ||
                         entry.shape == Shape_::kPredicate;
    if (out_dtype != (to_bool ? ir::DType::kBool : *compute)) {
      throw Unsupported(op + ": result dtype differs from the compute dtype");
    }
    Operands shape = Operands::kVectors;
    if (two && regs_.at(regs[1]).constant) shape = Operands::kScalarB;
    if (two && regs_.at(regs[0]).constant) shape = Operands::kScalarA;
    in.fn = entry.make(*compute, shape);
    if ((op == "add" || op == "sub") && has_number(attrs, "alpha")) {
      const ir::Attr& alpha = attrs.at("alpha");
      if (!is_float(*compute) && alpha.kind == ir::Attr::Kind::kFloat) {
        throw Unsupported(op + ": a float alpha on integers");
      }
      in.f0 = true;
      in.p0 = attr_number(attrs, "alpha");
    }
    if (op == "leaky_relu") in.p0 = attr_number(attrs, "negative_slope");
    if (op == "elu") in.p0 = attr_number(attrs, "alpha");
    if (op == "softplus") {
      in.p0 = attr_number(attrs, "beta");
      in.p1 = attr_number(attrs, "threshold");
    }
    if (op == "gelu") in.f0 = attrs.at("approximate").s == "tanh";
    if (op == "clamp") {
      in.f0 = has_number(attrs, "min");
      in.f1 = has_number(attrs, "max");
      if (in.f0) in.p0 = attr_number(attrs, "min");
      if (in.f1) in.p1 = attr_number(attrs, "max");
    }
  }
  in.a = regs.size() > 0 ? regs[0] : -1;
  in.b = regs.size() > 1 ? regs[1] : -1;
  in.c = regs.size() > 2 ? regs[2] : -1;
  Register result;
  result.dtype = out_dtype;
  regs_.push_back(result);
  in.out = static_cast<int>(regs_.size()) - 1;
  instrs_.push_back(in);
  return in.out;
}

void ElementwiseBuilder::output(int reg, int slot) {
  Register& r = regs_.at(reg);
  if (r.slot >= 0 || r.constant) throw Unsupported("an output must be an instruction result");
  r.slot = slot;
}

std::vector<std::pair<int, int>> ElementwiseBuilder::in_place_pairs() const {
  std::vector<int> writer(regs_.size(), -1), last_read(regs_.size(), -1);
  for (size_t i = 0; i < instrs_.size(); ++i) {
    const Instr& in = instrs_[i];
    writer[in.out] = static_cast<int>(i);
    for (int operand : {in.a, in.b, in.c}) {
      if (operand >= 0) last_read[operand] = static_cast<int>(i);
    }
  }
  // Reductions read their registers after every instruction of a chunk.
  for (const Reduction& r : reductions_) last_read[r.reg] = static_cast<int>(instrs_.size());
  // Per source slot: whether every register on it is a plain dense read, the
  // last instruction reading any of them, and their itemsize.
  struct Source {
    bool plain = true;
    int last_read = -1;
    size_t itemsize = 0;
  };
  std::map<int, Source> sources;
  for (size_t k = 0; k < regs_.size(); ++k) {
    const Register& r = regs_[k];
    if (r.constant || writer[k] >= 0 || r.slot < 0) continue;
    Source& source = sources[r.slot];
    const size_t size = itemsize(r.dtype);
    source.plain = source.plain && r.dense && r.view.offset == 0 &&
                   (source.itemsize == 0 || source.itemsize == size);
    source.itemsize = size;
    source.last_read = std::max(source.last_read, last_read[k]);
  }
  std::vector<std::pair<int, int>> pairs;
  for (size_t k = 0; k < regs_.size(); ++k) {
    const Register& out = regs_[k];
    if (writer[k] < 0 || out.slot < 0) continue;  // not an output
    for (const auto& [slot, source] : sources) {
      if (source.plain && source.itemsize == itemsize(out.dtype) && source.last_read < writer[k]) {
        pairs.emplace_back(slot, out.slot);
      }
    }
  }
  return pairs;
}

namespace {

template <typename T>
void fill_constant(void* dst, const ir::Attr& value, int64_t n) {
  T v{};
  if (value.kind == ir::Attr::Kind::kFloat) v = static_cast<T>(value.f);
  if (value.kind == ir::Attr::Kind::kInt) v = static_cast<T>(value.i);
  if (value.kind == ir::Attr::Kind::kBool) v = static_cast<T>(value.b);
  std::fill_n(static_cast<T*>(dst), n, v);
}

}  // namespace

Kernel ElementwiseBuilder::build() const {
  // The run state, built once: a kernel is not reentrant (neither is the
  // program that owns it), so registers and scratch are reused across runs.
  // A large kernel splits its chunks into contiguous ranges, one per part
  // (run_parts, thread_pool.h); each part has its own registers and scratch,
  // and the constants are shared (read only). Elementwise results do not
  // depend on the split, and each in-place pair still reads chunk k of its
  // source before writing chunk k of its output (in_place_pairs()).
  struct Part {
    std::vector<void*> reg;   // per register: the current chunk
    std::vector<char> bytes;  // this part's scratch blocks (+ alignment room)
  };
  struct Plan {
    std::vector<Register> regs;
    std::vector<Instr> instrs;
    int64_t total = 0;
    int64_t chunk = 0;                       // elements per register block
    int64_t work_per_chunk = 0;              // elements x instructions
    std::vector<size_t> size;                // itemsize per register
    std::vector<int> gathered;               // registers filled by a strided gather per chunk
    std::vector<int> pointed;                // registers pointing into a dense source or an output
    std::vector<std::ptrdiff_t> scratch_at;  // per register: its block's offset, or -1
    size_t scratch_bytes = 0;
    std::vector<char> constants_bytes;  // one chunk per constant, filled once
    char* constants = nullptr;
    std::vector<std::ptrdiff_t> constant_at;  // per register: its constant's offset, or -1
    std::vector<Part> parts;                  // made on first use
    std::vector<ReductionFold> reductions;
  };
  auto plan = std::make_shared<Plan>();
  Plan& p = *plan;
  p.regs = regs_;
  p.instrs = instrs_;
  p.total = numel(shape_);
  size_t widest = 1;
  for (const Register& r : regs_) widest = std::max(widest, itemsize(r.dtype));
  p.chunk = std::max<int64_t>(1, std::min(kBlockBytes / static_cast<int64_t>(widest), p.total));
  p.work_per_chunk = p.chunk * std::max<int64_t>(1, static_cast<int64_t>(instrs_.size()));
  // Register blocks start on cache lines, so vector loads never straddle two.
  constexpr size_t kLine = 64;
  const size_t block = (static_cast<size_t>(p.chunk) * widest + kLine - 1) / kLine * kLine;

  // Which registers need a scratch block: gathered sources (filled at the
  // start of each chunk) and intermediate results. A block is handed back
  // after its register's last reader and reused by a later result, never by
  // the result of an instruction reading it (so loops do not alias).
  std::vector<bool> written(regs_.size(), false);
  std::vector<int> last_read(regs_.size(), -1);
  for (size_t i = 0; i < instrs_.size(); ++i) {
    const Instr& in = instrs_[i];
    written[in.out] = true;
    for (int operand : {in.a, in.b, in.c}) {
      if (operand >= 0) last_read[operand] = static_cast<int>(i);
    }
  }
  for (const Reduction& r : reductions_) {
    // Its register stays live until the end of each chunk.
    last_read[r.reg] = static_cast<int>(instrs_.size());
    p.reductions.emplace_back(r, regs_[r.reg].dtype);
  }
  std::vector<bool> in_scratch(regs_.size(), false);
  p.scratch_at.assign(regs_.size(), -1);
  p.constant_at.assign(regs_.size(), -1);
  size_t constant_bytes = 0;
  for (size_t k = 0; k < regs_.size(); ++k) {
    const Register& r = regs_[k];
    p.size.push_back(itemsize(r.dtype));
    if (r.constant) {
      p.constant_at[k] = static_cast<std::ptrdiff_t>(constant_bytes);
      constant_bytes += block;
    } else if (written[k] ? r.slot < 0 : !r.dense) {
      in_scratch[k] = true;
      if (!written[k]) p.gathered.push_back(static_cast<int>(k));
    } else {
      p.pointed.push_back(static_cast<int>(k));
    }
  }
  std::vector<std::ptrdiff_t> free_blocks;
  std::ptrdiff_t blocks = 0;
  auto take_block = [&] {
    if (free_blocks.empty()) return static_cast<std::ptrdiff_t>(block) * blocks++;
    const std::ptrdiff_t at = free_blocks.back();
    free_blocks.pop_back();
    return at;
  };
  for (int k : p.gathered) p.scratch_at[k] = take_block();
  for (size_t i = 0; i < instrs_.size(); ++i) {
    const Instr& in = instrs_[i];
    if (in_scratch[in.out]) p.scratch_at[in.out] = take_block();
    // Operands read for the last time, and a result nobody reads.
    for (int k : {in.a, in.b, in.c, in.out}) {
      if (k < 0 || !in_scratch[k] || last_read[k] > static_cast<int>(i)) continue;
      if (std::find(free_blocks.begin(), free_blocks.end(), p.scratch_at[k]) == free_blocks.end()) {
        free_blocks.push_back(p.scratch_at[k]);  // once, for an operand named twice
      }
    }
  }
  p.scratch_bytes = static_cast<size_t>(blocks) * block;

  // Pointers to `bytes` moved to the next cache line (room for it is added).
  auto aligned = [](std::vector<char>& bytes, size_t size) {
    bytes.resize(size + kLine);
    const auto address = reinterpret_cast<uintptr_t>(bytes.data());
    return bytes.data() + (kLine - address % kLine) % kLine;
  };
  p.constants = aligned(p.constants_bytes, constant_bytes);
  for (size_t k = 0; k < regs_.size(); ++k) {
    if (p.constant_at[k] < 0) continue;
    visit(regs_[k].dtype, [&](auto tag) {
      fill_constant<typename decltype(tag)::type>(p.constants + p.constant_at[k], regs_[k].value,
                                                  p.chunk);
    });
  }
  auto make_part = [aligned](Plan& p) {
    Part part;
    char* scratch = aligned(part.bytes, p.scratch_bytes);
    part.reg.assign(p.regs.size(), nullptr);
    for (size_t k = 0; k < p.regs.size(); ++k) {
      if (p.constant_at[k] >= 0) part.reg[k] = p.constants + p.constant_at[k];
      if (p.scratch_at[k] >= 0) part.reg[k] = scratch + p.scratch_at[k];
    }
    return part;
  };
  p.parts.push_back(make_part(p));

  // Chunks [first, last) of the iteration space with part `part`'s registers.
  auto run_chunks = [](Plan& p, Part& part, void* const* slots, int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) {
      const int64_t start = c * p.chunk;
      const int64_t n = std::min(p.chunk, p.total - start);
      for (int k : p.pointed) {
        part.reg[k] = static_cast<char*>(slots[p.regs[k].slot]) +
                      static_cast<size_t>(p.regs[k].view.offset + start) * p.size[k];
      }
      for (int k : p.gathered) {
        const Register& r = p.regs[k];
        visit(r.dtype, [&](auto tag) {
          using T = typename decltype(tag)::type;
          gather_strided<T>(static_cast<T*>(part.reg[k]), static_cast<const T*>(slots[r.slot]),
                            r.view, start, n);
        });
      }
      for (const Instr& in : p.instrs) in.fn(in, part.reg.data(), n);
      for (ReductionFold& r : p.reductions) r.add(part.reg[r.reduction().reg], start, n);
    }
  };
  return [plan, make_part, run_chunks](void* const* slots) {
    Plan& p = *plan;
    const int64_t chunks = (p.total + p.chunk - 1) / p.chunk;
    if (!p.reductions.empty()) {  // one thread: the summation order is fixed
      for (ReductionFold& r : p.reductions) r.start();
      run_chunks(p, p.parts[0], slots, 0, chunks);
      for (const ReductionFold& r : p.reductions) r.finish(slots[r.reduction().slot]);
      return;
    }
    // One part per kWorkPerPart of element-instructions, at most one per
    // program thread: a smaller share would not pay for waking a worker.
    const int64_t by_work = chunks * p.work_per_chunk / kWorkPerPart;
    const int parts = by_work < 2
                          ? 1
                          : static_cast<int>(std::min<int64_t>(
                                {by_work, chunks, static_cast<int64_t>(program_threads())}));
    if (parts == 1) {
      run_chunks(p, p.parts[0], slots, 0, chunks);
      return;
    }
    while (static_cast<int>(p.parts.size()) < parts) p.parts.push_back(make_part(p));
    run_parts(parts, [&](int part) {
      run_chunks(p, p.parts[static_cast<size_t>(part)], slots, chunks * part / parts,
                 chunks * (part + 1) / parts);
    });
  };
}

}  // namespace janus::cpu
