// Bit-exact re-implementation of PyTorch's CPU generator (mt19937) and its float32 normal fill.
//
// Why C: torch's AVX2 normal kernel is a Cephes-style vector log/sincos whose multiply-adds GCC fused
// into FMA instructions when it built libtorch_cpu (read from the torch 2.13 binary's disassembly).
// Reproducing those bits needs control over exactly which operations fuse, which intrinsics give.
// Every mul/add pair below is written as the FMA or the separate mul+add that torch's machine code
// executes; do not "simplify" them. Contraction is switched off so the compiler adds no fusions.
#include "CLatentKernels.h"
#include <immintrin.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

enum { MT_N = 624, MT_M = 397 };

void latent_mt19937_seed(latent_mt19937 *g, uint64_t seed) {
    // torch keeps the full 64-bit seed for reporting but initialises from its low 32 bits.
    uint32_t *s = g->state;
    s[0] = (uint32_t)(seed & 0xffffffffu);
    for (uint32_t i = 1; i < MT_N; i++) {
        s[i] = 1812433253u * (s[i - 1] ^ (s[i - 1] >> 30)) + i;
    }
    g->left = 1;
    g->next = 0;
}

static inline uint32_t mt_twist(uint32_t upper, uint32_t lower) {
    uint32_t y = (upper & 0x80000000u) | (lower & 0x7fffffffu);
    return (y >> 1) ^ ((lower & 1u) ? 0x9908b0dfu : 0u);
}

static void mt_regenerate(latent_mt19937 *g) {
    uint32_t *s = g->state;
    int i = 0;
    for (; i < MT_N - MT_M; i++) {
        s[i] = s[i + MT_M] ^ mt_twist(s[i], s[i + 1]);
    }
    for (; i < MT_N - 1; i++) {
        s[i] = s[i + MT_M - MT_N] ^ mt_twist(s[i], s[i + 1]);
    }
    s[MT_N - 1] = s[MT_M - 1] ^ mt_twist(s[MT_N - 1], s[0]);
    g->left = MT_N;
    g->next = 0;
}

uint32_t latent_mt19937_next32(latent_mt19937 *g) {
    if (--g->left == 0) {
        mt_regenerate(g);
    }
    uint32_t y = g->state[g->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint64_t latent_mt19937_next64(latent_mt19937 *g) {
    // The first draw becomes the high word.
    uint64_t hi = latent_mt19937_next32(g);
    uint64_t lo = latent_mt19937_next32(g);
    return (hi << 32) | lo;
}

double latent_torch_uniform_f64(latent_mt19937 *g) {
    // 53 random mantissa bits scaled into [0, 1).
    uint64_t bits = latent_mt19937_next64(g) & ((UINT64_C(1) << 53) - 1);
    return (double)bits * (1.0 / (double)(UINT64_C(1) << 53));
}

/// torch's uniform_real_distribution<float>: 24 random bits scaled into [0, 1) (exact in float).
static inline float uniform_f32(latent_mt19937 *g) {
    return (float)(latent_mt19937_next32(g) & 0xffffffu) * (1.0f / 16777216.0f);
}

static inline __m256 splat_bits(uint32_t bits) {
    return _mm256_castsi256_ps(_mm256_set1_epi32((int)bits));
}

/// Natural log of 8 floats in (0, 1], with torch's exact operation order and fusions.
static inline __m256 torch_log8(__m256 u) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 invalid = _mm256_cmp_ps(u, _mm256_setzero_ps(), _CMP_LE_OS);
    __m256 x = _mm256_max_ps(u, splat_bits(0x00800000u));

    // Split into exponent e and mantissa m in [0.5, 1).
    __m256i biased = _mm256_srli_epi32(_mm256_castps_si256(x), 23);
    x = _mm256_or_ps(_mm256_and_ps(x, splat_bits(0x807fffffu)), _mm256_set1_ps(0.5f));
    __m256 e = _mm256_add_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(biased, _mm256_set1_epi32(127))), one);

    // Keep m in [sqrt(1/2), sqrt(2)) by folding small mantissas: m -> 2m - 1, e -> e - 1.
    const __m256 small = _mm256_cmp_ps(x, splat_bits(0x3f3504f3u), _CMP_LT_OS);
    const __m256 folded = _mm256_and_ps(x, small);
    e = _mm256_sub_ps(e, _mm256_and_ps(one, small));
    x = _mm256_add_ps(x, _mm256_set1_ps(-1.0f));
    x = _mm256_add_ps(x, folded);
    const __m256 z = _mm256_mul_ps(x, x);

    // Degree-8 polynomial, Horner form with fused steps.
    __m256 p = _mm256_fmadd_ps(splat_bits(0x3d9021bbu), x, splat_bits(0xbdebd1b8u));
    p = _mm256_fmadd_ps(p, x, splat_bits(0x3def251au));
    p = _mm256_fmadd_ps(p, x, splat_bits(0xbdfe5d4fu));
    p = _mm256_fmadd_ps(p, x, splat_bits(0x3e11e9bfu));
    p = _mm256_fmadd_ps(p, x, splat_bits(0xbe2aae50u));
    p = _mm256_fmadd_ps(p, x, splat_bits(0x3e4cceacu));
    p = _mm256_fmadd_ps(p, x, splat_bits(0xbe7ffffcu));
    p = _mm256_fmadd_ps(p, x, splat_bits(0x3eaaaaaau));
    p = _mm256_mul_ps(p, x);

    // ln(2) is split in two parts (q1 small, q2 exact in few bits) for extra precision.
    const __m256 e_q1 = _mm256_mul_ps(e, splat_bits(0xb95e8083u));
    p = _mm256_fmadd_ps(p, z, e_q1);
    p = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5f), p);
    x = _mm256_add_ps(x, p);
    x = _mm256_fmadd_ps(e, splat_bits(0x3f318000u), x);
    return _mm256_or_ps(x, invalid);
}

