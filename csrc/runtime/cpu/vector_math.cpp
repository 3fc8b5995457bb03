#include "runtime/cpu/vector_math.h"

#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define JANUS_HAS_VECTOR_MATH 1
#include <immintrin.h>
#endif

namespace janus::cpu {

#if JANUS_HAS_VECTOR_MATH

bool vector_math_available() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

namespace {

// Every function touching a vector is compiled for AVX2 + FMA through this
// attribute, not by building the file with -mavx2: the file's inline library
// code (memcpy, templates shared with other files) must stay baseline. All of
// it has internal linkage, so no AVX2 copy can stand in for a baseline one.
#define JANUS_AVX2_FMA __attribute__((target("avx2,fma")))

// One vector of float (8 lanes) or double (4 lanes): the few operations the
// algorithms below need, so each algorithm is written once for both.
struct F32 {
  using T = float;
  using V = __m256;
  static constexpr int kLanes = 8;
  JANUS_AVX2_FMA static V set(T v) { return _mm256_set1_ps(v); }
  JANUS_AVX2_FMA static V load(const T* p) { return _mm256_loadu_ps(p); }
  JANUS_AVX2_FMA static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  JANUS_AVX2_FMA static V add(V a, V b) { return _mm256_add_ps(a, b); }
  JANUS_AVX2_FMA static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  JANUS_AVX2_FMA static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  JANUS_AVX2_FMA static V div(V a, V b) { return _mm256_div_ps(a, b); }
  JANUS_AVX2_FMA static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }    // a b + c
  JANUS_AVX2_FMA static V fnma(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a b
  // The bound when x is not NaN; x when it is (minps returns its 2nd operand).
  JANUS_AVX2_FMA static V min_keep_nan(V x, T bound) { return _mm256_min_ps(set(bound), x); }
  JANUS_AVX2_FMA static V max_keep_nan(V x, T bound) { return _mm256_max_ps(set(bound), x); }
  JANUS_AVX2_FMA static V round(V x) {
    return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  JANUS_AVX2_FMA static V trunc(V x) {
    return _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  }
  JANUS_AVX2_FMA static V lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  JANUS_AVX2_FMA static V ge(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
  JANUS_AVX2_FMA static V eq(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  JANUS_AVX2_FMA static V is_nan(V a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
  JANUS_AVX2_FMA static V select(V mask, V yes, V no) { return _mm256_blendv_ps(no, yes, mask); }
  JANUS_AVX2_FMA static V bit_and(V a, V b) { return _mm256_and_ps(a, b); }
  JANUS_AVX2_FMA static V bit_or(V a, V b) { return _mm256_or_ps(a, b); }
  JANUS_AVX2_FMA static V bit_andnot(V a, V b) { return _mm256_andnot_ps(a, b); }  // ~a & b
  JANUS_AVX2_FMA static V sign_mask() { return set(-0.0f); }
  // 2^n for integral n in [-126, 127], from exponent bits: adding 1.5 * 2^23
  // puts n in the low mantissa bits.
  JANUS_AVX2_FMA static V pow2(V n) {
    const __m256i bits = _mm256_castps_si256(add(n, set(0x1.8p23f)));
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(127)), 23));
  }
  // x > 0 normal: x = m 2^e with m in [1, 2); e as a float.
  JANUS_AVX2_FMA static void split(V x, V& m, V& e) {
    const __m256i bits = _mm256_castps_si256(x);
    m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)),
                                            _mm256_set1_epi32(0x3F800000)));
    e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127)));
  }
};

