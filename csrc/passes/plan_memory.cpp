// Memory planning: offsets in one arena for results that are never alive at
// the same time; graph outputs live in the caller's buffers (see passes.h).
#include <algorithm>
#include <map>
#include <optional>
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

// One arena block: a planned result, or a chain of results each written
// in place over the one before.
struct Block {
  std::vector<const ir::Value*> values;  // in definition order
  size_t bytes;
  int first, last;           // node indices, inclusive: the first producer, the last reader
  std::vector<int> readers;  // of every value (so every producer but the first)
  bool aliased = false;      // holds an alias: two values alive at once, never written over
};

// Which nodes are sure to finish before which start when the streams of
// `streams` run concurrently: reachability over data edges plus each
// stream's own sequence (as 64-bit words per node).
class StreamOrder {
 public:
  StreamOrder(const ir::Graph& graph, const StreamAssignment& streams)
      : n_(graph.nodes().size()), words_((n_ + 63) / 64), reach_(n_ * words_, 0) {
    std::map<const ir::Node*, size_t> index;
    for (size_t k = 0; k < n_; ++k) index[graph.nodes()[k].get()] = k;
    std::vector<std::vector<size_t>> next(n_);
    std::map<int, size_t> last_in_stream;
    for (size_t v = 0; v < n_; ++v) {
      for (const ir::Operand& operand : graph.nodes()[v]->operands) {
        const auto* value = std::get_if<ir::Value*>(&operand);
        if (value != nullptr && (*value)->producer != nullptr) {
          next[index.at((*value)->producer)].push_back(v);
        }
      }
      const auto [previous, first] = last_in_stream.emplace(streams.stream.at(v), v);
      if (!first) {
        next[previous->second].push_back(v);
        previous->second = v;
      }
    }
    for (size_t u = n_; u-- > 0;) {  // edges go forward in graph order
      for (size_t v : next[u]) {
        reach_[u * words_ + v / 64] |= uint64_t(1) << (v % 64);
        for (size_t w = 0; w < words_; ++w) reach_[u * words_ + w] |= reach_[v * words_ + w];
      }
    }
  }
  bool before(size_t u, size_t v) const { return reach_[u * words_ + v / 64] >> (v % 64) & 1; }

