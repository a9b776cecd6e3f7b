// WebP through libwebp, which reports errors by status codes (no longjmp).
#include "lio_internal.h"

#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/encode.h>

static const char *webp_status_text(VP8StatusCode status) {
    switch (status) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data";
    default: return "unknown error";
    }
}

static int webp_status_code(VP8StatusCode status, char *message, size_t capacity) {
    switch (status) {
    case VP8_STATUS_NOT_ENOUGH_DATA: return lio_fail(LIO_ERR_TRUNCATED, message, capacity, "truncated WebP data");
    case VP8_STATUS_OUT_OF_MEMORY: return lio_fail(LIO_ERR_NO_MEMORY, message, capacity, "out of memory decoding WebP");
    case VP8_STATUS_UNSUPPORTED_FEATURE:
        return lio_fail(LIO_ERR_UNSUPPORTED, message, capacity, "unsupported WebP feature");
    default:
        return lio_fail(LIO_ERR_CORRUPT, message, capacity, "corrupt WebP data: %s", webp_status_text(status));
    }
}

/// True when `data` starts like a RIFF/WEBP container (bytes 4-7 hold the size and may be anything).
static int webp_check_signature(const uint8_t *data, size_t size) {
    static const uint8_t riff[4] = {'R', 'I', 'F', 'F'};
    static const uint8_t webp[4] = {'W', 'E', 'B', 'P'};
    if (size == 0 || data == NULL) return LIO_ERR_EMPTY;
    size_t head = size < 4 ? size : 4;
    if (memcmp(data, riff, head) != 0) return LIO_ERR_NOT_FORMAT;
    if (size <= 8) return LIO_ERR_TRUNCATED;
    size_t tail = size < 12 ? size - 8 : 4;
    if (memcmp(data + 8, webp, tail) != 0) return LIO_ERR_NOT_FORMAT;
    return size < 12 ? LIO_ERR_TRUNCATED : LIO_OK;
}

int lio_webp_decode(const uint8_t *data, size_t size, uint64_t max_pixels, lio_decoded *out,
                    char *message, size_t message_capacity) {
    memset(out, 0, sizeof(*out));
    switch (webp_check_signature(data, size)) {
    case LIO_ERR_EMPTY: return lio_fail(LIO_ERR_EMPTY, message, message_capacity, "empty WebP data");
    case LIO_ERR_TRUNCATED:
        return lio_fail(LIO_ERR_TRUNCATED, message, message_capacity, "truncated WebP data (%zu bytes)", size);
    case LIO_ERR_NOT_FORMAT: return lio_fail(LIO_ERR_NOT_FORMAT, message, message_capacity, "not a WebP image");
    default: break;
    }
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) {
        return lio_fail(LIO_ERR_UNSUPPORTED, message, message_capacity, "libwebp version mismatch");
    }
    VP8StatusCode status = WebPGetFeatures(data, size, &config.input);
    if (status != VP8_STATUS_OK) return webp_status_code(status, message, message_capacity);
    if (config.input.has_animation) {
        return lio_fail(LIO_ERR_UNSUPPORTED, message, message_capacity, "animated WebP is not supported");
    }
    uint64_t width = (uint64_t)config.input.width, height = (uint64_t)config.input.height;
    int code = lio_check_size(width, height, max_pixels, out, message, message_capacity);
    if (code != LIO_OK) return code;
    int channels = config.input.has_alpha ? 4 : 3;
    out->pixels = lio_alloc_pixels(width, height, (uint64_t)channels);
    if (out->pixels == NULL) {
        return lio_fail(LIO_ERR_NO_MEMORY, message, message_capacity, "out of memory decoding a %llux%llu WebP",
                        (unsigned long long)width, (unsigned long long)height);
    }
    config.output.colorspace = channels == 4 ? MODE_RGBA : MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = out->pixels;
    config.output.u.RGBA.stride = (int)(width * (uint64_t)channels);
    config.output.u.RGBA.size = (size_t)(width * height * (uint64_t)channels);
    status = WebPDecode(data, size, &config);
    WebPFreeDecBuffer(&config.output);
    if (status != VP8_STATUS_OK) {
        lio_decoded_free(out);
        return webp_status_code(status, message, message_capacity);
    }
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->channels = channels;
    return LIO_OK;
}

