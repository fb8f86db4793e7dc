/* store.h - the gateway's semantic module: the only code that talks to
 * SQLite. One database file (DATA_DIR/holotwin.db) in WAL mode, a schema
 * versioned with forward migrations, and one API for devices, TDs (with
 * their versions), capabilities, latest state, history, twins (with their
 * versions), tokens (hashed), the command audit log and the SSE event log.
 *
 * Threads: every function is safe to call from any thread. Durable writes
 * (devices, TDs, twins, tokens, audit) are committed before the function
 * returns. Values, events and last-seen times are appended to an mmap'd
 * journal (DATA_DIR/holotwin.journal: a memcpy, no system call, survives a
 * kill -9) and committed by the store's own writer thread in batches
 * (flush_ms after the first row or batch_max rows, whichever is first);
 * the next open replays what a crash left uncommitted.
 */
#ifndef HT_GW_STORE_H
#define HT_GW_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "semantics/semantics.h"

struct ht_store;
struct ht_store_audit;

/* Current schema version (PRAGMA user_version after migrations). */
#define HT_STORE_SCHEMA_VERSION 6

/* Rollup levels (issue 17): every value also lands, at commit, in a 1-min
 * and a 1-hour bucket of its property (count, numeric count, sum, min,
 * max, last value), kept far longer than the raw rows. */
#define HT_STORE_LEVELS 2
extern const int64_t ht_store_level_ms[HT_STORE_LEVELS]; /* 60000, 3600000 */
/* "1m", "1h"; level -1 is "raw". Static, never NULL. */
const char *ht_store_level_name(int level);

struct ht_store_opts {
    int64_t history_max_age_ms; /* 0 = keep forever */
    int64_t history_max_rows;   /* 0 = unbounded */
    /* Rollup rows older than this are deleted, per level (0 = keep). */
    int64_t rollup_max_age_ms[HT_STORE_LEVELS];
    size_t batch_max;    /* rows that start a batch (0 = 2000) */
    int64_t flush_ms;    /* oldest row's wait for a batch (0 = 200) */
    size_t journal_size; /* bytes of journal ring (0 = 8 MiB) */
    /* Called on the writer thread after each committed batch (may be NULL). */
    void (*on_batch)(void *ud, size_t rows, double seconds);
    /* Called for every audit record as it is written (id: its row id; a
     * borrowed; may be NULL), on the thread that writes it: the caller of
     * ht_store_audit_add or the writer thread. */
    void (*on_audit)(void *ud, int64_t id, const struct ht_store_audit *a);
    void *ud;
};

/* Counters of the batched write path. */
struct ht_store_batch_stats {
    uint64_t batches, rows, dropped; /* dropped: rows of failed batches */
    uint64_t full_waits;             /* appends that waited for the writer */
    double seconds;                  /* time spent committing */
    uint64_t journal_bytes;          /* appended, not yet committed */
    uint64_t retries;                /* batches kept for a full disk */
    int64_t degraded_since_ms;       /* wall clock; 0 = not degraded */
};

/* Open (creating and migrating) dir/holotwin.db. opts borrowed (copied).
 * err gets a readable message. Returns HT_OK, HT_EDB or -errno; *out new,
 * close with ht_store_close. */
int ht_store_open(const char *dir, const struct ht_store_opts *opts,
                  struct ht_store **out, char *err, size_t errlen);
/* Flush pending rows and close. NULL is a no-op. */
void ht_store_close(struct ht_store *s);
/* The schema version of the open database. */
int ht_store_schema_version(struct ht_store *s);

/* ---- devices ---- */
struct ht_store_device {
    char id[65];
    char title[256];
    char state[16]; /* discovered | pending | approved | blocked */
    bool online;
    int64_t last_seen; /* ms since epoch, 0 = never */
    int64_t created;
    int td_version; /* 0 = no TD yet */
};
/* Insert or replace a device row (d borrowed). Durable on return. */
int ht_store_device_put(struct ht_store *s, const struct ht_store_device *d);
/* One device into *out; HT_ENOENT if unknown. */
int ht_store_device_get(struct ht_store *s, const char *id,
                        struct ht_store_device *out);
