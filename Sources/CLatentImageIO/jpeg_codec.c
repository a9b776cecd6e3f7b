// JPEG through libjpeg-turbo. Errors longjmp out of the library; as in png_codec.c, every value that must
// survive the jump lives in a state struct owned by the caller of the function holding the setjmp.
#include "lio_internal.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

static const uint8_t jpeg_signature[3] = {0xFF, 0xD8, 0xFF};

typedef struct jpeg_state {
    struct jpeg_error_mgr manager;  // first member: libjpeg hands back a pointer to it
    jmp_buf jump;
    int truncated;
    char reason[JMSG_LENGTH_MAX];
    uint8_t *row;                   // CMYK scanline scratch
    unsigned char *encoded;         // jpeg_mem_dest output, malloc'd by libjpeg
    unsigned long encoded_size;
} jpeg_state;

static void jpeg_error_exit_jump(j_common_ptr info) {
    jpeg_state *state = (jpeg_state *)info->err;
    if (info->err->msg_code == JERR_INPUT_EOF) state->truncated = 1;
    info->err->format_message(info, state->reason);
    longjmp(state->jump, 1);
}

/// Warnings are tolerated like other decoders do, except the end-of-data warning: libjpeg pads a truncated
/// stream with a fake EOI and carries on, which would otherwise return a half-gray image as success.
static void jpeg_emit_message(j_common_ptr info, int level) {
    jpeg_state *state = (jpeg_state *)info->err;
    if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF) state->truncated = 1;
}

static void jpeg_output_nothing(j_common_ptr info) { (void)info; }

static void jpeg_state_init(jpeg_state *state) {
    memset(state, 0, sizeof(*state));
    jpeg_std_error(&state->manager);
    state->manager.error_exit = jpeg_error_exit_jump;
    state->manager.emit_message = jpeg_emit_message;
    state->manager.output_message = jpeg_output_nothing;
}

static inline uint8_t jpeg_mul255(unsigned a, unsigned b) {
    unsigned product = a * b + 128;
    return (uint8_t)((product + (product >> 8)) >> 8);
}

/// CMYK to RGB as 255 * (1 - C) * (1 - K). Adobe-marked files (Photoshop) store the channels inverted.
static void jpeg_cmyk_row_to_rgb(const uint8_t *cmyk, uint8_t *rgb, size_t width, int inverted) {
    for (size_t x = 0; x < width; x++) {
        unsigned c = cmyk[4 * x], m = cmyk[4 * x + 1], y = cmyk[4 * x + 2], k = cmyk[4 * x + 3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        rgb[3 * x] = jpeg_mul255(c, k);
        rgb[3 * x + 1] = jpeg_mul255(m, k);
        rgb[3 * x + 2] = jpeg_mul255(y, k);
    }
}

static int jpeg_decode_inner(jpeg_state *state, struct jpeg_decompress_struct *info, const uint8_t *data,
                             size_t size, uint64_t max_pixels, lio_decoded *out, char *message, size_t capacity) {
    if (setjmp(state->jump)) {
        if (state->truncated) return lio_fail(LIO_ERR_TRUNCATED, message, capacity, "truncated JPEG data");
        return lio_fail(LIO_ERR_CORRUPT, message, capacity, "corrupt JPEG data: %s", state->reason);
    }
    jpeg_create_decompress(info);
    jpeg_mem_src(info, data, (unsigned long)size);
    jpeg_read_header(info, TRUE);
    if (state->truncated) return lio_fail(LIO_ERR_TRUNCATED, message, capacity, "truncated JPEG data");
    int code = lio_check_size(info->image_width, info->image_height, max_pixels, out, message, capacity);
    if (code != LIO_OK) return code;
    int cmyk = info->jpeg_color_space == JCS_CMYK || info->jpeg_color_space == JCS_YCCK;
    info->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(info);
    size_t width = info->output_width, height = info->output_height;
    if (info->output_components != (cmyk ? 4 : 3)) {
        return lio_fail(LIO_ERR_UNSUPPORTED, message, capacity, "unsupported JPEG with %d components",
                        info->output_components);
    }
    out->pixels = lio_alloc_pixels(width, height, 3);
    if (cmyk) state->row = malloc(width * 4);
    if (out->pixels == NULL || (cmyk && state->row == NULL)) {
        return lio_fail(LIO_ERR_NO_MEMORY, message, capacity, "out of memory decoding a %zux%zu JPEG", width, height);
    }
    while (info->output_scanline < height) {
        uint8_t *destination = out->pixels + (size_t)info->output_scanline * width * 3;
        JSAMPROW row = cmyk ? state->row : destination;
        if (jpeg_read_scanlines(info, &row, 1) != 1) break;
        if (cmyk) jpeg_cmyk_row_to_rgb(state->row, destination, width, info->saw_Adobe_marker);
    }
    if (state->truncated || info->output_scanline < height) {
        return lio_fail(LIO_ERR_TRUNCATED, message, capacity, "truncated JPEG data");
    }
    // Finishing reads up to EOI, so a file cut after its last scanline is caught here.
    jpeg_finish_decompress(info);
    if (state->truncated) return lio_fail(LIO_ERR_TRUNCATED, message, capacity, "truncated JPEG data");
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->channels = 3;
    return LIO_OK;
}

int lio_jpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels, lio_decoded *out,
                    char *message, size_t message_capacity) {
    memset(out, 0, sizeof(*out));
    switch (lio_check_signature(data, size, jpeg_signature, sizeof(jpeg_signature))) {
    case LIO_ERR_EMPTY: return lio_fail(LIO_ERR_EMPTY, message, message_capacity, "empty JPEG data");
    case LIO_ERR_TRUNCATED:
        return lio_fail(LIO_ERR_TRUNCATED, message, message_capacity, "truncated JPEG data (%zu bytes)", size);
    case LIO_ERR_NOT_FORMAT: return lio_fail(LIO_ERR_NOT_FORMAT, message, message_capacity, "not a JPEG image");
    default: break;
    }
    jpeg_state state;
    jpeg_state_init(&state);
    struct jpeg_decompress_struct info;
    memset(&info, 0, sizeof(info));
    info.err = &state.manager;
    int code = jpeg_decode_inner(&state, &info, data, size, max_pixels, out, message, message_capacity);
    jpeg_destroy_decompress(&info);
    free(state.row);
    if (code != LIO_OK) {
        int32_t width = out->width, height = out->height;
        lio_decoded_free(out);
        if (code == LIO_ERR_TOO_LARGE) {
            out->width = width;
            out->height = height;
        }
    }
    return code;
}

