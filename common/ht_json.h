/* ht_json.h - compact JSON text of a jansson value, fast.
 *
 * The same bytes as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY), with
 * JSON_SORT_KEYS when sort is true, at a fraction of the cost: integers
 * are formatted without snprintf, keys are sorted once per object on the
 * stack when they fit, and the text grows in one buffer instead of a
 * callback per token. For the hot path (twin snapshots and SSE events built
 * for every value); anything else may keep calling json_dumps.
 * Pure: no I/O, any thread (the value must not change meanwhile).
 */
#ifndef HT_JSON_H
#define HT_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* v borrowed. Returns new text (caller frees), never NULL for a valid
 * jansson value (NULL for v == NULL); *len (may be NULL) gets its length. */
char *ht_json_dumps(const json_t *v, bool sort, size_t *len);

/* The same text built piece by piece, for writers that know their
 * structure (the twin engine's snapshot): zero-initialise, append, then
 * take the text. Keys of objects are the caller's to order. */
struct ht_jbuf {
    char *p;
    size_t n, cap;
};
/* n bytes of s (borrowed) as they are. */
void ht_jbuf_raw(struct ht_jbuf *b, const char *s, size_t n);
/* s (n bytes, borrowed) as a JSON string, escaped like jansson does. */
void ht_jbuf_str(struct ht_jbuf *b, const char *s, size_t n);
void ht_jbuf_int(struct ht_jbuf *b, int64_t v);
/* v (borrowed) as ht_json_dumps writes it. */
void ht_jbuf_json(struct ht_jbuf *b, const json_t *v, bool sort);
/* The text so far (new, NUL-terminated; caller frees), *len (may be NULL)
 * its length; b is empty again. */
char *ht_jbuf_take(struct ht_jbuf *b, size_t *len);

#endif
