// The janus._C module: the CPU runtime, eager kernels, Philox and CUDA
// bindings here; the IR in bind_ir.cpp, the capture layer in csrc/capture.
//
// Arrays cross as numpy buffers; each binding checks dtype and contiguity and
// raises ValueError (never crashes) on bad input. Long loops release the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bind_ir.h"
#include "capture/capture.h"
#include "ir/graph.h"
#include "passes/passes.h"
#include "runtime/cpu/control.h"
#include "runtime/cpu/dtype.h"
#include "runtime/cpu/eager_kernels.h"
#include "runtime/cpu/gemm.h"
#include "runtime/cpu/program.h"
#include "runtime/rng/philox_cpu.h"

#if defined(JANUS_HAS_CUDA)
#include "philox_cuda.h"
#include "runtime/cuda/blas.h"
#endif

namespace py = pybind11;

namespace {

// A C-contiguous, writable float32 or float64 array, or ValueError.
py::buffer_info writable_float_buffer(const py::array& out, const char* fn) {
  if (!(out.flags() & py::array::c_style)) {
    throw py::value_error(std::string(fn) + ": output array must be C-contiguous");
  }
  if (!out.writeable()) {
    throw py::value_error(std::string(fn) + ": output array is read-only");
  }
  const auto kind = out.dtype();
  if (!kind.is(py::dtype::of<float>()) && !kind.is(py::dtype::of<double>())) {
    throw py::value_error(std::string(fn) + ": output dtype must be float32 or float64, got " +
                          std::string(py::str(kind)));
  }
  return out.request(true);
}

template <typename Fill32, typename Fill64>
uint64_t fill(py::array out, uint64_t seed, uint64_t offset, const char* fn, Fill32 fill32,
              Fill64 fill64) {
  const py::buffer_info info = writable_float_buffer(out, fn);
  const size_t n = static_cast<size_t>(info.size);
  const bool is_double = info.itemsize == 8;
  py::gil_scoped_release release;
  return is_double ? fill64(static_cast<double*>(info.ptr), n, seed, offset)
                   : fill32(static_cast<float*>(info.ptr), n, seed, offset);
}

// Softmax over the last dim of a C-contiguous float array into a fresh array.
py::array softmax_last_dim(const py::array& x, bool log) {
  if (!(x.flags() & py::array::c_style) || x.ndim() == 0) {
    throw py::value_error("softmax_last_dim: input must be C-contiguous with at least one dim");
  }
  const size_t cols = static_cast<size_t>(x.shape(x.ndim() - 1));
  const size_t rows = cols ? static_cast<size_t>(x.size()) / cols : 0;
  py::array out(x.dtype(), std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  if (x.dtype().is(py::dtype::of<float>())) {
    const float* in = static_cast<const float*>(x.data());
    float* dst = static_cast<float*>(out.mutable_data());
    janus::cpu::softmax_rows(in, dst, rows, cols, log);
  } else if (x.dtype().is(py::dtype::of<double>())) {
    const double* in = static_cast<const double*>(x.data());
    double* dst = static_cast<double*>(out.mutable_data());
    janus::cpu::softmax_rows(in, dst, rows, cols, log);
  } else {
    throw py::value_error("softmax_last_dim: dtype must be float32 or float64");
  }
  return out;
}

// Elementwise logistic sigmoid of a C-contiguous float array into a fresh array.
py::array sigmoid(const py::array& x) {
  if (!(x.flags() & py::array::c_style)) {
    throw py::value_error("sigmoid: input must be C-contiguous");
  }
  py::array out(x.dtype(), std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  const size_t n = static_cast<size_t>(x.size());
  if (x.dtype().is(py::dtype::of<float>())) {
    janus::cpu::sigmoid(static_cast<const float*>(x.data()),
                        static_cast<float*>(out.mutable_data()), n);
  } else if (x.dtype().is(py::dtype::of<double>())) {
    janus::cpu::sigmoid(static_cast<const double*>(x.data()),
                        static_cast<double*>(out.mutable_data()), n);
  } else {
    throw py::value_error("sigmoid: dtype must be float32 or float64");
  }
  return out;
}

namespace ir = janus::ir;

// Two inputs of a compiled call share memory where the trace saw them apart
// (`f(a, a)`, overlapping views), and the call writes inputs in place: a
// write through one would change the other, which the graph does not follow.
struct InputsOverlap : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The bytes `a` spans, [first, last), whatever its strides; empty if it has
// no elements.
std::pair<uintptr_t, uintptr_t> byte_extent(const py::array& a) {
  const auto start = reinterpret_cast<uintptr_t>(a.data());
  intptr_t low = 0, high = 0;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (a.shape(d) == 0) return {start, start};
    const intptr_t reach = static_cast<intptr_t>(a.shape(d) - 1) * a.strides(d);
    (reach < 0 ? low : high) += reach;
  }
  return {start + low, start + high + a.itemsize()};
}

// Throws InputsOverlap if any two of the (non-empty) extents overlap.
void check_apart(std::vector<std::pair<uintptr_t, uintptr_t>> extents) {
  extents.erase(std::remove_if(extents.begin(), extents.end(),
                               [](const auto& e) { return e.first == e.second; }),
                extents.end());
  std::sort(extents.begin(), extents.end());
  for (size_t k = 1; k < extents.size(); ++k) {
    if (extents[k].first < extents[k - 1].second) {
      throw InputsOverlap("two inputs of the call share memory");
    }
  }
}

const char* numpy_dtype(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::kFloat32:
      return "float32";
    case ir::DType::kFloat64:
      return "float64";
    case ir::DType::kFloat16:
      return "float16";
    case ir::DType::kInt64:
      return "int64";
    case ir::DType::kInt32:
      return "int32";
    case ir::DType::kInt16:
      return "int16";
    case ir::DType::kInt8:
      return "int8";
    case ir::DType::kUInt8:
      return "uint8";
    default:
      return "bool";
  }
}

// A numpy array over a buffer the program owns (no copy); `owner` keeps
// nothing alive, so the array must not outlive the call that made it.
py::array array_over(const ir::TensorType& type, void* data, const py::handle& owner) {
  std::vector<py::ssize_t> shape;
  for (const ir::Dim& dim : type.shape) shape.push_back(dim.size);
  return py::array(py::dtype(numpy_dtype(type.dtype)), shape, data, owner);
}

// A callback node's runner: calls callables[target] with a numpy copy of each
// operand (the callable may keep them) and checks that it returns one array
// of the declared type per result (None for none). Runs with the GIL, which
// the executor holds only here; a Python exception raised by the callable
// propagates unchanged (error_already_set) and aborts the run.
janus::cpu::Program::Callback host_callback(py::dict callables) {
  return [callables](const ir::Node& node, const std::vector<void*>& ins,
                     const std::vector<void*>& outs) {
    py::gil_scoped_acquire gil;
    const std::string target = node.attrs.at("target").s;
    if (!callables.contains(target)) {
      throw py::key_error("callback target '" + target + "' has no callable in this program");
    }
    const py::capsule owner(&node, [](void*) {});
    py::list args;
    for (size_t k = 0; k < node.operands.size(); ++k) {
      const ir::Value* v = std::get<ir::Value*>(node.operands[k]);
      args.append(array_over(v->type, ins[k], owner).attr("copy")());
    }
    const py::object result = callables[target.c_str()](*args);
    std::vector<py::object> results;
    if (node.outputs.size() == 1 && !py::isinstance<py::tuple>(result) &&
        !py::isinstance<py::list>(result)) {
      results.push_back(result);
    } else if (!result.is_none()) {
      for (const py::handle& item : py::iter(result)) {
        results.push_back(py::reinterpret_borrow<py::object>(item));
      }
    }
    if (results.size() != node.outputs.size()) {
      throw py::type_error("callback " + target + " returned " + std::to_string(results.size()) +
                           " values, its node declares " + std::to_string(node.outputs.size()));
    }
    const py::module_ np = py::module_::import("numpy");
    for (size_t k = 0; k < results.size(); ++k) {
      const ir::TensorType& type = node.outputs[k]->type;
      const py::array got = np.attr("asarray")(results[k]);
      bool ok = got.dtype().is(py::dtype(numpy_dtype(type.dtype))) &&
                static_cast<size_t>(got.ndim()) == type.shape.size();
      for (size_t d = 0; ok && d < type.shape.size(); ++d) {
        ok = got.shape(static_cast<py::ssize_t>(d)) == type.shape[d].size;
      }
      if (!ok) {
        throw py::type_error("callback " + target + ": result " + std::to_string(k) + " is " +
                             std::string(py::str(got.dtype())) +
                             std::string(py::str(py::tuple(got.attr("shape")))) +
                             ", the node declares " + ir::to_string(type));
      }
      np.attr("copyto")(array_over(type, outs[k], owner), got);
    }
  };
}

// The CPU executor. The fallback runs nodes that have no native kernel:
// fallback(op, args, attrs, outs) computes op(*args, **attrs) with the eager
// kernel and writes the results into the arrays `outs`.
void bind_cpu(py::module_& m) {
  py::module_ sub = m.def_submodule("cpu", "The CPU executor (csrc/runtime/cpu).");
  using janus::cpu::Program;
  py::register_exception_translator([](std::exception_ptr thrown) {
    try {
      if (thrown) std::rethrow_exception(thrown);
    } catch (const janus::cpu::ShapeSpeculationFailed& e) {
      // One Python class for native kernels and the fallback alike; janus.jit
      // is loaded (it made the program).
      const py::object cls = py::module_::import("janus.jit.program").attr("ShapeSpeculationError");
      PyErr_SetString(cls.ptr(), e.what());
    } catch (const janus::cpu::AssertionFailed& e) {
      const py::object cls = py::module_::import("janus.jit.program").attr("AssertionFailed");
      PyErr_SetObject(cls.ptr(), cls(e.id, e.message).ptr());
    } catch (const InputsOverlap& e) {
      const py::object cls = py::module_::import("janus.jit.program").attr("InputsOverlap");
      PyErr_SetString(cls.ptr(), e.what());
    }
  });
  sub.def("get_threads", &janus::cpu::program_threads,
          "Workers new programs use for independent branches (default: one per core).");
  sub.def("set_threads", &janus::cpu::set_program_threads, py::arg("threads"),
          "Sets the workers for programs built from now on (0: one per core, 1: serial).");
  sub.def("get_blas_threads", &janus::cpu::blas_threads, "OpenBLAS's thread count.");
  sub.def("set_blas_threads", &janus::cpu::set_blas_threads, py::arg("threads"),
          "Sets OpenBLAS's process-wide thread count (parallel program workers use a share).");
  py::class_<Program>(sub, "Program")
      .def(py::init([](const ir::Graph& graph, py::object fallback, py::object callbacks,
                       int threads, const std::vector<int>& staged_outputs) {
             Program::Fallback call;
             if (!fallback.is_none()) {
               call = [fallback](const ir::Node& node, const std::vector<void*>& ins,
                                 const std::vector<void*>& outs) {
                 py::gil_scoped_acquire gil;
                 // A no-op owner (any non-null pointer: `ins` is empty for nodes
                 // without operands, and a capsule of nullptr is an error).
                 py::capsule owner(&node, [](void*) {});
                 py::list args, results;
                 for (size_t k = 0; k < node.operands.size(); ++k) {
                   if (const auto* v = std::get_if<ir::Value*>(&node.operands[k])) {
                     args.append(array_over((*v)->type, ins[k], owner));
                   } else {
                     args.append(from_attr(std::get<ir::Attr>(node.operands[k])));
                   }
                 }
                 py::dict attrs;
                 for (const auto& [key, attr] : node.attrs) attrs[py::str(key)] = from_attr(attr);
                 for (size_t k = 0; k < outs.size(); ++k) {
                   results.append(array_over(node.outputs[k]->type, outs[k], owner));
                 }
                 fallback(ir::op_name(node.kind), args, attrs, results);
               };
             }
             Program::Callback callback;
             if (!callbacks.is_none()) callback = host_callback(callbacks.cast<py::dict>());
             // The program keeps its own copy: later passes on `graph` do not touch it.
             return std::make_unique<Program>(ir::parse(ir::print(graph)), std::move(call),
                                              std::move(callback), threads, staged_outputs);
           }),
           py::arg("graph"), py::arg("fallback") = py::none(), py::arg("callbacks") = py::none(),
           py::arg("threads") = 0, py::arg("staged_outputs") = std::vector<int>{},
           "threads: workers for independent branches (0: get_threads(), 1: serial).\n"
           "staged_outputs: output indices written only after the last step (call's `into`).")
      .def(
          "run",
          [](Program& p, const py::sequence& inputs, const py::sequence& outputs,
             int64_t rng_shift) {
            const auto& g = p.graph();
            auto check = [](const py::handle& obj, const ir::Value* v, bool write) {
              if (!py::isinstance<py::array>(obj)) {
                throw py::type_error("%" + v->name + " expects a numpy array, got " +
                                     std::string(py::str(obj.get_type().attr("__name__"))));
              }
              const auto a = py::reinterpret_borrow<py::array>(obj);
              const py::dtype want(numpy_dtype(v->type.dtype));
              bool ok = a.dtype().is(want) && (a.flags() & py::array::c_style) &&
                        static_cast<size_t>(a.ndim()) == v->type.shape.size() &&
                        (!write || a.writeable());
              for (size_t d = 0; ok && d < v->type.shape.size(); ++d) {
                ok = a.shape(static_cast<py::ssize_t>(d)) == v->type.shape[d].size;
              }
              if (!ok) {
                throw py::value_error("%" + v->name + " expects a C-contiguous" +
                                      (write ? " writable " : " ") + "array of type " +
                                      ir::to_string(v->type));
              }
              return a;
            };
            if (inputs.size() != g.inputs().size() || outputs.size() != g.outputs().size()) {
              throw py::value_error("the program takes " + std::to_string(g.inputs().size()) +
                                    " inputs and " + std::to_string(g.outputs().size()) +
                                    " outputs");
            }
            std::vector<void*> ins, outs;
            for (size_t k = 0; k < inputs.size(); ++k) {
              ins.push_back(const_cast<void*>(check(inputs[k], g.inputs()[k], false).data()));
            }
            for (size_t k = 0; k < outputs.size(); ++k) {
              outs.push_back(check(outputs[k], g.outputs()[k], true).mutable_data());
            }
            py::gil_scoped_release release;
            p.run(ins, outs, rng_shift);
          },
          py::arg("inputs"), py::arg("outputs"), py::arg("rng_shift") = 0,
          "Runs the program on C-contiguous arrays, writing its results into `outputs`.")
      .def(
          "call",
          [](Program& p, const py::sequence& inputs, int64_t rng_shift, const py::dict& into) {
            // The compiled-call path: inputs as they come (converted only
            // when not already C-contiguous arrays of the input's type),
            // fresh output arrays, and no Python in between.
            const auto& g = p.graph();
            if (inputs.size() != g.inputs().size()) {
              throw py::type_error("the program takes " + std::to_string(g.inputs().size()) +
                                   " inputs, got " + std::to_string(inputs.size()));
            }
            std::vector<py::array> held;  // keeps converted inputs alive
            std::vector<void*> ins, outs;
            // Inputs written in place (into) must not alias the others.
            const bool writes = py::len(into) > 0;
            std::vector<std::pair<uintptr_t, uintptr_t>> extents;
            std::vector<PyObject*> read;  // the input arrays as passed
            for (size_t k = 0; k < inputs.size(); ++k) {
              const ir::Value* v = g.inputs()[k];
              const py::dtype want(numpy_dtype(v->type.dtype));
              py::array a = py::array::ensure(inputs[k]);
              if (writes && a) {
                extents.push_back(byte_extent(a));
                read.push_back(a.ptr());
              }
              if (!a || !a.dtype().is(want) || !(a.flags() & py::array::c_style)) {
                // (asarray, not ascontiguousarray, which makes 0-d arrays 1-d)
                a = py::module_::import("numpy").attr("asarray")(inputs[k], want, "C");
              }
              bool ok = static_cast<size_t>(a.ndim()) == v->type.shape.size();
              for (size_t d = 0; ok && d < v->type.shape.size(); ++d) {
                ok = a.shape(static_cast<py::ssize_t>(d)) == v->type.shape[d].size;
              }
              if (!ok) {
                throw py::value_error("%" + v->name + " expects an array of type " +
                                      ir::to_string(v->type));
              }
              ins.push_back(const_cast<void*>(a.data()));
              held.push_back(std::move(a));
            }
            if (writes) {
              for (const auto& item : into) {  // (a buffer only written: `x.copy_(y)`)
                const py::handle buffer = item.second;
                const bool is_input =
                    std::find(read.begin(), read.end(), buffer.ptr()) != read.end();
                if (!is_input && py::isinstance<py::array>(buffer)) {
                  extents.push_back(byte_extent(py::reinterpret_borrow<py::array>(buffer)));
                }
              }
              check_apart(std::move(extents));
            }
            py::list results;
            for (size_t k = 0; k < g.outputs().size(); ++k) {
              const ir::Value* v = g.outputs()[k];
              const py::dtype want(numpy_dtype(v->type.dtype));
              // A staged output may go into a buffer of the caller's (`into`),
              // when it fits exactly; otherwise it gets a new array.
              // (Not an output that is a graph input: those are copied before
              // the others, from caller buffers that `into` may name.)
              const py::object given = p.staged(k) && v->producer != nullptr
                                           ? into.attr("get")(py::int_(k))
                                           : py::object(py::none());
              if (py::isinstance<py::array>(given)) {
                const auto a = py::reinterpret_borrow<py::array>(given);
                bool fits = a.dtype().is(want) && (a.flags() & py::array::c_style) &&
                            a.writeable() && static_cast<size_t>(a.ndim()) == v->type.shape.size();
                for (size_t d = 0; fits && d < v->type.shape.size(); ++d) {
                  fits = a.shape(static_cast<py::ssize_t>(d)) == v->type.shape[d].size;
                }
                if (fits) {
                  outs.push_back(const_cast<void*>(a.data()));
                  results.append(a);
                  continue;
                }
              }
              std::vector<py::ssize_t> shape;
              for (const auto& d : v->type.shape) shape.push_back(d.size);
              py::array out(want, shape);
              outs.push_back(out.mutable_data());
              results.append(std::move(out));
            }
            {
              py::gil_scoped_release release;
              p.run(ins, outs, rng_shift);
            }
            return results;
          },
          py::arg("inputs"), py::arg("rng_shift") = 0, py::arg("into") = py::dict(),
          "Runs the program on `inputs` (array-likes, one per graph input) and\n"
          "returns a list with an array per graph output: a new one, or for a\n"
          "staged output k, into[k] when it is a C-contiguous writable array of\n"
          "the output's type (written only once every step has run). With `into`,\n"
          "inputs that share memory raise janus.jit.program.InputsOverlap.")
      .def("fallback_ops", &Program::fallback_ops)
      .def("set_profiling", &Program::set_profiling, py::arg("on"),
           "While on, runs are serial and time each step (see profile()).")
      .def(
          "profile",
          [](const Program& p) {
            py::list rows;
            const auto& seconds = p.step_seconds();
            for (size_t i = 0; i < seconds.size(); ++i) {
              const ir::Node& node = p.step_node(i);
              py::list outputs;
              for (const ir::Value* out : node.outputs) {
                outputs.append("%" + out->name + ": " + ir::to_string(out->type));
              }
              rows.append(py::make_tuple(ir::op_name(node.kind), outputs, seconds[i]));
            }
            return rows;
          },
          "Per step, in schedule order: (op, its results with types, seconds summed\n"
          "over the runs since set_profiling(True)).")
      .def_property_readonly("arena_bytes", &Program::arena_bytes)
      .def_property_readonly("in_place_count", &Program::in_place_count,
                             "Results written over a dead operand's buffer.")
      .def_property_readonly("steps", &Program::steps)
      .def_property_readonly("workers", &Program::workers)
      .def("staged", &Program::staged, py::arg("output"),
           "Whether output k is written to the caller's buffer only after the last step.")
      .def("__str__", [](const Program& p) { return ir::print(p.graph()); });
}

// a @ b for C-contiguous 2-D float arrays, through the CPU runtime's GEMM.
py::array matmul_2d(const py::array& a, const py::array& b) {
  if (a.ndim() != 2 || b.ndim() != 2 || !(a.flags() & py::array::c_style) ||
      !(b.flags() & py::array::c_style)) {
    throw py::value_error("matmul_2d: expects C-contiguous 2-D arrays");
  }
  if (!a.dtype().is(b.dtype())) throw py::value_error("matmul_2d: dtypes differ");
  const int64_t m = a.shape(0), k = a.shape(1), n = b.shape(1);
  if (b.shape(0) != k) {
    throw py::value_error("matmul_2d: shapes " + std::to_string(m) + "x" + std::to_string(k) +
                          " and " + std::to_string(b.shape(0)) + "x" + std::to_string(n) +
                          " cannot be multiplied");
  }
  py::array out(a.dtype(), std::vector<py::ssize_t>{m, n});
  if (a.dtype().is(py::dtype::of<float>())) {
    const auto* pa = static_cast<const float*>(a.data());
    const auto* pb = static_cast<const float*>(b.data());
    auto* pc = static_cast<float*>(out.mutable_data());
    py::gil_scoped_release release;
    janus::cpu::gemm<float>(false, false, m, n, k, 1.0f, pa, k, pb, n, 0.0f, pc, n);
  } else if (a.dtype().is(py::dtype::of<double>())) {
    const auto* pa = static_cast<const double*>(a.data());
    const auto* pb = static_cast<const double*>(b.data());
    auto* pc = static_cast<double*>(out.mutable_data());
    py::gil_scoped_release release;
    janus::cpu::gemm<double>(false, false, m, n, k, 1.0, pa, k, pb, n, 0.0, pc, n);
  } else {
    throw py::value_error("matmul_2d: dtype must be float32 or float64");
  }
  return out;
}

py::dict build_info() {
  py::dict info;
#if defined(JANUS_VERSION)
  info["version"] = JANUS_VERSION;
#else
  info["version"] = "unknown";
#endif
#if defined(__clang__)
  info["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  info["compiler"] = std::string("gcc ") + __VERSION__;
#else
  info["compiler"] = "unknown";
#endif
#if defined(JANUS_HAS_CUDA)
  info["cuda"] = true;
  info["cuda_version"] = janus::cuda::runtime_version();
#else
  info["cuda"] = false;
  info["cuda_version"] = py::none();
#endif
  info["blas"] = janus::cpu::has_blas();
#if defined(NDEBUG)
  info["debug"] = false;
#else
  info["debug"] = true;
#endif
  return info;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "janus native core";
  m.def("build_info", &build_info, "How this extension was built.");
  bind_ir(m);
  bind_cpu(m);
  bind_capture(m);
  m.def("matmul_2d", &matmul_2d, py::arg("a"), py::arg("b"),
        "a @ b for C-contiguous 2-D float arrays through the CPU runtime's GEMM (BLAS).");
  m.def("sigmoid", &sigmoid, py::arg("x"), "Logistic sigmoid of a C-contiguous float array.");
  m.def("softmax_last_dim", &softmax_last_dim, py::arg("x"), py::arg("log"),
        "Softmax (or log-softmax) over the last dim of a C-contiguous float array.");

  namespace rng = janus::rng;
  m.def(
      "philox_uniform_",
      [](py::array out, uint64_t seed, uint64_t offset) {
        return fill(
            out, seed, offset, "philox_uniform_",
            [](float* p, size_t n, uint64_t s, uint64_t o) {
              return rng::fill_uniform(p, n, s, o);
            },
            [](double* p, size_t n, uint64_t s, uint64_t o) {
              return rng::fill_uniform(p, n, s, o);
            });
      },
      py::arg("out"), py::arg("seed"), py::arg("offset"),
      "Fills `out` with uniforms in [0, 1) from the Philox stream; returns the words used.");
  m.def(
      "philox_normal_",
      [](py::array out, uint64_t seed, uint64_t offset) {
        return fill(
            out, seed, offset, "philox_normal_",
            [](float* p, size_t n, uint64_t s, uint64_t o) { return rng::fill_normal(p, n, s, o); },
            [](double* p, size_t n, uint64_t s, uint64_t o) {
              return rng::fill_normal(p, n, s, o);
            });
      },
      py::arg("out"), py::arg("seed"), py::arg("offset"),
      "Fills `out` with standard normals from the Philox stream; returns the words used.");
  m.def(
      "philox_words",
      [](uint64_t seed, uint64_t offset, size_t n) {
        py::array_t<uint32_t> out(n);
        rng::fill_words(out.mutable_data(), n, seed, offset);
        return out;
      },
      py::arg("seed"), py::arg("offset"), py::arg("n"), "Raw 32-bit words of the stream.");

#if defined(JANUS_HAS_CUDA)
  m.attr("has_cuda") = true;
  auto cuda_fill = [](bool normal) {
    return [normal](uintptr_t ptr, size_t n, const std::string& dtype, uint64_t seed,
                    uint64_t offset, uintptr_t stream) {
      if (dtype != "float32" && dtype != "float64") {
        throw py::value_error("dtype must be 'float32' or 'float64', got '" + dtype + "'");
      }
      const bool is_double = dtype == "float64";
      void* out = reinterpret_cast<void*>(ptr);
      return normal ? janus::cuda::philox_normal(out, n, is_double, seed, offset, stream)
                    : janus::cuda::philox_uniform(out, n, is_double, seed, offset, stream);
    };
  };
  m.def("cuda_philox_uniform_", cuda_fill(false), py::arg("ptr"), py::arg("n"), py::arg("dtype"),
        py::arg("seed"), py::arg("offset"), py::arg("stream"));
  m.def("cuda_philox_normal_", cuda_fill(true), py::arg("ptr"), py::arg("n"), py::arg("dtype"),
        py::arg("seed"), py::arg("offset"), py::arg("stream"));
  m.def(
      "cuda_gemm",
      [](bool trans_a, bool trans_b, int64_t m_, int64_t n, int64_t k, int64_t batch,
         int64_t stride_a, int64_t stride_b, int64_t stride_c, double alpha, double beta,
         const std::string& dtype, uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t stream,
         uintptr_t workspace, size_t workspace_bytes) {
        if (dtype != "float32" && dtype != "float64") {
          throw py::value_error("cuda_gemm: dtype must be 'float32' or 'float64', got '" + dtype +
                                "'");
        }
        janus::cuda::Gemm g{
            trans_a,
            trans_b,
            m_,
            n,
            k,
            batch,
            stride_a,
            stride_b,
            stride_c,
            alpha,
            beta,
            dtype == "float64" ? janus::cuda::GemmType::kFloat64 : janus::cuda::GemmType::kFloat32};
        janus::cuda::gemm(g, a, b, c, stream, workspace, workspace_bytes);
      },
      py::arg("trans_a"), py::arg("trans_b"), py::arg("m"), py::arg("n"), py::arg("k"),
      py::arg("batch"), py::arg("stride_a"), py::arg("stride_b"), py::arg("stride_c"),
      py::arg("alpha"), py::arg("beta"), py::arg("dtype"), py::arg("a"), py::arg("b"), py::arg("c"),
      py::arg("stream"), py::arg("workspace"), py::arg("workspace_bytes"),
      "Row-major C = alpha * op(A) op(B) + beta * C (strided batches) through janus's own "
      "cuBLAS handle on `stream`; usable while the stream is being captured.");
  m.def("cublas_path", &janus::cuda::cublas_path);
#else
  m.attr("has_cuda") = false;
#endif
}
