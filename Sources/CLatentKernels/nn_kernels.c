// Vectorised building blocks of the UNet and VAE: softmax, group norm (+SiLU), SiLU, GEGLU, adds.
// AVX2+FMA is the baseline (the package compiles with -mavx2 -mfma); the softmax and norm passes also have
// an AVX-512 path chosen once at run time, because exp dominates attention on wide-vector machines.
#include "CLatentKernels.h"
#include <immintrin.h>
#include <math.h>

#include "simd_exp.h"

static int has_avx512(void) {
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    return cached;
}

static inline float hmax256(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx512f")))
static void softmax_rows_avx512(float *data, size_t rows, size_t stride, size_t count) {
    for (size_t r = 0; r < rows; r++) {
        float *row = data + r * stride;
        size_t i = 0;
        __m512 vmax = _mm512_set1_ps(-INFINITY);
        for (; i + 16 <= count; i += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(row + i));
        float m = _mm512_reduce_max_ps(vmax);
        for (; i < count; i++) m = row[i] > m ? row[i] : m;
        __m512 vm = _mm512_set1_ps(m), vsum = _mm512_setzero_ps();
        for (i = 0; i + 16 <= count; i += 16) {
            __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(row + i), vm));
            _mm512_storeu_ps(row + i, e);
            vsum = _mm512_add_ps(vsum, e);
        }
        if (i < count) {
            __mmask16 k = (__mmask16)((1u << (count - i)) - 1);
            __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, row + i), vm));
            _mm512_mask_storeu_ps(row + i, k, e);
            vsum = _mm512_add_ps(vsum, _mm512_maskz_mov_ps(k, e));
        }
        __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
        for (i = 0; i + 16 <= count; i += 16) _mm512_storeu_ps(row + i, _mm512_mul_ps(_mm512_loadu_ps(row + i), inv));
        if (i < count) {
            __mmask16 k = (__mmask16)((1u << (count - i)) - 1);
            _mm512_mask_storeu_ps(row + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, row + i), inv));
        }
    }
}

static void softmax_rows_avx2(float *data, size_t rows, size_t stride, size_t count) {
    for (size_t r = 0; r < rows; r++) {
        float *row = data + r * stride;
        size_t i = 0;
        __m256 vmax = _mm256_set1_ps(-INFINITY);
        for (; i + 8 <= count; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(row + i));
        float m = hmax256(vmax);
        for (size_t j = i; j < count; j++) m = row[j] > m ? row[j] : m;
        __m256 vm = _mm256_set1_ps(m), vsum = _mm256_setzero_ps();
        for (i = 0; i + 8 <= count; i += 8) {
            __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(row + i), vm));
            _mm256_storeu_ps(row + i, e);
            vsum = _mm256_add_ps(vsum, e);
        }
        float sum = hsum256(vsum);
        for (; i < count; i++) {
            float e = expf(row[i] - m);
            row[i] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        __m256 vinv = _mm256_set1_ps(inv);
        for (i = 0; i + 8 <= count; i += 8) _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), vinv));
        for (; i < count; i++) row[i] *= inv;
    }
}

void latent_softmax_rows(float *data, size_t rows, size_t stride, size_t count) {
    if (count == 0) return;
    if (has_avx512()) softmax_rows_avx512(data, rows, stride, count);
    else softmax_rows_avx2(data, rows, stride, count);
}

// Sum and sum of squares in double (eight lanes, then a fixed-order reduction), as the Swift reference did,
// so large groups such as a 512² VAE plane keep full precision.
static void moments(const float *x, size_t n, double *sum, double *sumsq) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), q0 = _mm256_setzero_pd(), q1 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), b = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        s0 = _mm256_add_pd(s0, a);
        s1 = _mm256_add_pd(s1, b);
        q0 = _mm256_fmadd_pd(a, a, q0);
        q1 = _mm256_fmadd_pd(b, b, q1);
    }
    double ts[4], tq[4];
    _mm256_storeu_pd(ts, _mm256_add_pd(s0, s1));
    _mm256_storeu_pd(tq, _mm256_add_pd(q0, q1));
    double s = (ts[0] + ts[1]) + (ts[2] + ts[3]), q = (tq[0] + tq[1]) + (tq[2] + tq[3]);
    for (; i < n; i++) {
        double v = x[i];
        s += v;
        q += v * v;
    }
    *sum = s;
    *sumsq = q;
}

static inline __m256 silu256(__m256 v) {
    __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), v));
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static void affine_plane(const float *s, float *d, size_t n, float scale, float shift, int silu) {
    __m256 vs = _mm256_set1_ps(scale), vb = _mm256_set1_ps(shift);
    size_t i = 0;
    if (silu) {
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, silu256(_mm256_fmadd_ps(_mm256_loadu_ps(s + i), vs, vb)));
        for (; i < n; i++) {
            float v = fmaf(s[i], scale, shift);
            d[i] = v / (1.0f + expf(-v));
        }
    } else {
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_fmadd_ps(_mm256_loadu_ps(s + i), vs, vb));
        for (; i < n; i++) d[i] = fmaf(s[i], scale, shift);
    }
}

