// Reduced-precision convolutions and matrix products on oneDNN, for `--weights bf16|int8`.
//
// bf16: activations are rounded to bf16 by the input reorder, weights are stored as bf16 in the primitive's
// blocked layout, accumulation and output stay fp32 (AMX / AVX512-BF16 where the CPU has them).
// int8: weights are quantised per output channel (symmetric, scale = max|w| / 127), activations per call
// with one symmetric scale for the whole tensor (max|x| / 127); oneDNN accumulates in int32 and applies the
// per-channel weight scales as static output scales (fp32 result), and the activation scale and the bias are
// applied here in place. Static, because oneDNN 2.6 takes run-time output scales only on its slow non-AMX
// paths (matmul) or not at all (convolution).
//
// Every primitive uses a user-managed scratchpad passed per call (why: dnnl_support.h).
#include "CLatentKernels.h"
#include "dnnl_support.h"
#include <oneapi/dnnl/dnnl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct latent_lowp_op {
    int precision;             // LATENT_PRECISION_BF16 or LATENT_PRECISION_INT8
    dnnl_primitive_t prim, src_reorder, dst_reorder;
    dnnl_memory_desc_t src_user, src_md, dst_md, dst_user, w_md, b_md;
    size_t scratchpad_bytes;   // the largest scratchpad any of the three primitives asks for
    void *weights;             // blocked bf16 or s8 weights (with oneDNN's compensation for s8 sources)
    float *bias;               // [O] or NULL
    float *weight_scale;       // [O], int8 only
    size_t src_count;          // elements of the input
    size_t outer, channels, inner; // output viewed as [outer, channels, inner] for the dequantisation
    const char *impl;
};

// ---- the element-wise passes split over the cores ----------------------------------------------------------

typedef void (*range_fn)(void *ctx, size_t begin, size_t end, int part);
enum { MAX_PARTS = 16 };
struct split_job { range_fn fn; void *ctx; };
static void split_part(void *arg, int64_t lo, int64_t hi, int part) {
    const struct split_job *j = arg;
    j->fn(j->ctx, (size_t)lo, (size_t)hi, part);
}
// On the process's thread team (parallel.c); passes below 65 536 elements stay on the calling thread.
static void split(size_t n, range_fn fn, void *ctx) {
    int parts = n < 65536 ? 1 : latent_parallel_parts((int64_t)n, 1);
    if (parts > MAX_PARTS) parts = MAX_PARTS;
    struct split_job job = {fn, ctx};
    latent_parallel_parts_run((int64_t)n, parts, split_part, &job);
}

