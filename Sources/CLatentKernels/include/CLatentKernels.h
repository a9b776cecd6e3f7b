#ifndef CLATENT_KERNELS_H
#define CLATENT_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/// glibc `malloc_trim(0)`: returns freed heap memory to the system; 1 when memory was released.
int latent_malloc_trim(void);
/// Frees the pooled per-call convolution buffers that no call is using (`latent_malloc_trim` does this first).
void latent_scratch_trim(void);
/// Serves allocations of at least `mmap_threshold_bytes` by mmap (unmapped on free) and trims the heap top
/// above twice that (glibc `mallopt`).
void latent_malloc_tune(long mmap_threshold_bytes);
/// Caps glibc's heap arenas (one per allocating thread by default) at `arenas`.
void latent_malloc_arenas(int arenas);

/// Threads of the process's one team (libgomp's, which oneDNN's kernels also run on; `OMP_NUM_THREADS`, or
/// the count set by `latent_set_thread_count`).
int latent_thread_count(void);
/// Caps the team at `n` threads (0: the default again): for Latent's loops on every thread, and for oneDNN's
/// on the calling one (OpenMP's setting is per thread).
void latent_set_thread_count(int n);
/// How many contiguous ranges `latent_parallel_parts_run` should split `count` items into: one per team
/// thread, none shorter than `grain` items, and 1 inside a parallel region (regions do not nest).
int latent_parallel_parts(int64_t count, int64_t grain);
/// Runs `fn(ctx, lo, hi, part)` over `0 ..< count` in at most `parts` contiguous ranges, one per thread of
/// the team, and returns when all have finished. Ranges are disjoint and cover `0 ..< count`; `part` is
/// below `parts`.
void latent_parallel_parts_run(int64_t count, int parts, void (*fn)(void *ctx, int64_t lo, int64_t hi, int part),
                               void *ctx);
/// `latent_parallel_parts_run` with `latent_parallel_parts(count, grain)` ranges, for callers that need no
/// part index.
void latent_split_run(int64_t count, int64_t grain, void (*fn)(void *ctx, int64_t lo, int64_t hi), void *ctx);
/// Runs `fn(ctx, i)` for every `i` in `0 ..< count` on the team, items handed out one at a time (for
/// iterations of uneven cost), and returns when all have finished.
void latent_parallel_for(int64_t count, void (*fn)(void *ctx, int64_t index), void *ctx);

/// Widens `count` IEEE half-precision values to float (F16C when available).
void latent_f16_to_f32(const uint16_t *src, float *dst, size_t count);
/// Narrows `count` floats to IEEE half precision, round to nearest even (F16C).
void latent_f32_to_f16(const float *src, uint16_t *dst, size_t count);
/// Counts how many of `count` floats do not survive a round trip through half precision (0: exact).
size_t latent_f16_inexact_count(const float *src, size_t count);
/// Narrows `count` floats (one row) to half precision after scaling them by a power of two that puts their
/// largest magnitude just under 2^15 (no overflow, full half precision relative to that magnitude).
/// Returns the factor that restores them (`latent_f16_to_f32_scaled`).
float latent_f32_to_f16_scaled(const float *src, uint16_t *dst, size_t count);
/// Widens `count` half values and multiplies them by `factor`.
void latent_f16_to_f32_scaled(const uint16_t *src, float *dst, size_t count, float factor);
/// Widens `count` bfloat16 values to float (exact: bf16 is the top half of a float).
void latent_bf16_to_f32(const uint16_t *src, float *dst, size_t count);

/// State of PyTorch's CPU generator engine (mt19937 with torch's lazy regeneration bookkeeping).
typedef struct latent_mt19937 {
    uint32_t state[624];
    int32_t left;
    uint32_t next;
} latent_mt19937;

/// Seeds like `torch.Generator().manual_seed(seed)`: only the low 32 bits of `seed` reach the state.
void latent_mt19937_seed(latent_mt19937 *g, uint64_t seed);
/// Returns the next 32-bit output (torch `random()`).
uint32_t latent_mt19937_next32(latent_mt19937 *g);
/// Returns two outputs joined, the first as the high word (torch `random64()`).
uint64_t latent_mt19937_next64(latent_mt19937 *g);
/// Returns torch's `uniform_real_distribution<double>(0, 1)` sample: 53 bits of `random64()`.
double latent_torch_uniform_f64(latent_mt19937 *g);
/// Fills `count >= 16` floats exactly as torch 2.13's AVX2 `normal_fill` does for a contiguous float
/// tensor (uniforms first, Box-Muller per 16, the last 16 redrawn when `count % 16 != 0`).
/// Does nothing when `count < 16`: torch uses the double-precision scalar path there.
void latent_torch_normal_fill_f32(latent_mt19937 *g, float *data, size_t count, float mean, float stddev);

