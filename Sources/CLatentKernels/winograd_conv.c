// Latent's own Winograd F(4×4, 3×3) convolution for 3×3, stride-1, padding-1 layers.
//
// Why not oneDNN's: its Winograd needs the whole layer's weights in the Winograd domain (36·O·C floats,
// 236–472 MB for the UNet's 1280-channel layers), and in output-channel chunks it was slower than plain GEMMs
// at 16×16 and below, its GEMMs being too small with 2·4² tiles per call (docs/performance.md, wave 9). Here
// the weights are transformed block by block — 32 output × 128 input channels at a time, 590 KB — right
// before the block's 36 small GEMMs use them from the cache, so nothing of the layer's size is ever written,
// and no plan is compiled or transform cached. Tiles go in passes of at most 128. The direct form
// costs 9·N·Ho·Wo multiply-adds per channel pair; this one 36·tiles (a quarter), plus its share of the weight
// transform (99 vector operations per 16 pairs). Input tiles are transformed 16 at a time, one per lane,
// gathered from their windows (the scalar form took ≈ 35 % of a 64×64 call).
//
// Points 0, ±1, ±2 (Lavin & Gray): y = Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A per 6×6 input tile d and 4×4 output tile.
#include "CLatentKernels.h"
#include "dnnl_support.h"
#include <immintrin.h>
#include <stdint.h>

// The 36 planes of U, V and M are padded apart by a cache line: at multiples of 4 KiB the 36 stores of one
// transformed tile or kernel all fall into one L1 set and evict each other.
enum {
    PAD = 16,
    OV = 2,       // 16-lane output-channel vectors per block (4 or 3 with fewer tiles per register block: slower)
    OB = OV * 16, // output channels per block
    CB = 128,     // input channels per transformed weight block (U: 590 KB, beside V's slice in L2)
    TR = 8,       // tiles per GEMM register block (TR × OV accumulators)
    US = CB * OB + PAD,
    TB = 128,     // most tiles per pass (32–256 measured: 128 fastest at 16², 32² and 64²)
};

struct w43 {
    const float *x, *g, *bias;
    const uint16_t *gh;        // fp16 weights when g is NULL
    float *y;
    int64_t n, c, h, w, o;
    int64_t th, tw, tiles;     // tile rows and columns per image, tiles in all
    int64_t t0, tn, tp;        // this pass's first tile and tile count, the count padded to TR
    int64_t stride;            // tiles per V row and M plane (the largest pass's padded count)
    float *v;                  // input tiles in the Winograd domain: [36][stride / TR][c][TR], planes vs floats apart
    float *scratch;            // per part: U [36][CB][OB] (planes US apart), then M [36][stride][OB] (ms apart)
    int64_t vs, ms;            // plane strides of V and M
    int64_t per_part;          // floats of scratch per part
};

/// Image, tile row and tile column of tile `t` (tiles run image by image, row by row).
static inline void tile_origin(const struct w43 *p, int64_t t, int64_t *img, int64_t *ty, int64_t *tx) {
    *img = t / (p->th * p->tw);
    *ty = (t / p->tw) % p->th;
    *tx = t % p->tw;
}

// ---- input tiles: V = Bᵀ·d·B ----------------------------------------------------------------------------

/// Bᵀ applied to 6 vectors `d[0], d[s], …, d[5s]`, written to `out[0], out[os], …, out[5os]`.
__attribute__((target("avx512f")))
static inline void bt6(const __m512 *d, int s, __m512 *out, int os) {
    const __m512 four = _mm512_set1_ps(4), five = _mm512_set1_ps(5), two = _mm512_set1_ps(2);
    const __m512 d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
    const __m512 d42 = _mm512_sub_ps(d4, d2);
    out[0] = _mm512_fmadd_ps(four, d0, _mm512_fnmadd_ps(five, d2, d4));
    out[os] = _mm512_fnmadd_ps(four, _mm512_add_ps(d1, d2), _mm512_add_ps(d3, d4));
    out[2 * os] = _mm512_fmadd_ps(four, _mm512_sub_ps(d1, d2), _mm512_sub_ps(d4, d3));
    out[3 * os] = _mm512_fmadd_ps(two, _mm512_sub_ps(d3, d1), d42);
    out[4 * os] = _mm512_fmadd_ps(two, _mm512_sub_ps(d1, d3), d42);
    out[5 * os] = _mm512_fmadd_ps(four, d1, _mm512_fnmadd_ps(five, d3, d5));
}