struct absmax_ctx { const float *x; float part_max[MAX_PARTS]; };
static void absmax_range(void *c, size_t b, size_t e, int part) {
    struct absmax_ctx *ctx = c;
    float m = 0;
    for (size_t i = b; i < e; i++) { float a = fabsf(ctx->x[i]); m = a > m ? a : m; }
    ctx->part_max[part] = m;
}
struct quant_ctx { const float *x; int8_t *q; float inv; };
static void quant_range(void *c, size_t b, size_t e, int part) {
    (void)part;
    struct quant_ctx *ctx = c;
    for (size_t i = b; i < e; i++) {
        float v = nearbyintf(ctx->x[i] * ctx->inv);
        ctx->q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
}
/// Quantises `n` floats with one symmetric scale; returns the scale (x ≈ q · scale).
static float quantize(const float *x, int8_t *q, size_t n) {
    struct absmax_ctx a = {.x = x};
    split(n, absmax_range, &a);
    float m = 0;
    for (int i = 0; i < MAX_PARTS; i++) m = a.part_max[i] > m ? a.part_max[i] : m;  // unused parts stay 0
    float scale = m > 0 ? m / 127.0f : 1.0f;
    struct quant_ctx ctx = {x, q, 1.0f / scale};
    split(n, quant_range, &ctx);
    return scale;
}
struct dequant_ctx { float *y; const float *bias; float x_scale; size_t channels, inner; };
static void dequant_range(void *c, size_t b, size_t e, int part) {
    (void)part;
    struct dequant_ctx *ctx = c;
    // Rows of `inner` elements that share one channel: [outer · channels] rows.
    for (size_t row = b; row < e; row++) {
        size_t ch = row % ctx->channels;
        float s = ctx->x_scale, add = ctx->bias ? ctx->bias[ch] : 0;
        float *y = ctx->y + row * ctx->inner;
        for (size_t i = 0; i < ctx->inner; i++) y[i] = y[i] * s + add;
    }
}
struct dequant_cols_ctx { float *y; const float *bias; float x_scale; size_t cols; };
static void dequant_cols_range(void *c, size_t b, size_t e, int part) {
    (void)part;
    struct dequant_cols_ctx *ctx = c;
    for (size_t row = b; row < e; row++) {
        float *y = ctx->y + row * ctx->cols;
        if (ctx->bias) for (size_t j = 0; j < ctx->cols; j++) y[j] = y[j] * ctx->x_scale + ctx->bias[j];
        else for (size_t j = 0; j < ctx->cols; j++) y[j] *= ctx->x_scale;
    }
}

// ---- shared plumbing (dnnl_support.h) -------------------------------------------------------------------------

/// The primitive's attributes: user scratchpad, and for int8 the per-output-channel weight scales
/// (dimension `channel_dim` of the destination) as static output scales.
static dnnl_primitive_attr_t primitive_attr(const float *weight_scale, int64_t channels, int channel_dim) {
    dnnl_primitive_attr_t attr = latent_dnnl_user_scratchpad_attr();
    if (attr && weight_scale
        && dnnl_primitive_attr_set_output_scales(attr, channels, 1 << channel_dim, weight_scale) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return NULL;
    }
    return attr;
}

static size_t scratchpad_bytes(const_dnnl_primitive_desc_t pd) {
    dnnl_memory_desc_t md = latent_dnnl_scratchpad_md(pd);
    return dnnl_memory_desc_get_size(&md);
}

/// A reorder primitive (see `latent_dnnl_make_reorder`) whose scratchpad need raises `*pad` to fit.
static dnnl_primitive_t make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, size_t *pad,
                                     int *ok) {
    dnnl_memory_desc_t pad_md;
    memset(&pad_md, 0, sizeof pad_md);
    dnnl_primitive_t prim = latent_dnnl_make_reorder(from, to, &pad_md, ok);
    size_t bytes = dnnl_memory_desc_get_size(&pad_md);
    if (bytes > *pad) *pad = bytes;
    return prim;
}

/// Quantises rows of `per` floats (one row per output channel) symmetrically; fills `scale[rows]`.
static void quantize_rows(const float *w, int8_t *q, float *scale, size_t rows, size_t per) {
    for (size_t r = 0; r < rows; r++) {
        float m = 0;
        for (size_t i = 0; i < per; i++) { float a = fabsf(w[r * per + i]); m = a > m ? a : m; }
        scale[r] = m > 0 ? m / 127.0f : 1.0f;
        float inv = 1.0f / scale[r];
        for (size_t i = 0; i < per; i++) q[r * per + i] = (int8_t)nearbyintf(w[r * per + i] * inv);
    }
}

/// Quantises `[rows, per]` fp32 weights into a new s8 buffer and `p->weight_scale`; NULL when out of memory.
static int8_t *quantize_weights(latent_lowp_op *p, const float *weight, size_t rows, size_t per) {
    int8_t *q = latent_aligned_alloc(rows * per);
    p->weight_scale = latent_aligned_alloc(rows * sizeof(float));
    if (!q || !p->weight_scale) { free(q); return NULL; }
    quantize_rows(weight, q, p->weight_scale, rows, per);
    return q;
}

