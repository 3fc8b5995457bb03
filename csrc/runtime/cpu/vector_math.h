// Vectorized transcendental functions for the elementwise engine: AVX2 + FMA
// loops over arrays, float32 and float64, used where the CPU has both
// (`vector_math_available()`); elsewhere the engine keeps the C library's
// scalar functions, which these match to within a few ulp (checked against
// them over wide ranges, special values and denormals by the C++ tests).
//
// Every function computes y[i] = f(x[i]) for 0 <= i < n; `x` and `y` may be
// the same array. The last partial vector is computed in a padded copy, so a
// result never depends on where a chunk boundary falls. Special values follow
// the C library: NaN in, NaN out; overflow gives inf, underflow denormals
// and then 0; log of a negative number is NaN, of +-0 is -inf.
//
// Method (the classic ones, written for vectors): exp reduces x = n ln2 + r,
// |r| <= ln2 / 2, with ln2 in two parts and FMA, and scales a Taylor
// polynomial of r by 2^n built from exponent bits (in two factors, so results
// down into the denormals round once). log splits off the exponent,
// m in [sqrt(1/2), sqrt(2)), and sums log(1 + f) = f - s (f - R(s^2)) with
// s = f / (2 + f). tanh is expm1(2|x|) / (expm1(2|x|) + 2) with the sign put
// back; sigmoid is 1 / (1 + e) or e / (1 + e) with e = exp(-|x|), as the
// scalar kernel computes it.
#pragma once

#include <cstdint>

namespace janus::cpu {

// Whether this build has the vector loops and the CPU runs them (x86-64 with
// AVX2 and FMA). Calling the functions below where it is false is an error.
bool vector_math_available();

namespace vmath {

void exp(const float* x, float* y, int64_t n);
void exp(const double* x, double* y, int64_t n);
void expm1(const float* x, float* y, int64_t n);
void expm1(const double* x, double* y, int64_t n);
void log(const float* x, float* y, int64_t n);
void log(const double* x, double* y, int64_t n);
void tanh(const float* x, float* y, int64_t n);
void tanh(const double* x, double* y, int64_t n);
void sigmoid(const float* x, float* y, int64_t n);
void sigmoid(const double* x, double* y, int64_t n);
void silu(const float* x, float* y, int64_t n);  // x * sigmoid(x)
void silu(const double* x, double* y, int64_t n);

}  // namespace vmath
}  // namespace janus::cpu