struct F64 {
  using T = double;
  using V = __m256d;
  static constexpr int kLanes = 4;
  JANUS_AVX2_FMA static V set(T v) { return _mm256_set1_pd(v); }
  JANUS_AVX2_FMA static V load(const T* p) { return _mm256_loadu_pd(p); }
  JANUS_AVX2_FMA static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  JANUS_AVX2_FMA static V add(V a, V b) { return _mm256_add_pd(a, b); }
  JANUS_AVX2_FMA static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  JANUS_AVX2_FMA static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  JANUS_AVX2_FMA static V div(V a, V b) { return _mm256_div_pd(a, b); }
  JANUS_AVX2_FMA static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  JANUS_AVX2_FMA static V fnma(V a, V b, V c) { return _mm256_fnmadd_pd(a, b, c); }
  JANUS_AVX2_FMA static V min_keep_nan(V x, T bound) { return _mm256_min_pd(set(bound), x); }
  JANUS_AVX2_FMA static V max_keep_nan(V x, T bound) { return _mm256_max_pd(set(bound), x); }
  JANUS_AVX2_FMA static V round(V x) {
    return _mm256_round_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  JANUS_AVX2_FMA static V trunc(V x) {
    return _mm256_round_pd(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  }
  JANUS_AVX2_FMA static V lt(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
  JANUS_AVX2_FMA static V ge(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_GE_OQ); }
  JANUS_AVX2_FMA static V eq(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
  JANUS_AVX2_FMA static V is_nan(V a) { return _mm256_cmp_pd(a, a, _CMP_UNORD_Q); }
  JANUS_AVX2_FMA static V select(V mask, V yes, V no) { return _mm256_blendv_pd(no, yes, mask); }
  JANUS_AVX2_FMA static V bit_and(V a, V b) { return _mm256_and_pd(a, b); }
  JANUS_AVX2_FMA static V bit_or(V a, V b) { return _mm256_or_pd(a, b); }
  JANUS_AVX2_FMA static V bit_andnot(V a, V b) { return _mm256_andnot_pd(a, b); }
  JANUS_AVX2_FMA static V sign_mask() { return set(-0.0); }
  // 2^n for integral n in [-1022, 1023] (AVX2 has no double-to-int64 convert:
  // 1.5 * 2^52 puts n in the low mantissa bits).
  JANUS_AVX2_FMA static V pow2(V n) {
    const __m256i bits = _mm256_castpd_si256(add(n, set(0x1.8p52)));
    return _mm256_castsi256_pd(
        _mm256_slli_epi64(_mm256_add_epi64(bits, _mm256_set1_epi64x(1023)), 52));
  }
  JANUS_AVX2_FMA static void split(V x, V& m, V& e) {
    const __m256i bits = _mm256_castpd_si256(x);
    m = _mm256_castsi256_pd(
        _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000FFFFFFFFFFFFFLL)),
                        _mm256_set1_epi64x(0x3FF0000000000000LL)));
    // The biased exponent (< 2^12) as a double: or it into 2^52's mantissa.
    const V biased =
        sub(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(bits, 52),
                                                _mm256_set1_epi64x(0x4330000000000000LL))),
            set(0x1p52));
    e = sub(biased, set(1023.0));
  }
};

// The constants each algorithm needs, per type. Polynomial coefficients are
// Taylor's (1/k! for exp, 2/(2k+1) for log's atanh series), taken far enough
// that the first dropped term is below a tenth of an ulp on the reduced range.
template <typename T>
struct Constants;

template <>
struct Constants<float> {
  static constexpr float kLn2Hi = 0x1.62e430p-1f;           // ln 2 rounded to float
  static constexpr float kLn2Lo = -1.904654299957768e-09f;  // ln 2 - kLn2Hi
  static constexpr float kLog2e = 1.44269504088896341f;
  static constexpr float kSqrt2 = 1.41421356237309505f;
  // exp: below kExpLow the result is 0 (and 2^n stays in range), above
  // kExpHigh it is inf.
  static constexpr float kExpLow = -110.0f, kExpHigh = 89.0f;
  static constexpr float kExpm1Low = -30.0f;  // expm1 rounds to -1 below
  static constexpr float kTanhHigh = 10.0f;   // tanh rounds to 1 above
  static constexpr float kMinNormal = 0x1p-126f, kDenormalScale = 0x1p24f, kDenormalShift = 24.0f;
  static constexpr int kExpTerms = 6;  // 1/2! .. 1/7!
  static constexpr float kExp[kExpTerms] = {1.0f / 2,   1.0f / 6,   1.0f / 24,
                                            1.0f / 120, 1.0f / 720, 1.0f / 5040};
  static constexpr int kLogTerms = 5;  // z^1 .. z^5
  static constexpr float kLog[kLogTerms] = {2.0f / 3, 2.0f / 5, 2.0f / 7, 2.0f / 9, 2.0f / 11};
};

