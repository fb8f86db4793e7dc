/* ht_util.h - small helpers shared by the daemons and tools: clocks, files
 * and strings. Includes ht_id.h (ids, names, hex) for older callers. */
#ifndef HT_UTIL_H
#define HT_UTIL_H

#include "ht_id.h" /* ids, names, hex (pure; were here) */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wall-clock milliseconds since the epoch (for "ts" fields). */
int64_t ht_time_ms(void);
/* Monotonic milliseconds (for intervals). */
uint64_t ht_mono_ms(void);
/* Monotonic nanoseconds. */
uint64_t ht_mono_ns(void);

/* Read a whole file into new memory (NUL-terminated; caller frees).
 * Files larger than max are refused with HT_ETOOBIG. *len may be NULL. */
int ht_file_read(const char *path, size_t max, char **out, size_t *len);
/* Write atomically (temp file + fsync + rename) with the given mode. */
int ht_file_write_atomic(const char *path, const void *buf, size_t len,
                         unsigned mode);
/* mkdir -p with mode for the directories it creates. */
int ht_mkdir_p(const char *path, unsigned mode);

/* Copy at most dstlen-1 bytes and NUL-terminate; returns strlen(src). */
size_t ht_strlcpy(char *dst, const char *src, size_t dstlen);
/* Parse "host:port" (host may be empty -> "127.0.0.1"); port 1..65535.
 * host buffer of hostlen bytes. */
int ht_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