/// Creates the primitive's pieces shared by convolution and matmul once the primitive descriptor exists:
/// reorders, blocked weights (from `w_plain_md` over `weight`, row-major `[O, per]`) and bias.
static int finish(latent_lowp_op *p, dnnl_primitive_desc_t pd, const dnnl_memory_desc_t *w_plain_f32,
                  const float *weight, const int8_t *quantized, size_t out_channels, const float *bias) {
    p->src_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    p->dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    p->w_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    p->impl = impl ? strdup(impl) : NULL;
    p->scratchpad_bytes = scratchpad_bytes(pd);
    int ok = dnnl_primitive_create(&p->prim, pd) == dnnl_success;
    if (ok) p->src_reorder = make_reorder(&p->src_user, &p->src_md, &p->scratchpad_bytes, &ok);
    if (ok) p->dst_reorder = make_reorder(&p->dst_md, &p->dst_user, &p->scratchpad_bytes, &ok);
    if (!ok) return 0;
    p->weights = latent_aligned_alloc(dnnl_memory_desc_get_size(&p->w_md));
    if (!p->weights) return 0;
    if (quantized) {
        // Plain s8 weights in the same logical layout as the fp32 ones, then oneDNN's reorder (which also
        // computes the compensation an s8 source needs).
        dnnl_memory_desc_t w_plain_s8 = *w_plain_f32;
        w_plain_s8.data_type = dnnl_s8;
        ok = latent_dnnl_reorder_once(&w_plain_s8, (void *)quantized, &p->w_md, p->weights);
    } else {
        ok = latent_dnnl_reorder_once(w_plain_f32, (void *)weight, &p->w_md, p->weights);
    }
    if (ok && bias) {
        p->bias = latent_aligned_alloc(out_channels * sizeof(float));
        ok = p->bias != NULL;
        if (ok) memcpy(p->bias, bias, out_channels * sizeof(float));
    }
    return ok;
}

latent_lowp_op *latent_lowp_conv_create(const int64_t shape[4], int64_t out_channels, int64_t kh, int64_t kw,
                                        int64_t stride, const int64_t padding[4], const float *weight,
                                        const float *bias, int precision) {
    if (!latent_dnnl_engine() || (precision != LATENT_PRECISION_BF16 && precision != LATENT_PRECISION_INT8)) return NULL;
    int64_t n = shape[0], c = shape[1], h = shape[2], w = shape[3], o = out_channels;
    int64_t ho = (h + padding[0] + padding[2] - kh) / stride + 1, wo = (w + padding[1] + padding[3] - kw) / stride + 1;
    if (ho <= 0 || wo <= 0) return NULL;
    latent_lowp_op *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->precision = precision;
    int int8 = precision == LATENT_PRECISION_INT8;
    dnnl_data_type_t low = int8 ? dnnl_s8 : dnnl_bf16;
    int8_t *quantized = int8 ? quantize_weights(p, weight, (size_t)o, (size_t)(c * kh * kw)) : NULL;
    if (int8 && !quantized) { latent_lowp_destroy(p); return NULL; }
    dnnl_memory_desc_t w_plain;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd = NULL;
    // int8: the bias is added after dequantisation, so the primitive has none.
    int ok = latent_dnnl_conv_descs(shape, o, kh, kw, stride, padding, int8 ? dnnl_s8 : dnnl_f32, low, bias && !int8,
                                    &p->src_user, &p->dst_user, &w_plain, &p->b_md, &cd);
    dnnl_primitive_attr_t attr = ok ? primitive_attr(p->weight_scale, o, 1) : NULL;
    ok = ok && attr && dnnl_primitive_desc_create(&pd, &cd, attr, latent_dnnl_engine(), NULL) == dnnl_success;
    if (attr) dnnl_primitive_attr_destroy(attr);
    p->src_count = (size_t)(n * c * h * w);
    p->outer = (size_t)n, p->channels = (size_t)o, p->inner = (size_t)(ho * wo);
    ok = ok && finish(p, pd, &w_plain, weight, quantized, (size_t)o, bias);
    free(quantized);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (!ok) { latent_lowp_destroy(p); return NULL; }
    return p;
}