#endif

#ifndef CLATENT_NN_KERNELS
#define CLATENT_NN_KERNELS
/// In-place softmax of `rows` rows of `count` floats, `stride` floats apart (AVX-512 or AVX2 exp).
void latent_softmax_rows(float *data, size_t rows, size_t stride, size_t count);
/// Normalises one group (`channels` planes of `spatial` floats) with statistics in double, then applies
/// the per-channel affine (`weight`/`bias` point at the group's first channel) and optionally SiLU.
void latent_group_norm_group(const float *src, float *dst, size_t channels, size_t spatial, const float *weight,
                             const float *bias, float epsilon, int silu);
/// Sum and sum of squares (in double) of `count` floats: a group's (or one band's share of a group's)
/// statistics, accumulated as `latent_group_norm_group` does.
void latent_group_moments(const float *src, size_t count, double *sum, double *sumsq);
/// Mean and `1 / sqrt(var + ε)` from accumulated moments, as `latent_group_norm_group` computes them.
void latent_group_statistics_from_moments(double sum, double sumsq, double count, float epsilon, float *mean,
                                          float *inv_std);
/// Applies given group statistics and the per-channel affine to `channels` planes (tiled GroupNorm).
void latent_group_norm_apply(const float *src, float *dst, size_t channels, size_t spatial, const float *weight,
                             const float *bias, float mean, float inv_std, int silu);
/// Layer normalisation of `rows` rows of width `d` (statistics in double).
void latent_layer_norm_rows(const float *src, float *dst, size_t rows, size_t d, const float *weight,
                            const float *bias, float epsilon);
/// `dst = src · sigmoid(src)`; `dst` may equal `src`.
void latent_silu(const float *src, float *dst, size_t n);
/// GEGLU over `rows` rows of `2f` floats: `value · gelu_erf(gate)` → `rows × f`.
void latent_geglu_rows(const float *src, float *dst, size_t rows, size_t f);
/// `a += b` over `n` floats.
void latent_add(float *a, const float *b, size_t n);
/// `a += v` over `n` floats.
void latent_add_scalar(float *a, float v, size_t n);
/// `dst[c][r] = src[r][c]` for a `rows × cols` matrix.
void latent_transpose(const float *src, float *dst, size_t rows, size_t cols);
#endif

#ifndef CLATENT_CONV_PLAN
#define CLATENT_CONV_PLAN
/// Row-major `C = alpha·op(A)·op(B) + beta·C` on oneDNN's JIT GEMM (threaded by oneDNN's OpenMP pool).
/// Returns 0 on failure (the caller falls back to OpenBLAS).
int latent_dnnl_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                      int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
/// Row-major `C = A·Bᵀ` (`accumulate` 0) or `C += A·Bᵀ` (1) with `A` `[m, k]` and `B` `[n, k]` (a linear layer's
/// weights), on oneDNN's matmul primitive, created once per shape and kept. Returns 0 when oneDNN cannot make or
/// run it (the caller then uses the GEMM).
int latent_dnnl_matmul_nt(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                          int accumulate, float *c, int64_t ldc);

/// Unfolds output rows `oy0 ..< oy1` of `channels` input planes (`src`: `[channels, h, w]`) for a `kh×kw`
/// convolution (padding `{top, left, bottom, right}`, output width `wo`) into column rows
/// `[(c·kh + ky)·kw + kx]` of `col`, each `(oy1 − oy0)·wo` values starting at `ld`-float strides.
void latent_im2col(const float *src, int64_t channels, int64_t h, int64_t w, int64_t kh, int64_t kw,
                   int64_t stride, const int64_t padding[4], int64_t wo, int64_t oy0, int64_t oy1, float *col, int64_t ld);

