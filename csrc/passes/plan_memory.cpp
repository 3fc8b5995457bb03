// Memory planning: offsets in one arena for results that are never alive at
// the same time; graph outputs live in the caller's buffers (see passes.h).
#include <algorithm>
#include <map>
#include <set>

#include "passes/passes.h"

namespace janus::passes {
namespace {

size_t itemsize(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::kFloat64:
    case ir::DType::kInt64:
      return 8;
    case ir::DType::kFloat32:
    case ir::DType::kInt32:
      return 4;
    case ir::DType::kFloat16:
    case ir::DType::kInt16:
      return 2;
    default:
      return 1;
  }
}

size_t align(size_t bytes) {
  return (bytes + MemoryPlan::kAlignment - 1) / MemoryPlan::kAlignment * MemoryPlan::kAlignment;
}

struct Interval {
  const ir::Value* value;
  size_t bytes;
  int first, last;  // node indices, inclusive
};

}  // namespace

size_t bytes_of(const ir::TensorType& type) {
  size_t count = 1;
  for (const ir::Dim& dim : type.shape) {
    if (!dim.is_known()) return 0;
    count *= static_cast<size_t>(dim.size);
  }
  return count * itemsize(type.dtype);
}

MemoryPlan plan_memory(const ir::Graph& graph) {
  const auto& nodes = graph.nodes();
  const int end = static_cast<int>(nodes.size());
  std::map<const ir::Value*, int> last_use;
  for (int i = 0; i < end; ++i) {
    for (const ir::Operand& operand : nodes[i]->operands) {
      if (const auto* value = std::get_if<ir::Value*>(&operand)) last_use[*value] = i;
    }
  }
  const std::set<const ir::Value*> graph_outputs(graph.outputs().begin(), graph.outputs().end());

  MemoryPlan plan;
  std::vector<Interval> intervals;
  for (int i = 0; i < end; ++i) {
    for (const ir::Value* out : nodes[i]->outputs) {
      const size_t bytes = bytes_of(out->type);
      const bool symbolic = std::any_of(out->type.shape.begin(), out->type.shape.end(),
                                        [](const ir::Dim& d) { return !d.is_known(); });
      if (symbolic) {
        plan.dynamic.push_back(out);
        continue;
      }
      if (graph_outputs.count(out)) {
        plan.caller_owned.push_back(out);
        continue;
      }
      const auto used = last_use.find(out);
      intervals.push_back({out, align(std::max<size_t>(bytes, 1)), i,
                           used == last_use.end() ? i : std::max(i, used->second)});
      plan.unshared_bytes += intervals.back().bytes;
    }
  }
  // Largest first; ties in definition order, so plans are deterministic.
  std::stable_sort(intervals.begin(), intervals.end(),
                   [](const Interval& a, const Interval& b) { return a.bytes > b.bytes; });
  std::vector<const Interval*> placed;
  for (const Interval& item : intervals) {
    // Blocks already placed whose lifetimes overlap this one, by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (const Interval* other : placed) {
      if (other->first <= item.last && item.first <= other->last) {
        const size_t start = plan.offset.at(other->value);
        busy.emplace_back(start, start + other->bytes);
      }
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [start, stop] : busy) {
      if (offset + item.bytes <= start) break;  // fits in the gap before this block
      offset = std::max(offset, stop);
    }
    plan.offset[item.value] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + item.bytes);
    placed.push_back(&item);
  }
  return plan;
}

}  // namespace janus::passes