latent_lowp_op *latent_lowp_linear_create(int64_t rows, int64_t in_features, int64_t out_features,
                                          const float *weight, const float *bias, int precision) {
    if (!latent_dnnl_engine() || (precision != LATENT_PRECISION_BF16 && precision != LATENT_PRECISION_INT8)) return NULL;
    latent_lowp_op *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->precision = precision;
    int int8 = precision == LATENT_PRECISION_INT8;
    dnnl_data_type_t low = int8 ? dnnl_s8 : dnnl_bf16;
    int64_t m = rows, k = in_features, n = out_features;
    int8_t *quantized = int8 ? quantize_weights(p, weight, (size_t)n, (size_t)k) : NULL;
    if (int8 && !quantized) { latent_lowp_destroy(p); return NULL; }
    dnnl_dims_t sd = {m, k}, wd = {k, n}, bd = {1, n}, dd = {m, n};
    dnnl_memory_desc_t w_plain, src_md, w_any, dst_md;
    // The weight is row-major [N, K] (a Linear's [out, in]), i.e. the [K, N] matrix in `ba` order.
    int ok = dnnl_memory_desc_init_by_tag(&p->src_user, 2, sd, int8 ? dnnl_s8 : dnnl_f32, dnnl_ab) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&src_md, 2, sd, low, dnnl_ab) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&w_plain, 2, wd, dnnl_f32, dnnl_ba) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&w_any, 2, wd, low, dnnl_format_tag_any) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&p->b_md, 2, bd, dnnl_f32, dnnl_ab) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&p->dst_user, 2, dd, dnnl_f32, dnnl_ab) == dnnl_success;
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    ok = ok && dnnl_matmul_desc_init(&md, &src_md, &w_any, (bias && !int8) ? &p->b_md : NULL, &dst_md) == dnnl_success;
    dnnl_primitive_attr_t attr = ok ? primitive_attr(p->weight_scale, n, 1) : NULL;
    ok = ok && attr && dnnl_primitive_desc_create(&pd, &md, attr, latent_dnnl_engine(), NULL) == dnnl_success;
    if (attr) dnnl_primitive_attr_destroy(attr);
    p->src_count = (size_t)(m * k);
    p->outer = 1, p->channels = (size_t)n, p->inner = (size_t)m;  // columns are channels; see execute
    ok = ok && finish(p, pd, &w_plain, weight, quantized, (size_t)n, bias);
    free(quantized);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (!ok) { latent_lowp_destroy(p); return NULL; }
    return p;
}

