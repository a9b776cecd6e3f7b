// Latent's own Winograd F(4×4, 3×3) convolution for 3×3, stride-1, padding-1 layers with few output pixels
// (the UNet's 16×16 and 8×8 levels).
//
// Why not oneDNN's: its Winograd needs the whole layer's weights in the Winograd domain (36·O·C floats,
// 236–472 MB for the 1280-channel layers), and in output-channel chunks it was slower than plain GEMMs there,
// its GEMMs being too small with 2·4² tiles per call (docs/performance.md, wave 9). Here the weights are
// transformed block by block — 32 output × 128 input channels at a time, 590 KB — right before the block's
// 36 small GEMMs use them from the cache, so nothing of the layer's size is ever written. The direct form
// costs 9·N·Ho·Wo multiply-adds per channel pair; this one 36·tiles (a quarter) plus 162 for the transform.
//
// Points 0, ±1, ±2 (Lavin & Gray): y = Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A per 6×6 input tile d and 4×4 output tile.
#include "CLatentKernels.h"
#include "dnnl_support.h"
#include <immintrin.h>
#include <string.h>

enum {
    OB = 32,  // output channels per block: two 16-lane vectors
    CB = 128, // input channels per transformed weight block
    TR = 8,   // tiles per GEMM register block (8 × 2 accumulators)
};

struct w43 {
    const float *x, *g, *bias;
    const uint16_t *gh;        // fp16 weights when g is NULL
    float *y;
    int64_t n, c, h, w, o;
    int64_t th, tw, tiles, tp; // tile rows and columns per image, tiles in all, tiles padded to TR
    float *v;                  // input tiles in the Winograd domain: [36][c][tp]
    float *scratch;            // per part: U [36][CB][OB], then M [36][tp][OB]
    int64_t per_part;          // floats of scratch per part
};

// ---- input tiles: V = Bᵀ·d·B ----------------------------------------------------------------------------

/// Bᵀ applied to 6 values `d[0], d[s], …, d[5s]`, written to `out[0], out[os], …`.
static inline void bt6(const float *d, int64_t s, float *out, int64_t os) {
    const float d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
    out[0] = 4 * d0 - 5 * d2 + d4;
    out[os] = -4 * (d1 + d2) + d3 + d4;
    out[2 * os] = 4 * (d1 - d2) - d3 + d4;
    out[3 * os] = 2 * (d3 - d1) - d2 + d4;
    out[4 * os] = 2 * (d1 - d3) - d2 + d4;
    out[5 * os] = 4 * d1 - 5 * d3 + d5;
}

/// Input channels `lo ..< hi`: every tile of every image, padded tiles zero.
static void w43_input(void *arg, int64_t lo, int64_t hi) {
    const struct w43 *p = arg;
    const int64_t plane = p->h * p->w;
    for (int64_t c = lo; c < hi; c++) {
        for (int64_t t = 0; t < p->tp; t++) {
            float d[36], r[36], v[36];
            if (t < p->tiles) {
                const int64_t img = t / (p->th * p->tw), ty = (t / p->tw) % p->th, tx = t % p->tw;
                const float *src = p->x + (img * p->c + c) * plane;
                for (int i = 0; i < 6; i++) {
                    const int64_t row = ty * 4 - 1 + i;
                    for (int j = 0; j < 6; j++) {
                        const int64_t col = tx * 4 - 1 + j;
                        d[i * 6 + j] = (uint64_t)row < (uint64_t)p->h && (uint64_t)col < (uint64_t)p->w ? src[row * p->w + col] : 0.f;
                    }
                }
                for (int j = 0; j < 6; j++) bt6(d + j, 6, r + j, 6);     // columns: r = Bᵀ·d
                for (int i = 0; i < 6; i++) bt6(r + i * 6, 1, v + i * 6, 1); // rows: v = r·B
            } else {
                memset(v, 0, sizeof v);
            }
            for (int k = 0; k < 36; k++) p->v[(k * p->c + c) * p->tp + t] = v[k];
        }
    }
}

// ---- weights: U = G·g·Gᵀ, a block at a time -------------------------------------------------------------

