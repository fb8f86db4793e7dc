/* ht_mem.c - allocation wrappers: log and abort on OOM. */
#include "ht_mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes with write(2), not the logger: the logger may itself allocate. */
static void oom(size_t n)
{
    char msg[96];
    int len =
        snprintf(msg, sizeof msg, "holotwin: out of memory (%zu bytes)\n", n);
    if (len > 0 && write(STDERR_FILENO, msg, (size_t)len) < 0) {
        /* nothing left to do */
    }
    abort();
}

void *ht_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *ht_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *ht_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *ht_strdup(const char *s)
{
    return ht_strndup(s, strlen(s));
}

char *ht_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = ht_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *ht_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    return p;
}
