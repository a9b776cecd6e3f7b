// oneDNN plumbing shared by conv_dnnl.c and lowp_dnnl.c; see dnnl_support.h (why scratchpads are per call).
#include "dnnl_support.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static dnnl_engine_t engine;
static int engine_ok;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static void engine_init(void) { engine_ok = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success; }

dnnl_engine_t latent_dnnl_engine(void) {
    pthread_once(&engine_once, engine_init);
    return engine_ok ? engine : NULL;
}

dnnl_primitive_attr_t latent_dnnl_user_scratchpad_attr(void) {
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return NULL;
    }
    return attr;
}

dnnl_memory_desc_t latent_dnnl_scratchpad_md(const_dnnl_primitive_desc_t pd) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    dnnl_memory_desc_t zero;
    memset(&zero, 0, sizeof zero);
    return md ? *md : zero;
}

void *latent_aligned_alloc(size_t bytes) {
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : NULL;
}

// Per-call oneDNN buffers (blocked copies of source and destination, scratchpads) of a large convolution
// are tens of MB: fresh from malloc they are new mappings, and every call page-faulted them in again (a
// fifth of a 512² decode's CPU time went to the kernel). One buffer per role is kept for reuse until the
// next trim (the tiled decoder trims between blocks and every attention block trims on entry, so whole-image
// activations and attention's temporaries never sit next to them).
static struct { void *p; size_t capacity; int busy; } scratch[LATENT_SCRATCH_ROLES];
static pthread_mutex_t scratch_lock = PTHREAD_MUTEX_INITIALIZER;

// Pooled buffers are mappings of their own: kept in the malloc heap they would pin the pages around
// them, and the heap grew by about 30 MiB per UNet step.
static void *map(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void unmap(void *p, size_t bytes) {
    if (p) munmap(p, bytes);
}

void *latent_scratch_acquire(int role, size_t bytes) {
    if (bytes < (1u << 20) || role < 0 || role >= LATENT_SCRATCH_ROLES) return latent_aligned_alloc(bytes);
    void *p = NULL;
    pthread_mutex_lock(&scratch_lock);
    if (!scratch[role].busy) {
        if (scratch[role].capacity < bytes) {  // grow: the old buffer is too small for this layer
            unmap(scratch[role].p, scratch[role].capacity);
            scratch[role].p = map(bytes);
            scratch[role].capacity = scratch[role].p ? bytes : 0;
        }
        if (scratch[role].p) {
            scratch[role].busy = 1;
            p = scratch[role].p;
        }
    }
    pthread_mutex_unlock(&scratch_lock);
    return p ? p : latent_aligned_alloc(bytes);  // in use by a concurrent call: a plain allocation
}

void latent_scratch_release(void *p) {
    if (!p) return;
    pthread_mutex_lock(&scratch_lock);
    int pooled = 0;
    for (int i = 0; i < LATENT_SCRATCH_ROLES && !pooled; i++) {
        if (scratch[i].p == p && scratch[i].busy) {
            scratch[i].busy = 0;
            pooled = 1;
        }
    }
    pthread_mutex_unlock(&scratch_lock);
    if (!pooled) free(p);
}

void latent_scratch_trim(void) {
    pthread_mutex_lock(&scratch_lock);
    for (int i = 0; i < LATENT_SCRATCH_ROLES; i++) {
        if (scratch[i].busy || !scratch[i].p) continue;
        unmap(scratch[i].p, scratch[i].capacity);
        scratch[i].p = NULL;
        scratch[i].capacity = 0;
    }
    pthread_mutex_unlock(&scratch_lock);
}

int latent_dnnl_run(dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args) {
    dnnl_stream_t stream;
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) return 0;
    int ok = dnnl_primitive_execute(prim, stream, nargs, args) == dnnl_success && dnnl_stream_wait(stream) == dnnl_success;
    dnnl_stream_destroy(stream);
    return ok;
}

