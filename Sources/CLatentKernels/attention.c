// Fused multi-head attention: for each (batch, head, tile of queries) the kernel streams over key tiles,
// computing a tile of scores, an online softmax (running max and running sum per query) and the P·V
// accumulation, so no more than one key tile × query tile of scores ever exists (memory is linear in N).
//
// Everything is computed transposed, queries along the vector lanes: Sᵀ[key][query] = Σ_d K[key][d]·Qᵀ[d][query]
// and Oᵀ[d][query] += Σ_key V[key][d]·Pᵀ[key][query]. K and V are then read in their packed [N, heads·D] layout
// as broadcast scalars (no per-tile transposes), only the small query tile is transposed on the way in and
// the output tile on the way out, and the softmax statistics are whole vectors (one lane per query), so the
// running max and sum need no horizontal reductions.
//
// AVX2+FMA is the baseline (the package compiles with -mavx2 -mfma); an AVX-512 path with wider query tiles
// is chosen once at run time, like the softmax in nn_kernels.c.
#include "CLatentKernels.h"
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Keys per tile: the AVX-512 score tile (128 keys × 48 queries, 24 KB) stays in L1 between the softmax and
// P·V passes, and the online rescale runs only once per 128 keys.
#ifndef LATENT_ATTENTION_KEY_TILE
#define LATENT_ATTENTION_KEY_TILE 128
#endif

// 2^x for the softmax, whose arguments (base-2 scores minus their running maximum) are ≤ 0: n = round(x),
// r = x − n in [−½, ½], 2^r from the degree-7 Taylor polynomial of e^(r·ln2) (truncation below 6e-9 relative,
// under the float rounding), times 2^n. Clamping at −126 keeps −∞ (masked keys, zeroed by the caller) and deep
// underflow finite; no upper clamp is needed. Eleven instructions against the sixteen of a general exp.
#define ATTENTION_EXP2_TERMS(FMA, SET, p, r)                                                                   \
    p = FMA(SET(1.525273380405984e-05f), r, SET(1.5403530393381606e-04f));                                  \
    p = FMA(p, r, SET(1.3333558146428443e-03f));                                                            \
    p = FMA(p, r, SET(9.618129107628477e-03f));                                                             \
    p = FMA(p, r, SET(5.550410866482158e-02f));                                                             \
    p = FMA(p, r, SET(2.402265069591007e-01f));                                                             \
    p = FMA(p, r, SET(6.931471805599453e-01f));                                                             \
    p = FMA(p, r, SET(1.0f))

__attribute__((target("avx512f")))
static inline __m512 attention_exp2_512(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-126.0f));
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 r = _mm512_sub_ps(x, n);
    __m512 p;
    ATTENTION_EXP2_TERMS(_mm512_fmadd_ps, _mm512_set1_ps, p, r);
    return _mm512_scalef_ps(p, n);
}

static inline __m256 attention_exp2_256(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-126.0f));
    const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 r = _mm256_sub_ps(x, n);
    __m256 p;
    ATTENTION_EXP2_TERMS(_mm256_fmadd_ps, _mm256_set1_ps, p, r);
    // n ≥ −126, so 2^n is a normal float built in the exponent bits.
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static int attention_has_avx512(void) {
#ifdef LATENT_ATTENTION_NO_AVX512
    return 0;  // lets bench/attention_bench.c exercise the AVX2 path on an AVX-512 machine
#else
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    return cached;
#endif
}

// Queries whose key is later than the query are masked: key `j` of the tile (absolute k0 + j) against query
// lane `r` (absolute q0 + r) is hidden when j > r + diag, diag = q0 − k0, i.e. for lanes r < j − diag.

// ---------------------------------------------------------------------------------------------------------
// AVX-512: query tile of 48 lanes (3 vectors); micro-tiles of 8 keys × 48 queries and 8 dims × 48 queries
// (24 accumulators each, FMA-bound with 11 loads per 24 FMAs).
#define ATTENTION_QT512 48

__attribute__((target("avx512f")))
static inline __mmask16 attention_lanes_below512(long t) {
    if (t <= 0) return 0;
    if (t >= 16) return 0xFFFF;
    return (__mmask16)((1u << t) - 1);
}

