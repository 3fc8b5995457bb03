#include "ir/structural.h"

#include <set>
#include <stdexcept>

namespace janus::ir {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

std::string ref_text(const FusedRef& ref) {
  return (ref.kind == FusedRef::kInput ? "in" : "t") + std::to_string(ref.index);
}

// "in3" -> input 3, "t0" -> temp 0; anything else fails.
FusedRef parse_ref(const std::string& text) {
  const bool input = text.rfind("in", 0) == 0;
  const bool temp = !input && text.rfind("t", 0) == 0;
  const std::string digits = text.substr(input ? 2 : 1);
  if ((!input && !temp) || digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    fail("fused body: bad operand reference \"" + text + "\" (expected \"inK\" or \"tK\")");
  }
  return {input ? FusedRef::kInput : FusedRef::kTemp, std::stoi(digits)};
}

bool is_number(const Attr& a) {
  return a.kind == Attr::Kind::kInt || a.kind == Attr::Kind::kFloat || a.kind == Attr::Kind::kBool;
}

const Attr& attr_of(const Node& node, const char* name, Attr::Kind kind) {
  const auto it = node.attrs.find(name);
  if (it == node.attrs.end() || it->second.kind != kind) {
    fail(std::string(op_name(node.kind)) + ": missing or malformed attribute '" + name + "'");
  }
  return it->second;
}

// Whether `from` broadcasts to `to` (numpy's rules, dims aligned on the right).
bool broadcasts(const std::vector<Dim>& from, const std::vector<Dim>& to) {
  if (from.size() > to.size()) return false;
  const size_t lead = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d) {
    if (!(from[d] == to[lead + d]) && from[d].size != 1) return false;
  }
  return true;
}

FusedInstr decode_instr(const Attr& item, size_t position) {
  const std::string where = "fused body, instruction " + std::to_string(position) + ": ";
  if (item.kind != Attr::Kind::kList || item.list.size() != 4 ||
      item.list[0].kind != Attr::Kind::kString || item.list[1].kind != Attr::Kind::kString ||
      item.list[2].kind != Attr::Kind::kList || item.list[3].kind != Attr::Kind::kList) {
    fail(where + "expected [op, dtype, [operands], [[name, value], ...]]");
  }
  FusedInstr instr{};
  const std::optional<OpKind> kind = op_from_name(item.list[0].s);
  if (!kind || is_structural(*kind)) fail(where + "unknown op '" + item.list[0].s + "'");
  instr.kind = *kind;
  try {
    instr.dtype = dtype_from_name(item.list[1].s);
  } catch (const std::invalid_argument& error) {
    fail(where + error.what());
  }
  for (const Attr& operand : item.list[2].list) {
    if (operand.kind == Attr::Kind::kString) {
      instr.operands.emplace_back(parse_ref(operand.s));
    } else if (is_number(operand)) {
      instr.operands.emplace_back(operand);
    } else {
      fail(where + "an operand must be a reference or a number, got " + to_string(operand));
    }
  }
  for (const Attr& pair : item.list[3].list) {
    if (pair.kind != Attr::Kind::kList || pair.list.size() != 2 ||
        pair.list[0].kind != Attr::Kind::kString) {
      fail(where + "attributes must be [name, value] pairs");
    }
    instr.attrs[pair.list[0].s] = pair.list[1];
  }
  return instr;
}

}  // namespace

std::map<std::string, Attr> fused_attrs(const FusedBody& body) {
  std::vector<Attr> instrs;
  for (const FusedInstr& instr : body.instrs) {
    std::vector<Attr> operands, attrs;
    for (const FusedOperand& operand : instr.operands) {
      if (const auto* ref = std::get_if<FusedRef>(&operand)) {
        operands.push_back(Attr::string(ref_text(*ref)));
      } else {
        operands.push_back(std::get<Attr>(operand));
      }
    }
    for (const auto& [name, value] : instr.attrs) {
      attrs.push_back(Attr::of_list({Attr::string(name), value}));
    }
    instrs.push_back(
        Attr::of_list({Attr::string(op_name(instr.kind)), Attr::string(dtype_name(instr.dtype)),
                       Attr::of_list(std::move(operands)), Attr::of_list(std::move(attrs))}));
  }
  std::vector<Attr> results;
  for (int r : body.results) results.push_back(Attr::integer(r));
  return {{"body", Attr::of_list(std::move(instrs))},
          {"results", Attr::of_list(std::move(results))}};
}

