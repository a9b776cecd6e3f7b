// oneDNN convolution plans: one primitive per (layer, input shape), weights reordered once into the
// primitive's preferred blocked layout. Inputs and outputs stay NCHW at the boundary; the activations are
// reordered into and out of the blocked layout per call (≈ 10 % of the convolution, measured in
// bench/conv_bench.c) into scratch allocated per call, so plans hold no activation-sized memory.
//
// Every primitive uses a user-managed scratchpad passed per call (why: dnnl_support.h).
#include "CLatentKernels.h"
#include "dnnl_support.h"
#include <oneapi/dnnl/dnnl.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct latent_conv_plan {
    dnnl_primitive_t conv, src_reorder, dst_reorder;
    dnnl_memory_desc_t src_plain, dst_plain, src_md, dst_md, w_md, b_md;
    dnnl_memory_desc_t conv_pad, src_reorder_pad, dst_reorder_pad; // scratchpad descriptors (may be empty)
    void *weights;       // blocked weights, fp32 or (when half) fp16 bit patterns; NULL when streamed
    size_t weight_bytes; // bytes of the blocked fp32 weights
    size_t held_bytes;   // bytes of `weights` as allocated (see held_alloc)
    int half;
    int winograd;                    // the Winograd F(4×4, 3×3) algorithm (weightless, like a streamed plan)
    dnnl_primitive_t w_reorder;      // streamed plans: plain oihw fp32 → blocked, per call
    dnnl_memory_desc_t w_plain, w_reorder_pad;
    float *bias;
    const char *impl;
};

