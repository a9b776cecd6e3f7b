// glibc heap controls, behind plain functions so Swift need not import <malloc.h>.
#include <malloc.h>

#include "CLatentKernels.h"

int latent_malloc_trim(void) {
    latent_scratch_trim();
    return malloc_trim(0);
}

void latent_malloc_arenas(int arenas) { mallopt(M_ARENA_MAX, arenas); }

void latent_malloc_tune(long mmap_threshold_bytes) {
    // Blocks at or above the threshold are served by mmap and unmapped on free, so freed activations
    // leave the resident set immediately instead of sitting in the heap; fixing the threshold also stops
    // glibc from raising it dynamically after such frees.
    mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold_bytes);
    mallopt(M_TRIM_THRESHOLD, (int)(mmap_threshold_bytes * 2));
}