static const char *webp_encoding_error_text(WebPEncodingError error) {
    switch (error) {
    case VP8_ENC_ERROR_OUT_OF_MEMORY:
    case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY: return "out of memory";
    case VP8_ENC_ERROR_BAD_DIMENSION: return "bad dimension (at most 16383 pixels a side)";
    case VP8_ENC_ERROR_PARTITION0_OVERFLOW:
    case VP8_ENC_ERROR_PARTITION_OVERFLOW: return "partition overflow";
    case VP8_ENC_ERROR_FILE_TOO_BIG: return "file too big";
    default: return "encoder failure";
    }
}

int lio_webp_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels, int32_t quality,
                    int32_t lossless, lio_buffer *out, char *message, size_t message_capacity) {
    out->data = NULL;
    out->size = 0;
    if (pixels == NULL || width <= 0 || height <= 0 || width > WEBP_MAX_DIMENSION || height > WEBP_MAX_DIMENSION ||
        (channels != 3 && channels != 4)) {
        return lio_fail(LIO_ERR_INVALID_ARGUMENT, message, message_capacity,
                        "cannot encode WebP: invalid image (%dx%d, %d channels; at most %d pixels a side)",
                        width, height, channels, WEBP_MAX_DIMENSION);
    }
    WebPConfig config;
    if (!WebPConfigInit(&config)) {
        return lio_fail(LIO_ERR_UNSUPPORTED, message, message_capacity, "libwebp version mismatch");
    }
    if (quality < 0) quality = 0;
    if (quality > 100) quality = 100;
    config.quality = (float)quality;
    if (lossless) {
        // For lossless, quality means compression effort; keep libwebp's default rather than the caller's
        // visual quality, which would make large images needlessly slow to encode.
        config.quality = 75.0f;
        config.lossless = 1;
        // Keep RGB under fully transparent pixels so a lossless round trip is bit exact.
        config.exact = 1;
    }
    if (!WebPValidateConfig(&config)) {
        return lio_fail(LIO_ERR_INVALID_ARGUMENT, message, message_capacity, "cannot encode WebP: invalid settings");
    }
    WebPPicture picture;
    if (!WebPPictureInit(&picture)) {
        return lio_fail(LIO_ERR_UNSUPPORTED, message, message_capacity, "libwebp version mismatch");
    }
    picture.width = width;
    picture.height = height;
    picture.use_argb = lossless ? 1 : 0;
    int stride = width * channels;
    int imported = channels == 4 ? WebPPictureImportRGBA(&picture, pixels, stride)
                                 : WebPPictureImportRGB(&picture, pixels, stride);
    if (!imported) {
        WebPPictureFree(&picture);
        return lio_fail(LIO_ERR_NO_MEMORY, message, message_capacity, "out of memory encoding WebP");
    }
    WebPMemoryWriter writer;
    WebPMemoryWriterInit(&writer);
    picture.writer = WebPMemoryWrite;
    picture.custom_ptr = &writer;
    int ok = WebPEncode(&config, &picture);
    WebPEncodingError error = picture.error_code;
    WebPPictureFree(&picture);
    int code = LIO_OK;
    if (!ok) {
        code = lio_fail(error == VP8_ENC_ERROR_OUT_OF_MEMORY ? LIO_ERR_NO_MEMORY : LIO_ERR_INVALID_ARGUMENT,
                        message, message_capacity, "cannot encode WebP: %s", webp_encoding_error_text(error));
    } else {
        // Hand back malloc'd memory so one free routine serves every codec.
        out->data = malloc(writer.size);
        if (out->data == NULL) {
            code = lio_fail(LIO_ERR_NO_MEMORY, message, message_capacity, "out of memory encoding WebP");
        } else {
            memcpy(out->data, writer.mem, writer.size);
            out->size = writer.size;
        }
    }
    WebPMemoryWriterClear(&writer);
    return code;
}