// A group of 16 lanes fills two register blocks of tiles exactly (the stores below split it in halves).
_Static_assert(TR == 8, "w43_input stores a 16-lane group as two 8-tile panels");

/// Input channels `lo ..< hi`: the pass's tiles 16 at a time (one per lane, gathered from their 6×6 windows),
/// padded ones zero.
__attribute__((target("avx512f")))
static void w43_input(void *arg, int64_t lo, int64_t hi) {
    const struct w43 *p = arg;
    const int64_t plane = p->h * p->w;
    for (int64_t tt0 = 0; tt0 < p->tp; tt0 += 16) {
        // Per lane: the window's offset from its channel plane's start, and which rows and columns are inside.
        int32_t base[16] __attribute__((aligned(64)));
        __mmask16 rows[6] = {0}, cols[6] = {0};
        for (int l = 0; l < 16; l++) {
            base[l] = 0;
            if (tt0 + l >= p->tn) continue;
            int64_t img, ty, tx;
            tile_origin(p, p->t0 + tt0 + l, &img, &ty, &tx);
            base[l] = (int32_t)(img * p->c * plane + (ty * 4 - 1) * p->w + tx * 4 - 1);
            for (int i = 0; i < 6; i++) {
                if ((uint64_t)(ty * 4 - 1 + i) < (uint64_t)p->h) rows[i] |= (__mmask16)(1u << l);
                if ((uint64_t)(tx * 4 - 1 + i) < (uint64_t)p->w) cols[i] |= (__mmask16)(1u << l);
            }
        }
        const __m512i vbase = _mm512_load_si512(base);
        // Lanes past the padded count belong to the next tile block's row: never stored.
        const int64_t stored = p->tp - tt0 < 16 ? p->tp - tt0 : 16;
        for (int64_t c = lo; c < hi; c++) {
            const float *src = p->x + c * plane;
            __m512 d[36], r[36], v[36];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++)
                    d[i * 6 + j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), rows[i] & cols[j],
                                                            _mm512_add_epi32(vbase, _mm512_set1_epi32((int32_t)(i * p->w + j))), src, 4);
            for (int j = 0; j < 6; j++) bt6(d + j, 6, r + j, 6);     // columns: r = Bᵀ·d
            for (int i = 0; i < 6; i++) bt6(r + i * 6, 1, v + i * 6, 1); // rows: v = r·B
            for (int k = 0; k < 36; k++) {
                float *dst = p->v + k * p->vs + (tt0 / TR) * p->c * TR + c * TR;
                _mm256_storeu_ps(dst, _mm512_castps512_ps256(v[k]));
                if (stored > TR) _mm256_storeu_ps(dst + p->c * TR, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v[k]), 1)));
            }
        }
    }
}

// ---- weights: U = G·g·Gᵀ, a block at a time -------------------------------------------------------------

/// G applied to three vectors: `out[0], out[os], …, out[5os]` = G·(g0, g1, g2), with
/// G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1⁄24 1⁄12 ⅙; 1⁄24 −1⁄12 ⅙; 0 0 1], its shared terms computed once
/// (11 operations instead of 18).
__attribute__((target("avx512f")))
static inline void g3(__m512 g0, __m512 g1, __m512 g2, __m512 *out, int os) {
    const __m512 a = _mm512_mul_ps(_mm512_add_ps(g0, g2), _mm512_set1_ps(-1.f / 6));
    const __m512 b = _mm512_mul_ps(g1, _mm512_set1_ps(1.f / 6));
    const __m512 c = _mm512_fmadd_ps(g0, _mm512_set1_ps(1.f / 24), _mm512_mul_ps(g2, _mm512_set1_ps(1.f / 6)));
    const __m512 d = _mm512_mul_ps(g1, _mm512_set1_ps(1.f / 12));
    out[0] = _mm512_mul_ps(g0, _mm512_set1_ps(0.25f));
    out[os] = _mm512_sub_ps(a, b);
    out[2 * os] = _mm512_add_ps(a, b);
    out[3 * os] = _mm512_add_ps(c, d);
    out[4 * os] = _mm512_sub_ps(c, d);
    out[5 * os] = g2;
}