/// Long-lived weights get their own anonymous mapping: inside the malloc heap they would sit between
/// short-lived activations and pin freed heap pages around them (glibc only returns the heap's top).
static void *held_alloc(size_t bytes) {
    void *p = mmap(NULL, bytes ? bytes : 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void held_free(void *p, size_t bytes) {
    if (p) munmap(p, bytes ? bytes : 64);
}

latent_conv_plan *latent_conv_plan_create(const int64_t shape[4], int64_t out_channels, int64_t kh, int64_t kw,
                                          int64_t stride, const int64_t padding[4], const float *weight_f32,
                                          const uint16_t *weight_f16, const float *bias, int keep_half, int winograd) {
    if (!latent_dnnl_engine()) return NULL;
    if (winograd && (kh != 3 || kw != 3 || stride != 1)) return NULL;
    int64_t c = shape[1], h = shape[2], w = shape[3], o = out_channels;
    int64_t ho = (h + padding[0] + padding[2] - kh) / stride + 1, wo = (w + padding[1] + padding[3] - kw) / stride + 1;
    if (ho <= 0 || wo <= 0) return NULL;
    latent_conv_plan *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    dnnl_memory_desc_t w_plain;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd = NULL;
    int ok = latent_dnnl_conv_descs(shape, o, kh, kw, stride, padding, dnnl_f32, dnnl_f32, bias != NULL, &p->src_plain,
                                    &p->dst_plain, &w_plain, &p->b_md, &cd);
    if (winograd) {
        // Winograd-domain weights are 4× the plain ones in fp32, too large to hold: the plan is weightless
        // and the caller transforms plain weights per call (`latent_conv_plan_transform_weights`).
        cd.alg_kind = dnnl_convolution_winograd;
        weight_f32 = NULL;
        weight_f16 = NULL;
        p->winograd = 1;
    }
    dnnl_primitive_attr_t attr = ok ? latent_dnnl_user_scratchpad_attr() : NULL;
    ok = ok && attr && dnnl_primitive_desc_create(&pd, &cd, attr, latent_dnnl_engine(), NULL) == dnnl_success;
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (ok) {
        p->conv_pad = latent_dnnl_scratchpad_md(pd);
        p->src_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        p->dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        p->w_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        const char *impl = NULL;
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        p->impl = impl ? strdup(impl) : NULL;
        ok = dnnl_primitive_create(&p->conv, pd) == dnnl_success;
        dnnl_primitive_desc_destroy(pd);
    }
    if (ok) {
        p->src_reorder = latent_dnnl_make_reorder(&p->src_plain, &p->src_md, &p->src_reorder_pad, &ok);
        p->dst_reorder = latent_dnnl_make_reorder(&p->dst_md, &p->dst_plain, &p->dst_reorder_pad, &ok);
    }
    if (ok && !weight_f32 && !weight_f16) {
        // Streamed plan: no weights held; every call reorders the caller's plain weights.
        p->weight_bytes = dnnl_memory_desc_get_size(&p->w_md);
        p->w_plain = w_plain;
        p->w_reorder = latent_dnnl_make_reorder(&w_plain, &p->w_md, &p->w_reorder_pad, &ok);
    } else if (ok) {
        // Weights: plain fp32 (widened from fp16 if given so) → blocked fp32, optionally narrowed to fp16
        // again (exact, because every value came from fp16 and the blocked padding is zero).
        size_t count = (size_t)(o * c * kh * kw);
        p->weight_bytes = dnnl_memory_desc_get_size(&p->w_md);
        float *plain = (float *)weight_f32;
        float *owned = NULL;
        if (!plain && weight_f16) {
            owned = latent_aligned_alloc(count * sizeof(float));
            if (owned) latent_f16_to_f32(weight_f16, owned, count);
            plain = owned;
        }
        float *blocked = plain ? held_alloc(p->weight_bytes) : NULL;
        p->held_bytes = p->weight_bytes;
        ok = blocked && latent_dnnl_reorder_once(&w_plain, plain, &p->w_md, blocked);
        free(owned);
        if (ok && keep_half) {
            size_t blocked_count = p->weight_bytes / sizeof(float);
            uint16_t *half = held_alloc(blocked_count * sizeof(uint16_t));
            if (half) {
                latent_f32_to_f16(blocked, half, blocked_count);
                held_free(blocked, p->held_bytes);
                blocked = (float *)half;
                p->held_bytes = blocked_count * sizeof(uint16_t);
                p->half = 1;
            }
        }
        p->weights = blocked;
        if (!ok) { held_free(blocked, p->held_bytes); p->weights = NULL; }
    }
    if (ok && bias) {
        p->bias = latent_aligned_alloc((size_t)o * sizeof(float));
        ok = p->bias != NULL;
        if (ok) memcpy(p->bias, bias, (size_t)o * sizeof(float));
    }
    if (!ok) {
        latent_conv_plan_destroy(p);
        return NULL;
    }
    return p;
}

int latent_conv_plan_execute(const latent_conv_plan *p, const float *src, float *dst) {
    return latent_conv_plan_execute_widened(p, src, dst, NULL);
}

const uint16_t *latent_conv_plan_half_weights(const latent_conv_plan *p, size_t *count) {
    *count = p->half ? p->weight_bytes / sizeof(float) : 0;
    return p->half ? p->weights : NULL;
}

int latent_conv_plan_execute_widened(const latent_conv_plan *p, const float *src, float *dst, const float *widened) {
    size_t src_bytes = p->src_reorder ? dnnl_memory_desc_get_size(&p->src_md) : 0;
    size_t dst_bytes = p->dst_reorder ? dnnl_memory_desc_get_size(&p->dst_md) : 0;
    void *src_b = p->src_reorder ? latent_scratch_acquire(LATENT_SCRATCH_SOURCE, src_bytes) : (void *)src;
    void *dst_b = p->dst_reorder ? latent_scratch_acquire(LATENT_SCRATCH_DESTINATION, dst_bytes) : (void *)dst;
    int widen_here = p->half && !widened;
    void *wide = widened ? (void *)widened : !p->half ? p->weights : latent_aligned_alloc(p->weight_bytes);
    // One scratchpad buffer serves the three primitives, which run one after another.
    size_t pad_bytes = dnnl_memory_desc_get_size(&p->conv_pad);
    if (p->src_reorder && dnnl_memory_desc_get_size(&p->src_reorder_pad) > pad_bytes)
        pad_bytes = dnnl_memory_desc_get_size(&p->src_reorder_pad);
    if (p->dst_reorder && dnnl_memory_desc_get_size(&p->dst_reorder_pad) > pad_bytes)
        pad_bytes = dnnl_memory_desc_get_size(&p->dst_reorder_pad);
    void *pad = latent_scratch_acquire(LATENT_SCRATCH_PAD, pad_bytes);
    dnnl_memory_t m_src = NULL, m_srcb = NULL, m_w = NULL, m_b = NULL, m_dst = NULL, m_dstb = NULL;
    dnnl_memory_t m_pad_conv = NULL, m_pad_src = NULL, m_pad_dst = NULL;
    int ok = src_b && dst_b && wide && pad;
    if (ok && widen_here) latent_f16_to_f32(p->weights, wide, p->weight_bytes / sizeof(float));
    ok = ok && dnnl_memory_create(&m_src, &p->src_plain, latent_dnnl_engine(), (void *)src) == dnnl_success;
    ok = ok && dnnl_memory_create(&m_srcb, &p->src_md, latent_dnnl_engine(), src_b) == dnnl_success;
    ok = ok && dnnl_memory_create(&m_w, &p->w_md, latent_dnnl_engine(), wide) == dnnl_success;
    ok = ok && dnnl_memory_create(&m_dst, &p->dst_plain, latent_dnnl_engine(), dst) == dnnl_success;
    ok = ok && dnnl_memory_create(&m_dstb, &p->dst_md, latent_dnnl_engine(), dst_b) == dnnl_success;
    if (ok && p->bias) ok = dnnl_memory_create(&m_b, &p->b_md, latent_dnnl_engine(), p->bias) == dnnl_success;
    // A scratchpad is passed only where the primitive asked for one (an empty descriptor means none).
    if (ok && dnnl_memory_desc_get_size(&p->conv_pad))
        ok = dnnl_memory_create(&m_pad_conv, &p->conv_pad, latent_dnnl_engine(), pad) == dnnl_success;
    if (ok && p->src_reorder) {
        if (dnnl_memory_desc_get_size(&p->src_reorder_pad))
            ok = dnnl_memory_create(&m_pad_src, &p->src_reorder_pad, latent_dnnl_engine(), pad) == dnnl_success;
        dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, m_src}, {DNNL_ARG_TO, m_srcb}, {DNNL_ARG_SCRATCHPAD, m_pad_src}};
        ok = ok && latent_dnnl_run(p->src_reorder, m_pad_src ? 3 : 2, a);
    }
    if (ok) {
        dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, m_srcb}, {DNNL_ARG_WEIGHTS, m_w}, {DNNL_ARG_DST, m_dstb}};
        int n = 3;
        if (m_pad_conv) a[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, m_pad_conv};
        if (m_b) a[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, m_b};
        ok = latent_dnnl_run(p->conv, n, a);
    }
    if (ok && p->dst_reorder) {
        if (dnnl_memory_desc_get_size(&p->dst_reorder_pad))
            ok = dnnl_memory_create(&m_pad_dst, &p->dst_reorder_pad, latent_dnnl_engine(), pad) == dnnl_success;
        dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, m_dstb}, {DNNL_ARG_TO, m_dst}, {DNNL_ARG_SCRATCHPAD, m_pad_dst}};
        ok = ok && latent_dnnl_run(p->dst_reorder, m_pad_dst ? 3 : 2, a);
    }
    dnnl_memory_destroy(m_src); dnnl_memory_destroy(m_srcb); dnnl_memory_destroy(m_w);
    dnnl_memory_destroy(m_b); dnnl_memory_destroy(m_dst); dnnl_memory_destroy(m_dstb);
    dnnl_memory_destroy(m_pad_conv); dnnl_memory_destroy(m_pad_src); dnnl_memory_destroy(m_pad_dst);
    latent_scratch_release(pad);
    if (p->src_reorder) latent_scratch_release(src_b);
    if (p->dst_reorder) latent_scratch_release(dst_b);
    if (widen_here) free(wide);
    return ok;
}

