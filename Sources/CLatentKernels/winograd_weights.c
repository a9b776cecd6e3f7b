// Weights of a 3×3 convolution in the Winograd F(4×4, 3×3) domain, written straight into the layout of
// oneDNN's `jit_avx512_core_f32_wino_conv_4x3` (`dnnl_wino_wei_OBaaIBOIio`).
//
// Why our own: oneDNN's reorder into that layout transforms every (in, out) channel pair with scalar loops
// into a staging copy and then permutes it, about 0.4 GB/s here: 98–125 ms for a 512-channel layer, which a
// Winograd plan pays on every call that misses the weight slot (WinogradWeightCache). Here one pass reads the
// plain weights and writes each transformed 16-lane output-channel vector to its final place.
//
// The transform is U = G·g·Gᵀ per pair, with oneDNN's own G (its input and output transforms are built for
// those interpolation points, so the weights must use exactly them).
#include "CLatentKernels.h"
#include "dnnl_support.h"
#include <immintrin.h>
#include <string.h>

/// oneDNN's G for F(4×4, 3×3): 6 rows of 3.
static const float wino_g[6][3] = {
    {1.13777777777778f, 0.f, 0.f},
    {-0.688403361344538f, -0.430252100840336f, -0.26890756302521f},
    {-0.688403361344538f, 0.430252100840336f, -0.26890756302521f},
    {0.119514472455649f, 0.179271708683473f, 0.26890756302521f},
    {0.119514472455649f, -0.179271708683473f, 0.26890756302521f},
    {0.f, 0.f, 1.f},
};

struct wino_job {
    const dnnl_wino_desc_t *wd;
    int64_t o, c;  // the layer's real channels (the layout pads them to its blocks)
    const float *plain;
    float *out;
};

/// Output-channel blocks `lo ..< hi` (16 channels each) for every input channel.
__attribute__((target("avx512f")))
static void wino_blocks(void *arg, int64_t lo, int64_t hi) {
    const struct wino_job *j = arg;
    const dnnl_wino_desc_t *wd = j->wd;
    const int64_t ic = wd->ic, ic_block = wd->ic_block, ic2 = wd->ic2_block, oc2 = wd->oc2_block;
    const int64_t ic_chunks = ic / (ic_block * ic2);
    __m512 g[6][3];
    for (int a = 0; a < 6; a++)
        for (int k = 0; k < 3; k++) g[a][k] = _mm512_set1_ps(wino_g[a][k]);
    float lanes[9][16] __attribute__((aligned(64)));
    for (int64_t block = lo; block < hi; block++) {
        const int64_t occ = block / oc2, ob = block % oc2, oc0 = block * 16;
        for (int64_t icp = 0; icp < ic; icp++) {
            // The block's 16 output channels' 3×3 kernels for input channel icp, one lane per channel
            // (zeros for the layout's padding channels).
            for (int lane = 0; lane < 16; lane++) {
                const int64_t oc = oc0 + lane;
                const float *w = oc < j->o && icp < j->c ? j->plain + (oc * j->c + icp) * 9 : NULL;
                for (int k = 0; k < 9; k++) lanes[k][lane] = w ? w[k] : 0.f;
            }
            __m512 v[9];
            for (int k = 0; k < 9; k++) v[k] = _mm512_load_ps(lanes[k]);
            // t[r][b] = Σ_s g_r,s · G[b][s]  (g·Gᵀ, 3×6)
            __m512 t[3][6];
            for (int r = 0; r < 3; r++)
                for (int b = 0; b < 6; b++)
                    t[r][b] = _mm512_fmadd_ps(v[r * 3 + 2], g[b][2],
                                              _mm512_fmadd_ps(v[r * 3 + 1], g[b][1], _mm512_mul_ps(v[r * 3], g[b][0])));
            const int64_t icc = icp / (ic_block * ic2), ib = (icp / ic_block) % ic2, i = icp % ic_block;
            for (int a = 0; a < 6; a++) {
                for (int b = 0; b < 6; b++) {
                    // U[a][b] = Σ_r G[a][r] · t[r][b]
                    __m512 u = _mm512_fmadd_ps(g[a][2], t[2][b], _mm512_fmadd_ps(g[a][1], t[1][b], _mm512_mul_ps(g[a][0], t[0][b])));
                    const int64_t at = (((((occ * 6 + a) * 6 + b) * ic_chunks + icc) * oc2 + ob) * ic2 + ib) * ic_block + i;
                    _mm512_storeu_ps(j->out + at * 16, u);
                }
            }
        }
    }
}

int latent_wino_transform_4x3(const dnnl_memory_desc_t *w_md, int64_t o, int64_t c, const float *plain, float *out) {
    if (w_md->format_kind != dnnl_format_kind_wino || !__builtin_cpu_supports("avx512f")) return 0;
    const dnnl_wino_desc_t *wd = &w_md->format_desc.wino_desc;
    if (wd->wino_format != dnnl_wino_wei_OBaaIBOIio || wd->r != 3 || wd->alpha != 6 || wd->oc_block != 16) return 0;
    if (wd->ic_block <= 0 || wd->ic2_block <= 0 || wd->oc2_block <= 0 || wd->ic < c || wd->oc < o) return 0;
    if (wd->ic % (wd->ic_block * wd->ic2_block) != 0 || (wd->oc / 16) % wd->oc2_block != 0) return 0;
    struct wino_job job = {wd, o, c, plain, out};
    latent_split_run(wd->oc / 16, 1, wino_blocks, &job);
    return 1;
}
