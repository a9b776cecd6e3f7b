// Stand-alone comparison of one 3×3 convolution: im2col + OpenBLAS sgemm (Latent's path) against oneDNN
// (format `any`, so it picks a blocked layout; the nchw↔blocked reorders of input and output are timed too,
// the weight reorder is not, since it happens once at load). Run by hand:
//   cc -O3 -march=native bench/conv_bench.c -o /tmp/conv_bench -ldnnl -lopenblas && /tmp/conv_bench
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { fprintf(stderr, "%s: %d\n", #x, s_); exit(1); } } while (0)

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static void im2col(const float *x, int c, int h, int w, float *col) {
    for (int ch = 0; ch < c; ch++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
                float *line = col + ((ch * 3 + ky) * 3 + kx) * h * w;
                for (int y = 0; y < h; y++) {
                    int iy = y - 1 + ky;
                    for (int xx = 0; xx < w; xx++) {
                        int ix = xx - 1 + kx;
                        line[y * w + xx] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? x[(ch * h + iy) * w + ix] : 0;
                    }
                }
            }
}

static void run(int n, int c, int o, int h, int w, int reps) {
    size_t xs = (size_t)n * c * h * w, ws = (size_t)o * c * 9, ys = (size_t)n * o * h * w;
    float *x = malloc(xs * 4), *wt = malloc(ws * 4), *b = malloc(o * 4), *y = malloc(ys * 4), *y2 = malloc(ys * 4);
    float *col = malloc((size_t)c * 9 * h * w * 4);
    for (size_t i = 0; i < xs; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < ws; i++) wt[i] = ((float)rand() / RAND_MAX - 0.5f) * 0.05f;
    for (int i = 0; i < o; i++) b[i] = 0.1f;
    double flops = 2.0 * n * o * h * w * c * 9;

    double best = 1e9;
    for (int r = 0; r < reps; r++) {
        double t = now();
        for (int i = 0; i < n; i++) {
            im2col(x + (size_t)i * c * h * w, c, h, w, col);
            float *dst = y + (size_t)i * o * h * w;
            for (int oc = 0; oc < o; oc++) for (int p = 0; p < h * w; p++) dst[oc * h * w + p] = b[oc];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, o, h * w, c * 9, 1, wt, c * 9, col, h * w, 1, dst, h * w);
        }
        double e = now() - t;
        if (e < best) best = e;
    }
    double blas = best;

    dnnl_engine_t eng; dnnl_stream_t st;
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
    dnnl_dims_t sd = {n, c, h, w}, wd = {o, c, 3, 3}, bd = {o}, dd = {n, o, h, w}, strides = {1, 1}, pad = {1, 1};
    dnnl_memory_desc_t src_plain, w_plain, b_md, dst_plain, src_any, w_any, dst_any;
    CHECK(dnnl_memory_desc_init_by_tag(&src_plain, 4, sd, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&w_plain, 4, wd, dnnl_f32, dnnl_oihw));
    CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_plain, 4, dd, dnnl_f32, dnnl_nchw));
    CHECK(dnnl_memory_desc_init_by_tag(&src_any, 4, sd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_any, 4, dd, dnnl_f32, dnnl_format_tag_any));
    dnnl_convolution_desc_t cd;
    CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_any, &w_any,
                                             &b_md, &dst_any, strides, pad, pad));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &cd, NULL, eng, NULL));
    const char *impl; CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    const dnnl_memory_desc_t *src_b = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *w_b = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst_b = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    dnnl_memory_t mx, mw, mb, my, mxb, mwb, myb;
    CHECK(dnnl_memory_create(&mx, &src_plain, eng, x));
    CHECK(dnnl_memory_create(&mw, &w_plain, eng, wt));
    CHECK(dnnl_memory_create(&mb, &b_md, eng, b));
    CHECK(dnnl_memory_create(&my, &dst_plain, eng, y2));
    CHECK(dnnl_memory_create(&mxb, src_b, eng, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&mwb, w_b, eng, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&myb, dst_b, eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t r1, r2, r3; dnnl_primitive_t p1, p2, p3, conv;
    CHECK(dnnl_reorder_primitive_desc_create(&r1, &src_plain, eng, src_b, eng, NULL));
    CHECK(dnnl_reorder_primitive_desc_create(&r2, &w_plain, eng, w_b, eng, NULL));
    CHECK(dnnl_reorder_primitive_desc_create(&r3, dst_b, eng, &dst_plain, eng, NULL));
    CHECK(dnnl_primitive_create(&p1, r1)); CHECK(dnnl_primitive_create(&p2, r2)); CHECK(dnnl_primitive_create(&p3, r3));
    CHECK(dnnl_primitive_create(&conv, pd));
    dnnl_exec_arg_t a2[] = {{DNNL_ARG_FROM, mw}, {DNNL_ARG_TO, mwb}};
    CHECK(dnnl_primitive_execute(p2, st, 2, a2));
    dnnl_exec_arg_t a1[] = {{DNNL_ARG_FROM, mx}, {DNNL_ARG_TO, mxb}};
    dnnl_exec_arg_t ac[] = {{DNNL_ARG_SRC, mxb}, {DNNL_ARG_WEIGHTS, mwb}, {DNNL_ARG_BIAS, mb}, {DNNL_ARG_DST, myb}};
    dnnl_exec_arg_t a3[] = {{DNNL_ARG_FROM, myb}, {DNNL_ARG_TO, my}};
    best = 1e9; double bestConv = 1e9;
    for (int r = 0; r < reps + 1; r++) {
        double t = now();
        CHECK(dnnl_primitive_execute(p1, st, 2, a1));
        double t1 = now();
        CHECK(dnnl_primitive_execute(conv, st, 4, ac));
        CHECK(dnnl_stream_wait(st));
        double t2 = now();
        CHECK(dnnl_primitive_execute(p3, st, 2, a3));
        CHECK(dnnl_stream_wait(st));
        double e = now() - t;
        if (r > 0 && e < best) best = e;
        if (r > 0 && t2 - t1 < bestConv) bestConv = t2 - t1;
    }
    double maxd = 0, maxv = 0;
    for (size_t i = 0; i < ys; i++) { double d = y[i] - y2[i]; if (d < 0) d = -d; if (d > maxd) maxd = d; double v = y[i] < 0 ? -y[i] : y[i]; if (v > maxv) maxv = v; }
    printf("[%d,%d,%d,%d]->%d  im2col+sgemm %.1f ms (%.0f GFLOP/s)  oneDNN %s %.1f ms with reorders (%.0f GFLOP/s), conv only %.1f ms  max|diff|/max|y| %.1e\n",
           n, c, h, w, o, blas * 1e3, flops / blas / 1e9, impl, best * 1e3, flops / best / 1e9, bestConv * 1e3, maxd / maxv);
    free(x); free(wt); free(b); free(y); free(y2); free(col);
}

int main(void) {
    run(2, 320, 320, 64, 64, 3);
    run(2, 640, 640, 32, 32, 3);
    run(2, 1280, 1280, 16, 16, 3);
    run(2, 1280, 1280, 8, 8, 3);
    run(1, 512, 512, 128, 128, 2);
    run(1, 256, 256, 256, 256, 1);
    return 0;
}
