// Standalone benchmark of the fused attention kernel (Sources/CLatentKernels/attention.c) against the
// GEMM path it replaces (OpenBLAS sgemm Q·Kᵀ into a 512-row score block, softmax rows split over the cores,
// sgemm ·V — the blocking of Tensor+Attention.swift's fallback), on the UNet's real shapes. Run by hand:
//
//   gcc -O3 -mavx2 -mfma -mf16c -fopenmp -ISources/CLatentKernels/include bench/attention_bench.c \
//       -o /tmp/attention_bench -lopenblas -lm && /tmp/attention_bench
//
// Also checks the two agree (relative L2 error) on every shape, causal and not, including odd sizes.
#include "../Sources/CLatentKernels/attention.c"
#include "../Sources/CLatentKernels/nn_kernels.c"
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <time.h>

static double now(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void fill(float *x, size_t n, unsigned *state, float amplitude) {
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        x[i] = amplitude * (((*state >> 8) / 16777216.0f) * 2 - 1);
    }
}

// The GEMM path: blocks of 512 queries, one (batch, head, block) job after another.
static void attention_gemm(const latent_attention_problem *p, float *scores) {
    const size_t d = p->head_dim, width = p->heads * d, nq = p->query_count, nk = p->key_count;
    const size_t block = nq < 512 ? nq : 512, blocks = (nq + block - 1) / block;
    for (size_t job = 0; job < p->batch * p->heads * blocks; job++) {
        const size_t bh = job / blocks, qb = job % blocks, b = bh / p->heads, h = bh % p->heads;
        const size_t q0 = qb * block, rows = nq - q0 < block ? nq - q0 : block;
        const float *qb_ = p->query + (b * nq + q0) * width + h * d;
        const float *kb = p->key + b * nk * width + h * d, *vb = p->value + b * nk * width + h * d;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nk, d, p->scale, qb_, width, kb, width, 0,
                    scores, nk);
#pragma omp parallel for schedule(static)
        for (size_t r = 0; r < rows; r++) {
            float *row = scores + r * nk;
            size_t visible = p->causal ? (q0 + r + 1 < nk ? q0 + r + 1 : nk) : nk;
            latent_softmax_rows(row, 1, nk, visible);
            for (size_t j = visible; j < nk; j++) row[j] = 0;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d, nk, 1, scores, nk, vb, width, 0,
                    p->out + (b * nq + q0) * width + h * d, width);
    }
}

// The fused path split like Swift's parallelFor: a few chunks per core, taken dynamically.
static void attention_fused(const latent_attention_problem *p) {
    const size_t jobs = latent_attention_job_count(p);
    const int threads = omp_get_max_threads();
    size_t chunks = (size_t)threads * 4;
    if (chunks > jobs) chunks = jobs;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t c = 0; c < chunks; c++) latent_attention_run(p, c * jobs / chunks, (c + 1) * jobs / chunks);
}

static double rel_error(const float *a, const float *b, size_t n) {
    double diff = 0, ref = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - b[i];
        diff += e * e;
        ref += (double)b[i] * b[i];
    }
    return sqrt(diff / ref);
}

typedef struct { const char *name; size_t b, heads, d, nq, nk; int causal, reps; } shape;

