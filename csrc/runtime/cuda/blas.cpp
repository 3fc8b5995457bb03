#include "runtime/cuda/blas.h"

#include <cublas_v2.h>
#include <dlfcn.h>

#include <fstream>
#include <mutex>
#include <stdexcept>

namespace janus::cuda {
namespace {

// The cuBLAS entry points janus uses, resolved from the opened library.
struct Cublas {
  void* library = nullptr;
  std::string path;
  cublasHandle_t handle = nullptr;
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetWorkspace_v2) set_workspace = nullptr;
  // (Spelled out: C++ sees cublasGemmStridedBatchedEx as overloaded.)
  using GemmFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int,
                                    int, const void*, const void*, cudaDataType, int, long long,
                                    const void*, cudaDataType, int, long long, const void*, void*,
                                    cudaDataType, int, long long, int, cublasComputeType_t,
                                    cublasGemmAlgo_t);
  GemmFn gemm = nullptr;
};

// The library cupy (or anyone) already mapped into this process, if any.
std::string mapped_cublas() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t at = line.find('/');
    if (at != std::string::npos && line.find("libcublas.so", at) != std::string::npos &&
        line.find("libcublasLt", at) == std::string::npos) {
      return line.substr(at);
    }
  }
  return "";
}

template <typename F>
void resolve(Cublas& c, F& fn, const char* name) {
  fn = reinterpret_cast<F>(dlsym(c.library, name));
  if (!fn) throw std::runtime_error(std::string("cuBLAS has no ") + name + " (" + c.path + ")");
}

Cublas& cublas() {
  static Cublas c;
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    std::string candidates[] = {mapped_cublas(), "libcublas.so.13", "libcublas.so.12",
                                "libcublas.so"};
    for (const std::string& name : candidates) {
      if (name.empty()) continue;
      c.library = dlopen(name.c_str(), RTLD_NOW | RTLD_GLOBAL);
      if (c.library) {
        c.path = name;
        break;
      }
    }
    if (!c.library) {
      error = "cuBLAS could not be loaded (libcublas.so.13 not found; install cupy-cuda13x)";
      return;
    }
    try {
      resolve(c, c.create, "cublasCreate_v2");
      resolve(c, c.set_stream, "cublasSetStream_v2");
      resolve(c, c.set_workspace, "cublasSetWorkspace_v2");
      resolve(c, c.gemm, "cublasGemmStridedBatchedEx");
      if (c.create(&c.handle) != CUBLAS_STATUS_SUCCESS) error = "cublasCreate failed";
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  if (!error.empty()) throw std::runtime_error(error);
  return c;
}

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error(std::string(what) + " failed with cuBLAS status " +
                             std::to_string(static_cast<int>(status)));
  }
}

}  // namespace

void gemm(const Gemm& g, uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t stream,
          uintptr_t workspace, size_t workspace_bytes) {
  Cublas& lib = cublas();
  static std::mutex mutex;  // one handle: its stream and workspace are per call
  std::lock_guard<std::mutex> lock(mutex);
  check(lib.set_stream(lib.handle, reinterpret_cast<cudaStream_t>(stream)), "cublasSetStream");
  check(lib.set_workspace(lib.handle, reinterpret_cast<void*>(workspace), workspace_bytes),
        "cublasSetWorkspace");
  // cuBLAS is column-major: a row-major C (M x N) is a column-major C^T, and
  // C^T = op(B)^T op(A)^T, so B goes first and M, N swap.
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int64_t lda = g.trans_a ? g.m : g.k;
  const int64_t ldb = g.trans_b ? g.k : g.n;
  const bool f64 = g.type == GemmType::kFloat64;
  const cudaDataType_t type = f64 ? CUDA_R_64F : CUDA_R_32F;
  const cublasComputeType_t compute = f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F;
  const float alpha32 = static_cast<float>(g.alpha), beta32 = static_cast<float>(g.beta);
  const void* alpha = f64 ? static_cast<const void*>(&g.alpha) : &alpha32;
  const void* beta = f64 ? static_cast<const void*>(&g.beta) : &beta32;
  check(lib.gemm(lib.handle, op_b, op_a, static_cast<int>(g.n), static_cast<int>(g.m),
                 static_cast<int>(g.k), alpha, reinterpret_cast<const void*>(b), type,
                 static_cast<int>(ldb), g.stride_b, reinterpret_cast<const void*>(a), type,
                 static_cast<int>(lda), g.stride_a, beta, reinterpret_cast<void*>(c), type,
                 static_cast<int>(g.n), g.stride_c, static_cast<int>(g.batch), compute,
                 CUBLAS_GEMM_DEFAULT),
        "cublasGemmStridedBatchedEx");
}

std::string cublas_path() {
  try {
    return cublas().path;
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace janus::cuda