/// `[N, C, H, W]` (`shape`) convolved with plain `[O, C, kh, kw]` fp32 weights as one GEMM over im2col columns of
/// the whole batch (padding `{top, left, bottom, right}`), plus `bias` `[O]` when not NULL, into `[N, O, Ho, Wo]`.
/// Returns 0 on failure (out of memory), with `dst` then undefined.
int latent_conv_gemm(const float *src, const int64_t shape[4], const float *weights, int64_t o, int64_t kh,
                     int64_t kw, int64_t stride, const int64_t padding[4], const float *bias, float *dst);

/// `[N, C, H, W]` convolved with plain `[O, C, 3, 3]` weights — fp32 `weights`, or IEEE fp16 `half_weights` when
/// `weights` is NULL — stride 1 and padding 1 on every side, plus `bias` `[O]` when not NULL, into
/// `[N, O, H, W]`, by Winograd F(4×4, 3×3) with the weights transformed a cache-sized block at a time
/// (winograd_conv.c). Returns 0, with `dst` undefined, without AVX-512 (F, BW, VL) or memory, or when the input
/// has 2³¹ elements or more.
int latent_wino43_conv(const float *src, int64_t n, int64_t c, int64_t h, int64_t w, const float *weights,
                       const uint16_t *half_weights, const float *bias, int64_t o, float *dst);

/// A oneDNN convolution for one input shape: primitive, activation reorders and the weights in the
/// primitive's blocked layout. Immutable after creation, so `latent_conv_plan_execute` may run concurrently.
typedef struct latent_conv_plan latent_conv_plan;
/// Creates a plan for `shape` `[N, C, H, W]`, weights `[O, C, kh, kw]` given as fp32 (`weight_f32`) or fp16
/// bits (`weight_f16`), optional `bias` `[O]`, padding `{top, left, bottom, right}`. With `keep_half` the
/// blocked weights are stored as fp16 and widened per call (only exact when the source values are fp16).
/// With both weight pointers NULL the plan is *streamed*: it holds no weights and runs only through
/// `latent_conv_plan_execute_streamed`. With `winograd` (3×3, stride 1 only) the plan uses oneDNN's Winograd
/// F(4×4, 3×3) algorithm and is weightless like a streamed plan, whatever weights are given. Returns NULL when
/// oneDNN cannot run the shape (with that algorithm); the caller falls back.
latent_conv_plan *latent_conv_plan_create(const int64_t shape[4], int64_t out_channels, int64_t kh, int64_t kw,
                                          int64_t stride, const int64_t padding[4], const float *weight_f32,
                                          const uint16_t *weight_f16, const float *bias, int keep_half, int winograd);
/// Runs the convolution: `src` `[N, C, H, W]` → `dst` `[N, O, Ho, Wo]` (NCHW). Returns 0 on failure.
int latent_conv_plan_execute(const latent_conv_plan *plan, const float *src, float *dst);
/// Frees a plan (NULL is allowed).
void latent_conv_plan_destroy(latent_conv_plan *plan);
/// oneDNN's implementation name, e.g. `brgconv:avx512_core`.
const char *latent_conv_plan_impl(const latent_conv_plan *plan);
/// Writes the plan's weights back in plain `[O, C, kh, kw]` fp32 order into `out`. Returns 0 on failure.
int latent_conv_plan_plain_weights(const latent_conv_plan *plan, float *out);
/// Bytes the plan's stored weights take.
size_t latent_conv_plan_weight_bytes(const latent_conv_plan *plan);
/// The plan's blocked weights as fp16 bit patterns when it stores them so (else NULL); `*count` receives
/// the number of elements (the blocked fp32 size), 0 for fp32 plans.
const uint16_t *latent_conv_plan_half_weights(const latent_conv_plan *plan, size_t *count);
/// `latent_conv_plan_execute` with the plan's fp16 weights already widened by the caller into `widened`
/// (blocked layout, `count` floats from `latent_conv_plan_half_weights`); NULL widens inside the call.
int latent_conv_plan_execute_widened(const latent_conv_plan *plan, const float *src, float *dst, const float *widened);
/// Floats of the plan's weights in its blocked layout (the size of `blocked` for `..._execute_streamed`).
size_t latent_conv_plan_blocked_weight_count(const latent_conv_plan *plan);
/// Executes a streamed plan (created with both weight pointers NULL, so it holds no weights): reorders the
/// caller's plain `[O, C, kh, kw]` fp32 weights into `blocked` (`latent_conv_plan_blocked_weight_count`
/// floats), then convolves. Returns 0 on failure or for a plan that holds its own weights.
int latent_conv_plan_execute_streamed(const latent_conv_plan *plan, const float *src, float *dst, const float *plain,
                                      float *blocked);