/// Transposes 16 vectors of 16 floats in place (r[i][j] ↔ r[j][i]).
__attribute__((target("avx512f")))
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    // Per 128-bit lane L, r[4q + m] now holds column 4L + m of rows 4q ..< 4q+4.
    for (int q = 0; q < 16; q += 4) {
        r[q] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[q]), _mm512_castps_pd(t[q + 2])));
        r[q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[q]), _mm512_castps_pd(t[q + 2])));
        r[q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[q + 1]), _mm512_castps_pd(t[q + 3])));
        r[q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[q + 1]), _mm512_castps_pd(t[q + 3])));
    }
    for (int m = 0; m < 4; m++) {
        const __m512 a = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88), b = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xdd);
        const __m512 c = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88), d = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xdd);
        t[m] = _mm512_shuffle_f32x4(a, c, 0x88);
        t[8 + m] = _mm512_shuffle_f32x4(a, c, 0xdd);
        t[4 + m] = _mm512_shuffle_f32x4(b, d, 0x88);
        t[12 + m] = _mm512_shuffle_f32x4(b, d, 0xdd);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

/// The 3×3 kernels of output channels `first ..< first+live` (live ≤ 16) for input channels `c ..< c+cn`
/// (cn ≤ 16) as `9·cn` vectors with one lane per output channel: `lanes[ci·9 + e]` is element e of input
/// channel c+ci: contiguous row reads and an in-register transpose. Gathers (`vpgatherdd`) ran as fast here, but
/// their fp16 form must read 32-bit words, 2 bytes beyond an element; these masked loads stay inside the weights.
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void w43_kernel_lanes(const struct w43 *p, int64_t first, int64_t live, int64_t c, int64_t cn, __m512 *lanes) {
    const int64_t count = cn * 9;
    for (int64_t j0 = 0; j0 < count; j0 += 16) {
        const int64_t n = count - j0 < 16 ? count - j0 : 16;
        const __mmask16 mask = (__mmask16)((1u << n) - 1);
        __m512 r[16];
        for (int lane = 0; lane < 16; lane++) {
            const int64_t at = ((first + lane) * p->c + c) * 9 + j0;
            if (lane >= live) r[lane] = _mm512_setzero_ps();
            else if (p->g) r[lane] = _mm512_maskz_loadu_ps(mask, p->g + at);
            else r[lane] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p->gh + at));
        }
        transpose16(r);
        for (int k = 0; k < n; k++) lanes[j0 + k] = r[k];
    }
}

/// Output channels `o0 ..< o0+OB` × input channels `c0 ..< c0+cn` into `u` `[36][CB][OB]` (missing output
/// channels zero).
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void w43_weights(const struct w43 *p, int64_t o0, int64_t c0, int64_t cn, float *u) {
    __m512 lanes[16 * 9];
    for (int half = 0; half < OV; half++) {
        const int64_t first = o0 + half * 16, live = p->o - first < 16 ? p->o - first : 16;
        for (int64_t cg = 0; cg < cn; cg += 16) {
            const int64_t group = cn - cg < 16 ? cn - cg : 16;
            if (live > 0) w43_kernel_lanes(p, first, live, c0 + cg, group, lanes);
            else for (int k = 0; k < group * 9; k++) lanes[k] = _mm512_setzero_ps();
            for (int64_t ci = 0; ci < group; ci++) {
                const __m512 *g = lanes + ci * 9;
                // t = g·Gᵀ (3×6, rows of g through G), then U = G·t (6×6, columns of t through G).
                __m512 t[3][6], w[6][6];
                for (int r = 0; r < 3; r++) g3(g[r * 3], g[r * 3 + 1], g[r * 3 + 2], t[r], 1);
                for (int b = 0; b < 6; b++) g3(t[0][b], t[1][b], t[2][b], &w[0][b], 6);
                for (int a = 0; a < 6; a++)
                    for (int b = 0; b < 6; b++) _mm512_store_ps(u + (a * 6 + b) * US + (cg + ci) * OB + half * 16, w[a][b]);
            }
        }
    }
}

// ---- the 36 GEMMs: M[ξ][t][o] (+)= Σ_c V[ξ][c][t] · U[ξ][c][o] -------------------------------------------

