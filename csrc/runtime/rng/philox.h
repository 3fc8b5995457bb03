// Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy
// as 1, 2, 3", SC'11): a counter-based generator. Written once for host and
// device so the CPU runtime, the eager layer and CUDA kernels draw identical
// numbers from the same generator state.
//
// The stream (a contract shared with src/janus/random.py):
//   * A generator state is (seed: uint64, offset: uint64).
//   * 32-bit word w of the stream is lane (w % 4) of
//       philox4x32_10(counter = (lo32(w / 4), hi32(w / 4), 0, 0),
//                     key     = (lo32(seed), hi32(seed))).
//   * float32 uniform element i uses word (offset + i): (word >> 8) * 2^-24.
//   * float64 uniform element i uses words offset + 2i and offset + 2i + 1:
//       ((w0 >> 5) * 2^26 + (w1 >> 6)) * 2^-53.
//   * Standard normals come in pairs by Box-Muller; pair k uses words
//     offset + 2k and offset + 2k + 1: u1 = ((w0 >> 8) + 1) * 2^-24 in (0, 1],
//     u2 = (w1 >> 8) * 2^-24, z0 = r cos(2 pi u2), z1 = r sin(2 pi u2) with
//     r = sqrt(-2 ln u1), computed in the element type. An odd count drops the
//     last z1.
//   * An op consumes words_used(...) words, a multiple of 4, so every op starts
//     on a block boundary (one GPU thread per block, no shared state).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define JANUS_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define JANUS_HOST_DEVICE inline
#endif

namespace janus::rng {

struct Block {
  uint32_t v[4];
};

JANUS_HOST_DEVICE void mul_hi_lo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t product = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(product >> 32);
  *lo = static_cast<uint32_t>(product);
}

// One Philox4x32 block: 10 rounds of the S-box with a Weyl-sequence key schedule.
JANUS_HOST_DEVICE Block philox4x32_10(Block counter, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t* c = counter.v;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += kWeyl0;
      key1 += kWeyl1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    mul_hi_lo(kMul0, c[0], &hi0, &lo0);
    mul_hi_lo(kMul1, c[2], &hi1, &lo1);
    const Block next = {{hi1 ^ c[1] ^ key0, lo1, hi0 ^ c[3] ^ key1, lo0}};
    counter = next;
  }
  return counter;
}

// Block number `index` of the stream of `seed`.
JANUS_HOST_DEVICE Block stream_block(uint64_t seed, uint64_t index) {
  const Block counter = {
      {static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), 0u, 0u}};
  return philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

JANUS_HOST_DEVICE uint32_t stream_word(uint64_t seed, uint64_t word) {
  return stream_block(seed, word / 4).v[word % 4];
}

JANUS_HOST_DEVICE float uniform_float(uint32_t w) {
  return static_cast<float>(w >> 8) * (1.0f / 16777216.0f);
}

JANUS_HOST_DEVICE double uniform_double(uint32_t w0, uint32_t w1) {
  const uint64_t bits = (static_cast<uint64_t>(w0 >> 5) << 26) + (w1 >> 6);
  return static_cast<double>(bits) * (1.0 / 9007199254740992.0);
}

// Box-Muller on two words, in the element type T.
template <typename T>
JANUS_HOST_DEVICE void normal_pair(uint32_t w0, uint32_t w1, T* z0, T* z1) {
  const T u1 = static_cast<T>((w0 >> 8) + 1) * static_cast<T>(1.0 / 16777216.0);
  const T u2 = static_cast<T>(w1 >> 8) * static_cast<T>(1.0 / 16777216.0);
  const T radius = std::sqrt(static_cast<T>(-2) * std::log(u1));
  const T angle = static_cast<T>(6.283185307179586476925286766559) * u2;
  *z0 = radius * std::cos(angle);
  *z1 = radius * std::sin(angle);
}

enum class Distribution { kUniform, kNormal };

// Words an op of n elements consumes, rounded up to whole blocks.
JANUS_HOST_DEVICE uint64_t words_used(Distribution dist, bool is_double, uint64_t n) {
  uint64_t words = 0;
  if (dist == Distribution::kNormal) {
    words = n + (n & 1u);
  } else {
    words = is_double ? 2 * n : n;
  }
  return (words + 3) / 4 * 4;
}

}  // namespace janus::rng
