/* ht_util.c - clocks, files and strings (ids live in ht_id.c). */
#include "ht_util.h"

#include "ht_err.h"
#include "ht_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t ht_time_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t ht_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ht_mono_ms(void)
{
    return ht_mono_ns() / 1000000u;
}

int ht_file_read(const char *path, size_t max, char **out, size_t *len)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = HT_OK;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size : 4096;
    if (cap > max)
        cap = max + 1;
    char *buf = ht_malloc(cap + 1);
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                free(buf);
                rc = HT_ETOOBIG;
                goto out;
            }
            cap *= 2;
            buf = ht_realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            free(buf);
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max) {
        free(buf);
        rc = HT_ETOOBIG;
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
out:
    close(fd);
    return rc;
}

int ht_file_write_atomic(const char *path, const void *buf, size_t len,
                         unsigned mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >=
        (int)sizeof tmp)
        return HT_ETOOBIG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    int rc = HT_OK;
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        p += w;
        len -= (size_t)w;
    }
    if (rc == HT_OK && fsync(fd) < 0)
        rc = -errno;
    if (fchmod(fd, mode) < 0 && rc == HT_OK)
        rc = -errno;
    close(fd);
    if (rc == HT_OK && rename(tmp, path) < 0)
        rc = -errno;
    if (rc != HT_OK)
        unlink(tmp);
    return rc;
}

int ht_mkdir_p(const char *path, unsigned mode)
{
    char buf[PATH_MAX];
    if (ht_strlcpy(buf, path, sizeof buf) >= sizeof buf)
        return HT_ETOOBIG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    return HT_OK;
}

size_t ht_strlcpy(char *dst, const char *src, size_t dstlen)
{
    size_t n = strlen(src);
    if (dstlen) {
        size_t c = n < dstlen - 1 ? n : dstlen - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

int ht_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return HT_EINVAL;
    size_t hl = (size_t)(colon - s);
    if (hl == 0) {
        if (ht_strlcpy(host, "127.0.0.1", hostlen) >= hostlen)
            return HT_ETOOBIG;
    } else {
        if (hl >= hostlen)
            return HT_ETOOBIG;
        memcpy(host, s, hl);
        host[hl] = '\0';
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p < 1 || p > 65535)
        return HT_ERANGE;
    *port = (int)p;
    return HT_OK;
}
