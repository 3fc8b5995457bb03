// Passes by name, and the debug-build verification after each one.
#include <stdexcept>

#include "passes/passes.h"

namespace janus::passes {
namespace {

struct NamedPass {
  const char* name;
  int (*run)(ir::Graph&);
};

// In the order a default pipeline runs them: type inference first, so a graph
// whose recorded types disagree with the op rules is rejected before any
// rewrite (and IR text without types gets them); simplify and fold so that
// the duplicates and dead values they expose are removed after them; fusion
// last, on the graph that will run (it hides the ops it merges from the
// passes before it).
constexpr NamedPass kPasses[] = {
    {"infer_types", infer_types},  // fills in or checks every result's type
    {"simplify", simplify_algebra},
    {"fold", fold_constants},
    {"cse", eliminate_common_subexpressions},
    {"dce", eliminate_dead_code},
    {"fuse", fuse_elementwise},
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
    ir::check(graph);    // a pass must never leave a malformed graph,
    infer_types(graph);  // nor one whose types its ops contradict
#endif
    return rewrites;
  }
  throw std::invalid_argument("unknown pass '" + name + "'");
}

}  // namespace janus::passes