int latent_dnnl_reorder_once(const dnnl_memory_desc_t *from_md, void *from, const dnnl_memory_desc_t *to_md, void *to) {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_t a = NULL, b = NULL, pad = NULL;
    dnnl_primitive_attr_t attr = latent_dnnl_user_scratchpad_attr();
    if (!attr) return 0;
    dnnl_status_t status = dnnl_reorder_primitive_desc_create(&pd, from_md, engine, to_md, engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (status != dnnl_success) return 0;
    dnnl_memory_desc_t pad_md = latent_dnnl_scratchpad_md(pd);
    int ok = dnnl_primitive_create(&prim, pd) == dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    if (!ok) return 0;
    void *pad_buffer = latent_aligned_alloc(dnnl_memory_desc_get_size(&pad_md));
    ok = pad_buffer != NULL;
    ok = ok && dnnl_memory_create(&a, from_md, engine, from) == dnnl_success;
    ok = ok && dnnl_memory_create(&b, to_md, engine, to) == dnnl_success;
    if (ok && dnnl_memory_desc_get_size(&pad_md))
        ok = dnnl_memory_create(&pad, &pad_md, engine, pad_buffer) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}, {DNNL_ARG_SCRATCHPAD, pad}};
        ok = latent_dnnl_run(prim, pad ? 3 : 2, args);
    }
    dnnl_memory_destroy(a);
    dnnl_memory_destroy(b);
    dnnl_memory_destroy(pad);
    free(pad_buffer);
    dnnl_primitive_destroy(prim);
    return ok;
}

dnnl_primitive_t latent_dnnl_make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                                          dnnl_memory_desc_t *pad_md, int *ok) {
    if (dnnl_memory_desc_equal(from, to)) return NULL;  // same layout: no reorder needed
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim = NULL;
    dnnl_primitive_attr_t attr = latent_dnnl_user_scratchpad_attr();
    if (!attr) { *ok = 0; return NULL; }
    dnnl_status_t status = dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (status != dnnl_success) { *ok = 0; return NULL; }
    *pad_md = latent_dnnl_scratchpad_md(pd);
    if (dnnl_primitive_create(&prim, pd) != dnnl_success) *ok = 0;
    dnnl_primitive_desc_destroy(pd);
    return prim;
}

int latent_dnnl_conv_descs(const int64_t shape[4], int64_t out_channels, int64_t kh, int64_t kw, int64_t stride,
                           const int64_t padding[4], dnnl_data_type_t src_type, dnnl_data_type_t compute_type,
                           int with_bias, dnnl_memory_desc_t *src_user, dnnl_memory_desc_t *dst_user,
                           dnnl_memory_desc_t *w_plain, dnnl_memory_desc_t *b_md, dnnl_convolution_desc_t *cd) {
    int64_t n = shape[0], c = shape[1], h = shape[2], w = shape[3], o = out_channels;
    int64_t ho = (h + padding[0] + padding[2] - kh) / stride + 1, wo = (w + padding[1] + padding[3] - kw) / stride + 1;
    if (ho <= 0 || wo <= 0) return 0;
    dnnl_dims_t sd = {n, c, h, w}, wd = {o, c, kh, kw}, bd = {o}, dd = {n, o, ho, wo}, st = {stride, stride};
    dnnl_dims_t pl = {padding[0], padding[1]}, pr = {padding[2], padding[3]};
    dnnl_memory_desc_t src_any, w_any, dst_any;
    return dnnl_memory_desc_init_by_tag(src_user, 4, sd, src_type, dnnl_nchw) == dnnl_success
        && dnnl_memory_desc_init_by_tag(dst_user, 4, dd, dnnl_f32, dnnl_nchw) == dnnl_success
        && dnnl_memory_desc_init_by_tag(w_plain, 4, wd, dnnl_f32, dnnl_oihw) == dnnl_success
        && dnnl_memory_desc_init_by_tag(b_md, 1, bd, dnnl_f32, dnnl_x) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&src_any, 4, sd, compute_type, dnnl_format_tag_any) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&w_any, 4, wd, compute_type, dnnl_format_tag_any) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&dst_any, 4, dd, dnnl_f32, dnnl_format_tag_any) == dnnl_success
        && dnnl_convolution_forward_desc_init(cd, dnnl_forward_inference, dnnl_convolution_direct, &src_any, &w_any,
                                              with_bias ? b_md : NULL, &dst_any, st, pl, pr) == dnnl_success;
}

int latent_dnnl_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                      int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    return dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) ==
           dnnl_success;
}
