/* ht_id.h - identifiers of the contract and their text forms: device and
 * twin ids, affordance names, hex digests. Pure (part of libhtbase.a): no
 * I/O, no clocks, no globals; callable from any thread. */
#ifndef HT_ID_H
#define HT_ID_H

#include <stdbool.h>
#include <stddef.h>

/* Maximum length of a device or twin id (contract: [a-z0-9][a-z0-9._-]{0,63}).
 */
#define HT_ID_MAX 64
/* Maximum length of an affordance (property, action) name: [a-z0-9_]{1,32}. */
#define HT_NAME_MAX 32

/* True when s is a valid device/twin id: [a-z0-9][a-z0-9._-]{0,63} with no
 * ".." anywhere (an id never starts with '.'). Safe as an MQTT topic level,
 * a path segment and a file name. s borrowed; NULL is invalid. */
bool ht_id_valid(const char *s);

/* True for an affordance name of the contract: [a-z0-9_]{1,32}. Safe as an
 * MQTT topic level. s borrowed; NULL is invalid. */
bool ht_name_valid(const char *s);

/* Binary search of an array of n pointers to structs whose first member
 * is their id (a NUL-terminated char array), sorted by id. Returns the
 * index of id, or -1 and *pos (may be NULL) the insert point. */
long ht_id_bsearch(void *const *v, size_t n, const char *id, size_t *pos);

/* n bytes as lowercase hex into out (2n chars and a NUL). */
void ht_hex(const void *in, size_t n, char *out);

#endif
