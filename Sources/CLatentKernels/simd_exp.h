// Vectorised exp for the softmax and the erf of GEGLU (nn_kernels.c). The fused attention (attention.c) has its
// own base-2 exponential for arguments that are never positive.
#ifndef LATENT_SIMD_EXP_H
#define LATENT_SIMD_EXP_H
#include <immintrin.h>

// exp(x) for 8 floats: x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 minimax-style polynomial for e^r, and
// 2^n built in the exponent bits. Relative error ≈ 1–2 ulp over the clamped range, like glibc's expf.
static inline __m256 exp256(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365447504f);
    x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 r2 = _mm256_mul_ps(r, r);
    p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx512f")))
static inline __m512 exp512(__m512 x) {
    const __m512 hi = _mm512_set1_ps(88.3762626647949f), lo = _mm512_set1_ps(-87.3365447504f);
    x = _mm512_max_ps(_mm512_min_ps(x, hi), lo);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 r2 = _mm512_mul_ps(r, r);
    p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

// erf(x) for 8 floats: Abramowitz & Stegun 7.1.26, 1 − (a₁t + … + a₅t⁵)·e^(−x²) with t = 1/(1 + p|x|)
// (|error| ≤ 1.5e-7 in exact arithmetic), odd in x, and erf's Maclaurin series below |x| = 0.5, where that
// form would subtract two numbers close to 1. Measured against double erf on [−8, 8]: relative error
// ≤ 6.2e-7; GELU x·(1 + erf(x/√2))/2 built from it is within 2.6e-7 of exact (glibc's erff: ≈ 1e-7).
static inline __m256 erf256(__m256 x) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 sign = _mm256_and_ps(x, sign_bit), a = _mm256_andnot_ps(sign_bit, x);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(a, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    __m256 y = _mm256_fnmadd_ps(p, exp256(_mm256_mul_ps(_mm256_xor_ps(a, sign_bit), a)), _mm256_set1_ps(1.0f));
    y = _mm256_or_ps(y, sign);
    // Near 0 the form above subtracts two numbers close to 1: use erf's Maclaurin series (|x| < 0.5, 7 terms).
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 s = _mm256_set1_ps(1.0f / 75600.0f * -1.0f);
    s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps(1.0f / 9360.0f));
    s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps(-1.0f / 1320.0f));
    s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps(1.0f / 216.0f));
    s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps(-1.0f / 42.0f));
    s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps(1.0f / 10.0f));
    s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps(-1.0f / 3.0f));
    s = _mm256_fmadd_ps(s, x2, _mm256_set1_ps(1.0f));
    s = _mm256_mul_ps(_mm256_mul_ps(s, x), _mm256_set1_ps(1.1283791670955126f));
    return _mm256_blendv_ps(y, s, _mm256_cmp_ps(a, _mm256_set1_ps(0.5f), _CMP_LT_OQ));
}

#endif