/* Call fn for every device (d borrowed for the call), ordered by id. */
int ht_store_device_each(struct ht_store *s,
                         void (*fn)(void *ud, const struct ht_store_device *d),
                         void *ud);
/* Remove a device and everything recorded about it except the audit log.
 * HT_ENOENT if unknown. */
int ht_store_device_delete(struct ht_store *s, const char *id);

/* ---- TDs and capabilities ---- */
/* Record td (borrowed) as the device's newest TD unless it equals the
 * newest one; *version gets the (new or unchanged) version number. Also
 * replaces the capabilities table rows from thing (borrowed, may be NULL).
 * Only the newest HT_STORE_TD_VERSIONS versions of a device are kept. */
#define HT_STORE_TD_VERSIONS 16
int ht_store_td_add(struct ht_store *s, const char *id, const json_t *td,
                    const struct ht_sem_thing *thing, int64_t ts, int *version);
/* The newest TD (new reference) and its version; HT_ENOENT if none. */
int ht_store_td_latest(struct ht_store *s, const char *id, json_t **td,
                       int *version);
/* Call fn for the newest TD of every device, as JSON text (borrowed for
 * the call; fn must not call back into the store). */
int ht_store_td_latest_each(struct ht_store *s,
                            void (*fn)(void *ud, const char *id, const char *td,
                                       int version),
                            void *ud);
/* [{"version":n,"ts":ms}] of a device, oldest first (new reference). */
json_t *ht_store_td_versions(struct ht_store *s, const char *id);
/* [{"name","type","sem_type","unit","writable"}] (new reference). */
json_t *ht_store_caps(struct ht_store *s, const char *id);

/* ---- latest state and history (buffered) ---- */
/* Journal one value: latest row upsert + history row. v borrowed; vtext
 * is its compact JSON text when the caller has it (else NULL: dumped
 * here). Waits only when the journal is full (the writer is behind). */
int ht_store_value_add(struct ht_store *s, const char *id, const char *name,
                       const json_t *v, const char *vtext, int64_t ts,
                       int64_t seq);
/* Journal an SSE event row (data borrowed, copied). */
int ht_store_event_add(struct ht_store *s, int64_t eid, int64_t ts,
                       const char *type, const char *data);
/* Journal a device's last-seen time (only ever raises it; a device that
 * is gone stays gone). */
int ht_store_seen_add(struct ht_store *s, const char *id, int64_t last_seen);
/* Wait until everything journaled so far is committed -- or, while the
 * disk is full, only until the writer has tried (the rows stay in the
 * journal). *nrows (may be NULL) gets the number of rows committed
 * meanwhile. */
int ht_store_flush(struct ht_store *s, size_t *nrows);
/* A full disk: a batch failed with ENOSPC and the writer keeps its rows
 * in the journal (never released, never dropped) and tries again every
 * second until one commits. True while that lasts, with the reason (one
 * line) in reason (len bytes, may be NULL). Durable writes meanwhile fail
 * with -ENOSPC and change nothing. Any thread. */
bool ht_store_degraded(struct ht_store *s, char *reason, size_t len);
/* Rows journaled that no batch has taken yet. */
size_t ht_store_pending(struct ht_store *s);
/* Counters of the batched path into *out. */
void ht_store_batch_stats(struct ht_store *s, struct ht_store_batch_stats *out);
/* Call fn for every latest value (v borrowed for the call). */
int ht_store_latest_each(struct ht_store *s,
                         void (*fn)(void *ud, const char *id, const char *name,
                                    const json_t *v, int64_t ts, int64_t seq),
                         void *ud);
/* History of one property as {"items":[{"ts","v"}...],"level"} (new
 * reference). from/to in ms (0 = open), limit rows (newest kept when cut,
 * output oldest first), step > 0 downsamples into buckets of step ms:
 * numbers become {"ts","v"(mean),"min","max","n"}, other values the
 * bucket's last value. "level" names the data read ("raw", "1m", "1h"):
 * the coarsest level whose bucket divides step and that covers from (its
 * oldest row is not newer than from), else the finest level that covers
 * from (buckets are then that level's), else the one reaching furthest
 * back. Without step, raw rows.
 * A page holds about HT_STORE_HISTORY_MAX_BYTES of values at most; when
 * cut by size it has "next_to": the `to` that asks for the older rows. */