/// Sᵀ[j][0..<48] = Σ_d K[j][d] · Qᵀ[d][0..<48] (Qᵀ carries the scale) for `nkeys` keys; `cmax` gets each lane's max.
__attribute__((target("avx512f")))
static void attention_scores512(const float *qt, const float *k, size_t ks, size_t nkeys, size_t d, int masked,
                                long diag, float *st, float *cmax) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    // The lane maxima live in memory: three more registers held across the 8 × 48 micro-tile made GCC spill its
    // Qᵀ rows to the stack, which cost a sixth of the kernel's time.
    for (int c = 0; c < 3; c++) _mm512_store_ps(cmax + 16 * c, ninf);
    size_t j = 0;
    for (; j + 8 <= nkeys; j += 8) {
        const float *kr = k + j * ks;
        __m512 acc[8][3];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
        for (size_t dd = 0; dd < d; dd++) {
            const __m512 q0 = _mm512_load_ps(qt + dd * 48), q1 = _mm512_load_ps(qt + dd * 48 + 16),
                         q2 = _mm512_load_ps(qt + dd * 48 + 32);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                const __m512 kv = _mm512_set1_ps(kr[i * ks + dd]);
                acc[i][0] = _mm512_fmadd_ps(q0, kv, acc[i][0]);
                acc[i][1] = _mm512_fmadd_ps(q1, kv, acc[i][1]);
                acc[i][2] = _mm512_fmadd_ps(q2, kv, acc[i][2]);
            }
        }
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            if (masked) {
                long t = (long)(j + i) - diag;
                acc[i][0] = _mm512_mask_mov_ps(acc[i][0], attention_lanes_below512(t), ninf);
                acc[i][1] = _mm512_mask_mov_ps(acc[i][1], attention_lanes_below512(t - 16), ninf);
                acc[i][2] = _mm512_mask_mov_ps(acc[i][2], attention_lanes_below512(t - 32), ninf);
            }
            float *row = st + (j + i) * 48;
            _mm512_store_ps(row, acc[i][0]);
            _mm512_store_ps(row + 16, acc[i][1]);
            _mm512_store_ps(row + 32, acc[i][2]);
        }
        // The block's maxima in registers first, then one update of the running vectors per 8 keys.
#pragma GCC unroll 3
        for (int c = 0; c < 3; c++) {
            __m512 mx = _mm512_max_ps(_mm512_max_ps(_mm512_max_ps(acc[0][c], acc[1][c]), _mm512_max_ps(acc[2][c], acc[3][c])),
                                      _mm512_max_ps(_mm512_max_ps(acc[4][c], acc[5][c]), _mm512_max_ps(acc[6][c], acc[7][c])));
            _mm512_store_ps(cmax + 16 * c, _mm512_max_ps(_mm512_load_ps(cmax + 16 * c), mx));
        }
    }
    for (; j < nkeys; j++) {
        const float *kr = k + j * ks;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0;
        for (size_t dd = 0; dd < d; dd++) {
            const __m512 kv = _mm512_set1_ps(kr[dd]);
            a0 = _mm512_fmadd_ps(_mm512_load_ps(qt + dd * 48), kv, a0);
            a1 = _mm512_fmadd_ps(_mm512_load_ps(qt + dd * 48 + 16), kv, a1);
            a2 = _mm512_fmadd_ps(_mm512_load_ps(qt + dd * 48 + 32), kv, a2);
        }
        if (masked) {
            long t = (long)j - diag;
            a0 = _mm512_mask_mov_ps(a0, attention_lanes_below512(t), ninf);
            a1 = _mm512_mask_mov_ps(a1, attention_lanes_below512(t - 16), ninf);
            a2 = _mm512_mask_mov_ps(a2, attention_lanes_below512(t - 32), ninf);
        }
        float *row = st + j * 48;
        _mm512_store_ps(row, a0);
        _mm512_store_ps(row + 16, a1);
        _mm512_store_ps(row + 32, a2);
        _mm512_store_ps(cmax, _mm512_max_ps(_mm512_load_ps(cmax), a0));
        _mm512_store_ps(cmax + 16, _mm512_max_ps(_mm512_load_ps(cmax + 16), a1));
        _mm512_store_ps(cmax + 32, _mm512_max_ps(_mm512_load_ps(cmax + 32), a2));
    }
}

