// Whole-file reads and atomic writes with plain POSIX calls, so failures carry strerror text.
#define _GNU_SOURCE
#include "lio_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int lio_read_file(const char *path, lio_buffer *out, char *message, size_t message_capacity) {
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lio_fail(LIO_ERR_IO, message, message_capacity, "%s", strerror(errno));
    struct stat info;
    if (fstat(fd, &info) != 0) {
        int saved = errno;
        close(fd);
        return lio_fail(LIO_ERR_IO, message, message_capacity, "%s", strerror(saved));
    }
    if (!S_ISREG(info.st_mode)) {
        close(fd);
        return lio_fail(LIO_ERR_IO, message, message_capacity, "not a regular file");
    }
    size_t capacity = info.st_size > 0 ? (size_t)info.st_size : 1;
    uint8_t *data = malloc(capacity);
    size_t size = 0;
    for (;;) {
        if (data == NULL) {
            close(fd);
            return lio_fail(LIO_ERR_NO_MEMORY, message, message_capacity, "out of memory");
        }
        if (size == capacity) {
            // The file grew since fstat; keep reading.
            uint8_t *grown = realloc(data, capacity * 2);
            if (grown == NULL) free(data);
            data = grown;
            capacity *= 2;
            continue;
        }
        ssize_t got = read(fd, data + size, capacity - size);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            int saved = errno;
            free(data);
            close(fd);
            return lio_fail(LIO_ERR_IO, message, message_capacity, "%s", strerror(saved));
        }
        if (got == 0) break;
        size += (size_t)got;
    }
    close(fd);
    out->data = data;
    out->size = size;
    return LIO_OK;
}

/// The process umask, read without the racy umask(0)/umask(old) dance; 022 if /proc is unavailable.
static mode_t lio_current_umask(void) {
    mode_t mask = 022;
    FILE *status = fopen("/proc/self/status", "re");
    if (status == NULL) return mask;
    char line[256];
    while (fgets(line, sizeof(line), status) != NULL) {
        unsigned value;
        if (sscanf(line, "Umask: %o", &value) == 1) {
            mask = (mode_t)value;
            break;
        }
    }
    fclose(status);
    return mask;
}

int lio_write_file_atomic(const char *path, const uint8_t *data, size_t size,
                          char *message, size_t message_capacity) {
    if (path == NULL || path[0] == '\0') {
        return lio_fail(LIO_ERR_INVALID_ARGUMENT, message, message_capacity, "empty path");
    }
    const char *slash = strrchr(path, '/');
    size_t directory_length = slash == NULL ? 0 : (size_t)(slash - path);
    const char *base = slash == NULL ? path : slash + 1;
    if (base[0] == '\0') return lio_fail(LIO_ERR_IO, message, message_capacity, "path names a directory");
    char directory[4096];
    if (slash == NULL) {
        strcpy(directory, ".");
    } else if (directory_length == 0) {
        strcpy(directory, "/");
    } else if (directory_length < sizeof(directory)) {
        memcpy(directory, path, directory_length);
        directory[directory_length] = '\0';
    } else {
        return lio_fail(LIO_ERR_IO, message, message_capacity, "path too long");
    }
    char temporary[4096 + 64];
    // Keep the hidden temporary name within NAME_MAX by shortening a long base name.
    int written = snprintf(temporary, sizeof(temporary), "%s/.%.200s.tmp-XXXXXX", directory, base);
    if (written < 0 || (size_t)written >= sizeof(temporary)) {
        return lio_fail(LIO_ERR_IO, message, message_capacity, "path too long");
    }
    int fd = mkostemp(temporary, O_CLOEXEC);
    if (fd < 0) return lio_fail(LIO_ERR_IO, message, message_capacity, "%s", strerror(errno));

    const char *step = NULL;
    int error = 0;
    struct stat existing;
    mode_t mode = stat(path, &existing) == 0 && S_ISREG(existing.st_mode) ? (existing.st_mode & 07777)
                                                                         : (0666 & ~lio_current_umask());
    if (fchmod(fd, mode) != 0) {
        step = "chmod";
        error = errno;
    }
    size_t done = 0;
    while (step == NULL && done < size) {
        ssize_t put = write(fd, data + done, size - done);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) {
            step = "write";
            error = errno;
        } else {
            done += (size_t)put;
        }
    }
    if (step == NULL && fsync(fd) != 0) {
        step = "fsync";
        error = errno;
    }
    if (close(fd) != 0 && step == NULL) {
        step = "close";
        error = errno;
    }
    if (step == NULL && rename(temporary, path) != 0) {
        step = "rename";
        error = errno;
    }
    if (step != NULL) {
        unlink(temporary);
        return lio_fail(LIO_ERR_IO, message, message_capacity, "%s failed: %s", step, strerror(error));
    }
    // Persist the rename itself; failure here cannot be undone and the data is already in place.
    int directory_fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory_fd >= 0) {
        fsync(directory_fd);
        close(directory_fd);
    }
    return LIO_OK;
}
