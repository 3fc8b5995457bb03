// janus._C.ir: Graph (build from Python, print/parse, passes, plan_memory,
// assign_streams, node_list) and Value. Split from bindings.cpp.
#include "bind_ir.h"

#include <pybind11/stl.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/structural.h"
#include "passes/passes.h"

namespace py = pybind11;

namespace ir = janus::ir;

namespace {

// Python constants (None, bool, int, float, str, nested lists/tuples) as IR attributes.
ir::Attr to_attr(const py::handle& value) {
  if (value.is_none()) return ir::Attr::none();
  if (py::isinstance<py::bool_>(value)) return ir::Attr::boolean(value.cast<bool>());
  if (py::isinstance<py::int_>(value)) return ir::Attr::integer(value.cast<int64_t>());
  if (py::isinstance<py::float_>(value)) return ir::Attr::real(value.cast<double>());
  if (py::isinstance<py::str>(value)) return ir::Attr::string(value.cast<std::string>());
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    std::vector<ir::Attr> items;
    for (const py::handle& item : value) items.push_back(to_attr(item));
    return ir::Attr::of_list(std::move(items));
  }
  throw py::type_error("IR constants must be None, bool, int, float, str or lists of them, got " +
                       std::string(py::str(py::type::of(value))));
}

}  // namespace

py::object from_attr(const ir::Attr& attr) {
  switch (attr.kind) {
    case ir::Attr::Kind::kNone:
      return py::none();
    case ir::Attr::Kind::kBool:
      return py::bool_(attr.b);
    case ir::Attr::Kind::kInt:
      return py::int_(attr.i);
    case ir::Attr::Kind::kFloat:
      return py::float_(attr.f);
    case ir::Attr::Kind::kString:
      return py::str(attr.s);
    case ir::Attr::Kind::kList: {
      py::tuple items(attr.list.size());
      for (size_t k = 0; k < attr.list.size(); ++k) items[k] = from_attr(attr.list[k]);
      return std::move(items);
    }
  }
  return py::none();
}

namespace {

// A shape given as ints (known sizes) and strings (symbols).
ir::TensorType to_type(const std::string& dtype, const py::sequence& shape,
                       const std::string& device) {
  ir::TensorType type;
  type.dtype = ir::dtype_from_name(dtype);
  for (const py::handle& dim : shape) {
    if (py::isinstance<py::str>(dim)) {
      type.shape.push_back(ir::Dim::symbolic(dim.cast<std::string>()));
    } else {
      const int64_t size = dim.cast<int64_t>();
      if (size < 0) throw py::value_error("dimension sizes must be >= 0");
      type.shape.push_back(ir::Dim::known(size));
    }
  }
  type.device = device;
  return type;
}

py::tuple shape_of(const ir::TensorType& type) {
  py::tuple shape(type.shape.size());
  for (size_t k = 0; k < type.shape.size(); ++k) {
    const ir::Dim& dim = type.shape[k];
    shape[k] = dim.is_known() ? py::object(py::int_(dim.size)) : py::object(py::str(dim.symbol));
  }
  return shape;
}

}  // namespace