/// Online softmax step: new running max, rescale of the running sum and of Oᵀ, Sᵀ → Pᵀ = 2^(Sᵀ − max).
__attribute__((target("avx512f")))
static void attention_softmax512(float *st, size_t nkeys, float *m, float *l, float *ot, size_t d,
                                 const float *cmax, int masked) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int c = 0; c < 3; c++) {
        const __m512 mo = _mm512_load_ps(m + 16 * c);
        const __m512 mn = _mm512_max_ps(mo, _mm512_load_ps(cmax + 16 * c));
        const __m512 f = attention_exp2_512(_mm512_sub_ps(mo, mn));
        _mm512_store_ps(m + 16 * c, mn);
        __m512 sum0 = _mm512_setzero_ps(), sum1 = sum0;
        size_t j = 0;
        for (; j + 2 <= nkeys; j += 2) {
            float *p0 = st + j * 48 + 16 * c, *p1 = p0 + 48;
            const __m512 x0 = _mm512_load_ps(p0), x1 = _mm512_load_ps(p1);
            __m512 e0 = attention_exp2_512(_mm512_sub_ps(x0, mn)), e1 = attention_exp2_512(_mm512_sub_ps(x1, mn));
            if (masked) {
                // Hidden keys weigh exactly zero (the clamped exp would leave 2⁻¹²⁶).
                e0 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x0, ninf, _CMP_NEQ_OQ), e0);
                e1 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x1, ninf, _CMP_NEQ_OQ), e1);
            }
            _mm512_store_ps(p0, e0);
            _mm512_store_ps(p1, e1);
            sum0 = _mm512_add_ps(sum0, e0);
            sum1 = _mm512_add_ps(sum1, e1);
        }
        for (; j < nkeys; j++) {
            float *p0 = st + j * 48 + 16 * c;
            const __m512 x0 = _mm512_load_ps(p0);
            __m512 e0 = attention_exp2_512(_mm512_sub_ps(x0, mn));
            if (masked) e0 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x0, ninf, _CMP_NEQ_OQ), e0);
            _mm512_store_ps(p0, e0);
            sum0 = _mm512_add_ps(sum0, e0);
        }
        _mm512_store_ps(l + 16 * c, _mm512_fmadd_ps(_mm512_load_ps(l + 16 * c), f, _mm512_add_ps(sum0, sum1)));
        for (size_t dd = 0; dd < d; dd++) {
            float *o = ot + dd * 48 + 16 * c;
            _mm512_store_ps(o, _mm512_mul_ps(_mm512_load_ps(o), f));
        }
    }
}

/// Oᵀ[d][0..<48] += Σ_j V[j][d] · Pᵀ[j][0..<48].
__attribute__((target("avx512f")))
static void attention_pv512(const float *pt, const float *v, size_t vs, size_t nkeys, size_t d, float *ot) {
    size_t dd = 0;
    for (; dd + 8 <= d; dd += 8) {
        __m512 acc[8][3];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
        const float *vr = v + dd;
        for (size_t j = 0; j < nkeys; j++) {
            const __m512 p0 = _mm512_load_ps(pt + j * 48), p1 = _mm512_load_ps(pt + j * 48 + 16),
                         p2 = _mm512_load_ps(pt + j * 48 + 32);
            const float *vj = vr + j * vs;
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                const __m512 vv = _mm512_set1_ps(vj[i]);
                acc[i][0] = _mm512_fmadd_ps(p0, vv, acc[i][0]);
                acc[i][1] = _mm512_fmadd_ps(p1, vv, acc[i][1]);
                acc[i][2] = _mm512_fmadd_ps(p2, vv, acc[i][2]);
            }
        }
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            float *o = ot + (dd + i) * 48;
            _mm512_store_ps(o, _mm512_add_ps(_mm512_load_ps(o), acc[i][0]));
            _mm512_store_ps(o + 16, _mm512_add_ps(_mm512_load_ps(o + 16), acc[i][1]));
            _mm512_store_ps(o + 32, _mm512_add_ps(_mm512_load_ps(o + 32), acc[i][2]));
        }
    }
    for (; dd < d; dd++) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0;
        for (size_t j = 0; j < nkeys; j++) {
            const __m512 vv = _mm512_set1_ps(v[j * vs + dd]);
            a0 = _mm512_fmadd_ps(_mm512_load_ps(pt + j * 48), vv, a0);
            a1 = _mm512_fmadd_ps(_mm512_load_ps(pt + j * 48 + 16), vv, a1);
            a2 = _mm512_fmadd_ps(_mm512_load_ps(pt + j * 48 + 32), vv, a2);
        }
        float *o = ot + dd * 48;
        _mm512_store_ps(o, _mm512_add_ps(_mm512_load_ps(o), a0));
        _mm512_store_ps(o + 16, _mm512_add_ps(_mm512_load_ps(o + 16), a1));
        _mm512_store_ps(o + 32, _mm512_add_ps(_mm512_load_ps(o + 32), a2));
    }
}