static int jpeg_encode_inner(jpeg_state *state, struct jpeg_compress_struct *info, const uint8_t *pixels,
                             int32_t width, int32_t height, int32_t channels, int32_t quality,
                             char *message, size_t capacity) {
    if (setjmp(state->jump)) {
        return lio_fail(LIO_ERR_INVALID_ARGUMENT, message, capacity, "cannot encode JPEG: %s", state->reason);
    }
    jpeg_create_compress(info);
    jpeg_mem_dest(info, &state->encoded, &state->encoded_size);
    info->image_width = (JDIMENSION)width;
    info->image_height = (JDIMENSION)height;
    info->input_components = channels;
    // libjpeg-turbo reads RGBA rows directly and ignores the fourth byte.
    info->in_color_space = channels == 4 ? JCS_EXT_RGBA : JCS_RGB;
    jpeg_set_defaults(info);
    jpeg_set_quality(info, quality, TRUE);
    jpeg_start_compress(info, TRUE);
    size_t row_bytes = (size_t)width * (size_t)channels;
    while (info->next_scanline < info->image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)info->next_scanline * row_bytes);
        jpeg_write_scanlines(info, &row, 1);
    }
    jpeg_finish_compress(info);
    return LIO_OK;
}

int lio_jpeg_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels, int32_t quality,
                    lio_buffer *out, char *message, size_t message_capacity) {
    out->data = NULL;
    out->size = 0;
    if (pixels == NULL || width <= 0 || height <= 0 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION ||
        (channels != 3 && channels != 4)) {
        return lio_fail(LIO_ERR_INVALID_ARGUMENT, message, message_capacity,
                        "cannot encode JPEG: invalid image (%dx%d, %d channels; at most %d pixels a side)",
                        width, height, channels, (int)JPEG_MAX_DIMENSION);
    }
    if (quality < 1) quality = 1;
    if (quality > 100) quality = 100;
    jpeg_state state;
    jpeg_state_init(&state);
    struct jpeg_compress_struct info;
    memset(&info, 0, sizeof(info));
    info.err = &state.manager;
    int code = jpeg_encode_inner(&state, &info, pixels, width, height, channels, quality, message, message_capacity);
    jpeg_destroy_compress(&info);
    if (code != LIO_OK) {
        free(state.encoded);
        return code;
    }
    out->data = state.encoded;
    out->size = state.encoded_size;
    return LIO_OK;
}
