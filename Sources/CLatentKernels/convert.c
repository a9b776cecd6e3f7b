#include "CLatentKernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

void latent_f16_to_f32(const uint16_t *src, float *dst, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    for (; i < count; i++) {
        dst[i] = _cvtsh_ss(src[i]);
    }
}

void latent_bf16_to_f32(const uint16_t *src, float *dst, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = ((uint32_t)src[i]) << 16;
        memcpy(dst + i, &bits, sizeof bits);
    }
}

void latent_f32_to_f16(const float *src, uint16_t *dst, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
    for (; i < count; i++) {
        dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
    }
}

size_t latent_f16_inexact_count(const float *src, size_t count) {
    size_t bad = 0;
    for (size_t i = 0; i < count; i++) {
        float back = _cvtsh_ss(_cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT));
        // NaN never compares equal; treat it as inexact so such weights stay fp32.
        bad += back != src[i];
    }
    return bad;
}

float latent_f32_to_f16_scaled(const float *src, uint16_t *dst, size_t count) {
    float peak = 0;
    for (size_t i = 0; i < count; i++) {
        float a = fabsf(src[i]);
        if (a > peak) peak = a;  // NaN never wins; it is stored as NaN below
    }
    int exponent = 0;
    if (peak > 0 && isfinite(peak)) frexpf(peak, &exponent);  // peak = m · 2^exponent, m in [0.5, 1)
    // 2^(15 - exponent) brings the peak just under 2^15: below half's largest finite value (65504) and far
    // above its subnormals, so every value keeps half's full 11-bit precision relative to the row's peak.
    int shift = 15 - exponent;
    if (shift > 100) shift = 100;
    if (shift < -100) shift = -100;
    const __m256 scale = _mm256_set1_ps(ldexpf(1.0f, shift));
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(src + i), scale), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
    for (; i < count; i++) {
        dst[i] = _cvtss_sh(src[i] * ldexpf(1.0f, shift), _MM_FROUND_TO_NEAREST_INT);
    }
    return ldexpf(1.0f, -shift);
}

void latent_f16_to_f32_scaled(const uint16_t *src, float *dst, size_t count, float factor) {
    const __m256 scale = _mm256_set1_ps(factor);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_cvtph_ps(h), scale));
    }
    for (; i < count; i++) {
        dst[i] = _cvtsh_ss(src[i]) * factor;
    }
}
