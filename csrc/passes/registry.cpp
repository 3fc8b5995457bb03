// Passes by name, and the debug-build verification after each one.
#include <stdexcept>

#include "passes/passes.h"

namespace janus::passes {
namespace {

struct NamedPass {
  const char* name;
  int (*run)(ir::Graph&);
};

// In the order a default pipeline runs them: simplify first so that the
// duplicates and dead values it exposes are removed after it.
constexpr NamedPass kPasses[] = {
    {"simplify", simplify_algebra},
    {"cse", eliminate_common_subexpressions},
    {"dce", eliminate_dead_code},
};

}  // namespace

std::vector<std::string> pass_names() {
  std::vector<std::string> names;
  for (const NamedPass& pass : kPasses) names.emplace_back(pass.name);
  return names;
}

int run_pass(ir::Graph& graph, const std::string& name) {
  for (const NamedPass& pass : kPasses) {
    if (name != pass.name) continue;
    const int rewrites = pass.run(graph);
#ifndef NDEBUG
    ir::check(graph);  // a pass must never leave a malformed graph
#endif
    return rewrites;
  }
  throw std::invalid_argument("unknown pass '" + name + "'");
}

}  // namespace janus::passes