/// Sine and cosine of 8 non-negative floats, with torch's exact operation order and fusions.
static inline void torch_sincos8(__m256 theta, __m256 *sin_out, __m256 *cos_out) {
    const __m256 sign_mask = splat_bits(0x80000000u);
    __m256 x = _mm256_and_ps(theta, splat_bits(0x7fffffffu));
    __m256 sin_sign = _mm256_and_ps(theta, sign_mask);

    // Octant index j = (trunc(|x| * 4/pi) + 1) & ~1.
    __m256i j = _mm256_cvttps_epi32(_mm256_mul_ps(x, splat_bits(0x3fa2f983u)));
    j = _mm256_add_epi32(j, _mm256_set1_epi32(1));
    const __m256i j_even = _mm256_and_si256(j, _mm256_set1_epi32(~1));
    const __m256 jf = _mm256_cvtepi32_ps(j_even);
    const __m256i sin_flip = _mm256_slli_epi32(_mm256_and_si256(j, _mm256_set1_epi32(4)), 29);
    const __m256 use_sin_poly =
        _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(j, _mm256_set1_epi32(2)), _mm256_setzero_si256()));
    sin_sign = _mm256_xor_ps(sin_sign, _mm256_castsi256_ps(sin_flip));

    // Cody-Waite reduction by pi/4 in three fused steps.
    x = _mm256_fmadd_ps(jf, splat_bits(0xbf490000u), x);
    x = _mm256_fmadd_ps(jf, splat_bits(0xb97da000u), x);
    x = _mm256_fmadd_ps(jf, splat_bits(0xb3222169u), x);

    const __m256i j_minus_2 = _mm256_sub_epi32(j_even, _mm256_set1_epi32(2));
    const __m256 cos_sign =
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_andnot_si256(j_minus_2, _mm256_set1_epi32(4)), 29));

    const __m256 z = _mm256_mul_ps(x, x);
    const __m256 half_z = _mm256_mul_ps(z, _mm256_set1_ps(0.5f));

    // Cosine polynomial on the reduced argument.
    __m256 c = _mm256_fmadd_ps(splat_bits(0x37ccf5ceu), z, splat_bits(0xbab6061au));
    c = _mm256_fmadd_ps(c, z, splat_bits(0x3d2aaaa5u));
    c = _mm256_mul_ps(z, c);
    c = _mm256_fmsub_ps(z, c, half_z);
    c = _mm256_add_ps(c, _mm256_set1_ps(1.0f));

    // Sine polynomial on the reduced argument.
    __m256 s = _mm256_fmadd_ps(splat_bits(0xb94ca1f9u), z, splat_bits(0x3c08839eu));
    s = _mm256_fmadd_ps(s, z, splat_bits(0xbe2aaaa3u));
    s = _mm256_mul_ps(z, s);
    s = _mm256_fmadd_ps(x, s, x);

    // Each output takes one polynomial per lane; the masked add/sub steps are exact.
    const __m256 sin_part = _mm256_and_ps(use_sin_poly, s);
    const __m256 cos_part = _mm256_andnot_ps(use_sin_poly, c);
    c = _mm256_sub_ps(c, cos_part);
    s = _mm256_sub_ps(s, sin_part);
    *sin_out = _mm256_xor_ps(_mm256_add_ps(sin_part, cos_part), sin_sign);
    *cos_out = _mm256_xor_ps(_mm256_add_ps(s, c), cos_sign);
}

/// Box-Muller over 16 uniforms in place: the first 8 feed the radius, the last 8 the angle.
static inline void box_muller16(float *data, __m256 mean, __m256 stddev) {
    const __m256 u1 = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_loadu_ps(data));
    const __m256 theta = _mm256_mul_ps(splat_bits(0x40c90fdbu), _mm256_loadu_ps(data + 8));
    const __m256 radius = _mm256_sqrt_ps(_mm256_mul_ps(torch_log8(u1), _mm256_set1_ps(-2.0f)));
    __m256 s, c;
    torch_sincos8(theta, &s, &c);
    _mm256_storeu_ps(data, _mm256_fmadd_ps(_mm256_mul_ps(radius, c), stddev, mean));
    _mm256_storeu_ps(data + 8, _mm256_fmadd_ps(_mm256_mul_ps(radius, s), stddev, mean));
}

void latent_torch_normal_fill_f32(latent_mt19937 *g, float *data, size_t count, float mean, float stddev) {
    if (count < 16) {
        return;
    }
    const __m256 vmean = _mm256_set1_ps(mean);
    const __m256 vstd = _mm256_set1_ps(stddev);
    for (size_t i = 0; i < count; i++) {
        data[i] = uniform_f32(g);
    }
    for (size_t i = 0; i + 16 <= count; i += 16) {
        box_muller16(data + i, vmean, vstd);
    }
    if (count % 16 != 0) {
        // torch redraws the final 16 slots, overwriting part of the last full chunk.
        float *tail = data + count - 16;
        for (size_t i = 0; i < 16; i++) {
            tail[i] = uniform_f32(g);
        }
        box_muller16(tail, vmean, vstd);
    }
}