 private:
  size_t n_, words_;
  std::vector<uint64_t> reach_;
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

MemoryPlan plan_memory(const ir::Graph& graph, const StreamAssignment* parallel,
                       const InPlacePairs& in_place, const InPlacePairs& aliases) {
  const auto& nodes = graph.nodes();
  const int end = static_cast<int>(nodes.size());
  std::map<const ir::Value*, int> last_use;
  std::map<const ir::Value*, std::vector<int>> readers;
  for (int i = 0; i < end; ++i) {
    for (const ir::Operand& operand : nodes[i]->operands) {
      if (const auto* value = std::get_if<ir::Value*>(&operand)) {
        last_use[*value] = i;
        readers[*value].push_back(i);
      }
    }
  }
  const std::set<const ir::Value*> graph_outputs(graph.outputs().begin(), graph.outputs().end());
  std::map<const ir::Value*, std::vector<const ir::Value*>> reusable;  // result -> operands
  for (const auto& [operand, result] : in_place) reusable[result].push_back(operand);
  std::map<const ir::Value*, const ir::Value*> alias_of;  // result -> operand
  for (const auto& [operand, result] : aliases) alias_of[result] = operand;

  // Whether two blocks' lifetimes may overlap at run time.
  std::optional<StreamOrder> order;
  if (parallel != nullptr) order.emplace(graph, *parallel);
  auto done_before = [&](const Block& a, const Block& b) {
    if (!order->before(a.first, b.first)) return false;
    for (int reader : a.readers) {
      if (!order->before(reader, b.first)) return false;
    }
    return true;
  };
  auto overlap = [&](const Block& a, const Block& b) {
    if (!order) return a.first <= b.last && b.first <= a.last;
    return !done_before(a, b) && !done_before(b, a);
  };

  MemoryPlan plan;
  std::vector<Block> blocks;
  std::map<const ir::Value*, size_t> block_of;
  // Whether node `i` may write over `operand`'s block: it is the operand's
  // last reader, and with parallel streams every other reader finishes first.
  auto last_reader = [&](const ir::Value* operand, int i) {
    if (last_use.at(operand) != i) return false;
    for (int reader : readers.at(operand)) {
      if (order && reader != i && !order->before(reader, i)) return false;
    }
    return true;
  };
  for (int i = 0; i < end; ++i) {
    for (const ir::Value* out : nodes[i]->outputs) {
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
      const size_t bytes = align(std::max<size_t>(bytes_of(out->type), 1));
      const auto used = last_use.find(out);
      const int last = used == last_use.end() ? i : std::max(i, used->second);
      const std::vector<int>& read_by = readers[out];  // (empty for a result nobody reads)
      plan.unshared_bytes += bytes;
      const ir::Value* over = nullptr;  // the operand whose block `out` takes
      bool alias = false;
      if (const auto a = alias_of.find(out); a != alias_of.end()) {
        const auto b = block_of.find(a->second);
        // (Not planned: a graph input or a caller's buffer, which `out` is then copied from.)
        if (b != block_of.end() && blocks[b->second].bytes >= bytes) over = a->second, alias = true;
      }
      for (const ir::Value* operand : alias ? std::vector<const ir::Value*>{} : reusable[out]) {
        const auto b = block_of.find(operand);
        if (b == block_of.end()) continue;  // not planned: a caller's buffer
        const Block& block = blocks[b->second];
        // The block still holds the operand (no other result of this node
        // took it), is the same size, and the operand dies here; no alias
        // of it may be read later.
        if (block.values.back() == operand && block.bytes == bytes && !block.aliased &&
            last_reader(operand, i)) {
          over = operand;
          break;
        }
      }
      if (over != nullptr) {
        Block& block = blocks[block_of.at(over)];
        block.values.push_back(out);
        block.last = std::max(block.last, last);
        block.readers.insert(block.readers.end(), read_by.begin(), read_by.end());
        block.aliased = block.aliased || alias;
        block_of[out] = block_of.at(over);
        (alias ? plan.aliased : plan.reused)[out] = over;
      } else {
        block_of[out] = blocks.size();
        blocks.push_back({{out}, bytes, i, last, read_by});
      }
    }
  }
  // Largest first; ties in definition order, so plans are deterministic.
  std::vector<const Block*> by_size;
  for (const Block& block : blocks) by_size.push_back(&block);
  std::stable_sort(by_size.begin(), by_size.end(),
                   [](const Block* a, const Block* b) { return a->bytes > b->bytes; });
  std::vector<std::pair<const Block*, size_t>> placed;  // with offsets
  for (const Block* item : by_size) {
    // Blocks already placed whose lifetimes overlap this one, by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (const auto& [other, start] : placed) {
      if (overlap(*other, *item)) busy.emplace_back(start, start + other->bytes);
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [start, stop] : busy) {
      if (offset + item->bytes <= start) break;  // fits in the gap before this block
      offset = std::max(offset, stop);
    }
    for (const ir::Value* value : item->values) plan.offset[value] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + item->bytes);
    placed.emplace_back(item, offset);
  }
  return plan;
}

std::vector<int> exclusive_slots(const ir::Graph& graph, const StreamAssignment* parallel,
                                 const std::vector<int>& nodes) {
  std::vector<int> slots;
  if (parallel == nullptr) {
    slots.assign(nodes.size(), 0);
    return slots;
  }
  const StreamOrder order(graph, *parallel);
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::set<int> taken;  // slots of earlier nodes that may still run
    for (size_t j = 0; j < i; ++j) {
      if (!order.before(nodes[j], nodes[i])) taken.insert(slots[j]);
    }
    int slot = 0;
    while (taken.count(slot)) ++slot;
    slots.push_back(slot);
  }
  return slots;
}

}  // namespace janus::passes
