/* store.c - the semantic module on SQLite (see store.h).
 *
 * Two connections. The main one, behind mu, serves reads and the durable
 * writes a client is told about (devices, TDs, twins, tokens, audit:
 * committed before the call returns, synchronous=FULL); token lookups use
 * an in-memory copy under its own rwlock. Values, events and last-seen
 * times are appended to the mmap'd journal (journal.h) by the loop thread
 * and committed by the writer thread on its own connection
 * (synchronous=NORMAL: the journal already survives a crash) in one
 * transaction per batch, together with the journal position reached, so
 * neither SQLite nor fsync ever runs on the loop thread for them.
 */
#include "gateway/store/store.h"
#include "gateway/store/store_internal.h"

#include "gateway/store/journal.h"

#include "ht_err.h"
#include "ht_json.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* How a rollup row merges with the one already there (the writer's
 * upserts and the refold after a crash). */
#define ROLL_MERGE                                                             \
    "ON CONFLICT (level, device, name, bucket) DO UPDATE SET "                 \
    "n=n+excluded.n, nnum=nnum+excluded.nnum, sum=CASE WHEN "                  \
    "excluded.nnum THEN coalesce(sum, 0)+excluded.sum ELSE sum END, "          \
    "min=CASE WHEN min IS NULL OR excluded.min < min THEN "                    \
    "coalesce(excluded.min, min) ELSE min END, max=CASE WHEN max IS "          \
    "NULL OR excluded.max > max THEN coalesce(excluded.max, max) ELSE "        \
    "max END, last_v=CASE WHEN excluded.last_ts >= last_ts THEN "              \
    "excluded.last_v ELSE last_v END, last_ts=max(last_ts, "                   \
    "excluded.last_ts)"

/* After history rows are deleted: rowids above the newest left are used
 * again, so the refold position must not stay above it (see struct
 * wb_rkey). */
#define ROLL_CLAMP                                                             \
    "UPDATE meta SET v=min(v, (SELECT coalesce(max(rowid), 0) FROM "           \
    "history)) WHERE k='rollup_rowid'"

/* The batch statements of one connection, prepared once. */
/* Rows of one table held until WB_MULTI of them (or the batch's end) go
 * in one multi-row INSERT: per row, a statement's step, reset and VDBE
 * start cost about as much as the row itself (callgrind). Statements are
 * prepared on first use, one per row count. Strings stay in the journal
 * until the batch commits. */
#define WB_MULTI 32

struct wb_multi {
    const char *head;  /* "INSERT ... (cols)" */
    const char *tuple; /* "(?,?,...)" */
    const char *tail;  /* after the VALUES list, may be "" */
    const char *what;  /* for error messages */
    int ncols;
    void (*bind)(sqlite3_stmt *st, int base, const struct ht_jrec *r);
    sqlite3_stmt *st[WB_MULTI]; /* st[k - 1] inserts k rows; lazily */
    struct ht_jrec pend[WB_MULTI];
    size_t n;
};

struct wbatch {
    sqlite3 *db;
    const struct ht_store_opts *opts; /* its on_audit hook */
    struct wb_multi hist, lat, ev;
    sqlite3_stmt *seen, *audit, *late, *alarm, *meta;
    sqlite3_stmt *roll, *rmeta, *presence;
    sqlite3_stmt *begin, *commit, *rollback, *full, *normal;
    int rc;
    /* Per batch: the last value record of each property, so `latest` is
     * written once per property, not once per value. Open addressing. */
    struct wb_key *keys;
    size_t nkeys;   /* slots allocated */
    size_t mask;    /* slots used by this batch, minus one (power of two) */
    size_t ordinal; /* value records seen so far in this pass */
    /* Rollup buckets accumulated across batches (see wb_roll_add). */
    struct wb_rkey **rk;
    size_t nrk, rkmask;     /* keys held, slots minus one */
    int64_t roll_rowid;     /* last history row folded into rk */
    uint64_t roll_first_ns; /* when rk got its first key; 0 = empty */
    bool roll_now;          /* a bucket closed in this batch: write them all */
    bool refold;            /* rk was lost (a failed batch): refold */
};

/* One rollup bucket being accumulated. */
struct wb_acc {
    int64_t bucket; /* -1: empty */
    int64_t n, nnum, last_ts;
    double sum, min, max;
    char *last_v; /* owned */
    size_t vcap;
};

/* A property's buckets, kept by the writer across batches: upserting two
 * rollup rows per property per batch was a third of the writer's work.
 * They are written all at once (with the last history rowid they hold,
 * meta 'rollup_rowid') when a bucket closes, on every flush (readers of
 * rollups flush first), every ROLL_FLUSH_MS of batches and at close. A
 * crash loses only what history rows after that rowid hold: the next
 * start folds those rows again (wb_refold). */
struct wb_rkey {
    struct wb_acc acc[HT_STORE_LEVELS];
    char *b; /* after a, in the same allocation */
    char a[];
};

struct wb_key {
    const char *a, *b; /* in the journal; NULL = free slot */
    size_t last;       /* ordinal of the last value record of a/b */
};

/* In-memory copy of the tokens table, sorted by hash: every REST request
 * checks its token, and a query per request (prepare included) was 41% of
 * the HTTP threads' time. This process is the only writer of the table,
 * so add/delete keep the copy exact and a revocation is immediate. */
struct tok_ent {
    char hash[65];
    struct ht_store_token t;
};

struct ht_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    struct ht_store_opts opts;
    /* Batched rows: producers append to jn under pmu; the writer thread
     * commits [j_done, head) on wdb. wcv wakes the writer, dcv the
     * producers and flushers waiting for it. */
    pthread_mutex_t pmu;
    pthread_cond_t wcv, dcv;
    struct ht_journal *jn;
    uint64_t j_done;   /* committed journal position */
    size_t npend;      /* rows appended, not yet taken by the writer */
    uint64_t first_ns; /* when the oldest of them was appended */
    uint64_t flush_req, flush_done;
    bool stop, full, writer_on;
    bool urgent; /* an audit record waits: commit now, durably */
    /* The disk was full at the last batch: its rows stay in the journal
     * (not released) and the writer tries again from j_done every
     * STORE_RETRY_MS; degraded says why, for /healthz and /metrics. */
    bool retry;
    uint64_t retry_ns;
    char degraded[160];
    struct store_cb *cbs; /* its callbacks, in journal order */
    size_t ncbs, capcbs;
    pthread_t writer;
    sqlite3 *wdb;
    struct wbatch *wbp;
    struct ht_store_batch_stats st;
    pthread_rwlock_t tok_mu; /* guards toks; taken after mu, never before */
    struct tok_ent *toks;
    size_t ntoks, ctoks;
};

/* Forward migrations: entry i brings the schema from version i to i+1.
 * Never edit a released entry; append a new one. */
static const char *const migrations[] = {
    "CREATE TABLE devices (id TEXT PRIMARY KEY, title TEXT, state TEXT NOT "
    "NULL, online INTEGER NOT NULL DEFAULT 0, last_seen INTEGER NOT NULL "
    "DEFAULT 0, created INTEGER NOT NULL, td_version INTEGER NOT NULL "
    "DEFAULT 0);"
    "CREATE TABLE tds (device TEXT NOT NULL, version INTEGER NOT NULL, ts "
    "INTEGER NOT NULL, td TEXT NOT NULL, PRIMARY KEY (device, version));"
    "CREATE TABLE capabilities (device TEXT NOT NULL, name TEXT NOT NULL, "
    "type TEXT, sem_type TEXT, unit TEXT, writable INTEGER, PRIMARY KEY "
    "(device, name));"
    "CREATE TABLE latest (device TEXT NOT NULL, name TEXT NOT NULL, v TEXT "
    "NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY "
    "(device, name));"
    "CREATE TABLE history (device TEXT NOT NULL, name TEXT NOT NULL, ts "
    "INTEGER NOT NULL, v TEXT NOT NULL, num REAL);"
    "CREATE INDEX history_dev ON history (device, name, ts);"
    "CREATE INDEX history_ts ON history (ts);"
    "CREATE TABLE twins (id TEXT PRIMARY KEY, version INTEGER NOT NULL, "
    "model TEXT NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE twin_versions (id TEXT NOT NULL, version INTEGER NOT NULL, "
    "model TEXT NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (id, version));"
    "CREATE TABLE tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT "
    "NOT NULL, hash TEXT NOT NULL UNIQUE, created INTEGER NOT NULL);"
    "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER "
    "NOT NULL, actor TEXT, action TEXT NOT NULL, device TEXT, target TEXT, "
    "value TEXT, result TEXT, status INTEGER, latency_ms INTEGER);"
    "CREATE INDEX audit_dev ON audit (device, id);"
    "CREATE TABLE events (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, type "
    "TEXT NOT NULL, data TEXT NOT NULL);",
    /* 2: broker credentials of provisioned devices (mosquitto hashes). */
    "CREATE TABLE mqtt_credentials (username TEXT PRIMARY KEY, hash TEXT "
    "NOT NULL, created INTEGER NOT NULL);",
    /* 3: the journal position committed with each batch, and the epoch that
     * ties a journal file to this database. */
    "CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);",
    /* 4: the final truth of a command: its id, when it was sent, its
     * deadline, and a late ack that came after the gateway gave up. */
    "ALTER TABLE audit ADD COLUMN command_id TEXT;"
    "ALTER TABLE audit ADD COLUMN sent INTEGER;"
    "ALTER TABLE audit ADD COLUMN deadline INTEGER;"
    "ALTER TABLE audit ADD COLUMN late_result TEXT;"
    "ALTER TABLE audit ADD COLUMN late_ts INTEGER;"
    "ALTER TABLE audit ADD COLUMN late_ms INTEGER;"
    "CREATE INDEX audit_cmd ON audit (command_id);"
    "CREATE INDEX audit_ts ON audit (ts);",
    /* 5: the alarm journal: every life-cycle transition (issue 15). */
    "CREATE TABLE alarm_log (id INTEGER PRIMARY KEY AUTOINCREMENT, ts "
    "INTEGER NOT NULL, twin TEXT NOT NULL, rule TEXT NOT NULL, from_state "
    "TEXT NOT NULL, to_state TEXT NOT NULL, cause TEXT NOT NULL, who TEXT, "
    "note TEXT, priority TEXT, state TEXT NOT NULL);"
    "CREATE INDEX alarm_log_ts ON alarm_log (ts);"
    "CREATE INDEX alarm_log_twin ON alarm_log (twin, rule, id);",
    /* 6: time travel (issue 17): rollups per level (1 min, 1 h) kept far
     * longer than raw values, seeded from the history there is; device
     * presence transitions (value quality at an instant); alarm states at
     * an instant by (twin, rule, ts). */
    "CREATE TABLE rollup (level INTEGER NOT NULL, device TEXT NOT NULL, "
    "name TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL, nnum "
    "INTEGER NOT NULL, sum REAL, min REAL, max REAL, last_ts INTEGER NOT "
    "NULL, last_v TEXT NOT NULL, PRIMARY KEY (level, device, name, bucket)) "
    "WITHOUT ROWID;"
    "CREATE INDEX rollup_age ON rollup (level, bucket);"
    "INSERT INTO rollup SELECT 60000, device, name, ts / 60000 * 60000 AS b, "
    "count(*), count(num), sum(num), min(num), max(num), max(ts), v FROM "
    "history GROUP BY device, name, b;"
    "INSERT INTO rollup SELECT 3600000, device, name, ts / 3600000 * 3600000 "
    "AS b, count(*), count(num), sum(num), min(num), max(num), max(ts), v "
    "FROM history GROUP BY device, name, b;"
    "CREATE TABLE presence_log (device TEXT NOT NULL, ts INTEGER NOT NULL, "
    "online INTEGER NOT NULL, name TEXT);"
    "CREATE INDEX presence_dev ON presence_log (device, online, name, ts);"
    "CREATE INDEX alarm_log_at ON alarm_log (twin, rule, ts);",
};

#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* A full disk: SQLITE_FULL, or an I/O error whose errno is ENOSPC. */
static bool disk_full(sqlite3 *db)
{
    int code = sqlite3_errcode(db);
    return code == SQLITE_FULL ||
           (code == SQLITE_IOERR && sqlite3_system_errno(db) == ENOSPC);
}

/* Log the failure; -ENOSPC for a full disk (callers answer 507 and the
 * writer keeps its batch for a retry), else HT_EDB. */
static int db_err(sqlite3 *db, const char *what)
{
    ht_log(LOG_ERR, "store", "%s: %s", what, sqlite3_errmsg(db));
    return disk_full(db) ? -ENOSPC : HT_EDB;
}

static int dberr(struct ht_store *s, const char *what)
{
    return db_err(s->db, what);
}

static int db_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        ht_log(LOG_ERR, "store", "%.60s...: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return disk_full(db) ? -ENOSPC : HT_EDB;
    }
    return HT_OK;
}