bool is_fused_reduction(OpKind kind) {
  return kind == OpKind::sum || kind == OpKind::mean || kind == OpKind::amax ||
         kind == OpKind::amin;
}

size_t FusedBody::elementwise_count() const {
  size_t count = instrs.size();
  while (count > 0 && is_fused_reduction(instrs[count - 1].kind)) --count;
  return count;
}

std::vector<bool> reduced_axes(const Attr* dims, size_t rank) {
  if (dims == nullptr || dims->kind == Attr::Kind::kNone ||
      (dims->kind == Attr::Kind::kList && dims->list.empty())) {
    return std::vector<bool>(rank, true);
  }
  const std::vector<Attr> items = dims->kind == Attr::Kind::kList ? dims->list : std::vector{*dims};
  const int64_t n = static_cast<int64_t>(rank), bound = std::max<int64_t>(n, 1);
  std::vector<bool> reduced(rank, false);
  for (const Attr& item : items) {
    if (item.kind != Attr::Kind::kInt && item.kind != Attr::Kind::kBool) {
      fail("dims must be an integer, got " + to_string(item));
    }
    const int64_t d = item.kind == Attr::Kind::kInt ? item.i : item.b;
    if (d < -bound || d >= bound) {
      fail("dim " + std::to_string(d) + " is out of range for rank " + std::to_string(n));
    }
    if (n > 0) reduced[static_cast<size_t>(d < 0 ? d + n : d)] = true;
  }
  return reduced;
}

std::vector<bool> reduced_axes(const std::map<std::string, Attr>& attrs, size_t rank) {
  const auto dims = attrs.find("dims");
  return reduced_axes(dims == attrs.end() ? nullptr : &dims->second, rank);
}

std::vector<Dim> reduced_shape(const std::vector<Dim>& shape, const std::vector<bool>& reduced,
                               bool keepdim) {
  std::vector<Dim> out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!reduced[d]) {
      out.push_back(shape[d]);
    } else if (keepdim) {
      out.push_back(Dim::known(1));
    }
  }
  return out;
}

std::vector<Dim> reduced_shape(const std::vector<Dim>& shape,
                               const std::map<std::string, Attr>& attrs) {
  // keepdim as the type rules read it: a bool, or an integer other than 0.
  const auto keepdim = attrs.find("keepdim");
  const bool keep =
      keepdim != attrs.end() &&
      (keepdim->second.kind == Attr::Kind::kBool ? keepdim->second.b : keepdim->second.i != 0);
  return reduced_shape(shape, reduced_axes(attrs, shape.size()), keep);
}

