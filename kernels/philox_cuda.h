// Host entry points of the Philox kernels (kernels/philox.cu). Each launches on
// `stream` and returns the words used; errors come back as std::runtime_error.
#pragma once

#include <cstddef>
#include <cstdint>

namespace janus::cuda {

uint64_t philox_uniform(void* out, size_t n, bool is_double, uint64_t seed, uint64_t offset,
                        uintptr_t stream);
uint64_t philox_normal(void* out, size_t n, bool is_double, uint64_t seed, uint64_t offset,
                       uintptr_t stream);
int runtime_version();

}  // namespace janus::cuda