int main(int argc, char **argv) {
    int check_only = argc > 1 && argv[1][0] == 'c', small_only = argc > 1 && argv[1][0] == 's';
    const shape shapes[] = {
        {"self 512² top   N=4096 D=40", 2, 8, 40, 4096, 4096, 0, 3},
        {"cross 512² top  N=4096×77 D=40", 2, 8, 40, 4096, 77, 0, 10},
        {"self 512² mid   N=1024 D=80", 2, 8, 80, 1024, 1024, 0, 10},
        {"cross 512² mid  N=1024×77 D=80", 2, 8, 80, 1024, 77, 0, 20},
        {"self 512² low   N=256 D=160", 2, 8, 160, 256, 256, 0, 20},
        {"cross 512² low  N=256×77 D=160", 2, 8, 160, 256, 77, 0, 40},
        {"self 512² bottom N=64 D=160", 2, 8, 160, 64, 64, 0, 100},
        {"VAE 512²        N=4096 D=512 h=1", 1, 1, 512, 4096, 4096, 0, 2},
        {"CLIP causal     N=77 D=64 h=12", 2, 12, 64, 77, 77, 1, 200},
        {"self 1024² top  N=16384 D=40", 2, 8, 40, 16384, 16384, 0, 1},
        {"cross 1024² top N=16384×77 D=40", 2, 8, 40, 16384, 77, 0, 3},
        {"odd causal      N=101 D=24 h=3", 1, 3, 24, 101, 101, 1, 0},
        {"odd             N=131×53 D=20 h=2", 3, 2, 20, 131, 53, 0, 0},
        {"odd causal      N=49 D=8 h=1", 1, 1, 8, 49, 49, 1, 0},
        {"odd D           N=300×200 D=13 h=2", 2, 2, 13, 300, 200, 0, 0},
        {"causal blocks   N=1000 D=40 h=2", 2, 2, 40, 1000, 1000, 1, 0},
    };
    printf("avx512 %d, threads %d, key tile %d\n", attention_has_avx512(), omp_get_max_threads(),
           LATENT_ATTENTION_KEY_TILE);
    {
        // Calibration: a large square sgemm, the machine's practical fp32 rate under the current load.
        const int n = 2048;
        float *a = calloc((size_t)n * n, 4), *b = calloc((size_t)n * n, 4), *c = calloc((size_t)n * n, 4);
        double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double w = now(CLOCK_MONOTONIC) - w0, cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        printf("sgemm 2048³: %.1f GFLOP/s wall, %.1f GFLOP/s per CPU-second\n", 2.0 * n * n * n / w * 1e-9,
               2.0 * n * n * n / cpu * 1e-9);
        free(a), free(b), free(c);
    }
    printf("%-36s %10s %10s %10s %10s %7s %7s %9s\n", "shape", "gemm ms", "fused ms", "gemm cpu", "fused cpu",
           "wall×", "cpu×", "rel err");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const shape sh = shapes[s];
        if ((check_only || small_only) && sh.nq > 4096) continue;
        const size_t width = sh.heads * sh.d, qn = sh.b * sh.nq * width, kn = sh.b * sh.nk * width;
        float *q = malloc(qn * 4), *k = malloc(kn * 4), *v = malloc(kn * 4), *o1 = malloc(qn * 4),
              *o2 = malloc(qn * 4), *scores = malloc((sh.nq < 512 ? sh.nq : 512) * sh.nk * 4);
        unsigned state = 12345u + (unsigned)s;
        fill(q, qn, &state, 2.0f);
        fill(k, kn, &state, 2.0f);
        fill(v, kn, &state, 1.0f);
        latent_attention_problem p = {q, k, v, o1, sh.b, sh.heads, sh.d, sh.nq, sh.nk, 1 / sqrtf((float)sh.d),
                                      sh.causal};
        attention_gemm(&p, scores);
        p.out = o2;
        attention_fused(&p);
        double err = rel_error(o2, o1, qn);
        double best[2] = {1e30, 1e30}, cpu[2] = {1e30, 1e30};
        int reps = check_only ? 0 : sh.reps;
        for (int r = 0; r < reps; r++) {
            for (int which = 0; which < 2; which++) {
                double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
                if (which == 0) {
                    p.out = o1;
                    attention_gemm(&p, scores);
                } else {
                    p.out = o2;
                    attention_fused(&p);
                }
                double w = now(CLOCK_MONOTONIC) - w0, c = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
                if (w < best[which]) best[which] = w;
                if (c < cpu[which]) cpu[which] = c;
            }
        }
        if (reps)
            printf("%-36s %10.2f %10.2f %10.2f %10.2f %7.2f %7.2f %9.2e\n", sh.name, best[0] * 1e3, best[1] * 1e3,
                   cpu[0] * 1e3, cpu[1] * 1e3, best[0] / best[1], cpu[0] / cpu[1], err);
        else
            printf("%-36s %10s %10s %10s %10s %7s %7s %9.2e\n", sh.name, "-", "-", "-", "-", "-", "-", err);
        fflush(stdout);
        free(q), free(k), free(v), free(o1), free(o2), free(scores);
    }
    return 0;
}