static int exec(struct ht_store *s, const char *sql)
{
    return db_exec(s->db, sql);
}

static sqlite3_stmt *db_prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_err(db, sql);
        return NULL;
    }
    return st;
}

static sqlite3_stmt *prep(struct ht_store *s, const char *sql)
{
    return db_prep(s->db, sql);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? t : "";
}

/* Run a statement that returns no rows; finalizes it. */
static int step_done(struct ht_store *s, sqlite3_stmt *st, const char *what)
{
    if (!st)
        return HT_EDB;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT)
        return HT_EEXIST;
    if (rc != SQLITE_DONE)
        return dberr(s, what);
    return HT_OK;
}

static int user_version(struct ht_store *s)
{
    sqlite3_stmt *st = prep(s, "PRAGMA user_version");
    int v = -1;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Each migration and its version bump commit together, so a crash leaves
 * the schema at a known version. */
static int migrate(struct ht_store *s, char *err, size_t errlen)
{
    int v = user_version(s);
    if (v < 0 || v > NMIGRATIONS) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this "
                 "gatewayd (%d)",
                 v, NMIGRATIONS);
        return HT_EDB;
    }
    for (; v < NMIGRATIONS; v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version=%d", v + 1);
        if (exec(s, "BEGIN IMMEDIATE") || exec(s, migrations[v]) ||
            exec(s, bump) || exec(s, "COMMIT")) {
            exec(s, "ROLLBACK");
            snprintf(err, errlen, "migration to schema %d failed: %s", v + 1,
                     sqlite3_errmsg(s->db));
            return HT_EDB;
        }
        ht_log(LOG_INFO, "store", "schema migrated to version %d", v + 1);
    }
    return HT_OK;
}

sqlite3 *store__lock(struct ht_store *s)
{
    pthread_mutex_lock(&s->mu);
    return s->db;
}

void store__unlock(struct ht_store *s)
{
    pthread_mutex_unlock(&s->mu);
}

int store__schema_latest(void)
{
    return NMIGRATIONS;
}

int store__migrate_to(sqlite3 *db, int version)
{
    sqlite3_stmt *st = db_prep(db, "PRAGMA user_version");
    int v =
        st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (v < 0 || version > NMIGRATIONS)
        return HT_EDB;
    for (; v < version; v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version=%d", v + 1);
        if (db_exec(db, migrations[v]) || db_exec(db, bump))
            return HT_EDB;
    }
    return HT_OK;
}

static int tok_load(struct ht_store *s);
static int wb_open(struct wbatch *w, sqlite3 *db);
static void wb_close(struct wbatch *w);
static int journal_open(struct ht_store *s, const char *dir, char *err,
                        size_t errlen);
static void *writer_main(void *arg);

/* mutex: SQLITE_OPEN_FULLMUTEX for a connection shared by threads,
 * SQLITE_OPEN_NOMUTEX for one only ever used by one thread at a time. */
static int db_open(const char *path, const char *sync, int mutex, sqlite3 **db,
                   char *err, size_t errlen)
{
    if (sqlite3_open_v2(path, db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | mutex,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path,
                 *db ? sqlite3_errmsg(*db) : "cannot open");
        return HT_EDB;
    }
    sqlite3_busy_timeout(*db, 5000);
    if (db_exec(*db, "PRAGMA journal_mode=WAL") || db_exec(*db, sync) ||
        db_exec(*db, "PRAGMA foreign_keys=ON")) {
        int code = sqlite3_errcode(*db);
        snprintf(err, errlen, "%s: %s%s", path, sqlite3_errmsg(*db),
                 code == SQLITE_NOTADB || code == SQLITE_CORRUPT
                     ? ": not starting; restore a backup or move it away (it "
                       "is never overwritten)"
                     : "");
        return HT_EDB;
    }
    return HT_OK;
}

static void store_free(struct ht_store *s)
{
    if (s->wbp) {
        wb_close(s->wbp);
        free(s->wbp);
    }
    ht_journal_close(s->jn);
    sqlite3_close(s->wdb);
    sqlite3_close(s->db);
    free(s->toks);
    free(s->cbs);
    pthread_rwlock_destroy(&s->tok_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->pmu);
    pthread_cond_destroy(&s->wcv);
    pthread_cond_destroy(&s->dcv);
    free(s);
}

/* Free space the database needs at start beyond the journal's ring. */
#define STORE_MIN_FREE (4u << 20)

/* What must hold before SQLite touches the data dir: an existing but empty
 * database file (or a journal without its database) is never taken for a
 * fresh install, which would write a new admin token over a lost one; and
 * the journal's ring plus STORE_MIN_FREE must fit in the free space. */
static int check_files(const char *dir, const char *path, size_t jsize,
                       char *err, size_t errlen)
{
    struct stat st;
    char *jpath = ht_asprintf("%s/holotwin.journal", dir);
    bool have_j = stat(jpath, &st) == 0;
    uint64_t j_alloc = have_j ? (uint64_t)st.st_blocks * 512 : 0;
    int rc = HT_OK;
    if (stat(path, &st) == 0) {
        if (st.st_size == 0) {
            snprintf(err, errlen,
                     "%s is empty (0 bytes): not starting a fresh install "
                     "over an existing data dir; restore a backup, or remove "
                     "the file to start fresh",
                     path);
            rc = HT_EDB;
        }
    } else if (errno == ENOENT && have_j) {
        snprintf(err, errlen,
                 "%s is missing but %s exists: not starting a fresh install "
                 "over an existing data dir; restore the database, or remove "
                 "the journal to start fresh",
                 path, jpath);
        rc = HT_EDB;
    }
    struct statvfs vfs;
    uint64_t need = STORE_MIN_FREE + (jsize > j_alloc ? jsize - j_alloc : 0);
    if (rc == HT_OK && statvfs(dir, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < need) {
        snprintf(
            err, errlen,
            "%s: %llu KiB free, %llu KiB needed at start (the journal's "
            "%zu KiB and %u KiB for the database)",
            dir,
            (unsigned long long)((uint64_t)vfs.f_bavail * vfs.f_frsize >> 10),
            (unsigned long long)(need >> 10), jsize >> 10,
            STORE_MIN_FREE >> 10);
        rc = -ENOSPC;
    }
    free(jpath);
    return rc;
}

/* PRAGMA quick_check: damaged pages are found at start, with a clear
 * error, instead of as "malformed" failures of later queries. It reads the
 * whole file once (about a second per GB). */
static int check_integrity(sqlite3 *db, const char *path, char *err,
                           size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const char *res = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        res = (const char *)sqlite3_column_text(st, 0);
    int rc = HT_OK;
    if (!res || strcmp(res, "ok")) {
        snprintf(err, errlen,
                 "%s is corrupt (%s): not starting; restore a backup or move "
                 "it away (it is never overwritten)",
                 path, res ? res : sqlite3_errmsg(db));
        rc = HT_EDB;
    }
    sqlite3_finalize(st);
    return rc;
}

int ht_store_open(const char *dir, const struct ht_store_opts *opts,
                  struct ht_store **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = ht_mkdir_p(dir, 0750);
    if (rc) {
        snprintf(err, errlen, "%s: %s", dir, ht_strerror(rc));
        return rc;
    }
    struct ht_store *s = ht_calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->pmu, NULL);
    pthread_rwlock_init(&s->tok_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wcv, &ca);
    pthread_cond_init(&s->dcv, &ca);
    pthread_condattr_destroy(&ca);
    if (opts)
        s->opts = *opts;
    if (!s->opts.batch_max)
        s->opts.batch_max = 2000;
    if (s->opts.flush_ms <= 0)
        s->opts.flush_ms = 200;
    if (!s->opts.journal_size)
        s->opts.journal_size = 8u << 20;
    char *path = ht_asprintf("%s/holotwin.db", dir);
    rc = check_files(dir, path, s->opts.journal_size, err, errlen);
    if (rc)
        goto fail;
    rc = db_open(path, "PRAGMA synchronous=FULL", SQLITE_OPEN_FULLMUTEX, &s->db,
                 err, errlen);
    if (rc)
        goto fail;
    rc = check_integrity(s->db, path, err, errlen);
    if (rc)
        goto fail;
    rc = migrate(s, err, errlen);
    if (rc)
        goto fail;
    rc = tok_load(s);
    if (rc) {
        snprintf(err, errlen, "%s: cannot read tokens: %s", path,
                 sqlite3_errmsg(s->db));
        goto fail;
    }
    rc = journal_open(s, dir, err, errlen);
    if (rc)
        goto fail;
    /* The writer's own connection: opened here, then used by the writer
     * thread alone until it is joined. Without its mutex a statement
     * saves about 350 lock/unlock pairs per batch (7 % of the writer). */
    rc = db_open(path, "PRAGMA synchronous=NORMAL", SQLITE_OPEN_NOMUTEX,
                 &s->wdb, err, errlen);
    if (rc)
        goto fail;
    /* Fewer, larger checkpoints: pages rewritten by consecutive batches
     * (latest, index leaves) are copied back to the database once. */
    db_exec(s->wdb, "PRAGMA wal_autocheckpoint=8000");
    db_exec(s->wdb, "PRAGMA cache_size=-16000");
    /* A batch is bounded by the journal (8 MiB by default): its dirty pages
     * stay in memory until the commit instead of being spilled to the WAL
     * mid-transaction and written again when touched again (a third of the
     * writer's time in a burst, `make bench` ingest). */
    db_exec(s->wdb, "PRAGMA cache_spill=65536");
    s->wbp = ht_calloc(1, sizeof *s->wbp);
    if ((rc = wb_open(s->wbp, s->wdb)) == HT_OK)
        s->wbp->opts = &s->opts;
    if (rc) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->wdb));
        goto fail;
    }
    if ((rc = -pthread_create(&s->writer, NULL, writer_main, s))) {
        snprintf(err, errlen, "store writer thread: %s", ht_strerror(rc));
        goto fail;
    }
    s->writer_on = true;
    free(path);
    *out = s;
    return HT_OK;
fail:
    free(path);
    store_free(s);
    return rc;
}

void ht_store_close(struct ht_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->pmu);
    s->stop = true;
    pthread_cond_signal(&s->wcv);
    pthread_mutex_unlock(&s->pmu);
    if (s->writer_on)
        pthread_join(s->writer, NULL);
    store_free(s);
}

int ht_store_schema_version(struct ht_store *s)
{
    pthread_mutex_lock(&s->mu);
    int v = user_version(s);
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* ---- devices ---- */

#define DEVICE_PUT_SQL                                                         \
    "INSERT OR REPLACE INTO devices (id, title, state, online, last_seen, "    \
    "created, td_version) VALUES (?,?,?,?,?,?,?)"

static void bind_device(sqlite3_stmt *st, const struct ht_store_device *d)
{
    bind_text(st, 1, d->id);
    bind_text(st, 2, d->title[0] ? d->title : NULL);
    bind_text(st, 3, d->state);
    sqlite3_bind_int(st, 4, d->online);
    sqlite3_bind_int64(st, 5, d->last_seen);
    sqlite3_bind_int64(st, 6, d->created);
    sqlite3_bind_int(st, 7, d->td_version);
}

int ht_store_device_put(struct ht_store *s, const struct ht_store_device *d)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, DEVICE_PUT_SQL);
    if (st)
        bind_device(st, d);
    int rc = step_done(s, st, "device put");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void row_device(sqlite3_stmt *st, struct ht_store_device *d)
{
    memset(d, 0, sizeof *d);
    ht_strlcpy(d->id, col_text(st, 0), sizeof d->id);
    ht_strlcpy(d->title, col_text(st, 1), sizeof d->title);
    ht_strlcpy(d->state, col_text(st, 2), sizeof d->state);
    d->online = sqlite3_column_int(st, 3) != 0;
    d->last_seen = sqlite3_column_int64(st, 4);
    d->created = sqlite3_column_int64(st, 5);
    d->td_version = sqlite3_column_int(st, 6);
}

#define DEVICE_COLS "id, title, state, online, last_seen, created, td_version"

