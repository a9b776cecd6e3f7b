// One thread team for the whole process: libgomp's, the OpenMP runtime Debian's oneDNN runs its kernels on.
//
// Splitting Latent's own loops over a second pool (Dispatch, or threads started per call) made the two
// pools fight for the cores: after each oneDNN call libgomp's idle worker spins for up to 300 000 `pause`
// iterations (milliseconds on this CPU) waiting for the next parallel region, while Dispatch's threads ran
// the widening, bias fill, attention or GroupNorm that came next on the same two cores. Running those loops
// as OpenMP parallel regions hands them to that spinning worker instead (docs/performance.md, wave 10).
//
// The regions are opened through libgomp's ABI (`GOMP_parallel`, what GCC emits for `#pragma omp
// parallel`): the Swift toolchain's clang would link LLVM's libomp for `-fopenmp`, a second runtime.
#include "CLatentKernels.h"
#include <stdatomic.h>

extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
extern int omp_get_max_threads(void);
extern int omp_in_parallel(void);
extern void omp_set_num_threads(int n);

// A count set by `latent_set_thread_count`: libgomp reads `OMP_NUM_THREADS` only when it loads, before a
// command line is parsed, and its own setting is per thread.
static atomic_int requested_threads;

void latent_set_thread_count(int n) {
    atomic_store(&requested_threads, n > 0 ? n : 0);
    if (n > 0) omp_set_num_threads(n);
}

int latent_thread_count(void) {
    const int requested = atomic_load(&requested_threads);
    if (requested > 0) return requested;
    const int n = omp_get_max_threads();
    return n < 1 ? 1 : n;
}

// One contiguous range per team member; the bounds follow the team size libgomp actually granted.
struct ranges_job {
    void (*fn)(void *ctx, int64_t lo, int64_t hi, int part);
    void *ctx;
    int64_t count;
};

static void ranges_main(void *arg) {
    const struct ranges_job *job = arg;
    int64_t part = omp_get_thread_num(), parts = omp_get_num_threads();
    int64_t lo = job->count * part / parts, hi = job->count * (part + 1) / parts;
    if (lo < hi) job->fn(job->ctx, lo, hi, (int)part);
}

int latent_parallel_parts(int64_t count, int64_t grain) {
    if (count <= 0) return 0;
    if (grain < 1) grain = 1;
    int64_t parts = omp_in_parallel() ? 1 : latent_thread_count();
    if (parts > count / grain) parts = count / grain;
    return parts < 1 ? 1 : (int)parts;
}

void latent_parallel_parts_run(int64_t count, int parts, void (*fn)(void *ctx, int64_t lo, int64_t hi, int part),
                               void *ctx) {
    if (count <= 0) return;
    if (parts <= 1) {
        fn(ctx, 0, count, 0);
        return;
    }
    struct ranges_job job = {fn, ctx, count};
    GOMP_parallel(ranges_main, &job, (unsigned)parts, 0);
}

struct split_adapter { void (*fn)(void *ctx, int64_t lo, int64_t hi); void *ctx; };
static void split_adapter_run(void *arg, int64_t lo, int64_t hi, int part) {
    (void)part;
    const struct split_adapter *a = arg;
    a->fn(a->ctx, lo, hi);
}

void latent_split_run(int64_t count, int64_t grain, void (*fn)(void *ctx, int64_t lo, int64_t hi), void *ctx) {
    struct split_adapter a = {fn, ctx};
    latent_parallel_parts_run(count, latent_parallel_parts(count, grain), split_adapter_run, &a);
}

// Items handed out one at a time (iterations of uneven cost, e.g. attention's query tiles).
struct items_job {
    void (*fn)(void *ctx, int64_t index);
    void *ctx;
    int64_t count;
    atomic_llong next;
};

static void items_main(void *arg) {
    struct items_job *job = arg;
    for (;;) {
        int64_t i = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (i >= job->count) return;
        job->fn(job->ctx, i);
    }
}

void latent_parallel_for(int64_t count, void (*fn)(void *ctx, int64_t index), void *ctx) {
    if (count <= 0) return;
    int64_t threads = omp_in_parallel() ? 1 : latent_thread_count();
    if (threads > count) threads = count;
    if (threads <= 1) {
        for (int64_t i = 0; i < count; i++) fn(ctx, i);
        return;
    }
    struct items_job job = {fn, ctx, count, 0};
    GOMP_parallel(items_main, &job, (unsigned)threads, 0);
}
