/* tdd/tdd.h - W3C WoT Discovery: Thing Descriptions that third parties
 * register in the gateway's directory (create, update, partial update,
 * delete; validation with the Discovery spec's validationErrors), and the
 * JSONPath search over every TD of the directory (docs/api.md "WoT Thing
 * Description Directory").
 * Owns: struct gw_tdd (g->tdd): the registered TDs in memory and their
 * files, DATA_DIR/things/{sha256 of the id}.json (written atomically,
 * read at start-up).
 * Uses: core.
 * Threads: gw__tdd_init/clear on the loop thread before HTTP starts and
 * after it stopped; the rest from any thread (one mutex; file writes on
 * the calling thread, the HTTP thread in practice, never the loop).
 */
#ifndef HT_GW_TDD_H
#define HT_GW_TDD_H

#include "gateway/core/gw.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many registered TDs, each at most GW_TDD_MAX_BYTES. */
#define GW_TDD_MAX 1000
#define GW_TDD_MAX_BYTES (256 * 1024)

/* Load the registered TDs from the data dir. HT_OK, or an error with a
 * message in err (errlen bytes). */
int gw__tdd_init(struct ht_gw *g, char *err, size_t errlen);
/* Free g->tdd. Safe when it is NULL. */
void gw__tdd_clear(struct ht_gw *g);

/* Check td (borrowed) as a Thing Description a consumer can use:
 * JSON-LD context of TD 1.0/1.1, title, security and the schemes it
 * names, affordances with forms that have an href, an "id" that is a
 * URI when present. Returns a new array of {"field","description"}
 * (empty when valid). */
json_t *gw__tdd_validate(const json_t *td);

/* Create or replace the TD of id (borrowed; td taken, its "id" must be
 * id). *created tells which. HT_OK, HT_ETOOBIG (GW_TDD_MAX reached) or
 * an I/O error (nothing changed). */
int gw__tdd_put(struct ht_gw *g, const char *id, json_t *td, bool *created);
/* A copy of the TD of id (new) or NULL. */
json_t *gw__tdd_get(struct ht_gw *g, const char *id);
/* HT_OK, HT_ENOENT or an I/O error. */
int gw__tdd_delete(struct ht_gw *g, const char *id);
/* Copies of every registered TD in registration order (new array). */
json_t *gw__tdd_list(struct ht_gw *g);
/* Changes so far (the /things cache follows it). */
uint64_t gw__tdd_gen(struct ht_gw *g);

/* RFC 7396 JSON merge patch: patch (borrowed) applied to target (changed
 * in place, borrowed). */
void gw__tdd_merge_patch(json_t *target, const json_t *patch);

/* JSONPath (the subset docs/api.md lists: $, .name, ['name'], [n], [*],
 * .*, ..name, ..*, and filters [?(@.a.b)], [?(@.a op literal)] with op
 * one of == != < <= > >=) evaluated on root (borrowed). Returns a new
 * array of the matched values, or NULL with a message in err for a query
 * outside the subset. */
json_t *gw__tdd_jsonpath(const json_t *root, const char *query, char *err,
                         size_t errlen);

#endif
