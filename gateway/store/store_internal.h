/* store_internal.h - what the store's own files share beyond store.h: the
 * main connection under the store's lock (backup.c copies the database
 * through it) and the bare schema (for tests that build a database of an
 * older schema version). Not for other modules.
 */
#ifndef HT_GW_STORE_INTERNAL_H
#define HT_GW_STORE_INTERNAL_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

struct ht_store;

/* Take the store's lock and return its main connection (borrowed); every
 * other reader waits until store__unlock. The writer thread has its own
 * connection and goes on. */
sqlite3 *store__lock(struct ht_store *s);
void store__unlock(struct ht_store *s);

/* Number of migrations: the current schema version. */
int store__schema_latest(void);
/* Apply migrations from db's user_version up to version (<= latest) on a
 * bare connection, as releases before this one did. Returns HT_OK or
 * HT_EDB. */
int store__migrate_to(sqlite3 *db, int version);

/* rollup.c: the level (-1 raw, else a rollup level) that answers a
 * history query of step ms from `from` (store.h, ht_store_history). */
int store__history_level(sqlite3 *db, const char *id, const char *name,
                         int64_t from, int64_t step);
/* Answer a history query from rollup level `level` (*out new, as
 * ht_store_history). HT_OK or HT_EDB. */
int store__history_rollup(sqlite3 *db, int level, const char *id,
                          const char *name, int64_t from, int64_t to, int limit,
                          int64_t step, json_t **out);

#endif
