/* ht_mem.h - allocation that aborts on out-of-memory.
 *
 * A daemon under systemd is better restarted than limping on after a failed
 * allocation, so callers never check these for NULL. Sizes that come from the
 * network or a file must be bounded before they reach here.
 */
#ifndef HT_MEM_H
#define HT_MEM_H

#include <stddef.h>

/* Each returns new memory (caller frees with free()); never NULL. */
void *ht_malloc(size_t n);
void *ht_calloc(size_t nmemb, size_t size);
void *ht_realloc(void *p, size_t n);
char *ht_strdup(const char *s);
char *ht_strndup(const char *s, size_t n);
/* printf into new memory (caller frees). */
char *ht_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
