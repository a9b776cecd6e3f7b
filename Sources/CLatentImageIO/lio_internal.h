// Helpers shared by the codec files of the shim; not part of the public header.
#ifndef LIO_INTERNAL_H
#define LIO_INTERNAL_H

#include "CLatentImageIO.h"

/// Formats a message into the caller's buffer (truncating safely) and returns `code`.
int lio_fail(int code, char *message, size_t capacity, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/// Checks `data` against a signature: LIO_OK when it starts with it, LIO_ERR_EMPTY for no bytes,
/// LIO_ERR_TRUNCATED when the data is a proper prefix of it, LIO_ERR_NOT_FORMAT otherwise.
int lio_check_signature(const uint8_t *data, size_t size, const uint8_t *signature, size_t length);

/// Validates dimensions against the caller's pixel limit, filling `out`'s size on failure.
int lio_check_size(uint64_t width, uint64_t height, uint64_t max_pixels, lio_decoded *out,
                   char *message, size_t capacity);

/// Allocates width * height * channels bytes, or NULL if that overflows or memory is short.
uint8_t *lio_alloc_pixels(uint64_t width, uint64_t height, uint64_t channels);

#endif
