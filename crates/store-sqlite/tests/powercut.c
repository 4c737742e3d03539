/* A power cut for the files of one folder, loaded with LD_PRELOAD into a process that
 * writes a SQLite store there. Each time a file under $POWERCUT_DIR is synced (fsync,
 * fdatasync), its whole content is copied to "<file>.synced": what the disk holds for
 * certain. After the process is killed, the test puts each file back to its ".synced" copy
 * (and removes a file that was never synced): the disk as a power cut leaves it when every
 * write not yet synced is lost. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FDS 4096
static char *tracked[MAX_FDS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void track(int fd, const char *path) {
    const char *dir = getenv("POWERCUT_DIR");
    if (fd < 0 || fd >= MAX_FDS || dir == NULL || strncmp(path, dir, strlen(dir)) != 0) {
        return;
    }
    pthread_mutex_lock(&lock);
    free(tracked[fd]);
    tracked[fd] = strdup(path);
    pthread_mutex_unlock(&lock);
}

/* Copies the file open as `fd` to "<path>.synced", through a temporary file renamed over
 * it, so that a kill in the middle leaves the previous copy whole. */
static int real_close(int fd) {
    int (*real)(int) = dlsym(RTLD_NEXT, "close");
    return real(fd);
}

static void snapshot(int fd) {
    struct stat st;
    if (fd < 0 || fd >= MAX_FDS || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        return;
    }
    pthread_mutex_lock(&lock);
    const char *path = tracked[fd];
    if (path != NULL) {
        char copy[PATH_MAX], partial[PATH_MAX];
        snprintf(copy, sizeof copy, "%s.synced", path);
        snprintf(partial, sizeof partial, "%s.synced.partial", path);
        int (*real_open)(const char *, int, ...) = dlsym(RTLD_NEXT, "open");
        int out = real_open(partial, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        char buffer[1 << 16];
        off_t at = 0;
        ssize_t got;
        while (out >= 0 && (got = pread(fd, buffer, sizeof buffer, at)) > 0) {
            if (write(out, buffer, (size_t)got) != got) {
                break;
            }
            at += got;
        }
        if (out >= 0) {
            real_close(out);
            rename(partial, copy);
        }
    }
    pthread_mutex_unlock(&lock);
}

/* The real `name` (open or open64) called with the mode when the flags create a file. */
#define FORWARD_OPEN(name)                                              \
    int name(const char *path, int flags, ...) {                        \
        int (*real)(const char *, int, ...) = dlsym(RTLD_NEXT, #name);  \
        va_list args;                                                   \
        va_start(args, flags);                                          \
        mode_t mode = (flags & O_CREAT) ? va_arg(args, mode_t) : 0;     \
        va_end(args);                                                   \
        int fd = real(path, flags, mode);                               \
        track(fd, path);                                                \
        return fd;                                                      \
    }

/* The real `name` (fsync or fdatasync), then the copy of what it made durable. */
#define FORWARD_SYNC(name)                                              \
    int name(int fd) {                                                  \
        int (*real)(int) = dlsym(RTLD_NEXT, #name);                     \
        int result = real(fd);                                          \
        if (result == 0) {                                              \
            snapshot(fd);                                               \
        }                                                               \
        return result;                                                  \
    }

FORWARD_OPEN(open)
FORWARD_OPEN(open64)
FORWARD_SYNC(fsync)
FORWARD_SYNC(fdatasync)

int close(int fd) {
    if (fd >= 0 && fd < MAX_FDS) {
        pthread_mutex_lock(&lock);
        free(tracked[fd]);
        tracked[fd] = NULL;
        pthread_mutex_unlock(&lock);
    }
    return real_close(fd);
}