void latent_conv_plan_destroy(latent_conv_plan *p) {
    if (!p) return;
    if (p->conv) dnnl_primitive_destroy(p->conv);
    if (p->src_reorder) dnnl_primitive_destroy(p->src_reorder);
    if (p->dst_reorder) dnnl_primitive_destroy(p->dst_reorder);
    if (p->w_reorder) dnnl_primitive_destroy(p->w_reorder);
    held_free(p->weights, p->held_bytes);
    free(p->bias);
    free((void *)p->impl);
    free(p);
}

const char *latent_conv_plan_impl(const latent_conv_plan *p) { return p->impl ? p->impl : "unknown"; }

size_t latent_conv_plan_weight_bytes(const latent_conv_plan *p) {
    return p->half ? p->weight_bytes / 2 : p->weight_bytes;
}

size_t latent_conv_plan_blocked_weight_count(const latent_conv_plan *p) { return p->weight_bytes / sizeof(float); }

int latent_conv_plan_transform_weights(const latent_conv_plan *p, const float *plain, float *blocked) {
    if (p->winograd && latent_wino_transform_4x3(&p->w_md, p->w_md.dims[0], p->w_md.dims[1], plain, blocked))
        return 1;
    return latent_conv_plan_reorder_weights(p, plain, blocked);
}