template <>
struct Constants<double> {
  static constexpr double kLn2Hi = 0x1.62e42fefa39efp-1;
  static constexpr double kLn2Lo = 0x1.abc9e3b39803fp-56;
  static constexpr double kLog2e = 1.44269504088896340736;
  static constexpr double kSqrt2 = 1.41421356237309504880;
  static constexpr double kExpLow = -750.0, kExpHigh = 710.0;
  static constexpr double kExpm1Low = -60.0;
  static constexpr double kTanhHigh = 20.0;
  static constexpr double kMinNormal = 0x1p-1022, kDenormalScale = 0x1p54, kDenormalShift = 54.0;
  static constexpr int kExpTerms = 12;  // 1/2! .. 1/13!
  static constexpr double kExp[kExpTerms] = {
      1.0 / 2,     1.0 / 6,      1.0 / 24,      1.0 / 120,      1.0 / 720,       1.0 / 5040,
      1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800};
  static constexpr int kLogTerms = 11;
  static constexpr double kLog[kLogTerms] = {2.0 / 3,  2.0 / 5,  2.0 / 7,  2.0 / 9,
                                             2.0 / 11, 2.0 / 13, 2.0 / 15, 2.0 / 17,
                                             2.0 / 19, 2.0 / 21, 2.0 / 23};
};

// c[0] + x (c[1] + x (... c[count-1])), by Horner's rule with FMA.
template <typename F, int kCount>
JANUS_AVX2_FMA typename F::V horner(typename F::V x, const typename F::T (&c)[kCount]) {
  typename F::V sum = F::set(c[kCount - 1]);
  for (int k = kCount - 2; k >= 0; --k) sum = F::fma(sum, x, F::set(c[k]));
  return sum;
}

// For x with |x| <= a bound that keeps n in range: x = n ln2 + r and
// q = expm1(r) = r + r^2 P(r), so that exp(x) = 2^n (1 + q).
template <typename F>
JANUS_AVX2_FMA void exp_reduce(typename F::V x, typename F::V& n, typename F::V& q) {
  using C = Constants<typename F::T>;
  n = F::round(F::mul(x, F::set(C::kLog2e)));
  typename F::V r = F::fnma(n, F::set(C::kLn2Hi), x);  // exact product inside the FMA
  r = F::fnma(n, F::set(C::kLn2Lo), r);
  q = F::fma(F::mul(r, r), horner<F>(r, C::kExp), r);
}

template <typename F>
JANUS_AVX2_FMA typename F::V exp_vec(typename F::V x) {
  using C = Constants<typename F::T>;
  x = F::max_keep_nan(F::min_keep_nan(x, C::kExpHigh), C::kExpLow);
  typename F::V n, q;
  exp_reduce<F>(x, n, q);
  // 2^n in two factors, each in range; the second product rounds once, also
  // into the denormals.
  const typename F::V half = F::trunc(F::mul(n, F::set(0.5)));
  const typename F::V one_plus_q = F::add(F::set(1), q);
  return F::mul(F::mul(one_plus_q, F::pow2(half)), F::pow2(F::sub(n, half)));
}

// expm1 without the clamp, for x in [C::kExpm1Low, C::kExpHigh]:
// 2 (2^(n-1) q + (2^(n-1) - 1/2)) = 2^n (1 + q) - 1, with 2^(n-1) in range
// for every such x and exact arithmetic where n is 0 or +-1.
template <typename F>
JANUS_AVX2_FMA typename F::V expm1_in_range(typename F::V x) {
  typename F::V n, q;
  exp_reduce<F>(x, n, q);
  const typename F::V s = F::pow2(F::sub(n, F::set(1)));
  const typename F::V half_result = F::fma(s, q, F::sub(s, F::set(0.5)));
  return F::add(half_result, half_result);
}

template <typename F>
JANUS_AVX2_FMA typename F::V expm1_vec(typename F::V x) {
  using C = Constants<typename F::T>;
  const typename F::V clamped = F::max_keep_nan(F::min_keep_nan(x, C::kExpHigh), C::kExpm1Low);
  // -0 keeps its sign (the reduction would make it +0).
  return F::select(F::eq(x, F::set(0)), x, expm1_in_range<F>(clamped));
}

