// einsum (janus.ops.linalg: explicit or implicit output, no '...', no letter
// twice in one operand) as permutes plus batched GEMM. Operands are contracted
// left to right; each step packs its two operands into (batch, M, K) and
// (batch, K, N) matrices (summing letters nobody else needs, repeating
// size-1 dims that broadcast) and runs one GEMM per batch element. Letters of
// the product: batch (in both, needed later), M (left only), N (right only),
// K (in both, not needed later). A final pack puts the letters in the output's
// order; a single operand is just that pack.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/cpu/dtype.h"
#include "runtime/cpu/gemm.h"
#include "runtime/cpu/lower.h"

namespace janus::cpu {
namespace {

// A tensor as einsum sees it: one letter per dim, a stride per letter.
struct Labeled {
  std::string letters;
  std::map<char, int64_t> stride;  // 0 where a size-1 dim broadcasts
  int slot = -1;                   // an operand slot, or -1: scratch buffer `buffer`
  int buffer = -1;
};

// Gathers `from` into a contiguous buffer whose dims are `order`, summing
// over `summed`: out[i] = sum_s from[offset(i) + offset(s)].
struct Pack {
  std::vector<int64_t> out_offsets, sum_offsets;  // into `from`, precomputed
  bool identity = false;                          // the buffer is `from` itself
};

std::vector<int64_t> offsets(const Labeled& t, const std::string& letters,
                             const std::map<char, int64_t>& sizes) {
  std::vector<int64_t> out = {0};
  for (char c : letters) {
    const int64_t stride = t.stride.count(c) ? t.stride.at(c) : 0;
    std::vector<int64_t> next;
    for (int64_t o : out) {
      for (int64_t k = 0; k < sizes.at(c); ++k) next.push_back(o + k * stride);
    }
    out = std::move(next);
  }
  return out;
}

Pack make_pack(const Labeled& from, const std::string& order, const std::string& summed,
               const std::map<char, int64_t>& sizes) {
  Pack p;
  p.out_offsets = offsets(from, order, sizes);
  p.sum_offsets = offsets(from, summed, sizes);
  // Already laid out as `order` (contiguous, nothing repeated): use it as is.
  p.identity = summed.empty() && order == from.letters;
  int64_t stride = 1;
  for (size_t i = order.size(); p.identity && i-- > 0;) {
    p.identity = from.stride.at(order[i]) == stride;
    stride *= sizes.at(order[i]);
  }
  return p;
}

// Runs the pack into `out` (unless it is an identity) and returns the packed data.
template <typename T>
const T* run_pack(const Pack& p, const T* from, T* out) {
  if (p.identity) return from;
  for (size_t i = 0; i < p.out_offsets.size(); ++i) {
    T sum = 0;
    for (int64_t s : p.sum_offsets) sum += from[p.out_offsets[i] + s];
    out[i] = sum;
  }
  return out;
}

// One contraction: left (batch, M, K) @ right (batch, K, N) -> (batch, M, N).
struct Step {
  Labeled left, right;
  Pack pack_left, pack_right;
  int64_t batch = 1, m = 1, n = 1, k = 1;
  int packed_left = -1, packed_right = -1;  // buffers of the packs (unless identities)
  int buffer = -1;                          // where the product goes
};

bool has(const std::string& s, char c) { return s.find(c) != std::string::npos; }

struct Plan {
  std::vector<Step> steps;
  Labeled result;  // the last product (or the only operand)
  Pack final_pack;
  std::vector<size_t> buffer_sizes;
};

Labeled contiguous(const std::string& letters, const std::map<char, int64_t>& sizes, int buffer) {
  Labeled t;
  t.letters = letters;
  t.buffer = buffer;
  int64_t stride = 1;
  for (size_t i = letters.size(); i-- > 0;) {
    t.stride[letters[i]] = stride;
    stride *= sizes.at(letters[i]);
  }
  return t;
}

Plan make_plan(std::vector<Labeled> operands, const std::string& output,
               const std::map<char, int64_t>& sizes) {
  Plan plan;
  auto new_buffer = [&](size_t elements) {
    plan.buffer_sizes.push_back(elements);
    return static_cast<int>(plan.buffer_sizes.size() - 1);
  };
  auto count = [&](const std::string& letters) {
    int64_t n = 1;
    for (char c : letters) n *= sizes.at(c);
    return n;
  };
  Labeled acc = operands[0];
  for (size_t i = 1; i < operands.size(); ++i) {
    const Labeled& right = operands[i];
    std::string later = output;  // letters still needed after this step
    for (size_t j = i + 1; j < operands.size(); ++j) later += operands[j].letters;
    std::string batch, m, n, k, sum_left, sum_right;
    for (char c : acc.letters) {
      const bool needed = has(later, c), shared = has(right.letters, c);
      (shared ? (needed ? batch : k) : (needed ? m : sum_left)) += c;
    }
    for (char c : right.letters) {
      if (!has(acc.letters, c)) (has(later, c) ? n : sum_right) += c;
    }
    Step step;
    step.batch = count(batch), step.m = count(m), step.n = count(n), step.k = count(k);
    step.left = acc;
    step.right = right;
    step.pack_left = make_pack(acc, batch + m + k, sum_left, sizes);
    step.pack_right = make_pack(right, batch + k + n, sum_right, sizes);
    if (!step.pack_left.identity) step.packed_left = new_buffer(step.pack_left.out_offsets.size());
    if (!step.pack_right.identity) {
      step.packed_right = new_buffer(step.pack_right.out_offsets.size());
    }
    step.buffer = new_buffer(static_cast<size_t>(step.batch * step.m * step.n));
    acc = contiguous(batch + m + n, sizes, step.buffer);
    plan.steps.push_back(std::move(step));
  }
  std::string summed;
  for (char c : acc.letters) {
    if (!has(output, c)) summed += c;
  }
  plan.result = acc;
  plan.final_pack = make_pack(acc, output, summed, sizes);
  return plan;
}

// Parses "ab,bc->ac" (or implicit "ab,bc"): the operands' letters and the output's.
std::pair<std::vector<std::string>, std::string> parse(std::string equation, size_t operands) {
  equation.erase(std::remove(equation.begin(), equation.end(), ' '), equation.end());
  const size_t arrow = equation.find("->");
  const std::string inputs = equation.substr(0, arrow);
  std::vector<std::string> subs(1);
  for (char c : inputs) {
    if (c == ',') {
      subs.emplace_back();
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      subs.back() += c;
    } else {
      throw Unsupported("einsum: subscript " + std::string(1, c));
    }
  }
  std::string output;
  if (arrow != std::string::npos) {
    output = equation.substr(arrow + 2);
  } else {  // implicit: letters used once, in alphabetical order
    for (char c : std::string(inputs)) {
      if (c != ',' && std::count(inputs.begin(), inputs.end(), c) == 1) output += c;
    }
    std::sort(output.begin(), output.end());
  }
  if (subs.size() != operands) throw Unsupported("einsum: operand count");
  for (const std::string& s : subs) {
    for (char c : s) {
      if (std::count(s.begin(), s.end(), c) != 1) throw Unsupported("einsum: repeated letter");
    }
  }
  for (char c : output) {
    if (std::count(output.begin(), output.end(), c) != 1 || inputs.find(c) == std::string::npos) {
      throw Unsupported("einsum: output letters");
    }
  }
  return {subs, output};
}

template <typename T>
Kernel einsum_kernel(const Plan& plan, int so) {
  auto buffers = std::make_shared<std::vector<std::vector<T>>>();
  for (size_t n : plan.buffer_sizes) buffers->emplace_back(n);
  return [=](void* const* slots) {
    std::vector<std::vector<T>>& buf = *buffers;
    auto data = [&](const Labeled& t) -> const T* {
      return t.slot >= 0 ? static_cast<const T*>(slots[t.slot]) : buf[t.buffer].data();
    };
    auto scratch = [&](const Pack& p, int buffer) {
      return p.identity ? nullptr : buf[buffer].data();
    };
    for (const Step& s : plan.steps) {
      const T* a = run_pack(s.pack_left, data(s.left), scratch(s.pack_left, s.packed_left));
      const T* b = run_pack(s.pack_right, data(s.right), scratch(s.pack_right, s.packed_right));
      T* c = buf[s.buffer].data();
      for (int64_t e = 0; e < s.batch; ++e) {
        gemm<T>(false, false, s.m, s.n, s.k, T(1), a + e * s.m * s.k, s.k, b + e * s.k * s.n, s.n,
                T(0), c + e * s.m * s.n, s.n);
      }
    }
    Pack final = plan.final_pack;
    final.identity = false;  // always written into the output
    run_pack(final, data(plan.result), static_cast<T*>(slots[so]));
  };
}

}  // namespace

Kernel lower_einsum(const LowerContext& ctx) {
  const ir::DType dtype = ctx.out_type().dtype;
  const auto [subs, output] = parse(ctx.attr("equation").s, ctx.node.operands.size());
  std::map<char, int64_t> sizes;
  std::vector<Labeled> operands;
  for (size_t i = 0; i < subs.size(); ++i) {
    if (ctx.value(i)->type.dtype != dtype) throw Unsupported("einsum of mixed dtypes");
    const Shape shape = shape_of(ctx.value(i)->type);
    if (shape.size() != subs[i].size()) throw Unsupported("einsum: subscripts and rank differ");
    Labeled t;
    t.letters = subs[i];
    t.slot = ctx.operand_slots[i];
    const Strides strides = contiguous_strides(shape);
    for (size_t d = 0; d < shape.size(); ++d) {
      const char c = subs[i][d];
      t.stride[c] = shape[d] == 1 ? -1 : strides[d];  // -1: size 1, fixed below
      // Sizes of a letter agree, or one is 1 (it repeats); 0 broadcasts with 1 only.
      const auto [it, first] = sizes.emplace(c, shape[d]);
      if (first || shape[d] == it->second || shape[d] == 1) continue;
      if (it->second != 1) throw Unsupported("einsum: operands do not broadcast");
      it->second = shape[d];
    }
    operands.push_back(std::move(t));
  }
  for (size_t i = 0; i < operands.size(); ++i) {  // size-1 dims repeat where the letter is longer
    const Strides strides = contiguous_strides(shape_of(ctx.value(i)->type));
    for (size_t d = 0; d < subs[i].size(); ++d) {
      int64_t& stride = operands[i].stride[subs[i][d]];
      if (stride == -1) stride = sizes[subs[i][d]] == 1 ? strides[d] : 0;
    }
  }
  Shape want;
  for (char c : output) want.push_back(sizes[c]);
  if (shape_of(ctx.out_type()) != want) throw Unsupported("einsum: output shape");
  const Plan plan = make_plan(operands, output, sizes);
  const int so = ctx.output_slots[0];
  return visit_float(dtype, [&](auto tag) -> Kernel {
    return einsum_kernel<typename decltype(tag)::type>(plan, so);
  });
}

}  // namespace janus::cpu
