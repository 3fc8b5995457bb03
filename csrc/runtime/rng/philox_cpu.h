// Filling host buffers from the Philox stream (see philox.h for its definition).
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/rng/philox.h"

namespace janus::rng {

// Each fills out[0..n) from the stream of `seed` at word `offset` and returns
// the words used (a multiple of 4). Thread-safe; reads no global state.
uint64_t fill_uniform(float* out, size_t n, uint64_t seed, uint64_t offset);
uint64_t fill_uniform(double* out, size_t n, uint64_t seed, uint64_t offset);
uint64_t fill_normal(float* out, size_t n, uint64_t seed, uint64_t offset);
uint64_t fill_normal(double* out, size_t n, uint64_t seed, uint64_t offset);
void fill_words(uint32_t* out, size_t n, uint64_t seed, uint64_t offset);

}  // namespace janus::rng