// ---------------------------------------------------------------------------------------------------------
// AVX2: query tile of 24 lanes (3 vectors); micro-tiles of 4 keys (or dims) × 24 queries, 12 accumulators,
// which with the 3 loaded vectors and one broadcast fills the 16 ymm registers.
#define ATTENTION_QT256 24

static inline __m256 attention_lanes_below256(long t) {
    // Lane r is hidden when r < t.
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    long clamped = t < 0 ? 0 : (t > 8 ? 8 : t);
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)clamped), iota));
}

static void attention_scores256(const float *qt, const float *k, size_t ks, size_t nkeys, size_t d, int masked,
                                long diag, float *st, float *cmax) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int c = 0; c < 3; c++) _mm256_store_ps(cmax + 8 * c, ninf);  // in memory, as in the AVX-512 kernel
    size_t j = 0;
    for (; j < nkeys; j += 4) {
        const int kn = nkeys - j >= 4 ? 4 : (int)(nkeys - j);
        const float *kr = k + j * ks;
        __m256 acc[4][3];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm256_setzero_ps();
        if (kn == 4) {
            for (size_t dd = 0; dd < d; dd++) {
                const __m256 q0 = _mm256_load_ps(qt + dd * 24), q1 = _mm256_load_ps(qt + dd * 24 + 8),
                             q2 = _mm256_load_ps(qt + dd * 24 + 16);
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) {
                    const __m256 kv = _mm256_broadcast_ss(kr + i * ks + dd);
                    acc[i][0] = _mm256_fmadd_ps(q0, kv, acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(q1, kv, acc[i][1]);
                    acc[i][2] = _mm256_fmadd_ps(q2, kv, acc[i][2]);
                }
            }
        } else {
            for (int i = 0; i < kn; i++) {
                for (size_t dd = 0; dd < d; dd++) {
                    const __m256 kv = _mm256_broadcast_ss(kr + i * ks + dd);
                    acc[i][0] = _mm256_fmadd_ps(_mm256_load_ps(qt + dd * 24), kv, acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(_mm256_load_ps(qt + dd * 24 + 8), kv, acc[i][1]);
                    acc[i][2] = _mm256_fmadd_ps(_mm256_load_ps(qt + dd * 24 + 16), kv, acc[i][2]);
                }
            }
        }
        for (int i = 0; i < kn; i++) {
            if (masked) {
                long t = (long)(j + i) - diag;
                acc[i][0] = _mm256_blendv_ps(acc[i][0], ninf, attention_lanes_below256(t));
                acc[i][1] = _mm256_blendv_ps(acc[i][1], ninf, attention_lanes_below256(t - 8));
                acc[i][2] = _mm256_blendv_ps(acc[i][2], ninf, attention_lanes_below256(t - 16));
            }
            float *row = st + (j + i) * 24;
            for (int c = 0; c < 3; c++) {
                _mm256_store_ps(row + 8 * c, acc[i][c]);
                _mm256_store_ps(cmax + 8 * c, _mm256_max_ps(_mm256_load_ps(cmax + 8 * c), acc[i][c]));
            }
        }
    }
}

static void attention_softmax256(float *st, size_t nkeys, float *m, float *l, float *ot, size_t d,
                                 const float *cmax, int masked) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int c = 0; c < 3; c++) {
        const __m256 mo = _mm256_load_ps(m + 8 * c);
        const __m256 mn = _mm256_max_ps(mo, _mm256_load_ps(cmax + 8 * c));
        const __m256 f = attention_exp2_256(_mm256_sub_ps(mo, mn));
        _mm256_store_ps(m + 8 * c, mn);
        __m256 sum = _mm256_setzero_ps();
        for (size_t j = 0; j < nkeys; j++) {
            float *p = st + j * 24 + 8 * c;
            const __m256 x = _mm256_load_ps(p);
            __m256 e = attention_exp2_256(_mm256_sub_ps(x, mn));
            if (masked) e = _mm256_and_ps(e, _mm256_cmp_ps(x, ninf, _CMP_NEQ_OQ));
            _mm256_store_ps(p, e);
            sum = _mm256_add_ps(sum, e);
        }
        _mm256_store_ps(l + 8 * c, _mm256_fmadd_ps(_mm256_load_ps(l + 8 * c), f, sum));
        for (size_t dd = 0; dd < d; dd++) {
            float *o = ot + dd * 24 + 8 * c;
            _mm256_store_ps(o, _mm256_mul_ps(_mm256_load_ps(o), f));
        }
    }
}

