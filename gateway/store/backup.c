/* backup.c - backup and restore of a gateway's data directory.
 *
 * A backup is one SQLite file: SQLite's online backup of the database
 * (consistent at one moment while the gateway keeps running), in rollback
 * journal mode so that it is a single self-contained file, plus two tables
 * of its own: holotwin_backup (format, when, schema and gatewayd version)
 * and holotwin_backup_files (the broker's credentials and any other file of
 * the data directory the caller names). A SQLite file needs no archive
 * format of our own, carries its own integrity checks and opens with the
 * sqlite3 shell. Restore copies the database out (again with the backup
 * API), drops those two tables, forgets the journal position of the old
 * data directory, and writes the files back with mode 0600; the schema is
 * migrated by the next ht_store_open, as for any older database.
 */
#include "gateway/store/store.h"
#include "gateway/store/store_internal.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BACKUP_FORMAT 1
#define BACKUP_FILE_MAX (1u << 20)

/* A SQLite failure on db as HT_EDB with its message in err. */
static int fail_db(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "?");
    return HT_EDB;
}

/* Copy the whole of src's main database into dst (sqlite3_backup). */
static int copy_db(sqlite3 *dst, sqlite3 *src, char *err, size_t errlen)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b)
        return fail_db(dst, "backup", err, errlen);
    int rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE)
        return fail_db(dst, "backup", err, errlen);
    return HT_OK;
}

static int open_db(const char *path, int flags, sqlite3 **db, char *err,
                   size_t errlen)
{
    if (sqlite3_open_v2(path, db, flags, NULL) != SQLITE_OK) {
        fail_db(*db, path, err, errlen);
        sqlite3_close(*db);
        *db = NULL;
        return HT_EDB;
    }
    sqlite3_busy_timeout(*db, 5000);
    return HT_OK;
}

/* The meta and file tables of a backup, and one row per file that exists
 * (a missing file is not an error: the broker's files exist only with
 * provisioning). */