/// One register block: TR tiles × OB output channels over `cn` input channels; `v` is the block's `[cn][TR]`
/// panel, read front to back (the prefetchers stream it from L3; read as rows `stride` apart, it ran 3–12 %
/// slower).
__attribute__((target("avx512f")))
static void w43_gemm_block(const float *v, const float *u, int64_t cn, float *m, int first) {
    __m512 acc[TR][OV];
    for (int r = 0; r < TR; r++)
        for (int j = 0; j < OV; j++) acc[r][j] = first ? _mm512_setzero_ps() : _mm512_load_ps(m + r * OB + j * 16);
    for (int64_t k = 0; k < cn; k++) {
        __m512 uk[OV];
        for (int j = 0; j < OV; j++) uk[j] = _mm512_load_ps(u + k * OB + j * 16);
        const float *vk = v + k * TR;
        for (int r = 0; r < TR; r++) {
            const __m512 b = _mm512_set1_ps(vk[r]);
            for (int j = 0; j < OV; j++) acc[r][j] = _mm512_fmadd_ps(b, uk[j], acc[r][j]);
        }
    }
    for (int r = 0; r < TR; r++)
        for (int j = 0; j < OV; j++) _mm512_store_ps(m + r * OB + j * 16, acc[r][j]);
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
    for (int64_t tt = 0; tt < p->tn; tt++) {
        int64_t img, ty, tx;
        tile_origin(p, p->t0 + tt, &img, &ty, &tx);
        for (int half = 0; half < OV; half++) {
            const int64_t first = o0 + half * 16;
            if (first >= p->o) break;
            const int live = p->o - first < 16 ? (int)(p->o - first) : 16;
            __m512 m[36], r[24], y[16];
            for (int k = 0; k < 36; k++) m[k] = _mm512_load_ps(mm + k * p->ms + tt * OB + half * 16);
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
    float *mm = u + 36 * US;
    for (int64_t block = lo; block < hi; block++) {
        const int64_t o0 = block * OB;
        for (int64_t c0 = 0; c0 < p->c; c0 += CB) {
            const int64_t cn = p->c - c0 < CB ? p->c - c0 : CB;
            w43_weights(p, o0, c0, cn, u);
            for (int k = 0; k < 36; k++)
                for (int64_t t0 = 0; t0 < p->tp; t0 += TR)
                    w43_gemm_block(p->v + k * p->vs + (t0 / TR) * p->c * TR + c0 * TR, u + k * US, cn,
                                   mm + k * p->ms + t0 * OB, c0 == 0);
        }
        w43_output(p, o0, mm);
    }
}

int latent_wino43_conv(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *weight,
                       const uint16_t *half_weight, const float *bias, int64_t o, float *y) {
    // The input gathers index the whole input with 32-bit offsets.
    if (n < 1 || c < 1 || h < 1 || w < 1 || o < 1 || n * c * h * w > INT32_MAX || (!weight && !half_weight) ||
        !__builtin_cpu_supports("avx512f") ||
        !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vl"))
        return 0;
    struct w43 p = {.x = x, .g = weight, .gh = half_weight, .bias = bias, .y = y, .n = n, .c = c, .h = h, .w = w, .o = o};
    p.th = (h + 3) / 4;
    p.tw = (w + 3) / 4;
    p.tiles = n * p.th * p.tw;
    // Tiles in passes of at most TB: each pass's V (36·C·TB floats) is read once per output-channel block, from
    // the caches, and its weight blocks are transformed again per pass (≈ 10 % of the GEMMs at TB tiles).
    const int64_t passes = (p.tiles + TB - 1) / TB, per_pass = (p.tiles + passes - 1) / passes;
    p.stride = (per_pass + TR - 1) / TR * TR;
    p.vs = c * p.stride + PAD;
    p.ms = p.stride * OB + PAD;
    p.per_part = 36 * US + 36 * p.ms;
    const int64_t blocks = (o + OB - 1) / OB;
    const int parts = latent_parallel_parts(blocks, 1);
    p.v = latent_scratch_acquire(LATENT_SCRATCH_SOURCE, (size_t)(36 * p.vs) * sizeof(float));
    p.scratch = latent_scratch_acquire(LATENT_SCRATCH_PAD, (size_t)(parts * p.per_part) * sizeof(float));
    int ok = p.v && p.scratch;
    for (p.t0 = 0; ok && p.t0 < p.tiles; p.t0 += per_pass) {
        p.tn = p.tiles - p.t0 < per_pass ? p.tiles - p.t0 : per_pass;
        p.tp = (p.tn + TR - 1) / TR * TR;
        latent_split_run(c, 1, w43_input, &p);
        latent_parallel_parts_run(blocks, parts, w43_blocks, &p);
    }
    latent_scratch_release(p.v);
    latent_scratch_release(p.scratch);
    return ok;
}