#define HT_STORE_HISTORY_MAX_BYTES (4u << 20)
int ht_store_history(struct ht_store *s, const char *id, const char *name,
                     int64_t from, int64_t to, int limit, int64_t step,
                     json_t **out);
/* Apply retention (age and rows) to the history and the alarm journal,
 * and each rollup level's age (presence rows go with the 1-hour level);
 * *deleted (may be NULL) gets the rows deleted. */
int ht_store_retention(struct ht_store *s, int64_t now_ms, int64_t *deleted);

/* ---- the past at an instant (time travel, rollup.c) ---- */
/* Journal a device's presence transition (online or not, at ts) for the
 * quality of values at an instant. Any thread. */
int ht_store_presence_add(struct ht_store *s, const char *id, bool online,
                          int64_t ts);
/* One property's value at an instant: in device and name (borrowed); out
 * v (new reference, NULL when nothing is known at `at`), ts (of that
 * value) and level: -1 when a raw row, else the rollup level whose
 * bucket's last value it is (raw rows were deleted by retention). */
struct ht_store_at {
    const char *device, *name;
    json_t *v;
    int64_t ts;
    int level;
};
/* Fill q[0..n) with the newest value at or before `at` of each (one index
 * seek each; journaled rows not yet committed are not seen: call
 * ht_store_flush first when `at` is recent). HT_OK or HT_EDB. */
int ht_store_values_at(struct ht_store *s, struct ht_store_at *q, size_t n,
                       int64_t at);
/* Journal a quality change of one property that no value row records:
 * confirmed good again by the board's snapshot after a reconnect (good),
 * or stale after missed heartbeats. Strings borrowed. Any thread. */
int ht_store_quality_add(struct ht_store *s, const char *id, const char *name,
                         bool good, int64_t ts);
/* The newest presence transitions of device at or before `at`: *off_ts the
 * last going offline, *on_ts the last coming online (0: none). */
int ht_store_presence_at(struct ht_store *s, const char *device, int64_t at,
                         int64_t *off_ts, int64_t *on_ts);
/* The newest quality changes of one property at or before `at`: *good_ts
 * confirmed, *stale_ts gone stale (0: none). */
int ht_store_quality_at(struct ht_store *s, const char *device,
                        const char *name, int64_t at, int64_t *good_ts,
                        int64_t *stale_ts);
/* The journaled state of an alarm at `at` (the newest transition at or
 * before it): new reference, or NULL when none. */
json_t *ht_store_alarm_at(struct ht_store *s, const char *twin,
                          const char *rule, int64_t at);
/* The instants in [from, to] where anything of a twin changed, oldest
 * first, at most limit (1..100000): values of refs[i] (device, name,
 * borrowed; label its name in the answer), the twin's alarm transitions
 * and its devices' presence. {"items":[{"ts","kind":"value","ref"} |
 * {"ts","kind":"alarm","rule","to"} | {"ts","kind":"status","device",
 * "online"}], "next_from"?} (new reference; next_from when cut). */
struct ht_store_ref {
    const char *device, *name, *label;
};
json_t *ht_store_timeline(struct ht_store *s, const char *twin,
                          const struct ht_store_ref *refs, size_t n,
                          int64_t from, int64_t to, int limit);
/* Rows of each history level, for metrics and the bench:
 * {"raw":n,"1m":n,"1h":n,"presence":n} (new reference). */
json_t *ht_store_history_rows(struct ht_store *s);