static void attention_pv256(const float *pt, const float *v, size_t vs, size_t nkeys, size_t d, float *ot) {
    size_t dd = 0;
    for (; dd + 4 <= d; dd += 4) {
        __m256 acc[4][3];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm256_setzero_ps();
        for (size_t j = 0; j < nkeys; j++) {
            const __m256 p0 = _mm256_load_ps(pt + j * 24), p1 = _mm256_load_ps(pt + j * 24 + 8),
                         p2 = _mm256_load_ps(pt + j * 24 + 16);
            const float *vj = v + j * vs + dd;
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                const __m256 vv = _mm256_broadcast_ss(vj + i);
                acc[i][0] = _mm256_fmadd_ps(p0, vv, acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(p1, vv, acc[i][1]);
                acc[i][2] = _mm256_fmadd_ps(p2, vv, acc[i][2]);
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            float *o = ot + (dd + i) * 24;
            _mm256_store_ps(o, _mm256_add_ps(_mm256_load_ps(o), acc[i][0]));
            _mm256_store_ps(o + 8, _mm256_add_ps(_mm256_load_ps(o + 8), acc[i][1]));
            _mm256_store_ps(o + 16, _mm256_add_ps(_mm256_load_ps(o + 16), acc[i][2]));
        }
    }
    for (; dd < d; dd++) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0;
        for (size_t j = 0; j < nkeys; j++) {
            const __m256 vv = _mm256_broadcast_ss(v + j * vs + dd);
            a0 = _mm256_fmadd_ps(_mm256_load_ps(pt + j * 24), vv, a0);
            a1 = _mm256_fmadd_ps(_mm256_load_ps(pt + j * 24 + 8), vv, a1);
            a2 = _mm256_fmadd_ps(_mm256_load_ps(pt + j * 24 + 16), vv, a2);
        }
        float *o = ot + dd * 24;
        _mm256_store_ps(o, _mm256_add_ps(_mm256_load_ps(o), a0));
        _mm256_store_ps(o + 8, _mm256_add_ps(_mm256_load_ps(o + 8), a1));
        _mm256_store_ps(o + 16, _mm256_add_ps(_mm256_load_ps(o + 16), a2));
    }
}

// ---------------------------------------------------------------------------------------------------------
// Driver: tiling, packing and the final normalisation, shared by both instruction sets.

static size_t attention_query_tile(void) { return attention_has_avx512() ? ATTENTION_QT512 : ATTENTION_QT256; }

// Query tiles per job: each key tile (K and V rows, 3 cache lines per head row at D = 40) is loaded once for
// several query tiles, whose Qᵀ/Oᵀ state (2·D·tile floats each) stays within ~256 KB of L2. Without this,
// a head's K and V at N = 16384 (6 MB of lines) would stream from L3 once per 48 queries.
static size_t attention_tiles_per_job(size_t d, size_t qtw) {
    size_t tiles = (256 * 1024) / (2 * d * qtw * sizeof(float));
    return tiles < 1 ? 1 : (tiles > 8 ? 8 : tiles);
}

size_t latent_attention_job_count(const latent_attention_problem *p) {
    const size_t qtw = attention_query_tile(), rows = qtw * attention_tiles_per_job(p->head_dim, qtw);
    return p->batch * p->heads * ((p->query_count + rows - 1) / rows);
}