void bind_ir(py::module_& m) {
  py::module_ sub = m.def_submodule("ir", "The typed dataflow IR (csrc/ir).");
  sub.def("pass_names", &janus::passes::pass_names, "Passes in default pipeline order.");
  sub.def(
      "op_kinds",
      [] {
        py::list kinds;
        for (int k = 0; k < ir::op_count(); ++k) {
          const auto kind = static_cast<ir::OpKind>(k);
          if (!ir::is_structural(kind)) {
            kinds.append(py::make_tuple(ir::op_name(kind), ir::op_outputs(kind)));
          }
        }
        return kinds;
      },
      "The op kinds of the op table, as (name, result count; -1: by attributes).");
  sub.def(
      "fused_reductions",
      [] {
        std::vector<std::string> names;
        for (int k = 0; k < ir::op_count(); ++k) {
          const auto kind = static_cast<ir::OpKind>(k);
          if (ir::is_fused_reduction(kind)) names.emplace_back(ir::op_name(kind));
        }
        return names;
      },
      "The reductions a fused body may end with (csrc/ir/structural.h).");
  sub.def(
      "structural_kinds",
      [] {
        py::list kinds;
        for (int k = 0; k < ir::op_count(); ++k) {
          const auto kind = static_cast<ir::OpKind>(k);
          if (ir::is_structural(kind)) {
            kinds.append(py::make_tuple(ir::op_name(kind), ir::op_outputs(kind)));
          }
        }
        return kinds;
      },
      "The op kinds the compiler adds (fused, constant, control ops), not in the op table.");
  // Values are owned by their graph; Python references keep the graph alive.
  py::class_<ir::Value>(sub, "Value")
      .def_property_readonly("name", [](const ir::Value& v) { return v.name; })
      .def_property_readonly("dtype",
                             [](const ir::Value& v) { return ir::dtype_name(v.type.dtype); })
      .def_property_readonly("shape", [](const ir::Value& v) { return shape_of(v.type); })
      .def_property_readonly("device", [](const ir::Value& v) { return v.type.device; })
      .def("__repr__",
           [](const ir::Value& v) { return "%" + v.name + ": " + ir::to_string(v.type); });
  py::class_<ir::Graph>(sub, "Graph")
      .def(py::init<>())
      .def(
          "add_input",
          [](ir::Graph& g, const std::string& name, const std::string& dtype,
             const py::sequence& shape, const std::string& device) {
            return g.add_input(name, to_type(dtype, shape, device));
          },
          py::arg("name"), py::arg("dtype"), py::arg("shape"), py::arg("device") = "cpu",
          py::return_value_policy::reference_internal)
      .def(
          "add_node",
          [](ir::Graph& g, const std::string& op, const py::sequence& operands,
             const py::dict& attrs, const py::sequence& outputs, const py::sequence& regions) {
            const auto kind = ir::op_from_name(op);
            if (!kind) throw py::value_error("unknown op '" + op + "'");
            // Regions are copied in (through the text form): the node owns its
            // subgraphs, the caller's graphs stay theirs.
            std::vector<std::unique_ptr<ir::Graph>> copies;
            for (const py::handle& region : regions) {
              copies.push_back(ir::parse(ir::print(region.cast<const ir::Graph&>())));
              if (!copies.back()->functions().empty()) {
                throw py::value_error(
                    "a region cannot hold functions; add them to the outermost graph");
              }
            }
            std::vector<ir::Operand> ops;
            for (const py::handle& operand : operands) {
              if (py::isinstance<ir::Value>(operand)) {
                ir::Value* value = operand.cast<ir::Value*>();
                // Refused here: the graph would keep a pointer into another graph.
                if (!g.owns(value)) {
                  throw py::value_error("operand %" + value->name + " belongs to another graph");
                }
                ops.emplace_back(value);
              } else {
                ops.emplace_back(to_attr(operand));
              }
            }
            std::map<std::string, ir::Attr> attr_map;
            for (const auto& [key, value] : attrs)
              attr_map[key.cast<std::string>()] = to_attr(value);
            std::vector<ir::TensorType> types;
            for (const py::handle& out : outputs) {
              const auto spec = out.cast<py::tuple>();
              types.push_back(to_type(spec[0].cast<std::string>(), spec[1].cast<py::sequence>(),
                                      spec.size() > 2 ? spec[2].cast<std::string>() : "cpu"));
            }
            ir::Node* node =
                g.add_node(*kind, std::move(ops), std::move(attr_map), std::move(types));
            for (auto& region : copies) g.add_region(node, std::move(region));
            py::list results;
            for (ir::Value* value : node->outputs) {
              results.append(py::cast(value, py::return_value_policy::reference_internal,
                                      py::cast(&g, py::return_value_policy::reference)));
            }
            return results;
          },
          py::arg("op"), py::arg("operands"), py::arg("attrs"), py::arg("outputs"),
          py::arg("regions") = py::list(),
          "Appends op(operands, **attrs); outputs are (dtype, shape[, device]) tuples; "
          "regions (cond: then, else; loop: body) are graphs, copied into the node.")
      .def(
          "add_function",
          [](ir::Graph& g, const std::string& name, const ir::Graph& function) {
            g.add_function(name, ir::parse(ir::print(function)));
          },
          py::arg("name"), py::arg("graph"),
          "Adds a copy of `graph` to this module's functions, for `call` nodes "
          "(callee=name) anywhere in it, recursion included.")
      .def("function_names",
           [](const ir::Graph& g) {
             std::vector<std::string> names;
             for (const auto& [name, function] : g.functions()) names.push_back(name);
             return names;
           })
      .def("set_outputs",
           [](ir::Graph& g, std::vector<ir::Value*> outputs) {
             for (const ir::Value* value : outputs) {
               if (!g.owns(value)) {
                 throw py::value_error("output %" + value->name + " belongs to another graph");
               }
             }
             g.set_outputs(std::move(outputs));
           })
      .def(
          "verify", [](const ir::Graph& g) { return ir::verify(g); },
          "The problems that make the graph malformed (an empty list when it is well formed).")
      .def("node_count", [](const ir::Graph& g) { return g.nodes().size(); })
      .def(
          "inputs", [](const ir::Graph& g) { return g.inputs(); },
          py::return_value_policy::reference_internal)
      .def(
          "outputs", [](const ir::Graph& g) { return g.outputs(); },
          py::return_value_policy::reference_internal)
      .def(
          "run_pass",
          [](ir::Graph& g, const std::string& name) { return janus::passes::run_pass(g, name); },
          py::arg("name"), "Runs one pass by name; returns how many rewrites it made.")
      .def(
          "assign_streams",
          [](const ir::Graph& g) {
            const janus::passes::StreamAssignment a = janus::passes::assign_streams(g);
            py::dict result;
            result["stream"] = a.stream;
            result["streams"] = a.streams;
            result["syncs"] = a.syncs;
            return result;
          },
          "Nimble's stream assignment: {'stream': per node, 'streams': n, 'syncs': [(u, v)]}.")
      .def(
          "plan_memory",
          [](const ir::Graph& g, const std::vector<std::pair<std::string, std::string>>& in_place,
             bool streams, const std::vector<std::pair<std::string, std::string>>& aliases) {
            std::map<std::string, const ir::Value*> named;
            for (const ir::Value* in : g.inputs()) named[in->name] = in;
            for (const auto& node : g.nodes()) {
              for (const ir::Value* out : node->outputs) named[out->name] = out;
            }
            auto pairs_of = [&](const std::vector<std::pair<std::string, std::string>>& names,
                                const char* what) {
              janus::passes::InPlacePairs pairs;
              for (const auto& [operand, result] : names) {
                if (!named.count(operand) || !named.count(result)) {
                  throw py::key_error(std::string(what) + " names a value the graph lacks: %" +
                                      (named.count(operand) ? result : operand));
                }
                pairs.emplace_back(named.at(operand), named.at(result));
              }
              return pairs;
            };
            std::optional<janus::passes::StreamAssignment> parallel;
            if (streams) parallel = janus::passes::assign_streams(g);
            const janus::passes::MemoryPlan plan = janus::passes::plan_memory(
                g, parallel ? &*parallel : nullptr, pairs_of(in_place, "in_place"),
                pairs_of(aliases, "aliases"));
            py::dict offsets;
            for (const auto& [value, offset] : plan.offset) offsets[py::str(value->name)] = offset;
            py::list dynamic;
            for (const ir::Value* value : plan.dynamic) dynamic.append(value->name);
            py::list caller_owned;
            for (const ir::Value* value : plan.caller_owned) caller_owned.append(value->name);
            py::dict result;
            result["offsets"] = offsets;
            result["arena_bytes"] = plan.arena_bytes;
            result["unshared_bytes"] = plan.unshared_bytes;
            result["dynamic"] = dynamic;
            result["caller_owned"] = caller_owned;
            py::dict reused;
            for (const auto& [value, over] : plan.reused) reused[py::str(value->name)] = over->name;
            result["reused"] = reused;
            py::dict aliased;
            for (const auto& [value, over] : plan.aliased)
              aliased[py::str(value->name)] = over->name;
            result["aliased"] = aliased;
            return result;
          },
          py::arg("in_place") = std::vector<std::pair<std::string, std::string>>{},
          py::arg("streams") = false,
          py::arg("aliases") = std::vector<std::pair<std::string, std::string>>{},
          "Liveness-based arena plan (with `streams`, safe for the streams of "
          "`assign_streams` running concurrently): offsets by value name, arena and unshared "
          "sizes, "
          "the outputs left to the caller's buffers. `in_place`: (operand, result) name "
          "pairs whose result may be written over the operand; `reused` maps each result "
          "that was to the operand. `aliases`: (operand, result) pairs whose result is the "
          "operand's bytes; `aliased` maps each result that shares its operand's block.")
      .def(
          "exclusive_slots",
          [](const ir::Graph& g, const std::vector<int>& nodes, bool streams) {
            const int n = static_cast<int>(g.nodes().size());
            for (size_t k = 0; k < nodes.size(); ++k) {
              if (nodes[k] < 0 || nodes[k] >= n || (k > 0 && nodes[k] <= nodes[k - 1])) {
                throw py::value_error("exclusive_slots: node indices must ascend within the graph");
              }
            }
            std::optional<janus::passes::StreamAssignment> parallel;
            if (streams) parallel = janus::passes::assign_streams(g);
            return janus::passes::exclusive_slots(g, parallel ? &*parallel : nullptr, nodes);
          },
          py::arg("nodes"), py::arg("streams") = false,
          "Per node of `nodes` (ascending indices), a scratch slot: two share one only if one "
          "surely finishes before the other starts (with `streams`, when the streams of "
          "`assign_streams` run concurrently).")
      .def(
          "node_list",
          [](const ir::Graph& g) {
            py::list nodes;
            for (const auto& node : g.nodes()) {
              py::list operands;
              for (const ir::Operand& operand : node->operands) {
                if (const auto* value = std::get_if<ir::Value*>(&operand)) {
                  operands.append((*value)->name);
                } else {
                  operands.append(py::make_tuple("const", from_attr(std::get<ir::Attr>(operand))));
                }
              }
              py::dict attrs;
              for (const auto& [key, attr] : node->attrs) attrs[py::str(key)] = from_attr(attr);
              py::list outputs;
              for (const ir::Value* out : node->outputs) {
                outputs.append(py::make_tuple(out->name, ir::dtype_name(out->type.dtype),
                                              shape_of(out->type)));
              }
              nodes.append(py::make_tuple(ir::op_name(node->kind), operands, attrs, outputs,
                                          node->regions.size()));
            }
            return nodes;
          },
          "The nodes in order, as (op, operands, attrs, outputs, region count): an operand "
          "is a value name or ('const', constant), an output (name, dtype, shape).")
      .def("node_attrs",
           [](const ir::Graph& g, size_t index) {
             if (index >= g.nodes().size()) throw py::index_error("node index out of range");
             py::dict attrs;
             for (const auto& [key, attr] : g.nodes()[index]->attrs)
               attrs[py::str(key)] = from_attr(attr);
             return attrs;
           })
      .def("__str__", [](const ir::Graph& g) { return ir::print(g); })
      .def_static(
          "parse",
          [](const std::string& text) {
            std::unique_ptr<ir::Graph> graph = ir::parse(text);
            janus::passes::infer_types(*graph);  // fills results written without a type
            return graph;
          },
          "Parses the text form (ValueError with a line number when malformed); results "
          "written without a type get the inferred one, typed results are checked.");
}
