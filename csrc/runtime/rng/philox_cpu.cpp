#include "runtime/rng/philox_cpu.h"

namespace janus::rng {
namespace {

// Yields consecutive words from `offset`, computing each block once.
class WordReader {
 public:
  WordReader(uint64_t seed, uint64_t offset) : seed_(seed), next_(offset) {}

  uint32_t next() {
    const uint64_t block = next_ / 4;
    if (block != cached_block_ || !has_block_) {
      block_ = stream_block(seed_, block);
      cached_block_ = block;
      has_block_ = true;
    }
    return block_.v[next_++ % 4];
  }

 private:
  uint64_t seed_;
  uint64_t next_;
  uint64_t cached_block_ = 0;
  bool has_block_ = false;
  Block block_{};
};

template <typename T>
uint64_t fill_normal_impl(T* out, size_t n, uint64_t seed, uint64_t offset) {
  WordReader words(seed, offset);
  for (size_t i = 0; i < n; i += 2) {
    const uint32_t w0 = words.next();
    const uint32_t w1 = words.next();
    T z0, z1;
    normal_pair<T>(w0, w1, &z0, &z1);
    out[i] = z0;
    if (i + 1 < n) out[i + 1] = z1;
  }
  return words_used(Distribution::kNormal, sizeof(T) == 8, n);
}

}  // namespace

uint64_t fill_uniform(float* out, size_t n, uint64_t seed, uint64_t offset) {
  WordReader words(seed, offset);
  for (size_t i = 0; i < n; ++i) out[i] = uniform_float(words.next());
  return words_used(Distribution::kUniform, false, n);
}

uint64_t fill_uniform(double* out, size_t n, uint64_t seed, uint64_t offset) {
  WordReader words(seed, offset);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t w0 = words.next();
    out[i] = uniform_double(w0, words.next());
  }
  return words_used(Distribution::kUniform, true, n);
}

uint64_t fill_normal(float* out, size_t n, uint64_t seed, uint64_t offset) {
  return fill_normal_impl(out, n, seed, offset);
}

uint64_t fill_normal(double* out, size_t n, uint64_t seed, uint64_t offset) {
  return fill_normal_impl(out, n, seed, offset);
}

void fill_words(uint32_t* out, size_t n, uint64_t seed, uint64_t offset) {
  WordReader words(seed, offset);
  for (size_t i = 0; i < n; ++i) out[i] = words.next();
}

}  // namespace janus::rng