void latent_attention_run(const latent_attention_problem *p, size_t begin, size_t end) {
    if (begin >= end || p->key_count == 0) return;
    const int wide = attention_has_avx512();
    const size_t qtw = wide ? ATTENTION_QT512 : ATTENTION_QT256;
    const size_t d = p->head_dim, width = p->heads * d, nq = p->query_count, nk = p->key_count;
    const size_t per = attention_tiles_per_job(d, qtw), blockRows = per * qtw;
    const size_t blocks = (nq + blockRows - 1) / blockRows, keyTile = LATENT_ATTENTION_KEY_TILE;
    // One scratch area per call: per query tile Qᵀ and Oᵀ [D, qtw] and the running max and sum [qtw]; one
    // score tile [keyTile, qtw] and one lane-maximum vector.
    const size_t tileFloats = 2 * d * qtw + 2 * qtw, floats = per * tileFloats + keyTile * qtw + qtw;
    float *scratch = aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64);
    if (!scratch) return;
    float *st = scratch + per * tileFloats, *cmax = st + keyTile * qtw;
    // Scores come out in base 2 (scale·log₂e folded into Qᵀ), so the softmax's exponentials are 2^x.
    const float qscale = p->scale * 1.44269504088896341f;
    for (size_t job = begin; job < end; job++) {
        const size_t bh = job / blocks, block = job % blocks, b = bh / p->heads, h = bh % p->heads;
        const size_t first = block * blockRows, blockEnd = nq - first < blockRows ? nq : first + blockRows;
        const size_t tiles = (blockEnd - first + qtw - 1) / qtw;
        for (size_t t = 0; t < tiles; t++) {
            float *qt = scratch + t * tileFloats, *ot = qt + d * qtw, *m = ot + d * qtw, *l = m + qtw;
            const size_t q0 = first + t * qtw, rows = blockEnd - q0 < qtw ? blockEnd - q0 : qtw;
            const float *qbase = p->query + (b * nq + q0) * width + h * d;
            // Qᵀ [D, qtw]; lanes past the last query are zero (their results are dropped).
            for (size_t dd = 0; dd < d; dd++) {
                float *dst = qt + dd * qtw;
                for (size_t r = 0; r < rows; r++) dst[r] = qbase[r * width + dd] * qscale;
                for (size_t r = rows; r < qtw; r++) dst[r] = 0;
            }
            memset(ot, 0, d * qtw * sizeof(float));
            for (size_t r = 0; r < qtw; r++) {
                m[r] = -FLT_MAX;  // finite, so the first rescale is 2^(−huge) ≈ 0 rather than NaN
                l[r] = 0;
            }
        }
        // Causal: no query of this block sees keys past its last query.
        const size_t limit = p->causal ? (blockEnd < nk ? blockEnd : nk) : nk;
        const float *kbase = p->key + b * nk * width + h * d, *vbase = p->value + b * nk * width + h * d;
        for (size_t k0 = 0; k0 < limit; k0 += keyTile) {
            const float *kt = kbase + k0 * width, *vt = vbase + k0 * width;
            for (size_t t = 0; t < tiles; t++) {
                float *qt = scratch + t * tileFloats, *ot = qt + d * qtw, *m = ot + d * qtw, *l = m + qtw;
                const size_t q0 = first + t * qtw, rows = blockEnd - q0 < qtw ? blockEnd - q0 : qtw;
                const size_t tileLimit = p->causal ? (q0 + rows < nk ? q0 + rows : nk) : nk;
                if (k0 >= tileLimit) continue;
                const size_t n = tileLimit - k0 < keyTile ? tileLimit - k0 : keyTile;
                const long diag = (long)q0 - (long)k0;
                const int masked = p->causal && (long)(n - 1) > diag;
                if (wide) {
                    attention_scores512(qt, kt, width, n, d, masked, diag, st, cmax);
                    attention_softmax512(st, n, m, l, ot, d, cmax, masked);
                    attention_pv512(st, vt, width, n, d, ot);
                } else {
                    attention_scores256(qt, kt, width, n, d, masked, diag, st, cmax);
                    attention_softmax256(st, n, m, l, ot, d, cmax, masked);
                    attention_pv256(st, vt, width, n, d, ot);
                }
            }
        }
        for (size_t t = 0; t < tiles; t++) {
            const float *ot = scratch + t * tileFloats + d * qtw, *l = ot + d * qtw + qtw;
            const size_t q0 = first + t * qtw, rows = blockEnd - q0 < qtw ? blockEnd - q0 : qtw;
            float *obase = p->out + (b * nq + q0) * width + h * d;
            for (size_t r = 0; r < rows; r++) {
                const float inv = 1.0f / l[r];
                float *dst = obase + r * width;
                for (size_t dd = 0; dd < d; dd++) dst[dd] = ot[dd * qtw + r] * inv;
            }
        }
    }
    free(scratch);
}
