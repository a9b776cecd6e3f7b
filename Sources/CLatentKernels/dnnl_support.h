// oneDNN plumbing shared by the convolution plans (conv_dnnl.c) and the reduced-precision operations
// (lowp_dnnl.c): one CPU engine, user-managed scratchpads, synchronous execution and reorders.
//
// Every primitive is created with a user-managed scratchpad. With the library-managed default, oneDNN
// (built without DNNL_ENABLE_CONCURRENT_EXEC, as Debian's is) shares one *thread-local* scratchpad between
// primitives, sized on the thread that created them: a primitive executed on another thread (Swift tasks
// hop threads; tests and the server run layers concurrently) reads and writes whatever that thread's
// scratchpad holds, silently corrupting results. A scratchpad passed per call makes execution thread-safe.
#ifndef LATENT_DNNL_SUPPORT_H
#define LATENT_DNNL_SUPPORT_H
#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>

/// The process's oneDNN CPU engine, created on first use; NULL when oneDNN cannot create one.
dnnl_engine_t latent_dnnl_engine(void);
/// Attributes asking for a user-managed scratchpad; NULL when that fails.
dnnl_primitive_attr_t latent_dnnl_user_scratchpad_attr(void);
/// The scratchpad a primitive descriptor asks for (a zero descriptor when none).
dnnl_memory_desc_t latent_dnnl_scratchpad_md(const_dnnl_primitive_desc_t pd);
/// `bytes` (at least 64) aligned to 64; NULL when out of memory. Freed with `free`.
void *latent_aligned_alloc(size_t bytes);
/// Roles of the pooled per-call buffers: blocked source copy, blocked destination, scratchpad.
enum { LATENT_SCRATCH_SOURCE, LATENT_SCRATCH_DESTINATION, LATENT_SCRATCH_PAD, LATENT_SCRATCH_ROLES };
/// A buffer of `bytes` (aligned to 64) for one call's temporaries: large ones reuse the role's pooled
/// buffer, kept mapped between calls; NULL when out of memory. Give it back with `latent_scratch_release`.
void *latent_scratch_acquire(int role, size_t bytes);
/// Returns a buffer from `latent_scratch_acquire` (NULL is ignored).
void latent_scratch_release(void *p);
/// Transforms plain `[o, c, 3, 3]` fp32 weights into `w_md`'s Winograd F(4×4, 3×3) layout
/// (`dnnl_wino_wei_OBaaIBOIio`, 16-channel output blocks) on all cores. Returns 0,
/// writing nothing, for any other layout or without AVX-512 (the caller then uses oneDNN's reorder).
int latent_wino_transform_4x3(const dnnl_memory_desc_t *w_md, int64_t o, int64_t c, const float *plain, float *out);
/// Executes `prim` on a fresh stream and waits for it. Returns 0 on failure.
int latent_dnnl_run(dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args);
/// Reorders `from` (described by `from_md`) into `to` once, with a temporary primitive. Returns 0 on failure.
int latent_dnnl_reorder_once(const dnnl_memory_desc_t *from_md, void *from, const dnnl_memory_desc_t *to_md, void *to);
/// A reorder primitive between two layouts (NULL when they are equal: nothing to do); its scratchpad
/// descriptor goes to `pad_md`; `*ok` is cleared on failure.
dnnl_primitive_t latent_dnnl_make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                                          dnnl_memory_desc_t *pad_md, int *ok);
/// Descriptors of a 2-D convolution of `shape` `[N, C, H, W]` by `[O, C, kh, kw]` weights (padding
/// `{top, left, bottom, right}`): the caller's plain NCHW source (`src_type`) and f32 destination, plain OIHW f32
/// weights, an `[O]` f32 bias, and the forward convolution computing in `compute_type` with layouts left to
/// oneDNN (`format_tag_any`) and an f32 destination. Returns 0 on failure.
int latent_dnnl_conv_descs(const int64_t shape[4], int64_t out_channels, int64_t kh, int64_t kw, int64_t stride,
                           const int64_t padding[4], dnnl_data_type_t src_type, dnnl_data_type_t compute_type,
                           int with_bias, dnnl_memory_desc_t *src_user, dnnl_memory_desc_t *dst_user,
                           dnnl_memory_desc_t *w_plain, dnnl_memory_desc_t *b_md, dnnl_convolution_desc_t *cd);
#endif