static int add_tables(sqlite3 *db, const struct ht_store_file *files,
                      size_t nfiles, char *err, size_t errlen)
{
    if (sqlite3_exec(db,
                     "PRAGMA journal_mode=DELETE;"
                     "CREATE TABLE holotwin_backup (k TEXT PRIMARY KEY, v);"
                     "CREATE TABLE holotwin_backup_files (name TEXT PRIMARY "
                     "KEY, data BLOB NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK)
        return fail_db(db, "backup tables", err, errlen);
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO holotwin_backup VALUES ('format', %d), "
             "('created_ms', %lld), ('gatewayd', '%s'), ('schema', "
             "(SELECT user_version FROM pragma_user_version))",
             BACKUP_FORMAT, (long long)time(NULL) * 1000, HT_VERSION);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return fail_db(db, "backup tables", err, errlen);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO holotwin_backup_files VALUES (?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, "backup files", err, errlen);
    int rc = HT_OK;
    for (size_t i = 0; rc == HT_OK && i < nfiles; i++) {
        char *data = NULL;
        size_t len = 0;
        int r = ht_file_read(files[i].path, BACKUP_FILE_MAX, &data, &len);
        if (r == -ENOENT)
            continue;
        if (r != HT_OK) {
            snprintf(err, errlen, "%s: %s", files[i].path, ht_strerror(r));
            rc = r;
            break;
        }
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, files[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = fail_db(db, "backup files", err, errlen);
        free(data);
    }
    sqlite3_finalize(st);
    return rc;
}

int ht_store_backup(struct ht_store *s, const char *path,
                    const struct ht_store_file *files, size_t nfiles, char *err,
                    size_t errlen)
{
    sqlite3 *dst = NULL;
    /* What the loop journaled so far goes into the copy too. */
    int rc = ht_store_flush(s, NULL);
    if (rc != HT_OK) {
        snprintf(err, errlen, "flush before backup: %s", ht_strerror(rc));
        return rc;
    }
    unlink(path);
    rc = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &dst, err,
                 errlen);
    if (rc != HT_OK)
        return rc;
    sqlite3 *src = store__lock(s);
    rc = copy_db(dst, src, err, errlen);
    store__unlock(s);
    if (rc == HT_OK)
        rc = add_tables(dst, files, nfiles, err, errlen);
    if (sqlite3_close(dst) != SQLITE_OK && rc == HT_OK)
        rc = fail_db(dst, path, err, errlen);
    if (rc != HT_OK)
        unlink(path);
    else
        ht_log(LOG_NOTICE, "store", "backup written to %s", path);
    return rc;
}

/* A file name from a backup is only ever a relative path inside the data
 * directory: a crafted backup must not write elsewhere, nor over the
 * database. */
static bool safe_name(const char *n)
{
    if (!*n || n[0] == '/' || strstr(n, "..") || strchr(n, '\\') ||
        !strncmp(n, "holotwin.", 9) || strlen(n) > 200)
        return false;
    for (const char *p = n; *p; p++)
        if (!(*p == '/' || *p == '.' || *p == '_' || *p == '-' ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* One integer from the backup's meta table; -1 when absent. */
static long long meta_int(sqlite3 *db, const char *k)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, "SELECT v FROM holotwin_backup WHERE k = ?", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* Write every file of the backup under dir (parents 0700, files 0600). */
static int restore_files(sqlite3 *src, const char *dir, char *err,
                         size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(src, "SELECT name, data FROM holotwin_backup_files",
                           -1, &st, NULL) != SQLITE_OK)
        return fail_db(src, "backup files", err, errlen);
    int rc = HT_OK, n;
    while (rc == HT_OK && (n = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!name || !safe_name(name)) {
            snprintf(err, errlen,
                     "backup names a file outside the data "
                     "directory: '%.100s'",
                     name ? name : "");
            rc = HT_EINVAL;
            break;
        }
        char *path = ht_asprintf("%s/%s", dir, name);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        rc = ht_mkdir_p(path, 0700);
        *slash = '/';
        if (rc == HT_OK)
            rc =
                ht_file_write_atomic(path, sqlite3_column_blob(st, 1),
                                     (size_t)sqlite3_column_bytes(st, 1), 0600);
        if (rc != HT_OK)
            snprintf(err, errlen, "%s: %s", path, ht_strerror(rc));
        free(path);
    }
    sqlite3_finalize(st);
    return rc;
}

int ht_store_restore(const char *path, const char *dir, char *err,
                     size_t errlen)
{
    sqlite3 *src = NULL, *dst = NULL;
    char *db_path = ht_asprintf("%s/holotwin.db", dir);
    char *tmp = ht_asprintf("%s/holotwin.db.restore", dir);
    struct stat sb;
    int rc;

    if (stat(db_path, &sb) == 0) {
        snprintf(err, errlen,
                 "%s already holds a database (%s): move the data "
                 "directory away first",
                 dir, db_path);
        rc = HT_EEXIST;
        goto out;
    }
    rc = open_db(path, SQLITE_OPEN_READONLY, &src, err, errlen);
    if (rc != HT_OK)
        goto out;
    long long format = meta_int(src, "format");
    if (format != BACKUP_FORMAT) {
        snprintf(err, errlen,
                 "%s is not a Holotwin backup (format %lld, expected %d)", path,
                 format, BACKUP_FORMAT);
        rc = HT_EINVAL;
        goto out;
    }
    long long schema = meta_int(src, "schema");
    if (schema < 0 || schema > store__schema_latest()) {
        snprintf(err, errlen,
                 "%s has schema version %lld, newer than this gatewayd (%d)",
                 path, schema, store__schema_latest());
        rc = HT_EINVAL;
        goto out;
    }
    if ((rc = ht_mkdir_p(dir, 0750)) != HT_OK) {
        snprintf(err, errlen, "%s: %s", dir, ht_strerror(rc));
        goto out;
    }
    /* Files first: a bad name leaves no database behind. */
    if ((rc = restore_files(src, dir, err, errlen)) != HT_OK)
        goto out;
    unlink(tmp);
    rc = open_db(tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &dst, err,
                 errlen);
    if (rc == HT_OK)
        rc = copy_db(dst, src, err, errlen);
    /* The journal of the backed-up directory is not here: a new epoch and
     * position make the next open start a new one. */
    if (rc == HT_OK && sqlite3_exec(dst,
                                    "DROP TABLE holotwin_backup;"
                                    "DROP TABLE holotwin_backup_files;",
                                    NULL, NULL, NULL) != SQLITE_OK)
        rc = fail_db(dst, "restore", err, errlen);
    if (rc == HT_OK && schema >= 3 &&
        sqlite3_exec(dst,
                     "DELETE FROM meta WHERE k IN ('journal_epoch', "
                     "'journal_pos')",
                     NULL, NULL, NULL) != SQLITE_OK)
        rc = fail_db(dst, "restore", err, errlen);
    if (rc == HT_OK &&
        sqlite3_exec(dst, "VACUUM", NULL, NULL, NULL) != SQLITE_OK)
        rc = fail_db(dst, "restore", err, errlen);
    if (dst && sqlite3_close(dst) != SQLITE_OK && rc == HT_OK)
        rc = fail_db(dst, tmp, err, errlen);
    dst = NULL;
    if (rc == HT_OK) {
        char *jpath = ht_asprintf("%s/holotwin.journal", dir);
        unlink(jpath);
        free(jpath);
        if (rename(tmp, db_path) != 0) {
            rc = -errno;
            snprintf(err, errlen, "%s: %s", db_path, ht_strerror(rc));
        }
    }
    if (rc == HT_OK)
        ht_log(LOG_NOTICE, "store", "restored %s into %s (schema version %lld)",
               path, dir, schema);
out:
    if (rc != HT_OK)
        unlink(tmp);
    sqlite3_close(dst);
    sqlite3_close(src);
    free(db_path);
    free(tmp);
    return rc;
}
