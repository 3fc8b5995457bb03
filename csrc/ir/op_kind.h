// The IR's op kinds: one per op of the Python op table (ops.def), then the
// structural kinds the compiler adds (structural_ops.def).
#pragma once

#include <optional>
#include <string>

namespace janus::ir {

enum class OpKind {
#define JANUS_OP(name, outputs) name,
#include "ir/ops.def"
#include "ir/structural_ops.def"
#undef JANUS_OP
};

const char* op_name(OpKind kind);
// The number of results, or -1 where it depends on the attributes (split, unique).
int op_outputs(OpKind kind);
std::optional<OpKind> op_from_name(const std::string& name);
int op_count();
// Whether `kind` is a structural kind (fused, constant) rather than a table op.
bool is_structural(OpKind kind);

}  // namespace janus::ir
