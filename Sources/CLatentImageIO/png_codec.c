// PNG through libpng. libpng reports errors by longjmp; each public function keeps all state that must
// survive a longjmp in a struct owned by its caller frame and runs the libpng calls in an inner function
// that holds the setjmp, so no automatic variable of the setjmp frame is modified after setjmp.
#include "lio_internal.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};

typedef struct png_read_state {
    const uint8_t *data;
    size_t size;
    size_t position;
    int truncated;
    uint64_t max_pixels;
    png_structp png;
    png_infop info;
    png_bytep *rows;
    lio_decoded *out;
    char *message;
    size_t capacity;
    int code;
} png_read_state;

typedef struct png_write_state {
    uint8_t *data;
    size_t size;
    size_t capacity_bytes;
    int out_of_memory;
    png_structp png;
    png_infop info;
    png_bytep *rows;
    png_textp texts;
    char *message;
    size_t capacity;
} png_write_state;

static void png_error_read(png_structp png, png_const_charp text) {
    png_read_state *state = png_get_error_ptr(png);
    if (state->truncated) {
        lio_fail(LIO_ERR_TRUNCATED, state->message, state->capacity, "truncated PNG data (%s)", text);
        state->code = LIO_ERR_TRUNCATED;
    } else {
        lio_fail(LIO_ERR_CORRUPT, state->message, state->capacity, "corrupt PNG data: %s", text);
        state->code = LIO_ERR_CORRUPT;
    }
    png_longjmp(png, 1);
}

