// The IR's op kinds, one per op of the Python op table (see ops.def).
#pragma once

#include <optional>
#include <string>

namespace janus::ir {

enum class OpKind {
#define JANUS_OP(name, outputs) name,
#include "ir/ops.def"
#undef JANUS_OP
};

const char* op_name(OpKind kind);
// The number of results, or -1 where it depends on the attributes (split, unique).
int op_outputs(OpKind kind);
std::optional<OpKind> op_from_name(const std::string& name);
int op_count();

}  // namespace janus::ir
