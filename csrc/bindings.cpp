// The janus._C module: every C++ binding lives in this one file.
//
// Arrays cross as numpy buffers; each binding checks dtype and contiguity and
// raises ValueError (never crashes) on bad input. Long loops release the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cpu/eager_kernels.h"
#include "runtime/rng/philox_cpu.h"

#if defined(JANUS_HAS_CUDA)
#include "philox_cuda.h"
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
#else
  m.attr("has_cuda") = false;
#endif
}