static void png_warning_ignore(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void png_read_memory(png_structp png, png_bytep destination, size_t length) {
    png_read_state *state = png_get_io_ptr(png);
    if (state->size - state->position < length) {
        state->truncated = 1;
        png_error(png, "unexpected end of data");
    }
    memcpy(destination, state->data + state->position, length);
    state->position += length;
}

/// Copies the text chunks out of libpng's storage, which dies with the read struct.
static int png_collect_text(png_read_state *state) {
    png_textp texts = NULL;
    int count = 0;
    png_get_text(state->png, state->info, &texts, &count);
    if (count <= 0) return LIO_OK;
    lio_decoded *out = state->out;
    out->texts = calloc((size_t)count, sizeof(lio_text_entry));
    if (out->texts == NULL) return LIO_ERR_NO_MEMORY;
    for (int i = 0; i < count; i++) {
        lio_text_entry *entry = &out->texts[out->text_count];
        entry->key = strdup(texts[i].key != NULL ? texts[i].key : "");
        entry->value = strdup(texts[i].text != NULL ? texts[i].text : "");
        entry->utf8 = texts[i].compression == PNG_ITXT_COMPRESSION_NONE ||
                      texts[i].compression == PNG_ITXT_COMPRESSION_zTXt;
        out->text_count++;
        if (entry->key == NULL || entry->value == NULL) return LIO_ERR_NO_MEMORY;
    }
    return LIO_OK;
}

static int png_decode_inner(png_read_state *state) {
    if (setjmp(png_jmpbuf(state->png))) {
        return state->code != LIO_OK ? state->code : LIO_ERR_CORRUPT;
    }
    png_structp png = state->png;
    png_infop info = state->info;
    png_set_read_fn(png, state, png_read_memory);
    // Dimensions are bounded by the caller's max_pixels check below instead of libpng's 1M default.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    int code = lio_check_size(width, height, state->max_pixels, state->out, state->message, state->capacity);
    if (code != LIO_OK) return code;

    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_scale_16(png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if ((channels != 3 && channels != 4) || row_bytes != (size_t)width * (size_t)channels) {
        return lio_fail(LIO_ERR_UNSUPPORTED, state->message, state->capacity,
                        "unsupported PNG layout (color type %d, bit depth %d)", color_type, bit_depth);
    }
    state->out->pixels = lio_alloc_pixels(width, height, (uint64_t)channels);
    state->rows = malloc(sizeof(png_bytep) * height);
    if (state->out->pixels == NULL || state->rows == NULL) {
        return lio_fail(LIO_ERR_NO_MEMORY, state->message, state->capacity,
                        "out of memory decoding a %ux%u PNG", width, height);
    }
    for (png_uint_32 y = 0; y < height; y++) state->rows[y] = state->out->pixels + (size_t)y * row_bytes;
    png_read_image(png, state->rows);
    // Text chunks may follow the image data; reading the end with the same info struct collects them.
    png_read_end(png, info);

    state->out->width = (int32_t)width;
    state->out->height = (int32_t)height;
    state->out->channels = channels;
    if (png_collect_text(state) != LIO_OK) {
        return lio_fail(LIO_ERR_NO_MEMORY, state->message, state->capacity, "out of memory reading PNG text");
    }
    return LIO_OK;
}

int lio_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels, lio_decoded *out,
                   char *message, size_t message_capacity) {
    memset(out, 0, sizeof(*out));
    switch (lio_check_signature(data, size, png_signature, sizeof(png_signature))) {
    case LIO_ERR_EMPTY: return lio_fail(LIO_ERR_EMPTY, message, message_capacity, "empty PNG data");
    case LIO_ERR_TRUNCATED:
        return lio_fail(LIO_ERR_TRUNCATED, message, message_capacity, "truncated PNG data (%zu bytes)", size);
    case LIO_ERR_NOT_FORMAT: return lio_fail(LIO_ERR_NOT_FORMAT, message, message_capacity, "not a PNG image");
    default: break;
    }
    png_read_state state;
    memset(&state, 0, sizeof(state));
    state.data = data;
    state.size = size;
    state.max_pixels = max_pixels;
    state.out = out;
    state.message = message;
    state.capacity = message_capacity;
    state.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, png_error_read, png_warning_ignore);
    if (state.png != NULL) state.info = png_create_info_struct(state.png);
    int code;
    if (state.png == NULL || state.info == NULL) {
        code = lio_fail(LIO_ERR_NO_MEMORY, message, message_capacity, "cannot create PNG decoder");
    } else {
        code = png_decode_inner(&state);
    }
    png_destroy_read_struct(state.png != NULL ? &state.png : NULL, state.info != NULL ? &state.info : NULL, NULL);
    free(state.rows);
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

static void png_error_write(png_structp png, png_const_charp text) {
    png_write_state *state = png_get_error_ptr(png);
    lio_fail(LIO_ERR_INVALID_ARGUMENT, state->message, state->capacity, "cannot encode PNG: %s", text);
    png_longjmp(png, 1);
}

static void png_write_memory(png_structp png, png_bytep source, size_t length) {
    png_write_state *state = png_get_io_ptr(png);
    if (state->capacity_bytes - state->size < length) {
        size_t wanted = state->capacity_bytes == 0 ? 65536 : state->capacity_bytes;
        while (wanted - state->size < length) {
            if (wanted > SIZE_MAX / 2) break;
            wanted *= 2;
        }
        uint8_t *grown = wanted - state->size >= length ? realloc(state->data, wanted) : NULL;
        if (grown == NULL) {
            state->out_of_memory = 1;
            png_error(png, "out of memory");
        }
        state->data = grown;
        state->capacity_bytes = wanted;
    }
    memcpy(state->data + state->size, source, length);
    state->size += length;
}

static void png_flush_nothing(png_structp png) { (void)png; }

static int png_encode_inner(png_write_state *state, const uint8_t *pixels, int32_t width, int32_t height,
                            int32_t channels, const lio_text_input *texts, int32_t text_count) {
    if (setjmp(png_jmpbuf(state->png))) {
        return state->out_of_memory ? LIO_ERR_NO_MEMORY : LIO_ERR_INVALID_ARGUMENT;
    }
    png_structp png = state->png;
    png_infop info = state->info;
    png_set_write_fn(png, state, png_write_memory, png_flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (text_count > 0) {
        state->texts = calloc((size_t)text_count, sizeof(png_text));
        if (state->texts == NULL) {
            state->out_of_memory = 1;
            png_error(png, "out of memory");
        }
        for (int32_t i = 0; i < text_count; i++) {
            png_textp text = &state->texts[i];
            text->compression = texts[i].utf8 ? PNG_ITXT_COMPRESSION_NONE : PNG_TEXT_COMPRESSION_NONE;
            text->key = (png_charp)texts[i].key;
            text->text = (png_charp)texts[i].value;
            text->text_length = texts[i].utf8 ? 0 : strlen(texts[i].value);
            text->itxt_length = texts[i].utf8 ? strlen(texts[i].value) : 0;
        }
        png_set_text(png, info, state->texts, text_count);
    }
    png_write_info(png, info);
    state->rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (state->rows == NULL) {
        state->out_of_memory = 1;
        png_error(png, "out of memory");
    }
    size_t row_bytes = (size_t)width * (size_t)channels;
    for (int32_t y = 0; y < height; y++) state->rows[y] = (png_bytep)(pixels + (size_t)y * row_bytes);
    png_write_image(png, state->rows);
    png_write_end(png, NULL);
    return LIO_OK;
}

int lio_png_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels,
                   const lio_text_input *texts, int32_t text_count, lio_buffer *out,
                   char *message, size_t message_capacity) {
    out->data = NULL;
    out->size = 0;
    if (pixels == NULL || width <= 0 || height <= 0 || (channels != 3 && channels != 4) || text_count < 0) {
        return lio_fail(LIO_ERR_INVALID_ARGUMENT, message, message_capacity,
                        "cannot encode PNG: invalid image (%dx%d, %d channels)", width, height, channels);
    }
    png_write_state state;
    memset(&state, 0, sizeof(state));
    state.message = message;
    state.capacity = message_capacity;
    state.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, png_error_write, png_warning_ignore);
    if (state.png != NULL) state.info = png_create_info_struct(state.png);
    int code;
    if (state.png == NULL || state.info == NULL) {
        code = lio_fail(LIO_ERR_NO_MEMORY, message, message_capacity, "cannot create PNG encoder");
    } else {
        code = png_encode_inner(&state, pixels, width, height, channels, texts, text_count);
    }
    png_destroy_write_struct(state.png != NULL ? &state.png : NULL, state.info != NULL ? &state.info : NULL);
    free(state.rows);
    free(state.texts);
    if (code != LIO_OK) {
        if (code == LIO_ERR_NO_MEMORY) lio_fail(code, message, message_capacity, "out of memory encoding PNG");
        free(state.data);
        return code;
    }
    out->data = state.data;
    out->size = state.size;
    return LIO_OK;
}