int latent_conv_plan_reorder_weights(const latent_conv_plan *p, const float *plain, float *blocked) {
    if (p->weights) return 0;  // not a weightless plan
    if (!p->w_reorder) {       // layouts coincide
        memcpy(blocked, plain, p->weight_bytes);
        return 1;
    }
    dnnl_memory_t a = NULL, b = NULL, m_pad = NULL;
    size_t pad_bytes = dnnl_memory_desc_get_size(&p->w_reorder_pad);
    void *pad = pad_bytes ? latent_aligned_alloc(pad_bytes) : NULL;
    int ok = !pad_bytes || pad;
    ok = ok && dnnl_memory_create(&a, &p->w_plain, latent_dnnl_engine(), (void *)plain) == dnnl_success;
    ok = ok && dnnl_memory_create(&b, &p->w_md, latent_dnnl_engine(), blocked) == dnnl_success;
    if (ok && pad) ok = dnnl_memory_create(&m_pad, &p->w_reorder_pad, latent_dnnl_engine(), pad) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}, {DNNL_ARG_SCRATCHPAD, m_pad}};
        ok = latent_dnnl_run(p->w_reorder, m_pad ? 3 : 2, args);
    }
    dnnl_memory_destroy(a);
    dnnl_memory_destroy(b);
    dnnl_memory_destroy(m_pad);
    free(pad);
    return ok;
}

int latent_conv_plan_execute_streamed(const latent_conv_plan *p, const float *src, float *dst, const float *plain,
                                      float *blocked) {
    if (p->weights) return 0;  // not a streamed plan
    if (!p->w_reorder) return latent_conv_plan_execute_widened(p, src, dst, plain);  // layouts coincide: no copy
    return latent_conv_plan_transform_weights(p, plain, blocked) &&
           latent_conv_plan_execute_widened(p, src, dst, blocked);
}

int latent_conv_plan_is_winograd(const latent_conv_plan *p) { return p->winograd; }

int latent_conv_plan_same_weight_layout(const latent_conv_plan *a, const latent_conv_plan *b) {
    return dnnl_memory_desc_equal(&a->w_md, &b->w_md);
}

int latent_conv_plan_plain_weights(const latent_conv_plan *p, float *out) {
    if (!p->weights) return 0;  // streamed plans hold no weights
    dnnl_memory_desc_t plain;
    if (dnnl_memory_desc_init_by_tag(&plain, 4, p->w_md.dims, dnnl_f32, dnnl_oihw) != dnnl_success) return 0;
    void *wide = p->half ? latent_aligned_alloc(p->weight_bytes) : p->weights;
    if (!wide) return 0;
    if (p->half) latent_f16_to_f32(p->weights, wide, p->weight_bytes / sizeof(float));
    int ok = latent_dnnl_reorder_once(&p->w_md, wide, &plain, out);
    if (p->half) free(wide);
    return ok;
}