FusedBody fused_body(const Node& node) {
  FusedBody body;
  const Attr& instrs = attr_of(node, "body", Attr::Kind::kList);
  if (instrs.list.empty()) fail("fused body: no instructions");
  for (const Attr& item : instrs.list) {
    FusedInstr instr = decode_instr(item, body.instrs.size());
    for (const FusedOperand& operand : instr.operands) {
      const auto* ref = std::get_if<FusedRef>(&operand);
      if (ref == nullptr) continue;
      const size_t bound =
          ref->kind == FusedRef::kInput ? node.operands.size() : body.instrs.size();
      if (ref->index < 0 || static_cast<size_t>(ref->index) >= bound) {
        fail("fused body, instruction " + std::to_string(body.instrs.size()) + ": \"" +
             ref_text(*ref) + "\" is not defined");
      }
    }
    body.instrs.push_back(std::move(instr));
  }
  for (const Attr& r : attr_of(node, "results", Attr::Kind::kList).list) {
    if (r.kind != Attr::Kind::kInt || r.i < 0 || r.i >= static_cast<int64_t>(body.instrs.size())) {
      fail("fused results: " + to_string(r) + " is not an instruction");
    }
    body.results.push_back(static_cast<int>(r.i));
  }
  if (body.results.size() != node.outputs.size()) {
    fail("fused: " + std::to_string(body.results.size()) + " results for " +
         std::to_string(node.outputs.size()) + " outputs");
  }
  const size_t elementwise = body.elementwise_count();
  for (size_t i = 0; i < elementwise; ++i) {
    if (is_fused_reduction(body.instrs[i].kind)) {
      fail("fused body, instruction " + std::to_string(i) + ": reductions must come last");
    }
  }
  for (size_t i = elementwise; i < body.instrs.size(); ++i) {
    const FusedInstr& reduction = body.instrs[i];
    const auto* ref =
        reduction.operands.size() == 1 ? std::get_if<FusedRef>(&reduction.operands[0]) : nullptr;
    if (ref == nullptr || ref->kind != FusedRef::kTemp ||
        static_cast<size_t>(ref->index) >= elementwise) {
      fail("fused body, instruction " + std::to_string(i) +
           ": a reduction reads one elementwise instruction's result");
    }
  }
  auto is_reduction = [&](int instr) { return static_cast<size_t>(instr) >= elementwise; };
  // The iteration shape: the outputs of the elementwise instructions have it;
  // with only reductions output, it is the inputs' broadcast shape.
  std::vector<Dim>& shape = body.iteration_shape;
  bool from_outputs = false;
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    if (is_reduction(body.results[k])) continue;
    if (!from_outputs) shape = node.outputs[k]->type.shape;
    from_outputs = true;
    if (node.outputs[k]->type.shape != shape) fail("fused: the outputs differ in shape");
  }
  for (size_t k = 0; k < node.operands.size(); ++k) {
    const auto* value = std::get_if<Value*>(&node.operands[k]);
    if (value == nullptr) fail("fused: operand " + std::to_string(k) + " is not a value");
    if (*value == nullptr || from_outputs) continue;
    const std::vector<Dim>& in = (*value)->type.shape;
    std::vector<Dim> wider(std::max(shape.size(), in.size()), Dim::known(1));
    for (size_t d = 0; d < wider.size(); ++d) {
      const Dim& a =
          d + shape.size() >= wider.size() ? shape[d + shape.size() - wider.size()] : Dim::known(1);
      const Dim& b =
          d + in.size() >= wider.size() ? in[d + in.size() - wider.size()] : Dim::known(1);
      wider[d] = a.size == 1 ? b : a;
    }
    shape = wider;
  }
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    const TensorType& type = node.outputs[k]->type;
    const FusedInstr& instr = body.instrs[body.results[k]];
    if (is_reduction(body.results[k]) && type.shape != reduced_shape(shape, instr.attrs)) {
      fail("fused: output " + std::to_string(k) + " does not have the reduction's shape");
    }
    if (type.dtype != instr.dtype) {
      fail("fused: output " + std::to_string(k) + " is " + dtype_name(type.dtype) +
           ", its instruction computes " + dtype_name(instr.dtype));
    }
  }
  for (size_t k = 0; k < node.operands.size(); ++k) {
    const Value* value = std::get<Value*>(node.operands[k]);
    if (value && !broadcasts(value->type.shape, shape)) {
      fail("fused: %" + value->name + " does not broadcast to the output shape");
    }
  }
  return body;
}

void check_constant(const Node& node) {
  const TensorType& type = node.outputs.at(0)->type;
  if (!node.operands.empty()) fail("constant: takes no operands");
  size_t count = 1;
  for (const Dim& dim : type.shape) {
    if (!dim.is_known()) fail("constant: needs a static shape");
    count *= static_cast<size_t>(dim.size);
  }
  const Attr& value = attr_of(node, "value", Attr::Kind::kList);
  if (value.list.size() != count) {
    fail("constant: " + std::to_string(value.list.size()) + " values for " + std::to_string(count) +
         " elements");
  }
  const bool floating = type.dtype == DType::kFloat32 || type.dtype == DType::kFloat64 ||
                        type.dtype == DType::kFloat16;
  for (const Attr& item : value.list) {
    const bool ok = type.dtype == DType::kBool ? item.kind == Attr::Kind::kBool
                    : floating ? item.kind == Attr::Kind::kFloat || item.kind == Attr::Kind::kInt
                               : item.kind == Attr::Kind::kInt;
    if (!ok) fail("constant: " + to_string(item) + " is not a " + dtype_name(type.dtype));
  }
}

