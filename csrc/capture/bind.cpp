// Python bindings of the capture layer: janus._C.capture. The protocol is
// documented in docs/capture.md; docstrings here are the reference.
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "capture/cache.h"
#include "capture/capture.h"
#include "capture/guards.h"
#include "capture/hook.h"

namespace janus::capture {

namespace {

// A node of a guard under construction; keeps its tree alive.
struct NodeHandle {
  std::shared_ptr<GuardTree> tree;
  GuardNode* node;
};

// Printed names of the protocol's sentinels.
struct Sentinel {
  std::string name;
};

struct HookOffScope {};

PyCodeObject* code_of(py::handle object) {
  PyObject* o = object.ptr();
  if (PyMethod_Check(o)) o = PyMethod_GET_FUNCTION(o);
  if (PyFunction_Check(o)) o = PyFunction_GET_CODE(o);
  if (!PyCode_Check(o)) {
    throw py::type_error("expected a code object, a function or a method, got " +
                         std::string(Py_TYPE(object.ptr())->tp_name));
  }
  return reinterpret_cast<PyCodeObject*>(o);
}

std::vector<std::string> default_skip_prefixes() {
  // janus's own package: its folder, with a trailing separator.
  const py::object os_path = py::module_::import("os.path");
  const py::object file = py::getattr(py::module_::import("janus"), "__file__", py::none());
  if (file.is_none()) return {};
  const std::string folder = py::str(os_path.attr("dirname")(os_path.attr("abspath")(file)));
  return {folder + std::string(py::str(py::module_::import("os").attr("sep")))};
}

py::dict stats(py::handle code_or_function) {
  const CodeState* state = state_of(code_of(code_or_function));
  py::dict out;
  const CodeState empty{};
  const CodeState& s = state != nullptr ? *state : empty;
  out["calls"] = s.calls;
  out["skipped"] = s.skip != SkipReason::kNone;
  const char* reason = skip_reason_name(s.skip);
  out["skip_reason"] = reason != nullptr ? py::object(py::str(reason)) : py::object(py::none());
  out["entries"] = s.entries.size();
  out["compiles"] = s.compiles;
  out["recompiles"] = s.recompiles;
  out["hits"] = s.hits;
  out["misses"] = s.misses;
  out["fallbacks"] = s.fallbacks;
  return out;
}

py::list entries(py::handle code_or_function) {
  py::list out;
  const CodeState* state = state_of(code_of(code_or_function));
  if (state != nullptr) {
    for (const CachedEntry& cached : state->entries) out.append(cached.owner);
  }
  return out;
}

// Guard inputs from a FrameView or a dict of locals; `globals`/`builtins`
// override the view's. The returned pointers are borrowed from the arguments.
GuardInputs inputs_of(py::handle frame_or_locals, py::handle globals, py::handle builtins) {
  GuardInputs inputs;
  if (py::isinstance<FrameView>(frame_or_locals)) {
    const auto& view = frame_or_locals.cast<const FrameView&>();
    inputs.locals = view.locals.ptr();
    inputs.globals = view.globals.ptr();
    inputs.builtins = view.builtins.ptr();
  } else if (PyDict_Check(frame_or_locals.ptr())) {
    inputs.locals = frame_or_locals.ptr();
  } else {
    throw py::type_error("expected a capture.FrameView or a dict of locals");
  }
  if (!globals.is_none()) inputs.globals = globals.ptr();
  if (!builtins.is_none()) inputs.builtins = builtins.ptr();
  return inputs;
}

NodeHandle add_root(const std::shared_ptr<GuardTree>& tree, Access access, py::object key,
                    py::handle object, const std::string& source) {
  return NodeHandle{tree, tree->add_root(access, std::move(key), object, source)};
}

NodeHandle local_node(const std::shared_ptr<GuardTree>& tree, const py::object& name_or_index) {
  py::object name = name_or_index;
  if (!py::isinstance<py::str>(name_or_index)) {
    PyObject* code = tree->code.get();
    if (code == nullptr) {
      throw py::value_error("local(index) needs the guard's code: Guard(code)");
    }
    const py::tuple signature = entry_signature(reinterpret_cast<PyCodeObject*>(code));
    const auto index = name_or_index.cast<Py_ssize_t>();
    if (index < 0 || index >= static_cast<Py_ssize_t>(signature.size())) {
      throw py::index_error("local index out of range of capture.entry_signature(code)");
    }
    name = signature[index];
  }
  return add_root(tree, Access::kLocal, name, py::handle(),
                  "L[" + std::string(py::repr(name)) + "]");
}

void bind_guards(py::module_& sub) {
  py::class_<NodeHandle>(sub, "GuardNode",
                         "A value a guard reads (a source such as L['x']._data), with its checks.\n"
                         "Made by Guard.local/global_/builtin/object/call and by the accessor\n"
                         "methods below; asking twice for the same accessor gives the same node.")
      .def_property_readonly("source", [](const NodeHandle& h) { return h.node->source; })
      .def(
          "attr",
          [](const NodeHandle& h, const std::string& name) {
            return NodeHandle{h.tree, h.tree->add_child(h.node, Access::kAttr, py::str(name))};
          },
          py::arg("name"), "getattr(value, name).")
      .def(
          "item",
          [](const NodeHandle& h, py::object key, const std::string& name) {
            return NodeHandle{h.tree,
                              h.tree->add_child(h.node, Access::kItem, std::move(key), name)};
          },
          py::arg("key"), py::arg("name") = "",
          "value[key] for a constant key (fast for exact tuple, list and dict), or an object\n"
          "hashed by identity (then compared by `is`); `name` stands for the key in the source.")
      .def(
          "len",
          [](const NodeHandle& h) {
            return NodeHandle{h.tree, h.tree->add_child(h.node, Access::kLen, py::none())};
          },
          "len(value), as a node to put checks on.")
      .def(
          "type_is",
          [](const NodeHandle& h, py::handle type) {
            h.tree->add_leaf(h.node, make_type_is(*h.node, type));
            return h;
          },
          py::arg("type"), "Check: type(value) is type.")
      .def(
          "is_",
          [](const NodeHandle& h, py::handle object, const std::string& name) {
            h.tree->add_leaf(h.node, make_is(*h.node, object, name));
            return h;
          },
          py::arg("object"), py::arg("name") = "",
          "Check: value is object (held weakly where possible). `name` is how\n"
          "first_failure shows the object (default: its repr).")
      .def(
          "equals",
          [](const NodeHandle& h, py::handle value) {
            h.tree->add_leaf(h.node, make_equals(*h.node, value));
            return h;
          },
          py::arg("value"),
          "Check: type(value) is type(expected) and value == expected, for None, bool,\n"
          "int, float, str and tuples of them (NaN never equals).")
      .def(
          "len_is",
          [](const NodeHandle& h, Py_ssize_t length) {
            h.tree->add_leaf(h.node, make_len_is(*h.node, length));
            return h;
          },
          py::arg("length"), "Check: len(value) == length.")
      .def(
          "contains",
          [](const NodeHandle& h, py::handle key, bool present) {
            h.tree->add_leaf(h.node, make_contains(*h.node, key, present));
            return h;
          },
          py::arg("key"), py::arg("present"),
          "Check: (key in value) == present, for a key of the types `equals` takes.")
      .def(
          "tensor",
          [](const NodeHandle& h, py::handle dtype, py::handle shape, py::handle requires_grad,
             py::handle device, const std::string& requires_grad_attr) {
            h.tree->add_leaf(h.node, make_tensor(*h.node, dtype, shape, requires_grad, device,
                                                 requires_grad_attr));
            return h;
          },
          py::arg("dtype") = py::none(), py::arg("shape") = py::none(),
          py::arg("requires_grad") = py::none(), py::arg("device") = py::none(),
          py::arg("requires_grad_attr") = "requires_grad",
          "Checks on a janus Tensor (an object whose `_data` is a numpy or cupy array);\n"
          "None leaves a part unchecked:\n"
          "  device: 'cpu' (type(_data) is numpy.ndarray), 'cuda' (cupy.ndarray) or a type;\n"
          "  dtype: anything numpy.dtype() accepts, compared with _data.dtype;\n"
          "  shape: a sequence of sizes, None for a dynamic dimension (ndim always checked);\n"
          "  requires_grad: compared with the truth of getattr(value, requires_grad_attr)\n"
          "  (janus's translator passes requires_grad_attr='_rg', a plain attribute, to\n"
          "  avoid running the property).")
      .def("__repr__", [](const NodeHandle& h) { return "<GuardNode " + h.node->source + ">"; });

  py::class_<GuardTree, std::shared_ptr<GuardTree>>(
      sub, "Guard",
      "A tree of accessors and checks, evaluated natively on a frame's inputs.\n\n"
      "Sources print as L['x'] (frame local), G['x'] (global), B['x'] (builtin).\n\n"
      ">>> from janus._C import capture\n"
      ">>> g = capture.Guard()\n"
      ">>> _ = g.local('n').type_is(int).equals(3)\n"
      ">>> g.check({'n': 3}), g.first_failure({'n': 4})\n"
      "(True, \"L['n'] == 3\")")
      .def(py::init([](py::object code) {
             auto tree = std::make_shared<GuardTree>();
             if (!code.is_none())
               tree->code = HeldObject(
                   py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(code_of(code))));
             return tree;
           }),
           py::arg("code") = py::none(),
           "`code` (a code object or function) is only needed for local(index).")
      .def("local", &local_node, py::arg("name_or_index"),
           "A frame local bound on entry: a parameter or a free variable (its cell's\n"
           "value). An int is a position in capture.entry_signature(code).")
      .def(
          "global_",
          [](const std::shared_ptr<GuardTree>& t, const std::string& name) {
            return add_root(t, Access::kGlobal, py::str(name), py::handle(),
                            "G[" + std::string(py::repr(py::str(name))) + "]");
          },
          py::arg("name"), "frame.f_globals[name] (no builtins fallback).")
      .def(
          "builtin",
          [](const std::shared_ptr<GuardTree>& t, const std::string& name) {
            return add_root(t, Access::kBuiltin, py::str(name), py::handle(),
                            "B[" + std::string(py::repr(py::str(name))) + "]");
          },
          py::arg("name"), "frame.f_builtins[name].")
      .def(
          "object",
          [](const std::shared_ptr<GuardTree>& t, py::handle object, const std::string& name) {
            return add_root(t, Access::kObject, py::str(name), object, name);
          },
          py::arg("object"), py::arg("name"),
          "A fixed object (held weakly where possible), shown as `name`: a root for\n"
          "global state, e.g. grad mode:\n"
          "  g.object(janus.autograd.grad_mode.state, 'grad_mode.state')"
          ".attr('enabled').equals(True)\n"
          "and the default dtype:\n"
          "  g.object(janus.dtypes._default, 'dtypes._default').item(0).is_(janus.float32)")
      .def(
          "call",
          [](const std::shared_ptr<GuardTree>& t, py::handle fn, const std::string& name) {
            if (!PyCallable_Check(fn.ptr())) throw py::type_error("call expects a callable");
            return add_root(t, Access::kCall, py::str(name), fn, name);
          },
          py::arg("fn"), py::arg("name"),
          "fn() as a value, shown as `name` (e.g. 'janus.is_grad_enabled()'). Runs\n"
          "Python on every check: prefer object(...) roots.")
      .def(
          "check",
          [](const GuardTree& t, py::handle frame, py::handle globals, py::handle builtins) {
            const int passed = t.check(inputs_of(frame, globals, builtins), nullptr);
            if (passed < 0) throw py::error_already_set();
            return passed == 1;
          },
          py::arg("frame"), py::arg("globals") = py::none(), py::arg("builtins") = py::none(),
          "True when every check passes on a capture.FrameView or a dict of locals.")
      .def(
          "first_failure",
          [](const GuardTree& t, py::handle frame, py::handle globals,
             py::handle builtins) -> py::object {
            std::string text, error;
            GuardFailure failure{nullptr, &text, &error};
            const int passed = t.check(inputs_of(frame, globals, builtins), &failure);
            if (passed < 0) throw py::error_already_set();
            if (passed == 1) return py::none();
            return py::str(error.empty() ? text : text + " (" + error + ")");
          },
          py::arg("frame"), py::arg("globals") = py::none(), py::arg("builtins") = py::none(),
          "None when the guard passes, else the first expectation that failed, e.g.\n"
          "\"L['x']._data.shape == (3, 4)\", with the exception when reading raised.")
      .def("describe", &GuardTree::describe, "Every expectation, in check order.")
      .def_property_readonly("frozen", &GuardTree::frozen)
      .def("__str__", [](const GuardTree& t) {
        std::string out;
        for (const std::string& line : t.describe()) out += (out.empty() ? "" : "\n") + line;
        return out;
      });
}

void bind_cache(py::module_& sub) {
  py::class_<CacheEntry>(sub, "Entry",
                         "A compiled entry: `fn` answers a call when `guard` passes. fn is called\n"
                         "as fn(*values) with the values named by capture.entry_signature(code):\n"
                         "the parameters, then the free variables' cells. It returns the call's\n"
                         "result, or capture.FALLBACK to have CPython run the frame instead.\n"
                         "Creating an Entry freezes its guard.")
      .def(py::init([](const std::shared_ptr<GuardTree>& guard, py::object fn) {
             if (!guard) throw py::type_error("Entry needs a capture.Guard");
             if (!PyCallable_Check(fn.ptr())) throw py::type_error("Entry's fn must be callable");
             auto entry = std::make_unique<CacheEntry>();
             guard->freeze();
             entry->guard = guard;
             entry->fn = std::move(fn);
             return entry;
           }),
           py::arg("guard"), py::arg("fn"))
      .def_property_readonly("guard", [](const CacheEntry& e) { return e.guard; })
      .def_property_readonly("fn", [](const CacheEntry& e) { return e.fn; })
      .def_property_readonly("hits", [](const CacheEntry& e) { return e.hits; })
      .def_property_readonly(
          "last_failure",
          [](const CacheEntry& e) -> py::object {
            return e.last_failure ? py::object(py::str(*e.last_failure)) : py::object(py::none());
          },
          "The expectation that failed the last time this entry's guard missed.");

  py::class_<FrameView>(sub, "FrameView",
                        "What the callback sees of a captured call, a snapshot taken before\n"
                        "the frame runs: code, function, globals, builtins, and locals (a dict\n"
                        "of the parameters as bound and of free variables' values).")
      .def_readonly("code", &FrameView::code)
      .def_readonly("function", &FrameView::function)
      .def_readonly("globals", &FrameView::globals)
      .def_readonly("builtins", &FrameView::builtins)
      .def_readonly("locals", &FrameView::locals)
      .def(
          "call_args",
          [](const FrameView& view) {
            // Parameters come first in localsplus: positional, keyword-only, *args, **kwargs.
            auto* code = reinterpret_cast<PyCodeObject*>(view.code.ptr());
            const auto locals = py::reinterpret_borrow<py::dict>(view.locals);
            const auto names = py::reinterpret_borrow<py::tuple>(code->co_localsplusnames);
            py::list args;
            py::dict kwargs;
            int next = code->co_argcount + code->co_kwonlyargcount;
            for (int i = 0; i < code->co_argcount; ++i) args.append(locals[names[i]]);
            for (int i = code->co_argcount; i < next; ++i) kwargs[names[i]] = locals[names[i]];
            if (code->co_flags & CO_VARARGS) {
              for (py::handle arg : locals[names[next++]]) args.append(arg);
            }
            if (code->co_flags & CO_VARKEYWORDS) {
              kwargs.attr("update")(locals[names[next]]);
            }
            return py::make_tuple(py::tuple(args), kwargs);
          },
          "(args, kwargs) that call `function` exactly as this call did.")
      .def("__repr__", [](const FrameView& view) {
        return "<FrameView of " +
               std::string(py::str(reinterpret_cast<PyCodeObject*>(view.code.ptr())->co_qualname)) +
               ">";
      });

  py::class_<Sentinel>(sub, "_Sentinel").def("__repr__", [](const Sentinel& s) { return s.name; });
  py::object skip = py::cast(Sentinel{"capture.SKIP"});
  py::object fallback = py::cast(Sentinel{"capture.FALLBACK"});
  set_sentinels(skip.ptr(), fallback.ptr());
  sub.attr("SKIP") = skip;
  sub.attr("FALLBACK") = fallback;
}

void bind_hook(py::module_& sub) {
  sub.def(
      "install",
      [](py::object callback, uint64_t hot_calls, uint64_t budget, py::object skip_prefixes,
         std::vector<std::string> hidden_prefixes) {
        if (!PyCallable_Check(callback.ptr())) throw py::type_error("callback must be callable");
        if (hot_calls < 1) throw py::value_error("hot_calls must be >= 1");
        std::vector<std::string> prefixes = skip_prefixes.is_none()
                                                ? default_skip_prefixes()
                                                : skip_prefixes.cast<std::vector<std::string>>();
        install_hook(std::move(callback), hot_calls, budget, std::move(prefixes),
                     std::move(hidden_prefixes));
      },
      py::arg("callback"), py::kw_only(), py::arg("hot_calls") = 2, py::arg("budget") = 8,
      py::arg("skip_prefixes") = py::none(),
      py::arg("hidden_prefixes") = std::vector<std::string>{},
      "Installs the frame hook for this interpreter and resets every cache.\n\n"
      "On the call where a code object's call count reaches `hot_calls` and no\n"
      "cached entry's guard passes, callback(frame_view) runs, with the hook off\n"
      "on this thread, and returns:\n"
      "  None: CPython runs the frame this time;\n"
      "  capture.SKIP: this code is never captured again (until the next install);\n"
      "  (entry, result): `entry` (a capture.Entry, or None) is cached first, and\n"
      "  `result` is the call's return value: the frame is not run (the callback\n"
      "  ran the call itself). result capture.FALLBACK: CPython runs the frame.\n"
      "An exception from the callback propagates out of the call. The callback runs\n"
      "at most `budget` times per code; after that the code runs as usual.\n"
      "Generators, coroutines, module and class bodies, and files under\n"
      "`skip_prefixes` (default: janus's own package folder) are never captured.\n"
      "An exception leaving the callback or an entry loses the traceback entries of\n"
      "frames in files under `hidden_prefixes` (default: none).");
  sub.def("uninstall", &uninstall_hook,
          "Removes the hook (restoring the evaluator it replaced) and drops every cache.");
  sub.def("is_installed", &hook_installed);
  sub.def("enabled", &hook_enabled_here,
          "Whether calls on this thread go through the hook now (False inside the\n"
          "callback, guards, entries and capture.disabled()).");
  sub.def("call_with_hook", &call_with_hook, py::arg("fn"),
          "fn(*args) with the hook on for this thread (even inside an entry or the\n"
          "callback, where it is off): calls fn makes are captured as usual.");
  py::class_<HookOffScope>(sub, "_HookOffScope")
      .def(
          "__enter__",
          [](HookOffScope& s) {
            disable_hook_here();
            return &s;
          },
          py::return_value_policy::reference)
      .def("__exit__", [](HookOffScope&, py::args) {
        enable_hook_here();
        return false;
      });
  sub.def(
      "disabled", [] { return HookOffScope{}; },
      "Context manager: calls on this thread inside it are not captured.");
  sub.def(
      "reset",
      [](py::object code) {
        if (code.is_none()) {
          ++settings().epoch;
          reset_all();
        } else if (CodeState* state = state_of(code_of(code))) {
          reset_state(state);
        }
      },
      py::arg("code") = py::none(),
      "Forgets the entries, counters and verdicts of one code object, or of all.");
  sub.def("stats", &stats, py::arg("code"),
          "Counters of a code object or function: calls, skipped, skip_reason,\n"
          "entries, compiles (callback runs), recompiles (of which after every entry\n"
          "missed), hits, misses, fallbacks.");
  sub.def("entries", &entries, py::arg("code"), "Cached entries, most recently used first.");
  sub.def(
      "entry_signature", [](py::handle code) { return entry_signature(code_of(code)); },
      py::arg("code"),
      "Names of the values an Entry's fn receives: parameters, then free variables.");
}

}  // namespace

}  // namespace janus::capture

void bind_capture(pybind11::module_& m) {
  namespace capture = janus::capture;
  pybind11::module_ sub = m.def_submodule(
      "capture", "The PEP 523 frame hook, per-code cache and native guards (docs/capture.md).");
  capture::init_cache();  // on failure (no index left) install() raises; nothing else needs it
  capture::bind_guards(sub);
  capture::bind_cache(sub);
  capture::bind_hook(sub);
  // Python code run while the interpreter shuts down (atexit handlers run
  // LIFO, so later ones first; __del__ methods, daemon threads) must not meet
  // a callback whose modules are being torn down.
  pybind11::module_::import("atexit").attr("register")(sub.attr("uninstall"));
}