/// Output channels `o0 ..< o0+OB` × input channels `c0 ..< c0+cn` into `u` `[36][CB][OB]` (missing output
/// channels zero).
__attribute__((target("avx512f")))
static void w43_weights(const struct w43 *p, int64_t o0, int64_t c0, int64_t cn, float *u) {
    static const float gm[6][3] = {
        {1.f / 4, 0.f, 0.f},
        {-1.f / 6, -1.f / 6, -1.f / 6},
        {-1.f / 6, 1.f / 6, -1.f / 6},
        {1.f / 24, 1.f / 12, 1.f / 6},
        {1.f / 24, -1.f / 12, 1.f / 6},
        {0.f, 0.f, 1.f},
    };
    float lanes[9][16] __attribute__((aligned(64)));
    uint16_t half_lanes[9][16] __attribute__((aligned(64)));
    for (int64_t ci = 0; ci < cn; ci++) {
        for (int half = 0; half < 2; half++) {
            // The 16 output channels' 3×3 kernels for this input channel, one lane per channel.
            __m512 g[9];
            if (p->g) {
                for (int lane = 0; lane < 16; lane++) {
                    const int64_t oc = o0 + half * 16 + lane;
                    const float *k = oc < p->o ? p->g + (oc * p->c + c0 + ci) * 9 : NULL;
                    for (int e = 0; e < 9; e++) lanes[e][lane] = k ? k[e] : 0.f;
                }
                for (int e = 0; e < 9; e++) g[e] = _mm512_load_ps(lanes[e]);
            } else {
                for (int lane = 0; lane < 16; lane++) {
                    const int64_t oc = o0 + half * 16 + lane;
                    const uint16_t *k = oc < p->o ? p->gh + (oc * p->c + c0 + ci) * 9 : NULL;
                    for (int e = 0; e < 9; e++) half_lanes[e][lane] = k ? k[e] : 0;
                }
                for (int e = 0; e < 9; e++) g[e] = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)half_lanes[e]));
            }
            // t = g·Gᵀ (3×6), then U = G·t (6×6); the zero and unit entries of G fold away at compile time.
            __m512 t[3][6];
            for (int r = 0; r < 3; r++)
                for (int b = 0; b < 6; b++)
                    t[r][b] = _mm512_fmadd_ps(g[r * 3 + 2], _mm512_set1_ps(gm[b][2]),
                                              _mm512_fmadd_ps(g[r * 3 + 1], _mm512_set1_ps(gm[b][1]),
                                                              _mm512_mul_ps(g[r * 3], _mm512_set1_ps(gm[b][0]))));
            for (int a = 0; a < 6; a++)
                for (int b = 0; b < 6; b++) {
                    __m512 s = _mm512_fmadd_ps(_mm512_set1_ps(gm[a][2]), t[2][b],
                                               _mm512_fmadd_ps(_mm512_set1_ps(gm[a][1]), t[1][b],
                                                               _mm512_mul_ps(_mm512_set1_ps(gm[a][0]), t[0][b])));
                    _mm512_store_ps(u + ((a * 6 + b) * CB + ci) * OB + half * 16, s);
                }
        }
    }
}

// ---- the 36 GEMMs: M[ξ][t][o] (+)= Σ_c V[ξ][c][t] · U[ξ][c][o] -------------------------------------------

/// One register block: TR tiles × OB output channels over `cn` input channels.
__attribute__((target("avx512f")))
static void w43_gemm_block(const float *v, int64_t vstride, const float *u, int64_t cn, float *m, int first) {
    __m512 acc[TR][2];
    for (int r = 0; r < TR; r++) {
        acc[r][0] = first ? _mm512_setzero_ps() : _mm512_load_ps(m + r * OB);
        acc[r][1] = first ? _mm512_setzero_ps() : _mm512_load_ps(m + r * OB + 16);
    }
    for (int64_t k = 0; k < cn; k++) {
        const __m512 u0 = _mm512_load_ps(u + k * OB), u1 = _mm512_load_ps(u + k * OB + 16);
        const float *vk = v + k * vstride;
        for (int r = 0; r < TR; r++) {
            const __m512 b = _mm512_set1_ps(vk[r]);
            acc[r][0] = _mm512_fmadd_ps(b, u0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(b, u1, acc[r][1]);
        }
    }
    for (int r = 0; r < TR; r++) {
        _mm512_store_ps(m + r * OB, acc[r][0]);
        _mm512_store_ps(m + r * OB + 16, acc[r][1]);
    }
}

// ---- output tiles: y = Aᵀ·M·A + bias --------------------------------------------------------------------

/// Aᵀ applied to 6 vectors `m[0], m[s], …, m[5s]`, written to `out[0], out[os], …, out[3os]`.
__attribute__((target("avx512f")))
static inline void at6(const __m512 *m, int s, __m512 *out, int os) {
    const __m512 p = _mm512_add_ps(m[s], m[2 * s]), q = _mm512_sub_ps(m[s], m[2 * s]);
    const __m512 r = _mm512_add_ps(m[3 * s], m[4 * s]), d = _mm512_sub_ps(m[3 * s], m[4 * s]);
    out[0] = _mm512_add_ps(_mm512_add_ps(m[0], p), r);
    out[os] = _mm512_fmadd_ps(_mm512_set1_ps(2), d, q);
    out[2 * os] = _mm512_fmadd_ps(_mm512_set1_ps(4), r, p);
    out[3 * os] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8), d, q), m[5 * s]);
}