int ht_store_device_get(struct ht_store *s, const char *id,
                        struct ht_store_device *out)
{
    pthread_mutex_lock(&s->mu);
    int rc = HT_EDB;
    sqlite3_stmt *st =
        prep(s, "SELECT " DEVICE_COLS " FROM devices WHERE id=?");
    if (st) {
        bind_text(st, 1, id);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            row_device(st, out);
            rc = HT_OK;
        } else {
            rc = r == SQLITE_DONE ? HT_ENOENT : dberr(s, "device get");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ht_store_device_each(struct ht_store *s,
                         void (*fn)(void *ud, const struct ht_store_device *d),
                         void *ud)
{
    pthread_mutex_lock(&s->mu);
    int rc = HT_EDB;
    sqlite3_stmt *st =
        prep(s, "SELECT " DEVICE_COLS " FROM devices ORDER BY id");
    if (st) {
        struct ht_store_device d;
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            row_device(st, &d);
            fn(ud, &d);
        }
        rc = r == SQLITE_DONE ? HT_OK : dberr(s, "device list");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int changes_or_enoent(struct ht_store *s, int rc)
{
    if (rc == HT_OK && sqlite3_changes(s->db) == 0)
        return HT_ENOENT;
    return rc;
}

int ht_store_device_delete(struct ht_store *s, const char *id)
{
    static const char *const sql[] = {
        "DELETE FROM tds WHERE device=?",
        "DELETE FROM capabilities WHERE device=?",
        "DELETE FROM latest WHERE device=?",
        "DELETE FROM history WHERE device=?",
        /* the levels named: the primary key (level, device, ...) finds
         * the rows, no scan of every device's rollups */
        "DELETE FROM rollup WHERE level IN (60000, 3600000) AND device=?",
        "DELETE FROM presence_log WHERE device=?",
        "DELETE FROM devices WHERE id=?",
    };
    /* Buffered values of this device must not resurrect it. */
    ht_store_flush(s, NULL);
    pthread_mutex_lock(&s->mu);
    int rc = exec(s, "BEGIN IMMEDIATE");
    size_t nsql = sizeof sql / sizeof *sql;
    for (size_t i = 0; rc == HT_OK && i < nsql; i++) {
        sqlite3_stmt *st = prep(s, sql[i]);
        if (st)
            bind_text(st, 1, id);
        rc = step_done(s, st, "device delete");
        if (i == nsql - 1)
            rc = changes_or_enoent(s, rc);
    }
    if (rc == HT_OK)
        rc = exec(s, ROLL_CLAMP);
    if (rc == HT_OK)
        rc = exec(s, "COMMIT");
    else
        exec(s, "ROLLBACK");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- TDs ---- */

int ht_store_td_add(struct ht_store *s, const char *id, const json_t *td,
                    const struct ht_sem_thing *thing, int64_t ts, int *version)
{
    char *text = json_dumps(td, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return HT_EINVAL;
    pthread_mutex_lock(&s->mu);
    int rc = exec(s, "BEGIN IMMEDIATE");
    int cur = 0;
    bool same = false;
    sqlite3_stmt *st = NULL;
    if (rc == HT_OK &&
        (st = prep(s, "SELECT version, td FROM tds WHERE "
                      "device=? ORDER BY version DESC LIMIT 1"))) {
        bind_text(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            cur = sqlite3_column_int(st, 0);
            same = !strcmp(col_text(st, 1), text);
        }
        sqlite3_finalize(st);
    }
    if (rc == HT_OK && !same) {
        st = prep(s, "INSERT INTO tds (device, version, ts, td) "
                     "VALUES (?,?,?,?)");
        if (st) {
            bind_text(st, 1, id);
            sqlite3_bind_int(st, 2, cur + 1);
            sqlite3_bind_int64(st, 3, ts);
            bind_text(st, 4, text);
        }
        rc = step_done(s, st, "td add");
        if (rc == HT_OK)
            cur++;
    }
    /* Only the newest HT_STORE_TD_VERSIONS versions are kept: a board
     * that keeps changing its TD cannot grow the table without bound. */
    if (rc == HT_OK && !same && cur > HT_STORE_TD_VERSIONS) {
        st = prep(s, "DELETE FROM tds WHERE device=? AND version<=?");
        if (st) {
            bind_text(st, 1, id);
            sqlite3_bind_int(st, 2, cur - HT_STORE_TD_VERSIONS);
        }
        rc = step_done(s, st, "td prune");
    }
    if (rc == HT_OK && !same && thing) {
        st = prep(s, "DELETE FROM capabilities WHERE device=?");
        if (st)
            bind_text(st, 1, id);
        rc = step_done(s, st, "caps clear");
        for (size_t i = 0; rc == HT_OK && i < thing->nprops; i++) {
            const struct ht_sem_prop *p = &thing->props[i];
            st = prep(s, "INSERT INTO capabilities (device, name, type, "
                         "sem_type, unit, writable) VALUES (?,?,?,?,?,?)");
            if (st) {
                bind_text(st, 1, id);
                bind_text(st, 2, p->name);
                bind_text(st, 3, ht_sem_dtype_name(p->dtype));
                bind_text(st, 4, p->sem_type);
                bind_text(st, 5, p->unit);
                sqlite3_bind_int(st, 6, !p->read_only);
            }
            rc = step_done(s, st, "caps add");
        }
    }
    if (rc == HT_OK)
        rc = exec(s, "COMMIT");
    else
        exec(s, "ROLLBACK");
    pthread_mutex_unlock(&s->mu);
    free(text);
    if (rc == HT_OK && version)
        *version = cur;
    return rc;
}

int ht_store_td_latest(struct ht_store *s, const char *id, json_t **td,
                       int *version)
{
    *td = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = HT_EDB;
    sqlite3_stmt *st = prep(s, "SELECT version, td FROM tds WHERE device=? "
                               "ORDER BY version DESC LIMIT 1");
    if (st) {
        bind_text(st, 1, id);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            if (version)
                *version = sqlite3_column_int(st, 0);
            *td = json_loads(col_text(st, 1), 0, NULL);
            rc = *td ? HT_OK : HT_EPARSE;
        } else {
            rc = r == SQLITE_DONE ? HT_ENOENT : dberr(s, "td latest");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ht_store_td_latest_each(struct ht_store *s,
                            void (*fn)(void *ud, const char *id, const char *td,
                                       int version),
                            void *ud)
{
    pthread_mutex_lock(&s->mu);
    int rc = HT_EDB;
    /* One pass over the (device, version) key, not a query per device. */
    sqlite3_stmt *st = prep(s, "SELECT t.device, t.version, t.td FROM tds t "
                               "JOIN (SELECT device, max(version) AS v FROM "
                               "tds GROUP BY device) m ON t.device=m.device "
                               "AND t.version=m.v");
    if (st) {
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW)
            fn(ud, col_text(st, 0), col_text(st, 2), sqlite3_column_int(st, 1));
        rc = r == SQLITE_DONE ? HT_OK : dberr(s, "td latest");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

json_t *ht_store_td_versions(struct ht_store *s, const char *id)
{
    json_t *a = json_array();
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "SELECT version, ts FROM tds WHERE device=? "
                               "ORDER BY version");
    if (st) {
        bind_text(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(
                a, json_pack("{s:i, s:I}", "version", sqlite3_column_int(st, 0),
                             "ts", (json_int_t)sqlite3_column_int64(st, 1)));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return a;
}

json_t *ht_store_caps(struct ht_store *s, const char *id)
{
    json_t *a = json_array();
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st =
        prep(s, "SELECT name, type, sem_type, unit, writable "
                "FROM capabilities WHERE device=? ORDER BY name");
    if (st) {
        bind_text(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *o = json_pack("{s:s, s:s, s:b}", "name", col_text(st, 0),
                                  "type", col_text(st, 1), "writable",
                                  sqlite3_column_int(st, 4));
            if (sqlite3_column_type(st, 2) != SQLITE_NULL)
                json_object_set_new(o, "sem_type",
                                    json_string(col_text(st, 2)));
            if (sqlite3_column_type(st, 3) != SQLITE_NULL)
                json_object_set_new(o, "unit", json_string(col_text(st, 3)));
            json_array_append_new(a, o);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return a;
}

/* ---- buffered values, events and last-seen times ---- */

struct store_cb {
    void (*done)(void *ud, int rc);
    void *ud;
};

static int meta_get(sqlite3 *db, const char *k, int64_t *v)
{
    sqlite3_stmt *st = db_prep(db, "SELECT v FROM meta WHERE k=?");
    if (!st)
        return HT_EDB;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return r == SQLITE_ROW ? HT_OK : r == SQLITE_DONE ? HT_ENOENT : HT_EDB;
}

static int meta_put(sqlite3 *db, const char *k, int64_t v)
{
    sqlite3_stmt *st =
        db_prep(db, "INSERT OR REPLACE INTO meta (k, v) VALUES (?,?)");
    if (!st)
        return HT_EDB;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? HT_OK : db_err(db, "meta");
}

static void wb_step(struct wbatch *w, sqlite3_stmt *st, const char *what)
{
    if (w->rc == HT_OK && sqlite3_step(st) != SQLITE_DONE)
        w->rc = db_err(w->db, what);
    sqlite3_reset(st);
}

/* An audit record travels through the journal as fields, not JSON: the
 * writer parsed each record back with jansson (a tenth of a command's
 * instructions). Layout: AUDIT_MARK, then actor, device, target, value,
 * result and command_id (each "-" for NULL or "<len>:<bytes>"), then sent
 * and deadline in decimal, each ";"-terminated. Action, status and latency
 * ride in the record's a, seq and num. Records of older releases (JSON,
 * starting with '{') are still read after an upgrade. */
#define AUDIT_MARK '\x01'
#define AUDIT_NSTR 6

/* Encode a (its action excluded) as above; the caller frees. */
static char *audit_encode(const struct ht_store_audit *a)
{
    const char *f[AUDIT_NSTR] = {a->actor, a->device, a->target,
                                 a->value, a->result, a->command_id};
    size_t n = 2 + 2 * 22;
    for (int i = 0; i < AUDIT_NSTR; i++)
        n += (f[i] ? strlen(f[i]) : 0) + 22;
    char *out = ht_malloc(n), *p = out;
    *p++ = AUDIT_MARK;
    for (int i = 0; i < AUDIT_NSTR; i++) {
        if (!f[i]) {
            *p++ = '-';
            continue;
        }
        size_t len = strlen(f[i]);
        p += sprintf(p, "%zu:", len);
        memcpy(p, f[i], len);
        p += len;
    }
    sprintf(p, "%" PRId64 ";%" PRId64 ";", a->command_id ? a->sent : 0,
            a->command_id ? a->deadline : 0);
    return out;
}

/* Decode text (audit_encode's) into a; its strings are copied into buf
 * (at least strlen(text) + 1 bytes). false if text is malformed. */
static bool audit_decode(const char *text, char *buf, struct ht_store_audit *a)
{
    const char **f[AUDIT_NSTR] = {&a->actor, &a->device, &a->target,
                                  &a->value, &a->result, &a->command_id};
    const char *p = text + 1;
    for (int i = 0; i < AUDIT_NSTR; i++) {
        if (*p == '-') {
            *f[i] = NULL;
            p++;
            continue;
        }
        char *end;
        unsigned long long n = strtoull(p, &end, 10);
        if (end == p || *end != ':' || memchr(end + 1, '\0', n) != NULL)
            return false;
        memcpy(buf, end + 1, n);
        buf[n] = '\0';
        *f[i] = buf;
        buf += n + 1;
        p = end + 1 + n;
    }
    char *end;
    a->sent = strtoll(p, &end, 10);
    if (*end != ';')
        return false;
    a->deadline = strtoll(end + 1, &end, 10);
    return *end == ';';
}

/* An older release's record: the same fields as a JSON object (j is
 * kept by the caller until a is used). */
static void audit_from_json(json_t *j, struct ht_store_audit *a)
{
    a->actor = json_string_value(json_object_get(j, "actor"));
    a->device = json_string_value(json_object_get(j, "device"));
    a->target = json_string_value(json_object_get(j, "target"));
    a->value = json_string_value(json_object_get(j, "value"));
    a->result = json_string_value(json_object_get(j, "result"));
    a->command_id = json_string_value(json_object_get(j, "command_id"));
    a->sent = json_integer_value(json_object_get(j, "sent"));
    a->deadline = json_integer_value(json_object_get(j, "deadline"));
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void wb_audit(struct wbatch *w, const struct ht_jrec *r)
{
    const char *text = r->text ? r->text : "";
    struct ht_store_audit a = {.ts = r->ts,
                               .action = r->a,
                               .status = (int)r->seq,
                               .latency_ms = (int64_t)r->num};
    json_t *j = NULL;
    char small[512], *buf = small;
    size_t tl = strlen(text);
    if (text[0] == AUDIT_MARK) {
        if (tl >= sizeof small)
            buf = ht_malloc(tl + 1);
        if (!audit_decode(text, buf, &a)) {
            ht_log(LOG_ERR, "store", "malformed audit record skipped");
            if (buf != small)
                free(buf);
            return;
        }
    } else {
        j = json_loads(text, 0, NULL);
        audit_from_json(j, &a);
        const char *act = json_string_value(json_object_get(j, "action"));
        if (act)
            a.action = act;
    }
    sqlite3_bind_int64(w->audit, 1, r->ts);
    const char *f[6] = {a.actor,  a.action, a.device,
                        a.target, a.value,  a.result};
    for (int i = 0; i < 6; i++)
        bind_text_or_null(w->audit, i + 2, f[i]);
    sqlite3_bind_int(w->audit, 8, a.status);
    sqlite3_bind_int64(w->audit, 9, a.latency_ms);
    bind_text_or_null(w->audit, 10, a.command_id);
    if (a.command_id) {
        sqlite3_bind_int64(w->audit, 11, a.sent);
        sqlite3_bind_int64(w->audit, 12, a.deadline);
    } else {
        sqlite3_bind_null(w->audit, 11);
        sqlite3_bind_null(w->audit, 12);
    }
    wb_step(w, w->audit, "audit insert");
    if (w->rc == HT_OK && w->opts && w->opts->on_audit)
        w->opts->on_audit(w->opts->ud, sqlite3_last_insert_rowid(w->db), &a);
    json_decref(j);
    if (buf != small)
        free(buf);
}

/* A late ack lands on the record of its command, written earlier through
 * the same journal (so the row exists). */
static void wb_late_ack(struct wbatch *w, const struct ht_jrec *r)
{
    sqlite3_bind_text(w->late, 1, r->b, -1, SQLITE_STATIC);
    sqlite3_bind_int64(w->late, 2, r->ts);
    sqlite3_bind_int64(w->late, 3, (int64_t)r->num);
    sqlite3_bind_text(w->late, 4, r->a, -1, SQLITE_STATIC);
    wb_step(w, w->late, "audit late ack");
}

/* An alarm transition: a = twin, b = rule, text = {"from","to","cause",
 * "who"?,"note"?,"priority","state"}. */
static void wb_alarm(struct wbatch *w, const struct ht_jrec *r)
{
    json_t *j = json_loads(r->text ? r->text : "", 0, NULL);
    static const char *const keys[] = {"from", "to",   "cause",
                                       "who",  "note", "priority"};
    sqlite3_bind_int64(w->alarm, 1, r->ts);
    sqlite3_bind_text(w->alarm, 2, r->a, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->alarm, 3, r->b ? r->b : "", -1, SQLITE_STATIC);
    for (int i = 0; i < 6; i++) {
        const char *v = json_string_value(json_object_get(j, keys[i]));
        if (v || i < 3)
            sqlite3_bind_text(w->alarm, i + 4, v ? v : "", -1,
                              SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(w->alarm, i + 4);
    }
    char *st = json_dumps(json_object_get(j, "state"), JSON_COMPACT);
    sqlite3_bind_text(w->alarm, 10, st ? st : "{}", -1, SQLITE_TRANSIENT);
    free(st);
    json_decref(j);
    wb_step(w, w->alarm, "alarm insert");
}

static uint32_t key_hash(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (const char *p = a; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
    for (const char *p = b; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

static struct wb_key *wb_slot(struct wbatch *w, const char *a, const char *b)
{
    uint32_t h = key_hash(a, b);
    for (size_t i = h & w->mask;; i = (i + 1) & w->mask) {
        struct wb_key *k = &w->keys[i];
        if (!k->a || (!strcmp(k->a, a) && !strcmp(k->b, b)))
            return k;
    }
}

/* First pass: where each property's last value is. */
static void wb_mark(void *ud, const struct ht_jrec *r)
{
    struct wbatch *w = ud;
    if (r->kind != HT_JREC_VALUE)
        return;
    struct wb_key *k = wb_slot(w, r->a, r->b);
    k->a = r->a;
    k->b = r->b;
    k->last = w->ordinal++;
}

/* Rollup keys held before all are written (bounds the writer's memory
 * at 10,000 devices), and the longest they wait while batches go on. */
#define ROLL_MAX_KEYS 16384
#define ROLL_FLUSH_MS 10000

/* The accumulating buckets of a/b, created empty if missing. */
static struct wb_rkey *wb_rkey(struct wbatch *w, const char *a, const char *b)
{
    if (2 * (w->nrk + 1) > w->rkmask + 1) {
        size_t n = w->rk ? 2 * (w->rkmask + 1) : 256;
        struct wb_rkey **t = ht_calloc(n, sizeof *t);
        for (size_t i = 0; w->rk && i <= w->rkmask; i++) {
            struct wb_rkey *k = w->rk[i];
            if (!k)
                continue;
            size_t j = key_hash(k->a, k->b) & (n - 1);
            while (t[j])
                j = (j + 1) & (n - 1);
            t[j] = k;
        }
        free(w->rk);
        w->rk = t;
        w->rkmask = n - 1;
    }
    size_t i = key_hash(a, b) & w->rkmask;
    for (; w->rk[i]; i = (i + 1) & w->rkmask)
        if (!strcmp(w->rk[i]->a, a) && !strcmp(w->rk[i]->b, b))
            return w->rk[i];
    size_t la = strlen(a) + 1, lb = strlen(b) + 1;
    struct wb_rkey *k = ht_calloc(1, sizeof *k + la + lb);
    memcpy(k->a, a, la);
    k->b = k->a + la;
    memcpy(k->b, b, lb);
    for (int l = 0; l < HT_STORE_LEVELS; l++)
        k->acc[l].bucket = -1;
    w->rk[i] = k;
    if (w->nrk++ == 0)
        w->roll_first_ns = ht_mono_ns();
    return k;
}

/* Forget every accumulated bucket (written, or lost with a failed batch). */
static void wb_roll_clear(struct wbatch *w)
{
    for (size_t i = 0; w->rk && i <= w->rkmask; i++) {
        struct wb_rkey *k = w->rk[i];
        if (!k)
            continue;
        for (int l = 0; l < HT_STORE_LEVELS; l++)
            free(k->acc[l].last_v);
        free(k);
        w->rk[i] = NULL;
    }
    w->nrk = 0;
    w->roll_first_ns = 0;
    w->roll_now = false;
}

/* Upsert one accumulated bucket and empty it. */
static void wb_roll_put(struct wbatch *w, struct wb_rkey *k, int l)
{
    struct wb_acc *c = &k->acc[l];
    if (c->bucket < 0)
        return;
    sqlite3_stmt *st = w->roll;
    sqlite3_bind_int64(st, 1, ht_store_level_ms[l]);
    sqlite3_bind_text(st, 2, k->a, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->b, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, c->bucket);
    sqlite3_bind_int64(st, 5, c->n);
    sqlite3_bind_int64(st, 6, c->nnum);
    if (c->nnum) {
        sqlite3_bind_double(st, 7, c->sum);
        sqlite3_bind_double(st, 8, c->min);
        sqlite3_bind_double(st, 9, c->max);
    } else {
        for (int i = 7; i <= 9; i++)
            sqlite3_bind_null(st, i);
    }
    sqlite3_bind_int64(st, 10, c->last_ts);
    sqlite3_bind_text(st, 11, c->last_v ? c->last_v : "null", -1,
                      SQLITE_STATIC);
    wb_step(w, st, "rollup upsert");
    c->bucket = -1;
}

/* Write every accumulated bucket and the history rowid they reach (in
 * the open transaction), then forget them. */
static void wb_roll_flush(struct wbatch *w)
{
    for (size_t i = 0; w->rk && i <= w->rkmask && w->rc == HT_OK; i++)
        if (w->rk[i])
            for (int l = 0; l < HT_STORE_LEVELS; l++)
                wb_roll_put(w, w->rk[i], l);
    if (w->rc == HT_OK && w->nrk) {
        sqlite3_bind_int64(w->rmeta, 1, w->roll_rowid);
        wb_step(w, w->rmeta, "rollup position");
    }
    if (w->rc == HT_OK)
        wb_roll_clear(w);
}

/* Fold a value (history row `rowid`) into its property's buckets; a value
 * of another bucket closes the one accumulated so far (written at once,
 * and with it all the others: see struct wb_rkey). */
static void wb_roll_add(struct wbatch *w, const struct ht_jrec *r,
                        int64_t rowid)
{
    struct wb_rkey *k = wb_rkey(w, r->a, r->b);
    for (int l = 0; l < HT_STORE_LEVELS; l++) {
        int64_t step = ht_store_level_ms[l];
        int64_t b = r->ts >= 0 ? r->ts / step * step : 0;
        struct wb_acc *c = &k->acc[l];
        if (c->bucket >= 0 && c->bucket != b) {
            wb_roll_put(w, k, l);
            w->roll_now = true;
        }
        if (c->bucket < 0) {
            c->bucket = b;
            c->n = c->nnum = 0;
            c->sum = c->min = c->max = 0;
            c->last_ts = INT64_MIN;
        }
        c->n++;
        if (r->has_num) {
            c->min = c->nnum ? (r->num < c->min ? r->num : c->min) : r->num;
            c->max = c->nnum ? (r->num > c->max ? r->num : c->max) : r->num;
            c->sum += r->num;
            c->nnum++;
        }
        if (r->ts >= c->last_ts) {
            c->last_ts = r->ts;
            size_t n = strlen(r->text) + 1;
            if (n > c->vcap) {
                c->vcap = n < 32 ? 32 : n;
                free(c->last_v);
                c->last_v = ht_malloc(c->vcap);
            }
            memcpy(c->last_v, r->text, n);
        }
    }
    w->roll_rowid = rowid;
}

/* Fold the history rows after meta 'rollup_rowid' into the rollups (in
 * the open transaction): the buckets a crash or a failed batch lost. A
 * database without that row (an older release upserted per batch) holds
 * them all already. */
static int wb_refold(struct wbatch *w)
{
    int64_t from = 0;
    int rc = meta_get(w->db, "rollup_rowid", &from);
    if (rc == HT_ENOENT) {
        sqlite3_stmt *st =
            db_prep(w->db, "INSERT INTO meta (k, v) SELECT 'rollup_rowid', "
                           "coalesce(max(rowid), 0) FROM history");
        int r = st ? sqlite3_step(st) : SQLITE_ERROR;
        sqlite3_finalize(st);
        return r == SQLITE_DONE ? HT_OK : db_err(w->db, "rollup position");
    }
    if (rc)
        return rc;
    sqlite3_stmt *st = db_prep(w->db, "SELECT rowid, device, name, ts, v, "
                                      "num FROM history WHERE rowid > ? "
                                      "ORDER BY rowid");
    if (!st)
        return HT_EDB;
    sqlite3_bind_int64(st, 1, from);
    int r;
    size_t n = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct ht_jrec jr = {
            .kind = HT_JREC_VALUE,
            .a = (const char *)sqlite3_column_text(st, 1),
            .b = (const char *)sqlite3_column_text(st, 2),
            .ts = sqlite3_column_int64(st, 3),
            .text = (const char *)sqlite3_column_text(st, 4),
            .has_num = sqlite3_column_type(st, 5) != SQLITE_NULL,
            .num = sqlite3_column_double(st, 5),
        };
        if (jr.a && jr.b && jr.text) {
            wb_roll_add(w, &jr, sqlite3_column_int64(st, 0));
            n++;
        }
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return db_err(w->db, "rollup refold");
    w->rc = HT_OK;
    wb_roll_flush(w);
    if (n)
        ht_log(LOG_NOTICE, "store", "rollups: folded %zu history rows again",
               n);
    return w->rc;
}

static void wb_bind_hist(sqlite3_stmt *st, int i, const struct ht_jrec *r)
{
    sqlite3_bind_text(st, i + 1, r->a, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i + 2, r->b, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, i + 3, r->ts);
    sqlite3_bind_text(st, i + 4, r->text, -1, SQLITE_STATIC);
    if (r->has_num)
        sqlite3_bind_double(st, i + 5, r->num);
    else
        sqlite3_bind_null(st, i + 5);
}

static void wb_bind_lat(sqlite3_stmt *st, int i, const struct ht_jrec *r)
{
    sqlite3_bind_text(st, i + 1, r->a, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i + 2, r->b, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i + 3, r->text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, i + 4, r->ts);
    sqlite3_bind_int64(st, i + 5, r->seq);
}

static void wb_bind_ev(sqlite3_stmt *st, int i, const struct ht_jrec *r)
{
    sqlite3_bind_int64(st, i + 1, r->seq);
    sqlite3_bind_int64(st, i + 2, r->ts);
    sqlite3_bind_text(st, i + 3, r->a, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i + 4, r->text ? r->text : "", -1, SQLITE_STATIC);
}

/* The statement inserting k rows of m, prepared on first use. */
static sqlite3_stmt *wb_multi_stmt(struct wbatch *w, struct wb_multi *m,
                                   size_t k)
{
    if (m->st[k - 1])
        return m->st[k - 1];
    size_t lt = strlen(m->tuple);
    size_t len = strlen(m->head) + 8 + k * (lt + 1) + strlen(m->tail) + 2;
    char *sql = ht_malloc(len), *p = sql;
    p += sprintf(p, "%s VALUES ", m->head);
    for (size_t i = 0; i < k; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, m->tuple, lt);
        p += lt;
    }
    sprintf(p, " %s", m->tail);
    m->st[k - 1] = db_prep(w->db, sql);
    free(sql);
    return m->st[k - 1];
}

/* Insert m's held rows, in the order they came, with one statement. */
static void wb_multi_flush(struct wbatch *w, struct wb_multi *m)
{
    size_t k = m->n;
    m->n = 0;
    if (k == 0 || w->rc != HT_OK)
        return;
    sqlite3_stmt *st = wb_multi_stmt(w, m, k);
    if (!st) {
        w->rc = HT_EDB;
        return;
    }
    for (size_t i = 0; i < k; i++)
        m->bind(st, (int)i * m->ncols, &m->pend[i]);
    wb_step(w, st, m->what);
    if (m != &w->hist || w->rc != HT_OK)
        return;
    /* Fold the rows into their rollup buckets. The rowid is only the
     * mark wb_roll_flush stores (rows after it are folded again after a
     * crash): every row up to the last one is folded before it can be
     * written. */
    int64_t last = sqlite3_last_insert_rowid(w->db);
    for (size_t i = 0; i < k; i++)
        wb_roll_add(w, &m->pend[i], last);
}

static void wb_multi_add(struct wbatch *w, struct wb_multi *m,
                         const struct ht_jrec *r)
{
    m->pend[m->n++] = *r;
    if (m->n == WB_MULTI)
        wb_multi_flush(w, m);
}

static void wb_multi_close(struct wb_multi *m)
{
    for (size_t i = 0; i < WB_MULTI; i++) {
        sqlite3_finalize(m->st[i]);
        m->st[i] = NULL;
    }
    m->n = 0;
}

static void wb_row(void *ud, const struct ht_jrec *r)
{
    struct wbatch *w = ud;
    if (w->rc != HT_OK)
        return;
    /* Strings live in the journal until this batch commits. */
    switch (r->kind) {
    case HT_JREC_VALUE:
        wb_multi_add(w, &w->hist, r);
        if (wb_slot(w, r->a, r->b)->last != w->ordinal++)
            break; /* a newer value of this property follows */
        wb_multi_add(w, &w->lat, r);
        break;
    case HT_JREC_EVENT:
        wb_multi_add(w, &w->ev, r);
        break;
    case HT_JREC_SEEN:
        sqlite3_bind_int64(w->seen, 1, r->ts);
        sqlite3_bind_text(w->seen, 2, r->a, -1, SQLITE_STATIC);
        wb_step(w, w->seen, "last_seen update");
        break;
    case HT_JREC_AUDIT:
        wb_audit(w, r);
        break;
    case HT_JREC_LATE_ACK:
        wb_late_ack(w, r);
        break;
    case HT_JREC_ALARM:
        wb_alarm(w, r);
        break;
    case HT_JREC_PRESENCE:
        sqlite3_bind_text(w->presence, 1, r->a, -1, SQLITE_STATIC);
        sqlite3_bind_int64(w->presence, 2, r->ts);
        sqlite3_bind_int(w->presence, 3, (int)r->num);
        if (r->b)
            sqlite3_bind_text(w->presence, 4, r->b, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(w->presence, 4);
        wb_step(w, w->presence, "presence insert");
        break;
    }
}

static void wb_close(struct wbatch *w)
{
    sqlite3_stmt **all[] = {&w->seen, &w->audit,  &w->late,   &w->alarm,
                            &w->meta, &w->begin,  &w->commit, &w->rollback,
                            &w->full, &w->normal, &w->roll,   &w->presence,
                            &w->rmeta};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        sqlite3_finalize(*all[i]);
        *all[i] = NULL;
    }
    wb_multi_close(&w->hist);
    wb_multi_close(&w->lat);
    wb_multi_close(&w->ev);
    free(w->keys);
    w->keys = NULL;
    w->nkeys = 0;
    wb_roll_clear(w);
    free(w->rk);
    w->rk = NULL;
    w->rkmask = 0;
}

static int wb_open(struct wbatch *w, sqlite3 *db)
{
    memset(w, 0, sizeof *w);
    w->db = db;
    w->hist = (struct wb_multi){
        .head = "INSERT INTO history (device, name, ts, v, num)",
        .tuple = "(?,?,?,?,?)",
        .tail = "",
        .what = "history insert",
        .ncols = 5,
        .bind = wb_bind_hist,
    };
    /* At most one row per property in a batch (wb_mark), so no statement
     * holds two rows of one key. */
    w->lat = (struct wb_multi){
        .head = "INSERT INTO latest (device, name, v, ts, seq)",
        .tuple = "(?,?,?,?,?)",
        .tail = "ON CONFLICT (device, name) DO UPDATE SET v=excluded.v, "
                "ts=excluded.ts, seq=excluded.seq",
        .what = "latest upsert",
        .ncols = 5,
        .bind = wb_bind_lat,
    };
    w->ev = (struct wb_multi){
        .head = "INSERT OR REPLACE INTO events (id, ts, type, data)",
        .tuple = "(?,?,?,?)",
        .tail = "",
        .what = "event insert",
        .ncols = 4,
        .bind = wb_bind_ev,
    };
    /* An UPDATE, never an insert: a device deleted meanwhile stays so. */
    w->seen = db_prep(db, "UPDATE devices SET last_seen=max(last_seen, ?) "
                          "WHERE id=?");
    w->audit = db_prep(db, "INSERT INTO audit (ts, actor, action, device, "
                           "target, value, result, status, latency_ms, "
                           "command_id, sent, deadline) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    w->late = db_prep(db, "UPDATE audit SET late_result=?, late_ts=?, "
                          "late_ms=? WHERE command_id=?");
    w->alarm = db_prep(db, "INSERT INTO alarm_log (ts, twin, rule, "
                           "from_state, to_state, cause, who, note, "
                           "priority, state) VALUES (?,?,?,?,?,?,?,?,?,?)");
    w->meta = db_prep(db, "INSERT OR REPLACE INTO meta (k, v) VALUES "
                          "('journal_pos', ?)");
    w->roll = db_prep(db, "INSERT INTO rollup (level, device, name, bucket, "
                          "n, nnum, sum, min, max, last_ts, last_v) VALUES "
                          "(?,?,?,?,?,?,?,?,?,?,?) " ROLL_MERGE);
    w->rmeta = db_prep(db, "INSERT OR REPLACE INTO meta (k, v) VALUES "
                           "('rollup_rowid', ?)");
    w->presence = db_prep(db, "INSERT INTO presence_log (device, ts, online, "
                              "name) VALUES (?,?,?,?)");
    w->begin = db_prep(db, "BEGIN IMMEDIATE");
    w->commit = db_prep(db, "COMMIT");
    w->rollback = db_prep(db, "ROLLBACK");
    w->full = db_prep(db, "PRAGMA synchronous=FULL");
    w->normal = db_prep(db, "PRAGMA synchronous=NORMAL");
    if (!wb_multi_stmt(w, &w->hist, 1) || !wb_multi_stmt(w, &w->lat, 1) ||
        !wb_multi_stmt(w, &w->ev, 1) || !w->seen || !w->audit || !w->late ||
        !w->alarm || !w->meta || !w->begin || !w->commit || !w->rollback ||
        !w->full || !w->normal || !w->roll || !w->presence || !w->rmeta) {
        wb_close(w);
        return HT_EDB;
    }
    return HT_OK;
}

/* Run a prepared statement that returns no rows (a PRAGMA may return one). */
static int wb_run(struct wbatch *w, sqlite3_stmt *st, const char *what)
{
    int r = sqlite3_step(st);
    sqlite3_reset(st);
    return r == SQLITE_DONE || r == SQLITE_ROW ? HT_OK : db_err(w->db, what);
}

/* Commit the journal's records in [from, to) in one transaction, with the
 * position reached (fsynced when durable). *rows gets how many. */
static int write_batch(struct ht_store *s, struct wbatch *w, uint64_t from,
                       uint64_t to, size_t *rows, bool durable, bool roll_all)
{
    *rows = 0;
    if (durable)
        wb_run(w, w->full, "synchronous=FULL");
    /* Slots for at most one key per 64 journal bytes, half full. Only
     * those are cleared and probed: the table keeps the size of the
     * largest batch, and clearing all of it made every small batch after
     * a burst pay for the burst (a command's audit batch: 24 KB). */
    size_t need = 16;
    while (need < 2 * ((to - from) / 64 + 1))
        need *= 2;
    if (need > w->nkeys) {
        free(w->keys);
        w->keys = ht_malloc(need * sizeof *w->keys);
        w->nkeys = need;
    }
    w->mask = need - 1;
    memset(w->keys, 0, need * sizeof *w->keys);
    w->ordinal = 0;
    ht_journal_each(s->jn, from, to, wb_mark, w);
    w->ordinal = 0;
    w->hist.n = w->lat.n = w->ev.n = 0;
    w->rc = wb_run(w, w->begin, "begin");
    if (w->rc == HT_OK && w->refold)
        w->rc = wb_refold(w);
    if (w->rc == HT_OK) {
        *rows = ht_journal_each(s->jn, from, to, wb_row, w);
        wb_multi_flush(w, &w->hist);
        wb_multi_flush(w, &w->lat);
        wb_multi_flush(w, &w->ev);
    }
    if (w->rc == HT_OK && w->nrk &&
        (roll_all || w->roll_now || w->nrk >= ROLL_MAX_KEYS ||
         ht_mono_ns() - w->roll_first_ns >= ROLL_FLUSH_MS * 1000000ull))
        wb_roll_flush(w);
    if (w->rc == HT_OK) {
        sqlite3_bind_int64(w->meta, 1, (int64_t)to);
        w->rc = wb_run(w, w->meta, "journal position");
    }
    if (w->rc == HT_OK)
        w->rc = wb_run(w, w->commit, "commit");
    if (w->rc != HT_OK) {
        wb_run(w, w->rollback, "rollback");
        /* The buckets may hold rows that were not committed: drop them,
         * the next batch folds again what history holds. */
        wb_roll_clear(w);
        w->refold = true;
    } else {
        w->refold = false;
    }
    if (durable)
        wb_run(w, w->normal, "synchronous=NORMAL");
    return w->rc;
}

/* Map the journal of this database and replay what the last run appended
 * but did not commit (a crash or kill -9). */
static int journal_open(struct ht_store *s, const char *dir, char *err,
                        size_t errlen)
{
    int64_t epoch = 0, pos = 0;
    /* Rollup buckets the last run held when it ended without closing. */
    struct wbatch rw;
    int rc = wb_open(&rw, s->db);
    if (rc == HT_OK && (rc = db_exec(s->db, "BEGIN IMMEDIATE")) == HT_OK) {
        if ((rc = wb_refold(&rw)) == HT_OK)
            rc = db_exec(s->db, "COMMIT");
        else
            db_exec(s->db, "ROLLBACK");
    }
    wb_close(&rw);
    if (rc) {
        snprintf(err, errlen, "rollup refold: %s", sqlite3_errmsg(s->db));
        return rc;
    }
    rc = meta_get(s->db, "journal_epoch", &epoch);
    if (rc == HT_ENOENT) {
        uint64_t e = 0;
        if (getrandom(&e, sizeof e, 0) != (ssize_t)sizeof e)
            e = ht_mono_ns() ^ ((uint64_t)getpid() << 32);
        epoch = (int64_t)(e >> 1);
        rc = meta_put(s->db, "journal_epoch", epoch);
    }
    if (rc == HT_OK && meta_get(s->db, "journal_pos", &pos) == HT_EDB)
        rc = HT_EDB;
    if (rc) {
        snprintf(err, errlen, "journal state: %s", sqlite3_errmsg(s->db));
        return rc;
    }
    char *path = ht_asprintf("%s/holotwin.journal", dir);
    rc = ht_journal_open(path, s->opts.journal_size, (uint64_t)epoch,
                         (uint64_t)pos, &s->jn, err, errlen);
    uint64_t head = rc ? 0 : ht_journal_head(s->jn);
    if (rc == HT_OK && head > (uint64_t)pos) {
        size_t n = 0;
        struct wbatch w;
        rc = wb_open(&w, s->db);
        w.opts = &s->opts;
        if (rc == HT_OK)
            rc = write_batch(s, &w, (uint64_t)pos, head, &n, false, true);
        wb_close(&w);
        if (rc)
            snprintf(err, errlen, "%s: replay: %s", path,
                     sqlite3_errmsg(s->db));
        else
            ht_log(LOG_NOTICE, "store",
                   "replayed %zu rows the last run had not committed", n);
    }
    if (rc == HT_OK) {
        s->j_done = head;
        ht_journal_release(s->jn, head);
        /* Everything is committed: a new size can take effect now. */
        if (ht_journal_size(s->jn) != s->opts.journal_size ||
            !ht_journal_current(s->jn)) {
            ht_journal_close(s->jn);
            s->jn = NULL;
            unlink(path);
            rc = ht_journal_open(path, s->opts.journal_size, (uint64_t)epoch,
                                 head, &s->jn, err, errlen);
        }
    }
    free(path);
    return rc;
}

/* How often the writer tries a batch again while the disk is full. */
#define STORE_RETRY_MS 1000

static void *writer_main(void *arg)
{
    struct ht_store *s = arg;
    pthread_setname_np(pthread_self(), "ht-writer");
    /* Background work: on a busy board the loop (and the broker) get the
     * CPU first; a writer that falls behind only grows the journal, which
     * pushes back on the loop when full. Linux nice is per thread. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) < 0)
        ht_log(LOG_DEBUG, "store", "writer nice: %s", strerror(errno));
    uint64_t flush_ns = (uint64_t)s->opts.flush_ms * 1000000u;
    pthread_mutex_lock(&s->pmu);
    for (;;) {
        if (s->retry && !s->stop && ht_mono_ns() < s->retry_ns) {
            /* Disk full: flushes are answered (the rows are safe in the
             * journal), the retry waits for its time. */
            if (s->flush_done != s->flush_req) {
                s->flush_done = s->flush_req;
                pthread_cond_broadcast(&s->dcv);
            }
            struct timespec ts = {(time_t)(s->retry_ns / 1000000000u),
                                  (long)(s->retry_ns % 1000000000u)};
            pthread_cond_timedwait(&s->wcv, &s->pmu, &ts);
            continue;
        }
        /* Accumulated rollups are written before a flush is answered
         * (readers of rollups flush first) and at close. */
        bool roll_due =
            s->wbp->nrk && (s->stop || s->flush_done != s->flush_req);
        if (s->npend == 0 && !s->retry && !roll_due) {
            if (s->flush_done != s->flush_req) {
                s->flush_done = s->flush_req;
                pthread_cond_broadcast(&s->dcv);
                continue;
            }
            if (s->stop)
                break;
            pthread_cond_wait(&s->wcv, &s->pmu);
            continue;
        }
        bool due = s->stop || s->full || s->urgent || s->retry ||
                   s->flush_done != s->flush_req ||
                   s->npend >= s->opts.batch_max;
        uint64_t deadline = s->first_ns + flush_ns;
        if (!due && ht_mono_ns() < deadline) {
            struct timespec ts = {(time_t)(deadline / 1000000000u),
                                  (long)(deadline % 1000000000u)};
            pthread_cond_timedwait(&s->wcv, &s->pmu, &ts);
            continue;
        }
        uint64_t from = s->j_done, to = ht_journal_head(s->jn);
        uint64_t req = s->flush_req;
        bool roll_all = s->stop || s->flush_done != s->flush_req;
        bool durable = s->urgent;
        struct store_cb *cbs = s->cbs;
        size_t ncbs = s->ncbs;
        s->cbs = NULL;
        s->ncbs = s->capcbs = 0;
        s->urgent = false;
        s->npend = 0;
        pthread_mutex_unlock(&s->pmu);
        uint64_t t0 = ht_mono_ns();
        size_t rows = 0;
        int rc = write_batch(s, s->wbp, from, to, &rows, durable, roll_all);
        double secs = (double)(ht_mono_ns() - t0) / 1e9;
        /* A full disk keeps the batch: nothing is released, the same
         * records (and what came since) are tried again. The callbacks
         * (audit records) hear -ENOSPC now: their records are kept too. */
        bool keep = rc == -ENOSPC;
        if (keep)
            ht_log(s->retry ? LOG_DEBUG : LOG_WARNING, "store",
                   "disk full: %llu journaled bytes kept, retrying every "
                   "%d ms",
                   (unsigned long long)(to - from), STORE_RETRY_MS);
        else if (rc)
            ht_log(LOG_ERR, "store", "dropped a batch of %zu rows", rows);
        else if (s->opts.on_batch)
            s->opts.on_batch(s->opts.ud, rows, secs);
        for (size_t i = 0; i < ncbs; i++)
            cbs[i].done(cbs[i].ud, rc);
        free(cbs);
        pthread_mutex_lock(&s->pmu);
        if (keep) {
            if (!s->retry)
                s->st.degraded_since_ms = ht_time_ms();
            s->retry = true;
            s->urgent = s->urgent || durable; /* audit rows: FULL again */
            s->retry_ns = ht_mono_ns() + STORE_RETRY_MS * 1000000ull;
            s->st.retries++;
            snprintf(s->degraded, sizeof s->degraded,
                     "disk full: %llu journaled bytes wait for space",
                     (unsigned long long)(ht_journal_head(s->jn) - s->j_done));
            s->flush_done = req;
            pthread_cond_broadcast(&s->dcv);
            if (s->stop)
                break; /* kept in the journal: replayed at the next start */
            continue;
        }
        if (s->retry && rc == HT_OK)
            ht_log(LOG_NOTICE, "store",
                   "space is back: the kept rows are committed");
        s->retry = false;
        s->degraded[0] = '\0';
        s->st.degraded_since_ms = 0;
        s->j_done = to;
        ht_journal_release(s->jn, to);
        s->st.batches++;
        s->st.rows += rc ? 0 : rows;
        s->st.dropped += rc ? rows : 0;
        s->st.seconds += secs;
        s->flush_done = req;
        pthread_cond_broadcast(&s->dcv);
    }
    pthread_mutex_unlock(&s->pmu);
    return NULL;
}

/* Append one row (pmu held); waits for the writer if the journal is full. */
static int append_locked(struct ht_store *s, const struct ht_jrec *r)
{
    int rc;
    while ((rc = ht_journal_append(s->jn, r)) == HT_EAGAIN && !s->stop) {
        s->full = true;
        s->st.full_waits++;
        pthread_cond_signal(&s->wcv);
        pthread_cond_wait(&s->dcv, &s->pmu);
    }
    s->full = false;
    if (rc)
        return rc;
    if (s->npend++ == 0) {
        s->first_ns = ht_mono_ns();
        pthread_cond_signal(&s->wcv);
    } else if (s->npend == s->opts.batch_max) {
        pthread_cond_signal(&s->wcv);
    }
    return HT_OK;
}

static int append(struct ht_store *s, const struct ht_jrec *r)
{
    pthread_mutex_lock(&s->pmu);
    int rc = append_locked(s, r);
    pthread_mutex_unlock(&s->pmu);
    if (rc)
        ht_log(LOG_ERR, "store", "journal append: %s", ht_strerror(rc));
    return rc;
}

int ht_store_value_add(struct ht_store *s, const char *id, const char *name,
                       const json_t *v, const char *vtext, int64_t ts,
                       int64_t seq)
{
    char *own = NULL;
    if (!vtext)
        vtext = own = ht_json_dumps(v, false, NULL);
    if (!vtext)
        return HT_EINVAL;
    struct ht_jrec r = {
        .kind = HT_JREC_VALUE,
        .a = id,
        .b = name,
        .text = vtext,
        .ts = ts,
        .seq = seq,
    };
    if (json_is_number(v)) {
        r.has_num = true;
        r.num = json_number_value(v);
    } else if (json_is_boolean(v)) {
        r.has_num = true;
        r.num = json_is_true(v) ? 1 : 0;
    }
    int rc = append(s, &r);
    free(own);
    return rc;
}

int ht_store_event_add(struct ht_store *s, int64_t eid, int64_t ts,
                       const char *type, const char *data)
{
    struct ht_jrec r = {
        .kind = HT_JREC_EVENT,
        .a = type,
        .text = data,
        .ts = ts,
        .seq = eid,
    };
    return append(s, &r);
}

int ht_store_audit_add_async(struct ht_store *s, const struct ht_store_audit *a,
                             void (*done)(void *ud, int rc), void *ud)
{
    if (!a->action)
        return HT_EINVAL;
    char *text = audit_encode(a);
    struct ht_jrec r = {.kind = HT_JREC_AUDIT,
                        .a = a->action,
                        .text = text,
                        .ts = a->ts,
                        .seq = a->status,
                        .num = (double)a->latency_ms};
    pthread_mutex_lock(&s->pmu);
    int rc = s->writer_on && !s->stop ? append_locked(s, &r) : HT_ESTATE;
    if (rc == HT_OK) {
        if (s->ncbs == s->capcbs) {
            s->capcbs = s->capcbs ? 2 * s->capcbs : 16;
            s->cbs = ht_realloc(s->cbs, s->capcbs * sizeof *s->cbs);
        }
        s->cbs[s->ncbs++] = (struct store_cb){done, ud};
        s->urgent = true;
        pthread_cond_signal(&s->wcv);
    }
    pthread_mutex_unlock(&s->pmu);
    free(text);
    return rc;
}

int ht_store_alarm_add(struct ht_store *s, const struct ht_store_alarm *a)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:O?}", "from", a->from,
                  "to", a->to, "cause", a->cause, "who", a->who, "note",
                  a->note, "priority", a->priority, "state", a->state);
    char *text = ht_json_dumps(j, false, NULL);
    json_decref(j);
    if (!text)
        return HT_EINVAL;
    struct ht_jrec r = {.kind = HT_JREC_ALARM,
                        .a = a->twin,
                        .b = a->rule,
                        .text = text,
                        .ts = a->ts};
    int rc = append(s, &r);
    free(text);
    return rc;
}

int ht_store_presence_add(struct ht_store *s, const char *id, bool online,
                          int64_t ts)
{
    struct ht_jrec r = {.kind = HT_JREC_PRESENCE,
                        .a = id,
                        .ts = ts,
                        .num = online ? 1 : 0,
                        .has_num = true};
    return append(s, &r);
}

int ht_store_quality_add(struct ht_store *s, const char *id, const char *name,
                         bool good, int64_t ts)
{
    struct ht_jrec r = {.kind = HT_JREC_PRESENCE,
                        .a = id,
                        .b = name,
                        .ts = ts,
                        .num = good ? 2 : 3,
                        .has_num = true};
    return append(s, &r);
}

int ht_store_seen_add(struct ht_store *s, const char *id, int64_t last_seen)
{
    struct ht_jrec r = {.kind = HT_JREC_SEEN, .a = id, .ts = last_seen};
    return append(s, &r);
}

bool ht_store_degraded(struct ht_store *s, char *reason, size_t len)
{
    pthread_mutex_lock(&s->pmu);
    bool d = s->retry;
    if (reason && len)
        snprintf(reason, len, "%s", d ? s->degraded : "");
    pthread_mutex_unlock(&s->pmu);
    return d;
}

int ht_store_flush(struct ht_store *s, size_t *nrows)
{
    pthread_mutex_lock(&s->pmu);
    uint64_t rows0 = s->st.rows + s->st.dropped;
    uint64_t req = ++s->flush_req;
    pthread_cond_signal(&s->wcv);
    while (s->flush_done < req && s->writer_on)
        pthread_cond_wait(&s->dcv, &s->pmu);
    if (nrows)
        *nrows = (size_t)(s->st.rows + s->st.dropped - rows0);
    pthread_mutex_unlock(&s->pmu);
    return HT_OK;
}

size_t ht_store_pending(struct ht_store *s)
{
    pthread_mutex_lock(&s->pmu);
    size_t n = s->npend;
    pthread_mutex_unlock(&s->pmu);
    return n;
}

void ht_store_batch_stats(struct ht_store *s, struct ht_store_batch_stats *out)
{
    pthread_mutex_lock(&s->pmu);
    *out = s->st;
    out->journal_bytes = ht_journal_head(s->jn) - s->j_done;
    pthread_mutex_unlock(&s->pmu);
}

int ht_store_latest_each(struct ht_store *s,
                         void (*fn)(void *ud, const char *id, const char *name,
                                    const json_t *v, int64_t ts, int64_t seq),
                         void *ud)
{
    pthread_mutex_lock(&s->mu);
    int rc = HT_EDB;
    sqlite3_stmt *st = prep(s, "SELECT device, name, v, ts, seq FROM latest");
    if (st) {
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            json_t *v = json_loads(col_text(st, 2), JSON_DECODE_ANY, NULL);
            if (v)
                fn(ud, col_text(st, 0), col_text(st, 1), v,
                   sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4));
            json_decref(v);
        }
        rc = r == SQLITE_DONE ? HT_OK : dberr(s, "latest");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* A page of history cut by size at a row of time ts (items: oldest first,
 * so the rows just taken are at the front). The rows of that same
 * millisecond already taken are dropped, so that asking again with
 * to=ts gets all of them; unless they are the whole page, then the next
 * page starts before ts. Returns the "to" of the next page. */
static int64_t history_cut(json_t *items, int64_t ts)
{
    size_t same = 0;
    while (same < json_array_size(items) &&
           json_integer_value(
               json_object_get(json_array_get(items, same), "ts")) == ts)
        same++;
    if (same == json_array_size(items))
        return ts - 1;
    for (size_t i = 0; i < same; i++)
        json_array_remove(items, 0);
    return ts;
}

int ht_store_history(struct ht_store *s, const char *id, const char *name,
                     int64_t from, int64_t to, int limit, int64_t step,
                     json_t **out)
{
    *out = NULL;
    if (limit <= 0 || limit > 100000)
        limit = 1000;
    if (to <= 0)
        to = INT64_MAX;
    /* The newest `limit` rows/buckets, then reversed to oldest first. */
    const char *sql =
        step > 0
            ? "SELECT (ts / ?5) * ?5 AS b, avg(num), min(num), max(num), "
              "count(*), count(num), (SELECT v FROM history h2 WHERE "
              "h2.device=?1 AND h2.name=?2 AND h2.ts >= (h.ts / ?5) * ?5 AND "
              "h2.ts < (h.ts / ?5) * ?5 + ?5 AND h2.ts <= ?4 ORDER BY h2.ts "
              "DESC "
              "LIMIT 1) FROM history h WHERE device=?1 AND name=?2 AND ts >= "
              "?3 "
              "AND ts <= ?4 GROUP BY b ORDER BY b DESC LIMIT ?6"
            : "SELECT ts, v FROM history WHERE device=?1 AND name=?2 AND "
              "ts >= ?3 AND ts <= ?4 ORDER BY ts DESC, rowid DESC LIMIT ?6";
    ht_store_flush(s, NULL);
    pthread_mutex_lock(&s->mu);
    int rc = HT_EDB;
    int level =
        step > 0 ? store__history_level(s->db, id, name, from, step) : -1;
    if (level >= 0) {
        rc = store__history_rollup(s->db, level, id, name, from, to, limit,
                                   step, out);
        if (rc)
            dberr(s, "history rollup");
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    sqlite3_stmt *st = prep(s, sql);
    if (st) {
        bind_text(st, 1, id);
        bind_text(st, 2, name);
        sqlite3_bind_int64(st, 3, from);
        sqlite3_bind_int64(st, 4, to);
        if (step > 0)
            sqlite3_bind_int64(st, 5, step);
        sqlite3_bind_int(st, 6, limit);
        json_t *items = json_array();
        int r;
        size_t bytes = 0;
        int64_t next_to = -1;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t ts = sqlite3_column_int64(st, 0);
            bytes += 48 + (size_t)sqlite3_column_bytes(st, step > 0 ? 6 : 1);
            if (bytes > HT_STORE_HISTORY_MAX_BYTES && json_array_size(items)) {
                next_to = history_cut(items, ts);
                break;
            }
            json_t *o = json_object();
            json_object_set_new(o, "ts",
                                json_integer(sqlite3_column_int64(st, 0)));
            if (step > 0 && sqlite3_column_int(st, 5) > 0 &&
                sqlite3_column_int(st, 5) == sqlite3_column_int(st, 4)) {
                json_object_set_new(o, "v",
                                    json_real(sqlite3_column_double(st, 1)));
                json_object_set_new(o, "min",
                                    json_real(sqlite3_column_double(st, 2)));
                json_object_set_new(o, "max",
                                    json_real(sqlite3_column_double(st, 3)));
                json_object_set_new(o, "n",
                                    json_integer(sqlite3_column_int(st, 4)));
            } else {
                json_t *v = json_loads(col_text(st, step > 0 ? 6 : 1),
                                       JSON_DECODE_ANY, NULL);
                json_object_set_new(o, "v", v ? v : json_null());
                if (step > 0)
                    json_object_set_new(
                        o, "n", json_integer(sqlite3_column_int(st, 4)));
            }
            json_array_insert_new(items, 0, o);
        }
        if (r == SQLITE_DONE || next_to >= 0) {
            *out = json_pack("{s:o, s:s}", "items", items, "level", "raw");
            if (next_to >= 0)
                json_object_set_new(*out, "next_to", json_integer(next_to));
            rc = HT_OK;
        } else {
            json_decref(items);
            rc = dberr(s, "history");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ht_store_retention(struct ht_store *s, int64_t now_ms, int64_t *deleted)
{
    int64_t n = 0;
    pthread_mutex_lock(&s->mu);
    int rc = HT_OK;
    if (s->opts.history_max_age_ms > 0) {
        sqlite3_stmt *st = prep(s, "DELETE FROM history WHERE ts < ?");
        if (st)
            sqlite3_bind_int64(st, 1, now_ms - s->opts.history_max_age_ms);
        rc = step_done(s, st, "retention age");
        n += sqlite3_changes(s->db);
    }
    if (rc == HT_OK && s->opts.history_max_rows > 0) {
        sqlite3_stmt *st = prep(s, "DELETE FROM history WHERE rowid <= "
                                   "(SELECT max(rowid) FROM history) - ?");
        if (st)
            sqlite3_bind_int64(st, 1, s->opts.history_max_rows);
        rc = step_done(s, st, "retention rows");
        n += sqlite3_changes(s->db);
    }
    if (rc == HT_OK && n)
        rc = exec(s, ROLL_CLAMP);
    /* The alarm journal is kept like the history: by age and rows. */
    if (rc == HT_OK && s->opts.history_max_age_ms > 0) {
        sqlite3_stmt *st = prep(s, "DELETE FROM alarm_log WHERE ts < ?");
        if (st)
            sqlite3_bind_int64(st, 1, now_ms - s->opts.history_max_age_ms);
        rc = step_done(s, st, "alarm retention age");
        n += sqlite3_changes(s->db);
    }
    if (rc == HT_OK && s->opts.history_max_rows > 0) {
        sqlite3_stmt *st = prep(s, "DELETE FROM alarm_log WHERE id <= "
                                   "(SELECT max(id) FROM alarm_log) - ?");
        if (st)
            sqlite3_bind_int64(st, 1, s->opts.history_max_rows);
        rc = step_done(s, st, "alarm retention rows");
        n += sqlite3_changes(s->db);
    }
    /* Each rollup level by its own age; presence rows (a few a day) go
     * with the longest. */
    for (int l = 0; rc == HT_OK && l < HT_STORE_LEVELS; l++) {
        int64_t age = s->opts.rollup_max_age_ms[l];
        if (age <= 0)
            continue;
        sqlite3_stmt *st =
            prep(s, "DELETE FROM rollup WHERE level=? AND bucket < ?");
        if (st) {
            sqlite3_bind_int64(st, 1, ht_store_level_ms[l]);
            /* A bucket goes when all of it is older than the age. */
            sqlite3_bind_int64(st, 2, now_ms - age - ht_store_level_ms[l]);
        }
        rc = step_done(s, st, "rollup retention");
        n += sqlite3_changes(s->db);
        if (rc == HT_OK && l == HT_STORE_LEVELS - 1) {
            st = prep(s, "DELETE FROM presence_log WHERE ts < ?");
            if (st)
                sqlite3_bind_int64(st, 1, now_ms - age);
            rc = step_done(s, st, "presence retention");
            n += sqlite3_changes(s->db);
        }
    }
    /* The SSE log only backs resumes: keep its newest 100k entries. */
    if (rc == HT_OK)
        rc = exec(s, "DELETE FROM events WHERE id <= (SELECT max(id) FROM "
                     "events) - 100000");
    pthread_mutex_unlock(&s->mu);
    if (deleted)
        *deleted = n;
    return rc;
}

/* ---- alarm journal ---- */

json_t *ht_store_alarm_history(struct ht_store *s, const char *twin,
                               const char *rule, int64_t from, int64_t to,
                               int limit)
{
    json_t *a = json_array();
    if (limit < 1 || limit > 10000)
        limit = 10000;
    ht_store_flush(s, NULL);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(
        s, "SELECT id, ts, twin, rule, from_state, to_state, cause, who, "
           "note, priority, state FROM alarm_log WHERE (?1 IS NULL OR twin = "
           "?1) AND (?2 IS NULL OR rule = ?2) AND (?3 = 0 OR ts >= ?3) AND "
           "(?4 = 0 OR ts <= ?4) ORDER BY id DESC LIMIT ?5");
    if (st) {
        bind_text(st, 1, twin);
        bind_text(st, 2, rule);
        sqlite3_bind_int64(st, 3, from);
        sqlite3_bind_int64(st, 4, to);
        sqlite3_bind_int(st, 5, limit);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *state = json_loads(col_text(st, 10), 0, NULL);
            json_array_append_new(
                a,
                json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s*, s:s*, "
                          "s:s*, s:o}",
                          "id", (json_int_t)sqlite3_column_int64(st, 0), "ts",
                          (json_int_t)sqlite3_column_int64(st, 1), "twin",
                          col_text(st, 2), "rule", col_text(st, 3), "from",
                          col_text(st, 4), "to", col_text(st, 5), "cause",
                          col_text(st, 6), "who",
                          (const char *)sqlite3_column_text(st, 7), "note",
                          (const char *)sqlite3_column_text(st, 8), "priority",
                          (const char *)sqlite3_column_text(st, 9), "state",
                          state ? state : json_object()));
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return a;
}

int ht_store_alarm_latest_each(struct ht_store *s,
                               void (*fn)(void *ud, const char *twin,
                                          const char *rule,
                                          const json_t *state),
                               void *ud)
{
    ht_store_flush(s, NULL);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st =
        prep(s, "SELECT twin, rule, state FROM alarm_log WHERE id IN (SELECT "
                "max(id) FROM alarm_log GROUP BY twin, rule) ORDER BY id");
    int rc = st ? HT_OK : HT_EDB;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        json_t *state = json_loads(col_text(st, 2), 0, NULL);
        if (state)
            fn(ud, col_text(st, 0), col_text(st, 1), state);
        json_decref(state);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- events ---- */

int64_t ht_store_event_max(struct ht_store *s)
{
    pthread_mutex_lock(&s->mu);
    int64_t v = 0;
    sqlite3_stmt *st = prep(s, "SELECT coalesce(max(id), 0) FROM events");
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return v;
}

json_t *ht_store_events_since(struct ht_store *s, int64_t after, int limit)
{
    json_t *a = json_array();
    ht_store_flush(s, NULL);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "SELECT id, ts, type, data FROM events WHERE "
                               "id > ? ORDER BY id LIMIT ?");
    if (st) {
        sqlite3_bind_int64(st, 1, after);
        sqlite3_bind_int(st, 2, limit);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(
                a, json_pack("{s:I, s:I, s:s, s:s}", "id",
                             (json_int_t)sqlite3_column_int64(st, 0), "ts",
                             (json_int_t)sqlite3_column_int64(st, 1), "type",
                             col_text(st, 2), "data", col_text(st, 3)));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return a;
}

/* ---- twins ---- */

int ht_store_twin_put(struct ht_store *s, const char *id, const json_t *model,
                      int64_t ts, int *version)
{
    char *text = json_dumps(model, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return HT_EINVAL;
    pthread_mutex_lock(&s->mu);
    int rc = exec(s, "BEGIN IMMEDIATE");
    int cur = 0;
    sqlite3_stmt *st;
    if (rc == HT_OK &&
        (st = prep(s, "SELECT coalesce(max(version), 0) FROM twin_versions "
                      "WHERE id=?"))) {
        bind_text(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            cur = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    cur++;
    if (rc == HT_OK) {
        st = prep(s, "INSERT INTO twin_versions (id, version, model, ts) "
                     "VALUES (?,?,?,?)");
        if (st) {
            bind_text(st, 1, id);
            sqlite3_bind_int(st, 2, cur);
            bind_text(st, 3, text);
            sqlite3_bind_int64(st, 4, ts);
        }
        rc = step_done(s, st, "twin version");
    }
    if (rc == HT_OK) {
        st = prep(s, "INSERT OR REPLACE INTO twins (id, version, model, "
                     "updated) VALUES (?,?,?,?)");
        if (st) {
            bind_text(st, 1, id);
            sqlite3_bind_int(st, 2, cur);
            bind_text(st, 3, text);
            sqlite3_bind_int64(st, 4, ts);
        }
        rc = step_done(s, st, "twin put");
    }
    if (rc == HT_OK)
        rc = exec(s, "COMMIT");
    else
        exec(s, "ROLLBACK");
    pthread_mutex_unlock(&s->mu);
    free(text);
    if (rc == HT_OK && version)
        *version = cur;
    return rc;
}

static int get_model(struct ht_store *s, sqlite3_stmt *st, json_t **model,
                     int *version)
{
    int rc;
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *model = json_loads(col_text(st, 0), 0, NULL);
        if (version)
            *version = sqlite3_column_int(st, 1);
        rc = *model ? HT_OK : HT_EPARSE;
    } else {
        rc = r == SQLITE_DONE ? HT_ENOENT : dberr(s, "twin get");
    }
    sqlite3_finalize(st);
    return rc;
}

int ht_store_twin_get(struct ht_store *s, const char *id, json_t **model,
                      int *version)
{
    *model = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = HT_EDB;
    sqlite3_stmt *st = prep(s, "SELECT model, version FROM twins WHERE id=?");
    if (st) {
        bind_text(st, 1, id);
        rc = get_model(s, st, model, version);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ht_store_twin_get_version(struct ht_store *s, const char *id, int version,
                              json_t **model)
{
    *model = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = HT_EDB;
    sqlite3_stmt *st = prep(s, "SELECT model, version FROM twin_versions "
                               "WHERE id=? AND version=?");
    if (st) {
        bind_text(st, 1, id);
        sqlite3_bind_int(st, 2, version);
        rc = get_model(s, st, model, NULL);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

json_t *ht_store_twin_list(struct ht_store *s)
{
    json_t *a = json_array();
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "SELECT id, version, updated FROM twins "
                               "ORDER BY id");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(
            a, json_pack("{s:s, s:i, s:I}", "id", col_text(st, 0), "version",
                         sqlite3_column_int(st, 1), "updated",
                         (json_int_t)sqlite3_column_int64(st, 2)));
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return a;
}

json_t *ht_store_twin_versions(struct ht_store *s, const char *id)
{
    json_t *a = json_array();
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "SELECT version, ts FROM twin_versions WHERE "
                               "id=? ORDER BY version");
    if (st)
        bind_text(st, 1, id);
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(
            a, json_pack("{s:i, s:I}", "version", sqlite3_column_int(st, 0),
                         "ts", (json_int_t)sqlite3_column_int64(st, 1)));
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return a;
}

int ht_store_twin_delete(struct ht_store *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    int rc = exec(s, "BEGIN IMMEDIATE");
    sqlite3_stmt *st;
    if (rc == HT_OK) {
        st = prep(s, "DELETE FROM twin_versions WHERE id=?");
        if (st)
            bind_text(st, 1, id);
        rc = step_done(s, st, "twin delete");
    }
    if (rc == HT_OK) {
        st = prep(s, "DELETE FROM twins WHERE id=?");
        if (st)
            bind_text(st, 1, id);
        rc = changes_or_enoent(s, step_done(s, st, "twin delete"));
    }
    if (rc == HT_OK)
        rc = exec(s, "COMMIT");
    else
        exec(s, "ROLLBACK");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- tokens ---- */

/* Index of hash in the sorted copy, or where it would go (*found false).
 * Caller holds tok_mu. */
static size_t tok_pos(const struct ht_store *s, const char *hash, bool *found)
{
    size_t lo = 0, hi = s->ntoks;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->toks[mid].hash, hash);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Caller holds tok_mu for writing. */
static void tok_insert(struct ht_store *s, const struct ht_store_token *t,
                       const char *hash)
{
    bool found;
    size_t i = tok_pos(s, hash, &found);
    if (!found) {
        if (s->ntoks == s->ctoks) {
            s->ctoks = s->ctoks ? 2 * s->ctoks : 16;
            s->toks = ht_realloc(s->toks, s->ctoks * sizeof *s->toks);
        }
        memmove(s->toks + i + 1, s->toks + i, (s->ntoks - i) * sizeof *s->toks);
        s->ntoks++;
    }
    memset(&s->toks[i], 0, sizeof s->toks[i]);
    ht_strlcpy(s->toks[i].hash, hash, sizeof s->toks[i].hash);
    s->toks[i].t = *t;
}

/* Called once from ht_store_open, before any other thread sees s. */
static int tok_load(struct ht_store *s)
{
    sqlite3_stmt *st = prep(s, "SELECT hash, id, name, role, created FROM "
                               "tokens");
    if (!st)
        return HT_EDB;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        struct ht_store_token t = {.created = sqlite3_column_int64(st, 4)};
        ht_strlcpy(t.id, col_text(st, 1), sizeof t.id);
        ht_strlcpy(t.name, col_text(st, 2), sizeof t.name);
        ht_strlcpy(t.role, col_text(st, 3), sizeof t.role);
        tok_insert(s, &t, col_text(st, 0));
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? HT_OK : HT_EDB;
}

int ht_store_token_add(struct ht_store *s, const struct ht_store_token *t,
                       const char *hash)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "INSERT INTO tokens (id, name, role, hash, "
                               "created) VALUES (?,?,?,?,?)");
    if (st) {
        bind_text(st, 1, t->id);
        bind_text(st, 2, t->name);
        bind_text(st, 3, t->role);
        bind_text(st, 4, hash);
        sqlite3_bind_int64(st, 5, t->created);
    }
    int rc = step_done(s, st, "token add");
    if (rc == HT_OK) {
        pthread_rwlock_wrlock(&s->tok_mu);
        tok_insert(s, t, hash);
        pthread_rwlock_unlock(&s->tok_mu);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ht_store_token_find(struct ht_store *s, const char *hash,
                        struct ht_store_token *out)
{
    pthread_rwlock_rdlock(&s->tok_mu);
    bool found;
    size_t i = tok_pos(s, hash, &found);
    if (found)
        *out = s->toks[i].t;
    pthread_rwlock_unlock(&s->tok_mu);
    return found ? HT_OK : HT_ENOENT;
}

json_t *ht_store_token_list(struct ht_store *s)
{
    json_t *a = json_array();
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "SELECT id, name, role, created FROM tokens "
                               "ORDER BY created, id");
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:s, s:I}", "id", col_text(st, 0), "name",
                         col_text(st, 1), "role", col_text(st, 2), "created",
                         (json_int_t)sqlite3_column_int64(st, 3)));
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return a;
}

int ht_store_token_delete(struct ht_store *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "DELETE FROM tokens WHERE id=?");
    if (st)
        bind_text(st, 1, id);
    int rc = changes_or_enoent(s, step_done(s, st, "token delete"));
    if (rc == HT_OK) {
        pthread_rwlock_wrlock(&s->tok_mu);
        for (size_t i = 0; i < s->ntoks; i++)
            if (!strcmp(s->toks[i].t.id, id)) {
                memmove(s->toks + i, s->toks + i + 1,
                        (s->ntoks - i - 1) * sizeof *s->toks);
                s->ntoks--;
                break;
            }
        pthread_rwlock_unlock(&s->tok_mu);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int64_t ht_store_token_count(struct ht_store *s)
{
    pthread_mutex_lock(&s->mu);
    int64_t v = HT_EDB;
    sqlite3_stmt *st = prep(s, "SELECT count(*) FROM tokens");
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* ---- broker credentials (provisioning) ---- */

int ht_store_cred_put(struct ht_store *s, const char *username,
                      const char *hash, int64_t created)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO mqtt_credentials "
                               "(username, hash, created) VALUES (?,?,?)");
    if (st) {
        bind_text(st, 1, username);
        bind_text(st, 2, hash);
        sqlite3_bind_int64(st, 3, created);
    }
    int rc = step_done(s, st, "credential put");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ht_store_cred_delete(struct ht_store *s, const char *username)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "DELETE FROM mqtt_credentials WHERE username=?");
    if (st)
        bind_text(st, 1, username);
    int rc = changes_or_enoent(s, step_done(s, st, "credential delete"));
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ht_store_cred_each(struct ht_store *s,
                       void (*fn)(void *ud, const char *username,
                                  const char *hash),
                       void *ud)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "SELECT username, hash FROM mqtt_credentials "
                               "ORDER BY username");
    int rc = st ? HT_OK : HT_EDB;
    int r = SQLITE_DONE;
    while (st && (r = sqlite3_step(st)) == SQLITE_ROW)
        fn(ud, col_text(st, 0), col_text(st, 1));
    if (st && r != SQLITE_DONE)
        rc = dberr(s, "credential list");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- audit ---- */

int ht_store_audit_add(struct ht_store *s, const struct ht_store_audit *a)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "INSERT INTO audit (ts, actor, action, device, "
                               "target, value, result, status, latency_ms, "
                               "command_id, sent, deadline) "
                               "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    if (st) {
        sqlite3_bind_int64(st, 1, a->ts);
        bind_text(st, 2, a->actor);
        bind_text(st, 3, a->action);
        bind_text(st, 4, a->device);
        bind_text(st, 5, a->target);
        bind_text(st, 6, a->value);
        bind_text(st, 7, a->result);
        sqlite3_bind_int(st, 8, a->status);
        sqlite3_bind_int64(st, 9, a->latency_ms);
        bind_text(st, 10, a->command_id);
        if (a->command_id) {
            sqlite3_bind_int64(st, 11, a->sent);
            sqlite3_bind_int64(st, 12, a->deadline);
        }
    }
    int rc = step_done(s, st, "audit add");
    int64_t id = sqlite3_last_insert_rowid(s->db);
    pthread_mutex_unlock(&s->mu);
    if (rc == HT_OK && s->opts.on_audit)
        s->opts.on_audit(s->opts.ud, id, a);
    return rc;
}

int ht_store_audit_late_ack(struct ht_store *s, const char *command_id,
                            const char *result, int64_t ts, int64_t after_ms)
{
    if (!command_id || !*command_id || !result)
        return HT_EINVAL;
    struct ht_jrec r = {.kind = HT_JREC_LATE_ACK,
                        .a = command_id,
                        .b = result,
                        .ts = ts,
                        .num = (double)after_ms,
                        .has_num = true};
    return append(s, &r);
}

/* The token name of an actor "name:id" (the id is hex, the name may hold
 * colons), as a new JSON string. */
static json_t *actor_name(const char *actor)
{
    const char *c = strrchr(actor, ':');
    return c ? json_stringn(actor, (size_t)(c - actor)) : json_string(actor);
}

/* One WHERE clause for every combination of filters: a NULL parameter
 * matches everything, so one statement serves all queries. */
json_t *ht_store_audit_list(struct ht_store *s,
                            const struct ht_store_audit_query *q)
{
    json_t *a = json_array();
    int limit = q->limit;
    if (limit <= 0 || limit > 10000)
        limit = 100;
    pthread_mutex_lock(&s->mu);
    /* The order chosen by statement, not by an ORDER BY expression, so
     * that both walk the primary key instead of sorting. */
#define AUDIT_SELECT                                                           \
    "SELECT id, ts, actor, action, device, target, value, result, status, "    \
    "latency_ms, command_id, sent, deadline, late_result, late_ts, late_ms "   \
    "FROM audit WHERE (?1 IS NULL OR device=?1) AND (?2 IS NULL OR "           \
    "action=?2) AND (?3 IS NULL OR result=?3) AND (?4 IS NULL OR "             \
    "(substr(actor, 1, length(?4) + 1) = ?4 || ':' AND instr(substr(actor, "   \
    "length(?4) + 2), ':') = 0)) AND (?5 IS NULL OR ts >= ?5) AND (?6 IS "     \
    "NULL OR ts <= ?6) AND id > ?8 ORDER BY id "
    sqlite3_stmt *st = prep(s, q->oldest_first ? AUDIT_SELECT "LIMIT ?7"
                                               : AUDIT_SELECT "DESC LIMIT ?7");
#undef AUDIT_SELECT
    if (st) {
        bind_text(st, 1, q->device);
        bind_text(st, 2, q->action);
        bind_text(st, 3, q->result);
        bind_text(st, 4, q->who);
        if (q->from)
            sqlite3_bind_int64(st, 5, q->from);
        if (q->to)
            sqlite3_bind_int64(st, 6, q->to);
        sqlite3_bind_int(st, 7, limit);
        sqlite3_bind_int64(st, 8, q->after_id);
    }
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        json_t *o = json_pack(
            "{s:I, s:I, s:s, s:o, s:s, s:i, s:I}", "id",
            (json_int_t)sqlite3_column_int64(st, 0), "ts",
            (json_int_t)sqlite3_column_int64(st, 1), "actor", col_text(st, 2),
            "who", actor_name(col_text(st, 2)), "action", col_text(st, 3),
            "status", sqlite3_column_int(st, 8), "latency_ms",
            (json_int_t)sqlite3_column_int64(st, 9));
        static const char *const opt[] = {"device", "target", "value",
                                          "result"};
        for (int i = 0; i < 4; i++)
            if (sqlite3_column_type(st, 4 + i) != SQLITE_NULL)
                json_object_set_new(o, opt[i],
                                    json_string(col_text(st, 4 + i)));
        if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
            json_object_set_new(o, "command_id", json_string(col_text(st, 10)));
            json_object_set_new(o, "sent",
                                json_integer(sqlite3_column_int64(st, 11)));
            json_object_set_new(o, "deadline",
                                json_integer(sqlite3_column_int64(st, 12)));
        }
        if (sqlite3_column_type(st, 13) != SQLITE_NULL)
            json_object_set_new(
                o, "late_ack",
                json_pack("{s:s, s:I, s:I}", "result", col_text(st, 13), "ts",
                          (json_int_t)sqlite3_column_int64(st, 14), "after_ms",
                          (json_int_t)sqlite3_column_int64(st, 15)));
        json_array_append_new(a, o);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return a;
}
