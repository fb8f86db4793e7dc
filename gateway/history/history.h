/* history/history.h - time travel (issue 17): a twin's full state at any
 * instant and the instants where anything of it changed (for a scrubber),
 * rebuilt from what the store recorded: values (raw rows, else the
 * finest rollup left), device presence and the alarm journal. The rebuild
 * itself is the pure ht_twin_state_at (twins/twin.h).
 * Owns: nothing long-lived (no handle in struct ht_gw).
 * Uses: core, store, twinglue (the twin documents).
 * Threads: any thread but the loop's (the HTTP thread): store reads on the
 * store's main connection, an index seek per bound property and alarm.
 */
#ifndef HT_GW_HISTORY_H
#define HT_GW_HISTORY_H

#include "gateway/core/gw.h"

#include <jansson.h>
#include <stdint.h>

/* The state of twin `twin` at `at` (ms since the epoch) into *out (new):
 * the shape of GET /twins/{id}/state plus "at", "alarm_states", "model"
 * (the document version then in force) and "control": null (who held
 * control is not recorded yet). The document used is the stored version
 * in force at `at` (automatic twins: the current one). Returns HT_OK,
 * HT_ENOENT (unknown twin) or another error with a message in err. */
int gw__history_state_at(struct ht_gw *g, const char *twin, int64_t at,
                         json_t **out, char *err, size_t errlen);

/* The timeline of a twin in [from, to] (ms; to 0 = open), at most limit
 * instants, as ht_store_timeline with refs named "component.property"
 * (new), or NULL for an unknown twin. */
json_t *gw__history_timeline(struct ht_gw *g, const char *twin, int64_t from,
                             int64_t to, int limit);

/* Parse an instant (borrowed): ms since the epoch ("1764740000000") or
 * RFC 3339 ("2026-12-03T03:12:00Z", "...T03:12:00.250+01:00"). HT_OK or
 * HT_EINVAL (*out untouched). */
int gw__history_time(const char *s, int64_t *out);

/* A history answer (borrowed: {"items":[{"ts","v","min"?,"max"?,"n"?}]})
 * as CSV text (new, *len bytes): a header "ts,time,value,min,max,n" then
 * one line per item, time in RFC 3339 UTC, strings quoted. */
char *gw__history_csv(const json_t *hist, size_t *len);

#endif