__attribute__((target("avx512f")))
static void w43_output(const struct w43 *p, int64_t o0, const float *mm) {
    float lanes[16][16] __attribute__((aligned(64)));
    for (int64_t t = 0; t < p->tiles; t++) {
        const int64_t img = t / (p->th * p->tw), ty = (t / p->tw) % p->th, tx = t % p->tw;
        for (int half = 0; half < 2; half++) {
            const int64_t first = o0 + half * 16;
            if (first >= p->o) break;
            const int live = p->o - first < 16 ? (int)(p->o - first) : 16;
            __m512 m[36], r[24], y[16];
            for (int k = 0; k < 36; k++) m[k] = _mm512_load_ps(mm + (k * p->tp + t) * OB + half * 16);
            for (int j = 0; j < 6; j++) at6(m + j, 6, r + j, 6);     // columns: r = Aᵀ·M (4×6)
            for (int i = 0; i < 4; i++) at6(r + i * 6, 1, y + i * 4, 1); // rows: y = r·A (4×4)
            const __m512 bias = p->bias ? _mm512_maskz_loadu_ps((__mmask16)((1u << live) - 1), p->bias + first)
                                        : _mm512_setzero_ps();
            for (int k = 0; k < 16; k++) _mm512_store_ps(lanes[k], _mm512_add_ps(y[k], bias));
            for (int lane = 0; lane < live; lane++) {
                float *dst = p->y + (img * p->o + first + lane) * p->h * p->w;
                for (int i = 0; i < 4; i++) {
                    const int64_t row = ty * 4 + i;
                    if (row >= p->h) break;
                    for (int j = 0; j < 4; j++) {
                        const int64_t col = tx * 4 + j;
                        if (col < p->w) dst[row * p->w + col] = lanes[i * 4 + j][lane];
                    }
                }
            }
        }
    }
}

/// Output-channel blocks `lo ..< hi`, on part `part`'s scratch.
static void w43_blocks(void *arg, int64_t lo, int64_t hi, int part) {
    const struct w43 *p = arg;
    float *u = p->scratch + part * p->per_part;
    float *mm = u + 36 * CB * OB;
    for (int64_t block = lo; block < hi; block++) {
        const int64_t o0 = block * OB;
        for (int64_t c0 = 0; c0 < p->c; c0 += CB) {
            const int64_t cn = p->c - c0 < CB ? p->c - c0 : CB;
            w43_weights(p, o0, c0, cn, u);
            for (int k = 0; k < 36; k++)
                for (int64_t t0 = 0; t0 < p->tp; t0 += TR)
                    w43_gemm_block(p->v + (k * p->c + c0) * p->tp + t0, p->tp, u + k * CB * OB, cn,
                                   mm + (k * p->tp + t0) * OB, c0 == 0);
        }
        w43_output(p, o0, mm);
    }
}

int latent_wino43_conv(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *weight,
                       const uint16_t *half_weight, const float *bias, int64_t o, float *y) {
    if (n < 1 || c < 1 || h < 1 || w < 1 || o < 1 || (!weight && !half_weight) || !__builtin_cpu_supports("avx512f")) return 0;
    struct w43 p = {.x = x, .g = weight, .gh = half_weight, .bias = bias, .y = y, .n = n, .c = c, .h = h, .w = w, .o = o};
    p.th = (h + 3) / 4;
    p.tw = (w + 3) / 4;
    p.tiles = n * p.th * p.tw;
    p.tp = (p.tiles + TR - 1) / TR * TR;
    p.per_part = 36 * CB * OB + 36 * p.tp * OB;
    const int64_t blocks = (o + OB - 1) / OB;
    const int parts = latent_parallel_parts(blocks, 1);
    p.v = latent_scratch_acquire(LATENT_SCRATCH_SOURCE, (size_t)(36 * c * p.tp) * sizeof(float));
    p.scratch = latent_scratch_acquire(LATENT_SCRATCH_PAD, (size_t)(parts * p.per_part) * sizeof(float));
    int ok = p.v && p.scratch;
    if (ok) {
        latent_split_run(c, 1, w43_input, &p);
        latent_parallel_parts_run(blocks, parts, w43_blocks, &p);
    }
    latent_scratch_release(p.v);
    latent_scratch_release(p.scratch);
    return ok;
}
