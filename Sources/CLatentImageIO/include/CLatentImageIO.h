// C shim over libpng, libjpeg-turbo and libwebp for LatentImageIO.
//
// Every function reports failure through its return code plus a NUL-terminated message written into a
// caller-supplied buffer; the setjmp/longjmp error handling the libraries require never crosses into Swift,
// and no function aborts the process on malformed input.
#ifndef CLATENT_IMAGE_IO_H
#define CLATENT_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Result codes shared by every function of the shim.
enum {
    LIO_OK = 0,
    LIO_ERR_EMPTY = 1,          // no bytes at all
    LIO_ERR_NOT_FORMAT = 2,     // the signature does not match the requested format
    LIO_ERR_TRUNCATED = 3,      // data ends before the image is complete
    LIO_ERR_CORRUPT = 4,        // the codec rejected the data (message has its words)
    LIO_ERR_TOO_LARGE = 5,      // width * height exceeds the caller's limit (dimensions are filled in)
    LIO_ERR_UNSUPPORTED = 6,    // valid but not handled (e.g. animated WebP)
    LIO_ERR_NO_MEMORY = 7,
    LIO_ERR_INVALID_ARGUMENT = 8,
    LIO_ERR_IO = 9,             // file system failure (message has strerror)
};

/// Recommended size of message buffers passed to the shim.
#define LIO_MESSAGE_CAPACITY 512

/// One text chunk read from a PNG. `key` is Latin-1; `value` is UTF-8 when `utf8` is non-zero (iTXt),
/// Latin-1 otherwise (tEXt, zTXt). Both are NUL-terminated and owned by the enclosing `lio_decoded`.
typedef struct lio_text_entry {
    char *key;
    char *value;
    int32_t utf8;
} lio_text_entry;

/// A decoded image: `channels` is 3 (RGB) or 4 (RGBA), 8 bits each, rows packed without padding.
typedef struct lio_decoded {
    int32_t width;
    int32_t height;
    int32_t channels;
    uint8_t *pixels;
    lio_text_entry *texts;
    int32_t text_count;
} lio_decoded;

/// One text chunk to write. `key` is a Latin-1 PNG keyword; `value` is UTF-8 (iTXt) when `utf8` is
/// non-zero, Latin-1 (tEXt) otherwise. Both NUL-terminated.
typedef struct lio_text_input {
    const char *key;
    const char *value;
    int32_t utf8;
} lio_text_input;

/// An encoded byte buffer allocated with malloc; release with `lio_buffer_free`.
typedef struct lio_buffer {
    uint8_t *data;
    size_t size;
} lio_buffer;

/// Releases the pixels and text of a decoded image and zeroes it.
void lio_decoded_free(lio_decoded *image);
/// Releases an encoded buffer and zeroes it.
void lio_buffer_free(lio_buffer *buffer);

/// Decodes any PNG (1-16 bit, gray, palette, RGB, with or without alpha or tRNS, interlaced or not) to
/// RGB8 or RGBA8 and collects its tEXt/zTXt/iTXt chunks.
int lio_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels, lio_decoded *out,
                   char *message, size_t message_capacity);
/// Encodes 8-bit RGB (channels 3) or RGBA (channels 4) pixels as PNG with the given text chunks.
int lio_png_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels,
                   const lio_text_input *texts, int32_t text_count, lio_buffer *out,
                   char *message, size_t message_capacity);

/// Decodes a baseline or progressive JPEG (gray, YCbCr, RGB, CMYK, YCCK) to RGB8.
int lio_jpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels, lio_decoded *out,
                    char *message, size_t message_capacity);
/// Encodes RGB or RGBA (alpha ignored) pixels as a JPEG of the given quality (1...100).
int lio_jpeg_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels, int32_t quality,
                    lio_buffer *out, char *message, size_t message_capacity);

/// Decodes a still WebP (lossy or lossless) to RGB8, or RGBA8 when the image has alpha.
int lio_webp_decode(const uint8_t *data, size_t size, uint64_t max_pixels, lio_decoded *out,
                    char *message, size_t message_capacity);
/// Encodes RGB or RGBA pixels as WebP: lossy at `quality` (0...100), or lossless keeping every value exactly
/// (then `quality` is ignored and libwebp's default effort is used).
int lio_webp_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels, int32_t quality,
                    int32_t lossless, lio_buffer *out, char *message, size_t message_capacity);

/// Reads a whole regular file into a malloc'd buffer.
int lio_read_file(const char *path, lio_buffer *out, char *message, size_t message_capacity);
/// Writes `data` to `path` atomically: a temporary file in the same directory is written, fsynced and
/// renamed over `path`. On failure no temporary file remains and `path` is untouched.
int lio_write_file_atomic(const char *path, const uint8_t *data, size_t size,
                          char *message, size_t message_capacity);

#ifdef __cplusplus
}
#endif

#endif