AssertSpec assert_spec(const Node& node) {
  if (node.operands.size() != 1) fail("assert: takes one operand (the condition)");
  const auto* condition = std::get_if<Value*>(&node.operands[0]);
  if (condition == nullptr) fail("assert: the condition must be a value, not a constant");
  if (*condition && (*condition)->type.dtype != DType::kBool) {
    fail("assert: the condition %" + (*condition)->name + " is " +
         dtype_name((*condition)->type.dtype) + ", not bool");
  }
  if (!node.outputs.empty()) fail("assert: has no results");
  return {attr_of(node, "id", Attr::Kind::kInt).i, attr_of(node, "message", Attr::Kind::kString).s};
}

bool is_control(OpKind kind) {
  return kind == OpKind::assert || kind == OpKind::cond || kind == OpKind::loop ||
         kind == OpKind::call || kind == OpKind::callback;
}

std::vector<std::string> region_names(OpKind kind) {
  if (kind == OpKind::cond) return {"then", "else"};
  if (kind == OpKind::loop) return {"body"};
  return {};
}

std::string callee_of(const Node& node) { return attr_of(node, "callee", Attr::Kind::kString).s; }
std::string target_of(const Node& node) { return attr_of(node, "target", Attr::Kind::kString).s; }

namespace {

// Whether `node` is, or (through its regions or callee) runs, a node whose
// kind `pick` accepts. `visited`: the functions already looked into (a
// recursive call adds nothing new, so the walk ends).
template <typename Pick>
bool runs_any(const Graph& graph, Pick pick, std::set<const Graph*>& visited);

template <typename Pick>
bool runs_any(const Node& node, Pick pick, std::set<const Graph*>& visited) {
  if (pick(node.kind)) return true;
  for (const auto& region : node.regions) {
    if (runs_any(*region, pick, visited)) return true;
  }
  if (node.kind == OpKind::call && node.graph != nullptr) {
    const auto callee = node.attrs.find("callee");
    if (callee == node.attrs.end()) return false;
    const Graph* function = node.graph->function(callee->second.s);
    if (function != nullptr && visited.insert(function).second) {
      return runs_any(*function, pick, visited);
    }
  }
  return false;
}

template <typename Pick>
bool runs_any(const Graph& graph, Pick pick, std::set<const Graph*>& visited) {
  for (const auto& node : graph.nodes()) {
    if (runs_any(*node, pick, visited)) return true;
  }
  return false;
}

bool effect_kind(OpKind kind) { return kind == OpKind::assert || kind == OpKind::callback; }
bool callback_kind(OpKind kind) { return kind == OpKind::callback; }

// The types of a node's operands from `first` on; each must be a value.
std::vector<TensorType> value_types(const Node& node, size_t first) {
  std::vector<TensorType> types;
  for (size_t k = first; k < node.operands.size(); ++k) {
    const auto* value = std::get_if<Value*>(&node.operands[k]);
    if (value == nullptr || *value == nullptr) {
      fail(std::string(op_name(node.kind)) + ": operand " + std::to_string(k) +
           " must be a value, not a constant");
    }
    types.push_back((*value)->type);
  }
  return types;
}

std::vector<TensorType> types_of(const std::vector<Value*>& values) {
  std::vector<TensorType> types;
  for (const Value* value : values) types.push_back(value ? value->type : TensorType{});
  return types;
}

std::string list_text(const std::vector<TensorType>& types) {
  std::string text = "(";
  for (size_t k = 0; k < types.size(); ++k) text += (k ? ", " : "") + to_string(types[k]);
  return text + ")";
}

// `what` (a region or function) takes `inputs` and returns `outputs`.
void check_signature(const std::string& what, const Graph& graph,
                     const std::vector<TensorType>& inputs,
                     const std::vector<TensorType>& outputs) {
  if (types_of(graph.inputs()) != inputs) {
    fail(what + " takes " + list_text(types_of(graph.inputs())) + ", the node passes " +
         list_text(inputs));
  }
  if (types_of(graph.outputs()) != outputs) {
    fail(what + " returns " + list_text(types_of(graph.outputs())) + ", the node expects " +
         list_text(outputs));
  }
}

const TensorType kIndex{DType::kInt64, {}, "cpu"};
const TensorType kFlag{DType::kBool, {}, "cpu"};

void check_cond(const Node& node) {
  if (node.operands.empty()) fail("cond: needs a predicate operand");
  const std::vector<TensorType> types = value_types(node, 0);
  if (types[0] != kFlag) fail("cond: the predicate is " + to_string(types[0]) + ", not bool[]");
  const std::vector<TensorType> args(types.begin() + 1, types.end());
  check_signature("cond: then", *node.regions[0], args, types_of(node.outputs));
  check_signature("cond: else", *node.regions[1], args, types_of(node.outputs));
}

// A loop operand that is a scalar value of `type` or a constant `allowed` accepts.
void check_loop_control(const Node& node, size_t k, const TensorType& type, const char* what,
                        bool (*allowed)(const Attr&)) {
  if (const auto* value = std::get_if<Value*>(&node.operands[k])) {
    if (*value && (*value)->type != type) {
      fail(std::string("loop: the ") + what + " is " + to_string((*value)->type) + ", not " +
           to_string(type));
    }
  } else if (!allowed(std::get<Attr>(node.operands[k]))) {
    fail(std::string("loop: the ") + what + " constant " +
         to_string(std::get<Attr>(node.operands[k])) + " is not allowed");
  }
}

void check_loop(const Node& node) {
  if (node.operands.size() < 2) fail("loop: needs a trip count and a condition operand");
  check_loop_control(node, 0, kIndex, "trip count", [](const Attr& a) {
    return a.kind == Attr::Kind::kNone || (a.kind == Attr::Kind::kInt && a.i >= 0);
  });
  check_loop_control(node, 1, kFlag, "condition",
                     [](const Attr& a) { return a.kind == Attr::Kind::kBool; });
  const std::vector<TensorType> carried = value_types(node, 2);
  if (types_of(node.outputs) != carried) {
    fail("loop: the results " + list_text(types_of(node.outputs)) + " are not the carried values " +
         list_text(carried));
  }
  std::vector<TensorType> inputs{kIndex}, outputs{kFlag};
  inputs.insert(inputs.end(), carried.begin(), carried.end());
  outputs.insert(outputs.end(), carried.begin(), carried.end());
  check_signature("loop: body", *node.regions[0], inputs, outputs);
}

void check_call(const Node& node) {
  const std::string name = callee_of(node);
  const Graph* function = node.graph ? node.graph->function(name) : nullptr;
  if (function == nullptr) fail("call: no function named " + name);
  check_signature("call: function " + name, *function, value_types(node, 0),
                  types_of(node.outputs));
}

void check_callback(const Node& node) {
  target_of(node);
  value_types(node, 0);
}

}  // namespace