void latent_group_norm_group(const float *src, float *dst, size_t channels, size_t spatial, const float *weight,
                             const float *bias, float epsilon, int silu) {
    double sum, sumsq;
    float mean, inv_std;
    moments(src, channels * spatial, &sum, &sumsq);
    latent_group_statistics_from_moments(sum, sumsq, (double)(channels * spatial), epsilon, &mean, &inv_std);
    latent_group_norm_apply(src, dst, channels, spatial, weight, bias, mean, inv_std, silu);
}

void latent_layer_norm_rows(const float *src, float *dst, size_t rows, size_t d, const float *weight,
                            const float *bias, float epsilon) {
    for (size_t r = 0; r < rows; r++) {
        const float *s = src + r * d;
        float *o = dst + r * d;
        double sum, sumsq;
        moments(s, d, &sum, &sumsq);
        double mean = sum / (double)d;
        // Two-pass variance in double, as the reference (rows are short, so the second pass is cheap).
        double sq = 0;
        for (size_t i = 0; i < d; i++) {
            double t = (double)s[i] - mean;
            sq += t * t;
        }
        float inv_std = (float)(1.0 / sqrt(sq / (double)d + (double)epsilon));
        float mean_f = (float)mean;
        __m256 vm = _mm256_set1_ps(mean_f), vi = _mm256_set1_ps(inv_std);
        size_t i = 0;
        for (; i + 8 <= d; i += 8) {
            __m256 t = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm), vi), _mm256_loadu_ps(weight + i));
            _mm256_storeu_ps(o + i, _mm256_add_ps(t, _mm256_loadu_ps(bias + i)));
        }
        for (; i < d; i++) o[i] = (s[i] - mean_f) * inv_std * weight[i] + bias[i];
    }
}

void latent_silu(const float *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, silu256(_mm256_loadu_ps(src + i)));
    for (; i < n; i++) dst[i] = src[i] / (1.0f + expf(-src[i]));
}

void latent_geglu_rows(const float *src, float *dst, size_t rows, size_t f) {
    for (size_t r = 0; r < rows; r++) {
        const float *s = src + r * 2 * f;
        float *o = dst + r * f;
        size_t i = 0;
        // The exact (erf) GELU of the gate, 8 at a time: scalar erff was 2.7 % of a UNet step.
        for (; i + 8 <= f; i += 8) {
            __m256 g = _mm256_loadu_ps(s + f + i);
            __m256 e = erf256(_mm256_mul_ps(g, _mm256_set1_ps(0.70710678118654752f)));
            __m256 gelu = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), g), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
            _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_loadu_ps(s + i), gelu));
        }
        for (; i < f; i++) {
            float g = s[f + i];
            o[i] = s[i] * (0.5f * g * (1.0f + erff(g * 0.70710678118654752f)));
        }
    }
}

void latent_add(float *a, const float *b, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(a + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) a[i] += b[i];
}

void latent_add_scalar(float *a, float v, size_t n) {
    __m256 vv = _mm256_set1_ps(v);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(a + i, _mm256_add_ps(_mm256_loadu_ps(a + i), vv));
    for (; i < n; i++) a[i] += v;
}

void latent_transpose(const float *src, float *dst, size_t rows, size_t cols) {
    // Tiles of 32×32 keep both sides in cache.
    const size_t t = 32;
    for (size_t r0 = 0; r0 < rows; r0 += t) {
        size_t r1 = r0 + t < rows ? r0 + t : rows;
        for (size_t c0 = 0; c0 < cols; c0 += t) {
            size_t c1 = c0 + t < cols ? c0 + t : cols;
            for (size_t r = r0; r < r1; r++)
                for (size_t c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
        }
    }
}

void latent_group_moments(const float *src, size_t count, double *sum, double *sumsq) {
    moments(src, count, sum, sumsq);
}

void latent_group_statistics_from_moments(double sum, double sumsq, double count, float epsilon, float *mean,
                                          float *inv_std) {
    double m = sum / count;
    double variance = sumsq / count - m * m;
    if (variance < 0) variance = 0;
    *inv_std = (float)(1.0 / sqrt(variance + (double)epsilon));
    *mean = (float)m;
}

void latent_group_norm_apply(const float *src, float *dst, size_t channels, size_t spatial, const float *weight,
                             const float *bias, float mean, float inv_std, int silu) {
    for (size_t c = 0; c < channels; c++) {
        float scale = weight[c] * inv_std;
        float shift = bias[c] - mean * scale;
        affine_plane(src + c * spatial, dst + c * spatial, spatial, scale, shift, silu);
    }
}