/* ---- alarm journal (every life-cycle transition, twins/twin.h) ---- */
struct ht_store_alarm {
    int64_t ts;
    const char *twin, *rule;
    const char *from, *to; /* life-cycle state names */
    const char *cause;     /* "condition", "ack", "shelve", ... */
    const char *who;       /* may be NULL (the process, the clock) */
    const char *note;      /* may be NULL */
    const char *priority;
    const json_t *state; /* the alarm's full state after it */
};
/* Journal one transition (all borrowed, copied); committed with the next
 * batch like values (survives a kill -9 of the process). Loop thread or
 * any thread. HT_OK or an error (logged). */
int ht_store_alarm_add(struct ht_store *s, const struct ht_store_alarm *a);
/* Transitions, newest first, at most limit (1..10000), filtered by twin and
 * rule (NULL: any) and by ts in [from, to] (0: open), as
 * [{"id","ts","twin","rule","from","to","cause","who"?,"note"?,"priority",
 *   "state"}] (new reference). Waits for journaled rows first. */
json_t *ht_store_alarm_history(struct ht_store *s, const char *twin,
                               const char *rule, int64_t from, int64_t to,
                               int limit);

/* Call fn with the newest journaled state of every alarm (twin, rule and
 * the state object, borrowed for the call; fn must not call back into the
 * store), for restoring the life cycles at start-up. */
int ht_store_alarm_latest_each(struct ht_store *s,
                               void (*fn)(void *ud, const char *twin,
                                          const char *rule,
                                          const json_t *state),
                               void *ud);

/* ---- events (SSE log) ---- */
/* Highest stored event id (0 if none). */
int64_t ht_store_event_max(struct ht_store *s);
/* Events with id > after, oldest first, at most limit, as
 * [{"id","ts","type","data"}] (new reference). */
json_t *ht_store_events_since(struct ht_store *s, int64_t after, int limit);

/* ---- twins (model JSON, versioned) ---- */
/* Store model (borrowed) as a new version of twin id (1 for a new twin);
 * *version gets it. Durable on return. */
int ht_store_twin_put(struct ht_store *s, const char *id, const json_t *model,
                      int64_t ts, int *version);
/* Current model (new reference) and version; HT_ENOENT if unknown. */
int ht_store_twin_get(struct ht_store *s, const char *id, json_t **model,
                      int *version);
/* A given version of the model (new reference); HT_ENOENT if unknown. */
int ht_store_twin_get_version(struct ht_store *s, const char *id, int version,
                              json_t **model);
/* [{"id","version","updated"}] (new reference). */
json_t *ht_store_twin_list(struct ht_store *s);
/* [{"version","ts"}] oldest first (new reference). */
json_t *ht_store_twin_versions(struct ht_store *s, const char *id);
/* Delete a twin with its versions; HT_ENOENT if unknown. */
int ht_store_twin_delete(struct ht_store *s, const char *id);

/* ---- tokens (only SHA-256 hashes are stored) ---- */
struct ht_store_token {
    char id[33];
    char name[128];
    char role[16];
    int64_t created;
};
/* Add a token; hash is 64 hex chars. HT_EEXIST on a duplicate id/hash. */
int ht_store_token_add(struct ht_store *s, const struct ht_store_token *t,
                       const char *hash);
/* Find by hash into *out; HT_ENOENT if none. Served from an in-memory
 * copy kept in step by add/delete (no SQL, no allocation), so a token is
 * refused as soon as ht_store_token_delete returns. */
int ht_store_token_find(struct ht_store *s, const char *hash,
                        struct ht_store_token *out);
/* [{"id","name","role","created"}] (new reference). */
json_t *ht_store_token_list(struct ht_store *s);
int ht_store_token_delete(struct ht_store *s, const char *id);
/* Number of tokens (or a negative error). */
int64_t ht_store_token_count(struct ht_store *s);

/* ---- broker credentials of provisioned devices ----
 * One row per broker user: hash is the mosquitto password-file hash
 * ("$7$..." PBKDF2-SHA-512, salted); the password itself is never stored. */
/* Insert or replace username's hash (both borrowed). Durable on return. */
int ht_store_cred_put(struct ht_store *s, const char *username,
                      const char *hash, int64_t created);
/* Remove username's row; HT_ENOENT if there is none. */
int ht_store_cred_delete(struct ht_store *s, const char *username);
/* Call fn for every row, ordered by username (strings borrowed for the
 * call; fn must not call back into the store). */
