#ifndef CLATENT_KERNELS_H
#define CLATENT_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/// Widens `count` IEEE half-precision values to float (F16C when available).
void latent_f16_to_f32(const uint16_t *src, float *dst, size_t count);
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
