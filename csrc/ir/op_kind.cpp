#include "ir/op_kind.h"

#include <unordered_map>

namespace janus::ir {
namespace {

struct OpInfo {
  const char* name;
  int outputs;
};

constexpr OpInfo kOps[] = {
#define JANUS_OP(name, outputs) {#name, outputs},
#include "ir/ops.def"
#include "ir/structural_ops.def"
#undef JANUS_OP
};

// The table's ops come first; structural kinds follow them.
constexpr int kTableOps = 0
#define JANUS_OP(name, outputs) +1
#include "ir/ops.def"
#undef JANUS_OP
    ;

}  // namespace

const char* op_name(OpKind kind) { return kOps[static_cast<int>(kind)].name; }

int op_outputs(OpKind kind) { return kOps[static_cast<int>(kind)].outputs; }

bool is_structural(OpKind kind) { return static_cast<int>(kind) >= kTableOps; }

int op_count() { return static_cast<int>(sizeof kOps / sizeof kOps[0]); }

std::optional<OpKind> op_from_name(const std::string& name) {
  static const std::unordered_map<std::string, OpKind> by_name = [] {
    std::unordered_map<std::string, OpKind> table;
    for (int k = 0; k < op_count(); ++k) table.emplace(kOps[k].name, static_cast<OpKind>(k));
    return table;
  }();
  auto found = by_name.find(name);
  if (found == by_name.end()) return std::nullopt;
  return found->second;
}

}  // namespace janus::ir