int ht_store_cred_each(struct ht_store *s,
                       void (*fn)(void *ud, const char *username,
                                  const char *hash),
                       void *ud);

/* ---- audit log of commands and admin actions ---- */
struct ht_store_audit {
    int64_t ts;
    const char *actor;  /* "token-name:token-id" */
    const char *action; /* "write", "approve", "block", "delete", ... */
    const char *device; /* may be NULL */
    const char *target; /* property name, may be NULL */
    const char *value;  /* JSON text, may be NULL */
    const char *result; /* "ok" or an error code */
    int status;         /* HTTP status answered */
    int64_t latency_ms;
    /* A command that went out to a device: its id, when it was sent and
     * its deadline (ms since the epoch); NULL/0 otherwise. */
    const char *command_id;
    int64_t sent, deadline;
};
/* Append one record (all borrowed). Durable on return. */
int ht_store_audit_add(struct ht_store *s, const struct ht_store_audit *a);
/* Journal one record (all borrowed) and have the writer commit it at once
 * (synchronous=FULL, grouped with whatever else is waiting: one fsync for
 * many commands). done(ud, rc) runs on the writer thread after the commit
 * (rc HT_OK) or its failure. Returns HT_OK, or an error and done is not
 * called (then use ht_store_audit_add). */
int ht_store_audit_add_async(struct ht_store *s, const struct ht_store_audit *a,
                             void (*done)(void *ud, int rc), void *ud);
/* Journal the late ack of a command already audited (its record is
 * written before, through the same journal): result "ok" or the device's
 * error code, ts when it arrived, after_ms since the command was sent. The
 * record of command_id gets "late_ack" with the next batch. Strings
 * borrowed. Any thread. */
int ht_store_audit_late_ack(struct ht_store *s, const char *command_id,
                            const char *result, int64_t ts, int64_t after_ms);
/* Filters of ht_store_audit_list; NULL/0 members match everything. */
struct ht_store_audit_query {
    const char *device, *action, *result;
    const char *who;   /* the token name (actor before its last ':') */
    int64_t from, to;  /* ts range, inclusive; 0 = open */
    int limit;         /* 1..10000, default 100 */
    int64_t after_id;  /* only records with a larger id; 0 = open */
    bool oldest_first; /* ascending ids (default: newest first) */
};
/* Newest first, or oldest first (new reference):
 * [{"id","ts","actor","who","action",
 * "device","target","value","result","status","latency_ms",
 * "command_id","sent","deadline","late_ack":{"result","ts","after_ms"}}],
 * optional members only when set. q borrowed. */
json_t *ht_store_audit_list(struct ht_store *s,
                            const struct ht_store_audit_query *q);

/* ---- backup and restore (backup.c) ---- */
/* A file of the data directory carried in a backup: name relative to the
 * data directory (no "..", not absolute), path where it is read from. */
struct ht_store_file {
    const char *name;
    const char *path;
};
/* Write to path a backup of the running store: journaled rows committed
 * first, then SQLite's online backup of the database as it is at one
 * moment (ingest goes on meanwhile; other store calls wait), plus the
 * files (borrowed; a missing one is left out, each at most 1 MiB). The
 * backup is itself a SQLite file. Any thread. Returns HT_OK, HT_EDB or
 * -errno, with a message in err. */
int ht_store_backup(struct ht_store *s, const char *path,
                    const struct ht_store_file *files, size_t nfiles, char *err,
                    size_t errlen);
/* Restore the backup at path into the data directory dir, which must not
 * hold a database yet: the database (at the schema version it was backed
 * up with; the next ht_store_open migrates it) and the files, mode 0600.
 * Not while a store is open on dir. Returns HT_OK, HT_EEXIST (dir has a
 * database), HT_EINVAL (not a Holotwin backup, a newer schema, a bad file
 * name) or HT_EDB/-errno, with a message in err. */
int ht_store_restore(const char *path, const char *dir, char *err,
                     size_t errlen);

#endif
