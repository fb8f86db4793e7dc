/* ht_util.h - small helpers shared by the daemons and tools: ids, clocks,
 * files and strings. */
#ifndef HT_UTIL_H
#define HT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Maximum length of a device or twin id (contract: [a-z0-9][a-z0-9._-]{0,63}). */
#define HT_ID_MAX 64

/* True when s is a valid device/twin id: [a-z0-9][a-z0-9._-]{0,63}, and not
 * "." or ".." style path segments (an id never starts with '.'). Safe as an
 * MQTT topic level and a file name. s borrowed; NULL is invalid. */
bool ht_id_valid(const char *s);

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
/* Binary search of an array of n pointers to structs whose first member
 * is their id (a NUL-terminated char array), sorted by id. Returns the
 * index of id, or -1 and *pos (may be NULL) the insert point. */
long ht_id_bsearch(void *const *v, size_t n, const char *id, size_t *pos);
/* n bytes as lowercase hex into out (2n chars and a NUL). */
void ht_hex(const void *in, size_t n, char *out);

/* Parse "host:port" (host may be empty -> "127.0.0.1"); port 1..65535.
 * host buffer of hostlen bytes. */
int ht_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
