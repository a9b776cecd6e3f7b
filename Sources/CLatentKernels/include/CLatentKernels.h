#ifndef CLATENT_KERNELS_H
#define CLATENT_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/// Widens `count` IEEE half-precision values to float (F16C when available).
void latent_f16_to_f32(const uint16_t *src, float *dst, size_t count);
/// Widens `count` bfloat16 values to float (exact: bf16 is the top half of a float).
void latent_bf16_to_f32(const uint16_t *src, float *dst, size_t count);

#endif
