// Linear-layer products `C = A·Bᵀ (+ C)` on oneDNN's matmul primitive, created once per shape.
//
// Why not only `dnnl_sgemm`: on the UNet's feed-forward outputs (K = 2560 and 5120) oneDNN's matmul (its brgemm
// kernels, reading the plain `[N, K]` weights) takes 0.80–0.82× the GEMM's time, and 0.83–0.96× with K ≥ 1024
// or few rows; with K = 320 it is 3–9 % slower (docs/performance.md, wave 12). The caller picks by shape.
//
// Primitives are kept in a small table for the process's life (a step has about 20 shapes, each primitive a
// few JIT kernels); beyond its capacity a primitive is made for the call and destroyed after it. Scratchpads are
// passed per call (why: dnnl_support.h), so one primitive may run on several threads at once.
#include "CLatentKernels.h"
#include "dnnl_support.h"
#include <pthread.h>
#include <string.h>

struct matmul_key {
    int64_t m, n, k, lda, ldb, ldc;
    int accumulate;
};

struct matmul_plan {
    struct matmul_key key;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a_md, b_md, c_md, pad_md;
};

enum { PLAN_CAPACITY = 256 };
static struct matmul_plan plans[PLAN_CAPACITY];
static int plan_count;
static pthread_mutex_t plan_lock = PTHREAD_MUTEX_INITIALIZER;

static int same_key(const struct matmul_key *x, const struct matmul_key *y) {
    return x->m == y->m && x->n == y->n && x->k == y->k && x->lda == y->lda && x->ldb == y->ldb && x->ldc == y->ldc &&
           x->accumulate == y->accumulate;
}

/// The table's plan for `key` (copied into `plan`); 0 when there is none. Call with the lock held.
static int find_plan(const struct matmul_key *key, struct matmul_plan *plan) {
    for (int i = 0; i < plan_count; i++)
        if (same_key(&plans[i].key, key)) {
            *plan = plans[i];
            return 1;
        }
    return 0;
}

/// A primitive for `key`, or 0 when oneDNN cannot make one.
static int make_plan(const struct matmul_key *key, struct matmul_plan *plan) {
    dnnl_engine_t engine = latent_dnnl_engine();
    if (!engine) return 0;
    memset(plan, 0, sizeof *plan);
    plan->key = *key;
    // Row-major A [m, k], B given as [n, k] rows (so Bᵀ's strides are {1, ldb}), C [m, n].
    dnnl_dims_t a_dims = {key->m, key->k}, b_dims = {key->k, key->n}, c_dims = {key->m, key->n};
    dnnl_dims_t a_strides = {key->lda, 1}, b_strides = {1, key->ldb}, c_strides = {key->ldc, 1};
    if (dnnl_memory_desc_init_by_strides(&plan->a_md, 2, a_dims, dnnl_f32, a_strides) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&plan->b_md, 2, b_dims, dnnl_f32, b_strides) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&plan->c_md, 2, c_dims, dnnl_f32, c_strides) != dnnl_success)
        return 0;
    dnnl_primitive_attr_t attr = latent_dnnl_user_scratchpad_attr();
    if (!attr) return 0;
    int ok = 1;
    if (key->accumulate) {
        dnnl_post_ops_t ops = NULL;
        ok = dnnl_post_ops_create(&ops) == dnnl_success && dnnl_post_ops_append_sum(ops, 1.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, ops) == dnnl_success;
        if (ops) dnnl_post_ops_destroy(ops);
    }
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    ok = ok && dnnl_matmul_desc_init(&desc, &plan->a_md, &plan->b_md, NULL, &plan->c_md) == dnnl_success &&
         dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) == dnnl_success;
    dnnl_primitive_attr_destroy(attr);
    if (!ok) return 0;
    plan->pad_md = latent_dnnl_scratchpad_md(pd);
    ok = dnnl_primitive_create(&plan->prim, pd) == dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

static int run_plan(const struct matmul_plan *plan, const float *a, const float *b, float *c) {
    dnnl_engine_t engine = latent_dnnl_engine();
    const size_t pad_bytes = dnnl_memory_desc_get_size(&plan->pad_md);
    void *pad = pad_bytes ? latent_scratch_acquire(LATENT_SCRATCH_PAD, pad_bytes) : NULL;
    dnnl_memory_t am = NULL, bm = NULL, cm = NULL, pm = NULL;
    int ok = !pad_bytes || pad;
    ok = ok && dnnl_memory_create(&am, &plan->a_md, engine, (void *)a) == dnnl_success;
    ok = ok && dnnl_memory_create(&bm, &plan->b_md, engine, (void *)b) == dnnl_success;
    ok = ok && dnnl_memory_create(&cm, &plan->c_md, engine, c) == dnnl_success;
    if (ok && pad_bytes) ok = dnnl_memory_create(&pm, &plan->pad_md, engine, pad) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}, {DNNL_ARG_SCRATCHPAD, pm}};
        ok = latent_dnnl_run(plan->prim, pm ? 4 : 3, args);
    }
    dnnl_memory_destroy(am);
    dnnl_memory_destroy(bm);
    dnnl_memory_destroy(cm);
    dnnl_memory_destroy(pm);
    latent_scratch_release(pad);
    return ok;
}

int latent_dnnl_matmul_nt(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                          int accumulate, float *c, int64_t ldc) {
    if (m < 1 || n < 1 || k < 1 || lda < k || ldb < k || ldc < n) return 0;
    const struct matmul_key key = {m, n, k, lda, ldb, ldc, accumulate ? 1 : 0};
    struct matmul_plan plan;
    pthread_mutex_lock(&plan_lock);
    int found = find_plan(&key, &plan);
    pthread_mutex_unlock(&plan_lock);
    int owned = 0;
    if (!found) {
        // Made outside the lock, since creation JIT-compiles kernels; a concurrent call's plan may land first.
        struct matmul_plan made;
        if (!make_plan(&key, &made)) return 0;
        pthread_mutex_lock(&plan_lock);
        if (find_plan(&key, &plan)) owned = -1;
        else if (plan_count < PLAN_CAPACITY) plans[plan_count++] = plan = made;
        else {
            plan = made;
            owned = 1;
        }
        pthread_mutex_unlock(&plan_lock);
        if (owned < 0) dnnl_primitive_destroy(made.prim);
    }
    const int ok = run_plan(&plan, a, b, c);
    if (owned > 0) dnnl_primitive_destroy(plan.prim);
    return ok;
}