bool has_effects(const Node& node) {
  std::set<const Graph*> visited;
  return runs_any(node, effect_kind, visited);
}

bool has_effects(const Graph& graph) {
  std::set<const Graph*> visited;
  return runs_any(graph, effect_kind, visited);
}

bool has_callbacks(const Node& node) {
  std::set<const Graph*> visited;
  return runs_any(node, callback_kind, visited);
}

bool has_callbacks(const Graph& graph) {
  std::set<const Graph*> visited;
  return runs_any(graph, callback_kind, visited);
}

std::vector<std::string> verify_structural(const Node& node) {
  try {
    if (node.kind == OpKind::fused && !node.outputs.empty()) fused_body(node);
    if (node.kind == OpKind::constant && node.outputs.size() == 1) check_constant(node);
    if (node.regions.size() != region_names(node.kind).size()) {
      fail(std::string(op_name(node.kind)) + ": has " + std::to_string(node.regions.size()) +
           " regions, expected " + std::to_string(region_names(node.kind).size()));
    }
    if (node.kind == OpKind::assert) assert_spec(node);
    if (node.kind == OpKind::cond) check_cond(node);
    if (node.kind == OpKind::loop) check_loop(node);
    if (node.kind == OpKind::call) check_call(node);
    if (node.kind == OpKind::callback) check_callback(node);
  } catch (const std::invalid_argument& error) {
    return {error.what()};
  }
  return {};
}

}  // namespace janus::ir
