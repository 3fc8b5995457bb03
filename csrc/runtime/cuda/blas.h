// cuBLAS GEMM for the CUDA runtime, on row-major buffers, safe inside CUDA
// graph capture.
//
// libcublas is opened with dlopen on first use rather than linked, so the
// extension imports on machines with no CUDA libraries at all, and shares the
// copy cupy already loaded when there is one. The handle is janus's own (one
// per process): cupy refuses cuBLAS calls while a stream is being captured,
// and capture needs a caller-provided workspace (cuBLAS would otherwise
// allocate during capture, which CUDA forbids).
#pragma once

#include <cstdint>
#include <string>

namespace janus::cuda {

enum class GemmType { kFloat32, kFloat64 };

struct Gemm {
  bool trans_a = false, trans_b = false;  // row-major op(A) is M x K, op(B) is K x N
  int64_t m = 0, n = 0, k = 0;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // elements between batch items
  double alpha = 1.0, beta = 0.0;                    // C = alpha * op(A) op(B) + beta * C
  GemmType type = GemmType::kFloat32;
};

// Launches the GEMM on `stream` (a cudaStream_t as an integer) with
// `workspace` (device memory, `workspace_bytes` long) as cuBLAS's scratch.
// Throws std::runtime_error naming the failing call.
void gemm(const Gemm& g, uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t stream,
          uintptr_t workspace, size_t workspace_bytes);

// Where libcublas was found ("" before the first GEMM).
std::string cublas_path();

}  // namespace janus::cuda