static int execute(const latent_lowp_op *p, const float *src, float *dst, int columns_are_channels) {
    int int8 = p->precision == LATENT_PRECISION_INT8;
    int8_t *q = int8 ? latent_aligned_alloc(p->src_count) : NULL;
    float x_scale = 1;
    if (int8) {
        if (!q) return 0;
        x_scale = quantize(src, q, p->src_count);
    }
    const void *user_src = int8 ? (const void *)q : (const void *)src;
    size_t src_bytes = p->src_reorder ? dnnl_memory_desc_get_size(&p->src_md) : 0;
    size_t dst_bytes = p->dst_reorder ? dnnl_memory_desc_get_size(&p->dst_md) : 0;
    void *src_b = p->src_reorder ? latent_aligned_alloc(src_bytes) : (void *)user_src;
    void *dst_b = p->dst_reorder ? latent_aligned_alloc(dst_bytes) : (void *)dst;
    dnnl_memory_t m_src = NULL, m_srcb = NULL, m_w = NULL, m_b = NULL, m_dst = NULL, m_dstb = NULL, m_pad = NULL;
    // One scratchpad serves the three primitives: they run one after another.
    void *pad = p->scratchpad_bytes ? latent_aligned_alloc(p->scratchpad_bytes) : NULL;
    int ok = src_b && dst_b && (!p->scratchpad_bytes || pad);
    if (ok && pad) {
        dnnl_dims_t pad_dims = {(int64_t)p->scratchpad_bytes};
        dnnl_memory_desc_t pad_md;
        ok = dnnl_memory_desc_init_by_tag(&pad_md, 1, pad_dims, dnnl_u8, dnnl_x) == dnnl_success
            && dnnl_memory_create(&m_pad, &pad_md, latent_dnnl_engine(), pad) == dnnl_success;
    }
    ok = ok && dnnl_memory_create(&m_src, &p->src_user, latent_dnnl_engine(), (void *)user_src) == dnnl_success;
    ok = ok && dnnl_memory_create(&m_srcb, &p->src_md, latent_dnnl_engine(), src_b) == dnnl_success;
    ok = ok && dnnl_memory_create(&m_w, &p->w_md, latent_dnnl_engine(), p->weights) == dnnl_success;
    ok = ok && dnnl_memory_create(&m_dst, &p->dst_user, latent_dnnl_engine(), dst) == dnnl_success;
    ok = ok && dnnl_memory_create(&m_dstb, &p->dst_md, latent_dnnl_engine(), dst_b) == dnnl_success;
    int fused_bias = p->bias && !int8;
    if (ok && fused_bias) ok = dnnl_memory_create(&m_b, &p->b_md, latent_dnnl_engine(), p->bias) == dnnl_success;
    if (ok && p->src_reorder) {
        dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, m_src}, {DNNL_ARG_TO, m_srcb}, {DNNL_ARG_SCRATCHPAD, m_pad}};
        ok = latent_dnnl_run(p->src_reorder, m_pad ? 3 : 2, a);
    }
    if (ok) {
        dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, m_srcb}, {DNNL_ARG_WEIGHTS, m_w}, {DNNL_ARG_DST, m_dstb}};
        int nargs = 3;
        if (fused_bias) a[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, m_b};
        if (m_pad) a[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, m_pad};
        ok = latent_dnnl_run(p->prim, nargs, a);
    }
    if (ok && p->dst_reorder) {
        dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, m_dstb}, {DNNL_ARG_TO, m_dst}, {DNNL_ARG_SCRATCHPAD, m_pad}};
        ok = latent_dnnl_run(p->dst_reorder, m_pad ? 3 : 2, a);
    }
    dnnl_memory_destroy(m_src); dnnl_memory_destroy(m_srcb); dnnl_memory_destroy(m_w);
    dnnl_memory_destroy(m_b); dnnl_memory_destroy(m_dst); dnnl_memory_destroy(m_dstb); dnnl_memory_destroy(m_pad);
    free(pad);
    if (p->src_reorder) free(src_b);
    if (p->dst_reorder) free(dst_b);
    free(q);
    if (ok && int8) {
        if (columns_are_channels) {
            // [rows, out_features]: the channel is the column.
            struct dequant_cols_ctx ctx = {dst, p->bias, x_scale, p->channels};
            split(p->inner, dequant_cols_range, &ctx);
        } else {
            struct dequant_ctx ctx = {dst, p->bias, x_scale, p->channels, p->inner};
            split(p->outer * p->channels, dequant_range, &ctx);
        }
    }
    return ok;
}

int latent_lowp_conv_execute(const latent_lowp_op *p, const float *src, float *dst) { return execute(p, src, dst, 0); }
int latent_lowp_linear_execute(const latent_lowp_op *p, const float *src, float *dst) { return execute(p, src, dst, 1); }

const char *latent_lowp_impl(const latent_lowp_op *p) { return p->impl ? p->impl : "unknown"; }

size_t latent_lowp_weight_bytes(const latent_lowp_op *p) { return dnnl_memory_desc_get_size(&p->w_md); }

void latent_lowp_destroy(latent_lowp_op *p) {
    if (!p) return;
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->src_reorder) dnnl_primitive_destroy(p->src_reorder);
    if (p->dst_reorder) dnnl_primitive_destroy(p->dst_reorder);
    free(p->weights);
    free(p->bias);
    free(p->weight_scale);
    free((void *)p->impl);
    free(p);
}
