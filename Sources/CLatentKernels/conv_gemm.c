// A convolution as GEMMs over im2col columns, for layers with few output pixels per call (the UNet's 32×32,
// 16×16 and 8×8 levels): there oneDNN's direct kernels are no faster per call, and a oneDNN plan costs a
// weight reorder and a kernel compile on its first call (ConvolutionPlan.defaultGEMMMaximumPixels).
#include "CLatentKernels.h"
#include "dnnl_support.h"
#include <string.h>

/// Column-matrix floats up to which the whole batch runs as one GEMM; above, one GEMM per band of output
/// rows of one item, each band's columns within this (64 MB: the 32×32 level's largest layer, 1920 → 640
/// channels at batch 2, runs in two bands per item).
#define LATENT_CONV_GEMM_COLUMNS (16 << 20)

void latent_im2col(const float *src, int64_t channels, int64_t h, int64_t w, int64_t kh, int64_t kw,
                   int64_t stride, const int64_t pad[4], int64_t wo, int64_t oy0, int64_t oy1, float *col, int64_t ld) {
    for (int64_t ch = 0; ch < channels; ch++) {
        const float *plane = src + ch * h * w;
        for (int64_t ky = 0; ky < kh; ky++) {
            for (int64_t kx = 0; kx < kw; kx++) {
                float *line = col + ((ch * kh + ky) * kw + kx) * ld;
                for (int64_t oy = oy0; oy < oy1; oy++) {
                    int64_t iy = oy * stride - pad[0] + ky;
                    float *row = line + (oy - oy0) * wo;
                    if (iy < 0 || iy >= h) {
                        memset(row, 0, (size_t)wo * sizeof(float));
                        continue;
                    }
                    const float *in = plane + iy * w;
                    if (stride == 1) {
                        // Contiguous: copy the valid span, zero the borders.
                        int64_t shift = kx - pad[1];
                        int64_t lo = shift < 0 ? -shift : 0, hi = w - shift < wo ? w - shift : wo;
                        if (lo > wo) lo = wo;
                        if (hi < lo) hi = lo;
                        memset(row, 0, (size_t)lo * sizeof(float));
                        memcpy(row + lo, in + lo + shift, (size_t)(hi - lo) * sizeof(float));
                        memset(row + hi, 0, (size_t)(wo - hi) * sizeof(float));
                    } else {
                        for (int64_t ox = 0; ox < wo; ox++) {
                            int64_t ix = ox * stride - pad[1] + kx;
                            row[ox] = ix >= 0 && ix < w ? in[ix] : 0.0f;
                        }
                    }
                }
            }
        }
    }
}

/// The geometry of one call.
struct conv_geometry {
    int64_t c, h, w, kh, kw, stride, ho, wo;
    const int64_t *pad;
};

/// A column matrix: items `b0 ..< b1`, output rows `oy0 ..< oy1`, side by side (`ld` columns per row).
struct im2col_job {
    const struct conv_geometry *g;
    const float *src;
    int64_t b0, b1, oy0, oy1, ld;
    float *col;
};

/// Channels `c0 ..< c1` of the job's column matrix.
static void im2col_channels(void *arg, int64_t c0, int64_t c1) {
    const struct im2col_job *j = arg;
    const struct conv_geometry *g = j->g;
    int64_t item_columns = (j->oy1 - j->oy0) * g->wo;
    for (int64_t b = j->b0; b < j->b1; b++)
        latent_im2col(j->src + (b * g->c + c0) * g->h * g->w, c1 - c0, g->h, g->w, g->kh, g->kw, g->stride, g->pad, g->wo,
                      j->oy0, j->oy1, j->col + c0 * g->kh * g->kw * j->ld + (b - j->b0) * item_columns, j->ld);
}

/// The job's columns, channels split over the cores (one channel is kh·kw·ld floats).
static void im2col_parallel(const struct conv_geometry *g, const float *src, int64_t b0, int64_t b1, int64_t oy0,
                            int64_t oy1, float *col, int64_t ld) {
    struct im2col_job job = {g, src, b0, b1, oy0, oy1, ld, col};
    int64_t per_channel = g->kh * g->kw * ld;
    latent_split_run(g->c, (1 << 19) / (per_channel > 0 ? per_channel : 1) + 1, im2col_channels, &job);
}

int latent_conv_gemm(const float *src, const int64_t shape[4], const float *weights, int64_t o, int64_t kh,
                     int64_t kw, int64_t stride, const int64_t pad[4], const float *bias, float *dst) {
    int64_t n = shape[0], c = shape[1], h = shape[2], w = shape[3];
    int64_t ho = (h + pad[0] + pad[2] - kh) / stride + 1, wo = (w + pad[1] + pad[3] - kw) / stride + 1;
    if (ho <= 0 || wo <= 0) return 0;
    struct conv_geometry g = {c, h, w, kh, kw, stride, ho, wo, pad};
    int64_t k = c * kh * kw, hw = ho * wo, p = n * hw;
    int ok = 1;
    if (k * p <= LATENT_CONV_GEMM_COLUMNS) {
        // The whole batch side by side: [O, K] · [K, N·Ho·Wo] → [O, N·Ho·Wo], scattered per item.
        float *col = latent_scratch_acquire(LATENT_SCRATCH_SOURCE, (size_t)(k * p) * sizeof(float));
        float *out = n == 1 ? dst : latent_scratch_acquire(LATENT_SCRATCH_DESTINATION, (size_t)(o * p) * sizeof(float));
        ok = col && out;
        if (ok) {
            im2col_parallel(&g, src, 0, n, 0, ho, col, p);
            ok = latent_dnnl_sgemm(0, 0, o, p, k, 1.0f, weights, k, col, p, 0.0f, out, p);
        }
        for (int64_t b = 0; ok && n > 1 && b < n; b++)
            for (int64_t oc = 0; oc < o; oc++) memcpy(dst + (b * o + oc) * hw, out + oc * p + b * hw, (size_t)hw * sizeof(float));
        latent_scratch_release(col);
        if (out != dst) latent_scratch_release(out);
    } else {
        // Bands of output rows of one item, each GEMM writing its rows of every channel in place (ldc = Ho·Wo).
        int64_t rows = LATENT_CONV_GEMM_COLUMNS / (k * wo);
        if (rows < 1) rows = 1;
        if (rows > ho) rows = ho;
        float *col = latent_scratch_acquire(LATENT_SCRATCH_SOURCE, (size_t)(k * rows * wo) * sizeof(float));
        ok = col != NULL;
        for (int64_t b = 0; ok && b < n; b++) {
            for (int64_t oy = 0; ok && oy < ho; oy += rows) {
                int64_t count = ho - oy < rows ? ho - oy : rows;
                im2col_parallel(&g, src, b, b + 1, oy, oy + count, col, count * wo);
                ok = latent_dnnl_sgemm(0, 0, o, count * wo, k, 1.0f, weights, k, col, count * wo, 0.0f,
                                       dst + b * o * hw + oy * wo, hw);
            }
        }
        latent_scratch_release(col);
    }
    for (int64_t plane = 0; ok && bias && plane < n * o; plane++) {
        float *y = dst + plane * hw, add = bias[plane % o];
        for (int64_t i = 0; i < hw; i++) y[i] += add;
    }
    return ok;
}
