// Philox random fills on the GPU: the same stream as the CPU (csrc/runtime/rng/
// philox.h), one thread per 4-word block, so results are bit-identical to the
// host's for uniforms and agree to rounding for normals.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "philox_cuda.h"
#include "runtime/rng/philox.h"

namespace janus::cuda {
namespace {

using rng::Block;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
  }
}

// Thread t handles words [offset + 4t, offset + 4t + 4): offsets are block-aligned.
__global__ void uniform_f32(float* out, size_t n, uint64_t seed, uint64_t offset) {
  const size_t t = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  const size_t first = 4 * t;
  if (first >= n) return;
  const Block b = rng::stream_block(seed, offset / 4 + t);
  for (int lane = 0; lane < 4 && first + lane < n; ++lane) {
    out[first + lane] = rng::uniform_float(b.v[lane]);
  }
}

__global__ void uniform_f64(double* out, size_t n, uint64_t seed, uint64_t offset) {
  const size_t t = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  const size_t first = 2 * t;  // two doubles per block
  if (first >= n) return;
  const Block b = rng::stream_block(seed, offset / 4 + t);
  out[first] = rng::uniform_double(b.v[0], b.v[1]);
  if (first + 1 < n) out[first + 1] = rng::uniform_double(b.v[2], b.v[3]);
}

template <typename T>
__global__ void normal_kernel(T* out, size_t n, uint64_t seed, uint64_t offset) {
  const size_t t = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  const size_t first = 4 * t;  // two pairs per block
  if (first >= n) return;
  const Block b = rng::stream_block(seed, offset / 4 + t);
  for (int pair = 0; pair < 2; ++pair) {
    const size_t i = first + 2 * pair;
    if (i >= n) break;
    T z0, z1;
    rng::normal_pair<T>(b.v[2 * pair], b.v[2 * pair + 1], &z0, &z1);
    out[i] = z0;
    if (i + 1 < n) out[i + 1] = z1;
  }
}

size_t blocks_for(size_t threads) { return (threads + 255) / 256; }

void check_offset(uint64_t offset) {
  if (offset % 4 != 0) throw std::invalid_argument("Philox offset must be a multiple of 4");
}

}  // namespace

uint64_t philox_uniform(void* out, size_t n, bool is_double, uint64_t seed, uint64_t offset,
                        uintptr_t stream) {
  check_offset(offset);
  auto s = reinterpret_cast<cudaStream_t>(stream);
  if (n > 0) {
    if (is_double) {
      const size_t threads = (n + 1) / 2;
      uniform_f64<<<blocks_for(threads), 256, 0, s>>>(static_cast<double*>(out), n, seed, offset);
    } else {
      const size_t threads = (n + 3) / 4;
      uniform_f32<<<blocks_for(threads), 256, 0, s>>>(static_cast<float*>(out), n, seed, offset);
    }
    check(cudaGetLastError(), "philox_uniform launch");
  }
  return rng::words_used(rng::Distribution::kUniform, is_double, n);
}

uint64_t philox_normal(void* out, size_t n, bool is_double, uint64_t seed, uint64_t offset,
                       uintptr_t stream) {
  check_offset(offset);
  auto s = reinterpret_cast<cudaStream_t>(stream);
  if (n > 0) {
    const size_t threads = (n + 3) / 4;
    if (is_double) {
      normal_kernel<double>
          <<<blocks_for(threads), 256, 0, s>>>(static_cast<double*>(out), n, seed, offset);
    } else {
      normal_kernel<float>
          <<<blocks_for(threads), 256, 0, s>>>(static_cast<float*>(out), n, seed, offset);
    }
    check(cudaGetLastError(), "philox_normal launch");
  }
  return rng::words_used(rng::Distribution::kNormal, is_double, n);
}

int runtime_version() {
  int version = 0;
  check(cudaRuntimeGetVersion(&version), "cudaRuntimeGetVersion");
  return version;
}

}  // namespace janus::cuda
