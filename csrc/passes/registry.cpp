// Passes by name, run on a graph and every subgraph in it (regions of control
// nodes, the module's functions), and the debug-build verification after each.
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
    {"batch_matmuls", batch_matmuls},      // before dce: it leaves the products it replaced
    {"fold_transposes", fold_transposes},  // after batch_matmuls (its permute(cat)), before dce
    {"dce", eliminate_dead_code},
    {"fuse", fuse_elementwise},
};

// Runs `run` on `graph`, then on every region and function inside it: each
// subgraph is a graph of its own (values enter only as its inputs), so a pass
// treats it like any graph.
int run_everywhere(ir::Graph& graph, int (*run)(ir::Graph&)) {
  int rewrites = run(graph);
  for (const auto& node : graph.nodes()) {
    for (const auto& region : node->regions) rewrites += run_everywhere(*region, run);
  }
  for (const auto& [name, function] : graph.functions()) rewrites += run_everywhere(*function, run);
  return rewrites;
}

}  // namespace

std::vector<std::string> pass_names() {
  std::vector<std::string> names;
  for (const NamedPass& pass : kPasses) names.emplace_back(pass.name);
  return names;
}

int run_pass(ir::Graph& graph, const std::string& name) {
  for (const NamedPass& pass : kPasses) {
    if (name != pass.name) continue;
    const int rewrites = run_everywhere(graph, pass.run);
#ifndef NDEBUG
    ir::check(graph);    // a pass must never leave a malformed graph,
    infer_types(graph);  // nor one whose types its ops contradict
#endif
    return rewrites;
  }
  throw std::invalid_argument("unknown pass '" + name + "'");
}

}  // namespace janus::passes