/// Reorders plain `[O, C, kh, kw]` fp32 weights into a weightless plan's layout (`blocked`, of
/// `latent_conv_plan_blocked_weight_count` floats; for a Winograd plan this is the Winograd transform), for
/// `latent_conv_plan_execute_widened`. Returns 0 on failure.
int latent_conv_plan_transform_weights(const latent_conv_plan *plan, const float *plain, float *blocked);
/// `latent_conv_plan_transform_weights` by oneDNN's own reorder, also for Winograd plans (tests compare the two).
int latent_conv_plan_reorder_weights(const latent_conv_plan *plan, const float *plain, float *blocked);
/// Whether the plan runs the Winograd algorithm.
int latent_conv_plan_is_winograd(const latent_conv_plan *plan);
/// Whether two plans of one layer take their weights in the same layout (so transformed weights can be shared).
int latent_conv_plan_same_weight_layout(const latent_conv_plan *a, const latent_conv_plan *b);
#endif

#ifndef CLATENT_ATTENTION
#define CLATENT_ATTENTION
/// One multi-head attention call over packed `[batch, N, heads·head_dim]` tensors (row stride heads·head_dim):
/// `out = softmax(scale · Q·Kᵀ [+ causal mask]) · V` per head.
typedef struct latent_attention_problem {
    const float *query;   ///< `[batch, query_count, heads·head_dim]`
    const float *key;     ///< `[batch, key_count, heads·head_dim]`
    const float *value;   ///< `[batch, key_count, heads·head_dim]`
    float *out;           ///< `[batch, query_count, heads·head_dim]`
    size_t batch, heads, head_dim, query_count, key_count;
    float scale;          ///< Multiplies every score before the softmax.
    int causal;           ///< Nonzero: query `i` sees keys `0...i` only.
} latent_attention_problem;
/// Number of independent jobs (batch × head × query tile) of `problem`; split them over threads freely.
size_t latent_attention_job_count(const latent_attention_problem *problem);
/// Runs jobs `begin..<end` of the fused (tiled, online-softmax) attention; jobs write disjoint output.
void latent_attention_run(const latent_attention_problem *problem, size_t begin, size_t end);
#endif

#ifndef CLATENT_LOWP
#define CLATENT_LOWP
/// Arithmetic precision of a reduced-precision convolution or linear layer.
enum { LATENT_PRECISION_BF16 = 1, LATENT_PRECISION_INT8 = 2 };
/// A oneDNN convolution or matrix product for one input shape with bf16 or int8 arithmetic (fp32 in and out).
/// Immutable after creation, so it may execute from several threads at once.
typedef struct latent_lowp_op latent_lowp_op;
/// A convolution of `shape` `[N, C, H, W]` with fp32 weights `[O, C, kh, kw]` (copied, converted), optional
/// `bias` `[O]`, padding `{top, left, bottom, right}`. NULL when oneDNN cannot run it.
latent_lowp_op *latent_lowp_conv_create(const int64_t shape[4], int64_t out_channels, int64_t kh, int64_t kw,
                                        int64_t stride, const int64_t padding[4], const float *weight,
                                        const float *bias, int precision);
/// `src` `[N, C, H, W]` → `dst` `[N, O, Ho, Wo]`. Returns 0 on failure.
int latent_lowp_conv_execute(const latent_lowp_op *op, const float *src, float *dst);
/// A linear layer `[rows, in] → [rows, out]` with fp32 weights `[out, in]` and optional `bias` `[out]`.
latent_lowp_op *latent_lowp_linear_create(int64_t rows, int64_t in_features, int64_t out_features,
                                          const float *weight, const float *bias, int precision);
/// `src` `[rows, in]` → `dst` `[rows, out]`. Returns 0 on failure.
int latent_lowp_linear_execute(const latent_lowp_op *op, const float *src, float *dst);
/// oneDNN's implementation name (e.g. `brgconv:avx512_core_amx_int8`).
const char *latent_lowp_impl(const latent_lowp_op *op);
/// Bytes held by the converted weights.
size_t latent_lowp_weight_bytes(const latent_lowp_op *op);
/// Frees an operation (NULL is allowed).
void latent_lowp_destroy(latent_lowp_op *op);
#endif