template <typename F>
JANUS_AVX2_FMA typename F::V log_vec(typename F::V x) {
  using C = Constants<typename F::T>;
  using V = typename F::V;
  // Denormals: scale into the normal range first.
  const V denormal = F::lt(x, F::set(C::kMinNormal));
  const V scaled = F::select(denormal, F::mul(x, F::set(C::kDenormalScale)), x);
  V m, e;
  F::split(scaled, m, e);
  e = F::sub(e, F::bit_and(denormal, F::set(C::kDenormalShift)));
  const V high = F::ge(m, F::set(C::kSqrt2));  // m in [sqrt 2, 2): use m / 2, e + 1
  m = F::select(high, F::mul(m, F::set(0.5)), m);
  e = F::add(e, F::bit_and(high, F::set(1)));
  const V f = F::sub(m, F::set(1));  // exact
  const V s = F::div(f, F::add(f, F::set(2)));
  const V z = F::mul(s, s);
  const V big_r = F::mul(z, horner<F>(z, C::kLog));
  const V log1p_f = F::fnma(s, F::sub(f, big_r), f);
  V result = F::fma(e, F::set(C::kLn2Hi), F::fma(e, F::set(C::kLn2Lo), log1p_f));
  // +inf, +-0, negatives and NaN, as the C library.
  const V inf = F::set(std::numeric_limits<typename F::T>::infinity());
  result = F::select(F::eq(x, inf), inf, result);
  result = F::select(F::eq(x, F::set(0)), F::sub(F::set(0), inf), result);
  result = F::select(F::lt(x, F::set(0)), F::set(std::numeric_limits<typename F::T>::quiet_NaN()),
                     result);
  return F::select(F::is_nan(x), x, result);
}

template <typename F>
JANUS_AVX2_FMA typename F::V tanh_vec(typename F::V x) {
  using C = Constants<typename F::T>;
  using V = typename F::V;
  const V sign = F::bit_and(x, F::sign_mask());
  const V a = F::min_keep_nan(F::bit_andnot(F::sign_mask(), x), C::kTanhHigh);
  const V t = expm1_in_range<F>(F::add(a, a));
  return F::bit_or(F::div(t, F::add(t, F::set(2))), sign);
}

template <typename F>
JANUS_AVX2_FMA typename F::V sigmoid_vec(typename F::V x) {
  using V = typename F::V;
  const V e = exp_vec<F>(F::bit_or(x, F::sign_mask()));  // exp(-|x|), in [0, 1]
  const V numerator = F::select(F::ge(x, F::set(0)), F::set(1), e);
  return F::div(numerator, F::add(F::set(1), e));
}

template <typename F>
JANUS_AVX2_FMA typename F::V silu_vec(typename F::V x) {
  return F::mul(x, sigmoid_vec<F>(x));
}

// y[i] = kFn(x[i]) for i < n, the last partial vector through a zero-padded
// copy (every function is defined at 0).
template <typename F, typename F::V (*kFn)(typename F::V)>
JANUS_AVX2_FMA void apply(const typename F::T* x, typename F::T* y, int64_t n) {
  using T = typename F::T;
  int64_t i = 0;
  for (; i + F::kLanes <= n; i += F::kLanes) F::store(y + i, kFn(F::load(x + i)));
  if (i < n) {
    T pad[F::kLanes] = {};
    const size_t bytes = static_cast<size_t>(n - i) * sizeof(T);
    std::memcpy(pad, x + i, bytes);
    F::store(pad, kFn(F::load(pad)));
    std::memcpy(y + i, pad, bytes);
  }
}

#undef JANUS_AVX2_FMA

}  // namespace

namespace vmath {

#define JANUS_VECTOR_FUNCTION(name)                                                         \
  void name(const float* x, float* y, int64_t n) { apply<F32, &name##_vec<F32>>(x, y, n); } \
  void name(const double* x, double* y, int64_t n) { apply<F64, &name##_vec<F64>>(x, y, n); }

#else  // no vector loops in this build

bool vector_math_available() { return false; }

namespace vmath {

#define JANUS_VECTOR_FUNCTION(name)                                           \
  void name(const float*, float*, int64_t) {                                  \
    throw std::logic_error("vmath::" #name ": no vector math in this build"); \
  }                                                                           \
  void name(const double*, double*, int64_t) {                                \
    throw std::logic_error("vmath::" #name ": no vector math in this build"); \
  }

#endif

JANUS_VECTOR_FUNCTION(exp)
JANUS_VECTOR_FUNCTION(expm1)
JANUS_VECTOR_FUNCTION(log)
JANUS_VECTOR_FUNCTION(tanh)
JANUS_VECTOR_FUNCTION(sigmoid)
JANUS_VECTOR_FUNCTION(silu)
#undef JANUS_VECTOR_FUNCTION

}  // namespace vmath
}  // namespace janus::cpu
