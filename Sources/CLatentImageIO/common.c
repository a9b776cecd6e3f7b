#include "lio_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lio_fail(int code, char *message, size_t capacity, const char *format, ...) {
    if (message != NULL && capacity > 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(message, capacity, format, args);
        va_end(args);
    }
    return code;
}

int lio_check_signature(const uint8_t *data, size_t size, const uint8_t *signature, size_t length) {
    if (size == 0 || data == NULL) return LIO_ERR_EMPTY;
    size_t n = size < length ? size : length;
    if (memcmp(data, signature, n) != 0) return LIO_ERR_NOT_FORMAT;
    return size < length ? LIO_ERR_TRUNCATED : LIO_OK;
}

int lio_check_size(uint64_t width, uint64_t height, uint64_t max_pixels, lio_decoded *out,
                   char *message, size_t capacity) {
    if (width == 0 || height == 0) {
        return lio_fail(LIO_ERR_CORRUPT, message, capacity, "image has zero size (%llux%llu)",
                        (unsigned long long)width, (unsigned long long)height);
    }
    // Dimensions are at most 2^32 each, so the product fits in 64 bits.
    if (width * height > max_pixels || width > INT32_MAX || height > INT32_MAX) {
        out->width = width > INT32_MAX ? INT32_MAX : (int32_t)width;
        out->height = height > INT32_MAX ? INT32_MAX : (int32_t)height;
        return lio_fail(LIO_ERR_TOO_LARGE, message, capacity, "image too large (%llux%llu, limit %llu pixels)",
                        (unsigned long long)width, (unsigned long long)height, (unsigned long long)max_pixels);
    }
    return LIO_OK;
}

uint8_t *lio_alloc_pixels(uint64_t width, uint64_t height, uint64_t channels) {
    if (width == 0 || height == 0 || channels == 0) return NULL;
    if (width > SIZE_MAX / height || width * height > SIZE_MAX / channels) return NULL;
    return malloc((size_t)(width * height * channels));
}

void lio_decoded_free(lio_decoded *image) {
    if (image == NULL) return;
    free(image->pixels);
    for (int32_t i = 0; i < image->text_count; i++) {
        free(image->texts[i].key);
        free(image->texts[i].value);
    }
    free(image->texts);
    memset(image, 0, sizeof(*image));
}

void lio_buffer_free(lio_buffer *buffer) {
    if (buffer == NULL) return;
    free(buffer->data);
    buffer->data = NULL;
    buffer->size = 0;
}
